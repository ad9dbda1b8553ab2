//! A Kafka baseline for the same workload: what a classic three-zone Apache Kafka cluster
//! would pay for moving and keeping the bytes eddy was asked to move. Pure arithmetic on the
//! workload's write rate; it never runs anything.
//!
//! The model (the usual back-of-the-envelope of the Kafka-on-cloud cost discussion):
//! - 3 AZs, replication factor 3, one replica per zone;
//! - producers reach the partition leader in another zone 2/3 of the time;
//! - the leader sends 2 copies to followers in the two other zones;
//! - each consumer group reads every byte, from the leader (2/3 cross-zone) or, with
//!   fetch-from-follower (KIP-392), from a replica in its own zone (0 cross-zone);
//! - broker storage on block volumes: every retained byte stored 3 times.
//!
//! Inter-zone transfer is priced by the caller's [`Prices::inter_az_per_gb`], so the AWS and
//! seed-document presets apply to Kafka and eddy alike.

use serde::{Deserialize, Serialize};

use crate::cost::{Prices, BYTES_PER_GB, SECONDS_PER_MONTH};

/// EBS gp3 storage, us-east-1: $0.08 per GB-month (https://aws.amazon.com/ebs/pricing/,
/// "General Purpose SSD (gp3) - Storage"); baseline IOPS and throughput are included.
pub const EBS_GP3_PER_GB_MONTH: f64 = 0.08;

/// Seconds per day.
const SECONDS_PER_DAY: f64 = 86_400.0;

/// What the baseline needs to know about the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaWorkload {
    /// Bytes per second written by producers (payload).
    pub write_bytes_per_s: f64,
    /// Consumer groups, each reading every byte.
    pub consumer_groups: u32,
    /// How long the brokers keep data.
    pub retention_hours: f64,
    /// Consumers read from a replica in their own zone (KIP-392).
    pub fetch_from_follower: bool,
}

/// The baseline's daily bill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaBaseline {
    /// The workload it was computed for.
    pub workload: KafkaWorkload,
    /// GB per day producers send to a leader in another zone (2/3 of writes).
    pub producer_cross_az_gb_per_day: f64,
    /// GB per day of replication between zones (2 copies of every write).
    pub replication_cross_az_gb_per_day: f64,
    /// GB per day consumers read across zones (2/3 per group, 0 with fetch-from-follower).
    pub consumer_cross_az_gb_per_day: f64,
    /// Inter-zone dollars per day.
    pub inter_az_dollars_per_day: f64,
    /// GB kept on block volumes at steady state (retention × write rate × 3 replicas).
    pub storage_gb: f64,
    /// Block-volume dollars per day.
    pub storage_dollars_per_day: f64,
    /// Everything per day (compute is left out, as for eddy).
    pub total_dollars_per_day: f64,
    /// Everything per 730-hour month.
    pub total_dollars_per_month: f64,
    /// Dollars per GiB written.
    pub dollars_per_gib: Option<f64>,
}

impl KafkaBaseline {
    /// Computes the baseline at `prices`' inter-zone rate and gp3 block storage.
    pub fn compute(workload: &KafkaWorkload, prices: &Prices) -> KafkaBaseline {
        let rate = if workload.write_bytes_per_s.is_finite() {
            workload.write_bytes_per_s.max(0.0)
        } else {
            0.0
        };
        let retention_hours = if workload.retention_hours.is_finite() {
            workload.retention_hours.max(0.0)
        } else {
            0.0
        };
        let gb_per_day = rate * SECONDS_PER_DAY / BYTES_PER_GB;
        let producer = gb_per_day * 2.0 / 3.0;
        let replication = gb_per_day * 2.0;
        let consumer = if workload.fetch_from_follower {
            0.0
        } else {
            gb_per_day * 2.0 / 3.0 * f64::from(workload.consumer_groups)
        };
        let inter_az = (producer + replication + consumer) * prices.inter_az_per_gb;
        let storage_gb = rate * retention_hours * 3600.0 / BYTES_PER_GB * 3.0;
        let storage_per_day =
            storage_gb * EBS_GP3_PER_GB_MONTH * SECONDS_PER_DAY / SECONDS_PER_MONTH;
        let total = inter_az + storage_per_day;
        KafkaBaseline {
            workload: workload.clone(),
            producer_cross_az_gb_per_day: round6(producer),
            replication_cross_az_gb_per_day: round6(replication),
            consumer_cross_az_gb_per_day: round6(consumer),
            inter_az_dollars_per_day: round6(inter_az),
            storage_gb: round6(storage_gb),
            storage_dollars_per_day: round6(storage_per_day),
            total_dollars_per_day: round6(total),
            total_dollars_per_month: round6(total / SECONDS_PER_DAY * SECONDS_PER_MONTH),
            dollars_per_gib: (gb_per_day > 0.0).then(|| round6(total / gb_per_day)),
        }
    }
}

/// Object storage for the same retention, for eddy's side of the comparison: a short run's
/// measured byte-seconds never reach the steady state, this does (`per_gb_month` is the
/// ingest class's storage price; stored once, object storage replicates internally).
pub fn retained_object_storage_dollars_per_day(
    write_bytes_per_s: f64,
    retention_hours: f64,
    per_gb_month: f64,
) -> f64 {
    let gb = write_bytes_per_s.max(0.0) * retention_hours.max(0.0) * 3600.0 / BYTES_PER_GB;
    let dollars = gb * per_gb_month * SECONDS_PER_DAY / SECONDS_PER_MONTH;
    if dollars.is_finite() {
        round6(dollars)
    } else {
        0.0
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1_048_576.0;

    /// WarpStream, "Kafka is dead, long live Kafka" (warpstream.com blog, July 2023): 140 MiB/s
    /// written, 3 consumer groups, fetch-from-follower: about $641/day of inter-zone fees.
    #[test]
    fn warpstream_example_inter_zone_fees_within_a_quarter_of_published() {
        let w = KafkaWorkload {
            write_bytes_per_s: 140.0 * MIB,
            consumer_groups: 3,
            retention_hours: 24.0,
            fetch_from_follower: true,
        };
        let b = KafkaBaseline::compute(&w, &Prices::default());
        assert_eq!(b.consumer_cross_az_gb_per_day, 0.0);
        let published = 641.0;
        assert!(
            (b.inter_az_dollars_per_day - published).abs() / published < 0.25,
            "{} vs {published}",
            b.inter_az_dollars_per_day
        );
        // Without fetch-from-follower, each group adds 2/3 of the writes across zones.
        let without = KafkaBaseline::compute(
            &KafkaWorkload {
                fetch_from_follower: false,
                ..w
            },
            &Prices::default(),
        );
        let ratio = without.inter_az_dollars_per_day / b.inter_az_dollars_per_day;
        // (2/3 + 2 + 3·2/3) / (2/3 + 2) = 4.667 / 2.667
        assert!((ratio - 1.75).abs() < 1e-3, "{ratio}");
    }

    #[test]
    fn seed_prices_raise_the_transfer_bill_and_storage_is_three_copies() {
        let w = KafkaWorkload {
            write_bytes_per_s: MIB,
            consumer_groups: 1,
            retention_hours: 1.0,
            fetch_from_follower: false,
        };
        let aws = KafkaBaseline::compute(&w, &Prices::default());
        let seed = KafkaBaseline::compute(&w, &Prices::seed_document());
        assert!((seed.inter_az_dollars_per_day / aws.inter_az_dollars_per_day - 2.5).abs() < 1e-3);
        // 1 MiB/s for an hour = 3600 MiB, three replicas.
        assert!((aws.storage_gb - 3600.0 * 3.0 / 1024.0).abs() < 1e-3);
    }

    #[test]
    fn nonsense_inputs_give_zero_not_nan() {
        let b = KafkaBaseline::compute(
            &KafkaWorkload {
                write_bytes_per_s: f64::NAN,
                consumer_groups: 3,
                retention_hours: -5.0,
                fetch_from_follower: false,
            },
            &Prices::default(),
        );
        assert_eq!(b.total_dollars_per_day, 0.0);
        assert_eq!(b.dollars_per_gib, None);
    }
}
