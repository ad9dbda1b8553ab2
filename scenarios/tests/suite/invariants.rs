//! The invariant checker: a clean run has no `invariant` violation, and a follower that
//! silently skips one journal entry (plant `follower-skips-entry`) is caught by the replica
//! comparison while the history checkers, which see only what clients saw, find nothing.

use eddy_controlplane::Plant;
use eddy_reports::Class;
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;

const SPEC: &str = r#"{
  "name": "invariants-test",
  "topology": { "azs": ["az1", "az2", "az3"], "agents_per_az": 1, "producers_per_az": 1, "consumers_per_az": 1, "controlplane_az": "az1", "controlplane_replicas": 3 },
  "workload": { "topic": "events", "partitions": 4, "records_per_s": 100, "record_bytes": 256 },
  "duration_s": 10,
  "drain_s": 10
}"#;

#[test]
fn a_clean_run_keeps_every_invariant() {
    let scenario = Scenario::parse(SPEC).expect("spec parses");
    let (out, report) = run_and_report(&scenario, 3).expect("run");
    assert!(out.drained, "drain incomplete");
    assert!(out.invariants.is_empty(), "{:#?}", out.invariants);
    assert_eq!(report.verdict.counts.get(&Class::Invariant), Some(&0));
    assert!(
        report.verdict.is_valid(),
        "{:?}",
        report.verdict.violations.first()
    );
}

#[test]
fn a_follower_that_skips_an_entry_is_caught_by_the_invariant_checker_alone() {
    let mut scenario = Scenario::parse(SPEC).expect("spec parses");
    scenario.plants.0.insert(Plant::FollowerSkipsEntry);
    let (out, report) = run_and_report(&scenario, 3).expect("run");
    assert!(out.drained, "drain incomplete");
    let invariant = report.verdict.counts.get(&Class::Invariant).copied();
    assert!(invariant.unwrap_or(0) > 0, "{:#?}", report.verdict.counts);
    // The replicas' digests disagree at a journal entry, and the explanation names them.
    assert!(
        out.invariants
            .iter()
            .any(|v| v.explanation.contains("replicas disagree at journal entry")),
        "{:#?}",
        out.invariants
    );
    // What clients saw is fine: only the leader answers them.
    let client_classes: Vec<Class> = report
        .verdict
        .classes()
        .into_iter()
        .filter(|c| *c != Class::Invariant)
        .collect();
    assert!(client_classes.is_empty(), "{client_classes:?}");
    assert!(!report.verdict.is_valid());
    assert_eq!(report.exit_code(), 1);
}
