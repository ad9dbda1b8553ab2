//! Send order (`send_order`): one hand-written history per rule and exemption, and a
//! brute-force reference of the rule that the sweep must agree with on random histories.
//! Times are microseconds; every history is on topic "t", partition 0.

use crate::common;

use common::{assert_classes, Producer, H};
use eddy_reports::{
    check, check_with, read_jsonl, CheckOptions, Class, Op, OpKind, Outcome, Verdict,
};
use proptest::prelude::*;

const PLAIN: Producer = Producer::PLAIN;

/// Two sends of p0 where b, sent while a was in flight, lands below a; drained.
fn inverted(a: Producer, b: Producer) -> (H, u64, u64) {
    let mut h = H::new();
    let x = h.send_as("p0", "a", 1, (0, 100), a);
    let y = h.send_as("p0", "b", 0, (10, 50), b);
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (200, 210));
    (h, x, y)
}

fn send_order_only(v: &Verdict) {
    assert_classes(v, &[Class::SendOrder]);
}

#[test]
fn pipelined_inversion_is_flagged() {
    let (h, a, b) = inverted(PLAIN, PLAIN);
    let v = check(&h.ops);
    send_order_only(&v);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    let w = &v.violations[0];
    assert_eq!(
        (w.ops.clone(), w.offsets.clone(), w.values.clone()),
        (
            vec![a, b],
            vec![1, 0],
            vec!["a".to_string(), "b".to_string()]
        )
    );
    assert_eq!((w.topic.as_str(), w.partition), ("t", 0));
    assert!(
        w.explanation.starts_with(
            "op 1 (p0, invoked 0.000000s, completed 0.000100s) sent \"a\", acknowledged at \
             offset 1 of t/0; op 2 (p0, invoked 0.000010s, completed 0.000050s) (the same \
             producer) sent \"b\" after it, while op 1 was still in flight, and it landed at \
             the lower offset 0."
        ),
        "{}",
        w.explanation
    );
    assert!(
        w.explanation.ends_with(
            "Not excused: neither send was retried (attempts 1 and 1); their brokers are unknown."
        ),
        "{}",
        w.explanation
    );
}

#[test]
fn pipelined_sends_in_order_pass() {
    let mut h = H::new();
    h.send_as("p0", "a", 0, (0, 100), PLAIN);
    h.send_as("p0", "b", 1, (10, 50), PLAIN);
    h.send_as("p0", "c", 2, (10, 40), PLAIN);
    h.drain(0, &[(0, "a"), (1, "b"), (2, "c")], Some(3), (200, 210));
    let v = check(&h.ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
}

#[test]
fn other_producers_and_partitions_are_not_compared() {
    let mut h = H::new();
    h.send_as("p0", "a", 1, (0, 100), PLAIN);
    h.send_as("p1", "b", 0, (10, 50), PLAIN);
    h.send_full("p0", 1, "c", Some(0), 20, Some(60), Outcome::Ok, false);
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (200, 210));
    h.drain_p(1, 0, &[(0, "c")], Some(1), (200, 210));
    let v = check(&h.ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
}

#[test]
fn acknowledged_before_invoked_is_nonmonotonic_send_not_send_order() {
    // a was acknowledged (at 10) before b was invoked (at 20): the real-time rule's pair,
    // reported once.
    let mut h = H::new();
    h.send_as("p0", "a", 1, (0, 10), PLAIN);
    h.send_as("p0", "b", 0, (20, 30), PLAIN);
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (200, 210));
    assert_classes(&check(&h.ops), &[Class::NonmonotonicSend]);
    // Acknowledged at the very instant b was invoked: still in flight, send order's pair.
    let mut h = H::new();
    h.send_as("p0", "a", 1, (0, 20), PLAIN);
    h.send_as("p0", "b", 0, (20, 30), PLAIN);
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (200, 210));
    send_order_only(&check(&h.ops));
    // Retried: no exemption once a was acknowledged before b was invoked.
    let mut h = H::new();
    h.send_as("p0", "a", 1, (0, 10), PLAIN.attempts(3));
    h.send_as("p0", "b", 0, (20, 30), PLAIN.broker("x"));
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (200, 210));
    assert_classes(&check(&h.ops), &[Class::NonmonotonicSend]);
}

#[test]
fn retried_non_idempotent_sends_are_exempt() {
    for (a, b) in [
        (PLAIN.attempts(2), PLAIN),
        (PLAIN, PLAIN.attempts(2)),
        (PLAIN.attempts(2).max_in_flight(5), PLAIN.max_in_flight(5)),
        (PLAIN.attempts(4).max_in_flight(100), PLAIN.attempts(2)),
    ] {
        let (h, _, _) = inverted(a, b);
        let v = check(&h.ops);
        assert!(v.is_valid(), "{a:?} {b:?}: {:#?}", v.violations);
    }
}

#[test]
fn retried_non_idempotent_sends_with_max_in_flight_1_are_not_exempt() {
    for (a, b) in [
        (PLAIN.attempts(2).max_in_flight(1), PLAIN.max_in_flight(1)),
        (PLAIN.max_in_flight(1), PLAIN.attempts(2).max_in_flight(1)),
        // One of the two records max_in_flight 1: taken at its word.
        (PLAIN.attempts(2).max_in_flight(1), PLAIN),
    ] {
        let (h, _, _) = inverted(a, b);
        let v = check(&h.ops);
        send_order_only(&v);
        assert!(
            v.violations[0]
                .explanation
                .contains("records max_in_flight 1, which keeps order through retries"),
            "{}",
            v.violations[0].explanation
        );
    }
}

#[test]
fn retried_idempotent_sends_are_not_exempt() {
    for (a, b) in [
        (PLAIN.idempotent().attempts(2), PLAIN.idempotent()),
        (
            PLAIN.idempotent(),
            PLAIN.idempotent().attempts(5).max_in_flight(5),
        ),
    ] {
        let (h, _, _) = inverted(a, b);
        let v = check(&h.ops);
        send_order_only(&v);
        assert!(
            v.violations[0].explanation.contains("is idempotent"),
            "{}",
            v.violations[0].explanation
        );
    }
}

#[test]
fn different_brokers_are_exempt_only_for_non_idempotent_producers() {
    let (h, _, _) = inverted(PLAIN.broker("10.0.1.1:9092"), PLAIN.broker("10.0.2.1:9092"));
    let v = check(&h.ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
    let idem = PLAIN.idempotent();
    let (h, _, _) = inverted(idem.broker("10.0.1.1:9092"), idem.broker("10.0.2.1:9092"));
    send_order_only(&check(&h.ops));
    // The same broker, or a broker unknown, is no excuse.
    for (a, b) in [
        (PLAIN.broker("x"), PLAIN.broker("x")),
        (PLAIN.broker("x"), PLAIN),
        (PLAIN, PLAIN.broker("x")),
    ] {
        let (h, _, _) = inverted(a, b);
        let v = check(&h.ops);
        send_order_only(&v);
    }
    let (h, _, _) = inverted(PLAIN.broker("x"), PLAIN.broker("x"));
    let v = check(&h.ops);
    assert!(
        v.violations[0]
            .explanation
            .ends_with("both went to broker x."),
        "{}",
        v.violations[0].explanation
    );
}

#[test]
fn a_retried_earlier_send_does_not_raise_the_bar_for_the_others() {
    // r was retried (exempt with everything here); a and b were not.
    let mut h = H::new();
    h.send_as("p0", "a", 3, (0, 100), PLAIN);
    h.send_as("p0", "r", 9, (10, 100), PLAIN.attempts(2));
    h.send_as("p0", "b", 6, (20, 100), PLAIN);
    let v = check(&h.ops);
    assert!(
        !v.classes().contains(&Class::SendOrder),
        "{:#?}",
        v.violations
    );
    // Unless the producer is idempotent...
    let mut h = H::new();
    h.send_as("p0", "a", 3, (0, 100), PLAIN.idempotent());
    let r = h.send_as("p0", "r", 9, (10, 100), PLAIN.idempotent().attempts(2));
    let b = h.send_as("p0", "b", 6, (20, 100), PLAIN.idempotent());
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    assert_eq!(v.violations[0].ops, vec![r, b]);
    // ...or it keeps one request in flight.
    let mut h = H::new();
    let one = PLAIN.max_in_flight(1);
    h.send_as("p0", "a", 3, (0, 100), one);
    let r = h.send_as("p0", "r", 9, (10, 100), one.attempts(2));
    let b = h.send_as("p0", "b", 6, (20, 100), one);
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    assert_eq!(v.violations[0].ops, vec![r, b]);
    // A non-retried earlier send above b is still found behind the retried one.
    let mut h = H::new();
    let a = h.send_as("p0", "a", 7, (0, 100), PLAIN);
    h.send_as("p0", "r", 9, (10, 100), PLAIN.attempts(2));
    let b = h.send_as("p0", "b", 6, (20, 100), PLAIN);
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    assert_eq!(v.violations[0].ops, vec![a, b]);
    // A retried b is exempt with a, but not with an earlier send that records
    // max_in_flight 1.
    let mut h = H::new();
    let s = h.send_as("p0", "s", 8, (0, 100), one);
    h.send_as("p0", "a", 9, (5, 100), PLAIN);
    let b = h.send_as("p0", "b", 6, (20, 100), PLAIN.attempts(2));
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    assert_eq!(v.violations[0].ops, vec![s, b]);
}

#[test]
fn a_move_to_another_broker_excuses_only_the_pairs_across_it() {
    // a went to x; c and b to y: (a, b) is exempt, (c, b) is not.
    let mut h = H::new();
    h.send_as("p0", "a", 7, (0, 100), PLAIN.broker("x"));
    let c = h.send_as("p0", "c", 9, (10, 100), PLAIN.broker("y"));
    let b = h.send_as("p0", "b", 8, (20, 100), PLAIN.broker("y"));
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    assert_eq!(v.violations[0].ops, vec![c, b]);
    // c below b: only the exempt pair is inverted.
    let mut h = H::new();
    h.send_as("p0", "a", 7, (0, 100), PLAIN.broker("x"));
    h.send_as("p0", "c", 5, (10, 100), PLAIN.broker("y"));
    h.send_as("p0", "b", 6, (20, 100), PLAIN.broker("y"));
    let v = check(&h.ops);
    assert!(
        !v.classes().contains(&Class::SendOrder),
        "{:#?}",
        v.violations
    );
    // An earlier send whose broker is unknown is compared with every later one.
    let mut h = H::new();
    let a = h.send_as("p0", "a", 8, (0, 100), PLAIN);
    h.send_as("p0", "c", 10, (10, 100), PLAIN.broker("y"));
    let b = h.send_as("p0", "b", 7, (20, 100), PLAIN.broker("x"));
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    assert_eq!(v.violations[0].ops, vec![a, b]);
    // A later send whose broker is unknown is compared with every earlier one.
    let mut h = H::new();
    h.send_as("p0", "a", 7, (0, 100), PLAIN.broker("x"));
    let c = h.send_as("p0", "c", 9, (10, 100), PLAIN.broker("y"));
    let b = h.send_as("p0", "b", 8, (20, 100), PLAIN);
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 1);
    assert_eq!(v.violations[0].ops, vec![c, b]);
}

#[test]
fn failed_and_indeterminate_sends_are_not_judged() {
    let mut h = H::new();
    h.send_as("p0", "a", 1, (0, 100), PLAIN);
    h.send_full("p0", 0, "b", None, 10, Some(50), Outcome::Failed, false);
    h.send_full("p0", 0, "c", None, 20, None, Outcome::Indeterminate, false);
    h.send_as("p0", "d", 2, (30, 120), PLAIN);
    h.drain(0, &[(0, "c"), (1, "a"), (2, "d")], Some(3), (200, 210));
    let v = check(&h.ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
}

#[test]
fn an_ok_send_without_an_offset_is_placed_at_its_lowest_read() {
    let mut h = H::new();
    h.send_as("p0", "a", 1, (0, 100), PLAIN);
    h.send_full("p0", 0, "b", None, 10, Some(50), Outcome::Ok, false);
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (200, 210));
    let v = check(&h.ops);
    send_order_only(&v);
    assert_eq!(v.violations[0].offsets, vec![1, 0]);
}

#[test]
fn ties_in_invocation_time_are_ordered_by_op_id() {
    // Both invoked at 10: op 1 was sent first, so op 2 must land above it.
    let mut h = H::new();
    let a = h.send_as("p0", "a", 1, (10, 100), PLAIN);
    let b = h.send_as("p0", "b", 0, (10, 50), PLAIN);
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (200, 210));
    let v = check(&h.ops);
    send_order_only(&v);
    assert_eq!(v.violations[0].ops, vec![a, b]);
    // The order of the lines does not matter.
    let mut reversed = h.ops.clone();
    reversed.reverse();
    assert_eq!(check(&reversed), v);
    // In id order: fine.
    let mut h = H::new();
    h.send_as("p0", "a", 0, (10, 100), PLAIN);
    h.send_as("p0", "b", 1, (10, 50), PLAIN);
    h.drain(0, &[(0, "a"), (1, "b")], Some(2), (200, 210));
    let mut ops = h.ops.clone();
    ops.reverse();
    let v = check(&ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
}

#[test]
fn one_violation_per_later_send_naming_the_highest_earlier_one() {
    let mut h = H::new();
    h.send_as("p0", "a", 3, (0, 100), PLAIN);
    let top = h.send_as("p0", "b", 5, (1, 100), PLAIN);
    let c = h.send_as("p0", "c", 1, (2, 100), PLAIN);
    let d = h.send_as("p0", "d", 2, (3, 100), PLAIN);
    let v = check(&h.ops);
    assert_eq!(v.counts[&Class::SendOrder], 2);
    let pairs: Vec<Vec<u64>> = v.violations.iter().map(|w| w.ops.clone()).collect();
    assert_eq!(pairs, vec![vec![top, c], vec![top, d]]);
}

#[test]
fn histories_without_the_new_fields_parse_and_are_judged() {
    // As written before attempts, max_in_flight and broker existed.
    let text = r#"
{"id":1,"process":"p0","invoke_us":0,"complete_us":100,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":1}
{"id":2,"process":"p0","invoke_us":10,"complete_us":50,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"b","offset":0,"idempotent":false}
{"id":3,"process":"drain","invoke_us":200,"complete_us":210,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"b"},{"offset":1,"value":"a"}],"high_watermark":2,"drain":true}
"#;
    let ops = read_jsonl(text.as_bytes()).expect("parses");
    match &ops[0].kind {
        OpKind::Send {
            attempts,
            max_in_flight,
            broker,
            ..
        } => assert_eq!((*attempts, *max_in_flight, broker.clone()), (1, None, None)),
        other => panic!("not a send: {other:?}"),
    }
    send_order_only(&check(&ops));
}

#[test]
fn the_new_fields_are_written_and_read_back() {
    let (h, _, _) = inverted(
        PLAIN.attempts(3).max_in_flight(5).broker("10.0.1.1:9092"),
        PLAIN,
    );
    let mut buf = Vec::new();
    eddy_reports::write_jsonl(&mut buf, &h.ops).expect("write");
    let text = String::from_utf8(buf).expect("utf8");
    let first = text.lines().next().expect("a line");
    assert!(
        first.ends_with(
            r#""idempotent":false,"attempts":3,"max_in_flight":5,"broker":"10.0.1.1:9092"}"#
        ),
        "{first}"
    );
    assert_eq!(read_jsonl(text.as_bytes()).expect("read"), h.ops);
}

#[test]
fn validation_rejects_an_ok_send_no_request_carried_and_max_in_flight_0() {
    let (h, _, _) = inverted(PLAIN.attempts(0), PLAIN);
    let e = eddy_reports::validate(&h.ops).expect_err("attempts 0");
    assert!(e.to_string().contains("attempts 0"), "{e}");
    let (h, _, _) = inverted(PLAIN, PLAIN.max_in_flight(0));
    let e = eddy_reports::validate(&h.ops).expect_err("max_in_flight 0");
    assert!(e.to_string().contains("max_in_flight 0"), "{e}");
    // A send that failed before any request carried it is fine.
    let mut h = H::new();
    h.send_full("p0", 0, "a", None, 0, Some(5), Outcome::Failed, false);
    if let OpKind::Send { attempts, .. } = &mut h.ops[0].kind {
        *attempts = 0;
    }
    eddy_reports::validate(&h.ops).expect("valid");
}

// ---------------------------------------------------------------------------------------
// The sweep against the rule written out pair by pair.

/// The rule, quadratic: for each later send B, the earlier sends A of its producer and
/// partition still in flight at B's invocation, not exempt, above B; the highest of them
/// (the earliest sent among equals). Returns (A id, B id) per violating B, sorted.
fn reference(ops: &[Op]) -> Vec<(u64, u64)> {
    struct S<'a> {
        id: u64,
        process: &'a str,
        partition: i32,
        invoke: u64,
        complete: u64,
        offset: i64,
        idempotent: bool,
        attempts: u32,
        max_in_flight: Option<u32>,
        broker: Option<&'a str>,
    }
    let mut sends: Vec<S> = ops
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::Send {
                partition,
                offset: Some(offset),
                idempotent,
                attempts,
                max_in_flight,
                broker,
                ..
            } if op.outcome == Outcome::Ok => Some(S {
                id: op.id,
                process: &op.process,
                partition: *partition,
                invoke: op.invoke_us,
                complete: op.complete_us?,
                offset: *offset,
                idempotent: *idempotent,
                attempts: *attempts,
                max_in_flight: *max_in_flight,
                broker: broker.as_deref(),
            }),
            _ => None,
        })
        .collect();
    sends.sort_by_key(|s| (s.invoke, s.id));
    let exempt = |a: &S, b: &S| {
        let retried = (a.attempts > 1 || b.attempts > 1)
            && a.max_in_flight != Some(1)
            && b.max_in_flight != Some(1);
        let moved = matches!((a.broker, b.broker), (Some(x), Some(y)) if x != y);
        !a.idempotent && !b.idempotent && (retried || moved)
    };
    let mut out = Vec::new();
    for (j, b) in sends.iter().enumerate() {
        let mut best: Option<&S> = None;
        for a in &sends[..j] {
            if a.process == b.process
                && a.partition == b.partition
                && a.complete >= b.invoke
                && a.offset > b.offset
                && !exempt(a, b)
                && best.is_none_or(|x| a.offset > x.offset)
            {
                best = Some(a);
            }
        }
        if let Some(a) = best {
            out.push((a.id, b.id));
        }
    }
    out.sort_unstable();
    out
}

/// (process, partition, invoke, duration, offset, idempotent, attempts, max_in_flight,
/// broker, outcome), drawn small so that pairs collide.
type Drawn = (u8, i32, u64, u64, i64, u8, u8, u8, u8, u8);

fn send_op() -> impl Strategy<Value = Drawn> {
    (
        0u8..2,   // process
        0i32..2,  // partition
        0u64..40, // invoke
        0u64..40, // duration
        0i64..12, // offset
        0u8..8,   // idempotent (1 in 4 when producer-wide idempotence is off)
        0u8..3,   // attempts
        0u8..3,   // max_in_flight: unknown, 1, 5
        0u8..3,   // broker: unknown, x, y
        0u8..10,  // outcome: mostly ok
    )
}

fn history(sends: &[Drawn], mixed: bool) -> Vec<Op> {
    sends
        .iter()
        .enumerate()
        .map(
            |(i, &(p, partition, invoke, duration, offset, idem, att, mif, brk, out))| {
                let outcome = match out {
                    0 => Outcome::Indeterminate,
                    1 => Outcome::Failed,
                    _ => Outcome::Ok,
                };
                Op {
                    id: 100 - i as u64,
                    process: format!("p{p}"),
                    invoke_us: invoke,
                    complete_us: Some(invoke + duration),
                    outcome,
                    error: None,
                    kind: OpKind::Send {
                        topic: "t".into(),
                        partition,
                        value: format!("v{i}"),
                        offset: (outcome != Outcome::Failed && out != 2).then_some(offset),
                        idempotent: if mixed { idem < 2 } else { p == 1 },
                        attempts: 1 + u32::from(att),
                        max_in_flight: [None, Some(1), Some(5)][mif as usize],
                        broker: [None, Some("x".to_string()), Some("y".to_string())][brk as usize]
                            .clone(),
                        txn: None,
                        transactional_id: None,
                        producer_id: None,
                        epoch: None,
                        source: None,
                    },
                }
            },
        )
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_sweep_agrees_with_the_rule_pair_by_pair(
        sends in proptest::collection::vec(send_op(), 0..24),
        mixed in any::<bool>(),
    ) {
        let ops = history(&sends, mixed);
        let options = CheckOptions { max_violations_per_class: usize::MAX, ..Default::default() };
        let v = check_with(&ops, &options);
        let mut found: Vec<(u64, u64)> = v
            .violations
            .iter()
            .filter(|w| w.class == Class::SendOrder)
            .map(|w| (w.ops[0], w.ops[1]))
            .collect();
        found.sort_unstable();
        let expected = reference(&ops);
        prop_assert_eq!(v.counts.get(&Class::SendOrder).copied(), Some(expected.len() as u64));
        prop_assert_eq!(found, expected);
    }
}
