//! Consumer groups: committed offsets going backwards, and records the group skipped
//! (at-least-once broken). See [`Class::CommitRegression`] and [`Class::GroupSkip`] for the
//! exact rules.

use super::fast_hash::FastMap;
use super::index::Index;
use super::{describe, Class, Sink, Violation};
use crate::history::{OpKind, Outcome};

/// Group names and their member processes.
struct Groups<'a> {
    names: Vec<&'a str>,
    ids: FastMap<&'a str, u32>,
    /// Groups each process belongs to, ascending.
    of_process: Vec<Vec<u32>>,
    /// Per op (by history index), the group it names ([`NO_GROUP`]: none).
    of_op: Vec<u32>,
}

/// The group of an op that names none.
const NO_GROUP: u32 = u32::MAX;

impl<'a> Groups<'a> {
    fn build(ix: &Index<'a>) -> Groups<'a> {
        let mut g = Groups {
            names: Vec::new(),
            ids: FastMap::default(),
            of_process: Vec::new(),
            of_op: vec![NO_GROUP; ix.ops.len()],
        };
        // Ops of one group come in runs: the last name looked up is remembered.
        let mut last: Option<(&str, u32)> = None;
        // Sorted lists (a process is in a group or two).
        let mut of_process: Vec<Vec<u32>> = vec![Vec::new(); ix.processes.len()];
        for (i, op) in ix.others() {
            let group = match &op.kind {
                OpKind::Assign {
                    group: Some(group), ..
                }
                | OpKind::Poll {
                    group: Some(group), ..
                } => group,
                OpKind::Commit { group, .. } | OpKind::FetchCommitted { group, .. } => group,
                _ => continue,
            };
            let id = match last {
                Some((name, id)) if name == group.as_str() => id,
                _ => g.id(group),
            };
            last = Some((group, id));
            g.of_op[i] = id;
            let of = &mut of_process[ix.op_process[i] as usize];
            if let Err(at) = of.binary_search(&id) {
                of.insert(at, id);
            }
        }
        g.of_process = of_process;
        g
    }

    fn id(&mut self, name: &'a str) -> u32 {
        let next = self.names.len() as u32;
        let id = *self.ids.entry(name).or_insert(next);
        if id == next {
            self.names.push(name);
        }
        id
    }
}

/// Runs the group classes; returns how many commits [`Class::ZombieCommit`] judged.
pub(super) fn check(ix: &Index, sink: &mut Sink) -> u64 {
    let groups = Groups::build(ix);
    if groups.names.is_empty() {
        return 0;
    }
    regressions(ix, &groups, sink);
    skips(ix, &groups, sink);
    zombies(ix, &groups, sink)
}

/// An Assign that names its member and when its JoinGroup was sent.
struct Generation<'a> {
    op: u32,
    member: &'a str,
    generation: i32,
    joined_us: u64,
    complete_us: u64,
}

/// Zombie commits: per group, each commit carrying (member, generation) against the
/// group's Assigns sorted by completion. Only Assigns completed after the member's own
/// Assign of that generation can prove it stale (their JoinGroup went out later still), so
/// each commit scans the Assigns completed in (its own Assign, its invocation).
fn zombies(ix: &Index, groups: &Groups, sink: &mut Sink) -> u64 {
    let mut by_group: Vec<Vec<Generation>> = (0..groups.names.len()).map(|_| Vec::new()).collect();
    for (i, op) in ix.others() {
        if let OpKind::Assign {
            generation,
            member: Some(member),
            joined_us: Some(joined_us),
            ..
        } = &op.kind
        {
            let (g, Some(done)) = (groups.of_op[i], op.complete_us) else {
                continue;
            };
            if g == NO_GROUP || op.outcome != Outcome::Ok {
                continue;
            }
            by_group[g as usize].push(Generation {
                op: i as u32,
                member,
                generation: *generation,
                joined_us: *joined_us,
                complete_us: done,
            });
        }
    }
    for gens in &mut by_group {
        gens.sort_unstable_by_key(|a| (a.complete_us, a.op));
    }
    let mut judged = 0;
    for (i, op) in ix.others() {
        let OpKind::Commit {
            generation: Some(generation),
            member: Some(member),
            offset,
            ..
        } = &op.kind
        else {
            continue;
        };
        let g = groups.of_op[i];
        if *generation < 0 || g == NO_GROUP {
            continue;
        }
        let gens = &by_group[g as usize];
        // Assigns completed before the commit was invoked.
        let before = gens.partition_point(|a| a.complete_us < op.invoke_us);
        // The member's own Assign of this generation (the latest, if it had it twice).
        let Some(own) = gens[..before]
            .iter()
            .rposition(|a| a.member == member.as_str() && a.generation == *generation)
        else {
            continue;
        };
        let since = gens[own].complete_us;
        let Some(later) = gens[own + 1..before]
            .iter()
            .filter(|a| a.joined_us > since && a.generation > *generation)
            .max_by_key(|a| (a.generation, std::cmp::Reverse(a.complete_us)))
        else {
            continue;
        };
        judged += 1;
        if op.outcome != Outcome::Ok {
            continue;
        }
        let tp = ix.op_tp[i];
        sink.push(Class::ZombieCommit, || {
            let (topic, partition) = ix.tps[tp as usize];
            let own = ix.op(gens[own].op);
            let newer = ix.op(later.op);
            Violation {
                class: Class::ZombieCommit,
                explanation: format!(
                    "group {:?}: {} committed offset {offset} for {} with generation {generation} of member {member:?} (given by {}), and it was accepted; but {} had already formed generation {} (its JoinGroup sent at {}, after that) before the commit was sent: a commit of a generation no longer current",
                    groups.names[g as usize],
                    describe(op),
                    ix.tp_name(tp),
                    describe(own),
                    describe(newer),
                    later.generation,
                    super::fmt_us(later.joined_us),
                ),
                ops: vec![own.id, newer.id, op.id],
                topic: topic.to_string(),
                partition,
                offsets: vec![*offset],
                values: Vec::new(),
            }
        });
    }
    judged
}

const SEEK: u8 = 0;
const CHECK: u8 = 1;
const DONE: u8 = 2;

/// Commit regression: sweep each (group, tp) in time order; a seek by a member resets it.
fn regressions(ix: &Index, groups: &Groups, sink: &mut Sink) {
    // (group, tp, time, rank, op index, offset)
    let mut events: Vec<(u32, u32, u64, u8, u32, i64)> = Vec::new();
    for (i, op) in ix.others() {
        let tp = ix.op_tp[i];
        let i = i as u32;
        match &op.kind {
            OpKind::Seek { offset, .. } => {
                for &g in &groups.of_process[ix.op_process[i as usize] as usize] {
                    events.push((g, tp, op.invoke_us, SEEK, i, *offset));
                }
            }
            OpKind::Commit { offset, txn, .. } if op.outcome == Outcome::Ok => {
                let (g, Some(done)) = (groups.of_op[i as usize], op.complete_us) else {
                    continue;
                };
                // A TxnOffsetCommit takes effect when its transaction's commit completes,
                // and not at all if it does not commit.
                let done = match txn {
                    Some(name) => match ix.txns.committed_at(name) {
                        Some(at) => at.max(done),
                        None => continue,
                    },
                    None => done,
                };
                events.push((g, tp, op.invoke_us, CHECK, i, *offset));
                events.push((g, tp, done, DONE, i, *offset));
            }
            OpKind::FetchCommitted { offset, .. } if op.outcome == Outcome::Ok => {
                let g = groups.of_op[i as usize];
                events.push((g, tp, op.invoke_us, CHECK, i, *offset));
            }
            _ => {}
        }
    }
    events.sort_unstable();
    let mut key = (u32::MAX, u32::MAX);
    let mut floor: Option<(i64, u32)> = None;
    let mut last_seek: Option<u64> = None;
    for &(g, tp, time, rank, i, offset) in &events {
        if (g, tp) != key {
            key = (g, tp);
            floor = None;
            last_seek = None;
        }
        match rank {
            SEEK => {
                floor = None;
                last_seek = Some(time);
            }
            CHECK => {
                let Some((high, by)) = floor else { continue };
                if offset < high {
                    sink.push(Class::CommitRegression, || {
                        let (topic, partition) = ix.tps[tp as usize];
                        let op = ix.op(i);
                        let what = match op.kind {
                            OpKind::Commit { .. } => format!("committed offset {offset}"),
                            _ => format!("read back committed offset {offset}"),
                        };
                        Violation {
                            class: Class::CommitRegression,
                            explanation: format!(
                                "group {:?} committed offset {high} for {} in {}; afterwards {} {what}, going backwards without a seek by a member",
                                groups.names[g as usize],
                                ix.tp_name(tp),
                                describe(ix.op(by)),
                                describe(op)
                            ),
                            ops: vec![ix.op(by).id, op.id],
                            topic: topic.to_string(),
                            partition,
                            offsets: vec![high, offset],
                            values: Vec::new(),
                        }
                    });
                }
            }
            _ => {
                let invoked_after_seek = last_seek.is_none_or(|s| ix.op(i).invoke_us > s);
                if invoked_after_seek && floor.is_none_or(|(high, _)| offset > high) {
                    floor = Some((offset, i));
                }
            }
        }
    }
}

/// Per (group, tp): what the group committed, where it started, and what it consumed.
#[derive(Default)]
struct Progress {
    /// Highest ok commit and its op.
    commit: Option<(i64, u32)>,
    /// Lowest offset the group fetched from or committed.
    start: Option<i64>,
    /// Highest seek target by a member.
    waived_below: Option<i64>,
    consumed: Vec<i64>,
}

/// The offsets a group consumed in a partition, as a set: a bitmap over their range when
/// they are dense (they are: offsets are assigned densely), else sorted.
enum Consumed {
    Dense { lo: i64, seen: Vec<bool> },
    Sorted(Vec<i64>),
}

impl Consumed {
    fn new(offsets: &mut Vec<i64>) -> Consumed {
        let lo = offsets.iter().copied().min().unwrap_or(0);
        let hi = offsets.iter().copied().max().unwrap_or(0);
        let range = i128::from(hi) - i128::from(lo) + 1;
        if range <= offsets.len() as i128 * 4 + 1024 {
            let mut seen = vec![false; range as usize];
            for &o in offsets.iter() {
                seen[(o - lo) as usize] = true;
            }
            Consumed::Dense { lo, seen }
        } else {
            let mut sorted = std::mem::take(offsets);
            sorted.sort_unstable();
            sorted.dedup();
            Consumed::Sorted(sorted)
        }
    }

    fn contains(&self, offset: i64) -> bool {
        match self {
            Consumed::Dense { lo, seen } => offset
                .checked_sub(*lo)
                .and_then(|k| usize::try_from(k).ok())
                .and_then(|k| seen.get(k))
                .copied()
                .unwrap_or(false),
            Consumed::Sorted(sorted) => sorted.binary_search(&offset).is_ok(),
        }
    }
}

/// Group skip: observed offsets in [start, committed) that no member consumed.
fn skips(ix: &Index, groups: &Groups, sink: &mut Sink) {
    // Per (group, tp), group-major: the order the groups' partitions are judged in.
    let n_tps = ix.tps.len();
    let mut progress: Vec<Progress> = Vec::new();
    progress.resize_with(groups.names.len() * n_tps, Progress::default);
    let slot = |g: u32, tp: u32| g as usize * n_tps + tp as usize;
    for (i, op) in ix.others() {
        let tp = ix.op_tp[i];
        let process_groups = groups.of_process[ix.op_process[i] as usize].as_slice();
        match &op.kind {
            OpKind::Commit { offset, txn, .. } if op.outcome == Outcome::Ok => {
                if txn
                    .as_deref()
                    .is_some_and(|name| ix.txns.committed_at(name).is_none())
                {
                    continue;
                }
                let g = groups.of_op[i];
                let p = &mut progress[slot(g, tp)];
                if p.commit.is_none_or(|(c, _)| *offset > c) {
                    p.commit = Some((*offset, i as u32));
                }
                p.start = Some(p.start.map_or(*offset, |s| s.min(*offset)));
            }
            OpKind::Poll {
                fetch_offset,
                records,
                group,
                ..
            } if op.outcome == Outcome::Ok => {
                // A poll that names its group counts for that group only.
                let member_of = match group {
                    Some(_) => std::slice::from_ref(&groups.of_op[i]),
                    None => process_groups,
                };
                for &g in member_of {
                    let p = &mut progress[slot(g, tp)];
                    p.start = Some(p.start.map_or(*fetch_offset, |s| s.min(*fetch_offset)));
                    p.consumed.extend(
                        records
                            .iter()
                            .map(|r| r.offset)
                            .filter(|o| o >= fetch_offset),
                    );
                }
            }
            OpKind::Seek { offset, .. } => {
                for &g in process_groups {
                    let p = &mut progress[slot(g, tp)];
                    p.waived_below = Some(p.waived_below.map_or(*offset, |w| w.max(*offset)));
                }
            }
            _ => {}
        }
    }
    for (k, mut p) in progress.into_iter().enumerate() {
        let (g, tp) = ((k / n_tps) as u32, (k % n_tps) as u32);
        let (Some((commit, commit_op)), Some(start)) = (p.commit, p.start) else {
            continue;
        };
        let lo = p.waived_below.map_or(start, |w| w.max(start));
        if commit <= lo {
            continue;
        }
        let consumed = Consumed::new(&mut p.consumed);
        // Records of transactions that did not commit are never delivered to read_committed
        // members: not skipped.
        let missing: Vec<i64> = ix
            .offsets_between(tp, lo, commit - 1)
            .iter()
            .copied()
            .filter(|&o| !consumed.contains(o) && !ix.hidden_at(tp, o))
            .collect();
        if missing.is_empty() {
            continue;
        }
        sink.push(Class::GroupSkip, || {
            let (topic, partition) = ix.tps[tp as usize];
            let mut ops = vec![ix.op(commit_op).id];
            let mut seen = String::new();
            if let Some(o) = ix.first_obs_from(tp, missing[0]) {
                ops.push(ix.op(o.op).id);
                seen = format!("; offset {} exists: {} read it", o.offset, describe(ix.op(o.op)));
            }
            let shown: Vec<i64> = missing.iter().copied().take(10).collect();
            let more = if missing.len() > shown.len() { format!(" (and {} more)", missing.len() - shown.len()) } else { String::new() };
            Violation {
                class: Class::GroupSkip,
                explanation: format!(
                    "group {:?} committed offset {commit} for {} in {}, but no member ever consumed {} offset(s) below it: {:?}{more}{seen}",
                    groups.names[g as usize],
                    ix.tp_name(tp),
                    describe(ix.op(commit_op)),
                    missing.len(),
                    shown
                ),
                ops,
                topic: topic.to_string(),
                partition,
                offsets: shown,
                values: Vec::new(),
            }
        });
    }
}
