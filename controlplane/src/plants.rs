//! Planted bugs: realistic defects that can be switched back on at run time so the fuzzer
//! and checkers can be shown to catch them. All are off by default; a check of an empty set
//! is the only cost when off. Never enable them outside a test or a fuzz campaign.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plant {
    /// The agent acknowledges a produce after the PUT, with offsets it guessed from its own
    /// view of the high watermark, and commits afterwards.
    AckBeforeCommit,
    /// The control plane does not deduplicate CommitFile by file id: a retried commit
    /// assigns the file's records a second set of offsets.
    CommitNotIdempotent,
    /// A deposed control-plane leader keeps appending (the journal's conditional write
    /// loses, and it carries on as if it had won).
    NoFencing,
    /// The agent reports a cached high watermark (refreshed at most once a second) and
    /// serves reads up to it.
    StaleHighWatermark,
    /// At each new epoch the new leader recomputes every partition's high watermark from
    /// its last extent's base offset (off by that extent's length): offsets get assigned
    /// twice.
    OffsetReuseAfterFailover,
    /// Idempotent-producer sequence state is not restored after a control-plane failover.
    ProducerStateLost,
    /// The compactor drops the first batch of each merged run (the records after it shift
    /// to lower offsets).
    CompactionDropsBatch,
    /// Retention deletes the files of the extents it drops without checking that nothing
    /// else references them (and the file of the new first extent too), with no grace.
    RetentionDeletesReferenced,
    /// Orphan cleanup forgets that compaction outputs are committed files and deletes them.
    CleanupDeletesCommitted,
    /// Each follower skips applying one journal entry (the first entry carrying a file
    /// commit that it reads as a follower past entry 20, once per incarnation) and carries
    /// on: its state silently diverges from the leader's. Clients talk only to the leader,
    /// so only a comparison of the replicas' states sees it (until a follower leads).
    FollowerSkipsEntry,
    /// The agent's Metadata ignores the client's zone hint: zone-aware clients are sent to
    /// agents of every AZ (safe, but its bytes cross AZs).
    ZoneBlindMetadata,
    /// The agent's zone cache reads straight from object storage for every fetch instead of
    /// sharing pages within the AZ (safe, but GETs multiply).
    ZoneCacheBypass,
    /// The agent cuts a file as soon as anything is pending instead of batching for its
    /// batch timeout (safe, but PUTs multiply).
    FilePerRequest,
    /// The control plane's lookup takes the high watermark itself for out of range (off by
    /// one): a consumer caught up at the head is told OFFSET_OUT_OF_RANGE and resets.
    OutOfRangeAtHead,
    /// The group coordinator does not count a heartbeat as a sign of life: members that
    /// heartbeat but neither join nor sync are expelled at their session timeout, and the
    /// group rebalances again and again.
    HeartbeatIgnored,
    /// A job whose lease ran out is never handed out again: a job held by an agent that
    /// crashed stays unfinished forever, and whatever it was to compact or delete stays.
    LeaseNeverLapses,
    /// The agent's delete job leaves the last file of its batch in object storage and
    /// reports the batch deleted: storage (and its bill) grows with files nobody references.
    DeleteKeepsLast,
    /// The group coordinator accepts every offset commit without checking its member and
    /// generation: a zombie — a member expelled at its session timeout, or whose commit
    /// arrives after the group moved to a new generation — still commits, and its older
    /// positions overwrite what the partition's new owner committed.
    ZombieCommitAccepted,
    /// An abort writes its markers but does not list the transaction in its partitions'
    /// aborted transactions: read_committed consumers keep the aborted records.
    AbortNotListed,
    /// The last stable offset is taken to be the high watermark: read_committed consumers
    /// read transactions that are still open (and later abort).
    LsoIgnoresOpen,
    /// A transactional batch of an older epoch (a zombie instance fenced by InitProducerId)
    /// is indexed in its producer's current transaction instead of refused: the zombie's
    /// writes become visible when the new instance commits.
    ZombieTxnNotFenced,
    /// An abort applies the offsets committed in the transaction as a commit would: an
    /// exactly-once pipeline skips the inputs whose outputs were aborted.
    AbortAppliesOffsets,
}

impl Plant {
    pub const ALL: [Plant; 22] = [
        Plant::AckBeforeCommit,
        Plant::CommitNotIdempotent,
        Plant::NoFencing,
        Plant::StaleHighWatermark,
        Plant::OffsetReuseAfterFailover,
        Plant::ProducerStateLost,
        Plant::CompactionDropsBatch,
        Plant::RetentionDeletesReferenced,
        Plant::CleanupDeletesCommitted,
        Plant::ZoneBlindMetadata,
        Plant::ZoneCacheBypass,
        Plant::FilePerRequest,
        Plant::OutOfRangeAtHead,
        Plant::HeartbeatIgnored,
        Plant::FollowerSkipsEntry,
        Plant::LeaseNeverLapses,
        Plant::DeleteKeepsLast,
        Plant::ZombieCommitAccepted,
        Plant::AbortNotListed,
        Plant::LsoIgnoresOpen,
        Plant::ZombieTxnNotFenced,
        Plant::AbortAppliesOffsets,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Plant::AckBeforeCommit => "ack-before-commit",
            Plant::CommitNotIdempotent => "commit-not-idempotent",
            Plant::NoFencing => "no-fencing",
            Plant::StaleHighWatermark => "stale-high-watermark",
            Plant::OffsetReuseAfterFailover => "offset-reuse-after-failover",
            Plant::ProducerStateLost => "producer-state-lost",
            Plant::CompactionDropsBatch => "compaction-drops-batch",
            Plant::RetentionDeletesReferenced => "retention-deletes-referenced",
            Plant::CleanupDeletesCommitted => "cleanup-deletes-committed",
            Plant::ZoneBlindMetadata => "zone-blind-metadata",
            Plant::ZoneCacheBypass => "zone-cache-bypass",
            Plant::FilePerRequest => "file-per-request",
            Plant::OutOfRangeAtHead => "out-of-range-at-head",
            Plant::HeartbeatIgnored => "heartbeat-ignored",
            Plant::FollowerSkipsEntry => "follower-skips-entry",
            Plant::LeaseNeverLapses => "lease-never-lapses",
            Plant::DeleteKeepsLast => "delete-keeps-last",
            Plant::ZombieCommitAccepted => "zombie-commit-accepted",
            Plant::AbortNotListed => "abort-not-listed",
            Plant::LsoIgnoresOpen => "lso-ignores-open",
            Plant::ZombieTxnNotFenced => "zombie-txn-not-fenced",
            Plant::AbortAppliesOffsets => "abort-applies-offsets",
        }
    }

    pub fn parse(name: &str) -> Option<Plant> {
        Plant::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The set of planted bugs a process runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Plants(pub BTreeSet<Plant>);

impl Plants {
    pub fn none() -> Self {
        Plants::default()
    }

    pub fn has(&self, plant: Plant) -> bool {
        !self.0.is_empty() && self.0.contains(&plant)
    }
}

/// The bodies of the control plane's planted bugs. Each site in the product code is one
/// line, `if plants.has(P) { planted::…(…) }`; with no plant switched on, none of this runs.
pub(crate) mod planted {
    use std::collections::{BTreeMap, BTreeSet};

    use crate::error::{CpError, ErrorKind};
    use crate::groups::GroupError;
    use crate::types::{LookupQuery, LookupResult};

    /// `zombie-txn-not-fenced`: whether `b` comes from an older epoch than its producer id's
    /// current one (a fenced instance).
    pub fn is_zombie(txns: &crate::txn::TxnTable, b: &crate::types::ProducerBatch) -> bool {
        txns.by_producer
            .get(&b.producer_id)
            .and_then(|id| txns.by_id.get(id))
            .is_some_and(|r| b.producer_epoch < r.epoch)
    }

    /// `zombie-txn-not-fenced`: a transactional batch of an older epoch is admitted as if
    /// it were the current instance's (`None`: no refusal) when that instance has an
    /// ongoing transaction holding the partition.
    pub fn admit_zombie(
        txns: &crate::txn::TxnTable,
        topic: &str,
        partition: i32,
        b: &crate::types::ProducerBatch,
    ) -> Option<i64> {
        let current = txns
            .by_producer
            .get(&b.producer_id)
            .and_then(|id| txns.by_id.get(id))
            .map(|r| crate::types::ProducerBatch {
                producer_epoch: r.epoch,
                ..*b
            });
        match current {
            Some(as_current) if b.producer_epoch < as_current.producer_epoch => {
                txns.admits(topic, partition, &as_current)
            }
            _ => txns.admits(topic, partition, b),
        }
    }

    /// `zombie-commit-accepted`: every offset commit is allowed, whoever sends it and with
    /// whatever generation.
    pub fn accept_any_commit() -> Option<GroupError> {
        None
    }

    /// `out-of-range-at-head`: a lookup at a non-empty partition's high watermark (where a
    /// caught-up consumer waits for more) is answered OFFSET_OUT_OF_RANGE.
    pub fn out_of_range_at_head(
        queries: &[LookupQuery],
        results: &mut [Result<LookupResult, CpError>],
    ) {
        for (q, r) in queries.iter().zip(results.iter_mut()) {
            if let Ok(found) = r {
                if found.high_watermark > 0 && q.offset == found.high_watermark {
                    *r = Err(CpError::new(
                        ErrorKind::OffsetOutOfRange,
                        format!("offset {} is the high watermark", q.offset),
                    ));
                }
            }
        }
    }

    use crate::command::Command;
    use crate::idempotence::ProducerTable;
    use crate::journal::Entry;
    use crate::replica::Core;
    use crate::state::{State, TopicState};

    /// `follower-skips-entry`: a follower passes over one entry holding a file commit (the
    /// first past entry 20, once per incarnation) without applying it. True if it skipped.
    pub fn skip_entry(core: &mut Core, entry: &Entry) -> bool {
        let commits = entry
            .commands
            .iter()
            .any(|c| matches!(c, Command::CommitFile { .. }));
        if core.planted_skipped || entry.seq < 20 || !commits {
            return false;
        }
        core.planted_skipped = true;
        core.next_seq = entry.seq + 1;
        true
    }

    /// `producer-state-lost`: a new leader starts without the producers' recent sequences
    /// (ids and epochs stay), so a batch retried across the failover is indexed again.
    pub fn forget_producer_sequences(producers: &mut ProducerTable) {
        for p in producers.producers.values_mut() {
            for window in p.partitions.values_mut().flat_map(|t| t.values_mut()) {
                window.clear();
            }
        }
    }

    /// `offset-reuse-after-failover`: a new leader recomputes each high watermark from the
    /// last extent's base offset (off by its length), so the next commits reuse offsets
    /// already handed out.
    pub fn recompute_high_watermarks_off_by_one(topics: &mut BTreeMap<String, TopicState>) {
        for t in topics.values_mut() {
            for p in &mut t.partitions {
                if let Some(last) = p.extents.values().next_back() {
                    p.high_watermark = last.base_offset;
                }
            }
        }
    }

    /// `retention-deletes-referenced`: delete the files of the dropped extents, and the file
    /// of each partition's new first extent too ("everything up to the log start", off by
    /// one extent), with no reference check and no grace period.
    pub fn delete_unchecked(
        state: &mut State,
        dropped: BTreeSet<String>,
        first_kept: BTreeSet<String>,
        now_ms: u64,
    ) {
        for k in dropped.into_iter().chain(first_kept) {
            state.maintenance.compacted.remove(&k);
            state.maintenance.pending_deletes.insert(k, now_ms);
        }
    }
}
