//! Compaction, tiered storage and retention in one simulated run with agents crashing: every
//! checker passes (reads after compaction return the same records at the same offsets; no
//! record younger than the retention horizon disappears), files move from the Express
//! ingest bucket to the Standard compacted bucket, the log start advances, replaced files are
//! deleted — and a compactor that drops a batch is caught.

use eddy_reports::{Class, OpKind};
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;
use eddy_sim::RequestKind;

const SPEC: &str = r#"{
  "name": "compaction-test",
  "topology": { "azs": ["az1", "az2", "az3"], "agents_per_az": 1, "producers_per_az": 1, "consumers_per_az": 1, "controlplane_az": "az1", "controlplane_replicas": 1 },
  "workload": { "topic": "events", "partitions": 4, "records_per_s": 100, "record_bytes": 512, "group_mode": "none" },
  "tieredStorageConfig": {
    "lowLatency": { "type": "S3_Express", "bucket": "low" },
    "highLatency": { "type": "S3_Standard", "bucket": "high" }
  },
  "agent": { "batch_timeout_ms": 250, "commit_deadline_ms": 3000, "zone_cache_bytes": 8388608 },
  "controlplane": { "maintenance": {
    "enabled": true, "compaction_files": 4, "job_lease_ms": 3000, "delete_grace_ms": 2000,
    "orphan_grace_ms": 6000, "orphan_scan_ms": 3000, "retention": { "retention_ms": 12000 }
  } },
  "crashes": { "agent_every_s": 6, "agent_down_s": 2, "crash_end_s": 4 },
  "duration_s": 24,
  "drain_s": 12
}"#;

#[test]
fn compaction_and_retention_under_agent_crashes_keep_every_record() {
    let scenario = Scenario::parse(SPEC).expect("spec parses");
    let (out, report) = run_and_report(&scenario, 7).expect("run");
    assert!(out.drained, "drain incomplete");
    assert!(
        report.verdict.is_valid(),
        "{:?}",
        report.verdict.violations.first()
    );
    assert!(
        out.fault_events
            .iter()
            .any(|f| f.family == eddy_faults::Family::AgentCrash),
        "agents were crashed"
    );
    let bucket = |name: &str| out.meters.buckets.get(name).expect(name).clone();
    let (ingest, compacted) = (bucket("ingest"), bucket("compacted"));
    assert!(
        compacted.requests.get(RequestKind::Put) >= 3,
        "compaction wrote to the Standard bucket: {compacted:?}"
    );
    assert!(
        ingest.requests.get(RequestKind::Delete) >= 8,
        "replaced and expired ingest files were deleted: {ingest:?}"
    );
    assert!(compacted.byte_seconds > 0.0);
    // Stored bytes over time: Standard (compacted) accrues GB·hours only after compaction
    // started, so its share of the accrued total grows between the first and last sample.
    let gb_hours =
        |i: usize, class: &str| out.stored[i].classes.get(class).map_or(0.0, |c| c.gb_hours);
    let last = out.stored.len() - 1;
    assert!(last >= 10, "sampled over the run: {}", out.stored.len());
    let share = |i: usize| {
        let (x, s) = (gb_hours(i, "s3_express"), gb_hours(i, "s3_standard"));
        s / (x + s).max(f64::MIN_POSITIVE)
    };
    let early = (1..=last)
        .find(|&i| gb_hours(i, "s3_express") > 0.0)
        .expect("ingest stored something");
    assert!(
        share(last) > share(early),
        "Standard's share of byte-hours grows: {} -> {}",
        share(early),
        share(last)
    );
    let log_starts: Vec<i64> = out
        .ops
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::LogStart {
                log_start,
                horizon_ms: Some(12_000),
                ..
            } => Some(*log_start),
            _ => None,
        })
        .collect();
    assert!(
        log_starts.iter().any(|l| *l > 0),
        "retention advanced the log start (checked against its horizon)"
    );
}

#[test]
fn a_compactor_that_drops_a_batch_is_caught() {
    let mut scenario = Scenario::parse(SPEC).expect("spec parses");
    scenario.crashes = Default::default();
    scenario.plants =
        eddy_controlplane::Plants([eddy_controlplane::Plant::CompactionDropsBatch].into());
    let (_, report) = run_and_report(&scenario, 7).expect("run");
    let classes = report.verdict.classes();
    assert!(
        classes.contains(&Class::InconsistentOffsets) || classes.contains(&Class::LostWrite),
        "{classes:?}"
    );
}
