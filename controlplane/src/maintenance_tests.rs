//! Unit tests of compaction planning, the index swap, retention and orphan cleanup, on the
//! state machine alone.

use crate::command::{Command, CommandResult};
use crate::jobs::{
    JobOutcome, JobSpec, JobWork, LogStartUpdate, MaintenanceCommand, MaintenanceConfig,
    MaintenanceResult, OutputRun,
};
use crate::state::State;
use crate::types::{ChunkSpec, FileSpec};

/// Applies the compaction jobs the planner proposes with `files` files per job.
fn plan_compactions(s: &mut State, files: usize) {
    for op in crate::compaction::planned(s, &config(files)) {
        maintain(s, op);
    }
}

fn chunk(partition: i32, start: u64, len: u64, records: u64) -> ChunkSpec {
    ChunkSpec {
        topic: "t".into(),
        partition,
        byte_start: start,
        byte_len: len,
        record_count: records,
        max_timestamp: 0,
        producer: None,
    }
}

/// A state with topic `t` (2 partitions) and `n` files, each holding 10 bytes / 2 records of
/// both partitions, committed at 1000 ms apart.
fn with_files(n: usize) -> State {
    let mut s = State::default();
    s.apply(&Command::CreateTopic {
        name: "t".into(),
        partitions: 2,
        if_not_exists: false,
    });
    for i in 0..n {
        let r = s.apply(&Command::CommitFile {
            file: FileSpec {
                id: format!("f{i}"),
                key: format!("data/az1/f{i}"),
                size: 20,
                chunks: vec![chunk(0, 0, 10, 2), chunk(1, 10, 10, 2)],
            },
            committed_at_ms: 1000 * (i as u64 + 1),
        });
        assert!(matches!(r, CommandResult::FileCommitted { .. }), "{r:?}");
    }
    s
}

thread_local! {
    /// Planted bugs the helpers below apply commands with.
    static PLANTS: std::cell::RefCell<crate::plants::Plants> = Default::default();
}

fn maintain(s: &mut State, op: MaintenanceCommand) -> MaintenanceResult {
    let plants = PLANTS.with(|p| p.borrow().clone());
    match s.apply_with(&Command::Maintain { op }, &plants) {
        CommandResult::Maintained(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

fn lease(s: &mut State, worker: &str, now_ms: u64) -> Option<JobSpec> {
    match maintain(
        s,
        MaintenanceCommand::Lease {
            worker: worker.into(),
            now_ms,
            lease_ms: 10_000,
            extent_bytes_max: 1 << 20,
        },
    ) {
        MaintenanceResult::Leased { job } => job,
        other => panic!("unexpected {other:?}"),
    }
}

fn finish(s: &mut State, job: &JobSpec, outcome: JobOutcome, now_ms: u64) -> bool {
    match maintain(
        s,
        MaintenanceCommand::Finish {
            job_id: job.id,
            attempt: job.attempt,
            outcome,
            now_ms,
            delete_grace_ms: 5_000,
            orphan_grace_ms: 60_000,
        },
    ) {
        MaintenanceResult::Finished { accepted, .. } => accepted,
        other => panic!("unexpected {other:?}"),
    }
}

/// What a correct compactor reports for `job`: runs written back to back.
fn compacted(job: &JobSpec) -> JobOutcome {
    let JobWork::Compact { output_key, runs } = &job.work else {
        panic!("not a compaction: {job:?}");
    };
    let mut at = 0;
    let mut out = Vec::new();
    for r in runs {
        let len: u64 = r.extents.iter().map(|e| e.byte_len).sum();
        out.push(OutputRun {
            topic: r.topic.clone(),
            partition: r.partition,
            base_offset: r.extents[0].base_offset,
            last_offset: r.extents[r.extents.len() - 1].last_offset,
            byte_start: at,
            byte_len: len,
            max_timestamp: 0,
        });
        at += len;
    }
    JobOutcome::Compacted {
        output_key: output_key.clone(),
        size: at,
        runs: out,
    }
}

fn config(files: usize) -> MaintenanceConfig {
    MaintenanceConfig {
        enabled: true,
        compaction_files: files,
        ..MaintenanceConfig::default()
    }
}

/// Offsets and the extent's (base, last) covering each of them, for a partition.
fn coverage(s: &State, partition: i32) -> Vec<(i64, i64)> {
    s.partition("t", partition)
        .unwrap()
        .extents
        .values()
        .map(|e| (e.base_offset, e.last_offset))
        .collect()
}

#[test]
fn planner_waits_for_enough_files_then_merges_the_oldest() {
    let s = with_files(3);
    assert!(crate::compaction::planned(&s, &config(4)).is_empty());
    let s = with_files(5);
    let plans = crate::compaction::planned(&s, &config(4));
    assert_eq!(
        plans,
        vec![MaintenanceCommand::PlanCompaction {
            level_out: 1,
            sources: (0..4).map(|i| format!("data/az1/f{i}")).collect(),
        }]
    );
}

#[test]
fn compaction_swaps_the_index_keeping_offsets_and_schedules_deletes_after_grace() {
    let mut s = with_files(4);
    let before = s.lookup("t", 0, 0, u64::MAX, false).unwrap();
    plan_compactions(&mut s, 4);
    let job = lease(&mut s, "a1", 10_000).expect("a job");
    let JobWork::Compact { runs, .. } = &job.work else {
        panic!()
    };
    assert_eq!(runs.len(), 2, "one run per partition");
    assert!(finish(&mut s, &job, compacted(&job), 10_000));
    // Same offsets, one extent per partition, all in the new file.
    assert_eq!(coverage(&s, 0), vec![(0, 7)]);
    assert_eq!(coverage(&s, 1), vec![(0, 7)]);
    let after = s.lookup("t", 0, 0, u64::MAX, false).unwrap();
    assert_eq!(after.high_watermark, before.high_watermark);
    assert!(after.extents[0].key.starts_with("compacted/L1/"));
    // Sources wait for the grace period, then become a delete job.
    assert_eq!(s.maintenance.pending_deletes.len(), 4);
    assert!(s
        .maintenance
        .pending_deletes
        .values()
        .all(|due| *due == 15_000));
    maintain(
        &mut s,
        MaintenanceCommand::Schedule {
            now_ms: 14_999,
            scan: false,
        },
    );
    assert!(
        s.maintenance.jobs.is_empty(),
        "nothing is due before the grace"
    );
    maintain(
        &mut s,
        MaintenanceCommand::Schedule {
            now_ms: 15_000,
            scan: false,
        },
    );
    let del = lease(&mut s, "a2", 15_000).expect("a delete job");
    assert!(matches!(&del.work, JobWork::Delete { keys } if keys.len() == 4));
}

#[test]
fn a_second_commit_of_the_same_job_and_a_stale_job_are_rejected() {
    let mut s = with_files(4);
    plan_compactions(&mut s, 2);
    let job = lease(&mut s, "a1", 0).unwrap();
    let outcome = compacted(&job);
    assert!(finish(&mut s, &job, outcome.clone(), 1));
    let snapshot = s.clone();
    assert!(!finish(&mut s, &job, outcome, 2), "committed twice");
    assert_eq!(
        s.topics, snapshot.topics,
        "a repeated commit changes nothing"
    );

    // A job whose sources were replaced meanwhile (by retention here) is stale.
    let mut s = with_files(4);
    plan_compactions(&mut s, 2);
    let job = lease(&mut s, "a1", 0).unwrap();
    maintain(
        &mut s,
        MaintenanceCommand::AdvanceLogStart {
            updates: vec![LogStartUpdate {
                topic: "t".into(),
                partition: 0,
                log_start: 2,
            }],
            now_ms: 1,
            delete_grace_ms: 0,
        },
    );
    let before = s.topics.clone();
    assert!(!finish(&mut s, &job, compacted(&job), 2));
    assert_eq!(s.topics, before, "a stale job is rejected whole");
    assert_eq!(s.maintenance.stats.compactions_rejected, 1);
}

#[test]
fn a_lapsed_lease_goes_to_another_agent_and_the_old_attempt_cannot_commit() {
    let mut s = with_files(2);
    plan_compactions(&mut s, 2);
    let first = lease(&mut s, "a1", 0).unwrap();
    assert!(lease(&mut s, "a2", 9_999).is_none(), "leased until 10 s");
    let second = lease(&mut s, "a2", 10_000).expect("taken over after the lease");
    assert_eq!(second.id, first.id);
    assert_ne!(second.work, first.work, "a fresh output key per attempt");
    assert!(!finish(&mut s, &first, compacted(&first), 10_001));
    assert!(finish(&mut s, &second, compacted(&second), 10_002));
}

#[test]
fn retention_by_time_and_bytes_advances_the_log_start_and_frees_files() {
    let mut s = with_files(5);
    // Files committed at 1..=5 s; at 4.5 s with 2 s retention, files 1 and 2 expired.
    let cfg = MaintenanceConfig {
        retention: crate::jobs::RetentionPolicy {
            retention_ms: Some(2_000),
            retention_bytes: None,
        },
        ..config(32)
    };
    let updates = crate::retention::planned(&s, &cfg, 4_500);
    assert_eq!(updates.len(), 2);
    assert!(updates.iter().all(|u| u.log_start == 4));
    maintain(
        &mut s,
        MaintenanceCommand::AdvanceLogStart {
            updates,
            now_ms: 4_500,
            delete_grace_ms: 1_000,
        },
    );
    assert_eq!(s.partition("t", 0).unwrap().log_start, 4);
    assert_eq!(
        s.lookup("t", 0, 3, 100, false).unwrap_err().kind,
        crate::error::ErrorKind::OffsetOutOfRange
    );
    assert_eq!(
        s.list_offset("t", 0, crate::types::EARLIEST_TIMESTAMP, false)
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        s.maintenance.pending_deletes.keys().collect::<Vec<_>>(),
        vec!["data/az1/f0", "data/az1/f1"]
    );
    // Bytes: keep at most 25 bytes per partition → the newest 2 extents (10 bytes each).
    let by_bytes = crate::jobs::RetentionPolicy {
        retention_ms: None,
        retention_bytes: Some(25),
    };
    let p = s.partition("t", 1).unwrap();
    assert_eq!(
        crate::retention::target_log_start(p, by_bytes.retention_ms, by_bytes.retention_bytes, 0),
        6
    );
}

#[test]
fn retention_keeps_a_file_another_partition_still_references() {
    let mut s = with_files(2);
    maintain(
        &mut s,
        MaintenanceCommand::AdvanceLogStart {
            updates: vec![LogStartUpdate {
                topic: "t".into(),
                partition: 0,
                log_start: 2,
            }],
            now_ms: 0,
            delete_grace_ms: 0,
        },
    );
    assert!(
        s.maintenance.pending_deletes.is_empty(),
        "partition 1 still reads f0"
    );
}

#[test]
fn orphans_are_condemned_after_the_grace_and_committed_files_never() {
    let mut s = with_files(2);
    // A compaction output is committed too.
    plan_compactions(&mut s, 2);
    let job = lease(&mut s, "a1", 0).unwrap();
    assert!(finish(&mut s, &job, compacted(&job), 0));
    let output = s.maintenance.compacted.keys().next().unwrap().clone();
    let listing = vec![
        "data/az1/f0".to_string(),
        "data/az1/orphan".to_string(),
        output.clone(),
    ];
    let scan = |s: &mut State, now: u64| {
        maintain(
            s,
            MaintenanceCommand::Schedule {
                now_ms: now,
                scan: true,
            },
        );
        let job = loop {
            let j = lease(s, "a1", now).expect("a job");
            if matches!(j.work, JobWork::ScanOrphans { .. }) {
                break j;
            }
            assert!(finish(s, &j, JobOutcome::Deleted, now));
        };
        assert!(finish(
            s,
            &job,
            JobOutcome::Scanned {
                keys: listing.clone()
            },
            now
        ));
    };
    scan(&mut s, 1_000);
    assert!(s.maintenance.condemned.is_empty(), "not before the grace");
    scan(&mut s, 61_000);
    assert_eq!(
        s.maintenance.condemned.keys().collect::<Vec<_>>(),
        vec!["data/az1/orphan"]
    );
    // A late commit of the condemned orphan is refused.
    let r = s.apply(&Command::CommitFile {
        file: FileSpec {
            id: "late".into(),
            key: "data/az1/orphan".into(),
            size: 10,
            chunks: vec![chunk(0, 0, 10, 1)],
        },
        committed_at_ms: 61_001,
    });
    assert!(matches!(r, CommandResult::Rejected(_)));

    // With the planted bug, the committed compaction output is condemned as well.
    let planted = crate::plants::Plants([crate::plants::Plant::CleanupDeletesCommitted].into());
    PLANTS.with(|p| *p.borrow_mut() = planted);
    scan(&mut s, 62_000);
    scan(&mut s, 130_000);
    assert!(s.maintenance.condemned.contains_key(&output));
}

#[test]
fn maintenance_state_survives_a_snapshot() {
    let mut s = with_files(2);
    plan_compactions(&mut s, 2);
    lease(&mut s, "a1", 0).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.maintenance.jobs.len(), 1);
}
