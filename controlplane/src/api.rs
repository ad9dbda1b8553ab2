//! Everything that crosses the agent ↔ control-plane wire, and the only part of this crate
//! the agent talks to.
//!
//! What crosses the wire: one [`Request`] per call and one [`Response`] (or a [`CpError`])
//! per answer, in length-prefixed bincode frames over the [`crate::net`] transport (see
//! `rpc.rs`). The payload types they carry are re-exported here: files and chunks the agent
//! commits ([`FileSpec`], [`ChunkSpec`], [`ProducerBatch`]), what a lookup asks and answers
//! ([`LookupQuery`], [`LookupResult`], [`Extent`]), topics ([`TopicInfo`]), agents
//! ([`AgentInfo`]), the group coordinator's requests and answers ([`GroupRequest`],
//! [`GroupResponse`] and their parts), maintenance jobs ([`JobSpec`], [`JobOutcome`], …) and
//! retention policies. So are the limits and validators both sides apply
//! ([`validate_topic_name`], [`PARTITIONS_MAX`], the `CHUNK_*` per-chunk refusals).
//!
//! The agent makes its calls through the typed methods of [`ControlPlaneClient`] defined
//! here; each one checks that the answer is the kind its request expects (an answer of
//! another kind, or of the wrong length, is an [`ErrorKind::Internal`] error, built in one
//! place) and returns its payload. The raw [`ControlPlaneClient::call`] stays public for
//! tools that speak the wire directly.
//!
//! Retries and idempotence. An error whose kind [`ErrorKind::is_retriable`]
//! (`Unavailable`, `NotLeader`) leaves the outcome unknown: the request may or may not have
//! been applied. Calls marked *retried* below go through
//! [`ControlPlaneClient::call_with_retry`], which repeats them on such errors, with backoff,
//! until the deadline the caller passes; each attempt gets at most half of it. Calls marked
//! *one attempt* are sent once; their callers repeat them on their own schedule.
//!
//! | call | kind | attempts | a repeat after an unknown outcome |
//! |---|---|---|---|
//! | [`heartbeat`](ControlPlaneClient::heartbeat) | leader's soft state | one attempt (sent every heartbeat period) | refreshes the agent's liveness again |
//! | [`describe_topics`](ControlPlaneClient::describe_topics) | read under the lease | retried | harmless |
//! | [`create_topics`](ControlPlaneClient::create_topics) | journaled | retried | with `if_not_exists`, answers the topic again; without, a create that landed answers `TopicExists` |
//! | [`commit_file`](ControlPlaneClient::commit_file) | journaled | retried | deduplicated by file id: answered with the offsets of the first commit |
//! | [`lookup`](ControlPlaneClient::lookup) | read under the lease, long poll | one attempt (the Kafka client fetches again) | harmless |
//! | [`list_offset`](ControlPlaneClient::list_offset) | read under the lease | retried | harmless |
//! | [`init_producer_id`](ControlPlaneClient::init_producer_id) | journaled | retried | allocates another id; the one whose answer was lost is never used |
//! | [`retention`](ControlPlaneClient::retention) | configuration, any replica | retried | harmless |
//! | [`lease_job`](ControlPlaneClient::lease_job) | journaled | one attempt (polled) | a lease whose answer was lost lapses and the job is handed out again |
//! | [`finish_job`](ControlPlaneClient::finish_job) | journaled | one attempt | a stale or repeated outcome is refused (`accepted: false`); a lost one lets the lease lapse |
//! | group calls ([`join_group`](ControlPlaneClient::join_group), [`sync_group`](ControlPlaneClient::sync_group), [`group_heartbeat`](ControlPlaneClient::group_heartbeat), [`leave_group`](ControlPlaneClient::leave_group), [`list_groups`](ControlPlaneClient::list_groups), [`describe_groups`](ControlPlaneClient::describe_groups), [`fetch_offsets`](ControlPlaneClient::fetch_offsets)) | leader's soft state / reads under the lease | one attempt (the Kafka client rediscovers the coordinator and retries) | join and sync may wait for the other members; the client adds [`GroupRequest::wait_hint`] to the attempt's timeout |
//! | [`commit_offsets`](ControlPlaneClient::commit_offsets) | journaled | one attempt (the Kafka client retries) | writes the same offsets again |
//! | [`txn`](ControlPlaneClient::txn) `Init` | journaled | retried | bumps the epoch again; the epoch whose answer was lost is fenced, never used |
//! | [`txn`](ControlPlaneClient::txn) others | journaled (Describe: read) | one attempt (the Kafka client retries) | AddPartitions/AddGroup add nothing new; TxnOffsetCommit writes the same offsets; EndTxn answers success for the outcome it already applied |

use std::fmt::Debug;
use std::time::Duration;

pub use crate::client::{attempt_timeout, ClientConfig, ControlPlaneClient};
pub use crate::error::{CpError, ErrorKind};
pub use crate::groups::{
    GroupDescription, GroupError, GroupListing, GroupRequest, GroupResponse, MemberDescription,
};
pub use crate::jobs::{
    JobOutcome, JobSpec, JobWork, OutputRun, RetentionPolicy, SourceRun, COMPACTED_PREFIX,
    INGEST_PREFIX,
};
pub use crate::rpc::{Request, Response, FRAME_BYTES_MAX};
pub use crate::state::{validate_topic_name, PARTITIONS_MAX, TOPIC_NAME_LEN_MAX};
pub use crate::txn::{
    TxnAnswer, TxnDescription, TxnRequest, TXN_PARTITIONS_MAX, TXN_TIMEOUT_MS_MAX,
};
pub use crate::types::{
    AbortedTxn, AgentInfo, ChunkSpec, Extent, FileId, FileSpec, GroupOffset, LookupQuery,
    LookupResult, ProducerBatch, TopicInfo, TxnMarker, CHUNK_INVALID_PRODUCER_EPOCH,
    CHUNK_INVALID_TXN_STATE, CHUNK_OUT_OF_ORDER_SEQUENCE, CHUNK_UNKNOWN_PRODUCER_ID,
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};

/// The answer to [`ControlPlaneClient::list_offset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset asked for; `None` when no record is at or after the timestamp.
    pub offset: Option<i64>,
    pub high_watermark: i64,
}

/// A producer id allocated by [`ControlPlaneClient::init_producer_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatedProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The answer to [`ControlPlaneClient::txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnReply {
    /// InitProducerId with a transactional id.
    Producer(AllocatedProducer),
    /// AddPartitionsToTxn: the partitions that do not exist (then none was added).
    Added {
        unknown: Vec<(String, i32)>,
    },
    Done,
    /// TxnOffsetCommit refused by the group coordinator (membership, generation).
    GroupRefused(GroupError),
    /// DescribeTransactions / ListTransactions.
    Described(Vec<TxnDescription>),
}

/// The control plane's verdict on a job outcome ([`ControlPlaneClient::finish_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobVerdict {
    /// Whether the outcome was taken; `false` for a lapsed lease or a stale attempt.
    pub accepted: bool,
    pub message: String,
}

/// A JoinGroup as the coordinator takes it ([`ControlPlaneClient::join_group`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroup {
    pub group: String,
    /// Empty for a new member: the coordinator assigns one.
    pub member_id: String,
    pub client_id: String,
    /// Where the member connects from, as Kafka shows it (`/10.0.1.5`).
    pub client_host: String,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub generation: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol (the leader only).
    pub members: Vec<(String, Vec<u8>)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub protocol_type: String,
    pub protocol_name: String,
    pub assignment: Vec<u8>,
}

/// Why a group call did not succeed: the coordinator refused it, or the call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupFailure {
    Refused(GroupError),
    Failed(CpError),
}

impl From<CpError> for GroupFailure {
    fn from(e: CpError) -> Self {
        GroupFailure::Failed(e)
    }
}

/// An answer of the wrong kind (or length) for `call`: the one place it is made an error.
fn unexpected(call: &str, answer: &impl Debug) -> CpError {
    CpError::internal(format!("unexpected answer to {call}: {answer:?}"))
}

impl ControlPlaneClient {
    /// Announce `agent` and learn every live agent. One attempt.
    pub async fn heartbeat(&self, agent: AgentInfo) -> Result<Vec<AgentInfo>, CpError> {
        match self.call(Request::Heartbeat { agent }).await? {
            Response::Agents { agents } => Ok(agents),
            other => Err(unexpected("Heartbeat", &other)),
        }
    }

    /// The topics named (all when `None`); unknown names are left out. Retried.
    pub async fn describe_topics(
        &self,
        names: Option<Vec<String>>,
        deadline: Duration,
    ) -> Result<Vec<TopicInfo>, CpError> {
        match self
            .call_with_retry(Request::DescribeTopics { names }, deadline)
            .await?
        {
            Response::Topics { topics } => Ok(topics),
            other => Err(unexpected("DescribeTopics", &other)),
        }
    }

    /// Create `topics`; one result per topic, in order. Retried.
    pub async fn create_topics(
        &self,
        topics: Vec<TopicInfo>,
        if_not_exists: bool,
        deadline: Duration,
    ) -> Result<Vec<Result<TopicInfo, CpError>>, CpError> {
        let request = Request::CreateTopics {
            topics,
            if_not_exists,
        };
        match self.call_with_retry(request, deadline).await? {
            Response::TopicsCreated { results } => Ok(results),
            other => Err(unexpected("CreateTopics", &other)),
        }
    }

    /// Commit `file` (already in object storage): the base offset of each chunk, in order.
    /// Retried; deduplicated by file id.
    pub async fn commit_file(
        &self,
        file: &FileSpec,
        deadline: Duration,
    ) -> Result<Vec<i64>, CpError> {
        let chunks = file.chunks.len();
        let request = Request::CommitFile { file: file.clone() };
        match self.call_with_retry(request, deadline).await? {
            Response::Committed { base_offsets } if base_offsets.len() == chunks => {
                Ok(base_offsets)
            }
            // The commit may have been applied in some form: its outcome is unknown, never a
            // definite failure.
            other => Err(CpError::unavailable(format!(
                "unexpected answer to CommitFile (outcome unknown): {other:?}"
            ))),
        }
    }

    /// Resolve each query to extents, one result per query, in order; when none has data,
    /// the control plane waits up to `wait_ms` for some. One attempt.
    pub async fn lookup(
        &self,
        queries: Vec<LookupQuery>,
        wait_ms: u64,
    ) -> Result<Vec<Result<LookupResult, CpError>>, CpError> {
        let n = queries.len();
        match self.call(Request::Lookup { queries, wait_ms }).await? {
            Response::Lookups { results } if results.len() == n => Ok(results),
            other => Err(unexpected("Lookup", &other)),
        }
    }

    /// Kafka ListOffsets for one partition; with `read_committed`, latest is the last
    /// stable offset. Retried.
    pub async fn list_offset(
        &self,
        topic: String,
        partition: i32,
        timestamp: i64,
        read_committed: bool,
        deadline: Duration,
    ) -> Result<ListedOffset, CpError> {
        let request = Request::ListOffset {
            topic,
            partition,
            timestamp,
            read_committed,
        };
        match self.call_with_retry(request, deadline).await? {
            Response::Offset {
                offset,
                high_watermark,
            } => Ok(ListedOffset {
                offset,
                high_watermark,
            }),
            other => Err(unexpected("ListOffset", &other)),
        }
    }

    /// Allocate an idempotent producer id. Retried.
    pub async fn init_producer_id(&self, deadline: Duration) -> Result<AllocatedProducer, CpError> {
        match self
            .call_with_retry(Request::InitProducerId, deadline)
            .await?
        {
            Response::ProducerId {
                producer_id,
                producer_epoch,
            } => Ok(AllocatedProducer {
                producer_id,
                producer_epoch,
            }),
            other => Err(unexpected("InitProducerId", &other)),
        }
    }

    /// A transactional call ([`TxnRequest`]). InitProducerId is retried (a repeat bumps the
    /// epoch again; the client uses the last answer); the others are one attempt, as the
    /// Kafka client retries them itself.
    pub async fn txn(&self, request: TxnRequest, deadline: Duration) -> Result<TxnReply, CpError> {
        let answer = if matches!(request, TxnRequest::Init { .. }) {
            self.call_with_retry(Request::Txn(request), deadline)
                .await?
        } else {
            self.call(Request::Txn(request)).await?
        };
        match answer {
            Response::Txn(TxnAnswer::Producer { producer_id, epoch }) => {
                Ok(TxnReply::Producer(AllocatedProducer {
                    producer_id,
                    producer_epoch: epoch,
                }))
            }
            Response::Txn(TxnAnswer::Added { unknown }) => Ok(TxnReply::Added { unknown }),
            Response::Txn(TxnAnswer::Done) => Ok(TxnReply::Done),
            Response::Group(GroupResponse::Error(e)) => Ok(TxnReply::GroupRefused(e)),
            Response::Transactions { transactions } => Ok(TxnReply::Described(transactions)),
            other => Err(unexpected("Txn", &other)),
        }
    }

    /// The retention of each of `topics`, in order. Retried.
    pub async fn retention(
        &self,
        topics: Vec<String>,
        deadline: Duration,
    ) -> Result<Vec<RetentionPolicy>, CpError> {
        let n = topics.len();
        match self
            .call_with_retry(Request::Retention { topics }, deadline)
            .await?
        {
            Response::Retention { policies } if policies.len() == n => Ok(policies),
            other => Err(unexpected("Retention", &other)),
        }
    }

    /// Ask for maintenance work for `worker`; `None` when there is none. One attempt.
    pub async fn lease_job(&self, worker: String) -> Result<Option<JobSpec>, CpError> {
        match self.call(Request::LeaseJob { worker }).await? {
            Response::Job { job } => Ok(job),
            other => Err(unexpected("LeaseJob", &other)),
        }
    }

    /// Report how attempt `attempt` of job `job_id` ended. One attempt.
    pub async fn finish_job(
        &self,
        job_id: u64,
        attempt: u32,
        outcome: JobOutcome,
    ) -> Result<JobVerdict, CpError> {
        let request = Request::FinishJob {
            job_id,
            attempt,
            outcome,
        };
        match self.call(request).await? {
            Response::JobFinished { accepted, message } => Ok(JobVerdict { accepted, message }),
            other => Err(unexpected("FinishJob", &other)),
        }
    }

    /// One group request, one attempt; a coordinator refusal is [`GroupFailure::Refused`].
    async fn group(&self, request: GroupRequest) -> Result<GroupResponse, GroupFailure> {
        match self.call(Request::Group(request)).await? {
            Response::Group(GroupResponse::Error(e)) => Err(GroupFailure::Refused(e)),
            Response::Group(answer) => Ok(answer),
            other => Err(unexpected("Group", &other).into()),
        }
    }

    /// JoinGroup: waits (up to the rebalance timeout) for the group's other members.
    pub async fn join_group(&self, join: JoinGroup) -> Result<Joined, GroupFailure> {
        let request = GroupRequest::Join {
            group: join.group,
            member_id: join.member_id,
            client_id: join.client_id,
            client_host: join.client_host,
            protocol_type: join.protocol_type,
            protocols: join.protocols,
            session_timeout_ms: join.session_timeout_ms,
            rebalance_timeout_ms: join.rebalance_timeout_ms,
        };
        match self.group(request).await? {
            GroupResponse::Joined {
                generation,
                protocol_type,
                protocol_name,
                leader,
                member_id,
                members,
            } => Ok(Joined {
                generation,
                protocol_type,
                protocol_name,
                leader,
                member_id,
                members,
            }),
            other => Err(unexpected("JoinGroup", &other).into()),
        }
    }

    /// SyncGroup: the leader hands in `assignments` (followers an empty list); every member
    /// gets its own assignment.
    pub async fn sync_group(
        &self,
        group: String,
        member_id: String,
        generation: i32,
        assignments: Vec<(String, Vec<u8>)>,
    ) -> Result<Synced, GroupFailure> {
        let request = GroupRequest::Sync {
            group,
            member_id,
            generation,
            assignments,
        };
        match self.group(request).await? {
            GroupResponse::Synced {
                protocol_type,
                protocol_name,
                assignment,
            } => Ok(Synced {
                protocol_type,
                protocol_name,
                assignment,
            }),
            other => Err(unexpected("SyncGroup", &other).into()),
        }
    }

    /// A group member's heartbeat.
    pub async fn group_heartbeat(
        &self,
        group: String,
        member_id: String,
        generation: i32,
    ) -> Result<(), GroupFailure> {
        let request = GroupRequest::Heartbeat {
            group,
            member_id,
            generation,
        };
        self.group_done("Heartbeat", request).await
    }

    /// LeaveGroup for each of `member_ids`.
    pub async fn leave_group(
        &self,
        group: String,
        member_ids: Vec<String>,
    ) -> Result<(), GroupFailure> {
        let request = GroupRequest::Leave { group, member_ids };
        self.group_done("LeaveGroup", request).await
    }

    /// OffsetCommit; `generation` < 0 commits without membership (a simple consumer).
    pub async fn commit_offsets(
        &self,
        group: String,
        member_id: String,
        generation: i32,
        offsets: Vec<GroupOffset>,
    ) -> Result<(), GroupFailure> {
        let request = GroupRequest::CommitOffsets {
            group,
            member_id,
            generation,
            offsets,
        };
        self.group_done("OffsetCommit", request).await
    }

    /// A group request whose answer carries nothing.
    async fn group_done(&self, call: &str, request: GroupRequest) -> Result<(), GroupFailure> {
        match self.group(request).await? {
            GroupResponse::Done => Ok(()),
            other => Err(unexpected(call, &other).into()),
        }
    }

    /// OffsetFetch: the committed offset (or -1) of each of `partitions`, or of every
    /// partition the group committed when `None`; and the partitions whose offsets an open
    /// transaction has committed (unstable until it ends).
    pub async fn fetch_offsets(
        &self,
        group: String,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<(Vec<GroupOffset>, Vec<(String, i32)>), GroupFailure> {
        let request = GroupRequest::FetchOffsets { group, partitions };
        match self.group(request).await? {
            GroupResponse::Offsets { offsets, unstable } => Ok((offsets, unstable)),
            other => Err(unexpected("OffsetFetch", &other).into()),
        }
    }

    /// Every group: those with members and those with committed offsets only.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, GroupFailure> {
        match self.group(GroupRequest::List).await? {
            GroupResponse::Listed { groups } => Ok(groups),
            other => Err(unexpected("ListGroups", &other).into()),
        }
    }

    /// DescribeGroups: one description per name, in order (unknown groups are `Dead`).
    pub async fn describe_groups(
        &self,
        groups: Vec<String>,
    ) -> Result<Vec<GroupDescription>, GroupFailure> {
        let n = groups.len();
        match self.group(GroupRequest::Describe { groups }).await? {
            GroupResponse::Described { groups } if groups.len() == n => Ok(groups),
            other => Err(unexpected("DescribeGroups", &other).into()),
        }
    }
}
