//! The bodies of the agent's planted bugs (`eddy_controlplane::plants::Plant`), and the state only
//! they use. Each site in the product code is one line, `if plants.has(P) { planted::…(…) }`;
//! with no plant switched on, none of this runs.

use eddy_controlplane::sync::lock;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use eddy_controlplane::api::{ChunkSpec, CpError, LookupResult};
use object_store::{path::Path, ObjectStore, PutPayload};
use tokio::time::Instant;

/// State kept only for planted bugs (empty unless one is on).
#[derive(Default)]
pub struct PlantState {
    /// `ack-before-commit`: the next offset this agent guesses per partition.
    guesses: Mutex<BTreeMap<(String, i32), i64>>,
    /// `stale-high-watermark`: cached high watermarks and when they were read.
    high_watermarks: Mutex<BTreeMap<(String, i32), (i64, Instant)>>,
}

/// `ack-before-commit`: PUT the file under an early key and return the base offsets to
/// answer the producers with now, guessed from this agent's own view of each partition
/// (`None` when the PUT failed: the file then goes the normal way).
pub async fn ack_before_commit(
    state: &PlantState,
    store: &dyn ObjectStore,
    key: String,
    payload: PutPayload,
    chunks: &[ChunkSpec],
) -> Option<Vec<i64>> {
    store.put(&Path::from(key), payload).await.ok()?;
    let mut g = lock(&state.guesses);
    Some(
        chunks
            .iter()
            .map(|c| {
                let next = g.entry((c.topic.clone(), c.partition)).or_insert(0);
                let base = *next;
                *next += c.record_count as i64;
                base
            })
            .collect(),
    )
}

/// `ack-before-commit`: learn the offsets a commit really assigned.
pub fn learn_committed(state: &PlantState, chunks: &[ChunkSpec], base_offsets: &[i64]) {
    let mut g = lock(&state.guesses);
    for (c, base) in chunks.iter().zip(base_offsets) {
        let next = g.entry((c.topic.clone(), c.partition)).or_insert(0);
        *next = (*next).max(base + c.record_count as i64);
    }
}

/// `stale-high-watermark`: report a high watermark cached for up to a second, and serve
/// reads only up to it.
pub fn stale_high_watermark(
    state: &PlantState,
    wanted: &[(String, i32, i64, u64)],
    results: &mut [Result<LookupResult, CpError>],
) {
    let now = Instant::now();
    let mut cache = lock(&state.high_watermarks);
    for ((topic, partition, _, _), result) in wanted.iter().zip(results.iter_mut()) {
        let Ok(found) = result else { continue };
        let key = (topic.clone(), *partition);
        let cached = match cache.get(&key) {
            Some((hwm, at)) if now.duration_since(*at) < Duration::from_secs(1) => *hwm,
            _ => {
                cache.insert(key, (found.high_watermark, now));
                found.high_watermark
            }
        };
        if cached < found.high_watermark {
            found.high_watermark = cached;
            found.extents.retain(|e| e.base_offset < cached);
        }
    }
}

/// `compaction-drops-batch`: lose the first batch of a merged run of two or more.
pub fn drop_first_batch(run: &mut BytesMut) {
    if let Ok(first) = crate::batch::parse_one(run, 0, false) {
        if first.len < run.len() {
            let _ = run.split_to(first.len);
        }
    }
}
