//! Latency verdicts in a run: the bounds follow the scenario's model, a run that keeps the
//! bound written in its scenario but gets slower fails with `produce_latency`, and the
//! checkers judge the sends outside fault windows only.

use eddy_reports::Class;
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;

fn load(name: &str) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(name);
    Scenario::load(&path).expect("scenario loads")
}

#[test]
fn a_run_slower_than_its_written_bound_fails_and_the_model_moves_the_default() {
    let base = load("short-standard.json");
    let model = base.latency_model();
    // A regression that makes the batch timeout six times as long, against the bound the
    // scenario file wrote down for the old model: produce latency fails.
    let mut slow = base.clone();
    slow.agent.batch_timeout_ms *= 6;
    slow.verdicts.produce_ack_p99_ms = Some(model.produce_ack_p99_ms);
    let (_, report) = run_and_report(&slow, 1).expect("run");
    assert!(
        report.verdict.counts[&Class::ProduceLatency] == 1,
        "{:?}",
        report.verdict.counts
    );
    let v = report
        .verdict
        .violations
        .iter()
        .find(|v| v.class == Class::ProduceLatency)
        .expect("listed");
    assert!(
        v.explanation.contains("above the bound"),
        "{}",
        v.explanation
    );
    // Without a written bound, the model's follows the slower batch timeout: a what-if,
    // not a regression.
    slow.verdicts.produce_ack_p99_ms = None;
    assert!(slow.latency_model().produce_ack_p99_ms > model.produce_ack_p99_ms + 1_000.0);
    let (_, report) = run_and_report(&slow, 1).expect("run");
    assert!(report.verdict.is_valid(), "{:?}", report.verdict.counts);
}

#[test]
fn express_promises_less_than_standard_and_bounds_can_be_switched_off() {
    let standard = load("short-standard.json");
    let express = load("short-express.json");
    let (s, e) = (standard.latency_model(), express.latency_model());
    assert!(
        e.produce_ack_p99_ms < s.produce_ack_p99_ms / 3.0,
        "{e:?} vs {s:?}"
    );
    assert!(e.delivery_p99_ms < s.delivery_p99_ms, "{e:?} vs {s:?}");
    let mut off = standard.clone();
    off.verdicts.latency = false;
    assert!(off.latency_bounds(&[]).is_none());
    // Fault windows are excluded with the recovery margin.
    let b = standard
        .latency_bounds(&[(10_000, 11_000)])
        .expect("bounds");
    let margin = (standard.faults.recovery_bound_s * 1e6) as u64;
    assert!(!b.quiet(10_500_000, 10_600_000) && !b.quiet(11_000_000 + margin - 1, u64::MAX));
    let warmup = (standard.verdicts.warmup_s * 1e6) as u64;
    assert!(!b.quiet(0, 999_999), "the warm-up is not judged");
    assert!(b.quiet(warmup, 9_999_999) && b.quiet(11_000_000 + margin, u64::MAX));
    // A send invoked before the fault but still waiting when it starts is not quiet.
    assert!(!b.quiet(9_900_000, 10_100_000));
    // BUGGIFY's delays are deliberate: latency is not judged with it on.
    let mut buggy = standard.clone();
    buggy.buggify = true;
    assert!(buggy.latency_bounds(&[]).is_none());
}
