//! Honest errors in a run: a control plane that answers OFFSET_OUT_OF_RANGE at the high
//! watermark (planted) makes caught-up consumers reset; only `unjustified_error` sees it.

use eddy_controlplane::Plant;
use eddy_reports::Class;
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;

#[test]
fn out_of_range_at_the_head_is_an_unjustified_error() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/short-express.json");
    let clean = Scenario::load(&path).expect("scenario loads");
    let (_, report) = run_and_report(&clean, 1).expect("run");
    assert!(report.verdict.is_valid(), "{:?}", report.verdict.counts);

    let mut planted = clean.clone();
    planted.plants.0.insert(Plant::OutOfRangeAtHead);
    let (out, report) = run_and_report(&planted, 1).expect("run");
    // The resets replay the partition from its start, which may also slow deliveries past
    // their bound; no safety class sees anything.
    let classes = report.verdict.classes();
    assert!(classes.contains(&Class::UnjustifiedError), "{classes:?}");
    assert!(
        classes
            .iter()
            .all(|c| matches!(c, Class::UnjustifiedError | Class::DeliveryLatency)),
        "{classes:?}"
    );
    let resets = out
        .ops
        .iter()
        .filter(|o| {
            matches!(
                o.kind,
                eddy_reports::OpKind::Seek {
                    reset_from: Some(_),
                    ..
                }
            )
        })
        .count();
    assert!(resets > 0);
}
