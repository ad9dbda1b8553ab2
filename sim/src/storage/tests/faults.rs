//! Fault hooks: fail before applying, apply then fail (ambiguous), latency spikes, outages;
//! all drawn from the bucket's seeded RNG.

use std::time::Duration;

use object_store::ObjectStore;

use super::{assert_close, inline_store, path};
use crate::storage::{StorageFaults, StorageProfile};
use crate::SimError;

fn injected(err: &object_store::Error) -> &SimError {
    SimError::from_store(err).expect("a simulator error")
}

#[madsim::test]
async fn fail_before_does_not_apply() {
    let store = inline_store(StorageProfile::s3_express(), 1);
    store.set_faults(StorageFaults {
        fail_before_prob: 1.0,
        ..Default::default()
    });
    let err = store.put(&path("x"), "v".into()).await.unwrap_err();
    assert!(matches!(
        injected(&err),
        SimError::InjectedFault { applied: false, .. }
    ));
    assert!(err.to_string().contains("before it was applied"), "{err}");
    assert!(store.peek(&path("x")).is_none());
    let m = store.meters().bucket("bucket").unwrap();
    assert_eq!((m.requests.put, m.injected_errors.put), (1, 1));
}

#[madsim::test]
async fn fail_after_applies_then_reports_an_error() {
    let store = inline_store(StorageProfile::s3_express(), 1);
    store.set_faults(StorageFaults {
        fail_after_prob: 1.0,
        ..Default::default()
    });
    let err = store.put(&path("x"), "v".into()).await.unwrap_err();
    assert!(matches!(
        injected(&err),
        SimError::InjectedFault { applied: true, .. }
    ));
    assert!(store.peek(&path("x")).is_some());
    store.set_faults(StorageFaults::none());
    assert!(store.get(&path("x")).await.is_ok());
}

#[madsim::test]
async fn outage_fails_fast_without_applying() {
    let store = inline_store(StorageProfile::s3_standard(), 1);
    store.set_faults(StorageFaults {
        outage: true,
        ..Default::default()
    });
    let start = tokio::time::Instant::now();
    let err = store.put(&path("x"), "v".into()).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_millis(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(injected(&err), SimError::Outage { .. }));
    assert!(store.peek(&path("x")).is_none());
    let m = store.meters().bucket("bucket").unwrap();
    assert_eq!((m.requests.put, m.refused.put), (0, 1));
}

#[madsim::test]
async fn refused_writes_apply_nothing_and_reads_still_succeed() {
    let store = inline_store(StorageProfile::s3_standard(), 1);
    store.put(&path("old"), "v".into()).await.unwrap();
    store.set_faults(StorageFaults {
        writes_refused: true,
        ..Default::default()
    });
    let err = store.put(&path("x"), "v".into()).await.unwrap_err();
    assert!(matches!(injected(&err), SimError::WriteRefused { .. }));
    assert!(store.peek(&path("x")).is_none());
    assert!(store.delete(&path("old")).await.is_err());
    assert!(store.peek(&path("old")).is_some());
    let read = store
        .get(&path("old"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&read[..], b"v");
    assert!(store.head(&path("old")).await.is_ok());
    let m = store.meters().bucket("bucket").unwrap();
    assert_eq!((m.refused.put, m.refused.delete, m.requests.get), (1, 1, 1));
    store.set_faults(StorageFaults::none());
    store.put(&path("x"), "v".into()).await.unwrap();
}

#[madsim::test]
async fn extra_latency_adds_exactly_to_every_request() {
    let plain = inline_store(StorageProfile::s3_standard(), 8);
    let slow = inline_store(StorageProfile::s3_standard(), 8);
    slow.set_faults(StorageFaults {
        extra_latency_ms: 500.0,
        ..Default::default()
    });
    for i in 0..10 {
        let key = path(&format!("k{i}"));
        let t0 = tokio::time::Instant::now();
        plain.put(&key, "v".into()).await.unwrap();
        let a = t0.elapsed();
        let t1 = tokio::time::Instant::now();
        slow.put(&key, "v".into()).await.unwrap();
        assert_close(t1.elapsed() - a, Duration::from_millis(500));
    }
}

/// Which of 200 PUTs failed, with a 30% fail-before probability.
async fn failure_pattern(seed: u64) -> Vec<bool> {
    let store = inline_store(StorageProfile::s3_express(), seed);
    store.set_faults(StorageFaults {
        fail_before_prob: 0.3,
        ..Default::default()
    });
    let mut out = Vec::new();
    for i in 0..200 {
        out.push(
            store
                .put(&path(&format!("k{i}")), "v".into())
                .await
                .is_err(),
        );
    }
    out
}

#[madsim::test]
async fn fault_draws_are_seeded() {
    let a = failure_pattern(5).await;
    let failures = a.iter().filter(|f| **f).count();
    assert!((40..80).contains(&failures), "{failures}");
    assert_eq!(a, failure_pattern(5).await);
    assert_ne!(a, failure_pattern(6).await);
}
