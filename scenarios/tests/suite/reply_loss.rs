//! Reply loss (`reply_loss`): servers lose responses after serving their requests, so a
//! commit lands and its caller hears nothing. Agents must report such outcomes as unknown and
//! retry without applying anything twice; producers retry sends whose acknowledgement was
//! lost. Every checker must stay quiet, and the fault must really bite: control-plane calls
//! lose their answers and retried commits are recognised by their file id.

use eddy_faults::{Family, Intensity};
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::{FaultMode, Scenario};

#[test]
fn lost_replies_lose_nothing_and_apply_nothing_twice() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/short-express.json");
    let mut s = Scenario::load(&path).expect("scenario loads");
    s.duration_s = 20.0;
    s.workload.idempotent = true;
    s.workload.max_in_flight = 5;
    s.faults.mode = FaultMode::Fixed;
    s.faults.heal_s = 10.0;
    s.faults.families.insert(
        Family::ReplyLoss,
        Intensity {
            mean_interval_ms: 1_000,
            duration_ms_min: 2_000,
            duration_ms_max: 4_000,
            severity: 0.3,
        },
    );
    let (out, report) = run_and_report(&s, 1).expect("run");
    assert!(report.verdict.is_valid(), "{:?}", report.verdict.violations);
    let lost = out
        .fault_events
        .iter()
        .filter(|e| e.family == Family::ReplyLoss)
        .count();
    assert!(lost >= 5, "{:?}", out.fault_events);
    let probe = |name: &str| out.probes.get(name).copied().unwrap_or(0);
    assert!(probe("cp.client.connection_lost") > 0, "{:?}", out.probes);
    assert!(probe("cp.commit.dedup_by_file_id") > 0, "{:?}", out.probes);
    let retried = out
        .ops
        .iter()
        .filter(|o| matches!(o.kind, eddy_reports::OpKind::Send { attempts, .. } if attempts > 1))
        .count();
    assert!(retried > 0, "no send was retried");
}
