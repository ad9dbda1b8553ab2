//! The journal: a strongly consistent log of command batches on object storage.
//!
//! Entry `seq` is the object `journal/<seq, 20 digits>`, written with a conditional create
//! (`PutMode::Create`): of two writers of the same sequence number exactly one wins, so the
//! object store is the arbiter and no home-made consensus is needed. An append whose outcome
//! is unknown (timeout, error after the store applied it) is retried with the *same bytes*:
//! finding them already there means the first attempt succeeded.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{path::Path, ObjectStore, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::command::Command;

pub const JOURNAL_PREFIX: &str = "journal";

/// One journal entry: a group-committed batch of commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// Leadership epoch of the writer.
    pub epoch: u64,
    /// Unique id of the writer's incarnation: tells our own earlier attempt from another
    /// writer's entry at the same sequence number.
    pub writer: String,
    pub commands: Vec<Command>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another writer holds this sequence number: we are not (or no longer) the leader.
    #[error("journal entry {seq} was written by {winner}")]
    Fenced { seq: u64, winner: String },
    /// The store failed; the entry may or may not have been written.
    #[error("journal store: {0}")]
    Store(#[from] object_store::Error),
    #[error("corrupt journal entry {key}: {source}")]
    Corrupt {
        key: String,
        source: codec::CodecError,
    },
}

#[derive(Debug, Clone)]
pub struct Journal {
    store: Arc<dyn ObjectStore>,
}

/// Whether a window of reads found a missing entry before a present one (an entry written
/// between the reads; the run stops at the missing one and the next poll reads it).
fn has_hole(got: &[Result<Option<Entry>, JournalError>]) -> bool {
    got.iter()
        .skip_while(|g| !matches!(g, Ok(None)))
        .any(|g| matches!(g, Ok(Some(_))))
}

pub fn entry_path(seq: u64) -> Path {
    Path::from(format!("{JOURNAL_PREFIX}/{seq:020}"))
}

impl Journal {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Journal { store }
    }

    /// Write `entry` at its sequence number. `Ok` means it is durably there (written now or
    /// by an earlier attempt of ours); `Fenced` means somebody else owns that number.
    pub async fn append(&self, entry: &Entry) -> Result<(), JournalError> {
        let path = entry_path(entry.seq);
        let body = Bytes::from(
            codec::encode(entry).map_err(|source| JournalError::Corrupt {
                key: path.to_string(),
                source,
            })?,
        );
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(body), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => match self.read(entry.seq).await? {
                Some(existing) if existing == *entry => {
                    eddy_probe::hit("cp.journal.append_found_own");
                    Ok(())
                }
                Some(existing) => Err(JournalError::Fenced {
                    seq: entry.seq,
                    winner: existing.writer,
                }),
                None => Err(JournalError::Store(object_store::Error::Generic {
                    store: "journal",
                    source: format!("entry {} reported existing but is missing", entry.seq).into(),
                })),
            },
            Err(e) => Err(e.into()),
        }
    }

    pub async fn read(&self, seq: u64) -> Result<Option<Entry>, JournalError> {
        let path = entry_path(seq);
        match self.store.get(&path).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                codec::decode(&bytes)
                    .map(Some)
                    .map_err(|source| JournalError::Corrupt {
                        key: path.to_string(),
                        source,
                    })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Entries `from`, `from + 1`, … up to `window` of them, read concurrently; stops at the
    /// first missing one (the end of the journal, as far as this read could tell).
    pub async fn read_run(&self, from: u64, window: u64) -> Result<Vec<Entry>, JournalError> {
        let reads = (from..from.saturating_add(window.max(1))).map(|seq| self.read(seq));
        let mut run = Vec::new();
        let got = futures::future::join_all(reads).await;
        if has_hole(&got) {
            eddy_probe::hit("cp.journal.read_hole");
        }
        for got in got {
            match got? {
                Some(entry) => run.push(entry),
                None => break,
            }
        }
        Ok(run)
    }

    /// Delete entry `seq` (absent is fine).
    pub async fn delete(&self, seq: u64) -> Result<(), JournalError> {
        match self.store.delete(&entry_path(seq)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete every entry below `seq` (a snapshot covers them). Returns how many went.
    pub async fn delete_below(&self, seq: u64) -> Result<usize, JournalError> {
        let mut deleted = 0;
        for old in self.list().await?.into_iter().filter(|s| *s < seq) {
            match self.store.delete(&entry_path(old)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }

    /// Sequence numbers present in the journal, ascending.
    pub async fn list(&self) -> Result<Vec<u64>, JournalError> {
        let prefix = Path::from(JOURNAL_PREFIX);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut seqs: Vec<u64> = metas
            .iter()
            .filter_map(|m| m.location.filename().and_then(|f| f.parse().ok()))
            .collect();
        seqs.sort_unstable();
        Ok(seqs)
    }
}
