//! Simulated object storage: an in-memory [`object_store::ObjectStore`] with the latency,
//! consistency, failure and cost behaviour of S3 Standard, S3 Express One Zone and a
//! DynamoDB-class regional log.
//!
//! - Latency: first byte (heavy-tailed, per operation kind) + size / per-request bandwidth
//!   (+ an inter-AZ hop for AZ-local buckets), slept in simulated time.
//! - Consistency: strong read-after-write; conditional puts (`PutMode::Create`,
//!   `PutMode::Update`) are atomic, so a second writer loses.
//! - Independence: with a storage node, a request runs on that node, so it completes (or
//!   not) even if the caller's node dies mid-request.
//! - Faults: fail before applying, apply then fail (ambiguous), latency spikes, outages.
//! - Metering: requests by kind, bytes up/down, byte-seconds stored.
//!
//! It must never read the wall clock or an unseeded RNG.

mod faults;
mod latency;
mod meters;
mod multipart;
mod ops;
mod profile;
mod store;

#[cfg(all(test, madsim))]
mod tests;

pub use faults::{StorageFaults, OUTAGE_ERROR_LATENCY_MS};
pub use latency::{BandwidthDist, LatencyDist, MIB, Z_99};
pub use meters::{AzReads, BucketMeters, Meters, MetersSnapshot, RequestCounts, RequestKind};
pub use multipart::SimMultipartUpload;
pub use profile::{StorageClass, StorageProfile};
pub use store::{SimObjectStore, LIST_PAGE_KEYS};

/// The simulated node storage requests run on (madsim's node handle).
#[cfg(madsim)]
pub use madsim::runtime::NodeHandle;

/// Outside the simulation there are no simulated nodes: this type has no values, so the
/// only storage node a real-mode build can pass is `None`.
#[cfg(not(madsim))]
#[derive(Debug, Clone)]
pub enum NodeHandle {}
