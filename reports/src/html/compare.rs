//! The what-if comparison: one row per combination of varied scenario keys — cost per GiB,
//! dollars per day and month, produce and end-to-end latency, object-storage request rates —
//! with the Kafka baseline at the same write rate. Rendered as a Markdown table (terminal,
//! CI logs) and as a self-contained HTML page with SVG charts. Pure: rows in, text out.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::charts::{bar_chart, line_chart, LineChart, Series};
use super::{escape, figure, page_head};
use crate::baseline::KafkaBaseline;

/// One run of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIfRow {
    /// The varied keys and their values for this run, in `--vary` order.
    pub settings: Vec<(String, String)>,
    /// "ok", "violation", "incomplete drain" or "error: …".
    pub status: String,
    /// Target write rate of the scenario (producers × records/s × record bytes), MiB/s.
    pub target_mib_per_s: f64,
    /// Measured ingest, MiB/s.
    pub ingested_mib_per_s: f64,
    /// Simulated seconds the cost was measured over.
    pub duration_s: f64,
    /// Dollars per GiB ingested.
    pub dollars_per_gib: Option<f64>,
    /// Dollars per day, the measured total scaled linearly.
    pub dollars_per_day: Option<f64>,
    /// Dollars per 730-hour month, the same way.
    pub dollars_per_month: Option<f64>,
    /// Object-storage and journal request dollars per day.
    pub requests_dollars_per_day: Option<f64>,
    /// Object-storage API dollars per day (PUT, GET and other requests of the data
    /// buckets; the journal's requests are not included).
    pub s3_api_dollars_per_day: Option<f64>,
    /// Inter-AZ dollars per day.
    pub inter_az_dollars_per_day: Option<f64>,
    /// Produce acknowledgement p50, ms.
    pub produce_p50_ms: f64,
    /// Produce acknowledgement p99, ms.
    pub produce_p99_ms: f64,
    /// End-to-end p50, ms.
    pub e2e_p50_ms: f64,
    /// End-to-end p99, ms.
    pub e2e_p99_ms: f64,
    /// The produce-ack p99 bound this row's scenario is judged against (its model's unless
    /// the scenario writes one), ms.
    #[serde(default)]
    pub produce_p99_bound_ms: Option<f64>,
    /// The end-to-end (delivery) p99 bound, ms.
    #[serde(default)]
    pub e2e_p99_bound_ms: Option<f64>,
    /// Object-storage PUTs per simulated second (data buckets, not the journal).
    pub puts_per_s: f64,
    /// Object-storage GETs per simulated second.
    pub gets_per_s: f64,
    /// Kafka baselines at this row's write rate (with and without fetch-from-follower).
    pub kafka: Vec<KafkaBaseline>,
}

impl WhatIfRow {
    /// `k=v, k=v`.
    pub fn label(&self) -> String {
        if self.settings.is_empty() {
            return "as specified".into();
        }
        self.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The whole matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    /// Scenario file or name.
    pub scenario: String,
    /// Seed every run used.
    pub seed: u64,
    /// Price preset name.
    pub prices_name: String,
    /// Notes (scaling, simplifications).
    pub notes: Vec<String>,
    /// The runs, in cross-product order.
    pub rows: Vec<WhatIfRow>,
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.decimals$}"))
}

fn kafka_day(row: &WhatIfRow, fff: bool) -> Option<f64> {
    row.kafka
        .iter()
        .find(|k| k.workload.fetch_from_follower == fff)
        .map(|k| k.total_dollars_per_day)
}

fn kafka_inter_az_day(row: &WhatIfRow, fff: bool) -> Option<f64> {
    row.kafka
        .iter()
        .find(|k| k.workload.fetch_from_follower == fff)
        .map(|k| k.inter_az_dollars_per_day)
}

/// The matrix as a Markdown table.
pub fn render_whatif_markdown(w: &WhatIf) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| settings | status | MiB/s | $/GiB | $/day | $/month | requests $/day | S3 API $/day | inter-AZ $/day | produce p50/p99 ms | e2e p50/p99 ms | p99 bounds produce/e2e ms | PUT/s | GET/s | Kafka inter-AZ $/day (FFF / leader) | Kafka $/day (FFF / leader) |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &w.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {:.0} / {:.0} | {:.0} / {:.0} | {} / {} | {:.1} | {:.1} | {} / {} | {} / {} |",
            r.label().replace('|', "\\|"),
            r.status.replace('|', "\\|"),
            r.ingested_mib_per_s,
            opt(r.dollars_per_gib, 4),
            opt(r.dollars_per_day, 2),
            opt(r.dollars_per_month, 0),
            opt(r.requests_dollars_per_day, 2),
            opt(r.s3_api_dollars_per_day, 2),
            opt(r.inter_az_dollars_per_day, 2),
            r.produce_p50_ms,
            r.produce_p99_ms,
            r.e2e_p50_ms,
            r.e2e_p99_ms,
            opt(r.produce_p99_bound_ms, 0),
            opt(r.e2e_p99_bound_ms, 0),
            r.puts_per_s,
            r.gets_per_s,
            opt(kafka_inter_az_day(r, true), 2),
            opt(kafka_inter_az_day(r, false), 2),
            opt(kafka_day(r, true), 2),
            opt(kafka_day(r, false), 2),
        );
    }
    for n in &w.notes {
        let _ = writeln!(s, "\n{n}");
    }
    s
}

/// The matrix as a self-contained HTML page.
pub fn render_whatif_html(w: &WhatIf) -> String {
    let mut s = String::with_capacity(32 * 1024);
    page_head(&mut s, &format!("eddy whatif: {}", w.scenario));
    let _ = writeln!(
        s,
        "<h1>eddy whatif: {} <small>seed {}</small></h1>\n<p>{} run(s), prices: {}.</p>",
        escape(&w.scenario),
        w.seed,
        w.rows.len(),
        escape(&w.prices_name)
    );
    if !w.notes.is_empty() {
        s.push_str("<ul class=\"notes\">");
        for n in &w.notes {
            let _ = write!(s, "<li>{}</li>", escape(n));
        }
        s.push_str("</ul>\n");
    }
    s.push_str(
        "<div class=\"wide\"><table><tr><th>settings</th><th>status</th><th>MiB/s (target)</th><th>$/GiB</th>\
         <th>$/day</th><th>$/month</th><th>requests $/day</th><th>S3 API $/day</th>\
         <th>inter-AZ $/day</th><th>produce p50</th><th>produce p99</th><th>e2e p50</th><th>e2e p99</th><th>PUT/s</th>\
         <th>GET/s</th><th>Kafka $/day, fetch-from-follower</th><th>Kafka $/day, from leader</th></tr>\n",
    );
    for r in &w.rows {
        let _ = writeln!(
            s,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{:.2} ({:.2})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
            if r.status == "ok" { "ok" } else { "bad" },
            escape(&r.label()),
            escape(&r.status),
            r.ingested_mib_per_s,
            r.target_mib_per_s,
            opt(r.dollars_per_gib, 4),
            opt(r.dollars_per_day, 2),
            opt(r.dollars_per_month, 0),
            opt(r.requests_dollars_per_day, 2),
            opt(r.s3_api_dollars_per_day, 2),
            opt(r.inter_az_dollars_per_day, 2),
            r.produce_p50_ms,
            r.produce_p99_ms,
            r.e2e_p50_ms,
            r.e2e_p99_ms,
            r.puts_per_s,
            r.gets_per_s,
            opt(kafka_day(r, true), 2),
            opt(kafka_day(r, false), 2),
        );
    }
    s.push_str("</table></div>\n");

    let mut money = Vec::new();
    for r in &w.rows {
        if let Some(d) = r.dollars_per_day {
            money.push((format!("eddy: {}", r.label()), d));
        }
    }
    if let Some(first) = w.rows.first() {
        for (fff, name) in [(true, "fetch-from-follower"), (false, "reads from leaders")] {
            if let Some(d) = kafka_day(first, fff) {
                money.push((format!("Kafka, {name} (row 1 rate)"), d));
            }
        }
    }
    figure(
        &mut s,
        "whatif-cost",
        &bar_chart("Dollars per day", "dollars per day", &money),
    );
    let mut lat = Vec::new();
    for r in &w.rows {
        lat.push((format!("{} produce p99", r.label()), r.produce_p99_ms));
        lat.push((format!("{} e2e p99", r.label()), r.e2e_p99_ms));
    }
    figure(
        &mut s,
        "whatif-latency",
        &bar_chart("p99 latency (ms)", "milliseconds", &lat),
    );
    // Cost against p99: the trade-off at a glance, one dot per run.
    let points: Vec<(f64, f64)> = w
        .rows
        .iter()
        .filter_map(|r| r.dollars_per_day.map(|d| (r.produce_p99_ms, d)))
        .collect();
    figure(
        &mut s,
        "whatif-tradeoff",
        &line_chart(&LineChart {
            title: "Cost vs produce p99, one dot per run",
            x_desc: "produce p99 (ms)",
            y_desc: "dollars per day",
            series: vec![Series {
                name: "eddy runs".into(),
                points,
            }],
            shaded: &[],
            y_max: None,
            dots: true,
        }),
    );
    s.push_str("</body>\n</html>\n");
    s
}
