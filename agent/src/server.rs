//! The agent process: listener, per-connection request pipeline (responses in request order,
//! requests handled concurrently so pipelined produces share a file), heartbeats.
//!
//! Order: a connection's produce requests append their records to the pending file in the
//! order they arrived (an [`AppendOrder`] per connection; their checks run concurrently), and
//! [`crate::produce`] commits files in the order they were cut, so each partition's records
//! from one connection are indexed in the order sent, as a Kafka broker appends them.
//!
//! Memory (no client can make the agent hold memory in proportion to what it declares, only
//! to what it sends, and never beyond the limits of [`AgentConfig`]):
//! - a frame's buffer grows as its bytes arrive ([`crate::wire::read_body`]) and takes them
//!   from the agent-wide request budget (`queued_request_bytes_max`) first; a spent budget
//!   stops reading (backpressure) until answered requests give their bytes back;
//! - a frame must arrive whole within `request_read_timeout_ms` of its first byte, and a
//!   connection with nothing to read or answer closes after `connection_idle_ms`, as does one
//!   whose client reads no response for that long ([`ConnWatch`]);
//! - at most `connections_per_ip_max` connections per client address;
//! - per connection, at most [`PIPELINE_DEPTH_MAX`] requests and [`PIPELINE_KIB_MAX`] KiB of
//!   requests in flight, at most [`NON_PRODUCE_IN_FLIGHT_MAX`] requests other than Produce
//!   and [`FETCHES_IN_FLIGHT_MAX`] fetches whose responses are not written yet, and no new
//!   request read while [`RESPONSE_BACKLOG_BYTES_MAX`] of responses wait for the client to
//!   read them; a finished request's task ends, leaving only its encoded response.

use eddy_controlplane::sync::lock;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eddy_controlplane::api::{AgentInfo, ControlPlaneClient};
use eddy_controlplane::net::{Conn, DynTransport};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use object_store::ObjectStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::cluster::ClusterView;
use crate::codes;
use crate::config::AgentConfig;
use crate::guard::{validate_request, Limits};
use crate::handlers::{api_versions, decodable};
use crate::produce::{AppendOrder, AppendTurn, Ingest};
use crate::wire::{
    decode_request, encode_response, header_start, read_body, read_size, FrameError,
};
use crate::zonecache::{cache_port, ZoneCache};

/// Requests of one connection being handled at once; more wait (backpressure on the socket).
/// Produce requests wait for their file's commit (a batch timeout plus a PUT), so a
/// pipelining client keeps many in flight: a low limit would stall its connection.
pub const PIPELINE_DEPTH_MAX: usize = 1024;
/// Request bytes of one connection being handled at once, in KiB.
pub const PIPELINE_KIB_MAX: u32 = 256 * 1024;
/// Fetch requests of one connection whose responses are not yet written; the next waits
/// (Kafka clients keep one fetch per broker in flight). Bounds the fetch responses (each at
/// most `fetch_response_bytes_max`) a client that does not read can make the agent hold.
pub const FETCHES_IN_FLIGHT_MAX: usize = 2;
/// Requests other than Produce of one connection whose responses are not yet written.
pub const NON_PRODUCE_IN_FLIGHT_MAX: usize = 16;
/// A connection reads no further request while this many bytes of its responses wait to be
/// written (its client is not reading them).
pub const RESPONSE_BACKLOG_BYTES_MAX: usize = 8 * 1024 * 1024;
/// The connection watchdog checks its deadlines this many times per read timeout (and at
/// least once per idle timeout): a deadline is enforced at most a quarter late, with a
/// timer per check rather than per request.
const WATCH_CHECKS_PER_TIMEOUT: u32 = 4;

/// While the view of the cluster is not settled, heartbeats go this many times per period.
const UNSETTLED_HEARTBEAT_DIVISOR: u32 = 50;

pub struct AgentInner {
    pub config: AgentConfig,
    pub store: Arc<dyn ObjectStore>,
    pub cp: ControlPlaneClient,
    pub cluster: ClusterView,
    pub ingest: Arc<Ingest>,
    pub zone_cache: Arc<ZoneCache>,
    pub guard_limits: Limits,
    /// State of planted bugs (unused unless one is on).
    pub planted: Arc<crate::planted::PlantState>,
    /// Request bytes read or being read and not yet answered, across all connections
    /// (`AgentConfig::queued_request_bytes_max` permits, one per byte).
    pub request_budget: Arc<Semaphore>,
    /// Open Kafka connections, per client address and in all.
    pub connections: Arc<Connections>,
    /// Set once [`Agent::shutdown`] starts.
    stop: watch::Sender<bool>,
}

impl AgentInner {
    /// The largest request this agent reads: `frame_bytes_max`, and never more than the
    /// request budget (a larger one could never be read whole).
    pub fn request_bytes_max(&self) -> usize {
        self.config
            .frame_bytes_max
            .min(self.config.queued_request_bytes_max)
    }
}

/// Open Kafka connections: per client address (`connections_per_ip_max`), and in all (what
/// [`Agent::shutdown`] waits for).
pub struct Connections {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    per_ip_max: usize,
    live: watch::Sender<usize>,
}

/// One open connection; closing it (dropping this) frees its place.
pub struct ConnSlot {
    table: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    pub fn new(per_ip_max: usize) -> Arc<Self> {
        Arc::new(Connections {
            per_ip: Mutex::new(HashMap::new()),
            per_ip_max,
            live: watch::Sender::new(0),
        })
    }

    /// A place for one more connection from `ip`, or `Err(open)` when `ip` has
    /// `connections_per_ip_max` open already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, usize> {
        {
            let mut per_ip = lock(&self.per_ip);
            let open = per_ip.entry(ip).or_insert(0);
            if *open >= self.per_ip_max {
                return Err(*open);
            }
            *open += 1;
        }
        self.live.send_modify(|n| *n += 1);
        Ok(ConnSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        *self.live.borrow()
    }

    /// Connections open now from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        lock(&self.per_ip).get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        {
            let mut per_ip = lock(&self.table.per_ip);
            if let Some(open) = per_ip.get_mut(&self.ip) {
                *open -= 1;
                if *open == 0 {
                    per_ip.remove(&self.ip);
                }
            }
        }
        self.table.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Why a connection's watchdog closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    /// Nothing read, nothing unanswered for `connection_idle_ms`.
    Idle,
    /// A request did not arrive whole within `request_read_timeout_ms` of its first byte.
    SlowRequest,
    /// The client read no response for `connection_idle_ms`.
    SlowReader,
}

/// The clock of one connection: what it is doing since when, checked by a watchdog task
/// (one timer per check instead of one per request, which matters under simulation).
struct ConnWatch {
    state: Mutex<WatchState>,
    /// Becomes true when the connection must close (or has closed).
    close: watch::Sender<bool>,
    /// Bytes of responses encoded and not yet written.
    backlog: watch::Sender<usize>,
}

struct WatchState {
    /// Since when a request is being read (its first byte arrived), if one is.
    reading: Option<Instant>,
    /// Since when a response is being written, if one is.
    writing: Option<Instant>,
    /// Requests read and not yet answered (or dropped, for acks=0).
    unanswered: usize,
    /// When a request was last read whole or a response last written.
    active: Instant,
}

impl ConnWatch {
    fn new() -> Arc<Self> {
        Arc::new(ConnWatch {
            state: Mutex::new(WatchState {
                reading: None,
                writing: None,
                unanswered: 0,
                active: Instant::now(),
            }),
            close: watch::Sender::new(false),
            backlog: watch::Sender::new(0),
        })
    }

    fn update(&self, f: impl FnOnce(&mut WatchState)) {
        f(&mut lock(&self.state));
    }

    /// Resolves once the connection must close.
    async fn closing(&self) {
        let mut rx = self.close.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// The earliest deadline in force and what passing it means.
    fn deadline(&self, idle: Duration, read_timeout: Duration) -> Option<(Instant, Expired)> {
        let s = lock(&self.state);
        let mut due: Vec<(Instant, Expired)> = Vec::with_capacity(2);
        if let Some(t) = s.reading {
            due.push((t + read_timeout, Expired::SlowRequest));
        }
        if let Some(t) = s.writing {
            due.push((t + idle, Expired::SlowReader));
        }
        if s.reading.is_none() && s.writing.is_none() && s.unanswered == 0 {
            due.push((s.active + idle, Expired::Idle));
        }
        due.into_iter().min_by_key(|(t, _)| *t)
    }

    /// Close the connection when a deadline passes; returns once it closes for any reason.
    async fn run(self: Arc<Self>, idle: Duration, read_timeout: Duration, peer: SocketAddr) {
        let period = (read_timeout / WATCH_CHECKS_PER_TIMEOUT)
            .min(idle)
            .max(Duration::from_millis(1));
        let mut closed = self.close.subscribe();
        loop {
            tokio::select! {
                biased;
                _ = closed.wait_for(|c| *c) => return,
                _ = tokio::time::sleep(period) => {}
            }
            let Some((at, why)) = self.deadline(idle, read_timeout) else {
                continue;
            };
            if Instant::now() < at {
                continue;
            }
            match why {
                Expired::Idle => {
                    tracing::debug!(%peer, idle_ms = idle.as_millis() as u64, "closing idle Kafka connection (connections.max.idle.ms)")
                }
                Expired::SlowRequest => {
                    tracing::info!(%peer, timeout_ms = read_timeout.as_millis() as u64, "closing Kafka connection: a request did not arrive whole in time")
                }
                Expired::SlowReader => {
                    tracing::info!(%peer, idle_ms = idle.as_millis() as u64, "closing Kafka connection: the client read no response in time")
                }
            }
            self.close.send_replace(true);
            return;
        }
    }
}

/// A request being handled, in request order: its response, and its places among the
/// connection's requests of its kind (released once the response is written).
struct InFlight {
    response: oneshot::Receiver<Option<Bytes>>,
    held: Vec<OwnedSemaphorePermit>,
}

/// Places of one connection's requests other than Produce whose responses are not yet
/// written: the next such request waits (and with it the connection's reading). Produce
/// requests are pipelined deeply by clients and answered in a few bytes per partition; the
/// others carry the large answers (fetched records, metadata, group state).
#[derive(Clone)]
struct Slots {
    others: Arc<Semaphore>,
    fetches: Arc<Semaphore>,
}

impl Slots {
    fn new() -> Self {
        Slots {
            others: Arc::new(Semaphore::new(NON_PRODUCE_IN_FLIGHT_MAX)),
            fetches: Arc::new(Semaphore::new(FETCHES_IN_FLIGHT_MAX)),
        }
    }

    /// The places a request of `api` needs (none for Produce); `Err` once the connection
    /// closes.
    async fn acquire(&self, api: Option<ApiKey>) -> Result<Vec<OwnedSemaphorePermit>, ()> {
        let mut held = Vec::new();
        if api == Some(ApiKey::Produce) {
            return Ok(held);
        }
        held.push(self.others.clone().acquire_owned().await.map_err(|_| ())?);
        if api == Some(ApiKey::Fetch) {
            held.push(self.fetches.clone().acquire_owned().await.map_err(|_| ())?);
        }
        Ok(held)
    }

    fn close(&self) {
        self.others.close();
        self.fetches.close();
    }
}

/// A running agent. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

impl Agent {
    /// Bind the Kafka listener and start serving.
    pub async fn start(
        config: AgentConfig,
        store: Arc<dyn ObjectStore>,
        cp: ControlPlaneClient,
        transport: DynTransport,
    ) -> std::io::Result<Agent> {
        let listener = TcpListener::bind(SocketAddr::from((config.bind_host, config.port))).await?;
        let me = AgentInfo {
            node_id: config.node_id,
            host: config.advertised_host.clone(),
            port: config.port,
            az: config.az.clone(),
        };
        let incarnation = madsim::rand::random::<u64>();
        let planted = Arc::new(crate::planted::PlantState::default());
        let ingest = Ingest::new(
            config.clone(),
            store.clone(),
            cp.clone(),
            incarnation,
            planted.clone(),
        );
        let guard_limits = guard_limits(&config);
        let zone_cache = Arc::new(ZoneCache::new(&config, store.clone(), transport.clone()));
        if zone_cache.enabled() {
            let addr = SocketAddr::from((config.bind_host, cache_port(config.port)));
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    tokio::spawn(zone_cache.clone().serve_peers(listener));
                }
                // The others fall back to object storage when they cannot reach this agent.
                Err(e) => tracing::warn!(error = %e, "zone cache port unavailable"),
            }
        }
        let request_budget = Arc::new(Semaphore::new(config.queued_request_bytes_max));
        let connections = Connections::new(config.connections_per_ip_max);
        let inner = Arc::new(AgentInner {
            zone_cache,
            cluster: ClusterView::new(me),
            config,
            store,
            cp,
            ingest,
            guard_limits,
            planted,
            request_budget,
            connections,
            stop: watch::Sender::new(false),
        });
        let agent = Agent { inner };
        tokio::spawn(agent.clone().heartbeats());
        if agent.inner.config.jobs_poll_ms > 0 {
            let i = &agent.inner;
            tokio::spawn(crate::compactor::run(
                i.store.clone(),
                i.cp.clone(),
                format!("agent-{}-{incarnation:016x}", i.config.node_id),
                Duration::from_millis(i.config.jobs_poll_ms),
                i.config.plants.clone(),
            ));
        }
        tokio::spawn(agent.clone().accept_loop(listener, transport));
        Ok(agent)
    }

    pub fn inner(&self) -> &Arc<AgentInner> {
        &self.inner
    }

    async fn heartbeats(self) {
        let period = Duration::from_millis(self.inner.config.heartbeat_ms.max(1));
        loop {
            let agent = self.inner.cluster.me().clone();
            match self.inner.cp.heartbeat(agent).await {
                Ok(agents) => self.inner.cluster.set_agents(agents),
                Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
            }
            // Until the view of the cluster has settled (Metadata waits for it), heartbeat
            // fifty times as often: a starting cluster learns its members within tens of
            // milliseconds instead of one period per member, and clients' first requests
            // wait that little.
            if self.inner.cluster.is_settled() {
                tokio::time::sleep(period).await;
            } else {
                tokio::time::sleep(period / UNSETTLED_HEARTBEAT_DIVISOR).await;
            }
        }
    }

    /// Stop serving: accept no more connections, read no more requests, flush the pending
    /// file now, and wait (at most `grace`) until every connection has written the answers
    /// of the requests it read and closed. Returns whether they all did; requests still
    /// unanswered then fail when the process exits (clients see the connection close and
    /// retry, as they do when an agent crashes).
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.inner.stop.send_replace(true);
        self.inner.ingest.stop();
        let mut live = self.inner.connections.live.subscribe();
        tokio::select! {
            biased;
            done = live.wait_for(|n| *n == 0) => done.is_ok(),
            _ = tokio::time::sleep(grace) => false,
        }
    }

    async fn accept_loop(self, listener: TcpListener, transport: DynTransport) {
        let mut stop = self.inner.stop.subscribe();
        loop {
            let accepted = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let slot = match self.inner.connections.admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(open) => {
                            tracing::warn!(%peer, open, limit = self.inner.config.connections_per_ip_max, "refusing Kafka connection: too many from this address (max.connections.per.ip)");
                            drop(stream);
                            continue;
                        }
                    };
                    let conn = transport.accepted(stream, peer);
                    tokio::spawn(self.clone().serve(conn, peer, slot));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Serve one Kafka connection from `peer` until it closes, sends something it must not,
    /// misses a deadline, or the agent stops.
    async fn serve(self, conn: Conn, peer: SocketAddr, slot: ConnSlot) {
        let _slot = slot;
        // As Kafka shows a member's host in DescribeGroups.
        let client_host: Arc<str> = Arc::from(format!("/{}", peer.ip()));
        let config = &self.inner.config;
        let idle = Duration::from_millis(config.connection_idle_ms.max(1));
        let read_timeout = Duration::from_millis(config.request_read_timeout_ms.max(1));
        let max = self.inner.request_bytes_max();
        let watch = ConnWatch::new();
        tokio::spawn(watch.clone().run(idle, read_timeout, peer));
        let (mut reader, writer) = tokio::io::split(conn);
        let (tx, rx) = mpsc::channel::<InFlight>(PIPELINE_DEPTH_MAX);
        let budget = Arc::new(Semaphore::new(PIPELINE_KIB_MAX as usize));
        let slots = Slots::new();
        let writer_task = tokio::spawn(write_responses(writer, rx, watch.clone(), slots.clone()));
        let mut stop = self.inner.stop.subscribe();
        let mut backlog = watch.backlog.subscribe();
        let mut append_order = AppendOrder::default();
        loop {
            let read = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                _ = watch.closing() => break,
                _ = tx.closed() => break,
                read = async {
                    // Read nothing more while the client leaves answers unread.
                    let _ = backlog.wait_for(|b| *b <= RESPONSE_BACKLOG_BYTES_MAX).await;
                    read_request(&mut reader, max, &self.inner.request_budget, &watch).await
                } => read,
            };
            let (frame, request_permit) = match read {
                Ok(Some(read)) => read,
                Ok(None) => break,
                Err(FrameError::TooLarge { len, max }) => {
                    tracing::warn!(%peer, len, max, "closing Kafka connection: request larger than socket.request.max.bytes");
                    break;
                }
                Err(e) => {
                    tracing::info!(%peer, error = %e, "closing Kafka connection");
                    break;
                }
            };
            let kib = (frame.len() / 1024 + 1).min(PIPELINE_KIB_MAX as usize) as u32;
            let Ok(permit) = budget.clone().acquire_many_owned(kib).await else {
                break;
            };
            let api = header_start(&frame).and_then(|h| ApiKey::try_from(h.api_key).ok());
            let Ok(held) = slots.acquire(api).await else {
                break;
            };
            if *stop.borrow() {
                break;
            }
            let agent = self.clone();
            let Some(work) = agent.admit(frame, client_host.clone(), &mut append_order) else {
                break;
            };
            let (answer, response) = oneshot::channel();
            let backlog = watch.backlog.clone();
            // The task ends as soon as its response is encoded: what waits to be written is
            // the response alone, not the handler's state.
            tokio::spawn(async move {
                let response = work.await;
                // Answered: the request's bytes go back to both budgets.
                drop(permit);
                drop(request_permit);
                let len = response.as_ref().map_or(0, |r| r.len());
                backlog.send_modify(|b| *b += len);
                let _ = answer.send(response);
            });
            watch.update(|s| s.unanswered += 1);
            if tx.send(InFlight { response, held }).await.is_err() {
                break;
            }
        }
        drop(tx);
        let _ = writer_task.await;
        watch.close.send_replace(true);
    }

    /// Check and decode a frame; `None` closes the connection. The returned future produces
    /// the encoded response (`None` when no response is due).
    fn admit(
        self,
        frame: Bytes,
        client_host: Arc<str>,
        append_order: &mut AppendOrder,
    ) -> Option<impl std::future::Future<Output = Option<Bytes>> + Send + 'static> {
        let start = header_start(&frame)?;
        let api = match ApiKey::try_from(start.api_key) {
            Ok(api) => api,
            Err(_) => {
                tracing::info!(api_key = start.api_key, "unknown API key; closing");
                return None;
            }
        };
        // Taken in arrival order, before anything awaits.
        let turn = (api == ApiKey::Produce).then(|| append_order.next_turn());
        // Lives for one request, on the stack, before the spawn: its size does not matter.
        #[allow(clippy::large_enum_variant)]
        enum Work {
            Ready(Option<Bytes>),
            Request(Box<(kafka_protocol::messages::RequestHeader, RequestKind)>),
        }
        let work = if !decodable(api, start.api_version) {
            if api == ApiKey::ApiVersions {
                // KIP-511: answer an unknown ApiVersions version with v0 and the ranges we know.
                let r = ResponseKind::ApiVersions(api_versions(codes::UNSUPPORTED_VERSION));
                Work::Ready(encode_response(start.correlation_id, api, 0, &r).ok())
            } else {
                tracing::info!(
                    ?api,
                    version = start.api_version,
                    "unsupported version; closing"
                );
                return None;
            }
        } else if let Err(e) = validate_request(
            start.api_key,
            start.api_version,
            &frame,
            &self.inner.guard_limits,
        ) {
            // Checked before the decoder sees it: the decoder sizes allocations from the wire.
            tracing::info!(?api, version = start.api_version, error = %e, "invalid frame; closing");
            return None;
        } else {
            match decode_request(frame, start) {
                Ok((header, request)) => Work::Request(Box::new((header, request))),
                Err(e) => {
                    tracing::info!(error = %e, "malformed request; closing");
                    return None;
                }
            }
        };
        Some(async move {
            let (header, request) = match work {
                Work::Ready(bytes) => return bytes,
                Work::Request(work) => *work,
            };
            let version = header.request_api_version;
            let client_id = header
                .client_id
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let inner = &self.inner;
            let response = match request {
                RequestKind::ApiVersions(_) => {
                    Some(ResponseKind::ApiVersions(api_versions(codes::NONE)))
                }
                RequestKind::Metadata(req) => Some(ResponseKind::Metadata(
                    inner.metadata(req, version, &client_id).await,
                )),
                RequestKind::CreateTopics(req) => Some(ResponseKind::CreateTopics(
                    inner.create_topics_request(req).await,
                )),
                RequestKind::Produce(req) => {
                    let turn = turn.unwrap_or_else(AppendTurn::unordered);
                    inner.produce(req, turn).await.map(ResponseKind::Produce)
                }
                RequestKind::Fetch(req) => Some(ResponseKind::Fetch(inner.fetch(req).await)),
                RequestKind::ListOffsets(req) => {
                    Some(ResponseKind::ListOffsets(inner.list_offsets(req).await))
                }
                RequestKind::FindCoordinator(req) => Some(ResponseKind::FindCoordinator(
                    inner.find_coordinator(req, version, &client_id),
                )),
                RequestKind::JoinGroup(req) => Some(ResponseKind::JoinGroup(
                    inner.join_group(req, &client_id, &client_host).await,
                )),
                RequestKind::DescribeConfigs(req) => Some(ResponseKind::DescribeConfigs(
                    inner.describe_configs(req).await,
                )),
                RequestKind::ListGroups(req) => Some(ResponseKind::ListGroups(
                    inner.list_groups(req, &client_id).await,
                )),
                RequestKind::DescribeGroups(req) => Some(ResponseKind::DescribeGroups(
                    inner.describe_groups(req).await,
                )),
                RequestKind::SyncGroup(req) => {
                    Some(ResponseKind::SyncGroup(inner.sync_group(req).await))
                }
                RequestKind::Heartbeat(req) => {
                    Some(ResponseKind::Heartbeat(inner.heartbeat(req).await))
                }
                RequestKind::LeaveGroup(req) => Some(ResponseKind::LeaveGroup(
                    inner.leave_group(req, version).await,
                )),
                RequestKind::OffsetCommit(req) => {
                    Some(ResponseKind::OffsetCommit(inner.offset_commit(req).await))
                }
                RequestKind::OffsetFetch(req) => {
                    Some(ResponseKind::OffsetFetch(inner.offset_fetch(req).await))
                }
                RequestKind::InitProducerId(req) => Some(ResponseKind::InitProducerId(
                    inner.init_producer_id(req, version).await,
                )),
                RequestKind::AddPartitionsToTxn(req) => Some(ResponseKind::AddPartitionsToTxn(
                    inner.add_partitions_to_txn(req, version).await,
                )),
                RequestKind::AddOffsetsToTxn(req) => Some(ResponseKind::AddOffsetsToTxn(
                    inner.add_offsets_to_txn(req, version).await,
                )),
                RequestKind::TxnOffsetCommit(req) => Some(ResponseKind::TxnOffsetCommit(
                    inner.txn_offset_commit(req, version).await,
                )),
                RequestKind::EndTxn(req) => {
                    Some(ResponseKind::EndTxn(inner.end_txn(req, version).await))
                }
                RequestKind::DescribeTransactions(req) => Some(ResponseKind::DescribeTransactions(
                    inner.describe_transactions(req).await,
                )),
                RequestKind::ListTransactions(req) => Some(ResponseKind::ListTransactions(
                    inner.list_transactions(req).await,
                )),
                _ => None,
            };
            let response = response?;
            match encode_response(start.correlation_id, api, version, &response) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    tracing::error!(error = %e, "could not encode response");
                    None
                }
            }
        })
    }
}

/// Read the next request: wait for its first byte (for as long as it takes: the watchdog
/// closes idle connections), then read it whole under the request budget. `Ok(None)` at a
/// clean end of stream.
async fn read_request<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    request_budget: &Arc<Semaphore>,
    watch: &ConnWatch,
) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, FrameError> {
    let mut first = [0u8; 1];
    if reader.read(&mut first).await? == 0 {
        return Ok(None);
    }
    watch.update(|s| s.reading = Some(Instant::now()));
    let len = read_size(reader, first[0], max).await?;
    let read = read_body(reader, len, Some(request_budget)).await?;
    watch.update(|s| {
        s.reading = None;
        s.active = Instant::now();
    });
    Ok(Some(read))
}

/// Write responses in request order until the reader is done or the connection must close.
/// Those already finished are written together and flushed once: a file commit answers many
/// pipelined requests at the same time.
async fn write_responses<W: tokio::io::AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<InFlight>,
    watch: Arc<ConnWatch>,
    slots: Slots,
) {
    let mut next = rx.recv().await;
    while let Some(mut in_flight) = next.take() {
        let response = tokio::select! {
            biased;
            _ = watch.closing() => break,
            response = &mut in_flight.response => response,
        };
        // No answer at all: the handler's task failed.
        let Ok(response) = response else { break };
        if let Some(bytes) = &response {
            if !write_watched(&mut writer, &watch, WriteOp::All(bytes)).await {
                break;
            }
        }
        let len = response.as_ref().map_or(0, |r| r.len());
        watch.backlog.send_modify(|b| *b = b.saturating_sub(len));
        drop(in_flight.held);
        watch.update(|s| {
            s.unanswered = s.unanswered.saturating_sub(1);
            s.active = Instant::now();
        });
        next = match rx.try_recv() {
            Ok(h) if !h.response.is_empty() => Some(h),
            Ok(h) => {
                if !write_watched(&mut writer, &watch, WriteOp::Flush).await {
                    break;
                }
                Some(h)
            }
            Err(_) => {
                if !write_watched(&mut writer, &watch, WriteOp::Flush).await {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = watch.closing() => break,
                    next = rx.recv() => next,
                }
            }
        };
    }
    // A reader waiting for a place stops waiting.
    slots.close();
}

enum WriteOp<'a> {
    All(&'a [u8]),
    Flush,
}

/// One write under the watchdog (a client that reads nothing cannot hold it forever);
/// `false` when the connection is done.
async fn write_watched<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    watch: &ConnWatch,
    op: WriteOp<'_>,
) -> bool {
    watch.update(|s| s.writing = Some(Instant::now()));
    let written = tokio::select! {
        biased;
        _ = watch.closing() => false,
        r = async {
            match op {
                WriteOp::All(bytes) => writer.write_all(bytes).await,
                WriteOp::Flush => writer.flush().await,
            }
        } => r.is_ok(),
    };
    watch.update(|s| s.writing = None);
    written
}

/// The guard's limits for a Kafka listener with `config`.
pub fn guard_limits(config: &AgentConfig) -> Limits {
    Limits {
        max_frame_len: config.frame_bytes_max.min(config.queued_request_bytes_max),
        // Kafka's brokers ignore bytes after a request body, and librdkafka relies on it:
        // its Metadata v9+ "all topics" request keeps a 4-byte placeholder where a 1-byte
        // compact array count belongs, so the frame ends with 3 extra bytes. The guard has
        // still walked the whole body, so the decoder stays safe.
        allow_trailing_bytes: true,
        ..Limits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka 2.x (confluent-kafka 2.16) asking for all topics with Metadata v12, as
    /// captured on the wire: header, then `00 00 00 00` (its unshrunk array-count
    /// placeholder; the first byte reads as a null compact array), allow_auto_topic_creation,
    /// include_topic_authorized_operations, tagged fields.
    const LIBRDKAFKA_METADATA_ALL_TOPICS: &str =
        "0003000c00000003000772646b61666b610000000000010000";

    #[test]
    fn librdkafka_all_topics_metadata_is_served() {
        let frame: Vec<u8> = (0..LIBRDKAFKA_METADATA_ALL_TOPICS.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&LIBRDKAFKA_METADATA_ALL_TOPICS[i..i + 2], 16))
            .collect::<Result<_, _>>()
            .expect("hex");
        let limits = guard_limits(&AgentConfig::default());
        validate_request(3, 12, &frame, &limits).expect("the guard accepts it");
        let start = header_start(&frame).expect("header");
        let (_, request) = decode_request(Bytes::from(frame), start).expect("decodes");
        match request {
            RequestKind::Metadata(m) => assert!(m.topics.is_none(), "null topics: all topics"),
            other => panic!("decoded as {other:?}"),
        }
    }
}
