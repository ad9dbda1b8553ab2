//! The producer's sender task: repeatedly asks the accumulator what is ready, sends one
//! produce request per broker (each in its own task, so up to `max_in_flight` requests are
//! pipelined on a connection), refreshes metadata and acquires the idempotent producer id
//! when needed, and sleeps until the next linger/backoff/expiry deadline or a wake-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::state::{lock, Outcome, ProduceJob};
use super::{Inner, Lane};
use crate::error::ClientError;

/// Runs until the producer is dropped (which aborts this task).
pub(super) async fn run(inner: Arc<Inner>) {
    let backoff = Duration::from_millis(inner.config.retry_backoff_ms);
    loop {
        let (plan, needs_id, to_add) = {
            let mut st = lock(&inner.state);
            let reset_completed = st.reset_producer_if_due();
            let mut plan = st.plan(&inner.config, &inner.cluster, Instant::now());
            plan.completed |= reset_completed;
            let needs_id = st.needs_producer_id(&inner.config) && st.has_queued();
            let to_add = if inner.config.transactional_id.is_some() {
                st.partitions_to_add(&inner.cluster)
            } else {
                Vec::new()
            };
            (plan, needs_id, to_add)
        };
        if plan.completed {
            inner.progress.send_modify(|g| *g += 1);
        }
        let dispatched = !plan.jobs.is_empty();
        for job in plan.jobs {
            dispatch(&inner, job);
        }
        if !to_add.is_empty() {
            if !super::txn::add_partitions(&inner, to_add).await {
                tokio::time::sleep(backoff).await;
            }
            inner.progress.send_modify(|g| *g += 1);
            continue;
        }
        if needs_id {
            match init_producer_id(&inner).await {
                Ok(id) => lock(&inner.state).producer = Some(id),
                Err(_) => tokio::time::sleep(backoff).await,
            }
            continue;
        }
        if !plan.refresh.is_empty() {
            let _ = inner.cluster.refresh_metadata(&plan.refresh).await;
            continue;
        }
        if dispatched {
            // More batches may be sendable (one request per broker per plan).
            continue;
        }
        let notified = inner.wake.notified();
        match plan.next_deadline {
            Some(deadline) => {
                tokio::select! {
                    biased;
                    _ = notified => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
            None => notified.await,
        }
    }
}

/// InitProducerId (no transactional id) at any reachable broker.
async fn init_producer_id(inner: &Inner) -> Result<(i64, i16), ClientError> {
    let conn = inner.cluster.any_connection().await?;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let resp = conn.request(&request).await?;
    if let Some(e) = ResponseError::try_from_code(resp.error_code) {
        return Err(ClientError::Broker(e));
    }
    Ok((resp.producer_id.0, resp.producer_epoch))
}

fn build_request(inner: &Inner, job: &ProduceJob) -> ProduceRequest {
    let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for ((topic, partition), batch) in &job.batches {
        topics.entry(topic.as_str()).or_default().push(
            PartitionProduceData::default()
                .with_index(*partition)
                .with_records(batch.encoded.as_ref().map(|e| e.bytes.clone())),
        );
    }
    let topic_data = topics
        .into_iter()
        .map(|(topic, partitions)| {
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(partitions)
        })
        .collect();
    ProduceRequest::default()
        .with_transactional_id(
            inner
                .config
                .transactional_id
                .as_ref()
                .map(|t| TransactionalId(StrBytes::from_string(t.clone()))),
        )
        .with_acks(inner.config.acks)
        .with_timeout_ms(i32::try_from(inner.config.request_timeout_ms).unwrap_or(i32::MAX))
        .with_topic_data(topic_data)
}

/// Hands a job to its broker's lane, starting the lane on first use.
fn dispatch(inner: &Arc<Inner>, job: ProduceJob) {
    let mut lanes = lock(&inner.lanes);
    let lane = lanes.entry(job.addr).or_insert_with(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(lane(inner.clone(), job.addr, rx));
        Lane { tx, task }
    });
    if let Err(mpsc::error::SendError(job)) = lane.tx.send(job) {
        // Only after the producer was dropped; report like any failed request.
        let inner = inner.clone();
        tokio::spawn(async move { complete(inner, job, Err(ClientError::Closed)).await });
    }
}

/// Writes the produce requests for one broker strictly in plan order (so batches of a
/// partition reach the broker in sequence order), then waits for each answer in its own
/// task so up to `max_in_flight` requests are pipelined.
async fn lane(inner: Arc<Inner>, addr: SocketAddr, mut jobs: mpsc::UnboundedReceiver<ProduceJob>) {
    let timeout = Duration::from_millis(inner.config.request_timeout_ms);
    while let Some(job) = jobs.recv().await {
        let request = build_request(&inner, &job);
        let sent = match inner.cluster.connection(addr).await {
            Ok(conn) => conn.send(&request, timeout).await.map(|p| (conn, p)),
            Err(e) => Err(e),
        };
        match sent {
            Ok((conn, pending)) => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    let result = conn.wait(pending).await;
                    complete(inner, job, result).await;
                });
            }
            Err(e) => complete(inner.clone(), job, Err(e)).await,
        }
    }
}

/// Hands every batch's outcome of one produce request to the accumulator.
async fn complete(
    inner: Arc<Inner>,
    job: ProduceJob,
    result: Result<ProduceResponse, ClientError>,
) {
    let outcomes: Vec<_> = match result {
        Ok(resp) => {
            let mut answers = BTreeMap::new();
            for topic in resp.responses {
                let name = topic.name.0.as_str().to_string();
                for p in topic.partition_responses {
                    answers.insert((name.clone(), p.index), p);
                }
            }
            job.batches
                .into_iter()
                .map(|(tp, batch)| {
                    let outcome = match answers.remove(&tp) {
                        Some(p) if p.error_code == 0 => Outcome::Acked {
                            base_offset: p.base_offset,
                        },
                        Some(p) => Outcome::BrokerError {
                            code: p.error_code,
                            message: p
                                .error_message
                                .map(|m| m.as_str().to_string())
                                .unwrap_or_default(),
                        },
                        None => Outcome::RequestFailed {
                            error: ClientError::Protocol(
                                "partition missing from produce response".to_string(),
                            ),
                        },
                    };
                    (tp, batch, outcome)
                })
                .collect()
        }
        Err(error) => {
            if !matches!(error, ClientError::UnsupportedVersion(_)) {
                inner.cluster.drop_connection(job.addr).await;
            }
            job.batches
                .into_iter()
                .map(|(tp, batch)| {
                    let outcome = Outcome::RequestFailed {
                        error: error.clone(),
                    };
                    (tp, batch, outcome)
                })
                .collect()
        }
    };
    for (tp, _, outcome) in &outcomes {
        if outcome.needs_metadata_refresh() {
            inner.cluster.invalidate(&tp.0);
        }
    }
    lock(&inner.state).finish(&inner.config, job.addr, outcomes, Instant::now());
    inner.progress.send_modify(|g| *g += 1);
    inner.wake.notify_one();
}
