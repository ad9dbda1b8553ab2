//! A consumer-group member (Kafka's classic protocol, protocol type "consumer"): finds its
//! coordinator, joins, computes the assignment when it leads (range or round-robin over
//! the `ConsumerProtocolSubscription`/`Assignment` encodings), syncs, heartbeats, commits
//! positions periodically and before giving partitions up, and starts each assigned
//! partition at the group's committed offset. Until that OffsetFetch succeeds (it is
//! retried on every poll) the assigned partitions have no position: nothing is fetched or
//! committed for them, so a failed OffsetFetch never makes the member start over at the
//! reset position (which would commit the group's offsets backwards).
//!
//! Everything it does that a history should show (assignments, commits, reads of committed
//! offsets) is returned as [`GroupEvent`]s with the instant the operation was issued, so the
//! caller can record honest invoke/complete times.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTp;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::cluster::Cluster;
use super::consumer::{Consumer, ConsumerConfig, PolledBatch};
use super::error::ClientError;

/// Version of the consumer protocol's subscription and assignment encodings we write.
const CONSUMER_PROTOCOL_VERSION: i16 = 0;

/// How the leader splits partitions between members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions (Kafka's `range`).
    #[default]
    Range,
    /// All partitions dealt out one by one (Kafka's `roundrobin`).
    RoundRobin,
}

impl Assignor {
    fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }

    fn from_name(name: &str) -> Option<Assignor> {
        match name {
            "range" => Some(Assignor::Range),
            "roundrobin" => Some(Assignor::RoundRobin),
            _ => None,
        }
    }

    /// Assign `partitions` (topic → count) to `members` (member id → subscribed topics).
    pub fn assign(
        self,
        members: &BTreeMap<String, Vec<String>>,
        partitions: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<(String, i32)>> {
        let mut out: BTreeMap<String, Vec<(String, i32)>> =
            members.keys().map(|m| (m.clone(), Vec::new())).collect();
        match self {
            Assignor::Range => {
                for (topic, count) in partitions {
                    let subs: Vec<&String> = members
                        .iter()
                        .filter(|(_, ts)| ts.contains(topic))
                        .map(|(m, _)| m)
                        .collect();
                    if subs.is_empty() {
                        continue;
                    }
                    let n = subs.len() as i32;
                    let (each, extra) = (count / n, count % n);
                    let mut next = 0;
                    for (i, m) in subs.iter().enumerate() {
                        let take = each + i32::from((i as i32) < extra);
                        for p in next..next + take {
                            out.entry((*m).clone())
                                .or_default()
                                .push((topic.clone(), p));
                        }
                        next += take;
                    }
                }
            }
            Assignor::RoundRobin => {
                let ids: Vec<&String> = members.keys().collect();
                let mut turn = 0usize;
                for (topic, count) in partitions {
                    for p in 0..*count {
                        // The next member (cyclically) subscribed to this topic.
                        for _ in 0..ids.len() {
                            let m = ids[turn % ids.len()];
                            turn += 1;
                            if members.get(m).is_some_and(|ts| ts.contains(topic)) {
                                out.entry(m.clone()).or_default().push((topic.clone(), p));
                                break;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// Group settings (Kafka's defaults scaled to a simulation: short session timeout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupConfig {
    pub group_id: String,
    pub topics: Vec<String>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub auto_commit_interval_ms: u64,
    pub assignor: Assignor,
    /// Commit positions periodically and before a rebalance (`enable.auto.commit`). Off
    /// for a transactional pipeline, whose offsets are committed in its transactions.
    pub auto_commit: bool,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            group_id: "eddy-group".into(),
            topics: Vec::new(),
            session_timeout_ms: 6_000,
            rebalance_timeout_ms: 10_000,
            heartbeat_interval_ms: 1_000,
            auto_commit_interval_ms: 1_000,
            assignor: Assignor::Range,
            auto_commit: true,
        }
    }
}

/// Something a history should record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent {
    Assigned {
        generation: i32,
        partitions: Vec<(String, i32)>,
        at: Instant,
        /// The member id the generation was formed with.
        member_id: String,
        /// When the JoinGroup that this generation answered was sent.
        joined: Instant,
    },
    /// An OffsetCommit of one partition. `ok`: Some(true) applied, Some(false) refused,
    /// None unknown.
    Committed {
        topic: String,
        partition: i32,
        offset: i64,
        invoked: Instant,
        completed: Instant,
        ok: Option<bool>,
        /// The generation and member id the commit carried.
        generation: i32,
        member_id: String,
        /// The broker's error code when it refused the commit.
        error_code: Option<i16>,
    },
    FetchedCommitted {
        topic: String,
        partition: i32,
        offset: i64,
        invoked: Instant,
        completed: Instant,
    },
}

/// An OffsetCommit captured with the identity the member had then, to be sent later (see
/// [`GroupConsumer::snapshot`] and [`GroupConsumer::commit_as`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCommit {
    pub member_id: String,
    pub generation: i32,
    /// (topic, partition, offset)
    pub offsets: Vec<(String, i32, i64)>,
}

/// A member of one consumer group.
pub struct GroupConsumer {
    consumer: Consumer,
    config: GroupConfig,
    coordinator: Option<SocketAddr>,
    member_id: String,
    generation: i32,
    /// Set when the member must (re)join before polling again.
    rejoin: bool,
    assigned: Vec<(String, i32)>,
    /// The committed offsets of `assigned` are not known yet (OffsetFetch pending).
    unresolved: bool,
    last_heartbeat: Instant,
    last_commit: Instant,
    committed: BTreeMap<(String, i32), i64>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn encode_versioned<T: Encodable>(value: &T) -> Result<Bytes, ClientError> {
    let mut buf = BytesMut::new();
    buf.put_i16(CONSUMER_PROTOCOL_VERSION);
    value
        .encode(&mut buf, CONSUMER_PROTOCOL_VERSION)
        .map_err(|e| ClientError::Protocol(format!("encode consumer protocol: {e}")))?;
    Ok(buf.freeze())
}

fn decode_versioned<T: Decodable + Default>(mut bytes: Bytes) -> Result<T, ClientError> {
    if bytes.is_empty() {
        return Ok(T::default());
    }
    if bytes.len() < 2 {
        return Err(ClientError::Protocol(
            "consumer protocol bytes too short".into(),
        ));
    }
    let version = bytes.get_i16().clamp(0, 3);
    T::decode(&mut bytes, version)
        .map_err(|e| ClientError::Protocol(format!("decode consumer protocol: {e}")))
}

/// A commit's outcome as an event tells it: applied, refused (with the broker's code) or
/// unknown.
fn commit_outcome(outcome: &Result<(), ClientError>) -> (Option<bool>, Option<i16>) {
    match outcome {
        Ok(()) => (Some(true), None),
        Err(ClientError::Broker(e)) => (Some(false), Some(e.code())),
        Err(_) => (None, None),
    }
}

fn broker(code: i16) -> Result<(), ClientError> {
    match ResponseError::try_from_code(code) {
        Some(e) => Err(ClientError::Broker(e)),
        None => Ok(()),
    }
}

impl GroupConsumer {
    pub fn new(config: GroupConfig, consumer: Consumer) -> GroupConsumer {
        let now = Instant::now();
        GroupConsumer {
            consumer,
            config,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            rejoin: true,
            assigned: Vec::new(),
            unresolved: false,
            last_heartbeat: now,
            last_commit: now,
            committed: BTreeMap::new(),
        }
    }

    /// Build a member with its own consumer.
    pub fn connect(
        config: GroupConfig,
        consumer_config: ConsumerConfig,
        bootstrap: Vec<String>,
        dialer: super::DialFn,
    ) -> GroupConsumer {
        GroupConsumer::new(config, Consumer::new(consumer_config, bootstrap, dialer))
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn assignment(&self) -> &[(String, i32)] {
        &self.assigned
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The member's identity for a transactional offset commit
    /// (`Producer::send_offsets_to_transaction`); `None` outside a generation.
    pub fn group_metadata(&self) -> Option<crate::GroupMetadata> {
        (self.generation >= 0 && !self.rejoin).then(|| crate::GroupMetadata {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
        })
    }

    /// Whether the member must rejoin before it may commit (a rebalance is under way).
    pub fn needs_rejoin(&self) -> bool {
        self.rejoin
    }

    /// Sets the next offset to fetch of an assigned partition.
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) {
        self.consumer.seek(topic, partition, offset);
    }

    /// Forget every position: the next poll starts each assigned partition at the group's
    /// committed offset again (after an aborted transaction, whose records must be read
    /// again).
    pub fn rewind_to_committed(&mut self) {
        self.consumer.assign(Vec::new());
        self.committed.clear();
        self.unresolved = true;
    }

    /// The commit this member would send now for every assigned partition with a position
    /// (moved or not), with its current member id and generation; `None` outside a
    /// generation or with nothing to commit.
    pub fn snapshot(&self) -> Option<HeldCommit> {
        if self.generation < 0 || self.rejoin {
            return None;
        }
        let offsets: Vec<(String, i32, i64)> = self
            .assigned
            .iter()
            .filter_map(|(t, p)| self.consumer.position(t, *p).map(|o| (t.clone(), *p, o)))
            .collect();
        (!offsets.is_empty()).then(|| HeldCommit {
            member_id: self.member_id.clone(),
            generation: self.generation,
            offsets,
        })
    }

    /// Send `held` as it is — with its member id and generation, whatever this member's are
    /// now — as a client does whose commit was delayed (a pause, a slow queue) past a
    /// rebalance, or one expelled that has not noticed yet. Its answer changes nothing here:
    /// the member does not learn from it (a zombie), except that a lost coordinator is
    /// looked up again.
    pub async fn commit_as(&mut self, held: &HeldCommit, events: &mut Vec<GroupEvent>) {
        let invoked = Instant::now();
        let outcome = self
            .send_commit(&held.offsets, &held.member_id, held.generation)
            .await;
        let completed = Instant::now();
        let (ok, error_code) = commit_outcome(&outcome);
        if let Err(e) = &outcome {
            tracing::debug!(group = %self.config.group_id, error = %e, "held commit failed");
            if ok.is_none() {
                self.lost_coordinator(e).await;
            }
        }
        for (topic, partition, offset) in held.offsets.iter().cloned() {
            events.push(GroupEvent::Committed {
                topic,
                partition,
                offset,
                invoked,
                completed,
                ok,
                generation: held.generation,
                member_id: held.member_id.clone(),
                error_code,
            });
        }
    }

    fn cluster(&self) -> Arc<Cluster> {
        self.consumer.cluster().clone()
    }

    fn timeout(&self) -> Duration {
        self.consumer.cluster().conn_config().request_timeout
    }

    async fn coordinator(&mut self) -> Result<SocketAddr, ClientError> {
        if let Some(a) = self.coordinator {
            return Ok(a);
        }
        let conn = self.cluster().any_connection().await?;
        let resp = conn
            .request(
                &FindCoordinatorRequest::default()
                    .with_key(sb(&self.config.group_id))
                    .with_key_type(0),
            )
            .await?;
        broker(resp.error_code)?;
        let endpoint = format!("{}:{}", resp.host.as_str(), resp.port);
        let addr: SocketAddr = endpoint
            .parse()
            .map_err(|_| ClientError::Protocol(format!("coordinator address {endpoint}")))?;
        self.coordinator = Some(addr);
        Ok(addr)
    }

    /// Forget the coordinator (and its connection) after an error that suggests it moved.
    async fn lost_coordinator(&mut self, e: &ClientError) {
        let moved = match e {
            ClientError::Broker(b) => matches!(
                b,
                ResponseError::CoordinatorNotAvailable
                    | ResponseError::NotCoordinator
                    | ResponseError::CoordinatorLoadInProgress
            ),
            _ => true,
        };
        if moved {
            if let Some(a) = self.coordinator.take() {
                self.cluster().drop_connection(a).await;
            }
        }
    }

    /// Handle a membership error: rejoin, and start over as a new member if forgotten.
    fn membership_error(&mut self, e: &ClientError) {
        if let ClientError::Broker(b) = e {
            match b {
                ResponseError::UnknownMemberId => {
                    self.member_id.clear();
                    self.generation = -1;
                    self.rejoin = true;
                }
                ResponseError::IllegalGeneration => {
                    self.generation = -1;
                    self.rejoin = true;
                }
                ResponseError::RebalanceInProgress => self.rejoin = true,
                _ => {}
            }
        }
    }

    /// Poll once: keep membership up (join, heartbeat, commit) and fetch.
    pub async fn poll(
        &mut self,
        max_wait_ms: u64,
    ) -> (Vec<GroupEvent>, Result<Vec<PolledBatch>, ClientError>) {
        let (events, kept) = self.keep_membership().await;
        if let Err(e) = kept {
            return (events, Err(e));
        }
        (events, self.fetch(max_wait_ms).await)
    }

    /// The membership half of a poll: join or rejoin, heartbeat, commit when due.
    pub async fn keep_membership(&mut self) -> (Vec<GroupEvent>, Result<(), ClientError>) {
        let mut events = Vec::new();
        if let Err(e) = self.maintain(&mut events).await {
            tracing::debug!(group = %self.config.group_id, error = %e, "group maintenance failed");
            self.lost_coordinator(&e).await;
            self.membership_error(&e);
            tokio::time::sleep(Duration::from_millis(100)).await;
            return (events, Err(e));
        }
        (events, Ok(()))
    }

    /// The position the next fetch of a partition starts at, when known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.consumer.position(topic, partition)
    }

    /// The fetch half of a poll: fetch the assigned partitions once.
    pub async fn fetch(&mut self, max_wait_ms: u64) -> Result<Vec<PolledBatch>, ClientError> {
        self.consumer.poll(max_wait_ms).await
    }

    async fn maintain(&mut self, events: &mut Vec<GroupEvent>) -> Result<(), ClientError> {
        let now = Instant::now();
        if !self.rejoin
            && now.duration_since(self.last_heartbeat)
                >= Duration::from_millis(self.config.heartbeat_interval_ms)
        {
            self.last_heartbeat = now;
            if let Err(e) = self.heartbeat().await {
                self.membership_error(&e);
                if !self.rejoin {
                    return Err(e);
                }
            }
        }
        if self.rejoin {
            // Commit before giving the partitions up (only valid in our generation).
            if self.config.auto_commit && self.generation >= 0 && !self.assigned.is_empty() {
                self.commit(events).await;
            }
            self.join(events).await?;
            return Ok(());
        }
        if self.unresolved {
            self.resolve(events).await?;
        }
        if self.config.auto_commit
            && now.duration_since(self.last_commit)
                >= Duration::from_millis(self.config.auto_commit_interval_ms)
        {
            self.last_commit = now;
            self.commit(events).await;
        }
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), ClientError> {
        let addr = self.coordinator().await?;
        let conn = self.cluster().connection(addr).await?;
        let resp = conn
            .request(
                &HeartbeatRequest::default()
                    .with_group_id(GroupId(sb(&self.config.group_id)))
                    .with_generation_id(self.generation)
                    .with_member_id(sb(&self.member_id)),
            )
            .await?;
        broker(resp.error_code)
    }

    /// Commit the current position of every assigned partition that moved.
    pub async fn commit(&mut self, events: &mut Vec<GroupEvent>) {
        let mut todo: Vec<(String, i32, i64)> = Vec::new();
        for (t, p) in &self.assigned {
            if let Some(pos) = self.consumer.position(t, *p) {
                if self.committed.get(&(t.clone(), *p)) != Some(&pos) {
                    todo.push((t.clone(), *p, pos));
                }
            }
        }
        if todo.is_empty() {
            return;
        }
        let invoked = Instant::now();
        let (member_id, generation) = (self.member_id.clone(), self.generation);
        let outcome = self.send_commit(&todo, &member_id, generation).await;
        let completed = Instant::now();
        let (ok, error_code) = commit_outcome(&outcome);
        if let Err(e) = &outcome {
            tracing::debug!(group = %self.config.group_id, error = %e, "commit failed");
            self.membership_error(e);
            if ok.is_none() {
                self.lost_coordinator(e).await;
            }
        }
        for (topic, partition, offset) in todo {
            if ok == Some(true) {
                self.committed.insert((topic.clone(), partition), offset);
            }
            events.push(GroupEvent::Committed {
                topic,
                partition,
                offset,
                invoked,
                completed,
                ok,
                generation,
                member_id: member_id.clone(),
                error_code,
            });
        }
    }

    async fn send_commit(
        &mut self,
        todo: &[(String, i32, i64)],
        member_id: &str,
        generation: i32,
    ) -> Result<(), ClientError> {
        let addr = self.coordinator().await?;
        let conn = self.cluster().connection(addr).await?;
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (t, p, o) in todo {
            topics.entry(t.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(-1),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(&self.config.group_id)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(sb(member_id))
            .with_retention_time_ms(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = conn.request(&request).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                broker(p.error_code)?;
            }
        }
        Ok(())
    }

    async fn join(&mut self, events: &mut Vec<GroupEvent>) -> Result<(), ClientError> {
        let addr = self.coordinator().await?;
        let conn = self.cluster().connection(addr).await?;
        let subscription = encode_versioned(
            &ConsumerProtocolSubscription::default()
                .with_topics(self.config.topics.iter().map(|t| sb(t)).collect()),
        )?;
        // The preferred assignor first; the other as a fallback all members share.
        let mut assignors = vec![self.config.assignor];
        assignors.extend(
            [Assignor::Range, Assignor::RoundRobin]
                .into_iter()
                .filter(|a| *a != self.config.assignor),
        );
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(sb(&self.config.group_id)))
            .with_session_timeout_ms(self.config.session_timeout_ms as i32)
            .with_rebalance_timeout_ms(self.config.rebalance_timeout_ms as i32)
            .with_member_id(sb(&self.member_id))
            .with_protocol_type(sb("consumer"))
            .with_protocols(
                assignors
                    .iter()
                    .map(|a| {
                        JoinGroupRequestProtocol::default()
                            .with_name(sb(a.name()))
                            .with_metadata(subscription.clone())
                    })
                    .collect(),
            );
        let wait = Duration::from_millis(self.config.rebalance_timeout_ms) + self.timeout();
        let joined = Instant::now();
        let resp = conn.request_with_timeout(&request, wait).await?;
        if resp.error_code == ResponseError::UnknownMemberId.code() {
            self.member_id.clear();
        }
        broker(resp.error_code)?;
        self.member_id = resp.member_id.to_string();
        let generation = resp.generation_id;
        // The leader computes everyone's assignment.
        let mut assignments = Vec::new();
        if resp.leader == resp.member_id {
            let assignor = resp
                .protocol_name
                .as_ref()
                .and_then(|n| Assignor::from_name(n.as_str()))
                .unwrap_or(self.config.assignor);
            let mut members = BTreeMap::new();
            for m in &resp.members {
                let sub: ConsumerProtocolSubscription = decode_versioned(m.metadata.clone())?;
                members.insert(
                    m.member_id.to_string(),
                    sub.topics.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
                );
            }
            let topics: Vec<String> = {
                let mut t: Vec<String> = members.values().flatten().cloned().collect();
                t.sort();
                t.dedup();
                t
            };
            self.cluster().refresh_metadata(&topics).await?;
            let counts: BTreeMap<String, i32> = self.cluster().with_metadata(|m| {
                topics
                    .iter()
                    .filter_map(|t| m.topic(t).map(|tm| (t.clone(), tm.partition_count as i32)))
                    .collect()
            });
            for (member, tps) in assignor.assign(&members, &counts) {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (t, p) in tps {
                    by_topic.entry(t).or_default().push(p);
                }
                let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
                    by_topic
                        .into_iter()
                        .map(|(t, ps)| {
                            AssignedTp::default()
                                .with_topic(TopicName(sb(&t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
                assignments.push(
                    SyncGroupRequestAssignment::default()
                        .with_member_id(sb(&member))
                        .with_assignment(encode_versioned(&assignment)?),
                );
            }
        }
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(sb(&self.config.group_id)))
            .with_generation_id(generation)
            .with_member_id(sb(&self.member_id))
            .with_protocol_type(Some(sb("consumer")))
            .with_protocol_name(resp.protocol_name.clone())
            .with_assignments(assignments);
        let resp = conn.request_with_timeout(&sync, wait).await?;
        broker(resp.error_code)?;
        let assignment: ConsumerProtocolAssignment = decode_versioned(resp.assignment)?;
        let mut partitions: Vec<(String, i32)> = assignment
            .assigned_partitions
            .iter()
            .flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.0.to_string(), *p)))
            .collect();
        partitions.sort();
        self.generation = generation;
        self.rejoin = false;
        self.last_heartbeat = Instant::now();
        self.last_commit = Instant::now();
        self.assigned = partitions.clone();
        self.committed.clear();
        events.push(GroupEvent::Assigned {
            generation,
            partitions: partitions.clone(),
            at: Instant::now(),
            member_id: self.member_id.clone(),
            joined,
        });
        // No position until the group's committed offsets are known.
        self.consumer.assign(Vec::new());
        self.unresolved = true;
        self.resolve(events).await
    }

    /// Start every assigned partition at the group's committed offset (the reset policy
    /// where the group committed none). On failure the partitions stay without a position
    /// and the next poll tries again.
    async fn resolve(&mut self, events: &mut Vec<GroupEvent>) -> Result<(), ClientError> {
        let partitions = self.assigned.clone();
        if partitions.is_empty() {
            self.unresolved = false;
            return Ok(());
        }
        let invoked = Instant::now();
        let committed = self.fetch_committed(&partitions).await?;
        let completed = Instant::now();
        self.unresolved = false;
        self.consumer.assign(partitions.clone());
        for (t, p) in &partitions {
            let offset = committed.get(&(t.clone(), *p)).copied().unwrap_or(-1);
            events.push(GroupEvent::FetchedCommitted {
                topic: t.clone(),
                partition: *p,
                offset,
                invoked,
                completed,
            });
            if offset >= 0 {
                self.consumer.seek(t, *p, offset);
                self.committed.insert((t.clone(), *p), offset);
            }
        }
        Ok(())
    }

    async fn fetch_committed(
        &mut self,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let addr = self.coordinator().await?;
        let conn = self.cluster().connection(addr).await?;
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            topics.entry(t.as_str()).or_default().push(*p);
        }
        // As librdkafka: a read_committed member asks for stable offsets (KIP-447) and is
        // told UNSTABLE_OFFSET_COMMIT while a transaction that committed offsets of the
        // partition is open; the partitions then stay without a position and it asks again.
        let request = OffsetFetchRequest::default()
            .with_require_stable(
                self.consumer.isolation() == crate::consumer::Isolation::ReadCommitted,
            )
            .with_group_id(GroupId(sb(&self.config.group_id)))
            .with_topics(Some(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            ));
        let resp = conn.request(&request).await?;
        broker(resp.error_code)?;
        let mut out = BTreeMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                broker(p.error_code)?;
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
        Ok(out)
    }

    /// Commit and leave the group (a clean shutdown).
    pub async fn close(&mut self) -> Vec<GroupEvent> {
        let mut events = Vec::new();
        if self.config.auto_commit && self.generation >= 0 && !self.rejoin {
            self.commit(&mut events).await;
        }
        if !self.member_id.is_empty() {
            if let Ok(addr) = self.coordinator().await {
                if let Ok(conn) = self.cluster().connection(addr).await {
                    let request = LeaveGroupRequest::default()
                        .with_group_id(GroupId(sb(&self.config.group_id)))
                        .with_member_id(sb(&self.member_id))
                        .with_members(vec![
                            MemberIdentity::default().with_member_id(sb(&self.member_id))
                        ]);
                    let _ = conn.request(&request).await;
                }
            }
        }
        self.member_id.clear();
        self.generation = -1;
        self.rejoin = true;
        self.assigned.clear();
        self.unresolved = false;
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> BTreeMap<String, Vec<String>> {
        (0..n)
            .map(|i| (format!("m{i}"), vec!["t".to_string()]))
            .collect()
    }

    #[test]
    fn range_and_round_robin_cover_every_partition_once() {
        let counts: BTreeMap<String, i32> = [("t".to_string(), 7)].into_iter().collect();
        for assignor in [Assignor::Range, Assignor::RoundRobin] {
            let a = assignor.assign(&members(3), &counts);
            let mut all: Vec<i32> = a.values().flatten().map(|(_, p)| *p).collect();
            all.sort();
            assert_eq!(all, (0..7).collect::<Vec<_>>(), "{assignor:?}");
            let sizes: Vec<usize> = a.values().map(Vec::len).collect();
            assert!(
                sizes.iter().all(|s| (2..=3).contains(s)),
                "{assignor:?} {sizes:?}"
            );
        }
        let range = Assignor::Range.assign(&members(3), &counts);
        assert_eq!(
            range["m0"],
            vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 2)]
        );
        let rr = Assignor::RoundRobin.assign(&members(3), &counts);
        assert_eq!(
            rr["m0"],
            vec![("t".into(), 0), ("t".into(), 3), ("t".into(), 6)]
        );
    }

    #[test]
    fn consumer_protocol_encodings_round_trip() {
        let sub = ConsumerProtocolSubscription::default().with_topics(vec![sb("a"), sb("b")]);
        let back: ConsumerProtocolSubscription =
            decode_versioned(encode_versioned(&sub).unwrap()).unwrap();
        assert_eq!(back.topics, sub.topics);
        assert!(decode_versioned::<ConsumerProtocolAssignment>(Bytes::from_static(&[0])).is_err());
    }
}
