//! The store refuses writes (`write_outage`: every bucket, journal included, refuses PUTs
//! and DELETEs while reads succeed). Nothing can be produced meanwhile, but what was
//! committed must stay readable: consumers' polls keep being answered, and the availability
//! verdict judges it (the family's read floor; a reader whose polls fail or hang counts as
//! unserved). On the control plane before it answered reads from a confirmed-latest state,
//! this run failed `unavailable` (46% of read buckets served through the outages, seed 1;
//! 100% now).

use eddy_faults::{Family, Intensity};
use eddy_scenarios::commands::{availability_verdict, run_and_report};
use eddy_scenarios::spec::{FaultMode, Scenario};

#[test]
fn committed_data_stays_readable_while_the_store_refuses_writes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/basic-standard.json");
    let mut s = Scenario::load(&path).expect("scenario loads");
    s.duration_s = 40.0;
    s.drain_s = 30.0;
    s.topology.controlplane_replicas = 3;
    s.faults.mode = FaultMode::Fixed;
    s.faults.heal_s = 20.0;
    s.faults.families.insert(
        Family::WriteOutage,
        Intensity {
            mean_interval_ms: 15_000,
            duration_ms_min: 8_000,
            duration_ms_max: 10_000,
            severity: 0.0,
        },
    );
    let (out, report) = run_and_report(&s, 1).expect("run");
    assert!(report.verdict.is_valid(), "{:?}", report.verdict.violations);
    let outages = out
        .fault_events
        .iter()
        .filter(|e| e.family == Family::WriteOutage)
        .count();
    assert!(outages >= 1, "{:?}", out.fault_events);
    let probe = |name: &str| out.probes.get(name).copied().unwrap_or(0);
    assert!(probe("cp.journal.writes_failing") > 0, "{:?}", out.probes);
    assert!(probe("cp.read.confirmed_latest") > 0, "{:?}", out.probes);
    // The floor was judged, on enough buckets, and held.
    let availability = availability_verdict(&s, &out);
    let family = availability
        .families
        .iter()
        .find(|f| f.family == Family::WriteOutage)
        .expect("write_outage judged");
    assert!(
        family.alone.read_wanted >= 20,
        "too few read buckets to judge: {family:?}"
    );
    assert!(family.alone.read_share.unwrap() >= 0.8, "{family:?}");
}
