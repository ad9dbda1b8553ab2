//! Background work makes progress (`background_stalled`): a clean compaction run opens
//! obligations of every kind and keeps each one within its bound; a lease that never lapses
//! (a job held by a crashed agent stays unfinished) and a delete job that leaves a file
//! behind are each caught, while the safety checkers find nothing wrong with either.

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

/// Run compaction.json seed 3 with `plant` as a user would (a fresh `eddy run` process:
/// in-process runs after other runs of the same test binary have been seen to take another
/// history) and expect `background_stalled`, and only it, with `needle` in its evidence.
fn stalled_by(plant: &str, needle: &str) {
    let (code, report) = crate::common::eddy_run_json(
        &["specs/compaction.json", "--seed", "3", "--plant", plant],
        &format!("progress-{plant}"),
    );
    assert_eq!(code, Some(1), "a violation fails the run");
    let violations = report["verdict"]["violations"]
        .as_array()
        .expect("violations");
    let classes: std::collections::BTreeSet<&str> = violations
        .iter()
        .filter_map(|v| v["class"].as_str())
        .collect();
    assert_eq!(
        classes,
        std::collections::BTreeSet::from(["background_stalled"]),
        "{plant}: only progress is broken"
    );
    assert!(
        violations
            .iter()
            .filter_map(|v| v["explanation"].as_str())
            .any(|e| e.contains(needle)),
        "{plant}: {violations:#?}"
    );
}

#[test]
fn a_lease_that_never_lapses_stalls_its_job() {
    stalled_by("lease-never-lapses", "is unfinished");
}

#[test]
fn a_delete_job_that_keeps_a_file_is_caught() {
    stalled_by(
        "delete-keeps-last",
        "still stored after its delete job finished",
    );
}
