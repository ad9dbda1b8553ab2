//! The client's view of the cluster: brokers (node id → address) and the leader of each
//! partition, learned from Metadata responses. Entries are invalidated when a request hits
//! NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION or a broken connection, and the next
//! user refreshes them. Iteration is over ordered maps only (replayable).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

/// What the client knows about one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMeta {
    /// The topic-level error code of the last response (0 = fine).
    pub error_code: i16,
    /// Partition index → leader node id (only partitions with a live leader).
    pub leaders: BTreeMap<i32, i32>,
    /// Number of partitions the topic has.
    pub partition_count: usize,
}

/// Cached cluster metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    brokers: BTreeMap<i32, SocketAddr>,
    topics: BTreeMap<String, TopicMeta>,
    stale: BTreeSet<String>,
}

impl Metadata {
    /// A Metadata request for `topics` that lets the broker auto-create them.
    pub fn request(topics: &[String]) -> MetadataRequest {
        let topics = topics
            .iter()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
            })
            .collect();
        MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(true)
    }

    /// Host:port strings of the brokers listed in `resp`, by node id.
    pub fn broker_endpoints(resp: &MetadataResponse) -> BTreeMap<i32, String> {
        resp.brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect()
    }

    /// Replaces the broker list with `addrs` (resolved from `resp`) and the entries of
    /// every topic named in `resp`.
    pub fn apply(&mut self, resp: &MetadataResponse, addrs: BTreeMap<i32, SocketAddr>) {
        self.brokers = addrs;
        for topic in &resp.topics {
            let Some(name) = topic.name.as_ref() else {
                continue;
            };
            let name = name.0.as_str().to_string();
            let mut meta = TopicMeta {
                error_code: topic.error_code,
                leaders: BTreeMap::new(),
                partition_count: topic.partitions.len(),
            };
            for p in &topic.partitions {
                if p.error_code == 0 && p.leader_id.0 >= 0 {
                    meta.leaders.insert(p.partition_index, p.leader_id.0);
                }
            }
            if meta.error_code == 0 {
                self.stale.remove(&name);
            }
            self.topics.insert(name, meta);
        }
    }

    /// Leader node of a partition, if known and not invalidated.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        if self.stale.contains(topic) {
            return None;
        }
        self.topics.get(topic)?.leaders.get(&partition).copied()
    }

    /// Address of a partition's leader, if known.
    pub fn leader_addr(&self, topic: &str, partition: i32) -> Option<SocketAddr> {
        self.broker_addr(self.leader(topic, partition)?)
    }

    /// Address of a broker.
    pub fn broker_addr(&self, node_id: i32) -> Option<SocketAddr> {
        self.brokers.get(&node_id).copied()
    }

    /// Known brokers in node-id order.
    pub fn brokers(&self) -> impl Iterator<Item = (i32, SocketAddr)> + '_ {
        self.brokers.iter().map(|(id, addr)| (*id, *addr))
    }

    /// What is known about a topic.
    pub fn topic(&self, topic: &str) -> Option<&TopicMeta> {
        self.topics.get(topic)
    }

    /// Marks a topic's leaders as out of date.
    pub fn invalidate(&mut self, topic: &str) {
        self.stale.insert(topic.to_string());
    }

    /// True if the topic is unknown, invalidated, or its last answer carried an error.
    pub fn needs_refresh(&self, topic: &str) -> bool {
        self.stale.contains(topic)
            || self
                .topics
                .get(topic)
                .is_none_or(|t| t.error_code != 0 || t.leaders.len() < t.partition_count)
    }
}
