//! Short versions of the basic scenarios pass every checker, drain completely, and land
//! their latencies where the calibrated model says (simulated time, not wall time); the full
//! basic scenarios reproduce the published latency table.

use eddy_reports::{OpKind, Outcome};
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;

fn load(name: &str) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(name);
    Scenario::load(&path).expect("scenario loads")
}

#[test]
fn short_standard_and_express_are_clean() {
    for (name, seeds) in [
        ("short-standard.json", [1u64, 2]),
        ("short-express.json", [1, 2]),
    ] {
        let scenario = load(name);
        for seed in seeds {
            let (out, report) = run_and_report(&scenario, seed).expect("run");
            assert!(out.drained, "{name} seed {seed}: drain incomplete");
            // Every acknowledged send records what send order's exemptions depend on.
            let max_in_flight = Some(scenario.workload.max_in_flight as u32);
            for op in out.ops.iter().filter(|op| op.outcome == Outcome::Ok) {
                if let OpKind::Send {
                    attempts,
                    max_in_flight: m,
                    broker,
                    ..
                } = &op.kind
                {
                    assert!(
                        *attempts >= 1 && *m == max_in_flight && broker.is_some(),
                        "{name} seed {seed}: {op:?}"
                    );
                }
            }
            assert!(
                report.verdict.is_valid(),
                "{name} seed {seed}: {:?}",
                report.verdict.violations.first()
            );
            let acked = report.throughput.sends_acked;
            assert!(
                acked > 3_000,
                "{name} seed {seed}: only {acked} sends acknowledged"
            );
            let p99 = report.latency.produce_ack.summary.p99_ms;
            if name.contains("express") {
                assert!(p99 < 150.0, "express produce p99 {p99} ms");
            } else {
                let p50 = report.latency.produce_ack.summary.p50_ms;
                assert!(
                    (175.0..=325.0).contains(&p50),
                    "standard produce p50 {p50} ms"
                );
            }
        }
    }
}

#[test]
fn bad_scenario_files_are_clear_errors() {
    let unknown = Scenario::parse(r#"{ "duration_s": 5, "durration": 3 }"#).unwrap_err();
    assert!(format!("{unknown:#}").contains("durration"), "{unknown:#}");
    let bad_az =
        Scenario::parse(r#"{ "topology": { "azs": ["a", "b"], "controlplane_az": "c" } }"#)
            .unwrap_err();
    assert!(
        format!("{bad_az:#}").contains("controlplane_az"),
        "{bad_az:#}"
    );
    let bad_rate = Scenario::parse(r#"{ "workload": { "records_per_s": -1 } }"#).unwrap_err();
    assert!(
        format!("{bad_rate:#}").contains("records_per_s"),
        "{bad_rate:#}"
    );
    let tiered = Scenario::parse(
        r#"{ "tieredStorageConfig": { "lowLatency": { "type": "S3_Express", "bucket": "low-latency-bucket" },
             "highLatency": { "type": "S3_Standard", "bucket": "high-latency-bucket" } } }"#,
    )
    .expect("the seed's tiered storage block is accepted as is");
    assert_eq!(
        tiered.storage.ingest.class,
        eddy_sim::StorageClass::S3Express
    );
}

/// The scenarios behind README's latency table reproduce WarpStream's published figures
/// ("Low Latency Clusters"): 25 ms linger, 250 ms batch, S3 Standard: produce p50 250 / p99
/// 500 ms, end-to-end p50 500 / p99 900 ms, each within ±30%; 10 ms linger, 50 ms batch, S3
/// Express: produce p50 < 80 / p99 < 150 ms, end-to-end p50 < 200 / p99 < 400 ms. The
/// end-to-end figures depend on the control plane's lookup rounds, whose length was fitted
/// to this table (README); the test keeps a change elsewhere from silently moving them.
#[test]
fn the_published_latency_table_is_reproduced() {
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let within = |what: &str, got: f64, published: f64| {
        assert!(
            (published * 0.7..=published * 1.3).contains(&got),
            "{what}: {got:.0} ms, published {published:.0} ms (±30%)"
        );
    };
    let under = |what: &str, got: f64, bound: f64| {
        assert!(
            got < bound,
            "{what}: {got:.0} ms, published < {bound:.0} ms"
        );
    };
    // (produce, end-to-end) summaries of seed 1 of a spec, after checking its verdict.
    let run = |spec: &str| {
        let scenario = Scenario::load(&specs.join(spec)).expect("loads");
        let (_, report) = run_and_report(&scenario, 1).expect("run");
        assert!(report.verdict.is_valid(), "{:?}", report.verdict.violations);
        (
            report.latency.produce_ack.summary,
            report.latency.delivery.summary,
        )
    };
    let (produce, e2e) = run("basic-standard.json");
    within("standard produce p50", produce.p50_ms, 250.0);
    within("standard produce p99", produce.p99_ms, 500.0);
    within("standard end-to-end p50", e2e.p50_ms, 500.0);
    within("standard end-to-end p99", e2e.p99_ms, 900.0);
    let (produce, e2e) = run("basic-express.json");
    under("express produce p50", produce.p50_ms, 80.0);
    under("express produce p99", produce.p99_ms, 150.0);
    under("express end-to-end p50", e2e.p50_ms, 200.0);
    under("express end-to-end p99", e2e.p99_ms, 400.0);
}
