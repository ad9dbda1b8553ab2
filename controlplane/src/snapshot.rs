//! Snapshots ("backups") of the control-plane state on object storage.
//!
//! `snapshot/<through, 20 digits>` holds the state after applying every journal entry up to
//! and including `through`. A replica with nothing in memory loads the latest snapshot and
//! replays the journal from `through + 1`. Journal entries are deleted only once a snapshot
//! covers them (see [`crate::replica`] for which ones), so a snapshot is never removed
//! while it is the newest.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{path::Path, ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::journal::JournalError;
use crate::state::State;

pub const SNAPSHOT_PREFIX: &str = "snapshot";

/// The state as of journal entry `through` (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub through: u64,
    pub state: State,
}

pub fn snapshot_path(through: u64) -> Path {
    Path::from(format!("{SNAPSHOT_PREFIX}/{through:020}"))
}

#[derive(Debug, Clone)]
pub struct Snapshots {
    store: Arc<dyn ObjectStore>,
}

impl Snapshots {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Snapshots { store }
    }

    /// Write a snapshot. Two replicas snapshotting the same `through` write the same state
    /// (apply is deterministic), so a plain overwrite is safe.
    pub async fn write(&self, snapshot: &Snapshot) -> Result<(), JournalError> {
        let path = snapshot_path(snapshot.through);
        let body = codec::encode(snapshot).map_err(|source| JournalError::Corrupt {
            key: path.to_string(),
            source,
        })?;
        self.store
            .put(&path, PutPayload::from(Bytes::from(body)))
            .await?;
        Ok(())
    }

    /// `through` of every snapshot, ascending.
    pub async fn list(&self) -> Result<Vec<u64>, JournalError> {
        let prefix = Path::from(SNAPSHOT_PREFIX);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut all: Vec<u64> = metas
            .iter()
            .filter_map(|m| m.location.filename().and_then(|f| f.parse().ok()))
            .collect();
        all.sort_unstable();
        Ok(all)
    }

    /// `through` of the newest snapshot, if any.
    pub async fn latest_through(&self) -> Result<Option<u64>, JournalError> {
        Ok(self.list().await?.last().copied())
    }

    /// The newest snapshot (`None` when none was ever written). A snapshot deleted between
    /// the listing and the read makes the caller retry.
    pub async fn load_latest(&self) -> Result<Option<Snapshot>, JournalError> {
        let Some(through) = self.latest_through().await? else {
            return Ok(None);
        };
        let path = snapshot_path(through);
        let bytes = self.store.get(&path).await?.bytes().await?;
        codec::decode(&bytes)
            .map(Some)
            .map_err(|source| JournalError::Corrupt {
                key: path.to_string(),
                source,
            })
    }

    /// The snapshot through `through` (`None` when it is not there).
    pub async fn load(&self, through: u64) -> Result<Option<Snapshot>, JournalError> {
        let path = snapshot_path(through);
        let bytes = match self.store.get(&path).await {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        codec::decode(&bytes)
            .map(Some)
            .map_err(|source| JournalError::Corrupt {
                key: path.to_string(),
                source,
            })
    }

    /// Delete snapshots older than `through`.
    pub async fn delete_below(&self, through: u64) -> Result<(), JournalError> {
        for old in self.list().await?.into_iter().filter(|t| *t < through) {
            match self.store.delete(&snapshot_path(old)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
