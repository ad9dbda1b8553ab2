//! The failover scenario (leader killed about every 10 s, agents crashing) passes every
//! checker, and commits resume within a few seconds of each leader crash.

use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::failover::failover_stats;
use eddy_scenarios::spec::Scenario;

#[test]
fn leader_crashes_lose_nothing_and_stall_briefly() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/failover.json");
    let scenario = Scenario::load(&path).expect("failover.json loads");
    assert_eq!(scenario.topology.controlplane_replicas, 3);
    let (out, report) = run_and_report(&scenario, 3).expect("run");
    assert!(out.drained, "drain incomplete");
    assert!(
        report.verdict.is_valid(),
        "{:?}",
        report.verdict.violations.first()
    );
    let stats = failover_stats(&out.ops, &out.fault_events);
    assert!(stats.leader_kills >= 3, "{stats:?}");
    // The spec's leader kills are in the run's one fault list, marked as leader crashes.
    let kills = out
        .fault_events
        .iter()
        .filter(|f| f.family == eddy_faults::Family::ControlPlaneCrash && f.leader)
        .count();
    assert_eq!(kills, stats.leader_kills);
    assert_eq!(stats.spans_ms.len(), stats.leader_kills, "{stats:?}");
    // takeover_ms (2.5 s) plus a claim and the agents' retry backoff.
    assert!(
        stats.spans_ms.iter().all(|s| *s < 6_000.0),
        "a failover stalled commits too long: {stats:?}"
    );
}

#[test]
fn replica_counts_are_checked() {
    let err = Scenario::parse(r#"{ "topology": { "controlplane_replicas": 0 } }"#).unwrap_err();
    assert!(
        format!("{err:#}").contains("controlplane_replicas"),
        "{err:#}"
    );
    let err = Scenario::parse(r#"{ "controlplane": { "lease_ms": 3000, "takeover_ms": 2000 } }"#)
        .unwrap_err();
    assert!(format!("{err:#}").contains("takeover_ms"), "{err:#}");
}
