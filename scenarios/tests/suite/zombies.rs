//! Zombie group members (`workload.zombies`, on in groups.json): commits that reach the
//! coordinator after the group moved on — a commit held back and sent after a rebalance
//! with its old generation, and an expelled member that goes on committing before it
//! notices. The coordinator must refuse every one (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
//! REBALANCE_IN_PROGRESS) and the checker `zombie_commit` judges each commit the history
//! proves stale; a coordinator that skips the member and generation check (planted
//! `zombie-commit-accepted`) is caught.

use eddy_controlplane::Plant;
use eddy_reports::{Class, OpKind, Outcome};
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;

fn scenario() -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/groups.json");
    let mut s = Scenario::load(&path).expect("scenario loads");
    // Shorter than the campaign's run; the zombies' rate is what groups.json sets.
    s.duration_s = 30.0;
    s.drain_s = 20.0;
    s
}

/// Commits that carried a generation the member no longer had when it sent them: the
/// held-back ones (another generation or member id by then) and an expelled member's.
fn refused_by_code(ops: &[eddy_reports::Op]) -> Vec<(String, usize)> {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for op in ops {
        if let OpKind::Commit { .. } = op.kind {
            if op.outcome == Outcome::Failed {
                *by.entry(op.error.clone().unwrap_or_default()).or_default() += 1;
            }
        }
    }
    by.into_iter().collect()
}

#[test]
fn zombie_commits_are_refused_and_a_coordinator_that_accepts_them_is_caught() {
    let seed = 1;
    let (out, report) = run_and_report(&scenario(), seed).expect("run");
    let judged = report.verdict.judged[&Class::ZombieCommit];
    let refused = refused_by_code(&out.ops);
    eprintln!(
        "zombie commits judged: {judged}; refused commits by error: {refused:?}; probes: stale generation {}, unknown member {}",
        out.probes["cp.group.commit_stale_generation"],
        out.probes["cp.group.commit_unknown_member"]
    );
    assert!(judged > 0, "no commit the history proves stale was sent");
    assert!(out.probes["cp.group.commit_stale_generation"] > 0);
    assert!(out.probes["cp.group.commit_unknown_member"] > 0);
    assert!(
        report.verdict.is_valid(),
        "{:?}\n{:#?}",
        report.verdict.counts,
        report.verdict.violations.first()
    );

    let mut planted = scenario();
    planted.plants.0.insert(Plant::ZombieCommitAccepted);
    let (_, report) = run_and_report(&planted, seed).expect("run");
    let classes = report.verdict.classes();
    assert!(classes.contains(&Class::ZombieCommit), "{classes:?}");
    let why = &report
        .verdict
        .violations
        .iter()
        .find(|v| v.class == Class::ZombieCommit)
        .expect("listed")
        .explanation;
    assert!(why.contains("no longer current"), "{why}");
}
