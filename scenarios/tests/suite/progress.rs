//! Background work makes progress (`background_stalled`): a clean compaction run opens
//! obligations of every kind and keeps each one within its bound; a lease that never lapses
//! (a job held by a crashed agent stays unfinished) and a delete job that leaves a file
//! behind are each caught, while the safety checkers find nothing wrong with either.

use eddy_controlplane::Plant;
use eddy_reports::Class;
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::progress::Kind;
use eddy_scenarios::spec::Scenario;

fn compaction() -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/compaction.json");
    Scenario::load(&path).expect("compaction.json loads")
}

#[test]
fn a_clean_compaction_run_keeps_up() {
    let (out, report) = run_and_report(&compaction(), 1).expect("run");
    let p = eddy_scenarios::commands::progress_verdict(&out).expect("maintenance is on");
    for kind in [
        Kind::Compaction,
        Kind::Job,
        Kind::Delete,
        Kind::Retention,
        Kind::Orphan,
    ] {
        assert!(
            p.obligations.get(&kind).copied().unwrap_or(0) > 0,
            "{kind:?}: {p:?}"
        );
    }
    assert!(p.violations.is_empty(), "{:#?}", p.violations);
    assert!(report.verdict.judged[&Class::BackgroundStalled] > 0);
    assert_eq!(
        report.verdict.counts.get(&Class::BackgroundStalled),
        Some(&0)
    );
}

fn stalled_by(plant: Plant, needle: &str) {
    let mut scenario = compaction();
    scenario.plants.0.insert(plant);
    let (_, report) = run_and_report(&scenario, 1).expect("run");
    let stalled: Vec<&str> = report
        .verdict
        .violations
        .iter()
        .filter(|v| v.class == Class::BackgroundStalled)
        .map(|v| v.explanation.as_str())
        .collect();
    assert!(
        stalled.iter().any(|e| e.contains(needle)),
        "{plant:?}: {stalled:#?}"
    );
    assert_eq!(
        report.verdict.classes(),
        vec![Class::BackgroundStalled],
        "only progress is broken"
    );
}

#[test]
fn a_lease_that_never_lapses_stalls_its_job() {
    stalled_by(Plant::LeaseNeverLapses, "is unfinished");
}

#[test]
fn a_delete_job_that_keeps_a_file_is_caught() {
    stalled_by(
        Plant::DeleteKeepsLast,
        "still stored after its delete job finished",
    );
}
