//! Consumer-group and producer-id requests: FindCoordinator (an agent of the client's zone
//! answers as coordinator), JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, ListGroups, DescribeGroups and InitProducerId (with a transactional id: `txn.rs`). Every agent forwards them to
//! the control plane, which holds the coordination state; the agent only translates between
//! Kafka and the RPC.

use bytes::Bytes;
use eddy_controlplane::api::{
    CpError, ErrorKind, GroupError, GroupFailure, GroupOffset, JoinGroup, Joined, Synced,
};
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::cluster::{client_az, ClusterView};
use crate::codes;
use crate::server::AgentInner;

/// Most partitions in one OffsetCommit or OffsetFetch.
pub const OFFSET_PARTITIONS_MAX: usize = 10_000;

/// Most groups in one DescribeGroups request.
pub const DESCRIBE_GROUPS_MAX: usize = 10_000;

/// DescribeGroups' `authorized_operations` when the client did not ask for them.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// What any client may do to a group (eddy has no authorizer): READ, DELETE and DESCRIBE,
/// as bits numbered by Kafka's `AclOperation` codes (3, 6, 8).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The Kafka error code of a coordinator refusal.
pub fn group_code(e: GroupError) -> i16 {
    match e {
        GroupError::UnknownMemberId => codes::UNKNOWN_MEMBER_ID,
        GroupError::IllegalGeneration => codes::ILLEGAL_GENERATION,
        GroupError::RebalanceInProgress => codes::REBALANCE_IN_PROGRESS,
        GroupError::InconsistentGroupProtocol => codes::INCONSISTENT_GROUP_PROTOCOL,
        GroupError::InvalidSessionTimeout => codes::INVALID_SESSION_TIMEOUT,
        GroupError::GroupMaxSizeReached => codes::GROUP_MAX_SIZE_REACHED,
    }
}

/// A control-plane failure as a coordinator error: clients rediscover and retry.
fn cp_code(e: &CpError) -> i16 {
    match e.kind {
        ErrorKind::Unavailable | ErrorKind::NotLeader => {
            eddy_probe::hit("agent.groups.coordinator_unavailable");
            codes::COORDINATOR_NOT_AVAILABLE
        }
        ErrorKind::Invalid => codes::INVALID_REQUEST,
        _ => codes::UNKNOWN_SERVER_ERROR,
    }
}

/// The Kafka error code of a failed group call.
fn failure_code(failure: GroupFailure) -> i16 {
    match failure {
        GroupFailure::Refused(e) => group_code(e),
        GroupFailure::Failed(e) => cp_code(&e),
    }
}

impl AgentInner {
    /// The agent a client in `az` should use as coordinator: this one when it serves that
    /// zone, otherwise one of the zone's agents chosen by the key.
    fn coordinator_for(&self, client_id: &str, key: &str) -> (i32, String, i32) {
        let me = self.cluster.me();
        let agents = self.cluster.agents_for(client_az(client_id));
        let pick = if agents.iter().any(|a| a.node_id == me.node_id) {
            me.clone()
        } else {
            let id = ClusterView::leader(&agents, key, 0);
            agents
                .into_iter()
                .find(|a| a.node_id == id)
                .unwrap_or_else(|| me.clone())
        };
        (pick.node_id, pick.host, pick.port as i32)
    }

    pub fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
        client_id: &str,
    ) -> FindCoordinatorResponse {
        let mut r = FindCoordinatorResponse::default();
        if version >= 4 {
            for key in req.coordinator_keys {
                let (node, host, port) = self.coordinator_for(client_id, &key);
                let mut c = Coordinator::default();
                c.key = key;
                c.node_id = BrokerId(node);
                c.host = sb(&host);
                c.port = port;
                r.coordinators.push(c);
            }
        } else {
            let (node, host, port) = self.coordinator_for(client_id, &req.key);
            r.node_id = BrokerId(node);
            r.host = sb(&host);
            r.port = port;
        }
        r
    }

    /// ListGroups. Clients send it to every broker they know and merge the answers (some,
    /// like kafka-python, without removing duplicates), so each agent lists only the groups
    /// whose home is itself among the agents that client is shown: together those agents
    /// list every group once.
    pub async fn list_groups(&self, req: ListGroupsRequest, client_id: &str) -> ListGroupsResponse {
        let mut r = ListGroupsResponse::default();
        let listed = match self.cp.list_groups().await.map_err(failure_code) {
            Ok(groups) => groups,
            Err(code) => {
                r.error_code = code;
                return r;
            }
        };
        let me = self.cluster.me().node_id;
        let agents = self.cluster.agents_for(client_az(client_id));
        let mine = |group: &str| {
            !agents.iter().any(|a| a.node_id == me) || ClusterView::leader(&agents, group, 0) == me
        };
        let wanted = |filter: &[StrBytes], value: &str| {
            filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
        };
        for g in listed {
            if !mine(&g.group)
                || !wanted(&req.states_filter, &g.state)
                || !wanted(&req.types_filter, "classic")
            {
                continue;
            }
            let mut l = ListedGroup::default();
            l.group_id = GroupId(sb(&g.group));
            l.protocol_type = sb(&g.protocol_type);
            l.group_state = sb(&g.state);
            l.group_type = sb("classic");
            r.groups.push(l);
        }
        r
    }

    /// DescribeGroups: state, protocol and members of each group asked for (`Dead` for a
    /// group nobody knows, as Kafka answers before v6).
    pub async fn describe_groups(&self, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
        let mut r = DescribeGroupsResponse::default();
        let names: Vec<String> = req.groups.iter().map(|g| g.0.to_string()).collect();
        let answer = if names.len() > DESCRIBE_GROUPS_MAX {
            Err(codes::INVALID_REQUEST)
        } else {
            self.cp
                .describe_groups(names.clone())
                .await
                .map_err(failure_code)
        };
        let operations = if req.include_authorized_operations {
            GROUP_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        };
        match answer {
            Ok(groups) => {
                for g in groups {
                    let mut d = DescribedGroup::default();
                    d.group_id = GroupId(sb(&g.group));
                    d.group_state = sb(&g.state);
                    d.protocol_type = sb(&g.protocol_type);
                    d.protocol_data = sb(&g.protocol);
                    d.authorized_operations = operations;
                    for m in g.members {
                        let mut dm = DescribedGroupMember::default();
                        dm.member_id = sb(&m.member_id);
                        dm.client_id = sb(&m.client_id);
                        dm.client_host = sb(&m.client_host);
                        dm.member_metadata = Bytes::from(m.metadata);
                        dm.member_assignment = Bytes::from(m.assignment);
                        d.members.push(dm);
                    }
                    r.groups.push(d);
                }
            }
            Err(code) => {
                for name in names {
                    let mut d = DescribedGroup::default();
                    d.error_code = code;
                    d.group_id = GroupId(sb(&name));
                    d.authorized_operations = operations;
                    r.groups.push(d);
                }
            }
        }
        r
    }

    pub async fn join_group(
        &self,
        req: JoinGroupRequest,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let mut r = JoinGroupResponse::default();
        r.generation_id = -1;
        let request = JoinGroup {
            group: req.group_id.0.to_string(),
            member_id: req.member_id.to_string(),
            client_id: client_id.to_string(),
            client_host: client_host.to_string(),
            protocol_type: req.protocol_type.to_string(),
            protocols: req
                .protocols
                .iter()
                .map(|p| (p.name.to_string(), p.metadata.to_vec()))
                .collect(),
            session_timeout_ms: req.session_timeout_ms.max(0) as u64,
            // v0 has no rebalance timeout: Kafka uses the session timeout.
            rebalance_timeout_ms: if req.rebalance_timeout_ms > 0 {
                req.rebalance_timeout_ms as u64
            } else {
                req.session_timeout_ms.max(0) as u64
            },
        };
        match self.cp.join_group(request).await.map_err(failure_code) {
            Ok(Joined {
                generation,
                protocol_type,
                protocol_name,
                leader,
                member_id,
                members,
            }) => {
                r.generation_id = generation;
                r.protocol_type = Some(sb(&protocol_type));
                r.protocol_name = Some(sb(&protocol_name));
                r.leader = sb(&leader);
                r.member_id = sb(&member_id);
                r.members = members
                    .into_iter()
                    .map(|(id, meta)| {
                        let mut m = JoinGroupResponseMember::default();
                        m.member_id = sb(&id);
                        m.metadata = Bytes::from(meta);
                        m
                    })
                    .collect();
            }
            Err(code) => {
                r.error_code = code;
                r.member_id = req.member_id;
            }
        }
        r
    }

    pub async fn sync_group(&self, req: SyncGroupRequest) -> SyncGroupResponse {
        let mut r = SyncGroupResponse::default();
        let synced = self.cp.sync_group(
            req.group_id.0.to_string(),
            req.member_id.to_string(),
            req.generation_id,
            req.assignments
                .iter()
                .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
                .collect(),
        );
        match synced.await.map_err(failure_code) {
            Ok(Synced {
                protocol_type,
                protocol_name,
                assignment,
            }) => {
                r.protocol_type = Some(sb(&protocol_type));
                r.protocol_name = Some(sb(&protocol_name));
                r.assignment = Bytes::from(assignment);
            }
            Err(code) => r.error_code = code,
        }
        r
    }

    pub async fn heartbeat(&self, req: HeartbeatRequest) -> HeartbeatResponse {
        let mut r = HeartbeatResponse::default();
        let beat = self.cp.group_heartbeat(
            req.group_id.0.to_string(),
            req.member_id.to_string(),
            req.generation_id,
        );
        if let Err(failure) = beat.await {
            r.error_code = failure_code(failure);
        }
        r
    }

    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let mut r = LeaveGroupResponse::default();
        let ids: Vec<String> = if version >= 3 {
            req.members
                .iter()
                .map(|m| m.member_id.to_string())
                .collect()
        } else {
            vec![req.member_id.to_string()]
        };
        let left = self.cp.leave_group(req.group_id.0.to_string(), ids.clone());
        let code = match left.await {
            Ok(()) => codes::NONE,
            Err(failure) => failure_code(failure),
        };
        if version >= 3 {
            r.members = ids
                .iter()
                .map(|id| {
                    let mut m = MemberResponse::default();
                    m.member_id = sb(id);
                    m.error_code = code;
                    m
                })
                .collect();
        } else {
            r.error_code = code;
        }
        r
    }

    pub async fn offset_commit(&self, req: OffsetCommitRequest) -> OffsetCommitResponse {
        let mut offsets = Vec::new();
        for t in &req.topics {
            for p in &t.partitions {
                offsets.push(GroupOffset {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
            }
        }
        let code = if offsets.len() > OFFSET_PARTITIONS_MAX {
            codes::INVALID_REQUEST
        } else {
            let committed = self.cp.commit_offsets(
                req.group_id.0.to_string(),
                req.member_id.to_string(),
                req.generation_id_or_member_epoch,
                offsets,
            );
            match committed.await {
                Ok(()) => codes::NONE,
                Err(failure) => failure_code(failure),
            }
        };
        let mut r = OffsetCommitResponse::default();
        r.topics = req
            .topics
            .iter()
            .map(|t| {
                let mut tr = OffsetCommitResponseTopic::default();
                tr.name = t.name.clone();
                tr.partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut pr = OffsetCommitResponsePartition::default();
                        pr.partition_index = p.partition_index;
                        pr.error_code = code;
                        pr
                    })
                    .collect();
                tr
            })
            .collect();
        r
    }

    pub async fn offset_fetch(&self, req: OffsetFetchRequest) -> OffsetFetchResponse {
        let require_stable = req.require_stable;
        let mut r = OffsetFetchResponse::default();
        let partitions: Option<Vec<(String, i32)>> = req.topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| (t.name.0.to_string(), *p))
                })
                .collect()
        });
        if partitions
            .as_ref()
            .is_some_and(|p| p.len() > OFFSET_PARTITIONS_MAX)
        {
            r.error_code = codes::INVALID_REQUEST;
            return r;
        }
        let fetched = self
            .cp
            .fetch_offsets(req.group_id.0.to_string(), partitions);
        // Without a control-plane leader the group's offsets are being recovered: Kafka's
        // COORDINATOR_LOAD_IN_PROGRESS, which clients retry in place. (librdkafka gives up
        // the committed-offset fetch of assigned partitions on COORDINATOR_NOT_AVAILABLE,
        // leaving a consumer that resumes after a restart without a position.)
        let loading = |failure: GroupFailure| match &failure {
            GroupFailure::Failed(e) if e.kind.is_retriable() => {
                eddy_probe::hit("agent.groups.offsets_loading");
                codes::COORDINATOR_LOAD_IN_PROGRESS
            }
            _ => failure_code(failure),
        };
        match fetched.await.map_err(loading) {
            Ok((offsets, unstable)) => {
                let mut topics: Vec<OffsetFetchResponseTopic> = Vec::new();
                for o in offsets {
                    let mut p = OffsetFetchResponsePartition::default();
                    p.partition_index = o.partition;
                    p.committed_offset = o.offset;
                    p.committed_leader_epoch = -1;
                    p.metadata = Some(sb(o.metadata.as_deref().unwrap_or("")));
                    // KIP-447: a client that wants stable offsets waits for the open
                    // transaction that committed offsets of this partition to end.
                    if require_stable
                        && unstable
                            .iter()
                            .any(|(t, q)| *t == o.topic && *q == o.partition)
                    {
                        p.error_code = codes::UNSTABLE_OFFSET_COMMIT;
                        p.committed_offset = -1;
                    }
                    match topics.iter_mut().find(|t| t.name.0.as_str() == o.topic) {
                        Some(t) => t.partitions.push(p),
                        None => {
                            let mut t = OffsetFetchResponseTopic::default();
                            t.name = TopicName(sb(&o.topic));
                            t.partitions.push(p);
                            topics.push(t);
                        }
                    }
                }
                r.topics = topics;
            }
            Err(code) => r.error_code = code,
        }
        r
    }

    pub async fn init_producer_id(
        &self,
        req: InitProducerIdRequest,
        version: i16,
    ) -> InitProducerIdResponse {
        if let Some(id) = req.transactional_id.as_ref().map(|t| t.0.to_string()) {
            return self.init_transactional_producer(req, version, id).await;
        }
        let mut r = InitProducerIdResponse::default();
        r.producer_id = ProducerId(-1);
        r.producer_epoch = -1;
        match self.cp.init_producer_id(self.rpc_deadline()).await {
            Ok(allocated) => {
                r.producer_id = ProducerId(allocated.producer_id);
                r.producer_epoch = allocated.producer_epoch;
            }
            Err(e) => r.error_code = codes::from_cp(&e),
        }
        r
    }
}
