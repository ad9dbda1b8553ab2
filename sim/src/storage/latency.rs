//! Heavy-tailed latency and bandwidth distributions, parameterised by the percentiles people
//! publish (p50 and p99 first-byte time; median and slow-tail per-request bandwidth).
//!
//! Both are lognormal: `x = exp(ln(p50) + sigma * z)` with `z` standard normal, and sigma
//! chosen so the named tail percentile lands where it is published
//! (`sigma = ln(p99 / p50) / 2.3263`, 2.3263 being the 99th percentile of N(0, 1)).
//! Sampling never panics: a nonsensical parameter degrades to a constant, and
//! [`LatencyDist::validate`] / [`BandwidthDist::validate`] report it so scenario loading can
//! reject it.

use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::SimError;

/// The 99th percentile of the standard normal distribution.
pub const Z_99: f64 = 2.326_347_874;

/// First-byte latency: lognormal with median `p50_ms` and 99th percentile `p99_ms`,
/// optionally capped at `max_ms` (a client timeout-and-retry bounds what a caller sees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyDist {
    /// Median, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, in milliseconds (≥ `p50_ms`).
    pub p99_ms: f64,
    /// Optional cap, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
}

impl LatencyDist {
    /// A lognormal with the given median and 99th percentile, uncapped.
    pub const fn new(p50_ms: f64, p99_ms: f64) -> Self {
        Self {
            p50_ms,
            p99_ms,
            max_ms: None,
        }
    }

    /// A constant latency (p50 = p99).
    pub const fn constant(ms: f64) -> Self {
        Self::new(ms, ms)
    }

    /// The same distribution capped at `max_ms`.
    pub const fn with_max_ms(mut self, max_ms: f64) -> Self {
        self.max_ms = Some(max_ms);
        self
    }

    /// The lognormal sigma implied by p50 and p99 (0 for a constant or a broken profile).
    pub fn sigma(&self) -> f64 {
        lognormal_sigma(self.p50_ms, self.p99_ms)
    }

    /// Checks the parameters: finite, p50 ≥ 0, p99 ≥ p50, max ≥ p50.
    pub fn validate(&self, what: &str) -> Result<(), SimError> {
        let bad = |msg: String| Err(SimError::InvalidProfile(format!("{what}: {msg}")));
        if !self.p50_ms.is_finite() || self.p50_ms < 0.0 {
            return bad(format!(
                "p50_ms must be finite and >= 0, got {}",
                self.p50_ms
            ));
        }
        if !self.p99_ms.is_finite() || self.p99_ms < self.p50_ms {
            return bad(format!(
                "p99_ms must be finite and >= p50_ms ({}), got {}",
                self.p50_ms, self.p99_ms
            ));
        }
        if let Some(max) = self.max_ms {
            if max.is_nan() || max < self.p50_ms {
                return bad(format!(
                    "max_ms must be >= p50_ms ({}), got {max}",
                    self.p50_ms
                ));
            }
        }
        Ok(())
    }

    /// Draws one latency in milliseconds (always finite and ≥ 0).
    pub fn sample_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let z: f64 = rng.sample(StandardNormal);
        let p50 = if self.p50_ms.is_finite() && self.p50_ms > 0.0 {
            self.p50_ms
        } else {
            return 0.0;
        };
        let x = p50 * (self.sigma() * z).exp();
        let x = match self.max_ms {
            Some(max) if max.is_finite() && max >= 0.0 => x.min(max),
            _ => x,
        };
        if x.is_finite() {
            x
        } else {
            p50
        }
    }
}

/// Per-request transfer bandwidth: lognormal with median `p50_mib_s` and 1st percentile
/// `p1_mib_s` (the slow tail: 1% of requests transfer at or below it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthDist {
    /// Median per-request bandwidth, MiB/s.
    pub p50_mib_s: f64,
    /// 1st percentile per-request bandwidth, MiB/s (≤ `p50_mib_s`).
    pub p1_mib_s: f64,
}

impl BandwidthDist {
    /// A lognormal with the given median and 1st percentile.
    pub const fn new(p50_mib_s: f64, p1_mib_s: f64) -> Self {
        Self {
            p50_mib_s,
            p1_mib_s,
        }
    }

    /// A constant bandwidth.
    pub const fn constant(mib_s: f64) -> Self {
        Self::new(mib_s, mib_s)
    }

    /// Checks the parameters: finite, p50 > 0, 0 < p1 ≤ p50.
    pub fn validate(&self, what: &str) -> Result<(), SimError> {
        let bad = |msg: String| Err(SimError::InvalidProfile(format!("{what}: {msg}")));
        if !self.p50_mib_s.is_finite() || self.p50_mib_s <= 0.0 {
            return bad(format!(
                "p50_mib_s must be finite and > 0, got {}",
                self.p50_mib_s
            ));
        }
        if !self.p1_mib_s.is_finite() || self.p1_mib_s <= 0.0 || self.p1_mib_s > self.p50_mib_s {
            return bad(format!(
                "p1_mib_s must be > 0 and <= p50_mib_s ({}), got {}",
                self.p50_mib_s, self.p1_mib_s
            ));
        }
        Ok(())
    }

    /// Draws one bandwidth in bytes per second; `None` means "infinitely fast" (a broken
    /// profile degrades to no transfer time rather than a panic or an infinite wait).
    pub fn sample_bytes_per_s<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<f64> {
        let z: f64 = rng.sample(StandardNormal);
        if !self.p50_mib_s.is_finite() || self.p50_mib_s <= 0.0 {
            return None;
        }
        let sigma = lognormal_sigma(self.p1_mib_s, self.p50_mib_s);
        let mib_s = self.p50_mib_s * (sigma * z).exp();
        (mib_s.is_finite() && mib_s > 0.0).then_some(mib_s * MIB)
    }
}

/// Bytes in a MiB.
pub const MIB: f64 = 1_048_576.0;

/// sigma of a lognormal in which `hi` lies `Z_99` standard deviations above `lo` in log
/// space (p50 → p99 for latency, p1 → p50 for bandwidth); 0 when they do not describe a
/// spread.
fn lognormal_sigma(lo: f64, hi: f64) -> f64 {
    if lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo {
        (hi / lo).ln() / Z_99
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[idx]
    }

    #[test]
    fn latency_percentiles_match_parameters() {
        let dist = LatencyDist::new(75.0, 300.0);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..200_000).map(|_| dist.sample_ms(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        let p50 = quantile(&xs, 0.50);
        let p99 = quantile(&xs, 0.99);
        assert!((p50 - 75.0).abs() < 75.0 * 0.02, "p50 {p50}");
        assert!((p99 - 300.0).abs() < 300.0 * 0.04, "p99 {p99}");
    }

    #[test]
    fn latency_cap_is_respected() {
        let dist = LatencyDist::new(10.0, 1000.0).with_max_ms(50.0);
        let mut rng = SmallRng::seed_from_u64(1);
        assert!((0..10_000).all(|_| dist.sample_ms(&mut rng) <= 50.0));
    }

    #[test]
    fn bandwidth_slow_tail_matches_parameters() {
        let dist = BandwidthDist::new(58.0, 40.0);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut xs: Vec<f64> = (0..200_000)
            .filter_map(|_| dist.sample_bytes_per_s(&mut rng))
            .map(|b| b / MIB)
            .collect();
        xs.sort_by(f64::total_cmp);
        assert!((quantile(&xs, 0.50) - 58.0).abs() < 1.0);
        assert!((quantile(&xs, 0.01) - 40.0).abs() < 1.0);
    }

    #[test]
    fn broken_parameters_degrade_and_are_reported() {
        let mut rng = SmallRng::seed_from_u64(0);
        let broken = LatencyDist::new(f64::NAN, -1.0);
        assert_eq!(broken.sample_ms(&mut rng), 0.0);
        assert!(broken.validate("put").is_err());
        assert!(LatencyDist::new(10.0, 5.0).validate("put").is_err());
        assert!(LatencyDist::new(10.0, 20.0).validate("put").is_ok());
        let bw = BandwidthDist::new(0.0, 0.0);
        assert_eq!(bw.sample_bytes_per_s(&mut rng), None);
        assert!(bw.validate("bw").is_err());
        assert!(BandwidthDist::new(50.0, 60.0).validate("bw").is_err());
    }
}
