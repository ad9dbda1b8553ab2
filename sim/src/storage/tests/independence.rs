//! Storage-side independence: a request in flight completes on the storage side even if the
//! caller's node dies (the request runs on the storage node). Without a storage node the
//! request dies with its caller, which shows the test can tell the difference.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use madsim::runtime::Handle;
use object_store::{ObjectStore, PutPayload};

use super::path;
use crate::storage::{Meters, SimObjectStore, StorageProfile};

/// Starts a 64 MiB PUT (~1 s on Standard) from a fresh caller node, kills the caller after
/// 100 ms, and reports whether the object is stored 10 s later.
async fn stored_after_caller_dies(use_storage_node: bool) -> bool {
    let handle = Handle::current();
    let storage_node = use_storage_node.then(|| handle.create_node().name("s3").build());
    let store = SimObjectStore::new(
        "bucket",
        StorageProfile::s3_standard(),
        None,
        Meters::new(),
        3,
        storage_node,
    );
    let caller = handle
        .create_node()
        .name("agent")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        .build();
    let s = store.clone();
    let _task = caller.spawn(async move {
        let _ = s
            .put(&path("data/file"), PutPayload::from(vec![1u8; 64 << 20]))
            .await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        store.peek(&path("data/file")).is_none(),
        "the PUT must still be in flight when the caller dies"
    );
    handle.kill(caller.id());
    tokio::time::sleep(Duration::from_secs(10)).await;
    store.peek(&path("data/file")).is_some()
}

#[madsim::test]
async fn put_completes_on_the_storage_side_after_the_caller_dies() {
    assert!(stored_after_caller_dies(true).await);
}

#[madsim::test]
async fn without_a_storage_node_the_put_dies_with_its_caller() {
    assert!(!stored_after_caller_dies(false).await);
}

#[madsim::test]
async fn requests_through_a_storage_node_behave_like_inline_ones() {
    let node = Handle::current().create_node().name("s3").build();
    let store = SimObjectStore::new(
        "bucket",
        StorageProfile::s3_express(),
        None,
        Meters::new(),
        1,
        Some(node),
    );
    store.put(&path("a"), "v".into()).await.unwrap();
    assert_eq!(
        &store.get(&path("a")).await.unwrap().bytes().await.unwrap()[..],
        b"v"
    );
}
