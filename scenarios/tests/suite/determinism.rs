//! Same seed, byte-identical output, with logging on or off; another seed, different latencies.
//! Each run is a fresh `eddy` process, as a user would run it.

use std::process::Command;

fn run(seed: u64, out: &std::path::Path) -> String {
    run_logged(seed, out, None)
}

/// `log` is `EDDY_LOG`: a log subscriber draws std's hash keys before the run starts, which
/// once made every logged run of a seed a different run.
fn run_logged(seed: u64, out: &std::path::Path, log: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eddy"));
    match log {
        Some(filter) => command.env("EDDY_LOG", filter),
        None => command.env_remove("EDDY_LOG"),
    };
    let output = command
        .args([
            "run",
            "tests/specs/short-standard.json",
            "--seed",
            &seed.to_string(),
            "--json",
            "--out",
        ])
        .arg(out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("eddy runs");
    assert!(
        output.status.success(),
        "eddy run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 report")
}

fn produce_p50(report: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(report).expect("JSON report");
    v["latency"]["produce_ack"]["summary"]["p50_ms"]
        .as_f64()
        .expect("p50 present")
}

#[test]
fn same_seed_same_bytes_other_seed_other_latencies() {
    let dir = std::env::temp_dir().join(format!("eddy-determinism-{}", std::process::id()));
    let a = run(7, &dir.join("a"));
    let b = run(7, &dir.join("b"));
    assert!(a == b, "two runs of seed 7 differ");
    let history_a = std::fs::read(dir.join("a/history.jsonl")).expect("history a");
    let history_b = std::fs::read(dir.join("b/history.jsonl")).expect("history b");
    assert!(history_a == history_b, "histories of seed 7 differ");
    for (i, filter) in ["warn", "error"].into_iter().enumerate() {
        let dir_logged = dir.join(format!("logged-{i}"));
        let logged = run_logged(7, &dir_logged, Some(filter));
        let history = std::fs::read(dir_logged.join("history.jsonl")).expect("logged history");
        assert!(
            history == history_a,
            "seed 7 with EDDY_LOG={filter} gave another history"
        );
        assert!(
            logged == a,
            "seed 7 with EDDY_LOG={filter} gave another report"
        );
    }
    let c = run(8, &dir.join("c"));
    assert_ne!(
        produce_p50(&a),
        produce_p50(&c),
        "seeds 7 and 8 gave the same produce p50"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
