//! The producer's accumulator: per-partition queues of batches, which batches are in flight,
//! and the decisions "what to send now" (`plan`) and "what a produce answer means for each
//! batch" (`finish`). Pure bookkeeping under one mutex; the sender task does the I/O.
//!
//! Invariants: a partition's queue is ordered by batch id (creation order); a batch that
//! was attempted before is resent only when none of its partition's batches is in flight,
//! so retries keep their order; an outcome is reported as definitely failed only if no
//! attempt could have been written.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::ProducerConfig;
use crate::cluster::Cluster;
use crate::error::{needs_metadata_refresh, ClientError, SendError};
use crate::records::{encode_batch, record_size, OutRecord, BATCH_HEADER_BYTES};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// (topic, partition).
pub(crate) type TopicPartition = (String, i32);

type Reply = oneshot::Sender<Delivery>;

/// What became of one record: its outcome and the produce requests that carried it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The record's offset, or why it has none.
    pub result: Result<i64, SendError>,
    /// Produce requests that carried the record's batch: 1 = never retried, 0 = never sent.
    pub attempts: u32,
    /// The broker the last of them went to.
    pub broker: Option<SocketAddr>,
}

/// Error codes that mean the broker did not append the batch.
fn definitely_not_written(code: i16) -> bool {
    use ResponseError as E;
    matches!(
        ResponseError::try_from_code(code),
        Some(
            E::CorruptMessage
                | E::UnknownTopicOrPartition
                | E::LeaderNotAvailable
                | E::NotLeaderOrFollower
                | E::MessageTooLarge
                | E::InvalidTopicException
                | E::RecordListTooLarge
                | E::NotEnoughReplicas
                | E::InvalidRequiredAcks
                | E::TopicAuthorizationFailed
                | E::ClusterAuthorizationFailed
                | E::InvalidTimestamp
                | E::UnsupportedVersion
                | E::UnsupportedForMessageFormat
                | E::OutOfOrderSequenceNumber
                | E::InvalidProducerEpoch
                | E::UnknownProducerId
                | E::InvalidRecord
                | E::InvalidRequest
                | E::FencedLeaderEpoch
                | E::UnknownLeaderEpoch
                | E::ThrottlingQuotaExceeded
                | E::InvalidTxnState
                | E::ProducerFenced
                | E::InvalidProducerIdMapping
        )
    )
}

/// Kafka's sequence arithmetic: sequences wrap from i32::MAX to 0.
fn next_sequence(seq: i32, count: i32) -> i32 {
    if seq > i32::MAX - count {
        count - (i32::MAX - seq) - 1
    } else {
        seq + count
    }
}

struct PendingRecord {
    key: Option<Bytes>,
    value: Bytes,
    timestamp: i64,
    reply: Reply,
}

/// A batch as sent (kept for retries with the same sequence).
pub(crate) struct Encoded {
    pub(crate) bytes: Bytes,
}

/// Records of one partition sent together.
pub(crate) struct Batch {
    id: u64,
    records: Vec<PendingRecord>,
    bytes: usize,
    created: Instant,
    sealed: bool,
    attempts: u32,
    /// The broker of the latest attempt.
    last_addr: Option<SocketAddr>,
    maybe_written: bool,
    not_before: Option<Instant>,
    pub(crate) encoded: Option<Encoded>,
}

impl Batch {
    fn error(&self, reason: String, error_code: Option<i16>) -> SendError {
        if self.maybe_written {
            SendError::Indeterminate { reason }
        } else {
            SendError::Failed { reason, error_code }
        }
    }

    fn fail(self, error: SendError) {
        for r in self.records {
            let _ = r.reply.send(Delivery {
                result: Err(error.clone()),
                attempts: self.attempts,
                broker: self.last_addr,
            });
        }
    }

    fn succeed(self, base_offset: i64) {
        for (i, r) in self.records.into_iter().enumerate() {
            let _ = r.reply.send(Delivery {
                result: Ok(base_offset + i as i64),
                attempts: self.attempts,
                broker: self.last_addr,
            });
        }
    }
}

#[derive(Default)]
struct PartitionQueue {
    queue: VecDeque<Batch>,
    in_flight: BTreeSet<u64>,
    next_sequence: i32,
}

impl PartitionQueue {
    fn has_earlier(&self, id: u64) -> bool {
        self.in_flight.range(..id).next().is_some() || self.queue.iter().any(|b| b.id < id)
    }

    fn requeue(&mut self, batch: Batch) {
        let at = self
            .queue
            .iter()
            .position(|b| b.id > batch.id)
            .unwrap_or(self.queue.len());
        self.queue.insert(at, batch);
    }
}

/// One produce request to send.
pub(crate) struct ProduceJob {
    pub(crate) addr: SocketAddr,
    pub(crate) batches: Vec<(TopicPartition, Batch)>,
}

/// What the sender should do next.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) jobs: Vec<ProduceJob>,
    /// Topics whose leaders must be looked up.
    pub(crate) refresh: Vec<String>,
    /// When to look again even if nothing wakes the sender.
    pub(crate) next_deadline: Option<Instant>,
    /// Some batches got their outcome (expired) while planning.
    pub(crate) completed: bool,
}

/// The answer for one batch of a produce request.
pub(crate) enum Outcome {
    /// Appended at `base_offset`.
    Acked { base_offset: i64 },
    /// The broker answered with an error code for this partition.
    BrokerError { code: i16, message: String },
    /// The whole request failed.
    RequestFailed { error: ClientError },
}

impl Outcome {
    pub(crate) fn needs_metadata_refresh(&self) -> bool {
        match self {
            Outcome::Acked { .. } => false,
            Outcome::BrokerError { code, .. } => needs_metadata_refresh(*code),
            Outcome::RequestFailed { error } => error.needs_metadata_refresh(),
        }
    }
}

fn min_deadline(slot: &mut Option<Instant>, at: Instant) {
    *slot = Some(slot.map_or(at, |d| d.min(at)));
}

/// All producer bookkeeping.
#[derive(Default)]
pub(crate) struct State {
    partitions: BTreeMap<TopicPartition, PartitionQueue>,
    broker_in_flight: BTreeMap<SocketAddr, usize>,
    in_flight_total: usize,
    next_batch_id: u64,
    /// (producer id, epoch) of an idempotent producer.
    pub(crate) producer: Option<(i64, i16)>,
    /// A sequenced batch failed: get a new producer id once nothing is in flight.
    reset_producer: bool,
    /// Number of `flush` calls waiting: makes every batch ready at once.
    pub(crate) flushing: usize,
    closed: bool,
    next_metadata_refresh: Option<Instant>,
    /// A transactional producer's transaction state.
    pub(crate) txn: TxnState,
}

/// Where a transactional producer stands (librdkafka's transaction states, simplified).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum TxnPhase {
    /// No producer id yet (`init_transactions` not done).
    #[default]
    Uninit,
    /// Initialised, no transaction open.
    Ready,
    /// `begin_transaction` was called: records may be sent.
    InTransaction,
    /// A send or a request of the transaction failed: it can only be aborted. With the
    /// broker's error code, when one named the failure.
    Abortable(String, Option<i16>),
    /// Fenced or refused for good: the producer cannot go on.
    Fatal(String, Option<i16>),
}

/// The transaction bookkeeping of a transactional producer.
#[derive(Debug, Default)]
pub(crate) struct TxnState {
    pub(crate) phase: TxnPhase,
    /// Partitions added to the open transaction (AddPartitionsToTxn answered).
    pub(crate) added: BTreeSet<TopicPartition>,
    /// A batch failed: the next abort must bump the epoch (the sequences are unknown).
    pub(crate) bump_epoch: bool,
    /// A request of the open transaction went to the coordinator (it has something to end).
    pub(crate) registered: bool,
}

impl State {
    /// Adds a record to its partition's open batch (or a new one).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &mut self,
        config: &ProducerConfig,
        topic: &str,
        partition: i32,
        key: Option<Bytes>,
        value: Bytes,
        timestamp: i64,
        now: Instant,
        reply: Reply,
    ) {
        let refused = if self.closed {
            Some("producer closed".to_string())
        } else if config.transactional_id.is_some() {
            match &self.txn.phase {
                TxnPhase::InTransaction => None,
                TxnPhase::Abortable(why, _) | TxnPhase::Fatal(why, _) => {
                    Some(format!("transaction failed: {why}"))
                }
                _ => Some("no transaction open (begin_transaction)".to_string()),
            }
        } else {
            None
        };
        if let Some(reason) = refused {
            let _ = reply.send(Delivery {
                result: Err(SendError::Failed {
                    reason,
                    error_code: None,
                }),
                attempts: 0,
                broker: None,
            });
            return;
        }
        let size = record_size(key.as_ref(), &value);
        let pq = self
            .partitions
            .entry((topic.to_string(), partition))
            .or_default();
        let fits = match pq.queue.back_mut() {
            Some(b) if !b.sealed && b.bytes + size <= config.batch_max_bytes => true,
            Some(b) => {
                b.sealed = true;
                false
            }
            None => false,
        };
        if !fits {
            let id = self.next_batch_id;
            self.next_batch_id += 1;
            pq.queue.push_back(Batch {
                id,
                records: Vec::new(),
                bytes: BATCH_HEADER_BYTES,
                created: now,
                sealed: false,
                attempts: 0,
                last_addr: None,
                maybe_written: false,
                not_before: None,
                encoded: None,
            });
        }
        if let Some(b) = pq.queue.back_mut() {
            b.bytes += size;
            b.records.push(PendingRecord {
                key,
                value,
                timestamp,
                reply,
            });
            if b.bytes >= config.batch_max_bytes {
                b.sealed = true;
            }
        }
    }

    /// Nothing queued and nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight_total == 0 && self.partitions.values().all(|p| p.queue.is_empty())
    }

    /// Whether any record waits to be sent.
    pub(crate) fn has_queued(&self) -> bool {
        self.partitions.values().any(|p| !p.queue.is_empty())
    }

    /// True if an idempotent producer must (re)acquire its producer id now (a
    /// transactional producer gets its id from `init_transactions` only).
    pub(crate) fn needs_producer_id(&self, config: &ProducerConfig) -> bool {
        config.idempotent
            && config.transactional_id.is_none()
            && !self.closed
            && self.producer.is_none()
            && !self.reset_producer
    }

    /// A transactional producer's transaction failed: every record not sent yet fails
    /// (never written), and the phase says why (unless it is already fatal).
    pub(crate) fn fail_transaction(&mut self, why: String, fatal: bool, code: Option<i16>) -> bool {
        match (&self.txn.phase, fatal) {
            (TxnPhase::Fatal(..), _) => {}
            (_, true) => self.txn.phase = TxnPhase::Fatal(why.clone(), code),
            (TxnPhase::InTransaction, false) => {
                self.txn.phase = TxnPhase::Abortable(why.clone(), code)
            }
            _ => {}
        }
        self.fail_queued(&why)
    }

    /// Fails every batch not in flight; those attempted before fail as indeterminate.
    /// Returns true if any did.
    pub(crate) fn fail_queued(&mut self, why: &str) -> bool {
        let mut any = false;
        for pq in self.partitions.values_mut() {
            for b in std::mem::take(&mut pq.queue) {
                any = true;
                if b.encoded.is_some() {
                    self.txn.bump_epoch = true;
                }
                let e = b.error(format!("transaction failed: {why}"), None);
                b.fail(e);
            }
        }
        any
    }

    /// A new producer id or epoch: every partition's sequence starts over.
    pub(crate) fn new_epoch(&mut self, producer: (i64, i16)) {
        self.producer = Some(producer);
        self.reset_producer = false;
        self.txn.bump_epoch = false;
        for pq in self.partitions.values_mut() {
            pq.next_sequence = 0;
        }
    }

    /// Partitions with records waiting that are not in the open transaction yet (and
    /// whose leader is known: the topic exists).
    pub(crate) fn partitions_to_add(&self, cluster: &Cluster) -> Vec<TopicPartition> {
        if self.txn.phase != TxnPhase::InTransaction {
            return Vec::new();
        }
        self.partitions
            .iter()
            .filter(|(tp, pq)| !pq.queue.is_empty() && !self.txn.added.contains(*tp))
            .filter(|(tp, _)| cluster.leader_addr(&tp.0, tp.1).is_some())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Stops accepting records and fails every batch not in flight.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        for pq in self.partitions.values_mut() {
            for b in std::mem::take(&mut pq.queue) {
                let e = b.error("producer closed".to_string(), None);
                b.fail(e);
            }
        }
    }

    /// After a sequenced batch failed: once nothing is in flight, forget the producer id
    /// and the sequences. Queued batches that may already be written cannot be resent
    /// under a new id without risking a duplicate, so they fail as indeterminate.
    /// Returns true if batches completed.
    pub(crate) fn reset_producer_if_due(&mut self) -> bool {
        if !self.reset_producer || self.in_flight_total > 0 {
            return false;
        }
        self.reset_producer = false;
        self.producer = None;
        let mut completed = false;
        for pq in self.partitions.values_mut() {
            pq.next_sequence = 0;
            let mut kept = VecDeque::new();
            for mut b in std::mem::take(&mut pq.queue) {
                if b.maybe_written {
                    completed = true;
                    let e = b.error("producer id reset after a failed batch".to_string(), None);
                    b.fail(e);
                } else {
                    b.encoded = None;
                    kept.push_back(b);
                }
            }
            pq.queue = kept;
        }
        completed
    }

    /// Fails expired batches and takes the batches that should be sent now, grouped into
    /// one produce request per broker.
    pub(crate) fn plan(
        &mut self,
        config: &ProducerConfig,
        cluster: &Cluster,
        now: Instant,
    ) -> Plan {
        let mut plan = Plan::default();
        let linger = Duration::from_millis(config.linger_ms);
        let delivery = Duration::from_millis(config.delivery_timeout_ms);
        let mut per_broker: BTreeMap<SocketAddr, Vec<(TopicPartition, Batch)>> = BTreeMap::new();
        let mut refresh = BTreeSet::new();
        let mut needs_reset = false;
        let mut expired_in_txn = false;
        let transactional = config.transactional_id.is_some();
        let waiting_for_id = (config.idempotent || transactional)
            && (self.producer.is_none() || (self.reset_producer && !transactional));
        let send_all = self.flushing > 0 || self.closed;
        for (tp, pq) in self.partitions.iter_mut() {
            let mut i = 0;
            while i < pq.queue.len() {
                let deadline = pq.queue[i].created + delivery;
                if now >= deadline {
                    if let Some(b) = pq.queue.remove(i) {
                        needs_reset |= (config.idempotent || transactional) && b.encoded.is_some();
                        expired_in_txn |= transactional;
                        let e = b.error("delivery timeout expired".to_string(), None);
                        b.fail(e);
                        plan.completed = true;
                    }
                } else {
                    min_deadline(&mut plan.next_deadline, deadline);
                    i += 1;
                }
            }
            let Some(front) = pq.queue.front() else {
                continue;
            };
            if waiting_for_id
                || (front.attempts > 0 && !pq.in_flight.is_empty())
                || pq.in_flight.len() >= config.max_in_flight
            {
                continue;
            }
            if !(front.sealed || send_all) && now < front.created + linger {
                min_deadline(&mut plan.next_deadline, front.created + linger);
                continue;
            }
            if let Some(at) = front.not_before {
                if now < at {
                    min_deadline(&mut plan.next_deadline, at);
                    continue;
                }
            }
            let Some(addr) = cluster.leader_addr(&tp.0, tp.1) else {
                refresh.insert(tp.0.clone());
                continue;
            };
            // A transactional batch waits until its partition is in the transaction.
            if transactional && !self.txn.added.contains(tp) {
                continue;
            }
            let used = self.broker_in_flight.get(&addr).copied().unwrap_or(0);
            if !per_broker.contains_key(&addr) && used >= config.max_in_flight {
                continue;
            }
            let Some(mut batch) = pq.queue.pop_front() else {
                continue;
            };
            batch.sealed = true;
            if batch.encoded.is_none() {
                let count = batch.records.len() as i32;
                let sequenced = config.idempotent || transactional;
                let (pid, epoch, base_sequence) = match (sequenced, self.producer) {
                    (true, Some((pid, epoch))) => (pid, epoch, pq.next_sequence),
                    _ => (-1, -1, -1),
                };
                let out: Vec<OutRecord> = batch
                    .records
                    .iter()
                    .map(|r| OutRecord {
                        key: r.key.clone(),
                        value: r.value.clone(),
                        timestamp: r.timestamp,
                    })
                    .collect();
                let transactional = config.transactional_id.is_some();
                match encode_batch(
                    &out,
                    pid,
                    epoch,
                    base_sequence,
                    transactional,
                    config.compression.codec(),
                ) {
                    Ok(bytes) => {
                        if base_sequence >= 0 {
                            pq.next_sequence = next_sequence(base_sequence, count);
                        }
                        batch.encoded = Some(Encoded { bytes });
                    }
                    Err(reason) => {
                        let e = batch.error(reason, None);
                        batch.fail(e);
                        plan.completed = true;
                        continue;
                    }
                }
            }
            batch.attempts += 1;
            batch.last_addr = Some(addr);
            pq.in_flight.insert(batch.id);
            per_broker
                .entry(addr)
                .or_default()
                .push((tp.clone(), batch));
        }
        for (addr, batches) in per_broker {
            *self.broker_in_flight.entry(addr).or_default() += 1;
            self.in_flight_total += 1;
            plan.jobs.push(ProduceJob { addr, batches });
        }
        if needs_reset {
            if transactional {
                self.txn.bump_epoch = true;
            } else {
                self.reset_producer = true;
            }
        }
        if expired_in_txn {
            plan.completed |=
                self.fail_transaction("delivery timeout expired".to_string(), false, None);
        }
        if !refresh.is_empty() {
            match self.next_metadata_refresh {
                Some(at) if now < at => min_deadline(&mut plan.next_deadline, at),
                _ => {
                    plan.refresh = refresh.into_iter().collect();
                    self.next_metadata_refresh =
                        Some(now + Duration::from_millis(config.retry_backoff_ms));
                }
            }
        }
        plan
    }

    /// Applies the answer of a produce request: completes, retries or fails each batch.
    pub(crate) fn finish(
        &mut self,
        config: &ProducerConfig,
        addr: SocketAddr,
        outcomes: Vec<(TopicPartition, Batch, Outcome)>,
        now: Instant,
    ) {
        if let Some(n) = self.broker_in_flight.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.broker_in_flight.remove(&addr);
            }
        }
        self.in_flight_total = self.in_flight_total.saturating_sub(1);
        let mut txn_failure: Option<(String, bool, Option<i16>)> = None;
        for (tp, mut batch, outcome) in outcomes {
            let pq = self.partitions.entry(tp.clone()).or_default();
            pq.in_flight.remove(&batch.id);
            let (retriable, reason, code) = match outcome {
                Outcome::Acked { base_offset } if base_offset >= 0 => {
                    batch.succeed(base_offset);
                    continue;
                }
                Outcome::Acked { .. } => {
                    batch.maybe_written = true;
                    (false, "acknowledged without an offset".to_string(), None)
                }
                Outcome::BrokerError { code, message } => {
                    if !definitely_not_written(code) {
                        batch.maybe_written = true;
                    }
                    let err = ResponseError::try_from_code(code);
                    let out_of_order = err == Some(ResponseError::OutOfOrderSequenceNumber);
                    let retriable = err.is_some_and(|e| e.is_retriable())
                        || (out_of_order && pq.has_earlier(batch.id));
                    let name = err.map_or_else(|| code.to_string(), |e| e.to_string());
                    (
                        retriable,
                        format!("{tp:?}: broker error {name} {message}"),
                        Some(code),
                    )
                }
                Outcome::RequestFailed { error } => {
                    if error.may_have_been_processed() {
                        batch.maybe_written = true;
                    }
                    let retriable = !matches!(
                        error,
                        ClientError::UnsupportedVersion(_) | ClientError::Config(_)
                    );
                    (retriable, error.to_string(), None)
                }
            };
            let expired = now >= batch.created + Duration::from_millis(config.delivery_timeout_ms);
            if retriable && !self.closed && !expired && batch.attempts <= config.retries {
                batch.not_before = Some(now + Duration::from_millis(config.retry_backoff_ms));
                pq.requeue(batch);
            } else {
                let transactional = config.transactional_id.is_some();
                if transactional {
                    self.txn.bump_epoch = true;
                    let fenced = code.is_some_and(|c| {
                        matches!(
                            ResponseError::try_from_code(c),
                            Some(
                                ResponseError::InvalidProducerEpoch | ResponseError::ProducerFenced
                            )
                        )
                    });
                    txn_failure = Some((reason.clone(), fenced, code));
                } else if config.idempotent && batch.encoded.is_some() {
                    self.reset_producer = true;
                }
                let reason = if expired && retriable {
                    format!("delivery timeout expired (last error: {reason})")
                } else if retriable && batch.attempts > config.retries {
                    format!("retries exhausted (last error: {reason})")
                } else {
                    reason
                };
                let e = batch.error(reason, code);
                batch.fail(e);
            }
        }
        if let Some((why, fenced, code)) = txn_failure {
            self.fail_transaction(why, fenced, code);
        }
    }
}
