//! The eddy control plane: a "virtual cluster" that owns all metadata of the streaming system.
//!
//! Agents write data files to object storage and then commit each file here; the control
//! plane assigns offsets atomically for every chunk of the file and keeps the partition
//! index (offset → file byte range). Every mutation is a [`Command`] journaled first and
//! then applied by the deterministic [`State::apply`]; nothing else changes the state.
//!
//! Several replicas run the same state machine over one journal on object storage; one of
//! them leads per epoch (see [`replica`]), and snapshots let a fresh replica start from
//! object storage alone (see [`snapshot`]).
//!
//! This crate is product code: it never knows whether it runs under simulation. It sees the
//! world through `object_store::ObjectStore` (the journal) and the [`net::Transport`] seam.

#![forbid(unsafe_code)]

pub mod cleanup;
pub mod client;
pub mod codec;
pub mod command;
pub mod compaction;
pub mod consistency;
pub mod error;
pub mod groups;
pub mod idempotence;
pub mod jobs;
pub mod journal;
pub mod maintainer;
#[cfg(test)]
mod maintenance_tests;
pub mod net;
pub mod plants;
pub mod replica;
pub mod retention;
pub mod rpc;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod types;

pub use client::{ClientConfig, ControlPlaneClient};
pub use command::{Command, CommandResult};
pub use error::{CpError, ErrorKind};
pub use plants::{Plant, Plants};
pub use replica::ReplicaEvent;
pub use server::{ControlPlane, ControlPlaneConfig};
pub use state::State;
pub use types::*;
