//! Record batch (v2) encoding for the producer and decoding for the consumer, on top of the
//! `kafka-protocol` encoder/decoder. Decoding checks each batch's framing first, so a
//! truncated trailing batch (normal at the end of a fetch) ends the set instead of failing
//! it, and a batch claiming absurd record counts is rejected before the crate reserves
//! memory for them.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH,
};

/// Bytes before the records of a v2 batch (base offset .. record count).
pub(crate) const BATCH_HEADER_BYTES: usize = 61;
/// Offset of the batch length field and size of what precedes the length-counted part.
const LENGTH_END: usize = 12;
/// Most records a compressed batch may claim per byte of compressed payload.
const MAX_RECORDS_PER_COMPRESSED_BYTE: usize = 64;
/// Most records accepted in any one batch.
const MAX_RECORDS_PER_BATCH: usize = 4_000_000;

/// One record to encode.
pub(crate) struct OutRecord {
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub timestamp: i64,
}

/// Approximate encoded size of one record (for batch size accounting).
pub(crate) fn record_size(key: Option<&Bytes>, value: &Bytes) -> usize {
    // length, attributes, timestamp delta, offset delta, key/value lengths, header count
    21 + key.map_or(0, |k| k.len()) + value.len()
}

/// Encodes `records` as one v2 batch with offsets 0.. (the broker assigns real ones).
/// `base_sequence` is -1 for a non-idempotent producer; `transactional` sets the batch's
/// transactional attribute (bit 4).
pub(crate) fn encode_batch(
    records: &[OutRecord],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    compression: Compression,
) -> Result<Bytes, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let i = i as i64;
            Record {
                transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i,
                // The encoder starts a new batch whenever offset - sequence changes, so the
                // sequence must step with the offset even when it is "none" (-1).
                sequence: base_sequence.wrapping_add(i as i32),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: Some(r.value.clone()),
                headers: Default::default(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| format!("encode record batch: {e}"))?;
    Ok(buf.freeze())
}

/// One decoded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedBatch {
    pub base_offset: i64,
    /// base offset + last offset delta.
    pub last_offset: i64,
    /// Control batches (transaction markers) are never shown to users.
    pub control: bool,
    /// The batch's transactional attribute (bit 4).
    pub transactional: bool,
    /// The producer id in the batch header (-1: none).
    pub producer_id: i64,
    /// A control batch whose marker is an abort (control record type 0).
    pub abort_marker: bool,
    pub records: Vec<(i64, Option<Bytes>, Bytes)>,
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes the complete batches of a fetched `records` field; an incomplete trailing batch
/// is ignored.
pub(crate) fn decode_batches(mut buf: Bytes) -> Result<Vec<DecodedBatch>, String> {
    let mut out = Vec::new();
    while buf.len() >= LENGTH_END {
        let base_offset = be_i64(&buf, 0).ok_or("short batch")?;
        let length = be_i32(&buf, 8).ok_or("short batch")?;
        let length =
            usize::try_from(length).map_err(|_| format!("negative batch length {length}"))?;
        if length + LENGTH_END < BATCH_HEADER_BYTES {
            return Err(format!("batch length {length} shorter than a batch header"));
        }
        if buf.len() < LENGTH_END + length {
            break; // partial trailing batch
        }
        let mut batch = buf.split_to(LENGTH_END + length);
        let magic = batch[16];
        if magic != 2 {
            return Err(format!("unsupported record batch magic {magic}"));
        }
        let attributes = i16::from_be_bytes([batch[21], batch[22]]);
        let last_delta = be_i32(&batch, 23).ok_or("short batch")?;
        let count = be_i32(&batch, 57).ok_or("short batch")?;
        let count = usize::try_from(count).map_err(|_| format!("negative record count {count}"))?;
        let payload = batch.len() - BATCH_HEADER_BYTES;
        let compressed = attributes & 0x7 != 0;
        let limit = if compressed {
            payload.saturating_mul(MAX_RECORDS_PER_COMPRESSED_BYTE)
        } else {
            payload
        }
        .min(MAX_RECORDS_PER_BATCH);
        if count > limit {
            return Err(format!("batch claims {count} records in {payload} bytes"));
        }
        let producer_id = be_i64(&batch, 43).ok_or("short batch")?;
        let set =
            RecordBatchDecoder::decode(&mut batch).map_err(|e| format!("decode batch: {e}"))?;
        if batch.has_remaining() {
            return Err("trailing bytes inside a record batch".to_string());
        }
        let control = attributes & (1 << 5) != 0;
        // A control record's key is (version i16, type i16): type 0 aborts, 1 commits.
        let abort_marker = control
            && set.records.first().is_some_and(|r| {
                r.key
                    .as_ref()
                    .and_then(|k| k.get(2..4))
                    .is_some_and(|t| i16::from_be_bytes([t[0], t[1]]) == 0)
            });
        out.push(DecodedBatch {
            base_offset,
            last_offset: base_offset + i64::from(last_delta),
            control,
            transactional: attributes & (1 << 4) != 0,
            producer_id,
            abort_marker,
            records: set
                .records
                .into_iter()
                .map(|r| (r.offset, r.key, r.value.unwrap_or_default()))
                .collect(),
        });
    }
    Ok(out)
}
