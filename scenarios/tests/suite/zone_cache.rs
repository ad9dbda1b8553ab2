//! The zone cache across two simulated agents of one AZ: a page read through both costs one
//! GET on object storage; reads spanning pages (and the short last page) come back intact;
//! an unreachable owner costs a direct read, not an error.

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use eddy_agent::zonecache::{owner, ZoneCache};
use eddy_agent::AgentConfig;
use eddy_controlplane::api::AgentInfo;
use eddy_controlplane::net::PlainTcp;
use eddy_sim::{Meters, RequestKind, StorageProfile};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use tokio::net::TcpListener;

const KEY: &str = "files/f1";
/// The default page size.
const PAGE_BYTES: u64 = 4 * 1024 * 1024;
/// Two full pages and a short third one.
const SIZE: u64 = 2 * PAGE_BYTES + 1000;

fn info(id: i32) -> AgentInfo {
    AgentInfo {
        node_id: id,
        host: format!("10.0.1.{}", 10 + id),
        port: 9092,
        az: "az1".into(),
    }
}

fn object() -> Vec<u8> {
    (0..SIZE).map(|i| (i % 251) as u8).collect()
}

fn gets(meters: &Meters) -> u64 {
    meters
        .bucket("ingest")
        .expect("bucket registered")
        .requests
        .get(RequestKind::Get)
}

struct World {
    meters: Meters,
    store: Arc<dyn ObjectStore>,
    nodes: Vec<madsim::runtime::NodeHandle>,
    caches: Vec<Arc<ZoneCache>>,
}

/// Agents 1..=n in az1, each with a zone cache serving its cache port; the object stored.
async fn world(n: i32) -> World {
    let handle = madsim::runtime::Handle::current();
    let storage = common::storage_node();
    let meters = Meters::new();
    let store = common::bucket(
        "ingest",
        StorageProfile::s3_standard(),
        meters.clone(),
        1,
        &storage,
    );
    store
        .put(&Path::from(KEY), PutPayload::from(object()))
        .await
        .expect("put");
    let mut nodes = Vec::new();
    let mut caches = Vec::new();
    for id in 1..=n {
        let config = AgentConfig {
            node_id: id,
            advertised_host: info(id).host,
            zone_cache: true,
            zone_cache_page_bytes: PAGE_BYTES,
            ..AgentConfig::default()
        };
        let cache = Arc::new(ZoneCache::new(
            &config,
            Arc::new(store.clone()),
            Arc::new(PlainTcp),
        ));
        let served = cache.clone();
        let node = handle
            .create_node()
            .name(format!("agent-{id}"))
            .ip(info(id).host.parse().unwrap())
            .init(move || {
                let served = served.clone();
                async move {
                    let listener = TcpListener::bind("0.0.0.0:9093").await.expect("bind");
                    served.serve_peers(listener).await
                }
            })
            .build();
        nodes.push(node);
        caches.push(cache);
    }
    // Let the listeners come up.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    World {
        meters,
        store: Arc::new(store),
        nodes,
        caches,
    }
}

async fn read(
    w: &World,
    agent: usize,
    range: std::ops::Range<u64>,
    peers: Vec<AgentInfo>,
) -> Bytes {
    let cache = w.caches[agent].clone();
    w.nodes[agent]
        .spawn(async move {
            cache
                .read_ranges(KEY, &[range], &peers)
                .await
                .expect("read")
                .remove(0)
        })
        .await
        .expect("task")
}

#[madsim::test]
async fn a_page_read_through_two_agents_costs_one_get() {
    let w = world(2).await;
    let peers = vec![info(1), info(2)];
    let before = gets(&w.meters);
    // Both agents at once, twice each: one GET in all (single-flight at the owner).
    let (a, b) = tokio::join!(
        read(&w, 0, 100..5000, peers.clone()),
        read(&w, 1, 100..5000, peers.clone())
    );
    let again = read(&w, 1, 0..10, peers.clone()).await;
    let want = object();
    assert_eq!(&a[..], &want[100..5000]);
    assert_eq!(&b[..], &want[100..5000]);
    assert_eq!(&again[..], &want[0..10]);
    assert_eq!(
        gets(&w.meters) - before,
        1,
        "one GET for one page in one AZ"
    );
    let stats: Vec<_> = w.caches.iter().map(|c| c.stats()).collect();
    assert_eq!(stats.iter().map(|s| s.store_gets).sum::<u64>(), 1);
    assert_eq!(stats.iter().map(|s| s.fallbacks).sum::<u64>(), 0);
}

#[madsim::test]
async fn ranges_spanning_pages_and_the_short_last_page_are_intact() {
    let w = world(2).await;
    let peers = vec![info(1), info(2)];
    let want = object();
    let span = PAGE_BYTES - 10..2 * PAGE_BYTES + 500;
    let got = read(&w, 0, span.clone(), peers.clone()).await;
    assert_eq!(&got[..], &want[span.start as usize..span.end as usize]);
    assert_eq!(gets(&w.meters), 3, "pages 0, 1 and the short page 2");
    let tail = read(&w, 1, SIZE - 7..SIZE, peers.clone()).await;
    assert_eq!(&tail[..], &want[(SIZE - 7) as usize..]);
    assert_eq!(
        gets(&w.meters),
        3,
        "the other agent is served from the owners"
    );
}

#[madsim::test]
async fn an_unreachable_owner_costs_a_direct_read() {
    let w = world(1).await;
    // An agent in the ring that is not running and owns page 0.
    let page = (KEY.to_string(), 0);
    let peers = (9..200)
        .map(|id| vec![info(1), info(id)])
        .find(|peers| owner(peers, &page).map(|a| a.node_id) != Some(1))
        .expect("some absent agent owns page 0");
    let start = 0;
    let got = read(&w, 0, start..start + 10, peers).await;
    assert_eq!(&got[..], &object()[start as usize..start as usize + 10]);
    assert_eq!(w.caches[0].stats().fallbacks, 1);
    assert_eq!(gets(&w.meters), 1);
}

/// Counts the connections it opens.
#[derive(Default)]
struct Counting(std::sync::atomic::AtomicU64);

impl eddy_controlplane::net::Transport for Counting {
    fn connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> futures::future::BoxFuture<'static, std::io::Result<eddy_controlplane::net::Conn>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        PlainTcp.connect(addr)
    }
    fn accepted(
        &self,
        stream: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
    ) -> eddy_controlplane::net::Conn {
        PlainTcp.accepted(stream, peer)
    }
}

#[madsim::test]
async fn pages_from_an_owner_share_one_connection_and_a_restarted_owner_gets_a_new_one() {
    let w = world(2).await;
    let peers = vec![info(1), info(2)];
    // Agent 1 reads through a transport that counts its connects.
    let counting = Arc::new(Counting::default());
    let config = AgentConfig {
        node_id: 1,
        advertised_host: info(1).host,
        zone_cache: true,
        zone_cache_page_bytes: PAGE_BYTES,
        ..AgentConfig::default()
    };
    let reader = Arc::new(ZoneCache::new(&config, w.store.clone(), counting.clone()));
    // The pages agent 2 owns.
    let owned: Vec<u64> = (0..3)
        .filter(|i| owner(&peers, &(KEY.to_string(), *i)).map(|a| a.node_id) == Some(2))
        .collect();
    assert!(!owned.is_empty(), "agent 2 owns a page of three");
    let read_owned = |reader: Arc<ZoneCache>, peers: Vec<AgentInfo>, owned: Vec<u64>| {
        w.nodes[0].spawn(async move {
            for i in owned {
                let at = i * PAGE_BYTES;
                let got = reader
                    .read_ranges(KEY, &[at..at + 10], &peers)
                    .await
                    .expect("read");
                assert_eq!(&got[0][..], &object()[at as usize..at as usize + 10]);
            }
        })
    };
    for _ in 0..3 {
        read_owned(reader.clone(), peers.clone(), owned.clone())
            .await
            .expect("task");
    }
    let connects = counting.0.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        connects,
        1,
        "one connection for {} page reads",
        3 * owned.len()
    );
    // The owner restarts: the kept connection is closed; the next read opens a new one and
    // still comes from the owner, not from object storage.
    let handle = madsim::runtime::Handle::current();
    handle.kill(w.nodes[1].id());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    handle.restart(w.nodes[1].id());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    read_owned(reader.clone(), peers.clone(), owned.clone())
        .await
        .expect("task");
    assert_eq!(counting.0.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(
        reader.stats().fallbacks,
        0,
        "every page came from its owner"
    );
}
