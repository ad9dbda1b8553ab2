//! The run report: everything `eddy run` learned about one seed — parameters, throughput,
//! latency, cost and the checkers' verdict — as one serde struct (the JSON report), plus a
//! short text summary and a Markdown rendering for CI logs (see [`render`]). Numbers are
//! computed and formatted deterministically: same history and meters, same bytes.

mod render;

use serde::{Deserialize, Serialize};

use crate::check::{check_with, CheckOptions, Verdict};
use crate::cost::{cost, CostBreakdown, Prices, Usage};
use crate::error::Error;
use crate::history::{Op, OpKind, Outcome};
use crate::latency::{latency, LatencyReport};
use crate::reads::AzReads;

pub use render::{render_markdown, render_summary};

/// Bytes per MiB.
const MIB: f64 = 1_048_576.0;

/// How much went through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Sends acknowledged ok.
    pub sends_acked: u64,
    /// Per second of the producing window.
    pub sends_acked_per_s: f64,
    /// Payload bytes ingested (from the meters; 0 when unknown).
    pub ingested_bytes: u64,
    /// MiB ingested per second of the producing window.
    pub ingested_mib_per_s: f64,
    /// The producing window the rates divide by, in seconds: from the first send's invoke
    /// to the last send's invoke (not the whole run: the drain after the workload produces
    /// nothing and would dilute the rate).
    #[serde(default)]
    pub window_s: f64,
}

impl Throughput {
    /// Counts ok sends in a history; rates over the producing window (see
    /// [`Throughput::window_s`]), or over `duration_s` when the history has fewer than two
    /// distinct send times (zero when that is not positive either).
    pub fn from_history(ops: &[Op], duration_s: f64, ingested_bytes: u64) -> Throughput {
        let sends = ops
            .iter()
            .filter(|op| matches!(op.kind, OpKind::Send { .. }));
        let sends_acked = sends.filter(|op| op.outcome == Outcome::Ok).count() as u64;
        let window_s = producing_window_s(ops, duration_s);
        let rate = |x: f64| {
            if window_s > 0.0 && window_s.is_finite() {
                round3(x / window_s)
            } else {
                0.0
            }
        };
        Throughput {
            sends_acked,
            sends_acked_per_s: rate(sends_acked as f64),
            ingested_bytes,
            ingested_mib_per_s: rate(ingested_bytes as f64 / MIB),
            window_s: if window_s.is_finite() {
                round3(window_s)
            } else {
                0.0
            },
        }
    }
}

/// The producing window of a history, in seconds: from the first send's invoke to the last
/// send's invoke (not the whole run: the drain after the workload produces nothing and would
/// dilute rates), or `duration_s` when it has fewer than two distinct send times. Every rate
/// and every per-day cost of a report divides by it.
pub fn producing_window_s(ops: &[Op], duration_s: f64) -> f64 {
    let sends = ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Send { .. }));
    let first = sends.clone().map(|op| op.invoke_us).min();
    let last = sends.map(|op| op.invoke_us).max();
    match (first, last) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e6,
        _ => duration_s,
    }
}

/// Everything about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's seed.
    pub seed: u64,
    /// Every parameter of the run (the resolved scenario), as the runner chose to write it.
    pub parameters: serde_json::Value,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Operations in the history.
    pub ops: u64,
    /// Throughput.
    pub throughput: Throughput,
    /// Latency summaries and CDFs.
    pub latency: LatencyReport,
    /// Cost, when meters were supplied.
    pub cost: Option<CostBreakdown>,
    /// The checkers' verdict.
    pub verdict: Verdict,
    /// Object-storage reads per AZ against the bytes consumed there (empty unless the
    /// runner supplies them: see [`crate::reads::reads_by_az`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<AzReads>,
    /// How the run's transactions ended and how long EndTxn took (none without
    /// transactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<crate::txn_report::TxnReport>,
}

impl RunReport {
    /// Checks and measures a finished run. `usage` (the meters) is optional: without it
    /// the report has no cost and zero ingested bytes.
    pub fn assemble(
        seed: u64,
        parameters: serde_json::Value,
        duration_s: f64,
        ops: &[Op],
        usage: Option<&Usage>,
        prices: &Prices,
        options: &CheckOptions,
    ) -> Result<RunReport, Error> {
        // One window for every rate and every per-day figure of the report.
        let window_s = producing_window_s(ops, duration_s);
        let cost = usage
            .map(|u| {
                let mut u = u.clone();
                u.window_s = window_s;
                cost(&u, prices)
            })
            .transpose()?;
        Ok(RunReport {
            seed,
            parameters,
            duration_s,
            ops: ops.len() as u64,
            throughput: Throughput::from_history(
                ops,
                duration_s,
                usage.map_or(0, |u| u.ingested_bytes),
            ),
            latency: latency(ops),
            cost,
            verdict: check_with(ops, options),
            reads: Vec::new(),
            transactions: crate::txn_report::txn_report(ops),
        })
    }

    /// The producing window every rate and every per-day figure of this report divides
    /// by (see [`producing_window_s`]).
    pub fn window_s(&self) -> f64 {
        match &self.cost {
            Some(c) if c.window_s > 0.0 && c.window_s.is_finite() => c.window_s,
            _ => self.throughput.window_s,
        }
    }

    /// Payload bytes ingested per second of the producing window.
    pub fn write_bytes_per_s(&self) -> f64 {
        let w = self.window_s();
        if w > 0.0 {
            self.throughput.ingested_bytes as f64 / w
        } else {
            0.0
        }
    }

    /// The process exit status `eddy run` should use: 1 when a checker found a violation.
    pub fn exit_code(&self) -> i32 {
        if self.verdict.is_valid() {
            0
        } else {
            1
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
