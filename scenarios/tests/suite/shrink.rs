//! `eddy shrink`: a listed schedule (`faults.mode = scheduled`) runs exactly its faults, and
//! shrinking a planted failure keeps the one fault it needs and drops the rest.

use eddy_faults::{Family, Fault, ScheduledFault, Target};
use eddy_scenarios::shrink::{shrink, ShrinkOptions};
use eddy_scenarios::spec::{FaultMode, Scenario};

fn fault(at_ms: u64, duration_ms: u64, family: Family, fault: Fault) -> ScheduledFault {
    ScheduledFault {
        at_ms,
        duration_ms,
        family,
        fault,
    }
}

#[test]
fn shrinking_keeps_the_fault_a_planted_failure_needs() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/plants.json");
    let mut s = Scenario::load(&path).expect("plants.json loads");
    s.duration_s = 16.0;
    s.faults.heal_s = 8.0;
    s.drain_s = 20.0;
    s.buggify = false;
    s.plants =
        eddy_controlplane::Plants([eddy_controlplane::Plant::OffsetReuseAfterFailover].into());
    s.faults.mode = FaultMode::Scheduled;
    s.faults.swarm_families = Vec::new();
    s.faults.schedule = vec![
        fault(
            6_000,
            2_000,
            Family::LatencySpike,
            Fault::LatencySpike { extra_ms: 300.0 },
        ),
        fault(
            8_000,
            3_000,
            Family::ControlPlaneCrash,
            Fault::Crash {
                target: Target::ControlPlaneLeader,
            },
        ),
        fault(
            12_000,
            1_000,
            Family::PacketLoss,
            Fault::PacketLoss { rate: 0.05 },
        ),
    ];
    s.validate().expect("a listed schedule is a valid scenario");
    let shrunk = shrink(
        &s,
        1,
        &ShrinkOptions {
            class: Some("inconsistent_offsets".into()),
            max_runs: 40,
        },
    )
    .expect("the planted failure shrinks");
    let kept: Vec<Family> = shrunk
        .scenario
        .faults
        .schedule
        .iter()
        .map(|f| f.family)
        .collect();
    assert_eq!(kept, vec![Family::ControlPlaneCrash], "{shrunk:?}");
    assert!(shrunk.scenario.drain_s < s.drain_s, "{shrunk:?}");
    assert_eq!(shrunk.faults_before, 3);
}
