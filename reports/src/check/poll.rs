//! Consumer progress: poll-skip and nonmonotonic-poll, per consumer process and partition.
//! Each process's ok polls are replayed in invocation order, tracking the last offset it
//! consumed per partition; a Seek forgets that partition, an Assign forgets all of them.
//!
//! A poll consumes its records at or above its `fetch_offset` (records below it are the
//! head of a whole batch, which clients drop). It must not fetch from or return an offset
//! at or below the last consumed one (nonmonotonic-poll), and must not jump over an offset
//! that some read anywhere returned (poll-skip): neither between the last consumed offset
//! and its first record (or its `fetch_offset` when it returned nothing), nor between its
//! own records.

use super::index::Index;
use super::{describe, Class, Sink, Violation};
use crate::history::{Isolation, Op, OpKind, Outcome};

/// A poll, seek or assignment of a process, with what the sweep needs of it (gathered in
/// history order, so that the sweep, which goes process by process, does not go back to
/// the ops).
#[derive(Clone, Copy)]
struct Event {
    process: u32,
    invoke: u64,
    id: u64,
    op: u32,
    kind: Kind,
    /// For a poll: its fetch offset, and where its consumed offsets are in the flat list.
    fetch: i64,
    start: usize,
    len: usize,
    /// A read_committed poll: it may skip records of transactions that did not commit.
    rc: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Poll,
    Seek,
    Assign,
}

pub(super) fn check(ix: &Index, sink: &mut Sink) {
    let mut events: Vec<Event> = Vec::new();
    // Each ok poll's consumed offsets (at or above its fetch offset), one after another.
    let mut consumed: Vec<i64> = Vec::new();
    for (i, op) in ix.others() {
        let mut event = Event {
            process: ix.op_process[i],
            invoke: op.invoke_us,
            id: op.id,
            op: i as u32,
            kind: Kind::Seek,
            fetch: 0,
            start: 0,
            len: 0,
            rc: false,
        };
        match &op.kind {
            OpKind::Poll {
                fetch_offset,
                records,
                isolation,
                ..
            } if op.outcome == Outcome::Ok => {
                event.rc = *isolation == Isolation::ReadCommitted;
                let start = consumed.len();
                consumed.extend(
                    records
                        .iter()
                        .map(|r| r.offset)
                        .filter(|o| o >= fetch_offset),
                );
                event.kind = Kind::Poll;
                event.fetch = *fetch_offset;
                event.start = start;
                event.len = consumed.len() - start;
            }
            OpKind::Seek { .. } => {}
            OpKind::Assign { .. } => event.kind = Kind::Assign,
            _ => continue,
        }
        events.push(event);
    }
    // By process, then invocation: a process's ops are mostly in order already.
    super::index::sort_by_bucket(
        &mut events,
        ix.processes.len(),
        |e| e.process as usize,
        |e| (e.invoke, e.id, e.op),
    );
    // Per tp, the last offset the current process consumed and the poll that consumed it
    // (`touched` lists the tps set, to forget them all at once).
    let mut last: Vec<Option<(i64, u32)>> = vec![None; ix.tps.len()];
    let mut touched: Vec<u32> = Vec::new();
    let forget_all = |last: &mut Vec<Option<(i64, u32)>>, touched: &mut Vec<u32>| {
        for tp in touched.drain(..) {
            last[tp as usize] = None;
        }
    };
    let mut current = u32::MAX;
    for e in &events {
        if e.process != current {
            current = e.process;
            forget_all(&mut last, &mut touched);
        }
        let i = e.op;
        match e.kind {
            Kind::Assign => forget_all(&mut last, &mut touched),
            Kind::Seek => {
                last[ix.op_tp[i as usize] as usize] = None;
            }
            Kind::Poll => {
                let tp = ix.op_tp[i as usize];
                let consumed = &consumed[e.start..e.start + e.len];
                let prev = last[tp as usize];
                poll(ix, sink, tp, ix.op(i), e.fetch, consumed, prev, e.rc);
                if let Some(&max) = consumed.iter().max() {
                    if prev.is_none_or(|(p, _)| max > p) {
                        if prev.is_none() {
                            touched.push(tp);
                        }
                        last[tp as usize] = Some((max, i));
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn poll(
    ix: &Index,
    sink: &mut Sink,
    tp: u32,
    op: &Op,
    fetch: i64,
    consumed: &[i64],
    prev: Option<(i64, u32)>,
    rc: bool,
) {
    // Nonmonotonic: going back at or below what was already consumed, or out of order.
    let back = prev.filter(|&(p, _)| fetch <= p);
    let disorder = consumed
        .windows(2)
        .find(|w| w[1] <= w[0])
        .map(|w| (w[0], w[1]));
    if back.is_some() || disorder.is_some() {
        sink.push(Class::NonmonotonicPoll, || {
            let mut ops = Vec::new();
            let mut offsets = Vec::new();
            let mut why = Vec::new();
            if let Some((p, p_op)) = back {
                ops.push(ix.op(p_op).id);
                offsets.extend([p, fetch]);
                why.push(format!(
                    "after consuming up to offset {p} in {} it fetched from offset {fetch}",
                    describe(ix.op(p_op))
                ));
            }
            if let Some((a, b)) = disorder {
                offsets.extend([a, b]);
                why.push(format!("it returned offset {b} after offset {a}"));
            }
            ops.push(op.id);
            violation(
                ix,
                Class::NonmonotonicPoll,
                tp,
                ops,
                offsets,
                format!(
                    "{} polled {} going backwards without a seek or rebalance: {}",
                    describe(op),
                    ix.tp_name(tp),
                    why.join("; ")
                ),
            )
        });
    }
    // Skips: windows of offsets the consumer jumped over.
    let mut windows: Vec<(i64, i64)> = Vec::new();
    let expected = prev.map_or(fetch, |(p, _)| p.saturating_add(1));
    match consumed.first() {
        Some(&first) if first > expected => windows.push((expected, first - 1)),
        None if fetch > expected => windows.push((expected, fetch - 1)),
        _ => {}
    }
    for w in consumed.windows(2) {
        if w[1] > w[0].saturating_add(1) {
            windows.push((w[0] + 1, w[1] - 1));
        }
    }
    let mut skipped: Vec<i64> = Vec::new();
    let mut count = 0usize;
    for (lo, hi) in windows {
        let existing = ix.offsets_between(tp, lo, hi);
        if rc && ix.txns.any {
            // Records of transactions that did not commit are not delivered.
            for &o in existing.iter().filter(|&&o| !ix.hidden_at(tp, o)) {
                count += 1;
                if skipped.len() < 10 {
                    skipped.push(o);
                }
            }
            continue;
        }
        count += existing.len();
        skipped.extend(existing.iter().take(10usize.saturating_sub(skipped.len())));
    }
    if count == 0 {
        return;
    }
    sink.push(Class::PollSkip, || {
        let mut ops = Vec::new();
        let mut context = String::new();
        if let Some((p, p_op)) = prev {
            ops.push(ix.op(p_op).id);
            context = format!(" after consuming up to offset {p} in {}", describe(ix.op(p_op)));
        }
        ops.push(op.id);
        let mut seen = Vec::new();
        if let Some(o) = skipped.first().and_then(|&s| ix.first_obs_from(tp, s)) {
            ops.push(ix.op(o.op).id);
            seen.push(format!("offset {} exists: {} read it", o.offset, describe(ix.op(o.op))));
        }
        let more = if count > skipped.len() { format!(" (and {} more)", count - skipped.len()) } else { String::new() };
        violation(ix, Class::PollSkip, tp, ops, skipped.clone(), format!(
            "{} fetched {} from offset {fetch}{context} and skipped {count} existing offset(s) {:?}{more} without a seek or rebalance; {}",
            describe(op),
            ix.tp_name(tp),
            skipped,
            seen.join("; ")
        ))
    });
}

fn violation(
    ix: &Index,
    class: Class,
    tp: u32,
    ops: Vec<u64>,
    offsets: Vec<i64>,
    explanation: String,
) -> Violation {
    let (topic, partition) = ix.tps[tp as usize];
    Violation {
        class,
        explanation,
        ops,
        topic: topic.to_string(),
        partition,
        offsets,
        values: Vec::new(),
    }
}
