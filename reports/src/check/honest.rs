//! Honest errors: an error a client was given must be justified by the state at that time.
//!
//! OFFSET_OUT_OF_RANGE for a fetch at offset `f` (recorded as the consumer's reset: a Seek op
//! with `reset_from` = `f`) is justified only when `f` was below the log start or above the
//! high watermark (a fetch at the high watermark is a caught-up consumer waiting for more).
//! It is unjustified — and the consumer's reset may have skipped or replayed records that
//! were there — when the history proves both:
//!
//! - `f` ≤ high watermark before the fetch: an ok send acknowledged at an offset ≥ `f` − 1,
//!   or an ok poll or ListOffsets reporting a high watermark ≥ `f`, completed before the
//!   fetch was invoked (high watermarks never go down);
//! - `f` ≥ log start at the fetch: an ok poll invoked after the reset completed returned a
//!   record at an offset ≤ `f` (log starts never go down, so that record was readable at the
//!   fetch too, and so was everything from it up to `f`).
//!
//! Other dishonest answers are judged by other classes: a definite failure for a write that
//! was applied is an [`Class::AbortedRead`] once read, and an idempotent retry answered with
//! another offset than the one it was stored at is [`Class::InconsistentOffsets`].
//! One sort per partition and two binary searches per reset.

use super::index::Index;
use super::{describe, Class, Sink};
use crate::history::{OpKind, Outcome};

/// Returns how many resets it judged.
pub(super) fn check(ix: &Index, sink: &mut Sink) -> u64 {
    // Without a reset there is nothing to judge (nor tables to build).
    let is_reset = |op: &crate::history::Op| {
        op.outcome == Outcome::Ok
            && op.complete_us.is_some()
            && matches!(
                op.kind,
                OpKind::Seek {
                    reset_from: Some(_),
                    ..
                }
            )
    };
    if !ix.others().any(|(_, op)| is_reset(op)) {
        return 0;
    }
    let n = ix.tps.len();
    // Per tp: (completion, high watermark it proves, op), by completion, with the prefix
    // maximum of the high watermark (and the op that proved it).
    let mut hw: Vec<Vec<(u64, i64, u32)>> = vec![Vec::new(); n];
    // Per tp: (invoke, lowest offset a poll returned, op), by invoke, with the suffix minimum.
    let mut low: Vec<Vec<(u64, i64, u32)>> = vec![Vec::new(); n];
    let mut resets = Vec::new();
    for (i, op) in ix.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let tp = ix.op_tp[i] as usize;
        if tp >= n {
            continue;
        }
        let Some(done) = op.complete_us else { continue };
        match &op.kind {
            OpKind::Send {
                offset: Some(a), ..
            } => hw[tp].push((done, a.saturating_add(1), i as u32)),
            OpKind::Poll {
                high_watermark,
                records,
                ..
            } => {
                if let Some(h) = high_watermark {
                    hw[tp].push((done, *h, i as u32));
                }
                if let Some(o) = records.iter().map(|r| r.offset).min() {
                    low[tp].push((op.invoke_us, o, i as u32));
                }
            }
            OpKind::ListOffsets { high_watermark, .. } => {
                hw[tp].push((done, *high_watermark, i as u32))
            }
            OpKind::Seek {
                reset_from: Some(f),
                ..
            } => resets.push((i, tp, *f, done)),
            _ => {}
        }
    }
    for v in &mut hw {
        v.sort_unstable();
        for k in 1..v.len() {
            if v[k - 1].1 >= v[k].1 {
                v[k].1 = v[k - 1].1;
                v[k].2 = v[k - 1].2;
            }
        }
    }
    for v in &mut low {
        v.sort_unstable();
        for k in (0..v.len().saturating_sub(1)).rev() {
            if v[k + 1].1 <= v[k].1 {
                v[k].1 = v[k + 1].1;
                v[k].2 = v[k + 1].2;
            }
        }
    }
    let judged = resets.len() as u64;
    for (i, tp, f, done) in resets {
        let op = &ix.ops[i];
        let before = &hw[tp];
        let k = before.partition_point(|e| e.0 < op.invoke_us);
        let Some(&(_, h, proof_hw)) = k.checked_sub(1).map(|k| &before[k]) else {
            continue;
        };
        if h < f {
            continue;
        }
        let after = &low[tp];
        let k = after.partition_point(|e| e.0 < done);
        let Some(&(_, o, proof_ls)) = after.get(k) else {
            continue;
        };
        if o > f {
            continue;
        }
        sink.push(Class::UnjustifiedError, || {
            super::log::violation(
                ix,
                Class::UnjustifiedError,
                tp as u32,
                vec![i as u32, proof_hw, proof_ls],
                vec![f],
                Vec::new(),
                format!(
                    "{} was told OFFSET_OUT_OF_RANGE for offset {f} of {} and reset to {}, but \
                     the offset was in range: {} had shown a high watermark of {h} before, and {} \
                     read offset {o} ≤ {f} after, so the log start was at most {o}",
                    describe(op),
                    ix.tp_name(tp as u32),
                    match &op.kind {
                        OpKind::Seek { offset, .. } => *offset,
                        _ => f,
                    },
                    describe(ix.op(proof_hw)),
                    describe(ix.op(proof_ls)),
                ),
            )
        });
    }
    judged
}
