//! Pre-decode structural guard for Kafka request frames.
//!
//! The `kafka-protocol` 0.18 decoders size vectors from wire counts (`Vec::with_capacity(n)`
//! for arrays, `vec![0; n]` for some byte strings) and slice the header without a length check
//! (a frame under 4 bytes panics). A hostile count makes the process *abort* on allocation
//! failure, which `catch_unwind` cannot stop. So before a frame reaches the crate, the agent
//! calls [`validate_request`]: it walks the header and the body's schema for that API version
//! and refuses any frame that is truncated, declares a count or length that cannot fit in the
//! bytes left (or exceeds [`Limits`]), uses a negative length, a null where none is allowed,
//! invalid UTF-8, a tag the version does not define, or has trailing bytes.
//!
//! It must never panic and never allocate in proportion to anything the wire declares.
//!
//! Guarantee: if `validate_request` returns `Ok`, the crate's header and body decoders return
//! `Ok` for the same bytes and consume exactly the frame (when trailing bytes are refused).
//! Every array the crate then builds was walked element by element here, so the total number of
//! elements it allocates for is at most the frame length.

mod error;
mod header;
mod limits;
pub mod messages;
mod reader;
pub mod schema;
mod walker;

#[cfg(test)]
mod tests;

pub use error::GuardError;
pub use header::{peek_header, HeaderPrefix};
pub use limits::Limits;
pub use walker::{LengthPrefix, PrefixKind};

use std::cell::RefCell;

use kafka_protocol::messages::ApiKey;
use reader::Reader;
use walker::Walker;

/// Checks that `frame` (the bytes after the 4-byte size prefix) is a well-formed request
/// `api_key` / `api_version` that the `kafka-protocol` decoder can safely decode.
///
/// Returns [`GuardError::Unsupported`] for unknown APIs or versions outside
/// [`supported_versions`]; any other error means the frame is malformed.
pub fn validate_request(
    api_key: i16,
    api_version: i16,
    frame: &[u8],
    limits: &Limits,
) -> Result<(), GuardError> {
    walk_frame(api_key, api_version, frame, limits, None)
}

/// Like [`validate_request`], but also returns every length/count prefix walked, in frame
/// order. For tests, fuzzers and fault injection (corrupting a frame where it hurts); it
/// allocates in proportion to the frame, so keep it off the serving path.
pub fn length_prefixes(
    api_key: i16,
    api_version: i16,
    frame: &[u8],
    limits: &Limits,
) -> Result<Vec<LengthPrefix>, GuardError> {
    let trace = RefCell::new(Vec::new());
    walk_frame(api_key, api_version, frame, limits, Some(&trace))?;
    let mut prefixes = trace.into_inner();
    // Recorded as each value ends; callers want frame order.
    prefixes.sort_by_key(|p| p.at);
    Ok(prefixes)
}

fn walk_frame(
    api_key: i16,
    api_version: i16,
    frame: &[u8],
    limits: &Limits,
    trace: Option<&RefCell<Vec<LengthPrefix>>>,
) -> Result<(), GuardError> {
    if frame.len() > limits.max_frame_len {
        return Err(GuardError::FrameTooLarge {
            len: frame.len(),
            max: limits.max_frame_len,
        });
    }
    let unsupported = GuardError::Unsupported {
        api_key,
        api_version,
    };
    let schema = messages::lookup(api_key)
        .filter(|m| (m.min_version..=m.max_version).contains(&api_version))
        .ok_or(unsupported.clone())?;
    let header_version = ApiKey::try_from(api_key)
        .map_err(|_| unsupported)?
        .request_header_version(api_version);

    let mut r = Reader::new(frame);
    let header_walker = Walker::new(limits, header_version, true, trace);
    header::walk_header(&mut r, &header_walker, api_key, api_version, header_version)?;
    let body_walker = Walker::new(limits, api_version, schema.is_flexible(api_version), trace);
    body_walker.walk_struct(&mut r, schema.body)?;
    if r.remaining() != 0 && !limits.allow_trailing_bytes {
        return Err(GuardError::TrailingBytes {
            at: r.pos(),
            count: r.remaining(),
        });
    }
    Ok(())
}

/// The inclusive version range the guard validates for `api_key`, or `None` if the API is not
/// served. Each range is what both the guard and the `kafka-protocol` 0.18 decoder handle.
pub fn supported_versions(api_key: i16) -> Option<(i16, i16)> {
    messages::lookup(api_key).map(|m| (m.min_version, m.max_version))
}
