//! `expired_early` under retention by time alone and by time and bytes together, and the
//! per-class judged counts that say when it could not judge. One producer "p0" on topic "t",
//! partition 0; times in microseconds.

use crate::common;

use common::{assert_classes, H};
use eddy_reports::{check, Class, OpKind, Outcome};

/// `n` sends one second apart, acknowledged at offsets 0..n, then a LogStart op reporting
/// `log_start` at `at_s` seconds, under a retention of one hour (every record is young).
fn history(n: i64, log_start: i64, at_s: u64, bytes: Option<(u64, Option<u64>)>) -> H {
    let mut h = H::new();
    for i in 0..n {
        let t = i as u64 * 1_000_000;
        h.send("p0", &format!("v{i}"), i, (t, t + 1000));
    }
    h.push(
        "c0",
        at_s * 1_000_000,
        Some(at_s * 1_000_000 + 1000),
        Outcome::Ok,
        OpKind::LogStart {
            topic: "t".into(),
            partition: 0,
            log_start,
            horizon_ms: Some(3_600_000),
            bytes_limit: bytes.map(|b| b.0),
            record_bytes_max: bytes.and_then(|b| b.1),
        },
    );
    h
}

#[test]
fn young_records_deleted_under_retention_by_time_alone_expired_early() {
    let v = check(&history(10, 4, 20, None).ops);
    assert_classes(&v, &[Class::ExpiredEarly]);
    assert_eq!(v.judged[&Class::ExpiredEarly], 1);
}

#[test]
fn retention_by_bytes_excuses_young_deletions_only_when_the_log_can_exceed_the_limit() {
    // 10 records of at most 1,152 bytes: at most 11,520 bytes. A limit of 4,096 bytes may
    // delete young records; a limit of 100,000 never could.
    let allowed = check(&history(10, 4, 20, Some((4096, Some(1152)))).ops);
    assert_classes(&allowed, &[]);
    assert_eq!(allowed.judged[&Class::ExpiredEarly], 1);
    let v = check(&history(10, 4, 20, Some((100_000, Some(1152)))).ops);
    assert_classes(&v, &[Class::ExpiredEarly]);
    let why = &v.violations[0].explanation;
    assert!(
        why.contains("retention by bytes could not have deleted it"),
        "{why}"
    );
}

#[test]
fn only_records_sent_before_the_log_start_was_reported_count_towards_the_bytes() {
    // The log start is reported at 3.5 s: only offsets 0..=3 can exist then (4 records,
    // at most 4,608 bytes), so a limit of 8,192 could not have deleted offset 2, however
    // many records come later.
    let v = check(&history(10, 3, 3, Some((8192, Some(1152)))).ops);
    assert_classes(&v, &[Class::ExpiredEarly]);
}

#[test]
fn a_bytes_limit_without_a_record_size_bound_is_reported_as_not_judged() {
    let v = check(&history(10, 4, 20, Some((4096, None))).ops);
    assert_classes(&v, &[]);
    assert_eq!(v.judged[&Class::ExpiredEarly], 0);
    let silent: Vec<Class> = v.silent.iter().map(|s| s.class).collect();
    assert!(silent.contains(&Class::ExpiredEarly), "{:?}", v.silent);
}

#[test]
fn a_history_without_a_drain_says_unseen_and_gap_judged_nothing() {
    let v = check(&history(3, 0, 20, None).ops);
    let silent: Vec<Class> = v.silent.iter().map(|s| s.class).collect();
    assert_eq!(silent, vec![Class::Unseen, Class::Gap]);
    assert_eq!(v.judged[&Class::LostWrite], 3);
}
