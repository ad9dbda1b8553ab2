//! The request header that precedes every body.
//!
//! v1: api_key INT16, api_version INT16, correlation_id INT32, client_id nullable STRING (always
//! INT16-length, even in flexible requests). v2 adds a tagged-field section. The header version
//! comes from the `kafka-protocol` crate (`ApiKey::request_header_version`).

use super::error::GuardError;
use super::reader::Reader;
use super::walker::Walker;

/// The fixed start of a request header: enough to answer or route a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Reads the first 8 bytes of a frame without trusting anything after them. Use it to route,
/// or to answer UNSUPPORTED_VERSION with the right correlation id after
/// [`GuardError::Unsupported`].
pub fn peek_header(frame: &[u8]) -> Result<HeaderPrefix, GuardError> {
    read_prefix(&mut Reader::new(frame))
}

fn read_prefix(r: &mut Reader<'_>) -> Result<HeaderPrefix, GuardError> {
    Ok(HeaderPrefix {
        api_key: r.i16()?,
        api_version: r.i16()?,
        correlation_id: r.i32()?,
    })
}

/// Walks the header, checking it names `api_key`/`api_version`. `walker` must be flexible
/// (its tagged-section walking is used for header v2).
pub(crate) fn walk_header(
    r: &mut Reader<'_>,
    walker: &Walker<'_>,
    api_key: i16,
    api_version: i16,
    header_version: i16,
) -> Result<(), GuardError> {
    let prefix = read_prefix(r)?;
    if (prefix.api_key, prefix.api_version) != (api_key, api_version) {
        return Err(GuardError::HeaderMismatch {
            expected_key: api_key,
            expected_version: api_version,
            found_key: prefix.api_key,
            found_version: prefix.api_version,
        });
    }
    walker.string(r, false, true)?; // client_id: never compact, even in header v2
    if header_version >= 2 {
        walker.walk_tagged_section(r, &[])?;
    }
    Ok(())
}
