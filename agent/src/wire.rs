//! Kafka framing: a 4-byte big-endian size, then the request header and body. Frames are
//! checked before the `kafka-protocol` decoder sees them (size limits, minimum length, and
//! no panic escapes decoding).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// api_key (2) + api_version (2) + correlation_id (4): anything shorter has no header.
pub const FRAME_LEN_MIN: usize = 8;

/// A frame's buffer first holds this many bytes; it then grows by at most its own size at a
/// time, so it never holds more than twice the bytes that arrived (nor more than declared).
pub const FRAME_CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is shorter than a request header")]
    TooShort(i64),
    #[error("request of {len} bytes exceeds the limit of {max} (socket.request.max.bytes)")]
    TooLarge { len: i64, max: usize },
    #[error("the request budget is closed")]
    BudgetClosed,
}

/// The size prefix of a frame whose first byte is `first`: read the other three and check
/// the size against `FRAME_LEN_MIN` and `max`. Nothing is allocated for the body.
pub async fn read_size<R: AsyncRead + Unpin>(
    r: &mut R,
    first: u8,
    max: usize,
) -> Result<usize, FrameError> {
    let mut rest = [0u8; 3];
    r.read_exact(&mut rest).await?;
    let len = i32::from_be_bytes([first, rest[0], rest[1], rest[2]]) as i64;
    if len < FRAME_LEN_MIN as i64 {
        return Err(FrameError::TooShort(len));
    }
    if len as u64 > max as u64 {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len as usize)
}

/// Read a frame body of `len` bytes into a buffer that grows as the bytes arrive (see
/// [`FRAME_CHUNK_BYTES`]); every growth first takes its bytes from `budget` (one permit per
/// byte), waiting while it is spent. Returns the body and the permits its buffer took.
///
/// `len` must not exceed the budget's capacity (the caller checks), or this waits forever.
/// Without a budget, the buffer still grows only as bytes arrive.
pub async fn read_body<R: AsyncRead + Unpin>(
    r: &mut R,
    len: usize,
    budget: Option<&Arc<Semaphore>>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), FrameError> {
    let mut body: Vec<u8> = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    while body.len() < len {
        if body.len() == body.capacity() {
            let grow = (len - body.len()).min(body.len().max(FRAME_CHUNK_BYTES));
            if let Some(budget) = budget {
                let permits = u32::try_from(grow).unwrap_or(u32::MAX);
                let permit = budget
                    .clone()
                    .acquire_many_owned(permits)
                    .await
                    .map_err(|_| FrameError::BudgetClosed)?;
                match held.as_mut() {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
            }
            body.reserve_exact(grow);
        }
        let missing = (len - body.len()) as u64;
        let n = (&mut *r).take(missing).read_buf(&mut body).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok((Bytes::from(body), held))
}

/// The fixed start of every request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderStart {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

pub fn header_start(frame: &[u8]) -> Option<HeaderStart> {
    if frame.len() < FRAME_LEN_MIN {
        return None;
    }
    Some(HeaderStart {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("undecodable {api:?} v{version}: {message}")]
    Malformed {
        api: ApiKey,
        version: i16,
        message: String,
    },
}

/// Decode a validated frame into its header and request.
pub fn decode_request(
    frame: Bytes,
    start: HeaderStart,
) -> Result<(RequestHeader, RequestKind), DecodeError> {
    let api =
        ApiKey::try_from(start.api_key).map_err(|_| DecodeError::UnknownApi(start.api_key))?;
    let version = start.api_version;
    let malformed = |message: String| DecodeError::Malformed {
        api,
        version,
        message,
    };
    let result = catch_unwind(AssertUnwindSafe(move || {
        let mut buf = frame;
        let header = RequestHeader::decode(&mut buf, api.request_header_version(version))
            .map_err(|e| e.to_string())?;
        let request = RequestKind::decode(api, &mut buf, version).map_err(|e| e.to_string())?;
        Ok::<_, String>((header, request))
    }));
    match result {
        Ok(Ok(decoded)) => Ok(decoded),
        Ok(Err(message)) => Err(malformed(message)),
        Err(_) => Err(malformed("decoder panicked".into())),
    }
}

/// Encode a response frame (size prefix included).
pub fn encode_response(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    response: &ResponseKind,
) -> anyhow_free::Result<Bytes> {
    // Size the buffer for the record bytes a fetch carries, so encoding does not regrow it.
    let records: usize = match response {
        ResponseKind::Fetch(f) => f
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()) + 64)
            .sum(),
        _ => 0,
    };
    let mut buf = BytesMut::with_capacity(256 + records);
    buf.extend_from_slice(&[0, 0, 0, 0]);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| anyhow_free::Error(format!("encode {api:?} v{version} header: {e}")))?;
    response
        .encode(&mut buf, version)
        .map_err(|e| anyhow_free::Error(format!("encode {api:?} v{version}: {e}")))?;
    let len = (buf.len() - 4) as u32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// Encoding errors as plain strings (the crate reports `anyhow::Error`).
pub mod anyhow_free {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct Error(pub String);
    pub type Result<T> = std::result::Result<T, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    #[madsim::test]
    async fn bodies_grow_with_the_bytes_that_arrive() {
        let budget = Arc::new(Semaphore::new(1 << 30));
        let (mut client, mut server) = tokio::io::duplex(4096);
        let declared = 100 * 1024 * 1024;
        let reader = {
            let budget = budget.clone();
            tokio::spawn(async move { read_body(&mut server, declared, Some(&budget)).await })
        };
        client.write_all(&[7u8; 10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let taken = (1 << 30) - budget.available_permits();
        assert_eq!(
            taken, FRAME_CHUNK_BYTES,
            "one chunk for 10 bytes, not the 100 MiB declared"
        );
        drop(client);
        let err = reader.await.unwrap().expect_err("the stream ended early");
        assert!(
            matches!(err, FrameError::Io(ref e) if e.kind() == std::io::ErrorKind::UnexpectedEof)
        );
        assert_eq!(budget.available_permits(), 1 << 30, "permits come back");
    }

    #[madsim::test]
    async fn a_body_arriving_in_pieces_is_read_whole() {
        let budget = Arc::new(Semaphore::new(1 << 30));
        let (mut client, mut server) = tokio::io::duplex(1000);
        let len = 300_000;
        let sent: Vec<u8> = (0..len + 5).map(|i| (i % 251) as u8).collect();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client
        });
        let (body, permit) = read_body(&mut server, len, Some(&budget)).await.unwrap();
        assert_eq!(body.len(), len);
        assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        assert_eq!(
            permit.map_or(0, |p| p.num_permits()),
            len,
            "the budget holds the body"
        );
        // The next frame's bytes were left in the stream.
        let mut rest = [0u8; 5];
        let _client = writer.await.unwrap();
        server.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest[0], (len % 251) as u8);
    }

    #[madsim::test]
    async fn sizes_are_checked_before_anything_is_allocated() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&[0, 0, 0]).await.unwrap();
        let err = read_size(&mut server, 0x10, 1024).await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0x1000_0000,
                max: 1024
            }
        ));
        client.write_all(&[0, 0, 3]).await.unwrap();
        assert!(matches!(
            read_size(&mut server, 0, 1024).await,
            Err(FrameError::TooShort(3))
        ));
        client.write_all(&[0xff, 0xff, 0xff]).await.unwrap();
        assert!(matches!(
            read_size(&mut server, 0xff, 1024).await,
            Err(FrameError::TooShort(-1))
        ));
    }
}
