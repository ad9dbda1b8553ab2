//! `unjustified_error`: OFFSET_OUT_OF_RANGE (a consumer's reset, a Seek with `reset_from`)
//! for an offset the history proves was inside [log start, high watermark]. One producer
//! "p0" on topic "t", partition 0; times in microseconds.

use crate::common;

use common::{assert_classes, H};
use eddy_reports::{check, Class, OpKind, Outcome};

/// Ten sends acknowledged at offsets 0..10 by 1 s; a consumer told OFFSET_OUT_OF_RANGE for
/// `from` at 2 s resets to `to`; a drain at 10 s reads offsets `drained_from..10`.
fn history(from: i64, to: i64, drained_from: i64) -> H {
    let mut h = H::new();
    for i in 0..10 {
        h.send(
            "p0",
            &format!("v{i}"),
            i,
            (i as u64 * 1000, i as u64 * 1000 + 500),
        );
    }
    h.push(
        "c0",
        2_000_000,
        Some(2_001_000),
        Outcome::Ok,
        OpKind::Seek {
            topic: "t".into(),
            partition: 0,
            offset: to,
            reset_from: Some(from),
        },
    );
    let names: Vec<String> = (drained_from..10).map(|i| format!("v{i}")).collect();
    let read: Vec<(i64, &str)> = (drained_from..10)
        .zip(names.iter())
        .map(|(o, v)| (o, v.as_str()))
        .collect();
    h.drain(drained_from, &read, Some(10), (10_000_000, 10_001_000));
    h
}

#[test]
fn out_of_range_inside_the_log_is_unjustified() {
    let v = check(&history(4, 10, 0).ops);
    assert_classes(&v, &[Class::UnjustifiedError]);
    assert_eq!(v.judged[&Class::UnjustifiedError], 1);
    assert!(v.violations[0]
        .explanation
        .contains("OFFSET_OUT_OF_RANGE for offset 4"));
}

#[test]
fn out_of_range_at_the_high_watermark_is_unjustified_too() {
    // A fetch at the high watermark is a caught-up consumer, not an out-of-range one.
    let v = check(&history(10, 0, 0).ops);
    assert_classes(&v, &[Class::UnjustifiedError]);
}

#[test]
fn out_of_range_past_the_high_watermark_is_justified() {
    let v = check(&history(11, 10, 0).ops);
    assert_classes(&v, &[]);
    assert_eq!(v.judged[&Class::UnjustifiedError], 1);
}

#[test]
fn out_of_range_below_what_is_readable_later_is_not_judged_a_lie() {
    // Nothing at or below offset 4 was read after the reset: retention may have deleted it
    // (the drain starts at 5), so the error may have been true.
    let v = check(&history(4, 5, 5).ops);
    assert!(
        v.counts[&Class::UnjustifiedError] == 0,
        "{:?}",
        v.violations
    );
}
