//! Kafka transactions: what a transaction's outcome allows readers to see, and the
//! exactly-once pipeline built on them. See [`Class::TxnAbortedRead`] and the classes after
//! it for the exact rules; `HISTORY.md` for the schema.
//!
//! A transaction is named by its `txn` (sends, pipeline polls, TxnOffsetCommits, `TxnEnd`s).
//! Its status comes from its `TxnEnd`s: **committed** when a commit was ok; **aborted** (it
//! never commits) when an abort was ok, when every commit request failed, or when it never
//! ended at all; **unknown** when a commit request is indeterminate and no abort was ok. An
//! unknown transaction is taken as committed once a read_committed poll returned one of its
//! records (as an indeterminate send is taken as applied once read), and as aborted
//! otherwise: no other choice could clear a violation. Committed transactions and unknown
//! ones read by read_committed are *visible*; the records of the others are *hidden*.
//!
//! Everything here is one pass over the history's transactional ops and observations plus
//! sorts; a history without transactions costs nothing beyond a flag set while indexing.

use std::collections::{BTreeMap, BTreeSet};

use super::fast_hash::FastMap;
use super::index::Index;
use super::log::violation;
use super::{describe, Class, Silent, Sink, Violation};
use crate::history::{Isolation, OpKind, Outcome};

/// The `of_send` of a send outside any transaction.
pub(super) const NO_TXN: u32 = u32::MAX;

/// What a transaction's `TxnEnd`s decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Status {
    Committed,
    Aborted,
    Unknown,
}

pub(super) struct Txn<'a> {
    pub name: &'a str,
    /// Its transactional id, from its sends or `TxnEnd`s.
    pub tid: Option<&'a str>,
    /// Its sends (value ids), in history order.
    pub sends: Vec<u32>,
    /// Its `TxnEnd`s (op indices).
    pub ends: Vec<u32>,
    pub status: Status,
    /// For an aborted transaction, the `TxnEnd` that decided it (`None`: it never ended).
    pub decided_by: Option<u32>,
    /// The `TxnEnd` that requested its commit: the ok one, else the first.
    pub commit_end: Option<u32>,
    /// The earliest invocation of a `TxnEnd` requesting its commit.
    pub commit_invoked: Option<u64>,
    /// Some read_committed poll returned one of its records.
    pub rc_read: bool,
    /// When its ok commit `TxnEnd` completed.
    pub committed_at: Option<u64>,
}

/// Per-op flags.
const RC: u8 = 1;
const DRAIN: u8 = 2;

/// The transactions of a history (empty, with `any` false, for a history without any).
pub(super) struct Txns<'a> {
    /// The history has transactional content: a transactional send, a `TxnInit` or
    /// `TxnEnd`, a TxnOffsetCommit, or a read_committed or pipeline poll.
    pub any: bool,
    pub list: Vec<Txn<'a>>,
    /// Transactions by name (looked up, never iterated).
    ids: FastMap<&'a str, u32>,
    /// Per send (value id): its transaction, or [`NO_TXN`].
    of_send: Vec<u32>,
    /// Per op (history index): [`RC`] for an ok read_committed poll, [`DRAIN`] for an ok
    /// drain poll.
    op_flags: Vec<u8>,
    /// Per tp: how many transactions sent to it (each may have left a control record, an
    /// offset no read returns).
    pub markers: Vec<u32>,
}

impl<'a> Txns<'a> {
    pub fn empty() -> Txns<'a> {
        Txns {
            any: false,
            list: Vec::new(),
            ids: FastMap::default(),
            of_send: Vec::new(),
            op_flags: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// The transactions of an indexed history whose `has_txn` is set.
    pub fn build(ix: &Index<'a>) -> Txns<'a> {
        let ops = ix.ops;
        let mut t = Txns {
            any: true,
            op_flags: vec![0; ops.len()],
            of_send: vec![NO_TXN; ix.sends.len()],
            markers: vec![0; ix.tps.len()],
            ..Txns::empty()
        };
        for &i in &ix.others {
            let op = &ops[i as usize];
            match &op.kind {
                OpKind::Poll {
                    isolation,
                    drain,
                    txn,
                    ..
                } => {
                    if op.outcome == Outcome::Ok {
                        let flags = &mut t.op_flags[i as usize];
                        *flags |= if *isolation == Isolation::ReadCommitted {
                            RC
                        } else {
                            0
                        };
                        *flags |= if *drain { DRAIN } else { 0 };
                    }
                    if let Some(name) = txn {
                        t.intern(name);
                    }
                }
                OpKind::Commit {
                    txn: Some(name), ..
                } => {
                    t.intern(name);
                }
                OpKind::TxnEnd {
                    txn,
                    transactional_id,
                    ..
                } => {
                    let id = t.intern(txn) as usize;
                    t.list[id].ends.push(i);
                    if t.list[id].tid.is_none() {
                        t.list[id].tid = transactional_id.as_deref();
                    }
                }
                _ => {}
            }
        }
        let mut touched: Vec<(u32, u32)> = Vec::new();
        for (v, s) in ix.sends.iter().enumerate() {
            let OpKind::Send {
                txn: Some(name),
                transactional_id,
                ..
            } = &ops[s.op as usize].kind
            else {
                continue;
            };
            let id = t.intern(name);
            let txn = &mut t.list[id as usize];
            txn.sends.push(v as u32);
            if txn.tid.is_none() {
                txn.tid = transactional_id.as_deref();
            }
            t.of_send[v] = id;
            touched.push((s.tp, id));
        }
        touched.sort_unstable();
        touched.dedup();
        for (tp, _) in touched {
            t.markers[tp as usize] += 1;
        }
        for txn in &mut t.list {
            txn.decide(ix);
        }
        for o in &ix.obs {
            if t.op_flags[o.op as usize] & RC != 0 {
                if let Some(&id) = t.of_send.get(o.value as usize).filter(|&&id| id != NO_TXN) {
                    t.list[id as usize].rc_read = true;
                }
            }
        }
        t
    }

    fn intern(&mut self, name: &'a str) -> u32 {
        let next = self.list.len() as u32;
        let id = *self.ids.entry(name).or_insert(next);
        if id == next {
            self.list.push(Txn {
                name,
                tid: None,
                sends: Vec::new(),
                ends: Vec::new(),
                status: Status::Aborted,
                decided_by: None,
                commit_end: None,
                commit_invoked: None,
                rc_read: false,
                committed_at: None,
            });
        }
        id
    }

    /// The transaction of a send (value id), if any.
    pub fn of(&self, value: u32) -> Option<u32> {
        self.of_send
            .get(value as usize)
            .copied()
            .filter(|&t| t != NO_TXN)
    }

    /// Committed, or unknown and read by a read_committed poll.
    pub fn visible(&self, txn: u32) -> bool {
        let t = &self.list[txn as usize];
        t.status == Status::Committed || (t.status == Status::Unknown && t.rc_read)
    }

    /// A send of a transaction that is not visible: read_committed readers need never see
    /// it, nothing needs to keep it.
    pub fn hidden(&self, value: u32) -> bool {
        self.of(value).is_some_and(|t| !self.visible(t))
    }

    /// When the transaction named `name` committed: the completion of its ok commit
    /// `TxnEnd`. `None` when it did not commit (or not knowably: indeterminate).
    pub fn committed_at(&self, name: &str) -> Option<u64> {
        let t = &self.list[*self.ids.get(name)? as usize];
        if t.status != Status::Committed {
            return None;
        }
        t.committed_at
    }

    fn rc(&self, op: u32) -> bool {
        self.op_flags[op as usize] & RC != 0
    }

    fn drain(&self, op: u32) -> bool {
        self.op_flags[op as usize] & DRAIN != 0
    }
}

impl Txn<'_> {
    fn decide(&mut self, ix: &Index) {
        let (mut ok_commit, mut ok_abort, mut indeterminate_commit) = (None, None, None);
        let (mut failed_commit, mut abort_request) = (None, None);
        for &e in &self.ends {
            let op = ix.op(e);
            let OpKind::TxnEnd { commit, .. } = op.kind else {
                continue;
            };
            let slot = match (commit, op.outcome) {
                (true, Outcome::Ok) => &mut ok_commit,
                (true, Outcome::Indeterminate) => &mut indeterminate_commit,
                (true, Outcome::Failed) => &mut failed_commit,
                (false, Outcome::Ok) => &mut ok_abort,
                (false, _) => &mut abort_request,
            };
            slot.get_or_insert(e);
            if commit {
                self.commit_invoked = Some(
                    self.commit_invoked
                        .map_or(op.invoke_us, |t| t.min(op.invoke_us)),
                );
            }
        }
        self.commit_end = ok_commit.or(indeterminate_commit).or(failed_commit);
        self.committed_at = ok_commit.and_then(|e| ix.op(e).complete_us);
        (self.status, self.decided_by) = if ok_commit.is_some() {
            (Status::Committed, None)
        } else if ok_abort.is_some() {
            (Status::Aborted, ok_abort)
        } else if indeterminate_commit.is_some() {
            (Status::Unknown, None)
        } else {
            (Status::Aborted, failed_commit.or(abort_request))
        };
    }
}

/// A record of a transactional send returned by an ok read_committed poll.
#[derive(Clone, Copy)]
struct Read {
    op: u32,
    txn: u32,
    value: u32,
    tp: u32,
    offset: i64,
}

/// Runs the transaction classes; records what each judged.
pub(super) fn check(ix: &Index, sink: &mut Sink) {
    let txns = &ix.txns;
    if !txns.any {
        return;
    }
    let mut reads: Vec<Read> = ix
        .obs
        .iter()
        .filter(|o| txns.rc(o.op))
        .filter_map(|o| {
            Some(Read {
                op: o.op,
                txn: txns.of(o.value)?,
                value: o.value,
                tp: o.tp,
                offset: o.offset,
            })
        })
        .collect();
    reads.sort_unstable_by_key(|r| (r.op, r.txn, r.tp, r.offset, r.value));
    let mut drained = vec![false; ix.sends.len()];
    for o in &ix.obs {
        if txns.drain(o.op) {
            if let Some(d) = drained.get_mut(o.value as usize) {
                *d = true;
            }
        }
    }
    let judged_reads = reads.len() as u64;
    aborted_and_uncommitted(ix, &reads, sink);
    sink.judged(Class::TxnAbortedRead, judged_reads);
    sink.judged(Class::TxnUncommittedRead, judged_reads);
    let lost = lost_writes(ix, &drained, sink);
    sink.judged(Class::TxnLostWrite, lost);
    let torn = torn(ix, &reads, &drained, sink);
    sink.judged(Class::TxnTorn, torn);
    let zombies = zombie_writes(ix, &reads, sink);
    sink.judged(Class::ZombieWrite, zombies);
    let dups = eos_duplicates(ix, &drained, sink);
    sink.judged(Class::EosDuplicate, dups);
    let lost_inputs = eos_lost(ix, sink);
    sink.judged(Class::EosLost, lost_inputs);
    let fetches = aborted_offsets(ix, sink);
    sink.judged(Class::TxnAbortedOffsets, fetches);
    let nodes = cycles(ix, &reads, sink);
    sink.judged(Class::TxnCycle, nodes);
}

/// "transaction "p/7" (transactional id "p")".
fn txn_name(t: &Txn) -> String {
    match t.tid {
        Some(tid) => format!("transaction {:?} (transactional id {tid:?})", t.name),
        None => format!("transaction {:?}", t.name),
    }
}

/// Why a transaction did not commit.
fn why_not_committed(ix: &Index, t: &Txn) -> String {
    let Some(e) = t.decided_by else {
        return "it never ended (no txn_end: its producer stopped mid-transaction)".into();
    };
    let op = ix.op(e);
    match (&op.kind, op.outcome) {
        (OpKind::TxnEnd { commit: false, .. }, Outcome::Ok) => {
            format!("it was aborted by {}", describe(op))
        }
        (OpKind::TxnEnd { commit: true, .. }, _) => {
            format!("its commit was refused ({})", describe(op))
        }
        _ => format!(
            "its producer asked to abort it ({}) and never to commit it",
            describe(op)
        ),
    }
}

fn values_at(ix: &Index, reads: &[Read]) -> String {
    reads
        .iter()
        .take(10)
        .map(|r| format!("{:?} at offset {}", ix.value_name(r.value), r.offset))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per (read_committed poll, transaction, partition): a record of a transaction that did
/// not commit, or that was still open when the poll completed.
fn aborted_and_uncommitted(ix: &Index, reads: &[Read], sink: &mut Sink) {
    let txns = &ix.txns;
    for group in reads.chunk_by(|a, b| (a.op, a.txn, a.tp) == (b.op, b.txn, b.tp)) {
        let r = group[0];
        let t = &txns.list[r.txn as usize];
        let poll = ix.op(r.op);
        let offsets = || group.iter().map(|r| r.offset).collect::<Vec<_>>();
        let values = || group.iter().map(|r| r.value).collect::<Vec<_>>();
        let first_send = ix.sends[r.value as usize].op;
        if t.status == Status::Aborted {
            sink.push(Class::TxnAbortedRead, || {
                let mut ops = vec![r.op, first_send];
                ops.extend(t.decided_by);
                violation(
                    ix,
                    Class::TxnAbortedRead,
                    r.tp,
                    ops,
                    offsets(),
                    values(),
                    format!(
                        "{} (read_committed) returned {} record(s) of {} from {}: {}; but the transaction did not commit: {}",
                        describe(poll),
                        group.len(),
                        txn_name(t),
                        ix.tp_name(r.tp),
                        values_at(ix, group),
                        why_not_committed(ix, t)
                    ),
                )
            });
            continue;
        }
        let (Some(invoked), Some(done)) = (t.commit_invoked, poll.complete_us) else {
            continue;
        };
        if done < invoked {
            sink.push(Class::TxnUncommittedRead, || {
                let end = t.commit_end.expect("a commit was requested");
                violation(
                    ix,
                    Class::TxnUncommittedRead,
                    r.tp,
                    vec![r.op, first_send, end],
                    offsets(),
                    values(),
                    format!(
                        "{} (read_committed) returned {} record(s) of {} from {}: {}; but its commit was requested only later, by {}: the transaction was still open",
                        describe(poll),
                        group.len(),
                        txn_name(t),
                        ix.tp_name(r.tp),
                        values_at(ix, group),
                        describe(ix.op(end))
                    ),
                )
            });
        }
    }
}

/// A send's acknowledged offset, also when the send is not ok but carries one.
fn given_offset(ix: &Index, value: u32) -> Option<i64> {
    let s = &ix.sends[value as usize];
    match &ix.op(s.op).kind {
        OpKind::Send { offset, .. } if s.outcome != Outcome::Failed => *offset,
        _ => None,
    }
}

/// Committed transactions: every ok send in the final drain. Returns the sends judged.
fn lost_writes(ix: &Index, drained: &[bool], sink: &mut Sink) -> u64 {
    if !ix.has_drain {
        return 0;
    }
    let mut judged = 0;
    for t in ix
        .txns
        .list
        .iter()
        .filter(|t| t.status == Status::Committed)
    {
        let mut missing: Vec<(u32, u32)> = Vec::new();
        for &v in &t.sends {
            let s = &ix.sends[v as usize];
            if s.outcome != Outcome::Ok || ix.expired(s) {
                continue;
            }
            judged += 1;
            if !drained[v as usize] {
                missing.push((s.tp, v));
            }
        }
        missing.sort_unstable();
        for group in missing.chunk_by(|a, b| a.0 == b.0) {
            let tp = group[0].0;
            sink.push(Class::TxnLostWrite, || {
                let mut ops: Vec<u32> = t.commit_end.into_iter().collect();
                ops.extend(group.iter().map(|&(_, v)| ix.sends[v as usize].op));
                let listed: Vec<String> = group
                    .iter()
                    .take(10)
                    .map(|&(_, v)| format!("{:?} by {}", ix.value_name(v), describe(ix.op(ix.sends[v as usize].op))))
                    .collect();
                violation(
                    ix,
                    Class::TxnLostWrite,
                    tp,
                    ops,
                    group.iter().filter_map(|&(_, v)| ix.sends[v as usize].acked).collect(),
                    group.iter().map(|&(_, v)| v).collect(),
                    format!(
                        "{} committed ({}), but {} of its acknowledged record(s) in {} are missing from the final drain: {}",
                        txn_name(t),
                        describe(ix.op(t.commit_end.expect("committed"))),
                        group.len(),
                        ix.tp_name(tp),
                        listed.join("; ")
                    ),
                )
            });
        }
    }
    judged
}

/// Non-atomic visibility. Returns the visible transactions judged.
fn torn(ix: &Index, reads: &[Read], drained: &[bool], sink: &mut Sink) -> u64 {
    let txns = &ix.txns;
    if reads.is_empty() && !txns.op_flags.iter().any(|f| f & RC != 0) {
        return 0;
    }
    // The read_committed reads, by transaction.
    let mut by_txn: Vec<Read> = reads.to_vec();
    by_txn.sort_unstable_by_key(|r| (r.txn, r.op, r.tp, r.offset, r.value));
    let mut first_read: Vec<usize> = vec![usize::MAX; txns.list.len()];
    for (k, r) in by_txn.iter().enumerate().rev() {
        first_read[r.txn as usize] = k;
    }
    let judged = (0..txns.list.len() as u32)
        .filter(|&t| txns.visible(t))
        .count() as u64;
    // A record read by read_committed while another is missing from the drain.
    if ix.has_drain {
        for (id, t) in txns.list.iter().enumerate() {
            if first_read[id] == usize::MAX || t.status == Status::Aborted {
                continue;
            }
            let mut missing: Vec<(u32, u32)> = t
                .sends
                .iter()
                .copied()
                .filter(|&v| {
                    let s = &ix.sends[v as usize];
                    (s.outcome == Outcome::Ok || given_offset(ix, v).is_some())
                        && !drained[v as usize]
                        && !ix.expired(s)
                })
                .map(|v| (ix.sends[v as usize].tp, v))
                .collect();
            missing.sort_unstable();
            // The witness: a read of a record that is not missing (a record read once and
            // gone since is a lost write, not a partial view).
            let Some(&witness) = by_txn[first_read[id]..]
                .iter()
                .take_while(|r| r.txn == id as u32)
                .find(|r| !missing.iter().any(|&(_, v)| v == r.value))
            else {
                continue;
            };
            for group in missing.chunk_by(|a, b| a.0 == b.0) {
                let tp = group[0].0;
                sink.push(Class::TxnTorn, || {
                    let mut ops = vec![witness.op, ix.sends[witness.value as usize].op];
                    ops.extend(group.iter().map(|&(_, v)| ix.sends[v as usize].op));
                    let listed: Vec<String> = group
                        .iter()
                        .take(10)
                        .map(|&(_, v)| format!("{:?} ({})", ix.value_name(v), describe(ix.op(ix.sends[v as usize].op))))
                        .collect();
                    let mut values = vec![witness.value];
                    values.extend(group.iter().map(|&(_, v)| v));
                    violation(
                        ix,
                        Class::TxnTorn,
                        tp,
                        ops,
                        group.iter().filter_map(|&(_, v)| given_offset(ix, v)).collect(),
                        values,
                        format!(
                            "{} is partly visible: {} (read_committed) returned its record {:?} at offset {} of {}, but {} of its acknowledged record(s) in {} are missing from the final drain: {}",
                            txn_name(t),
                            describe(ix.op(witness.op)),
                            ix.value_name(witness.value),
                            witness.offset,
                            ix.tp_name(witness.tp),
                            group.len(),
                            ix.tp_name(tp),
                            listed.join("; ")
                        ),
                    )
                });
            }
        }
    }
    // A read_committed poll that returned records on both sides of a visible transaction's
    // record without it. Per tp: (acked offset, value) of visible transactions' sends.
    let mut placed: Vec<Vec<(i64, u32)>> = vec![Vec::new(); ix.tps.len()];
    for (id, t) in txns.list.iter().enumerate() {
        if !txns.visible(id as u32) {
            continue;
        }
        for &v in &t.sends {
            let s = &ix.sends[v as usize];
            if let (Outcome::Ok, Some(a)) = (s.outcome, s.acked) {
                placed[s.tp as usize].push((a, v));
            }
        }
    }
    for p in &mut placed {
        p.sort_unstable();
    }
    let mut offsets: Vec<i64> = Vec::new();
    let mut skipped: Vec<(u32, i64, u32)> = Vec::new();
    for (i, op) in ix.others() {
        let OpKind::Poll { records, .. } = &op.kind else {
            continue;
        };
        if !txns.rc(i as u32) || records.len() < 2 {
            continue;
        }
        let tp = ix.op_tp[i];
        let lo = records.iter().map(|r| r.offset).min().unwrap_or(0);
        let hi = records.iter().map(|r| r.offset).max().unwrap_or(0);
        let p = &placed[tp as usize];
        let inside = &p[p.partition_point(|e| e.0 <= lo)..p.partition_point(|e| e.0 < hi)];
        if inside.is_empty() {
            continue;
        }
        offsets.clear();
        offsets.extend(records.iter().map(|r| r.offset));
        offsets.sort_unstable();
        skipped.clear();
        skipped.extend(
            inside
                .iter()
                .filter(|(a, _)| offsets.binary_search(a).is_err())
                .map(|&(a, v)| (txns.of(v).expect("a transaction's send"), a, v)),
        );
        skipped.sort_unstable();
        for group in skipped.chunk_by(|a, b| a.0 == b.0) {
            let t = &txns.list[group[0].0 as usize];
            sink.push(Class::TxnTorn, || {
                let mut ops = vec![i as u32];
                ops.extend(group.iter().map(|&(_, _, v)| ix.sends[v as usize].op));
                violation(
                    ix,
                    Class::TxnTorn,
                    tp,
                    ops,
                    group.iter().map(|&(_, a, _)| a).collect(),
                    group.iter().map(|&(_, _, v)| v).collect(),
                    format!(
                        "{} (read_committed) returned {} records from offset {lo} to {hi}, but not {} record(s) of {}, which {}, acknowledged inside that range: {}",
                        describe(op),
                        ix.tp_name(tp),
                        group.len(),
                        txn_name(t),
                        if t.status == Status::Committed { "committed" } else { "other read_committed reads saw" },
                        group
                            .iter()
                            .take(10)
                            .map(|&(_, a, v)| format!("{:?} at offset {a}", ix.value_name(v)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            });
        }
    }
    judged
}

/// Records visible to read_committed written with an epoch already fenced. Returns the
/// sends judged (read by read_committed, with a transactional id and an epoch).
fn zombie_writes(ix: &Index, reads: &[Read], sink: &mut Sink) -> u64 {
    let txns = &ix.txns;
    // Per transactional id: ok TxnInits with an epoch, by completion, with the prefix
    // maximum of the epoch (and the op that gave it).
    let mut inits: BTreeMap<&str, Vec<(u64, i32, u32)>> = BTreeMap::new();
    for (i, op) in ix.others() {
        if let (
            OpKind::TxnInit {
                transactional_id,
                epoch: Some(epoch),
                ..
            },
            Outcome::Ok,
            Some(done),
        ) = (&op.kind, op.outcome, op.complete_us)
        {
            inits
                .entry(transactional_id)
                .or_default()
                .push((done, *epoch, i as u32));
        }
    }
    for list in inits.values_mut() {
        list.sort_unstable();
        for k in 1..list.len() {
            if list[k - 1].1 > list[k].1 {
                (list[k].1, list[k].2) = (list[k - 1].1, list[k - 1].2);
            }
        }
    }
    // The first read_committed read of each send.
    let mut by_value: Vec<Read> = reads.to_vec();
    by_value.sort_unstable_by_key(|r| (r.value, r.op, r.offset));
    by_value.dedup_by_key(|r| r.value);
    let mut judged = 0;
    for r in by_value {
        let s = &ix.sends[r.value as usize];
        let send = ix.op(s.op);
        let OpKind::Send {
            transactional_id,
            epoch: Some(epoch),
            ..
        } = &send.kind
        else {
            continue;
        };
        let Some(tid) = transactional_id
            .as_deref()
            .or(txns.list[r.txn as usize].tid)
        else {
            continue;
        };
        judged += 1;
        let Some(list) = inits.get(tid) else { continue };
        let before = list.partition_point(|e| e.0 < send.invoke_us);
        let Some(&(_, fenced_by, init)) = before.checked_sub(1).map(|k| &list[k]) else {
            continue;
        };
        if fenced_by <= *epoch {
            continue;
        }
        sink.push(Class::ZombieWrite, || {
            violation(
                ix,
                Class::ZombieWrite,
                r.tp,
                vec![init, s.op, r.op],
                vec![r.offset],
                vec![r.value],
                format!(
                    "{} wrote {:?} with transactional id {tid:?} epoch {epoch}, after {} had given that id epoch {fenced_by} (fencing every earlier epoch); yet {} (read_committed) returned it at offset {} of {}",
                    describe(send),
                    ix.value_name(r.value),
                    describe(ix.op(init)),
                    describe(ix.op(r.op)),
                    r.offset,
                    ix.tp_name(r.tp)
                ),
            )
        });
    }
    judged
}

/// The `source` of a send, if it is an output of a visible transaction.
fn visible_source<'a>(ix: &Index<'a>, value: u32) -> Option<&'a crate::history::Source> {
    let t = ix.txns.of(value)?;
    if !ix.txns.visible(t) || ix.sends[value as usize].outcome == Outcome::Failed {
        return None;
    }
    match &ix.op(ix.sends[value as usize].op).kind {
        OpKind::Send { source, .. } => source.as_ref(),
        _ => None,
    }
}

/// Two drained outputs of visible transactions with one source. Returns the drained
/// outputs judged.
fn eos_duplicates(ix: &Index, drained: &[bool], sink: &mut Sink) -> u64 {
    let mut outputs: Vec<(&crate::history::Source, u32)> = (0..ix.sends.len() as u32)
        .filter(|&v| drained[v as usize])
        .filter_map(|v| Some((visible_source(ix, v)?, v)))
        .collect();
    outputs.sort_unstable();
    for group in outputs.chunk_by(|a, b| a.0 == b.0) {
        if group.len() < 2 {
            continue;
        }
        let source = group[0].0;
        sink.push(Class::EosDuplicate, || {
            let listed: Vec<String> = group
                .iter()
                .map(|&(_, v)| {
                    let s = &ix.sends[v as usize];
                    let t = &ix.txns.list[ix.txns.of(v).expect("transactional") as usize];
                    format!(
                        "{:?} in {} by {} ({})",
                        ix.value_name(v),
                        ix.tp_name(s.tp),
                        describe(ix.op(s.op)),
                        txn_name(t)
                    )
                })
                .collect();
            Violation {
                class: Class::EosDuplicate,
                explanation: format!(
                    "input record at offset {} of {}/{} was processed more than once: the final drain holds {} outputs of committed transactions derived from it: {}",
                    source.offset,
                    source.topic,
                    source.partition,
                    group.len(),
                    listed.join("; ")
                ),
                ops: group.iter().map(|&(_, v)| ix.op(ix.sends[v as usize].op).id).collect(),
                topic: source.topic.clone(),
                partition: source.partition,
                offsets: vec![source.offset],
                values: group.iter().map(|&(_, v)| ix.value_name(v).to_string()).collect(),
            }
        });
    }
    outputs.len() as u64
}

/// Input records below a group's transactionally committed offset that no committed output
/// came from. Returns the input records judged.
fn eos_lost(ix: &Index, sink: &mut Sink) -> u64 {
    let txns = &ix.txns;
    // Per (group, input tp): the highest offset a visible transaction committed, its op,
    // and the lowest offset the pipeline started from.
    let mut committed: BTreeMap<(&str, u32), (i64, u32)> = BTreeMap::new();
    let mut start: BTreeMap<(&str, u32), i64> = BTreeMap::new();
    // Per tp: the lowest fetch offset of pipeline polls naming no group.
    let mut pipeline_start: BTreeMap<u32, i64> = BTreeMap::new();
    let lower = |slot: &mut i64, o: i64| *slot = (*slot).min(o);
    for (i, op) in ix.others() {
        let tp = ix.op_tp[i];
        match &op.kind {
            OpKind::Commit {
                group, offset, txn, ..
            } if op.outcome == Outcome::Ok => {
                lower(start.entry((group, tp)).or_insert(*offset), *offset);
                let Some(&t) = txn.as_deref().and_then(|n| txns.ids.get(n)) else {
                    continue;
                };
                if txns.visible(t) {
                    let e = committed.entry((group, tp)).or_insert((*offset, i as u32));
                    if *offset > e.0 {
                        *e = (*offset, i as u32);
                    }
                }
            }
            OpKind::Poll {
                fetch_offset,
                group,
                txn: Some(_),
                ..
            } if op.outcome == Outcome::Ok => match group {
                Some(g) => lower(start.entry((g, tp)).or_insert(*fetch_offset), *fetch_offset),
                None => lower(
                    pipeline_start.entry(tp).or_insert(*fetch_offset),
                    *fetch_offset,
                ),
            },
            _ => {}
        }
    }
    if committed.is_empty() {
        return 0;
    }
    // Per input partition: the source offsets of visible transactions' outputs.
    let mut sources: BTreeMap<(&str, i32), Vec<i64>> = BTreeMap::new();
    for v in 0..ix.sends.len() as u32 {
        if let Some(s) = visible_source(ix, v) {
            sources
                .entry((&s.topic, s.partition))
                .or_default()
                .push(s.offset);
        }
    }
    for list in sources.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    let mut judged = 0;
    for (&(group, tp), &(commit, commit_op)) in &committed {
        let mut lo = start.get(&(group, tp)).copied().unwrap_or(0);
        if let Some(&p) = pipeline_start.get(&tp) {
            lo = lo.min(p);
        }
        lo = lo.max(ix.log_start[tp as usize].0);
        if commit <= lo {
            continue;
        }
        let (topic, partition) = ix.tps[tp as usize];
        let made = sources
            .get(&(topic, partition))
            .map_or(&[][..], |l| l.as_slice());
        let mut count = 0u64;
        let mut missing: Vec<i64> = Vec::new();
        for &o in ix.offsets_between(tp, lo, commit - 1) {
            if ix.hidden_at(tp, o) {
                continue;
            }
            count += 1;
            if made.binary_search(&o).is_err() {
                missing.push(o);
            }
        }
        judged += count;
        if missing.is_empty() {
            continue;
        }
        sink.push(Class::EosLost, || {
            let mut ops = vec![ix.op(commit_op).id];
            let mut seen = String::new();
            if let Some(o) = ix.first_obs_from(tp, missing[0]) {
                ops.push(ix.op(o.op).id);
                seen = format!("; offset {} holds {:?}: {} read it", o.offset, ix.value_name(o.value), describe(ix.op(o.op)));
            }
            let shown: Vec<i64> = missing.iter().copied().take(10).collect();
            let more = if missing.len() > shown.len() { format!(" (and {} more)", missing.len() - shown.len()) } else { String::new() };
            Violation {
                class: Class::EosLost,
                explanation: format!(
                    "group {group:?} committed offset {commit} of {} in a committed transaction ({}), but {} input record(s) below it, from offset {lo}, are the source of no committed output: {:?}{more}{seen}",
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
    judged
}

/// FetchCommitted answers that only an aborted transaction's offset commit wrote. Returns
/// the fetches judged (of a group and partition some TxnOffsetCommit was for).
fn aborted_offsets(ix: &Index, sink: &mut Sink) -> u64 {
    let txns = &ix.txns;
    // Per (group, tp, offset): an aborted transaction's commit of it, and whether any
    // other commit (outside a transaction or in one not aborted) may have written it.
    let mut writers: BTreeMap<(&str, u32, i64), (Option<u32>, bool)> = BTreeMap::new();
    let mut transactional: BTreeSet<(&str, u32)> = BTreeSet::new();
    for (i, op) in ix.others() {
        let OpKind::Commit {
            group, offset, txn, ..
        } = &op.kind
        else {
            continue;
        };
        if op.outcome == Outcome::Failed {
            continue;
        }
        let tp = ix.op_tp[i];
        let e = writers.entry((group, tp, *offset)).or_insert((None, false));
        match txn.as_deref().and_then(|n| txns.ids.get(n)) {
            Some(&t) => {
                transactional.insert((group, tp));
                if txns.list[t as usize].status == Status::Aborted {
                    e.0.get_or_insert(i as u32);
                } else {
                    e.1 = true;
                }
            }
            None => e.1 = true,
        }
    }
    if transactional.is_empty() {
        return 0;
    }
    let mut judged = 0;
    for (i, op) in ix.others() {
        let (OpKind::FetchCommitted { group, offset, .. }, Outcome::Ok) = (&op.kind, op.outcome)
        else {
            continue;
        };
        let tp = ix.op_tp[i];
        if !transactional.contains(&(group.as_str(), tp)) {
            continue;
        }
        judged += 1;
        let Some(&(Some(by), false)) = writers.get(&(group.as_str(), tp, *offset)) else {
            continue;
        };
        sink.push(Class::TxnAbortedOffsets, || {
            let commit = ix.op(by);
            let t = commit
                .txn()
                .and_then(|n| txns.ids.get(n))
                .map(|&t| &txns.list[t as usize]);
            let why = t.map_or(String::new(), |t| format!("{}, which did not commit: {}", txn_name(t), why_not_committed(ix, t)));
            let (topic, partition) = ix.tps[tp as usize];
            Violation {
                class: Class::TxnAbortedOffsets,
                explanation: format!(
                    "{} read committed offset {offset} of group {group:?} for {}, which only {} committed, inside {why}",
                    describe(op),
                    ix.tp_name(tp),
                    describe(commit)
                ),
                ops: vec![commit.id, op.id],
                topic: topic.to_string(),
                partition,
                offsets: vec![*offset],
                values: Vec::new(),
            }
        });
    }
    judged
}

/// Why one visible transaction must precede another.
#[derive(Clone, Copy)]
enum Why {
    /// The later one's pipeline poll (op) read the earlier one's record (value).
    Wr { poll: u32, value: u32 },
    /// Same transactional id: in tp, the earlier one's record at the first offset precedes
    /// the later one's at the second.
    Ww { tp: u32, before: i64, after: i64 },
    /// Same transactional id: the earlier one's commit (op) completed before the later
    /// one's (op) was invoked.
    End { first: u32, second: u32 },
}

/// Cycles of committed transactions (G0, G1c). Returns the transactions judged.
fn cycles(ix: &Index, reads: &[Read], sink: &mut Sink) -> u64 {
    let txns = &ix.txns;
    let nodes: Vec<u32> = (0..txns.list.len() as u32)
        .filter(|&t| txns.visible(t))
        .collect();
    if nodes.is_empty() {
        return 0;
    }
    let mut edges: Vec<(u32, u32, Why)> = Vec::new();
    // wr: a pipeline's read_committed poll feeding transaction T2 read T1's record.
    for r in reads {
        let OpKind::Poll {
            txn: Some(name), ..
        } = &ix.op(r.op).kind
        else {
            continue;
        };
        let Some(&reader) = txns.ids.get(name.as_str()) else {
            continue;
        };
        if reader != r.txn && txns.visible(reader) && txns.visible(r.txn) {
            edges.push((
                r.txn,
                reader,
                Why::Wr {
                    poll: r.op,
                    value: r.value,
                },
            ));
        }
    }
    // ww, one transactional id only: runs of records by offset in each partition.
    let mut placed: Vec<(&str, u32, i64, u32)> = Vec::new();
    for &t in &nodes {
        let txn = &txns.list[t as usize];
        let Some(tid) = txn.tid else { continue };
        for &v in &txn.sends {
            let s = &ix.sends[v as usize];
            if s.outcome == Outcome::Failed {
                continue;
            }
            let at = s.acked.or_else(|| ix.min_read_offset(v, s.tp));
            if let Some(o) = at {
                placed.push((tid, s.tp, o, t));
            }
        }
    }
    placed.sort_unstable();
    for same in placed.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        for w in same.windows(2) {
            if w[0].3 != w[1].3 {
                edges.push((
                    w[0].3,
                    w[1].3,
                    Why::Ww {
                        tp: w[0].1,
                        before: w[0].2,
                        after: w[1].2,
                    },
                ));
            }
        }
    }
    // Session order of one transactional id: commit completed before the next invoked.
    let mut ends: Vec<(&str, u64, u32, u32)> = Vec::new();
    for &t in &nodes {
        let txn = &txns.list[t as usize];
        if let (Some(tid), Some(e)) = (txn.tid, txn.commit_end) {
            ends.push((tid, ix.op(e).invoke_us, e, t));
        }
    }
    ends.sort_unstable();
    for same in ends.chunk_by(|a, b| a.0 == b.0) {
        // From the latest completed commit (an indeterminate one has no completion: the
        // chain goes around it).
        let mut anchor: Option<(u64, u32, u32)> = None;
        for &(_, invoke, end, t) in same {
            if let Some((done, first, from)) = anchor {
                if done < invoke && from != t {
                    edges.push((from, t, Why::End { first, second: end }));
                }
            }
            if let Some(done) = ix.op(end).complete_us {
                if anchor.is_none_or(|a| done >= a.0) {
                    anchor = Some((done, end, t));
                }
            }
        }
    }
    edges.sort_by_key(|e| (e.0, e.1));
    edges.dedup_by_key(|e| (e.0, e.1));
    let n = txns.list.len();
    let mut start = vec![0usize; n + 1];
    for e in &edges {
        start[e.0 as usize + 1] += 1;
    }
    for k in 0..n {
        start[k + 1] += start[k];
    }
    let out = |t: u32| &edges[start[t as usize]..start[t as usize + 1]];
    for scc in strongly_connected(n, &nodes, |t| out(t).iter().map(|e| e.1)) {
        if scc.len() < 2 {
            continue;
        }
        let cycle = find_cycle(&scc, |t| out(t));
        report_cycle(ix, &cycle, sink);
    }
    nodes.len() as u64
}

/// Tarjan's strongly connected components (iterative), over `nodes`, components in a
/// deterministic order, each sorted.
fn strongly_connected<I: Iterator<Item = u32>>(
    n: usize,
    nodes: &[u32],
    succ: impl Fn(u32) -> I,
) -> Vec<Vec<u32>> {
    const UNSEEN: u32 = u32::MAX;
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0u32;
    for &root in nodes {
        if index[root as usize] != UNSEEN {
            continue;
        }
        let mut call: Vec<(u32, Vec<u32>, usize)> = Vec::new();
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        call.push((root, succ(root).collect(), 0));
        while let Some((v, succs, k)) = call.last_mut() {
            let v = *v;
            if let Some(&w) = succs.get(*k) {
                *k += 1;
                if index[w as usize] == UNSEEN {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, succ(w).collect(), 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
                continue;
            }
            call.pop();
            if let Some((parent, _, _)) = call.last() {
                low[*parent as usize] = low[*parent as usize].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                scc.sort_unstable();
                out.push(scc);
            }
        }
    }
    out.sort();
    out
}

/// A shortest cycle through the smallest transaction of a strongly connected component.
fn find_cycle<'e>(scc: &[u32], out: impl Fn(u32) -> &'e [(u32, u32, Why)]) -> Vec<(u32, u32, Why)> {
    let root = scc[0];
    let inside = |t: u32| scc.binary_search(&t).is_ok();
    let mut parent: BTreeMap<u32, (u32, u32, Why)> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([root]);
    while let Some(v) = queue.pop_front() {
        for &e in out(v) {
            if e.1 == root {
                let mut cycle = vec![e];
                let mut at = v;
                while at != root {
                    let p = parent[&at];
                    cycle.push(p);
                    at = p.0;
                }
                cycle.reverse();
                return cycle;
            }
            if inside(e.1) && !parent.contains_key(&e.1) {
                parent.insert(e.1, e);
                queue.push_back(e.1);
            }
        }
    }
    Vec::new()
}

fn report_cycle(ix: &Index, cycle: &[(u32, u32, Why)], sink: &mut Sink) {
    if cycle.is_empty() {
        return;
    }
    sink.push(Class::TxnCycle, || {
        let txns = &ix.txns;
        let name = |t: u32| format!("{:?}", txns.list[t as usize].name);
        let mut ops: Vec<u64> = Vec::new();
        let mut offsets = Vec::new();
        let mut values = Vec::new();
        let mut tp = None;
        let (mut wr, mut ww) = (false, false);
        let steps: Vec<String> = cycle
            .iter()
            .map(|&(from, to, why)| match why {
                Why::Wr { poll, value } => {
                    wr = true;
                    ops.push(ix.op(poll).id);
                    ops.push(ix.op(ix.sends[value as usize].op).id);
                    values.push(ix.value_name(value).to_string());
                    format!(
                        "{} -wr-> {} ({} of {} read {:?})",
                        name(from),
                        name(to),
                        describe(ix.op(poll)),
                        name(to),
                        ix.value_name(value)
                    )
                }
                Why::Ww { tp: p, before, after } => {
                    ww = true;
                    tp.get_or_insert(p);
                    offsets.extend([before, after]);
                    format!(
                        "{} -ww-> {} (same transactional id; in {} its record at offset {before} precedes {}'s at {after})",
                        name(from),
                        name(to),
                        ix.tp_name(p),
                        name(to)
                    )
                }
                Why::End { first, second } => {
                    ops.extend([ix.op(first).id, ix.op(second).id]);
                    format!(
                        "{} -session-> {} (same transactional id; its commit {} completed before {} was invoked)",
                        name(from),
                        name(to),
                        describe(ix.op(first)),
                        describe(ix.op(second))
                    )
                }
            })
            .collect();
        ops.sort_unstable();
        ops.dedup();
        let kind = match (wr, ww) {
            (false, true) => "G0 (write cycle)",
            (true, _) => "G1c (circular information flow)",
            _ => "cycle",
        };
        let (topic, partition) = tp.map_or(("", -1), |p| ix.tps[p as usize]);
        Violation {
            class: Class::TxnCycle,
            explanation: format!(
                "{kind} among committed transactions, each of which must precede the next: {}",
                steps.join("; ")
            ),
            ops,
            topic: topic.to_string(),
            partition,
            offsets,
            values,
        }
    });
}

/// The transaction classes that apply to the history but judged nothing.
pub(super) fn silent(ix: &Index, judged: &BTreeMap<Class, u64>) -> Vec<Silent> {
    let txns = &ix.txns;
    if !txns.any {
        return Vec::new();
    }
    let none = |c: Class| judged.get(&c).copied().unwrap_or(0) == 0;
    let sends = txns.list.iter().any(|t| !t.sends.is_empty());
    let rc = txns.op_flags.iter().any(|f| f & RC != 0);
    let committed = txns.list.iter().any(|t| t.status == Status::Committed);
    let sourced = (0..ix.sends.len() as u32).any(|v| {
        txns.of(v).is_some()
            && matches!(
                &ix.op(ix.sends[v as usize].op).kind,
                OpKind::Send {
                    source: Some(_),
                    ..
                }
            )
    });
    let txn_commits = ix
        .others()
        .any(|(_, op)| matches!(&op.kind, OpKind::Commit { txn: Some(_), .. }));
    let mut out = Vec::new();
    let mut quiet = |class: Class, applies: bool, reasons: &[(bool, &str)]| {
        if !applies || !none(class) {
            return;
        }
        let reason = reasons
            .iter()
            .find(|(missing, _)| *missing)
            .map_or("nothing it judges was in the history", |(_, r)| r);
        out.push(Silent {
            class,
            reason: reason.to_string(),
        });
    };
    let no_rc = "the history has transactional sends but no read_committed poll";
    let no_drain = "the history has no final drain (no poll marked `drain`)";
    let no_commit = "no transaction committed";
    quiet(Class::TxnAbortedRead, sends, &[(!rc, no_rc)]);
    quiet(Class::TxnUncommittedRead, sends, &[(!rc, no_rc)]);
    quiet(
        Class::TxnLostWrite,
        sends,
        &[(!ix.has_drain, no_drain), (!committed, no_commit)],
    );
    quiet(
        Class::TxnTorn,
        sends,
        &[(!rc, no_rc), (!committed, no_commit)],
    );
    quiet(
        Class::ZombieWrite,
        sends,
        &[
            (!rc, no_rc),
            (
                true,
                "no record read by read_committed carries a transactional id and an epoch",
            ),
        ],
    );
    quiet(Class::EosDuplicate, sourced, &[(!ix.has_drain, no_drain)]);
    quiet(
        Class::EosLost,
        sourced,
        &[(
            true,
            "no committed transaction committed a group offset (no `commit` with `txn`)",
        )],
    );
    quiet(
        Class::TxnAbortedOffsets,
        txn_commits,
        &[(
            true,
            "transactional offset commits but no fetch_committed of their groups' partitions",
        )],
    );
    quiet(Class::TxnCycle, sends, &[(!committed, no_commit)]);
    out
}
