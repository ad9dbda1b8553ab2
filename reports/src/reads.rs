//! Read amplification per AZ: the object-storage GETs and bytes downloaded by the nodes of
//! each AZ, against the bytes its clients consumed. With a zone cache a file page is read
//! from object storage about once per AZ however many consumers of that AZ read it, so the
//! figures to watch are GETs per MiB consumed (one GET per 4 MiB page is 0.25) and bytes
//! downloaded per byte consumed (1.0 when every byte is read once).
//!
//! Consumption is attributed to the AZ of the client that polled (the drain reader counts
//! in its own AZ), downloads to the AZ of the node that issued the GET. The two meet when
//! clients are zone-aware; without a zone hint a client's fetches are served by agents of
//! every AZ and the per-AZ ratios mix zones (the totals still compare).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{Op, OpKind};

/// Bytes per MiB.
const MIB: f64 = 1_048_576.0;

/// Object-storage reads issued from one AZ (from the storage meters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzReadUsage {
    /// The AZ of the nodes that issued the GETs.
    pub az: String,
    /// GET requests.
    pub gets: u64,
    /// Bytes those GETs returned.
    pub bytes_downloaded: u64,
}

/// One AZ's reads against its consumption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AzReads {
    /// The AZ.
    pub az: String,
    /// GETs issued by its nodes.
    pub gets: u64,
    /// Bytes those GETs returned.
    pub bytes_downloaded: u64,
    /// Record bytes its clients received in polls (drain included).
    pub consumed_bytes: u64,
    /// `gets` per MiB of `consumed_bytes` (`None` when nothing was consumed).
    pub gets_per_mib_consumed: Option<f64>,
    /// `bytes_downloaded / consumed_bytes` (`None` when nothing was consumed).
    pub downloaded_per_consumed: Option<f64>,
}

/// Reads per AZ, in AZ order: every AZ that issued GETs or whose clients consumed.
/// `process_azs` maps a history process name to its AZ (processes it does not name are left
/// out); a record counts `record_bytes` bytes each time a poll returns it.
pub fn reads_by_az(
    ops: &[Op],
    usage: &[AzReadUsage],
    process_azs: &BTreeMap<String, String>,
    record_bytes: u64,
) -> Vec<AzReads> {
    let mut consumed: BTreeMap<&str, u64> = BTreeMap::new();
    for op in ops {
        if let OpKind::Poll { records, .. } = &op.kind {
            if let Some(az) = process_azs.get(&op.process) {
                *consumed.entry(az.as_str()).or_default() += records.len() as u64 * record_bytes;
            }
        }
    }
    let mut read: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for u in usage {
        let slot = read.entry(u.az.as_str()).or_default();
        slot.0 += u.gets;
        slot.1 += u.bytes_downloaded;
    }
    let azs: std::collections::BTreeSet<&str> =
        consumed.keys().chain(read.keys()).copied().collect();
    azs.into_iter()
        .map(|az| {
            let (gets, bytes_downloaded) = read.get(az).copied().unwrap_or_default();
            let consumed_bytes = consumed.get(az).copied().unwrap_or_default();
            let per = |x: f64, unit: f64| {
                (consumed_bytes > 0).then(|| round4(x / (consumed_bytes as f64 / unit)))
            };
            AzReads {
                az: az.to_string(),
                gets,
                bytes_downloaded,
                consumed_bytes,
                gets_per_mib_consumed: per(gets as f64, MIB),
                downloaded_per_consumed: per(bytes_downloaded as f64, 1.0),
            }
        })
        .collect()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Outcome, Rec};

    fn poll(process: &str, n: usize) -> Op {
        Op {
            id: 0,
            process: process.into(),
            invoke_us: 0,
            complete_us: Some(1),
            outcome: Outcome::Ok,
            error: None,
            kind: OpKind::Poll {
                topic: "t".into(),
                partition: 0,
                fetch_offset: 0,
                records: (0..n)
                    .map(|i| Rec {
                        offset: i as i64,
                        value: format!("v{i}"),
                    })
                    .collect(),
                high_watermark: Some(n as i64),
                drain: false,
                group: None,
                read_back: false,
                isolation: Default::default(),
                last_stable: None,
                txn: None,
            },
        }
    }

    #[test]
    fn gets_per_mib_consumed_by_zone() {
        let ops = vec![
            poll("consumer-a", 64),
            poll("consumer-a", 64),
            poll("drain", 64),
            poll("consumer-b", 16),
            poll("unknown", 1000),
        ];
        let azs = BTreeMap::from([
            ("consumer-a".to_string(), "az1".to_string()),
            ("drain".to_string(), "az1".to_string()),
            ("consumer-b".to_string(), "az2".to_string()),
        ]);
        let usage = [
            AzReadUsage {
                az: "az1".into(),
                gets: 3,
                bytes_downloaded: 12 << 20,
            },
            AzReadUsage {
                az: "az3".into(),
                gets: 5,
                bytes_downloaded: 1 << 20,
            },
        ];
        // 64 KiB records: az1 consumed 192 x 64 KiB = 12 MiB, az2 1 MiB.
        let got = reads_by_az(&ops, &usage, &azs, 64 << 10);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].az, "az1");
        assert_eq!(got[0].consumed_bytes, 12 << 20);
        assert_eq!(got[0].gets_per_mib_consumed, Some(0.25));
        assert_eq!(got[0].downloaded_per_consumed, Some(1.0));
        assert_eq!((got[1].az.as_str(), got[1].gets), ("az2", 0));
        assert_eq!(got[1].gets_per_mib_consumed, Some(0.0));
        assert_eq!(got[2].az, "az3");
        assert_eq!(
            got[2].gets_per_mib_consumed, None,
            "nothing consumed in az3"
        );
    }
}
