//! The eddy agent: a stateless Kafka server. It batches what producers send into files in
//! object storage, commits each file to the control plane (which assigns offsets), answers
//! producers only after the commit, and serves fetches by reading byte ranges back.
//!
//! Product code: it never knows whether it is simulated. It sees the world through
//! `object_store::ObjectStore`, the control-plane client and the transport seam. Nothing that
//! arrives from the wire may panic it.

#![forbid(unsafe_code)]

pub mod batch;
pub mod cluster;
pub mod codes;
pub mod compactor;
pub mod config;
pub mod configs;
pub mod fetch;
pub mod groups;
pub mod guard;
pub mod handlers;
pub mod pages;
pub mod planted;
pub mod produce;
pub mod server;
pub mod tiered;
pub mod txn;
pub mod wire;
pub mod zonecache;

pub use config::AgentConfig;
pub use server::Agent;
