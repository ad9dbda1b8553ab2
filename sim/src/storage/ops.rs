//! The storage side of every request: draw its latency and fault decision, sleep in
//! simulated time, apply it to the bucket's state, meter it. These functions run on the
//! storage node (when there is one), never on the caller's.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, Range};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    Attributes, GetOptions, GetResult, GetResultPayload, ListResult, ObjectMeta, PutMode, PutResult,
};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::Rng;

use super::faults::{StorageFaults, OUTAGE_ERROR_LATENCY_MS};
use super::meters::{Meters, RequestKind};
use super::profile::StorageProfile;
use super::store::LIST_PAGE_KEYS;
use super::NodeHandle;
use crate::clock::{ms_to_duration, sim_now_utc, sleep_exact};
use crate::SimError;

type Result<T, E = object_store::Error> = std::result::Result<T, E>;

/// One stored object.
#[derive(Debug, Clone)]
pub(crate) struct StoredObject {
    pub data: Bytes,
    pub e_tag: String,
    pub last_modified: DateTime<Utc>,
    pub attributes: Attributes,
}

impl StoredObject {
    fn meta(&self, location: &Path) -> ObjectMeta {
        ObjectMeta {
            location: location.clone(),
            last_modified: self.last_modified,
            size: self.data.len() as u64,
            e_tag: Some(self.e_tag.clone()),
            version: None,
        }
    }
}

/// Mutable state of a bucket.
pub(crate) struct State {
    pub objects: BTreeMap<Path, StoredObject>,
    /// Last e_tag handed out (per-bucket version counter).
    pub version: u64,
    pub rng: SmallRng,
    pub faults: StorageFaults,
}

/// A bucket: its identity, model and state. Shared by every view of the bucket.
pub(crate) struct Inner {
    pub bucket: String,
    pub profile: StorageProfile,
    pub home_az: Option<String>,
    pub meters: Meters,
    pub node: Option<NodeHandle>,
    pub state: Mutex<State>,
}

/// A PUT-like request (`Put` or `MultipartComplete`).
pub(crate) struct PutRequest {
    pub kind: RequestKind,
    pub location: Path,
    pub data: Bytes,
    pub mode: PutMode,
    pub attributes: Attributes,
    /// Bytes sent with this request (0 for a multipart completion, whose bytes went up
    /// with the parts).
    pub upload_bytes: u64,
}

/// What the fault hooks decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injected {
    None,
    Before,
    After,
}

/// The drawn timing and fault decision of one request.
struct Plan {
    kind: RequestKind,
    path: String,
    first_byte: Duration,
    bytes_per_s: Option<f64>,
    injected: Injected,
}

impl Plan {
    fn transfer(&self, bytes: u64) -> Duration {
        match self.bytes_per_s {
            Some(rate) if bytes > 0 => ms_to_duration(bytes as f64 / rate * 1000.0),
            _ => Duration::ZERO,
        }
    }
}

/// The 404 of a missing key.
fn not_found(location: &Path) -> object_store::Error {
    object_store::Error::NotFound {
        path: location.to_string(),
        source: "no such key".into(),
    }
}

impl Inner {
    fn cross_az_ms(&self, caller_az: Option<&str>) -> f64 {
        match (self.home_az.as_deref(), caller_az) {
            (Some(home), Some(caller)) if home != caller => self.profile.cross_az_extra_ms,
            _ => 0.0,
        }
    }

    /// Draws the request's latency and fault decision, meters it, and, during an outage,
    /// fails it after the short refusal latency.
    async fn begin(
        &self,
        kind: RequestKind,
        path: String,
        caller_az: Option<&str>,
    ) -> Result<Plan> {
        let (first_byte_ms, bytes_per_s, u_before, u_after, faults) = {
            let mut st = self.state.lock();
            let dist = match kind {
                RequestKind::Put
                | RequestKind::Copy
                | RequestKind::MultipartPart
                | RequestKind::MultipartComplete => self.profile.put_first_byte,
                RequestKind::Get => self.profile.get_first_byte,
                RequestKind::Head | RequestKind::List | RequestKind::Delete => {
                    self.profile.metadata_first_byte
                }
            };
            // Always draw the same four numbers so toggling faults does not shift the
            // latency stream of later requests.
            let first_byte_ms = dist.sample_ms(&mut st.rng);
            let bytes_per_s = self.profile.bandwidth.sample_bytes_per_s(&mut st.rng);
            let u_before: f64 = st.rng.gen();
            let u_after: f64 = st.rng.gen();
            (first_byte_ms, bytes_per_s, u_before, u_after, st.faults)
        };
        let cross_az_ms = self.cross_az_ms(caller_az);
        let refused_write = faults.writes_refused && !kind.is_read();
        if faults.outage || refused_write {
            self.meters.refused(&self.bucket, kind);
            sleep_exact(ms_to_duration(OUTAGE_ERROR_LATENCY_MS + cross_az_ms)).await;
            let bucket = self.bucket.clone();
            return Err(if faults.outage {
                SimError::Outage { bucket, kind, path }
            } else {
                SimError::WriteRefused { bucket, kind, path }
            }
            .into_store_error());
        }
        self.meters.request(&self.bucket, kind);
        let extra_ms = if faults.extra_latency_ms.is_finite() {
            faults.extra_latency_ms.max(0.0)
        } else {
            0.0
        };
        let injected = if u_before < faults.fail_before_prob {
            Injected::Before
        } else if u_after < faults.fail_after_prob {
            Injected::After
        } else {
            Injected::None
        };
        Ok(Plan {
            kind,
            path,
            first_byte: ms_to_duration(first_byte_ms + cross_az_ms + extra_ms),
            bytes_per_s,
            injected,
        })
    }

    /// The injected error of `plan` at a point where the request was (`applied`) or was
    /// not yet applied, if the plan says to fail there.
    fn injected(&self, plan: &Plan, applied: bool) -> Result<()> {
        let fail = match plan.injected {
            Injected::Before => !applied,
            Injected::After => applied,
            Injected::None => false,
        };
        if !fail {
            return Ok(());
        }
        self.meters.injected_error(&self.bucket, plan.kind);
        Err(SimError::InjectedFault {
            bucket: self.bucket.clone(),
            kind: plan.kind,
            path: plan.path.clone(),
            applied,
        }
        .into_store_error())
    }

    /// Stores `data` at `location` under `mode`: one atomic step. Returns the new e_tag.
    fn apply_put(
        &self,
        location: &Path,
        data: Bytes,
        mode: &PutMode,
        attributes: Attributes,
    ) -> Result<PutResult> {
        let mut st = self.state.lock();
        let existing = st.objects.get(location);
        match mode {
            PutMode::Overwrite => {}
            PutMode::Create => {
                if existing.is_some() {
                    return Err(object_store::Error::AlreadyExists {
                        path: location.to_string(),
                        source: "conditional create lost: the key exists".into(),
                    });
                }
            }
            PutMode::Update(version) => {
                let Some(wanted) = version.e_tag.as_deref() else {
                    return Err(SimError::InvalidRequest(format!(
                        "conditional update of {location} without an e_tag"
                    ))
                    .into_store_error());
                };
                match existing {
                    None => {
                        return Err(object_store::Error::Precondition {
                            path: location.to_string(),
                            source: format!("expected e_tag {wanted} but the key is absent").into(),
                        })
                    }
                    Some(obj) if obj.e_tag != wanted => {
                        return Err(object_store::Error::Precondition {
                            path: location.to_string(),
                            source: format!("expected e_tag {wanted}, found {}", obj.e_tag).into(),
                        })
                    }
                    Some(_) => {}
                }
            }
        }
        st.version += 1;
        let e_tag = st.version.to_string();
        let new_size = data.len() as u64;
        let old = st.objects.insert(
            location.clone(),
            StoredObject {
                data,
                e_tag: e_tag.clone(),
                last_modified: sim_now_utc(),
                attributes,
            },
        );
        self.meters.stored(
            &self.bucket,
            old.map(|o| o.data.len() as u64),
            Some(new_size),
        );
        Ok(PutResult {
            e_tag: Some(e_tag),
            version: None,
        })
    }

    /// A PUT-like request: upload `req.upload_bytes`, then apply atomically.
    pub(crate) async fn put(
        &self,
        caller_az: Option<String>,
        req: PutRequest,
    ) -> Result<PutResult> {
        let plan = self
            .begin(req.kind, req.location.to_string(), caller_az.as_deref())
            .await?;
        sleep_exact(plan.first_byte + plan.transfer(req.upload_bytes)).await;
        self.meters.uploaded(&self.bucket, req.upload_bytes);
        self.injected(&plan, false)?;
        let result = self.apply_put(&req.location, req.data, &req.mode, req.attributes)?;
        self.injected(&plan, true)?;
        Ok(result)
    }

    /// One multipart part: only its latency, metering and faults (the caller keeps the
    /// bytes until completion).
    pub(crate) async fn put_part(
        &self,
        caller_az: Option<String>,
        location: Path,
        upload_bytes: u64,
    ) -> Result<()> {
        let plan = self
            .begin(
                RequestKind::MultipartPart,
                location.to_string(),
                caller_az.as_deref(),
            )
            .await?;
        sleep_exact(plan.first_byte + plan.transfer(upload_bytes)).await;
        self.meters.uploaded(&self.bucket, upload_bytes);
        self.injected(&plan, false)?;
        self.injected(&plan, true)
    }

    /// GET or HEAD (`options.head`).
    pub(crate) async fn get(
        &self,
        caller_az: Option<String>,
        location: Path,
        options: GetOptions,
    ) -> Result<GetResult> {
        let kind = if options.head {
            RequestKind::Head
        } else {
            RequestKind::Get
        };
        let plan = self
            .begin(kind, location.to_string(), caller_az.as_deref())
            .await?;
        if kind == RequestKind::Get {
            self.meters
                .az_read(&self.bucket, caller_az.as_deref(), 1, 0);
        }
        sleep_exact(plan.first_byte).await;
        self.injected(&plan, false)?;
        if options.version.is_some() {
            return Err(object_store::Error::NotSupported {
                source: "simulated buckets are unversioned".into(),
            });
        }
        let (meta, data, range, attributes) = {
            let st = self.state.lock();
            let obj = st
                .objects
                .get(&location)
                .ok_or_else(|| not_found(&location))?;
            let meta = obj.meta(&location);
            options.check_preconditions(&meta)?;
            let range: Range<u64> = match &options.range {
                Some(r) => r.as_range(meta.size).map_err(|e| {
                    SimError::InvalidRequest(format!("range of {location}: {e}")).into_store_error()
                })?,
                None => 0..meta.size,
            };
            let data = if options.head {
                Bytes::new()
            } else {
                // `as_range` bounds the range by the object size, so these fit.
                let start = usize::try_from(range.start).unwrap_or(usize::MAX);
                let end = usize::try_from(range.end).unwrap_or(usize::MAX);
                obj.data
                    .slice(start.min(obj.data.len())..end.min(obj.data.len()))
            };
            (meta, data, range, obj.attributes.clone())
        };
        let range = if options.head { 0..0 } else { range };
        if !options.head {
            let len = data.len() as u64;
            sleep_exact(plan.transfer(len)).await;
            self.meters.downloaded(&self.bucket, len);
            self.meters
                .az_read(&self.bucket, caller_az.as_deref(), 0, len);
        }
        self.injected(&plan, true)?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(
                futures::stream::once(async move { Ok(data) }).boxed(),
            ),
            meta,
            range,
            attributes,
        })
    }

    /// DELETE (absent keys succeed, as on S3).
    pub(crate) async fn delete(&self, caller_az: Option<String>, location: Path) -> Result<()> {
        let plan = self
            .begin(
                RequestKind::Delete,
                location.to_string(),
                caller_az.as_deref(),
            )
            .await?;
        sleep_exact(plan.first_byte).await;
        self.injected(&plan, false)?;
        {
            let mut st = self.state.lock();
            if let Some(old) = st.objects.remove(&location) {
                self.meters
                    .stored(&self.bucket, Some(old.data.len() as u64), None);
            }
        }
        self.injected(&plan, true)
    }

    /// Server-side COPY; with `if_not_exists` the destination must be absent.
    pub(crate) async fn copy(
        &self,
        caller_az: Option<String>,
        from: Path,
        to: Path,
        if_not_exists: bool,
    ) -> Result<()> {
        let plan = self
            .begin(
                RequestKind::Copy,
                format!("{from} -> {to}"),
                caller_az.as_deref(),
            )
            .await?;
        sleep_exact(plan.first_byte).await;
        let size = {
            let st = self.state.lock();
            st.objects
                .get(&from)
                .map(|o| o.data.len() as u64)
                .ok_or_else(|| not_found(&from))?
        };
        sleep_exact(plan.transfer(size)).await;
        self.injected(&plan, false)?;
        {
            let mut st = self.state.lock();
            let src = st
                .objects
                .get(&from)
                .ok_or_else(|| not_found(&from))?
                .clone();
            if if_not_exists && st.objects.contains_key(&to) {
                return Err(object_store::Error::AlreadyExists {
                    path: to.to_string(),
                    source: "copy_if_not_exists: destination exists".into(),
                });
            }
            st.version += 1;
            let size = src.data.len() as u64;
            let copy = StoredObject {
                data: src.data,
                e_tag: st.version.to_string(),
                last_modified: sim_now_utc(),
                attributes: src.attributes,
            };
            let old = st.objects.insert(to, copy);
            self.meters
                .stored(&self.bucket, old.map(|o| o.data.len() as u64), Some(size));
        }
        self.injected(&plan, true)
    }

    /// One LIST page: up to [`LIST_PAGE_KEYS`] objects under `prefix` strictly after
    /// `start_after`, in key order, and the key to continue after if there are more.
    pub(crate) async fn list_page(
        &self,
        caller_az: Option<String>,
        prefix: Path,
        start_after: Option<Path>,
    ) -> Result<(Vec<ObjectMeta>, Option<Path>)> {
        let plan = self
            .begin(RequestKind::List, prefix.to_string(), caller_az.as_deref())
            .await?;
        sleep_exact(plan.first_byte).await;
        self.injected(&plan, false)?;
        let (page, next) = {
            let st = self.state.lock();
            let lower = match start_after {
                Some(after) if after >= prefix => Bound::Excluded(after),
                _ => Bound::Included(prefix.clone()),
            };
            let mut page: Vec<ObjectMeta> = st
                .objects
                .range((lower, Bound::Unbounded))
                .take_while(|(key, _)| key.as_ref().starts_with(prefix.as_ref()))
                .filter(|(key, _)| is_strictly_under(key, &prefix))
                .take(LIST_PAGE_KEYS + 1)
                .map(|(key, obj)| obj.meta(key))
                .collect();
            let next = if page.len() > LIST_PAGE_KEYS {
                page.truncate(LIST_PAGE_KEYS);
                page.last().map(|m| m.location.clone())
            } else {
                None
            };
            (page, next)
        };
        self.injected(&plan, true)?;
        Ok((page, next))
    }

    /// LIST with delimiter `/`: objects directly under `prefix` and the common prefixes of
    /// deeper ones. Modelled as one request whatever the size (eddy lists small prefixes).
    pub(crate) async fn list_with_delimiter(
        &self,
        caller_az: Option<String>,
        prefix: Path,
    ) -> Result<ListResult> {
        let plan = self
            .begin(RequestKind::List, prefix.to_string(), caller_az.as_deref())
            .await?;
        sleep_exact(plan.first_byte).await;
        self.injected(&plan, false)?;
        let result = {
            let st = self.state.lock();
            let mut objects = Vec::new();
            let mut common_prefixes = BTreeSet::new();
            let under = st
                .objects
                .range(prefix.clone()..)
                .take_while(|(key, _)| key.as_ref().starts_with(prefix.as_ref()));
            for (key, obj) in under {
                let Some(mut rest) = key.prefix_match(&prefix) else {
                    continue;
                };
                let Some(first) = rest.next() else {
                    continue;
                };
                if rest.next().is_some() {
                    common_prefixes.insert(prefix.child(first));
                } else {
                    objects.push(obj.meta(key));
                }
            }
            ListResult {
                common_prefixes: common_prefixes.into_iter().collect(),
                objects,
            }
        };
        self.injected(&plan, true)?;
        Ok(result)
    }
}

/// Whether `key` lies under `prefix` (segment-wise) and is not `prefix` itself.
fn is_strictly_under(key: &Path, prefix: &Path) -> bool {
    key.prefix_match(prefix)
        .map(|mut rest| rest.next().is_some())
        .unwrap_or(false)
}
