//! How the control plane's durable objects (journal entries, snapshots) are encoded.
//!
//! bincode behind a four-byte format tag. JSON was the first format: readable, but encoding
//! and parsing a snapshot of the whole partition index cost more CPU than any other single
//! thing in a simulated run. The tag makes a foreign or truncated object a clear error, not
//! a garbled state, and leaves room for a later format.

use bincode::Options;
use serde::{de::DeserializeOwned, Serialize};

/// Format tag of every encoded object: "eddy", version 1.
pub const TAG: [u8; 4] = *b"edy1";

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not an eddy object (format tag {0:02x?}, expected {TAG:02x?})")]
    Tag(Vec<u8>),
    #[error("undecodable: {0}")]
    Bincode(#[from] bincode::Error),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(TAG.len() + options().serialized_size(value)? as usize);
    out.extend_from_slice(&TAG);
    options().serialize_into(&mut out, value)?;
    Ok(out)
}

/// The body of [`encode`] (no format tag) written into `out`: the canonical bytes a
/// digest of the value hashes (see [`crate::consistency::digest`]).
pub fn encode_into<W: std::io::Write, T: Serialize>(out: W, value: &T) -> Result<(), CodecError> {
    Ok(options().serialize_into(out, value)?)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first_chunk::<4>() {
        Some((tag, body)) if *tag == TAG => {
            Ok(options().with_limit(body.len() as u64).deserialize(body)?)
        }
        _ => Err(CodecError::Tag(bytes.iter().take(4).copied().collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::journal::Entry;

    #[test]
    fn entry_round_trips_and_bad_bytes_are_errors() {
        let entry = Entry {
            seq: 7,
            epoch: 2,
            writer: "cp-1/3".into(),
            commands: vec![Command::CreateTopic {
                name: "t".into(),
                partitions: 3,
                if_not_exists: true,
            }],
        };
        let bytes = encode(&entry).unwrap();
        assert_eq!(decode::<Entry>(&bytes).unwrap(), entry);
        assert!(matches!(
            decode::<Entry>(b"{\"seq\":1}"),
            Err(CodecError::Tag(_))
        ));
        assert!(decode::<Entry>(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<Entry>(&longer).is_err());
        // A length field claiming far more than the object holds is refused, not allocated.
        let mut huge = TAG.to_vec();
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Vec<u8>>(&huge).is_err());
    }
}
