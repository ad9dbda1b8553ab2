//! Shared setup of the simulated-node tests: the storage node every bucket lives on.

use eddy_sim::{Meters, SimObjectStore, StorageProfile};
use madsim::runtime::{Handle, NodeHandle};

/// The node simulated object storage runs its operations on ("s3", 10.0.0.1): an operation
/// in flight completes there even if the calling node dies.
pub fn storage_node() -> NodeHandle {
    Handle::current()
        .create_node()
        .name("s3")
        .ip("10.0.0.1".parse().unwrap())
        .build()
}

/// A bucket on `node` with `profile`, metered into `meters`, its latencies drawn from `seed`.
pub fn bucket(
    name: &str,
    profile: StorageProfile,
    meters: Meters,
    seed: u64,
    node: &NodeHandle,
) -> SimObjectStore {
    SimObjectStore::new(name, profile, None, meters, seed, Some(node.clone()))
}
