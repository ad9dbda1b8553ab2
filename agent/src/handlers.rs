//! Request handlers other than Fetch and the group APIs: ApiVersions, Metadata,
//! CreateTopics, DescribeConfigs, ListOffsets and Produce. Each turns a decoded request into
//! a response; none may panic on its contents.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use eddy_controlplane::api::{
    validate_topic_name, CpError, ErrorKind, ProducerBatch, RetentionPolicy, TopicInfo,
    CHUNK_INVALID_PRODUCER_EPOCH, CHUNK_INVALID_TXN_STATE, CHUNK_OUT_OF_ORDER_SEQUENCE,
    CHUNK_UNKNOWN_PRODUCER_ID, PARTITIONS_MAX,
};
use eddy_controlplane::plants::Plant;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::batch::{parse_batches, BatchInfo};
use crate::cluster::{client_az, ClusterView};
use crate::codes;
use crate::configs;
use crate::produce::{AppendTurn, Part, ProduceFailure};
use crate::server::AgentInner;

/// A Metadata request waits at most this many heartbeat periods for the agent's view of
/// the cluster to settle (see [`crate::cluster`]).
pub const METADATA_SETTLE_HEARTBEATS: u64 = 3;

/// Most resources in one DescribeConfigs request.
pub const DESCRIBE_CONFIGS_RESOURCES_MAX: usize = 10_000;

/// The APIs and versions this agent serves. Produce advertises 0 as its minimum because old
/// librdkafka only enables compression when v0 is in range; v0–2 are refused at decode.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    // Transactions (see `txn.rs`). AddPartitionsToTxn v4+ and EndTxn v5 are KIP-890's
    // broker-side and epoch-per-transaction versions, not served.
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
];

/// Versions actually decodable: the advertised range, except Produce v0–2.
pub fn decodable(api: ApiKey, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|(k, lo, hi)| *k == api && (*lo..=*hi).contains(&version))
        && !(api == ApiKey::Produce && version < 3)
}

pub fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.error_code = error_code;
    r.api_keys = SUPPORTED
        .iter()
        .map(|(k, lo, hi)| {
            let mut v = ApiVersion::default();
            v.api_key = *k as i16;
            v.min_version = *lo;
            v.max_version = *hi;
            v
        })
        .collect();
    r
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// CreateTopics' `configs` for `topic`, against the retention the control plane gives the
/// topics that brought configs: `Err((error code, message))` when eddy would not do what
/// they ask (see [`crate::configs`]).
fn check_configs(
    retention: &Result<BTreeMap<String, RetentionPolicy>, CpError>,
    topic: &str,
    configs: &[(String, Option<String>)],
) -> Result<(), (i16, String)> {
    if configs.is_empty() {
        return Ok(());
    }
    let policy = match retention {
        Ok(policies) => policies.get(topic).cloned().unwrap_or_default(),
        Err(e) => return Err((codes::REQUEST_TIMED_OUT, e.message.clone())),
    };
    configs::check_create(configs, &policy).map_err(|m| (codes::INVALID_CONFIG, m))
}

/// Topic names from the wire, checked the way Kafka checks them.
fn topic_error(name: &str) -> Option<i16> {
    validate_topic_name(name)
        .err()
        .map(|_| codes::INVALID_TOPIC_EXCEPTION)
}

impl AgentInner {
    /// Partitions of `topic`, from the cache or the control plane; `None` if unknown.
    pub async fn partitions(&self, topic: &str) -> Result<Option<i32>, CpError> {
        if let Some(n) = self.cluster.cached_partitions(topic) {
            return Ok(Some(n));
        }
        let topics = self
            .cp
            .describe_topics(Some(vec![topic.to_string()]), self.rpc_deadline())
            .await?;
        Ok(topics.into_iter().find(|t| t.name == topic).map(|t| {
            self.cluster.cache_topic(&t.name, t.partitions);
            t.partitions
        }))
    }

    pub fn rpc_deadline(&self) -> Duration {
        Duration::from_millis(self.config.commit_deadline_ms)
    }

    async fn create_topics(
        &self,
        topics: Vec<TopicInfo>,
        if_not_exists: bool,
    ) -> Result<Vec<Result<TopicInfo, CpError>>, CpError> {
        let results = self
            .cp
            .create_topics(topics, if_not_exists, self.rpc_deadline())
            .await?;
        for t in results.iter().flatten() {
            self.cluster.cache_topic(&t.name, t.partitions);
        }
        Ok(results)
    }

    pub async fn metadata(
        &self,
        req: MetadataRequest,
        version: i16,
        client_id: &str,
    ) -> MetadataResponse {
        // Leaders computed from a partial view of the agents would stay with the client
        // for minutes: wait (boundedly) for the view to settle after the agent starts.
        if !self.cluster.is_settled() {
            let max =
                Duration::from_millis(self.config.heartbeat_ms.max(1) * METADATA_SETTLE_HEARTBEATS);
            if !self.cluster.settled_within(max).await {
                tracing::debug!("answering Metadata before the view of the agents settled");
            }
        }
        let zone_blind = self.config.plants.has(Plant::ZoneBlindMetadata);
        let brokers = self
            .cluster
            .agents_for(client_az(client_id).filter(|_| !zone_blind));
        let mut r = MetadataResponse::default();
        r.cluster_id = Some(str_bytes("eddy"));
        r.controller_id = BrokerId(
            brokers
                .first()
                .map_or(self.cluster.me().node_id, |b| b.node_id),
        );
        r.brokers = brokers
            .iter()
            .map(|a| {
                let mut b = MetadataResponseBroker::default();
                b.node_id = BrokerId(a.node_id);
                b.host = str_bytes(&a.host);
                b.port = a.port as i32;
                b.rack = Some(str_bytes(&a.az));
                b
            })
            .collect();
        // v0: an empty list means all topics; v1+: null means all topics.
        let requested: Option<Vec<String>> = match req.topics {
            None => None,
            Some(t) if t.is_empty() && version == 0 => None,
            Some(t) => Some(
                t.into_iter()
                    .filter_map(|t| t.name.map(|n| n.0.to_string()))
                    .collect(),
            ),
        };
        let auto_create = version < 4 || req.allow_auto_topic_creation;
        let names: Vec<String> = match requested {
            Some(names) => names,
            None => match self.cp.describe_topics(None, self.rpc_deadline()).await {
                Ok(topics) => topics.into_iter().map(|t| t.name).collect(),
                Err(_) => Vec::new(),
            },
        };
        for name in names {
            let mut topic = MetadataResponseTopic::default();
            topic.name = Some(TopicName(str_bytes(&name)));
            let partitions = if let Some(code) = topic_error(&name) {
                Err(code)
            } else {
                match self.partitions(&name).await {
                    Ok(Some(n)) => Ok(n),
                    Ok(None) if auto_create => {
                        let info = TopicInfo {
                            name: name.clone(),
                            partitions: self.config.default_partitions,
                        };
                        match self.create_topics(vec![info], true).await {
                            Ok(mut results) => match results.pop() {
                                Some(Ok(t)) => Ok(t.partitions),
                                Some(Err(e)) => Err(codes::from_cp(&e)),
                                None => Err(codes::UNKNOWN_SERVER_ERROR),
                            },
                            Err(e) => Err(codes::from_cp(&e)),
                        }
                    }
                    Ok(None) => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
                    Err(e) => Err(codes::from_cp(&e)),
                }
            };
            match partitions {
                Ok(n) => {
                    topic.partitions = (0..n)
                        .map(|p| {
                            let leader = ClusterView::leader(&brokers, &name, p);
                            let mut mp = MetadataResponsePartition::default();
                            mp.partition_index = p;
                            mp.leader_id = BrokerId(leader);
                            mp.leader_epoch = -1;
                            mp.replica_nodes = vec![BrokerId(leader)];
                            mp.isr_nodes = vec![BrokerId(leader)];
                            mp
                        })
                        .collect();
                }
                Err(code) => topic.error_code = code,
            }
            r.topics.push(topic);
        }
        r
    }

    pub async fn create_topics_request(&self, req: CreateTopicsRequest) -> CreateTopicsResponse {
        let mut r = CreateTopicsResponse::default();
        let mut to_create = Vec::new();
        // One control-plane round trip for the retention of every topic that brings configs.
        let with_configs: Vec<String> = req
            .topics
            .iter()
            .filter(|t| !t.configs.is_empty())
            .map(|t| t.name.0.to_string())
            .collect();
        let retention = if with_configs.is_empty() {
            Ok(BTreeMap::new())
        } else {
            self.retention(with_configs.clone())
                .await
                .map(|p| with_configs.into_iter().zip(p).collect::<BTreeMap<_, _>>())
        };
        for t in &req.topics {
            let name = t.name.0.to_string();
            let partitions = if t.num_partitions == -1 {
                self.config.default_partitions
            } else {
                t.num_partitions
            };
            let mut result = CreatableTopicResult::default();
            result.name = t.name.clone();
            result.num_partitions = partitions;
            result.replication_factor = if t.replication_factor == -1 {
                3
            } else {
                t.replication_factor
            };
            let configs: Vec<(String, Option<String>)> = t
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect();
            if let Some(code) = topic_error(&name) {
                result.error_code = code;
                result.error_message = Some(str_bytes(&format!("illegal topic name {name:?}")));
            } else if !(1..=PARTITIONS_MAX).contains(&partitions) {
                result.error_code = codes::INVALID_PARTITIONS;
                result.error_message =
                    Some(str_bytes(&format!("invalid partition count {partitions}")));
            } else if let Err((code, message)) = check_configs(&retention, &name, &configs) {
                result.error_code = code;
                result.error_message = Some(str_bytes(&message));
            } else if !req.validate_only {
                to_create.push((r.topics.len(), TopicInfo { name, partitions }));
            }
            r.topics.push(result);
        }
        if !to_create.is_empty() {
            let infos = to_create.iter().map(|(_, t)| t.clone()).collect();
            match self.create_topics(infos, false).await {
                Ok(results) => {
                    for ((i, _), res) in to_create.iter().zip(results) {
                        if let Err(e) = res {
                            r.topics[*i].error_code = codes::from_cp(&e);
                            r.topics[*i].error_message = Some(str_bytes(&e.message));
                        }
                    }
                }
                Err(e) => {
                    for (i, _) in &to_create {
                        r.topics[*i].error_code = codes::REQUEST_TIMED_OUT;
                        r.topics[*i].error_message = Some(str_bytes(&e.message));
                    }
                }
            }
        }
        r
    }

    /// The retention the control plane applies to each of `topics`.
    async fn retention(&self, topics: Vec<String>) -> Result<Vec<RetentionPolicy>, CpError> {
        self.cp.retention(topics, self.rpc_deadline()).await
    }

    /// DescribeConfigs for topics and for this agent as a broker (read-only: eddy has no
    /// AlterConfigs). Other resource types are refused per resource.
    pub async fn describe_configs(&self, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
        let mut r = DescribeConfigsResponse::default();
        if req.resources.len() > DESCRIBE_CONFIGS_RESOURCES_MAX {
            for res in &req.resources {
                let mut out = DescribeConfigsResult::default();
                out.error_code = codes::INVALID_REQUEST;
                out.error_message = Some(str_bytes("too many resources in one request"));
                out.resource_type = res.resource_type;
                out.resource_name = res.resource_name.clone();
                r.results.push(out);
            }
            return r;
        }
        // One control-plane round trip for the retention of every resource: a topic's own,
        // and the default for brokers.
        let names: Vec<String> = req
            .resources
            .iter()
            .map(|res| match res.resource_type {
                configs::RESOURCE_TOPIC => res.resource_name.to_string(),
                _ => String::new(),
            })
            .collect();
        let retention = self.retention(names).await;
        let me = self.cluster.me().node_id;
        let max_bytes = self.config.frame_bytes_max;
        for (i, res) in req.resources.iter().enumerate() {
            let mut out = DescribeConfigsResult::default();
            out.resource_type = res.resource_type;
            out.resource_name = res.resource_name.clone();
            let keys: Option<Vec<String>> = res
                .configuration_keys
                .as_ref()
                .map(|k| k.iter().map(|s| s.to_string()).collect());
            let how = configs::Describe {
                keys: keys.as_deref(),
                synonyms: req.include_synonyms,
                documentation: req.include_documentation,
            };
            let policy = match &retention {
                Ok(p) => p[i].clone(),
                Err(e) => {
                    out.error_code = codes::REQUEST_TIMED_OUT;
                    out.error_message = Some(str_bytes(&e.message));
                    r.results.push(out);
                    continue;
                }
            };
            let name = res.resource_name.to_string();
            match res.resource_type {
                configs::RESOURCE_TOPIC => match self.partitions(&name).await {
                    Ok(Some(_)) => {
                        out.configs = configs::describe_topic(&policy, max_bytes, &how);
                    }
                    Ok(None) => {
                        out.error_code = codes::UNKNOWN_TOPIC_OR_PARTITION;
                        out.error_message = Some(str_bytes(&format!("unknown topic {name:?}")));
                    }
                    Err(e) => {
                        out.error_code = codes::REQUEST_TIMED_OUT;
                        out.error_message = Some(str_bytes(&e.message));
                    }
                },
                configs::RESOURCE_BROKER if name.is_empty() || name == me.to_string() => {
                    out.configs = configs::describe_broker(
                        me,
                        self.config.default_partitions,
                        max_bytes,
                        &policy,
                        &how,
                    );
                }
                configs::RESOURCE_BROKER => {
                    out.error_code = codes::INVALID_REQUEST;
                    out.error_message = Some(str_bytes(&format!(
                        "broker {name:?} is not this agent ({me}): ask that broker"
                    )));
                }
                other => {
                    out.error_code = codes::INVALID_REQUEST;
                    out.error_message = Some(str_bytes(&format!(
                        "resource type {other} is not supported"
                    )));
                }
            }
            r.results.push(out);
        }
        r
    }

    pub async fn list_offsets(&self, req: ListOffsetsRequest) -> ListOffsetsResponse {
        let mut r = ListOffsetsResponse::default();
        for t in req.topics {
            let name = t.name.0.to_string();
            let mut tr = ListOffsetsTopicResponse::default();
            tr.name = t.name.clone();
            for p in t.partitions {
                let mut pr = ListOffsetsPartitionResponse::default();
                pr.partition_index = p.partition_index;
                pr.leader_epoch = -1;
                pr.timestamp = -1;
                let listed = self.cp.list_offset(
                    name.clone(),
                    p.partition_index,
                    p.timestamp,
                    req.isolation_level == 1,
                    self.rpc_deadline(),
                );
                match listed.await {
                    Ok(listed) => pr.offset = listed.offset.unwrap_or(-1),
                    Err(e) if e.kind == ErrorKind::Invalid => {
                        pr.error_code = codes::INVALID_REQUEST
                    }
                    Err(e) => pr.error_code = codes::from_cp(&e),
                }
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        r
    }

    /// Produce: validate every partition's record set, append the valid ones to the pending
    /// file (atomically, in one file) and answer once committed. `None` for acks=0.
    /// Produce: check and split the record sets (concurrently with the connection's other
    /// requests), then append them in the connection's request order (`turn`), then wait
    /// for the commit.
    pub async fn produce(&self, req: ProduceRequest, turn: AppendTurn) -> Option<ProduceResponse> {
        let mut r = ProduceResponse::default();
        let mut parts = Vec::new();
        // (topic index, partition index) in the response of each part
        let mut slots = Vec::new();
        let acks_ok = matches!(req.acks, -1..=1);
        for t in req.topic_data {
            let name = t.name.0.to_string();
            let mut tr = TopicProduceResponse::default();
            tr.name = t.name.clone();
            let partitions = match topic_error(&name) {
                Some(code) => Err(code),
                None => match self.partitions(&name).await {
                    Ok(Some(n)) => Ok(n),
                    Ok(None) => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
                    Err(e) => Err(codes::from_cp(&e)),
                },
            };
            for p in t.partition_data {
                let mut pr = PartitionProduceResponse::default();
                pr.index = p.index;
                pr.base_offset = -1;
                pr.log_append_time_ms = -1;
                pr.log_start_offset = -1;
                let checked = if !acks_ok {
                    Err((
                        codes::INVALID_REQUIRED_ACKS,
                        format!("acks={} is not -1, 0 or 1", req.acks),
                    ))
                } else {
                    match partitions {
                        Err(code) => Err((code, format!("topic {name}"))),
                        Ok(n) if p.index < 0 || p.index >= n => Err((
                            codes::UNKNOWN_TOPIC_OR_PARTITION,
                            format!("{name} has {n} partitions"),
                        )),
                        Ok(_) => validate_records(p.records.as_ref()),
                    }
                };
                match checked {
                    Ok(batches) => {
                        let records = p.records.clone().unwrap_or_default();
                        let slot = (r.responses.len(), tr.partition_responses.len());
                        for part in split_parts(&name, p.index, records, &batches) {
                            parts.push(part);
                            slots.push(slot);
                        }
                    }
                    Err((code, message)) => {
                        pr.error_code = code;
                        pr.error_message = Some(str_bytes(&message));
                    }
                }
                tr.partition_responses.push(pr);
            }
            r.responses.push(tr);
        }
        // The connection's next produce request may append once these parts are in.
        let committed = turn.run(|| self.ingest.enqueue(parts)).await;
        let outcome = committed.await;
        for (i, (t, p)) in slots.into_iter().enumerate() {
            let pr = &mut r.responses[t].partition_responses[p];
            match &outcome {
                Ok(offsets) => {
                    let offset = offsets.get(i).copied().unwrap_or(-1);
                    if let Some(code) = refusal(offset) {
                        // One refused batch fails its partition's whole record set.
                        pr.error_code = code;
                        pr.base_offset = -1;
                    } else if pr.error_code == codes::NONE && pr.base_offset < 0 {
                        pr.base_offset = offset;
                        pr.log_start_offset = 0;
                    }
                }
                Err(failure) => {
                    pr.error_code = match failure {
                        // Not written: NOT_ENOUGH_REPLICAS tells clients "not appended, retry".
                        ProduceFailure::Storage(_) => codes::NOT_ENOUGH_REPLICAS,
                        ProduceFailure::Unknown(_) | ProduceFailure::Stopping => {
                            codes::REQUEST_TIMED_OUT
                        }
                        ProduceFailure::Rejected(e) => codes::from_cp(e),
                    };
                    pr.error_message = Some(str_bytes(&failure.to_string()));
                }
            }
        }
        if req.acks == 0 {
            None
        } else {
            Some(r)
        }
    }
}

/// The Kafka error for a chunk the control plane refused (a negative base offset).
fn refusal(offset: i64) -> Option<i16> {
    match offset {
        CHUNK_OUT_OF_ORDER_SEQUENCE => Some(codes::OUT_OF_ORDER_SEQUENCE_NUMBER),
        CHUNK_INVALID_PRODUCER_EPOCH => Some(codes::INVALID_PRODUCER_EPOCH),
        CHUNK_UNKNOWN_PRODUCER_ID => Some(codes::UNKNOWN_PRODUCER_ID),
        CHUNK_INVALID_TXN_STATE => Some(codes::INVALID_TXN_STATE),
        o if o < 0 => Some(codes::UNKNOWN_SERVER_ERROR),
        _ => None,
    }
}

/// The parts to append for one partition's record set: the whole set as one part, or, when
/// its batches come from an idempotent producer, one part per batch so the control plane
/// can deduplicate each batch by its sequence numbers (and skip a duplicate exactly).
pub fn split_parts(
    topic: &str,
    partition: i32,
    records: Bytes,
    batches: &[BatchInfo],
) -> Vec<Part> {
    let idempotent = !batches.is_empty() && batches.iter().all(|b| b.producer_id >= 0);
    if !idempotent {
        return vec![Part {
            topic: topic.to_string(),
            partition,
            offset_count: batches.iter().map(|b| b.offset_count).sum(),
            max_timestamp: batches.iter().map(|b| b.max_timestamp).max().unwrap_or(-1),
            records,
            producer: None,
        }];
    }
    batches
        .iter()
        .map(|b| {
            let delta = (b.offset_count.saturating_sub(1)).min(i32::MAX as u64) as i32;
            let last = if b.base_sequence > i32::MAX - delta {
                // Sequences wrap from i32::MAX to 0.
                delta - (i32::MAX - b.base_sequence) - 1
            } else {
                b.base_sequence + delta
            };
            Part {
                topic: topic.to_string(),
                partition,
                records: records.slice(b.start..b.start + b.len),
                offset_count: b.offset_count,
                max_timestamp: b.max_timestamp,
                producer: Some(ProducerBatch {
                    producer_id: b.producer_id,
                    producer_epoch: b.producer_epoch,
                    base_sequence: b.base_sequence,
                    last_sequence: last,
                    transactional: b.transactional,
                }),
            }
        })
        .collect()
}

/// A partition's parsed batches, or the error to answer.
fn validate_records(records: Option<&Bytes>) -> Result<Vec<BatchInfo>, (i16, String)> {
    let records = records.ok_or((codes::CORRUPT_MESSAGE, "null record set".to_string()))?;
    let batches = parse_batches(records).map_err(|e| match e {
        crate::batch::BatchError::Magic { .. } => {
            (codes::UNSUPPORTED_FOR_MESSAGE_FORMAT, e.to_string())
        }
        _ => (codes::CORRUPT_MESSAGE, e.to_string()),
    })?;
    if batches.iter().any(|b| b.control) {
        // Markers are the coordinator's to write (Kafka refuses them from clients too).
        return Err((
            codes::INVALID_RECORD,
            "control batches (transaction markers) cannot be produced".to_string(),
        ));
    }
    if batches.iter().any(|b| b.transactional && b.producer_id < 0) {
        return Err((
            codes::INVALID_RECORD,
            "a transactional batch without a producer id".to_string(),
        ));
    }
    Ok(batches)
}
