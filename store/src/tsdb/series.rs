//! One in-memory series: its labels, compressed chunks, out-of-order data and the rules that
//! decide what happens to an incoming sample.
//!
//! Invariants (all under the series mutex):
//! - `chunks` are full, immutable, time-ordered and disjoint; the open encoder only holds
//!   samples newer than every full chunk, and its last sample is the series' newest in-order
//!   sample (`last_t`). The open chunk is absent only while the series holds no in-order
//!   sample at all (new, or emptied by truncation), or while a replay adopts full chunks
//!   from a checkpoint ([`SeriesState::adopt_full`]; `last_t` is then the newest full
//!   chunk's last sample).
//! - A chunk is cut after [`SAMPLES_PER_CHUNK`] samples or when a sample crosses a multiple
//!   of the head's chunk range, so no chunk straddles a future block boundary.
//! - Out-of-order samples are older than `last_t` and never share a timestamp with any other
//!   sample of the series.
//! - `pending` counts samples of uncommitted appenders; a series with pending samples is never
//!   garbage-collected, and one marked `deleted` is never appended to again.
//!
//! Cost: about 150 bytes of fixed state plus the chunk bytes; appending in order is O(1) and
//! allocation-free except buffer growth and one boxed copy per cut chunk.

use super::chunk::{Chunk, ChunkEncoder};
use super::label_codec::LabelBytes;
use super::ooo::OooData;
use crate::SeriesRef;
use parking_lot::Mutex;

/// Samples per chunk before it is cut (as in Prometheus: a 2-hour block at a 60s interval, 30
/// minutes at 15s; enough for compression to pay off, small enough to decode quickly).
pub const SAMPLES_PER_CHUNK: usize = 120;

/// What to do with an incoming sample, decided against the series' committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Newer than the last sample: append to the open chunk.
    InOrder,
    /// Older, inside the out-of-order window, timestamp not present: buffer it.
    OutOfOrder,
    /// Same timestamp and the same value bits as a stored sample: drop silently.
    Duplicate,
    /// Same timestamp as a stored sample with a different value: reject.
    Conflict,
    /// Older than the last sample with out-of-order ingestion disabled: reject.
    RejectOutOfOrder,
    /// Older than the head accepts (truncated range or outside the window): reject.
    TooOld,
}

/// The head-wide bounds a verdict depends on.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Samples before this were (or may have been) truncated away.
    pub min_valid: i64,
    /// Oldest out-of-order timestamp accepted; `None` when out-of-order ingestion is off.
    pub ooo_min: Option<i64>,
}

/// A series as stored in the head.
#[derive(Debug)]
pub struct MemSeries {
    pub r: SeriesRef,
    pub labels: LabelBytes,
    pub state: Mutex<SeriesState>,
}

/// The mutable part of a series.
#[derive(Debug)]
pub struct SeriesState {
    chunks: Vec<Chunk>,
    open: Option<ChunkEncoder>,
    ooo: Option<Box<OooData>>,
    /// The open chunk is cut before a sample at or after this time.
    next_cut: i64,
    pub pending: u32,
    pub deleted: bool,
}

impl MemSeries {
    pub fn new(r: SeriesRef, labels: LabelBytes) -> Self {
        Self {
            r,
            labels,
            state: Mutex::new(SeriesState {
                chunks: Vec::new(),
                open: None,
                ooo: None,
                next_cut: i64::MIN,
                pending: 0,
                deleted: false,
            }),
        }
    }
}

impl SeriesState {
    /// Decides what to do with `(t, v)`; does not change anything.
    pub fn verdict(&self, t: i64, v: f64, lim: Limits) -> Verdict {
        if t < lim.min_valid {
            return Verdict::TooOld;
        }
        let last_t = match (&self.open, self.chunks.last()) {
            (Some(open), _) => open.max_time(),
            // Full chunks without an open one: only after replay adopted chunks.
            (None, Some(c)) => c.max_time(),
            // No in-order sample (new series, or emptied by truncation).
            (None, None) => return Verdict::InOrder,
        };
        if t > last_t {
            return Verdict::InOrder;
        }
        if t == last_t
            && let Some(open) = &self.open
        {
            return dup_verdict(open.last_value_bits(), v);
        }
        if t < last_t {
            let Some(ooo_min) = lim.ooo_min else {
                return Verdict::RejectOutOfOrder;
            };
            if t < ooo_min {
                return Verdict::TooOld;
            }
        }
        match self.stored_bits(t) {
            Some(bits) => dup_verdict(bits, v),
            None => Verdict::OutOfOrder,
        }
    }

    /// The value bits stored at exactly `t` (older than the last in-order sample), if any.
    fn stored_bits(&self, t: i64) -> Option<u64> {
        if let Some(o) = &self.ooo
            && let Some(b) = o.get(t)
        {
            return Some(b);
        }
        let in_open = self.open.as_ref().filter(|o| o.overlaps(t, t));
        let idx = self.chunks.partition_point(|c| c.max_time() < t);
        let in_full = self.chunks.get(idx).filter(|c| c.overlaps(t, t));
        let found = match (in_open, in_full) {
            (Some(o), _) => o.iter().find(|s| s.0 == t),
            (None, Some(c)) => c.iter().find(|s| s.0 == t),
            (None, None) => None,
        };
        found.map(|s| s.1.to_bits())
    }

    /// Appends a sample newer than the last in-order one (verdict [`Verdict::InOrder`]);
    /// returns how many chunks were created (0 or 1).
    pub fn append_in_order(&mut self, t: i64, v: f64, chunk_range: i64) -> usize {
        let mut created = 0;
        let cut = self
            .open
            .as_ref()
            .is_some_and(|o| o.num_samples() >= SAMPLES_PER_CHUNK || t >= self.next_cut);
        if cut {
            self.cut();
        }
        let enc = match &mut self.open {
            Some(enc) => enc,
            None => {
                created = 1;
                self.next_cut = next_boundary(t, chunk_range);
                self.open.insert(ChunkEncoder::new())
            }
        };
        if enc.append(t, v).is_err() {
            // Unreachable for an in-order sample; recover by starting a fresh chunk.
            self.cut();
            created += 1;
            self.next_cut = next_boundary(t, chunk_range);
            let fresh = self.open.insert(ChunkEncoder::new());
            // A fresh encoder accepts any first sample.
            let _ = fresh.append(t, v);
        }
        created
    }

    /// Replay: stores `c` as a full chunk when that is what appending its samples one by
    /// one would build before the next chunk starts: no open chunk and no out-of-order data
    /// yet, every sample newer than the series' last one and not too old, at most
    /// [`SAMPLES_PER_CHUNK`] samples, no chunk-range boundary crossed. Otherwise hands `c`
    /// back (the caller appends its samples one by one).
    pub fn adopt_full(&mut self, c: Chunk, lim: Limits, chunk_range: i64) -> Result<(), Chunk> {
        let fits = self.open.is_none()
            && self.ooo.is_none()
            && c.min_time() >= lim.min_valid
            && self
                .chunks
                .last()
                .is_none_or(|l| l.max_time() < c.min_time())
            && c.num_samples() <= SAMPLES_PER_CHUNK
            && c.max_time() < next_boundary(c.min_time(), chunk_range);
        if !fits {
            return Err(c);
        }
        self.chunks.push(c);
        Ok(())
    }

    /// Checkpoints: the bytes of every in-order chunk (full ones, then the open one) when
    /// together they hold exactly the series' samples at or after `min_valid` (no
    /// out-of-order data, nothing older); `None` otherwise.
    pub fn whole_chunks(&self, min_valid: i64) -> Option<impl Iterator<Item = (&[u8], usize)>> {
        let first = self
            .chunks
            .first()
            .map(Chunk::min_time)
            .or_else(|| self.open.as_ref().map(ChunkEncoder::min_time));
        let clean =
            self.ooo.as_ref().is_none_or(|o| o.is_empty()) && first.is_none_or(|t| t >= min_valid);
        clean.then(|| {
            let open = self.open.as_ref().filter(|o| o.num_samples() > 0);
            self.chunks
                .iter()
                .map(|c| (c.bytes(), c.num_samples()))
                .chain(open.map(|o| (o.bytes(), o.num_samples())))
        })
    }

    fn cut(&mut self) {
        if let Some(c) = self.open.take().and_then(ChunkEncoder::finish) {
            self.chunks.push(c);
        }
    }

    /// Stores an out-of-order sample (verdict [`Verdict::OutOfOrder`]); returns how many
    /// chunks were created (0 or 1).
    pub fn insert_out_of_order(&mut self, t: i64, v: f64) -> usize {
        usize::from(self.ooo.get_or_insert_default().insert(t, v))
    }

    /// Appends the samples in `[mint, maxt]` to `out` in time order.
    pub fn collect(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        let start = out.len();
        // Chunks are sorted by time: skip those that end before mint.
        let first = self.chunks.partition_point(|c| c.max_time() < mint);
        for c in self.chunks[first..].iter() {
            if c.min_time() > maxt {
                break;
            }
            out.extend(
                c.iter()
                    .skip_while(|s| s.0 < mint)
                    .take_while(|s| s.0 <= maxt),
            );
        }
        if let Some(o) = self.open.as_ref().filter(|o| o.overlaps(mint, maxt)) {
            out.extend(
                o.iter()
                    .skip_while(|s| s.0 < mint)
                    .take_while(|s| s.0 <= maxt),
            );
        }
        let Some(ooo) = &self.ooo else {
            return;
        };
        let mut extra = Vec::new();
        ooo.collect(mint, maxt, &mut extra);
        if extra.is_empty() {
            return;
        }
        extra.sort_unstable_by_key(|s| s.0);
        let in_order = out.split_off(start);
        merge_sorted(&in_order, &extra, out);
    }

    /// Smallest and largest timestamps held, if any.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        let first = self
            .chunks
            .first()
            .map(Chunk::min_time)
            .or_else(|| self.open.as_ref().map(ChunkEncoder::min_time));
        let last = self
            .open
            .as_ref()
            .map(ChunkEncoder::max_time)
            .or_else(|| self.chunks.last().map(Chunk::max_time));
        let in_order = first.zip(last);
        match (in_order, self.ooo.as_ref().and_then(|o| o.bounds())) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        }
    }

    /// True when the series holds no sample at all.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
            && self.open.is_none()
            && self.ooo.as_ref().is_none_or(|o| o.is_empty())
    }

    /// Number of chunks held (full, open and out-of-order).
    pub fn num_chunks(&self) -> usize {
        self.chunks.len()
            + usize::from(self.open.is_some())
            + self.ooo.as_ref().map_or(0, |o| o.num_chunks())
    }

    /// Drops every chunk whose samples are all older than `t`; returns the number dropped.
    pub fn truncate_before(&mut self, t: i64) -> usize {
        let keep_from = self.chunks.partition_point(|c| c.max_time() < t);
        let mut dropped = keep_from;
        self.chunks.drain(..keep_from);
        if self.open.as_ref().is_some_and(|o| o.max_time() < t) {
            self.open = None;
            dropped += 1;
        }
        if let Some(o) = &mut self.ooo {
            dropped += o.truncate_before(t);
            if o.is_empty() {
                self.ooo = None;
            }
        }
        dropped
    }

    /// Bytes held by chunk data (capacity of the open chunk included), for memory reports.
    pub fn chunk_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.bytes().len()).sum::<usize>()
            + self.open.as_ref().map_or(0, ChunkEncoder::capacity)
    }
}

fn dup_verdict(stored: u64, v: f64) -> Verdict {
    if stored == v.to_bits() {
        Verdict::Duplicate
    } else {
        Verdict::Conflict
    }
}

/// The first multiple of `range` strictly after `t` (saturating; `range <= 0` means never).
fn next_boundary(t: i64, range: i64) -> i64 {
    if range <= 0 {
        return i64::MAX;
    }
    t.div_euclid(range)
        .checked_add(1)
        .and_then(|k| k.checked_mul(range))
        .unwrap_or(i64::MAX)
}

/// Merges two time-sorted sample lists with disjoint timestamps into `out`.
fn merge_sorted(a: &[(i64, f64)], b: &[(i64, f64)], out: &mut Vec<(i64, f64)>) {
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].0 <= b[j].0 {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

#[cfg(test)]
#[path = "series_tests.rs"]
mod tests;
