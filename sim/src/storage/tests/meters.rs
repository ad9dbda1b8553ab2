//! Metering: requests by kind, bytes up and down, byte-seconds stored in simulated time,
//! and a deterministic serialised snapshot.

use std::time::Duration;

use object_store::{ObjectStore, PutPayload};

use super::path;
use crate::storage::{Meters, SimObjectStore, StorageClass, StorageProfile};

#[madsim::test]
async fn requests_bytes_and_byte_seconds() {
    let meters = Meters::new();
    let store = SimObjectStore::new(
        "ingest",
        StorageProfile::s3_express(),
        Some("az1".into()),
        meters.clone(),
        1,
        None,
    );
    store
        .put(&path("a"), PutPayload::from(vec![0u8; 1000]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let snap = meters.snapshot();
    let m = &snap.buckets["ingest"];
    assert_eq!(m.class, StorageClass::S3Express);
    assert_eq!((m.stored_bytes, m.stored_objects), (1000, 1));
    // madsim's clock drifts by tens of ns per scheduling step; 1000 B x 10 us = 0.01.
    assert!(
        (m.byte_seconds - 10_000.0).abs() < 0.01,
        "{}",
        m.byte_seconds
    );

    let range = store.get_range(&path("a"), 0..100).await.unwrap();
    assert_eq!(range.len(), 100);
    store.head(&path("a")).await.unwrap();
    store.delete(&path("a")).await.unwrap();
    let after_delete = meters.bucket("ingest").unwrap().byte_seconds;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let m = meters.bucket("ingest").unwrap();
    assert_eq!(
        m.byte_seconds, after_delete,
        "nothing stored, nothing accrues"
    );
    assert_eq!(m.stored_bytes, 0);
    assert_eq!(
        (
            m.requests.put,
            m.requests.get,
            m.requests.head,
            m.requests.delete
        ),
        (1, 1, 1, 1)
    );
    assert_eq!((m.bytes_uploaded, m.bytes_downloaded), (1000, 100));
    assert_eq!((m.requests.put_tier(), m.requests.get_tier()), (1, 2));
}

#[madsim::test]
async fn snapshot_is_ordered_and_serialisable() {
    let meters = Meters::new();
    for name in ["zeta", "alpha", "mid"] {
        let store = SimObjectStore::new(
            name,
            StorageProfile::s3_standard(),
            None,
            meters.clone(),
            1,
            None,
        );
        store.put(&path("k"), "v".into()).await.unwrap();
    }
    let snap = meters.snapshot();
    let names: Vec<_> = snap.buckets.keys().cloned().collect();
    assert_eq!(names, vec!["alpha", "mid", "zeta"]);
    let json = serde_json::to_string(&snap).unwrap();
    assert_eq!(
        serde_json::from_str::<crate::storage::MetersSnapshot>(&json).unwrap(),
        snap
    );
    let by_class = snap.by_class();
    assert_eq!(by_class[&StorageClass::S3Standard].requests.put, 3);
}

#[madsim::test]
async fn reads_are_split_by_the_callers_az() {
    let meters = Meters::new();
    let store = SimObjectStore::new(
        "ingest",
        StorageProfile::s3_standard(),
        None,
        meters.clone(),
        1,
        None,
    );
    store
        .put(&path("a"), PutPayload::from(vec![0u8; 1000]))
        .await
        .unwrap();
    let (az1, az2) = (store.view_from("az1"), store.view_from("az2"));
    az1.get_range(&path("a"), 0..100).await.unwrap();
    az1.get_range(&path("a"), 100..400).await.unwrap();
    az2.get_range(&path("a"), 0..1000).await.unwrap();
    // A caller without an AZ counts in the bucket's totals only.
    store.get_range(&path("a"), 0..10).await.unwrap();
    let m = meters.bucket("ingest").unwrap();
    assert_eq!((m.requests.get, m.bytes_downloaded), (4, 1410));
    let reads: Vec<(String, u64, u64)> = m
        .reads_by_az
        .iter()
        .map(|(az, r)| (az.clone(), r.gets, r.bytes_downloaded))
        .collect();
    assert_eq!(
        reads,
        [("az1".to_string(), 2, 400), ("az2".to_string(), 1, 1000)]
    );
}
