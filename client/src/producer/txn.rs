//! Transactions, as librdkafka's transactional producer runs them: `init_transactions`
//! (InitProducerId with the transactional id at its coordinator, retried while the
//! coordinator is unavailable), `begin_transaction`, sends (each partition joins the
//! transaction with AddPartitionsToTxn before its first batch goes out; batches carry the
//! transactional attribute and the idempotent sequences), `send_offsets_to_transaction`
//! (AddOffsetsToTxn, then TxnOffsetCommit at the group's coordinator with the consumer's
//! group metadata), `commit_transaction` (flush, then EndTxn) and `abort_transaction`.
//!
//! Errors are classified as librdkafka does: a fenced producer (PRODUCER_FENCED,
//! INVALID_PRODUCER_EPOCH) and refusals of the coordinator's state are **fatal** (the
//! instance is done; a new one must `init_transactions`, fencing it); a failed or expired
//! send and a refused offset commit are **abortable** (the application aborts and goes
//! on); an unavailable coordinator is retried until the call's timeout, after which the
//! outcome of the last request is unknown ([`TxnErrorKind::Timeout`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    GroupId, InitProducerIdRequest, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::state::{lock, TopicPartition, TxnPhase};
use super::{Inner, Producer};
use crate::conn::Connection;
use crate::error::ClientError;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A consumer group member's identity, for [`Producer::send_offsets_to_transaction`]
/// (librdkafka's `consumer_group_metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
}

/// How a transactional call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnErrorKind {
    /// The transaction cannot commit: abort it, then the producer goes on.
    Abortable,
    /// The producer cannot go on (fenced, or the coordinator refused its state): drop it;
    /// a new instance with the same transactional id fences it and starts over.
    Fatal,
    /// No answer before the call's timeout: the last request's effect is unknown. The call
    /// may be retried.
    Timeout,
}

/// A transactional call's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} transaction error: {reason}")]
pub struct TxnError {
    pub kind: TxnErrorKind,
    pub reason: String,
    /// The broker's error code, when a broker named the error.
    pub code: Option<i16>,
    /// A request of this call may have been applied even though the call failed (an
    /// attempt timed out, lost its connection, or found the coordinator unavailable).
    pub maybe_applied: bool,
}

impl TxnError {
    fn new(kind: TxnErrorKind, reason: impl Into<String>, code: Option<i16>) -> TxnError {
        TxnError {
            kind,
            reason: reason.into(),
            code,
            maybe_applied: false,
        }
    }

    pub fn is_fatal(&self) -> bool {
        self.kind == TxnErrorKind::Fatal
    }

    pub fn is_abortable(&self) -> bool {
        self.kind == TxnErrorKind::Abortable
    }
}

/// What an error code from a transaction coordinator means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Try again (after finding the coordinator again).
    Retry,
    Abortable,
    Fatal,
}

fn classify(code: i16) -> Class {
    use ResponseError as E;
    match ResponseError::try_from_code(code) {
        Some(
            E::CoordinatorNotAvailable
            | E::NotCoordinator
            | E::CoordinatorLoadInProgress
            | E::ConcurrentTransactions
            | E::RequestTimedOut
            | E::NotEnoughReplicas
            | E::NotEnoughReplicasAfterAppend,
        ) => Class::Retry,
        Some(
            E::ProducerFenced
            | E::InvalidProducerEpoch
            | E::InvalidProducerIdMapping
            | E::InvalidTxnState
            | E::TransactionalIdAuthorizationFailed
            | E::InvalidTransactionTimeout
            | E::UnsupportedVersion
            | E::UnsupportedForMessageFormat
            | E::ClusterAuthorizationFailed
            | E::TransactionalIdNotFound,
        ) => Class::Fatal,
        Some(e) if e.is_retriable() => Class::Retry,
        _ => Class::Abortable,
    }
}

/// Codes after which the request may have been applied: the coordinator could not tell
/// (the control plane had no leader to confirm it, or the request timed out there).
fn ambiguous(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(ResponseError::CoordinatorNotAvailable | ResponseError::RequestTimedOut)
    )
}

fn name(code: i16) -> String {
    ResponseError::try_from_code(code).map_or_else(|| format!("error {code}"), |e| e.to_string())
}

/// One attempt's outcome, for the retry loop.
enum Attempt<T> {
    Done(T),
    /// A broker error code.
    Code(i16),
    /// The request failed at the client (connection, timeout).
    Client(ClientError),
}

impl Inner {
    fn transactional_id(&self) -> Result<&str, TxnError> {
        self.config.transactional_id.as_deref().ok_or_else(|| {
            TxnError::new(
                TxnErrorKind::Fatal,
                "not a transactional producer (no transactional_id)",
                None,
            )
        })
    }

    /// FindCoordinator for `key` (`key_type` 1: a transactional id; 0: a group).
    async fn find_coordinator(&self, key: &str, key_type: i8) -> Result<SocketAddr, ClientError> {
        let conn = self.cluster.any_connection().await?;
        let resp = match conn
            .request(
                &FindCoordinatorRequest::default()
                    .with_key(sb(key))
                    .with_key_type(key_type),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.cluster.drop_connection(conn.addr()).await;
                return Err(e);
            }
        };
        if let Some(e) = ResponseError::try_from_code(resp.error_code) {
            return Err(ClientError::Broker(e));
        }
        let endpoint = format!("{}:{}", resp.host.as_str(), resp.port);
        endpoint
            .parse()
            .map_err(|_| ClientError::Protocol(format!("coordinator address {endpoint}")))
    }

    /// A connection to the transaction coordinator, found when not known.
    async fn txn_coordinator(&self) -> Result<Arc<Connection>, ClientError> {
        let known = *lock(&self.txn_coordinator);
        let addr = match known {
            Some(a) => a,
            None => {
                let id = self.config.transactional_id.clone().unwrap_or_default();
                let a = self.find_coordinator(&id, 1).await?;
                *lock(&self.txn_coordinator) = Some(a);
                a
            }
        };
        self.cluster.connection(addr).await
    }

    /// Forget the coordinator (and its connection): the next call looks it up again.
    async fn lost_txn_coordinator(&self) {
        let addr = lock(&self.txn_coordinator).take();
        if let Some(a) = addr {
            self.cluster.drop_connection(a).await;
        }
    }

    fn producer(&self) -> Result<(i64, i16), TxnError> {
        lock(&self.state)
            .producer
            .ok_or_else(|| TxnError::new(TxnErrorKind::Fatal, "init_transactions not done", None))
    }

    /// Runs `attempt` against the transaction coordinator until it answers, a non-retriable
    /// error comes back, or `deadline` passes.
    async fn with_retries<T, F, Fut>(
        &self,
        what: &str,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T, TxnError>
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let backoff = Duration::from_millis(self.config.retry_backoff_ms.max(1));
        let mut maybe_applied = false;
        let mut last: (String, Option<i16>);
        loop {
            let outcome = match self.txn_coordinator().await {
                Ok(conn) => attempt(conn).await,
                Err(e) => Attempt::Client(e),
            };
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Code(code) => {
                    let class = classify(code);
                    maybe_applied |= ambiguous(code);
                    last = (format!("{what}: {}", name(code)), Some(code));
                    match class {
                        Class::Retry => {
                            if matches!(
                                ResponseError::try_from_code(code),
                                Some(
                                    ResponseError::NotCoordinator
                                        | ResponseError::CoordinatorNotAvailable
                                )
                            ) {
                                self.lost_txn_coordinator().await;
                            }
                        }
                        Class::Abortable | Class::Fatal => {
                            let kind = if class == Class::Fatal {
                                TxnErrorKind::Fatal
                            } else {
                                TxnErrorKind::Abortable
                            };
                            return Err(TxnError {
                                kind,
                                reason: last.0,
                                code: Some(code),
                                maybe_applied,
                            });
                        }
                    }
                }
                Attempt::Client(e) => {
                    maybe_applied |= e.may_have_been_processed();
                    if matches!(e, ClientError::UnsupportedVersion(_)) {
                        return Err(TxnError {
                            kind: TxnErrorKind::Fatal,
                            reason: format!("{what}: {e}"),
                            code: None,
                            maybe_applied,
                        });
                    }
                    last = (format!("{what}: {e}"), None);
                    self.lost_txn_coordinator().await;
                }
            }
            if Instant::now() + backoff >= deadline {
                return Err(TxnError {
                    kind: TxnErrorKind::Timeout,
                    reason: last.0,
                    code: last.1,
                    maybe_applied,
                });
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// InitProducerId with the transactional id; `expected`: the id and epoch held (an
    /// epoch bump, KIP-360).
    async fn init_producer(
        &self,
        expected: Option<(i64, i16)>,
        deadline: Instant,
    ) -> Result<(i64, i16), TxnError> {
        let id = self.transactional_id()?.to_string();
        let timeout_ms = i32::try_from(self.config.transaction_timeout_ms).unwrap_or(i32::MAX);
        let (pid, epoch) = expected.unwrap_or((-1, -1));
        let got = self
            .with_retries("InitProducerId", deadline, |conn| {
                let request = InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(sb(&id))))
                    .with_transaction_timeout_ms(timeout_ms)
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch);
                async move {
                    match conn.request(&request).await {
                        Ok(r) if r.error_code == 0 => {
                            Attempt::Done((r.producer_id.0, r.producer_epoch))
                        }
                        Ok(r) => Attempt::Code(r.error_code),
                        Err(e) => Attempt::Client(e),
                    }
                }
            })
            .await;
        let got = got.map_err(|mut e| {
            // An InitProducerId that failed for any reason leaves the producer unusable.
            if e.kind == TxnErrorKind::Abortable {
                e.kind = TxnErrorKind::Fatal;
            }
            e
        })?;
        let mut st = lock(&self.state);
        st.new_epoch(got);
        st.txn.phase = TxnPhase::Ready;
        st.txn.added.clear();
        Ok(got)
    }

    async fn end_txn(&self, commit: bool, deadline: Instant) -> Result<(), TxnError> {
        let id = self.transactional_id()?.to_string();
        let (pid, epoch) = self.producer()?;
        self.with_retries("EndTxn", deadline, |conn| {
            let request = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(sb(&id)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit);
            async move {
                match conn.request(&request).await {
                    Ok(r) if r.error_code == 0 => Attempt::Done(()),
                    Ok(r) => Attempt::Code(r.error_code),
                    Err(e) => Attempt::Client(e),
                }
            }
        })
        .await
    }

    /// The state a call needs, as an error when the transaction already failed.
    fn phase_error(&self) -> Option<TxnError> {
        match &lock(&self.state).txn.phase {
            TxnPhase::Fatal(why, code) => {
                Some(TxnError::new(TxnErrorKind::Fatal, why.clone(), *code))
            }
            TxnPhase::Abortable(why, code) => {
                Some(TxnError::new(TxnErrorKind::Abortable, why.clone(), *code))
            }
            _ => None,
        }
    }

    fn fail(&self, e: &TxnError) {
        if matches!(e.kind, TxnErrorKind::Abortable | TxnErrorKind::Fatal) {
            lock(&self.state).fail_transaction(e.reason.clone(), e.is_fatal(), e.code);
            self.progress.send_modify(|g| *g += 1);
        }
    }
}

/// AddPartitionsToTxn for `partitions` (the sender task calls it before their first
/// batches of the transaction go out). False when the call must be retried later.
pub(super) async fn add_partitions(inner: &Arc<Inner>, partitions: Vec<TopicPartition>) -> bool {
    let Ok(id) = inner.transactional_id().map(str::to_string) else {
        return true;
    };
    let Ok((pid, epoch)) = inner.producer() else {
        return true;
    };
    lock(&inner.state).txn.registered = true;
    let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for (t, p) in &partitions {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(sb(&id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(sb(t)))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let answer = match inner.txn_coordinator().await {
        Ok(conn) => conn.request(&request).await,
        Err(e) => Err(e),
    };
    let resp = match answer {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "AddPartitionsToTxn failed; retrying");
            inner.lost_txn_coordinator().await;
            return false;
        }
    };
    // The worst code of any partition decides.
    let mut worst: Option<(Class, i16)> = None;
    for t in &resp.results_by_topic_v3_and_below {
        for p in &t.results_by_partition {
            let code = p.partition_error_code;
            if code == 0 {
                continue;
            }
            let class = classify(code);
            let rank = |c: Class| match c {
                Class::Retry => 0,
                Class::Abortable => 1,
                Class::Fatal => 2,
            };
            if worst.is_none_or(|(w, _)| rank(class) > rank(w)) {
                worst = Some((class, code));
            }
        }
    }
    match worst {
        None => {
            let mut st = lock(&inner.state);
            if st.txn.phase == TxnPhase::InTransaction {
                st.txn.added.extend(partitions);
            }
            inner.wake.notify_one();
            true
        }
        Some((Class::Retry, code)) => {
            if ResponseError::try_from_code(code) != Some(ResponseError::ConcurrentTransactions) {
                inner.lost_txn_coordinator().await;
            }
            false
        }
        Some((class, code)) => {
            let e = TxnError::new(
                if class == Class::Fatal {
                    TxnErrorKind::Fatal
                } else {
                    TxnErrorKind::Abortable
                },
                format!("AddPartitionsToTxn: {}", name(code)),
                Some(code),
            );
            inner.fail(&e);
            true
        }
    }
}

impl Producer {
    /// InitProducerId with the transactional id: a producer id and a new epoch, which
    /// fences every earlier instance (the coordinator aborts what they left open).
    /// Retried while the coordinator is unavailable, for at most `timeout`.
    pub async fn init_transactions(&self, timeout: Duration) -> Result<(i64, i16), TxnError> {
        self.inner
            .init_producer(None, Instant::now() + timeout)
            .await
    }

    /// Opens a transaction: records may be sent until it is committed or aborted.
    pub fn begin_transaction(&self) -> Result<(), TxnError> {
        let mut st = lock(&self.inner.state);
        match &st.txn.phase {
            TxnPhase::Ready => {
                st.txn.phase = TxnPhase::InTransaction;
                st.txn.added.clear();
                st.txn.registered = false;
                Ok(())
            }
            TxnPhase::Fatal(why, code) => {
                Err(TxnError::new(TxnErrorKind::Fatal, why.clone(), *code))
            }
            other => Err(TxnError::new(
                TxnErrorKind::Fatal,
                format!("begin_transaction in state {other:?}"),
                None,
            )),
        }
    }

    /// Commits `offsets` ((topic, partition, next offset to read)) for `group` in the open
    /// transaction: AddOffsetsToTxn, then TxnOffsetCommit at the group's coordinator. They
    /// apply only if the transaction commits. A refusal by the group (a stale member) is
    /// abortable.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(String, i32, i64)],
        group: &GroupMetadata,
        timeout: Duration,
    ) -> Result<(), TxnError> {
        let inner = &self.inner;
        if let Some(e) = inner.phase_error() {
            return Err(e);
        }
        let deadline = Instant::now() + timeout;
        let id = inner.transactional_id()?.to_string();
        let (pid, epoch) = inner.producer()?;
        lock(&inner.state).txn.registered = true;
        let added = inner
            .with_retries("AddOffsetsToTxn", deadline, |conn| {
                let request = AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(sb(&id)))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .with_group_id(GroupId(sb(&group.group_id)));
                async move {
                    match conn.request(&request).await {
                        Ok(r) if r.error_code == 0 => Attempt::Done(()),
                        Ok(r) => Attempt::Code(r.error_code),
                        Err(e) => Attempt::Client(e),
                    }
                }
            })
            .await;
        if let Err(e) = added {
            inner.fail(&e);
            return Err(e);
        }
        let mut topics: std::collections::BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> =
            Default::default();
        for (t, p, o) in offsets {
            topics.entry(t.as_str()).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(-1),
            );
        }
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(sb(&id)))
            .with_group_id(GroupId(sb(&group.group_id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(group.generation_id)
            .with_member_id(sb(&group.member_id))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        // At the group's coordinator, retried while it is unavailable.
        let backoff = Duration::from_millis(inner.config.retry_backoff_ms.max(1));
        let mut maybe_applied = false;
        loop {
            let attempt = async {
                let addr = inner.find_coordinator(&group.group_id, 0).await?;
                let conn = inner.cluster.connection(addr).await?;
                match conn.request(&request).await {
                    Ok(r) => Ok(r),
                    Err(e) => {
                        inner.cluster.drop_connection(addr).await;
                        Err(e)
                    }
                }
            };
            let (reason, code) = match attempt.await {
                Ok(resp) => {
                    let code = resp
                        .topics
                        .iter()
                        .flat_map(|t| t.partitions.iter())
                        .map(|p| p.error_code)
                        .find(|c| *c != 0);
                    match code {
                        None => return Ok(()),
                        Some(code) => {
                            maybe_applied |= ambiguous(code);
                            let class = classify(code);
                            if class != Class::Retry {
                                let e = TxnError {
                                    kind: if class == Class::Fatal {
                                        TxnErrorKind::Fatal
                                    } else {
                                        TxnErrorKind::Abortable
                                    },
                                    reason: format!("TxnOffsetCommit: {}", name(code)),
                                    code: Some(code),
                                    maybe_applied,
                                };
                                inner.fail(&e);
                                return Err(e);
                            }
                            (format!("TxnOffsetCommit: {}", name(code)), Some(code))
                        }
                    }
                }
                Err(e) => {
                    maybe_applied |= e.may_have_been_processed();
                    (format!("TxnOffsetCommit: {e}"), None)
                }
            };
            if Instant::now() + backoff >= deadline {
                return Err(TxnError {
                    kind: TxnErrorKind::Timeout,
                    reason,
                    code,
                    maybe_applied,
                });
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// Sends every record of the transaction and waits for their outcomes, then commits
    /// it (EndTxn). A failed send makes it abortable: nothing is committed.
    pub async fn commit_transaction(&self, timeout: Duration) -> Result<(), TxnError> {
        let deadline = Instant::now() + timeout;
        if let Some(e) = self.inner.phase_error() {
            return Err(e);
        }
        if lock(&self.inner.state).txn.phase != TxnPhase::InTransaction {
            return Err(TxnError::new(
                TxnErrorKind::Fatal,
                "commit_transaction without a transaction",
                None,
            ));
        }
        self.flush().await;
        if let Some(e) = self.inner.phase_error() {
            return Err(e);
        }
        if !lock(&self.inner.state).txn.registered {
            // Nothing reached the coordinator: nothing to commit.
            self.finish_transaction();
            return Ok(());
        }
        match self.inner.end_txn(true, deadline).await {
            Ok(()) => {
                self.finish_transaction();
                Ok(())
            }
            Err(e) => {
                self.inner.fail(&e);
                Err(e)
            }
        }
    }

    /// Aborts the open transaction: records not sent yet fail, those in flight are waited
    /// for, then EndTxn (abort). After a failed batch the epoch is bumped too
    /// (InitProducerId with the current id and epoch), since the partitions' sequences are
    /// unknown.
    pub async fn abort_transaction(&self, timeout: Duration) -> Result<(), TxnError> {
        let deadline = Instant::now() + timeout;
        {
            let mut st = lock(&self.inner.state);
            match &st.txn.phase {
                TxnPhase::Fatal(why, code) => {
                    return Err(TxnError::new(TxnErrorKind::Fatal, why.clone(), *code))
                }
                TxnPhase::InTransaction | TxnPhase::Abortable(..) => {}
                _ => return Ok(()),
            }
            st.fail_queued("transaction aborted");
        }
        self.inner.progress.send_modify(|g| *g += 1);
        self.flush().await;
        if let Some(e) = self.inner.phase_error().filter(|e| e.is_fatal()) {
            return Err(e);
        }
        let registered = lock(&self.inner.state).txn.registered;
        if registered {
            if let Err(mut e) = self.inner.end_txn(false, deadline).await {
                if e.kind == TxnErrorKind::Abortable {
                    e.kind = TxnErrorKind::Fatal;
                }
                self.inner.fail(&e);
                return Err(e);
            }
        }
        let (bump, held) = {
            let st = lock(&self.inner.state);
            (st.txn.bump_epoch, st.producer)
        };
        if bump {
            self.inner.init_producer(held, deadline).await?;
        }
        self.finish_transaction();
        Ok(())
    }

    fn finish_transaction(&self) {
        let mut st = lock(&self.inner.state);
        st.txn.phase = TxnPhase::Ready;
        st.txn.added.clear();
        st.txn.registered = false;
    }

    /// The transactional id, if this is a transactional producer.
    pub fn transactional_id(&self) -> Option<&str> {
        self.inner.config.transactional_id.as_deref()
    }
}
