//! Property tests: histories generated from a correct model pass every checker, and each
//! anomaly class injected into such a history is reported as exactly that class (or the
//! documented set, see `common::inject`).

use crate::common;

use std::collections::BTreeSet;

use eddy_reports::synth::{synth_history_with, SplitMix64, SynthConfig};
use eddy_reports::{check, Class, Op};
use proptest::prelude::*;

use common::inject::{inject, send_order};

fn model(seed: u64, n: usize) -> Vec<Op> {
    synth_history_with(n, seed, &SynthConfig::swarm(seed))
}

/// Injects `class` into a model history; `None` when that history has no place for it.
fn injected(class: Class, seed: u64, n: usize) -> Option<(Vec<Op>, BTreeSet<Class>)> {
    let mut ops = model(seed, n);
    let mut rng = SplitMix64::new(seed.rotate_left(17) ^ class as u64);
    let expected = inject(class, &mut ops, &mut rng)?;
    Some((ops, expected))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn model_histories_pass(seed in any::<u64>(), n in 1usize..800) {
        let ops = model(seed, n);
        let verdict = check(&ops);
        prop_assert!(verdict.is_valid(), "seed {} n {}: {:#?}", seed, n, verdict.violations);
        prop_assert_eq!(verdict.ops_checked, ops.len() as u64);
    }

    #[test]
    fn injected_anomalies_are_reported_as_their_class(seed in any::<u64>(), n in 40usize..500, k in 0usize..Class::ALL.len()) {
        let class = Class::ALL[k];
        if let Some((ops, expected)) = injected(class, seed, n) {
            let verdict = check(&ops);
            let found: BTreeSet<Class> = verdict.classes().into_iter().collect();
            prop_assert!(expected.contains(&class));
            prop_assert_eq!(&found, &expected, "{} seed {} n {}: {:#?}", class, seed, n, verdict.violations);
        }
    }
}

/// How the send-order injection's pair is then produced: (both idempotent, attempts of the
/// earlier send, max_in_flight of both, brokers of both).
type Shape = (
    bool,
    u32,
    Option<u32>,
    (Option<&'static str>, Option<&'static str>),
);

/// The pair shapes of [`injected_send_order_exemptions`] and whether each is exempt.
const SHAPES: [(Shape, bool); 6] = [
    ((false, 2, None, (None, None)), true),
    ((false, 3, Some(5), (Some("x"), Some("x"))), true),
    ((false, 1, None, (Some("x"), Some("y"))), true),
    ((false, 2, Some(1), (Some("x"), Some("x"))), false),
    ((true, 2, None, (None, None)), false),
    ((true, 1, Some(5), (Some("x"), Some("y"))), false),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A send-order inversion injected into a model history, its pair then made exempt
    /// (non-idempotent and retried, or moved to another broker) or not (idempotent, or
    /// max_in_flight 1): only the exempt shapes clear `send_order`, nothing else changes.
    #[test]
    fn injected_send_order_exemptions(
        seed in any::<u64>(),
        n in 40usize..500,
        k in 0usize..SHAPES.len(),
    ) {
        let mut ops = model(seed, n);
        let mut rng = SplitMix64::new(seed.rotate_left(17) ^ Class::SendOrder as u64);
        if let Some((mut expected, (a, b))) = send_order(&mut ops, &mut rng) {
            let ((idempotent, attempts, max_in_flight, brokers), exempt) = SHAPES[k];
            for (i, first) in [(a, true), (b, false)] {
                if let eddy_reports::OpKind::Send {
                    idempotent: idem,
                    attempts: att,
                    max_in_flight: mif,
                    broker,
                    ..
                } = &mut ops[i].kind
                {
                    *idem = idempotent;
                    *att = if first { attempts } else { 1 };
                    *mif = max_in_flight;
                    *broker = if first { brokers.0 } else { brokers.1 }.map(str::to_string);
                }
            }
            if exempt {
                expected.remove(&Class::SendOrder);
            }
            let verdict = check(&ops);
            let found: BTreeSet<Class> = verdict.classes().into_iter().collect();
            prop_assert_eq!(
                &found, &expected, "shape {} seed {} n {}: {:#?}", k, seed, n, verdict.violations
            );
        }
    }
}

/// Every class gets injected often enough for the property above to mean something, and
/// each injection yields exactly the expected classes.
#[test]
fn every_class_is_injected_and_recognised() {
    // The latency classes need bounds, not an anomaly in the history (tests/suite/latency_bounds.rs);
    // the efficiency classes a run's meters (scenarios/tests/suite/efficiency.rs).
    let history_classes = Class::ALL.into_iter().filter(|c| {
        !matches!(
            c,
            Class::ProduceLatency
                | Class::DeliveryLatency
                | Class::CrossAzTraffic
                | Class::StorageRequests
                | Class::RebalanceIncomplete
                | Class::BackgroundStalled
                | Class::Unavailable
                | Class::Invariant
        )
    });
    for class in history_classes {
        let mut applied = 0;
        let mut alone = 0;
        for seed in 0..120u64 {
            let Some((ops, expected)) = injected(class, seed, 300) else {
                continue;
            };
            let found: BTreeSet<Class> = check(&ops).classes().into_iter().collect();
            assert_eq!(found, expected, "{class} seed {seed}");
            applied += 1;
            if expected.len() == 1 {
                alone += 1;
            }
        }
        assert!(
            applied >= 30,
            "{class}: injected in only {applied} of 120 histories"
        );
        assert!(
            alone >= 10,
            "{class}: alone in only {alone} of 120 histories"
        );
    }
}

/// The model itself is varied: it produces every op kind and outcome the checkers judge.
#[test]
fn model_histories_exercise_every_kind() {
    let mut kinds = BTreeSet::new();
    for seed in 0..20 {
        let ops = model(seed, 400);
        // Pipelining: a producer's ok send invoked while its previous one to the same
        // partition was in flight, sometimes at the very same instant.
        let mut last: std::collections::BTreeMap<(String, String, i32), (u64, u64)> =
            Default::default();
        for op in ops
            .iter()
            .filter(|op| op.outcome == eddy_reports::Outcome::Ok)
        {
            if let eddy_reports::OpKind::Send {
                topic, partition, ..
            } = &op.kind
            {
                let key = (op.process.clone(), topic.clone(), *partition);
                let done = op.complete_us.unwrap_or(op.invoke_us);
                if let Some((invoke, complete)) = last.insert(key, (op.invoke_us, done)) {
                    if op.invoke_us <= complete {
                        kinds.insert("send/pipelined".to_string());
                    }
                    if op.invoke_us == invoke {
                        kinds.insert("send/same_instant".to_string());
                    }
                }
            }
        }
        for op in ops {
            let kind = match &op.kind {
                eddy_reports::OpKind::Send { idempotent, .. } => {
                    format!("send/{:?}/{idempotent}", op.outcome)
                }
                eddy_reports::OpKind::Poll { drain, .. } => {
                    format!("poll/{:?}/{drain}", op.outcome)
                }
                other => serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_string))
                    .unwrap_or_default(),
            };
            kinds.insert(kind);
        }
    }
    for expected in [
        "send/Ok/false",
        "send/Ok/true",
        "send/pipelined",
        "send/same_instant",
        "send/Failed/false",
        "send/Indeterminate/true",
        "send/Indeterminate/false",
        "poll/Ok/false",
        "poll/Ok/true",
        "poll/Failed/false",
        "list_offsets",
        "seek",
        "assign",
        "commit",
        "fetch_committed",
    ] {
        assert!(kinds.contains(expected), "missing {expected} in {kinds:?}");
    }
}

/// A group whose only commit of a partition was the one raised skipped nothing the
/// checker can see (it never showed where it stood): the injection keeps that commit.
#[test]
fn injected_group_skip_keeps_the_groups_position() {
    let (ops, expected) = injected(Class::GroupSkip, 17228709764511105545, 47).unwrap();
    let found: BTreeSet<Class> = check(&ops).classes().into_iter().collect();
    assert_eq!(found, expected);
}
