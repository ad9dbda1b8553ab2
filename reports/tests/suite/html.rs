//! The HTML reports: self-contained, deterministic, show the operations behind violations,
//! and — opened in headless Chromium — every chart is laid out and drawn.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use eddy_reports::baseline::{
    retained_object_storage_dollars_per_day, KafkaBaseline, KafkaWorkload,
};
use eddy_reports::cost::{AzFlow, BucketUsage, Prices, Usage};
use eddy_reports::synth::{synth_history, SplitMix64};
use eddy_reports::{
    render_html, render_whatif_html, render_whatif_markdown, CheckOptions, Class, FaultWindow,
    HtmlReport, Op, RunReport, WhatIf, WhatIfRow,
};

fn usage() -> Usage {
    let flow = |src: &str, dst: &str, bytes: u64| AzFlow {
        src: src.into(),
        dst: dst.into(),
        bytes,
    };
    Usage {
        duration_s: 120.0,
        window_s: 0.0,
        buckets: vec![
            BucketUsage {
                bucket: "ingest".into(),
                class: "s3_standard".into(),
                puts: 480,
                gets: 900,
                heads: 0,
                lists: 2,
                deletes: 0,
                copies: 0,
                bytes_up: 512 << 20,
                bytes_down: 1 << 30,
                byte_seconds: 3.0e10,
            },
            BucketUsage {
                bucket: "journal".into(),
                class: "regional_log".into(),
                puts: 480,
                gets: 10,
                heads: 0,
                lists: 0,
                deletes: 0,
                copies: 0,
                bytes_up: 4 << 20,
                bytes_down: 1 << 20,
                byte_seconds: 1.0e8,
            },
        ],
        az_bytes: vec![
            flow("az1", "az1", 3 << 30),
            flow("az1", "az2", 1 << 28),
            flow("az2", "az3", 1 << 26),
            flow("az3", "az1", 1 << 27),
        ],
        ingested_bytes: 500 << 20,
    }
}

/// A synthetic history with one injected lost write, so the verdict section has content.
fn history_with_violation() -> Vec<Op> {
    let mut ops = synth_history(3000, 11);
    let mut rng = SplitMix64::new(5);
    common::inject::inject(Class::LostWrite, &mut ops, &mut rng).expect("injectable");
    ops
}

struct Page {
    html: String,
}

fn page(ops: &[Op], faults: &[FaultWindow]) -> Page {
    let u = usage();
    let report = RunReport::assemble(
        3,
        serde_json::json!({ "name": "test <scenario>" }),
        120.0,
        ops,
        Some(&u),
        &Prices::default(),
        &CheckOptions::default(),
    )
    .expect("report");
    let workload = |fff| KafkaWorkload {
        write_bytes_per_s: report.throughput.ingested_mib_per_s * 1_048_576.0,
        consumer_groups: 3,
        retention_hours: 24.0,
        fetch_from_follower: fff,
    };
    let baselines = [
        KafkaBaseline::compute(&workload(true), &Prices::default()),
        KafkaBaseline::compute(&workload(false), &Prices::default()),
    ];
    let notes = vec!["measured over 120 s, scaled to a day".to_string()];
    let html = render_html(&HtmlReport {
        title: "test <scenario>",
        report: &report,
        ops,
        usage: Some(&u),
        fault_windows: faults,
        baselines: &baselines,
        retained_storage_dollars_per_day: Some(retained_object_storage_dollars_per_day(
            1_048_576.0,
            24.0,
            0.023,
        )),
        prices_name: "aws",
        stored: &[],
        notes: &notes,
    });
    Page { html }
}

const CHARTS: [&str; 6] = [
    "latency-cdf",
    "throughput",
    "errors",
    "cost",
    "baseline",
    "az-matrix",
];

fn faults() -> Vec<FaultWindow> {
    vec![FaultWindow {
        start_s: 0.02,
        end_s: 0.05,
        label: "agent-az1-0 crashed".into(),
    }]
}

#[test]
fn the_page_is_self_contained_deterministic_and_has_every_chart() {
    let ops = history_with_violation();
    let a = page(&ops, &faults());
    let b = page(&ops, &faults());
    assert_eq!(a.html, b.html, "same input, same bytes");
    let html = &a.html;
    assert!(html.starts_with("<!DOCTYPE html>"));
    for id in CHARTS {
        let start = html
            .find(&format!("id=\"chart-{id}\""))
            .unwrap_or_else(|| panic!("chart {id} missing"));
        let rest = &html[start..];
        let end = rest.find("</figure>").expect("figure closed");
        assert!(
            rest[..end].contains("<svg"),
            "chart {id} has no SVG: {}",
            &rest[..end.min(300)]
        );
    }
    // Nothing loads from elsewhere (the SVG namespace is a name, not a fetch).
    for needle in ["https://", "<script", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(needle), "{needle} found in the page");
    }
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    // The title is escaped; the fault window is named.
    assert!(html.contains("test &lt;scenario&gt;"));
    assert!(html.contains("agent-az1-0 crashed"));
    // The lost write is listed with the operations behind it.
    assert!(
        html.contains("lost-write") || html.contains("lost_write"),
        "class named"
    );
    assert!(html.contains("class=\"ops\""), "operations table present");
    assert!(
        html.contains("<td>send</td>"),
        "the send behind the violation is shown"
    );
    // With what send order's exemptions depend on.
    assert!(
        html.contains("attempt(s), max in flight "),
        "the send's attempts and max_in_flight are shown"
    );
    // Cost per class, per GiB and the baseline.
    assert!(html.contains("<td>s3_standard</td>"));
    assert!(html.contains("<td>inter_az</td>"));
    assert!(html.contains("fetch-from-follower"));
}

#[test]
fn whatif_renders_a_table_and_a_page() {
    let row = |v: &str, p99: f64| WhatIfRow {
        settings: vec![("agent.batch_timeout_ms".into(), v.into())],
        status: "ok".into(),
        target_mib_per_s: 1.5,
        ingested_mib_per_s: 1.46,
        duration_s: 60.0,
        dollars_per_gib: Some(0.15),
        dollars_per_day: Some(18.5),
        dollars_per_month: Some(563.0),
        requests_dollars_per_day: Some(17.9),
        s3_api_dollars_per_day: Some(17.5),
        inter_az_dollars_per_day: Some(0.6),
        produce_p50_ms: 240.0,
        produce_p99_ms: p99,
        produce_p99_bound_ms: Some(p99 * 2.0),
        e2e_p99_bound_ms: None,
        e2e_p50_ms: 280.0,
        e2e_p99_ms: p99 + 50.0,
        puts_per_s: 24.0,
        gets_per_s: 3.0,
        kafka: vec![KafkaBaseline::compute(
            &KafkaWorkload {
                write_bytes_per_s: 1.46 * 1_048_576.0,
                consumer_groups: 3,
                retention_hours: 24.0,
                fetch_from_follower: true,
            },
            &Prices::default(),
        )],
    };
    let w = WhatIf {
        scenario: "basic-standard".into(),
        seed: 1,
        prices_name: "aws".into(),
        notes: vec!["scaled".into()],
        rows: vec![row("250", 540.0), row("50", 300.0)],
    };
    let md = render_whatif_markdown(&w);
    assert_eq!(md.lines().filter(|l| l.starts_with("| agent.")).count(), 2);
    assert!(md.contains("| 240 / 540 |"));
    let html = render_whatif_html(&w);
    for id in ["whatif-cost", "whatif-latency", "whatif-tradeoff"] {
        assert!(html.contains(&format!("id=\"chart-{id}\"><svg")), "{id}");
    }
}

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A script appended to a copy of the page (the report itself has none): after layout, it
/// measures every chart's SVG and counts what was drawn inside it, and writes the result
/// into the DOM, which `--dump-dom` prints.
const PROBE: &str = r#"<script>
window.addEventListener('load', function () {
  var out = [];
  document.querySelectorAll('figure.chart').forEach(function (f) {
    var svg = f.querySelector('svg');
    if (!svg) { out.push(f.id + ':nosvg'); return; }
    var r = svg.getBoundingClientRect();
    var st = getComputedStyle(svg);
    var drawn = 0;
    svg.querySelectorAll('polyline,path,rect,line,circle,polygon').forEach(function (e) {
      var b = e.getBBox();
      if (b.width > 0 || b.height > 0) drawn++;
    });
    var texts = svg.querySelectorAll('text').length;
    out.push(f.id + ':' + Math.round(r.width) + 'x' + Math.round(r.height) + ':' +
      st.visibility + ':' + st.display + ':drawn=' + drawn + ':texts=' + texts);
  });
  var pre = document.createElement('pre');
  pre.id = 'render-probe';
  pre.textContent = 'PROBE[' + out.join('|') + ']PROBE';
  document.body.appendChild(pre);
});
</script>"#;

#[test]
fn headless_chromium_renders_every_chart() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("EDDY_REQUIRE_CHROMIUM").is_none(),
            "EDDY_REQUIRE_CHROMIUM is set (as in .ci/run) but no chromium is on PATH"
        );
        eprintln!(
            "SKIPPED headless_chromium_renders_every_chart: no chromium on PATH \
             (`apt-get install -y chromium`; .ci/run installs it so CI runs this test)"
        );
        return;
    };
    let ops = history_with_violation();
    let html = page(&ops, &faults()).html;
    let dir = std::env::temp_dir().join(format!("eddy-html-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("report.html");
    std::fs::write(&file, html.replace("</body>", &format!("{PROBE}</body>"))).expect("write");
    let profile = dir.join("profile");
    let output = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1200,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    let probe = dom
        .rsplit("PROBE[")
        .next()
        .filter(|_| dom.matches("PROBE[").count() >= 2)
        .and_then(|r| r.split("]PROBE").next())
        .unwrap_or_else(|| {
            panic!(
                "the probe did not run; chromium status {:?}, stderr: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let charts: Vec<&str> = probe.split('|').collect();
    for id in CHARTS {
        let line = charts
            .iter()
            .find(|c| c.starts_with(&format!("chart-{id}:")))
            .unwrap_or_else(|| panic!("chart {id} not in the rendered page: {probe}"));
        let fields: Vec<&str> = line.split(':').collect();
        assert_ne!(fields[1], "nosvg", "{line}");
        let (w, h) = fields[1].split_once('x').expect("size");
        let (w, h): (u32, u32) = (w.parse().expect("w"), h.parse().expect("h"));
        assert!(
            w >= 200 && h >= 100,
            "chart {id} laid out too small: {line}"
        );
        assert_eq!(fields[2], "visible", "{line}");
        assert_ne!(fields[3], "none", "{line}");
        let drawn: u32 = fields[4]
            .trim_start_matches("drawn=")
            .parse()
            .expect("drawn");
        assert!(drawn >= 5, "chart {id} drew almost nothing: {line}");
        let texts: u32 = fields[5]
            .trim_start_matches("texts=")
            .parse()
            .expect("texts");
        assert!(texts >= 3, "chart {id} has no axis labels: {line}");
    }
}
