//! Errors of the workload client. `ClientError` is the connection/protocol level error;
//! `SendError` is what a produced record resolves to when it is not acknowledged, and it says
//! whether the record was definitely *not* written or may have been (the history checker
//! treats the two differently, so never report "failed" unless it is certain).

use kafka_protocol::error::ResponseError;

/// A connection, protocol or broker error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Could not open a connection (nothing was sent).
    #[error("dial {addr}: {message}")]
    Dial {
        /// The address dialed.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The request could not be written, so the broker never saw it.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// The connection broke after the request was sent: it may have been processed.
    #[error("connection lost after the request was sent")]
    ConnectionLost,
    /// No response within the request timeout: the request may have been processed.
    #[error("request timed out after {0} ms")]
    Timeout(u64),
    /// A response could not be decoded (the request may have been processed).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The broker answered with an error code.
    #[error("broker error: {0}")]
    Broker(ResponseError),
    /// No version of an API is supported by both this client and the broker.
    #[error("api {0} not supported by the broker in a version this client speaks")]
    UnsupportedVersion(i16),
    /// Metadata names no leader for the partition (yet).
    #[error("no leader known for {topic}-{partition}")]
    NoLeader {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// No bootstrap or known broker could be reached.
    #[error("no broker reachable")]
    NoBroker,
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The producer or consumer was closed.
    #[error("client closed")]
    Closed,
}

impl ClientError {
    /// True if the request may have reached the broker and been processed even though no
    /// (usable) response came back.
    pub fn may_have_been_processed(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectionLost | ClientError::Timeout(_) | ClientError::Protocol(_)
        )
    }

    /// True if the error code asks the caller to refresh metadata before retrying.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            ClientError::Broker(e) => needs_metadata_refresh(e.code()),
            ClientError::NoLeader { .. } => true,
            other => other.may_have_been_processed() || matches!(other, ClientError::Dial { .. }),
        }
    }
}

/// Error codes after which the partition leader may have moved.
pub(crate) fn needs_metadata_refresh(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(
            ResponseError::NotLeaderOrFollower
                | ResponseError::UnknownTopicOrPartition
                | ResponseError::LeaderNotAvailable
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
                | ResponseError::KafkaStorageError
                | ResponseError::NotController
        )
    )
}

/// The outcome of a record send that was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The record was definitely not written: it was never sent, or every attempt was
    /// answered with an error that means "not appended".
    #[error("send failed, record not written: {reason}")]
    Failed {
        /// Human-readable cause.
        reason: String,
        /// The broker's error code, if the final answer came from the broker.
        error_code: Option<i16>,
    },
    /// The record may or may not have been written (an attempt timed out, lost its
    /// connection, or got an error that does not rule out the append).
    #[error("send outcome unknown: {reason}")]
    Indeterminate {
        /// Human-readable cause.
        reason: String,
    },
}

impl SendError {
    /// True for [`SendError::Failed`]: the record is certainly not in the log.
    pub fn is_definite(&self) -> bool {
        matches!(self, SendError::Failed { .. })
    }
}

/// Errors of [`crate::consumer::Consumer`] calls.
pub type ConsumeError = ClientError;
