//! The agent's maintenance worker: asks the control plane for jobs and runs them —
//! compaction (read the source extents run by run, write them concatenated to one new
//! object, report where each run landed), deletion of files nobody references any more, and
//! orphan scans (list the data prefixes and report every key).
//!
//! The agent decides nothing: the control plane validates and journals every outcome. A
//! crash mid-job only leaves an uncommitted object behind (orphan cleanup removes it) and a
//! lease that lapses (another agent retries with a fresh output key).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use eddy_controlplane::api::{
    ControlPlaneClient, JobOutcome, JobSpec, JobVerdict, JobWork, OutputRun, SourceRun,
};
use eddy_controlplane::plants::{Plant, Plants};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

/// Deletions issued at once by one delete job.
const DELETES_IN_FLIGHT_MAX: usize = 16;

/// Poll for jobs every `poll` and run them one at a time, forever.
pub async fn run(
    store: Arc<dyn ObjectStore>,
    cp: ControlPlaneClient,
    worker: String,
    poll: Duration,
    plants: Plants,
) {
    let mut idle = true;
    loop {
        // Straight on to the next job after one was done; wait only when there was none.
        if idle {
            tokio::time::sleep(poll).await;
        }
        idle = true;
        let job = match cp.lease_job(worker.clone()).await {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "asking for a job failed");
                continue;
            }
        };
        idle = false;
        let (id, attempt) = (job.id, job.attempt);
        let outcome = execute(store.as_ref(), job, &plants).await;
        tracing::debug!(id, attempt, ?outcome, "job done");
        match cp.finish_job(id, attempt, outcome).await {
            Ok(JobVerdict { accepted, message }) if !accepted => {
                eddy_probe::hit("agent.compactor.outcome_refused");
                tracing::info!(id, attempt, %message, "job outcome not taken")
            }
            Ok(_) => {}
            // The lease lapses and another agent redoes the job.
            Err(e) => tracing::debug!(id, error = %e, "reporting a job failed"),
        }
    }
}

/// Run one job.
pub async fn execute(store: &dyn ObjectStore, job: JobSpec, plants: &Plants) -> JobOutcome {
    let result = match job.work {
        JobWork::Compact { output_key, runs } => compact(store, output_key, &runs, plants).await,
        JobWork::Delete { mut keys } => {
            if plants.has(Plant::DeleteKeepsLast) {
                keys.pop();
            }
            delete(store, keys).await
        }
        JobWork::ScanOrphans { prefixes } => scan(store, &prefixes).await,
    };
    result.unwrap_or_else(|e| {
        eddy_probe::hit("agent.compactor.job_failed");
        JobOutcome::Failed {
            reason: e.to_string(),
        }
    })
}

async fn compact(
    store: &dyn ObjectStore,
    output_key: String,
    runs: &[SourceRun],
    plants: &Plants,
) -> object_store::Result<JobOutcome> {
    // One read per source object: every range it holds, coalesced by the store.
    let mut by_key: std::collections::BTreeMap<&str, Vec<(usize, usize)>> = Default::default();
    for (r, run) in runs.iter().enumerate() {
        for (e, extent) in run.extents.iter().enumerate() {
            by_key.entry(extent.key.as_str()).or_default().push((r, e));
        }
    }
    let mut bodies: Vec<Vec<Bytes>> = runs
        .iter()
        .map(|r| vec![Bytes::new(); r.extents.len()])
        .collect();
    for (key, slots) in by_key {
        let ranges: Vec<_> = slots
            .iter()
            .map(|(r, e)| {
                let x = &runs[*r].extents[*e];
                x.byte_start..x.byte_start + x.byte_len
            })
            .collect();
        let got = store.get_ranges(&Path::from(key), &ranges).await?;
        for ((r, e), body) in slots.into_iter().zip(got) {
            bodies[r][e] = body;
        }
    }
    let mut out = BytesMut::new();
    let mut placed = Vec::with_capacity(runs.len());
    for (run, parts) in runs.iter().zip(bodies) {
        let start = out.len() as u64;
        let mut run_bytes = BytesMut::new();
        for part in parts {
            run_bytes.extend_from_slice(&part);
        }
        if plants.has(Plant::CompactionDropsBatch) {
            crate::planted::drop_first_batch(&mut run_bytes);
        }
        out.extend_from_slice(&run_bytes);
        let (Some(first), Some(last)) = (run.extents.first(), run.extents.last()) else {
            continue;
        };
        placed.push(OutputRun {
            topic: run.topic.clone(),
            partition: run.partition,
            base_offset: first.base_offset,
            last_offset: last.last_offset,
            byte_start: start,
            byte_len: out.len() as u64 - start,
            max_timestamp: run
                .extents
                .iter()
                .map(|e| e.max_timestamp)
                .max()
                .unwrap_or(-1),
        });
    }
    let size = out.len() as u64;
    store
        .put(
            &Path::from(output_key.as_str()),
            PutPayload::from(out.freeze()),
        )
        .await?;
    Ok(JobOutcome::Compacted {
        output_key,
        size,
        runs: placed,
    })
}

async fn delete(store: &dyn ObjectStore, keys: Vec<String>) -> object_store::Result<JobOutcome> {
    let results: Vec<object_store::Result<()>> = futures::stream::iter(keys)
        .map(|k| async move {
            match store.delete(&Path::from(k.as_str())).await {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                other => other,
            }
        })
        .buffered(DELETES_IN_FLIGHT_MAX)
        .collect()
        .await;
    results.into_iter().collect::<object_store::Result<()>>()?;
    Ok(JobOutcome::Deleted)
}

async fn scan(store: &dyn ObjectStore, prefixes: &[String]) -> object_store::Result<JobOutcome> {
    let mut keys = Vec::new();
    for p in prefixes {
        let metas: Vec<_> = store
            .list(Some(&Path::from(p.as_str())))
            .try_collect()
            .await?;
        keys.extend(metas.into_iter().map(|m| m.location.to_string()));
    }
    keys.sort_unstable();
    Ok(JobOutcome::Scanned { keys })
}
