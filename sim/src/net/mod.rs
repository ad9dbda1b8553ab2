//! The AZ network seam. madsim simulates TCP with one global latency range and no per-link
//! byte counters, so eddy adds what an AZ-aware network needs at the transport seam:
//!
//! - [`AzMap`]: which IP address lives in which AZ (filled in by the topology builder);
//! - [`NetMeter`]: bytes sent per (source AZ, destination AZ) pair, for the inter-AZ bill;
//! - [`NetProfile`]: the extra one-way delay of an inter-AZ (or intra-AZ) hop;
//! - [`MeteredStream`]: wraps any async byte stream, counts what it writes and delays each
//!   flush by the hop's one-way delay;
//! - [`AzNet`]: the three bundled, to wrap a connection given its two addresses.
//!
//! It never reads the wall clock; delays are slept in simulated time.

mod az_map;
mod meter;
mod profile;
mod stream;

#[cfg(all(test, madsim))]
mod tests;

pub use az_map::{AzMap, UNKNOWN_AZ};
pub use meter::{AzTraffic, NetMeter};
pub use profile::NetProfile;
pub use stream::MeteredStream;

use std::net::IpAddr;

/// The AZ network seam of a run: the AZ map, the byte meter and the delay profile.
/// Cheap to clone (the map and meter are shared).
#[derive(Debug, Clone, Default)]
pub struct AzNet {
    /// IP → AZ.
    pub az_map: AzMap,
    /// Bytes per AZ pair.
    pub meter: NetMeter,
    /// Per-hop delays.
    pub profile: NetProfile,
}

impl AzNet {
    /// Bundles a map, a meter and a profile.
    pub fn new(az_map: AzMap, meter: NetMeter, profile: NetProfile) -> Self {
        Self {
            az_map,
            meter,
            profile,
        }
    }

    /// Wraps a connection between `local` and `peer` (their AZs looked up in the map;
    /// unmapped addresses are in [`UNKNOWN_AZ`]).
    pub fn wrap<S>(&self, stream: S, local: IpAddr, peer: IpAddr) -> MeteredStream<S> {
        MeteredStream::new(
            stream,
            self.az_map.az_of_or_unknown(&local),
            self.az_map.az_of_or_unknown(&peer),
            &self.meter,
            &self.profile,
        )
    }
}
