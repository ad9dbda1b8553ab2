//! The latency model as a caller sees it, measured in simulated time (model tests, not
//! wall-clock timing): many requests with a fixed seed, empirical percentiles against the
//! profile.

use std::time::Duration;

use object_store::{ObjectStore, PutPayload};

use super::{assert_close, inline_store, path};
use crate::storage::{Meters, SimObjectStore, StorageProfile};

/// Issues `n` concurrent PUTs of `size` bytes and returns their latencies in ms, sorted.
async fn put_latencies_ms(store: &SimObjectStore, n: usize, size: usize) -> Vec<f64> {
    let payload = PutPayload::from(vec![7u8; size]);
    let futs = (0..n).map(|i| {
        let store = store.clone();
        let payload = payload.clone();
        async move {
            let start = tokio::time::Instant::now();
            store.put(&path(&format!("k/{i}")), payload).await.unwrap();
            start.elapsed().as_secs_f64() * 1000.0
        }
    });
    let mut xs = futures::future::join_all(futs).await;
    xs.sort_by(f64::total_cmp);
    xs
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx]
}

#[madsim::test]
async fn small_put_percentiles_match_the_standard_profile() {
    let store = inline_store(StorageProfile::s3_standard(), 11);
    let xs = put_latencies_ms(&store, 5000, 1024).await;
    let (p50, p99) = (quantile(&xs, 0.50), quantile(&xs, 0.99));
    // 1 KiB at ~58 MiB/s adds ~0.02 ms: the first byte dominates (p50 75, p99 300).
    assert!((p50 - 75.0).abs() < 75.0 * 0.08, "p50 {p50}");
    assert!((p99 - 300.0).abs() < 300.0 * 0.20, "p99 {p99}");
}

#[madsim::test]
async fn four_mib_standard_put_p99_is_near_400_ms() {
    // WarpStream documents ~400 ms p99 for S3 Standard PUTs of its ~4 MiB files.
    let store = inline_store(StorageProfile::s3_standard(), 12);
    let xs = put_latencies_ms(&store, 2000, 4 << 20).await;
    let (p50, p99) = (quantile(&xs, 0.50), quantile(&xs, 0.99));
    assert!((130.0..170.0).contains(&p50), "p50 {p50}");
    assert!((340.0..470.0).contains(&p99), "p99 {p99}");
}

#[madsim::test]
async fn express_is_single_digit_ms() {
    let store = inline_store(StorageProfile::s3_express(), 13);
    let xs = put_latencies_ms(&store, 2000, 1024).await;
    assert!(quantile(&xs, 0.50) < 6.0 && quantile(&xs, 0.99) < 11.0);
}

#[madsim::test]
async fn bigger_objects_take_longer() {
    // Same seed => same first-byte and bandwidth draws; only the size differs.
    let small = put_latencies_ms(&inline_store(StorageProfile::s3_standard(), 5), 200, 1024).await;
    let large = put_latencies_ms(
        &inline_store(StorageProfile::s3_standard(), 5),
        200,
        16 << 20,
    )
    .await;
    // 16 MiB at <= ~100 MiB/s adds well over 150 ms to every request.
    assert!(quantile(&large, 0.0) > quantile(&small, 0.0) + 150.0);
}

#[madsim::test]
async fn cross_az_callers_pay_the_inter_az_hop_on_express() {
    let make = || {
        SimObjectStore::new(
            "express",
            StorageProfile::s3_express(),
            Some("az1".to_string()),
            Meters::new(),
            99,
            None,
        )
    };
    let (local, remote) = (make().view_from("az1"), make().view_from("az2"));
    for i in 0..20 {
        let key = path(&format!("x/{i}"));
        let t0 = tokio::time::Instant::now();
        local.put(&key, "v".into()).await.unwrap();
        let t_local = t0.elapsed();
        let t1 = tokio::time::Instant::now();
        remote.put(&key, "v".into()).await.unwrap();
        let t_remote = t1.elapsed();
        // Same seed, same draws: exactly the profile's 1 ms cross-AZ extra apart.
        assert_close(t_remote - t_local, Duration::from_millis(1));
    }
}
