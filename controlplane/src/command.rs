//! Commands: the only way the control-plane state changes. Each is journaled before it is
//! applied, and applying it is deterministic, so replaying the journal rebuilds the state.

use serde::{Deserialize, Serialize};

use crate::error::CpError;
use crate::types::FileSpec;

/// Journaled with bincode ([`crate::codec`]): no internally tagged or untagged enums, no
/// `flatten` or `skip_serializing_if` here or in anything a command holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Create a topic with `partitions` partitions. Creating an existing topic is an error
    /// unless `if_not_exists` (auto-creation races between agents are normal).
    CreateTopic {
        name: String,
        partitions: i32,
        if_not_exists: bool,
    },
    /// Commit a data file: assign offsets to every chunk, atomically. Idempotent by file id.
    CommitFile {
        file: FileSpec,
        committed_at_ms: u64,
    },
    /// Record a consumer group's committed offsets (the next offset to read). Journaled so
    /// they survive a control-plane failover; membership is soft state and is not.
    CommitOffsets {
        group: String,
        offsets: Vec<crate::types::GroupOffset>,
    },
    /// Allocate a fresh idempotent producer id.
    AllocateProducerId,
    /// Start leadership epoch `epoch`, led by the replica incarnation `leader` reachable at
    /// `addr`. Written as the only command of the entry that claims a journal sequence
    /// number for a new leader; the conditional create decides who leads.
    NewEpoch {
        epoch: u64,
        leader: String,
        addr: Option<String>,
    },
    /// Compaction, retention, deletions and orphan cleanup: see [`crate::jobs`].
    Maintain { op: crate::jobs::MaintenanceCommand },
    /// Transactions: see [`crate::txn`].
    Txn { op: crate::txn::TxnCommand },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandResult {
    TopicCreated {
        partitions: i32,
    },
    /// Base offset assigned to each chunk of the file, in chunk order.
    FileCommitted {
        base_offsets: Vec<i64>,
    },
    /// A command with nothing to answer (an epoch change).
    Done,
    Rejected(CpError),
    OffsetsCommitted,
    ProducerIdAllocated {
        producer_id: i64,
    },
    Maintained(crate::jobs::MaintenanceResult),
    Txn(crate::txn::TxnAnswer),
}
