//! Why a request frame was refused by the guard.
//!
//! Offsets (`at`) count bytes from the start of the frame after its 4-byte size prefix, so a
//! log line can point at the offending byte. Only [`GuardError::Unsupported`] means "well formed
//! as far as we know, but not something we serve"; every other variant means the bytes are
//! malformed or hostile and the connection should be closed.

/// A request frame the guard refuses to hand to the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The API key is unknown, or the version is outside what both the guard and the
    /// `kafka-protocol` crate understand. The agent answers UNSUPPORTED_VERSION (or closes).
    #[error("unsupported request: api key {api_key} version {api_version}")]
    Unsupported { api_key: i16, api_version: i16 },

    /// The frame is larger than [`super::Limits::max_frame_len`].
    #[error("frame of {len} bytes exceeds the {max} byte limit")]
    FrameTooLarge { len: usize, max: usize },

    /// The API key or version in the header differs from the one the caller passed in.
    #[error("header says api key {found_key} version {found_version}, caller expected {expected_key} version {expected_version}")]
    HeaderMismatch {
        expected_key: i16,
        expected_version: i16,
        found_key: i16,
        found_version: i16,
    },

    /// The frame ends in the middle of a field.
    #[error("truncated at byte {at}: {needed} more byte(s) needed, {remaining} left")]
    Truncated {
        at: usize,
        needed: usize,
        remaining: usize,
    },

    /// An unsigned varint runs over 5 bytes (32 bits) or a varlong over 10 bytes.
    #[error("malformed varint at byte {at}")]
    BadVarint { at: usize },

    /// A length or count is negative (other than −1 where null is allowed).
    #[error("negative length {len} at byte {at}")]
    NegativeLength { at: usize, len: i64 },

    /// A null (−1, or 0 in compact form) where the schema does not allow one.
    #[error("null value for a non-nullable field at byte {at}")]
    UnexpectedNull { at: usize },

    /// An array declares more elements than the configured limit.
    #[error("array at byte {at} declares {count} elements, limit is {limit}")]
    ArrayTooLong { at: usize, count: u64, limit: usize },

    /// An array declares more elements than the rest of the frame could possibly hold.
    #[error("array at byte {at} declares {count} elements of at least {min_element_len} byte(s) each, only {remaining} bytes left")]
    ArrayExceedsFrame {
        at: usize,
        count: u64,
        min_element_len: usize,
        remaining: usize,
    },

    /// A string, bytes or tagged-field length exceeds the configured limit.
    #[error("length {len} at byte {at} exceeds the limit {limit}")]
    LengthTooLong { at: usize, len: u64, limit: usize },

    /// A string, bytes or tagged-field length runs past the end of the frame.
    #[error("length {len} at byte {at} runs past the frame end ({remaining} bytes left)")]
    LengthExceedsFrame {
        at: usize,
        len: u64,
        remaining: usize,
    },

    /// A string is not valid UTF-8.
    #[error("string at byte {at} is not valid UTF-8")]
    InvalidUtf8 { at: usize },

    /// A tagged-field section declares more fields than allowed or than could fit.
    #[error("tagged-field section at byte {at} declares {count} fields (limit {limit})")]
    TooManyTaggedFields { at: usize, count: u64, limit: usize },

    /// A known tag appears in a version where the schema does not define it.
    #[error("tag {tag} at byte {at} is not valid in version {version}")]
    TagNotValidForVersion { at: usize, tag: u32, version: i16 },

    /// A known tagged field's value does not fill exactly its declared size.
    #[error(
        "tagged field {tag} at byte {at} declares {declared} bytes but its value takes {consumed}"
    )]
    TaggedFieldSizeMismatch {
        at: usize,
        tag: u32,
        declared: usize,
        consumed: usize,
    },

    /// Bytes follow the end of the request body (and [`super::Limits::allow_trailing_bytes`]
    /// is off).
    #[error("{count} trailing byte(s) after the request body at byte {at}")]
    TrailingBytes { at: usize, count: usize },
}
