//! Turn the simulator's meters into the cost model's usage figures.

use std::collections::BTreeMap;

use eddy_reports::cost::{AzFlow, BucketUsage, Usage};
use eddy_reports::{reads_by_az, AzReadUsage, AzReads, Op, OpKind, Outcome};

use crate::run::RunOutput;
use crate::spec::Scenario;
use crate::topology::Layout;

/// The bucket that holds the produced data (the journal's reads are control-plane work).
pub const DATA_BUCKET: &str = "ingest";

/// Payload bytes of acknowledged sends.
pub fn ingested_bytes(ops: &[Op], record_bytes: usize) -> u64 {
    let acked = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && matches!(o.kind, OpKind::Send { .. }))
        .count();
    acked as u64 * record_bytes as u64
}

pub fn usage(out: &RunOutput, record_bytes: usize) -> Usage {
    let buckets = out
        .meters
        .buckets
        .iter()
        .map(|(name, m)| BucketUsage {
            bucket: name.clone(),
            class: m.class.as_str().to_string(),
            puts: m.requests.put + m.requests.multipart_part + m.requests.multipart_complete,
            gets: m.requests.get,
            heads: m.requests.head,
            lists: m.requests.list,
            deletes: m.requests.delete,
            copies: m.requests.copy,
            bytes_up: m.bytes_uploaded,
            bytes_down: m.bytes_downloaded,
            byte_seconds: m.byte_seconds,
        })
        .collect();
    let az_bytes = out
        .traffic
        .iter()
        .map(|t| AzFlow {
            src: t.src.clone(),
            dst: t.dst.clone(),
            bytes: t.bytes,
        })
        .collect();
    Usage {
        duration_s: out.sim_seconds,
        window_s: eddy_reports::report::producing_window_s(&out.ops, out.sim_seconds),
        buckets,
        az_bytes,
        ingested_bytes: ingested_bytes(&out.ops, record_bytes),
    }
}

/// Object-storage reads of the data bucket per AZ against the bytes each AZ's clients
/// consumed (GETs per MiB consumed: the zone cache's figure of merit).
pub fn reads(out: &RunOutput, scenario: &Scenario) -> Vec<AzReads> {
    let usage: Vec<AzReadUsage> = out
        .meters
        .buckets
        .get(DATA_BUCKET)
        .map(|m| {
            m.reads_by_az
                .iter()
                .map(|(az, r)| AzReadUsage {
                    az: az.clone(),
                    gets: r.gets,
                    bytes_downloaded: r.bytes_downloaded,
                })
                .collect()
        })
        .unwrap_or_default();
    let layout = Layout::new(scenario);
    let process_azs: BTreeMap<String, String> = layout
        .all_nodes()
        .into_iter()
        .map(|n| (n.name.clone(), n.az.clone()))
        .collect();
    reads_by_az(
        &out.ops,
        &usage,
        &process_azs,
        scenario.workload.record_bytes as u64,
    )
}
