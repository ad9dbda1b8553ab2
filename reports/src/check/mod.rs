//! Checkers: decide from a recorded history whether the system kept Kafka's promises, and
//! explain every violation with the few operations that prove it. Pure: history in, verdict
//! out; never runs anything, never panics on a malformed history.
//!
//! # How it decides
//!
//! Offsets reveal the order, so every class is decided by sorting (by offset, invocation or
//! completion time) and sweeping once: O(n log n) in the number of operations and records.
//!
//! Indeterminate and failed sends need no search. Values are unique per send, so a read
//! tells exactly which send it came from: an indeterminate send is taken as applied iff some
//! read returned its value, at the offsets where it was read. Taking an unread indeterminate
//! send as "not applied" can never create a violation (no class depends on an offset that
//! nobody read holding an unknown value), so no other choice could clear one.
//!
//! # The classes (see [`Class`] for each rule)
//!
//! Only `ok` polls, list-offsets and fetch-committed are observations; a failed or
//! indeterminate poll is ignored. Records a poll returned below its `fetch_offset` (the
//! head of a whole batch) are observations of the log but are not counted as consumed.
//! A send's *acked offset* is the offset in its ok response. When an ok send's offset is
//! unknown, its lowest read offset stands in for it in the ordering checks.
//!
//! A producer's own order is judged in two halves that never overlap: pairs where the
//! earlier send was acknowledged before the later one was invoked ([`Class::NonmonotonicSend`],
//! no exemption), and pairs where it was still in flight ([`Class::SendOrder`], with Kafka's
//! exemptions for retried and moved non-idempotent sends).

mod bounds;
mod expiry;
pub(crate) mod fast_hash;
mod gap;
mod group;
mod honest;
mod index;
mod log;
mod order;
mod poll;
mod sendorder;
mod txn;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{Op, OpKind, Outcome};
use index::Index;

/// The anomaly classes, one per promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// An ok send was never read, although reads reached its offset (or read a value sent
    /// after it was acknowledged).
    LostWrite,
    /// An ok send was never read and no read reached its offset, although the history has a
    /// final drain. Checked only when the history contains drain polls.
    Unseen,
    /// A value was read at two offsets of its partition, and its send was idempotent (or
    /// [`CheckOptions::non_idempotent_at_most_once`] is set). A plain producer's retries
    /// may legally duplicate (Kafka's at-least-once contract).
    Duplicate,
    /// An offset was read with two values; or two ok sends were acknowledged at the same
    /// offset; or an ok send was read, but never at its acknowledged offset; or a value was
    /// read from a partition it was not sent to.
    InconsistentOffsets,
    /// Offsets no read ever returned, inside the range the final drain read of a partition
    /// (from the lowest offset a record-bearing drain poll asked for to the highest offset it
    /// read). eddy assigns offsets densely, so any hole is a violation. `offsets` holds the
    /// first and last missing offset.
    Gap,
    /// A was acknowledged before B was invoked (different producers, same partition) but
    /// offset(A) > offset(B).
    RealTimeOrder,
    /// A poll or ListOffsets invoked after A was acknowledged reported a high watermark
    /// ≤ offset(A).
    StaleRead,
    /// A value whose send definitely failed was read.
    AbortedRead,
    /// A consumer's poll of a partition jumped over offsets that exist (some read returned
    /// them), with no Seek or Assign by that consumer in between. A jump over offsets that
    /// nobody ever read is a [`Class::Gap`], not a skip.
    PollSkip,
    /// A consumer's poll went back to offsets it had already consumed (or returned records
    /// out of order) with no Seek or Assign by that consumer in between.
    NonmonotonicPoll,
    /// Like [`Class::RealTimeOrder`] but A and B come from the same producer: its sequential
    /// sends to a partition must get increasing offsets. No exemption: once A was
    /// acknowledged, no retry of it is pending and B was appended after it. Pairs where A
    /// was still in flight when B was invoked are [`Class::SendOrder`]'s.
    NonmonotonicSend,
    /// A producer's pipelined sends to a partition were appended out of send order: ok
    /// sends A and B of the same process and partition, A sent first (earlier `invoke_us`,
    /// ties by op id) and still in flight when B was invoked (A completed at or after B's
    /// invocation), but offset(B) < offset(A). A send's offset here is its acknowledged
    /// offset, or when the acknowledgement did not carry one its lowest read offset (the
    /// offset the other order checks give an acknowledged send); failed and indeterminate
    /// sends are not judged (no order is promised for records whose outcome the producer
    /// does not know). Exempt, only when both sends are non-idempotent: a pair where either
    /// send was retried (`attempts` > 1) and neither records `max_in_flight` 1 (a retry may
    /// land after a later request; `max_in_flight` 1 keeps order through retries); and a
    /// pair whose `broker`s are both known and differ (no order promise across a move to
    /// another broker). Idempotent sends are never exempt. One violation per B, naming the
    /// highest such A. Pairs where A was acknowledged before B was invoked are
    /// [`Class::NonmonotonicSend`]'s, so no pair is reported as both.
    SendOrder,
    /// A group's committed offset for a partition went backwards: an ok commit or an ok
    /// FetchCommitted invoked after an ok commit of offset c completed carries an offset
    /// below c. A Seek on that partition by a member of the group resets the rule (a rewind
    /// is the user's choice): commits invoked before the seek no longer count.
    CommitRegression,
    /// At-least-once broken: offsets below the group's highest committed offset that some
    /// read returned but no member of the group ever consumed. Counted from the lowest offset
    /// the group fetched from or committed; a member's Seek to k waives offsets below k.
    /// Members: processes with an Assign, Commit or FetchCommitted of the group, and polls
    /// tagged with the group.
    GroupSkip,
    /// A zombie's commit was accepted: an ok commit carrying member `m` and generation
    /// `g` ≥ 0 was invoked after an Assign of the same group with a later generation
    /// `g'` > `g` completed, whose JoinGroup was sent (`joined_us`) after the Assign that
    /// gave `m` generation `g` completed. The coordinator had moved on to `g'` before the
    /// commit was sent, so it must refuse it (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or
    /// REBALANCE_IN_PROGRESS, as Kafka's GroupCoordinator does). Generations are compared
    /// only after the committing member's own Assign of `g`: a JoinGroup sent after that
    /// was answered by the coordinator that knew `m`, so the two numbers come from one
    /// group's history even where a coordinator failover restarts them. Judged: commits
    /// carrying a generation and member that the history proves stale when invoked (all
    /// outcomes); commits or Assigns without `generation`, `member` or `joined_us` are not
    /// judged.
    ZombieCommit,
    /// Retention deleted a record younger than its horizon: a LogStart op (carrying the
    /// retention by time in force) completed less than the horizon after the send of an
    /// acknowledged offset below its log start was invoked.
    ExpiredEarly,
    /// A read_committed poll returned a record of a transaction that did not commit: one
    /// ended by an ok abort, whose every commit request failed, or that never ended (no
    /// `txn_end`: its producer stopped mid-transaction). A transaction whose commit is
    /// indeterminate is not judged. Judged: records of transactional sends returned by
    /// read_committed polls.
    TxnAbortedRead,
    /// A read_committed poll returned a record of a transaction that was still open: the
    /// poll completed before the transaction's first commit `txn_end` was invoked. Judged:
    /// records of transactional sends returned by read_committed polls.
    TxnUncommittedRead,
    /// A committed transaction (an ok commit `txn_end`) lost a record: one of its ok sends
    /// is missing from the final drain (records below a reported log start excepted).
    /// Judged only with a drain: the ok sends of committed transactions.
    TxnLostWrite,
    /// A transaction's records were not made visible atomically: a read_committed poll
    /// returned one of its records while another of its sends acknowledged (or given an
    /// offset) is missing from the final drain; or a read_committed poll returned records
    /// of a partition on both sides of the acknowledged offset of a record of a committed
    /// transaction (or of an indeterminate one that read_committed reads saw) without it.
    /// Aborted transactions are not judged (their records are [`Class::TxnAbortedRead`]'s).
    /// A committed transaction's record missing from the drain is also
    /// [`Class::TxnLostWrite`]. Judged: committed transactions (and indeterminate ones
    /// read by read_committed).
    TxnTorn,
    /// Exactly-once broken by duplication: the final drain holds two records of visible
    /// transactions (committed, or indeterminate and read by read_committed) derived from
    /// the same input record (`source`). Judged: drained outputs with a `source`.
    EosDuplicate,
    /// Exactly-once broken by loss: a group committed, inside a visible transaction
    /// (a `commit` with `txn`), offset c of an input partition, but an input record at an
    /// offset below c — from the lowest offset the pipeline fetched from or the group
    /// committed — is the `source` of no output of a visible transaction. Every input
    /// record read (any read, not a record of a transaction that is not visible) counts: a
    /// pipeline may lose nothing. Judged: input records below the committed offsets.
    EosLost,
    /// A fenced producer's write became visible: a record returned by a read_committed poll
    /// (the drain's included) whose send carries transactional id X and epoch e was
    /// invoked after an ok `txn_init` of X with an epoch above e completed. Judged:
    /// records read by read_committed whose send carries an epoch and a transactional id.
    ZombieWrite,
    /// A `fetch_committed` returned an offset that only TxnOffsetCommits of transactions
    /// that did not commit wrote (no other commit of that group, partition and offset that
    /// was not refused): offsets committed in a transaction apply only if it commits.
    /// Judged: fetches of a group and partition some TxnOffsetCommit was for.
    TxnAbortedOffsets,
    /// A cycle of visible transactions (Elle's G0 and G1c). Edges: wr, T1 → T2 when a
    /// read_committed poll with `txn` T2 returned a record of T1; ww, only between
    /// transactions of one transactional id (Kafka orders nothing across ids: their
    /// transactions may interleave), T1 → T2 when in some partition a record of T1 is at
    /// an offset right below one of T2 (interleaved records in one partition are thus a
    /// cycle); and session order, T1 → T2 of one transactional id when T1's commit
    /// `txn_end` completed before T2's was invoked. Judged: visible transactions.
    TxnCycle,
    /// Beyond safety: the 99th percentile of produce-ack latency over the sends invoked
    /// outside fault windows is above the run's bound ([`LatencyBounds`]).
    ProduceLatency,
    /// Beyond safety: the 99th percentile of delivery latency (send to each consumer's
    /// first read) over the sends invoked outside fault windows is above the run's bound.
    DeliveryLatency,
    /// Beyond safety, judged from a run's meters (not from a history): zone-aware clients
    /// sent or received a larger share of their Kafka bytes across AZs than the run's bound.
    CrossAzTraffic,
    /// Beyond safety, judged from a run's meters: object-storage requests above what the
    /// scenario's model needs — PUTs to the ingest bucket above one file per agent per
    /// batch timeout (plus size-triggered cuts), or GETs from an AZ above one per page of
    /// data written — the requests a cost per GiB ingested is made of.
    StorageRequests,
    /// Beyond safety: a client was given an error the state did not justify — a fetch
    /// answered OFFSET_OUT_OF_RANGE (the consumer's reset, a Seek with `reset_from`) at an
    /// offset the history proves was inside [log start, high watermark] at that time.
    UnjustifiedError,
    /// Beyond safety, judged from a run's assignments and fault log: a consumer group was
    /// still rebalancing, or ended split or with partitions unassigned or held twice, once
    /// its members had stopped failing for longer than its timeouts allow.
    RebalanceIncomplete,
    /// Beyond safety, judged from observations of the leader's state and the buckets:
    /// background work that fell due (a compaction, a job, a deletion after its grace, a
    /// retention advance, an orphan's cleanup) stayed undone through a fault-free stretch
    /// longer than the scenario's maintenance settings allow.
    BackgroundStalled,
    /// Beyond safety, judged from the history and the run's fault log: during a fault
    /// family where the design promises service (an agent lost, a node paused, packets
    /// lost, a slow store), partitions that wanted a write or a read were served in a
    /// smaller share of the time than the scenario's floor.
    Unavailable,
    /// Beyond the history: a consistency check of the system's own state failed (not
    /// decided from the history but added by the run, with the simulated time, the replica
    /// and journal entry, and the evidence in the explanation). Replicas that applied the
    /// same journal entry disagree on the state digest; the journal has a hole or a replica
    /// did not apply every entry; the state rebuilt from the latest snapshot and the journal
    /// tail differs from the leader's; a partition's index has a gap or an overlap or does
    /// not end at its high watermark; or a file the index references is missing from
    /// object storage.
    Invariant,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 34] = [
        Class::LostWrite,
        Class::Unseen,
        Class::Duplicate,
        Class::InconsistentOffsets,
        Class::Gap,
        Class::RealTimeOrder,
        Class::StaleRead,
        Class::AbortedRead,
        Class::PollSkip,
        Class::NonmonotonicPoll,
        Class::NonmonotonicSend,
        Class::SendOrder,
        Class::CommitRegression,
        Class::GroupSkip,
        Class::ZombieCommit,
        Class::ExpiredEarly,
        Class::TxnAbortedRead,
        Class::TxnUncommittedRead,
        Class::TxnLostWrite,
        Class::TxnTorn,
        Class::EosDuplicate,
        Class::EosLost,
        Class::ZombieWrite,
        Class::TxnAbortedOffsets,
        Class::TxnCycle,
        Class::ProduceLatency,
        Class::DeliveryLatency,
        Class::CrossAzTraffic,
        Class::StorageRequests,
        Class::UnjustifiedError,
        Class::RebalanceIncomplete,
        Class::BackgroundStalled,
        Class::Unavailable,
        Class::Invariant,
    ];

    /// The snake_case name used in JSON and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Class::LostWrite => "lost_write",
            Class::Unseen => "unseen",
            Class::Duplicate => "duplicate",
            Class::InconsistentOffsets => "inconsistent_offsets",
            Class::Gap => "gap",
            Class::RealTimeOrder => "real_time_order",
            Class::StaleRead => "stale_read",
            Class::AbortedRead => "aborted_read",
            Class::PollSkip => "poll_skip",
            Class::NonmonotonicPoll => "nonmonotonic_poll",
            Class::NonmonotonicSend => "nonmonotonic_send",
            Class::SendOrder => "send_order",
            Class::CommitRegression => "commit_regression",
            Class::GroupSkip => "group_skip",
            Class::ZombieCommit => "zombie_commit",
            Class::ExpiredEarly => "expired_early",
            Class::TxnAbortedRead => "txn_aborted_read",
            Class::TxnUncommittedRead => "txn_uncommitted_read",
            Class::TxnLostWrite => "txn_lost_write",
            Class::TxnTorn => "txn_torn",
            Class::EosDuplicate => "eos_duplicate",
            Class::EosLost => "eos_lost",
            Class::ZombieWrite => "zombie_write",
            Class::TxnAbortedOffsets => "txn_aborted_offsets",
            Class::TxnCycle => "txn_cycle",
            Class::ProduceLatency => "produce_latency",
            Class::DeliveryLatency => "delivery_latency",
            Class::CrossAzTraffic => "cross_az_traffic",
            Class::StorageRequests => "storage_requests",
            Class::UnjustifiedError => "unjustified_error",
            Class::RebalanceIncomplete => "rebalance_incomplete",
            Class::BackgroundStalled => "background_stalled",
            Class::Unavailable => "unavailable",
            Class::Invariant => "invariant",
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One violation and the operations that prove it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Which promise was broken.
    pub class: Class,
    /// A sentence a person can check against the listed ops (ids, processes, times).
    pub explanation: String,
    /// Ids of the operations involved.
    pub ops: Vec<u64>,
    /// The topic concerned.
    pub topic: String,
    /// The partition concerned.
    pub partition: i32,
    /// The offsets concerned (for [`Class::Gap`]: first and last missing offset).
    pub offsets: Vec<i64>,
    /// The values concerned.
    pub values: Vec<String>,
}

impl Violation {
    /// A violation found outside the history (a run's meters, assignments or internal
    /// state): no values, and no partition unless the evidence names one.
    pub fn of_run(class: Class, ops: Vec<u64>, explanation: String) -> Violation {
        Violation {
            class,
            explanation,
            ops,
            topic: String::new(),
            partition: -1,
            offsets: Vec::new(),
            values: Vec::new(),
        }
    }
}

/// What the checkers concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Violations, sorted by class, topic, partition and ops; at most
    /// [`CheckOptions::max_violations_per_class`] per class (the counts are exact).
    pub violations: Vec<Violation>,
    /// Number of violations found per class (every class listed, zeros included).
    pub counts: BTreeMap<Class, u64>,
    /// Number of operations in the history.
    pub ops_checked: u64,
    /// What each class judged (every class listed): sends, records, polls, commits, LogStart
    /// ops or latency samples, as [`Class`] describes its rule. A class that judged nothing
    /// cannot have found anything.
    #[serde(default)]
    pub judged: BTreeMap<Class, u64>,
    /// Classes that apply to this history but judged nothing, and why: a checker silently
    /// switched off by the run's configuration is a warning, never a pass.
    #[serde(default)]
    pub silent: Vec<Silent>,
}

/// A class that judged nothing although the history has what it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silent {
    pub class: Class,
    pub reason: String,
}

impl Verdict {
    /// True when no class found anything.
    pub fn is_valid(&self) -> bool {
        self.total() == 0
    }

    /// Total number of violations found (including those not listed).
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Adds a violation found outside the history (a run's meters or internal state):
    /// counted exactly, listed while its class has fewer than the default
    /// [`CheckOptions::max_violations_per_class`], kept in the verdict's order.
    pub fn add(&mut self, violation: Violation) {
        let class = violation.class;
        *self.counts.entry(class).or_insert(0) += 1;
        let listed = self.violations.iter().filter(|v| v.class == class).count();
        if listed < CheckOptions::default().max_violations_per_class {
            self.violations.push(violation);
            self.violations.sort_by(report_order);
        }
    }

    /// Records that `class` judged `n` more items (see [`Verdict::judged`]).
    pub fn add_judged(&mut self, class: Class, n: u64) {
        *self.judged.entry(class).or_insert(0) += n;
    }

    /// The classes with at least one violation, in report order.
    pub fn classes(&self) -> Vec<Class> {
        Class::ALL
            .into_iter()
            .filter(|c| self.counts.get(c).copied().unwrap_or(0) > 0)
            .collect()
    }
}

/// Knobs of the checkers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckOptions {
    /// Hold non-idempotent sends to at-most-once too (for runs where the producer never
    /// retries, or no fault could cause a retry). Default false: Kafka allows duplicates.
    pub non_idempotent_at_most_once: bool,
    /// Violations listed per class; counts stay exact. Bounds the report of a run where
    /// one bug makes thousands of violations.
    pub max_violations_per_class: usize,
    /// Latency promises to judge (`None`: latency is measured, not judged).
    pub latency: Option<LatencyBounds>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            non_idempotent_at_most_once: false,
            max_violations_per_class: 1000,
            latency: None,
        }
    }
}

pub use bounds::LatencyBounds;

/// Checks a history with the default options.
pub fn check(ops: &[Op]) -> Verdict {
    check_with(ops, &CheckOptions::default())
}

/// Checks a history: every class of [`Class`], in one pass of sorts and sweeps.
pub fn check_with(ops: &[Op], options: &CheckOptions) -> Verdict {
    let ix = Index::build(ops);
    let mut sink = Sink::new(options.max_violations_per_class);
    log::check(&ix, options, &mut sink);
    gap::check(&ix, &mut sink);
    let log_starts_judged = expiry::check(&ix, &mut sink);
    sink.judged(Class::ExpiredEarly, log_starts_judged);
    judged_by_index(&ix, &mut sink);
    let resets_judged = honest::check(&ix, &mut sink);
    sink.judged(Class::UnjustifiedError, resets_judged);
    order::check(&ix, &mut sink);
    sendorder::check(&ix, &mut sink);
    poll::check(&ix, &mut sink);
    let stale_commits = group::check(&ix, &mut sink);
    sink.judged(Class::ZombieCommit, stale_commits);
    txn::check(&ix, &mut sink);
    if let Some(bounds) = &options.latency {
        bounds::check(ops, bounds, &mut sink);
    }
    let mut silent = silent(&ix, options, &sink.judged);
    silent.extend(txn::silent(&ix, &sink.judged));
    let mut verdict = sink.finish(ops.len() as u64);
    verdict.silent = silent;
    verdict
}

/// What the history-wide classes judged, counted from the index (see [`Verdict::judged`]).
fn judged_by_index(ix: &Index, sink: &mut Sink) {
    let ok_sends = ix.sends.iter().filter(|s| s.outcome == Outcome::Ok).count() as u64;
    let placed = ix
        .sends
        .iter()
        .enumerate()
        .filter(|(v, s)| {
            s.outcome == Outcome::Ok && (s.acked.is_some() || !ix.occ_of(*v as u32).is_empty())
        })
        .count() as u64;
    let failed = ix
        .sends
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .count() as u64;
    let read_values = (0..ix.sends.len() as u32)
        .filter(|&v| !ix.occ_of(v).is_empty())
        .count() as u64;
    let (mut polls, mut hw_reads, mut commits, mut drained) = (0u64, 0u64, 0u64, 0u64);
    let mut drained_tps = std::collections::BTreeSet::new();
    for (i, op) in ix.others() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        match &op.kind {
            OpKind::Poll {
                records,
                high_watermark,
                drain,
                ..
            } => {
                if *drain {
                    drained_tps.insert(ix.op_tp[i]);
                } else if !records.is_empty() {
                    polls += 1;
                }
                hw_reads += high_watermark.is_some() as u64;
            }
            OpKind::ListOffsets { .. } => hw_reads += 1,
            OpKind::Commit { .. } | OpKind::FetchCommitted { .. } => commits += 1,
            _ => {}
        }
    }
    drained += drained_tps.len() as u64;
    let judged = [
        (Class::LostWrite, ok_sends),
        (Class::Unseen, if ix.has_drain { ok_sends } else { 0 }),
        (Class::Duplicate, read_values),
        (Class::InconsistentOffsets, ix.placements()),
        (Class::Gap, drained),
        (Class::RealTimeOrder, placed),
        (Class::StaleRead, hw_reads),
        (Class::AbortedRead, failed),
        (Class::PollSkip, polls),
        (Class::NonmonotonicPoll, polls),
        (Class::NonmonotonicSend, placed),
        (Class::SendOrder, placed),
        (Class::CommitRegression, commits),
        (Class::GroupSkip, commits),
    ];
    for (class, n) in judged {
        sink.judged(class, n);
    }
}

/// Classes that apply to the history but judged nothing (see [`Verdict::silent`]).
fn silent(ix: &Index, options: &CheckOptions, judged: &BTreeMap<Class, u64>) -> Vec<Silent> {
    let none = |c: Class| judged.get(&c).copied().unwrap_or(0) == 0;
    let mut out = Vec::new();
    let has_ok_sends = ix.sends.iter().any(|s| s.outcome == Outcome::Ok);
    if has_ok_sends && !ix.has_drain {
        for class in [Class::Unseen, Class::Gap] {
            out.push(Silent {
                class,
                reason: "the history has no final drain (no poll marked `drain`)".into(),
            });
        }
    }
    let log_starts = ix
        .others()
        .filter(|(_, op)| matches!(op.kind, OpKind::LogStart { .. }))
        .count();
    if log_starts > 0 && none(Class::ExpiredEarly) {
        out.push(Silent {
            class: Class::ExpiredEarly,
            reason: format!(
                "{log_starts} log_start op(s), none judgeable: no `horizon_ms`, or a \
                 `bytes_limit` without `record_bytes_max`"
            ),
        });
    }
    if let Some(b) = &options.latency {
        for (class, bound) in [
            (Class::ProduceLatency, b.produce_ack_p99_ms),
            (Class::DeliveryLatency, b.delivery_p99_ms),
        ] {
            if bound.is_some() && none(class) {
                out.push(Silent {
                    class,
                    reason: format!(
                        "fewer than {} samples outside fault windows and warm-up",
                        b.min_samples.max(1)
                    ),
                });
            }
        }
    }
    out
}

/// Collects violations, counting all and keeping the first `cap` per class.
struct Sink {
    cap: usize,
    kept: BTreeMap<Class, Vec<Violation>>,
    counts: BTreeMap<Class, u64>,
    judged: BTreeMap<Class, u64>,
}

impl Sink {
    fn new(cap: usize) -> Self {
        Sink {
            cap,
            kept: BTreeMap::new(),
            counts: Class::ALL.into_iter().map(|c| (c, 0)).collect(),
            judged: Class::ALL.into_iter().map(|c| (c, 0)).collect(),
        }
    }

    /// Records that `class` judged `n` operations, records or samples.
    fn judged(&mut self, class: Class, n: u64) {
        *self.judged.entry(class).or_insert(0) += n;
    }

    /// Counts a violation; builds it only while the class is under its cap.
    fn push(&mut self, class: Class, build: impl FnOnce() -> Violation) {
        *self.counts.entry(class).or_insert(0) += 1;
        let kept = self.kept.entry(class).or_default();
        if kept.len() < self.cap {
            kept.push(build());
        }
    }

    fn finish(self, ops_checked: u64) -> Verdict {
        let mut violations: Vec<Violation> = self.kept.into_values().flatten().collect();
        violations.sort_by(report_order);
        Verdict {
            violations,
            counts: self.counts,
            ops_checked,
            judged: self.judged,
            silent: Vec::new(),
        }
    }
}

/// The order of [`Verdict::violations`]: class, topic, partition, ops, offsets.
fn report_order(a: &Violation, b: &Violation) -> std::cmp::Ordering {
    (a.class, &a.topic, a.partition, &a.ops, &a.offsets).cmp(&(
        b.class,
        &b.topic,
        b.partition,
        &b.ops,
        &b.offsets,
    ))
}

/// Formats simulated microseconds as seconds with six decimals ("12.000250s").
pub(crate) fn fmt_us(us: u64) -> String {
    format!("{}.{:06}s", us / 1_000_000, us % 1_000_000)
}

/// "op 17 (producer-0, invoked 1.000000s, completed 1.250000s)".
pub(crate) fn describe(op: &Op) -> String {
    match op.complete_us {
        Some(c) => format!(
            "op {} ({}, invoked {}, completed {})",
            op.id,
            op.process,
            fmt_us(op.invoke_us),
            fmt_us(c)
        ),
        None => format!(
            "op {} ({}, invoked {}, never completed)",
            op.id,
            op.process,
            fmt_us(op.invoke_us)
        ),
    }
}
