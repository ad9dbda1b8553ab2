//! Anomaly injection into valid model histories. Each injector changes a history so that it
//! exhibits one anomaly class and returns the exact set of classes the checkers must then
//! report (usually just that class; where the anomaly necessarily implies another class the
//! extra class is computed and explained), or `None` when the history offers no place for it.

use std::collections::{BTreeMap, BTreeSet};

use eddy_reports::synth::SplitMix64;
use eddy_reports::{Class, Isolation, Op, OpKind, Outcome, Rec};

type Tp = (String, i32);

fn tp_of(op: &Op) -> Option<Tp> {
    op.topic_partition().map(|(t, p)| (t.to_string(), p))
}

fn pick<T: Clone>(rng: &mut SplitMix64, items: &[T]) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        Some(items[rng.below(items.len() as u64) as usize].clone())
    }
}

fn end_time(ops: &[Op]) -> u64 {
    ops.iter()
        .map(|op| op.complete_us.unwrap_or(op.invoke_us).max(op.invoke_us))
        .max()
        .unwrap_or(0)
}

fn next_id(ops: &[Op]) -> u64 {
    ops.iter().map(|op| op.id).max().map_or(0, |m| m + 1)
}

/// Final length of each partition, from the drain's high watermarks.
fn final_lens(ops: &[Op]) -> BTreeMap<Tp, i64> {
    let mut lens = BTreeMap::new();
    for op in ops {
        if let (
            OpKind::Poll {
                high_watermark: Some(hw),
                drain: true,
                ..
            },
            Some(tp),
        ) = (&op.kind, tp_of(op))
        {
            let l = lens.entry(tp).or_insert(0);
            *l = (*l).max(*hw);
        }
    }
    lens
}

/// Offsets some ok poll returned, per partition.
fn observed(ops: &[Op]) -> BTreeMap<Tp, BTreeSet<i64>> {
    let mut seen: BTreeMap<Tp, BTreeSet<i64>> = BTreeMap::new();
    for op in ops {
        if let (OpKind::Poll { records, .. }, Outcome::Ok, Some(tp)) =
            (&op.kind, op.outcome, tp_of(op))
        {
            seen.entry(tp)
                .or_default()
                .extend(records.iter().map(|r| r.offset));
        }
    }
    seen
}

/// Offsets consumed (records at or above the fetch offset) by ok polls tagged with `group`.
fn group_consumed(ops: &[Op], group: &str, tp: &Tp) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    for op in ops {
        if let OpKind::Poll {
            fetch_offset,
            records,
            group: Some(g),
            ..
        } = &op.kind
        {
            if op.outcome == Outcome::Ok && g == group && tp_of(op).as_ref() == Some(tp) {
                out.extend(
                    records
                        .iter()
                        .map(|r| r.offset)
                        .filter(|o| o >= fetch_offset),
                );
            }
        }
    }
    out
}

fn values_read(ops: &[Op]) -> BTreeMap<String, BTreeSet<i64>> {
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for op in ops {
        if let (OpKind::Poll { records, .. }, Outcome::Ok) = (&op.kind, op.outcome) {
            for r in records {
                out.entry(r.value.clone()).or_default().insert(r.offset);
            }
        }
    }
    out
}

fn is_regular_poll(op: &Op) -> bool {
    matches!(op.kind, OpKind::Poll { drain: false, .. }) && op.outcome == Outcome::Ok
}

fn consumed(op: &Op) -> Vec<i64> {
    match &op.kind {
        OpKind::Poll {
            fetch_offset,
            records,
            ..
        } => records
            .iter()
            .map(|r| r.offset)
            .filter(|o| o >= fetch_offset)
            .collect(),
        _ => Vec::new(),
    }
}

/// Rewrites every record with value `from` to `to`.
fn rename_value(ops: &mut [Op], from: &str, to: &str) {
    for op in ops {
        if let OpKind::Poll { records, .. } = &mut op.kind {
            for r in records.iter_mut().filter(|r| r.value == from) {
                r.value = to.to_string();
            }
        }
    }
}

/// Injects an anomaly of `class`; returns the classes the checkers must report.
pub fn inject(class: Class, ops: &mut Vec<Op>, rng: &mut SplitMix64) -> Option<BTreeSet<Class>> {
    let only = |c: Class| Some(BTreeSet::from([c]));
    match class {
        // Judged against a run's latency bounds, not from a history alone: see
        // tests/latency_bounds.rs.
        Class::ProduceLatency | Class::DeliveryLatency => None,
        // Judged from a run's meters: see scenarios/tests/suite/efficiency.rs.
        Class::CrossAzTraffic
        | Class::StorageRequests
        | Class::RebalanceIncomplete
        | Class::BackgroundStalled
        | Class::Unavailable => None,
        // From a run's consistency checks: see scenarios/tests/suite/invariants.rs.
        Class::Invariant => None,
        Class::TxnAbortedRead
        | Class::TxnUncommittedRead
        | Class::TxnLostWrite
        | Class::TxnTorn
        | Class::EosDuplicate
        | Class::EosLost
        | Class::ZombieWrite
        | Class::TxnAbortedOffsets
        | Class::TxnCycle => transactional(class, ops, rng),
        Class::UnjustifiedError => {
            // Right after an acknowledgement at offset a, a consumer is told that a is out of
            // range, although a later poll reads a or below.
            let candidates: Vec<(usize, i64, u64)> = (0..ops.len())
                .filter_map(
                    |i| match (&ops[i].kind, ops[i].outcome, ops[i].complete_us) {
                        (
                            OpKind::Send {
                                offset: Some(a), ..
                            },
                            Outcome::Ok,
                            Some(done),
                        ) => {
                            let tp = tp_of(&ops[i])?;
                            let read_later = ops.iter().any(|o| {
                                o.outcome == Outcome::Ok
                                    && o.invoke_us > done + 2
                                    && tp_of(o).as_ref() == Some(&tp)
                                    && matches!(&o.kind, OpKind::Poll { records, .. }
                                    if records.iter().any(|r| r.offset <= *a))
                            });
                            read_later.then_some((i, *a, done))
                        }
                        _ => None,
                    },
                )
                .collect();
            let (i, a, done) = pick(rng, &candidates)?;
            let (topic, partition) = tp_of(&ops[i])?;
            let id = next_id(ops);
            ops.push(Op {
                id,
                process: "consumer-reset".into(),
                invoke_us: done + 1,
                complete_us: Some(done + 2),
                outcome: Outcome::Ok,
                error: None,
                kind: OpKind::Seek {
                    topic,
                    partition,
                    offset: a,
                    reset_from: Some(a),
                },
            });
            only(Class::UnjustifiedError)
        }
        Class::LostWrite => {
            // The log holds some other value where an acknowledged one should be.
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| {
                    matches!(
                        ops[i].kind,
                        OpKind::Send {
                            offset: Some(_),
                            ..
                        }
                    ) && ops[i].outcome == Outcome::Ok
                })
                .collect();
            let i = pick(rng, &candidates)?;
            let OpKind::Send { value, .. } = &ops[i].kind else {
                return None;
            };
            let value = value.clone();
            rename_value(ops, &value, "ghost-lost");
            only(Class::LostWrite)
        }
        Class::Unseen => {
            // An acknowledged send at the end of the log that the drain never reached.
            let (tp, len) = pick(rng, &final_lens(ops).into_iter().collect::<Vec<_>>())?;
            let (id, end) = (next_id(ops), end_time(ops));
            ops.push(Op {
                id,
                process: "producer-late".into(),
                invoke_us: end + 10,
                complete_us: Some(end + 20),
                outcome: Outcome::Ok,
                error: None,
                kind: OpKind::Send {
                    topic: tp.0,
                    partition: tp.1,
                    value: "late".into(),
                    offset: Some(len),
                    idempotent: false,
                    attempts: 1,
                    max_in_flight: None,
                    broker: None,
                    txn: None,
                    transactional_id: None,
                    producer_id: None,
                    epoch: None,
                    source: None,
                },
            });
            only(Class::Unseen)
        }
        Class::Duplicate => {
            // An idempotent send read again at a new offset at the end of the log.
            let read = values_read(ops);
            let lens = final_lens(ops);
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| match &ops[i].kind {
                    OpKind::Send { value, .. } => {
                        ops[i].outcome != Outcome::Failed
                            && read.get(value).is_some_and(|o| o.len() == 1)
                    }
                    _ => false,
                })
                .collect();
            let i = pick(rng, &candidates)?;
            let tp = tp_of(&ops[i])?;
            let len = *lens.get(&tp)?;
            let OpKind::Send {
                value, idempotent, ..
            } = &mut ops[i].kind
            else {
                return None;
            };
            *idempotent = true;
            let value = value.clone();
            let (id, end) = (next_id(ops), end_time(ops));
            ops.push(Op {
                id,
                process: "drain".into(),
                invoke_us: end + 10,
                complete_us: Some(end + 20),
                outcome: Outcome::Ok,
                error: None,
                kind: OpKind::Poll {
                    topic: tp.0,
                    partition: tp.1,
                    fetch_offset: len,
                    records: vec![Rec { offset: len, value }],
                    high_watermark: Some(len + 1),
                    drain: true,
                    group: None,
                    read_back: false,
                    isolation: Default::default(),
                    last_stable: None,
                    txn: None,
                },
            });
            only(Class::Duplicate)
        }
        Class::InconsistentOffsets => {
            // A consumer reads a different value at an offset the drain read.
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| is_regular_poll(&ops[i]) && matches!(&ops[i].kind, OpKind::Poll { records, .. } if !records.is_empty()))
                .collect();
            let i = pick(rng, &candidates)?;
            let OpKind::Poll { records, .. } = &mut ops[i].kind else {
                return None;
            };
            let k = rng.below(records.len() as u64) as usize;
            records[k].value = "ghost-inconsistent".into();
            only(Class::InconsistentOffsets)
        }
        Class::Gap => {
            // Offset o vanishes: everything at or above it moves up by one.
            let lens: Vec<(Tp, i64)> = final_lens(ops)
                .into_iter()
                .filter(|(_, l)| *l > 0)
                .collect();
            let (tp, len) = pick(rng, &lens)?;
            let o = rng.below(len as u64) as i64;
            let at = |x: i64| if x >= o { x + 1 } else { x };
            let above = |x: i64| if x > o { x + 1 } else { x };
            for op in ops.iter_mut().filter(|op| tp_of(op).as_ref() == Some(&tp)) {
                match &mut op.kind {
                    OpKind::Send { offset, .. } => *offset = offset.map(at),
                    OpKind::Poll {
                        fetch_offset,
                        records,
                        high_watermark,
                        ..
                    } => {
                        *fetch_offset = above(*fetch_offset);
                        *high_watermark = high_watermark.map(above);
                        for r in records {
                            r.offset = at(r.offset);
                        }
                    }
                    OpKind::ListOffsets { high_watermark, .. } => {
                        *high_watermark = above(*high_watermark)
                    }
                    OpKind::Seek { offset, .. }
                    | OpKind::Commit { offset, .. }
                    | OpKind::FetchCommitted { offset, .. } => *offset = above(*offset),
                    OpKind::LogStart { log_start, .. } => *log_start = above(*log_start),
                    OpKind::Assign { .. } | OpKind::TxnInit { .. } | OpKind::TxnEnd { .. } => {}
                }
            }
            only(Class::Gap)
        }
        Class::RealTimeOrder | Class::NonmonotonicSend => swap_adjacent(class, ops, rng),
        Class::SendOrder => send_order(ops, rng).map(|(expected, _)| expected),
        Class::StaleRead => {
            // A read after an acknowledgement reports a high watermark not covering it.
            let mut pairs = Vec::new();
            for a in ops.iter().filter(|op| op.outcome == Outcome::Ok) {
                let (
                    OpKind::Send {
                        offset: Some(off), ..
                    },
                    Some(done),
                ) = (&a.kind, a.complete_us)
                else {
                    continue;
                };
                for (j, r) in ops.iter().enumerate() {
                    let reports_hw = matches!(
                        r.kind,
                        OpKind::ListOffsets { .. }
                            | OpKind::Poll {
                                high_watermark: Some(_),
                                ..
                            }
                    );
                    if reports_hw
                        && r.outcome == Outcome::Ok
                        && r.invoke_us > done
                        && tp_of(r) == tp_of(a)
                    {
                        pairs.push((j, *off));
                        break;
                    }
                }
                if pairs.len() > 50 {
                    break;
                }
            }
            let (j, off) = pick(rng, &pairs)?;
            match &mut ops[j].kind {
                OpKind::ListOffsets { high_watermark, .. } => *high_watermark = off,
                OpKind::Poll { high_watermark, .. } => *high_watermark = Some(off),
                _ => return None,
            }
            only(Class::StaleRead)
        }
        Class::AbortedRead => {
            // A send that was read is recorded as definitely failed.
            let read = values_read(ops);
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| matches!(&ops[i].kind, OpKind::Send { value, .. } if read.contains_key(value)))
                .collect();
            let i = pick(rng, &candidates)?;
            ops[i].outcome = Outcome::Failed;
            if let OpKind::Send { offset, .. } = &mut ops[i].kind {
                *offset = None;
            }
            only(Class::AbortedRead)
        }
        Class::PollSkip => {
            // A consumer's poll loses its first record. If the consumer belongs to a group
            // that committed past that offset and no other member consumed it, the group
            // skipped it too.
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| is_regular_poll(&ops[i]) && consumed(&ops[i]).len() >= 2)
                .collect();
            let i = pick(rng, &candidates)?;
            let first = consumed(&ops[i])[0];
            let tp = tp_of(&ops[i])?;
            let OpKind::Poll { records, group, .. } = &mut ops[i].kind else {
                return None;
            };
            records.retain(|r| r.offset != first);
            let group = group.clone();
            let mut expected = BTreeSet::from([Class::PollSkip]);
            if let Some(g) = group {
                let committed_past = ops.iter().any(|op| {
                    op.outcome == Outcome::Ok
                        && tp_of(op).as_ref() == Some(&tp)
                        && matches!(&op.kind, OpKind::Commit { group: cg, offset, .. } if *cg == g && *offset > first)
                });
                if committed_past && !group_consumed(ops, &g, &tp).contains(&first) {
                    expected.insert(Class::GroupSkip);
                }
            }
            Some(expected)
        }
        Class::NonmonotonicPoll => {
            // A consumer polls the same offsets again right after (no seek, no rebalance).
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| is_regular_poll(&ops[i]) && !consumed(&ops[i]).is_empty())
                .collect();
            let i = pick(rng, &candidates)?;
            let mut copy = ops[i].clone();
            let done = copy.complete_us?;
            copy.id = next_id(ops);
            copy.invoke_us = done;
            if let OpKind::Poll { high_watermark, .. } = &mut copy.kind {
                *high_watermark = None;
            }
            ops.push(copy);
            only(Class::NonmonotonicPoll)
        }
        Class::CommitRegression => {
            // A later commit of a group goes below an earlier completed one.
            let commits: Vec<usize> = (0..ops.len())
                .filter(|&i| {
                    ops[i].outcome == Outcome::Ok && matches!(ops[i].kind, OpKind::Commit { .. })
                })
                .collect();
            let mut pairs = Vec::new();
            for &a in &commits {
                let OpKind::Commit {
                    group: ga,
                    offset: oa,
                    ..
                } = &ops[a].kind
                else {
                    continue;
                };
                if *oa < 1 {
                    continue;
                }
                let done = ops[a].complete_us?;
                if let Some(&b) = commits.iter().find(|&&b| {
                    matches!(&ops[b].kind, OpKind::Commit { group: gb, .. } if gb == ga)
                        && tp_of(&ops[b]) == tp_of(&ops[a])
                        && ops[b].invoke_us > done
                }) {
                    pairs.push((b, *oa - 1));
                }
            }
            let (b, lower) = pick(rng, &pairs)?;
            if let OpKind::Commit { offset, .. } = &mut ops[b].kind {
                *offset = lower;
            }
            only(Class::CommitRegression)
        }
        Class::GroupSkip => group_skip(ops, rng),
        Class::ZombieCommit => zombie_commit(ops, rng),
        Class::ExpiredEarly => {
            // Right after an acknowledgement, a poll reports a log start past its offset
            // under a retention of an hour.
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| {
                    matches!(
                        ops[i].kind,
                        OpKind::Send {
                            offset: Some(_),
                            ..
                        }
                    ) && ops[i].outcome == Outcome::Ok
                        && ops[i].complete_us.is_some()
                })
                .collect();
            let i = pick(rng, &candidates)?;
            let (
                OpKind::Send {
                    topic,
                    partition,
                    offset: Some(offset),
                    ..
                },
                Some(done),
            ) = (ops[i].kind.clone(), ops[i].complete_us)
            else {
                return None;
            };
            let id = next_id(ops);
            ops.push(Op {
                id,
                process: "consumer-expiry".into(),
                invoke_us: done + 1,
                complete_us: Some(done + 2),
                outcome: Outcome::Ok,
                error: None,
                kind: OpKind::LogStart {
                    topic,
                    partition,
                    log_start: offset + 1,
                    horizon_ms: Some(3_600_000),
                    bytes_limit: None,
                    record_bytes_max: None,
                },
            });
            only(Class::ExpiredEarly)
        }
    }
}

/// Swaps two acknowledged sends at adjacent offsets where the first was acknowledged before
/// the second was invoked: different producers for real-time order, the same producer for
/// nonmonotonic-send. Any read invoked after the first acknowledgement whose high watermark
/// covered the first's offset but not the second's now becomes stale too.
fn swap_adjacent(class: Class, ops: &mut [Op], rng: &mut SplitMix64) -> Option<BTreeSet<Class>> {
    let mut at: BTreeMap<(Tp, i64), usize> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let (
            OpKind::Send {
                offset: Some(o), ..
            },
            Outcome::Ok,
            Some(tp),
        ) = (&op.kind, op.outcome, tp_of(op))
        {
            at.insert((tp, *o), i);
        }
    }
    let same = class == Class::NonmonotonicSend;
    let mut pairs = Vec::new();
    for ((tp, o), &a) in &at {
        let Some(&b) = at.get(&(tp.clone(), o + 1)) else {
            continue;
        };
        let sequential = ops[a].complete_us.is_some_and(|c| c < ops[b].invoke_us);
        if sequential && (ops[a].process == ops[b].process) == same {
            pairs.push((a, b, *o));
        }
    }
    let (a, b, o) = pick(rng, &pairs)?;
    let tp = tp_of(&ops[a])?;
    let (OpKind::Send { value: va, .. }, OpKind::Send { value: vb, .. }) =
        (&ops[a].kind, &ops[b].kind)
    else {
        return None;
    };
    let (va, vb) = (va.clone(), vb.clone());
    let a_done = ops[a].complete_us?;
    for op in ops.iter_mut().filter(|op| tp_of(op).as_ref() == Some(&tp)) {
        if let OpKind::Poll { records, .. } = &mut op.kind {
            for r in records.iter_mut() {
                if r.offset == o && r.value == va {
                    r.value = vb.clone();
                } else if r.offset == o + 1 && r.value == vb {
                    r.value = va.clone();
                }
            }
        }
    }
    if let OpKind::Send { offset, .. } = &mut ops[a].kind {
        *offset = Some(o + 1);
    }
    if let OpKind::Send { offset, .. } = &mut ops[b].kind {
        *offset = Some(o);
    }
    let mut expected = BTreeSet::from([class]);
    let stale = ops.iter().any(|r| {
        let hw = match &r.kind {
            OpKind::ListOffsets { high_watermark, .. } => Some(*high_watermark),
            OpKind::Poll { high_watermark, .. } => *high_watermark,
            _ => None,
        };
        r.outcome == Outcome::Ok
            && tp_of(r).as_ref() == Some(&tp)
            && r.invoke_us > a_done
            && hw.is_some_and(|h| h <= o + 1)
    });
    if stale {
        expected.insert(Class::StaleRead);
    }
    Some(expected)
}

/// Two ok sends of one producer at adjacent offsets o and o + 1 trade places while the
/// first is still in flight: the second's invocation moves into the first's flight (to any
/// instant from the first's invocation, a tie broken by op id, to its completion) unless
/// it was there already, then the offsets and every read of them swap. Both sends are made
/// unexempt (one attempt each, the second on the first's broker). Reads invoked after the
/// first's acknowledgement whose high watermark covered o but not o + 1 become stale.
/// Returns the expected classes and the indices of the earlier and the later send.
pub fn send_order(
    ops: &mut [Op],
    rng: &mut SplitMix64,
) -> Option<(BTreeSet<Class>, (usize, usize))> {
    let mut at: BTreeMap<(Tp, i64), usize> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let (
            OpKind::Send {
                offset: Some(o), ..
            },
            Outcome::Ok,
            Some(tp),
        ) = (&op.kind, op.outcome, tp_of(op))
        {
            at.insert((tp, *o), i);
        }
    }
    let mut pairs = Vec::new();
    for ((tp, o), &a) in &at {
        let Some(&b) = at.get(&(tp.clone(), o + 1)) else {
            continue;
        };
        let order = |i: usize| (ops[i].invoke_us, ops[i].id);
        if ops[a].process == ops[b].process && order(a) < order(b) {
            pairs.push((a, b, *o));
        }
    }
    let (a, b, o) = pick(rng, &pairs)?;
    let (a_invoke, a_done) = (ops[a].invoke_us, ops[a].complete_us?);
    if ops[b].invoke_us > a_done {
        let invoke = a_invoke + rng.below(a_done - a_invoke + 1);
        if (invoke, ops[b].id) < (a_invoke, ops[a].id) {
            return None;
        }
        ops[b].invoke_us = invoke;
    }
    let a_broker = match &ops[a].kind {
        OpKind::Send { broker, .. } => broker.clone(),
        _ => return None,
    };
    for (i, broker) in [(a, a_broker.clone()), (b, a_broker)] {
        if let OpKind::Send {
            attempts,
            broker: slot,
            ..
        } = &mut ops[i].kind
        {
            *attempts = 1;
            *slot = broker;
        }
    }
    let tp = tp_of(&ops[a])?;
    let (OpKind::Send { value: va, .. }, OpKind::Send { value: vb, .. }) =
        (&ops[a].kind, &ops[b].kind)
    else {
        return None;
    };
    let (va, vb) = (va.clone(), vb.clone());
    for op in ops.iter_mut().filter(|op| tp_of(op).as_ref() == Some(&tp)) {
        if let OpKind::Poll { records, .. } = &mut op.kind {
            for r in records.iter_mut() {
                if r.offset == o && r.value == va {
                    r.value = vb.clone();
                } else if r.offset == o + 1 && r.value == vb {
                    r.value = va.clone();
                }
            }
        }
    }
    if let OpKind::Send { offset, .. } = &mut ops[a].kind {
        *offset = Some(o + 1);
    }
    if let OpKind::Send { offset, .. } = &mut ops[b].kind {
        *offset = Some(o);
    }
    let mut expected = BTreeSet::from([Class::SendOrder]);
    let stale = ops.iter().any(|r| {
        let hw = match &r.kind {
            OpKind::ListOffsets { high_watermark, .. } => Some(*high_watermark),
            OpKind::Poll { high_watermark, .. } => *high_watermark,
            _ => None,
        };
        r.outcome == Outcome::Ok
            && tp_of(r).as_ref() == Some(&tp)
            && r.invoke_us > a_done
            && hw.is_some_and(|h| h <= o + 1)
    });
    if stale {
        expected.insert(Class::StaleRead);
    }
    Some((expected, (a, b)))
}

/// A group's highest commit jumps to the end of the log although its members had not
/// consumed that far. Later commits and committed-offset reads follow the jump, so that
/// nothing goes backwards.
fn group_skip(ops: &mut Vec<Op>, rng: &mut SplitMix64) -> Option<BTreeSet<Class>> {
    let lens = final_lens(ops);
    let seen = observed(ops);
    // Highest ok commit per (group, tp), by (offset, completion).
    let mut best: BTreeMap<(String, Tp), (i64, u64, usize)> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let (OpKind::Commit { group, offset, .. }, Outcome::Ok, Some(done), Some(tp)) =
            (&op.kind, op.outcome, op.complete_us, tp_of(op))
        {
            let e = best
                .entry((group.clone(), tp))
                .or_insert((*offset, done, i));
            if (*offset, done) > (e.0, e.1) {
                *e = (*offset, done, i);
            }
        }
    }
    let mut candidates = Vec::new();
    for ((group, tp), (offset, done, i)) in best {
        let len = *lens.get(&tp)?;
        let consumed = group_consumed(ops, &group, &tp);
        let missing = seen
            .get(&tp)
            .is_some_and(|s| s.range(offset..len).any(|o| !consumed.contains(o)));
        if missing {
            candidates.push((group, tp, done, i, len));
        }
    }
    let (group, tp, done, i, len) = pick(rng, &candidates)?;
    for op in ops.iter_mut() {
        if op.outcome != Outcome::Ok || tp_of(op).as_ref() != Some(&tp) || op.invoke_us <= done {
            continue;
        }
        if let OpKind::Commit {
            group: g, offset, ..
        }
        | OpKind::FetchCommitted {
            group: g, offset, ..
        } = &mut op.kind
        {
            if *g == group {
                *offset = (*offset).max(len);
            }
        }
    }
    // The skipping commit comes right after the highest one, which stays: it shows where the
    // group stood (a group that never fetched nor committed below `len` skipped nothing).
    let mut skip = ops[i].clone();
    skip.id = next_id(ops);
    skip.invoke_us = done + 1;
    skip.complete_us = Some(done + 2);
    if let OpKind::Commit { offset, .. } = &mut skip.kind {
        *offset = len;
    }
    ops.push(skip);
    Some(BTreeSet::from([Class::GroupSkip]))
}

/// After everything else, a member gets generation 1000, another member a later one from a
/// JoinGroup sent after that, and the first then commits — the group's highest committed
/// offset, so no other class is touched — with its old generation, and it is accepted.
fn zombie_commit(ops: &mut Vec<Op>, rng: &mut SplitMix64) -> Option<BTreeSet<Class>> {
    let mut highest: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
    for op in ops.iter() {
        if let (
            OpKind::Commit {
                group,
                topic,
                partition,
                offset,
                ..
            },
            Outcome::Ok,
        ) = (&op.kind, op.outcome)
        {
            let e = highest
                .entry((group.clone(), topic.clone(), *partition))
                .or_insert(*offset);
            *e = (*e).max(*offset);
        }
    }
    let candidates: Vec<((String, String, i32), i64)> = highest.into_iter().collect();
    let ((group, topic, partition), offset) = pick(rng, &candidates)?;
    let t = ops
        .iter()
        .filter_map(|op| op.complete_us)
        .chain(ops.iter().map(|op| op.invoke_us))
        .max()?
        + 10;
    let mut id = next_id(ops);
    let mut push = |process: &str, at: (u64, u64), kind: OpKind| {
        ops.push(Op {
            id,
            process: process.into(),
            invoke_us: at.0,
            complete_us: Some(at.1),
            outcome: Outcome::Ok,
            error: None,
            kind,
        });
        id += 1;
    };
    let assign = |generation: i32, member: &str, joined_us: u64| OpKind::Assign {
        group: Some(group.clone()),
        generation,
        partitions: vec![eddy_reports::TopicPartition {
            topic: topic.clone(),
            partition,
        }],
        member: Some(member.into()),
        joined_us: Some(joined_us),
    };
    push(
        "zombie-a",
        (t + 2, t + 2),
        assign(1000, "zombie-a-1", t + 1),
    );
    push(
        "zombie-b",
        (t + 4, t + 4),
        assign(1001, "zombie-b-1", t + 3),
    );
    push(
        "zombie-a",
        (t + 5, t + 6),
        OpKind::Commit {
            group: group.clone(),
            topic: topic.clone(),
            partition,
            offset,
            generation: Some(1000),
            member: Some("zombie-a-1".into()),
            txn: None,
        },
    );
    Some(BTreeSet::from([Class::ZombieCommit]))
}

/// What a transaction's `txn_end`s decided (as `check::txn` reads them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    Committed,
    Aborted,
    Unknown,
}

fn fates(ops: &[Op]) -> BTreeMap<String, Fate> {
    let mut ends: BTreeMap<String, Vec<(bool, Outcome)>> = BTreeMap::new();
    for op in ops {
        if let Some(t) = op.txn() {
            ends.entry(t.to_string()).or_default();
        }
        if let OpKind::TxnEnd { txn, commit, .. } = &op.kind {
            ends.entry(txn.clone())
                .or_default()
                .push((*commit, op.outcome));
        }
    }
    ends.into_iter()
        .map(|(t, e)| {
            let fate = if e.contains(&(true, Outcome::Ok)) {
                Fate::Committed
            } else if e.contains(&(false, Outcome::Ok)) {
                Fate::Aborted
            } else if e.contains(&(true, Outcome::Indeterminate)) {
                Fate::Unknown
            } else {
                Fate::Aborted
            };
            (t, fate)
        })
        .collect()
}

fn is_rc(op: &Op) -> bool {
    matches!(
        op.kind,
        OpKind::Poll {
            isolation: Isolation::ReadCommitted,
            ..
        }
    ) && op.outcome == Outcome::Ok
}

fn is_drain(op: &Op) -> bool {
    matches!(op.kind, OpKind::Poll { drain: true, .. }) && op.outcome == Outcome::Ok
}

/// (op index, value, offset, txn) of ok sends with an offset in a transaction.
fn txn_sends(ops: &[Op]) -> Vec<(usize, String, i64, String)> {
    ops.iter()
        .enumerate()
        .filter_map(|(i, op)| match (&op.kind, op.outcome) {
            (
                OpKind::Send {
                    value,
                    offset: Some(o),
                    txn: Some(t),
                    ..
                },
                Outcome::Ok,
            ) => Some((i, value.clone(), *o, t.clone())),
            _ => None,
        })
        .collect()
}

/// The polls (op indices) that returned a value.
fn readers(ops: &[Op], value: &str) -> Vec<usize> {
    (0..ops.len())
        .filter(|&i| match &ops[i].kind {
            OpKind::Poll { records, .. } => {
                ops[i].outcome == Outcome::Ok && records.iter().any(|r| r.value == value)
            }
            _ => false,
        })
        .collect()
}

/// An ok read_committed poll of one record by a process of its own, after everything (or
/// at `at`), feeding transaction `txn` if given.
fn rc_poll(
    ops: &mut Vec<Op>,
    tp: &Tp,
    rec: (i64, &str),
    at: Option<(u64, u64)>,
    txn: Option<&str>,
) {
    let t = end_time(ops) + 10;
    let (invoke_us, complete) = at.unwrap_or((t, t + 1));
    ops.push(Op {
        id: next_id(ops),
        process: "injected-reader".into(),
        invoke_us,
        complete_us: Some(complete),
        outcome: Outcome::Ok,
        error: None,
        kind: OpKind::Poll {
            topic: tp.0.clone(),
            partition: tp.1,
            fetch_offset: rec.0,
            records: vec![Rec {
                offset: rec.0,
                value: rec.1.to_string(),
            }],
            high_watermark: None,
            drain: false,
            group: None,
            read_back: false,
            isolation: Isolation::ReadCommitted,
            last_stable: None,
            txn: txn.map(str::to_string),
        },
    });
}

/// Removes a value from the drain; returns the classes that then follow besides the
/// injected one: poll_skip when the drain returned a later record of its partition (it
/// skipped this one), txn_torn when a read_committed drain poll returned records on both
/// sides of it (a committed record left out of a read_committed read).
fn undrain(ops: &mut [Op], tp: &Tp, value: &str, offset: i64) -> Vec<Class> {
    let (mut later, mut straddled) = (false, false);
    for op in ops
        .iter_mut()
        .filter(|op| is_drain(op) && tp_of(op).as_ref() == Some(tp))
    {
        let rc = is_rc(op);
        if let OpKind::Poll { records, .. } = &mut op.kind {
            records.retain(|r| r.value != value);
            let above = records.iter().any(|r| r.offset > offset);
            later |= above;
            straddled |= rc && above && records.iter().any(|r| r.offset < offset);
        }
    }
    let mut out = Vec::new();
    if later {
        out.push(Class::PollSkip);
    }
    if straddled {
        out.push(Class::TxnTorn);
    }
    out
}

/// Half the time, of sends (op index, value, offset, txn), those the drain read last in
/// their partition (nothing else follows from their loss then), if any.
fn prefer_last<'s>(
    ops: &[Op],
    candidates: Vec<&'s (usize, String, i64, String)>,
    rng: &mut SplitMix64,
) -> Vec<&'s (usize, String, i64, String)> {
    let last: Vec<_> = candidates
        .iter()
        .copied()
        .filter(|s| {
            let tp = tp_of(&ops[s.0]);
            !ops.iter().any(|op| {
                is_drain(op)
                    && tp_of(op) == tp
                    && matches!(&op.kind, OpKind::Poll { records, .. } if records.iter().any(|r| r.offset > s.2))
            })
        })
        .collect();
    if !last.is_empty() && rng.chance(500) {
        last
    } else {
        candidates
    }
}

/// The transaction classes: the transactional model is appended to the history, then the
/// anomaly is injected into it.
fn transactional(class: Class, ops: &mut Vec<Op>, rng: &mut SplitMix64) -> Option<BTreeSet<Class>> {
    eddy_reports::synth::append_transactions(ops, rng.next_u64(), 300);
    let fates = fates(ops);
    let fate = |t: &str| fates.get(t).copied();
    let sends = txn_sends(ops);
    let mut expected = BTreeSet::from([class]);
    match class {
        Class::TxnAbortedRead => {
            let candidates: Vec<_> = sends
                .iter()
                .filter(|s| fate(&s.3) == Some(Fate::Aborted))
                .collect();
            let (i, value, offset, _) = pick(rng, &candidates)?.clone();
            let tp = tp_of(&ops[i])?;
            rc_poll(ops, &tp, (offset, &value), None, None);
        }
        Class::TxnUncommittedRead => {
            // Read between the send's acknowledgement and its transaction's commit.
            let mut candidates = Vec::new();
            for s in sends.iter().filter(|s| fate(&s.3) == Some(Fate::Committed)) {
                let done = ops[s.0].complete_us?;
                let commit = ops
                    .iter()
                    .filter(|op| matches!(&op.kind, OpKind::TxnEnd { txn, commit: true, .. } if *txn == s.3))
                    .map(|op| op.invoke_us)
                    .min()?;
                if commit > done + 2 {
                    candidates.push((s.clone(), done));
                }
            }
            let ((i, value, offset, _), done) = pick(rng, &candidates)?;
            let tp = tp_of(&ops[i])?;
            rc_poll(ops, &tp, (offset, &value), Some((done + 1, done + 2)), None);
        }
        Class::TxnLostWrite => {
            // A committed transaction's only record, read by a consumer, gone from the drain.
            let candidates: Vec<_> = sends
                .iter()
                .filter(|s| {
                    fate(&s.3) == Some(Fate::Committed)
                        && sends.iter().filter(|o| o.3 == s.3).count() == 1
                        && readers(ops, &s.1).iter().any(|&r| !is_drain(&ops[r]))
                })
                .collect();
            let pool = prefer_last(ops, candidates, rng);
            let (i, value, offset, _) = pick(rng, &pool)?.clone();
            let tp = tp_of(&ops[i])?;
            expected.extend(undrain(ops, &tp, &value, offset));
        }
        Class::TxnTorn => {
            // A committed transaction of several records: its commit becomes indeterminate
            // (the drain's read_committed reads show it committed) and one record, read by
            // a consumer, is gone from the drain.
            let candidates: Vec<_> = sends
                .iter()
                .filter(|s| {
                    fate(&s.3) == Some(Fate::Committed)
                        && !s.3.starts_with("txn-pipe")
                        && readers(ops, &s.1).iter().any(|&r| !is_drain(&ops[r]))
                        && sends.iter().any(|o| {
                            o.3 == s.3
                                && o.1 != s.1
                                && readers(ops, &o.1).iter().any(|&r| is_rc(&ops[r]))
                        })
                })
                .collect();
            let pool = prefer_last(ops, candidates, rng);
            let (i, value, offset, txn) = pick(rng, &pool)?.clone();
            for op in ops.iter_mut() {
                if matches!(&op.kind, OpKind::TxnEnd { txn: t, .. } if *t == txn) {
                    op.outcome = Outcome::Indeterminate;
                    op.complete_us = None;
                    op.error = Some("REQUEST_TIMED_OUT".into());
                }
            }
            let tp = tp_of(&ops[i])?;
            expected.extend(undrain(ops, &tp, &value, offset));
        }
        Class::EosDuplicate => {
            // Another transaction writes a second output of a drained output's input.
            let candidates: Vec<_> = ops
                .iter()
                .filter_map(|op| match &op.kind {
                    OpKind::Send {
                        value,
                        txn: Some(t),
                        source: Some(src),
                        ..
                    } if op.outcome == Outcome::Ok
                        && fate(t) == Some(Fate::Committed)
                        && readers(ops, value).iter().any(|&r| is_drain(&ops[r])) =>
                    {
                        Some((tp_of(op)?, src.clone()))
                    }
                    _ => None,
                })
                .collect();
            let (tp, source) = pick(rng, &candidates)?;
            let len = *final_lens(ops).get(&tp)?;
            let t = end_time(ops) + 10;
            let mut id = next_id(ops);
            let mut push = |ops: &mut Vec<Op>, process: &str, at: u64, kind: OpKind| {
                ops.push(Op {
                    id,
                    process: process.into(),
                    invoke_us: at,
                    complete_us: Some(at + 1),
                    outcome: Outcome::Ok,
                    error: None,
                    kind,
                });
                id += 1;
            };
            let txn = Some("injected-dup/1".to_string());
            let tid = Some("injected-dup".to_string());
            push(
                ops,
                "injected-dup",
                t,
                OpKind::Send {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    value: "injected-dup-0".into(),
                    offset: Some(len),
                    idempotent: true,
                    attempts: 1,
                    max_in_flight: Some(1),
                    broker: None,
                    txn: txn.clone(),
                    transactional_id: tid.clone(),
                    producer_id: None,
                    epoch: None,
                    source: Some(source),
                },
            );
            push(
                ops,
                "injected-dup",
                t + 2,
                OpKind::TxnEnd {
                    txn: "injected-dup/1".into(),
                    transactional_id: tid,
                    commit: true,
                },
            );
            push(
                ops,
                "drain",
                t + 4,
                OpKind::Poll {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    fetch_offset: len,
                    records: vec![Rec {
                        offset: len,
                        value: "injected-dup-0".into(),
                    }],
                    high_watermark: Some(len + 2),
                    drain: true,
                    group: None,
                    read_back: false,
                    isolation: Isolation::ReadCommitted,
                    last_stable: Some(len + 2),
                    txn: None,
                },
            );
        }
        Class::EosLost => {
            // A committed output forgets its input.
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| match &ops[i].kind {
                    OpKind::Send {
                        txn: Some(t),
                        source: Some(_),
                        ..
                    } => ops[i].outcome == Outcome::Ok && fate(t) == Some(Fate::Committed),
                    _ => false,
                })
                .collect();
            let i = pick(rng, &candidates)?;
            if let OpKind::Send { source, .. } = &mut ops[i].kind {
                *source = None;
            }
        }
        Class::ZombieWrite => {
            // Its producer's epoch was fenced just before it was sent.
            let candidates: Vec<usize> = (0..ops.len())
                .filter(|&i| match &ops[i].kind {
                    OpKind::Send {
                        value,
                        txn: Some(t),
                        transactional_id: Some(_),
                        epoch: Some(_),
                        ..
                    } => {
                        ops[i].outcome == Outcome::Ok
                            && fate(t) == Some(Fate::Committed)
                            && readers(ops, value).iter().any(|&r| is_rc(&ops[r]))
                    }
                    _ => false,
                })
                .collect();
            let i = pick(rng, &candidates)?;
            let OpKind::Send {
                transactional_id: Some(tid),
                epoch: Some(epoch),
                ..
            } = ops[i].kind.clone()
            else {
                return None;
            };
            let invoke = ops[i].invoke_us;
            ops.push(Op {
                id: next_id(ops),
                process: "injected-fencer".into(),
                invoke_us: invoke.checked_sub(2)?,
                complete_us: Some(invoke - 1),
                outcome: Outcome::Ok,
                error: None,
                kind: OpKind::TxnInit {
                    transactional_id: tid,
                    producer_id: None,
                    epoch: Some(epoch + 100),
                },
            });
        }
        Class::TxnAbortedOffsets => {
            // An aborted transaction's offset commit is read back.
            let t = end_time(ops) + 10;
            let id = next_id(ops);
            let group = "txn-group".to_string();
            let (topic, partition) = ("txn-in".to_string(), 0);
            let kinds = [
                OpKind::Commit {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition,
                    offset: 1_000_000,
                    generation: None,
                    member: None,
                    txn: Some("injected-ghost/1".into()),
                },
                OpKind::TxnEnd {
                    txn: "injected-ghost/1".into(),
                    transactional_id: Some("injected-ghost".into()),
                    commit: false,
                },
                OpKind::FetchCommitted {
                    group,
                    topic,
                    partition,
                    offset: 1_000_000,
                },
            ];
            for (k, kind) in kinds.into_iter().enumerate() {
                ops.push(Op {
                    id: id + k as u64,
                    process: "injected-ghost".into(),
                    invoke_us: t + 10 * k as u64,
                    complete_us: Some(t + 10 * k as u64 + 5),
                    outcome: Outcome::Ok,
                    error: None,
                    kind,
                });
            }
        }
        Class::TxnCycle => {
            // An earlier transaction of a transactional id reads a later one's record.
            let mut committed: Vec<(String, u64, u64, String)> = Vec::new();
            for op in ops.iter() {
                if let (
                    OpKind::TxnEnd {
                        txn,
                        transactional_id: Some(tid),
                        commit: true,
                    },
                    Outcome::Ok,
                    Some(done),
                ) = (&op.kind, op.outcome, op.complete_us)
                {
                    committed.push((tid.clone(), op.invoke_us, done, txn.clone()));
                }
            }
            committed.sort();
            let mut pairs = Vec::new();
            for w in committed.windows(2) {
                if w[0].0 == w[1].0 && w[0].2 < w[1].1 {
                    for s in sends.iter().filter(|s| s.3 == w[1].3) {
                        pairs.push((w[0].3.clone(), s.clone()));
                    }
                }
            }
            let (reader, (i, value, offset, _)) = pick(rng, &pairs)?;
            let tp = tp_of(&ops[i])?;
            rc_poll(ops, &tp, (offset, &value), None, Some(&reader));
        }
        _ => return None,
    }
    Some(expected)
}
