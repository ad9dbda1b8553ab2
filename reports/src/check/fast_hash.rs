//! A fast, deterministic hasher for the checkers' lookup tables (interning a million
//! values must not cost a second of SipHash). Word-at-a-time multiply-rotate mixing (the
//! FxHash scheme) with the MurmurHash3 64-bit finalizer, so that every output bit depends on
//! every input bit. Not DoS-resistant, which a checker of its own histories does not need.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A HashMap using [`FastHasher`]. Only looked up, never iterated, by the checkers.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Builds [`FastHasher`]s (`hash_one`).
pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(tail_word(rest) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_i32(&mut self, i: i32) {
        self.add(u64::from(i as u32));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The 1 to 7 bytes of `rest` as a little-endian word, zero-extended: the same word as
/// copying them into a zeroed `[u8; 8]`, read with two overlapping loads instead of a
/// variable-length copy (a call to `memcpy` for every hashed string).
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    debug_assert!((1..8).contains(&n));
    if n >= 4 {
        let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]) as u64;
        lo | (hi << ((n - 4) * 8))
    } else {
        (rest[0] as u64)
            | ((rest[n / 2] as u64) << (n / 2 * 8))
            | ((rest[n - 1] as u64) << ((n - 1) * 8))
    }
}

/// Sorts `(hash, index)` pairs by hash, keeping the order of equal hashes (a stable radix
/// sort, a byte at a time): pairs pushed in index order come out by (hash, index).
pub(crate) fn sort_by_hash<I: Copy>(items: &mut Vec<(u64, I)>) {
    if items.len() < 256 {
        items.sort_by_key(|e| e.0);
        return;
    }
    let mut other = items.clone();
    for byte in 0..8 {
        let shift = byte * 8;
        let mut start = [0usize; 257];
        for e in items.iter() {
            start[((e.0 >> shift) & 0xff) as usize + 1] += 1;
        }
        for k in 0..256 {
            start[k + 1] += start[k];
        }
        for e in items.iter() {
            let slot = &mut start[((e.0 >> shift) & 0xff) as usize];
            other[*slot] = *e;
            *slot += 1;
        }
        std::mem::swap(items, &mut other);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::FastHasher;

    #[test]
    fn tail_words_are_the_zero_extended_bytes() {
        let bytes: Vec<u8> = (1..=7u8).map(|b| b.wrapping_mul(37) | 0x80).collect();
        for n in 1..8 {
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(
                super::tail_word(&bytes[..n]),
                u64::from_le_bytes(word),
                "{n} bytes"
            );
        }
    }

    #[test]
    fn hashes_sort_stably() {
        let mut rng = crate::synth::SplitMix64::new(3);
        for n in [0, 1, 5, 255, 256, 3000] {
            let items: Vec<(u64, usize)> = (0..n)
                .map(|i| {
                    let h = match rng.below(3) {
                        0 => rng.next_u64(),
                        1 => rng.below(4) << 60,
                        _ => rng.below(8),
                    };
                    (h, i)
                })
                .collect();
            let mut radix = items.clone();
            super::sort_by_hash(&mut radix);
            let mut expected = items;
            expected.sort_unstable();
            assert_eq!(radix, expected);
        }
    }

    #[test]
    fn similar_strings_spread_over_buckets() {
        let build = BuildHasherDefault::<FastHasher>::default();
        let mut buckets = [0u32; 64];
        for i in 0..64_000 {
            let h = build.hash_one(format!("producer-1-{i}"));
            buckets[(h & 63) as usize] += 1;
        }
        // 1,000 expected per bucket; a weak hash of the low bits would pile them up.
        assert!(
            buckets.iter().all(|&n| (800..1200).contains(&n)),
            "{buckets:?}"
        );
    }
}
