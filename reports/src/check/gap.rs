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
    for (tp, s) in span.iter().enumerate() {
        let Some(s) = s else { continue };
        let tp = tp as u32;
        // Offsets below the log start were deleted by retention: not a hole.
        let lo = s.lo.max(ix.log_start[tp as usize].0);
        let seen = ix.offsets_between(tp, lo, s.hi);
        let mut expected = lo;
        for &o in seen {
            if o > expected {
                report(ix, sink, tp, s, expected, o - 1);
            }
            expected = o.saturating_add(1);
        }
    }
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
