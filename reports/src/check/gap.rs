//! Gaps: offsets inside the range the final drain read of a partition that no read ever
//! returned. eddy's control plane assigns offsets densely, so a hole means the log lost a
//! record (or the read path cannot serve it).

use super::index::Index;
use super::{describe, Class, Sink, Violation};
use crate::history::{OpKind, Outcome};

pub(super) fn check(ix: &Index, sink: &mut Sink) {
    // Per tp: lowest offset a record-bearing drain poll asked for or returned, highest offset
    // returned, and the polls that did.
    let mut span: Vec<Option<Span>> = vec![None; ix.tps.len()];
    for (i, op) in ix.others() {
        let OpKind::Poll {
            fetch_offset,
            records,
            drain: true,
            ..
        } = &op.kind
        else {
            continue;
        };
        if op.outcome != Outcome::Ok || records.is_empty() {
            continue;
        }
        let tp = ix.op_tp[i];
        let lo = records
            .iter()
            .map(|r| r.offset)
            .min()
            .unwrap_or(*fetch_offset)
            .min(*fetch_offset);
        let hi = records
            .iter()
            .map(|r| r.offset)
            .max()
            .unwrap_or(*fetch_offset);
        let s = span[tp as usize].get_or_insert(Span {
            lo,
            lo_op: i as u32,
            hi,
            hi_op: i as u32,
        });
        if lo < s.lo {
            s.lo = lo;
            s.lo_op = i as u32;
        }
        if hi > s.hi {
            s.hi = hi;
            s.hi_op = i as u32;
        }
    }
    let holes = ix.txns.any.then(|| expected_holes(ix));
    for (tp, s) in span.iter().enumerate() {
        let Some(s) = s else { continue };
        let tp = tp as u32;
        // Offsets below the log start were deleted by retention: not a hole.
        let lo = s.lo.max(ix.log_start[tp as usize].0);
        let seen = ix.offsets_between(tp, lo, s.hi);
        if let Some(h) = holes.as_ref().map(|h| &h[tp as usize]) {
            if h.1 > 0 && only_expected_holes(h, lo, seen) {
                continue;
            }
        }
        let mut expected = lo;
        for &o in seen {
            if o > expected {
                report(ix, sink, tp, s, expected, o - 1);
            }
            expected = o.saturating_add(1);
        }
    }
}

/// Per tp, for a history with transactions: offsets no read returns that are expected
/// there — each transaction's control record (one per transaction and partition, never
/// returned to a client) and, for read_committed drains, the records of transactions that
/// are not visible. Returns the acknowledged offsets of unread sends of such transactions,
/// and how many more offsets may be missing: one per transaction that sent to the
/// partition and one per such unread send whose offset is unknown.
fn expected_holes(ix: &Index) -> Vec<(Vec<i64>, u64)> {
    let mut out: Vec<(Vec<i64>, u64)> = ix
        .txns
        .markers
        .iter()
        .map(|&m| (Vec::new(), u64::from(m)))
        .collect();
    for (v, s) in ix.sends.iter().enumerate() {
        if s.outcome == Outcome::Failed
            || !ix.txns.hidden(v as u32)
            || !ix.occ_of(v as u32).is_empty()
        {
            continue;
        }
        let slot = &mut out[s.tp as usize];
        match s.acked {
            Some(a) => slot.0.push(a),
            None => slot.1 += 1,
        }
    }
    for slot in &mut out {
        slot.0.sort_unstable();
        slot.0.dedup();
    }
    out
}

/// True when a partition's missing offsets in `lo..` (up to the last of `seen`) are no
/// more than [`expected_holes`] allows.
fn only_expected_holes(holes: &(Vec<i64>, u64), lo: i64, seen: &[i64]) -> bool {
    let (at, budget) = holes;
    let mut missing = 0u64;
    let mut expected = lo;
    for &o in seen {
        if o > expected {
            let excused = at.partition_point(|&a| a < o) - at.partition_point(|&a| a < expected);
            missing += ((o - expected) as u64).saturating_sub(excused as u64);
        }
        expected = o.saturating_add(1);
    }
    missing <= *budget
}
#[derive(Clone, Copy)]
struct Span {
    lo: i64,
    lo_op: u32,
    hi: i64,
    hi_op: u32,
}

fn report(ix: &Index, sink: &mut Sink, tp: u32, s: &Span, first: i64, last: i64) {
    sink.push(Class::Gap, || {
        let (topic, partition) = ix.tps[tp as usize];
        let missing = if first == last { format!("offset {first} was") } else { format!("offsets {first}..={last} were") };
        let mut ops = vec![ix.op(s.lo_op).id, ix.op(s.hi_op).id];
        let mut around = Vec::new();
        let before = if first > s.lo { ix.first_obs_from(tp, first - 1) } else { None };
        for o in before.into_iter().chain(ix.first_obs_from(tp, last.saturating_add(1))) {
            ops.push(ix.op(o.op).id);
            around.push(format!("offset {} was read by {}", o.offset, describe(ix.op(o.op))));
        }
        ops.sort_unstable();
        ops.dedup();
        Violation {
            class: Class::Gap,
            explanation: format!(
                "the final drain read {} from offset {} ({}) to offset {} ({}), but {missing} never returned by any read ({})",
                ix.tp_name(tp),
                s.lo,
                describe(ix.op(s.lo_op)),
                s.hi,
                describe(ix.op(s.hi_op)),
                around.join("; ")
            ),
            ops,
            topic: topic.to_string(),
            partition,
            offsets: vec![first, last],
            values: Vec::new(),
        }
    });
}
