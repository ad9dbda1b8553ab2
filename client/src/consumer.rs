//! A simple consumer (no groups): the caller assigns partitions, may seek, and polls. Each
//! poll sends one Fetch per partition leader (concurrently), decodes the returned batches,
//! drops records below the fetch position (a fetch may start mid-batch) and advances the
//! position past the last record returned. OFFSET_OUT_OF_RANGE resets the position with
//! ListOffsets (earliest by default) and is reported in the poll result so the caller can
//! record the jump.
//!
//! It never filters records by the high watermark it is told: showing what the broker
//! returned is the point (the checkers judge it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};

use super::cluster::{Cluster, ClusterConfig};
use super::conn::{ConnConfig, DialFn};
use super::error::{needs_metadata_refresh, ClientError, ConsumeError};
use super::records::decode_batches;

/// ListOffsets timestamp meaning "the next offset to be written" (high watermark).
pub const LATEST: i64 = -1;
/// ListOffsets timestamp meaning "the first offset still stored" (log start).
pub const EARLIEST: i64 = -2;

/// Where to start when a partition has no position or its position is out of range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetReset {
    /// The log start.
    #[default]
    Earliest,
    /// The high watermark.
    Latest,
}

impl OffsetReset {
    fn timestamp(self) -> i64 {
        match self {
            OffsetReset::Earliest => EARLIEST,
            OffsetReset::Latest => LATEST,
        }
    }
}

/// Which records a consumer is given (Kafka's `isolation.level`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Every record, those of open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// Only records below the last stable offset, without those of aborted transactions.
    ReadCommitted,
}

impl Isolation {
    fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// Consumer settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerConfig {
    /// Client id; zone-aware routing reads `ws_az=<az>` from it.
    pub client_id: String,
    /// Cap on the bytes of one fetch response.
    pub fetch_max_bytes: i32,
    /// Cap on the bytes returned per partition (at least one batch is always returned).
    pub partition_max_bytes: i32,
    /// The broker answers as soon as it has this many bytes (or `max_wait_ms` passed).
    pub min_bytes: i32,
    /// Timeout of a request on top of its long-poll wait.
    pub request_timeout_ms: u64,
    /// Where to start without a valid position.
    pub auto_offset_reset: OffsetReset,
    /// Pause after a poll that failed everywhere, so a caller's poll loop cannot spin.
    pub retry_backoff_ms: u64,
    /// `read_committed` or `read_uncommitted` (the default).
    pub isolation: Isolation,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client_id: "eddy-consumer".to_string(),
            fetch_max_bytes: 50 * 1024 * 1024,
            partition_max_bytes: 1024 * 1024,
            min_bytes: 1,
            request_timeout_ms: 30_000,
            auto_offset_reset: OffsetReset::Earliest,
            retry_backoff_ms: 100,
            isolation: Isolation::ReadUncommitted,
        }
    }
}

/// What one poll returned for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledBatch {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The position the fetch started at; after a reset, the new position.
    pub fetch_offset: i64,
    /// High watermark reported by the broker (-1 if unknown, e.g. after a reset).
    pub high_watermark: i64,
    /// Log start offset reported by the broker (-1 if unknown).
    pub log_start: i64,
    /// Records at or above `fetch_offset`, in the order returned: (offset, key, value).
    pub records: Vec<(i64, Option<Bytes>, Bytes)>,
    /// Set when the position was out of range and was reset: the position it had.
    pub reset_from: Option<i64>,
    /// The last stable offset the broker reported (-1 if unknown).
    pub last_stable: i64,
}

/// A consumer of explicitly assigned partitions.
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    /// (topic, partition) → next offset to fetch; None until resolved by the reset policy.
    positions: BTreeMap<(String, i32), Option<i64>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("client_id", &self.config.client_id)
            .field("positions", &self.positions)
            .finish()
    }
}

struct FetchJob {
    addr: SocketAddr,
    partitions: Vec<((String, i32), i64)>,
}

impl Consumer {
    /// A consumer with its own connections to the cluster at `bootstrap` (`host:port`).
    pub fn new(config: ConsumerConfig, bootstrap: Vec<String>, dialer: DialFn) -> Consumer {
        let cluster = Arc::new(Cluster::new(ClusterConfig {
            bootstrap,
            conn: ConnConfig {
                client_id: config.client_id.clone(),
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                ..ConnConfig::default()
            },
            dialer,
        }));
        Consumer::with_cluster(config, cluster)
    }

    /// A consumer over an existing cluster handle (its client id is used).
    pub fn with_cluster(config: ConsumerConfig, cluster: Arc<Cluster>) -> Consumer {
        Consumer {
            cluster,
            config,
            positions: BTreeMap::new(),
        }
    }

    /// Replaces the assignment. Partitions kept from the old assignment keep their
    /// position; new ones start per `auto_offset_reset` unless sought.
    pub fn assign(&mut self, partitions: Vec<(String, i32)>) {
        let mut next = BTreeMap::new();
        for tp in partitions {
            let pos = self.positions.get(&tp).copied().flatten();
            next.insert(tp, pos);
        }
        self.positions = next;
    }

    /// Sets the next offset to fetch (assigning the partition if needed).
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) {
        self.positions
            .insert((topic.to_string(), partition), Some(offset));
    }

    /// The next offset to fetch, if known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions
            .get(&(topic.to_string(), partition))
            .copied()
            .flatten()
    }

    /// The cluster handle (metadata, connections) this consumer uses.
    /// The consumer's isolation level.
    pub fn isolation(&self) -> Isolation {
        self.config.isolation
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// ListOffsets for one partition: `timestamp` -1 (latest), -2 (earliest) or a time.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<i64, ConsumeError> {
        list_offsets(&self.cluster, &self.config, topic, partition, timestamp).await
    }

    /// Fetches from every assigned partition once (waiting up to `max_wait_ms` for data).
    /// Returns one entry per partition that answered (possibly without records, carrying
    /// the watermarks) and per reset. Fails only if nothing could be fetched at all.
    pub async fn poll(&mut self, max_wait_ms: u64) -> Result<Vec<PolledBatch>, ConsumeError> {
        let mut out = Vec::new();
        let mut last_error: Option<ClientError> = None;
        let reset_ts = self.config.auto_offset_reset.timestamp();

        // Resolve missing positions.
        let unresolved: Vec<(String, i32)> = self
            .positions
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in unresolved {
            match list_offsets(&self.cluster, &self.config, &tp.0, tp.1, reset_ts).await {
                Ok(offset) => {
                    self.positions.insert(tp, Some(offset));
                }
                Err(e) => last_error = Some(e),
            }
        }

        // Leaders.
        let stale: Vec<String> = {
            let mut topics: Vec<String> = self.positions.keys().map(|(t, _)| t.clone()).collect();
            topics.dedup();
            self.cluster
                .with_metadata(|m| topics.into_iter().filter(|t| m.needs_refresh(t)).collect())
        };
        if !stale.is_empty() {
            if let Err(e) = self.cluster.refresh_metadata(&stale).await {
                last_error = Some(e);
            }
        }
        let mut jobs: BTreeMap<SocketAddr, FetchJob> = BTreeMap::new();
        for (tp, pos) in &self.positions {
            let Some(pos) = pos else { continue };
            match self.cluster.leader_addr(&tp.0, tp.1) {
                Some(addr) => jobs
                    .entry(addr)
                    .or_insert_with(|| FetchJob {
                        addr,
                        partitions: Vec::new(),
                    })
                    .partitions
                    .push((tp.clone(), *pos)),
                None => {
                    last_error = Some(ClientError::NoLeader {
                        topic: tp.0.clone(),
                        partition: tp.1,
                    })
                }
            }
        }
        if jobs.is_empty() {
            tokio::time::sleep(Duration::from_millis(if last_error.is_some() {
                self.config.retry_backoff_ms
            } else {
                max_wait_ms
            }))
            .await;
            return match last_error {
                Some(e) => Err(e),
                None => Ok(out),
            };
        }

        // One fetch per leader, concurrently; results handled in address order.
        let mut handles = Vec::new();
        for (addr, job) in jobs {
            let cluster = self.cluster.clone();
            let request = self.fetch_request(&job, max_wait_ms);
            let timeout = Duration::from_millis(self.config.request_timeout_ms + max_wait_ms);
            let handle = tokio::spawn(async move {
                let conn = cluster.connection(addr).await?;
                conn.request_with_timeout(&request, timeout).await
            });
            handles.push((job, handle));
        }
        for (job, handle) in handles {
            let result = match handle.await {
                Ok(r) => r,
                Err(_) => Err(ClientError::ConnectionLost),
            };
            match result {
                Ok(resp) => {
                    if let Err(e) = self.absorb(&job, resp, &mut out).await {
                        last_error = Some(e);
                    }
                }
                Err(e) => {
                    self.cluster.drop_connection(job.addr).await;
                    for ((topic, _), _) in &job.partitions {
                        self.cluster.invalidate(topic);
                    }
                    last_error = Some(e);
                }
            }
        }
        match last_error {
            Some(e) if out.is_empty() => {
                tokio::time::sleep(Duration::from_millis(self.config.retry_backoff_ms)).await;
                Err(e)
            }
            _ => Ok(out),
        }
    }

    fn fetch_request(&self, job: &FetchJob, max_wait_ms: u64) -> FetchRequest {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for ((topic, partition), offset) in &job.partitions {
            topics.entry(topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(*partition)
                    .with_fetch_offset(*offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(self.config.partition_max_bytes),
            );
        }
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(i32::try_from(max_wait_ms).unwrap_or(i32::MAX))
            .with_min_bytes(self.config.min_bytes)
            .with_max_bytes(self.config.fetch_max_bytes)
            .with_isolation_level(self.config.isolation.level())
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(ps)
                    })
                    .collect(),
            )
    }

    /// Turns one fetch response into poll results and position updates.
    async fn absorb(
        &mut self,
        job: &FetchJob,
        resp: FetchResponse,
        out: &mut Vec<PolledBatch>,
    ) -> Result<(), ClientError> {
        if let Some(e) = ResponseError::try_from_code(resp.error_code) {
            return Err(ClientError::Broker(e));
        }
        let mut answers = BTreeMap::new();
        for topic in resp.responses {
            let name = topic.topic.0.as_str().to_string();
            for p in topic.partitions {
                answers.insert((name.clone(), p.partition_index), p);
            }
        }
        let mut last_error = None;
        for (tp, fetch_offset) in &job.partitions {
            let Some(p) = answers.remove(tp) else {
                continue;
            };
            // The position may have been changed by an earlier answer in this poll.
            if self.positions.get(tp).copied().flatten() != Some(*fetch_offset) {
                continue;
            }
            if p.error_code == ResponseError::OffsetOutOfRange.code() {
                let ts = self.config.auto_offset_reset.timestamp();
                match list_offsets(&self.cluster, &self.config, &tp.0, tp.1, ts).await {
                    Ok(new) => {
                        self.positions.insert(tp.clone(), Some(new));
                        out.push(PolledBatch {
                            topic: tp.0.clone(),
                            partition: tp.1,
                            fetch_offset: new,
                            high_watermark: p.high_watermark,
                            log_start: p.log_start_offset,
                            records: Vec::new(),
                            reset_from: Some(*fetch_offset),
                            last_stable: -1,
                        });
                    }
                    Err(e) => last_error = Some(e),
                }
                continue;
            }
            if let Some(e) = ResponseError::try_from_code(p.error_code) {
                if needs_metadata_refresh(p.error_code) {
                    self.cluster.invalidate(&tp.0);
                }
                last_error = Some(ClientError::Broker(e));
                continue;
            }
            let batches = match decode_batches(p.records.unwrap_or_default()) {
                Ok(b) => b,
                Err(e) => {
                    last_error = Some(ClientError::Protocol(format!("{tp:?}: {e}")));
                    continue;
                }
            };
            let aborted: Vec<(i64, i64)> = p
                .aborted_transactions
                .iter()
                .flatten()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect();
            let read_committed = self.config.isolation == Isolation::ReadCommitted;
            let (records, next) = deliverable(batches, *fetch_offset, read_committed, aborted);
            self.positions.insert(tp.clone(), Some(next));
            out.push(PolledBatch {
                topic: tp.0.clone(),
                partition: tp.1,
                fetch_offset: *fetch_offset,
                high_watermark: p.high_watermark,
                log_start: p.log_start_offset,
                records,
                reset_from: None,
                last_stable: p.last_stable_offset,
            });
        }
        match last_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The records of a fetched partition a consumer delivers, and its next position: control
/// batches are never delivered; under read_committed, the batches of aborted transactions
/// are dropped too, by Kafka's client algorithm: an aborted transaction `(producer id,
/// first offset)` from the response applies from its first offset on, to that producer's
/// transactional batches, until the producer's abort marker.
pub(crate) fn deliverable(
    batches: Vec<crate::records::DecodedBatch>,
    fetch_offset: i64,
    read_committed: bool,
    mut aborted: Vec<(i64, i64)>,
) -> (Vec<(i64, Option<Bytes>, Bytes)>, i64) {
    // Smallest first offset first (Kafka keeps them in a priority queue).
    aborted.sort_by_key(|&(pid, first)| (first, pid));
    let mut pending = aborted.into_iter().peekable();
    let mut aborting: std::collections::BTreeSet<i64> = Default::default();
    let mut next = fetch_offset;
    let mut records = Vec::new();
    for batch in batches {
        if batch.last_offset < next {
            continue;
        }
        next = next.max(batch.last_offset + 1);
        if read_committed && batch.producer_id >= 0 {
            while let Some(&(pid, _)) = pending.peek().filter(|(_, f)| *f <= batch.last_offset) {
                aborting.insert(pid);
                pending.next();
            }
            if batch.control {
                if batch.abort_marker {
                    aborting.remove(&batch.producer_id);
                }
                continue;
            }
            if batch.transactional && aborting.contains(&batch.producer_id) {
                continue;
            }
        }
        if !batch.control {
            records.extend(batch.records.into_iter().filter(|r| r.0 >= fetch_offset));
        }
    }
    (records, next)
}

/// ListOffsets for one partition at its leader.
async fn list_offsets(
    cluster: &Cluster,
    config: &ConsumerConfig,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64, ClientError> {
    let (addr, conn) = cluster.leader_connection(topic, partition).await?;
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(config.isolation.level())
        .with_timeout_ms(i32::try_from(config.request_timeout_ms).unwrap_or(i32::MAX))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)])]);
    let resp = match conn.request(&request).await {
        Ok(r) => r,
        Err(e) => {
            cluster.drop_connection(addr).await;
            cluster.invalidate(topic);
            return Err(e);
        }
    };
    let answer = resp
        .topics
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| {
            ClientError::Protocol("partition missing from ListOffsets response".into())
        })?;
    if let Some(e) = ResponseError::try_from_code(answer.error_code) {
        if needs_metadata_refresh(answer.error_code) {
            cluster.invalidate(topic);
        }
        return Err(ClientError::Broker(e));
    }
    Ok(answer.offset)
}
