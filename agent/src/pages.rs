//! File pages for the zone cache: aligned byte ranges of an object (`page_bytes` each, a
//! setting: `AgentConfig::zone_cache_page_bytes`), and a cache of them bounded by bytes that
//! evicts the least recently used page first.
//!
//! Deterministic: recency is a counter, not a clock, and both maps are ordered.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;

/// Smallest page size accepted (smaller settings are raised to it): below it GETs cost
/// more than they save.
pub const PAGE_BYTES_MIN: u64 = 64 * 1024;

/// A page: (object key, page index). Byte range `index * page_bytes ..` (clamped to the
/// object's size).
pub type PageId = (String, u64);

/// Indexes of the pages of `page_bytes` a byte range touches (empty for an empty range).
pub fn pages_of(range: &Range<u64>, page_bytes: u64) -> Range<u64> {
    let page_bytes = page_bytes.max(1);
    if range.end <= range.start {
        return 0..0;
    }
    range.start / page_bytes..(range.end - 1) / page_bytes + 1
}

/// Byte range of page `index` (before clamping to the object's size).
pub fn page_range(index: u64, page_bytes: u64) -> Range<u64> {
    let start = index.saturating_mul(page_bytes);
    start..start.saturating_add(page_bytes)
}

/// Copy `range` out of the pages that hold it (`pages` maps page index to its bytes).
/// `None` when a page is missing or shorter than the range needs.
pub fn slice_pages(
    range: &Range<u64>,
    pages: &BTreeMap<u64, Bytes>,
    page_bytes: u64,
) -> Option<Bytes> {
    let page_bytes = page_bytes.max(1);
    let touched = pages_of(range, page_bytes);
    if touched.end - touched.start == 1 {
        // The common case: one page, no copy.
        let page = pages.get(&touched.start)?;
        let base = touched.start * page_bytes;
        let (from, to) = ((range.start - base) as usize, (range.end - base) as usize);
        return (to <= page.len()).then(|| page.slice(from..to));
    }
    let mut out = Vec::with_capacity((range.end - range.start) as usize);
    for index in touched {
        let page = pages.get(&index)?;
        let base = index * page_bytes;
        let from = range.start.max(base) - base;
        let to = range.end.min(base + page_bytes) - base;
        if to as usize > page.len() {
            return None;
        }
        out.extend_from_slice(&page[from as usize..to as usize]);
    }
    Some(Bytes::from(out))
}

/// Pages kept in memory, at most `capacity` bytes; the least recently used goes first.
#[derive(Debug, Default)]
pub struct PageLru {
    capacity: u64,
    used: u64,
    tick: u64,
    pages: BTreeMap<PageId, (Bytes, u64)>,
    by_use: BTreeMap<u64, PageId>,
}

impl PageLru {
    pub fn new(capacity: u64) -> Self {
        PageLru {
            capacity,
            ..PageLru::default()
        }
    }

    /// Bytes held.
    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// The page, marked as just used.
    pub fn get(&mut self, id: &PageId) -> Option<Bytes> {
        self.tick += 1;
        let tick = self.tick;
        let (bytes, used_at) = self.pages.get_mut(id)?;
        self.by_use.remove(used_at);
        *used_at = tick;
        self.by_use.insert(tick, id.clone());
        Some(bytes.clone())
    }

    /// Keep a page, evicting the least recently used ones to make room. A page larger than
    /// the whole capacity is not kept.
    pub fn insert(&mut self, id: PageId, bytes: Bytes) {
        if let Some((old, used_at)) = self.pages.remove(&id) {
            self.by_use.remove(&used_at);
            self.used -= old.len() as u64;
        }
        let size = bytes.len() as u64;
        if size > self.capacity {
            return;
        }
        while self.used + size > self.capacity {
            let Some((_, victim)) = self.by_use.pop_first() else {
                break;
            };
            eddy_probe::hit("agent.zonecache.evicted");
            if let Some((old, _)) = self.pages.remove(&victim) {
                self.used -= old.len() as u64;
            }
        }
        self.tick += 1;
        self.by_use.insert(self.tick, id.clone());
        self.pages.insert(id, (bytes, self.tick));
        self.used += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(k: &str, i: u64) -> PageId {
        (k.to_string(), i)
    }

    const PAGE_BYTES: u64 = 4 * 1024 * 1024;

    #[test]
    fn ranges_map_to_the_pages_they_touch() {
        assert_eq!(pages_of(&(0..1), PAGE_BYTES), 0..1);
        assert_eq!(pages_of(&(0..PAGE_BYTES), PAGE_BYTES), 0..1);
        assert_eq!(
            pages_of(&(PAGE_BYTES - 1..PAGE_BYTES + 1), PAGE_BYTES),
            0..2
        );
        assert_eq!(pages_of(&(5..5), PAGE_BYTES), 0..0);
        assert_eq!(page_range(2, PAGE_BYTES), 2 * PAGE_BYTES..3 * PAGE_BYTES);
        // Twice the page size: half the pages.
        assert_eq!(pages_of(&(0..4 * PAGE_BYTES), 2 * PAGE_BYTES), 0..2);
        assert_eq!(
            page_range(1, 2 * PAGE_BYTES),
            2 * PAGE_BYTES..4 * PAGE_BYTES
        );
    }

    #[test]
    fn a_range_spanning_pages_is_assembled() {
        let p0 = Bytes::from(vec![1u8; PAGE_BYTES as usize]);
        let p1 = Bytes::from(vec![2u8; 10]);
        let pages = BTreeMap::from([(0, p0), (1, p1)]);
        let got = slice_pages(&(PAGE_BYTES - 2..PAGE_BYTES + 3), &pages, PAGE_BYTES).unwrap();
        assert_eq!(&got[..], &[1, 1, 2, 2, 2]);
        // Past the end of the (short) last page.
        assert!(slice_pages(&(PAGE_BYTES..PAGE_BYTES + 11), &pages, PAGE_BYTES).is_none());
        assert!(slice_pages(&(2 * PAGE_BYTES..2 * PAGE_BYTES + 1), &pages, PAGE_BYTES).is_none());
    }

    #[test]
    fn evicts_least_recently_used_within_the_byte_bound() {
        let mut lru = PageLru::new(30);
        lru.insert(id("a", 0), Bytes::from(vec![0; 10]));
        lru.insert(id("b", 0), Bytes::from(vec![0; 10]));
        lru.insert(id("c", 0), Bytes::from(vec![0; 10]));
        assert!(lru.get(&id("a", 0)).is_some()); // a is now the most recent
        lru.insert(id("d", 0), Bytes::from(vec![0; 10]));
        assert!(lru.get(&id("b", 0)).is_none(), "b was least recently used");
        assert!(lru.get(&id("a", 0)).is_some());
        assert_eq!(lru.used(), 30);
        lru.insert(id("huge", 0), Bytes::from(vec![0; 31]));
        assert!(lru.get(&id("huge", 0)).is_none());
        assert_eq!(lru.len(), 3);
    }
}
