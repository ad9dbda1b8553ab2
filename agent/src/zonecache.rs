//! The zone cache: the agents of one AZ share the pages of the files they read.
//!
//! Each file page (an aligned range of an object, `zone_cache_page_bytes` long, see
//! [`crate::pages`]) has one owning
//! agent among the live agents of the AZ, chosen by rendezvous (highest random weight)
//! hashing: a consistent hash, so when an agent joins or leaves only the pages it owned (or
//! now owns) move. The owner GETs a page once (concurrent requests share the GET:
//! single-flight), keeps it in a memory-bounded LRU and serves it to the other agents of its
//! AZ over an intra-AZ RPC on its cache port (Kafka port + 1), on connections kept open
//! between requests. An agent whose owner has not answered within `zone_cache_hedge_ms`
//! also reads object storage and takes the first answer (a hedged request); one that cannot
//! reach the owner at all reads object storage itself.
//!
//! Cost trade-off: without the cache every agent that serves a fetch GETs the byte ranges
//! it needs, so a file read by consumers on N agents of an AZ costs N GETs; with it, one
//! GET per page per AZ (S3 Standard: $0.0004 per 1,000 GETs, AWS S3 pricing us-east-1),
//! paid for with agent memory (`zone_cache_bytes`, default 256 MiB) and intra-AZ traffic,
//! which is free on AWS (EC2 data transfer pricing: "Data transferred between ... in the same
//! Availability Zone" is free).
//!
//! RPC frames (big-endian): request `u32 length | u64 page index | key (UTF-8)`; response
//! `u32 length | u8 status (0 ok, 1 error) | page bytes or error message`.

use eddy_controlplane::sync::lock;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eddy_controlplane::api::AgentInfo;
use eddy_controlplane::net::{Conn, DynTransport};
use futures::future::{join_all, BoxFuture, FutureExt, Shared};
use object_store::path::Path;
use object_store::ObjectStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::config::AgentConfig;
use crate::pages::{page_range, pages_of, slice_pages, PageId, PageLru, PAGE_BYTES_MIN};

/// Largest request frame accepted on the cache port (an object key and a page index).
pub const REQUEST_BYTES_MAX: usize = 64 * 1024;

/// Idle connections kept to each owner (more are opened while more requests are in
/// flight, and closed after their answer).
const IDLE_CONNECTIONS_PER_PEER: usize = 16;

/// The cache port of an agent whose Kafka port is `kafka_port`.
pub fn cache_port(kafka_port: u16) -> u16 {
    kafka_port.wrapping_add(1)
}

type PageFuture = Shared<BoxFuture<'static, Result<Bytes, String>>>;

#[derive(Default)]
struct State {
    lru: PageLru,
    inflight: BTreeMap<PageId, PageFuture>,
}

/// Counters, for tests and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Pages read from object storage by this agent.
    pub store_gets: u64,
    /// Pages received from the owning agent.
    pub remote_hits: u64,
    /// Times the owner could not be reached and object storage was read instead.
    pub fallbacks: u64,
    /// Pages served to other agents.
    pub served: u64,
}

pub struct ZoneCache {
    me: i32,
    enabled: bool,
    /// Planted `zone-cache-bypass`: read as if the cache were off.
    bypass: bool,
    page_bytes: u64,
    timeout: Duration,
    hedge: Duration,
    store: Arc<dyn ObjectStore>,
    transport: DynTransport,
    state: Arc<Mutex<State>>,
    stats: Arc<Mutex<CacheStats>>,
    /// Connections to owners kept between requests, by cache address.
    idle: Mutex<BTreeMap<SocketAddr, Vec<Conn>>>,
}

impl ZoneCache {
    pub fn new(config: &AgentConfig, store: Arc<dyn ObjectStore>, transport: DynTransport) -> Self {
        ZoneCache {
            me: config.node_id,
            enabled: config.zone_cache,
            bypass: config
                .plants
                .has(eddy_controlplane::plants::Plant::ZoneCacheBypass),
            page_bytes: config.zone_cache_page_bytes.max(PAGE_BYTES_MIN),
            timeout: Duration::from_millis(config.zone_cache_timeout_ms.max(1)),
            hedge: Duration::from_millis(config.zone_cache_hedge_ms.max(1)),
            store,
            transport,
            state: Arc::new(Mutex::new(State {
                lru: PageLru::new(config.zone_cache_bytes),
                inflight: BTreeMap::new(),
            })),
            stats: Arc::new(Mutex::new(CacheStats::default())),
            idle: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Size of a page, in bytes.
    pub fn page_bytes(&self) -> u64 {
        self.page_bytes
    }

    pub fn stats(&self) -> CacheStats {
        *lock(&self.stats)
    }

    /// Bytes of pages held in memory.
    pub fn bytes_held(&self) -> u64 {
        lock(&self.state).lru.used()
    }

    /// Read byte ranges of an object, like `ObjectStore::get_ranges`, through the pages of
    /// the zone cache. `peers` are the live agents of this agent's AZ (itself included).
    pub async fn read_ranges(
        &self,
        key: &str,
        ranges: &[Range<u64>],
        peers: &[AgentInfo],
    ) -> object_store::Result<Vec<Bytes>> {
        if !self.enabled || self.bypass {
            return self.store.get_ranges(&Path::from(key), ranges).await;
        }
        let page_bytes = self.page_bytes;
        let indexes: BTreeSet<u64> = ranges
            .iter()
            .flat_map(|r| pages_of(r, page_bytes))
            .collect();
        let got =
            join_all(indexes.into_iter().map(|index| async move {
                (index, self.page((key.to_string(), index), peers).await)
            }))
            .await;
        let mut pages = BTreeMap::new();
        for (index, page) in got {
            pages.insert(index, page.map_err(generic)?);
        }
        ranges
            .iter()
            .map(|r| {
                slice_pages(r, &pages, page_bytes).ok_or_else(|| {
                    generic(format!(
                        "range {r:?} of {key} is past the end of the object"
                    ))
                })
            })
            .collect()
    }

    /// A page, from its owner in the AZ (or object storage when this agent owns it or the
    /// owner does not answer).
    async fn page(&self, id: PageId, peers: &[AgentInfo]) -> Result<Bytes, String> {
        let owner = match owner(peers, &id) {
            Some(o) if o.node_id != self.me => o,
            _ => return self.local_page(id).await,
        };
        let asked = id.clone();
        let remote = self.remote_page(owner, &asked);
        tokio::pin!(remote);
        let first = tokio::select! {
            biased;
            r = &mut remote => Some(r),
            _ = tokio::time::sleep(self.hedge) => None,
        };
        let answer = match first {
            Some(r) => r,
            None => {
                // The owner is slow: storage too, whichever answers first.
                eddy_probe::hit("agent.zonecache.hedged");
                let local = self.local_page(id.clone());
                tokio::pin!(local);
                tokio::select! {
                    biased;
                    r = &mut remote => match r {
                        Ok(bytes) => Ok(bytes),
                        Err(e) => {
                            self.fell_back(owner, &e);
                            return local.await;
                        }
                    },
                    l = &mut local => {
                        lock(&self.stats).fallbacks += 1;
                        return l;
                    }
                }
            }
        };
        match answer {
            Ok(bytes) => {
                lock(&self.stats).remote_hits += 1;
                Ok(bytes)
            }
            Err(e) => {
                self.fell_back(owner, &e);
                self.local_page(id).await
            }
        }
    }

    fn fell_back(&self, owner: &AgentInfo, error: &str) {
        eddy_probe::hit("agent.zonecache.owner_unavailable");
        tracing::debug!(owner = owner.node_id, error = %error, "zone cache owner unavailable");
        lock(&self.stats).fallbacks += 1;
    }

    /// A page from memory, or from object storage with one GET shared by every concurrent
    /// request for it.
    pub async fn local_page(&self, id: PageId) -> Result<Bytes, String> {
        let fut = {
            let mut state = lock(&self.state);
            if let Some(bytes) = state.lru.get(&id) {
                return Ok(bytes);
            }
            match state.inflight.get(&id) {
                Some(f) => {
                    eddy_probe::hit("agent.zonecache.joined_inflight");
                    f.clone()
                }
                None => {
                    let (store, shared, stats, key, page_bytes) = (
                        self.store.clone(),
                        self.state.clone(),
                        self.stats.clone(),
                        id.clone(),
                        self.page_bytes,
                    );
                    let f = async move {
                        lock(&stats).store_gets += 1;
                        // The store clamps the range to the object's size (the last page
                        // is short), as S3 does.
                        let got = store
                            .get_range(&Path::from(key.0.as_str()), page_range(key.1, page_bytes))
                            .await
                            .map_err(|e| e.to_string());
                        let mut state = lock(&shared);
                        state.inflight.remove(&key);
                        if let Ok(bytes) = &got {
                            state.lru.insert(key, bytes.clone());
                        }
                        got
                    }
                    .boxed()
                    .shared();
                    state.inflight.insert(id, f.clone());
                    f
                }
            }
        };
        fut.await
    }

    /// A page from its owner, over a connection kept from an earlier request when there is
    /// one: a connection per page would pay a handshake per page, and one slow handshake
    /// (a lost SYN costs a second) would stall the read past the timeout into a GET.
    async fn remote_page(&self, owner: &AgentInfo, id: &PageId) -> Result<Bytes, String> {
        let addr: SocketAddr = format!("{}:{}", owner.host, cache_port(owner.port))
            .parse()
            .map_err(|e| format!("bad address of agent {}: {e}", owner.node_id))?;
        let call = async {
            // A kept connection may have been closed by a restarted owner: then once more
            // on a fresh one.
            if let Some(conn) = self.idle_conn(addr) {
                if let Ok(answer) = self.ask(conn, addr, id).await {
                    return answer;
                }
                eddy_probe::hit("agent.zonecache.kept_connection_failed");
            }
            let conn = self
                .transport
                .connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            self.ask(conn, addr, id).await?
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err("timed out".into()),
        }
    }

    fn idle_conn(&self, addr: SocketAddr) -> Option<Conn> {
        lock(&self.idle).get_mut(&addr).and_then(Vec::pop)
    }

    /// One request on `conn`; the connection is kept for the next request once its answer
    /// was read whole. The outer error: the connection failed; the inner: the answer.
    async fn ask(
        &self,
        mut conn: Conn,
        addr: SocketAddr,
        id: &PageId,
    ) -> Result<Result<Bytes, String>, String> {
        write_frame(&mut conn, &encode_request(id)).await?;
        let body = read_frame(&mut conn, self.page_bytes as usize + 1, true)
            .await?
            .ok_or("connection closed")?;
        let answer = decode_response(body);
        let mut idle = lock(&self.idle);
        let kept = idle.entry(addr).or_default();
        if kept.len() < IDLE_CONNECTIONS_PER_PEER {
            kept.push(conn);
        }
        Ok(answer)
    }

    /// Serve pages to the other agents of the AZ until the listener fails.
    pub async fn serve_peers(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let conn = self.transport.accepted(stream, peer);
                    tokio::spawn(self.clone().serve_conn(conn));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "zone cache accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn serve_conn(self: Arc<Self>, mut conn: Conn) {
        loop {
            let frame = match read_frame(&mut conn, REQUEST_BYTES_MAX, false).await {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    tracing::info!(error = %e, "closing zone cache connection");
                    return;
                }
            };
            let (status, payload) = match decode_request(&frame) {
                Some(id) => match self.local_page(id).await {
                    Ok(bytes) => {
                        lock(&self.stats).served += 1;
                        (0, bytes)
                    }
                    Err(e) => (1, Bytes::from(e.into_bytes())),
                },
                None => {
                    tracing::info!("malformed zone cache request; closing");
                    return;
                }
            };
            if write_response(&mut conn, status, &payload).await.is_err() {
                return;
            }
        }
    }
}

/// The agent that owns a page among `peers`: the highest hash of (agent, page).
pub fn owner<'a>(peers: &'a [AgentInfo], id: &PageId) -> Option<&'a AgentInfo> {
    peers
        .iter()
        .max_by_key(|a| (weight(a.node_id, id), std::cmp::Reverse(a.node_id)))
}

/// FNV-1a over (node, key, index), then a final mix so close inputs spread.
fn weight(node_id: i32, id: &PageId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node_id
        .to_be_bytes()
        .into_iter()
        .chain(id.0.bytes())
        .chain(id.1.to_be_bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

fn encode_request(id: &PageId) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + id.0.len());
    out.extend_from_slice(&id.1.to_be_bytes());
    out.extend_from_slice(id.0.as_bytes());
    out
}

fn decode_request(frame: &[u8]) -> Option<PageId> {
    let index = u64::from_be_bytes(frame.get(..8)?.try_into().ok()?);
    let key = std::str::from_utf8(frame.get(8..)?).ok()?;
    (!key.is_empty()).then(|| (key.to_string(), index))
}

/// A response frame's length and status byte, which the page bytes follow.
fn response_head(status: u8, payload_len: usize) -> Result<[u8; 5], String> {
    let len = u32::try_from(1 + payload_len).map_err(|_| "frame too large".to_string())?;
    let [a, b, c, d] = len.to_be_bytes();
    Ok([a, b, c, d, status])
}

#[cfg(test)]
fn encode_response(status: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::from(&response_head(status, payload.len()).unwrap()[4..]);
    out.extend_from_slice(payload);
    out
}

fn decode_response(mut body: Bytes) -> Result<Bytes, String> {
    match body.first().copied() {
        Some(0) => Ok(body.split_off(1)),
        Some(_) => Err(format!(
            "owner failed: {}",
            String::from_utf8_lossy(&body[1..])
        )),
        None => Err("empty response".into()),
    }
}

async fn write_frame(conn: &mut Conn, body: &[u8]) -> Result<(), String> {
    let len = u32::try_from(body.len()).map_err(|_| "frame too large".to_string())?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    conn.write_all(&out).await.map_err(|e| e.to_string())?;
    conn.flush().await.map_err(|e| e.to_string())
}

/// A response frame: head and page written as they are, then one flush, rather than
/// gathered into one buffer first (two copies of the page). The simulated stream sends what
/// was written when it is flushed, so the peer gets the same one message; a real socket has
/// Nagle's algorithm off (the real transport sets TCP_NODELAY), so the head is not held back.
async fn write_response(conn: &mut Conn, status: u8, payload: &[u8]) -> Result<(), String> {
    let head = response_head(status, payload.len())?;
    conn.write_all(&head).await.map_err(|e| e.to_string())?;
    conn.write_all(payload).await.map_err(|e| e.to_string())?;
    conn.flush().await.map_err(|e| e.to_string())
}

/// One frame; `None` at a clean end of stream. `trusted`: the answer of a peer agent this
/// one asked (a page, allocated at once); otherwise a request from whoever connected.
async fn read_frame(conn: &mut Conn, max: usize, trusted: bool) -> Result<Option<Bytes>, String> {
    let mut len = [0u8; 4];
    match conn.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(format!("frame of {len} bytes exceeds {max}"));
    }
    if !trusted {
        // Grows as the bytes arrive: a declared size costs nothing until it is sent.
        let (body, _) = crate::wire::read_body(conn, len, None)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(Some(body));
    }
    // Not zeroed first: the read writes every byte of the page.
    let mut body = Vec::with_capacity(len);
    while body.len() < len {
        let missing = (len - body.len()) as u64;
        match (&mut *conn).take(missing).read_buf(&mut body).await {
            // What `read_exact` says when the stream ends early.
            Ok(0) => return Err("early eof".to_string()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(Some(Bytes::from(body)))
}

fn generic(message: impl Into<String>) -> object_store::Error {
    object_store::Error::Generic {
        store: "zone-cache",
        source: message.into().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: i32) -> AgentInfo {
        AgentInfo {
            node_id: id,
            host: "10.0.0.1".into(),
            port: 9092,
            az: "az1".into(),
        }
    }

    #[test]
    fn ownership_is_spread_and_moves_little_when_an_agent_leaves() {
        let three = [agent(1), agent(2), agent(3)];
        let two = [agent(1), agent(2)];
        let mut per = BTreeMap::new();
        let mut moved = 0;
        for i in 0..300u64 {
            let id = (format!("file-{}", i / 3), i % 3);
            let o = owner(&three, &id).unwrap().node_id;
            *per.entry(o).or_insert(0) += 1;
            let after = owner(&two, &id).unwrap().node_id;
            if o != 3 && after != o {
                moved += 1;
            }
        }
        assert_eq!(per.len(), 3);
        assert!(per.values().all(|&n| n > 60), "{per:?}");
        assert_eq!(moved, 0, "pages of surviving agents keep their owner");
        assert!(owner(&[], &("k".into(), 0)).is_none());
    }

    #[test]
    fn frames_round_trip_and_reject_garbage() {
        let id = ("files/a".to_string(), 7);
        assert_eq!(decode_request(&encode_request(&id)), Some(id));
        assert_eq!(decode_request(&[1, 2, 3]), None);
        assert_eq!(decode_request(&[0; 8]), None);
        let ok = Bytes::from(encode_response(0, b"page"));
        assert_eq!(decode_response(ok).unwrap(), Bytes::from_static(b"page"));
        assert!(decode_response(Bytes::from(encode_response(1, b"boom"))).is_err());
        assert!(decode_response(Bytes::new()).is_err());
    }
}
