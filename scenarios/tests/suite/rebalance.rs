//! Groups settle once members stop failing (`rebalance_incomplete`): a coordinator that
//! expels members while they heartbeat (planted) keeps its groups rebalancing, which no
//! safety class notices; a clean run settles.

use eddy_controlplane::Plant;
use eddy_reports::Class;
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;

fn scenario() -> Scenario {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/short-express.json");
    let mut s = Scenario::load(&path).expect("scenario loads");
    // Long enough for the settle bound (two session timeouts + takeover + agent TTL) to pass.
    s.duration_s = 25.0;
    s
}

#[test]
fn a_clean_run_settles_and_expelling_heartbeating_members_does_not() {
    let (_, report) = run_and_report(&scenario(), 1).expect("run");
    assert!(report.verdict.is_valid(), "{:?}", report.verdict.counts);
    assert_eq!(report.verdict.judged[&Class::RebalanceIncomplete], 3);

    let mut planted = scenario();
    planted.plants.0.insert(Plant::HeartbeatIgnored);
    let (_, report) = run_and_report(&planted, 1).expect("run");
    let classes = report.verdict.classes();
    assert!(classes.contains(&Class::RebalanceIncomplete), "{classes:?}");
    let why = &report
        .verdict
        .violations
        .iter()
        .find(|v| v.class == Class::RebalanceIncomplete)
        .expect("listed")
        .explanation;
    assert!(why.contains("still rebalancing"), "{why}");
}
