//! eddy-sim: the simulated cloud that eddy's deterministic simulation runs in.
//!
//! It implements the seams the product code (agent, control plane) sees, and nothing else:
//!
//! - [`storage`]: an in-memory [`object_store::ObjectStore`] with per-class latency models
//!   (S3 Standard, S3 Express One Zone, a DynamoDB-class regional log), conditional puts,
//!   ambiguous failures, storage-side independence from the caller, and metering.
//! - [`net`]: the AZ network seam: which IP lives in which AZ, inter-AZ delay and a byte
//!   meter per (source AZ, destination AZ) pair, as a wrapper around any async stream.
//! - [`clock`]: the simulated wall clock (a fixed epoch plus simulated elapsed time).
//!
//! This is the only crate that knows it simulates; it must never depend on another eddy
//! crate, never read the wall clock and never draw from an unseeded RNG: the same seed must
//! give a byte-identical run.

pub mod clock;
pub mod error;
pub mod net;
pub mod storage;

pub use clock::{sim_elapsed, sim_epoch, sim_now_utc};
pub use error::SimError;
pub use net::{AzMap, AzNet, AzTraffic, MeteredStream, NetMeter, NetProfile};
pub use storage::{
    AzReads, BandwidthDist, BucketMeters, LatencyDist, Meters, MetersSnapshot, NodeHandle,
    RequestCounts, RequestKind, SimObjectStore, StorageClass, StorageFaults, StorageProfile,
};

#[cfg(test)]
mod build_guard {
    /// Fails when the crate is built without `--cfg madsim` (e.g. because a `RUSTFLAGS`
    /// environment variable replaced `.cargo/config.toml`), so the simulation tests cannot
    /// silently compile out and "pass".
    #[test]
    fn built_with_madsim_cfg() {
        assert!(
            std::hint::black_box(cfg!(madsim)),
            "eddy-sim tests must be built with --cfg madsim; do not set RUSTFLAGS"
        );
    }
}
