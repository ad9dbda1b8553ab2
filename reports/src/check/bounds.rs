//! Verdicts beyond safety: latency. A run's scenario promises a produce-ack and a delivery
//! latency at the 99th percentile (its bounds follow from its own model: linger, batch
//! timeout, storage latency; see the scenario's `verdicts`). Judged over the quiet samples
//! only — those whose whole span (a send's invocation to its acknowledgement, or to a
//! consumer's read) meets no fault window, each window extended by a recovery margin — and
//! only when enough of them remain.

use serde::{Deserialize, Serialize};

use super::{describe, Class, Sink, Violation};
use crate::history::{Op, OpKind, Outcome};
use crate::latency::{delivery_where, produce_ack_where, LatencyHistogram};

/// The latency a run promises, and which of its sends count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyBounds {
    /// Produce-ack p99 bound, milliseconds (`None`: not judged).
    pub produce_ack_p99_ms: Option<f64>,
    /// Delivery p99 bound, milliseconds (`None`: not judged).
    pub delivery_p99_ms: Option<f64>,
    /// Fault windows, `[start, end)` in µs since the run started: a sample whose span meets
    /// one, or the `recovery_us` after its end, is not judged.
    pub excluded_us: Vec<(u64, u64)>,
    /// Margin after each fault window, µs.
    pub recovery_us: u64,
    /// Samples that start before this (µs since the run started) are not judged: the
    /// run's warm-up, while clients learn the cluster and consumer groups form.
    #[serde(default)]
    pub warmup_us: u64,
    /// Fewest judged samples for a verdict (a p99 of a handful of samples says little).
    pub min_samples: u64,
}

impl LatencyBounds {
    /// Whether a sample spanning `[start_us, end_us]` is judged: no fault window, extended
    /// by the recovery margin, meets it.
    pub fn quiet(&self, start_us: u64, end_us: u64) -> bool {
        start_us >= self.warmup_us
            && !self
                .excluded_us
                .iter()
                .any(|&(s, e)| start_us < e.saturating_add(self.recovery_us) && end_us >= s)
    }
}

pub(super) fn check(ops: &[Op], bounds: &LatencyBounds, sink: &mut Sink) {
    let quiet = |start: u64, end: u64| bounds.quiet(start, end);
    if let Some(bound) = bounds.produce_ack_p99_ms {
        let h = produce_ack_where(ops, quiet);
        judge(
            ops,
            bounds,
            sink,
            Class::ProduceLatency,
            "produce-ack",
            &h,
            bound,
        );
    }
    if let Some(bound) = bounds.delivery_p99_ms {
        let h = delivery_where(ops, quiet);
        judge(
            ops,
            bounds,
            sink,
            Class::DeliveryLatency,
            "delivery",
            &h,
            bound,
        );
    }
}

fn judge(
    ops: &[Op],
    bounds: &LatencyBounds,
    sink: &mut Sink,
    class: Class,
    what: &str,
    h: &LatencyHistogram,
    bound_ms: f64,
) {
    let s = h.summary();
    if s.count < bounds.min_samples.max(1) {
        return;
    }
    sink.judged(class, s.count);
    if s.p99_ms <= bound_ms {
        return;
    }
    sink.push(class, || {
        // The evidence: the slowest judged sends (produce-ack), or the sends behind the
        // slowest deliveries are too many to list, so the slowest acknowledgements stand in.
        let mut slow: Vec<&Op> = ops
            .iter()
            .filter(|op| {
                matches!(op.kind, OpKind::Send { .. })
                    && op.outcome == Outcome::Ok
                    && op
                        .complete_us
                        .is_some_and(|c| bounds.quiet(op.invoke_us, c))
            })
            .collect();
        slow.sort_by_key(|op| {
            (
                std::cmp::Reverse(op.complete_us.unwrap_or(0).saturating_sub(op.invoke_us)),
                op.id,
            )
        });
        slow.truncate(3);
        let (topic, partition) = slow
            .first()
            .and_then(|op| op.topic_partition())
            .map_or((String::new(), -1), |(t, p)| (t.to_string(), p));
        let values = slow
            .iter()
            .filter_map(|op| match &op.kind {
                OpKind::Send { value, .. } => Some(value.clone()),
                _ => None,
            })
            .collect();
        Violation {
            class,
            explanation: format!(
                "{what} latency p99 {:.1} ms over {} samples of sends invoked outside fault \
                 windows is above the bound {bound_ms:.1} ms (p50 {:.1}, max {:.1} ms); the \
                 slowest acknowledgements: {}",
                s.p99_ms,
                s.count,
                s.p50_ms,
                s.max_ms,
                slow.iter()
                    .map(|op| describe(op))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            ops: slow.iter().map(|op| op.id).collect(),
            topic,
            partition,
            offsets: Vec::new(),
            values,
        }
    });
}
