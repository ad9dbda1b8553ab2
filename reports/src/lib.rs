//! eddy-reports: judges a finished run and renders what happened. Pure — history and meters
//! in, verdicts, latency summaries, costs and reports out; it never runs anything.
//!
//! - [`history`]: the recorded history (JSONL, schema in `HISTORY.md`);
//! - [`check`]: the checkers (Kafka anomaly catalogue);
//! - [`latency`]: produce-ack and delivery latency histograms;
//! - [`cost`]: dollars from storage and network meters;
//! - [`report`]: the run report and its text and Markdown renderings;
//! - [`synth`]: deterministic synthetic histories (benchmarks, tests).

pub mod check;
pub mod cost;
pub mod error;
pub mod history;
pub mod latency;
pub mod report;
pub mod synth;

pub use check::{check, check_with, CheckOptions, Class, Verdict, Violation};
pub use cost::{cost, AzFlow, BucketUsage, CostBreakdown, Prices, Usage};
pub use error::Error;
pub use history::{read_jsonl, validate, write_jsonl, Op, OpKind, Outcome, Rec, TopicPartition};
pub use latency::{latency, LatencyReport, LatencySummary};
pub use report::{render_markdown, render_summary, RunReport};
pub use synth::synth_history;
