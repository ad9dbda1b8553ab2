//! The cost model against hand-computed bills and the AWS S3 FAQ's own worked example.

use eddy_reports::cost::{
    cost, AzFlow, BucketUsage, CostKind, Prices, Usage, BYTES_PER_GB, SECONDS_PER_MONTH,
};
use eddy_reports::Error;

const GIB: u64 = 1 << 30;

fn bucket(name: &str, class: &str) -> BucketUsage {
    BucketUsage {
        bucket: name.into(),
        class: class.into(),
        puts: 0,
        gets: 0,
        heads: 0,
        lists: 0,
        deletes: 0,
        copies: 0,
        bytes_up: 0,
        bytes_down: 0,
        byte_seconds: 0.0,
    }
}

fn usage(buckets: Vec<BucketUsage>, az_bytes: Vec<AzFlow>) -> Usage {
    Usage {
        duration_s: 3600.0,
        window_s: 0.0,
        buckets,
        az_bytes,
        ingested_bytes: 10 * GIB,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn s3_standard_requests_and_storage() {
    let mut b = bucket("ingest", "s3_standard");
    b.puts = 1_000_000;
    b.gets = 10_000_000;
    b.lists = 1000;
    b.heads = 1000;
    b.deletes = 1000;
    b.bytes_up = 100 * GIB;
    b.byte_seconds = GIB as f64 * SECONDS_PER_MONTH;
    let c = cost(&usage(vec![b], vec![]), &Prices::default()).expect("priced");
    // $5 of PUTs, $4 of GETs, LIST like PUT, HEAD like GET, DELETE free, no transfer fee.
    let line = |k: CostKind| c.lines.iter().find(|l| l.kind == k).map(|l| l.dollars);
    assert_eq!(line(CostKind::Put), Some(5.0));
    assert_eq!(line(CostKind::Get), Some(4.0));
    assert!(close(
        line(CostKind::OtherRequests).unwrap_or(0.0),
        0.005 + 0.0004
    ));
    assert_eq!(line(CostKind::TransferIn), None);
    assert!(close(line(CostKind::Storage).unwrap_or(0.0), 0.023));
    assert!(close(c.total_dollars, 9.0054 + 0.023));
    assert!(close(
        c.dollars_per_day.unwrap_or(0.0),
        c.total_dollars * 24.0
    ));
    assert!(close(
        c.dollars_per_month.unwrap_or(0.0),
        c.total_dollars * 730.0
    ));
    assert!(close(
        c.dollars_per_gib_ingested.unwrap_or(0.0),
        c.total_dollars / 10.0
    ));
}

#[test]
fn s3_express_matches_the_aws_faq_example() {
    // https://aws.amazon.com/s3/faqs/ Express One Zone example 1: 10 GB stored for a month,
    // 1,000,000 PUTs and 9,000,000 GETs of 10 KB: $1.10 + $1.13 + $0.27 + $0.03 + $0.05.
    let mut b = bucket("low-latency-bucket", "s3_express");
    b.puts = 1_000_000;
    b.gets = 9_000_000;
    b.bytes_up = 1_000_000 * 10 * 1024;
    b.bytes_down = 9_000_000 * 10 * 1024;
    b.byte_seconds = 10.0 * BYTES_PER_GB * SECONDS_PER_MONTH;
    let c = cost(&usage(vec![b], vec![]), &Prices::default()).expect("priced");
    assert!((c.total_dollars - 2.58).abs() < 0.01, "{c:#?}");
    assert!(close(c.storage_dollars, 1.10));
    assert!(c
        .lines
        .iter()
        .any(|l| l.kind == CostKind::TransferOut && (l.dollars - 0.05).abs() < 0.005));
}

#[test]
fn regional_log_bills_write_units_of_one_kilobyte() {
    let mut b = bucket("journal", "regional_log");
    b.puts = 1000;
    b.bytes_up = 3_000_000; // 3 KB per write: 2,930 write units.
    b.gets = 10;
    let c = cost(&usage(vec![b], vec![]), &Prices::default()).expect("priced");
    let put = c
        .lines
        .iter()
        .find(|l| l.kind == CostKind::Put)
        .expect("put line");
    assert_eq!((put.quantity, put.unit.as_str()), (2930.0, "write units"));
    assert!(close(put.dollars, 2930.0 * 0.625 / 1e6));
}

#[test]
fn inter_az_is_charged_on_both_sides_and_same_az_is_free() {
    let flows = vec![
        AzFlow {
            src: "az1".into(),
            dst: "az2".into(),
            bytes: GIB,
        },
        AzFlow {
            src: "az1".into(),
            dst: "az1".into(),
            bytes: 50 * GIB,
        },
    ];
    let c = cost(&usage(vec![], flows.clone()), &Prices::default()).expect("priced");
    assert!(close(c.inter_az_dollars, 0.02));
    assert_eq!(c.lines.len(), 1);
    assert_eq!(c.lines[0].item, "az1 -> az2");
    let seed = cost(&usage(vec![], flows), &Prices::seed_document()).expect("priced");
    assert!(close(seed.inter_az_dollars, 0.05));
}

#[test]
fn seed_document_prices_standard_storage_at_two_cents() {
    let mut b = bucket("b", "s3_standard");
    b.byte_seconds = BYTES_PER_GB * SECONDS_PER_MONTH;
    let c = cost(&usage(vec![b], vec![]), &Prices::seed_document()).expect("priced");
    assert!(close(c.storage_dollars, 0.02));
}

#[test]
fn bad_usage_is_an_error_not_a_panic() {
    let err = cost(
        &usage(vec![bucket("b", "glacier")], vec![]),
        &Prices::default(),
    );
    assert!(matches!(err, Err(Error::UnknownStorageClass { .. })));
    let mut u = usage(vec![], vec![]);
    u.duration_s = f64::NAN;
    assert!(matches!(
        cost(&u, &Prices::default()),
        Err(Error::Invalid { .. })
    ));
    u.duration_s = 0.0;
    u.ingested_bytes = 0;
    let c = cost(&u, &Prices::default()).expect("empty run");
    assert_eq!(
        (
            c.total_dollars,
            c.dollars_per_day,
            c.dollars_per_gib_ingested
        ),
        (0.0, None, None)
    );
}

#[test]
fn prices_round_trip_through_json() {
    let p = Prices::default();
    let text = serde_json::to_string(&p).expect("ser");
    let back: Prices = serde_json::from_str(&text).expect("de");
    assert_eq!(back, p);
}
