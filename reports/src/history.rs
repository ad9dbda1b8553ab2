//! The recorded history of a run: one [`Op`] per client operation, with invoke and complete
//! times in simulated microseconds and an outcome. Stored as JSONL (one op per line) so that
//! any program can write a history for `eddy check`; the schema is documented in
//! `reports/HISTORY.md`. This module only models, reads, writes and validates histories —
//! the recorder that produces them lives in `scenarios`, the judgement in [`crate::check`].

use std::hash::BuildHasher;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One client operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Unique within the history.
    pub id: u64,
    /// The client that issued it, e.g. "producer-az1-0", "consumer-az2-1", "drain".
    pub process: String,
    /// Simulated microseconds since run start when the client issued it.
    pub invoke_us: u64,
    /// When the client saw the result; `None`: never completed (crash or end of run).
    pub complete_us: Option<u64>,
    /// What the client learned about its effect.
    pub outcome: Outcome,
    /// For a failed or indeterminate op, the error the client was given: a Kafka error name
    /// (`"NOT_LEADER_OR_FOLLOWER"`, `"OUT_OF_ORDER_SEQUENCE_NUMBER"`) or a client-side cause
    /// (`"REQUEST_TIMED_OUT"`, `"CONNECTION_LOST"`, `"NOT_SENT"`). Omitted when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it was, tagged by `"type"`.
    #[serde(flatten)]
    pub kind: OpKind,
}

/// The three outcomes of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Completed and applied.
    Ok,
    /// Definitely not applied.
    Failed,
    /// May or may not have applied (timeout, connection lost, crash).
    Indeterminate,
}

/// The operation kinds, tagged by `"type"` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    /// A produce of one record. `value` is unique per send in the whole history.
    Send {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The record's value (unique per send).
        value: String,
        /// The offset acknowledged to the producer (ok sends; may be unknown).
        offset: Option<i64>,
        /// Sent by an idempotent producer: applied at most once even when retried.
        #[serde(default)]
        idempotent: bool,
        /// How many produce requests carried this record: 1 = never retried (the default
        /// when absent); 0 = no request carried it as far as the client knows (it failed
        /// before it was sent, or the run ended first).
        #[serde(default = "one")]
        attempts: u32,
        /// The producer's limit of produce requests in flight per connection; `None`:
        /// unknown, taken as more than 1.
        #[serde(default)]
        max_in_flight: Option<u32>,
        /// The broker (address or node id) the send's last attempt went to; `None`: unknown.
        #[serde(default)]
        broker: Option<String>,
        /// The transaction the record was produced in (a name unique in the history, e.g.
        /// `"producer-az1-0/7"`); `None`: not transactional.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        txn: Option<String>,
        /// The producer's transactional id (`None`: unknown or not transactional).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transactional_id: Option<String>,
        /// The producer id the record was written with (`None`: unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        producer_id: Option<i64>,
        /// The producer epoch the record was written with (`None`: unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<i32>,
        /// The input record this output record was derived from, in an exactly-once
        /// consume-transform-produce pipeline (`None`: not an output of one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<Source>,
    },
    /// One fetch of one partition by a consumer.
    Poll {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The offset the consumer asked for.
        fetch_offset: i64,
        /// Records returned, in the order returned (may start before `fetch_offset`
        /// when a whole batch was returned).
        records: Vec<Rec>,
        /// The high watermark the response reported.
        high_watermark: Option<i64>,
        /// Part of the final read-back after the workload stopped.
        #[serde(default)]
        drain: bool,
        /// The consumer group the poller belongs to, if any.
        #[serde(default)]
        group: Option<String>,
        /// A read-back right after the poller's own acknowledgement (a read-your-writes
        /// check), not a consumer's delivery: judged like any poll, left out of delivery
        /// latency.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        read_back: bool,
        /// The consumer's isolation level (default `read_uncommitted`). A `read_committed`
        /// poll's records are what the client delivered after dropping aborted and control
        /// records.
        #[serde(default, skip_serializing_if = "Isolation::is_default")]
        isolation: Isolation,
        /// The last stable offset the response reported (`None`: not recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_stable: Option<i64>,
        /// The poll was made by a consume-transform-produce pipeline and its records feed
        /// this transaction (`None`: not a pipeline's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        txn: Option<String>,
    },
    /// A ListOffsets (latest) request.
    ListOffsets {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The high watermark returned.
        high_watermark: i64,
    },
    /// The consumer repositioned itself: its next poll of this partition may jump.
    Seek {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The new position.
        offset: i64,
        /// Set when the consumer did not choose to move: a fetch at this offset was
        /// answered OFFSET_OUT_OF_RANGE and the consumer reset its position (to `offset`,
        /// by its reset policy). `None`: the user's own seek.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reset_from: Option<i64>,
    },
    /// A poll reported the partition's log start offset: retention deleted every record
    /// below it. Recorded when a client sees a higher log start than it had recorded.
    LogStart {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The first offset still readable.
        log_start: i64,
        /// The retention by time in force, when the recorder knows it: records acknowledged
        /// less than this long before the op completed must not be below `log_start`, unless
        /// retention by bytes (`bytes_limit`) could have deleted them.
        #[serde(default)]
        horizon_ms: Option<u64>,
        /// The retention by bytes in force too (`None`: none). Retention by bytes deletes
        /// only while the partition holds more than this many bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes_limit: Option<u64>,
        /// An upper bound on the bytes one record takes in storage (value, key, record and
        /// batch overhead), so that a checker can bound what a partition held from its
        /// offsets. Needed to judge a `bytes_limit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record_bytes_max: Option<u64>,
    },
    /// A rebalance marker: the consumer's assignment changed (positions restart).
    Assign {
        /// The group, if the assignment came from a group rebalance.
        group: Option<String>,
        /// The group generation.
        generation: i32,
        /// The partitions now assigned.
        partitions: Vec<TopicPartition>,
        /// The member id the coordinator gave the consumer for this generation (`None`:
        /// unknown). With `joined_us`, lets [`crate::check::Class::ZombieCommit`] tell which
        /// generations were later than a commit's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member: Option<String>,
        /// When the consumer sent the JoinGroup that this generation answered (simulated
        /// microseconds since run start; `None`: unknown). At most the op's `invoke_us`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        joined_us: Option<u64>,
    },
    /// A consumer-group offset commit; `offset` is the next offset to read.
    Commit {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// Next offset to read.
        offset: i64,
        /// The generation id the commit carried (`None`: unknown; negative: a commit without
        /// group membership).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<i32>,
        /// The member id the commit carried (`None`: unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member: Option<String>,
        /// A TxnOffsetCommit inside this transaction: it takes effect only if the
        /// transaction commits (`None`: an ordinary OffsetCommit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        txn: Option<String>,
    },
    /// A read of a group's committed offset (`-1`: none committed).
    FetchCommitted {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The committed offset returned.
        offset: i64,
    },
    /// An InitProducerId for a transactional id: once an ok one with epoch `e` completed,
    /// every earlier epoch of that id is fenced.
    TxnInit {
        /// The transactional id.
        transactional_id: String,
        /// The producer id returned (`None`: unknown).
        #[serde(default)]
        producer_id: Option<i64>,
        /// The epoch returned (`None`: unknown).
        #[serde(default)]
        epoch: Option<i32>,
    },
    /// An EndTxn: the end of a transaction, committed or aborted. `ok`: the decision was
    /// applied; `failed`: refused, the transaction did not commit; `indeterminate`: unknown.
    /// A transaction without any `TxnEnd` never commits.
    TxnEnd {
        /// The transaction (as named by its sends).
        txn: String,
        /// The producer's transactional id (`None`: unknown).
        #[serde(default)]
        transactional_id: Option<String>,
        /// True: commit requested; false: abort requested.
        commit: bool,
    },
}

/// The input record a pipeline's output record was derived from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Source {
    /// Input topic.
    pub topic: String,
    /// Input partition.
    pub partition: i32,
    /// Offset of the input record.
    pub offset: i64,
}

/// A consumer's isolation level.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Every record in the log is delivered, aborted ones included (the default).
    #[default]
    ReadUncommitted,
    /// Only records of committed transactions (and non-transactional ones) are delivered,
    /// and none at or above the last stable offset.
    ReadCommitted,
}

impl Isolation {
    /// True for the default, `read_uncommitted`.
    pub fn is_default(&self) -> bool {
        *self == Isolation::ReadUncommitted
    }
}

fn one() -> u32 {
    1
}

/// One record as a consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rec {
    /// Its offset.
    pub offset: i64,
    /// Its value.
    pub value: String,
}

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl Op {
    /// The topic and partition this op is about (`None` for [`OpKind::Assign`],
    /// [`OpKind::TxnInit`] and [`OpKind::TxnEnd`]).
    pub fn topic_partition(&self) -> Option<(&str, i32)> {
        match &self.kind {
            OpKind::Send {
                topic, partition, ..
            }
            | OpKind::Poll {
                topic, partition, ..
            }
            | OpKind::ListOffsets {
                topic, partition, ..
            }
            | OpKind::Seek {
                topic, partition, ..
            }
            | OpKind::Commit {
                topic, partition, ..
            }
            | OpKind::FetchCommitted {
                topic, partition, ..
            }
            | OpKind::LogStart {
                topic, partition, ..
            } => Some((topic.as_str(), *partition)),
            OpKind::Assign { .. } | OpKind::TxnInit { .. } | OpKind::TxnEnd { .. } => None,
        }
    }

    /// The transaction an op belongs to: a send's, a pipeline poll's, a TxnOffsetCommit's
    /// or a `TxnEnd`'s `txn`.
    pub fn txn(&self) -> Option<&str> {
        match &self.kind {
            OpKind::Send { txn, .. } | OpKind::Poll { txn, .. } | OpKind::Commit { txn, .. } => {
                txn.as_deref()
            }
            OpKind::TxnEnd { txn, .. } => Some(txn),
            _ => None,
        }
    }
}

mod fast;

/// Reads a JSONL history (blank lines skipped) and validates it (see [`validate`]).
/// Errors name the 1-based line.
pub fn read_jsonl<R: BufRead>(mut reader: R) -> Result<Vec<Op>, Error> {
    let mut reading = Reading::default();
    let mut buf = Vec::new();
    loop {
        let number = reading.next_line();
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::Io {
                line: number,
                source,
            })?;
        if read == 0 {
            break;
        }
        reading.line(number, &buf)?;
    }
    reading.finish()
}

/// [`read_jsonl`] of a history held in memory (what `eddy check` reads): the same result,
/// without copying each line, and with room for the ops reserved up front.
pub fn read_jsonl_bytes(bytes: &[u8]) -> Result<Vec<Op>, Error> {
    let mut reading = Reading::default();
    // Estimate the number of lines from the first 64 KiB (a guess only sizes a vector).
    let sample = &bytes[..bytes.len().min(1 << 16)];
    let per_sample = memchr::memchr_iter(b'\n', sample).count().max(1);
    reading
        .ops
        .reserve(bytes.len() / sample.len().max(1) * per_sample + per_sample);
    if let Ok(text) = std::str::from_utf8(bytes) {
        // All UTF-8 (the usual case): validated once, not line by line.
        let mut rest = text;
        while !rest.is_empty() {
            let number = reading.next_line();
            let end = memchr::memchr(b'\n', rest.as_bytes()).map_or(rest.len(), |n| n + 1);
            let (line, after) = rest.split_at(end);
            let line = line
                .strip_suffix('\n')
                .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
            reading.text_line(number, line)?;
            rest = after;
        }
    } else {
        let mut rest = bytes;
        while !rest.is_empty() {
            let number = reading.next_line();
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |n| n + 1);
            reading.line(number, &rest[..end])?;
            rest = &rest[end..];
        }
    }
    reading.finish()
}

/// The ops read so far, and the line each came from.
#[derive(Default)]
struct Reading {
    ops: Vec<Op>,
    lines: Vec<usize>,
    number: usize,
}

impl Reading {
    fn next_line(&mut self) -> usize {
        self.number += 1;
        self.number
    }

    /// One line as read, with its "\n" or "\r\n" if any; as `BufRead::lines` gives lines,
    /// bytes that are not UTF-8 are an I/O error.
    fn line(&mut self, number: usize, mut line: &[u8]) -> Result<(), Error> {
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l.strip_suffix(b"\r").unwrap_or(l);
        }
        let line = std::str::from_utf8(line).map_err(|_| Error::Io {
            line: number,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
        })?;
        self.text_line(number, line)
    }

    /// One line without its end.
    fn text_line(&mut self, number: usize, line: &str) -> Result<(), Error> {
        if line.trim().is_empty() {
            return Ok(());
        }
        // The fast path takes the lines it is sure of; serde reads the rest (and words the
        // errors).
        let op = match fast::parse_op(line) {
            Some(op) => op,
            None => serde_json::from_str(line).map_err(|source| Error::Parse {
                line: number,
                source,
            })?,
        };
        self.ops.push(op);
        self.lines.push(number);
        Ok(())
    }

    fn finish(self) -> Result<Vec<Op>, Error> {
        let lines = self.lines;
        validate_at(&self.ops, |i| {
            format!("line {}", lines.get(i).copied().unwrap_or(0))
        })?;
        Ok(self.ops)
    }
}

/// Writes a history as JSONL, one op per line, in the given order.
pub fn write_jsonl<W: Write>(mut writer: W, ops: &[Op]) -> Result<(), Error> {
    let io = |source| Error::Io { line: 0, source };
    for op in ops {
        serde_json::to_writer(&mut writer, op).map_err(|e| io(std::io::Error::other(e)))?;
        writer.write_all(b"\n").map_err(io)?;
    }
    writer.flush().map_err(io)
}

/// Checks the schema rules a parser cannot: unique op ids; unique send values; an ok op has
/// a completion time; completion is not before invocation; a failed send carries no offset;
/// an ok send was carried by at least one request (`attempts` ≥ 1); a send's
/// `max_in_flight` is at least 1; offsets and high watermarks are not negative (except
/// `FetchCommitted`, where `-1` means "nothing committed"); transaction names and
/// transactional ids are not empty; producer ids, epochs, last stable offsets and source
/// offsets are not negative; the sends and `TxnEnd`s of one transaction give one
/// transactional id.
pub fn validate(ops: &[Op]) -> Result<(), Error> {
    validate_at(ops, |i| format!("op index {i}"))
}

fn validate_at(ops: &[Op], location: impl Fn(usize) -> String) -> Result<(), Error> {
    // The first op whose id, and the first send whose value, repeats an earlier one's (and
    // that earlier send's op id), found by sorting rather than with sets of a million keys.
    let repeated_id = first_repeated_id(ops);
    let repeated_value = first_repeated_value(ops);
    for (i, op) in ops.iter().enumerate() {
        let invalid = |reason: String| Error::Invalid {
            location: location(i),
            reason,
        };
        if repeated_id == Some(i) {
            return Err(invalid(format!("op id {} appears twice", op.id)));
        }
        match op.complete_us {
            Some(c) if c < op.invoke_us => {
                return Err(invalid(format!(
                    "op {} completes at {c} us before its invocation at {} us",
                    op.id, op.invoke_us
                )))
            }
            None if op.outcome == Outcome::Ok => {
                return Err(invalid(format!(
                    "op {} is ok but has no complete_us",
                    op.id
                )))
            }
            _ => {}
        }
        let negative = |what: &str, v: i64| invalid(format!("op {}: negative {what} {v}", op.id));
        match &op.kind {
            OpKind::Send {
                value,
                offset,
                partition,
                attempts,
                max_in_flight,
                txn,
                producer_id,
                epoch,
                source,
                ..
            } => {
                if txn.as_deref() == Some("") {
                    return Err(invalid(format!("op {}: empty txn name", op.id)));
                }
                if let Some(p) = producer_id.filter(|p| *p < 0) {
                    return Err(negative("producer_id", p));
                }
                if let Some(e) = epoch.filter(|e| *e < 0) {
                    return Err(negative("epoch", i64::from(e)));
                }
                if let Some(s) = source {
                    if s.partition < 0 {
                        return Err(negative("source partition", i64::from(s.partition)));
                    }
                    if s.offset < 0 {
                        return Err(negative("source offset", s.offset));
                    }
                }
                if *attempts == 0 && op.outcome == Outcome::Ok {
                    return Err(invalid(format!(
                        "op {} is ok but no request carried it (attempts 0)",
                        op.id
                    )));
                }
                if *max_in_flight == Some(0) {
                    return Err(invalid(format!("op {}: max_in_flight 0", op.id)));
                }
                if let Some((_, first)) = repeated_value.filter(|&(at, _)| at == i) {
                    return Err(invalid(format!("value {value:?} is sent by op {first} and op {} (values must be unique per send)", op.id)));
                }
                if *partition < 0 {
                    return Err(negative("partition", i64::from(*partition)));
                }
                if let Some(o) = offset {
                    if *o < 0 {
                        return Err(negative("offset", *o));
                    }
                    if op.outcome == Outcome::Failed {
                        return Err(invalid(format!(
                            "op {} failed but carries offset {o}",
                            op.id
                        )));
                    }
                }
            }
            OpKind::Poll {
                fetch_offset,
                records,
                high_watermark,
                last_stable,
                txn,
                ..
            } => {
                if txn.as_deref() == Some("") {
                    return Err(invalid(format!("op {}: empty txn name", op.id)));
                }
                if let Some(l) = last_stable.filter(|l| *l < 0) {
                    return Err(negative("last_stable", l));
                }
                if *fetch_offset < 0 {
                    return Err(negative("fetch_offset", *fetch_offset));
                }
                if let Some(h) = high_watermark {
                    if *h < 0 {
                        return Err(negative("high_watermark", *h));
                    }
                }
                for r in records {
                    if r.offset < 0 {
                        return Err(negative("record offset", r.offset));
                    }
                }
            }
            OpKind::ListOffsets { high_watermark, .. } if *high_watermark < 0 => {
                return Err(negative("high_watermark", *high_watermark));
            }
            OpKind::LogStart { log_start, .. } if *log_start < 0 => {
                return Err(negative("log_start", *log_start));
            }
            OpKind::Commit { txn: Some(t), .. } if t.is_empty() => {
                return Err(invalid(format!("op {}: empty txn name", op.id)));
            }
            OpKind::Seek { offset, .. } | OpKind::Commit { offset, .. } if *offset < 0 => {
                return Err(negative("offset", *offset));
            }
            OpKind::TxnEnd { txn, .. } if txn.is_empty() => {
                return Err(invalid(format!("op {}: txn_end without a txn name", op.id)));
            }
            OpKind::TxnInit {
                transactional_id,
                producer_id,
                epoch,
            } => {
                if transactional_id.is_empty() {
                    return Err(invalid(format!("op {}: empty transactional_id", op.id)));
                }
                if let Some(p) = producer_id.filter(|p| *p < 0) {
                    return Err(negative("producer_id", p));
                }
                if let Some(e) = epoch.filter(|e| *e < 0) {
                    return Err(negative("epoch", i64::from(e)));
                }
            }
            OpKind::FetchCommitted { offset, .. } if *offset < -1 => {
                return Err(negative("offset", *offset));
            }
            _ => {}
        }
    }
    if let Some((i, reason)) = txn_disagreement(ops) {
        return Err(Error::Invalid {
            location: location(i),
            reason,
        });
    }
    Ok(())
}

/// The first op whose transactional id differs from the one an earlier op of the same
/// transaction (a send or `TxnEnd` naming it) gave, and why. Histories without
/// transactions cost one pass.
fn txn_disagreement(ops: &[Op]) -> Option<(usize, String)> {
    fn tid(op: &Op) -> Option<(&str, &str)> {
        match &op.kind {
            OpKind::Send {
                txn: Some(txn),
                transactional_id: Some(tid),
                ..
            }
            | OpKind::TxnEnd {
                txn,
                transactional_id: Some(tid),
                ..
            } => Some((txn.as_str(), tid.as_str())),
            _ => None,
        }
    }
    let first = ops.iter().position(|op| tid(op).is_some())?;
    let mut seen: std::collections::BTreeMap<&str, (&str, u64)> = Default::default();
    for (i, op) in ops.iter().enumerate().skip(first) {
        let Some((txn, id)) = tid(op) else { continue };
        let (earlier, by) = *seen.entry(txn).or_insert((id, op.id));
        if earlier != id {
            return Some((
                i,
                format!(
                    "op {} gives txn {txn:?} transactional_id {id:?}, op {by} gave {earlier:?}",
                    op.id
                ),
            ));
        }
    }
    None
}

/// The index of the first op whose id an earlier op has.
fn first_repeated_id(ops: &[Op]) -> Option<usize> {
    if ops.windows(2).all(|w| w[0].id < w[1].id) {
        return None;
    }
    let mut ids: Vec<(u64, usize)> = ops.iter().enumerate().map(|(i, op)| (op.id, i)).collect();
    ids.sort_unstable();
    // In each run of one id, the second index is the first repeat.
    ids.chunk_by(|a, b| a.0 == b.0)
        .filter_map(|run| run.get(1).map(|e| e.1))
        .min()
}

/// The index of the first send whose value an earlier send has, and that earlier send's
/// op id.
fn first_repeated_value(ops: &[Op]) -> Option<(usize, u64)> {
    let value = |i: usize| match &ops[i].kind {
        OpKind::Send { value, .. } => value.as_str(),
        _ => "",
    };
    let hasher = crate::check::fast_hash::FastBuild::default();
    let mut by_hash: Vec<(u64, usize)> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op.kind, OpKind::Send { .. }))
        .map(|(i, _)| (hasher.hash_one(value(i)), i))
        .collect();
    crate::check::fast_hash::sort_by_hash(&mut by_hash);
    let mut first: Option<(usize, u64)> = None;
    for run in by_hash.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() < 2 {
            continue;
        }
        // Equal hashes: by value, then index; the second of a run of equal values repeats
        // the first.
        run.sort_unstable_by(|a, b| (value(a.1), a.1).cmp(&(value(b.1), b.1)));
        for same in run.chunk_by(|a, b| value(a.1) == value(b.1)) {
            if let [earliest, second, ..] = same {
                if first.is_none_or(|(at, _)| second.1 < at) {
                    first = Some((second.1, ops[earliest.1].id));
                }
            }
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::synth::SplitMix64;

    fn send(id: u64, value: &str) -> Op {
        Op {
            id,
            process: "p".into(),
            invoke_us: 0,
            complete_us: None,
            outcome: Outcome::Indeterminate,
            error: None,
            kind: OpKind::Send {
                topic: "t".into(),
                partition: 0,
                value: value.into(),
                offset: None,
                idempotent: false,
                attempts: 1,
                max_in_flight: None,
                broker: None,
                txn: None,
                transactional_id: None,
                producer_id: None,
                epoch: None,
                source: None,
            },
        }
    }

    fn seek(id: u64) -> Op {
        Op {
            kind: OpKind::Seek {
                topic: "t".into(),
                partition: 0,
                offset: 0,
                reset_from: None,
            },
            ..send(id, "")
        }
    }

    /// What sets of ids and values, filled in history order, find.
    fn by_sets(ops: &[Op]) -> (Option<usize>, Option<(usize, u64)>) {
        let mut ids = BTreeSet::new();
        let mut values: BTreeMap<&str, u64> = BTreeMap::new();
        let (mut id, mut value) = (None, None);
        for (i, op) in ops.iter().enumerate() {
            if !ids.insert(op.id) && id.is_none() {
                id = Some(i);
            }
            if let OpKind::Send { value: v, .. } = &op.kind {
                match values.get(v.as_str()) {
                    Some(&first) if value.is_none() => value = Some((i, first)),
                    Some(_) => {}
                    None => {
                        values.insert(v, op.id);
                    }
                }
            }
        }
        (id, value)
    }

    #[test]
    fn repeats_are_found_where_sets_would_find_them() {
        let mut rng = SplitMix64::new(11);
        for _ in 0..3000 {
            let n = 1 + rng.below(12) as usize;
            let ops: Vec<Op> = (0..n)
                .map(|_| {
                    let id = rng.below(10);
                    if rng.chance(700) {
                        send(id, &format!("v{}", rng.below(8)))
                    } else {
                        seek(id)
                    }
                })
                .collect();
            assert_eq!(
                (first_repeated_id(&ops), first_repeated_value(&ops)),
                by_sets(&ops),
                "{ops:?}"
            );
        }
    }

    #[test]
    fn bytes_and_streams_read_alike() {
        let good = "{\"id\":1,\"process\":\"p\",\"invoke_us\":0,\"complete_us\":1,\"outcome\":\"ok\",\"type\":\"list_offsets\",\"topic\":\"t\",\"partition\":0,\"high_watermark\":0}";
        let texts: Vec<Vec<u8>> = vec![
            format!("{good}\n").into(),
            format!("{good}").into(),
            format!("\n\n  \n{good}\r\n\r\n").into(),
            format!("{good}\n{good}\n").into(),
            format!("{good}\n{{\"id\":2}}\n").into(),
            [good.as_bytes(), b"\n\xff\xfe\n"].concat(),
            b"".to_vec(),
            b"\r\n".to_vec(),
            format!("{good}\r").into(),
            format!("{good}\r\r\n \t\n").into(),
            format!("{}\n", good.replace("\"t\"", "\"t\\u00e9\"")).into(),
        ];
        for text in texts {
            let stream = format!("{:?}", read_jsonl(&text[..]));
            let bytes = format!("{:?}", read_jsonl_bytes(&text));
            assert_eq!(stream, bytes, "{:?}", String::from_utf8_lossy(&text));
        }
    }
}
