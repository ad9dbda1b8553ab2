//! The recorded history of a run: one [`Op`] per client operation, with invoke and complete
//! times in simulated microseconds and an outcome. Stored as JSONL (one op per line) so that
//! any program can write a history for `eddy check`; the schema is documented in
//! `reports/HISTORY.md`. This module only models, reads, writes and validates histories —
//! the recorder that produces them lives in `scenarios`, the judgement in [`crate::check`].

use std::collections::{BTreeMap, BTreeSet};
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
    /// The topic and partition this op is about (`None` for [`OpKind::Assign`]).
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
            OpKind::Assign { .. } => None,
        }
    }
}

mod fast;

/// Reads a JSONL history (blank lines skipped) and validates it (see [`validate`]).
/// Errors name the 1-based line.
pub fn read_jsonl<R: BufRead>(mut reader: R) -> Result<Vec<Op>, Error> {
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        number += 1;
        buf.clear();
        // Lines as `BufRead::lines` gives them (without "\n" or "\r\n"; not UTF-8 is an
        // I/O error), without allocating each.
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::Io {
                line: number,
                source,
            })?;
        if read == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        let line = std::str::from_utf8(&buf).map_err(|_| Error::Io {
            line: number,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
        })?;
        if line.trim().is_empty() {
            continue;
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
        ops.push(op);
        lines.push(number);
    }
    validate_at(&ops, |i| {
        format!("line {}", lines.get(i).copied().unwrap_or(0))
    })?;
    Ok(ops)
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
/// `FetchCommitted`, where `-1` means "nothing committed").
pub fn validate(ops: &[Op]) -> Result<(), Error> {
    validate_at(ops, |i| format!("op index {i}"))
}

fn validate_at(ops: &[Op], location: impl Fn(usize) -> String) -> Result<(), Error> {
    let mut ids = BTreeSet::new();
    let mut values: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let invalid = |reason: String| Error::Invalid {
            location: location(i),
            reason,
        };
        if !ids.insert(op.id) {
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
                ..
            } => {
                if *attempts == 0 && op.outcome == Outcome::Ok {
                    return Err(invalid(format!(
                        "op {} is ok but no request carried it (attempts 0)",
                        op.id
                    )));
                }
                if *max_in_flight == Some(0) {
                    return Err(invalid(format!("op {}: max_in_flight 0", op.id)));
                }
                if let Some(first) = values.insert(value.as_str(), op.id) {
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
                ..
            } => {
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
            OpKind::Seek { offset, .. } | OpKind::Commit { offset, .. } if *offset < 0 => {
                return Err(negative("offset", *offset));
            }
            OpKind::FetchCommitted { offset, .. } if *offset < -1 => {
                return Err(negative("offset", *offset));
            }
            _ => {}
        }
    }
    Ok(())
}
