//! The control-plane state machine. `apply` is deterministic: the same commands in the same
//! order give the same state on every replica. Reads never mutate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};
use crate::error::{CpError, ErrorKind};
use crate::idempotence::{ProducerTable, Verdict};
use crate::plants::{planted, Plant, Plants};
use crate::types::{
    Extent, FileSpec, GroupOffset, LookupResult, TopicInfo, CHUNK_INVALID_PRODUCER_EPOCH,
    CHUNK_OUT_OF_ORDER_SEQUENCE, CHUNK_UNKNOWN_PRODUCER_ID, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};

/// Upper bound on partitions per topic: protects the control plane from a request that
/// would allocate millions of partitions.
pub const PARTITIONS_MAX: i32 = 10_000;
/// Kafka's limit on topic name length.
pub const TOPIC_NAME_LEN_MAX: usize = 249;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// First offset still readable.
    pub log_start: i64,
    /// Next offset to assign; every offset below it is committed.
    pub high_watermark: i64,
    /// Extents keyed by base offset; they tile `[log_start, high_watermark)`. Transaction
    /// markers are extents of one offset and no bytes (see [`crate::txn`]).
    pub extents: BTreeMap<i64, Extent>,
    /// Open and aborted transactions (see [`crate::txn`]).
    #[serde(default)]
    pub txns: crate::txn::PartitionTxns,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicState {
    pub partitions: Vec<PartitionState>,
}

/// What the control plane remembers of a committed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub key: String,
    pub size: u64,
    pub committed_at_ms: u64,
    pub base_offsets: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub topics: BTreeMap<String, TopicState>,
    pub files: BTreeMap<String, FileRecord>,
    /// Number of commands applied so far.
    pub applied: u64,
    /// Committed offsets: group → topic → partition → next offset to read.
    #[serde(default)]
    pub group_offsets: BTreeMap<String, BTreeMap<String, BTreeMap<i32, i64>>>,
    /// Idempotent producers: ids handed out and their recent sequences.
    #[serde(default)]
    pub producers: ProducerTable,
    /// Current leadership epoch (0 before the first leader claimed one).
    #[serde(default)]
    pub epoch: u64,
    /// Writer id of the replica incarnation leading `epoch`.
    #[serde(default)]
    pub leader: String,
    /// Address of that replica, if it advertised one.
    #[serde(default)]
    pub leader_addr: Option<String>,
    /// Compaction jobs, deletions, orphan suspects (see [`crate::jobs`]).
    #[serde(default)]
    pub maintenance: crate::jobs::Maintenance,
    /// Transactional ids and their transactions (see [`crate::txn`]).
    #[serde(default)]
    pub transactions: crate::txn::TxnTable,
}

/// Kafka's legal topic names: ASCII letters, digits, `.`, `_`, `-`; not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), CpError> {
    let legal = !name.is_empty()
        && name.len() <= TOPIC_NAME_LEN_MAX
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if legal {
        Ok(())
    } else {
        Err(CpError::invalid(format!("illegal topic name {name:?}")))
    }
}

impl State {
    /// Apply one journaled command.
    pub fn apply(&mut self, command: &Command) -> CommandResult {
        self.apply_with(command, &Plants::none())
    }

    /// Apply one journaled command with planted bugs `plants` switched on (configuration of
    /// the replica, never journaled or snapshotted).
    pub fn apply_with(&mut self, command: &Command, plants: &Plants) -> CommandResult {
        self.applied += 1;
        let result = match command {
            Command::CreateTopic {
                name,
                partitions,
                if_not_exists,
            } => self.create_topic(name, *partitions, *if_not_exists),
            Command::CommitFile {
                file,
                committed_at_ms,
            } => {
                if self.maintenance.condemned.contains_key(&file.key) {
                    eddy_probe::hit("cp.state.commit_refused_condemned");
                    Err(CpError::invalid(format!(
                        "file {} was condemned as an orphan",
                        file.key
                    )))
                } else {
                    self.commit_file(file, *committed_at_ms, plants)
                }
            }
            Command::Maintain { op } => {
                crate::jobs::apply(self, op, plants).map(CommandResult::Maintained)
            }
            Command::CommitOffsets { group, offsets } => Ok(self.commit_offsets(group, offsets)),
            Command::AllocateProducerId => Ok(CommandResult::ProducerIdAllocated {
                producer_id: self.producers.allocate(),
            }),
            Command::Txn { op } => crate::txn::apply(self, op, plants).map(CommandResult::Txn),
            Command::NewEpoch {
                epoch,
                leader,
                addr,
            } => {
                // Epochs only grow: the journal order decides, and a claim is written only
                // by a replica that read every entry before it.
                if *epoch > self.epoch {
                    self.epoch = *epoch;
                    self.leader = leader.clone();
                    self.leader_addr = addr.clone();
                    if plants.has(Plant::ProducerStateLost) {
                        planted::forget_producer_sequences(&mut self.producers);
                    }
                    if plants.has(Plant::OffsetReuseAfterFailover) {
                        planted::recompute_high_watermarks_off_by_one(&mut self.topics);
                    }
                }
                Ok(CommandResult::Done)
            }
        };
        match result {
            Ok(r) => r,
            Err(e) => CommandResult::Rejected(e),
        }
    }

    fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        if_not_exists: bool,
    ) -> Result<CommandResult, CpError> {
        validate_topic_name(name)?;
        if let Some(existing) = self.topics.get(name) {
            if if_not_exists {
                return Ok(CommandResult::TopicCreated {
                    partitions: existing.partitions.len() as i32,
                });
            }
            return Err(CpError::new(
                ErrorKind::TopicExists,
                format!("topic {name} already exists"),
            ));
        }
        if !(1..=PARTITIONS_MAX).contains(&partitions) {
            return Err(CpError::invalid(format!(
                "partition count {partitions} outside 1..={PARTITIONS_MAX}"
            )));
        }
        let topic = TopicState {
            partitions: vec![PartitionState::default(); partitions as usize],
        };
        self.topics.insert(name.to_string(), topic);
        Ok(CommandResult::TopicCreated { partitions })
    }

    fn commit_file(
        &mut self,
        file: &FileSpec,
        committed_at_ms: u64,
        plants: &Plants,
    ) -> Result<CommandResult, CpError> {
        // Planted bug: a retried commit is indexed again, producer sequences and all.
        let reindex = plants.has(Plant::CommitNotIdempotent) && self.files.contains_key(&file.id);
        if let Some(existing) = self.files.get(&file.id).filter(|_| !reindex) {
            // A retried commit: answer with the offsets first assigned.
            eddy_probe::hit("cp.state.commit_dedup_applied");
            return Ok(CommandResult::FileCommitted {
                base_offsets: existing.base_offsets.clone(),
            });
        }
        // Validate every chunk before touching anything: the commit is atomic.
        for chunk in &file.chunks {
            self.partition(&chunk.topic, chunk.partition)?;
            let end = chunk.byte_start.checked_add(chunk.byte_len);
            if end.is_none_or(|end| end > file.size) || chunk.record_count == 0 {
                return Err(CpError::invalid(format!(
                    "chunk {}:{} bytes {}+{} records {} does not fit file {} of {} bytes",
                    chunk.topic,
                    chunk.partition,
                    chunk.byte_start,
                    chunk.byte_len,
                    chunk.record_count,
                    file.id,
                    file.size
                )));
            }
        }
        let mut base_offsets = Vec::with_capacity(file.chunks.len());
        for chunk in &file.chunks {
            let mut zombie = false;
            // An idempotent producer's batch: a retry is answered with its first offset and
            // not indexed again; a batch out of sequence is refused alone.
            if let Some(b) = chunk.producer.as_ref().filter(|_| !reindex) {
                // A transactional batch only inside its producer's ongoing transaction that
                // added the partition, at the current epoch.
                zombie = b.transactional
                    && plants.has(Plant::ZombieTxnNotFenced)
                    && planted::is_zombie(&self.transactions, b);
                if b.transactional {
                    let refusal = if zombie {
                        planted::admit_zombie(&self.transactions, &chunk.topic, chunk.partition, b)
                    } else {
                        self.transactions.admits(&chunk.topic, chunk.partition, b)
                    };
                    if let Some(refusal) = refusal {
                        base_offsets.push(refusal);
                        continue;
                    }
                }
                match self.producers.verdict(&chunk.topic, chunk.partition, b) {
                    // Planted: a zombie's batch skips the sequence check its epoch fails.
                    _ if zombie => {}
                    Verdict::New => {}
                    Verdict::Duplicate(offset) => {
                        eddy_probe::hit("cp.idem.duplicate");
                        base_offsets.push(offset);
                        continue;
                    }
                    Verdict::OutOfOrder => {
                        eddy_probe::hit("cp.idem.out_of_order");
                        base_offsets.push(CHUNK_OUT_OF_ORDER_SEQUENCE);
                        continue;
                    }
                    Verdict::Fenced => {
                        base_offsets.push(CHUNK_INVALID_PRODUCER_EPOCH);
                        continue;
                    }
                    Verdict::UnknownProducer => {
                        base_offsets.push(CHUNK_UNKNOWN_PRODUCER_ID);
                        continue;
                    }
                }
            }
            let partition = self.partition_mut(&chunk.topic, chunk.partition)?;
            let base = partition.high_watermark;
            let last = base + chunk.record_count as i64 - 1;
            partition.extents.insert(
                base,
                Extent {
                    base_offset: base,
                    last_offset: last,
                    key: file.key.clone(),
                    byte_start: chunk.byte_start,
                    byte_len: chunk.byte_len,
                    max_timestamp: chunk.max_timestamp,
                    committed_at_ms,
                    marker: None,
                },
            );
            partition.high_watermark = last + 1;
            if let Some(b) = chunk.producer.as_ref().filter(|b| b.transactional) {
                // The transaction is open here from its first batch to its marker.
                partition.txns.open.entry(b.producer_id).or_insert(base);
            }
            base_offsets.push(base);
            if let Some(b) = chunk.producer.as_ref().filter(|_| !zombie) {
                self.producers
                    .record(&chunk.topic, chunk.partition, b, base);
            }
        }
        self.files.insert(
            file.id.clone(),
            FileRecord {
                key: file.key.clone(),
                size: file.size,
                committed_at_ms,
                base_offsets: base_offsets.clone(),
            },
        );
        Ok(CommandResult::FileCommitted { base_offsets })
    }

    fn commit_offsets(&mut self, group: &str, offsets: &[GroupOffset]) -> CommandResult {
        let g = self.group_offsets.entry(group.to_string()).or_default();
        for o in offsets {
            g.entry(o.topic.clone())
                .or_default()
                .insert(o.partition, o.offset);
        }
        CommandResult::OffsetsCommitted
    }

    /// A group's committed offset of one partition, if any.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.group_offsets
            .get(group)
            .and_then(|g| g.get(topic))
            .and_then(|t| t.get(&partition))
            .copied()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<&PartitionState, CpError> {
        self.topics
            .get(topic)
            .and_then(|t| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|p| t.partitions.get(p))
            })
            .ok_or_else(|| unknown(topic, partition))
    }

    pub(crate) fn partition_mut(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<&mut PartitionState, CpError> {
        self.topics
            .get_mut(topic)
            .and_then(|t| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|p| t.partitions.get_mut(p))
            })
            .ok_or_else(|| unknown(topic, partition))
    }

    pub fn topic_infos(&self, names: Option<&[String]>) -> Vec<TopicInfo> {
        let info = |(name, t): (&String, &TopicState)| TopicInfo {
            name: name.clone(),
            partitions: t.partitions.len() as i32,
        };
        match names {
            None => self.topics.iter().map(info).collect(),
            Some(names) => names
                .iter()
                .filter_map(|n| self.topics.get_key_value(n))
                .map(info)
                .collect(),
        }
    }

    /// Extents covering `[offset, …)`, at least one if any data is there, then more until
    /// `max_bytes` is reached.
    ///
    /// With `read_committed`, only extents below the last stable offset, and the aborted
    /// transactions they overlap.
    pub fn lookup(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: u64,
        read_committed: bool,
    ) -> Result<LookupResult, CpError> {
        let p = self.partition(topic, partition)?;
        if offset < p.log_start || offset > p.high_watermark {
            return Err(CpError::new(
                ErrorKind::OffsetOutOfRange,
                format!(
                    "offset {offset} outside [{}, {}] of {topic}:{partition}",
                    p.log_start, p.high_watermark
                ),
            ));
        }
        let mut extents = Vec::new();
        let mut bytes = 0u64;
        let last_stable = p.txns.last_stable(p.high_watermark);
        let end = if read_committed {
            last_stable
        } else {
            p.high_watermark
        };
        if offset < end {
            let first = p
                .extents
                .range(..=offset)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(offset);
            for extent in p.extents.range(first..end).map(|(_, e)| e) {
                if !extents.is_empty() && bytes + extent.byte_len > max_bytes {
                    break;
                }
                bytes += extent.byte_len;
                extents.push(extent.clone());
            }
        }
        let aborted = match (read_committed, extents.last()) {
            (true, Some(last)) => p.txns.aborted_overlapping(offset, last.last_offset),
            _ => Vec::new(),
        };
        Ok(LookupResult {
            log_start: p.log_start,
            high_watermark: p.high_watermark,
            extents,
            last_stable,
            aborted,
        })
    }

    /// Kafka ListOffsets: latest (-1), earliest (-2) or the first extent whose records may
    /// have a timestamp ≥ `timestamp` (the fetch that follows filters by record).
    /// `None` when no record is that recent.
    /// With `read_committed`, latest is the last stable offset (Kafka's rule).
    pub fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        read_committed: bool,
    ) -> Result<Option<i64>, CpError> {
        let p = self.partition(topic, partition)?;
        Ok(match timestamp {
            LATEST_TIMESTAMP if read_committed => Some(p.txns.last_stable(p.high_watermark)),
            LATEST_TIMESTAMP => Some(p.high_watermark),
            EARLIEST_TIMESTAMP => Some(p.log_start),
            ts if ts < 0 => {
                return Err(CpError::invalid(format!(
                    "unsupported ListOffsets timestamp {ts}"
                )))
            }
            ts => p
                .extents
                .values()
                .find(|e| !e.is_marker() && e.max_timestamp >= ts)
                .map(|e| e.base_offset.max(p.log_start)),
        })
    }
}

fn unknown(topic: &str, partition: i32) -> CpError {
    CpError::new(
        ErrorKind::UnknownTopicOrPartition,
        format!("unknown topic-partition {topic}:{partition}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ChunkSpec;

    fn chunk(topic: &str, partition: i32, start: u64, len: u64, records: u64) -> ChunkSpec {
        ChunkSpec {
            topic: topic.into(),
            partition,
            byte_start: start,
            byte_len: len,
            record_count: records,
            max_timestamp: 0,
            producer: None,
        }
    }

    fn file(id: &str, chunks: Vec<ChunkSpec>) -> FileSpec {
        let size = chunks
            .iter()
            .map(|c| c.byte_start + c.byte_len)
            .max()
            .unwrap_or(0);
        FileSpec {
            id: id.into(),
            key: format!("data/{id}"),
            size,
            chunks,
        }
    }

    fn created() -> State {
        let mut s = State::default();
        let r = s.apply(&Command::CreateTopic {
            name: "t".into(),
            partitions: 2,
            if_not_exists: false,
        });
        assert_eq!(r, CommandResult::TopicCreated { partitions: 2 });
        // Producer ids 0 and 1 handed out (the idempotent tests use 1).
        for _ in 0..2 {
            s.apply(&Command::AllocateProducerId);
        }
        s
    }

    #[test]
    fn commit_assigns_dense_offsets_across_chunks() {
        let mut s = created();
        let f1 = file(
            "f1",
            vec![
                chunk("t", 0, 0, 100, 3),
                chunk("t", 1, 100, 50, 2),
                chunk("t", 0, 150, 10, 1),
            ],
        );
        let r = s.apply(&Command::CommitFile {
            file: f1,
            committed_at_ms: 1,
        });
        assert_eq!(
            r,
            CommandResult::FileCommitted {
                base_offsets: vec![0, 0, 3]
            }
        );
        assert_eq!(s.partition("t", 0).unwrap().high_watermark, 4);
        let l = s.lookup("t", 0, 2, 1, false).unwrap();
        assert_eq!(
            l.extents.len(),
            1,
            "a lookup returns at least one extent even over budget"
        );
        assert_eq!(l.extents[0].base_offset, 0);
        let l = s.lookup("t", 0, 2, 1000, false).unwrap();
        assert_eq!(
            l.extents.iter().map(|e| e.base_offset).collect::<Vec<_>>(),
            vec![0, 3]
        );
    }

    #[test]
    fn retried_commit_returns_first_offsets_and_changes_nothing() {
        let mut s = created();
        let f = file("f", vec![chunk("t", 0, 0, 10, 5)]);
        let first = s.apply(&Command::CommitFile {
            file: f.clone(),
            committed_at_ms: 1,
        });
        let before = s.partition("t", 0).unwrap().clone();
        let again = s.apply(&Command::CommitFile {
            file: f,
            committed_at_ms: 2,
        });
        assert_eq!(first, again);
        assert_eq!(&before, s.partition("t", 0).unwrap());
    }

    #[test]
    fn commit_is_atomic_when_one_chunk_is_bad() {
        let mut s = created();
        let f = file("f", vec![chunk("t", 0, 0, 10, 5), chunk("t", 7, 10, 10, 5)]);
        let r = s.apply(&Command::CommitFile {
            file: f,
            committed_at_ms: 1,
        });
        assert!(matches!(
            r,
            CommandResult::Rejected(CpError {
                kind: ErrorKind::UnknownTopicOrPartition,
                ..
            })
        ));
        assert_eq!(s.partition("t", 0).unwrap().high_watermark, 0);
        assert!(s.files.is_empty());
    }

    #[test]
    fn out_of_range_and_bad_names_are_errors() {
        let mut s = created();
        assert_eq!(
            s.lookup("t", 0, 1, 10, false).unwrap_err().kind,
            ErrorKind::OffsetOutOfRange
        );
        assert_eq!(s.lookup("t", 0, 0, 10, false).unwrap().extents.len(), 0);
        let r = s.apply(&Command::CreateTopic {
            name: "bad name".into(),
            partitions: 1,
            if_not_exists: true,
        });
        assert!(matches!(
            r,
            CommandResult::Rejected(CpError {
                kind: ErrorKind::Invalid,
                ..
            })
        ));
        let r = s.apply(&Command::CreateTopic {
            name: "big".into(),
            partitions: i32::MAX,
            if_not_exists: true,
        });
        assert!(matches!(
            r,
            CommandResult::Rejected(CpError {
                kind: ErrorKind::Invalid,
                ..
            })
        ));
    }

    #[test]
    fn a_retried_idempotent_batch_gets_its_first_offset_and_is_not_indexed_again() {
        use crate::types::ProducerBatch;
        let mut s = created();
        let idem = |start: u64, first: i32| ChunkSpec {
            producer: Some(ProducerBatch {
                producer_id: 1,
                producer_epoch: 0,
                base_sequence: first,
                last_sequence: first + 1,
                transactional: false,
            }),
            ..chunk("t", 0, start, 10, 2)
        };
        let r = s.apply(&Command::CommitFile {
            file: file("a", vec![idem(0, 0)]),
            committed_at_ms: 1,
        });
        assert_eq!(
            r,
            CommandResult::FileCommitted {
                base_offsets: vec![0]
            }
        );
        // A retry of the same batch in another file, next to a new batch and a gap.
        let r = s.apply(&Command::CommitFile {
            file: file("b", vec![idem(0, 0), idem(10, 2), idem(20, 9)]),
            committed_at_ms: 2,
        });
        assert_eq!(
            r,
            CommandResult::FileCommitted {
                base_offsets: vec![0, 2, CHUNK_OUT_OF_ORDER_SEQUENCE]
            }
        );
        let p = s.partition("t", 0).unwrap();
        assert_eq!(p.high_watermark, 4, "the duplicate was not indexed twice");
        assert_eq!(p.extents.len(), 2);
    }

    fn idem(start: u64, first: i32) -> ChunkSpec {
        ChunkSpec {
            producer: Some(crate::types::ProducerBatch {
                producer_id: 1,
                producer_epoch: 0,
                base_sequence: first,
                last_sequence: first + 1,
                transactional: false,
            }),
            ..chunk("t", 0, start, 10, 2)
        }
    }

    fn commit(s: &mut State, f: &FileSpec, plants: &Plants) -> CommandResult {
        let commit = Command::CommitFile {
            file: f.clone(),
            committed_at_ms: 1,
        };
        s.apply_with(&commit, plants)
    }

    fn new_epoch(s: &mut State, epoch: u64, plants: &Plants) {
        let claim = Command::NewEpoch {
            epoch,
            leader: format!("cp-{epoch}"),
            addr: None,
        };
        s.apply_with(&claim, plants);
    }

    #[test]
    fn planted_commit_not_idempotent_indexes_a_retried_file_twice() {
        let f = file("f", vec![idem(0, 0)]);
        let plants = Plants([Plant::CommitNotIdempotent].into());
        let mut s = created();
        commit(&mut s, &f, &plants);
        let again = commit(&mut s, &f, &plants);
        assert_eq!(
            again,
            CommandResult::FileCommitted {
                base_offsets: vec![2]
            },
            "the retry got a second set of offsets despite the producer sequence"
        );
        assert_eq!(s.partition("t", 0).unwrap().high_watermark, 4);
        // Without the plant the same retry changes nothing.
        let mut s = created();
        let none = Plants::none();
        commit(&mut s, &f, &none);
        assert_eq!(
            commit(&mut s, &f, &none),
            CommandResult::FileCommitted {
                base_offsets: vec![0]
            }
        );
    }

    #[test]
    fn planted_producer_state_lost_forgets_sequences_at_a_new_epoch() {
        for (plant, retry_offset) in [(None, 0), (Some(Plant::ProducerStateLost), 2)] {
            let mut s = created();
            let plants = Plants(plant.into_iter().collect());
            new_epoch(&mut s, 1, &plants);
            commit(&mut s, &file("a", vec![idem(0, 0)]), &plants);
            new_epoch(&mut s, 2, &plants);
            // The producer retries its batch in a new file after the failover.
            assert_eq!(
                commit(&mut s, &file("b", vec![idem(0, 0)]), &plants),
                CommandResult::FileCommitted {
                    base_offsets: vec![retry_offset]
                },
                "{plant:?}"
            );
        }
    }

    #[test]
    fn committed_offsets_are_state_and_producer_ids_are_unique() {
        let mut s = created();
        s.apply(&Command::CommitOffsets {
            group: "g".into(),
            offsets: vec![GroupOffset {
                topic: "t".into(),
                partition: 1,
                offset: 42,
                metadata: None,
            }],
        });
        assert_eq!(s.committed_offset("g", "t", 1), Some(42));
        assert_eq!(s.committed_offset("g", "t", 0), None);
        let a = s.apply(&Command::AllocateProducerId);
        let b = s.apply(&Command::AllocateProducerId);
        assert_ne!(a, b);
        let json = serde_json::to_string(&s).expect("state serializes");
        let back: State = serde_json::from_str(&json).expect("state deserializes");
        assert_eq!(back, s);
    }
}
