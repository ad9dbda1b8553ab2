//! The eddy control plane: a "virtual cluster" that owns all metadata of the streaming system.
//!
//! Agents write data files to object storage and then commit each file here; the control
//! plane assigns offsets atomically for every chunk of the file and keeps the partition
//! index (offset → file byte range). Every mutation is a [`Command`] journaled first and
//! then applied by the deterministic [`State::apply`]; nothing else changes the state.
//!
//! Several replicas run the same state machine over one journal on object storage; one of
//! them leads per epoch (see `replica.rs`), and snapshots let a fresh replica start from
//! object storage alone (see `snapshot.rs`).
//!
//! The agent talks to the control plane through [`api`] alone: the wire's request and
//! answer types, the limits both sides check, and one typed call per RPC. Besides it, only
//! [`net`] (the transport seam), [`sync`] (the poison-ignoring lock) and [`plants`] (the
//! catalogue of planted bugs, switched on by configuration) are public modules; the rest is
//! private. The testbed reaches the server ([`ControlPlane`]), the state machine ([`State`],
//! [`Command`]) and replica events by the named re-exports below, and the read-only checks
//! its invariant and progress checkers run through [`inspect`].
//!
//! This crate is product code: it never knows whether it runs under simulation. It sees the
//! world through `object_store::ObjectStore` (the journal) and the [`net::Transport`] seam.

#![forbid(unsafe_code)]

pub mod api;
mod cleanup;
mod client;
mod codec;
mod command;
mod compaction;
mod consistency;
mod error;
mod groups;
mod idempotence;
mod jobs;
mod journal;
mod maintainer;
#[cfg(test)]
mod maintenance_tests;
pub mod net;
pub mod plants;
mod replica;
mod retention;
mod rpc;
mod server;
mod snapshot;
mod state;
pub mod sync;
mod txn;
mod types;

pub use command::{Command, CommandResult};
pub use jobs::MaintenanceConfig;
pub use plants::{Plant, Plants};
pub use replica::ReplicaEvent;
pub use server::{ControlPlane, ControlPlaneConfig, LOOKUP_BATCH_MS_MAX};
pub use state::State;

/// Read-only views of the control plane's state and plans, for checkers outside the crate
/// (the testbed's invariant and progress checks): the same functions the control plane runs,
/// so a checker judges by the rules the product applies.
pub mod inspect {
    pub use crate::cleanup::known_keys;
    pub use crate::compaction::planned as planned_compactions;
    pub use crate::consistency::{digest, index_faults, replay_through};
    pub use crate::jobs::{referenced_keys, JobKind, MaintenanceCommand};
    pub use crate::journal::JOURNAL_PREFIX;
    pub use crate::maintainer::now_ms;
    pub use crate::retention::planned as planned_retention;
    pub use crate::snapshot::SNAPSHOT_PREFIX;
}
