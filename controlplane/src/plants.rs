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
    /// Recovery replays the journal but drops the effects of its last entry while
    /// continuing after it: offsets get assigned twice.
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
}

impl Plant {
    pub const ALL: [Plant; 9] = [
        Plant::AckBeforeCommit,
        Plant::CommitNotIdempotent,
        Plant::NoFencing,
        Plant::StaleHighWatermark,
        Plant::OffsetReuseAfterFailover,
        Plant::ProducerStateLost,
        Plant::CompactionDropsBatch,
        Plant::RetentionDeletesReferenced,
        Plant::CleanupDeletesCommitted,
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
