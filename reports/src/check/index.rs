//! The history rearranged for the sweeps: topics/partitions, processes and values interned
//! to small integers; every observation (a record returned by an ok poll) sorted by
//! partition and offset, and again by value. Hash maps here are only looked up, never
//! iterated, so nothing depends on their order.

use std::ops::Range;

use std::hash::BuildHasher;

use super::fast_hash::{FastHasher, FastMap};

use crate::history::{Isolation, Op, OpKind, Outcome};

/// A send, one per distinct value (the first send of a value wins if a malformed history
/// repeats one).
pub(super) struct Send {
    /// Index of the op in the history slice.
    pub op: u32,
    pub tp: u32,
    pub process: u32,
    pub outcome: Outcome,
    pub acked: Option<i64>,
    pub idempotent: bool,
    pub invoke: u64,
    pub complete: Option<u64>,
    /// Produce requests that carried it (1: never retried).
    pub attempts: u32,
    /// The producer's limit of requests in flight per connection (`None`: unknown).
    pub max_in_flight: Option<u32>,
    /// Broker id of the last attempt, interned ([`NO_BROKER`]: unknown).
    pub broker: u32,
}

/// The `broker` of a send whose broker is unknown.
pub(super) const NO_BROKER: u32 = u32::MAX;

/// A record returned by an ok poll.
#[derive(Clone, Copy)]
pub(super) struct Obs {
    pub tp: u32,
    pub offset: i64,
    /// Value id; ids below `sends.len()` are sends.
    pub value: u32,
    /// Index of the poll in the history slice.
    pub op: u32,
}

/// A distinct (value, partition, offset) placement, with the first poll that showed it.
#[derive(Clone, Copy)]
pub(super) struct Occ {
    pub value: u32,
    pub tp: u32,
    pub offset: i64,
    pub op: u32,
}

pub(super) struct Index<'a> {
    pub ops: &'a [Op],
    pub tps: Vec<(&'a str, i32)>,
    tp_ids: FastMap<(&'a str, i32), u32>,
    /// Interning shortcuts: topics by name, each with its partitions' tp ids (small
    /// partition numbers), and the last topic and process looked up.
    topic_ids: FastMap<&'a str, u32>,
    topic_partitions: Vec<Vec<u32>>,
    last_topic: Option<(&'a str, u32)>,
    last_process: Option<(&'a str, u32)>,
    pub processes: Vec<&'a str>,
    process_ids: FastMap<&'a str, u32>,
    /// Distinct broker names of sends, by broker id.
    pub brokers: Vec<&'a str>,
    pub value_names: Vec<&'a str>,
    pub sends: Vec<Send>,
    /// Observations sorted by (tp, offset, value, op).
    pub obs: Vec<Obs>,
    tp_obs: Vec<Range<usize>>,
    /// Distinct observed offsets, concatenated per tp.
    offsets: Vec<i64>,
    tp_offsets: Vec<Range<usize>>,
    /// Distinct placements sorted by (value, tp, offset).
    occ: Vec<Occ>,
    /// `occ_start[v]..occ_start[v + 1]` are value v's placements.
    occ_start: Vec<usize>,
    /// True when some op is a drain poll.
    pub has_drain: bool,
    /// Per op (by history index): its topic-partition id, or [`NO_TP`] for an Assign.
    pub op_tp: Vec<u32>,
    /// Per op: its process id.
    pub op_process: Vec<u32>,
    /// The ops that are not sends, by history index: the sweeps that ignore sends go
    /// through these only (sends are most of a history).
    pub others: Vec<u32>,
    /// Per tp: the highest log start any ok LogStart op reported (0: none), and when the
    /// first op reporting it was invoked. Records below it were deleted by retention.
    pub log_start: Vec<(i64, u64)>,
    /// The history's transactions (empty when it has none).
    pub txns: super::txn::Txns<'a>,
}

/// The `op_tp` of an op without a partition.
pub(super) const NO_TP: u32 = u32::MAX;

impl<'a> Index<'a> {
    pub fn build(ops: &'a [Op]) -> Index<'a> {
        let mut ix = Index {
            ops,
            tps: Vec::new(),
            tp_ids: FastMap::default(),
            topic_ids: FastMap::default(),
            topic_partitions: Vec::new(),
            last_topic: None,
            last_process: None,
            processes: Vec::new(),
            process_ids: FastMap::default(),
            brokers: Vec::new(),
            value_names: Vec::new(),
            sends: Vec::new(),
            obs: Vec::new(),
            tp_obs: Vec::new(),
            offsets: Vec::new(),
            tp_offsets: Vec::new(),
            occ: Vec::new(),
            occ_start: Vec::new(),
            has_drain: false,
            op_tp: Vec::new(),
            op_process: Vec::new(),
            others: Vec::new(),
            log_start: Vec::new(),
            txns: super::txn::Txns::empty(),
        };
        let mut has_txn = false;
        // Pass 1: processes and partitions of every op, and the sends.
        let mut candidates: Vec<u32> = Vec::new();
        ix.op_tp.reserve(ops.len());
        ix.op_process.reserve(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let process = ix.process(&op.process);
            ix.op_process.push(process);
            let tp = op
                .topic_partition()
                .map_or(NO_TP, |(topic, partition)| ix.tp(topic, partition));
            ix.op_tp.push(tp);
            match &op.kind {
                OpKind::Send { txn, .. } => {
                    has_txn |= txn.is_some();
                    candidates.push(i as u32)
                }
                // Only ok polls are observations (HISTORY.md): a failed poll observed
                // nothing, and no sweep over the other ops may take it for one.
                OpKind::Poll { .. } if op.outcome != Outcome::Ok => {}
                kind => {
                    has_txn |= match kind {
                        OpKind::Poll { isolation, txn, .. } => {
                            *isolation == Isolation::ReadCommitted || txn.is_some()
                        }
                        OpKind::Commit { txn, .. } => txn.is_some(),
                        OpKind::TxnInit { .. } | OpKind::TxnEnd { .. } => true,
                        _ => false,
                    };
                    ix.others.push(i as u32)
                }
            }
        }
        // The first send of a value wins (a malformed history may repeat one): value ids
        // below sends.len() are exactly the sends, in history order. Duplicates are found
        // by sorting the values' hashes, not by a hash table of a million strings.
        let send_value = |i: u32| match &ops[i as usize].kind {
            OpKind::Send { value, .. } => value.as_str(),
            _ => unreachable!("candidates are sends"),
        };
        let mut by_hash: Vec<(u64, u32)> = candidates
            .iter()
            .enumerate()
            .map(|(c, &i)| (hash_str(send_value(i)), c as u32))
            .collect();
        super::fast_hash::sort_by_hash(&mut by_hash);
        let mut repeated = vec![false; candidates.len()];
        for group in by_hash.chunk_by_mut(|a, b| a.0 == b.0) {
            if group.len() > 1 {
                // Equal hashes: sort by value, then position; all but the first of each
                // value repeat it. (Then back to position order for the lookup table.)
                group.sort_unstable_by(|a, b| {
                    (send_value(candidates[a.1 as usize]), a.1)
                        .cmp(&(send_value(candidates[b.1 as usize]), b.1))
                });
                for k in 1..group.len() {
                    let (prev, this) = (group[k - 1].1, group[k].1);
                    if send_value(candidates[prev as usize])
                        == send_value(candidates[this as usize])
                    {
                        repeated[this as usize] = true;
                    }
                }
                group.sort_unstable();
            }
        }
        let mut send_id = vec![u32::MAX; candidates.len()];
        let mut broker_ids: FastMap<&'a str, u32> = FastMap::default();
        let mut last_broker: Option<(&'a str, u32)> = None;
        for (c, &i) in candidates.iter().enumerate() {
            if repeated[c] {
                continue;
            }
            let op = &ops[i as usize];
            let OpKind::Send {
                value,
                offset,
                idempotent,
                attempts,
                max_in_flight,
                broker,
                ..
            } = &op.kind
            else {
                unreachable!("candidates are sends")
            };
            send_id[c] = ix.sends.len() as u32;
            ix.value_names.push(value);
            let broker = match (broker, last_broker) {
                (Some(name), Some((last, id))) if last == name.as_str() => id,
                (Some(name), _) => {
                    let next = ix.brokers.len() as u32;
                    let id = *broker_ids.entry(name.as_str()).or_insert(next);
                    if id == next {
                        ix.brokers.push(name);
                    }
                    last_broker = Some((name, id));
                    id
                }
                (None, _) => NO_BROKER,
            };
            ix.sends.push(Send {
                op: i,
                tp: ix.op_tp[i as usize],
                process: ix.op_process[i as usize],
                outcome: op.outcome,
                acked: if op.outcome == Outcome::Ok {
                    *offset
                } else {
                    None
                },
                idempotent: *idempotent,
                invoke: op.invoke_us,
                complete: op.complete_us,
                attempts: *attempts,
                max_in_flight: *max_in_flight,
                broker,
            });
        }
        // (hash, send value id), sorted: the sends' values by hash.
        let send_hashes: Vec<(u64, u32)> = by_hash
            .iter()
            .filter(|&&(_, c)| !repeated[c as usize])
            .map(|&(h, c)| (h, send_id[c as usize]))
            .collect();
        drop(by_hash);
        // Pass 2: every record an ok poll returned, its value resolved to an id: a send's,
        // or a new id per value no send wrote (in order of first appearance). Most records
        // are at the offset their send was acknowledged at, or at an offset an earlier
        // record of the same value was read at: such a guess, once its value compares
        // equal, saves looking the value up.
        let mut guess = Guesses::new(&ix);
        let mut unknown: FastMap<&'a str, u32> = FastMap::default();
        for &i in &ix.others {
            let (i, op) = (i as usize, &ops[i as usize]);
            let OpKind::Poll { records, drain, .. } = &op.kind else {
                continue;
            };
            ix.has_drain |= *drain;
            if op.outcome != Outcome::Ok {
                continue;
            }
            let tp = ix.op_tp[i];
            for r in records {
                let guessed = guess.get(tp, r.offset);
                let value = match ix.value_names.get(guessed as usize) {
                    Some(&name) if name == r.value => guessed,
                    _ => {
                        let h = hash_str(&r.value);
                        let start = send_hashes.partition_point(|e| e.0 < h);
                        let sent = send_hashes[start..]
                            .iter()
                            .take_while(|e| e.0 == h)
                            .find(|e| ix.value_names[e.1 as usize] == r.value)
                            .map(|e| e.1);
                        let value = sent.unwrap_or_else(|| {
                            let next = ix.value_names.len() as u32;
                            let id = *unknown.entry(r.value.as_str()).or_insert(next);
                            if id == next {
                                ix.value_names.push(&r.value);
                            }
                            id
                        });
                        guess.set(tp, r.offset, value);
                        value
                    }
                };
                ix.obs.push(Obs {
                    tp,
                    offset: r.offset,
                    value,
                    op: i as u32,
                });
            }
        }
        sort_obs(&mut ix.obs, ix.tps.len());
        ix.tp_obs = ranges(ix.tps.len(), &ix.obs, |o| o.tp);
        ix.build_offset_ranges();
        let mut occ: Vec<Occ> = Vec::with_capacity(ix.obs.len());
        for o in &ix.obs {
            match occ.last() {
                Some(l) if l.tp == o.tp && l.offset == o.offset && l.value == o.value => {}
                _ => occ.push(Occ {
                    value: o.value,
                    tp: o.tp,
                    offset: o.offset,
                    op: o.op,
                }),
            }
        }
        // By value (a counting sort: value ids are dense), keeping the (tp, offset) order.
        let (occ, occ_start) = by_bucket(&occ, ix.value_names.len(), |o| o.value as usize);
        ix.occ_start = occ_start;
        ix.occ = occ;
        ix.log_start = vec![(0, 0); ix.tps.len()];
        for &i in &ix.others {
            let (i, op) = (i as usize, &ops[i as usize]);
            if let (OpKind::LogStart { log_start, .. }, Outcome::Ok) = (&op.kind, op.outcome) {
                let slot = &mut ix.log_start[ix.op_tp[i] as usize];
                if *log_start > slot.0 || (*log_start == slot.0 && op.invoke_us < slot.1) {
                    *slot = (*log_start, op.invoke_us);
                }
            }
        }
        if has_txn {
            ix.txns = super::txn::Txns::build(&ix);
        }
        ix
    }

    /// Whether every record read at this offset belongs to a transaction that is not
    /// visible (aborted, or indeterminate and never read by read_committed): an offset a
    /// read_committed reader skips legitimately. False when nothing was read there.
    pub fn hidden_at(&self, tp: u32, offset: i64) -> bool {
        if !self.txns.any {
            return false;
        }
        let all = self.obs_of(tp);
        let at = &all[all.partition_point(|o| o.offset < offset)..];
        let mut any = false;
        for o in at.iter().take_while(|o| o.offset == offset) {
            if !self.txns.hidden(o.value) {
                return false;
            }
            any = true;
        }
        any
    }

    /// Whether retention may have deleted send `s` legitimately: its acked offset is below
    /// the partition's highest reported log start (offset unknown: it was invoked before
    /// that log start was first reported).
    pub fn expired(&self, s: &Send) -> bool {
        let (start, seen) = self.log_start[s.tp as usize];
        match s.acked {
            Some(a) => a < start,
            None => start > 0 && s.invoke < seen,
        }
    }

    fn build_offset_ranges(&mut self) {
        // Distinct offsets per tp, from the sorted observations.
        let mut offsets = Vec::with_capacity(self.obs.len());
        let mut tp_offsets = vec![0..0; self.tps.len()];
        for (tp, range) in self.tp_obs.iter().enumerate() {
            let start = offsets.len();
            for o in &self.obs[range.clone()] {
                if offsets.len() == start || offsets.last() != Some(&o.offset) {
                    offsets.push(o.offset);
                }
            }
            tp_offsets[tp] = start..offsets.len();
        }
        self.offsets = offsets;
        self.tp_offsets = tp_offsets;
    }

    fn tp(&mut self, topic: &'a str, partition: i32) -> u32 {
        const UNSEEN: u32 = u32::MAX;
        let t = match self.last_topic {
            Some((name, t)) if name == topic => t,
            _ => {
                let next = self.topic_partitions.len() as u32;
                let t = *self.topic_ids.entry(topic).or_insert(next);
                if t == next {
                    self.topic_partitions.push(Vec::new());
                }
                self.last_topic = Some((topic, t));
                t
            }
        };
        // Partitions 0..4096 of a topic by index; any other through the map.
        let slot = usize::try_from(partition).ok().filter(|&p| p < 4096);
        if let Some(p) = slot {
            if let Some(&id) = self.topic_partitions[t as usize].get(p) {
                if id != UNSEEN {
                    return id;
                }
            }
        }
        let next = self.tps.len() as u32;
        let id = *self.tp_ids.entry((topic, partition)).or_insert(next);
        if id == next {
            self.tps.push((topic, partition));
        }
        if let Some(p) = slot {
            let parts = &mut self.topic_partitions[t as usize];
            if parts.len() <= p {
                parts.resize(p + 1, UNSEEN);
            }
            parts[p] = id;
        }
        id
    }

    fn process(&mut self, name: &'a str) -> u32 {
        if let Some((last, id)) = self.last_process {
            if last == name {
                return id;
            }
        }
        let id = self.intern_process(name);
        self.last_process = Some((name, id));
        id
    }

    fn intern_process(&mut self, name: &'a str) -> u32 {
        let next = self.processes.len() as u32;
        let id = *self.process_ids.entry(name).or_insert(next);
        if id == next {
            self.processes.push(name);
        }
        id
    }

    /// The ops that are not sends, with their history index, in history order.
    pub fn others(&self) -> impl Iterator<Item = (usize, &'a Op)> + '_ {
        self.others
            .iter()
            .map(|&i| (i as usize, &self.ops[i as usize]))
    }

    /// The op at a history index.
    pub fn op(&self, index: u32) -> &'a Op {
        &self.ops[index as usize]
    }

    /// The observations of a partition, sorted by (offset, value, op).
    pub fn obs_of(&self, tp: u32) -> &[Obs] {
        &self.obs[self.tp_obs[tp as usize].clone()]
    }

    /// Distinct observed offsets of a partition, ascending.
    pub fn offsets_of(&self, tp: u32) -> &[i64] {
        &self.offsets[self.tp_offsets[tp as usize].clone()]
    }

    /// Distinct observed offsets of a partition within `lo..=hi`.
    pub fn offsets_between(&self, tp: u32, lo: i64, hi: i64) -> &[i64] {
        let all = self.offsets_of(tp);
        let start = all.partition_point(|&o| o < lo);
        let end = all.partition_point(|&o| o <= hi);
        if start >= end {
            &[]
        } else {
            &all[start..end]
        }
    }

    /// The first observation of a partition at an offset ≥ `offset`.
    pub fn first_obs_from(&self, tp: u32, offset: i64) -> Option<&Obs> {
        let all = self.obs_of(tp);
        all.get(all.partition_point(|o| o.offset < offset))
    }

    /// The placements of a value, sorted by (tp, offset).
    /// Number of distinct (value, partition, offset) placements read.
    pub fn placements(&self) -> u64 {
        self.occ.len() as u64
    }

    pub fn occ_of(&self, value: u32) -> &[Occ] {
        &self.occ[self.occ_start[value as usize]..self.occ_start[value as usize + 1]]
    }

    /// The lowest offset at which a value was read in a partition.
    pub fn min_read_offset(&self, value: u32, tp: u32) -> Option<i64> {
        self.occ_of(value)
            .iter()
            .find(|o| o.tp == tp)
            .map(|o| o.offset)
    }

    /// The offset a send occupies as "A" in an ordering rule (acknowledged before something
    /// else began): its acked offset, or if unknown its lowest read offset. `None` unless
    /// the send is ok and completed.
    pub fn offset_as_earlier(&self, value: u32) -> Option<i64> {
        let s = &self.sends[value as usize];
        if s.outcome != Outcome::Ok || s.complete.is_none() {
            return None;
        }
        s.acked.or_else(|| self.min_read_offset(value, s.tp))
    }

    /// The offset a send occupies as "B" (invoked after something else was acknowledged):
    /// the lowest of its acked and read offsets, since every copy was applied after its
    /// invocation. `None` for failed sends and sends with no known offset.
    pub fn offset_as_later(&self, value: u32) -> Option<i64> {
        let s = &self.sends[value as usize];
        if s.outcome == Outcome::Failed {
            return None;
        }
        match (s.acked, self.min_read_offset(value, s.tp)) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// "t/0".
    pub fn tp_name(&self, tp: u32) -> String {
        let (topic, partition) = self.tps[tp as usize];
        format!("{topic}/{partition}")
    }

    pub fn value_name(&self, value: u32) -> &'a str {
        self.value_names[value as usize]
    }
}

/// Hash of a string (the checkers' fast hasher).
fn hash_str(s: &str) -> u64 {
    std::hash::BuildHasherDefault::<FastHasher>::default().hash_one(s)
}

/// Per partition, a guessed value id per offset (a dense table over the offsets the
/// partition's sends were acknowledged at; other offsets guess nothing).
struct Guesses {
    tps: Vec<Vec<u32>>,
}

impl Guesses {
    const NONE: u32 = u32::MAX;

    fn new(ix: &Index) -> Guesses {
        let mut top: Vec<(i64, usize)> = vec![(-1, 0); ix.tps.len()];
        for s in &ix.sends {
            if let (Some(a), Some(t)) = (s.acked, top.get_mut(s.tp as usize)) {
                t.0 = t.0.max(a);
                t.1 += 1;
            }
        }
        let mut tps: Vec<Vec<u32>> = top
            .iter()
            .map(|&(max, sends)| {
                // Offsets beyond a few times the sends are not tabled (a history may carry
                // any offset): no guess there.
                let len = usize::try_from(max.saturating_add(1)).unwrap_or(0);
                vec![Self::NONE; len.min(sends.saturating_mul(4).saturating_add(1024))]
            })
            .collect();
        for (v, s) in ix.sends.iter().enumerate() {
            if let Some(a) = s.acked {
                if let Some(slot) = usize::try_from(a)
                    .ok()
                    .and_then(|a| tps[s.tp as usize].get_mut(a))
                {
                    if *slot == Self::NONE {
                        *slot = v as u32;
                    }
                }
            }
        }
        Guesses { tps }
    }

    #[inline]
    fn get(&self, tp: u32, offset: i64) -> u32 {
        usize::try_from(offset)
            .ok()
            .and_then(|o| self.tps.get(tp as usize)?.get(o))
            .copied()
            .unwrap_or(Self::NONE)
    }

    #[inline]
    fn set(&mut self, tp: u32, offset: i64, value: u32) {
        if let Some(slot) = usize::try_from(offset)
            .ok()
            .and_then(|o| self.tps.get_mut(tp as usize)?.get_mut(o))
        {
            *slot = value;
        }
    }
}

/// Sorts observations by (tp, offset, value, op): bucketed by tp, then by offset (offsets
/// are dense: a counting sort, which keeps history order, so each offset's few observations
/// are then sorted by value and op), or, when a partition's offsets spread too far, on one
/// 128-bit key. Equal keys are equal observations, so the order is fully determined.
fn sort_obs(obs: &mut Vec<Obs>, n_tps: usize) {
    let (mut by_tp, _) = by_bucket(obs, n_tps, |o| o.tp as usize);
    let mut counts: Vec<usize> = Vec::new();
    let mut at = 0;
    for bucket in by_tp.chunk_by_mut(|a, b| a.tp == b.tp) {
        let out = &mut obs[at..at + bucket.len()];
        at += bucket.len();
        let lo = bucket.iter().map(|o| o.offset).min().unwrap_or(0);
        let hi = bucket.iter().map(|o| o.offset).max().unwrap_or(0);
        let range = i128::from(hi) - i128::from(lo) + 1;
        if range > bucket.len() as i128 * 4 + 1024 {
            bucket.sort_unstable_by_key(|o| {
                (u128::from((o.offset as u64) ^ (1 << 63)) << 64)
                    | (u128::from(o.value) << 32)
                    | u128::from(o.op)
            });
            out.copy_from_slice(bucket);
            continue;
        }
        // `hi - lo` fits: the range is small.
        let index = |o: &Obs| (o.offset - lo) as usize;
        counts.clear();
        counts.resize(range as usize + 1, 0);
        for o in bucket.iter() {
            counts[index(o) + 1] += 1;
        }
        for k in 1..counts.len() {
            counts[k] += counts[k - 1];
        }
        for o in bucket.iter() {
            let slot = &mut counts[index(o)];
            out[*slot] = *o;
            *slot += 1;
        }
        for same in out.chunk_by_mut(|a, b| a.offset == b.offset) {
            if same.len() > 1 {
                same.sort_unstable_by_key(|o| (o.value, o.op));
            }
        }
    }
}

/// Sorts `items` by (`bucket`, `key`), `bucket` below `n`: a counting sort by bucket, then
/// each bucket by `key` (in a history, often already in order: histories are nearly in
/// invocation order, and a sorted run is recognised in one pass). (`bucket`, `key`) must be
/// a total order of the items (equal only for equal items), so that the result is exactly
/// that of one sort by both.
pub(super) fn sort_by_bucket<T: Copy, K: Ord>(
    items: &mut Vec<T>,
    n: usize,
    bucket: impl Fn(&T) -> usize,
    key: impl Fn(&T) -> K + Copy,
) {
    let (mut sorted, start) = by_bucket(items, n, bucket);
    for k in 0..n {
        sorted[start[k]..start[k + 1]].sort_unstable_by_key(key);
    }
    *items = sorted;
}

/// `items` grouped by `bucket` (below `n`), in their order within a bucket, and where each
/// bucket starts (`n + 1` entries).
fn by_bucket<T: Copy>(items: &[T], n: usize, bucket: impl Fn(&T) -> usize) -> (Vec<T>, Vec<usize>) {
    let mut start = vec![0usize; n + 1];
    let Some(first) = items.first().copied() else {
        return (Vec::new(), start);
    };
    for item in items {
        start[bucket(item) + 1] += 1;
    }
    for k in 0..n {
        start[k + 1] += start[k];
    }
    let mut next = start.clone();
    let mut grouped = vec![first; items.len()];
    for item in items {
        let slot = &mut next[bucket(item)];
        grouped[*slot] = *item;
        *slot += 1;
    }
    (grouped, start)
}

/// `ranges[k]` = the run of `items` (sorted by key) whose key is k.
fn ranges<T>(n: usize, items: &[T], key: impl Fn(&T) -> u32) -> Vec<Range<usize>> {
    let mut out = vec![0..0; n];
    let mut i = 0;
    while i < items.len() {
        let k = key(&items[i]);
        let start = i;
        while i < items.len() && key(&items[i]) == k {
            i += 1;
        }
        if let Some(slot) = out.get_mut(k as usize) {
            *slot = start..i;
        }
    }
    out
}
