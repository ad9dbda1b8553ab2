//! A compact, static description of request layouts, read by the walker.
//!
//! Each message is a root [`StructSchema`] plus the first "flexible" version (KIP-482): from
//! that version on, strings/bytes/arrays use compact (varint) lengths and every struct ends with
//! a tagged-field section. Fields carry the inclusive version range in which they are on the
//! wire. The tables in `messages/` are transcribed from the field lists of the
//! `kafka-protocol` 0.18 request decoders, including which fields that crate treats as
//! nullable (its Rust type is an `Option`), so "the guard accepts" implies "the crate decodes".

/// Wire type of one field.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int8,
    Int16,
    UInt16,
    Int32,
    Int64,
    Float64,
    /// One byte; any value is accepted (non-zero is true), as the crate does.
    Bool,
    Uuid,
    /// Zigzag varint (32 bits).
    VarInt,
    /// Zigzag varlong (64 bits).
    VarLong,
    /// Non-nullable string: INT16 length, or varint length+1 when flexible.
    String,
    NullableString,
    /// Non-nullable byte string: INT32 length, or varint length+1 when flexible.
    Bytes,
    NullableBytes,
    /// A record set; on the wire a nullable byte string.
    Records,
    /// Non-nullable array of the given element kind: INT32 count, or varint count+1 when
    /// flexible.
    Array(&'static Kind),
    NullableArray(&'static Kind),
    /// A nested struct written in place (no length prefix).
    Struct(&'static StructSchema),
}

/// A field present on the wire for versions `min..=max`.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub min: i16,
    pub max: i16,
    pub kind: Kind,
}

/// A field present in every version of its message.
pub const fn always(kind: Kind) -> Field {
    Field {
        min: 0,
        max: i16::MAX,
        kind,
    }
}

/// A field present from version `min` on.
pub const fn since(min: i16, kind: Kind) -> Field {
    Field {
        min,
        max: i16::MAX,
        kind,
    }
}

/// A field present up to and including version `max`.
pub const fn until(max: i16, kind: Kind) -> Field {
    Field { min: 0, max, kind }
}

/// A field present for versions `min..=max`.
pub const fn between(min: i16, max: i16, kind: Kind) -> Field {
    Field { min, max, kind }
}

impl Field {
    pub fn present_in(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// A tagged field the schema knows (a "tagged field" in the Kafka JSON specs). Its value is
/// walked like a regular field and must fill exactly the size the tag declares. Tags that the
/// schema does not list are skipped by their declared size.
#[derive(Debug, Clone, Copy)]
pub struct TaggedField {
    pub tag: u32,
    /// First version in which this tag is defined; in older flexible versions the crate refuses
    /// the tag, so the guard does too.
    pub min: i16,
    pub kind: Kind,
}

/// The layout of one struct (a request body or an array element).
#[derive(Debug)]
pub struct StructSchema {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub tagged: &'static [TaggedField],
}

/// One request API: the versions the guard serves and its body layout.
#[derive(Debug)]
pub struct MessageSchema {
    pub api_key: i16,
    pub name: &'static str,
    pub min_version: i16,
    pub max_version: i16,
    /// First flexible version; `i16::MAX` if the message has none.
    pub flexible_from: i16,
    pub body: &'static StructSchema,
}

impl MessageSchema {
    pub fn is_flexible(&self, version: i16) -> bool {
        version >= self.flexible_from
    }
}
