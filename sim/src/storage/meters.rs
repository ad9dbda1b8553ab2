//! Metering of simulated object storage: what the cost model bills.
//!
//! Per bucket: its class, requests by kind, bytes up and down, bytes stored now, and
//! byte-seconds stored (stored bytes integrated over simulated time at every mutation and
//! at snapshot time). [`Meters`] is a cheap handle shared by every bucket of a run;
//! [`MetersSnapshot`] is plain serde data with a deterministic order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::profile::StorageClass;
use crate::clock::sim_elapsed;

/// The kind of a storage request, for metering and latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// PUT object (including conditional puts).
    Put,
    /// GET object (whole or a range).
    Get,
    /// HEAD object.
    Head,
    /// One LIST page (up to 1,000 keys).
    List,
    /// DELETE object.
    Delete,
    /// Server-side COPY.
    Copy,
    /// One part of a multipart upload.
    MultipartPart,
    /// Completing a multipart upload.
    MultipartComplete,
}

impl RequestKind {
    /// Lower-case name (`put`, `multipart_part`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            RequestKind::Put => "put",
            RequestKind::Get => "get",
            RequestKind::Head => "head",
            RequestKind::List => "list",
            RequestKind::Delete => "delete",
            RequestKind::Copy => "copy",
            RequestKind::MultipartPart => "multipart_part",
            RequestKind::MultipartComplete => "multipart_complete",
        }
    }

    /// Whether the request only reads (GET, HEAD, LIST): it changes nothing.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            RequestKind::Get | RequestKind::Head | RequestKind::List
        )
    }
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Request counts by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestCounts {
    /// PUT requests.
    pub put: u64,
    /// GET requests.
    pub get: u64,
    /// HEAD requests.
    pub head: u64,
    /// LIST pages.
    pub list: u64,
    /// DELETE requests.
    pub delete: u64,
    /// COPY requests.
    pub copy: u64,
    /// Multipart parts.
    pub multipart_part: u64,
    /// Multipart completions.
    pub multipart_complete: u64,
}

impl RequestCounts {
    /// The counter of one kind.
    pub fn get(&self, kind: RequestKind) -> u64 {
        match kind {
            RequestKind::Put => self.put,
            RequestKind::Get => self.get,
            RequestKind::Head => self.head,
            RequestKind::List => self.list,
            RequestKind::Delete => self.delete,
            RequestKind::Copy => self.copy,
            RequestKind::MultipartPart => self.multipart_part,
            RequestKind::MultipartComplete => self.multipart_complete,
        }
    }

    fn slot(&mut self, kind: RequestKind) -> &mut u64 {
        match kind {
            RequestKind::Put => &mut self.put,
            RequestKind::Get => &mut self.get,
            RequestKind::Head => &mut self.head,
            RequestKind::List => &mut self.list,
            RequestKind::Delete => &mut self.delete,
            RequestKind::Copy => &mut self.copy,
            RequestKind::MultipartPart => &mut self.multipart_part,
            RequestKind::MultipartComplete => &mut self.multipart_complete,
        }
    }

    /// Requests S3 bills at the PUT tier ("PUT, COPY, POST, LIST requests", S3 pricing
    /// page, aws.amazon.com/s3/pricing): put, copy, list, multipart parts and completions.
    pub fn put_tier(&self) -> u64 {
        self.put + self.copy + self.list + self.multipart_part + self.multipart_complete
    }

    /// Requests S3 bills at the GET tier ("GET, SELECT, and all other requests"): get and
    /// head. DELETE is free and counted in neither tier.
    pub fn get_tier(&self) -> u64 {
        self.get + self.head
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.put_tier() + self.get_tier() + self.delete
    }

    fn add(&mut self, other: &RequestCounts) {
        self.put += other.put;
        self.get += other.get;
        self.head += other.head;
        self.list += other.list;
        self.delete += other.delete;
        self.copy += other.copy;
        self.multipart_part += other.multipart_part;
        self.multipart_complete += other.multipart_complete;
    }
}

/// GETs and downloaded bytes of the callers in one AZ (the AZ of the node that issued them,
/// from [`SimObjectStore::view_from`](super::SimObjectStore::view_from)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AzReads {
    /// GET requests that reached the service (as in [`BucketMeters::requests`]).
    pub gets: u64,
    /// Bytes returned to callers in this AZ.
    pub bytes_downloaded: u64,
}

/// Everything metered for one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketMeters {
    /// Storage class of the bucket.
    pub class: StorageClass,
    /// Requests that reached the storage service, including those that then failed with an
    /// injected fault (see `injected_errors`) or a semantic error (404, 412).
    pub requests: RequestCounts,
    /// The subset of `requests` that returned an injected fault (5xx-like; whether they are
    /// billed is the cost model's choice).
    pub injected_errors: RequestCounts,
    /// Requests refused during an injected outage (never reached the service; not in
    /// `requests`).
    pub refused: RequestCounts,
    /// Bytes sent to the bucket (PUT bodies and multipart parts).
    pub bytes_uploaded: u64,
    /// Bytes returned by the bucket (GET bodies).
    pub bytes_downloaded: u64,
    /// GETs and downloaded bytes split by the caller's AZ (callers without an AZ are left
    /// out). Shows read amplification per zone, e.g. how well a zone cache works.
    #[serde(default)]
    pub reads_by_az: BTreeMap<String, AzReads>,
    /// Bytes stored right now.
    pub stored_bytes: u64,
    /// Objects stored right now.
    pub stored_objects: u64,
    /// Stored bytes integrated over simulated time (byte·seconds); divide by
    /// 2,592,000 s and 1e9 for GB-months (30-day month, decimal GB as AWS bills).
    pub byte_seconds: f64,
}

impl BucketMeters {
    fn new(class: StorageClass) -> Self {
        Self {
            class,
            requests: RequestCounts::default(),
            injected_errors: RequestCounts::default(),
            refused: RequestCounts::default(),
            bytes_uploaded: 0,
            bytes_downloaded: 0,
            reads_by_az: BTreeMap::new(),
            stored_bytes: 0,
            stored_objects: 0,
            byte_seconds: 0.0,
        }
    }

    fn add(&mut self, other: &BucketMeters) {
        self.requests.add(&other.requests);
        self.injected_errors.add(&other.injected_errors);
        self.refused.add(&other.refused);
        self.bytes_uploaded += other.bytes_uploaded;
        self.bytes_downloaded += other.bytes_downloaded;
        for (az, reads) in &other.reads_by_az {
            let mine = self.reads_by_az.entry(az.clone()).or_default();
            mine.gets += reads.gets;
            mine.bytes_downloaded += reads.bytes_downloaded;
        }
        self.stored_bytes += other.stored_bytes;
        self.stored_objects += other.stored_objects;
        self.byte_seconds += other.byte_seconds;
    }
}

/// A point-in-time copy of every bucket's meters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetersSnapshot {
    /// Simulated time of the snapshot, in milliseconds since the simulation started.
    pub at_ms: u64,
    /// Meters per bucket name.
    pub buckets: BTreeMap<String, BucketMeters>,
}

impl MetersSnapshot {
    /// Meters summed per storage class.
    pub fn by_class(&self) -> BTreeMap<StorageClass, BucketMeters> {
        let mut out: BTreeMap<StorageClass, BucketMeters> = BTreeMap::new();
        for meters in self.buckets.values() {
            out.entry(meters.class)
                .or_insert_with(|| BucketMeters::new(meters.class))
                .add(meters);
        }
        out
    }
}

#[derive(Debug)]
struct BucketState {
    meters: BucketMeters,
    /// Simulated time up to which `byte_seconds` is integrated.
    integrated_to: Duration,
}

impl BucketState {
    fn integrate(&mut self, now: Duration) {
        if now > self.integrated_to {
            let dt = (now - self.integrated_to).as_secs_f64();
            self.meters.byte_seconds += self.meters.stored_bytes as f64 * dt;
            self.integrated_to = now;
        }
    }
}

/// Shared meters of every simulated bucket in a run. Cheap to clone.
///
/// Bucket names must be unique per `Meters`: two stores registered under one name share
/// (and mix) their counters.
#[derive(Debug, Clone, Default)]
pub struct Meters {
    buckets: Arc<Mutex<BTreeMap<String, BucketState>>>,
}

impl Meters {
    /// Empty meters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Integrates storage up to now and copies every bucket's meters.
    pub fn snapshot(&self) -> MetersSnapshot {
        let now = sim_elapsed();
        let mut buckets = self.buckets.lock();
        let out = buckets
            .iter_mut()
            .map(|(name, state)| {
                state.integrate(now);
                (name.clone(), state.meters.clone())
            })
            .collect();
        MetersSnapshot {
            at_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
            buckets: out,
        }
    }

    /// The meters of one bucket (integrated up to now), if it is registered.
    pub fn bucket(&self, name: &str) -> Option<BucketMeters> {
        let now = sim_elapsed();
        let mut buckets = self.buckets.lock();
        buckets.get_mut(name).map(|state| {
            state.integrate(now);
            state.meters.clone()
        })
    }

    pub(crate) fn register(&self, bucket: &str, class: StorageClass) {
        let now = sim_elapsed();
        self.buckets
            .lock()
            .entry(bucket.to_string())
            .or_insert_with(|| BucketState {
                meters: BucketMeters::new(class),
                integrated_to: now,
            });
    }

    fn with<F: FnOnce(&mut BucketState)>(&self, bucket: &str, f: F) {
        if let Some(state) = self.buckets.lock().get_mut(bucket) {
            f(state);
        }
    }

    pub(crate) fn request(&self, bucket: &str, kind: RequestKind) {
        self.with(bucket, |s| *s.meters.requests.slot(kind) += 1);
    }

    pub(crate) fn injected_error(&self, bucket: &str, kind: RequestKind) {
        self.with(bucket, |s| *s.meters.injected_errors.slot(kind) += 1);
    }

    pub(crate) fn refused(&self, bucket: &str, kind: RequestKind) {
        self.with(bucket, |s| *s.meters.refused.slot(kind) += 1);
    }

    pub(crate) fn uploaded(&self, bucket: &str, bytes: u64) {
        self.with(bucket, |s| s.meters.bytes_uploaded += bytes);
    }

    pub(crate) fn downloaded(&self, bucket: &str, bytes: u64) {
        self.with(bucket, |s| s.meters.bytes_downloaded += bytes);
    }

    /// A GET (`gets` 1, when it reached the service) or its body (`bytes`) for a caller in
    /// `caller_az`; nothing for a caller without an AZ.
    pub(crate) fn az_read(&self, bucket: &str, caller_az: Option<&str>, gets: u64, bytes: u64) {
        let Some(az) = caller_az else { return };
        self.with(bucket, |s| {
            let reads = s.meters.reads_by_az.entry(az.to_string()).or_default();
            reads.gets += gets;
            reads.bytes_downloaded += bytes;
        });
    }

    /// Records that an object of `old` bytes (None: absent) became `new` bytes (None:
    /// deleted), integrating storage up to now first.
    pub(crate) fn stored(&self, bucket: &str, old: Option<u64>, new: Option<u64>) {
        let now = sim_elapsed();
        self.with(bucket, |s| {
            s.integrate(now);
            let m = &mut s.meters;
            if let Some(old) = old {
                m.stored_bytes = m.stored_bytes.saturating_sub(old);
                m.stored_objects = m.stored_objects.saturating_sub(1);
            }
            if let Some(new) = new {
                m.stored_bytes += new;
                m.stored_objects += 1;
            }
        });
    }
}
