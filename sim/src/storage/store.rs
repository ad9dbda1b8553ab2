//! [`SimObjectStore`]: the handle product code holds. It implements
//! [`object_store::ObjectStore`] by running each request's storage side (see `ops`) on the
//! bucket's storage node, or inline when the bucket has none.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::faults::StorageFaults;
use super::meters::{Meters, RequestKind};
use super::multipart::SimMultipartUpload;
use super::ops::{Inner, PutRequest, State};
use super::profile::{StorageClass, StorageProfile};
use super::NodeHandle;

type Result<T, E = object_store::Error> = std::result::Result<T, E>;

/// Keys per LIST page (the S3 ListObjectsV2 maximum, `max-keys` 1,000).
pub const LIST_PAGE_KEYS: usize = 1000;

/// A simulated bucket, as seen by one caller. Cheap to clone; clones and
/// [`view_from`](Self::view_from) views share the bucket's objects, RNG, faults and meters.
#[derive(Clone)]
pub struct SimObjectStore {
    inner: Arc<Inner>,
    caller_az: Option<String>,
}

impl SimObjectStore {
    /// Creates an empty bucket.
    ///
    /// - `home_az`: the AZ of an AZ-local bucket (S3 Express); `None` for regional ones.
    /// - `meters`: where requests, bytes and storage are metered (the bucket registers
    ///   itself under `bucket`, which must be unique per `Meters`).
    /// - `seed`: seeds the bucket's RNG (latency and fault draws).
    /// - `node`: the storage node requests run on, so that a request in flight completes on
    ///   the storage side even if the caller's node dies; `None` runs requests inline in the
    ///   caller's task (unit tests).
    pub fn new(
        bucket: &str,
        profile: StorageProfile,
        home_az: Option<String>,
        meters: Meters,
        seed: u64,
        node: Option<NodeHandle>,
    ) -> SimObjectStore {
        meters.register(bucket, profile.class);
        SimObjectStore {
            inner: Arc::new(Inner {
                bucket: bucket.to_string(),
                profile,
                home_az,
                meters,
                node,
                state: Mutex::new(State {
                    objects: BTreeMap::new(),
                    version: 0,
                    rng: SmallRng::seed_from_u64(seed),
                    faults: StorageFaults::default(),
                }),
            }),
            caller_az: None,
        }
    }

    /// A handle to the same bucket for a caller in `caller_az` (requests from another AZ
    /// than an AZ-local bucket's pay `cross_az_extra_ms`).
    pub fn view_from(&self, caller_az: &str) -> SimObjectStore {
        SimObjectStore {
            inner: Arc::clone(&self.inner),
            caller_az: Some(caller_az.to_string()),
        }
    }

    /// Bucket name.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// Storage class.
    pub fn class(&self) -> StorageClass {
        self.inner.profile.class
    }

    /// Performance profile.
    pub fn profile(&self) -> &StorageProfile {
        &self.inner.profile
    }

    /// Home AZ of an AZ-local bucket.
    pub fn home_az(&self) -> Option<&str> {
        self.inner.home_az.as_deref()
    }

    /// The caller's AZ this view was made for.
    pub fn caller_az(&self) -> Option<&str> {
        self.caller_az.as_deref()
    }

    /// The meters this bucket records into.
    pub fn meters(&self) -> &Meters {
        &self.inner.meters
    }

    /// Replaces the bucket's faults (for every view of it) from now on. Requests already
    /// past their fault draw are not affected.
    pub fn set_faults(&self, faults: StorageFaults) {
        self.inner.state.lock().faults = faults;
    }

    /// The bucket's current faults.
    pub fn faults(&self) -> StorageFaults {
        self.inner.state.lock().faults
    }

    /// Out-of-band inspection for checkers and tests: the object's bytes, without latency,
    /// metering or faults.
    pub fn peek(&self, location: &Path) -> Option<Bytes> {
        self.inner
            .state
            .lock()
            .objects
            .get(location)
            .map(|o| o.data.clone())
    }

    /// Out-of-band inspection for checkers and tests: every key, in order, without latency,
    /// metering or faults.
    pub fn keys(&self) -> Vec<Path> {
        self.inner.state.lock().objects.keys().cloned().collect()
    }

    /// Runs the storage side of a request on the storage node (or inline) and waits for it.
    /// If the caller is dropped (its node died), the storage side carries on.
    pub(crate) async fn run<T, F>(&self, kind: RequestKind, path: &Path, op: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        match &self.inner.node {
            #[cfg(madsim)]
            Some(node) => node.spawn(op).await.map_err(|err| {
                crate::SimError::StorageNodeLost {
                    kind,
                    path: path.to_string(),
                    reason: err.to_string(),
                }
                .into_store_error()
            })?,
            #[cfg(not(madsim))]
            Some(never) => {
                let _ = (kind, path);
                match *never {}
            }
            None => op.await,
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    fn list_from(
        &self,
        prefix: Option<&Path>,
        offset: Option<Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let store = self.clone();
        let prefix = prefix.cloned().unwrap_or_default();
        // State: Some(start_after) while another page is due, None when done.
        futures::stream::try_unfold(Some(offset), move |cursor| {
            let store = store.clone();
            let prefix = prefix.clone();
            async move {
                let Some(start_after) = cursor else {
                    return Ok::<_, object_store::Error>(None);
                };
                let inner = Arc::clone(&store.inner);
                let caller_az = store.caller_az.clone();
                let p = prefix.clone();
                let (page, next) = store
                    .run(RequestKind::List, &prefix, async move {
                        inner.list_page(caller_az, p, start_after).await
                    })
                    .await?;
                Ok(Some((page, next.map(Some))))
            }
        })
        .map_ok(|page| futures::stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

impl fmt::Display for SimObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimObjectStore({}, {}", self.bucket(), self.class())?;
        if let Some(az) = self.home_az() {
            write!(f, ", home {az}")?;
        }
        if let Some(az) = self.caller_az() {
            write!(f, ", caller {az}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for SimObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimObjectStore")
            .field("bucket", &self.inner.bucket)
            .field("profile", &self.inner.profile)
            .field("home_az", &self.inner.home_az)
            .field("caller_az", &self.caller_az)
            .field("on_storage_node", &self.inner.node.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ObjectStore for SimObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let inner = Arc::clone(&self.inner);
        let caller_az = self.caller_az.clone();
        let loc = location.clone();
        let data: Bytes = payload.into();
        let size = data.len() as u64;
        let req = PutRequest {
            kind: RequestKind::Put,
            location: loc,
            data,
            mode: opts.mode,
            attributes: opts.attributes,
            upload_bytes: size,
        };
        self.run(RequestKind::Put, location, async move {
            inner.put(caller_az, req).await
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(SimMultipartUpload::new(
            self.clone(),
            location.clone(),
            opts.attributes,
        )))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let inner = Arc::clone(&self.inner);
        let caller_az = self.caller_az.clone();
        let loc = location.clone();
        let kind = if options.head {
            RequestKind::Head
        } else {
            RequestKind::Get
        };
        self.run(kind, location, async move {
            inner.get(caller_az, loc, options).await
        })
        .await
    }

    async fn delete(&self, location: &Path) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let caller_az = self.caller_az.clone();
        let loc = location.clone();
        self.run(RequestKind::Delete, location, async move {
            inner.delete(caller_az, loc).await
        })
        .await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_from(prefix, None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_from(prefix, Some(offset.clone()))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let inner = Arc::clone(&self.inner);
        let caller_az = self.caller_az.clone();
        let prefix = prefix.cloned().unwrap_or_default();
        let p = prefix.clone();
        self.run(RequestKind::List, &prefix, async move {
            inner.list_with_delimiter(caller_az, p).await
        })
        .await
    }

    async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.copy_impl(from, to, false).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
        self.copy_impl(from, to, true).await
    }
}

impl SimObjectStore {
    async fn copy_impl(&self, from: &Path, to: &Path, if_not_exists: bool) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let caller_az = self.caller_az.clone();
        let (f, t) = (from.clone(), to.clone());
        self.run(RequestKind::Copy, to, async move {
            inner.copy(caller_az, f, t, if_not_exists).await
        })
        .await
    }

    /// Completes a multipart upload: one atomic overwrite of `data` at `location`.
    pub(crate) async fn complete_multipart(
        &self,
        location: &Path,
        data: Bytes,
        attributes: object_store::Attributes,
    ) -> Result<PutResult> {
        let inner = Arc::clone(&self.inner);
        let caller_az = self.caller_az.clone();
        let loc = location.clone();
        let req = PutRequest {
            kind: RequestKind::MultipartComplete,
            location: loc,
            data,
            mode: PutMode::Overwrite,
            attributes,
            upload_bytes: 0,
        };
        self.run(RequestKind::MultipartComplete, location, async move {
            inner.put(caller_az, req).await
        })
        .await
    }
}
