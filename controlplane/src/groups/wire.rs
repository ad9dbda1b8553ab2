//! What crosses the wire for group coordination: the requests agents forward, the answers
//! and refusals.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::GroupOffset;

use super::{SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRequest {
    Join {
        group: String,
        /// Empty for a new member: the coordinator assigns one.
        member_id: String,
        client_id: String,
        /// Where the member connects from, as Kafka shows it (`/10.0.1.5`); for DescribeGroups.
        #[serde(default)]
        client_host: String,
        protocol_type: String,
        /// (protocol name, metadata) in the member's order of preference.
        protocols: Vec<(String, Vec<u8>)>,
        session_timeout_ms: u64,
        rebalance_timeout_ms: u64,
    },
    Sync {
        group: String,
        member_id: String,
        generation: i32,
        /// The leader's assignment: (member id, assignment bytes); empty from followers.
        assignments: Vec<(String, Vec<u8>)>,
    },
    Heartbeat {
        group: String,
        member_id: String,
        generation: i32,
    },
    Leave {
        group: String,
        member_ids: Vec<String>,
    },
    /// Commit offsets. `generation` < 0 commits without membership (a simple consumer).
    CommitOffsets {
        group: String,
        member_id: String,
        generation: i32,
        offsets: Vec<GroupOffset>,
    },
    /// Committed offsets of `partitions` (all of the group's when `None`).
    FetchOffsets {
        group: String,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// Every group: those with members and those with committed offsets only.
    List,
    /// State, protocol and members of each group (unknown groups are `Dead`).
    Describe { groups: Vec<String> },
}

/// One group in a [`GroupResponse::Listed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupListing {
    pub group: String,
    /// Empty for a group that only has committed offsets (as in Kafka).
    pub protocol_type: String,
    /// Kafka's group state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`,
    /// `Stable` (or `Dead` for a group nobody knows).
    pub state: String,
}

/// One group in a [`GroupResponse::Described`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDescription {
    pub group: String,
    pub state: String,
    pub protocol_type: String,
    /// The chosen assignment protocol (`range`, …) once the group is stable; else empty.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// One member in a [`GroupDescription`]. Metadata and assignment are filled in only while
/// the group is stable, as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

impl GroupRequest {
    /// How long the coordinator may legitimately hold this request (JoinGroup and
    /// SyncGroup wait for the other members): RPC clients add it to their timeout.
    pub fn wait_hint(&self) -> Duration {
        match self {
            GroupRequest::Join {
                rebalance_timeout_ms,
                ..
            } => Duration::from_millis((*rebalance_timeout_ms).min(SESSION_TIMEOUT_MS_MAX)),
            GroupRequest::Sync { .. } => Duration::from_millis(SESSION_TIMEOUT_MS_MIN * 60),
            _ => Duration::ZERO,
        }
    }
}

/// Why a group request was refused; the agent maps these to Kafka error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupError {
    UnknownMemberId,
    IllegalGeneration,
    RebalanceInProgress,
    InconsistentGroupProtocol,
    InvalidSessionTimeout,
    GroupMaxSizeReached,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupResponse {
    Joined {
        generation: i32,
        protocol_type: String,
        protocol_name: String,
        leader: String,
        member_id: String,
        /// Every member with its metadata for the chosen protocol (the leader only).
        members: Vec<(String, Vec<u8>)>,
    },
    Synced {
        protocol_type: String,
        protocol_name: String,
        assignment: Vec<u8>,
    },
    Done,
    Offsets {
        /// (topic, partition, offset or -1)
        offsets: Vec<GroupOffset>,
        /// Partitions with offsets committed in a transaction still open (KIP-447): a
        /// consumer that asks for stable offsets is told UNSTABLE_OFFSET_COMMIT and asks
        /// again, so a new owner never starts below what that transaction may commit.
        unstable: Vec<(String, i32)>,
    },
    Listed {
        groups: Vec<GroupListing>,
    },
    Described {
        groups: Vec<GroupDescription>,
    },
    Error(GroupError),
}
