//! The transactional workload (`workload.transactions`): transactional producers, and a
//! consume-transform-produce pipeline, as applications drive librdkafka's transactional
//! producer; every operation recorded with its transaction (`txnlog.rs`).
//!
//! A transactional producer (`txn-<az>-<k>`, also its transactional id) runs transaction
//! after transaction: a few records to random partitions of `workload.topic`, then commit
//! or, for a share drawn from its seed, abort. Some transactions go wrong on purpose:
//! - **crash**: after about half its records the producer's node is killed; it restarts
//!   after `crash_down_ms` and its successor (`txn-<az>-<k>.<n>`) re-initialises with the
//!   same transactional id, which fences the old epoch and aborts the open transaction;
//! - **hang**: the producer stalls past its transaction timeout before it commits: the
//!   coordinator aborts the transaction and bumps the epoch, so the commit is refused as
//!   fenced and a new instance takes over;
//! - **zombie**: the producer pauses mid-transaction, a successor instance initialises
//!   (fencing it), then the old instance resumes: its further sends and its commit must be
//!   refused.
//!
//! After an abortable error the application aborts; after a fatal one (fenced) or a commit
//! whose outcome stayed unknown it drops the instance and starts a new one, as librdkafka's
//! documentation tells applications to. Every instance is its own process in the history.
//!
//! The pipeline (`pipeline-<az>-<k>`, group `pipeline`) reads `workload.topic`
//! read_committed as a group member without auto-commit, writes one record per input to
//! `output_topic` (same partition, `source` naming the input), commits the input offsets
//! in the same transaction (TxnOffsetCommit with its group metadata), and commits; a share
//! of its transactions abort, after which it rewinds to the group's committed offsets.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eddy_client::{
    Delivery, GroupConfig, GroupConsumer, Producer, ProducerConfig, TxnError, TxnErrorKind,
};
use eddy_controlplane::net::Transport;
use eddy_reports::{OpKind, Outcome};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::recorder::Recorder;
use crate::spec::Workload;
use crate::txnlog::{Extra, SendTxn, Source, TxnKind};
use crate::workload::{
    client_id, consumer_config, dialer, kafka_error_name, make_value, poll_failed, record_ack,
    record_polls, value_id, ConsumerRun,
};

/// How long a transactional call may retry an unavailable coordinator.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The pipeline's consumer group.
pub const PIPELINE_GROUP: &str = "pipeline";

/// A client asking to be crashed: its node is killed now and restarted after `down`.
pub struct CrashRequest {
    pub node: String,
    pub down: Duration,
}

/// What every transactional client of a run shares.
#[derive(Clone)]
pub struct TxnCtx {
    pub seed: u64,
    pub run_start: Instant,
    /// Stop starting transactions here (the end of the workload).
    pub until: Instant,
    pub log: crate::chaos::FaultLog,
    pub recorder: Recorder,
    pub crashes: mpsc::UnboundedSender<CrashRequest>,
}

impl TxnCtx {
    fn note(&self, started: Instant, what: String) {
        let ms = |t: Instant| t.saturating_duration_since(self.run_start).as_millis() as u64;
        eddy_controlplane::sync::lock(&self.log).push(crate::chaos::FaultEvent {
            start_ms: ms(started),
            end_ms: ms(Instant::now()),
            family: eddy_faults::Family::ConsumerCrash,
            what,
            leader: false,
        });
    }
}

/// One transactional client node: its name (and transactional id), zone, bootstrap list,
/// and a count of the instances it started (kept across restarts of its node).
#[derive(Clone)]
pub struct TxnClient {
    pub node: String,
    pub az: String,
    pub bootstrap: Vec<String>,
    pub workload: Workload,
    pub instances: Arc<AtomicU64>,
    pub transport: Arc<dyn Transport>,
}

/// The error a transactional call gave, as the history names it.
fn txn_error_name(e: &TxnError) -> String {
    match (e.code, e.kind) {
        (Some(code), _) => kafka_error_name(code),
        (None, TxnErrorKind::Abortable) => "TRANSACTION_ABORTABLE".to_string(),
        (None, _) if e.maybe_applied => "OUTCOME_UNKNOWN".to_string(),
        (None, TxnErrorKind::Timeout) => "NOT_SENT".to_string(),
        (None, TxnErrorKind::Fatal) => "FATAL".to_string(),
    }
}

fn txn_outcome(e: &TxnError) -> Outcome {
    if e.maybe_applied {
        Outcome::Indeterminate
    } else {
        Outcome::Failed
    }
}

type Ack = Pin<Box<dyn Future<Output = Delivery> + Send>>;

/// One producer instance: its process name, its producer, and the acknowledgements it
/// still waits for.
struct Instance {
    process: String,
    transactional_id: String,
    producer: Producer,
    ids: (i64, i16),
    txns: u64,
    sends: u64,
    outstanding: Arc<AtomicUsize>,
    max_in_flight: u32,
}

impl Instance {
    /// A new instance, initialised (retried until it works or the workload ends).
    async fn start(client: &TxnClient, ctx: &TxnCtx) -> Option<Instance> {
        let n = client.instances.fetch_add(1, Ordering::Relaxed);
        let process = if n == 0 {
            client.node.clone()
        } else {
            format!("{}.{n}", client.node)
        };
        let w = &client.workload;
        let config = ProducerConfig {
            client_id: client_id(&process, &client.az, w.zone_aware),
            linger_ms: w.linger_ms,
            batch_max_bytes: w.batch_bytes_max,
            request_timeout_ms: w.request_timeout_ms,
            delivery_timeout_ms: w.delivery_timeout_ms,
            idempotent: true,
            max_in_flight: 5,
            transactional_id: Some(client.node.clone()),
            transaction_timeout_ms: w.transactions.timeout_ms,
            ..ProducerConfig::default()
        };
        let producer = match Producer::new(
            config,
            client.bootstrap.clone(),
            dialer(client.transport.clone()),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(process, error = %e, "transactional producer rejected");
                return None;
            }
        };
        loop {
            if Instant::now() >= ctx.until {
                return None;
            }
            let op = ctx.recorder.txn_invoke(
                &process,
                TxnKind::TxnInit {
                    transactional_id: client.node.clone(),
                    producer_id: None,
                    epoch: None,
                },
            );
            match producer.init_transactions(CALL_TIMEOUT).await {
                Ok((pid, epoch)) => {
                    ctx.recorder.txn_complete(op, Outcome::Ok, None, |k| {
                        if let TxnKind::TxnInit {
                            producer_id,
                            epoch: e,
                            ..
                        } = k
                        {
                            *producer_id = Some(pid);
                            *e = Some(i32::from(epoch));
                        }
                    });
                    return Some(Instance {
                        process,
                        transactional_id: client.node.clone(),
                        producer,
                        ids: (pid, epoch),
                        txns: 0,
                        sends: 0,
                        outstanding: Arc::new(AtomicUsize::new(0)),
                        max_in_flight: 5,
                    });
                }
                Err(e) => {
                    tracing::debug!(process, error = %e, "init_transactions failed");
                    ctx.recorder.txn_complete(
                        op,
                        txn_outcome(&e),
                        Some(txn_error_name(&e)),
                        |_| {},
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    fn begin(&mut self) -> Option<String> {
        if let Err(e) = self.producer.begin_transaction() {
            tracing::debug!(process = %self.process, error = %e, "begin_transaction failed");
            return None;
        }
        self.txns += 1;
        Some(format!("{}/{}", self.process, self.txns))
    }

    /// Sends one record in `txn`, recording it; its acknowledgement is recorded when it
    /// arrives.
    fn send(
        &mut self,
        recorder: &Recorder,
        w: &Workload,
        txn: &str,
        topic: &str,
        partition: i32,
        id: String,
        source: Option<Source>,
    ) {
        self.sends += 1;
        let op = recorder.invoke_with(
            &self.process,
            OpKind::Send {
                topic: topic.to_string(),
                partition,
                value: id.clone(),
                offset: None,
                idempotent: true,
                attempts: 0,
                max_in_flight: Some(self.max_in_flight),
                broker: None,
                txn: None,
                transactional_id: None,
                producer_id: None,
                epoch: None,
                source: None,
            },
            Extra::Send(SendTxn {
                txn: txn.to_string(),
                transactional_id: self.transactional_id.clone(),
                producer_id: Some(self.ids.0),
                epoch: Some(i32::from(self.ids.1)),
                source,
            }),
        );
        let ack: Ack = Box::pin(self.producer.send_traced(
            topic,
            partition,
            None,
            make_value(&id, w.record_bytes),
        ));
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        let (recorder, outstanding) = (recorder.clone(), self.outstanding.clone());
        tokio::spawn(async move {
            let delivery = ack.await;
            record_ack(&recorder, op, delivery);
            outstanding.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Waits until every send's outcome is recorded.
    async fn settle(&self) {
        self.producer.flush().await;
        while self.outstanding.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Ends `txn` (commit or abort), recording the `txn_end`. After a commit refused as
    /// abortable, aborts. Returns whether the instance can go on and whether the
    /// transaction committed.
    async fn end(&mut self, recorder: &Recorder, txn: &str, commit: bool) -> (bool, bool) {
        let op = recorder.txn_invoke(
            &self.process,
            TxnKind::TxnEnd {
                txn: txn.to_string(),
                transactional_id: Some(self.transactional_id.clone()),
                commit,
            },
        );
        let result = if commit {
            self.producer.commit_transaction(CALL_TIMEOUT).await
        } else {
            self.producer.abort_transaction(CALL_TIMEOUT).await
        };
        match &result {
            Ok(()) => recorder.txn_complete(op, Outcome::Ok, None, |_| {}),
            Err(e) => {
                tracing::debug!(process = %self.process, txn, commit, error = %e, "txn end failed");
                recorder.txn_complete(op, txn_outcome(e), Some(txn_error_name(e)), |_| {})
            }
        }
        self.settle().await;
        match result {
            Ok(()) => (true, commit),
            Err(e) if commit && e.is_abortable() => Box::pin(self.end(recorder, txn, false)).await,
            Err(_) => (false, false),
        }
    }
}

/// What a transaction was drawn to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Commit,
    Abort,
    Crash,
    Hang,
    Zombie,
}

fn draw_fate(rng: &mut SmallRng, x: &crate::spec::Transactions) -> Fate {
    let r: f64 = rng.gen();
    let mut at = x.crash_share;
    if r < at {
        return Fate::Crash;
    }
    at += x.hang_share;
    if r < at {
        return Fate::Hang;
    }
    at += x.zombie_share;
    if r < at {
        return Fate::Zombie;
    }
    at += x.abort_share;
    if r < at {
        return Fate::Abort;
    }
    Fate::Commit
}

fn exp_ms(rng: &mut SmallRng, mean_ms: u64) -> Duration {
    let u: f64 = rng.gen();
    Duration::from_secs_f64(-(1.0 - u).ln() * mean_ms as f64 / 1000.0)
}

/// A transactional producer node's life: instance after instance until the workload ends.
pub async fn run_txn_producer(client: TxnClient, ctx: TxnCtx) {
    let w = client.workload.clone();
    let x = w.transactions.clone();
    let incarnation = client.instances.load(Ordering::Relaxed);
    let mut rng = SmallRng::seed_from_u64(eddy_faults::derive_seed(
        ctx.seed,
        &format!("txn.{}", client.node),
        incarnation,
    ));
    let Some(mut inst) = Instance::start(&client, &ctx).await else {
        return;
    };
    while Instant::now() < ctx.until {
        tokio::time::sleep(exp_ms(&mut rng, x.pause_ms)).await;
        if Instant::now() >= ctx.until {
            break;
        }
        let fate = draw_fate(&mut rng, &x);
        let Some(txn) = inst.begin() else {
            match Instance::start(&client, &ctx).await {
                Some(next) => inst = next,
                None => return,
            }
            continue;
        };
        let k = rng.gen_range(x.records_min..=x.records_max).max(2);
        let mut used: Vec<i32> = Vec::new();
        let mut go_on = true;
        for i in 0..k {
            tokio::time::sleep(exp_ms(&mut rng, x.send_gap_ms)).await;
            if i == k / 2 {
                match fate {
                    Fate::Crash => {
                        tracing::info!(process = %inst.process, txn, "txn producer crash");
                        let _ = ctx.crashes.send(CrashRequest {
                            node: client.node.clone(),
                            down: Duration::from_millis(x.crash_down_ms),
                        });
                        std::future::pending::<()>().await;
                    }
                    Fate::Zombie => {
                        inst = zombie(inst, &client, &ctx, &w, &txn, &used, &mut rng).await;
                        go_on = false;
                        break;
                    }
                    _ => {}
                }
            }
            let partition = rng.gen_range(0..w.partitions);
            if !used.contains(&partition) {
                used.push(partition);
            }
            let id = format!("{}-{}", inst.process, inst.sends);
            inst.send(&ctx.recorder, &w, &txn, &w.topic, partition, id, None);
        }
        if !go_on {
            continue;
        }
        if fate == Fate::Hang {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(x.timeout_ms + 2_000)).await;
            ctx.note(
                started,
                format!(
                    "txn producer {} stalled in transaction {txn} past its {} ms timeout (workload.transactions.hang_share)",
                    inst.process, x.timeout_ms
                ),
            );
        }
        if !inst.end(&ctx.recorder, &txn, fate != Fate::Abort).await.0 {
            match Instance::start(&client, &ctx).await {
                Some(next) => inst = next,
                None => return,
            }
        }
    }
    inst.settle().await;
}

/// The zombie: `old` pauses in `txn` (its records so far acknowledged), a successor
/// initialises with the same transactional id (fencing it), then `old` resumes: more
/// records to the partitions it had added (half the time) and a commit, all of which must
/// be refused. Returns the successor.
async fn zombie(
    mut old: Instance,
    client: &TxnClient,
    ctx: &TxnCtx,
    w: &Workload,
    txn: &str,
    used: &[i32],
    rng: &mut SmallRng,
) -> Instance {
    let started = Instant::now();
    old.settle().await;
    let successor = Instance::start(client, ctx).await;
    if !used.is_empty() && rng.gen_bool(0.5) {
        for _ in 0..3 {
            let partition = used[rng.gen_range(0..used.len())];
            let id = format!("{}-{}", old.process, old.sends);
            old.send(&ctx.recorder, w, txn, &w.topic, partition, id, None);
        }
    }
    old.end(&ctx.recorder, txn, true).await;
    ctx.note(
        started,
        format!(
            "zombie txn producer {}: paused in {txn}, fenced by a successor, resumed (workload.transactions.zombie_share)",
            old.process
        ),
    );
    match successor {
        Some(s) => s,
        // The workload ended while the successor initialised: the old instance is all
        // there is; it is fenced or ends with the run.
        None => old,
    }
}

/// Kills and restarts transactional client nodes that ask for it (a crash mid-transaction),
/// writing each crash in the fault log.
pub async fn crash_supervisor(
    nodes: std::collections::BTreeMap<String, madsim::task::NodeId>,
    mut requests: mpsc::UnboundedReceiver<CrashRequest>,
    ctx: TxnCtx,
) {
    let handle = madsim::runtime::Handle::current();
    while let Some(req) = requests.recv().await {
        let Some(id) = nodes.get(&req.node).copied() else {
            continue;
        };
        let handle = handle.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            handle.kill(id);
            tokio::time::sleep(req.down).await;
            handle.restart(id);
            ctx.note(
                started,
                format!(
                    "crash {} mid-transaction (workload.transactions.crash_share)",
                    req.node
                ),
            );
        });
    }
}

/// A pipeline member: consume `workload.topic` read_committed in group `pipeline`, produce
/// one output record per input and commit the input offsets, transaction by transaction.
pub async fn run_pipeline(client: TxnClient, ctx: TxnCtx) {
    let w = client.workload.clone();
    let x = w.transactions.clone();
    let incarnation = client.instances.load(Ordering::Relaxed);
    let mut rng = SmallRng::seed_from_u64(eddy_faults::derive_seed(
        ctx.seed,
        &format!("txn.{}", client.node),
        incarnation,
    ));
    let reader = ConsumerRun {
        process: client.node.clone(),
        az: client.az.clone(),
        bootstrap: client.bootstrap.clone(),
        workload: w.clone(),
        partitions: Vec::new(),
        drain: false,
        read_back: false,
        read_committed: true,
        until: ctx.until,
    };
    let config = GroupConfig {
        group_id: PIPELINE_GROUP.to_string(),
        topics: vec![w.topic.clone()],
        session_timeout_ms: w.session_timeout_ms,
        rebalance_timeout_ms: w.session_timeout_ms.max(1_000) * 2,
        heartbeat_interval_ms: (w.session_timeout_ms / 3).max(100),
        auto_commit_interval_ms: w.commit_interval_ms,
        assignor: w.assignor,
        auto_commit: false,
    };
    let mut member = GroupConsumer::connect(
        config,
        consumer_config(&reader),
        client.bootstrap.clone(),
        dialer(client.transport.clone()),
    );
    let Some(mut inst) = Instance::start(&client, &ctx).await else {
        return;
    };
    let recorder = &ctx.recorder;
    // Rewound to the group's committed offsets: the reads of them are seeks.
    let mut rewound = false;
    while Instant::now() < ctx.until {
        let (events, kept) = member.keep_membership().await;
        if std::mem::take(&mut rewound) {
            for e in &events {
                if let eddy_client::GroupEvent::FetchedCommitted {
                    topic,
                    partition,
                    offset,
                    ..
                } = e
                {
                    let at = (*offset).max(0);
                    record_seek(recorder, &reader.process, topic, *partition, at);
                }
            }
            rewound = !events
                .iter()
                .any(|e| matches!(e, eddy_client::GroupEvent::FetchedCommitted { .. }));
        }
        crate::consumers::record_events(recorder, &reader.process, PIPELINE_GROUP, events);
        if kept.is_err() {
            continue;
        }
        let wait = w.fetch_max_wait_ms.min(
            ctx.until
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        );
        let invoke_us = recorder.now_us();
        let batches = match member.fetch(wait).await {
            Ok(b) => b,
            Err(e) => {
                let asked: Vec<(i32, i64)> = member
                    .assignment()
                    .iter()
                    .map(|(t, p)| (*p, member.position(t, *p).unwrap_or(-1)))
                    .collect();
                poll_failed(
                    recorder,
                    &reader,
                    invoke_us,
                    &asked,
                    Some(PIPELINE_GROUP),
                    &e.to_string(),
                );
                continue;
            }
        };
        // At most `pipeline_batch_max` inputs per transaction; a partition read past them
        // is sought back to its first input left (recorded as a seek).
        let mut inputs: Vec<(i32, i64, String)> = Vec::new();
        let mut offsets: Vec<(String, i32, i64)> = Vec::new();
        let mut seeks: Vec<(i32, i64)> = Vec::new();
        for b in batches
            .iter()
            .filter(|b| b.topic == w.topic && !b.records.is_empty())
        {
            let room = x.pipeline_batch_max.saturating_sub(inputs.len());
            if room == 0 {
                seeks.push((b.partition, b.records[0].0));
                continue;
            }
            let take = b.records.len().min(room);
            for (o, _, v) in &b.records[..take] {
                inputs.push((b.partition, *o, value_id(v)));
            }
            let next = if take < b.records.len() {
                let next = b.records[take].0;
                seeks.push((b.partition, next));
                Some(next)
            } else {
                member.position(&b.topic, b.partition)
            };
            if let Some(next) = next {
                offsets.push((b.topic.clone(), b.partition, next));
            }
        }
        let meta = member.group_metadata();
        let mut txn = match (&meta, inputs.is_empty()) {
            (Some(_), false) => inst.begin(),
            _ => None,
        };
        if txn.is_none() && meta.is_some() && !inputs.is_empty() {
            // The instance failed for good: a new one, then the transaction.
            match Instance::start(&client, &ctx).await {
                Some(next) => inst = next,
                None => break,
            }
            txn = inst.begin();
        }
        record_polls(
            recorder,
            &reader,
            invoke_us,
            batches.clone(),
            Some(PIPELINE_GROUP),
            txn.as_deref(),
        );
        for (partition, offset) in &seeks {
            member.seek(&w.topic, *partition, *offset);
            record_seek(recorder, &reader.process, &w.topic, *partition, *offset);
        }
        let (Some(txn), Some(meta)) = (txn, meta) else {
            if !inputs.is_empty() {
                // Read outside a transaction (no generation): read them again later.
                rewind(&mut member, &mut rewound);
            }
            continue;
        };
        for (partition, offset, id) in &inputs {
            // The input's value, position and the transaction: unique per send even when the
            // input topic holds a value twice (a non-idempotent producer's retry).
            let out_id = format!("{id}@{partition}.{offset}>{txn}");
            inst.send(
                recorder,
                &w,
                &txn,
                &x.output_topic,
                *partition,
                out_id,
                Some(Source {
                    topic: w.topic.clone(),
                    partition: *partition,
                    offset: *offset,
                }),
            );
        }
        let invoked = recorder.now_us();
        let sent = inst
            .producer
            .send_offsets_to_transaction(&offsets, &meta, CALL_TIMEOUT)
            .await;
        let completed = recorder.now_us();
        let (outcome, error) = match &sent {
            Ok(()) => (Outcome::Ok, None),
            Err(e) => (txn_outcome(e), Some(txn_error_name(e))),
        };
        for (topic, partition, offset) in &offsets {
            recorder.record_error_at(
                &inst.process,
                invoked,
                completed,
                outcome,
                error.clone(),
                OpKind::Commit {
                    group: PIPELINE_GROUP.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                    generation: Some(meta.generation_id),
                    member: Some(meta.member_id.clone()),
                    txn: None,
                },
            );
            recorder.annotate_last(Extra::Commit { txn: txn.clone() });
        }
        let commit = sent.is_ok() && !rng.gen_bool(x.abort_share);
        let (went_on, committed) = inst.end(recorder, &txn, commit).await;
        if !committed {
            rewind(&mut member, &mut rewound);
        }
        if !went_on {
            match Instance::start(&client, &ctx).await {
                Some(next) => inst = next,
                None => break,
            }
        }
    }
    inst.settle().await;
    let _ = member.close().await;
}

/// Forget the member's positions: its next poll starts at the group's committed offsets.
fn rewind(member: &mut GroupConsumer, rewound: &mut bool) {
    member.rewind_to_committed();
    *rewound = true;
}

fn record_seek(recorder: &Recorder, process: &str, topic: &str, partition: i32, offset: i64) {
    let now = recorder.now_us();
    recorder.record_at(
        process,
        now,
        now,
        Outcome::Ok,
        OpKind::Seek {
            topic: topic.to_string(),
            partition,
            offset,
            reset_from: None,
        },
    );
}
