//! Bytes sent per (source AZ, destination AZ) pair: the input of the inter-AZ transfer bill
//! and of the AZ traffic matrix in reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Bytes sent from one AZ to another (or within one AZ when `src == dst`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AzTraffic {
    /// Sending AZ.
    pub src: String,
    /// Receiving AZ.
    pub dst: String,
    /// Bytes sent.
    pub bytes: u64,
}

/// One counter per (source AZ, destination AZ).
type PairCounters = BTreeMap<(String, String), Arc<AtomicU64>>;

/// Shared byte counters per (source AZ, destination AZ). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct NetMeter {
    pairs: Arc<Mutex<PairCounters>>,
}

impl NetMeter {
    /// An empty meter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter of one pair, created at zero if new. Streams keep it to count without
    /// looking the pair up on every write.
    pub fn counter(&self, src: &str, dst: &str) -> Arc<AtomicU64> {
        let mut pairs = self.pairs.lock();
        Arc::clone(pairs.entry((src.to_string(), dst.to_string())).or_default())
    }

    /// Adds `bytes` sent from `src` to `dst`.
    pub fn record(&self, src: &str, dst: &str, bytes: u64) {
        self.counter(src, dst).fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes sent from `src` to `dst` so far.
    pub fn bytes(&self, src: &str, dst: &str) -> u64 {
        self.pairs
            .lock()
            .get(&(src.to_string(), dst.to_string()))
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Bytes that crossed an AZ boundary (`src != dst`).
    pub fn inter_az_bytes(&self) -> u64 {
        self.pairs
            .lock()
            .iter()
            .filter(|((src, dst), _)| src != dst)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Every pair with its bytes, ordered by (src, dst); pairs with zero bytes included.
    pub fn snapshot(&self) -> Vec<AzTraffic> {
        self.pairs
            .lock()
            .iter()
            .map(|((src, dst), c)| AzTraffic {
                src: src.clone(),
                dst: dst.clone(),
                bytes: c.load(Ordering::Relaxed),
            })
            .collect()
    }
}
