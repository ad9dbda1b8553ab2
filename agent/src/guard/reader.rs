//! A bounds-checked cursor over a request frame.
//!
//! It only ever borrows slices of the frame: nothing here allocates, and every read checks the
//! bytes left before touching them, so no input can make it panic. Offsets are absolute (from the
//! frame start) even inside a sub-reader, so errors point at the real byte.

use super::error::GuardError;

/// Cursor over `buf[pos..end]`.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// Takes the next `n` bytes, or fails with `Truncated` without moving.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], GuardError> {
        if self.remaining() < n {
            return Err(GuardError::Truncated {
                at: self.pos,
                needed: n,
                remaining: self.remaining(),
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    /// Reads a fixed-size big-endian value.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], GuardError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, GuardError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, GuardError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// Unsigned LEB128 varint of at most 32 bits (5 bytes). Rejects encodings whose fifth byte
    /// carries bits above bit 31 or a continuation bit (the crate would silently drop them).
    pub(crate) fn uvarint32(&mut self) -> Result<u32, GuardError> {
        let at = self.pos;
        let value = self.uvarint(5)?;
        u32::try_from(value).map_err(|_| GuardError::BadVarint { at })
    }

    /// Unsigned LEB128 varint of at most 64 bits (10 bytes).
    pub(crate) fn uvarint64(&mut self) -> Result<u64, GuardError> {
        self.uvarint(10)
    }

    fn uvarint(&mut self, max_len: u32) -> Result<u64, GuardError> {
        let at = self.pos;
        let mut value: u64 = 0;
        for i in 0..max_len {
            let byte = self.array::<1>()?[0];
            let bits = u64::from(byte & 0x7f);
            let shift = 7 * i;
            // The last byte may only hold the bits that still fit in 64 bits.
            if shift == 63 && bits > 1 {
                return Err(GuardError::BadVarint { at });
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(GuardError::BadVarint { at })
    }

    /// A reader over the next `len` bytes; `self` moves past them.
    pub(crate) fn split(&mut self, len: usize) -> Result<Reader<'a>, GuardError> {
        let start = self.pos;
        self.take(len)?;
        Ok(Reader {
            buf: self.buf,
            pos: start,
            end: start + len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_and_reject_overlong() {
        assert_eq!(Reader::new(&[0x00]).uvarint32(), Ok(0));
        assert_eq!(Reader::new(&[0xd8, 0x04]).uvarint32(), Ok(600));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).uvarint32(),
            Ok(u32::MAX)
        );
        // 33 bits: the crate would truncate this silently; we refuse it.
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).uvarint32(),
            Err(GuardError::BadVarint { at: 0 })
        );
        // Six bytes for a 32-bit varint.
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]).uvarint32(),
            Err(GuardError::BadVarint { at: 0 })
        );
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max).uvarint64(), Ok(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Reader::new(&over).uvarint64(),
            Err(GuardError::BadVarint { at: 0 })
        );
        assert!(matches!(
            Reader::new(&[0x80]).uvarint32(),
            Err(GuardError::Truncated { at: 1, .. })
        ));
    }

    #[test]
    fn take_and_split_stay_in_bounds() {
        let data = [1, 2, 3, 4, 5];
        let mut r = Reader::new(&data);
        assert_eq!(r.take(1), Ok(&[1u8][..]));
        let mut sub = r.split(2).expect("two bytes are there");
        assert_eq!(r.pos(), 3);
        assert_eq!(sub.i16(), Ok(0x0203));
        assert_eq!(
            sub.take(1),
            Err(GuardError::Truncated {
                at: 3,
                needed: 1,
                remaining: 0
            })
        );
        assert!(r.split(3).is_err());
        assert_eq!(r.remaining(), 2);
    }
}
