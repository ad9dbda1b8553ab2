//! Latency summaries from histories.

use crate::common;

use common::H;
use eddy_reports::latency::{delivery, latency, produce_ack};
use eddy_reports::Outcome;

#[test]
fn produce_ack_percentiles() {
    let mut h = H::new();
    for i in 1..=1000u64 {
        let invoke = i * 10_000_000;
        h.send_full(
            "p0",
            0,
            &format!("v{i}"),
            Some(i as i64),
            invoke,
            Some(invoke + i * 1000),
            Outcome::Ok,
            false,
        );
    }
    // Failed and indeterminate sends have no acknowledgement latency.
    h.send_full(
        "p0",
        0,
        "f",
        None,
        0,
        Some(9_000_000),
        Outcome::Failed,
        false,
    );
    h.send_full(
        "p0",
        0,
        "i",
        None,
        0,
        Some(9_000_000),
        Outcome::Indeterminate,
        false,
    );
    let s = produce_ack(&h.ops).summary();
    assert_eq!(s.count, 1000);
    let near = |x: f64, want: f64| (x - want).abs() <= want * 0.002;
    assert!(near(s.p50_ms, 500.0), "{s:?}");
    assert!(near(s.p90_ms, 900.0), "{s:?}");
    assert!(near(s.p99_ms, 990.0), "{s:?}");
    assert!(near(s.p999_ms, 999.0), "{s:?}");
    assert!(near(s.max_ms, 1000.0), "{s:?}");
    assert!(near(s.mean_ms, 500.5), "{s:?}");
}

#[test]
fn delivery_counts_each_consumers_first_non_drain_poll() {
    let mut h = H::new();
    h.send("p0", "a", 0, (1_000, 200_000));
    h.send("p0", "b", 1, (2_000, 200_000));
    h.poll("c0", 0, &[(0, "a")], Some(2), (250_000, 301_000));
    // c0 reads a again (after a rebalance, say): only its first read counts.
    h.poll("c0", 0, &[(0, "a")], Some(2), (600_000, 701_000));
    h.poll("c1", 0, &[(0, "a")], Some(2), (250_000, 501_000));
    // b is only read by the drain: not delivered.
    h.drain(0, &[(0, "a"), (1, "b")], Some(2), (900_000, 901_000));
    let s = delivery(&h.ops).summary();
    assert_eq!(s.count, 2, "one sample per consumer that read a");
    assert!((s.mean_ms - 400.0).abs() < 0.5, "{s:?}");
    assert!((s.max_ms - 500.0).abs() < 0.5, "{s:?}");
}

#[test]
fn cdf_is_monotone_and_ends_at_the_max() {
    let mut h = H::new();
    for i in 1..=100u64 {
        h.send_full(
            "p0",
            0,
            &format!("v{i}"),
            Some(i as i64),
            0,
            Some(i * i * 100),
            Outcome::Ok,
            false,
        );
    }
    let stats = latency(&h.ops).produce_ack;
    let cdf = &stats.cdf;
    assert_eq!(cdf.len(), 104);
    assert!(cdf
        .windows(2)
        .all(|w| w[0].quantile < w[1].quantile && w[0].latency_ms <= w[1].latency_ms));
    assert_eq!(
        cdf.last().map(|p| (p.quantile, p.latency_ms)),
        Some((1.0, stats.summary.max_ms))
    );
    assert!(latency(&[]).delivery.cdf.is_empty());
}
