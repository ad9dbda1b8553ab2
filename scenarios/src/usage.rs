//! Turn the simulator's meters into the cost model's usage figures.

use eddy_reports::cost::{AzFlow, BucketUsage, Usage};
use eddy_reports::{Op, OpKind, Outcome};

use crate::run::RunOutput;

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
        buckets,
        az_bytes,
        ingested_bytes: ingested_bytes(&out.ops, record_bytes),
    }
}
