//! Text renderings of a [`RunReport`]: a short summary for the terminal and Markdown for CI
//! logs. Every number is printed with a fixed number of decimals, so equal reports render to
//! equal bytes.

use std::fmt::Write;

use super::RunReport;
use crate::check::Class;
use crate::cost::CostBreakdown;
use crate::latency::LatencySummary;

/// Violations printed in the summary before "and N more".
const SUMMARY_VIOLATIONS: usize = 5;
/// Violations listed per class in Markdown.
const MARKDOWN_VIOLATIONS_PER_CLASS: usize = 20;

/// A few lines for the terminal: throughput, latency, cost, verdict and the first
/// violations.
pub fn render_summary(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "eddy run: seed {}, {:.3} s simulated, {} ops",
        r.seed, r.duration_s, r.ops
    );
    let t = &r.throughput;
    let _ = writeln!(
        s,
        "throughput: {} sends acked ({:.1}/s), {:.2} MiB/s ingested over the {:.1} s producing window",
        t.sends_acked, t.sends_acked_per_s, t.ingested_mib_per_s, t.window_s
    );
    let _ = writeln!(
        s,
        "produce ack ms: {}",
        latency_line(&r.latency.produce_ack.summary)
    );
    let _ = writeln!(
        s,
        "delivery ms:    {}",
        latency_line(&r.latency.delivery.summary)
    );
    if !r.reads.is_empty() {
        let _ = writeln!(s, "GETs per MiB consumed per AZ: {}", reads_line(r));
    }
    match &r.cost {
        Some(c) => {
            let _ = writeln!(s, "cost: {}", cost_line(c));
        }
        None => {
            let _ = writeln!(s, "cost: no meters");
        }
    }
    let v = &r.verdict;
    if !v.judged.is_empty() {
        let judged: Vec<String> = v.judged.iter().map(|(c, n)| format!("{c}={n}")).collect();
        let _ = writeln!(s, "judged: {}", judged.join(" "));
    }
    for q in &v.silent {
        let _ = writeln!(s, "warning: {} judged nothing: {}", q.class, q.reason);
    }
    if v.is_valid() {
        let _ = writeln!(s, "verdict: OK, no violations in {} ops", v.ops_checked);
    } else {
        let _ = writeln!(
            s,
            "verdict: FAILED, {} violation(s): {}",
            v.total(),
            class_counts(r)
        );
        for violation in v.violations.iter().take(SUMMARY_VIOLATIONS) {
            let _ = writeln!(s, "  [{}] {}", violation.class, violation.explanation);
        }
        let more = v
            .total()
            .saturating_sub(SUMMARY_VIOLATIONS.min(v.violations.len()) as u64);
        if more > 0 {
            let _ = writeln!(s, "  … and {more} more (see the JSON report)");
        }
    }
    s
}

/// `az1 0.250 (1.00x downloaded/consumed), az2 …`: GETs per MiB consumed per AZ.
fn reads_line(r: &RunReport) -> String {
    r.reads
        .iter()
        .map(
            |a| match (a.gets_per_mib_consumed, a.downloaded_per_consumed) {
                (Some(g), Some(d)) => format!(
                    "{} {g:.3} ({} GETs, {d:.2}x downloaded/consumed)",
                    a.az, a.gets
                ),
                _ => format!("{} – ({} GETs, nothing consumed)", a.az, a.gets),
            },
        )
        .collect::<Vec<_>>()
        .join("; ")
}

/// The report as Markdown: parameters, throughput, latency and cost tables, verdict.
pub fn render_markdown(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# eddy run, seed {}\n", r.seed);
    let verdict = if r.verdict.is_valid() {
        "OK".to_string()
    } else {
        format!("FAILED ({} violations)", r.verdict.total())
    };
    let _ = writeln!(
        s,
        "**Verdict: {verdict}** · {:.3} s simulated · {} ops\n",
        r.duration_s, r.ops
    );

    let _ = writeln!(s, "## Throughput\n");
    let _ = writeln!(
        s,
        "| sends acked | sends/s | ingested MiB/s | producing window s |\n|---:|---:|---:|---:|"
    );
    let t = &r.throughput;
    let _ = writeln!(
        s,
        "| {} | {:.1} | {:.2} | {:.1} |\n",
        t.sends_acked, t.sends_acked_per_s, t.ingested_mib_per_s, t.window_s
    );

    if !r.reads.is_empty() {
        let _ = writeln!(s, "## Object-storage reads per AZ\n");
        let _ = writeln!(
            s,
            "| AZ | GETs | MiB downloaded | MiB consumed | GETs per MiB consumed | downloaded / consumed |\n|---|---:|---:|---:|---:|---:|"
        );
        for a in &r.reads {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.1} | {} | {} |",
                a.az,
                a.gets,
                a.bytes_downloaded as f64 / 1_048_576.0,
                a.consumed_bytes as f64 / 1_048_576.0,
                a.gets_per_mib_consumed
                    .map_or("–".to_string(), |x| format!("{x:.3}")),
                a.downloaded_per_consumed
                    .map_or("–".to_string(), |x| format!("{x:.2}")),
            );
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Latency (ms)\n");
    let _ = writeln!(s, "| | count | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, l) in [
        ("produce ack", &r.latency.produce_ack.summary),
        ("delivery", &r.latency.delivery.summary),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms
        );
    }
    s.push('\n');

    let _ = writeln!(s, "## Cost\n");
    match &r.cost {
        None => {
            let _ = writeln!(s, "No meters.\n");
        }
        Some(c) => {
            let _ = writeln!(
                s,
                "| item | class | kind | quantity | unit | $ |\n|---|---|---|---:|---|---:|"
            );
            for l in &c.lines {
                let kind = serde_json::to_value(l.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "| {} | {} | {kind} | {:.6} | {} | {:.6} |",
                    cell(&l.item),
                    cell(&l.class),
                    l.quantity,
                    l.unit,
                    l.dollars
                );
            }
            let _ = writeln!(s, "| **total** | | | | | **{:.6}** |\n", c.total_dollars);
            let _ = writeln!(s, "{}\n", cost_line(c));
        }
    }

    let _ = writeln!(s, "## Checkers\n");
    let _ = writeln!(s, "| class | violations |\n|---|---:|");
    for class in Class::ALL {
        let _ = writeln!(
            s,
            "| {class} | {} |",
            r.verdict.counts.get(&class).copied().unwrap_or(0)
        );
    }
    s.push('\n');
    for class in r.verdict.classes() {
        let _ = writeln!(s, "### {class}\n");
        let listed: Vec<_> = r
            .verdict
            .violations
            .iter()
            .filter(|v| v.class == class)
            .collect();
        for v in listed.iter().take(MARKDOWN_VIOLATIONS_PER_CLASS) {
            let ops: Vec<String> = v.ops.iter().map(u64::to_string).collect();
            let _ = writeln!(
                s,
                "- {}/{} ops [{}]: {}",
                v.topic,
                v.partition,
                ops.join(", "),
                v.explanation
            );
        }
        let count = r.verdict.counts.get(&class).copied().unwrap_or(0);
        let shown = listed.len().min(MARKDOWN_VIOLATIONS_PER_CLASS) as u64;
        if count > shown {
            let _ = writeln!(s, "- … and {} more", count - shown);
        }
        s.push('\n');
    }
    s
}

fn latency_line(l: &LatencySummary) -> String {
    format!(
        "p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}  (n={})",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms, l.count
    )
}

fn cost_line(c: &CostBreakdown) -> String {
    let mut s = format!(
        "${:.4} total = requests ${:.4} + storage ${:.4} + storage transfer ${:.4} + inter-AZ ${:.4}",
        c.total_dollars, c.requests_dollars, c.storage_dollars, c.storage_transfer_dollars, c.inter_az_dollars
    );
    if let Some(x) = c.dollars_per_gib_ingested {
        let _ = write!(s, "; ${x:.4}/GiB ingested");
    }
    if let (Some(d), Some(m)) = (c.dollars_per_day, c.dollars_per_month) {
        let _ = write!(s, "; ${d:.2}/day, ${m:.2}/month at this rate");
    }
    s
}

fn class_counts(r: &RunReport) -> String {
    r.verdict
        .classes()
        .into_iter()
        .map(|c| format!("{c} {}", r.verdict.counts.get(&c).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Escapes a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
