//! The run report: assembled from a history and meters, deterministic, and rendered.

use eddy_reports::cost::{AzFlow, BucketUsage, Prices, Usage};
use eddy_reports::synth::synth_history;
use std::collections::BTreeSet;

use eddy_reports::{render_markdown, render_summary, CheckOptions, OpKind, Outcome, RunReport};

fn usage() -> Usage {
    Usage {
        duration_s: 120.0,
        window_s: 0.0,
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
    let window_s =
        (send_times.iter().max().unwrap() - send_times.iter().min().unwrap()) as f64 / 1e6;
    assert!(window_s > 0.0 && window_s < 120.0, "{window_s}");
    assert!((r.throughput.window_s - window_s).abs() < 0.001);
    assert!(
        (r.throughput.ingested_mib_per_s - 500.0 / window_s).abs() < 0.01,
        "{:?}",
        r.throughput
    );
    // The cost per day scales from the same window (one figure for summary, JSON, HTML
    // and what-ifs), not from the whole run.
    let c = r.cost.as_ref().expect("priced");
    assert!(
        (c.window_s - window_s).abs() < 1e-9,
        "{} vs {window_s}",
        c.window_s
    );
    let per_day = c.dollars_per_day.expect("per day");
    assert!((per_day - c.total_dollars / window_s * 86_400.0).abs() < 1e-6);
    assert!((r.window_s() - window_s).abs() < 1e-9);
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

#[test]
fn reads_per_az_are_summarised_and_tabled() {
    use std::collections::BTreeMap;
    let ops = synth_history(2000, 3);
    let mut r = report(&ops);
    assert!(
        !render_summary(&r).contains("GETs per MiB"),
        "absent unless supplied"
    );
    let process_azs: BTreeMap<String, String> = ops
        .iter()
        .map(|op| (op.process.clone(), "az1".to_string()))
        .collect();
    let usage = [eddy_reports::AzReadUsage {
        az: "az1".into(),
        gets: 10,
        bytes_downloaded: 40 << 20,
    }];
    r.reads = eddy_reports::reads_by_az(&ops, &usage, &process_azs, 1024);
    assert_eq!(r.reads.len(), 1);
    let consumed_mib = r.reads[0].consumed_bytes as f64 / 1_048_576.0;
    assert!(consumed_mib > 0.0);
    let want = format!("{:.3}", 10.0 / consumed_mib);
    let summary = render_summary(&r);
    assert!(
        summary.contains(&format!("GETs per MiB consumed per AZ: az1 {want}")),
        "{summary}"
    );
    assert!(render_markdown(&r).contains("## Object-storage reads per AZ"));
    let json = serde_json::to_string(&r).expect("json");
    let back: RunReport = serde_json::from_str(&json).expect("parse back");
    assert_eq!(back.reads, r.reads);
}
