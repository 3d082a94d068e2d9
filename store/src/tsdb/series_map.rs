//! The head's two series lookups, both sharded so no global lock sits on the hot path:
//! by reference (every append with a cached ref, every read) and by label hash (appends
//! without a ref, i.e. new or uncached series).
//!
//! Invariants: a series is in the ref map iff it is in the hash map (both change together
//! under the hash shard's write lock, hash shard first, then ref shard). Label hashes may
//! collide: the hash shard keeps the first series per hash in `main` and any others with the
//! same hash in `collisions`, and lookups compare the full label set.
//!
//! References are handed out in sequence and a target's series are created together, so the
//! ref map is paged: pages of 512 consecutive refs, each page a flat slot array, sharded by
//! page number. A scrape that appends by cached ref then reads slots sequentially instead of
//! probing a hash table at a random place per sample (that probe was the largest single cost
//! of a steady scrape). A page is freed when its last series goes.
//!
//! Cost: a lookup by ref is one shard read lock, a probe of a small page table and one slot
//! read; by labels it also hashes the labels and compares them once. About 8 bytes per ref
//! slot (slots of removed series stay until their page empties) plus 40-60 bytes per series
//! in the hash map.

use super::series::MemSeries;
use crate::{Labels, SeriesRef};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Number of shards of each map (a power of two).
const SHARDS: usize = 64;

/// Hasher for keys that are already integers: a splitmix64 finaliser, so that sequential
/// refs and shard-selected hashes still spread over every bucket.
#[derive(Debug, Default, Clone, Copy)]
pub struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;

#[derive(Debug, Default)]
struct HashShard {
    main: U64Map<Arc<MemSeries>>,
    collisions: U64Map<Vec<Arc<MemSeries>>>,
}

impl HashShard {
    fn find(&self, hash: u64, labels: &Labels) -> Option<&Arc<MemSeries>> {
        let first = self.main.get(&hash)?;
        if first.labels.eq_labels(labels) {
            return Some(first);
        }
        self.collisions
            .get(&hash)?
            .iter()
            .find(|s| s.labels.eq_labels(labels))
    }
}

/// Refs per page of the ref map (a power of two).
const PAGE_BITS: u32 = 9;
const PAGE_MASK: u64 = (1 << PAGE_BITS) - 1;

/// 512 consecutive refs.
#[derive(Debug)]
struct RefPage {
    slots: Box<[Option<Arc<MemSeries>>]>,
    live: usize,
}

impl RefPage {
    fn new() -> Self {
        RefPage {
            slots: (0..=PAGE_MASK).map(|_| None).collect(),
            live: 0,
        }
    }
}

/// Series by reference and by label hash.
#[derive(Debug)]
pub struct SeriesMap {
    by_hash: Box<[RwLock<HashShard>]>,
    by_ref: Box<[RwLock<U64Map<RefPage>>]>,
    len: AtomicUsize,
}

impl Default for SeriesMap {
    fn default() -> Self {
        Self {
            by_hash: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_ref: (0..SHARDS).map(|_| RwLock::default()).collect(),
            len: AtomicUsize::new(0),
        }
    }
}

fn hash_shard(hash: u64) -> usize {
    // Middle bits: the in-shard tables use the low bits after remixing anyway.
    (hash >> 32) as usize % SHARDS
}

fn ref_shard(r: SeriesRef) -> usize {
    (r >> PAGE_BITS) as usize % SHARDS
}

fn ref_slot(r: SeriesRef) -> usize {
    (r & PAGE_MASK) as usize
}

impl SeriesMap {
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The series with reference `r`, if it exists.
    #[inline]
    pub fn get(&self, r: SeriesRef) -> Option<Arc<MemSeries>> {
        self.by_ref[ref_shard(r)]
            .read()
            .get(&(r >> PAGE_BITS))?
            .slots[ref_slot(r)]
        .clone()
    }

    /// The series with exactly these labels (`hash` is `labels.hash64()`), if it exists.
    pub fn get_by_labels(&self, hash: u64, labels: &Labels) -> Option<Arc<MemSeries>> {
        self.by_hash[hash_shard(hash)]
            .read()
            .find(hash, labels)
            .cloned()
    }

    /// The series with these labels, created by `create` if missing; `on_create` runs while
    /// the hash shard is still write-locked (the head indexes the new series there, so no
    /// garbage collection can run in between). Returns the series and whether it is new.
    pub fn get_or_create(
        &self,
        hash: u64,
        labels: &Labels,
        create: impl FnOnce() -> MemSeries,
        on_create: impl FnOnce(&MemSeries),
    ) -> (Arc<MemSeries>, bool) {
        let mut shard = self.by_hash[hash_shard(hash)].write();
        if let Some(s) = shard.find(hash, labels) {
            return (Arc::clone(s), false);
        }
        let s = Arc::new(create());
        {
            let mut pages = self.by_ref[ref_shard(s.r)].write();
            let page = pages.entry(s.r >> PAGE_BITS).or_insert_with(RefPage::new);
            let slot = &mut page.slots[ref_slot(s.r)];
            if slot.is_none() {
                page.live += 1;
            }
            *slot = Some(Arc::clone(&s));
        }
        match shard.main.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Arc::clone(&s));
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                shard
                    .collisions
                    .entry(hash)
                    .or_default()
                    .push(Arc::clone(&s));
            }
        }
        self.len.fetch_add(1, Ordering::Relaxed);
        on_create(&s);
        (s, true)
    }

    /// Removes the series `s` (whose labels hash to `hash`) if `may_remove` agrees; the check
    /// runs under the hash shard's write lock so no lookup by labels can hand the series out
    /// in between. Returns whether it was removed.
    pub fn remove_if(
        &self,
        hash: u64,
        s: &Arc<MemSeries>,
        may_remove: impl FnOnce(&MemSeries) -> bool,
    ) -> bool {
        let mut shard = self.by_hash[hash_shard(hash)].write();
        if !may_remove(s) {
            return false;
        }
        let shard = &mut *shard;
        let in_main = shard.main.get(&hash).is_some_and(|m| Arc::ptr_eq(m, s));
        if in_main {
            shard.main.remove(&hash);
            // Promote a colliding series, if any, to the main slot.
            if let Some(list) = shard.collisions.get_mut(&hash) {
                if let Some(next) = list.pop() {
                    shard.main.insert(hash, next);
                }
                if list.is_empty() {
                    shard.collisions.remove(&hash);
                }
            }
        } else if let Some(list) = shard.collisions.get_mut(&hash) {
            list.retain(|x| !Arc::ptr_eq(x, s));
            if list.is_empty() {
                shard.collisions.remove(&hash);
            }
        }
        {
            let mut pages = self.by_ref[ref_shard(s.r)].write();
            let key = s.r >> PAGE_BITS;
            if let Some(page) = pages.get_mut(&key) {
                if page.slots[ref_slot(s.r)].take().is_some() {
                    page.live -= 1;
                }
                if page.live == 0 {
                    pages.remove(&key);
                }
            }
        }
        self.len.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// A snapshot of every series (for truncation and memory reports).
    pub fn all(&self) -> Vec<Arc<MemSeries>> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.by_ref.iter() {
            for page in shard.read().values() {
                out.extend(page.slots.iter().flatten().cloned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::label_codec::LabelBytes;

    fn mk(r: SeriesRef, l: &Labels) -> MemSeries {
        MemSeries::new(r, LabelBytes::encode(l, &mut Vec::new()))
    }

    #[test]
    fn colliding_hashes_keep_series_apart() {
        let m = SeriesMap::default();
        let a = Labels::from_pairs([("x", "a")]);
        let b = Labels::from_pairs([("x", "b")]);
        let c = Labels::from_pairs([("x", "c")]);
        // Force one hash for all three label sets.
        let h = 42;
        let (sa, new_a) = m.get_or_create(h, &a, || mk(1, &a), |_| {});
        let (sb, new_b) = m.get_or_create(h, &b, || mk(2, &b), |_| {});
        let (sc, _) = m.get_or_create(h, &c, || mk(3, &c), |_| {});
        assert!(new_a && new_b);
        let (again, new) = m.get_or_create(h, &b, || mk(9, &b), |_| {});
        assert!(!new);
        assert_eq!(again.r, 2);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get_by_labels(h, &c).map(|s| s.r), Some(3));
        // Removing the main entry promotes a collision; the others stay findable.
        assert!(m.remove_if(h, &sa, |_| true));
        assert!(m.get_by_labels(h, &a).is_none());
        assert!(m.get(1).is_none());
        assert_eq!(m.get_by_labels(h, &b).map(|s| s.r), Some(2));
        assert_eq!(m.get_by_labels(h, &c).map(|s| s.r), Some(3));
        assert!(!m.remove_if(h, &sb, |_| false));
        assert!(m.remove_if(h, &sb, |_| true));
        assert!(m.remove_if(h, &sc, |_| true));
        assert!(m.is_empty());
        assert!(m.all().is_empty());
    }

    #[test]
    fn hasher_spreads_sequential_keys() {
        use std::collections::HashSet;
        let low: HashSet<u64> = (0..1024u64)
            .map(|r| {
                let mut h = U64Hasher::default();
                h.write_u64(r * SHARDS as u64);
                h.finish() & 1023
            })
            .collect();
        // Keys that share their low bits must not share bucket bits.
        assert!(low.len() > 550, "{}", low.len());
    }
}
