//! Retention by time and by bytes, per topic: the log start offset advances (whole extents
//! at a time), extents below it leave the index, and files no extent references any more
//! are deleted after the grace period.
//!
//! Time is the control plane's: an extent expires `retention_ms` after it was committed
//! (a compacted extent when its newest source was), never by producer timestamps, which
//! come from clients' clocks.

use std::collections::BTreeSet;

use crate::error::CpError;
use crate::jobs::{release_unreferenced, LogStartUpdate, MaintenanceConfig, MaintenanceResult};
use crate::plants::{planted, Plant, Plants};
use crate::state::{PartitionState, State};

/// The log start `p` should have at `now_ms` under `retention_ms` / `retention_bytes`.
pub fn target_log_start(
    p: &PartitionState,
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
    now_ms: u64,
) -> i64 {
    let mut start = p.log_start;
    if let Some(ms) = retention_ms {
        for e in p.extents.values() {
            if e.committed_at_ms.saturating_add(ms) <= now_ms {
                start = start.max(e.last_offset + 1);
            } else {
                break;
            }
        }
    }
    if let Some(max) = retention_bytes {
        let mut total: u64 = p.extents.values().map(|e| e.byte_len).sum();
        let last = p.extents.keys().next_back().copied();
        for e in p.extents.values() {
            if total <= max || Some(e.base_offset) == last {
                break;
            }
            total -= e.byte_len;
            start = start.max(e.last_offset + 1);
        }
    }
    start
}

/// Log-start updates due now under `config`.
pub fn planned(state: &State, config: &MaintenanceConfig, now_ms: u64) -> Vec<LogStartUpdate> {
    let mut out = Vec::new();
    for (topic, t) in &state.topics {
        let policy = config.policy(topic);
        if policy.retention_ms.is_none() && policy.retention_bytes.is_none() {
            continue;
        }
        for (i, p) in t.partitions.iter().enumerate() {
            let start = target_log_start(p, policy.retention_ms, policy.retention_bytes, now_ms);
            if start > p.log_start {
                out.push(LogStartUpdate {
                    topic: topic.clone(),
                    partition: i as i32,
                    log_start: start,
                });
            }
        }
    }
    out
}

/// Apply `AdvanceLogStart`. Each update must raise the log start to an extent boundary (or
/// the high watermark); updates that no longer do (a retried or raced command) are skipped.
pub fn advance(
    state: &mut State,
    updates: &[LogStartUpdate],
    now_ms: u64,
    delete_grace_ms: u64,
    plants: &Plants,
) -> Result<MaintenanceResult, CpError> {
    let mut dropped_keys = BTreeSet::new();
    let mut first_kept = BTreeSet::new();
    let mut advanced = 0;
    for u in updates {
        let p = state.partition_mut(&u.topic, u.partition)?;
        let aligned = u.log_start == p.high_watermark || p.extents.contains_key(&u.log_start);
        if u.log_start <= p.log_start || u.log_start > p.high_watermark || !aligned {
            eddy_probe::hit("cp.retention.update_skipped");
            continue;
        }
        eddy_probe::hit("cp.retention.advanced");
        let kept = p.extents.split_off(&u.log_start);
        let dropped = std::mem::replace(&mut p.extents, kept);
        first_kept.extend(
            p.extents
                .values()
                .find(|e| !e.is_marker())
                .map(|e| e.key.clone()),
        );
        dropped_keys.extend(
            dropped
                .into_values()
                .filter(|e| !e.is_marker())
                .map(|e| e.key),
        );
        p.log_start = u.log_start;
        p.txns.trim(u.log_start);
        advanced += 1;
    }
    state.maintenance.stats.log_start_advances += advanced as u64;
    if plants.has(Plant::RetentionDeletesReferenced) {
        planted::delete_unchecked(state, dropped_keys, first_kept, now_ms);
    } else {
        release_unreferenced(state, &dropped_keys, now_ms.saturating_add(delete_grace_ms));
    }
    Ok(MaintenanceResult::LogStartAdvanced {
        partitions: advanced,
    })
}
