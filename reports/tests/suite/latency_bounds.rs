//! Latency verdicts (`produce_latency`, `delivery_latency`): judged against the run's
//! bounds over the sends invoked outside fault windows, and only with enough samples.
//! Times are microseconds; one producer "p0" on topic "t", partition 0.

use crate::common;

use common::{assert_classes, H};
use eddy_reports::{check_with, CheckOptions, Class, LatencyBounds};

/// `n` sends, one every 10 ms; send i is acknowledged `ack_ms(i)` after it was invoked and
/// read 50 ms after its acknowledgement (by a reader of its own, so that reads in time order
/// need not be in offset order); drained at the end.
fn history(n: u64, ack_ms: impl Fn(u64) -> u64) -> H {
    let mut h = H::new();
    let mut read = Vec::new();
    for i in 0..n {
        let at = i * 10_000;
        let acked = at + ack_ms(i) * 1000;
        let value = format!("v{i}");
        h.send("p0", &value, i as i64, (at, acked));
        let reader = format!("c{i}");
        h.poll(
            &reader,
            i as i64,
            &[(i as i64, value.as_str())],
            None,
            (acked + 40_000, acked + 50_000),
        );
        read.push(value);
    }
    let end = n * 10_000 + 10_000_000;
    let drained: Vec<(i64, &str)> = read
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v.as_str()))
        .collect();
    h.drain(0, &drained, Some(n as i64), (end, end + 1000));
    h
}

fn bounds(produce_ms: f64, delivery_ms: f64) -> LatencyBounds {
    LatencyBounds {
        produce_ack_p99_ms: Some(produce_ms),
        delivery_p99_ms: Some(delivery_ms),
        excluded_us: Vec::new(),
        recovery_us: 0,
        warmup_us: 0,
        min_samples: 100,
    }
}

fn judged(h: &H, b: LatencyBounds) -> eddy_reports::Verdict {
    let options = CheckOptions {
        latency: Some(b),
        ..CheckOptions::default()
    };
    check_with(&h.ops, &options)
}

#[test]
fn runs_within_their_bounds_pass() {
    // Acks in 100 ms, deliveries in 150 ms.
    let h = history(1_000, |_| 100);
    assert_classes(&judged(&h, bounds(200.0, 300.0)), &[]);
}

#[test]
fn a_slow_tail_breaks_the_bound() {
    // 2% of the sends take 900 ms: the p99 is 900 ms.
    let h = history(1_000, |i| if i % 50 == 0 { 900 } else { 100 });
    let v = judged(&h, bounds(500.0, 2_000.0));
    assert_classes(&v, &[Class::ProduceLatency]);
    let w = &v.violations[0];
    assert!(
        w.explanation.contains("above the bound 500.0 ms"),
        "{}",
        w.explanation
    );
    assert_eq!(w.ops.len(), 3, "the slowest sends are the evidence");
    // Delivery includes the ack: it breaks a tighter delivery bound as well.
    let v = judged(&h, bounds(1_000.0, 600.0));
    assert_classes(&v, &[Class::DeliveryLatency]);
}

#[test]
fn sends_during_faults_and_their_recovery_are_not_judged() {
    // Sends 200..300 (2 s to 3 s) are slow, during a fault from 2 s to 2.5 s with 0.5 s of
    // recovery after it.
    let h = history(1_000, |i| if (200..300).contains(&i) { 900 } else { 100 });
    assert_classes(
        &judged(&h, bounds(500.0, 2_000.0)),
        &[Class::ProduceLatency],
    );
    let mut b = bounds(500.0, 2_000.0);
    b.excluded_us = vec![(2_000_000, 2_500_000)];
    b.recovery_us = 500_000;
    assert_classes(&judged(&h, b.clone()), &[]);
    // Without the recovery margin the tail of the slow period counts again.
    b.recovery_us = 0;
    assert_classes(&judged(&h, b), &[Class::ProduceLatency]);
}

#[test]
fn a_send_caught_in_a_fault_that_starts_after_it_is_not_judged() {
    // Sends 200..220 (2% of them) are slow: invoked before a fault at 2.3 s, acknowledged
    // after it.
    let h = history(1_000, |i| if (200..220).contains(&i) { 900 } else { 100 });
    let mut b = bounds(500.0, 2_000.0);
    assert_classes(&judged(&h, b.clone()), &[Class::ProduceLatency]);
    b.excluded_us = vec![(2_300_000, 2_400_000)];
    assert_classes(&judged(&h, b), &[]);
}

#[test]
fn too_few_quiet_samples_are_not_judged() {
    let h = history(50, |_| 900);
    assert_classes(&judged(&h, bounds(500.0, 600.0)), &[]);
    let mut b = bounds(500.0, 600.0);
    b.min_samples = 10;
    assert_classes(
        &judged(&h, b),
        &[Class::ProduceLatency, Class::DeliveryLatency],
    );
}
