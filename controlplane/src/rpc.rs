//! The agent ↔ control-plane RPC: length-prefixed bincode frames carrying a request id, so
//! many requests can be in flight on one connection. The same protocol runs on simulated and
//! real TCP. (bincode rather than JSON: lookups carry long extent lists, and decoding them
//! was a measurable share of a simulation's CPU time.)

// bincode cannot skip fields: RPC types must not use `skip_serializing_if`, `flatten` or
// internally tagged enums (a test below round-trips every message kind).
use bincode::Options;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::CpError;
use crate::types::{AgentInfo, FileSpec, LookupQuery, LookupResult, TopicInfo};

/// Largest RPC frame accepted; a commit of a file with many chunks stays far below it.
pub const FRAME_BYTES_MAX: u32 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// An agent announces itself and learns who else is alive.
    Heartbeat { agent: AgentInfo },
    /// Create topics (journaled). `if_not_exists` makes auto-creation idempotent.
    CreateTopics {
        topics: Vec<TopicInfo>,
        if_not_exists: bool,
    },
    /// Describe topics (all when `names` is `None`).
    DescribeTopics { names: Option<Vec<String>> },
    /// Commit a data file already written to object storage (journaled, idempotent by id).
    CommitFile { file: FileSpec },
    /// Resolve offsets to extents for several partitions. When none of them has data
    /// (every offset equals its high watermark), wait up to `wait_ms` for new data.
    Lookup {
        queries: Vec<LookupQuery>,
        wait_ms: u64,
    },
    /// Kafka ListOffsets for one partition.
    ListOffset {
        topic: String,
        partition: i32,
        timestamp: i64,
        /// Latest means the last stable offset (Kafka's read_committed isolation).
        read_committed: bool,
    },
    /// Consumer-group coordination (membership soft state, journaled offsets): see
    /// [`crate::groups`].
    Group(crate::groups::GroupRequest),
    /// Allocate an idempotent producer id (journaled).
    InitProducerId,
    /// Transactions, the control plane as coordinator: see [`crate::txn`].
    Txn(crate::txn::TxnRequest),
    /// An agent asks for maintenance work (compaction, deletion, orphan scan).
    LeaseJob { worker: String },
    /// An agent reports how a job it leased ended.
    FinishJob {
        job_id: u64,
        attempt: u32,
        outcome: crate::jobs::JobOutcome,
    },
    /// The retention that applies to each of `topics` (configuration, not state: answered
    /// by any replica). Unlimited when maintenance is off.
    Retention { topics: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Agents {
        agents: Vec<AgentInfo>,
    },
    TopicsCreated {
        results: Vec<Result<TopicInfo, CpError>>,
    },
    Topics {
        topics: Vec<TopicInfo>,
    },
    Committed {
        base_offsets: Vec<i64>,
    },
    Lookups {
        results: Vec<Result<LookupResult, CpError>>,
    },
    Offset {
        offset: Option<i64>,
        high_watermark: i64,
    },
    Group(crate::groups::GroupResponse),
    ProducerId {
        producer_id: i64,
        producer_epoch: i16,
    },
    Job {
        job: Option<crate::jobs::JobSpec>,
    },
    JobFinished {
        accepted: bool,
        message: String,
    },
    Retention {
        policies: Vec<crate::jobs::RetentionPolicy>,
    },
    Txn(crate::txn::TxnAnswer),
    Transactions {
        transactions: Vec<crate::txn::TxnDescription>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u64,
    pub request: Request,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseFrame {
    pub id: u64,
    pub response: Result<Response, CpError>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes exceeds the limit of {FRAME_BYTES_MAX}")]
    TooLarge(u32),
    #[error("undecodable frame: {0}")]
    Decode(#[from] bincode::Error),
}

pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    value: &T,
) -> Result<(), FrameError> {
    let body = bincode::serialize(value)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= FRAME_BYTES_MAX)
        .ok_or(FrameError::TooLarge(u32::MAX))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// The first allocation of [`read_growing`].
const GROW_FROM_BYTES: usize = 64 * 1024;

/// Read `len` bytes into a buffer that grows as they arrive, at most doubling each time: a
/// declared size costs nothing until its bytes are sent.
pub async fn read_growing<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> std::io::Result<Vec<u8>> {
    let mut body: Vec<u8> = Vec::new();
    while body.len() < len {
        if body.len() == body.capacity() {
            body.reserve_exact((len - body.len()).min(body.len().max(GROW_FROM_BYTES)));
        }
        let missing = (len - body.len()) as u64;
        if (&mut *r).take(missing).read_buf(&mut body).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body)
}

/// Read one frame; `Ok(None)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> Result<Option<T>, FrameError> {
    match read_frame_len(r).await? {
        Some(len) => read_frame_body(r, len).await.map(Some),
        None => Ok(None),
    }
}

/// Read a frame's length prefix (checked against [`FRAME_BYTES_MAX`]); `Ok(None)` on a
/// clean end of stream. [`read_frame_body`] reads the rest: a server can take the frame's
/// size from a budget in between, before any of it is allocated.
pub async fn read_frame_len<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<u32>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge(len));
    }
    Ok(Some(len))
}

/// Read and decode a frame body of `len` bytes (its buffer grows as the bytes arrive).
pub async fn read_frame_body<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    len: u32,
) -> Result<T, FrameError> {
    let body = read_growing(r, len as usize).await?;
    Ok(bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(FRAME_BYTES_MAX as u64)
        .deserialize(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// Every frame must survive bincode (which cannot skip fields): errors with and without
    /// a leader hint, lookups, topic results.
    #[madsim::test]
    async fn frames_round_trip_through_bincode() {
        let frames = vec![
            ResponseFrame {
                id: 1,
                response: Err(CpError::not_leader("x", Some("10.0.1.2:7000".into()))),
            },
            ResponseFrame {
                id: 2,
                response: Err(CpError::new(ErrorKind::TopicExists, "t")),
            },
            ResponseFrame {
                id: 3,
                response: Ok(Response::TopicsCreated {
                    results: vec![Err(CpError::invalid("bad"))],
                }),
            },
            ResponseFrame {
                id: 4,
                response: Ok(Response::Committed {
                    base_offsets: vec![0, 5],
                }),
            },
            ResponseFrame {
                id: 5,
                response: Ok(Response::Job {
                    job: Some(crate::jobs::JobSpec {
                        id: 3,
                        attempt: 1,
                        work: crate::jobs::JobWork::Compact {
                            output_key: "compacted/L1/x".into(),
                            runs: vec![crate::jobs::SourceRun {
                                topic: "t".into(),
                                partition: 0,
                                extents: vec![crate::types::Extent {
                                    base_offset: 0,
                                    last_offset: 4,
                                    key: "data/a".into(),
                                    byte_start: 0,
                                    byte_len: 10,
                                    max_timestamp: 7,
                                    committed_at_ms: 9,
                                    marker: None,
                                }],
                            }],
                        },
                    }),
                }),
            },
            ResponseFrame {
                id: 6,
                response: Ok(Response::JobFinished {
                    accepted: false,
                    message: "stale".into(),
                }),
            },
        ];
        for frame in frames {
            let mut buf = Vec::new();
            write_frame(&mut buf, &frame).await.expect("encode");
            let mut r = &buf[..];
            let back: ResponseFrame = read_frame(&mut r).await.expect("decode").expect("a frame");
            assert_eq!(back.id, frame.id);
            assert_eq!(
                format!("{:?}", back.response),
                format!("{:?}", frame.response)
            );
        }
    }
}
