//! Fault hooks of a simulated bucket, as plain data. A fault injector (the `faults` crate)
//! sets them at run time through [`super::SimObjectStore::set_faults`]; every decision is
//! drawn from the bucket's seeded RNG, so a seed reproduces the same failures.

use serde::{Deserialize, Serialize};

/// Faults currently applied to one bucket (shared by every view of it).
///
/// The default is "no faults".
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageFaults {
    /// Probability that a request fails *before* it is applied (a clean 5xx: nothing
    /// changed). Values outside [0, 1] behave like the nearest bound.
    pub fail_before_prob: f64,
    /// Probability that a request is applied and *then* reports an error (the ambiguous
    /// outcome: a PUT may be stored although the caller saw a failure).
    pub fail_after_prob: f64,
    /// Extra latency added to every request's first byte, in milliseconds (latency spike).
    pub extra_latency_ms: f64,
    /// Outage: the endpoint refuses every request quickly (after
    /// [`OUTAGE_ERROR_LATENCY_MS`]) without applying it.
    pub outage: bool,
    /// Writes refused: every write (PUT, COPY, multipart, DELETE) is refused quickly
    /// without being applied, as by a full disk, a read-only mount or a bucket policy
    /// that denies writes; reads (GET, HEAD, LIST) succeed.
    pub writes_refused: bool,
}

/// How long a refused request takes to fail during an outage (a refused connection comes
/// back after about one round trip; 1 ms).
pub const OUTAGE_ERROR_LATENCY_MS: f64 = 1.0;

impl StorageFaults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether any fault is active.
    pub fn is_active(&self) -> bool {
        self.outage
            || self.writes_refused
            || self.fail_before_prob > 0.0
            || self.fail_after_prob > 0.0
            || self.extra_latency_ms > 0.0
    }
}
