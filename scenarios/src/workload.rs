//! Workload clients: open-loop producers, fetch-loop consumers and the final drain reader.
//! Every operation they perform is recorded in the history.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_client::{
    Consumer, ConsumerConfig, Delivery, DialFn, OffsetReset, PolledBatch, Producer, ProducerConfig,
};
use eddy_controlplane::net::Transport;
use eddy_reports::{OpKind, Outcome, Rec};
use futures::stream::{FuturesUnordered, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::recorder::{Pending, Recorder};
use crate::spec::Workload;

/// A record's value is `<id>|<padding>`; the history keeps only the id.
pub fn make_value(id: &str, bytes: usize) -> Bytes {
    let mut v = Vec::with_capacity(bytes.max(id.len() + 1));
    v.extend_from_slice(id.as_bytes());
    v.push(b'|');
    if v.len() < bytes {
        v.resize(bytes, b'.');
    }
    Bytes::from(v)
}

pub fn value_id(value: &[u8]) -> String {
    let end = memchr::memchr(b'|', value).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

pub fn dialer(transport: Arc<dyn Transport>) -> DialFn {
    Arc::new(move |addr| {
        let fut = transport.connect(addr);
        Box::pin(async move { fut.await.map(|c| Box::new(c) as eddy_client::BoxStream) })
    })
}

pub fn client_id(process: &str, az: &str, zone_aware: bool) -> String {
    if zone_aware {
        format!("{process},ws_az={az}")
    } else {
        process.to_string()
    }
}

/// Seed of a process's own RNG: the run seed mixed with the process name.
pub fn process_seed(seed: u64, process: &str) -> u64 {
    eddy_faults::derive_seed(seed, process, 0)
}

pub struct ProducerRun {
    pub process: String,
    pub az: String,
    pub bootstrap: Vec<String>,
    pub workload: Workload,
    pub seed: u64,
    /// Stop issuing sends at this instant.
    pub until: Instant,
}

/// Issue sends on a Poisson schedule at the workload's rate until `until`.
pub async fn run_producer(run: ProducerRun, transport: Arc<dyn Transport>, recorder: Recorder) {
    let w = &run.workload;
    let config = ProducerConfig {
        client_id: client_id(&run.process, &run.az, w.zone_aware),
        linger_ms: w.linger_ms,
        batch_max_bytes: w.batch_bytes_max,
        request_timeout_ms: w.request_timeout_ms,
        delivery_timeout_ms: w.delivery_timeout_ms,
        idempotent: w.idempotent,
        max_in_flight: if w.idempotent {
            w.max_in_flight.clamp(1, 5)
        } else {
            w.max_in_flight.max(1)
        },
        ..ProducerConfig::default()
    };
    let max_in_flight = u32::try_from(config.max_in_flight).ok();
    let producer = match Producer::new(config, run.bootstrap.clone(), dialer(transport.clone())) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(process = %run.process, error = %e, "producer configuration rejected");
            return;
        }
    };
    if w.records_per_s <= 0.0 {
        return;
    }
    let mut rng = SmallRng::seed_from_u64(process_seed(run.seed, &run.process));
    let gaps =
        Exp::new(w.records_per_s).unwrap_or_else(|_| Exp::new(1.0).expect("1.0 is a valid rate"));
    let mut next = Instant::now();
    let mut seq = 0u64;
    let reads = (w.read_your_writes > 0.0).then(|| {
        let reader = ConsumerRun {
            process: format!("{}-ryw", run.process),
            az: run.az.clone(),
            bootstrap: run.bootstrap.clone(),
            workload: w.clone(),
            partitions: Vec::new(),
            drain: false,
            read_back: true,
            read_committed: false,
            until: run.until,
        };
        let consumer = Consumer::new(
            consumer_config(&reader),
            run.bootstrap.clone(),
            dialer(transport.clone()),
        );
        ReadYourWrites {
            share: w.read_your_writes.min(1.0),
            rng: SmallRng::seed_from_u64(process_seed(run.seed, &reader.process)),
            tx: read_after_ack(consumer, recorder.clone(), reader),
        }
    });
    let acks = record_acks(recorder.clone(), reads);
    loop {
        next += Duration::from_secs_f64(gaps.sample(&mut rng));
        if next >= run.until {
            break;
        }
        tokio::time::sleep_until(next).await;
        if recorder.outstanding() >= w.outstanding_max {
            continue;
        }
        let partition = rng.gen_range(0..w.partitions);
        let id = format!("{}-{seq}", run.process);
        seq += 1;
        let op = recorder.invoke(
            &run.process,
            OpKind::Send {
                topic: w.topic.clone(),
                partition,
                value: id.clone(),
                offset: None,
                idempotent: w.idempotent,
                // Filled in with the outcome; 0 while (or if never) known.
                attempts: 0,
                max_in_flight,
                broker: None,
                txn: None,
                transactional_id: None,
                producer_id: None,
                epoch: None,
                source: None,
            },
        );
        let ack = producer.send_traced(&w.topic, partition, None, make_value(&id, w.record_bytes));
        let _ = acks.send((op, partition, Box::pin(ack)));
    }
    producer.flush().await;
    // Keep the producer (and its retries) alive until the run ends.
    std::future::pending::<()>().await;
}

type Ack = Pin<Box<dyn Future<Output = Delivery> + Send>>;

/// Records each send's outcome when its acknowledgement arrives, in one task for all of a
/// producer's sends (a task per send cost a task allocation and madsim's bookkeeping for
/// every record).
fn record_acks(
    recorder: Recorder,
    mut reads: Option<ReadYourWrites>,
) -> mpsc::UnboundedSender<(Pending, i32, Ack)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Pending, i32, Ack)>();
    tokio::spawn(async move {
        let mut waiting = FuturesUnordered::new();
        let mut open = true;
        loop {
            tokio::select! {
                biased;
                Some((op, partition, result)) = waiting.next(), if !waiting.is_empty() => {
                    let result: Delivery = result;
                    let acked = result.result.as_ref().ok().copied();
                    record_ack(&recorder, op, result);
                    if let (Some(r), Some(offset)) = (reads.as_mut(), acked) {
                        r.after_ack(partition, offset);
                    }
                }
                job = rx.recv(), if open => match job {
                    Some((op, partition, ack)) => waiting.push(async move { (op, partition, ack.await) }),
                    None => open = false,
                },
                else => break,
            }
        }
    });
    tx
}

/// The read-your-writes side of a producer: after a share of its acknowledgements, a
/// fetch of that partition at the acknowledged offset by its reader process.
struct ReadYourWrites {
    share: f64,
    rng: SmallRng,
    tx: mpsc::Sender<(i32, i64)>,
}

impl ReadYourWrites {
    fn after_ack(&mut self, partition: i32, offset: i64) {
        if self.rng.gen_bool(self.share) {
            // One read at a time: an ack while a read is under way is not followed by one.
            let _ = self.tx.try_send((partition, offset));
        }
    }
}

/// The task that reads back right after acknowledgements: a seek to the acknowledged
/// offset and one fetch that does not wait, recorded as the reader's Seek and Poll ops (a
/// failed fetch is not recorded: it claims nothing). The record must be there and the
/// high watermark above it (`lost_write`, `stale_read`).
fn read_after_ack(
    mut consumer: Consumer,
    recorder: Recorder,
    reader: ConsumerRun,
) -> mpsc::Sender<(i32, i64)> {
    let (tx, mut rx) = mpsc::channel::<(i32, i64)>(1);
    let topic = reader.workload.topic.clone();
    tokio::spawn(async move {
        while let Some((partition, offset)) = rx.recv().await {
            let invoke_us = recorder.now_us();
            consumer.assign(vec![(topic.clone(), partition)]);
            consumer.seek(&topic, partition, offset);
            recorder.record(
                &reader.process,
                invoke_us,
                Outcome::Ok,
                OpKind::Seek {
                    topic: topic.clone(),
                    partition,
                    offset,
                    reset_from: None,
                },
            );
            match consumer.poll(0).await {
                Ok(batches) => poll_once_batches(&recorder, &reader, invoke_us, batches, None),
                Err(e) => {
                    tracing::debug!(process = %reader.process, error = %e, "read-back failed")
                }
            }
        }
    });
    tx
}

/// The error a producer was given, as the history names it: the broker's Kafka error name
/// (`NOT_LEADER_OR_FOLLOWER`), else what the client concluded (`NOT_SENT` for a definite
/// failure the broker did not name, `OUTCOME_UNKNOWN` for an indeterminate one).
pub fn error_name(e: &eddy_client::SendError) -> String {
    match e {
        eddy_client::SendError::Failed {
            error_code: Some(code),
            ..
        } => kafka_error_name(*code),
        eddy_client::SendError::Failed { .. } => "NOT_SENT".to_string(),
        eddy_client::SendError::Indeterminate { .. } => "OUTCOME_UNKNOWN".to_string(),
    }
}

/// A Kafka error code's name in the protocol's spelling (`OFFSET_OUT_OF_RANGE`).
pub fn kafka_error_name(code: i16) -> String {
    match kafka_protocol::error::ResponseError::try_from_code(code) {
        Some(e) => {
            let camel = format!("{e:?}");
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
        None => format!("ERROR_{code}"),
    }
}

/// Completes a send op: its outcome, offset, and the requests that carried it (how many,
/// and the broker of the last).
pub fn record_ack(recorder: &Recorder, op: Pending, delivery: Delivery) {
    let (outcome, offset) = match &delivery.result {
        Ok(offset) => (Outcome::Ok, Some(*offset)),
        Err(e) if e.is_definite() => (Outcome::Failed, None),
        Err(_) => (Outcome::Indeterminate, None),
    };
    let error = delivery.result.as_ref().err().map(error_name);
    recorder.complete(op, outcome, error, |k| {
        if let OpKind::Send {
            offset: o,
            attempts,
            broker,
            ..
        } = k
        {
            *o = offset;
            *attempts = delivery.attempts;
            *broker = delivery.broker.map(|b| b.to_string());
        }
    });
}

pub struct ConsumerRun {
    pub process: String,
    pub az: String,
    pub bootstrap: Vec<String>,
    pub workload: Workload,
    pub partitions: Vec<i32>,
    pub drain: bool,
    /// Reads back right after its producer's acknowledgements (not a consumer).
    pub read_back: bool,
    /// Reads `read_committed` (`workload.transactions.read_committed_per_az`).
    pub read_committed: bool,
    /// Stop polling at this instant (the drain reader stops earlier, once caught up).
    pub until: Instant,
}

pub fn consumer_config(run: &ConsumerRun) -> ConsumerConfig {
    ConsumerConfig {
        client_id: client_id(&run.process, &run.az, run.workload.zone_aware),
        auto_offset_reset: OffsetReset::Earliest,
        fetch_max_bytes: run.workload.fetch_max_bytes,
        partition_max_bytes: run.workload.partition_fetch_max_bytes,
        isolation: if run.read_committed {
            eddy_client::Isolation::ReadCommitted
        } else {
            eddy_client::Isolation::ReadUncommitted
        },
        ..ConsumerConfig::default()
    }
}

/// Poll the assigned partitions from offset 0 until `until`, recording every poll.
pub async fn run_consumer(run: ConsumerRun, transport: Arc<dyn Transport>, recorder: Recorder) {
    let mut consumer = Consumer::new(
        consumer_config(&run),
        run.bootstrap.clone(),
        dialer(transport),
    );
    let topic = run.workload.topic.clone();
    consumer.assign(run.partitions.iter().map(|p| (topic.clone(), *p)).collect());
    for p in &run.partitions {
        consumer.seek(&topic, *p, 0);
    }
    while Instant::now() < run.until {
        let wait = run.workload.fetch_max_wait_ms.min(
            run.until
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        );
        poll_once(&mut consumer, &run, &recorder, wait).await;
    }
}

async fn poll_once(
    consumer: &mut Consumer,
    run: &ConsumerRun,
    recorder: &Recorder,
    wait_ms: u64,
) -> bool {
    let invoke_us = recorder.now_us();
    match consumer.poll(wait_ms).await {
        Ok(batches) => {
            poll_once_batches(recorder, run, invoke_us, batches, None);
            true
        }
        Err(e) => {
            tracing::debug!(process = %run.process, error = %e, "poll failed");
            let asked: Vec<(i32, i64)> = run
                .partitions
                .iter()
                .map(|&p| (p, consumer.position(&run.workload.topic, p).unwrap_or(-1)))
                .collect();
            poll_failed(recorder, run, invoke_us, &asked, None, &e.to_string());
            tokio::time::sleep(Duration::from_millis(100)).await;
            false
        }
    }
}

/// Record what one poll returned (resets as seeks, then one poll op per partition).
pub fn poll_once_batches(
    recorder: &Recorder,
    run: &ConsumerRun,
    invoke_us: u64,
    batches: Vec<PolledBatch>,
    group: Option<&str>,
) {
    record_polls(recorder, run, invoke_us, batches, group, None)
}

/// Like [`poll_once_batches`]; `txn`: the pipeline transaction the records feed. A
/// read_committed poll carries its isolation and the last stable offset reported.
pub fn record_polls(
    recorder: &Recorder,
    run: &ConsumerRun,
    invoke_us: u64,
    batches: Vec<PolledBatch>,
    group: Option<&str>,
    txn: Option<&str>,
) {
    for b in batches {
        if let Some(from) = b.reset_from {
            recorder.record(
                &run.process,
                invoke_us,
                Outcome::Ok,
                OpKind::Seek {
                    topic: b.topic.clone(),
                    partition: b.partition,
                    offset: b.fetch_offset,
                    reset_from: Some(from),
                },
            );
            tracing::info!(process = %run.process, from, to = b.fetch_offset, "offset reset");
        }
        if b.log_start > 0 {
            recorder.log_start(&run.process, invoke_us, &b.topic, b.partition, b.log_start);
        }
        if b.records.is_empty() && b.high_watermark < 0 {
            continue;
        }
        let records = b
            .records
            .iter()
            .map(|(offset, _, value)| Rec {
                offset: *offset,
                value: value_id(value),
            })
            .collect();
        recorder.record(
            &run.process,
            invoke_us,
            Outcome::Ok,
            OpKind::Poll {
                topic: b.topic,
                partition: b.partition,
                fetch_offset: b.fetch_offset,
                records,
                high_watermark: Some(b.high_watermark),
                drain: run.drain,
                group: group.map(str::to_string),
                read_back: run.read_back,
                isolation: Default::default(),
                last_stable: None,
                txn: None,
            },
        );
        if run.read_committed || txn.is_some() {
            recorder.annotate_last(crate::txnlog::Extra::Poll(crate::txnlog::PollTxn {
                isolation: run.read_committed.then_some("read_committed"),
                last_stable: (run.read_committed && b.last_stable >= 0).then_some(b.last_stable),
                txn: txn.map(str::to_string),
            }));
        }
    }
}

/// Record a poll that failed as a whole: one failed poll op per partition it asked for
/// (`(partition, position)`), with the error. They are no observations (only `ok` polls
/// are); the availability verdict counts a reader whose polls fail as unserved.
pub fn poll_failed(
    recorder: &Recorder,
    run: &ConsumerRun,
    invoke_us: u64,
    asked: &[(i32, i64)],
    group: Option<&str>,
    error: &str,
) {
    for &(partition, fetch_offset) in asked {
        recorder.record_failed(
            &run.process,
            invoke_us,
            error.to_string(),
            OpKind::Poll {
                topic: run.workload.topic.clone(),
                partition,
                fetch_offset,
                records: Vec::new(),
                high_watermark: None,
                drain: run.drain,
                group: group.map(str::to_string),
                read_back: run.read_back,
                isolation: Default::default(),
                last_stable: None,
                txn: None,
            },
        );
        if run.read_committed {
            recorder.annotate_last(crate::txnlog::Extra::Poll(crate::txnlog::PollTxn {
                isolation: Some("read_committed"),
                last_stable: None,
                txn: None,
            }));
        }
    }
}

/// The final read-back: find each partition's high watermark, then read it all from the
/// start. Returns true when every partition was read up to its high watermark.
pub async fn run_drain(
    run: ConsumerRun,
    transport: Arc<dyn Transport>,
    recorder: Recorder,
) -> bool {
    let mut consumer = Consumer::new(
        consumer_config(&run),
        run.bootstrap.clone(),
        dialer(transport),
    );
    let topic = run.workload.topic.clone();
    let mut targets = Vec::new();
    for p in &run.partitions {
        loop {
            let invoke_us = recorder.now_us();
            match consumer.list_offsets(&topic, *p, -1).await {
                Ok(hwm) => {
                    recorder.record(
                        &run.process,
                        invoke_us,
                        Outcome::Ok,
                        OpKind::ListOffsets {
                            topic: topic.clone(),
                            partition: *p,
                            high_watermark: hwm,
                        },
                    );
                    targets.push((*p, hwm));
                    break;
                }
                Err(e) if Instant::now() < run.until => {
                    tracing::debug!(error = %e, "drain: ListOffsets failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => return false,
            }
        }
    }
    consumer.assign(targets.iter().map(|(p, _)| (topic.clone(), *p)).collect());
    for (p, _) in &targets {
        consumer.seek(&topic, *p, 0);
    }
    loop {
        let done = targets
            .iter()
            .all(|(p, hwm)| consumer.position(&topic, *p).is_some_and(|pos| pos >= *hwm));
        if done {
            return true;
        }
        if Instant::now() >= run.until {
            return false;
        }
        poll_once(&mut consumer, &run, &recorder, 100).await;
    }
}
