//! Coverage probes: a run reports the hits of every catalogued probe, the failover scenario
//! reaches the failover paths (a follower refusing a read and redirecting the agents, a
//! restarted leader restoring from a snapshot), and counts are the run's own: the next run
//! on the same thread starts from zero.

use eddy_scenarios::run::run;
use eddy_scenarios::spec::Scenario;

#[test]
fn a_short_failover_run_reaches_the_failover_probes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/failover.json");
    let mut scenario = Scenario::load(&path).expect("failover.json loads");
    // One leader kill (about every 10 s), and a short drain.
    scenario.duration_s = 15.0;
    scenario.drain_s = 10.0;
    let out = run(&scenario, 1);
    assert!(out.drained, "drain incomplete");
    let names: Vec<&str> = out.probes.keys().map(String::as_str).collect();
    let catalogued: Vec<&str> = eddy_probe::CATALOGUE.iter().map(|p| p.name).collect();
    assert_eq!(
        names, catalogued,
        "every probe listed, in order, zeros included"
    );
    for probe in [
        "cp.read.refused_follower",
        "cp.client.redirected",
        "cp.snapshot.restored",
        "cp.snapshot.written",
    ] {
        assert!(
            out.probes[probe] > 0,
            "{probe} not reached: {:?}",
            out.probes
        );
    }
    // Per run: nothing leaks into the next run on this thread (a run without restarts
    // restores no snapshot).
    let mut quiet = Scenario::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/basic-standard.json"),
    )
    .expect("basic-standard.json loads");
    quiet.duration_s = 5.0;
    quiet.drain_s = 5.0;
    let next = run(&quiet, 1);
    assert_eq!(next.probes["cp.snapshot.restored"], 0, "{:?}", next.probes);
    assert_eq!(next.probes.len(), catalogued.len());
}
