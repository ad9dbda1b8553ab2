//! The local object store of real mode: object_store's `LocalFileSystem`, with writes that
//! are on disk before they are acknowledged.
//!
//! `LocalFileSystem` writes a staging file and renames (or, for `PutMode::Create`,
//! hard-links) it into place, but never calls fsync: after a power loss or kernel crash an
//! acknowledged data file or journal entry may be missing, or present with a size of zero.
//! [`DurableLocalStore`] writes the staging file the same way (`<path>#<n>`, which
//! `LocalFileSystem`'s listing skips), syncs it before it gets its name, links or renames
//! it, then syncs the directory that holds the new name (and, the first time a directory is
//! written to, its ancestors up to the store's root, whose entries name the directories
//! `create_dir_all` made). Reads, listings and deletions are `LocalFileSystem`'s.
//!
//! `eddy serve --no-fsync` uses `LocalFileSystem` as is (for benchmarks; a process crash,
//! `kill -9`, loses nothing either way: the page cache survives it).

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, UploadPart,
};

const STORE: &str = "DurableLocalStore";

/// `LocalFileSystem` whose puts return once the file and its name are on disk.
pub struct DurableLocalStore {
    inner: Arc<LocalFileSystem>,
    root: PathBuf,
    /// Directories whose entry, and their ancestors' up to the root, are known to be synced.
    synced_dirs: Arc<Mutex<HashSet<PathBuf>>>,
}

impl DurableLocalStore {
    /// A store in `root`, which must exist and be canonical (as for
    /// `LocalFileSystem::new_with_prefix`).
    pub fn new(root: &FsPath) -> Result<Self> {
        Ok(DurableLocalStore {
            inner: Arc::new(LocalFileSystem::new_with_prefix(root)?),
            root: root.to_path_buf(),
            synced_dirs: Arc::new(Mutex::new(HashSet::new())),
        })
    }
}

impl fmt::Debug for DurableLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableLocalStore({})", self.root.display())
    }
}

impl fmt::Display for DurableLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

fn generic(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: source.into(),
    }
}

fn io_error(what: &str, path: &FsPath, e: std::io::Error) -> object_store::Error {
    generic(format!("{what} {}: {e}", path.display()))
}

/// Run blocking file-system work off the async threads.
#[cfg(not(any(madsim, doctest)))]
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| generic(format!("file-system task: {e}")))
}

/// The simulated build serves no real files; its unit tests run the work inline.
#[cfg(any(madsim, doctest))]
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
    Ok(f())
}

/// The e-tag `LocalFileSystem` derives from a file's metadata (inode, mtime, size), so that
/// a put and a later head or get agree.
fn e_tag(meta: &Metadata) -> String {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    format!("{inode:x}-{mtime:x}-{:x}", meta.len())
}

/// `<dest>#<n>` created anew (directories included), as `LocalFileSystem` names them.
fn stage(dest: &FsPath) -> Result<(File, PathBuf)> {
    let mut n = 1u64;
    loop {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!("#{n}"));
        let staging = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(file) => return Ok((file, staging)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => n += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let parent = dest
                    .parent()
                    .ok_or_else(|| io_error("no folder for", dest, e))?;
                std::fs::create_dir_all(parent).map_err(|e| io_error("creating", parent, e))?;
            }
            Err(e) => return Err(io_error("creating", &staging, e)),
        }
    }
}

fn sync_dir(dir: &FsPath) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing folder", dir, e))
}

/// Sync `dir` (it holds a new name); the first time, also every folder from it up to
/// `root`, whose entries name folders that may have just been created.
fn sync_dirs(root: &FsPath, synced: &Mutex<HashSet<PathBuf>>, dir: &FsPath) -> Result<()> {
    sync_dir(dir)?;
    let known = synced
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(dir);
    if !known {
        let mut at = dir.parent();
        while let Some(d) = at.filter(|d| d.starts_with(root)) {
            sync_dir(d)?;
            at = d.parent();
        }
        synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_path_buf());
    }
    Ok(())
}

fn put_durably(
    root: &FsPath,
    synced: &Mutex<HashSet<PathBuf>>,
    dest: &FsPath,
    payload: &PutPayload,
    create: bool,
) -> Result<PutResult> {
    let (mut file, staging) = stage(dest)?;
    let written = payload
        .iter()
        .try_for_each(|chunk| file.write_all(chunk))
        // Contents and size on disk before the file gets its name.
        .and_then(|()| file.sync_all())
        .and_then(|()| file.metadata());
    drop(file);
    let meta = match written {
        Ok(meta) => meta,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(io_error("writing", &staging, e));
        }
    };
    let named = if create {
        let linked = std::fs::hard_link(&staging, dest);
        let _ = std::fs::remove_file(&staging);
        linked.map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                object_store::Error::AlreadyExists {
                    path: dest.display().to_string(),
                    source: Box::new(e),
                }
            } else {
                io_error("linking", dest, e)
            }
        })
    } else {
        std::fs::rename(&staging, dest).map_err(|e| {
            let _ = std::fs::remove_file(&staging);
            io_error("renaming to", dest, e)
        })
    };
    named?;
    if let Some(dir) = dest.parent() {
        sync_dirs(root, synced, dir)?;
    }
    Ok(PutResult {
        e_tag: Some(e_tag(&meta)),
        version: None,
    })
}

/// A multipart upload whose completion syncs the file and its folder.
#[derive(Debug)]
struct DurableUpload {
    inner: Box<dyn MultipartUpload>,
    dest: PathBuf,
    root: PathBuf,
    synced_dirs: Arc<Mutex<HashSet<PathBuf>>>,
}

#[async_trait]
impl MultipartUpload for DurableUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let result = self.inner.complete().await?;
        let (dest, root, synced) = (
            self.dest.clone(),
            self.root.clone(),
            self.synced_dirs.clone(),
        );
        blocking(move || {
            File::open(&dest)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error("syncing", &dest, e))?;
            match dest.parent() {
                Some(dir) => sync_dirs(&root, &synced, dir),
                None => Ok(()),
            }
        })
        .await??;
        Ok(result)
    }

    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for DurableLocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let create = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create => true,
            PutMode::Update(_) => return Err(object_store::Error::NotImplemented),
        };
        if !opts.attributes.is_empty() {
            return Err(object_store::Error::NotImplemented);
        }
        let dest = self.inner.path_to_filesystem(location)?;
        let (root, synced) = (self.root.clone(), self.synced_dirs.clone());
        blocking(move || put_durably(&root, &synced, &dest, &payload, create)).await?
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(DurableUpload {
            inner,
            dest: self.inner.path_to_filesystem(location)?,
            root: self.root.clone(),
            synced_dirs: self.synced_dirs.clone(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_range(&self, location: &Path, range: Range<u64>) -> Result<Bytes> {
        self.inner.get_range(location, range).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    async fn head(&self, location: &Path) -> Result<ObjectMeta> {
        self.inner.head(location).await
    }

    async fn delete(&self, location: &Path) -> Result<()> {
        self.inner.delete(location).await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy(from, to).await
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.rename(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("eddy-localstore-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap()
    }

    #[madsim::test]
    async fn puts_read_back_like_local_file_system() {
        let dir = scratch("puts");
        let store = DurableLocalStore::new(&dir).unwrap();
        let key = Path::from("data/az1/file-1");
        let put = store
            .put(
                &key,
                PutPayload::from_iter([Bytes::from("ab"), Bytes::from("cd")]),
            )
            .await
            .unwrap();
        let got = store.get(&key).await.unwrap();
        assert_eq!(
            got.meta.e_tag, put.e_tag,
            "the e-tag of the put is the file's"
        );
        assert_eq!(got.bytes().await.unwrap(), Bytes::from("abcd"));
        // Overwrite replaces; Create refuses an existing key and leaves it as it was.
        store.put(&key, Bytes::from("xyz").into()).await.unwrap();
        let create = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let again = store
            .put_opts(&key, Bytes::from("no").into(), create.clone())
            .await;
        assert!(
            matches!(again, Err(object_store::Error::AlreadyExists { .. })),
            "{again:?}"
        );
        let journal = Path::from("journal/00000000000000000001");
        store
            .put_opts(&journal, Bytes::from("entry").into(), create)
            .await
            .unwrap();
        let listed: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
        let mut keys: Vec<String> = listed.iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        assert_eq!(keys, ["data/az1/file-1", "journal/00000000000000000001"]);
        assert_eq!(
            store.get(&key).await.unwrap().bytes().await.unwrap(),
            Bytes::from("xyz")
        );
        // No staging file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.join("data/az1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["file-1"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
