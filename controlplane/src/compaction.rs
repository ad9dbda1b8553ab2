//! Compaction: merge small files into bigger ones, level by level (ingest files are L0; a
//! job merges `compaction_files` files of level L into one file of level L + 1).
//!
//! The planner (a read of the leader's state) picks the oldest free files of a level; the
//! job's sources are fixed when it is planned. At lease time the agent is given, per
//! partition, the runs of consecutive extents that reference the sources; it writes them
//! concatenated, run after run, and reports where each run landed. The commit swaps each
//! run's extents for one extent of the new file — offsets unchanged, so a read across the
//! swap returns the same records at the same offsets — only if the index still holds
//! exactly those extents; otherwise the whole job is rejected as stale.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::CpError;
use crate::jobs::{
    referenced_keys, release_unreferenced, CompactedFile, JobKind, MaintenanceCommand,
    MaintenanceConfig, MaintenanceResult, OutputRun, SourceRun,
};
use crate::state::State;
use crate::types::Extent;

/// Most compaction jobs planned per level per planning tick.
pub const JOBS_PER_LEVEL_PER_TICK_MAX: usize = 64;

/// Commands that plan the compactions due now: the oldest free files of each level, in
/// groups of `compaction_files`.
pub fn planned(state: &State, config: &MaintenanceConfig) -> Vec<MaintenanceCommand> {
    let referenced = referenced_keys(state);
    let busy: BTreeSet<&str> = state
        .maintenance
        .jobs
        .values()
        .flat_map(|j| match &j.kind {
            JobKind::Compact { sources, .. } => sources.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        })
        .collect();
    let free = |key: &str| {
        referenced.contains(key)
            && !busy.contains(key)
            && !state.maintenance.pending_deletes.contains_key(key)
    };
    // (committed_at_ms, key) of each free file, per level.
    let mut levels: BTreeMap<u8, Vec<(u64, &str)>> = BTreeMap::new();
    for f in state.files.values() {
        if free(&f.key) {
            levels
                .entry(0)
                .or_default()
                .push((f.committed_at_ms, f.key.as_str()));
        }
    }
    for (key, f) in &state.maintenance.compacted {
        if free(key) {
            levels
                .entry(f.level)
                .or_default()
                .push((f.committed_at_ms, key.as_str()));
        }
    }
    let mut out = Vec::new();
    for (level, mut files) in levels {
        if level >= config.levels || files.len() < config.compaction_files {
            continue;
        }
        files.sort_unstable();
        files.dedup_by_key(|(_, k)| *k);
        if files.len() < config.compaction_files {
            continue;
        }
        for group in files
            .chunks_exact(config.compaction_files)
            .take(JOBS_PER_LEVEL_PER_TICK_MAX)
        {
            out.push(MaintenanceCommand::PlanCompaction {
                level_out: level + 1,
                sources: group.iter().map(|(_, k)| k.to_string()).collect(),
            });
        }
    }
    out
}

/// Apply `PlanCompaction`: a new job, unless a source is gone or taken by another job.
pub fn plan(
    state: &mut State,
    level_out: u8,
    sources: &[String],
) -> Result<MaintenanceResult, CpError> {
    if sources.len() < 2 || level_out == 0 {
        return Err(CpError::invalid("a compaction merges at least two files"));
    }
    let referenced = referenced_keys(state);
    for s in sources {
        let taken = state.maintenance.jobs.values().any(|j| match &j.kind {
            JobKind::Compact { sources, .. } => sources.contains(s),
            _ => false,
        });
        if taken || !referenced.contains(s.as_str()) {
            return Err(CpError::invalid(format!(
                "compaction source {s} is gone or already being compacted"
            )));
        }
    }
    eddy_probe::hit("cp.compaction.planned");
    let id = state.maintenance.add_job(JobKind::Compact {
        level_out,
        sources: sources.to_vec(),
    });
    Ok(MaintenanceResult::Planned { job_id: id })
}

/// The runs of consecutive extents referencing `sources`, per partition, each at most
/// `extent_bytes_max` bytes (a single larger extent forms a run alone).
pub fn source_runs(state: &State, sources: &[String], extent_bytes_max: u64) -> Vec<SourceRun> {
    let sources: BTreeSet<&str> = sources.iter().map(String::as_str).collect();
    let mut runs = Vec::new();
    for (topic, t) in &state.topics {
        for (partition, p) in t.partitions.iter().enumerate() {
            let mut current: Vec<Extent> = Vec::new();
            let mut bytes = 0u64;
            for e in p.extents.values() {
                let joins = current.last().is_some_and(|last: &Extent| {
                    last.last_offset + 1 == e.base_offset
                        && bytes.saturating_add(e.byte_len) <= extent_bytes_max
                });
                if !sources.contains(e.key.as_str()) || !joins {
                    if !current.is_empty() {
                        runs.push(SourceRun {
                            topic: topic.clone(),
                            partition: partition as i32,
                            extents: std::mem::take(&mut current),
                        });
                    }
                    bytes = 0;
                }
                if sources.contains(e.key.as_str()) {
                    bytes += e.byte_len;
                    current.push(e.clone());
                }
            }
            if !current.is_empty() {
                runs.push(SourceRun {
                    topic: topic.clone(),
                    partition: partition as i32,
                    extents: current,
                });
            }
        }
    }
    runs
}

/// Apply a finished compaction: validate every run against the index, then swap. Atomic:
/// an error changes nothing.
#[allow(clippy::too_many_arguments)]
pub fn commit(
    state: &mut State,
    level_out: u8,
    sources: &[String],
    output_key: &str,
    size: u64,
    runs: &[OutputRun],
    now_ms: u64,
    delete_grace_ms: u64,
) -> Result<(), CpError> {
    let source_set: BTreeSet<&str> = sources.iter().map(String::as_str).collect();
    if state.maintenance.condemned.contains_key(output_key) {
        return Err(CpError::invalid(format!("{output_key} was condemned")));
    }
    // Validate: each run covers exactly consecutive source extents, inside the file.
    let mut replaced: Vec<(usize, Vec<i64>, u64)> = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let p = state.partition(&run.topic, run.partition)?;
        let end = run.byte_start.checked_add(run.byte_len);
        if end.is_none_or(|end| end > size) || run.last_offset < run.base_offset {
            return Err(CpError::invalid(format!("run {i} does not fit the output")));
        }
        let mut expect = run.base_offset;
        let mut bases = Vec::new();
        let mut newest = 0u64;
        for e in p
            .extents
            .range(run.base_offset..=run.last_offset)
            .map(|(_, e)| e)
        {
            if e.base_offset != expect || !source_set.contains(e.key.as_str()) {
                return Err(CpError::invalid(format!(
                    "{}:{} offset {} is no longer held by a source of the job",
                    run.topic, run.partition, e.base_offset
                )));
            }
            expect = e.last_offset + 1;
            newest = newest.max(e.committed_at_ms);
            bases.push(e.base_offset);
        }
        if bases.is_empty() || expect != run.last_offset + 1 {
            return Err(CpError::invalid(format!(
                "{}:{} [{}, {}] is not covered by the job's extents",
                run.topic, run.partition, run.base_offset, run.last_offset
            )));
        }
        replaced.push((i, bases, newest));
    }
    // Swap.
    for (i, bases, newest) in replaced {
        let run = &runs[i];
        let p = state.partition_mut(&run.topic, run.partition)?;
        for b in bases {
            p.extents.remove(&b);
        }
        p.extents.insert(
            run.base_offset,
            Extent {
                base_offset: run.base_offset,
                last_offset: run.last_offset,
                key: output_key.to_string(),
                byte_start: run.byte_start,
                byte_len: run.byte_len,
                max_timestamp: run.max_timestamp,
                committed_at_ms: newest,
                marker: None,
            },
        );
    }
    state.maintenance.compacted.insert(
        output_key.to_string(),
        CompactedFile {
            level: level_out,
            size,
            committed_at_ms: now_ms,
        },
    );
    let sources: BTreeSet<String> = sources.iter().cloned().collect();
    release_unreferenced(state, &sources, now_ms.saturating_add(delete_grace_ms));
    Ok(())
}
