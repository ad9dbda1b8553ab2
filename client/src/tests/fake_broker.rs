//! A tiny in-memory Kafka broker for the client's tests: one node that leads every
//! partition, answering ApiVersions, Metadata (auto-creates topics), Produce (assigns
//! offsets by patching the batch base offset, dedups idempotent batches), Fetch (whole
//! batches from the one containing the fetch offset), ListOffsets and InitProducerId.
//! Faults are plain data in `BrokerState` (drop the connection before/after applying a
//! produce, reject big batches, truncate the last batch of a fetch).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, ProducerId, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable, Encodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One partition's log: (base offset, last offset, batch bytes with the real base offset).
#[derive(Debug, Default)]
pub struct Log {
    pub batches: Vec<(i64, i64, Bytes)>,
    pub next_offset: i64,
    pub log_start: i64,
}

/// (first sequence, record count, base offset) of a recently appended idempotent batch.
pub type RecentBatch = (i32, i32, i64);

/// Everything the fake broker stores, plus fault switches.
#[derive(Debug)]
pub struct BrokerState {
    pub addr: SocketAddr,
    pub partitions_per_topic: i32,
    pub logs: BTreeMap<(String, i32), Log>,
    pub produce_requests: usize,
    /// The next N produce requests close the connection without being applied.
    pub drop_before_apply: u32,
    /// The next N produce requests are applied, then the connection closes unanswered.
    pub drop_after_apply: u32,
    /// Batches larger than this are answered with MESSAGE_TOO_LARGE.
    pub max_batch_bytes: usize,
    /// Append half of the next batch to every fetch answer (a truncated trailing batch).
    pub truncate_fetch_tail: bool,
    /// Highest ApiVersions version understood (KIP-511 fallback above it).
    pub api_versions_max: i16,
    pub next_producer_id: i64,
    /// (producer id, topic, partition) → recent (first sequence, count, base offset).
    pub sequences: BTreeMap<(i64, String, i32), Vec<RecentBatch>>,
    pub client_ids: Vec<String>,
    /// Produce answers are delayed by this long; requests are then handled concurrently.
    pub produce_delay_ms: u64,
    /// Most produce requests read but not yet answered on one connection.
    pub max_outstanding_produce: usize,
}

impl BrokerState {
    fn new(addr: SocketAddr) -> Self {
        BrokerState {
            addr,
            partitions_per_topic: 2,
            logs: BTreeMap::new(),
            produce_requests: 0,
            drop_before_apply: 0,
            drop_after_apply: 0,
            max_batch_bytes: usize::MAX,
            truncate_fetch_tail: false,
            api_versions_max: 3,
            next_producer_id: 1000,
            sequences: BTreeMap::new(),
            client_ids: Vec::new(),
            produce_delay_ms: 0,
            max_outstanding_produce: 0,
        }
    }

    /// All records of a partition as (offset, value) in log order.
    pub fn values(&self, topic: &str, partition: i32) -> Vec<(i64, Bytes)> {
        let mut out = Vec::new();
        if let Some(log) = self.logs.get(&(topic.to_string(), partition)) {
            for (_, _, bytes) in &log.batches {
                let mut b = bytes.clone();
                let set = RecordBatchDecoder::decode(&mut b).expect("stored batch decodes");
                for r in set.records {
                    out.push((r.offset, r.value.unwrap_or_default()));
                }
            }
        }
        out
    }
}

pub type Shared = Arc<Mutex<BrokerState>>;

pub fn lock(s: &Shared) -> MutexGuard<'_, BrokerState> {
    s.lock().expect("broker state lock")
}

/// Starts a broker on a new simulated node and returns once it listens.
pub async fn start(name: &str, ip: &str) -> Shared {
    let addr: SocketAddr = format!("{ip}:9092").parse().expect("addr");
    let state = Arc::new(Mutex::new(BrokerState::new(addr)));
    let node = madsim::runtime::Handle::current()
        .create_node()
        .name(name)
        .ip(addr.ip())
        .build();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let s = state.clone();
    node.spawn(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let _ = ready_tx.send(());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve_connection(stream, s.clone()));
        }
    });
    ready_rx.await.expect("broker started");
    state
}

enum Action {
    Reply(BytesMut, i16),
    Close,
}

async fn serve_connection(stream: tokio::net::TcpStream, state: Shared) {
    let (mut rd, wr) = tokio::io::split(stream);
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let outstanding = Arc::new(Mutex::new(0usize));
    loop {
        let mut size = [0u8; 4];
        if rd.read_exact(&mut size).await.is_err() {
            return;
        }
        let size = i32::from_be_bytes(size);
        if !(8..=64 * 1024 * 1024).contains(&size) {
            return;
        }
        let mut body = vec![0u8; size as usize];
        if rd.read_exact(&mut body).await.is_err() {
            return;
        }
        let mut body = Bytes::from(body);
        let Ok(header) = decode_request_header_from_buffer(&mut body) else {
            return;
        };
        if let Some(id) = &header.client_id {
            let mut st = lock(&state);
            if !st.client_ids.iter().any(|c| c == id.as_str()) {
                st.client_ids.push(id.as_str().to_string());
            }
        }
        let Ok(api) = ApiKey::try_from(header.request_api_key) else {
            return;
        };
        let delay = lock(&state).produce_delay_ms;
        let work = {
            let state = state.clone();
            let wr = wr.clone();
            let outstanding = outstanding.clone();
            async move {
                let delayed = api == ApiKey::Produce && delay > 0;
                if delayed {
                    let mut n = outstanding.lock().expect("outstanding");
                    *n += 1;
                    let mut st = lock(&state);
                    st.max_outstanding_produce = st.max_outstanding_produce.max(*n);
                }
                if delayed {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    *outstanding.lock().expect("outstanding") -= 1;
                }
                let version = header.request_api_version;
                let Ok(Action::Reply(resp_body, resp_version)) =
                    handle(&state, api, version, body).await
                else {
                    return false;
                };
                let mut frame = BytesMut::new();
                frame.put_i32(0);
                ResponseHeader::default()
                    .with_correlation_id(header.correlation_id)
                    .encode(&mut frame, api.response_header_version(resp_version))
                    .expect("encode header");
                frame.extend_from_slice(&resp_body);
                let n = (frame.len() - 4) as i32;
                frame[0..4].copy_from_slice(&n.to_be_bytes());
                let mut wr = wr.lock().await;
                wr.write_all(&frame).await.is_ok() && wr.flush().await.is_ok()
            }
        };
        if delay > 0 {
            tokio::spawn(work);
        } else if !work.await {
            return;
        }
    }
}

type Res<T> = Result<T, String>;

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

fn encode<T: Encodable>(msg: &T, version: i16) -> Res<Action> {
    let mut b = BytesMut::new();
    msg.encode(&mut b, version).map_err(e)?;
    Ok(Action::Reply(b, version))
}

fn name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

async fn handle(state: &Shared, api: ApiKey, version: i16, mut body: Bytes) -> Res<Action> {
    match api {
        ApiKey::ApiVersions => {
            let max = lock(state).api_versions_max;
            let keys = vec![
                (ApiKey::Produce, 0, 12),
                (ApiKey::Fetch, 4, 12),
                (ApiKey::ListOffsets, 1, 7),
                (ApiKey::Metadata, 0, 12),
                (ApiKey::ApiVersions, 0, max),
                (ApiKey::InitProducerId, 0, 4),
            ]
            .into_iter()
            .map(|(k, lo, hi)| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(lo)
                    .with_max_version(hi)
            })
            .collect();
            if version > max {
                let resp = ApiVersionsResponse::default()
                    .with_error_code(35)
                    .with_api_keys(keys);
                let mut b = BytesMut::new();
                resp.encode(&mut b, 0).map_err(e)?;
                return Ok(Action::Reply(b, version));
            }
            ApiVersionsRequest::decode(&mut body, version).map_err(e)?;
            encode(&ApiVersionsResponse::default().with_api_keys(keys), version)
        }
        ApiKey::Metadata => {
            let req = MetadataRequest::decode(&mut body, version).map_err(e)?;
            let mut st = lock(state);
            let addr = st.addr;
            let mut topics = Vec::new();
            for t in req.topics.unwrap_or_default() {
                let Some(topic) = t.name else { continue };
                let topic = topic.0.as_str().to_string();
                let n = st.partitions_per_topic;
                for p in 0..n {
                    st.logs.entry((topic.clone(), p)).or_default();
                }
                topics.push(
                    MetadataResponseTopic::default()
                        .with_name(Some(name(&topic)))
                        .with_partitions(
                            (0..n)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(BrokerId(1))
                                        .with_replica_nodes(vec![BrokerId(1)])
                                        .with_isr_nodes(vec![BrokerId(1)])
                                })
                                .collect(),
                        ),
                );
            }
            let resp = MetadataResponse::default()
                .with_brokers(vec![MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_string(addr.ip().to_string()))
                    .with_port(i32::from(addr.port()))])
                .with_controller_id(BrokerId(1))
                .with_topics(topics);
            encode(&resp, version)
        }
        ApiKey::InitProducerId => {
            InitProducerIdRequest::decode(&mut body, version).map_err(e)?;
            let mut st = lock(state);
            st.next_producer_id += 1;
            let resp = InitProducerIdResponse::default()
                .with_producer_id(ProducerId(st.next_producer_id))
                .with_producer_epoch(0);
            encode(&resp, version)
        }
        ApiKey::Produce => {
            let req = ProduceRequest::decode(&mut body, version).map_err(e)?;
            let mut st = lock(state);
            st.produce_requests += 1;
            if st.drop_before_apply > 0 {
                st.drop_before_apply -= 1;
                return Ok(Action::Close);
            }
            let mut responses = Vec::new();
            for t in req.topic_data {
                let topic = t.name.0.as_str().to_string();
                let mut parts = Vec::new();
                for p in t.partition_data {
                    let records = p.records.unwrap_or_default();
                    let (code, base) = st.append(&topic, p.index, records);
                    parts.push(
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(code)
                            .with_base_offset(base),
                    );
                }
                responses.push(
                    TopicProduceResponse::default()
                        .with_name(name(&topic))
                        .with_partition_responses(parts),
                );
            }
            if st.drop_after_apply > 0 {
                st.drop_after_apply -= 1;
                return Ok(Action::Close);
            }
            encode(
                &ProduceResponse::default().with_responses(responses),
                version,
            )
        }
        ApiKey::Fetch => {
            let req = FetchRequest::decode(&mut body, version).map_err(e)?;
            let mut resp = fetch(state, &req);
            let empty = resp
                .responses
                .iter()
                .flat_map(|t| t.partitions.iter())
                .all(|p| p.records.as_ref().is_none_or(|r| r.is_empty()));
            if empty && req.max_wait_ms > 0 {
                tokio::time::sleep(Duration::from_millis(req.max_wait_ms as u64)).await;
                resp = fetch(state, &req);
            }
            encode(&resp, version)
        }
        ApiKey::ListOffsets => {
            let req = ListOffsetsRequest::decode(&mut body, version).map_err(e)?;
            let st = lock(state);
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let topic = t.name.0.as_str().to_string();
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let r = ListOffsetsPartitionResponse::default()
                                .with_partition_index(p.partition_index);
                            match st.logs.get(&(topic.clone(), p.partition_index)) {
                                None => r.with_error_code(3),
                                Some(log) => r.with_offset(if p.timestamp == -2 {
                                    log.log_start
                                } else {
                                    log.next_offset
                                }),
                            }
                        })
                        .collect();
                    ListOffsetsTopicResponse::default()
                        .with_name(name(&topic))
                        .with_partitions(parts)
                })
                .collect();
            encode(&ListOffsetsResponse::default().with_topics(topics), version)
        }
        _ => Ok(Action::Close),
    }
}

impl BrokerState {
    /// Appends one produced batch; returns (error code, base offset).
    fn append(&mut self, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
        if records.len() > self.max_batch_bytes {
            return (10, -1);
        }
        let Ok(infos) = RecordBatchDecoder::decode_batch_info(&mut records.clone()) else {
            return (2, -1);
        };
        let [info] = infos.as_slice() else {
            return (2, -1);
        };
        let key = (topic.to_string(), partition);
        if !self.logs.contains_key(&key) {
            return (3, -1);
        }
        let seq_key = (info.producer_id, topic.to_string(), partition);
        if info.producer_id >= 0 {
            let recent = self.sequences.entry(seq_key.clone()).or_default();
            if let Some((_, _, base)) = recent.iter().find(|(s, _, _)| *s == info.base_sequence) {
                return (0, *base);
            }
            let expected = recent.last().map_or(0, |(s, n, _)| s + n);
            if info.base_sequence != expected {
                return (45, -1);
            }
        }
        let log = self.logs.entry(key).or_default();
        let base = log.next_offset;
        let mut bytes = BytesMut::from(&records[..]);
        bytes[0..8].copy_from_slice(&base.to_be_bytes());
        let last = base + i64::from(info.record_count) - 1;
        log.batches.push((base, last, bytes.freeze()));
        log.next_offset = last + 1;
        if info.producer_id >= 0 {
            let recent = self.sequences.entry(seq_key).or_default();
            recent.push((info.base_sequence, info.record_count, base));
            if recent.len() > 5 {
                recent.remove(0);
            }
        }
        (0, base)
    }
}

fn fetch(state: &Shared, req: &FetchRequest) -> FetchResponse {
    let st = lock(state);
    let mut responses = Vec::new();
    for t in &req.topics {
        let topic = t.topic.0.as_str().to_string();
        let mut parts = Vec::new();
        for p in &t.partitions {
            let base = PartitionData::default().with_partition_index(p.partition);
            let Some(log) = st.logs.get(&(topic.clone(), p.partition)) else {
                parts.push(base.with_error_code(3));
                continue;
            };
            let base = base
                .with_high_watermark(log.next_offset)
                .with_last_stable_offset(log.next_offset)
                .with_log_start_offset(log.log_start);
            if p.fetch_offset < log.log_start || p.fetch_offset > log.next_offset {
                parts.push(base.with_error_code(1));
                continue;
            }
            let mut out = BytesMut::new();
            let mut batches = log
                .batches
                .iter()
                .filter(|(_, last, _)| *last >= p.fetch_offset)
                .peekable();
            while let Some((_, _, bytes)) = batches.next() {
                out.extend_from_slice(bytes);
                if out.len() >= p.partition_max_bytes as usize {
                    break;
                }
                if st.truncate_fetch_tail {
                    if let Some((_, _, next)) = batches.peek() {
                        out.extend_from_slice(&next[..next.len() / 2]);
                    }
                    break;
                }
            }
            parts.push(base.with_records(Some(out.freeze())));
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(name(&topic))
                .with_partitions(parts),
        );
    }
    FetchResponse::default().with_responses(responses)
}
