//! Producer retries under ambiguous failures: the producer's request timeout is shorter
//! than a file commit, so requests time out although the agent commits them, and the
//! producer retries. With idempotence the control plane recognises every retried batch
//! (zero duplicates); without it the checker reports the duplicates.

use eddy_reports::{check_with, CheckOptions, Class};
use eddy_scenarios::run::run;
use eddy_scenarios::spec::Scenario;

fn scenario(idempotent: bool) -> Scenario {
    let text = format!(
        r#"{{
  "name": "ambiguous-retries",
  "topology": {{ "azs": ["az1"], "agents_per_az": 1, "producers_per_az": 1, "consumers_per_az": 0, "controlplane_az": "az1" }},
  "workload": {{ "partitions": 3, "records_per_s": 200, "idempotent": {idempotent}, "max_in_flight": 5,
                "request_timeout_ms": 400, "delivery_timeout_ms": 60000, "group_mode": "none" }},
  "storage": {{ "ingest": {{ "class": "s3_standard" }} }},
  "duration_s": 6,
  "drain_s": 30
}}"#
    );
    Scenario::parse(&text).expect("scenario parses")
}

fn duplicates(idempotent: bool) -> (usize, bool) {
    let out = run(&scenario(idempotent), 3);
    let verdict = check_with(
        &out.ops,
        &CheckOptions {
            non_idempotent_at_most_once: true,
            ..CheckOptions::default()
        },
    );
    let dups = verdict
        .violations
        .iter()
        .filter(|v| v.class == Class::Duplicate)
        .count();
    let others_clean = verdict
        .violations
        .iter()
        .all(|v| v.class == Class::Duplicate);
    assert!(out.drained, "drain incomplete (idempotent: {idempotent})");
    let acked = out
        .ops
        .iter()
        .filter(|o| {
            matches!(o.kind, eddy_reports::OpKind::Send { .. })
                && o.outcome == eddy_reports::Outcome::Ok
        })
        .count();
    eprintln!("idempotent {idempotent}: {acked} sends acknowledged, {dups} duplicates");
    assert!(acked > 500, "only {acked} sends acknowledged");
    (dups, others_clean)
}

#[test]
fn idempotence_removes_the_duplicates_that_retries_cause() {
    let (with, clean) = duplicates(true);
    assert_eq!(with, 0, "idempotent producer: duplicates found");
    assert!(clean, "idempotent producer: other violations found");
    let (without, _) = duplicates(false);
    assert!(
        without > 0,
        "plain producer with timed-out retries: the checker found no duplicate"
    );
}
