//! Efficiency verdicts in a run: zone-aware clients stay in their AZ (`cross_az_traffic`) and
//! object-storage requests stay within the scenario's model (`storage_requests`). Each is
//! broken on purpose by a planted bug that is safe but wasteful, and a clean run passes.

use eddy_controlplane::Plant;
use eddy_reports::Class;
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;

fn short_express() -> Scenario {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/short-express.json");
    Scenario::load(&path).expect("scenario loads")
}

/// The classes a run with `plant` found (none: a clean run).
fn found(plant: Option<Plant>) -> (Vec<Class>, Vec<String>) {
    let mut s = short_express();
    if let Some(p) = plant {
        s.plants.0.insert(p);
    }
    let (_, report) = run_and_report(&s, 1).expect("run");
    let explanations = report
        .verdict
        .violations
        .iter()
        .map(|v| v.explanation.clone())
        .collect();
    assert!(report.verdict.judged[&Class::CrossAzTraffic] == 1);
    assert!(report.verdict.judged[&Class::StorageRequests] >= 2);
    (report.verdict.classes(), explanations)
}

#[test]
fn a_clean_run_is_efficient() {
    let (classes, why) = found(None);
    assert!(classes.is_empty(), "{classes:?}: {why:?}");
}

#[test]
fn clients_sent_across_azs_fail_cross_az_traffic() {
    // Its cross-AZ hops may also slow deliveries past their bound: other classes may join.
    let (classes, why) = found(Some(Plant::ZoneBlindMetadata));
    assert!(
        classes.contains(&Class::CrossAzTraffic),
        "{classes:?}: {why:?}"
    );
    assert!(!classes.contains(&Class::StorageRequests), "{why:?}");
}

#[test]
fn a_file_per_request_fails_storage_requests() {
    let (classes, why) = found(Some(Plant::FilePerRequest));
    assert_eq!(classes, vec![Class::StorageRequests], "{why:?}");
    assert!(
        why.iter().any(|w| w.contains("PUTs to the ingest bucket")),
        "{why:?}"
    );
}

#[test]
fn reads_that_bypass_the_zone_cache_fail_storage_requests() {
    let (classes, why) = found(Some(Plant::ZoneCacheBypass));
    assert_eq!(classes, vec![Class::StorageRequests], "{why:?}");
    assert!(
        why.iter().any(|w| w.contains("GETs from the data buckets")),
        "{why:?}"
    );
}
