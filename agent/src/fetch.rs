//! The fetch path: resolve offsets to extents through the control plane (long-polling when
//! nothing is new), read the byte ranges from object storage, patch base offsets in place.
//!
//! Invariant: a partition's records never go beyond the high watermark reported with them,
//! because both come from one control-plane lookup.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use eddy_controlplane::api::{CpError, Extent, LookupQuery, LookupResult};
use eddy_controlplane::plants::Plant;
use futures::future::join_all;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use crate::batch::{control_batch, patch_extent_into};
use crate::codes;
use crate::server::AgentInner;

/// Bytes of a transaction marker's control batch (`batch::control_batch`), for the budgets.
pub const MARKER_BYTES: usize = 78;

/// Most partitions served in one fetch request.
pub const FETCH_PARTITIONS_MAX: usize = 10_000;

impl AgentInner {
    pub async fn fetch(&self, req: FetchRequest) -> FetchResponse {
        let mut r = FetchResponse::default();
        // (topic, partition, fetch offset, partition budget) in request order.
        let mut wanted = Vec::new();
        for t in &req.topics {
            for p in &t.partitions {
                wanted.push((
                    t.topic.0.to_string(),
                    p.partition,
                    p.fetch_offset,
                    p.partition_max_bytes.max(0) as u64,
                ));
            }
        }
        // Kafka's read_committed: data only below the last stable offset, with the aborted
        // transactions it overlaps (the consumer drops their batches).
        let read_committed = req.isolation_level == 1;
        let mut results: Vec<Result<LookupResult, CpError>> = Vec::new();
        if wanted.len() > FETCH_PARTITIONS_MAX {
            r.error_code = codes::INVALID_REQUEST;
        } else if !wanted.is_empty() {
            let queries = wanted
                .iter()
                .map(|(topic, partition, offset, max)| LookupQuery {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                    max_bytes: (*max).max(1),
                    read_committed,
                })
                .collect();
            let wait_ms = if req.min_bytes > 0 {
                (req.max_wait_ms.max(0) as u64).min(self.config.fetch_wait_ms_max)
            } else {
                0
            };
            results = match self.cp.lookup(queries, wait_ms).await {
                Ok(results) => results,
                Err(e) => vec![Err(e); wanted.len()],
            };
        }
        if self.config.plants.has(Plant::StaleHighWatermark) {
            crate::planted::stale_high_watermark(&self.planted, &wanted, &mut results);
        }
        // Plan every partition's reads against the byte budgets, then issue all storage
        // reads at once: a fetch costs one round of GETs, not one per partition.
        let cap = usize::try_from(self.config.fetch_response_bytes_max).unwrap_or(usize::MAX);
        let budget = if req.max_bytes > 0 {
            (req.max_bytes as usize).min(cap)
        } else {
            cap
        };
        let plans = plan_breadth_first(&wanted, &results, budget);
        // One read per object: extents of the same file (chunks of different partitions
        // written together) are read together (pages, or `get_ranges` with the cache off,
        // which coalesces nearby ranges into as few GETs as possible).
        let mut by_key: BTreeMap<&str, Vec<(usize, Range<u64>)>> = BTreeMap::new();
        // Transaction markers are in no file: their control batches are written here.
        let mut markers: Vec<(usize, Bytes)> = Vec::new();
        let mut slot = 0usize;
        for e in plans
            .iter()
            .flat_map(|plan| plan.iter().flat_map(|(_, extents)| extents.iter()))
        {
            if let Some(m) = &e.marker {
                let batch = control_batch(
                    e.base_offset,
                    m.producer_id,
                    m.producer_epoch,
                    m.commit,
                    e.max_timestamp,
                    0,
                );
                markers.push((slot, Bytes::from(batch)));
                slot += 1;
                continue;
            }
            by_key
                .entry(e.key.as_str())
                .or_default()
                .push((slot, e.byte_start..e.byte_start + e.byte_len));
            slot += 1;
        }
        // Through the zone cache: page-aligned reads shared by the agents of this AZ.
        let peers = self.cluster.zone_agents();
        let reads = by_key.into_iter().map(|(key, wanted)| {
            let cache = self.zone_cache.clone();
            let peers = &peers;
            async move {
                let ranges: Vec<Range<u64>> = wanted.iter().map(|(_, r)| r.clone()).collect();
                let got = cache.read_ranges(key, &ranges, peers).await;
                (wanted, got)
            }
        });
        // BUGGIFY: a slow fetch between the lookup and the reads (data may move meanwhile).
        if madsim::buggify::buggify_with_prob(0.02) {
            crate::produce::buggify_delay("agent.fetch.read", 500).await;
        }
        let mut slots: Vec<Option<object_store::Result<Bytes>>> = (0..slot).map(|_| None).collect();
        for (i, batch) in markers {
            slots[i] = Some(Ok(batch));
        }
        for (wanted, got) in join_all(reads).await {
            match got {
                Ok(bodies) => {
                    for ((i, _), body) in wanted.into_iter().zip(bodies) {
                        slots[i] = Some(Ok(body));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for (i, _) in wanted {
                        slots[i] = Some(Err(object_store::Error::Generic {
                            store: "fetch",
                            source: message.clone().into(),
                        }));
                    }
                }
            }
        }
        let mut bodies = slots.into_iter().map(|b| {
            b.unwrap_or_else(|| {
                Err(object_store::Error::Generic {
                    store: "fetch",
                    source: "range not read".into(),
                })
            })
        });
        let mut idx = 0;
        for t in &req.topics {
            let mut tr = FetchableTopicResponse::default();
            tr.topic = t.topic.clone();
            tr.topic_id = t.topic_id;
            for p in &t.partitions {
                let mut pd = PartitionData::default();
                pd.partition_index = p.partition;
                pd.high_watermark = -1;
                pd.last_stable_offset = -1;
                pd.log_start_offset = -1;
                pd.preferred_read_replica = kafka_protocol::messages::BrokerId(-1);
                pd.records = Some(Bytes::new());
                match (results.get(idx), plans.get(idx)) {
                    (Some(Err(e)), _) => {
                        eddy_probe::hit("agent.fetch.lookup_failed");
                        pd.error_code = match codes::from_cp(e) {
                            codes::REQUEST_TIMED_OUT => codes::NOT_LEADER_OR_FOLLOWER,
                            code => code,
                        }
                    }
                    (Some(Ok(found)), Some(Some((limit, extents)))) => {
                        pd.high_watermark = found.high_watermark;
                        pd.last_stable_offset = found.last_stable;
                        pd.log_start_offset = found.log_start;
                        if read_committed {
                            pd.aborted_transactions = Some(
                                found
                                    .aborted
                                    .iter()
                                    .map(|a| {
                                        let mut t = AbortedTransaction::default();
                                        t.producer_id =
                                            kafka_protocol::messages::ProducerId(a.producer_id);
                                        t.first_offset = a.first_offset;
                                        t
                                    })
                                    .collect(),
                            );
                        }
                        let got: Vec<_> = bodies.by_ref().take(extents.len()).collect();
                        match assemble(extents, got, p.fetch_offset, *limit) {
                            Ok(bytes) => pd.records = Some(bytes),
                            Err(code) => pd.error_code = code,
                        }
                    }
                    _ => pd.error_code = codes::UNKNOWN_SERVER_ERROR,
                }
                idx += 1;
                tr.partitions.push(pd);
            }
            r.responses.push(tr);
        }
        r
    }
}

/// Choose each partition's extents within the byte budgets: breadth-first, one extent (one
/// file's chunk) per partition per round, so a fetch walks files in step across its
/// partitions. Filling one partition to its limit first (as the request lists them) would,
/// for a reader far behind, touch a page of every file for that partition alone and then
/// again for the next partition: with more such pages than the zone cache holds, each page
/// would be read from object storage once per partition.
///
/// Each entry: `(limit, extents)` for partitions whose lookup succeeded. The first extent of
/// a partition is taken while budget remains even if it is larger than the limits (the
/// response then carries at least one batch, so a consumer can pass a batch larger than its
/// limits); `limit` bounds what `assemble` returns.
fn plan_breadth_first(
    wanted: &[(String, i32, i64, u64)],
    results: &[Result<LookupResult, CpError>],
    mut budget: usize,
) -> Vec<Option<(usize, Vec<Extent>)>> {
    let n = wanted.len();
    let mut chosen: Vec<Vec<Extent>> = vec![Vec::new(); n];
    let mut planned = vec![0usize; n];
    let mut served_any = false;
    loop {
        let mut progressed = false;
        for i in 0..n {
            let Some(Ok(found)) = results.get(i) else {
                continue;
            };
            let Some(e) = found.extents.get(chosen[i].len()) else {
                continue;
            };
            let partition_max = wanted[i].3 as usize;
            let len = if e.is_marker() {
                MARKER_BYTES
            } else {
                e.byte_len as usize
            };
            let take = if chosen[i].is_empty() {
                (budget > 0 && partition_max > 0) || !served_any
            } else {
                planned[i] < partition_max
                    && planned[i].saturating_add(len) <= partition_max
                    && len <= budget
            };
            if !take {
                continue;
            }
            chosen[i].push(e.clone());
            planned[i] = planned[i].saturating_add(len);
            budget = budget.saturating_sub(len);
            served_any = true;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    (0..n)
        .map(|i| match results.get(i) {
            Some(Ok(_)) => {
                let partition_max = wanted[i].3 as usize;
                let limit = partition_max.min(planned[i]);
                let limit = if planned[i] > 0 { limit.max(1) } else { 0 };
                Some((limit, std::mem::take(&mut chosen[i])))
            }
            _ => None,
        })
        .collect()
}

/// Whole batches from `from_offset` on, base offsets patched, at most about `limit` bytes
/// (at least one batch when `limit` > 0).
fn assemble(
    extents: &[Extent],
    bodies: Vec<object_store::Result<Bytes>>,
    from_offset: i64,
    limit: usize,
) -> Result<Bytes, i16> {
    let total: usize = bodies.iter().flatten().map(Bytes::len).sum();
    let mut out = Vec::with_capacity(total.min(limit));
    for (extent, body) in extents.iter().zip(bodies) {
        let room = limit.saturating_sub(out.len());
        if !out.is_empty() && room == 0 {
            break;
        }
        let body = body.map_err(|e| {
            eddy_probe::hit("agent.fetch.read_failed");
            tracing::warn!(key = %extent.key, error = %e, "read failed");
            codes::KAFKA_STORAGE_ERROR
        })?;
        let before = out.len();
        patch_extent_into(
            &body,
            extent.base_offset,
            from_offset,
            room.max(1),
            &mut out,
        )
        .map_err(|e| {
            tracing::error!(key = %extent.key, error = %e, "stored batch is corrupt");
            codes::CORRUPT_MESSAGE
        })?;
        if before > 0 && out.len() > limit {
            out.truncate(before);
            break;
        }
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partition whose lookup found one extent of `len` bytes in each of `files` files.
    fn found(partition: i32, files: usize, len: u64) -> Result<LookupResult, CpError> {
        Ok(LookupResult {
            log_start: 0,
            high_watermark: files as i64,
            extents: (0..files)
                .map(|f| Extent {
                    base_offset: f as i64,
                    last_offset: f as i64,
                    key: format!("file-{f}"),
                    byte_start: partition as u64 * len,
                    byte_len: len,
                    max_timestamp: 0,
                    committed_at_ms: 0,
                    marker: None,
                })
                .collect(),
            last_stable: files as i64,
            aborted: Vec::new(),
        })
    }

    fn keys(plan: &Option<(usize, Vec<Extent>)>) -> Vec<&str> {
        plan.as_ref()
            .map(|(_, e)| e.iter().map(|e| e.key.as_str()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_fetch_far_behind_walks_files_in_step_across_partitions() {
        // Four partitions, 100 files each, 100-byte chunks; 50 MiB per partition and a
        // 1,000-byte response: every partition gets the first files, nobody runs ahead.
        let wanted: Vec<_> = (0..4).map(|p| ("t".to_string(), p, 0, 50 << 20)).collect();
        let results: Vec<_> = (0..4).map(|p| found(p, 100, 100)).collect();
        let plans = plan_breadth_first(&wanted, &results, 1_000);
        for plan in &plans {
            let got = keys(plan);
            assert!(got.len() >= 2 && got.len() <= 3, "{got:?}");
            assert_eq!(got[..2], ["file-0", "file-1"]);
        }
        let files: std::collections::BTreeSet<&str> = plans.iter().flat_map(keys).collect();
        assert!(
            files.len() <= 3,
            "the fetch touches 3 files, not 10: {files:?}"
        );
        let planned: usize = plans.iter().map(|p| p.as_ref().unwrap().0).sum();
        assert_eq!(planned, 1_000);
    }

    #[test]
    fn limits_still_hold_and_an_oversized_first_batch_is_served() {
        // Partition limit 250 bytes: at most 2 chunks of 100 each (a third would exceed).
        let wanted: Vec<_> = (0..2).map(|p| ("t".to_string(), p, 0, 250)).collect();
        let results = vec![found(0, 10, 100), Err(CpError::internal("down"))];
        let plans = plan_breadth_first(&wanted, &results, usize::MAX);
        assert_eq!(keys(&plans[0]), ["file-0", "file-1"]);
        assert_eq!(plans[0].as_ref().unwrap().0, 200);
        assert!(plans[1].is_none());
        // A chunk larger than every limit still goes out first, bounded by the limit.
        let wanted = vec![("t".to_string(), 0, 0, 10)];
        let plans = plan_breadth_first(&wanted, &[found(0, 3, 100)], 50);
        assert_eq!(keys(&plans[0]), ["file-0"]);
        assert_eq!(plans[0].as_ref().unwrap().0, 10);
    }
}
