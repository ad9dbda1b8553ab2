//! Delays of network hops between and within AZs, added on top of madsim's own per-message
//! latency by [`super::MeteredStream`].

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Extra one-way delay per hop, by whether the hop crosses an AZ boundary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetProfile {
    /// Extra one-way delay of an inter-AZ hop, in ms. Default 0.5 ms (≈1 ms round trip):
    /// AWS describes the links between a region's AZs as low-latency, single-digit ms
    /// (docs.aws.amazon.com, "Regions and Availability Zones"), and public measurements
    /// commonly put inter-AZ round trips at about 0.5–1.5 ms.
    pub inter_az_latency_ms: f64,
    /// Extra one-way delay of an intra-AZ hop, in ms. Default 0: madsim's own message
    /// latency already stands for it.
    pub intra_az_latency_ms: f64,
}

impl Default for NetProfile {
    fn default() -> Self {
        Self {
            inter_az_latency_ms: 0.5,
            intra_az_latency_ms: 0.0,
        }
    }
}

impl NetProfile {
    /// The one-way delay between `a` and `b`, in ms.
    pub fn one_way_ms(&self, a: &str, b: &str) -> f64 {
        if a == b {
            self.intra_az_latency_ms
        } else {
            self.inter_az_latency_ms
        }
    }

    /// Checks that both delays are finite and non-negative.
    pub fn validate(&self) -> Result<(), SimError> {
        for (name, v) in [
            ("inter_az_latency_ms", self.inter_az_latency_ms),
            ("intra_az_latency_ms", self.intra_az_latency_ms),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(SimError::InvalidProfile(format!(
                    "{name} must be finite and >= 0, got {v}"
                )));
            }
        }
        Ok(())
    }
}
