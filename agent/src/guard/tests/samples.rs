//! Representative requests for every served API and version, built with the crate's own types
//! and encoder.
//!
//! `Shape::Full` fills everything the version has: every array holds two elements (nested
//! arrays too), nullable fields are set, flexible versions carry unknown tagged fields (and
//! Fetch's known ones). `Shape::Sparse` is the opposite: empty arrays, nulls, no tags.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::crate_codec::encode_frame;
use crate::guard::messages::ALL;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Full,
    Sparse,
}

/// Number of elements every array holds in a `Full` sample.
pub(super) const FULL_ARRAY_LEN: u64 = 2;

/// One encoded sample frame.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub api_key: i16,
    pub version: i16,
    pub shape: Shape,
    pub frame: Vec<u8>,
}

/// Every (API, version, shape) the guard serves.
pub(super) fn all_samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for schema in ALL {
        for version in schema.min_version..=schema.max_version {
            for shape in [Shape::Full, Shape::Sparse] {
                out.push(Sample {
                    api_key: schema.api_key,
                    version,
                    shape,
                    frame: sample_frame(schema.api_key, version, shape),
                });
            }
        }
    }
    out
}

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

/// Two elements for `Full`, none for `Sparse`.
fn list<T>(shape: Shape, make: impl Fn(i32) -> T) -> Vec<T> {
    match shape {
        Shape::Full => (0..FULL_ARRAY_LEN as i32).map(make).collect(),
        Shape::Sparse => Vec::new(),
    }
}

/// Unknown tagged fields for a `Full` sample in a flexible version: a tiny one, an empty one
/// with a 3-byte tag, and one whose size needs a 2-byte varint.
fn tags(shape: Shape, flexible: bool) -> BTreeMap<i32, Bytes> {
    if shape == Shape::Sparse || !flexible {
        return BTreeMap::new();
    }
    BTreeMap::from([
        (7, Bytes::from_static(b"x")),
        (300, Bytes::from(vec![0xab; 200])),
        (70_000, Bytes::new()),
    ])
}

fn full(shape: Shape) -> bool {
    shape == Shape::Full
}

/// Encodes header + body for one sample.
pub(super) fn sample_frame(api_key: i16, v: i16, shape: Shape) -> Vec<u8> {
    let key = ApiKey::try_from(api_key).expect("served api keys are known to the crate");
    let mut header = RequestHeader::default();
    header.request_api_key = api_key;
    header.request_api_version = v;
    header.correlation_id = 42;
    header.client_id = full(shape).then(|| s("frameguard-test"));
    header.unknown_tagged_fields = tags(shape, key.request_header_version(v) >= 2);
    match key {
        ApiKey::Produce => encode_frame(&header, &produce(v, shape)),
        ApiKey::Fetch => encode_frame(&header, &fetch(v, shape)),
        ApiKey::ListOffsets => encode_frame(&header, &list_offsets(v, shape)),
        ApiKey::Metadata => encode_frame(&header, &metadata(v, shape)),
        ApiKey::OffsetCommit => encode_frame(&header, &offset_commit(v, shape)),
        ApiKey::OffsetFetch => encode_frame(&header, &offset_fetch(v, shape)),
        ApiKey::FindCoordinator => encode_frame(&header, &find_coordinator(v, shape)),
        ApiKey::JoinGroup => encode_frame(&header, &join_group(v, shape)),
        ApiKey::Heartbeat => encode_frame(&header, &heartbeat(v, shape)),
        ApiKey::LeaveGroup => encode_frame(&header, &leave_group(v, shape)),
        ApiKey::SyncGroup => encode_frame(&header, &sync_group(v, shape)),
        ApiKey::DescribeGroups => encode_frame(&header, &describe_groups(v, shape)),
        ApiKey::ListGroups => encode_frame(&header, &list_groups(v, shape)),
        ApiKey::ApiVersions => encode_frame(&header, &api_versions(v, shape)),
        ApiKey::CreateTopics => encode_frame(&header, &create_topics(v, shape)),
        ApiKey::InitProducerId => encode_frame(&header, &init_producer_id(v, shape)),
        ApiKey::DescribeConfigs => encode_frame(&header, &describe_configs(v, shape)),
        ApiKey::AddPartitionsToTxn => encode_frame(&header, &add_partitions_to_txn(v, shape)),
        ApiKey::AddOffsetsToTxn => encode_frame(&header, &add_offsets_to_txn(v, shape)),
        ApiKey::EndTxn => encode_frame(&header, &end_txn(v, shape)),
        ApiKey::TxnOffsetCommit => encode_frame(&header, &txn_offset_commit(v, shape)),
        ApiKey::DescribeTransactions => encode_frame(&header, &describe_transactions(shape)),
        ApiKey::ListTransactions => encode_frame(&header, &list_transactions(v, shape)),
        other => panic!("no sample for {other:?}"),
    }
}

fn produce(v: i16, shape: Shape) -> ProduceRequest {
    let flex = v >= 9;
    let partition = |i: i32| {
        let mut p = PartitionProduceData::default();
        p.index = i;
        p.records = (i == 0).then(|| Bytes::from_static(b"opaque record batch bytes"));
        p.unknown_tagged_fields = tags(shape, flex);
        p
    };
    let topic = |i: i32| {
        let mut t = TopicProduceData::default();
        if v <= 12 {
            t.name = TopicName(s("orders"));
        } else {
            t.topic_id = uuid::Uuid::from_u128(1000 + i as u128);
        }
        t.partition_data = list(shape, partition);
        t.unknown_tagged_fields = tags(shape, flex);
        t
    };
    let mut r = ProduceRequest::default();
    r.transactional_id = full(shape).then(|| TransactionalId(s("tx-1")));
    r.acks = -1;
    r.timeout_ms = 30_000;
    r.topic_data = list(shape, topic);
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn fetch(v: i16, shape: Shape) -> FetchRequest {
    let flex = v >= 12;
    let partition = |i: i32| {
        let mut p = FetchPartition::default();
        p.partition = i;
        if v >= 9 {
            p.current_leader_epoch = 4;
        }
        p.fetch_offset = 100 + i64::from(i);
        if v >= 12 {
            p.last_fetched_epoch = 3;
        }
        if v >= 5 {
            p.log_start_offset = 0;
        }
        p.partition_max_bytes = 1 << 20;
        if full(shape) && v >= 17 {
            p.replica_directory_id = uuid::Uuid::from_u128(77);
        }
        if full(shape) && v >= 18 {
            p.high_watermark = 1234;
        }
        p.unknown_tagged_fields = tags(shape, flex);
        p
    };
    let topic = |i: i32| {
        let mut t = FetchTopic::default();
        if v <= 12 {
            t.topic = TopicName(s("orders"));
        } else {
            t.topic_id = uuid::Uuid::from_u128(2000 + i as u128);
        }
        t.partitions = list(shape, partition);
        t.unknown_tagged_fields = tags(shape, flex);
        t
    };
    let forgotten = |i: i32| {
        let mut t = ForgottenTopic::default();
        if v <= 12 {
            t.topic = TopicName(s("old"));
        } else {
            t.topic_id = uuid::Uuid::from_u128(3000 + i as u128);
        }
        t.partitions = list(shape, |p| p + 10);
        t.unknown_tagged_fields = tags(shape, flex);
        t
    };
    let mut r = FetchRequest::default();
    if v <= 14 {
        r.replica_id = BrokerId(-1);
    }
    r.max_wait_ms = 500;
    r.min_bytes = 1;
    r.max_bytes = 50 << 20;
    r.isolation_level = 1;
    if v >= 7 {
        r.session_id = 0;
        r.session_epoch = -1;
        r.forgotten_topics_data = list(shape, forgotten);
    }
    r.topics = list(shape, topic);
    if v >= 11 {
        r.rack_id = s("az-1");
    }
    if full(shape) && flex {
        r.cluster_id = Some(s("cluster-1"));
    }
    if full(shape) && v >= 15 {
        let mut state = ReplicaState::default();
        state.replica_id = BrokerId(3);
        state.replica_epoch = 9;
        state.unknown_tagged_fields = tags(shape, flex);
        r.replica_state = state;
    }
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn list_offsets(v: i16, shape: Shape) -> ListOffsetsRequest {
    let flex = v >= 6;
    let partition = |i: i32| {
        let mut p = ListOffsetsPartition::default();
        p.partition_index = i;
        if v >= 4 {
            p.current_leader_epoch = 2;
        }
        p.timestamp = -1;
        p.unknown_tagged_fields = tags(shape, flex);
        p
    };
    let topic = |_: i32| {
        let mut t = ListOffsetsTopic::default();
        t.name = TopicName(s("orders"));
        t.partitions = list(shape, partition);
        t.unknown_tagged_fields = tags(shape, flex);
        t
    };
    let mut r = ListOffsetsRequest::default();
    r.replica_id = BrokerId(-1);
    if v >= 2 {
        r.isolation_level = 1;
    }
    r.topics = list(shape, topic);
    if v >= 10 {
        r.timeout_ms = 5000;
    }
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn metadata(v: i16, shape: Shape) -> MetadataRequest {
    let flex = v >= 9;
    let topic = |i: i32| {
        let mut t = MetadataRequestTopic::default();
        if v >= 10 {
            t.topic_id = uuid::Uuid::from_u128(4000 + i as u128);
        }
        // One named topic and, where topic ids exist, one looked up by id with a null name.
        t.name = (i == 0 || v < 10).then(|| TopicName(s("orders")));
        t.unknown_tagged_fields = tags(shape, flex);
        t
    };
    let mut r = MetadataRequest::default();
    r.topics = full(shape).then(|| list(shape, topic));
    if v >= 4 {
        r.allow_auto_topic_creation = true;
    }
    if (8..=10).contains(&v) {
        r.include_cluster_authorized_operations = true;
    }
    if v >= 8 {
        r.include_topic_authorized_operations = true;
    }
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn create_topics(v: i16, shape: Shape) -> CreateTopicsRequest {
    let flex = v >= 5;
    let assignment = |i: i32| {
        let mut a = CreatableReplicaAssignment::default();
        a.partition_index = i;
        a.broker_ids = list(shape, |b| BrokerId(b + 1));
        a.unknown_tagged_fields = tags(shape, flex);
        a
    };
    let config = |i: i32| {
        let mut c = CreatableTopicConfig::default();
        c.name = s("cleanup.policy");
        c.value = (i == 0).then(|| s("compact"));
        c.unknown_tagged_fields = tags(shape, flex);
        c
    };
    let topic = |_: i32| {
        let mut t = CreatableTopic::default();
        t.name = TopicName(s("orders"));
        t.num_partitions = -1;
        t.replication_factor = -1;
        t.assignments = list(shape, assignment);
        t.configs = list(shape, config);
        t.unknown_tagged_fields = tags(shape, flex);
        t
    };
    let mut r = CreateTopicsRequest::default();
    r.topics = list(shape, topic);
    r.timeout_ms = 30_000;
    r.validate_only = full(shape);
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn find_coordinator(v: i16, shape: Shape) -> FindCoordinatorRequest {
    let mut r = FindCoordinatorRequest::default();
    if v <= 3 {
        r.key = s("group-1");
    }
    if v >= 1 {
        r.key_type = 0;
    }
    if v >= 4 {
        r.coordinator_keys = list(shape, |_| s("group-1"));
    }
    r.unknown_tagged_fields = tags(shape, v >= 3);
    r
}

fn join_group(v: i16, shape: Shape) -> JoinGroupRequest {
    let flex = v >= 6;
    let protocol = |_: i32| {
        let mut p = JoinGroupRequestProtocol::default();
        p.name = s("range");
        p.metadata = Bytes::from_static(b"\x00\x01subscription");
        p.unknown_tagged_fields = tags(shape, flex);
        p
    };
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(s("group-1"));
    r.session_timeout_ms = 45_000;
    if v >= 1 {
        r.rebalance_timeout_ms = 300_000;
    }
    r.member_id = if full(shape) { s("member-1") } else { s("") };
    if v >= 5 {
        r.group_instance_id = full(shape).then(|| s("instance-1"));
    }
    r.protocol_type = s("consumer");
    r.protocols = list(shape, protocol);
    if v >= 8 {
        r.reason = full(shape).then(|| s("rebalance"));
    }
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn sync_group(v: i16, shape: Shape) -> SyncGroupRequest {
    let flex = v >= 4;
    let assignment = |_: i32| {
        let mut a = SyncGroupRequestAssignment::default();
        a.member_id = s("member-1");
        a.assignment = Bytes::from_static(b"\x00\x01assignment");
        a.unknown_tagged_fields = tags(shape, flex);
        a
    };
    let mut r = SyncGroupRequest::default();
    r.group_id = GroupId(s("group-1"));
    r.generation_id = 5;
    r.member_id = s("member-1");
    if v >= 3 {
        r.group_instance_id = full(shape).then(|| s("instance-1"));
    }
    if v >= 5 {
        r.protocol_type = full(shape).then(|| s("consumer"));
        r.protocol_name = full(shape).then(|| s("range"));
    }
    r.assignments = list(shape, assignment);
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn heartbeat(v: i16, shape: Shape) -> HeartbeatRequest {
    let mut r = HeartbeatRequest::default();
    r.group_id = GroupId(s("group-1"));
    r.generation_id = 5;
    r.member_id = s("member-1");
    if v >= 3 {
        r.group_instance_id = full(shape).then(|| s("instance-1"));
    }
    r.unknown_tagged_fields = tags(shape, v >= 4);
    r
}

fn leave_group(v: i16, shape: Shape) -> LeaveGroupRequest {
    let flex = v >= 4;
    let member = |i: i32| {
        let mut m = MemberIdentity::default();
        m.member_id = s("member-1");
        m.group_instance_id = (i == 0).then(|| s("instance-1"));
        if v >= 5 {
            m.reason = (i == 0).then(|| s("shutdown"));
        }
        m.unknown_tagged_fields = tags(shape, flex);
        m
    };
    let mut r = LeaveGroupRequest::default();
    r.group_id = GroupId(s("group-1"));
    if v <= 2 {
        r.member_id = s("member-1");
    } else {
        r.members = list(shape, member);
    }
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn offset_commit(v: i16, shape: Shape) -> OffsetCommitRequest {
    let flex = v >= 8;
    let partition = |i: i32| {
        let mut p = OffsetCommitRequestPartition::default();
        p.partition_index = i;
        p.committed_offset = 500;
        if v >= 6 {
            p.committed_leader_epoch = 2;
        }
        p.committed_metadata = (i == 0).then(|| s("meta"));
        p.unknown_tagged_fields = tags(shape, flex);
        p
    };
    let topic = |_: i32| {
        let mut t = OffsetCommitRequestTopic::default();
        t.name = TopicName(s("orders"));
        t.partitions = list(shape, partition);
        t.unknown_tagged_fields = tags(shape, flex);
        t
    };
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(s("group-1"));
    r.generation_id_or_member_epoch = 5;
    r.member_id = s("member-1");
    if v >= 7 {
        r.group_instance_id = full(shape).then(|| s("instance-1"));
    }
    if v <= 4 && full(shape) {
        r.retention_time_ms = 86_400_000;
    }
    r.topics = list(shape, topic);
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn offset_fetch(v: i16, shape: Shape) -> OffsetFetchRequest {
    let flex = v >= 6;
    let mut r = OffsetFetchRequest::default();
    if v <= 7 {
        let topic = |_: i32| {
            let mut t = OffsetFetchRequestTopic::default();
            t.name = TopicName(s("orders"));
            t.partition_indexes = list(shape, |p| p);
            t.unknown_tagged_fields = tags(shape, flex);
            t
        };
        r.group_id = GroupId(s("group-1"));
        r.topics = full(shape).then(|| list(shape, topic));
    } else {
        let group_topic = |_: i32| {
            let mut t = OffsetFetchRequestTopics::default();
            t.name = TopicName(s("orders"));
            t.partition_indexes = list(shape, |p| p);
            t.unknown_tagged_fields = tags(shape, flex);
            t
        };
        let group = |i: i32| {
            let mut g = OffsetFetchRequestGroup::default();
            g.group_id = GroupId(s("group-1"));
            if v >= 9 {
                g.member_id = (i == 0).then(|| s("member-1"));
                g.member_epoch = 3;
            }
            // First group asks for listed topics, second for all (null).
            g.topics = (i == 0).then(|| list(shape, group_topic));
            g.unknown_tagged_fields = tags(shape, flex);
            g
        };
        r.topics = Some(Vec::new());
        r.groups = list(shape, group);
    }
    if v >= 7 {
        r.require_stable = full(shape);
    }
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn init_producer_id(v: i16, shape: Shape) -> InitProducerIdRequest {
    let mut r = InitProducerIdRequest::default();
    r.transactional_id = full(shape).then(|| TransactionalId(s("tx-1")));
    r.transaction_timeout_ms = 60_000;
    if v >= 3 {
        r.producer_id = ProducerId(-1);
        r.producer_epoch = -1;
    }
    r.unknown_tagged_fields = tags(shape, v >= 2);
    r
}

fn add_partitions_to_txn(v: i16, shape: Shape) -> AddPartitionsToTxnRequest {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    let mut r = AddPartitionsToTxnRequest::default();
    r.v3_and_below_transactional_id = TransactionalId(s("tx-1"));
    r.v3_and_below_producer_id = ProducerId(7);
    r.v3_and_below_producer_epoch = 1;
    r.v3_and_below_topics = list(shape, |i| {
        let mut t = AddPartitionsToTxnTopic::default();
        t.name = TopicName(s("topic-a"));
        t.partitions = list(shape, |p| p + i);
        t.unknown_tagged_fields = tags(shape, v >= 3);
        t
    });
    r.unknown_tagged_fields = tags(shape, v >= 3);
    r
}

fn add_offsets_to_txn(v: i16, shape: Shape) -> AddOffsetsToTxnRequest {
    let mut r = AddOffsetsToTxnRequest::default();
    r.transactional_id = TransactionalId(s("tx-1"));
    r.producer_id = ProducerId(7);
    r.producer_epoch = 1;
    r.group_id = GroupId(s("group-1"));
    r.unknown_tagged_fields = tags(shape, v >= 3);
    r
}

fn end_txn(v: i16, shape: Shape) -> EndTxnRequest {
    let mut r = EndTxnRequest::default();
    r.transactional_id = TransactionalId(s("tx-1"));
    r.producer_id = ProducerId(7);
    r.producer_epoch = 1;
    r.committed = full(shape);
    r.unknown_tagged_fields = tags(shape, v >= 3);
    r
}

fn txn_offset_commit(v: i16, shape: Shape) -> TxnOffsetCommitRequest {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let mut r = TxnOffsetCommitRequest::default();
    r.transactional_id = TransactionalId(s("tx-1"));
    r.group_id = GroupId(s("group-1"));
    r.producer_id = ProducerId(7);
    r.producer_epoch = 1;
    if v >= 3 {
        r.generation_id = 3;
        r.member_id = s("member-1");
        r.group_instance_id = full(shape).then(|| s("instance-1"));
    }
    r.topics = list(shape, |_| {
        let mut t = TxnOffsetCommitRequestTopic::default();
        t.name = TopicName(s("topic-a"));
        t.partitions = list(shape, |p| {
            let mut x = TxnOffsetCommitRequestPartition::default();
            x.partition_index = p;
            x.committed_offset = 100;
            if v >= 2 {
                x.committed_leader_epoch = 5;
            }
            x.committed_metadata = full(shape).then(|| s("meta"));
            x.unknown_tagged_fields = tags(shape, v >= 3);
            x
        });
        t.unknown_tagged_fields = tags(shape, v >= 3);
        t
    });
    r.unknown_tagged_fields = tags(shape, v >= 3);
    r
}

fn describe_transactions(shape: Shape) -> DescribeTransactionsRequest {
    let mut r = DescribeTransactionsRequest::default();
    r.transactional_ids = list(shape, |_| TransactionalId(s("tx-1")));
    r.unknown_tagged_fields = tags(shape, true);
    r
}

fn list_transactions(v: i16, shape: Shape) -> ListTransactionsRequest {
    let mut r = ListTransactionsRequest::default();
    r.state_filters = list(shape, |_| s("Ongoing"));
    r.producer_id_filters = list(shape, |i| ProducerId(i64::from(i)));
    if v >= 1 {
        r.duration_filter = 1_000;
    }
    r.unknown_tagged_fields = tags(shape, true);
    r
}

fn describe_groups(v: i16, shape: Shape) -> DescribeGroupsRequest {
    let mut r = DescribeGroupsRequest::default();
    r.groups = list(shape, |_| GroupId(s("group-1")));
    if v >= 3 {
        r.include_authorized_operations = full(shape);
    }
    r.unknown_tagged_fields = tags(shape, v >= 5);
    r
}

fn list_groups(v: i16, shape: Shape) -> ListGroupsRequest {
    let mut r = ListGroupsRequest::default();
    if v >= 4 {
        r.states_filter = list(shape, |_| s("Stable"));
    }
    if v >= 5 {
        r.types_filter = list(shape, |_| s("classic"));
    }
    r.unknown_tagged_fields = tags(shape, v >= 3);
    r
}

fn describe_configs(v: i16, shape: Shape) -> DescribeConfigsRequest {
    let flex = v >= 4;
    let resource = |i: i32| {
        let mut res = DescribeConfigsResource::default();
        res.resource_type = 2;
        res.resource_name = s("orders");
        res.configuration_keys = (i == 0).then(|| list(shape, |_| s("retention.ms")));
        res.unknown_tagged_fields = tags(shape, flex);
        res
    };
    let mut r = DescribeConfigsRequest::default();
    r.resources = list(shape, resource);
    r.include_synonyms = full(shape);
    if v >= 3 {
        r.include_documentation = full(shape);
    }
    r.unknown_tagged_fields = tags(shape, flex);
    r
}

fn api_versions(v: i16, shape: Shape) -> ApiVersionsRequest {
    let mut r = ApiVersionsRequest::default();
    if v >= 3 {
        r.client_software_name = s("frameguard");
        r.client_software_version = if full(shape) { s("0.1.0") } else { s("") };
    }
    r.unknown_tagged_fields = tags(shape, v >= 3);
    r
}
