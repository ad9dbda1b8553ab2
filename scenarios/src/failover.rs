//! Failover time from a finished run: how long commits stalled around each control-plane
//! leader crash, read off the history (a commit shows as the acknowledgement of a send).

use eddy_reports::{Op, OpKind, Outcome};
use serde::Serialize;

use crate::chaos::FaultEvent;

/// Commit stalls of one run, in simulated milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverStats {
    /// Control-plane leaders killed (every crash of the leading replica in the run's fault
    /// log: the spec's periodic `crashes` and swarm's `control_plane_crash` alike).
    pub leader_kills: usize,
    /// For each leader kill: the span with no acknowledged send around it (from the last
    /// acknowledgement before the kill to the first one after).
    pub spans_ms: Vec<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The longest span with no acknowledged send between the first and the last one.
    pub longest_no_commit_ms: f64,
}

/// Nearest-rank percentile of ascending `sorted`.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub fn failover_stats(ops: &[Op], faults: &[FaultEvent]) -> FailoverStats {
    let mut acks: Vec<u64> = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && matches!(o.kind, OpKind::Send { .. }))
        .filter_map(|o| o.complete_us)
        .collect();
    acks.sort_unstable();
    let longest_no_commit_ms = acks
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1000.0)
        .fold(0.0, f64::max);
    let kills: Vec<u64> = faults
        .iter()
        .filter(|f| f.family == eddy_faults::Family::ControlPlaneCrash && f.leader)
        .map(|f| f.start_ms * 1000)
        .collect();
    let spans_ms: Vec<f64> = kills
        .iter()
        .filter_map(|&k| {
            let after = acks.partition_point(|&a| a <= k);
            let before = after.checked_sub(1).map(|i| acks[i])?;
            let next = acks.get(after)?;
            Some((next - before) as f64 / 1000.0)
        })
        .collect();
    let mut sorted = spans_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let (p50_ms, p99_ms) = (percentile(&sorted, 0.5), percentile(&sorted, 0.99));
    FailoverStats {
        leader_kills: kills.len(),
        spans_ms,
        p50_ms,
        p99_ms,
        longest_no_commit_ms,
    }
}
