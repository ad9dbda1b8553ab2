//! Where values ended up: lost-write, unseen, duplicate, inconsistent-offsets and
//! aborted-read. Decided per offset (observations sorted by partition and offset) and per
//! value (placements sorted by value).

use super::index::{Index, Occ};
use super::{describe, CheckOptions, Class, Sink, Violation};
use crate::history::Outcome;

pub(super) fn check(ix: &Index, options: &CheckOptions, sink: &mut Sink) {
    offsets_with_two_values(ix, sink);
    offsets_acked_twice(ix, sink);
    let latest_read_send = latest_read_send_per_tp(ix);
    for value in 0..ix.sends.len() as u32 {
        let placements = ix.occ_of(value);
        if placements.is_empty() {
            never_read(ix, value, &latest_read_send, sink);
        } else {
            read_somewhere(ix, options, value, placements, sink);
        }
    }
}

pub(super) fn violation(
    ix: &Index,
    class: Class,
    tp: u32,
    ops: Vec<u32>,
    offsets: Vec<i64>,
    values: Vec<u32>,
    explanation: String,
) -> Violation {
    let (topic, partition) = ix.tps[tp as usize];
    Violation {
        class,
        explanation,
        ops: ops.into_iter().map(|i| ix.op(i).id).collect(),
        topic: topic.to_string(),
        partition,
        offsets,
        values: values
            .into_iter()
            .map(|v| ix.value_name(v).to_string())
            .collect(),
    }
}

/// Read/read: one offset, two values.
fn offsets_with_two_values(ix: &Index, sink: &mut Sink) {
    let obs = &ix.obs;
    let mut i = 0;
    while i < obs.len() {
        let (tp, offset) = (obs[i].tp, obs[i].offset);
        let mut j = i;
        // Observations of one offset, sorted by value: more than one value when the last
        // differs from the first (the list is built only then).
        while j < obs.len() && obs[j].tp == tp && obs[j].offset == offset {
            j += 1;
        }
        if obs[j - 1].value != obs[i].value {
            let mut distinct: Vec<super::index::Obs> = Vec::new();
            for o in &obs[i..j] {
                if distinct.last().map(|d| d.value) != Some(o.value) {
                    distinct.push(*o);
                }
            }
            sink.push(Class::InconsistentOffsets, || {
                let seen: Vec<String> = distinct
                    .iter()
                    .map(|d| format!("{:?} by {}", ix.value_name(d.value), describe(ix.op(d.op))))
                    .collect();
                violation(
                    ix,
                    Class::InconsistentOffsets,
                    tp,
                    distinct.iter().map(|d| d.op).collect(),
                    vec![offset],
                    distinct.iter().map(|d| d.value).collect(),
                    format!(
                        "offset {offset} of {} was read with {} different values: {}",
                        ix.tp_name(tp),
                        distinct.len(),
                        seen.join("; ")
                    ),
                )
            });
        }
        i = j;
    }
}

/// Ack/ack: two ok sends acknowledged at the same offset.
fn offsets_acked_twice(ix: &Index, sink: &mut Sink) {
    let mut acked: Vec<(u32, i64, u32)> = ix
        .sends
        .iter()
        .enumerate()
        .filter_map(|(v, s)| s.acked.map(|a| (s.tp, a, v as u32)))
        .collect();
    super::index::sort_by_bucket(&mut acked, ix.tps.len(), |a| a.0 as usize, |a| *a);
    for group in acked.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
        if group.len() < 2 {
            continue;
        }
        let (tp, offset, _) = group[0];
        sink.push(Class::InconsistentOffsets, || {
            let sends: Vec<String> = group
                .iter()
                .map(|&(_, _, v)| {
                    format!(
                        "{:?} by {}",
                        ix.value_name(v),
                        describe(ix.op(ix.sends[v as usize].op))
                    )
                })
                .collect();
            violation(
                ix,
                Class::InconsistentOffsets,
                tp,
                group
                    .iter()
                    .map(|&(_, _, v)| ix.sends[v as usize].op)
                    .collect(),
                vec![offset],
                group.iter().map(|&(_, _, v)| v).collect(),
                format!(
                    "offset {offset} of {} was acknowledged to {} sends: {}",
                    ix.tp_name(tp),
                    group.len(),
                    sends.join("; ")
                ),
            )
        });
    }
}

/// Per partition: the read send value invoked last (for lost-write of sends whose offset
/// is unknown).
fn latest_read_send_per_tp(ix: &Index) -> Vec<Option<(u64, u32)>> {
    let mut latest: Vec<Option<(u64, u32)>> = vec![None; ix.tps.len()];
    for o in &ix.obs {
        if let Some(s) = ix.sends.get(o.value as usize) {
            if s.tp == o.tp && latest[o.tp as usize].is_none_or(|(t, _)| s.invoke > t) {
                latest[o.tp as usize] = Some((s.invoke, o.value));
            }
        }
    }
    latest
}

/// An ok send nobody read: lost if reads got past it, unseen otherwise (after a drain).
fn never_read(ix: &Index, value: u32, latest_read_send: &[Option<(u64, u32)>], sink: &mut Sink) {
    let s = &ix.sends[value as usize];
    // A send of a transaction that did not commit need not stay readable (read_committed
    // readers skip it; see check::txn).
    if s.outcome != Outcome::Ok || ix.expired(s) || ix.txns.hidden(value) {
        return;
    }
    let send_op = ix.op(s.op);
    let tp = s.tp;
    let past_offset = s
        .acked
        .and_then(|a| ix.first_obs_from(tp, a).map(|o| (a, *o)));
    if let Some((a, o)) = past_offset {
        sink.push(Class::LostWrite, || {
            let what = if o.offset == a {
                format!("read offset {a} with value {:?}", ix.value_name(o.value))
            } else {
                format!("read offset {} (value {:?}) past it", o.offset, ix.value_name(o.value))
            };
            violation(
                ix,
                Class::LostWrite,
                tp,
                vec![s.op, o.op],
                vec![a, o.offset],
                vec![value, o.value],
                format!(
                    "{} sent {:?} to {}, acknowledged at offset {a}, but no read ever returned it, while {} {what}",
                    describe(send_op),
                    ix.value_name(value),
                    ix.tp_name(tp),
                    describe(ix.op(o.op))
                ),
            )
        });
        return;
    }
    let later_read = match (s.complete, latest_read_send[tp as usize]) {
        (Some(c), Some((t, later))) if t > c => Some(later),
        _ => None,
    };
    if let Some(later) = later_read {
        let later_send = &ix.sends[later as usize];
        let witness = ix.occ_of(later).iter().find(|p| p.tp == tp).copied();
        sink.push(Class::LostWrite, || {
            let mut ops = vec![s.op, later_send.op];
            let mut offsets = Vec::new();
            if let Some(w) = witness {
                ops.push(w.op);
                offsets.push(w.offset);
            }
            violation(
                ix,
                Class::LostWrite,
                tp,
                ops,
                offsets,
                vec![value, later],
                format!(
                    "{} sent {:?} to {} and was acknowledged (offset unknown), but no read ever returned it, while {:?}, sent by {} after that acknowledgement, was read",
                    describe(send_op),
                    ix.value_name(value),
                    ix.tp_name(tp),
                    ix.value_name(later),
                    describe(ix.op(later_send.op))
                ),
            )
        });
        return;
    }
    if !ix.has_drain {
        return;
    }
    sink.push(Class::Unseen, || {
        let reach = match ix.offsets_of(tp).last() {
            Some(max) => format!("reads of {} reached only offset {max}", ix.tp_name(tp)),
            None => format!("nothing was ever read from {}", ix.tp_name(tp)),
        };
        let at = s.acked.map_or_else(|| "offset unknown".to_string(), |a| format!("offset {a}"));
        violation(
            ix,
            Class::Unseen,
            tp,
            vec![s.op],
            s.acked.into_iter().collect(),
            vec![value],
            format!(
                "{} sent {:?} to {} and was acknowledged ({at}), but it was never read, even by the final drain: {reach}",
                describe(send_op),
                ix.value_name(value),
                ix.tp_name(tp)
            ),
        )
    });
}

/// A send some poll read: aborted, misplaced, duplicated or read off its acked offset.
fn read_somewhere(
    ix: &Index,
    options: &CheckOptions,
    value: u32,
    placements: &[Occ],
    sink: &mut Sink,
) {
    let s = &ix.sends[value as usize];
    let send_op = ix.op(s.op);
    let name = ix.value_name(value);
    let tp = s.tp;
    // Offsets it was read at in its own partition (almost always one: no list then).
    let offsets_in = || -> Vec<i64> {
        placements
            .iter()
            .filter(|p| p.tp == tp)
            .map(|p| p.offset)
            .collect()
    };
    let in_tp = placements.iter().filter(|p| p.tp == tp).count();
    let list = |ps: &mut dyn Iterator<Item = &Occ>| -> String {
        ps.map(|p| {
            format!(
                "offset {} of {} by {}",
                p.offset,
                ix.tp_name(p.tp),
                describe(ix.op(p.op))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
    };
    if s.outcome == Outcome::Failed {
        sink.push(Class::AbortedRead, || {
            let mut ops = vec![s.op];
            ops.extend(placements.iter().map(|p| p.op));
            violation(
                ix,
                Class::AbortedRead,
                tp,
                ops,
                placements.iter().map(|p| p.offset).collect(),
                vec![value],
                format!(
                    "{} sending {name:?} definitely failed, yet it was read: {}",
                    describe(send_op),
                    list(&mut placements.iter())
                ),
            )
        });
        return;
    }
    if placements.iter().any(|p| p.tp != tp) {
        sink.push(Class::InconsistentOffsets, || {
            let mut ops = vec![s.op];
            ops.extend(placements.iter().filter(|p| p.tp != tp).map(|p| p.op));
            violation(
                ix,
                Class::InconsistentOffsets,
                tp,
                ops,
                placements
                    .iter()
                    .filter(|p| p.tp != tp)
                    .map(|p| p.offset)
                    .collect(),
                vec![value],
                format!(
                    "{} sent {name:?} to {}, but it was read from another partition: {}",
                    describe(send_op),
                    ix.tp_name(tp),
                    list(&mut placements.iter().filter(|p| p.tp != tp))
                ),
            )
        });
    }
    if in_tp > 1 && (s.idempotent || options.non_idempotent_at_most_once) {
        sink.push(Class::Duplicate, || {
            let offsets = offsets_in();
            let mut ops = vec![s.op];
            ops.extend(placements.iter().filter(|p| p.tp == tp).map(|p| p.op));
            let why = if s.idempotent {
                "idempotent"
            } else {
                "held to at-most-once"
            };
            violation(
                ix,
                Class::Duplicate,
                tp,
                ops,
                offsets.clone(),
                vec![value],
                format!(
                    "{} sent {name:?} ({why}), and it appears at {} offsets: {}",
                    describe(send_op),
                    offsets.len(),
                    list(&mut placements.iter().filter(|p| p.tp == tp))
                ),
            )
        });
    }
    if let Some(a) = s.acked {
        if in_tp > 0 && !placements.iter().any(|p| p.tp == tp && p.offset == a) {
            sink.push(Class::InconsistentOffsets, || {
                let offsets = offsets_in();
                let mut ops = vec![s.op];
                ops.extend(placements.iter().filter(|p| p.tp == tp).map(|p| p.op));
                let mut all = vec![a];
                all.extend(&offsets);
                violation(
                    ix,
                    Class::InconsistentOffsets,
                    tp,
                    ops,
                    all,
                    vec![value],
                    format!(
                        "{} sent {name:?}, acknowledged at offset {a} of {}, but it was read elsewhere: {}",
                        describe(send_op),
                        ix.tp_name(tp),
                        list(&mut placements.iter().filter(|p| p.tp == tp))
                    ),
                )
            });
        }
    }
}
