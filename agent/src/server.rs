//! The agent process: listener, per-connection request pipeline (responses in request order,
//! requests handled concurrently so pipelined produces share a file), heartbeats.
//!
//! Order: a connection's produce requests append their records to the pending file in the
//! order they arrived (an [`AppendOrder`] per connection; their checks run concurrently), and
//! [`crate::produce`] commits files in the order they were cut, so each partition's records
//! from one connection are indexed in the order sent, as a Kafka broker appends them.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_controlplane::net::{Conn, DynTransport};
use eddy_controlplane::rpc::{Request, Response};
use eddy_controlplane::{AgentInfo, ControlPlaneClient};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use object_store::ObjectStore;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cluster::ClusterView;
use crate::codes;
use crate::config::AgentConfig;
use crate::guard::{validate_request, Limits};
use crate::handlers::{api_versions, decodable};
use crate::produce::{AppendOrder, AppendTurn, Ingest};
use crate::wire::{decode_request, encode_response, header_start, read_frame};
use crate::zonecache::{cache_port, ZoneCache};

/// Requests of one connection being handled at once; more wait (backpressure on the socket).
/// Produce requests wait for their file's commit (a batch timeout plus a PUT), so a
/// pipelining client keeps many in flight: a low limit would stall its connection.
pub const PIPELINE_DEPTH_MAX: usize = 1024;
/// Request bytes of one connection being handled at once, in KiB.
pub const PIPELINE_KIB_MAX: u32 = 256 * 1024;

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
        let listener =
            TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, config.port))).await?;
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
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, cache_port(config.port)));
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    tokio::spawn(zone_cache.clone().serve_peers(listener));
                }
                // The others fall back to object storage when they cannot reach this agent.
                Err(e) => tracing::warn!(error = %e, "zone cache port unavailable"),
            }
        }
        let inner = Arc::new(AgentInner {
            zone_cache,
            cluster: ClusterView::new(me),
            config,
            store,
            cp,
            ingest,
            guard_limits,
            planted,
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
            match self.inner.cp.call(Request::Heartbeat { agent }).await {
                Ok(Response::Agents { agents }) => self.inner.cluster.set_agents(agents),
                Ok(other) => tracing::warn!(?other, "unexpected heartbeat answer"),
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

    async fn accept_loop(self, listener: TcpListener, transport: DynTransport) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let conn = transport.accepted(stream, peer);
                    // As Kafka shows a member's host in DescribeGroups.
                    let host: Arc<str> = Arc::from(format!("/{}", peer.ip()));
                    tokio::spawn(self.clone().serve(conn, host));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Serve one Kafka connection from `client_host` until it closes or sends something it
    /// must not.
    async fn serve(self, conn: Conn, client_host: Arc<str>) {
        let (mut reader, mut writer) = tokio::io::split(conn);
        let (tx, mut rx) = mpsc::channel::<JoinHandle<Option<Bytes>>>(PIPELINE_DEPTH_MAX);
        let budget = Arc::new(tokio::sync::Semaphore::new(PIPELINE_KIB_MAX as usize));
        let writer_task = tokio::spawn(async move {
            // Responses go out in request order. Those already finished are written together
            // and flushed once: a file commit answers many pipelined requests at the same time.
            let mut next = rx.recv().await;
            while let Some(handle) = next.take() {
                let Ok(response) = handle.await else { break };
                if let Some(bytes) = response {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                next = match rx.try_recv() {
                    Ok(h) if h.is_finished() => Some(h),
                    Ok(h) => {
                        if writer.flush().await.is_err() {
                            break;
                        }
                        Some(h)
                    }
                    Err(_) => {
                        if writer.flush().await.is_err() {
                            break;
                        }
                        rx.recv().await
                    }
                };
            }
        });
        let mut append_order = AppendOrder::default();
        loop {
            let frame = match read_frame(&mut reader, self.inner.config.frame_bytes_max).await {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(error = %e, "closing Kafka connection");
                    break;
                }
            };
            let kib = (frame.len() / 1024 + 1).min(PIPELINE_KIB_MAX as usize) as u32;
            let Ok(permit) = budget.clone().acquire_many_owned(kib).await else {
                break;
            };
            let agent = self.clone();
            let Some(work) = agent.admit(frame, client_host.clone(), &mut append_order) else {
                break;
            };
            let work = async move {
                let response = work.await;
                drop(permit);
                response
            };
            if tx.send(tokio::spawn(work)).await.is_err() {
                break;
            }
        }
        drop(tx);
        let _ = writer_task.await;
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
                    inner.init_producer_id(req).await,
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

/// The guard's limits for a Kafka listener with `config`.
pub fn guard_limits(config: &AgentConfig) -> Limits {
    Limits {
        max_frame_len: config.frame_bytes_max,
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
