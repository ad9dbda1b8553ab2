//! Tests of the simulated object store: conformance with `object_store` semantics, the
//! latency model, storage-side independence from the caller, fault hooks and metering.

mod conformance;
mod determinism;
mod faults;
mod independence;
mod latency;
mod meters;

use object_store::path::Path;

use super::{Meters, SimObjectStore, StorageProfile};

/// A bucket without a storage node (requests run inline in the caller's task).
fn inline_store(profile: StorageProfile, seed: u64) -> SimObjectStore {
    SimObjectStore::new("bucket", profile, None, Meters::new(), seed, None)
}

fn path(s: &str) -> Path {
    Path::from(s)
}

/// Asserts `actual` is within 10 µs of `expected` (madsim advances its clock by a few tens
/// of ns per scheduling step, so simulated durations are not exact to the nanosecond).
fn assert_close(actual: std::time::Duration, expected: std::time::Duration) {
    let diff = actual.abs_diff(expected);
    assert!(
        diff < std::time::Duration::from_micros(10),
        "{actual:?} is not {expected:?}"
    );
}
