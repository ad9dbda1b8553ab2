//! Agent settings: plain data with defaults. Knobs that cost money say how much.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Kafka broker id; stable across restarts of the same agent.
    pub node_id: i32,
    /// Availability zone the agent runs in.
    pub az: String,
    /// Host name clients are told to connect to (Metadata).
    pub advertised_host: String,
    /// Address the Kafka listener (and the zone-cache listener) binds; the unspecified
    /// address (the default) means every interface. `eddy serve` binds the host it is told
    /// to listen on unless `--bind` widens it.
    pub bind_host: IpAddr,
    pub port: u16,
    /// Flush the pending file this long after its first batch arrived. Every flush is one
    /// PUT: at 250 ms one agent makes 4 PUT/s, about $52/month on S3 Standard
    /// ($0.005 per 1,000 PUTs, AWS S3 pricing, us-east-1) or $12/month on Express.
    pub batch_timeout_ms: u64,
    /// Flush the pending file as soon as it holds this many bytes.
    pub batch_bytes_max: u64,
    /// Files being written/committed at once; beyond it the pending file keeps growing.
    pub flushes_in_flight_max: usize,
    /// Attempts at writing a file before its producers get a retriable error.
    pub put_attempts: u32,
    /// Keep retrying a commit this long; after that its producers get REQUEST_TIMED_OUT
    /// (outcome unknown: the commit may still have been applied).
    pub commit_deadline_ms: u64,
    /// Partitions of an auto-created topic (Metadata / CreateTopics with -1).
    pub default_partitions: i32,
    /// Largest Kafka request accepted (Kafka's `socket.request.max.bytes`, default 100 MiB,
    /// Apache Kafka broker configuration docs): a larger declared size closes the connection
    /// before anything is allocated for it.
    pub frame_bytes_max: usize,
    /// Request bytes read (or being read) and not yet answered, across all connections
    /// (Kafka's `queued.max.request.bytes`). A frame's buffer takes its bytes from this
    /// budget as it grows with the bytes that arrive; when the budget is spent, reading waits
    /// (backpressure). Requests larger than it are refused like those over `frame_bytes_max`.
    pub queued_request_bytes_max: usize,
    /// Close a connection that sent nothing and has nothing unanswered for this long
    /// (Kafka's `connections.max.idle.ms`, default 10 minutes); also the longest a response
    /// may wait for the client to read it.
    pub connection_idle_ms: u64,
    /// A request must arrive whole within this long of its first byte (waits for the
    /// request budget included), or the connection closes: a client sending a byte at a time
    /// cannot hold a connection and its buffer for long.
    pub request_read_timeout_ms: u64,
    /// Connections open at once from one client IP address (Kafka's
    /// `max.connections.per.ip`); more are closed on accept.
    pub connections_per_ip_max: usize,
    /// Most bytes one fetch response carries, whatever the client asks for (Kafka brokers'
    /// `fetch.max.bytes`, default 55 MiB, Apache Kafka broker configuration docs): a client
    /// asking for more than it can receive would otherwise drop the response and retry.
    pub fetch_response_bytes_max: u64,
    /// Cap on a fetch's long-poll wait.
    pub fetch_wait_ms_max: u64,
    /// Heartbeat period towards the control plane (liveness and the list of agents).
    pub heartbeat_ms: u64,
    /// Share fetched file pages with the other agents of the AZ (`crate::zonecache`). Off:
    /// every agent GETs what its fetches need itself.
    pub zone_cache: bool,
    /// Memory for cached pages, in bytes (LRU). 256 MiB holds 32 pages of 8 MiB: enough for
    /// consumers reading near the tip; consumers further behind than the cache holds cost one
    /// GET per page each ($0.0004 per 1,000 GETs on S3 Standard, AWS S3 pricing, us-east-1).
    pub zone_cache_bytes: u64,
    /// Size of a zone-cache page: the unit an owning agent GETs from object storage and
    /// serves to its AZ. A file costs `file size / page size` GETs per AZ, rounded up, so
    /// the default equals the default `batch_bytes_max`: every file is one page, one GET
    /// per AZ ($0.0004 per 1,000 GETs on S3 Standard, AWS S3 pricing, us-east-1). Smaller
    /// pages spread a file over concurrent GETs (a lower latency for the first reader) and
    /// move less when only part of a file is read. Measured on
    /// `scenarios/specs/warpstream-140mib.json` seed 1 (files of ~5.6 MiB): 4 MiB pages
    /// 0.330 GETs per MiB consumed per AZ, delivery p50/p99 689/1503 ms; 8 MiB pages
    /// 0.178 GETs per MiB, 768/1593 ms (delivery measured to the first reader of a record).
    pub zone_cache_page_bytes: u64,
    /// Wait this long for the owning agent's answer before reading object storage directly.
    pub zone_cache_timeout_ms: u64,
    /// When the owning agent has not answered after this long, also read object storage and
    /// take whichever answer comes first (a hedged request: a slow handshake or a busy owner
    /// costs one GET instead of a stalled fetch).
    pub zone_cache_hedge_ms: u64,
    /// Ask the control plane for maintenance jobs (compaction, deletions, orphan scans)
    /// this often; 0 = never (the agent runs no jobs). Asking is free when the control plane
    /// has none: it answers from memory without a journal write.
    pub jobs_poll_ms: u64,
    /// Planted bugs (off by default; see `eddy_controlplane::plants`).
    pub plants: eddy_controlplane::plants::Plants,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            node_id: 0,
            az: "az1".into(),
            advertised_host: "127.0.0.1".into(),
            bind_host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 9092,
            batch_timeout_ms: 250,
            batch_bytes_max: 8 * 1024 * 1024,
            flushes_in_flight_max: 4,
            put_attempts: 2,
            commit_deadline_ms: 10_000,
            default_partitions: 12,
            frame_bytes_max: 100 * 1024 * 1024,
            queued_request_bytes_max: 256 * 1024 * 1024,
            connection_idle_ms: 10 * 60 * 1000,
            request_read_timeout_ms: 30_000,
            connections_per_ip_max: 1024,
            fetch_response_bytes_max: 55 * 1024 * 1024,
            fetch_wait_ms_max: 30_000,
            heartbeat_ms: 1_000,
            // Off by default for a standalone agent: the cache needs a second port (Kafka
            // port + 1) reachable from the other agents of its zone. Deployments and the
            // simulated scenarios turn it on.
            zone_cache: false,
            zone_cache_bytes: 256 * 1024 * 1024,
            zone_cache_page_bytes: 8 * 1024 * 1024,
            zone_cache_timeout_ms: 2_000,
            zone_cache_hedge_ms: 500,
            jobs_poll_ms: 1_000,
            plants: eddy_controlplane::plants::Plants::none(),
        }
    }
}
