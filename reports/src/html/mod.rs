//! The HTML report of one run: a single self-contained page (inline CSS, inline SVG, no
//! script, no network) that a person reads at a glance — latency CDFs, throughput and errors
//! over time with fault windows shaded, the cost breakdown per storage class and per GiB
//! ingested, a Kafka baseline beside it, the AZ-to-AZ traffic matrix, and the checkers'
//! verdicts with the operations behind each violation. Also the what-if comparison page
//! ([`compare`]). Pure: report data in, HTML out; the same input gives the same bytes.

pub mod charts;
pub mod compare;
pub mod timeline;

mod reads;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use crate::baseline::KafkaBaseline;
use crate::check::Class;
use crate::cost::{CostBreakdown, CostKind, Usage, BYTES_PER_GB};
use crate::history::{Op, OpKind};
use crate::report::RunReport;
use charts::{bar_chart, heatmap, line_chart, LineChart, Series};
pub use timeline::{FaultWindow, TimeBucket, Timeline};

/// Violations listed per class (each with its operations).
const VIOLATIONS_PER_CLASS: usize = 25;
/// Operations shown per violation.
const OPS_PER_VIOLATION: usize = 12;

/// Everything the run page shows.
pub struct HtmlReport<'a> {
    /// Page title, e.g. the scenario name.
    pub title: &'a str,
    /// The run report (latency, cost, verdict, parameters).
    pub report: &'a RunReport,
    /// The history (for the timeline and the operations behind violations).
    pub ops: &'a [Op],
    /// The meters (AZ traffic matrix); `None` hides the matrix.
    pub usage: Option<&'a Usage>,
    /// When faults were active, shaded on the time charts (empty: a fault-free run).
    pub fault_windows: &'a [FaultWindow],
    /// Kafka baselines for the same workload (e.g. with and without fetch-from-follower).
    pub baselines: &'a [KafkaBaseline],
    /// eddy's object storage per day at the baselines' retention (see
    /// [`crate::baseline::retained_object_storage_dollars_per_day`]).
    pub retained_storage_dollars_per_day: Option<f64>,
    /// Name of the price preset ("aws", "seed").
    pub prices_name: &'a str,
    /// Free-form notes printed under the header (how figures were scaled, …).
    pub notes: &'a [String],
    /// Stored bytes per storage class over the run (empty: no chart).
    pub stored: &'a [crate::StoredSample],
}

/// The self-contained HTML page of one run.
pub fn render_html(h: &HtmlReport) -> String {
    let r = h.report;
    let mut s = String::with_capacity(64 * 1024);
    page_head(&mut s, &format!("eddy run: {}, seed {}", h.title, r.seed));
    let ok = r.verdict.is_valid();
    let _ = writeln!(
        s,
        "<h1>eddy run: {} <small>seed {}</small></h1>\n<p><span class=\"badge {}\">{}</span> \
         {:.3} s simulated · {} operations · prices: {}</p>",
        escape(h.title),
        r.seed,
        if ok { "ok" } else { "bad" },
        if ok {
            "checkers: OK".to_string()
        } else {
            format!("checkers: {} violation(s)", r.verdict.total())
        },
        r.duration_s,
        r.ops,
        escape(h.prices_name)
    );
    if !h.notes.is_empty() {
        s.push_str("<ul class=\"notes\">");
        for n in h.notes {
            let _ = write!(s, "<li>{}</li>", escape(n));
        }
        s.push_str("</ul>\n");
    }

    // Throughput and latency summary.
    let t = &r.throughput;
    let _ = writeln!(
        s,
        "<h2 id=\"latency\">Throughput and latency</h2>\n<p>{} sends acknowledged ({:.1}/s), \
         {:.3} MiB/s ingested over the {:.1} s producing window.</p>",
        t.sends_acked, t.sends_acked_per_s, t.ingested_mib_per_s, t.window_s
    );
    s.push_str("<table><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>\n");
    for (name, l) in [
        ("produce ack (ms)", &r.latency.produce_ack.summary),
        ("end to end (ms)", &r.latency.delivery.summary),
    ] {
        let _ = writeln!(
            s,
            "<tr><td>{name}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms
        );
    }
    s.push_str("</table>\n");
    let cdf = |stats: &crate::latency::LatencyStats| -> Vec<(f64, f64)> {
        stats
            .cdf
            .iter()
            .map(|p| (p.latency_ms, p.quantile))
            .collect()
    };
    figure(
        &mut s,
        "latency-cdf",
        &line_chart(&LineChart {
            title: "Latency CDF",
            x_desc: "latency (ms)",
            y_desc: "fraction of operations ≤ x",
            series: vec![
                Series {
                    name: "produce ack".into(),
                    points: cdf(&r.latency.produce_ack),
                },
                Series {
                    name: "end to end".into(),
                    points: cdf(&r.latency.delivery),
                },
            ],
            shaded: &[],
            y_max: Some(1.0),
            dots: false,
        }),
    );

    // Over time.
    let timeline = Timeline::from_history(h.ops, 1.0);
    let faults = if h.fault_windows.is_empty() {
        "No fault windows in this run.".to_string()
    } else {
        format!(
            "{} fault window(s), shaded: {}.",
            h.fault_windows.len(),
            h.fault_windows
                .iter()
                .map(|w| format!("{} ({:.1}–{:.1} s)", w.label, w.start_s, w.end_s))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let _ = writeln!(
        s,
        "<h2 id=\"timeline\">Over time</h2>\n<p>Buckets of {:.3} simulated seconds. {}</p>",
        timeline.bucket_s,
        escape(&faults)
    );
    let series = |f: fn(&TimeBucket) -> f64| -> Vec<(f64, f64)> {
        timeline.buckets.iter().map(|b| (b.start_s, f(b))).collect()
    };
    figure(
        &mut s,
        "throughput",
        &line_chart(&LineChart {
            title: "Throughput",
            x_desc: "simulated time (s)",
            y_desc: "records per second",
            series: vec![
                Series {
                    name: "sends acknowledged".into(),
                    points: series(|b| b.sends_ok_per_s),
                },
                Series {
                    name: "records consumed (all consumers)".into(),
                    points: series(|b| b.records_read_per_s),
                },
            ],
            shaded: h.fault_windows,
            y_max: None,
            dots: false,
        }),
    );
    figure(
        &mut s,
        "errors",
        &line_chart(&LineChart {
            title: "Error rate",
            x_desc: "simulated time (s)",
            y_desc: "failed or indeterminate ops per second",
            series: vec![Series {
                name: "errors per second".into(),
                points: series(|b| b.errors_per_s),
            }],
            shaded: h.fault_windows,
            y_max: None,
            dots: false,
        }),
    );

    cost_section(&mut s, h);
    traffic_section(&mut s, h);
    reads::reads_section(&mut s, r);
    txn_section(&mut s, r);
    verdict_section(&mut s, h);

    s.push_str("<h2 id=\"parameters\">Parameters</h2>\n<pre>");
    s.push_str(&escape(
        &serde_json::to_string_pretty(&r.parameters).unwrap_or_default(),
    ));
    s.push_str("</pre>\n</body>\n</html>\n");
    s
}

/// Cost table per storage class, the bar chart, and the Kafka baseline.
fn cost_section(s: &mut String, h: &HtmlReport) {
    s.push_str("<h2 id=\"cost\">Cost</h2>\n");
    let Some(c) = &h.report.cost else {
        s.push_str("<p>No meters: no cost.</p>\n");
        return;
    };
    let _ = writeln!(
        s,
        "<p>${:.6} over the run; {} ingested {:.4} GiB. Per day figures scale the \
         measured total linearly from {:.1} simulated seconds (steady state assumed; \
         stored bytes of a short run do not reach a retention steady state, see the \
         baseline table).</p>",
        c.total_dollars,
        per_gib_text(c),
        c.ingested_gib,
        scale_s(h)
    );
    // Per class: PUT, GET, other requests, transfer, storage.
    let columns = ["PUT", "GET", "other requests", "transfer", "storage"];
    let column = |k: CostKind| match k {
        CostKind::Put => 0,
        CostKind::Get => 1,
        CostKind::OtherRequests => 2,
        CostKind::TransferIn | CostKind::TransferOut | CostKind::InterAz => 3,
        CostKind::Storage => 4,
    };
    let mut by_class: BTreeMap<&str, [f64; 5]> = BTreeMap::new();
    for l in &c.lines {
        by_class.entry(l.class.as_str()).or_default()[column(l.kind)] += l.dollars;
    }
    s.push_str("<table><tr><th>class</th>");
    for c in columns {
        let _ = write!(s, "<th>{c} $</th>");
    }
    s.push_str("<th>total $</th><th>$ / GiB ingested</th><th>$ / day</th></tr>\n");
    let per_day = |x: f64| {
        if scale_s(h) > 0.0 {
            format!("{:.2}", x / scale_s(h) * 86_400.0)
        } else {
            "–".into()
        }
    };
    let mut bars = Vec::new();
    for (class, v) in &by_class {
        let total: f64 = v.iter().sum();
        let _ = write!(s, "<tr><td>{}</td>", escape(class));
        for x in v {
            let _ = write!(s, "<td>{x:.6}</td>");
        }
        let _ = writeln!(
            s,
            "<td>{total:.6}</td><td>{}</td><td>{}</td></tr>",
            if c.ingested_gib > 0.0 {
                format!("{:.6}", total / c.ingested_gib)
            } else {
                "–".into()
            },
            per_day(total)
        );
        for (i, x) in v.iter().enumerate() {
            if *x > 0.0 {
                bars.push((format!("{class} {}", columns[i]), *x));
            }
        }
    }
    let _ = writeln!(
        s,
        "<tr><th>total</th><td colspan=\"5\"></td><th>{:.6}</th><th>{}</th><th>{}</th></tr></table>",
        c.total_dollars,
        c.dollars_per_gib_ingested
            .map_or("–".into(), |x| format!("{x:.6}")),
        per_day(c.total_dollars)
    );
    figure(
        s,
        "cost",
        &bar_chart(
            "Cost by storage class and kind",
            "dollars over the run",
            &bars,
        ),
    );
    stored_section(s, h);
    baseline_section(s, h, c);
}

/// Stored bytes per storage class over the run, and the GB·hours each class accrued per
/// interval: where storage is paid for, and how it moves between classes (tiering,
/// compaction, retention).
fn stored_section(s: &mut String, h: &HtmlReport) {
    if h.stored.len() < 2 {
        return;
    }
    let classes: std::collections::BTreeSet<&String> =
        h.stored.iter().flat_map(|p| p.classes.keys()).collect();
    let series = classes
        .iter()
        .map(|class| Series {
            name: (*class).clone(),
            points: h
                .stored
                .iter()
                .map(|p| {
                    let bytes = p.classes.get(*class).map_or(0, |c| c.stored_bytes);
                    (p.at_s, bytes as f64 / (1024.0 * 1024.0))
                })
                .collect(),
        })
        .collect();
    figure(
        s,
        "stored",
        &line_chart(&LineChart {
            title: "Stored bytes by storage class",
            x_desc: "simulated s",
            y_desc: "MiB stored",
            series,
            shaded: h.fault_windows,
            y_max: None,
            dots: false,
        }),
    );
    // At most 12 intervals: every step-th sample, and the last.
    let step = (h.stored.len() - 1).div_ceil(12).max(1);
    let mut picked: Vec<crate::StoredSample> = h.stored.iter().step_by(step).cloned().collect();
    if let Some(last) = h.stored.last() {
        if picked.last() != Some(last) {
            picked.push(last.clone());
        }
    }
    let rows = crate::stored::gb_hours_per_interval(&picked);
    let _ = write!(s, "<table><tr><th>interval end (s)</th>");
    for class in &classes {
        let _ = write!(s, "<th>{} GB·h</th>", escape(class));
    }
    s.push_str("</tr>\n");
    for (at_s, by_class) in &rows {
        let _ = write!(s, "<tr><td>{at_s:.1}</td>");
        for class in &classes {
            let _ = write!(
                s,
                "<td>{:.3e}</td>",
                by_class.get(*class).copied().unwrap_or(0.0)
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
}

fn baseline_section(s: &mut String, h: &HtmlReport, c: &CostBreakdown) {
    if h.baselines.is_empty() {
        return;
    }
    s.push_str(
        "<h3 id=\"baseline\">Kafka baseline, same workload</h3>\n<p>3 AZs, replication \
         factor 3; producers reach a leader in another zone 2/3 of the time; 2 replication \
         copies cross zones; consumer groups read 2/3 cross-zone, 0 with fetch-from-follower; \
         broker storage on EBS gp3 block volumes, 3 copies. Compute is left out of both \
         sides.</p>\n<table><tr><th>system</th><th>inter-AZ GB/day</th><th>inter-AZ $/day</th>\
         <th>storage $/day</th><th>requests $/day</th><th>total $/day</th><th>$/month</th>\
         <th>$/GiB</th></tr>\n",
    );
    let mut bars = Vec::new();
    for b in h.baselines {
        let label = format!(
            "Kafka, {} consumer group(s), {}",
            b.workload.consumer_groups,
            if b.workload.fetch_from_follower {
                "fetch-from-follower"
            } else {
                "reads from leaders"
            }
        );
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>0</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&label),
            b.producer_cross_az_gb_per_day
                + b.replication_cross_az_gb_per_day
                + b.consumer_cross_az_gb_per_day,
            b.inter_az_dollars_per_day,
            b.storage_dollars_per_day,
            b.total_dollars_per_day,
            b.total_dollars_per_month,
            b.dollars_per_gib.map_or("–".into(), |x| format!("{x:.4}"))
        );
        bars.push((label, b.total_dollars_per_day));
    }
    if scale_s(h) > 0.0 {
        let scale = 86_400.0 / scale_s(h);
        let day = c.total_dollars * scale;
        let retained = h.retained_storage_dollars_per_day.unwrap_or(0.0);
        let inter_az_gb: f64 = h.usage.map_or(0.0, |u| {
            u.az_bytes
                .iter()
                .filter(|f| f.src != f.dst)
                .map(|f| f.bytes as f64)
                .sum::<f64>()
                / BYTES_PER_GB
        });
        let total = day - c.storage_dollars * scale + retained;
        let retention = h.baselines[0].workload.retention_hours;
        let _ = writeln!(
            s,
            "<tr><td>eddy (this run, scaled to a day; storage at {retention:.0} h retention)</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            inter_az_gb * scale,
            c.inter_az_dollars * scale,
            retained,
            (c.requests_dollars + c.storage_transfer_dollars) * scale,
            total,
            total / 86_400.0 * crate::cost::SECONDS_PER_MONTH,
            c.dollars_per_gib_ingested.map_or("–".into(), |_| {
                if c.ingested_gib > 0.0 {
                    format!("{:.4}", total / (c.ingested_gib * scale))
                } else {
                    "–".into()
                }
            })
        );
        bars.push(("eddy (this run)".to_string(), total));
    }
    s.push_str("</table>\n");
    figure(
        s,
        "baseline",
        &bar_chart("Dollars per day: eddy vs Kafka", "dollars per day", &bars),
    );
}

/// The AZ-to-AZ traffic matrix (GiB, from the transport meters).
fn traffic_section(s: &mut String, h: &HtmlReport) {
    s.push_str("<h2 id=\"traffic\">AZ-to-AZ traffic</h2>\n");
    let Some(u) = h.usage else {
        s.push_str("<p>No network meters.</p>\n");
        return;
    };
    let azs: Vec<String> = u
        .az_bytes
        .iter()
        .flat_map(|f| [f.src.clone(), f.dst.clone()])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index: HashMap<&str, usize> = azs
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i))
        .collect();
    let mut cells = vec![vec![0.0; azs.len()]; azs.len()];
    for f in &u.az_bytes {
        if let (Some(&i), Some(&j)) = (index.get(f.src.as_str()), index.get(f.dst.as_str())) {
            cells[i][j] += f.bytes as f64 / BYTES_PER_GB;
        }
    }
    let cross: f64 = (0..azs.len())
        .flat_map(|i| (0..azs.len()).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| cells[i][j])
        .sum();
    // MiB unless the largest cell is at least a GiB.
    let largest = cells.iter().flatten().copied().fold(0.0_f64, f64::max);
    let (unit, per_gib) = if largest >= 1.0 {
        ("GiB", 1.0)
    } else {
        ("MiB", 1024.0)
    };
    let shown: Vec<Vec<f64>> = cells
        .iter()
        .map(|r| r.iter().map(|v| v * per_gib).collect())
        .collect();
    let _ = writeln!(
        s,
        "<p>Bytes sent from a source AZ (row) to a destination AZ (column); {cross:.4} GiB \
         crossed zones. The diagonal is traffic inside a zone (free).</p>"
    );
    figure(
        s,
        "az-matrix",
        &heatmap(&format!("AZ-to-AZ traffic ({unit})"), &azs, &shown, unit),
    );
    s.push_str("<table><tr><th>from \\ to</th>");
    for a in &azs {
        let _ = write!(s, "<th>{}</th>", escape(a));
    }
    s.push_str("</tr>\n");
    for (i, a) in azs.iter().enumerate() {
        let _ = write!(s, "<tr><th>{}</th>", escape(a));
        for v in &cells[i] {
            let _ = write!(s, "<td>{v:.6}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
}

/// Checker counts and every violation with the operations behind it.
fn verdict_section(s: &mut String, h: &HtmlReport) {
    let v = &h.report.verdict;
    let _ = writeln!(
        s,
        "<h2 id=\"verdicts\">Checker verdicts</h2>\n<p>{} operations checked: {}.</p>",
        v.ops_checked,
        if v.is_valid() {
            "no violations".to_string()
        } else {
            format!("{} violation(s)", v.total())
        }
    );
    s.push_str("<table><tr><th>check</th><th>violations</th><th>judged</th></tr>\n");
    for class in Class::ALL {
        let n = v.counts.get(&class).copied().unwrap_or(0);
        let judged = v.judged.get(&class).copied().unwrap_or(0);
        let silent = v.silent.iter().find(|q| q.class == class);
        let _ = writeln!(
            s,
            "<tr class=\"{}\"><td>{class}</td><td>{n}</td><td>{judged}{}</td></tr>",
            if n > 0 { "bad" } else { "ok" },
            silent.map_or(String::new(), |q| format!(
                " — judged nothing: {}",
                escape(&q.reason)
            ))
        );
    }
    s.push_str("</table>\n");
    if v.is_valid() {
        return;
    }
    let by_id: HashMap<u64, &Op> = h.ops.iter().map(|o| (o.id, o)).collect();
    for class in v.classes() {
        let _ = writeln!(s, "<h3 class=\"violation-class\">{class}</h3>");
        let listed: Vec<_> = v.violations.iter().filter(|x| x.class == class).collect();
        for x in listed.iter().take(VIOLATIONS_PER_CLASS) {
            let _ = writeln!(
                s,
                "<div class=\"violation\"><p><b>{}/{}</b>: {}</p>",
                escape(&x.topic),
                x.partition,
                escape(&x.explanation)
            );
            s.push_str("<table class=\"ops\"><tr><th>op</th><th>process</th><th>type</th><th>what</th><th>invoke ms</th><th>complete ms</th><th>outcome</th></tr>\n");
            for id in x.ops.iter().take(OPS_PER_VIOLATION) {
                match by_id.get(id) {
                    Some(op) => op_row(s, op),
                    None => {
                        let _ = writeln!(
                            s,
                            "<tr><td>{id}</td><td colspan=\"6\">not in the history given to the report</td></tr>"
                        );
                    }
                }
            }
            if x.ops.len() > OPS_PER_VIOLATION {
                let _ = writeln!(
                    s,
                    "<tr><td colspan=\"7\">… and {} more operations</td></tr>",
                    x.ops.len() - OPS_PER_VIOLATION
                );
            }
            s.push_str("</table></div>\n");
        }
        let count = v.counts.get(&class).copied().unwrap_or(0);
        let shown = listed.len().min(VIOLATIONS_PER_CLASS) as u64;
        if count > shown {
            let _ = writeln!(s, "<p>… and {} more (see report.json)</p>", count - shown);
        }
    }
}

fn op_row(s: &mut String, op: &Op) {
    let (kind, what) = match &op.kind {
        OpKind::Send {
            topic,
            partition,
            value,
            offset,
            idempotent,
            attempts,
            max_in_flight,
            broker,
            txn,
            ..
        } => (
            "send",
            format!(
                "{topic}/{partition} value {value} → offset {}; {}, {attempts} attempt(s), \
                 max in flight {}, broker {}{}",
                offset.map_or("?".into(), |o| o.to_string()),
                if *idempotent {
                    "idempotent"
                } else {
                    "not idempotent"
                },
                max_in_flight.map_or("?".into(), |m| m.to_string()),
                broker.as_deref().unwrap_or("?"),
                txn.as_deref()
                    .map_or(String::new(), |t| format!(", transaction {t}"))
            ),
        ),
        OpKind::Poll {
            topic,
            partition,
            fetch_offset,
            records,
            high_watermark,
            ..
        } => (
            "poll",
            format!(
                "{topic}/{partition} from {fetch_offset}: {} record(s){}, hw {}",
                records.len(),
                match (records.first(), records.last()) {
                    (Some(a), Some(b)) => format!(" (offsets {}..={})", a.offset, b.offset),
                    _ => String::new(),
                },
                high_watermark.map_or("?".into(), |h| h.to_string())
            ),
        ),
        other => ("other", serde_json::to_string(other).unwrap_or_default()),
    };
    let kind = match &op.kind {
        OpKind::Send { .. } | OpKind::Poll { .. } => kind.to_string(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str().map(str::to_string)))
            .unwrap_or_else(|| kind.to_string()),
    };
    let outcome = serde_json::to_value(op.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
        op.id,
        escape(&op.process),
        escape(&kind),
        escape(&what),
        op.invoke_us as f64 / 1000.0,
        op.complete_us
            .map_or("–".into(), |c| format!("{:.3}", c as f64 / 1000.0)),
        escape(&outcome)
    );
}

/// Seconds the per-day figures divide by.
/// Seconds per-day figures scale from: the cost's own window (the producing window, as
/// for every figure of the report).
fn scale_s(h: &HtmlReport) -> f64 {
    h.report.window_s()
}

fn per_gib_text(c: &CostBreakdown) -> String {
    match c.dollars_per_gib_ingested {
        Some(x) => format!("${x:.6} per GiB"),
        None => "nothing".into(),
    }
}

/// Wraps a chart in a `<figure>` with a stable id (the browser test looks for them).
fn figure(s: &mut String, id: &str, chart: &str) {
    let _ = writeln!(
        s,
        "<figure class=\"chart\" id=\"chart-{id}\">{chart}</figure>"
    );
}

/// The document head with the page's inline style.
pub(crate) fn page_head(s: &mut String, title: &str) {
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        escape(title)
    );
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;\
padding:0 1em;color:#222}h1 small{color:#666;font-weight:normal}table{border-collapse:collapse;\
margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}\
td:first-child,th:first-child{text-align:left}figure.chart{margin:1em 0}figure.chart svg{\
max-width:100%;height:auto;display:block}.wide{overflow-x:auto}.badge{padding:.15em .6em;border-radius:.3em;color:#fff}\
.badge.ok{background:#2a7d2a}.badge.bad{background:#b42318}tr.bad td{background:#fde8e8}\
.violation{border-left:4px solid #b42318;padding-left:.8em;margin:1em 0}\
table.ops td{font-family:ui-monospace,monospace;font-size:.85em}pre{background:#f6f6f6;\
padding:.8em;overflow:auto;font-size:.85em}.chart-empty{color:#666}.notes{color:#444}";

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The transactions section; nothing for a run without transactions.
fn txn_section(s: &mut String, r: &RunReport) {
    let Some(t) = &r.transactions else {
        return;
    };
    s.push_str("<h2 id=\"transactions\">Transactions</h2>\n<table>\n");
    let rows = [
        ("transactions", t.transactions.to_string()),
        ("committed", t.committed.to_string()),
        ("aborted (asked by the client)", t.aborted.to_string()),
        ("EndTxn refused", t.end_failed.to_string()),
        ("EndTxn outcome unknown", t.end_unknown.to_string()),
        (
            "never ended (crashed or fenced first)",
            t.never_ended.to_string(),
        ),
        (
            "InitProducerId (each fences the previous instance)",
            t.inits.to_string(),
        ),
        (
            "EndTxn latency p50 / p99 / max (ms)",
            format!(
                "{:.1} / {:.1} / {:.1} ({} calls)",
                t.end_latency.p50_ms,
                t.end_latency.p99_ms,
                t.end_latency.max_ms,
                t.end_latency.count
            ),
        ),
        (
            "journaled transactional commands per transaction",
            t.journal_commands_per_txn
                .map_or("–".to_string(), |x| format!("{x:.2}")),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(name),
            escape(&value)
        );
    }
    s.push_str("</table>\n");
}
