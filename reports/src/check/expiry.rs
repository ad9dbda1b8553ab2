//! Expired early: retention must not delete a record younger than the retention by time in
//! force. A LogStart op carrying a horizon (`horizon_ms`) that completed at `c` proves that
//! every offset below its log start was gone by `c`; an ok send acknowledged at such an
//! offset and invoked at `i` with `c - i` below the horizon was deleted too young (the
//! control plane committed it no earlier than `i`). One sort per partition and a binary
//! search per LogStart op.

use super::index::Index;
use super::{describe, Class, Sink};
use crate::history::{OpKind, Outcome};

pub(super) fn check(ix: &Index, sink: &mut Sink) {
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
    for (i, op) in ix.ops.iter().enumerate() {
        let OpKind::LogStart {
            log_start,
            horizon_ms: Some(horizon_ms),
            ..
        } = &op.kind
        else {
            continue;
        };
        let (Outcome::Ok, Some(complete)) = (op.outcome, op.complete_us) else {
            continue;
        };
        let tp = ix.op_tp[i] as usize;
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
                ),
            )
        });
    }
}
