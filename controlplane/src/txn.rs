//! Kafka transactions, with the control plane as the transaction coordinator.
//!
//! Where the decision and the markers live. A transaction ends with **one journaled command**
//! ([`TxnCommand::End`], or [`TxnCommand::Init`] / [`TxnCommand::Expire`] when the
//! coordinator aborts it): applying it records the decision, appends the transaction marker
//! (Kafka's control batch) to every partition the transaction added, updates the last stable
//! offsets, and applies or discards the consumer offsets the transaction committed. There is
//! no window between the decision and the markers: a control-plane failover sees either
//! all of them or none, and Kafka's PrepareCommit / PrepareAbort states are not needed. A
//! marker is an [`Extent`] of one offset with no bytes in any file; the agent writes the
//! control batch when it serves it.
//!
//! Invariants, each enforced here:
//! - **Atomic visibility.** A committed transaction's records become readable to
//!   read_committed consumers on every partition at once: the commit marker of every
//!   partition is applied by the same command, and the last stable offset of each partition
//!   ([`PartitionTxns::last_stable`]) stays at the transaction's first offset until then.
//! - **Aborted data is never returned** to read_committed consumers: an abort records the
//!   transaction in each partition's aborted list, which Fetch hands to the consumer with
//!   the data (Kafka's protocol: the client drops the aborted batches), and the marker
//!   follows the data.
//! - **The LSO never passes an open transaction**: it is the smallest first offset of the
//!   partition's open transactions; a transaction is open in a partition from its first
//!   indexed batch until its marker.
//! - **A fenced producer's writes never become visible**: a transactional batch is indexed
//!   only in an ongoing transaction of its producer id at the current epoch that added its
//!   partition (`State::commit_file` asks [`TxnTable::admits`]); InitProducerId bumps the
//!   epoch and aborts the ongoing transaction in the same command, so a batch of the old
//!   instance arriving later is refused (INVALID_PRODUCER_EPOCH), and a transaction left
//!   behind is never committed by anyone.
//! - **Offsets committed in a transaction apply only if it commits**: TxnOffsetCommit keeps
//!   them with the transaction; the commit applies them, an abort drops them.
//! - **Timeouts**: the leader aborts a transaction ongoing for longer than its timeout
//!   ([`expire_loop`]) and bumps the producer's epoch, as Kafka's coordinator does: the
//!   producer learns on its next call that it was fenced.
//!
//! Retries: every command is idempotent in effect or refused. An `End` repeated after it
//! applied is answered with success when it asks for the same outcome (Kafka's rule), an
//! `AddPartitions` of partitions already added changes nothing, and an `Init` repeated
//! bumps the epoch again (the answer lost with the first is never used).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};
use crate::error::{CpError, ErrorKind};
use crate::plants::{Plant, Plants};
use crate::server::ControlPlane;
use crate::state::State;
use crate::types::{AbortedTxn, Extent, GroupOffset, ProducerBatch, TxnMarker};

/// Largest transaction timeout a producer may ask for (Kafka's `transaction.max.timeout.ms`
/// default, 15 minutes).
pub const TXN_TIMEOUT_MS_MAX: u64 = 900_000;
/// How often the leader looks for transactions past their timeout.
pub const EXPIRE_TICK: Duration = Duration::from_millis(500);
/// Most partitions (or offsets) in one transactional request.
pub const TXN_PARTITIONS_MAX: usize = 10_000;

/// Where a transactional id stands (Kafka's `TransactionState`, without the prepare states:
/// the decision and the markers are one command here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// No transaction since the producer (re)initialised.
    Empty,
    /// A transaction is open: partitions or a group were added.
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

impl TxnStatus {
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
        }
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: u64,
    pub status: TxnStatus,
    /// When the ongoing transaction began (coordinator clock), for the timeout.
    pub started_ms: u64,
    /// When the record last changed.
    pub updated_ms: u64,
    /// Partitions added to the ongoing transaction: topic → partitions.
    pub partitions: BTreeMap<String, BTreeSet<i32>>,
    /// Groups added (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// Offsets committed in the transaction (TxnOffsetCommit): group → topic → partition →
    /// next offset to read. Applied by a commit, dropped by an abort.
    pub pending_offsets: BTreeMap<String, BTreeMap<String, BTreeMap<i32, i64>>>,
}

/// Every transactional id, and the producer ids they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnTable {
    pub by_id: BTreeMap<String, TxnRecord>,
    /// producer id → transactional id.
    pub by_producer: BTreeMap<i64, String>,
    /// Transactions ended, by outcome (for reports).
    pub committed: u64,
    pub aborted: u64,
    /// Of the aborts, those the coordinator decided (timeout or a new instance).
    pub aborted_by_coordinator: u64,
    /// Transactional commands applied (journaled), refused ones included.
    pub commands: u64,
}

/// Open transactions and aborted ones of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionTxns {
    /// producer id → first offset it wrote in its open transaction.
    pub open: BTreeMap<i64, i64>,
    /// Aborted transactions by the offset of their abort marker.
    pub aborted: BTreeMap<i64, AbortedTxn>,
    /// The largest `marker - first_offset` of any aborted transaction: a lookup of
    /// `[from, to]` needs the aborted ones with a marker in `[from, to + span]`.
    pub aborted_span: i64,
}

impl PartitionTxns {
    /// The last stable offset given the high watermark.
    pub fn last_stable(&self, high_watermark: i64) -> i64 {
        self.open
            .values()
            .copied()
            .min()
            .unwrap_or(high_watermark)
            .min(high_watermark)
    }

    /// Aborted transactions whose records overlap `[from, to]`.
    pub fn aborted_overlapping(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let mut out: Vec<AbortedTxn> = self
            .aborted
            .range(from..=to.saturating_add(self.aborted_span))
            .map(|(_, a)| *a)
            .filter(|a| a.first_offset <= to)
            .collect();
        out.sort_by_key(|a| (a.first_offset, a.producer_id));
        out
    }

    /// Forget aborted transactions whose marker is below `log_start`.
    pub fn trim(&mut self, log_start: i64) {
        self.aborted = self.aborted.split_off(&log_start);
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.aborted.is_empty()
    }
}

/// A transactional request, journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnCommand {
    /// InitProducerId with a transactional id: a new producer id (epoch 0), or the next
    /// epoch of the id's producer, aborting its ongoing transaction. `expected`: the
    /// producer id and epoch the client already holds (KIP-360), which must be current.
    Init {
        transactional_id: String,
        timeout_ms: u64,
        expected: Option<(i64, i16)>,
        now_ms: u64,
    },
    /// AddPartitionsToTxn.
    AddPartitions {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
        now_ms: u64,
    },
    /// AddOffsetsToTxn.
    AddGroup {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        group: String,
        now_ms: u64,
    },
    /// TxnOffsetCommit (membership already checked by the group coordinator).
    CommitOffsets {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        group: String,
        offsets: Vec<GroupOffset>,
    },
    /// EndTxn.
    End {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: u64,
    },
    /// The coordinator aborts a transaction past its timeout and fences its producer.
    Expire {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        now_ms: u64,
    },
}

/// What a transactional command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnAnswer {
    Producer {
        producer_id: i64,
        epoch: i16,
    },
    /// AddPartitionsToTxn: the partitions that do not exist (then nothing was added).
    Added {
        unknown: Vec<(String, i32)>,
    },
    Done,
}

fn fenced(id: &str, held: i16, sent: i16) -> CpError {
    CpError::new(
        ErrorKind::ProducerFenced,
        format!("transactional id {id:?} is at epoch {held}; epoch {sent} was fenced"),
    )
}

fn bad_state(message: String) -> CpError {
    CpError::new(ErrorKind::InvalidTxnState, message)
}

impl TxnTable {
    /// The record of `id` held by `producer_id` at `epoch`, or the error Kafka answers.
    fn current(&self, id: &str, producer_id: i64, epoch: i16) -> Result<&TxnRecord, CpError> {
        let rec = self.by_id.get(id).ok_or_else(|| {
            CpError::new(
                ErrorKind::InvalidProducerIdMapping,
                format!("unknown transactional id {id:?}"),
            )
        })?;
        if rec.producer_id != producer_id {
            return Err(CpError::new(
                ErrorKind::InvalidProducerIdMapping,
                format!(
                    "transactional id {id:?} belongs to producer id {}, not {producer_id}",
                    rec.producer_id
                ),
            ));
        }
        if rec.epoch != epoch {
            return Err(fenced(id, rec.epoch, epoch));
        }
        Ok(rec)
    }

    /// May a transactional batch be indexed? `None` if so, else the refusal (a negative
    /// chunk base offset).
    pub fn admits(&self, topic: &str, partition: i32, b: &ProducerBatch) -> Option<i64> {
        let rec = self
            .by_producer
            .get(&b.producer_id)
            .and_then(|id| self.by_id.get(id));
        let Some(rec) = rec.filter(|r| r.producer_id == b.producer_id) else {
            eddy_probe::hit("cp.txn.produce_unknown_producer");
            return Some(crate::types::CHUNK_UNKNOWN_PRODUCER_ID);
        };
        if b.producer_epoch < rec.epoch {
            eddy_probe::hit("cp.txn.produce_fenced");
            return Some(crate::types::CHUNK_INVALID_PRODUCER_EPOCH);
        }
        let added = rec
            .partitions
            .get(topic)
            .is_some_and(|ps| ps.contains(&partition));
        if b.producer_epoch > rec.epoch || rec.status != TxnStatus::Ongoing || !added {
            eddy_probe::hit("cp.txn.produce_outside_transaction");
            return Some(crate::types::CHUNK_INVALID_TXN_STATE);
        }
        None
    }
}

/// Apply one transactional command to `state`, with planted bugs `plants`.
pub fn apply(state: &mut State, op: &TxnCommand, plants: &Plants) -> Result<TxnAnswer, CpError> {
    state.transactions.commands += 1;
    match op {
        TxnCommand::Init {
            transactional_id: id,
            timeout_ms,
            expected,
            now_ms,
        } => init(state, id, *timeout_ms, *expected, *now_ms, plants),
        TxnCommand::AddPartitions {
            transactional_id: id,
            producer_id,
            epoch,
            partitions,
            now_ms,
        } => {
            state.transactions.current(id, *producer_id, *epoch)?;
            let unknown: Vec<(String, i32)> = partitions
                .iter()
                .filter(|(t, p)| state.partition(t, *p).is_err())
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return Ok(TxnAnswer::Added { unknown });
            }
            let rec = state.transactions.by_id.get_mut(id).expect("checked above");
            begin(rec, *now_ms);
            for (t, p) in partitions {
                rec.partitions.entry(t.clone()).or_default().insert(*p);
            }
            Ok(TxnAnswer::Added { unknown })
        }
        TxnCommand::AddGroup {
            transactional_id: id,
            producer_id,
            epoch,
            group,
            now_ms,
        } => {
            state.transactions.current(id, *producer_id, *epoch)?;
            let rec = state.transactions.by_id.get_mut(id).expect("checked above");
            begin(rec, *now_ms);
            rec.groups.insert(group.clone());
            Ok(TxnAnswer::Done)
        }
        TxnCommand::CommitOffsets {
            transactional_id: id,
            producer_id,
            epoch,
            group,
            offsets,
        } => {
            let rec = state.transactions.current(id, *producer_id, *epoch)?;
            if rec.status != TxnStatus::Ongoing || !rec.groups.contains(group) {
                return Err(bad_state(format!(
                    "group {group:?} was not added to the transaction of {id:?} ({})",
                    rec.status.name()
                )));
            }
            let rec = state.transactions.by_id.get_mut(id).expect("checked above");
            let pending = rec.pending_offsets.entry(group.clone()).or_default();
            for o in offsets {
                pending
                    .entry(o.topic.clone())
                    .or_default()
                    .insert(o.partition, o.offset);
            }
            Ok(TxnAnswer::Done)
        }
        TxnCommand::End {
            transactional_id: id,
            producer_id,
            epoch,
            commit,
            now_ms,
        } => {
            let rec = state.transactions.current(id, *producer_id, *epoch)?;
            match (rec.status, commit) {
                (TxnStatus::Ongoing, _) => {
                    finish(state, id, *commit, *now_ms, plants);
                    Ok(TxnAnswer::Done)
                }
                // A retry of an end that applied.
                (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
                    eddy_probe::hit("cp.txn.end_repeated");
                    Ok(TxnAnswer::Done)
                }
                (status, _) => Err(bad_state(format!(
                    "EndTxn({}) of {id:?} in state {}",
                    if *commit { "commit" } else { "abort" },
                    status.name()
                ))),
            }
        }
        TxnCommand::Expire {
            transactional_id: id,
            producer_id,
            epoch,
            now_ms,
        } => {
            // Only the transaction the leader saw past its timeout: anything newer is not.
            let still = state.transactions.current(id, *producer_id, *epoch).ok();
            if still.is_none_or(|r| r.status != TxnStatus::Ongoing) {
                return Ok(TxnAnswer::Done);
            }
            eddy_probe::hit("cp.txn.expired");
            finish(state, id, false, *now_ms, plants);
            state.transactions.aborted_by_coordinator += 1;
            bump_epoch(state, id);
            Ok(TxnAnswer::Done)
        }
    }
}

fn begin(rec: &mut TxnRecord, now_ms: u64) {
    if rec.status != TxnStatus::Ongoing {
        rec.status = TxnStatus::Ongoing;
        rec.started_ms = now_ms;
        rec.partitions.clear();
        rec.groups.clear();
        rec.pending_offsets.clear();
    }
    rec.updated_ms = now_ms;
}

fn init(
    state: &mut State,
    id: &str,
    timeout_ms: u64,
    expected: Option<(i64, i16)>,
    now_ms: u64,
    plants: &Plants,
) -> Result<TxnAnswer, CpError> {
    if timeout_ms == 0 || timeout_ms > TXN_TIMEOUT_MS_MAX {
        return Err(CpError::new(
            ErrorKind::InvalidTransactionTimeout,
            format!("transaction timeout {timeout_ms} ms outside 1..={TXN_TIMEOUT_MS_MAX}"),
        ));
    }
    if let Some(rec) = state.transactions.by_id.get(id) {
        if let Some((pid, epoch)) = expected {
            if pid != rec.producer_id || epoch != rec.epoch {
                eddy_probe::hit("cp.txn.init_fenced");
                return Err(fenced(id, rec.epoch, epoch));
            }
        }
        if rec.status == TxnStatus::Ongoing {
            // A new instance (or a restarted one): the old one's transaction is aborted.
            eddy_probe::hit("cp.txn.init_aborts_ongoing");
            finish(state, id, false, now_ms, plants);
            state.transactions.aborted_by_coordinator += 1;
        }
        bump_epoch(state, id);
        let rec = state.transactions.by_id.get_mut(id).expect("present");
        rec.timeout_ms = timeout_ms;
        rec.status = TxnStatus::Empty;
        rec.updated_ms = now_ms;
        return Ok(TxnAnswer::Producer {
            producer_id: rec.producer_id,
            epoch: rec.epoch,
        });
    }
    if expected.is_some() {
        return Err(CpError::new(
            ErrorKind::InvalidProducerIdMapping,
            format!("unknown transactional id {id:?}"),
        ));
    }
    let producer_id = state.producers.allocate();
    state.producers.start_epoch(producer_id, 0);
    state
        .transactions
        .by_producer
        .insert(producer_id, id.to_string());
    state.transactions.by_id.insert(
        id.to_string(),
        TxnRecord {
            producer_id,
            epoch: 0,
            timeout_ms,
            status: TxnStatus::Empty,
            started_ms: now_ms,
            updated_ms: now_ms,
            partitions: BTreeMap::new(),
            groups: BTreeSet::new(),
            pending_offsets: BTreeMap::new(),
        },
    );
    Ok(TxnAnswer::Producer {
        producer_id,
        epoch: 0,
    })
}

/// The next epoch of `id`'s producer, fencing every earlier one; a fresh producer id when
/// the epoch would overflow (as Kafka does).
fn bump_epoch(state: &mut State, id: &str) {
    let rec = state.transactions.by_id.get(id).expect("present");
    let (producer_id, epoch) = if rec.epoch >= i16::MAX - 1 {
        let fresh = state.producers.allocate();
        state.transactions.by_producer.remove(&rec.producer_id);
        state.transactions.by_producer.insert(fresh, id.to_string());
        (fresh, 0)
    } else {
        (rec.producer_id, rec.epoch + 1)
    };
    state.producers.start_epoch(producer_id, epoch);
    let rec = state.transactions.by_id.get_mut(id).expect("present");
    rec.producer_id = producer_id;
    rec.epoch = epoch;
}

/// End `id`'s ongoing transaction: a marker in every partition it added, the aborted list
/// or the group offsets updated, the record complete.
fn finish(state: &mut State, id: &str, commit: bool, now_ms: u64, plants: &Plants) {
    let Some(rec) = state.transactions.by_id.get_mut(id) else {
        return;
    };
    let partitions = std::mem::take(&mut rec.partitions);
    let pending = std::mem::take(&mut rec.pending_offsets);
    rec.groups.clear();
    rec.status = if commit {
        TxnStatus::CompleteCommit
    } else {
        TxnStatus::CompleteAbort
    };
    rec.updated_ms = now_ms;
    let marker = TxnMarker {
        producer_id: rec.producer_id,
        producer_epoch: rec.epoch,
        commit,
    };
    for (topic, ps) in &partitions {
        for &p in ps {
            let Ok(part) = state.partition_mut(topic, p) else {
                continue;
            };
            let first = part.txns.open.remove(&marker.producer_id);
            let at = part.high_watermark;
            part.extents.insert(
                at,
                Extent {
                    base_offset: at,
                    last_offset: at,
                    key: String::new(),
                    byte_start: 0,
                    byte_len: 0,
                    max_timestamp: now_ms as i64,
                    committed_at_ms: now_ms,
                    marker: Some(marker),
                },
            );
            part.high_watermark = at + 1;
            if plants.has(Plant::AbortNotListed) {
                continue;
            }
            if let (false, Some(first)) = (commit, first) {
                part.txns.aborted.insert(
                    at,
                    AbortedTxn {
                        producer_id: marker.producer_id,
                        first_offset: first,
                    },
                );
                part.txns.aborted_span = part.txns.aborted_span.max(at - first);
            }
        }
    }
    if commit || plants.has(Plant::AbortAppliesOffsets) {
        for (group, topics) in pending {
            let g = state.group_offsets.entry(group).or_default();
            for (topic, ps) in topics {
                g.entry(topic).or_default().extend(ps);
            }
        }
    }
    if commit {
        state.transactions.committed += 1;
    } else {
        state.transactions.aborted += 1;
    }
}

/// A transaction as DescribeTransactions and ListTransactions show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
    pub status: String,
    pub timeout_ms: u64,
    pub started_ms: u64,
    pub partitions: Vec<(String, i32)>,
}

impl TxnRecord {
    pub fn describe(&self, id: &str) -> TxnDescription {
        TxnDescription {
            transactional_id: id.to_string(),
            producer_id: self.producer_id,
            epoch: self.epoch,
            status: self.status.name().to_string(),
            timeout_ms: self.timeout_ms,
            started_ms: self.started_ms,
            partitions: self
                .partitions
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
                .collect(),
        }
    }
}

impl ControlPlane {
    /// Propose one transactional command and return its answer.
    pub(crate) async fn propose_txn(&self, op: TxnCommand) -> Result<TxnAnswer, CpError> {
        self.start_txn_expiry();
        match self.propose(Command::Txn { op }).await? {
            CommandResult::Txn(answer) => Ok(answer),
            CommandResult::Rejected(e) => Err(e),
            other => Err(CpError::internal(format!("unexpected result {other:?}"))),
        }
    }

    /// Start the timeout loop once this replica has seen a transaction (it acts only while
    /// the replica leads). Runs without transactions never start it.
    pub(crate) fn start_txn_expiry(&self) {
        if !self
            .inner
            .txn_expiry_started
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tokio::spawn(expire_loop(self.clone()));
        }
    }
}

/// Abort, as the coordinator, every transaction ongoing for longer than its timeout.
pub async fn expire_loop(cp: ControlPlane) {
    loop {
        tokio::time::sleep(EXPIRE_TICK).await;
        let now = crate::maintainer::now_ms();
        let Ok(due) = cp.read(|state| {
            state
                .transactions
                .by_id
                .iter()
                .filter(|(_, r)| {
                    r.status == TxnStatus::Ongoing
                        && now.saturating_sub(r.started_ms) > r.timeout_ms
                })
                .map(|(id, r)| (id.clone(), r.producer_id, r.epoch))
                .collect::<Vec<_>>()
        }) else {
            continue;
        };
        for (transactional_id, producer_id, epoch) in due {
            tracing::info!(%transactional_id, producer_id, epoch, "aborting a transaction past its timeout");
            let op = TxnCommand::Expire {
                transactional_id,
                producer_id,
                epoch,
                now_ms: now,
            };
            if let Err(e) = cp.propose(Command::Txn { op }).await {
                tracing::debug!(error = %e, "transaction expiry not applied");
                break;
            }
        }
    }
}

/// A transactional call from an agent (the Kafka request, translated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnRequest {
    Init {
        transactional_id: String,
        timeout_ms: u64,
        expected: Option<(i64, i16)>,
    },
    AddPartitions {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
    },
    AddGroup {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        group: String,
    },
    /// TxnOffsetCommit: `member_id` and `generation` as the consumer knows them (empty and
    /// −1 for a producer that is not a group member: then only the transaction fences).
    CommitOffsets {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        group: String,
        member_id: String,
        generation: i32,
        offsets: Vec<GroupOffset>,
    },
    End {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    },
    /// DescribeTransactions (`Some` ids) or ListTransactions (`None`).
    Describe { ids: Option<Vec<String>> },
}

impl ControlPlane {
    /// Answer one transactional call.
    pub(crate) async fn handle_txn(
        &self,
        request: TxnRequest,
    ) -> Result<crate::rpc::Response, CpError> {
        use crate::rpc::Response;
        let now_ms = crate::maintainer::now_ms();
        let too_many = |n: usize| {
            (n > TXN_PARTITIONS_MAX).then(|| {
                CpError::invalid(format!(
                    "{n} partitions in one transactional request (max {TXN_PARTITIONS_MAX})"
                ))
            })
        };
        let op = match request {
            TxnRequest::Describe { ids } => {
                if let Some(e) = ids.as_ref().and_then(|ids| too_many(ids.len())) {
                    return Err(e);
                }
                let transactions = self
                    .read_latest(|state| {
                        let t = &state.transactions.by_id;
                        match &ids {
                            Some(ids) => ids
                                .iter()
                                .filter_map(|id| t.get(id).map(|r| r.describe(id)))
                                .collect(),
                            None => t.iter().map(|(id, r)| r.describe(id)).collect(),
                        }
                    })
                    .await?;
                return Ok(Response::Transactions { transactions });
            }
            TxnRequest::Init {
                transactional_id,
                timeout_ms,
                expected,
            } => TxnCommand::Init {
                transactional_id,
                timeout_ms,
                expected,
                now_ms,
            },
            TxnRequest::AddPartitions {
                transactional_id,
                producer_id,
                epoch,
                partitions,
            } => {
                if let Some(e) = too_many(partitions.len()) {
                    return Err(e);
                }
                TxnCommand::AddPartitions {
                    transactional_id,
                    producer_id,
                    epoch,
                    partitions,
                    now_ms,
                }
            }
            TxnRequest::AddGroup {
                transactional_id,
                producer_id,
                epoch,
                group,
            } => TxnCommand::AddGroup {
                transactional_id,
                producer_id,
                epoch,
                group,
                now_ms,
            },
            TxnRequest::CommitOffsets {
                transactional_id,
                producer_id,
                epoch,
                group,
                member_id,
                generation,
                offsets,
            } => {
                if let Some(e) = too_many(offsets.len()) {
                    return Err(e);
                }
                // The group coordinator's rules first (KIP-447: a zombie member's commit is
                // refused even inside a live transaction).
                if let Some(refusal) = self
                    .txn_commit_refusal(&group, &member_id, generation)
                    .await?
                {
                    return Ok(Response::Group(crate::groups::GroupResponse::Error(
                        refusal,
                    )));
                }
                TxnCommand::CommitOffsets {
                    transactional_id,
                    producer_id,
                    epoch,
                    group,
                    offsets,
                }
            }
            TxnRequest::End {
                transactional_id,
                producer_id,
                epoch,
                commit,
            } => TxnCommand::End {
                transactional_id,
                producer_id,
                epoch,
                commit,
                now_ms,
            },
        };
        self.propose_txn(op).await.map(Response::Txn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{
        ChunkSpec, FileSpec, CHUNK_INVALID_PRODUCER_EPOCH, CHUNK_INVALID_TXN_STATE,
    };

    fn state() -> State {
        let mut s = State::default();
        for name in ["in", "out"] {
            s.apply(&Command::CreateTopic {
                name: name.into(),
                partitions: 2,
                if_not_exists: false,
            });
        }
        s
    }

    fn txn(s: &mut State, op: TxnCommand) -> Result<TxnAnswer, CpError> {
        match s.apply(&Command::Txn { op }) {
            CommandResult::Txn(a) => Ok(a),
            CommandResult::Rejected(e) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn init(s: &mut State, id: &str) -> (i64, i16) {
        let op = TxnCommand::Init {
            transactional_id: id.into(),
            timeout_ms: 60_000,
            expected: None,
            now_ms: 1,
        };
        match txn(s, op).unwrap() {
            TxnAnswer::Producer { producer_id, epoch } => (producer_id, epoch),
            other => panic!("{other:?}"),
        }
    }

    fn add(s: &mut State, id: &str, (pid, epoch): (i64, i16), parts: &[(&str, i32)]) {
        let op = TxnCommand::AddPartitions {
            transactional_id: id.into(),
            producer_id: pid,
            epoch,
            partitions: parts.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
            now_ms: 2,
        };
        assert_eq!(txn(s, op).unwrap(), TxnAnswer::Added { unknown: vec![] });
    }

    fn end(
        s: &mut State,
        id: &str,
        (pid, epoch): (i64, i16),
        commit: bool,
    ) -> Result<TxnAnswer, CpError> {
        txn(
            s,
            TxnCommand::End {
                transactional_id: id.into(),
                producer_id: pid,
                epoch,
                commit,
                now_ms: 3,
            },
        )
    }

    /// Produce one transactional batch of `records` records (sequence `seq`); its offset or
    /// refusal.
    fn produce(
        s: &mut State,
        file: &str,
        (pid, epoch): (i64, i16),
        topic: &str,
        seq: i32,
        records: u64,
    ) -> i64 {
        let spec = FileSpec {
            id: file.into(),
            key: format!("data/{file}"),
            size: 100,
            chunks: vec![ChunkSpec {
                topic: topic.into(),
                partition: 0,
                byte_start: 0,
                byte_len: 100,
                record_count: records,
                max_timestamp: 0,
                producer: Some(ProducerBatch {
                    producer_id: pid,
                    producer_epoch: epoch,
                    base_sequence: seq,
                    last_sequence: seq + records as i32 - 1,
                    transactional: true,
                }),
            }],
        };
        match s.apply(&Command::CommitFile {
            file: spec,
            committed_at_ms: 1,
        }) {
            CommandResult::FileCommitted { base_offsets } => base_offsets[0],
            other => panic!("{other:?}"),
        }
    }

    fn plain(s: &mut State, file: &str, topic: &str) -> i64 {
        let spec = FileSpec {
            id: file.into(),
            key: format!("data/{file}"),
            size: 10,
            chunks: vec![ChunkSpec {
                topic: topic.into(),
                partition: 0,
                byte_start: 0,
                byte_len: 10,
                record_count: 1,
                max_timestamp: 0,
                producer: None,
            }],
        };
        match s.apply(&Command::CommitFile {
            file: spec,
            committed_at_ms: 1,
        }) {
            CommandResult::FileCommitted { base_offsets } => base_offsets[0],
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_commit_makes_every_partition_readable_at_once_and_the_lso_waits_for_it() {
        let mut s = state();
        let p = init(&mut s, "app");
        add(&mut s, "app", p, &[("in", 0), ("out", 0)]);
        assert_eq!(produce(&mut s, "a", p, "in", 0, 3), 0);
        assert_eq!(plain(&mut s, "b", "in"), 3);
        assert_eq!(produce(&mut s, "c", p, "out", 0, 2), 0);
        let look =
            |s: &State, t: &str, committed: bool| s.lookup(t, 0, 0, u64::MAX, committed).unwrap();
        // Open: read_committed sees nothing of either partition; read_uncommitted sees all.
        assert_eq!(look(&s, "in", true).last_stable, 0);
        assert!(look(&s, "in", true).extents.is_empty());
        assert!(look(&s, "out", true).extents.is_empty());
        assert_eq!(look(&s, "in", false).extents.len(), 2);
        assert_eq!(
            s.list_offset("in", 0, crate::types::LATEST_TIMESTAMP, true)
                .unwrap(),
            Some(0)
        );
        end(&mut s, "app", p, true).unwrap();
        // Committed: a marker after the data of each partition, the LSO at the end.
        for (t, hw) in [("in", 5), ("out", 3)] {
            let l = look(&s, t, true);
            assert_eq!((l.high_watermark, l.last_stable), (hw, hw));
            let last = l.extents.last().unwrap();
            assert_eq!(last.marker.map(|m| m.commit), Some(true), "{t}");
            assert!(l.aborted.is_empty());
        }
        // A repeat of the same end is answered with success; the other outcome is refused.
        assert_eq!(end(&mut s, "app", p, true).unwrap(), TxnAnswer::Done);
        assert_eq!(
            end(&mut s, "app", p, false).unwrap_err().kind,
            ErrorKind::InvalidTxnState
        );
        assert_eq!(s.partition("in", 0).unwrap().high_watermark, 5);
    }

    #[test]
    fn an_abort_is_listed_for_read_committed_readers_and_drops_its_offsets() {
        let mut s = state();
        let p = init(&mut s, "app");
        add(&mut s, "app", p, &[("out", 0)]);
        txn(
            &mut s,
            TxnCommand::AddGroup {
                transactional_id: "app".into(),
                producer_id: p.0,
                epoch: p.1,
                group: "g".into(),
                now_ms: 2,
            },
        )
        .unwrap();
        let offsets = |o| TxnCommand::CommitOffsets {
            transactional_id: "app".into(),
            producer_id: p.0,
            epoch: p.1,
            group: "g".into(),
            offsets: vec![GroupOffset {
                topic: "in".into(),
                partition: 0,
                offset: o,
                metadata: None,
            }],
        };
        txn(&mut s, offsets(7)).unwrap();
        assert_eq!(produce(&mut s, "a", p, "out", 0, 2), 0);
        end(&mut s, "app", p, false).unwrap();
        assert_eq!(
            s.committed_offset("g", "in", 0),
            None,
            "aborted offsets never apply"
        );
        let l = s.lookup("out", 0, 0, u64::MAX, true).unwrap();
        assert_eq!(l.last_stable, 3);
        assert_eq!(
            l.aborted,
            vec![AbortedTxn {
                producer_id: p.0,
                first_offset: 0
            }]
        );
        // The next transaction of the same producer commits its offsets.
        add(&mut s, "app", p, &[("out", 0)]);
        txn(
            &mut s,
            TxnCommand::AddGroup {
                transactional_id: "app".into(),
                producer_id: p.0,
                epoch: p.1,
                group: "g".into(),
                now_ms: 4,
            },
        )
        .unwrap();
        txn(&mut s, offsets(9)).unwrap();
        assert_eq!(produce(&mut s, "b", p, "out", 2, 1), 3);
        end(&mut s, "app", p, true).unwrap();
        assert_eq!(s.committed_offset("g", "in", 0), Some(9));
        // A read from past the abort no longer lists it.
        assert!(s
            .lookup("out", 0, 3, u64::MAX, true)
            .unwrap()
            .aborted
            .is_empty());
    }

    #[test]
    fn a_new_instance_fences_the_old_one_and_aborts_what_it_left_open() {
        let mut s = state();
        let old = init(&mut s, "app");
        add(&mut s, "app", old, &[("out", 0)]);
        assert_eq!(produce(&mut s, "a", old, "out", 0, 1), 0);
        let new = init(&mut s, "app");
        assert_eq!(new, (old.0, old.1 + 1));
        // The old transaction was aborted with the epoch bump: the LSO moved past it.
        let l = s.lookup("out", 0, 0, u64::MAX, true).unwrap();
        assert_eq!((l.last_stable, l.aborted.len()), (2, 1));
        // The zombie's next batch and its end are refused.
        assert_eq!(
            produce(&mut s, "b", old, "out", 1, 1),
            CHUNK_INVALID_PRODUCER_EPOCH
        );
        assert_eq!(
            end(&mut s, "app", old, true).unwrap_err().kind,
            ErrorKind::ProducerFenced
        );
        // The new instance cannot write outside a transaction, nor to a partition it did
        // not add.
        assert_eq!(
            produce(&mut s, "c", new, "out", 0, 1),
            CHUNK_INVALID_TXN_STATE
        );
        add(&mut s, "app", new, &[("in", 0)]);
        assert_eq!(
            produce(&mut s, "d", new, "out", 0, 1),
            CHUNK_INVALID_TXN_STATE
        );
        assert_eq!(produce(&mut s, "e", new, "in", 0, 1), 0);
        // KIP-360: an InitProducerId naming a stale epoch is fenced.
        let stale = TxnCommand::Init {
            transactional_id: "app".into(),
            timeout_ms: 1000,
            expected: Some(old),
            now_ms: 9,
        };
        assert_eq!(
            txn(&mut s, stale).unwrap_err().kind,
            ErrorKind::ProducerFenced
        );
        assert_eq!(s.transactions.aborted_by_coordinator, 1);
    }

    #[test]
    fn expiry_aborts_only_the_transaction_it_saw_and_fences_its_producer() {
        let mut s = state();
        let p = init(&mut s, "app");
        add(&mut s, "app", p, &[("out", 0)]);
        assert_eq!(produce(&mut s, "a", p, "out", 0, 1), 0);
        let expire = |epoch| TxnCommand::Expire {
            transactional_id: "app".into(),
            producer_id: p.0,
            epoch,
            now_ms: 100_000,
        };
        txn(&mut s, expire(p.1 + 5)).unwrap();
        assert_eq!(
            s.transactions.by_id["app"].status,
            TxnStatus::Ongoing,
            "not the one seen"
        );
        txn(&mut s, expire(p.1)).unwrap();
        let rec = &s.transactions.by_id["app"];
        assert_eq!((rec.status, rec.epoch), (TxnStatus::CompleteAbort, p.1 + 1));
        assert_eq!(
            end(&mut s, "app", p, true).unwrap_err().kind,
            ErrorKind::ProducerFenced
        );
        assert_eq!(s.partition("out", 0).unwrap().txns.last_stable(2), 2);
    }

    #[test]
    fn bad_requests_get_kafka_errors_and_change_nothing() {
        let mut s = state();
        let unknown = TxnCommand::AddPartitions {
            transactional_id: "nobody".into(),
            producer_id: 0,
            epoch: 0,
            partitions: vec![("out".into(), 0)],
            now_ms: 1,
        };
        assert_eq!(
            txn(&mut s, unknown).unwrap_err().kind,
            ErrorKind::InvalidProducerIdMapping
        );
        let p = init(&mut s, "app");
        let missing = TxnCommand::AddPartitions {
            transactional_id: "app".into(),
            producer_id: p.0,
            epoch: p.1,
            partitions: vec![("out".into(), 0), ("nope".into(), 0), ("out".into(), 9)],
            now_ms: 1,
        };
        assert_eq!(
            txn(&mut s, missing).unwrap(),
            TxnAnswer::Added {
                unknown: vec![("nope".into(), 0), ("out".into(), 9)]
            }
        );
        assert_eq!(s.transactions.by_id["app"].status, TxnStatus::Empty);
        assert_eq!(
            end(&mut s, "app", p, true).unwrap_err().kind,
            ErrorKind::InvalidTxnState
        );
        let offsets = TxnCommand::CommitOffsets {
            transactional_id: "app".into(),
            producer_id: p.0,
            epoch: p.1,
            group: "never-added".into(),
            offsets: vec![],
        };
        assert_eq!(
            txn(&mut s, offsets).unwrap_err().kind,
            ErrorKind::InvalidTxnState
        );
        let wrong_pid = TxnCommand::End {
            transactional_id: "app".into(),
            producer_id: p.0 + 1,
            epoch: p.1,
            commit: true,
            now_ms: 1,
        };
        assert_eq!(
            txn(&mut s, wrong_pid).unwrap_err().kind,
            ErrorKind::InvalidProducerIdMapping
        );
        let timeout = TxnCommand::Init {
            transactional_id: "other".into(),
            timeout_ms: TXN_TIMEOUT_MS_MAX + 1,
            expected: None,
            now_ms: 1,
        };
        assert_eq!(
            txn(&mut s, timeout).unwrap_err().kind,
            ErrorKind::InvalidTransactionTimeout
        );
        // A transactional batch of a producer id that is not transactional is refused.
        let idempotent = match s.apply(&Command::AllocateProducerId) {
            CommandResult::ProducerIdAllocated { producer_id } => producer_id,
            other => panic!("{other:?}"),
        };
        assert!(produce(&mut s, "x", (idempotent, 0), "out", 0, 1) < 0);
        let json = serde_json::to_string(&s).expect("state serializes");
        let back: State = serde_json::from_str(&json).expect("state deserializes");
        assert_eq!(back, s);
    }

    #[test]
    fn planted_bugs_do_what_they_say() {
        let with = |p: Plant| Plants([p].into());
        let abort_one = |plants: &Plants| {
            let mut s = state();
            let p = init(&mut s, "app");
            add(&mut s, "app", p, &[("out", 0)]);
            let group = TxnCommand::AddGroup {
                transactional_id: "app".into(),
                producer_id: p.0,
                epoch: p.1,
                group: "g".into(),
                now_ms: 2,
            };
            txn(&mut s, group).unwrap();
            let offsets = TxnCommand::CommitOffsets {
                transactional_id: "app".into(),
                producer_id: p.0,
                epoch: p.1,
                group: "g".into(),
                offsets: vec![GroupOffset {
                    topic: "in".into(),
                    partition: 0,
                    offset: 5,
                    metadata: None,
                }],
            };
            txn(&mut s, offsets).unwrap();
            produce(&mut s, "a", p, "out", 0, 2);
            let end = TxnCommand::End {
                transactional_id: "app".into(),
                producer_id: p.0,
                epoch: p.1,
                commit: false,
                now_ms: 3,
            };
            s.apply_with(&Command::Txn { op: end }, plants);
            s
        };
        let s = abort_one(&Plants::none());
        assert_eq!(
            s.lookup("out", 0, 0, u64::MAX, true).unwrap().aborted.len(),
            1
        );
        assert_eq!(s.committed_offset("g", "in", 0), None);
        let s = abort_one(&with(Plant::AbortNotListed));
        assert!(s
            .lookup("out", 0, 0, u64::MAX, true)
            .unwrap()
            .aborted
            .is_empty());
        let s = abort_one(&with(Plant::AbortAppliesOffsets));
        assert_eq!(s.committed_offset("g", "in", 0), Some(5));

        // A zombie's batch lands in its successor's transaction.
        for (plants, indexed) in [
            (Plants::none(), false),
            (with(Plant::ZombieTxnNotFenced), true),
        ] {
            let mut s = state();
            let old = init(&mut s, "app");
            let new = init(&mut s, "app");
            add(&mut s, "app", new, &[("out", 0)]);
            let spec = FileSpec {
                id: "z".into(),
                key: "data/z".into(),
                size: 10,
                chunks: vec![ChunkSpec {
                    topic: "out".into(),
                    partition: 0,
                    byte_start: 0,
                    byte_len: 10,
                    record_count: 1,
                    max_timestamp: 0,
                    producer: Some(ProducerBatch {
                        producer_id: old.0,
                        producer_epoch: old.1,
                        base_sequence: 7,
                        last_sequence: 7,
                        transactional: true,
                    }),
                }],
            };
            let r = s.apply_with(
                &Command::CommitFile {
                    file: spec,
                    committed_at_ms: 1,
                },
                &plants,
            );
            let CommandResult::FileCommitted { base_offsets } = r else {
                panic!("{r:?}")
            };
            assert_eq!(base_offsets[0] >= 0, indexed, "{plants:?}");
        }
    }
}
