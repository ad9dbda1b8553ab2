//! The run report: assembled from a history and meters, deterministic, and rendered.

mod common;

use eddy_reports::cost::{AzFlow, BucketUsage, Prices, Usage};
use eddy_reports::synth::synth_history;
use std::collections::BTreeSet;

use eddy_reports::{render_markdown, render_summary, CheckOptions, OpKind, Outcome, RunReport};

fn usage() -> Usage {
    Usage {
        duration_s: 120.0,
        buckets: vec![BucketUsage {
            bucket: "ingest".into(),
            class: "s3_standard".into(),
            puts: 480,
            gets: 900,
            heads: 0,
            lists: 2,
            deletes: 0,
            copies: 0,
            bytes_up: 512 << 20,
            bytes_down: 1 << 30,
            byte_seconds: 3.0e10,
        }],
        az_bytes: vec![AzFlow {
            src: "az1".into(),
            dst: "az2".into(),
            bytes: 1 << 28,
        }],
        ingested_bytes: 500 << 20,
    }
}

fn report(ops: &[eddy_reports::Op]) -> RunReport {
    let params = serde_json::json!({ "scenario": "basic-standard", "batch_timeout_ms": 250 });
    RunReport::assemble(
        7,
        params,
        120.0,
        ops,
        Some(&usage()),
        &Prices::default(),
        &CheckOptions::default(),
    )
    .expect("report")
}

#[test]
fn a_clean_run_reports_ok_and_is_byte_identical_twice() {
    let ops = synth_history(5000, 7);
    let r = report(&ops);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.ops, ops.len() as u64);
    assert!(r.throughput.sends_acked > 0);
    // Rates divide by the producing window (first to last send), not the whole run.
    let send_times: Vec<u64> = ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Send { .. }))
        .map(|op| op.invoke_us)
        .collect();
    let window_s = (send_times.iter().max().unwrap() - send_times.iter().min().unwrap()) as f64
        / 1e6;
    assert!(window_s > 0.0 && window_s < 120.0, "{window_s}");
    assert!((r.throughput.window_s - window_s).abs() < 0.001);
    assert!(
        (r.throughput.ingested_mib_per_s - 500.0 / window_s).abs() < 0.01,
        "{:?}",
        r.throughput
    );
    let json = serde_json::to_string_pretty(&r).expect("json");
    assert_eq!(
        json,
        serde_json::to_string_pretty(&report(&ops)).expect("json")
    );
    let back: RunReport = serde_json::from_str(&json).expect("parse back");
    assert_eq!(back.verdict, r.verdict);
    let summary = render_summary(&r);
    assert!(summary.contains("verdict: OK"), "{summary}");
    assert!(summary.contains("seed 7"), "{summary}");
    assert!(!summary.contains("$-"), "no negative zero: {summary}");
    assert!(summary.lines().count() <= 8, "{summary}");
    assert_eq!(summary, render_summary(&report(&ops)));
    println!("{summary}");
}

#[test]
fn a_violation_fails_the_run_and_is_explained() {
    let mut ops = synth_history(5000, 7);
    let read: BTreeSet<String> = ops
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::Poll { records, .. } => Some(records.iter().map(|r| r.value.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    // An indeterminate send that was applied (it was read) is recorded as failed instead.
    let send = ops
        .iter_mut()
        .find(|op| {
            op.outcome == Outcome::Indeterminate
                && matches!(&op.kind, OpKind::Send { value, .. } if read.contains(value))
        })
        .expect("an applied indeterminate send");
    send.outcome = Outcome::Failed;
    let r = report(&ops);
    assert_eq!(r.exit_code(), 1);
    println!("{}", render_summary(&r));
    let summary = render_summary(&r);
    assert!(summary.contains("verdict: FAILED"), "{summary}");
    assert!(summary.contains("[aborted_read]"), "{summary}");
    let md = render_markdown(&r);
    assert!(md.contains("### aborted_read"), "{md}");
    assert!(md.contains("| aborted_read | 1 |"), "{md}");
}

#[test]
fn markdown_has_every_section() {
    let r = report(&synth_history(2000, 1));
    let md = render_markdown(&r);
    for section in [
        "# eddy run, seed 7",
        "**Verdict: OK**",
        "## Throughput",
        "## Latency (ms)",
        "| produce ack |",
        "## Cost",
        "| az1 -> az2 | inter_az | inter_az |",
        "## Checkers",
    ] {
        assert!(md.contains(section), "missing {section:?} in\n{md}");
    }
}
