//! The simulated store behaves like an `object_store` backend: the same put/get/list/
//! conditional-put semantics the in-memory and S3 stores have.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, PutMode, PutOptions, UpdateVersion,
};

use super::{inline_store, path};
use crate::clock::sim_epoch;
use crate::storage::StorageProfile;

fn express() -> crate::storage::SimObjectStore {
    inline_store(StorageProfile::s3_express(), 42)
}

#[madsim::test]
async fn put_then_get_returns_the_bytes_with_increasing_etags() {
    let store = express();
    let a = store.put(&path("a/1"), "hello".into()).await.unwrap();
    let b = store.put(&path("a/1"), "world!".into()).await.unwrap();
    let ea: u64 = a.e_tag.unwrap().parse().unwrap();
    let eb: u64 = b.e_tag.clone().unwrap().parse().unwrap();
    assert!(eb > ea);
    let got = store.get(&path("a/1")).await.unwrap();
    assert_eq!(got.meta.size, 6);
    assert_eq!(got.meta.e_tag, b.e_tag);
    assert!(got.meta.last_modified > sim_epoch());
    assert_eq!(got.bytes().await.unwrap(), Bytes::from_static(b"world!"));
}

#[madsim::test]
async fn ranges_bounded_offset_and_suffix() {
    let store = express();
    store.put(&path("r"), "0123456789".into()).await.unwrap();
    assert_eq!(
        store.get_range(&path("r"), 2..5).await.unwrap(),
        Bytes::from_static(b"234")
    );
    let get = |range| {
        let store = store.clone();
        async move {
            let opts = GetOptions {
                range: Some(range),
                ..Default::default()
            };
            let res = store.get_opts(&path("r"), opts).await?;
            let range = res.range.clone();
            Ok::<_, object_store::Error>((range, res.bytes().await?))
        }
    };
    let (range, bytes) = get(GetRange::Offset(7)).await.unwrap();
    assert_eq!((range, &bytes[..]), (7..10, &b"789"[..]));
    let (range, bytes) = get(GetRange::Suffix(3)).await.unwrap();
    assert_eq!((range, &bytes[..]), (7..10, &b"789"[..]));
    let (range, bytes) = get(GetRange::Bounded(8..100)).await.unwrap();
    assert_eq!((range, &bytes[..]), (8..10, &b"89"[..]));
    assert!(get(GetRange::Bounded(20..30)).await.is_err());
}

#[madsim::test]
async fn head_and_not_found() {
    let store = express();
    store.put(&path("h"), "abc".into()).await.unwrap();
    let meta = store.head(&path("h")).await.unwrap();
    assert_eq!(meta.size, 3);
    assert!(matches!(
        store.head(&path("missing")).await,
        Err(object_store::Error::NotFound { .. })
    ));
    assert!(matches!(
        store.get(&path("missing")).await,
        Err(object_store::Error::NotFound { .. })
    ));
}

#[madsim::test]
async fn list_is_segment_wise_recursive_and_ordered() {
    let store = express();
    for key in [
        "foo/bar/x",
        "foo/bar/y/z",
        "foo/bar_baz/x",
        "foo/a",
        "other",
    ] {
        store.put(&path(key), "v".into()).await.unwrap();
    }
    let listed: Vec<String> = store
        .list(Some(&path("foo/bar")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, vec!["foo/bar/x", "foo/bar/y/z"]);
    let all: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert_eq!(all.len(), 5);
    let after: Vec<String> = store
        .list_with_offset(Some(&path("foo")), &path("foo/bar/x"))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(after, vec!["foo/bar/y/z", "foo/bar_baz/x"]);
}

#[madsim::test]
async fn list_pages_by_a_thousand_keys() {
    let store = express();
    for i in 0..2500 {
        store
            .put(&path(&format!("p/{i:05}")), "v".into())
            .await
            .unwrap();
    }
    let listed: Vec<_> = store.list(Some(&path("p"))).try_collect().await.unwrap();
    assert_eq!(listed.len(), 2500);
    assert!(listed.windows(2).all(|w| w[0].location < w[1].location));
    let meters = store.meters().bucket("bucket").unwrap();
    assert_eq!(meters.requests.list, 3);
}

#[madsim::test]
async fn list_with_delimiter_splits_objects_and_prefixes() {
    let store = express();
    for key in ["d/a", "d/b/1", "d/b/2", "d/c/x/y", "e/z"] {
        store.put(&path(key), "v".into()).await.unwrap();
    }
    let res = store.list_with_delimiter(Some(&path("d"))).await.unwrap();
    let objects: Vec<_> = res.objects.iter().map(|m| m.location.to_string()).collect();
    let prefixes: Vec<_> = res.common_prefixes.iter().map(|p| p.to_string()).collect();
    assert_eq!(objects, vec!["d/a"]);
    assert_eq!(prefixes, vec!["d/b", "d/c"]);
    let root = store.list_with_delimiter(None).await.unwrap();
    let prefixes: Vec<_> = root.common_prefixes.iter().map(|p| p.to_string()).collect();
    assert_eq!(prefixes, vec!["d", "e"]);
}

#[madsim::test]
async fn delete_removes_and_is_idempotent() {
    let store = express();
    store.put(&path("x"), "v".into()).await.unwrap();
    store.delete(&path("x")).await.unwrap();
    assert!(store.peek(&path("x")).is_none());
    store.delete(&path("x")).await.unwrap();
}

#[madsim::test]
async fn copy_and_copy_if_not_exists() {
    let store = express();
    store.put(&path("src"), "data".into()).await.unwrap();
    store.put(&path("taken"), "old".into()).await.unwrap();
    store.copy(&path("src"), &path("dst")).await.unwrap();
    assert_eq!(
        store.peek(&path("dst")).unwrap(),
        Bytes::from_static(b"data")
    );
    assert!(matches!(
        store.copy_if_not_exists(&path("src"), &path("taken")).await,
        Err(object_store::Error::AlreadyExists { .. })
    ));
    assert_eq!(
        store.peek(&path("taken")).unwrap(),
        Bytes::from_static(b"old")
    );
    store
        .copy_if_not_exists(&path("src"), &path("fresh"))
        .await
        .unwrap();
    assert!(matches!(
        store.copy(&path("nope"), &path("d2")).await,
        Err(object_store::Error::NotFound { .. })
    ));
}

#[madsim::test]
async fn conditional_create_second_writer_loses() {
    let store = express();
    let create = PutOptions::from(PutMode::Create);
    let key = path("journal/1");
    let (a, b) = futures::join!(
        store.put_opts(&key, "leader-a".into(), create.clone()),
        store.put_opts(&key, "leader-b".into(), create.clone()),
    );
    let winners = [a.is_ok(), b.is_ok()];
    assert_eq!(winners.iter().filter(|w| **w).count(), 1, "{a:?} {b:?}");
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(
        loser,
        Err(object_store::Error::AlreadyExists { .. })
    ));
    let stored = store.peek(&path("journal/1")).unwrap();
    let winner: &[u8] = if winners[0] { b"leader-a" } else { b"leader-b" };
    assert_eq!(&stored[..], winner);
}

#[madsim::test]
async fn update_with_stale_etag_loses() {
    let store = express();
    let v1 = store.put(&path("s"), "v1".into()).await.unwrap();
    let v2 = store
        .put_opts(
            &path("s"),
            "v2".into(),
            PutMode::Update(UpdateVersion::from(v1.clone())).into(),
        )
        .await
        .unwrap();
    let stale = store
        .put_opts(
            &path("s"),
            "v3".into(),
            PutMode::Update(UpdateVersion::from(v1)).into(),
        )
        .await;
    assert!(matches!(
        stale,
        Err(object_store::Error::Precondition { .. })
    ));
    assert_eq!(&store.peek(&path("s")).unwrap()[..], b"v2");
    let absent = store
        .put_opts(
            &path("absent"),
            "x".into(),
            PutMode::Update(UpdateVersion::from(v2)).into(),
        )
        .await;
    assert!(matches!(
        absent,
        Err(object_store::Error::Precondition { .. })
    ));
}

#[madsim::test]
async fn get_if_match_and_if_none_match() {
    let store = express();
    let put = store.put(&path("m"), "v".into()).await.unwrap();
    let etag = put.e_tag.unwrap();
    let opts = |if_match: Option<&str>, if_none_match: Option<&str>| GetOptions {
        if_match: if_match.map(str::to_string),
        if_none_match: if_none_match.map(str::to_string),
        ..Default::default()
    };
    assert!(store
        .get_opts(&path("m"), opts(Some(&etag), None))
        .await
        .is_ok());
    assert!(matches!(
        store.get_opts(&path("m"), opts(Some("999"), None)).await,
        Err(object_store::Error::Precondition { .. })
    ));
    assert!(matches!(
        store.get_opts(&path("m"), opts(None, Some(&etag))).await,
        Err(object_store::Error::NotModified { .. })
    ));
}

#[madsim::test]
async fn multipart_is_invisible_until_complete() {
    let store = express();
    let mut upload = store.put_multipart(&path("big")).await.unwrap();
    upload.put_part("abc".into()).await.unwrap();
    upload.put_part("def".into()).await.unwrap();
    assert!(store.peek(&path("big")).is_none());
    upload.complete().await.unwrap();
    assert_eq!(&store.peek(&path("big")).unwrap()[..], b"abcdef");
    let meters = store.meters().bucket("bucket").unwrap();
    assert_eq!(meters.requests.multipart_part, 2);
    assert_eq!(meters.requests.multipart_complete, 1);
    assert_eq!(meters.bytes_uploaded, 6);
}

#[madsim::test]
async fn attributes_round_trip() {
    let store = express();
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/octet-stream".into());
    let opts = PutOptions {
        attributes: attributes.clone(),
        ..Default::default()
    };
    store.put_opts(&path("t"), "v".into(), opts).await.unwrap();
    assert_eq!(store.get(&path("t")).await.unwrap().attributes, attributes);
}
