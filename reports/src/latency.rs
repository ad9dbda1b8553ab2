//! Latency from a history, in hdrhistogram histograms of microseconds:
//! produce acknowledgement (ok sends: complete − invoke) and producer-to-consumer delivery
//! (send invoked → completion of each consumer's first poll that returned the value, drain
//! polls and read-backs left out).
//! Summaries and CDF points are in milliseconds; all arithmetic is deterministic.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::check::fast_hash::FastMap;
use crate::history::{Op, OpKind, Outcome};

/// Highest latency tracked exactly: one hour. Larger samples saturate to it.
const MAX_TRACKED_US: u64 = 3_600_000_000;
/// Three significant digits: 0.1% relative error.
const SIGFIGS: u8 = 3;

/// A latency distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// One point of a cumulative distribution: `quantile` of samples are ≤ `latency_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CdfPoint {
    /// Fraction of samples, 0..=1.
    pub quantile: f64,
    /// Latency at that quantile.
    pub latency_ms: f64,
}

/// A summary and the CDF to plot it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Percentiles, max and mean.
    pub summary: LatencySummary,
    /// Fixed quantile grid (see [`cdf`]); empty when there are no samples.
    pub cdf: Vec<CdfPoint>,
}

/// The two latencies of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyReport {
    /// Produce acknowledgement (ok sends).
    pub produce_ack: LatencyStats,
    /// Producer to consumer (values a non-drain poll returned).
    pub delivery: LatencyStats,
}

/// An hdrhistogram of microseconds with fixed bounds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    hist: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram tracking 1 µs .. 1 h at three significant digits.
    pub fn new() -> Self {
        // Constant bounds that hdrhistogram accepts (low ≥ 1, high ≥ 2·low, sigfig ≤ 5).
        let hist = Histogram::new_with_bounds(1, MAX_TRACKED_US, SIGFIGS)
            .expect("constant histogram bounds are valid");
        LatencyHistogram { hist }
    }

    /// Records one sample (saturating at one hour).
    pub fn record_us(&mut self, us: u64) {
        self.hist.saturating_record(us.min(MAX_TRACKED_US));
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The underlying histogram.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Percentiles in milliseconds (all zero when empty).
    pub fn summary(&self) -> LatencySummary {
        let h = &self.hist;
        if h.is_empty() {
            return LatencySummary {
                count: 0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p99_ms: 0.0,
                p999_ms: 0.0,
                max_ms: 0.0,
                mean_ms: 0.0,
            };
        }
        LatencySummary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: round3(h.mean() / 1000.0),
        }
    }

    /// Summary and CDF.
    pub fn stats(&self) -> LatencyStats {
        LatencyStats {
            summary: self.summary(),
            cdf: cdf(self),
        }
    }
}

/// The CDF on a fixed grid: quantiles 0.00, 0.01, …, 0.99, then 0.995, 0.999, 0.9999 and 1.
pub fn cdf(hist: &LatencyHistogram) -> Vec<CdfPoint> {
    if hist.hist.is_empty() {
        return Vec::new();
    }
    let mut grid: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
    grid.extend([0.995, 0.999, 0.9999, 1.0]);
    grid.into_iter()
        .map(|q| CdfPoint {
            quantile: q,
            latency_ms: ms(hist.hist.value_at_quantile(q)),
        })
        .collect()
}

/// Microseconds to milliseconds, rounded to the microsecond.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Produce-ack latency of every ok send.
pub fn produce_ack(ops: &[Op]) -> LatencyHistogram {
    produce_ack_where(ops, |_, _| true)
}

/// Produce-ack latency of the ok sends whose span (invocation, completion; µs) `keep`
/// accepts.
pub fn produce_ack_where(ops: &[Op], keep: impl Fn(u64, u64) -> bool) -> LatencyHistogram {
    let mut h = LatencyHistogram::new();
    for op in ops {
        if let (OpKind::Send { .. }, Outcome::Ok, Some(c)) = (&op.kind, op.outcome, op.complete_us)
        {
            if keep(op.invoke_us, c) {
                h.record_us(c.saturating_sub(op.invoke_us));
            }
        }
    }
    h
}

/// Delivery latency, one sample per consumer that read a value: from the send's invocation
/// to the completion of that consumer's first non-drain ok poll returning it. With several
/// consumer groups every group's read counts, as benchmarks of Kafka's end-to-end latency
/// count every message each consumer receives (the first reader alone would flatter a
/// run with many groups). Values read before their send was invoked (impossible unless the
/// history is wrong) count as zero.
pub fn delivery(ops: &[Op]) -> LatencyHistogram {
    delivery_where(ops, |_, _| true)
}

/// [`delivery`] of the samples whose span (the send's invocation, the read's completion;
/// µs) `keep` accepts.
pub fn delivery_where(ops: &[Op], keep: impl Fn(u64, u64) -> bool) -> LatencyHistogram {
    // value -> (consumer, completion of its first poll that returned the value); a value
    // has one entry per consumer group at most in a healthy run, so a short list: a chain
    // of nodes in one arena (no allocation per value), the map holding each chain's head.
    // Only looked up, never iterated, so the order of the map does not reach the histogram.
    const END: u32 = u32::MAX;
    let sends = ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Send { .. }))
        .count();
    let mut head: FastMap<&str, u32> = FastMap::default();
    head.reserve(sends);
    // (consumer, first completion, next node of the same value).
    let mut nodes: Vec<(&str, u64, u32)> = Vec::with_capacity(sends);
    for op in ops {
        let (
            OpKind::Poll {
                records,
                drain: false,
                read_back: false,
                ..
            },
            Outcome::Ok,
            Some(c),
        ) = (&op.kind, op.outcome, op.complete_us)
        else {
            continue;
        };
        for r in records {
            let fresh = nodes.len() as u32;
            let mut n = *head.entry(r.value.as_str()).or_insert(fresh);
            if n == fresh {
                nodes.push((op.process.as_str(), c, END));
                continue;
            }
            loop {
                let node = &mut nodes[n as usize];
                if node.0 == op.process {
                    node.1 = node.1.min(c);
                    break;
                }
                if node.2 == END {
                    node.2 = fresh;
                    nodes.push((op.process.as_str(), c, END));
                    break;
                }
                n = node.2;
            }
        }
    }
    let mut h = LatencyHistogram::new();
    let mut times: Vec<u64> = Vec::new();
    for op in ops {
        if let OpKind::Send { value, .. } = &op.kind {
            if op.outcome == Outcome::Failed {
                continue;
            }
            if let Some(&first) = head.get(value.as_str()) {
                // Sorted, so the histogram is fed in the same order on every run.
                times.clear();
                let mut n = first;
                while n != END {
                    let (_, t, next) = nodes[n as usize];
                    times.push(t);
                    n = next;
                }
                times.sort_unstable();
                for &t in &times {
                    if keep(op.invoke_us, t) {
                        h.record_us(t.saturating_sub(op.invoke_us));
                    }
                }
            }
        }
    }
    h
}

/// Both latencies of a history.
pub fn latency(ops: &[Op]) -> LatencyReport {
    LatencyReport {
        produce_ack: produce_ack(ops).stats(),
        delivery: delivery(ops).stats(),
    }
}
