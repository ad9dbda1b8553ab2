//! Which IP address lives in which availability zone. Built by the topology builder and
//! shared (cheap clones) by every seam that needs to attribute traffic to an AZ.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// The AZ name given to addresses that are not in the map.
pub const UNKNOWN_AZ: &str = "unknown";

/// IP address → AZ name. Cheap to clone; clones share the map, so nodes added later
/// (autoscaling) are seen by everyone.
#[derive(Debug, Clone, Default)]
pub struct AzMap {
    map: Arc<Mutex<BTreeMap<IpAddr, String>>>,
}

impl AzMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Places `ip` in `az` (replacing a previous placement).
    pub fn insert(&self, ip: IpAddr, az: impl Into<String>) {
        self.map.lock().insert(ip, az.into());
    }

    /// Removes `ip` from the map.
    pub fn remove(&self, ip: &IpAddr) {
        self.map.lock().remove(ip);
    }

    /// The AZ of `ip`, if mapped.
    pub fn az_of(&self, ip: &IpAddr) -> Option<String> {
        self.map.lock().get(ip).cloned()
    }

    /// The AZ of `ip`, or [`UNKNOWN_AZ`].
    pub fn az_of_or_unknown(&self, ip: &IpAddr) -> String {
        self.az_of(ip).unwrap_or_else(|| UNKNOWN_AZ.to_string())
    }

    /// Every placement, ordered by address.
    pub fn entries(&self) -> Vec<(IpAddr, String)> {
        self.map
            .lock()
            .iter()
            .map(|(ip, az)| (*ip, az.clone()))
            .collect()
    }

    /// The distinct AZ names, in order.
    pub fn azs(&self) -> Vec<String> {
        let mut azs: Vec<String> = self.map.lock().values().cloned().collect();
        azs.sort();
        azs.dedup();
        azs
    }
}
