//! Multipart uploads, modelled simply: each part is one request (latency, upload bytes,
//! faults) whose bytes the upload buffers; completion is one request that writes the
//! concatenated parts atomically. Nothing is visible before completion.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{Attributes, MultipartUpload, PutPayload, PutResult, UploadPart};
use parking_lot::Mutex;

use super::meters::RequestKind;
use super::store::SimObjectStore;
use crate::SimError;

/// An in-progress multipart upload to a [`SimObjectStore`].
#[derive(Debug)]
pub struct SimMultipartUpload {
    store: SimObjectStore,
    location: Path,
    attributes: Attributes,
    /// Parts in `put_part` call order; `None` until the part's request succeeded.
    parts: Arc<Mutex<Vec<Option<Bytes>>>>,
}

impl SimMultipartUpload {
    pub(crate) fn new(store: SimObjectStore, location: Path, attributes: Attributes) -> Self {
        Self {
            store,
            location,
            attributes,
            parts: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

#[async_trait]
impl MultipartUpload for SimMultipartUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let index = {
            let mut parts = self.parts.lock();
            parts.push(None);
            parts.len() - 1
        };
        let store = self.store.clone();
        let parts = Arc::clone(&self.parts);
        let location = self.location.clone();
        Box::pin(async move {
            let bytes: Bytes = data.into();
            let size = bytes.len() as u64;
            let inner = Arc::clone(store.inner());
            let caller_az = store.caller_az().map(str::to_string);
            let loc = location.clone();
            store
                .run(RequestKind::MultipartPart, &location, async move {
                    inner.put_part(caller_az, loc, size).await
                })
                .await?;
            if let Some(slot) = parts.lock().get_mut(index) {
                *slot = Some(bytes);
            }
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let data = {
            let parts = self.parts.lock();
            if let Some(missing) = parts.iter().position(Option::is_none) {
                return Err(SimError::InvalidRequest(format!(
                    "multipart upload to {}: part {missing} was not uploaded",
                    self.location
                ))
                .into_store_error());
            }
            let mut buf = BytesMut::with_capacity(parts.iter().flatten().map(Bytes::len).sum());
            for part in parts.iter().flatten() {
                buf.extend_from_slice(part);
            }
            buf.freeze()
        };
        let result = self
            .store
            .complete_multipart(&self.location, data, self.attributes.clone())
            .await?;
        self.parts.lock().clear();
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.parts.lock().clear();
        Ok(())
    }
}
