//! Caps the guard applies on top of "fits in the frame".
//!
//! Every declared count or length must already fit in the bytes left in the frame; these limits
//! are tighter, per-field caps so one request cannot make the decoder build huge vectors even
//! when it is large enough to "hold" them.

/// Per-frame caps enforced by [`super::validate_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame (bytes after the 4-byte size prefix) accepted at all.
    pub max_frame_len: usize,
    /// Largest element count for any single array.
    pub max_array_len: usize,
    /// Largest string length in bytes. Kafka's own generated Java code refuses strings longer
    /// than `i16::MAX` even in compact form, so clients never send longer ones.
    pub max_string_len: usize,
    /// Largest `bytes` / `records` field or tagged-field value in bytes (produce record sets
    /// live here).
    pub max_bytes_len: usize,
    /// Largest number of entries in one tagged-field section.
    pub max_tagged_fields: usize,
    /// Accept bytes after the end of the request body. Off by default (extra bytes usually
    /// mean a framing bug or a schema we do not understand, and the decoder would silently
    /// ignore them), but the agent turns it on: Kafka's brokers ignore trailing bytes and
    /// librdkafka's Metadata v9+ all-topics request ends with 3 of them.
    pub allow_trailing_bytes: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_len: 100 * 1024 * 1024,
            max_array_len: 1_000_000,
            max_string_len: i16::MAX as usize,
            max_bytes_len: 100 * 1024 * 1024,
            max_tagged_fields: 1024,
            allow_trailing_bytes: false,
        }
    }
}
