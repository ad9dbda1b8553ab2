//! Consistency checks: what an external checker needs to tell whether the replicas agree and
//! whether the partition index is well formed, in the manner of FoundationDB's
//! ConsistencyCheck. Nothing here changes state or is on a request path; a deployment can
//! call it from an operator tool, and the tests compare replicas with it.
//!
//! - [`digest`]: a stable 64-bit hash of the canonical encoding of a [`State`] (every map in
//!   it is ordered, so equal states hash equally on every replica and in every process).
//!   `ControlPlane::applied_digest` gives a live replica's (last applied entry, digest).
//! - [`index_faults`]: walks every partition's index and names what breaks its shape.
//! - [`replay_through`]: rebuilds the state as of a journal entry from object storage alone
//!   (a snapshot at or below it, then the journal after it, applied as a follower applies
//!   it), to compare with a live replica's digest at that entry.

use std::sync::Arc;

use object_store::ObjectStore;

use crate::error::CpError;
use crate::journal::{Journal, JournalError};
use crate::plants::Plants;
use crate::replica::{Core, Role};
use crate::snapshot::Snapshots;
use crate::state::State;

/// A stable 64-bit digest of `state`: its canonical encoding (the snapshot codec's bincode,
/// without the format tag) streamed through a 64-bit multiply-rotate hash with a final mix.
/// Not cryptographic: it detects divergence, it does not resist forgery.
pub fn digest(state: &State) -> u64 {
    let mut h = DigestWriter::default();
    // Encoding into an in-memory writer cannot fail for these types.
    let _ = crate::codec::encode_into(&mut h, state);
    h.finish()
}

/// The hashing writer behind [`digest`]: the encoding's bytes, in order, hashed eight at a
/// time as little-endian words; the last partial word is zero-padded, then the length is
/// hashed. The encoder writes a few bytes at a time, so the words are assembled as the
/// bytes stream in (no buffer, no copy).
#[derive(Default)]
struct DigestWriter {
    hash: u64,
    /// The bytes of the word being assembled, little-endian (`fill` of them).
    word: u64,
    fill: u32,
    len: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl DigestWriter {
    fn mix(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(23) ^ w).wrapping_mul(K);
    }

    fn push_byte(&mut self, b: u8) {
        self.word |= u64::from(b) << (8 * self.fill);
        self.fill += 1;
        if self.fill == 8 {
            let w = self.word;
            self.mix(w);
            self.word = 0;
            self.fill = 0;
        }
    }

    fn finish(mut self) -> u64 {
        // The last partial word, zero-padded (a zero word when there is none), then the length.
        let (last, len) = (self.word, self.len);
        self.mix(last);
        self.mix(len);
        // splitmix64's finalizer.
        let mut z = self.hash;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl std::io::Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.len += buf.len() as u64;
        let mut rest = buf;
        while self.fill != 0 {
            let Some((&b, tail)) = rest.split_first() else {
                return Ok(buf.len());
            };
            self.push_byte(b);
            rest = tail;
        }
        let mut words = rest.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
        }
        for &b in words.remainder() {
            self.push_byte(b);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What is wrong with one partition's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFault {
    pub topic: String,
    pub partition: i32,
    /// The offsets concerned (the two ends of a gap or an overlap, or the value found and
    /// the value expected).
    pub offsets: Vec<i64>,
    /// A sentence naming the fault.
    pub what: String,
}

/// Walk every partition's index: its extents must be keyed by their base offset, each
/// non-empty, and tile `[log_start, high_watermark)` with no gap and no overlap (an empty
/// index has `log_start == high_watermark`). Returns every fault found, in index order.
pub fn index_faults(state: &State) -> Vec<IndexFault> {
    let mut faults = Vec::new();
    for (topic, t) in &state.topics {
        for (i, p) in t.partitions.iter().enumerate() {
            let partition = i as i32;
            let mut fault = |offsets: Vec<i64>, what: String| {
                faults.push(IndexFault {
                    topic: topic.clone(),
                    partition,
                    offsets,
                    what,
                })
            };
            // The next offset the walk expects.
            let mut next = p.log_start;
            for (&key, e) in &p.extents {
                if key != e.base_offset || e.last_offset < e.base_offset {
                    fault(
                        vec![key, e.base_offset, e.last_offset],
                        format!(
                            "extent keyed {key} covers [{}, {}] (file {})",
                            e.base_offset, e.last_offset, e.key
                        ),
                    );
                }
                if e.base_offset > next {
                    fault(
                        vec![next, e.base_offset - 1],
                        format!(
                            "gap: offsets {next}..={} are in no extent (next extent file {})",
                            e.base_offset - 1,
                            e.key
                        ),
                    );
                } else if e.base_offset < next {
                    fault(
                        vec![e.base_offset, next - 1],
                        format!(
                            "overlap: extent [{}, {}] (file {}) starts below {next}, the end of \
                             the index before it (or the log start)",
                            e.base_offset, e.last_offset, e.key
                        ),
                    );
                }
                next = next.max(e.last_offset + 1);
            }
            if next != p.high_watermark {
                fault(
                    vec![next, p.high_watermark],
                    format!(
                        "the index ends at {next} but the high watermark is {} (log start {})",
                        p.high_watermark, p.log_start
                    ),
                );
            }
        }
    }
    faults
}

/// The state as of journal entry `through` (inclusive), rebuilt from `store` alone: the
/// newest snapshot at or below `through` (none: the empty state before entry 0), then
/// entries up to `through` applied as a replica applies them (same epoch rules) with
/// `plants`. A missing entry in between is an error naming it (a hole in the journal, or
/// entries deleted because a newer snapshot covers them).
pub async fn replay_through(
    store: Arc<dyn ObjectStore>,
    plants: &Plants,
    through: u64,
) -> Result<State, CpError> {
    let io = |e: JournalError| CpError::unavailable(e.to_string());
    let snapshots = Snapshots::new(store.clone());
    let journal = Journal::new(store);
    let base = snapshots
        .list()
        .await
        .map_err(io)?
        .into_iter()
        .rfind(|t| *t <= through);
    let (state, next_seq) = match base {
        Some(t) => match snapshots.load(t).await.map_err(io)? {
            Some(s) => (s.state, t + 1),
            None => return Err(CpError::unavailable(format!("snapshot {t} vanished"))),
        },
        None => (State::default(), 0),
    };
    let mut core = Core {
        state,
        plants: plants.clone(),
        next_seq,
        role: Role::Follower,
        digest_memo: None,
        planted_skipped: false,
        last_entry_at: tokio::time::Instant::now(),
    };
    while core.next_seq <= through {
        let seq = core.next_seq;
        match journal.read(seq).await.map_err(io)? {
            Some(entry) => {
                core.apply_entry(&entry);
            }
            None => {
                return Err(CpError::unavailable(format!(
                    "journal entry {seq} is missing (replaying from {} to {through})",
                    base.map_or(0, |t| t + 1)
                )))
            }
        }
    }
    Ok(core.state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::types::{ChunkSpec, FileSpec};

    fn commit(s: &mut State, id: &str, records: u64) {
        s.apply(&Command::CommitFile {
            file: FileSpec {
                id: id.into(),
                key: format!("data/{id}"),
                size: 10,
                chunks: vec![ChunkSpec {
                    topic: "t".into(),
                    partition: 0,
                    byte_start: 0,
                    byte_len: 10,
                    record_count: records,
                    max_timestamp: 0,
                    producer: None,
                }],
            },
            committed_at_ms: 1,
        });
    }

    fn created() -> State {
        let mut s = State::default();
        s.apply(&Command::CreateTopic {
            name: "t".into(),
            partitions: 2,
            if_not_exists: false,
        });
        s
    }

    /// The streaming writer hashes exactly what hashing the whole encoding at once does,
    /// however the encoder cuts its writes.
    #[test]
    fn the_digest_does_not_depend_on_how_writes_are_cut() {
        use std::io::Write;
        fn whole(bytes: &[u8]) -> u64 {
            let mut h = DigestWriter::default();
            let mut words = bytes.chunks_exact(8);
            for w in &mut words {
                h.mix(u64::from_le_bytes(w.try_into().unwrap()));
            }
            let mut last = [0u8; 8];
            last[..words.remainder().len()].copy_from_slice(words.remainder());
            h.word = u64::from_le_bytes(last);
            h.len = bytes.len() as u64;
            h.finish()
        }
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 999, 1000] {
            for cut in [1, 2, 3, 5, 8, 11, 64] {
                let mut h = DigestWriter::default();
                for piece in bytes[..n].chunks(cut) {
                    h.write_all(piece).unwrap();
                }
                assert_eq!(
                    h.finish(),
                    whole(&bytes[..n]),
                    "{n} bytes in writes of {cut}"
                );
            }
        }
    }

    #[test]
    fn equal_states_have_equal_digests_and_one_command_changes_it() {
        let mut a = created();
        let mut b = created();
        assert_eq!(digest(&a), digest(&b));
        commit(&mut a, "f1", 3);
        assert_ne!(digest(&a), digest(&b));
        commit(&mut b, "f1", 3);
        assert_eq!(digest(&a), digest(&b));
        assert_eq!(digest(&a), digest(&a.clone()));
        // Stable across processes and versions: a fixed state has a fixed digest.
        assert_eq!(digest(&State::default()), digest(&State::default()));
    }

    #[test]
    fn a_well_formed_index_has_no_faults_and_a_broken_one_is_named() {
        let mut s = created();
        commit(&mut s, "f1", 3);
        commit(&mut s, "f2", 2);
        assert!(index_faults(&s).is_empty());
        // A hole: drop the first extent without moving the log start.
        let p = &mut s.topics.get_mut("t").unwrap().partitions[0];
        p.extents.remove(&0);
        let faults = index_faults(&s);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].offsets, vec![0, 2]);
        // The high watermark beyond the index.
        let p = &mut s.topics.get_mut("t").unwrap().partitions[0];
        p.log_start = 3;
        p.high_watermark = 7;
        let faults = index_faults(&s);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].offsets, vec![5, 7]);
    }
}
