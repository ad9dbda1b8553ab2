//! Plain data shared by agents and the control plane.

use serde::{Deserialize, Serialize};

/// A data file's unique id, chosen by the agent that wrote it. CommitFile is deduplicated by
/// this id, so an agent retrying a commit gets the offsets that were first assigned.
pub type FileId = String;

/// A live agent, as it announces itself in heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Kafka broker id of the agent (stable across restarts of the same agent).
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    /// Availability zone, e.g. `az1`.
    pub az: String,
}

/// One contiguous run of record batches of one partition inside a data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSpec {
    pub topic: String,
    pub partition: i32,
    /// Byte range of the chunk inside the file.
    pub byte_start: u64,
    pub byte_len: u64,
    /// Number of offsets the chunk occupies (sum of `lastOffsetDelta + 1` over its batches).
    pub record_count: u64,
    /// Largest `maxTimestamp` of the chunk's batches (for ListOffsets by time).
    pub max_timestamp: i64,
    /// Set when the chunk is exactly one batch of an idempotent producer: the control plane
    /// then deduplicates it by sequence number (a duplicate is answered with its original
    /// offset and not indexed).
    #[serde(default)]
    pub producer: Option<ProducerBatch>,
}

/// Identity and sequence numbers of one idempotent producer batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Sequence of the batch's last record (`base_sequence + lastOffsetDelta`, wrapping).
    pub last_sequence: i32,
    /// The batch belongs to a transaction (its `isTransactional` attribute): it is indexed
    /// only inside an ongoing transaction of its producer that added the partition (see
    /// [`crate::txn`]).
    #[serde(default)]
    pub transactional: bool,
}

/// A chunk's base offset below zero means the control plane refused that chunk (and only
/// that chunk: the rest of the file is committed). The agent answers the producer with the
/// matching Kafka error.
pub const CHUNK_OUT_OF_ORDER_SEQUENCE: i64 = -45;
/// The chunk's producer epoch is older than one already seen for its producer id.
pub const CHUNK_INVALID_PRODUCER_EPOCH: i64 = -47;
/// The chunk's producer id was never handed out by InitProducerId.
pub const CHUNK_UNKNOWN_PRODUCER_ID: i64 = -59;
/// A transactional chunk outside an ongoing transaction of its producer that added the
/// partition (Kafka's INVALID_TXN_STATE).
pub const CHUNK_INVALID_TXN_STATE: i64 = -48;

/// One committed offset of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    /// The next offset the group will read.
    pub offset: i64,
    #[serde(default)]
    pub metadata: Option<String>,
}

/// A data file written to object storage, ready to be committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpec {
    pub id: FileId,
    /// Object key inside the ingest bucket.
    pub key: String,
    pub size: u64,
    pub chunks: Vec<ChunkSpec>,
}

/// Where the records of an offset range live: `[base_offset, last_offset]` are stored in
/// `byte_len` bytes at `byte_start` of object `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub base_offset: i64,
    pub last_offset: i64,
    pub key: String,
    pub byte_start: u64,
    pub byte_len: u64,
    pub max_timestamp: i64,
    /// When the control plane committed these records (its clock; for a compacted extent,
    /// its newest source's). Retention by time goes by it.
    #[serde(default)]
    pub committed_at_ms: u64,
    /// A transaction marker (Kafka's control batch): one offset, no bytes in any file
    /// (`key` is empty, `byte_len` 0). The agent writes the control batch when it serves it.
    #[serde(default)]
    pub marker: Option<TxnMarker>,
}

impl Extent {
    /// Whether the extent is a transaction marker rather than bytes of a file.
    pub fn is_marker(&self) -> bool {
        self.marker.is_some()
    }
}

/// The end of one transaction in one partition: which producer, and commit or abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
}

/// An aborted transaction of one partition, as Kafka's Fetch lists them for read_committed
/// consumers: the producer and the first offset it wrote in the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// A topic as agents see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: i32,
}

/// One partition of a lookup: extents from `offset` on, up to about `max_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupQuery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub max_bytes: u64,
    /// Kafka's read_committed isolation: extents only below the last stable offset, and the
    /// aborted transactions they overlap.
    #[serde(default)]
    pub read_committed: bool,
}

/// The answer to an offset lookup: the extents covering `[offset, …)` up to a byte budget,
/// with the partition's bounds at the moment of the lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupResult {
    pub log_start: i64,
    pub high_watermark: i64,
    pub extents: Vec<Extent>,
    /// The last stable offset: the first offset of the oldest open transaction, or the high
    /// watermark when none is open.
    #[serde(default)]
    pub last_stable: i64,
    /// For read_committed queries: the aborted transactions whose records overlap the
    /// extents returned (first offset ≤ their last offset, marker ≥ the query's offset).
    #[serde(default)]
    pub aborted: Vec<AbortedTxn>,
}

/// Special timestamps of Kafka's ListOffsets.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
