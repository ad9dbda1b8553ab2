//! Transactional requests: InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit, EndTxn, DescribeTransactions and ListTransactions.
//! The control plane is the transaction coordinator (its `txn` module holds the rules and
//! the invariants); the agent translates between Kafka and the RPC, like the group calls.
//! Any agent answers FindCoordinator for a transactional id, as for a group.
//!
//! Produce and Fetch take part too: a transactional batch is committed like any idempotent
//! batch and refused by the control plane outside its transaction (INVALID_TXN_STATE, or
//! INVALID_PRODUCER_EPOCH once fenced); Fetch serves markers as control batches and, for
//! read_committed, stops at the last stable offset and lists the aborted transactions.

use eddy_controlplane::api::{CpError, ErrorKind, GroupOffset, TxnReply, TxnRequest};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedState;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::codes;
use crate::groups::group_code;
use crate::server::AgentInner;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The Kafka error of a failed transactional call. Versions before `fenced_since` know no
/// PRODUCER_FENCED (KIP-588): they get INVALID_PRODUCER_EPOCH, as from Kafka's broker. A
/// control plane without a leader is COORDINATOR_NOT_AVAILABLE: the client finds the
/// coordinator again and retries.
fn txn_code(e: &CpError, version: i16, fenced_since: i16) -> i16 {
    match e.kind {
        ErrorKind::Unavailable | ErrorKind::NotLeader => {
            eddy_probe::hit("agent.txn.coordinator_unavailable");
            codes::COORDINATOR_NOT_AVAILABLE
        }
        ErrorKind::ProducerFenced if version < fenced_since => codes::INVALID_PRODUCER_EPOCH,
        _ => codes::from_cp(e),
    }
}

impl AgentInner {
    /// InitProducerId with a transactional id: a producer id and a new epoch, fencing every
    /// earlier instance (the coordinator aborts what they left open).
    pub async fn init_transactional_producer(
        &self,
        req: InitProducerIdRequest,
        version: i16,
        transactional_id: String,
    ) -> InitProducerIdResponse {
        let mut r = InitProducerIdResponse::default();
        r.producer_id = ProducerId(-1);
        r.producer_epoch = -1;
        if transactional_id.is_empty() {
            r.error_code = codes::INVALID_REQUEST;
            return r;
        }
        let Ok(timeout_ms) = u64::try_from(req.transaction_timeout_ms) else {
            r.error_code = codes::INVALID_TRANSACTION_TIMEOUT;
            return r;
        };
        let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        let request = TxnRequest::Init {
            transactional_id,
            timeout_ms,
            expected,
        };
        match self.cp.txn(request, self.rpc_deadline()).await {
            Ok(TxnReply::Producer(p)) => {
                r.producer_id = ProducerId(p.producer_id);
                r.producer_epoch = p.producer_epoch;
            }
            Ok(_) => r.error_code = codes::UNKNOWN_SERVER_ERROR,
            Err(e) => r.error_code = txn_code(&e, version, 4),
        }
        r
    }

    /// AddPartitionsToTxn (v0–3: one transaction per request).
    pub async fn add_partitions_to_txn(
        &self,
        req: AddPartitionsToTxnRequest,
        version: i16,
    ) -> AddPartitionsToTxnResponse {
        let mut r = AddPartitionsToTxnResponse::default();
        let wanted: Vec<(String, i32)> = req
            .v3_and_below_topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
            .collect();
        let code_of: Box<dyn Fn(&(String, i32)) -> i16> = if wanted.is_empty() {
            Box::new(|_| codes::NONE)
        } else {
            let request = TxnRequest::AddPartitions {
                transactional_id: req.v3_and_below_transactional_id.0.to_string(),
                producer_id: req.v3_and_below_producer_id.0,
                epoch: req.v3_and_below_producer_epoch,
                partitions: wanted.clone(),
            };
            match self.cp.txn(request, self.rpc_deadline()).await {
                Ok(TxnReply::Added { unknown }) if unknown.is_empty() => Box::new(|_| codes::NONE),
                Ok(TxnReply::Added { unknown }) => Box::new(move |p| {
                    if unknown.contains(p) {
                        codes::UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        codes::OPERATION_NOT_ATTEMPTED
                    }
                }),
                Ok(_) => Box::new(|_| codes::UNKNOWN_SERVER_ERROR),
                Err(e) => {
                    let code = txn_code(&e, version, 2);
                    Box::new(move |_| code)
                }
            }
        };
        for t in &req.v3_and_below_topics {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = t.name.clone();
            for &p in &t.partitions {
                let mut pr = AddPartitionsToTxnPartitionResult::default();
                pr.partition_index = p;
                pr.partition_error_code = code_of(&(t.name.0.to_string(), p));
                tr.results_by_partition.push(pr);
            }
            r.results_by_topic_v3_and_below.push(tr);
        }
        r
    }

    /// AddOffsetsToTxn: the group's offsets will be committed in the transaction.
    pub async fn add_offsets_to_txn(
        &self,
        req: AddOffsetsToTxnRequest,
        version: i16,
    ) -> AddOffsetsToTxnResponse {
        let mut r = AddOffsetsToTxnResponse::default();
        let request = TxnRequest::AddGroup {
            transactional_id: req.transactional_id.0.to_string(),
            producer_id: req.producer_id.0,
            epoch: req.producer_epoch,
            group: req.group_id.0.to_string(),
        };
        r.error_code = match self.cp.txn(request, self.rpc_deadline()).await {
            Ok(TxnReply::Done) => codes::NONE,
            Ok(_) => codes::UNKNOWN_SERVER_ERROR,
            Err(e) => txn_code(&e, version, 2),
        };
        r
    }

    /// TxnOffsetCommit: offsets that apply if, and when, the transaction commits.
    pub async fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
    ) -> TxnOffsetCommitResponse {
        let offsets: Vec<GroupOffset> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| GroupOffset {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                })
            })
            .collect();
        let request = TxnRequest::CommitOffsets {
            transactional_id: req.transactional_id.0.to_string(),
            producer_id: req.producer_id.0,
            epoch: req.producer_epoch,
            group: req.group_id.0.to_string(),
            member_id: req.member_id.to_string(),
            generation: req.generation_id,
            offsets,
        };
        let code = match self.cp.txn(request, self.rpc_deadline()).await {
            Ok(TxnReply::Done) => codes::NONE,
            Ok(TxnReply::GroupRefused(e)) => group_code(e),
            Ok(_) => codes::UNKNOWN_SERVER_ERROR,
            Err(e) => txn_code(&e, version, 3),
        };
        let mut r = TxnOffsetCommitResponse::default();
        for t in &req.topics {
            let mut tr = TxnOffsetCommitResponseTopic::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let mut pr = TxnOffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                pr.error_code = code;
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        r
    }

    /// EndTxn: commit or abort, decided and marked in one control-plane command.
    pub async fn end_txn(&self, req: EndTxnRequest, version: i16) -> EndTxnResponse {
        let mut r = EndTxnResponse::default();
        r.producer_id = ProducerId(-1);
        r.producer_epoch = -1;
        let request = TxnRequest::End {
            transactional_id: req.transactional_id.0.to_string(),
            producer_id: req.producer_id.0,
            epoch: req.producer_epoch,
            commit: req.committed,
        };
        r.error_code = match self.cp.txn(request, self.rpc_deadline()).await {
            Ok(TxnReply::Done) => codes::NONE,
            Ok(_) => codes::UNKNOWN_SERVER_ERROR,
            Err(e) => txn_code(&e, version, 2),
        };
        r
    }

    /// DescribeTransactions: unknown ids get TRANSACTIONAL_ID_NOT_FOUND.
    pub async fn describe_transactions(
        &self,
        req: DescribeTransactionsRequest,
    ) -> DescribeTransactionsResponse {
        let mut r = DescribeTransactionsResponse::default();
        let ids: Vec<String> = req
            .transactional_ids
            .iter()
            .map(|i| i.0.to_string())
            .collect();
        let found = self
            .cp
            .txn(
                TxnRequest::Describe {
                    ids: Some(ids.clone()),
                },
                self.rpc_deadline(),
            )
            .await;
        for id in ids {
            let mut s = TransactionState::default();
            s.transactional_id = TransactionalId(sb(&id));
            s.producer_id = ProducerId(-1);
            s.producer_epoch = -1;
            s.transaction_state = sb("");
            match &found {
                Ok(TxnReply::Described(all)) => match all.iter().find(|d| d.transactional_id == id)
                {
                    Some(d) => {
                        s.transaction_state = sb(&d.status);
                        s.transaction_timeout_ms = d.timeout_ms.min(i32::MAX as u64) as i32;
                        s.transaction_start_time_ms = if d.status == "Ongoing" {
                            d.started_ms as i64
                        } else {
                            -1
                        };
                        s.producer_id = ProducerId(d.producer_id);
                        s.producer_epoch = d.epoch;
                        let mut topics: Vec<TopicData> = Vec::new();
                        for (topic, p) in &d.partitions {
                            match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                                Some(t) => t.partitions.push(*p),
                                None => {
                                    let mut t = TopicData::default();
                                    t.topic = TopicName(sb(topic));
                                    t.partitions.push(*p);
                                    topics.push(t);
                                }
                            }
                        }
                        s.topics = topics;
                    }
                    None => s.error_code = codes::TRANSACTIONAL_ID_NOT_FOUND,
                },
                Ok(_) => s.error_code = codes::UNKNOWN_SERVER_ERROR,
                Err(e) => s.error_code = txn_code(e, 0, 0),
            }
            r.transaction_states.push(s);
        }
        r
    }

    /// ListTransactions, with its state and producer-id filters and (v1) the duration
    /// filter: only transactions running longer than that many milliseconds.
    pub async fn list_transactions(
        &self,
        req: ListTransactionsRequest,
    ) -> ListTransactionsResponse {
        let mut r = ListTransactionsResponse::default();
        const STATES: [&str; 4] = ["Empty", "Ongoing", "CompleteCommit", "CompleteAbort"];
        r.unknown_state_filters = req
            .state_filters
            .iter()
            .filter(|f| !STATES.contains(&f.as_str()))
            .cloned()
            .collect();
        match self
            .cp
            .txn(TxnRequest::Describe { ids: None }, self.rpc_deadline())
            .await
        {
            Ok(TxnReply::Described(all)) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                for d in all {
                    let state_ok = req.state_filters.is_empty()
                        || req.state_filters.iter().any(|f| f.as_str() == d.status);
                    let pid_ok = req.producer_id_filters.is_empty()
                        || req.producer_id_filters.iter().any(|p| p.0 == d.producer_id);
                    let long_enough = req.duration_filter < 0
                        || (d.status == "Ongoing"
                            && now.saturating_sub(d.started_ms) as i64 > req.duration_filter);
                    if state_ok && pid_ok && long_enough {
                        let mut s = ListedState::default();
                        s.transactional_id = TransactionalId(sb(&d.transactional_id));
                        s.producer_id = ProducerId(d.producer_id);
                        s.transaction_state = sb(&d.status);
                        r.transaction_states.push(s);
                    }
                }
            }
            Ok(_) => r.error_code = codes::UNKNOWN_SERVER_ERROR,
            Err(e) => r.error_code = txn_code(&e, 0, 0),
        }
        r
    }
}
