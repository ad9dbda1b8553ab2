//! Kafka RecordBatch (magic 2) headers: validation of what producers send, and the in-place
//! base-offset patch applied on fetch. Batches are never re-encoded: the CRC covers the bytes
//! from `attributes` on, so rewriting `baseOffset` (bytes 0..8) keeps it valid.

/// Bytes of a v2 batch header; a batch is never shorter.
pub const HEADER_LEN: usize = 61;
const LENGTH_OFFSET: usize = 8;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;

/// What the agent needs to know of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Byte position of the batch in the buffer it was parsed from.
    pub start: usize,
    pub len: usize,
    /// Offsets the batch occupies: `lastOffsetDelta + 1`.
    pub offset_count: u64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records: i32,
    /// The `isTransactional` attribute (bit 4).
    pub transactional: bool,
    /// The `isControlBatch` attribute (bit 5): a transaction marker.
    pub control: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record set is empty")]
    Empty,
    #[error("batch at byte {at} is truncated ({have} bytes left, header says {need})")]
    Truncated { at: usize, have: usize, need: usize },
    #[error("batch at byte {at} has magic {magic}; only v2 record batches are accepted")]
    Magic { at: usize, magic: i8 },
    #[error("batch at byte {at} has a bad length {len}")]
    Length { at: usize, len: i32 },
    #[error("batch at byte {at} fails its CRC (stored {stored:#010x}, computed {computed:#010x})")]
    Crc {
        at: usize,
        stored: u32,
        computed: u32,
    },
    #[error("batch at byte {at} has lastOffsetDelta {delta} and {records} records")]
    Counts { at: usize, delta: i32, records: i32 },
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// Walk `buf` as a sequence of v2 record batches, validating each header and CRC.
/// Used on produce: any defect rejects the whole partition's record set.
pub fn parse_batches(buf: &[u8]) -> Result<Vec<BatchInfo>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0;
    if buf.is_empty() {
        return Err(BatchError::Empty);
    }
    while at < buf.len() {
        let info = parse_one(buf, at, true)?;
        at += info.len;
        out.push(info);
    }
    Ok(out)
}

/// Parse the batch header at `at`. With `verify_crc`, also check the CRC-32C.
pub fn parse_one(buf: &[u8], at: usize, verify_crc: bool) -> Result<BatchInfo, BatchError> {
    let have = buf.len() - at;
    if have < HEADER_LEN {
        return Err(BatchError::Truncated {
            at,
            have,
            need: HEADER_LEN,
        });
    }
    let b = &buf[at..];
    let magic = b[MAGIC_OFFSET] as i8;
    if magic != 2 {
        return Err(BatchError::Magic { at, magic });
    }
    let batch_length = be_i32(b, LENGTH_OFFSET);
    let len = usize::try_from(batch_length)
        .ok()
        .and_then(|l| l.checked_add(12));
    let len = match len {
        Some(l) if l >= HEADER_LEN => l,
        _ => {
            return Err(BatchError::Length {
                at,
                len: batch_length,
            })
        }
    };
    if len > have {
        return Err(BatchError::Truncated {
            at,
            have,
            need: len,
        });
    }
    if verify_crc {
        let stored = u32::from_be_bytes([
            b[CRC_OFFSET],
            b[CRC_OFFSET + 1],
            b[CRC_OFFSET + 2],
            b[CRC_OFFSET + 3],
        ]);
        let computed = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..len]);
        if stored != computed {
            return Err(BatchError::Crc {
                at,
                stored,
                computed,
            });
        }
    }
    let delta = be_i32(b, LAST_OFFSET_DELTA_OFFSET);
    let records = be_i32(b, RECORDS_COUNT_OFFSET);
    if delta < 0 || records < 0 {
        return Err(BatchError::Counts { at, delta, records });
    }
    Ok(BatchInfo {
        start: at,
        len,
        offset_count: delta as u64 + 1,
        max_timestamp: be_i64(b, MAX_TIMESTAMP_OFFSET),
        producer_id: be_i64(b, PRODUCER_ID_OFFSET),
        producer_epoch: i16::from_be_bytes([
            b[PRODUCER_EPOCH_OFFSET],
            b[PRODUCER_EPOCH_OFFSET + 1],
        ]),
        base_sequence: be_i32(b, BASE_SEQUENCE_OFFSET),
        records,
        transactional: b[ATTRIBUTES_OFFSET + 1] & 0x10 != 0,
        control: b[ATTRIBUTES_OFFSET + 1] & 0x20 != 0,
    })
}

/// Rewrite the base offsets of the batches in `buf` (an extent read back from storage whose
/// first batch has offset `base`), keeping only batches that end at or after `from_offset`
/// and at most about `max_bytes` (always at least one batch). Returns the kept bytes and the
/// offset after the last kept batch.
pub fn patch_extent(
    buf: &[u8],
    base: i64,
    from_offset: i64,
    max_bytes: usize,
) -> Result<(Vec<u8>, i64), BatchError> {
    let mut out = Vec::with_capacity(buf.len().min(max_bytes.max(HEADER_LEN)));
    let next = patch_extent_into(buf, base, from_offset, max_bytes, &mut out)?;
    Ok((out, next))
}

/// [`patch_extent`] appending to `out` (no intermediate copy): at most `max_bytes` are
/// appended, except that the first batch is always taken when nothing was appended yet.
/// On error `out` may hold part of the extent; callers discard it.
pub fn patch_extent_into(
    buf: &[u8],
    base: i64,
    from_offset: i64,
    max_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<i64, BatchError> {
    let begin = out.len();
    let mut at = 0;
    let mut next = base;
    while at < buf.len() {
        let info = parse_one(buf, at, false)?;
        let first = next;
        next += info.offset_count as i64;
        if next > from_offset {
            let taken = out.len() - begin;
            if taken > 0 && taken + info.len > max_bytes {
                next = first;
                break;
            }
            let start = out.len();
            out.extend_from_slice(&buf[at..at + info.len]);
            out[start..start + 8].copy_from_slice(&first.to_be_bytes());
        }
        at += info.len;
    }
    Ok(next)
}

/// A transaction marker as Kafka stores it: a control batch of one record at `offset`, key
/// (version 0, type: 0 abort, 1 commit), value (version 0, coordinator epoch).
pub fn control_batch(
    offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    timestamp: i64,
    coordinator_epoch: i32,
) -> Vec<u8> {
    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(i16::from(commit));
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let record = Record {
        transactional: true,
        control: true,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    match RecordBatchEncoder::encode(&mut buf, std::slice::from_ref(&record), &options) {
        Ok(()) => buf.to_vec(),
        // Encoding one uncompressed record into memory does not fail.
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn batch(n: usize, tag: &str) -> Vec<u8> {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch whenever `offset - sequence` changes.
                sequence: i as i32 - 1,
                timestamp: 1000 + i as i64,
                key: None,
                value: Some(Bytes::from(format!("{tag}-{i}"))),
                headers: Default::default(),
                delete_horizon: false,
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn parses_and_patches_without_breaking_crc() {
        let mut buf = batch(3, "a");
        buf.extend(batch(2, "b"));
        let infos = parse_batches(&buf).unwrap();
        assert_eq!(
            infos.iter().map(|i| i.offset_count).collect::<Vec<_>>(),
            vec![3, 2]
        );
        let (patched, next) = patch_extent(&buf, 100, 100, usize::MAX).unwrap();
        assert_eq!(next, 105);
        assert!(
            parse_batches(&patched).is_ok(),
            "CRC still valid after the patch"
        );
        let sets = RecordBatchDecoder::decode_all(&mut Bytes::from(patched)).unwrap();
        let offsets: Vec<i64> = sets
            .iter()
            .flat_map(|s| s.records.iter().map(|r| r.offset))
            .collect();
        assert_eq!(offsets, vec![100, 101, 102, 103, 104]);
    }

    #[test]
    fn fetch_from_mid_extent_skips_whole_earlier_batches_and_respects_budget() {
        let mut buf = batch(3, "a");
        buf.extend(batch(2, "b"));
        buf.extend(batch(2, "c"));
        let (patched, next) = patch_extent(&buf, 0, 4, usize::MAX).unwrap();
        // Offset 4 lives in the second batch (3..5): it is returned whole, the first is not.
        assert_eq!(parse_batches(&patched).unwrap().len(), 2);
        assert_eq!(next, 7);
        let (patched, next) = patch_extent(&buf, 0, 0, 1).unwrap();
        assert_eq!(
            parse_batches(&patched).unwrap().len(),
            1,
            "at least one batch even over budget"
        );
        assert_eq!(next, 3);
    }

    #[test]
    fn a_marker_is_a_valid_control_batch_of_one_offset() {
        let b = control_batch(42, 7, 3, true, 1000, 0);
        assert_eq!(b.len(), crate::fetch::MARKER_BYTES);
        let info = parse_batches(&b).unwrap();
        assert_eq!(info.len(), 1);
        assert!(info[0].control && info[0].transactional);
        assert_eq!(
            (
                info[0].offset_count,
                info[0].producer_id,
                info[0].producer_epoch
            ),
            (1, 7, 3)
        );
        let sets = RecordBatchDecoder::decode_all(&mut Bytes::from(b)).unwrap();
        let r = &sets[0].records[0];
        assert!(r.control && r.transactional);
        assert_eq!(r.offset, 42);
        assert_eq!(
            r.key.as_deref(),
            Some(&[0u8, 0, 0, 1][..]),
            "version 0, COMMIT"
        );
        let abort = control_batch(0, 7, 3, false, 0, 0);
        let sets = RecordBatchDecoder::decode_all(&mut Bytes::from(abort)).unwrap();
        assert_eq!(sets[0].records[0].key.as_deref(), Some(&[0u8, 0, 0, 0][..]));
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let good = batch(2, "x");
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 0xff;
        assert!(matches!(
            parse_batches(&bad_crc),
            Err(BatchError::Crc { .. })
        ));
        for cut in 0..good.len() {
            assert!(parse_batches(&good[..cut]).is_err());
        }
        let mut v1 = good.clone();
        v1[MAGIC_OFFSET] = 1;
        assert!(matches!(parse_batches(&v1), Err(BatchError::Magic { .. })));
        let mut neg = good;
        neg[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            parse_batches(&neg),
            Err(BatchError::Length { .. })
        ));
    }
}
