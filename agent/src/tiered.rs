//! Tiered storage: one `ObjectStore` over two buckets. Compaction outputs (keys under
//! `compacted/`) go to the high-latency, cheaper bucket (e.g. S3 Standard, $0.023/GB-month);
//! everything else — ingest files — to the low-latency one (e.g. S3 Express One Zone,
//! $0.11/GB-month but single-digit-ms first byte; AWS S3 pricing, us-east-1). This is
//! WarpStream's `tieredStorageConfig`: ingest lands in `lowLatency`, compaction writes to
//! `highLatency`. Keys say where they live, so readers need no other metadata.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use eddy_controlplane::api::COMPACTED_PREFIX;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Routes `compacted/…` to `high`, the rest to `low`.
#[derive(Clone)]
pub struct TieredStore {
    low: Arc<dyn ObjectStore>,
    high: Arc<dyn ObjectStore>,
}

impl TieredStore {
    pub fn new(low: Arc<dyn ObjectStore>, high: Arc<dyn ObjectStore>) -> Self {
        TieredStore { low, high }
    }

    fn is_high(path: &Path) -> bool {
        path.parts()
            .next()
            .is_some_and(|first| first.as_ref() == COMPACTED_PREFIX)
    }

    fn route(&self, path: &Path) -> &Arc<dyn ObjectStore> {
        if Self::is_high(path) {
            &self.high
        } else {
            &self.low
        }
    }
}

impl fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TieredStore(low: {}, high: {})", self.low, self.high)
    }
}

impl fmt::Display for TieredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[async_trait]
impl ObjectStore for TieredStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.route(location).put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.route(location)
            .put_multipart_opts(location, opts)
            .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.route(location).get_opts(location, options).await
    }

    async fn get_range(&self, location: &Path, range: Range<u64>) -> Result<Bytes> {
        self.route(location).get_range(location, range).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.route(location).get_ranges(location, ranges).await
    }

    async fn head(&self, location: &Path) -> Result<ObjectMeta> {
        self.route(location).head(location).await
    }

    async fn delete(&self, location: &Path) -> Result<()> {
        self.route(location).delete(location).await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        match prefix {
            Some(p) => self.route(p).list(Some(p)),
            None => self.low.list(None).chain(self.high.list(None)).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        match prefix {
            Some(p) => self.route(p).list_with_delimiter(Some(p)).await,
            None => {
                let mut low = self.low.list_with_delimiter(None).await?;
                let high = self.high.list_with_delimiter(None).await?;
                low.common_prefixes.extend(high.common_prefixes);
                low.objects.extend(high.objects);
                Ok(low)
            }
        }
    }

    async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        if Self::is_high(from) == Self::is_high(to) {
            return self.route(from).copy(from, to).await;
        }
        let bytes = self.route(from).get(from).await?.bytes().await?;
        self.route(to).put(to, PutPayload::from(bytes)).await?;
        Ok(())
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
        if Self::is_high(from) == Self::is_high(to) {
            return self.route(from).copy_if_not_exists(from, to).await;
        }
        let bytes = self.route(from).get(from).await?.bytes().await?;
        let opts = PutOptions {
            mode: object_store::PutMode::Create,
            ..PutOptions::default()
        };
        self.route(to)
            .put_opts(to, PutPayload::from(bytes), opts)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[madsim::test]
    async fn compacted_keys_go_to_the_high_latency_bucket() {
        let low: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let high: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let tiered = TieredStore::new(low.clone(), high.clone());
        let ingest = Path::from("data/az1/f1");
        let compacted = Path::from("compacted/L1/00000000000000000001-1");
        tiered.put(&ingest, Bytes::from("a").into()).await.unwrap();
        tiered
            .put(&compacted, Bytes::from("b").into())
            .await
            .unwrap();
        assert!(low.head(&ingest).await.is_ok());
        assert!(low.head(&compacted).await.is_err());
        assert!(high.head(&compacted).await.is_ok());
        assert_eq!(
            tiered.get_range(&compacted, 0..1).await.unwrap(),
            Bytes::from("b")
        );
    }
}
