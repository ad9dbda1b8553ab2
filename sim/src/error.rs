//! The crate's one error type. Storage operations surface these wrapped in
//! `object_store::Error::Generic { store: "sim", .. }` so product code sees the same error
//! shapes a real object store gives it; tests can recover them with [`SimError::from_store`].

use crate::storage::RequestKind;

/// Errors produced by the simulated cloud.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A profile (latency or bandwidth parameters) is not usable.
    #[error("invalid profile: {0}")]
    InvalidProfile(String),

    /// A fault injected by the fault hooks. `applied` tells whether the storage side applied
    /// the request before reporting the error (an ambiguous outcome for the caller).
    #[error(
        "injected storage fault in bucket {bucket}: {kind} {path} failed {}",
        if *applied { "AFTER it was applied (outcome ambiguous to the caller)" } else { "before it was applied" }
    )]
    InjectedFault {
        /// Bucket name.
        bucket: String,
        /// Kind of request that failed.
        kind: RequestKind,
        /// Object path (or list prefix) of the request.
        path: String,
        /// Whether the request took effect before the error was reported.
        applied: bool,
    },

    /// The bucket is in an injected outage: the endpoint refuses every request.
    #[error("storage outage in bucket {bucket}: {kind} {path} refused")]
    Outage {
        /// Bucket name.
        bucket: String,
        /// Kind of request that was refused.
        kind: RequestKind,
        /// Object path (or list prefix) of the request.
        path: String,
    },

    /// The bucket refuses writes (full disk, read-only mount, a policy that denies
    /// writes): the write was not applied. Reads still succeed.
    #[error("bucket {bucket} refuses writes: {kind} {path} not applied")]
    WriteRefused {
        /// Bucket name.
        bucket: String,
        /// Kind of request that was refused.
        kind: RequestKind,
        /// Object path of the request.
        path: String,
    },

    /// The storage node's task ended before the operation reported back (the storage node
    /// itself was killed).
    #[error("storage node lost while running {kind} {path}: {reason}")]
    StorageNodeLost {
        /// Kind of request.
        kind: RequestKind,
        /// Object path of the request.
        path: String,
        /// What the runtime said.
        reason: String,
    },

    /// The request itself is malformed (a caller bug, not a storage fault).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl SimError {
    /// The store name used in `object_store::Error::Generic`.
    pub const STORE: &'static str = "sim";

    /// Wraps this error the way the simulated store returns it.
    pub fn into_store_error(self) -> object_store::Error {
        object_store::Error::Generic {
            store: Self::STORE,
            source: Box::new(self),
        }
    }

    /// Recovers the simulator error from an error returned by the simulated store, if it is
    /// one (injected faults, outages, lost storage node, invalid request).
    pub fn from_store(err: &object_store::Error) -> Option<&SimError> {
        match err {
            object_store::Error::Generic { store, source } if *store == Self::STORE => {
                source.downcast_ref::<SimError>()
            }
            _ => None,
        }
    }
}
