//! Walks a frame against a [`StructSchema`] without building anything.
//!
//! The walker must never allocate in proportion to a wire-declared count and never panic: it
//! only moves a [`Reader`] forward. Before it loops over an array it checks that the declared
//! count fits both the limits and the bytes left (count × the element's minimum encoded size),
//! so the loop is bounded by the frame length. Recursion depth is bounded by the static schema
//! nesting, not by the input.

use std::cell::RefCell;

use super::error::GuardError;
use super::limits::Limits;
use super::reader::Reader;
use super::schema::{Kind, StructSchema, TaggedField};

/// What a length or count prefix measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixKind {
    /// Element count of an array.
    Array,
    /// Byte length of a string.
    String,
    /// Byte length of a `bytes` / `records` field.
    Bytes,
    /// Number of entries in a tagged-field section (always a varint).
    TaggedFields,
    /// Byte length of one tagged field's value (always a varint).
    TaggedFieldSize,
}

/// One length or count prefix met while walking a frame (see [`super::length_prefixes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthPrefix {
    /// Offset of the prefix's first byte in the frame.
    pub at: usize,
    pub kind: PrefixKind,
    /// Varint-encoded (compact or tagged) rather than a fixed INT16/INT32.
    pub compact: bool,
    /// The decoded length or count; `None` for null.
    pub value: Option<u64>,
    /// Offset just past the whole value: prefix, content, array elements or tagged entries.
    pub end: usize,
}

/// Walks bodies of one API version.
pub(crate) struct Walker<'l> {
    limits: &'l Limits,
    version: i16,
    /// Compact encodings and tagged-field sections (KIP-482) are in use.
    flexible: bool,
    /// Where to record every prefix walked, for tests and diagnostics; `None` in the hot path.
    trace: Option<&'l RefCell<Vec<LengthPrefix>>>,
}

impl<'l> Walker<'l> {
    pub(crate) fn new(
        limits: &'l Limits,
        version: i16,
        flexible: bool,
        trace: Option<&'l RefCell<Vec<LengthPrefix>>>,
    ) -> Self {
        Walker {
            limits,
            version,
            flexible,
            trace,
        }
    }

    /// Records a value once fully walked (so the trace is in post-order).
    fn record(&self, at: usize, kind: PrefixKind, compact: bool, value: Option<u64>, end: usize) {
        if let Some(trace) = self.trace {
            trace.borrow_mut().push(LengthPrefix {
                at,
                kind,
                compact,
                value,
                end,
            });
        }
    }

    /// Walks one struct: its fields present in this version, then (when flexible) its
    /// tagged-field section.
    pub(crate) fn walk_struct(
        &self,
        r: &mut Reader<'_>,
        schema: &StructSchema,
    ) -> Result<(), GuardError> {
        for field in schema.fields.iter().filter(|f| f.present_in(self.version)) {
            self.walk_kind(r, &field.kind)?;
        }
        if self.flexible {
            self.walk_tagged_section(r, schema.tagged)?;
        }
        Ok(())
    }

    fn walk_kind(&self, r: &mut Reader<'_>, kind: &Kind) -> Result<(), GuardError> {
        match kind {
            Kind::Int8 | Kind::Bool => r.take(1).map(drop),
            Kind::Int16 | Kind::UInt16 => r.take(2).map(drop),
            Kind::Int32 => r.take(4).map(drop),
            Kind::Int64 | Kind::Float64 => r.take(8).map(drop),
            Kind::Uuid => r.take(16).map(drop),
            Kind::VarInt => r.uvarint32().map(drop),
            Kind::VarLong => r.uvarint64().map(drop),
            Kind::String => self.string(r, self.flexible, false),
            Kind::NullableString => self.string(r, self.flexible, true),
            Kind::Bytes => self.bytes(r, false),
            Kind::NullableBytes | Kind::Records => self.bytes(r, true),
            Kind::Array(element) => self.array(r, element, false),
            Kind::NullableArray(element) => self.array(r, element, true),
            Kind::Struct(schema) => self.walk_struct(r, schema),
        }
    }

    fn bytes(&self, r: &mut Reader<'_>, nullable: bool) -> Result<(), GuardError> {
        let at = r.pos();
        let len = self.length(r, self.flexible, Width::I32, nullable)?;
        if let Some(len) = len {
            let len = fits(
                at,
                len,
                1,
                r.remaining(),
                self.limits.max_bytes_len,
                Unit::Bytes,
            )?;
            r.take(len)?;
        }
        self.record(at, PrefixKind::Bytes, self.flexible, len, r.pos());
        Ok(())
    }

    fn array(&self, r: &mut Reader<'_>, element: &Kind, nullable: bool) -> Result<(), GuardError> {
        let at = r.pos();
        let Some(count) = self.length(r, self.flexible, Width::I32, nullable)? else {
            self.record(at, PrefixKind::Array, self.flexible, None, r.pos());
            return Ok(());
        };
        let min_element_len = self.min_len(element).max(1);
        let count = fits(
            at,
            count,
            min_element_len,
            r.remaining(),
            self.limits.max_array_len,
            Unit::Elements,
        )?;
        for _ in 0..count {
            self.walk_kind(r, element)?;
        }
        self.record(
            at,
            PrefixKind::Array,
            self.flexible,
            Some(count as u64),
            r.pos(),
        );
        Ok(())
    }

    /// Skips a tagged-field section. Unknown tags are skipped by their declared size; known
    /// tags are walked inside exactly that many bytes.
    pub(crate) fn walk_tagged_section(
        &self,
        r: &mut Reader<'_>,
        known: &[TaggedField],
    ) -> Result<(), GuardError> {
        let at = r.pos();
        let count = r.uvarint32()?;
        // Each entry needs at least a one-byte tag and a one-byte size.
        let limit = self.limits.max_tagged_fields.min(r.remaining() / 2);
        if u64::from(count) > limit as u64 {
            return Err(GuardError::TooManyTaggedFields {
                at,
                count: u64::from(count),
                limit,
            });
        }
        for _ in 0..count {
            let tag_at = r.pos();
            let tag = r.uvarint32()?;
            let size_at = r.pos();
            let size = r.uvarint32()?;
            let size = fits(
                size_at,
                u64::from(size),
                1,
                r.remaining(),
                self.limits.max_bytes_len,
                Unit::Bytes,
            )?;
            let mut value = r.split(size)?;
            if let Some(field) = known.iter().find(|f| f.tag == tag) {
                if self.version < field.min {
                    return Err(GuardError::TagNotValidForVersion {
                        at: tag_at,
                        tag,
                        version: self.version,
                    });
                }
                self.walk_kind(&mut value, &field.kind)?;
                if value.remaining() != 0 {
                    return Err(GuardError::TaggedFieldSizeMismatch {
                        at: tag_at,
                        tag,
                        declared: size,
                        consumed: size - value.remaining(),
                    });
                }
            }
            let size = Some(size as u64);
            self.record(size_at, PrefixKind::TaggedFieldSize, true, size, r.pos());
        }
        let count = Some(u64::from(count));
        self.record(at, PrefixKind::TaggedFields, true, count, r.pos());
        Ok(())
    }

    /// Walks a string: INT16 length (or varint length+1 when `compact`), then UTF-8 bytes.
    pub(crate) fn string(
        &self,
        r: &mut Reader<'_>,
        compact: bool,
        nullable: bool,
    ) -> Result<(), GuardError> {
        let at = r.pos();
        let len = self.length(r, compact, Width::I16, nullable)?;
        if let Some(len) = len {
            let len = fits(
                at,
                len,
                1,
                r.remaining(),
                self.limits.max_string_len,
                Unit::Bytes,
            )?;
            let text_at = r.pos();
            if std::str::from_utf8(r.take(len)?).is_err() {
                return Err(GuardError::InvalidUtf8 { at: text_at });
            }
        }
        self.record(at, PrefixKind::String, compact, len, r.pos());
        Ok(())
    }

    /// Reads a length or count prefix: a varint storing length + 1 (zero is null) when
    /// `compact`, else an INT16/INT32 where −1 is null and other negatives are invalid. `None`
    /// is null (only when `nullable`).
    fn length(
        &self,
        r: &mut Reader<'_>,
        compact: bool,
        width: Width,
        nullable: bool,
    ) -> Result<Option<u64>, GuardError> {
        let at = r.pos();
        if compact {
            return match r.uvarint32()?.checked_sub(1) {
                None if !nullable => Err(GuardError::UnexpectedNull { at }),
                value => Ok(value.map(u64::from)),
            };
        }
        let raw = match width {
            Width::I16 => i64::from(r.i16()?),
            Width::I32 => i64::from(r.i32()?),
        };
        let value = u64::try_from(raw).ok();
        match raw {
            -1 if nullable => Ok(None),
            -1 => Err(GuardError::UnexpectedNull { at }),
            len if len < 0 => Err(GuardError::NegativeLength { at, len }),
            _ => Ok(value),
        }
    }

    /// Fewest bytes a value of `kind` can occupy in this version.
    fn min_len(&self, kind: &Kind) -> usize {
        let prefix = |regular: usize| if self.flexible { 1 } else { regular };
        match kind {
            Kind::Int8 | Kind::Bool | Kind::VarInt | Kind::VarLong => 1,
            Kind::Int16 | Kind::UInt16 => 2,
            Kind::Int32 => 4,
            Kind::Int64 | Kind::Float64 => 8,
            Kind::Uuid => 16,
            Kind::String | Kind::NullableString => prefix(2),
            Kind::Bytes | Kind::NullableBytes | Kind::Records => prefix(4),
            Kind::Array(_) | Kind::NullableArray(_) => prefix(4),
            Kind::Struct(schema) => {
                let fields: usize = schema
                    .fields
                    .iter()
                    .filter(|f| f.present_in(self.version))
                    .map(|f| self.min_len(&f.kind))
                    .sum();
                fields + usize::from(self.flexible)
            }
        }
    }
}

/// Width of a non-compact length prefix.
#[derive(Clone, Copy)]
enum Width {
    I16,
    I32,
}

#[derive(Clone, Copy)]
enum Unit {
    Bytes,
    Elements,
}

/// Checks that `count` units of at least `min_unit_len` bytes fit in `remaining` bytes and
/// under `limit`, returning the count as a `usize`.
fn fits(
    at: usize,
    count: u64,
    min_unit_len: usize,
    remaining: usize,
    limit: usize,
    unit: Unit,
) -> Result<usize, GuardError> {
    let needed = count.saturating_mul(min_unit_len as u64);
    if needed > remaining as u64 {
        return Err(match unit {
            Unit::Bytes => GuardError::LengthExceedsFrame {
                at,
                len: count,
                remaining,
            },
            Unit::Elements => GuardError::ArrayExceedsFrame {
                at,
                count,
                min_element_len: min_unit_len,
                remaining,
            },
        });
    }
    if count > limit as u64 {
        return Err(match unit {
            Unit::Bytes => GuardError::LengthTooLong {
                at,
                len: count,
                limit,
            },
            Unit::Elements => GuardError::ArrayTooLong { at, count, limit },
        });
    }
    // count <= remaining, which is a usize.
    usize::try_from(count).map_err(|_| GuardError::LengthExceedsFrame {
        at,
        len: count,
        remaining,
    })
}
