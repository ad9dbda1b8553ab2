//! Throughput and errors over simulated time, bucketed from a history, and the fault windows
//! drawn over them. Pure: ops in, counts per bucket out.

use serde::{Deserialize, Serialize};

use crate::history::{Op, OpKind, Outcome};

/// Most buckets a timeline keeps (a longer run gets wider buckets).
const BUCKETS_MAX: usize = 2_000;

/// A stretch of simulated time during which a fault was active (shaded on the charts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// Start, simulated seconds since run start.
    pub start_s: f64,
    /// End, simulated seconds since run start.
    pub end_s: f64,
    /// What it was, e.g. "agent-az1-0 crashed".
    pub label: String,
}

/// Counts in one bucket of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TimeBucket {
    /// Bucket start, seconds.
    pub start_s: f64,
    /// Sends acknowledged ok, per second.
    pub sends_ok_per_s: f64,
    /// Records returned by (non-drain) polls, per second.
    pub records_read_per_s: f64,
    /// Operations that failed or ended indeterminate, per second.
    pub errors_per_s: f64,
    /// Errors as a fraction of operations that completed or ended in this bucket.
    pub error_ratio: f64,
}

/// A run's activity over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Bucket width, seconds.
    pub bucket_s: f64,
    /// Buckets from time 0.
    pub buckets: Vec<TimeBucket>,
}

impl Timeline {
    /// Buckets `ops` by completion time (invocation time for ops that never completed),
    /// `bucket_s` wide (widened so that at most 2,000 buckets cover the history).
    pub fn from_history(ops: &[Op], bucket_s: f64) -> Timeline {
        let end_us = ops
            .iter()
            .map(|o| o.complete_us.unwrap_or(o.invoke_us).max(o.invoke_us))
            .max()
            .unwrap_or(0);
        let end_s = end_us as f64 / 1e6;
        let mut width = if bucket_s.is_finite() && bucket_s > 0.0 {
            bucket_s
        } else {
            1.0
        };
        if end_s / width > BUCKETS_MAX as f64 {
            width = end_s / BUCKETS_MAX as f64;
        }
        let n = ((end_s / width).floor() as usize + 1).min(BUCKETS_MAX + 1);
        let mut ok = vec![0u64; n];
        let mut read = vec![0u64; n];
        let mut errors = vec![0u64; n];
        let mut total = vec![0u64; n];
        for op in ops {
            let t = op.complete_us.unwrap_or(op.invoke_us) as f64 / 1e6;
            let i = ((t / width).floor() as usize).min(n - 1);
            total[i] += 1;
            match (op.outcome, &op.kind) {
                (Outcome::Ok, OpKind::Send { .. }) => ok[i] += 1,
                (
                    Outcome::Ok,
                    OpKind::Poll {
                        records,
                        drain: false,
                        ..
                    },
                ) => read[i] += records.len() as u64,
                (Outcome::Ok, _) => {}
                (Outcome::Failed | Outcome::Indeterminate, _) => errors[i] += 1,
            }
        }
        let buckets = (0..n)
            .map(|i| TimeBucket {
                start_s: round6(i as f64 * width),
                sends_ok_per_s: round6(ok[i] as f64 / width),
                records_read_per_s: round6(read[i] as f64 / width),
                errors_per_s: round6(errors[i] as f64 / width),
                error_ratio: if total[i] == 0 {
                    0.0
                } else {
                    round6(errors[i] as f64 / total[i] as f64)
                },
            })
            .collect();
        Timeline {
            bucket_s: width,
            buckets,
        }
    }

    /// End of the last bucket, seconds.
    pub fn end_s(&self) -> f64 {
        self.buckets.len() as f64 * self.bucket_s
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6 + 0.0
}
