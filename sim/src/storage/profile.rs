//! Storage classes and their calibrated performance profiles.
//!
//! A profile says how long a request takes: first-byte latency (by operation kind) plus
//! size / per-request bandwidth, plus an inter-AZ hop when the caller is outside the AZ of
//! an AZ-local bucket. Every default carries its public source; scenarios may override any
//! field, and a field left out of a scenario takes the calibrated default *of the class
//! named in the same profile* (so `{"class": "s3_express"}` is a full Express profile).

use serde::{Deserialize, Serialize};

use super::latency::{BandwidthDist, LatencyDist};
use crate::SimError;

/// Which kind of storage a bucket models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageClass {
    /// Amazon S3 Standard: regional, tens of ms first byte, cheap storage.
    S3Standard,
    /// Amazon S3 Express One Zone: lives in one AZ, single-digit ms first byte.
    S3Express,
    /// A DynamoDB-class, strongly consistent regional log (the control-plane journal):
    /// single-digit ms reads and writes.
    RegionalLog,
}

impl StorageClass {
    /// The class's name as written in scenario files (`s3_standard`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            StorageClass::S3Standard => "s3_standard",
            StorageClass::S3Express => "s3_express",
            StorageClass::RegionalLog => "regional_log",
        }
    }

    /// The calibrated default profile of this class.
    pub fn default_profile(&self) -> StorageProfile {
        match self {
            StorageClass::S3Standard => StorageProfile::s3_standard(),
            StorageClass::S3Express => StorageProfile::s3_express(),
            StorageClass::RegionalLog => StorageProfile::regional_log(),
        }
    }
}

impl std::fmt::Display for StorageClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Performance model of one bucket.
///
/// Latency of a request = first byte (by kind) + bytes / bandwidth (drawn per request)
/// + `cross_az_extra_ms` when the bucket is AZ-local and the caller is in another AZ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StorageProfileSpec")]
pub struct StorageProfile {
    /// Which class this models (also decides the defaults of omitted fields).
    pub class: StorageClass,
    /// First-byte latency of PUT, multipart part/complete and COPY requests.
    pub put_first_byte: LatencyDist,
    /// First-byte latency of GET requests.
    pub get_first_byte: LatencyDist,
    /// First-byte latency of HEAD, LIST and DELETE requests.
    pub metadata_first_byte: LatencyDist,
    /// Per-request transfer bandwidth (uploads and downloads).
    pub bandwidth: BandwidthDist,
    /// Extra latency per request when the caller is in another AZ than an AZ-local bucket
    /// (ignored for regional buckets, which have no home AZ).
    pub cross_az_extra_ms: f64,
}

impl StorageProfile {
    /// S3 Standard (us-east-1-like).
    pub fn s3_standard() -> Self {
        Self {
            class: StorageClass::S3Standard,
            // PUT first byte p50 75 ms / p99 300 ms. With a median 58 MiB/s transfer this
            // puts a 4 MiB PUT at p99 ≈ 400 ms, the figure WarpStream's documentation gives
            // for S3 Standard PUTs of its ~4 MiB files (WarpStream documentation,
            // docs.warpstream.com, latency discussion of S3 Standard vs S3 Express).
            put_first_byte: LatencyDist::new(75.0, 300.0),
            // Small-request first byte: median tens of ms, under 5% of requests above
            // 200 ms (Durner, Leis, Neumann, "Exploiting Cloud Object Storage for
            // High-Performance Analytics", PVLDB 16(11), VLDB 2023, latency
            // measurements of small requests). p50 30 / p99 150 puts ~1% above 150 ms.
            get_first_byte: LatencyDist::new(30.0, 150.0),
            // HEAD/LIST/DELETE: small metadata requests, modelled like small GETs (same
            // source as above).
            metadata_first_byte: LatencyDist::new(30.0, 150.0),
            // Per-request bandwidth median ~55–60 MiB/s (Durner, Leis, Neumann, VLDB 2023:
            // a single request reaches roughly 50–60 MiB/s; saturating the NIC needs many
            // parallel requests). 1st percentile 40 MiB/s is our assumption for the tail.
            bandwidth: BandwidthDist::new(58.0, 40.0),
            // Regional bucket: no home AZ, so no cross-AZ extra.
            cross_az_extra_ms: 0.0,
        }
    }

    /// S3 Express One Zone (a directory bucket in one AZ).
    pub fn s3_express() -> Self {
        Self {
            class: StorageClass::S3Express,
            // "Consistent single-digit millisecond data access" (AWS, S3 Express One Zone
            // product page and user guide, aws.amazon.com/s3/storage-classes/express-one-zone).
            put_first_byte: LatencyDist::new(5.0, 10.0),
            get_first_byte: LatencyDist::new(3.0, 8.0),
            metadata_first_byte: LatencyDist::new(3.0, 8.0),
            // Express advertises higher per-request throughput than Standard; 120 MiB/s
            // median is our assumption (same AWS page: "up to 10x faster data access").
            bandwidth: BandwidthDist::new(120.0, 80.0),
            // One inter-AZ round trip (~1 ms: AWS describes inter-AZ latency as
            // single-digit ms, docs.aws.amazon.com "Regions and Zones"; public
            // measurements commonly show ~0.5–1.5 ms RTT) when called from another AZ.
            cross_az_extra_ms: 1.0,
        }
    }

    /// A DynamoDB-class regional log (strongly consistent, conditional writes).
    pub fn regional_log() -> Self {
        Self {
            class: StorageClass::RegionalLog,
            // "Single-digit millisecond performance at any scale" (AWS DynamoDB product
            // page, aws.amazon.com/dynamodb); strongly consistent writes replicate across
            // three AZs, so writes sit above reads: put p50 4 / p99 10 ms, get p50 2 / p99 6.
            put_first_byte: LatencyDist::new(4.0, 10.0),
            get_first_byte: LatencyDist::new(2.0, 6.0),
            metadata_first_byte: LatencyDist::new(2.0, 6.0),
            // Items are small (DynamoDB caps items at 400 KB); transfer time is marginal.
            // 100 MiB/s median is an assumption.
            bandwidth: BandwidthDist::new(100.0, 60.0),
            cross_az_extra_ms: 0.0,
        }
    }

    /// Checks every parameter; scenario loading (deserialisation) calls this.
    pub fn validate(&self) -> Result<(), SimError> {
        self.put_first_byte.validate("put_first_byte")?;
        self.get_first_byte.validate("get_first_byte")?;
        self.metadata_first_byte.validate("metadata_first_byte")?;
        self.bandwidth.validate("bandwidth")?;
        if !self.cross_az_extra_ms.is_finite() || self.cross_az_extra_ms < 0.0 {
            return Err(SimError::InvalidProfile(format!(
                "cross_az_extra_ms must be finite and >= 0, got {}",
                self.cross_az_extra_ms
            )));
        }
        Ok(())
    }
}

impl Default for StorageProfile {
    fn default() -> Self {
        Self::s3_standard()
    }
}

/// What a scenario file may say about a profile: every field optional; omitted fields take
/// the defaults of `class` (S3 Standard when `class` is omitted too).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageProfileSpec {
    #[serde(default)]
    class: Option<StorageClass>,
    #[serde(default)]
    put_first_byte: Option<LatencyDist>,
    #[serde(default)]
    get_first_byte: Option<LatencyDist>,
    #[serde(default)]
    metadata_first_byte: Option<LatencyDist>,
    #[serde(default)]
    bandwidth: Option<BandwidthDist>,
    #[serde(default)]
    cross_az_extra_ms: Option<f64>,
}

impl TryFrom<StorageProfileSpec> for StorageProfile {
    type Error = SimError;

    fn try_from(spec: StorageProfileSpec) -> Result<Self, SimError> {
        let base = spec
            .class
            .unwrap_or(StorageClass::S3Standard)
            .default_profile();
        let profile = StorageProfile {
            class: base.class,
            put_first_byte: spec.put_first_byte.unwrap_or(base.put_first_byte),
            get_first_byte: spec.get_first_byte.unwrap_or(base.get_first_byte),
            metadata_first_byte: spec.metadata_first_byte.unwrap_or(base.metadata_first_byte),
            bandwidth: spec.bandwidth.unwrap_or(base.bandwidth),
            cross_az_extra_ms: spec.cross_az_extra_ms.unwrap_or(base.cross_az_extra_ms),
        };
        profile.validate()?;
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_fields_take_the_named_class_defaults() {
        let p: StorageProfile = serde_json::from_str(r#"{"class":"s3_express"}"#).unwrap();
        assert_eq!(p, StorageProfile::s3_express());
        let p: StorageProfile = serde_json::from_str("{}").unwrap();
        assert_eq!(p, StorageProfile::s3_standard());
        let p: StorageProfile = serde_json::from_str(
            r#"{"class":"regional_log","get_first_byte":{"p50_ms":1,"p99_ms":2}}"#,
        )
        .unwrap();
        assert_eq!(p.get_first_byte, LatencyDist::new(1.0, 2.0));
        assert_eq!(
            p.put_first_byte,
            StorageProfile::regional_log().put_first_byte
        );
    }

    #[test]
    fn unknown_and_invalid_fields_are_rejected() {
        assert!(serde_json::from_str::<StorageProfile>(r#"{"clas":"s3_express"}"#).is_err());
        assert!(serde_json::from_str::<StorageProfile>(
            r#"{"put_first_byte":{"p50_ms":10,"p99_ms":5}}"#
        )
        .is_err());
        assert!(serde_json::from_str::<StorageProfile>(
            r#"{"bandwidth":{"p50_mib_s":10,"p1_mib_s":5,"extra":1}}"#
        )
        .is_err());
    }

    #[test]
    fn profiles_round_trip_through_json() {
        for p in [
            StorageProfile::s3_standard(),
            StorageProfile::s3_express(),
            StorageProfile::regional_log(),
        ] {
            p.validate().unwrap();
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<StorageProfile>(&json).unwrap(), p);
        }
        assert_eq!(
            serde_json::to_string(&StorageClass::S3Express).unwrap(),
            r#""s3_express""#
        );
    }
}
