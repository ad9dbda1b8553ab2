//! Kafka framing: a 4-byte big-endian size, then the request header and body. Frames are
//! checked before the `kafka-protocol` decoder sees them (size limits, minimum length, and
//! no panic escapes decoding).

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt};

/// api_key (2) + api_version (2) + correlation_id (4): anything shorter has no header.
pub const FRAME_LEN_MIN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is shorter than a request header")]
    TooShort(i64),
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: i64, max: usize },
}

/// Read one frame (without its size prefix). `Ok(None)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = i32::from_be_bytes(size) as i64;
    if len < FRAME_LEN_MIN as i64 {
        return Err(FrameError::TooShort(len));
    }
    if len as u64 > max as u64 {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    Ok(Some(Bytes::from(body)))
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
