//! Errors of the control plane, coarse enough that a caller knows whether to retry.

use serde::{Deserialize, Serialize};

/// What kind of failure happened, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The control plane could not be reached or did not answer in time. The command may or
    /// may not have been applied: retry idempotent commands.
    Unavailable,
    /// This replica is not the leader; retry on another one.
    NotLeader,
    /// The topic or partition does not exist.
    UnknownTopicOrPartition,
    /// The requested offset is outside `[log_start, high_watermark]`.
    OffsetOutOfRange,
    /// The topic already exists.
    TopicExists,
    /// The request is malformed or violates a limit; retrying will not help.
    Invalid,
    /// A bug or a broken invariant.
    Internal,
    /// Transactions (Kafka's error of the same name): a newer instance of the
    /// transactional id holds a later epoch.
    ProducerFenced,
    /// The producer id does not belong to the transactional id (or the id is unknown).
    InvalidProducerIdMapping,
    /// The request does not fit the transaction's state.
    InvalidTxnState,
    /// The transaction timeout asked for is outside the allowed range.
    InvalidTransactionTimeout,
}

impl ErrorKind {
    /// Whether retrying the same request later can succeed.
    pub fn is_retriable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::NotLeader)
    }
}

/// An error answered by (or on the way to) the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct CpError {
    pub kind: ErrorKind,
    pub message: String,
    /// With [`ErrorKind::NotLeader`]: the address of the replica this one believes leads
    /// (`host:port`), when it knows; clients go there next instead of probing.
    #[serde(default)]
    pub leader: Option<String>,
}

impl CpError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CpError {
            kind,
            message: message.into(),
            leader: None,
        }
    }
    /// "Not the leader; try `leader`".
    pub fn not_leader(message: impl Into<String>, leader: Option<String>) -> Self {
        CpError {
            leader,
            ..Self::new(ErrorKind::NotLeader, message)
        }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}
