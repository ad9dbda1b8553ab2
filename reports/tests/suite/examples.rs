//! One small hand-written history per anomaly class, each reported as exactly that class,
//! and the allowed behaviours next to them (retries, seeks, rebalances, indeterminate sends)
//! reported as nothing. Times are microseconds; every history is on topic "t".

use crate::common;

use common::{assert_classes, H};
use eddy_reports::{check, check_with, CheckOptions, Class, Outcome};

/// a@0 and b@1 sent, consumed and drained: the clean baseline the examples vary.
fn clean() -> H {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 1, (20, 30));
    h.poll("c0", 0, &[(0, "a"), (1, "b")], Some(2), (40, 50));
    h.drain(0, &[(0, "a"), (1, "b")], Some(2), (100, 110));
    h
}

#[test]
fn clean_history_passes() {
    let v = check(&clean().ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
    assert_eq!(v.ops_checked, 4);
    assert_eq!(v.counts.len(), Class::ALL.len());
}

#[test]
fn lost_write() {
    // a was acknowledged at offset 0, but offset 0 holds x, a send that timed out.
    let mut h = H::new();
    let a = h.send("p0", "a", 0, (0, 10));
    h.send_full(
        "p1",
        0,
        "x",
        None,
        5,
        Some(40),
        Outcome::Indeterminate,
        false,
    );
    h.send("p0", "b", 1, (20, 30));
    let d = h.drain(0, &[(0, "x"), (1, "b")], Some(2), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::LostWrite]);
    let w = &v.violations[0];
    assert_eq!(
        (w.ops.clone(), w.offsets.clone(), w.values.clone()),
        (
            vec![a, d],
            vec![0, 0],
            vec!["a".to_string(), "x".to_string()]
        )
    );
    assert!(
        w.explanation
            .contains("op 1 (p0, invoked 0.000000s, completed 0.000010s)"),
        "{}",
        w.explanation
    );
}

#[test]
fn lost_write_with_unknown_offset() {
    // a's offset is unknown, but b, sent after a was acknowledged, was read and a never.
    let mut h = H::new();
    h.send_full("p0", 0, "a", None, 0, Some(10), Outcome::Ok, false);
    h.send("p1", "b", 0, (20, 30));
    h.drain(0, &[(0, "b")], Some(1), (100, 110));
    assert_classes(&check(&h.ops), &[Class::LostWrite]);
}

#[test]
fn unseen() {
    // b was acknowledged at 1; the drain stopped after offset 0.
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    let b = h.send("p0", "b", 1, (20, 30));
    h.drain(0, &[(0, "a")], Some(2), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::Unseen]);
    assert_eq!(v.violations[0].ops, vec![b]);
}

#[test]
fn unseen_needs_a_drain() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 1, (20, 30));
    h.poll("c0", 0, &[(0, "a")], Some(2), (40, 50));
    assert!(check(&h.ops).is_valid());
}

#[test]
fn duplicate() {
    let mut h = H::new();
    h.send_full("p0", 0, "a", Some(0), 0, Some(10), Outcome::Ok, true);
    h.drain(0, &[(0, "a"), (1, "a")], Some(2), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::Duplicate]);
    assert_eq!(v.violations[0].offsets, vec![0, 1]);
}

#[test]
fn plain_producer_retries_may_duplicate() {
    // Kafka's at-least-once: a non-idempotent send may land twice, unless told otherwise.
    let mut h = H::new();
    h.send_full("p0", 0, "a", Some(0), 0, Some(10), Outcome::Ok, false);
    h.drain(0, &[(0, "a"), (1, "a")], Some(2), (100, 110));
    assert!(check(&h.ops).is_valid());
    let strict = CheckOptions {
        non_idempotent_at_most_once: true,
        ..CheckOptions::default()
    };
    assert_classes(&check_with(&h.ops, &strict), &[Class::Duplicate]);
}

#[test]
fn indeterminate_sends_may_or_may_not_appear() {
    for b_applied in [false, true] {
        let mut h = H::new();
        h.send_full("p0", 0, "a", None, 0, None, Outcome::Indeterminate, true);
        h.send_full(
            "p0",
            0,
            "b",
            None,
            20,
            Some(30),
            Outcome::Indeterminate,
            true,
        );
        if b_applied {
            h.send("p0", "c", 1, (40, 50));
            h.drain(0, &[(0, "b"), (1, "c")], Some(2), (100, 110));
        } else {
            h.send("p0", "c", 0, (40, 50));
            h.drain(0, &[(0, "c")], Some(1), (100, 110));
        }
        let v = check(&h.ops);
        assert!(v.is_valid(), "b applied: {b_applied}: {:#?}", v.violations);
    }
}

#[test]
fn inconsistent_offsets_between_reads() {
    let mut h = clean();
    if let eddy_reports::OpKind::Poll { records, .. } = &mut h.ops[3].kind {
        records[1].value = "x".into();
    }
    let v = check(&h.ops);
    assert_classes(&v, &[Class::InconsistentOffsets]);
    assert_eq!(
        v.violations[0].values,
        vec!["b".to_string(), "x".to_string()]
    );
}

#[test]
fn inconsistent_offsets_between_ack_and_read() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 2, (20, 30));
    h.drain(0, &[(0, "a"), (1, "b")], Some(3), (100, 110));
    assert_classes(&check(&h.ops), &[Class::InconsistentOffsets]);
}

#[test]
fn inconsistent_offsets_between_two_acks() {
    // Both acknowledged at 0; nobody read the partition, so nothing else can be said.
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p1", "b", 0, (5, 15));
    assert_classes(&check(&h.ops), &[Class::InconsistentOffsets]);
}

#[test]
fn inconsistent_offsets_wrong_partition() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.drain(0, &[(0, "a")], Some(1), (100, 110));
    h.drain_p(1, 0, &[(0, "a")], Some(1), (120, 130));
    assert_classes(&check(&h.ops), &[Class::InconsistentOffsets]);
}

#[test]
fn gap() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 2, (20, 30));
    h.drain(0, &[(0, "a"), (2, "b")], Some(3), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::Gap]);
    assert_eq!(v.violations[0].offsets, vec![1, 1]);
}

#[test]
fn real_time_order() {
    // a acknowledged at 1 before b was invoked; b got 0.
    let mut h = H::new();
    let a = h.send("p0", "a", 1, (0, 10));
    let b = h.send("p1", "b", 0, (20, 30));
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::RealTimeOrder]);
    assert_eq!(v.violations[0].ops, vec![a, b]);
}

#[test]
fn concurrent_sends_may_land_in_any_order() {
    let mut h = H::new();
    h.send("p0", "a", 1, (0, 30));
    h.send("p1", "b", 0, (20, 40));
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (100, 110));
    assert!(check(&h.ops).is_valid());
}

#[test]
fn stale_read() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    let l = h.list_offsets("c0", 0, (20, 30));
    h.drain(0, &[(0, "a")], Some(1), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::StaleRead]);
    assert_eq!(v.violations[0].ops, vec![1, l]);
}

#[test]
fn aborted_read() {
    let mut h = H::new();
    h.send_full("p0", 0, "a", None, 0, Some(10), Outcome::Failed, false);
    h.drain(0, &[(0, "a")], Some(1), (100, 110));
    assert_classes(&check(&h.ops), &[Class::AbortedRead]);
}

#[test]
fn poll_skip() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 1, (20, 30));
    h.send("p0", "c", 2, (40, 50));
    h.poll("c0", 0, &[(0, "a")], None, (60, 70));
    let skip = h.poll("c0", 1, &[(2, "c")], None, (80, 90));
    h.drain(0, &[(0, "a"), (1, "b"), (2, "c")], Some(3), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::PollSkip]);
    assert!(v.violations[0].ops.contains(&skip));
    assert_eq!(v.violations[0].offsets, vec![1]);
}

#[test]
fn seeking_forward_is_not_a_skip() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 1, (20, 30));
    h.send("p0", "c", 2, (40, 50));
    h.poll("c0", 0, &[(0, "a")], None, (60, 70));
    h.seek("c0", 2, (72, 74));
    h.poll("c0", 2, &[(2, "c")], None, (80, 90));
    h.drain(0, &[(0, "a"), (1, "b"), (2, "c")], Some(3), (100, 110));
    assert!(check(&h.ops).is_valid());
}

#[test]
fn nonmonotonic_poll() {
    let mut h = clean();
    h.poll("c0", 1, &[(1, "b")], None, (60, 70));
    assert_classes(&check(&h.ops), &[Class::NonmonotonicPoll]);
}

#[test]
fn rebalance_allows_going_back_and_batch_heads_are_not_consumed() {
    let mut h = clean();
    h.assign("c0", Some("g"), 2, 55);
    h.poll("c0", 1, &[(0, "a"), (1, "b")], None, (60, 70));
    assert!(check(&h.ops).is_valid(), "{:#?}", check(&h.ops).violations);
}

#[test]
fn nonmonotonic_send() {
    let mut h = H::new();
    h.send("p0", "a", 1, (0, 10));
    h.send("p0", "b", 0, (20, 30));
    h.drain(0, &[(0, "b"), (1, "a")], Some(2), (100, 110));
    assert_classes(&check(&h.ops), &[Class::NonmonotonicSend]);
}

#[test]
fn commit_regression() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 1, (20, 30));
    h.assign("m0", Some("g"), 1, 35);
    h.poll_group("m0", "g", 0, &[(0, "a"), (1, "b")], (40, 50));
    let high = h.commit("m0", "g", 2, (60, 70));
    let low = h.commit("m0", "g", 1, (80, 90));
    h.drain(0, &[(0, "a"), (1, "b")], Some(2), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::CommitRegression]);
    assert_eq!(
        (v.violations[0].ops.clone(), v.violations[0].offsets.clone()),
        (vec![high, low], vec![2, 1])
    );
}

#[test]
fn committed_offset_read_back_lower_is_a_regression_but_a_rewind_is_not() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.assign("m0", Some("g"), 1, 35);
    h.poll_group("m0", "g", 0, &[(0, "a")], (40, 50));
    h.commit("m0", "g", 1, (60, 70));
    h.drain(0, &[(0, "a")], Some(1), (100, 110));
    let mut stale = H { ops: h.ops.clone() };
    stale.fetch_committed("m1", "g", -1, (75, 80));
    assert_classes(&check(&stale.ops), &[Class::CommitRegression]);
    h.seek("m0", 0, (72, 74));
    h.commit("m0", "g", 0, (76, 78));
    assert!(check(&h.ops).is_valid(), "{:#?}", check(&h.ops).violations);
}

#[test]
fn a_commit_of_a_generation_the_group_left_is_a_zombie_commit_when_accepted() {
    let history = |outcome: Outcome| {
        let mut h = H::new();
        h.send("p0", "a", 0, (0, 10));
        h.assign_member("m0", "g", 1, "m0-a", 15, 20);
        h.poll_group("m0", "g", 0, &[(0, "a")], (25, 30));
        // m1 joins after m0's Assign of generation 1: generation 2 forms without m0.
        h.assign_member("m1", "g", 2, "m1-a", 40, 50);
        // m0's commit, still with generation 1, sent after generation 2 formed.
        h.commit_member("m0", "g", 1, 1, "m0-a", (60, 70), outcome);
        h.drain(0, &[(0, "a")], Some(1), (100, 110));
        h
    };
    let v = check(&history(Outcome::Ok).ops);
    assert_classes(&v, &[Class::ZombieCommit]);
    assert_eq!(v.violations[0].ops, vec![2, 4, 5]);
    assert_eq!(v.judged[&Class::ZombieCommit], 1);
    // Refused, it is judged and fine.
    let v = check(&history(Outcome::Failed).ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
    assert_eq!(v.judged[&Class::ZombieCommit], 1);
}

#[test]
fn a_commit_the_history_cannot_prove_stale_is_not_judged() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.assign_member("m0", "g", 3, "m0-a", 15, 20);
    // Generation 5 was formed by a JoinGroup sent before m0's Assign completed (another
    // coordinator's numbering, for all the history shows): it proves nothing.
    h.assign_member("m1", "g", 5, "m1-a", 12, 30);
    // A commit sent while generation 4 was forming is not stale yet either.
    h.assign_member("m2", "g", 4, "m2-a", 25, 80);
    h.commit_member("m0", "g", 1, 3, "m0-a", (60, 90), Outcome::Ok);
    // Without a member id nothing is judged.
    h.commit("m0", "g", 1, (95, 96));
    h.drain(0, &[(0, "a")], Some(1), (100, 110));
    let v = check(&h.ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
    assert_eq!(v.judged[&Class::ZombieCommit], 0);
}

#[test]
fn group_skip() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 1, (20, 30));
    h.assign("m0", Some("g"), 1, 35);
    h.poll_group("m0", "g", 0, &[(0, "a")], (40, 50));
    h.commit("m0", "g", 2, (60, 70));
    h.drain(0, &[(0, "a"), (1, "b")], Some(2), (100, 110));
    let v = check(&h.ops);
    assert_classes(&v, &[Class::GroupSkip]);
    assert_eq!(v.violations[0].offsets, vec![1]);
}

#[test]
fn another_member_covering_the_offset_is_not_a_group_skip() {
    let mut h = H::new();
    h.send("p0", "a", 0, (0, 10));
    h.send("p0", "b", 1, (20, 30));
    h.assign("m0", Some("g"), 1, 35);
    h.poll_group("m0", "g", 0, &[(0, "a")], (40, 50));
    h.commit("m0", "g", 1, (52, 54));
    h.assign("m0", Some("g"), 2, 55);
    h.assign("m1", Some("g"), 2, 55);
    h.poll_group("m1", "g", 1, &[(1, "b")], (56, 58));
    h.commit("m1", "g", 2, (60, 70));
    h.drain(0, &[(0, "a"), (1, "b")], Some(2), (100, 110));
    assert!(check(&h.ops).is_valid(), "{:#?}", check(&h.ops).violations);
}

#[test]
fn violations_are_capped_but_counted() {
    let mut h = H::new();
    for i in 0..10 {
        h.send_full(
            "p0",
            0,
            &format!("v{i}"),
            None,
            0,
            Some(10),
            Outcome::Failed,
            false,
        );
    }
    let recs: Vec<(i64, String)> = (0..10).map(|i| (i, format!("v{i}"))).collect();
    let recs: Vec<(i64, &str)> = recs.iter().map(|(o, v)| (*o, v.as_str())).collect();
    h.drain(0, &recs, Some(10), (100, 110));
    let v = check_with(
        &h.ops,
        &CheckOptions {
            max_violations_per_class: 3,
            ..CheckOptions::default()
        },
    );
    assert_eq!(v.counts[&Class::AbortedRead], 10);
    assert_eq!(v.violations.len(), 3);
    assert_eq!(v.total(), 10);
}

#[test]
fn a_run_level_violation_added_to_a_verdict_counts_and_fails_it() {
    let mut v = check(&clean().ops);
    assert!(v.is_valid());
    for i in 0..3 {
        v.add(eddy_reports::Violation {
            class: Class::Invariant,
            explanation: format!("replicas disagree at journal entry {i}"),
            ops: Vec::new(),
            topic: String::new(),
            partition: -1,
            offsets: vec![i],
            values: Vec::new(),
        });
    }
    assert!(!v.is_valid());
    assert_eq!(v.total(), 3);
    assert_eq!(v.counts.get(&Class::Invariant), Some(&3));
    assert_eq!(v.classes(), vec![Class::Invariant]);
    assert_eq!(v.violations.len(), 3);
}
