//! The checkers never panic, whatever the history: extreme offsets and times, repeated
//! values and ids, inconsistent outcomes (as `check` may be given unvalidated histories).

use eddy_reports::{check, latency::latency, Op, OpKind, Outcome, Rec, TopicPartition};
use proptest::prelude::*;

fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![4 => 0i64..6, 2 => Just(i64::MAX), 1 => Just(i64::MIN), 1 => Just(-1i64), 1 => Just(i64::MAX - 1)]
}

fn value() -> impl Strategy<Value = String> {
    (0u8..6).prop_map(|v| format!("v{v}"))
}

fn kind() -> impl Strategy<Value = OpKind> {
    let topic = || prop_oneof![4 => Just("t".to_string()), 1 => Just("u".to_string())];
    let partition =
        || prop_oneof![6 => Just(0i32), 1 => Just(1), 1 => Just(-1), 1 => Just(i32::MAX)];
    prop_oneof![
        (
            topic(),
            partition(),
            value(),
            proptest::option::of(offset()),
            any::<bool>(),
            prop_oneof![Just(0u32), Just(1), Just(2), Just(u32::MAX)],
            proptest::option::of(prop_oneof![Just(0u32), Just(1), Just(5), Just(u32::MAX)]),
            proptest::option::of(prop_oneof![Just("b0".to_string()), Just("b1".to_string())])
        )
            .prop_map(
                |(topic, partition, value, offset, idempotent, attempts, max_in_flight, broker)| {
                    OpKind::Send {
                        topic,
                        partition,
                        value,
                        offset,
                        idempotent,
                        attempts,
                        max_in_flight,
                        broker,
                        txn: None,
                        transactional_id: None,
                        producer_id: None,
                        epoch: None,
                        source: None,
                    }
                }
            ),
        (
            topic(),
            partition(),
            offset(),
            proptest::collection::vec((offset(), value()), 0..4),
            proptest::option::of(offset()),
            any::<bool>(),
            proptest::option::of(Just("g".to_string()))
        )
            .prop_map(
                |(topic, partition, fetch_offset, recs, high_watermark, drain, group)| {
                    OpKind::Poll {
                        topic,
                        partition,
                        fetch_offset,
                        records: recs
                            .into_iter()
                            .map(|(offset, value)| Rec { offset, value })
                            .collect(),
                        high_watermark,
                        drain,
                        group,
                        read_back: false,
                        isolation: Default::default(),
                        last_stable: None,
                        txn: None,
                    }
                }
            ),
        (topic(), partition(), offset()).prop_map(|(topic, partition, high_watermark)| {
            OpKind::ListOffsets {
                topic,
                partition,
                high_watermark,
            }
        }),
        (topic(), partition(), offset()).prop_map(|(topic, partition, offset)| OpKind::Seek {
            topic,
            partition,
            offset,
            reset_from: None,
        }),
        (topic(), partition()).prop_map(|(topic, partition)| OpKind::Assign {
            group: Some("g".into()),
            generation: 1,
            partitions: vec![TopicPartition { topic, partition }],
            member: None,
            joined_us: None,
        }),
        (topic(), partition(), offset()).prop_map(|(topic, partition, offset)| OpKind::Commit {
            group: "g".into(),
            topic,
            partition,
            offset,
            generation: None,
            member: None,
            txn: None,
        }),
        (topic(), partition(), offset()).prop_map(|(topic, partition, offset)| {
            OpKind::FetchCommitted {
                group: "g".into(),
                topic,
                partition,
                offset,
            }
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let time = prop_oneof![0u64..100, Just(u64::MAX)];
    let outcome = prop_oneof![4 => Just(Outcome::Ok), 1 => Just(Outcome::Failed), 1 => Just(Outcome::Indeterminate)];
    (
        0u64..8,
        0u8..2,
        time.clone(),
        proptest::option::of(time),
        outcome,
        kind(),
    )
        .prop_map(|(id, p, invoke_us, complete_us, outcome, kind)| Op {
            id,
            process: format!("p{p}"),
            invoke_us,
            complete_us,
            outcome,
            error: None,
            kind,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn checking_arbitrary_histories_never_panics(ops in proptest::collection::vec(op(), 0..24)) {
        let verdict = check(&ops);
        prop_assert_eq!(verdict.ops_checked, ops.len() as u64);
        prop_assert_eq!(verdict.total() as usize >= verdict.violations.len(), true);
        let _ = latency(&ops);
        // Checking is deterministic.
        prop_assert_eq!(check(&ops), verdict);
    }
}
