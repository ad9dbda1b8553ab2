//! eddy-reports: judges a finished run and renders what happened. Pure — history and meters
//! in, verdicts, latency summaries, costs and reports out; it never runs anything.
//!
//! - [`history`]: the recorded history (JSONL, schema in `HISTORY.md`);
//! - [`check`]: the checkers (Kafka anomaly catalogue);
//! - [`latency`]: produce-ack and delivery latency histograms;
//! - [`cost`]: dollars from storage and network meters;
//! - [`reads`]: object-storage reads per AZ against the bytes consumed there;
//! - [`report`]: the run report and its text and Markdown renderings;
//! - [`html`]: the self-contained HTML page of a run (SVG charts) and of a what-if matrix;
//! - [`baseline`]: what a classic three-zone Kafka cluster would pay for the same workload;
//! - [`synth`]: deterministic synthetic histories (benchmarks, tests).

pub mod baseline;
pub mod check;
pub mod cost;
pub mod error;
pub mod history;
pub mod html;
pub mod latency;
pub mod reads;
pub mod report;
pub mod stored;
pub mod synth;
pub mod txn_report;

pub use baseline::{KafkaBaseline, KafkaWorkload};
pub use check::{
    check, check_with, CheckOptions, Class, LatencyBounds, Silent, Verdict, Violation,
};
pub use cost::{cost, AzFlow, BucketUsage, CostBreakdown, Prices, Usage};
pub use error::Error;
pub use history::{
    read_jsonl, read_jsonl_bytes, validate, write_jsonl, Isolation, Op, OpKind, Outcome, Rec,
    Source, TopicPartition,
};
pub use html::compare::{render_whatif_html, render_whatif_markdown, WhatIf, WhatIfRow};
pub use html::{render_html, FaultWindow, HtmlReport, Timeline};
pub use latency::{latency, LatencyReport, LatencySummary};
pub use reads::{reads_by_az, AzReadUsage, AzReads};
pub use report::{render_markdown, render_summary, RunReport};
pub use stored::{ClassStored, StoredSample};
pub use synth::synth_history;
