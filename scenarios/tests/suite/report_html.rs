//! `eddy run` writes report.html beside report.json, honours `--set` overrides and the
//! `--prices` preset.

use eddy_scenarios::commands::{run, PricePreset, RunArgs};

#[test]
fn run_writes_the_page_with_overrides_and_seed_prices() {
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/short-standard.json");
    let out = std::env::temp_dir().join(format!("eddy-report-html-{}", std::process::id()));
    let code = run(RunArgs {
        scenario,
        seed: 3,
        out: Some(out.clone()),
        json: true,
        sets: vec!["duration_s=2".into(), "agent.batch_timeout_ms=100".into()],
        prices: PricePreset::Seed,
        plants: Vec::new(),
        pages_if_failed: false,
    })
    .expect("run");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html written");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json"))
            .expect("valid json");
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(json["parameters"]["duration_s"], 2.0);
    assert_eq!(json["parameters"]["agent"]["batch_timeout_ms"], 100);
    for id in [
        "latency-cdf",
        "throughput",
        "errors",
        "cost",
        "baseline",
        "az-matrix",
    ] {
        assert!(
            html.contains(&format!("id=\"chart-{id}\"><svg")),
            "chart {id} missing from report.html"
        );
    }
    assert!(html.contains("prices: seed"));
    // Seed prices: inter-zone at $0.05 per GB.
    let lines = json["cost"]["lines"].as_array().expect("cost lines");
    let inter_az = lines
        .iter()
        .find(|l| l["class"] == "inter_az")
        .expect("some inter-AZ traffic");
    let rate = inter_az["dollars"].as_f64().unwrap() / inter_az["quantity"].as_f64().unwrap();
    assert!((rate - 0.05).abs() < 1e-3, "inter-AZ priced at {rate}/GB");
}

#[test]
fn a_passing_run_asked_for_pages_if_failed_writes_the_report_alone() {
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/short-standard.json");
    let out = std::env::temp_dir().join(format!("eddy-pages-if-failed-{}", std::process::id()));
    let code = run(RunArgs {
        scenario,
        seed: 3,
        out: Some(out.clone()),
        json: true,
        sets: vec!["duration_s=2".into()],
        prices: PricePreset::Aws,
        plants: Vec::new(),
        pages_if_failed: true,
    })
    .expect("run");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert!(out.join("report.json").is_file());
    assert!(!out.join("report.html").exists());
    assert!(!out.join("history.jsonl").exists());
    let _ = std::fs::remove_dir_all(&out);
}
