//! The table behind the per-target scrape cache: raw `name{labels}` bytes → [`Slot`].
//!
//! A target exposes its series in the same order scrape after scrape, so the table keeps
//! slots in first-seen order, their key bytes back to back in one arena, and predicts that
//! the next lookup is the slot after the last hit. A steady scrape is then one length check
//! and one `memcmp` against memory that is read sequentially (the prefetcher's favourite
//! pattern) per sample, with no hashing; only a miss of the prediction (a new, reordered or
//! vanished series) hashes the key and probes the index.
//!
//! Invariants: every live slot is in `index` exactly once, under `slot.hash`; dead slots are
//! in no index entry and are dropped by the next compaction, which keeps slot order (and so
//! the prediction) intact. `dead` counts dead slots.
//!
//! Cost: about 48 bytes per series plus the key bytes (one arena, no allocation per key);
//! compaction is O(live slots) and runs only when over half of the slots are dead.

use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;
use lookout_store::SeriesRef;
use std::hash::BuildHasher;

/// Slots to accumulate dead before a compaction is worth it.
const MIN_DEAD_TO_COMPACT: usize = 64;

/// One cached series.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Store reference; 0 when the series was dropped by metric relabeling.
    pub r: SeriesRef,
    /// The scrape iteration that last saw this series.
    pub seen: u64,
    /// `seen` before the current iteration, restored when the scrape fails.
    pub prev_seen: u64,
    hash: u64,
    off: usize,
    len: u32,
    dead: bool,
}

/// Series keys to slots, with next-slot prediction.
#[derive(Debug, Default)]
pub struct SeriesTable {
    arena: Vec<u8>,
    slots: Vec<Slot>,
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
    /// The slot the next lookup is expected to hit.
    next: usize,
    dead: usize,
}

impl SeriesTable {
    /// Live series.
    pub fn len(&self) -> usize {
        self.slots.len() - self.dead
    }

    /// Restarts the prediction at the first slot (call at the start of each scrape).
    pub fn rewind(&mut self) {
        self.next = 0;
    }

    fn key(&self, s: &Slot) -> &[u8] {
        &self.arena[s.off..s.off + s.len as usize]
    }

    /// The slot of `key`, if cached.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Slot> {
        let n = self.next;
        let predicted = self
            .slots
            .get(n)
            .is_some_and(|s| !s.dead && s.len as usize == key.len() && self.key(s) == key);
        let i = if predicted {
            n
        } else {
            let h = self.hasher.hash_one(key);
            let (slots, arena) = (&self.slots, &self.arena);
            *self.index.find(h, |&i| {
                let s = &slots[i];
                s.hash == h && &arena[s.off..s.off + s.len as usize] == key
            })?
        };
        self.next = i + 1;
        Some(&mut self.slots[i])
    }

    /// Adds `key` (not cached yet) with reference `r`, seen in iteration `seen`.
    pub fn insert(&mut self, key: &[u8], r: SeriesRef, seen: u64) {
        let Ok(len) = u32::try_from(key.len()) else {
            return; // a 4 GiB series name cannot come from a bounded body; never cache it
        };
        let hash = self.hasher.hash_one(key);
        let i = self.slots.len();
        self.slots.push(Slot {
            r,
            seen,
            prev_seen: 0,
            hash,
            off: self.arena.len(),
            len,
            dead: false,
        });
        self.arena.extend_from_slice(key);
        let slots = &self.slots;
        self.index.insert_unique(hash, i, |&j| slots[j].hash);
        self.next = i + 1;
    }

    /// Every live slot.
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| !s.dead)
    }

    /// Every live slot, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.slots.iter_mut().filter(|s| !s.dead)
    }

    /// Keeps the slots `keep` approves of, compacting when many are dead.
    pub fn retain(&mut self, mut keep: impl FnMut(&Slot) -> bool) {
        for i in 0..self.slots.len() {
            let s = self.slots[i];
            if s.dead || keep(&s) {
                continue;
            }
            if let Ok(e) = self.index.find_entry(s.hash, |&j| j == i) {
                e.remove();
            }
            self.slots[i].dead = true;
            self.dead += 1;
        }
        if self.dead >= MIN_DEAD_TO_COMPACT && self.dead * 2 > self.slots.len() {
            self.compact();
        }
    }

    /// Drops dead slots and their key bytes, keeping the order of the live ones.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len());
        let mut slots = Vec::with_capacity(self.len());
        for s in self.slots.iter().filter(|s| !s.dead) {
            let off = arena.len();
            arena.extend_from_slice(self.key(s));
            slots.push(Slot { off, ..*s });
        }
        let mut index = HashTable::with_capacity(slots.len());
        for (i, s) in slots.iter().enumerate() {
            index.insert_unique(s.hash, i, |&j: &usize| slots[j].hash);
        }
        self.arena = arena;
        self.slots = slots;
        self.index = index;
        self.dead = 0;
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Random inserts, lookups in and out of order, and evictions agree with a `HashMap`.
    #[test]
    fn table_matches_a_hash_map() {
        let mut t = SeriesTable::default();
        let mut model: HashMap<Vec<u8>, SeriesRef> = HashMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..200u64 {
            t.rewind();
            // Mostly in order, sometimes shuffled, sometimes new keys.
            for k in 0..300u64 {
                let k = if rnd(10) == 0 { rnd(2_000) } else { k + round };
                let key = format!("m{{k=\"{k}\"}}").into_bytes();
                match (t.get_mut(&key), model.get(&key)) {
                    (Some(s), Some(&r)) => {
                        assert_eq!(s.r, r);
                        s.seen = round;
                    }
                    (None, None) => {
                        t.insert(&key, k + 1, round);
                        model.insert(key, k + 1);
                    }
                    (a, b) => panic!("table {:?} vs model {b:?}", a.map(|s| s.r)),
                }
            }
            // Evict what was not seen for three rounds.
            let mut gone = Vec::new();
            t.retain(|s| {
                let keep = round.saturating_sub(s.seen) <= 3;
                if !keep {
                    gone.push(s.r);
                }
                keep
            });
            model.retain(|_, r| !gone.contains(r));
            assert_eq!(t.len(), model.len());
            assert_eq!(t.iter().count(), model.len());
        }
        assert!(t.slots.len() < 4 * model.len().max(MIN_DEAD_TO_COMPACT));
    }

    #[test]
    fn prediction_follows_the_last_hit() {
        let mut t = SeriesTable::default();
        for (i, k) in [b"a", b"b", b"c"].iter().enumerate() {
            t.insert(&k[..], i as u64 + 1, 1);
        }
        t.rewind();
        assert_eq!(t.get_mut(b"b").map(|s| s.r), Some(2));
        assert_eq!(t.next, 2);
        assert_eq!(t.get_mut(b"c").map(|s| s.r), Some(3));
        assert!(t.get_mut(b"d").is_none());
        assert_eq!(t.get_mut(b"a").map(|s| s.r), Some(1));
    }
}
