//! Background maintenance as deterministic state: compaction jobs, retention, deletions of
//! replaced files after a grace period, and orphan cleanup.
//!
//! The leader plans (see [`crate::maintainer`]) and agents execute (read, merge, write,
//! delete, list); every decision that changes what is stored or indexed is a journaled
//! [`MaintenanceCommand`] applied here, so replicas agree and a failover loses nothing.
//!
//! Invariants this module keeps (and the planted bugs break on purpose):
//! - an index swap replaces exactly the extents a job read, or nothing (a stale job, whose
//!   sources were replaced or expired meanwhile, is rejected whole);
//! - a file is scheduled for deletion only when no extent references it, and deleted only a
//!   grace period later (fetches that looked it up before the swap still read it);
//! - an orphan (listed, never committed) is condemned only after being seen uncommitted for
//!   the orphan grace period; a condemned key can never be committed afterwards.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::CpError;
use crate::plants::{Plant, Plants};
use crate::state::State;
use crate::types::Extent;

/// Object-key prefix of compaction outputs. Tiered deployments route it to the
/// high-latency (cheaper) bucket; ingest files live under `data/`.
pub const COMPACTED_PREFIX: &str = "compacted";
/// Object-key prefix of ingest files (written by the produce path).
pub const INGEST_PREFIX: &str = "data";
/// Most keys in one delete job.
pub const DELETE_JOB_KEYS_MAX: usize = 1000;
/// A compaction job that failed this many times is dropped (the planner may plan anew).
pub const COMPACTION_ATTEMPTS_MAX: u32 = 5;

/// Retention of one topic. `None` keeps forever.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Records committed longer ago than this are deleted (Kafka `retention.ms`).
    pub retention_ms: Option<u64>,
    /// Keep at most about this many bytes per partition (Kafka `retention.bytes`); whole
    /// extents are dropped from the start, the newest extent is always kept.
    pub retention_bytes: Option<u64>,
}

/// Maintenance settings of the control plane (plain data; off by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Plan jobs at all. Off: files are never compacted, expired or cleaned up.
    pub enabled: bool,
    /// How often the leader plans.
    pub tick_ms: u64,
    /// Files merged by one compaction job (WarpStream merges 32 per level). Each job costs
    /// one GET per source file and one PUT; fewer, bigger files cut later GETs.
    pub compaction_files: usize,
    /// Compaction levels: files of level `levels` are not compacted further (L0 → L1 → L2).
    pub levels: u8,
    /// Largest output extent: consecutive source extents of a partition are merged into one
    /// extent up to this size (a fetch reads whole extents).
    pub extent_bytes_max: u64,
    /// An agent holds a job this long; then another agent may take it over.
    pub job_lease_ms: u64,
    /// Replaced and expired files are deleted this long after they stopped being referenced,
    /// so fetches that looked them up just before still read them. Storage of replaced
    /// files is billed meanwhile (S3 Express $0.11/GB-month, AWS pricing us-east-1).
    pub delete_grace_ms: u64,
    /// A listed key that stays uncommitted this long is an orphan and is deleted. Must exceed
    /// the agents' commit deadline (10 s by default) with a margin.
    pub orphan_grace_ms: u64,
    /// How often orphans are looked for (one LIST per 1,000 keys per prefix: $0.005 per
    /// 1,000 LISTs on S3 Standard).
    pub orphan_scan_ms: u64,
    /// Retention of topics without an entry in `topics`.
    pub retention: RetentionPolicy,
    /// Per-topic retention.
    pub topics: BTreeMap<String, RetentionPolicy>,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            enabled: false,
            tick_ms: 1_000,
            compaction_files: 32,
            levels: 2,
            extent_bytes_max: 4 * 1024 * 1024,
            job_lease_ms: 10_000,
            delete_grace_ms: 30_000,
            orphan_grace_ms: 60_000,
            orphan_scan_ms: 30_000,
            retention: RetentionPolicy::default(),
            topics: BTreeMap::new(),
        }
    }
}

impl MaintenanceConfig {
    pub fn policy(&self, topic: &str) -> &RetentionPolicy {
        self.topics.get(topic).unwrap_or(&self.retention)
    }

    pub fn validate(&self) -> Result<(), CpError> {
        if self.enabled
            && (self.tick_ms == 0
                || self.compaction_files < 2
                || self.job_lease_ms == 0
                || self.orphan_scan_ms == 0
                || self.extent_bytes_max == 0)
        {
            return Err(CpError::invalid(
                "maintenance: tick_ms, job_lease_ms, orphan_scan_ms, extent_bytes_max must be \
                 positive and compaction_files at least 2",
            ));
        }
        Ok(())
    }
}

/// A job held by an agent until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub worker: String,
    pub until_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Merge `sources` (files of level `level_out - 1`) into one file of level `level_out`.
    Compact { level_out: u8, sources: Vec<String> },
    /// Delete these keys (unreferenced for a grace period, or condemned orphans).
    Delete { keys: Vec<String> },
    /// List these prefixes and report every key.
    ScanOrphans { prefixes: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub kind: JobKind,
    /// Times the job was handed out; the current attempt's number.
    pub attempt: u32,
    pub lease: Option<Lease>,
}

impl Job {
    /// Where attempt `attempt` of a compaction writes its output: a fresh key per attempt,
    /// so a slow attempt never overwrites the output another attempt committed.
    pub fn output_key(&self, attempt: u32) -> Option<String> {
        match &self.kind {
            JobKind::Compact { level_out, .. } => Some(format!(
                "{COMPACTED_PREFIX}/L{level_out}/{:020}-{attempt}",
                self.id
            )),
            _ => None,
        }
    }
}

/// A compacted file the index may reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactedFile {
    pub level: u8,
    pub size: u64,
    pub committed_at_ms: u64,
}

/// Maintenance state (part of [`State`]: journaled, snapshotted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Maintenance {
    pub next_job_id: u64,
    /// Jobs not finished yet, by id.
    pub jobs: BTreeMap<u64, Job>,
    /// Compaction outputs that were committed (key → file).
    pub compacted: BTreeMap<String, CompactedFile>,
    /// Unreferenced files waiting for their grace period: key → due time.
    pub pending_deletes: BTreeMap<String, u64>,
    /// Keys seen uncommitted by an orphan scan: key → first seen.
    pub suspects: BTreeMap<String, u64>,
    /// Orphans condemned to deletion: key → when. Committing one is refused.
    pub condemned: BTreeMap<String, u64>,
    /// Counters for reports.
    pub stats: MaintenanceStats,
}

impl Maintenance {
    /// Queues a new job of `kind` (not leased yet) and returns its id.
    pub fn add_job(&mut self, kind: JobKind) -> u64 {
        let id = self.next_job_id;
        self.next_job_id += 1;
        self.jobs.insert(
            id,
            Job {
                id,
                kind,
                attempt: 0,
                lease: None,
            },
        );
        id
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaintenanceStats {
    pub compactions_committed: u64,
    pub compactions_rejected: u64,
    pub files_deleted: u64,
    pub orphans_condemned: u64,
    pub log_start_advances: u64,
}

/// A consecutive run of extents of one partition that a compaction merges into one extent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRun {
    pub topic: String,
    pub partition: i32,
    /// Consecutive extents, ascending: each one's `base_offset` is the previous one's
    /// `last_offset + 1`.
    pub extents: Vec<Extent>,
}

/// What an agent is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobWork {
    /// Read every run's extents, write them concatenated run by run to `output_key`.
    Compact {
        output_key: String,
        runs: Vec<SourceRun>,
    },
    Delete {
        keys: Vec<String>,
    },
    ScanOrphans {
        prefixes: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub id: u64,
    pub attempt: u32,
    pub work: JobWork,
}

/// One merged extent of a compaction output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRun {
    pub topic: String,
    pub partition: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub byte_start: u64,
    pub byte_len: u64,
    pub max_timestamp: i64,
}

/// How an agent finished a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    Compacted {
        output_key: String,
        size: u64,
        runs: Vec<OutputRun>,
    },
    Deleted,
    Scanned {
        keys: Vec<String>,
    },
    /// Could not do it (a read failed, …); the job may be handed out again.
    Failed {
        reason: String,
    },
}

/// One partition's new log start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStartUpdate {
    pub topic: String,
    pub partition: i32,
    pub log_start: i64,
}

/// The maintenance commands (journaled inside [`crate::Command::Maintain`]). Times and
/// settings are carried in the command, so applying it needs nothing but the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceCommand {
    /// Create a compaction job merging `sources` into level `level_out`.
    PlanCompaction { level_out: u8, sources: Vec<String> },
    /// Hand the first available job to `worker` until `now_ms + lease_ms`.
    Lease {
        worker: String,
        now_ms: u64,
        lease_ms: u64,
        extent_bytes_max: u64,
    },
    /// An agent finished attempt `attempt` of job `job_id`.
    Finish {
        job_id: u64,
        attempt: u32,
        outcome: JobOutcome,
        now_ms: u64,
        delete_grace_ms: u64,
        orphan_grace_ms: u64,
    },
    /// Advance log starts (retention); files no longer referenced are deleted after the grace.
    AdvanceLogStart {
        updates: Vec<LogStartUpdate>,
        now_ms: u64,
        delete_grace_ms: u64,
    },
    /// Turn due deletions into delete jobs; with `scan`, start an orphan scan if none runs.
    Schedule { now_ms: u64, scan: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceResult {
    Planned {
        job_id: u64,
    },
    Leased {
        job: Option<JobSpec>,
    },
    /// A finish was taken into account (`false`: stale or unknown job, nothing changed).
    Finished {
        accepted: bool,
        message: String,
    },
    LogStartAdvanced {
        partitions: usize,
    },
    Scheduled {
        jobs: usize,
    },
}

/// Apply one maintenance command.
pub fn apply(
    state: &mut State,
    command: &MaintenanceCommand,
    plants: &Plants,
) -> Result<MaintenanceResult, CpError> {
    match command {
        MaintenanceCommand::PlanCompaction { level_out, sources } => {
            crate::compaction::plan(state, *level_out, sources)
        }
        MaintenanceCommand::Lease {
            worker,
            now_ms,
            lease_ms,
            extent_bytes_max,
        } => Ok(MaintenanceResult::Leased {
            job: lease(state, worker, *now_ms, *lease_ms, *extent_bytes_max, plants),
        }),
        MaintenanceCommand::Finish {
            job_id,
            attempt,
            outcome,
            now_ms,
            delete_grace_ms,
            orphan_grace_ms,
        } => {
            let clock = FinishClock {
                now_ms: *now_ms,
                delete_grace_ms: *delete_grace_ms,
                orphan_grace_ms: *orphan_grace_ms,
            };
            Ok(finish(state, *job_id, *attempt, outcome, clock, plants))
        }
        MaintenanceCommand::AdvanceLogStart {
            updates,
            now_ms,
            delete_grace_ms,
        } => crate::retention::advance(state, updates, *now_ms, *delete_grace_ms, plants),
        MaintenanceCommand::Schedule { now_ms, scan } => Ok(schedule(state, *now_ms, *scan)),
    }
}

/// Whether some job could be leased at `now_ms` (a read: spares agents a journal write when
/// there is nothing to do).
pub fn has_available_job(state: &State, now_ms: u64) -> bool {
    state
        .maintenance
        .jobs
        .values()
        .any(|j| j.lease.as_ref().is_none_or(|l| l.until_ms <= now_ms))
}

fn lease(
    state: &mut State,
    worker: &str,
    now_ms: u64,
    lease_ms: u64,
    extent_bytes_max: u64,
    plants: &Plants,
) -> Option<JobSpec> {
    let lapses = !plants.has(Plant::LeaseNeverLapses);
    loop {
        let id = state
            .maintenance
            .jobs
            .values()
            .find(|j| {
                j.lease
                    .as_ref()
                    .is_none_or(|l| lapses && l.until_ms <= now_ms)
            })
            .map(|j| j.id)?;
        let job = state.maintenance.jobs.get(&id)?.clone();
        let work = match &job.kind {
            JobKind::Compact { sources, .. } => {
                let runs = crate::compaction::source_runs(state, sources, extent_bytes_max);
                if runs.is_empty() || job.attempt >= COMPACTION_ATTEMPTS_MAX {
                    // Nothing left to merge (replaced or expired meanwhile), or hopeless.
                    eddy_probe::hit("cp.jobs.compaction_dropped");
                    state.maintenance.jobs.remove(&id);
                    continue;
                }
                JobWork::Compact {
                    output_key: job.output_key(job.attempt + 1).unwrap_or_default(),
                    runs,
                }
            }
            JobKind::Delete { keys } => JobWork::Delete { keys: keys.clone() },
            JobKind::ScanOrphans { prefixes } => JobWork::ScanOrphans {
                prefixes: prefixes.clone(),
            },
        };
        let stored = state.maintenance.jobs.get_mut(&id)?;
        if stored.lease.is_some() {
            eddy_probe::hit("cp.jobs.lease_lapsed");
        }
        stored.attempt += 1;
        stored.lease = Some(Lease {
            worker: worker.to_string(),
            until_ms: now_ms.saturating_add(lease_ms),
        });
        return Some(JobSpec {
            id,
            attempt: stored.attempt,
            work,
        });
    }
}

/// When a job finishes, and the grace periods of what it leaves behind.
struct FinishClock {
    now_ms: u64,
    delete_grace_ms: u64,
    orphan_grace_ms: u64,
}

fn finish(
    state: &mut State,
    job_id: u64,
    attempt: u32,
    outcome: &JobOutcome,
    clock: FinishClock,
    plants: &Plants,
) -> MaintenanceResult {
    let FinishClock {
        now_ms,
        delete_grace_ms,
        orphan_grace_ms,
    } = clock;
    let stale = |message: &str| MaintenanceResult::Finished {
        accepted: false,
        message: message.to_string(),
    };
    let Some(job) = state.maintenance.jobs.get(&job_id).cloned() else {
        eddy_probe::hit("cp.jobs.finish_stale");
        return stale("unknown or already finished job");
    };
    if job.attempt != attempt {
        eddy_probe::hit("cp.jobs.finish_stale");
        return stale("a newer attempt holds the job");
    }
    match (&job.kind, outcome) {
        (_, JobOutcome::Failed { .. }) => {
            eddy_probe::hit("cp.jobs.released_after_failure");
            if let Some(j) = state.maintenance.jobs.get_mut(&job_id) {
                j.lease = None;
            }
            stale("job released after a failure")
        }
        (
            JobKind::Compact { level_out, sources },
            JobOutcome::Compacted {
                output_key,
                size,
                runs,
            },
        ) => {
            if job.output_key(attempt).as_deref() != Some(output_key.as_str()) {
                eddy_probe::hit("cp.jobs.finish_stale");
                return stale("output key does not match the attempt");
            }
            state.maintenance.jobs.remove(&job_id);
            match crate::compaction::commit(
                state,
                *level_out,
                sources,
                output_key,
                *size,
                runs,
                now_ms,
                delete_grace_ms,
            ) {
                Ok(()) => {
                    eddy_probe::hit("cp.compaction.committed");
                    state.maintenance.stats.compactions_committed += 1;
                    MaintenanceResult::Finished {
                        accepted: true,
                        message: String::new(),
                    }
                }
                Err(e) => {
                    eddy_probe::hit("cp.compaction.rejected_stale");
                    state.maintenance.stats.compactions_rejected += 1;
                    stale(&format!("stale compaction rejected: {}", e.message))
                }
            }
        }
        (JobKind::Delete { keys }, JobOutcome::Deleted) => {
            state.maintenance.stats.files_deleted += keys.len() as u64;
            state.maintenance.jobs.remove(&job_id);
            MaintenanceResult::Finished {
                accepted: true,
                message: String::new(),
            }
        }
        (JobKind::ScanOrphans { .. }, JobOutcome::Scanned { keys }) => {
            state.maintenance.jobs.remove(&job_id);
            crate::cleanup::scanned(state, keys, now_ms, orphan_grace_ms, plants);
            MaintenanceResult::Finished {
                accepted: true,
                message: String::new(),
            }
        }
        _ => stale("outcome does not match the job"),
    }
}

/// Move due deletions into delete jobs; start an orphan scan when asked and none runs.
fn schedule(state: &mut State, now_ms: u64, scan: bool) -> MaintenanceResult {
    let m = &mut state.maintenance;
    let due: Vec<String> = m
        .pending_deletes
        .iter()
        .filter(|(_, at)| **at <= now_ms)
        .map(|(k, _)| k.clone())
        .collect();
    let mut created = 0;
    for keys in due.chunks(DELETE_JOB_KEYS_MAX) {
        for k in keys {
            m.pending_deletes.remove(k);
        }
        m.add_job(JobKind::Delete {
            keys: keys.to_vec(),
        });
        created += 1;
    }
    let scanning = m
        .jobs
        .values()
        .any(|j| matches!(j.kind, JobKind::ScanOrphans { .. }));
    if scan && !scanning {
        m.add_job(JobKind::ScanOrphans {
            prefixes: vec![INGEST_PREFIX.to_string(), COMPACTED_PREFIX.to_string()],
        });
        created += 1;
    }
    MaintenanceResult::Scheduled { jobs: created }
}

/// Every object key some extent of some partition references.
pub fn referenced_keys(state: &State) -> BTreeSet<&str> {
    state
        .topics
        .values()
        .flat_map(|t| t.partitions.iter())
        .flat_map(|p| p.extents.values())
        .filter(|e| !e.is_marker())
        .map(|e| e.key.as_str())
        .collect()
}

/// Schedule `keys` for deletion `grace_ms` after `now_ms` when nothing references them.
pub fn release_unreferenced(state: &mut State, keys: &BTreeSet<String>, due_ms: u64) {
    let referenced: BTreeSet<String> = {
        let all = referenced_keys(state);
        keys.iter()
            .filter(|k| all.contains(k.as_str()))
            .cloned()
            .collect()
    };
    for k in keys {
        if referenced.contains(k) {
            eddy_probe::hit("cp.deletion.kept_referenced");
        } else {
            eddy_probe::hit("cp.deletion.scheduled");
            state.maintenance.compacted.remove(k);
            state
                .maintenance
                .pending_deletes
                .entry(k.clone())
                .or_insert(due_ms);
        }
    }
}
