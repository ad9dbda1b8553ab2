//! Expired early: retention must not delete a record younger than the retention by time in
//! force. A LogStart op carrying a horizon (`horizon_ms`) that completed at `c` proves that
//! every offset below its log start was gone by `c`; an ok send acknowledged at such an
//! offset and invoked at `i` with `c - i` below the horizon was deleted too young (the
//! control plane committed it no earlier than `i`). One sort per partition and a binary
//! search per LogStart op.
//!
//! With retention by bytes in force too (`bytes_limit`), a young record may be deleted
//! legitimately, but only while the partition held more than the limit. The op then also
//! carries `record_bytes_max`, an upper bound on one record's stored size, and the check
//! bounds what the partition can have held when the log start moved: every offset from the
//! previous reported log start up to the highest offset of any send invoked before `c`,
//! at most `record_bytes_max` each. When even that bound is within the limit, retention by
//! bytes had nothing to delete and the young deletion is a violation. (The bound is an
//! over-estimate, so the check never blames a deletion the limit allowed.) A `bytes_limit`
//! without `record_bytes_max` cannot be judged: such ops count as not judged.

use super::index::Index;
use super::{describe, Class, Sink};
use crate::history::{OpKind, Outcome};

/// Returns how many LogStart ops it judged.
pub(super) fn check(ix: &Index, sink: &mut Sink) -> u64 {
    // Without a LogStart op there is nothing to judge (nor tables to build).
    if !ix
        .others()
        .any(|(_, op)| matches!(op.kind, OpKind::LogStart { .. }))
    {
        return 0;
    }
    // Per tp: (acked offset, invoke, value) of ok sends, by offset, with the prefix maximum
    // of the invoke time (the youngest send at or below each position).
    let mut by_tp: Vec<Vec<(i64, u64, u32)>> = vec![Vec::new(); ix.tps.len()];
    for (v, s) in ix.sends.iter().enumerate() {
        if let (Outcome::Ok, Some(a)) = (s.outcome, s.acked) {
            by_tp[s.tp as usize].push((a, s.invoke, v as u32));
        }
    }
    let mut youngest: Vec<Vec<usize>> = Vec::with_capacity(by_tp.len());
    for sends in &mut by_tp {
        sends.sort_unstable();
        let mut best: Vec<usize> = Vec::with_capacity(sends.len());
        for (k, s) in sends.iter().enumerate() {
            let keep = match best.last() {
                Some(&b) if sends[b].1 >= s.1 => b,
                _ => k,
            };
            best.push(keep);
        }
        youngest.push(best);
    }
    let heads = Heads::build(ix);
    // Per tp: the log start the previous judged LogStart op reported (ops go by completion).
    let mut previous: Vec<i64> = vec![0; ix.tps.len()];
    let mut order: Vec<usize> = ix
        .others()
        .filter(|(_, op)| matches!(op.kind, OpKind::LogStart { .. }))
        .map(|(i, _)| i)
        .collect();
    order.sort_by_key(|&i| (ix.ops[i].complete_us, i));
    let mut judged = 0;
    for i in order {
        let op = &ix.ops[i];
        let OpKind::LogStart {
            log_start,
            horizon_ms: Some(horizon_ms),
            bytes_limit,
            record_bytes_max,
            ..
        } = &op.kind
        else {
            continue;
        };
        let (Outcome::Ok, Some(complete)) = (op.outcome, op.complete_us) else {
            continue;
        };
        if bytes_limit.is_some() && record_bytes_max.is_none() {
            continue;
        }
        judged += 1;
        let tp = ix.op_tp[i] as usize;
        let prior_start = std::mem::replace(&mut previous[tp], *log_start).min(*log_start);
        let sends = &by_tp[tp];
        let below = sends.partition_point(|s| s.0 < *log_start);
        if below == 0 {
            continue;
        }
        let (offset, invoke, value) = sends[youngest[tp][below - 1]];
        let horizon_us = horizon_ms.saturating_mul(1000);
        if complete >= invoke.saturating_add(horizon_us) {
            continue;
        }
        let mut bytes_note = String::new();
        if let (Some(limit), Some(per_record)) = (bytes_limit, record_bytes_max) {
            let head = heads.upper(tp, complete);
            let held = head.saturating_sub(prior_start).max(0) as u64;
            let held_bytes = held.saturating_mul(*per_record);
            if held_bytes > *limit {
                continue;
            }
            bytes_note = format!(
                "; retention by bytes could not have deleted it either: offsets {prior_start}..{head} are at most {held} records of at most {per_record} bytes ({held_bytes} bytes), within the limit of {limit} bytes"
            );
        }
        let send = &ix.sends[value as usize];
        sink.push(Class::ExpiredEarly, || {
            super::log::violation(
                ix,
                Class::ExpiredEarly,
                tp as u32,
                vec![send.op, i as u32],
                vec![offset, *log_start],
                vec![value],
                format!(
                    "{} sent {:?} to {}, acknowledged at offset {offset}; {} reported log start {log_start} only {} ms after that send was invoked, under a retention of {horizon_ms} ms",
                    describe(ix.op(send.op)),
                    ix.value_name(value),
                    ix.tp_name(tp as u32),
                    describe(op),
                    complete.saturating_sub(invoke) / 1000
                ) + &bytes_note,
            )
        });
    }
    judged
}

/// Per tp: an upper bound on the head of the log at a time, from the sends invoked before
/// it (a record can only be at an offset if its send was invoked first).
struct Heads {
    /// Per tp: (invoke, highest offset of any send invoked at or before it + 1), by invoke.
    tps: Vec<Vec<(u64, i64)>>,
}

impl Heads {
    fn build(ix: &Index) -> Heads {
        let mut tps: Vec<Vec<(u64, i64)>> = vec![Vec::new(); ix.tps.len()];
        for s in &ix.sends {
            if let Some(a) = s.acked {
                tps[s.tp as usize].push((s.invoke, a.saturating_add(1)));
            }
        }
        for o in &ix.obs {
            let invoke = match ix.sends.get(o.value as usize) {
                Some(s) => s.invoke,
                // A value no send wrote: bound it by nothing (any time).
                None => 0,
            };
            tps[o.tp as usize].push((invoke, o.offset.saturating_add(1)));
        }
        for v in &mut tps {
            v.sort_unstable();
            let mut best = i64::MIN;
            for e in v.iter_mut() {
                best = best.max(e.1);
                e.1 = best;
            }
        }
        Heads { tps }
    }

    /// The highest offset + 1 any send invoked before `t` can have reached.
    fn upper(&self, tp: usize, t: u64) -> i64 {
        let v = &self.tps[tp];
        match v.partition_point(|e| e.0 < t) {
            0 => 0,
            k => v[k - 1].1,
        }
    }
}
