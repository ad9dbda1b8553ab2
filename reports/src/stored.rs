//! Stored bytes per storage class over a run: how data shifts between classes (ingest on
//! Express, compaction into Standard, retention deleting both) and the byte-hours each
//! class accrues, sampled at fixed simulated intervals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One storage class at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassStored {
    /// Bytes stored at the sample time.
    pub stored_bytes: u64,
    /// Stored bytes integrated from the start of the run to the sample, in GB·hours
    /// (decimal GB, as AWS bills).
    pub gb_hours: f64,
}

/// Stored bytes per storage class at one simulated instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSample {
    /// Simulated seconds since the run started.
    pub at_s: f64,
    /// Per storage class (`s3_standard`, `s3_express`, `regional_log`).
    pub classes: BTreeMap<String, ClassStored>,
}

/// GB·hours accrued by each class between consecutive samples: the "shift over time" of
/// what a run pays storage for. One row per interval, `(end of interval s, class → GB·h)`.
pub fn gb_hours_per_interval(samples: &[StoredSample]) -> Vec<(f64, BTreeMap<String, f64>)> {
    samples
        .windows(2)
        .map(|w| {
            let classes = w[1]
                .classes
                .iter()
                .map(|(class, now)| {
                    let before = w[0].classes.get(class).map_or(0.0, |c| c.gb_hours);
                    (class.clone(), (now.gb_hours - before).max(0.0))
                })
                .collect();
            (w[1].at_s, classes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: f64, express: f64, standard: f64) -> StoredSample {
        let mut classes = BTreeMap::new();
        classes.insert(
            "s3_express".to_string(),
            ClassStored {
                stored_bytes: 0,
                gb_hours: express,
            },
        );
        classes.insert(
            "s3_standard".to_string(),
            ClassStored {
                stored_bytes: 0,
                gb_hours: standard,
            },
        );
        StoredSample { at_s, classes }
    }

    #[test]
    fn intervals_are_differences_of_the_running_totals() {
        let rows = gb_hours_per_interval(&[
            sample(0.0, 0.0, 0.0),
            sample(10.0, 2.0, 0.0),
            sample(20.0, 3.0, 4.0),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1["s3_express"], 2.0);
        assert_eq!(rows[1].1["s3_express"], 1.0);
        assert_eq!(rows[1].1["s3_standard"], 4.0);
        assert!(gb_hours_per_interval(&[sample(0.0, 1.0, 1.0)]).is_empty());
    }
}
