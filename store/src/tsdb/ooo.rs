//! Per-series storage for accepted out-of-order samples.
//!
//! Samples older than a series' last in-order sample (but inside the head's out-of-order
//! window) cannot go into the in-order chunks, which only grow at the end. They go into a
//! small sorted buffer; when the buffer holds [`OOO_BUFFER_CAP`] samples it is compressed into
//! an immutable chunk of its own. Reads merge these with the in-order chunks.
//!
//! Invariants: the buffer is sorted by time with unique timestamps; each out-of-order chunk is
//! sorted; no timestamp appears twice across the buffer, the out-of-order chunks and the
//! series' in-order data (the series checks before inserting). Out-of-order chunks may overlap
//! each other in time.
//!
//! Cost: only series that ever receive out-of-order samples allocate this (behind an
//! `Option<Box<_>>`, 8 bytes otherwise). Insertion is O(buffer) for the shift; a lookup of an
//! existing timestamp decodes the out-of-order chunks whose range covers it.

use super::chunk::Chunk;

/// Samples buffered before they are compressed into an out-of-order chunk.
pub const OOO_BUFFER_CAP: usize = 32;

/// Out-of-order samples of one series.
#[derive(Debug, Default)]
pub struct OooData {
    chunks: Vec<Chunk>,
    buf: Vec<(i64, f64)>,
}

impl OooData {
    /// The value bits stored at exactly `t`, if any.
    pub fn get(&self, t: i64) -> Option<u64> {
        if let Ok(i) = self.buf.binary_search_by_key(&t, |s| s.0) {
            return Some(self.buf[i].1.to_bits());
        }
        self.chunks
            .iter()
            .filter(|c| c.overlaps(t, t))
            .find_map(|c| c.iter().find(|s| s.0 == t).map(|s| s.1.to_bits()))
    }

    /// Inserts a sample whose timestamp is not present yet; returns true when this created a
    /// new chunk.
    pub fn insert(&mut self, t: i64, v: f64) -> bool {
        let i = self.buf.partition_point(|s| s.0 < t);
        self.buf.insert(i, (t, v));
        if self.buf.len() < OOO_BUFFER_CAP {
            return false;
        }
        match Chunk::encode(&self.buf) {
            Ok(c) => {
                self.chunks.push(c);
                // Release the buffer: most series see out-of-order samples only in bursts.
                self.buf = Vec::new();
                true
            }
            // Cannot happen for a sorted, unique buffer; keep the samples buffered if it does.
            Err(_) => false,
        }
    }

    /// Appends the samples in `[mint, maxt]` to `out`, unsorted across chunks.
    pub fn collect(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        for c in self.chunks.iter().filter(|c| c.overlaps(mint, maxt)) {
            out.extend(c.iter().filter(|s| s.0 >= mint && s.0 <= maxt));
        }
        let lo = self.buf.partition_point(|s| s.0 < mint);
        let hi = self.buf.partition_point(|s| s.0 <= maxt);
        if lo < hi {
            out.extend_from_slice(&self.buf[lo..hi]);
        }
    }

    /// Smallest and largest timestamps held, if any.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        let from_chunks = self.chunks.iter().map(|c| (c.min_time(), c.max_time()));
        let from_buf = self
            .buf
            .first()
            .zip(self.buf.last())
            .map(|(a, b)| (a.0, b.0));
        from_chunks
            .chain(from_buf)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// Drops chunks entirely older than `t` and buffered samples older than `t`; returns the
    /// number of chunks dropped.
    pub fn truncate_before(&mut self, t: i64) -> usize {
        let before = self.chunks.len();
        self.chunks.retain(|c| c.max_time() >= t);
        self.buf.retain(|s| s.0 >= t);
        before - self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.buf.is_empty()
    }

    pub fn num_chunks(&self) -> usize {
        self.chunks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_spills_into_chunks_and_reads_back_sorted() {
        let mut o = OooData::default();
        let mut created = 0;
        // Descending inserts, 80 samples: two chunks and a partly filled buffer.
        for i in (0..80).rev() {
            assert_eq!(o.get(i), None);
            if o.insert(i, i as f64) {
                created += 1;
            }
        }
        assert_eq!(created, 2);
        assert_eq!(o.num_chunks(), 2);
        assert_eq!(o.get(5), Some(5.0f64.to_bits()));
        assert_eq!(o.get(79), Some(79.0f64.to_bits()));
        assert_eq!(o.bounds(), Some((0, 79)));
        let mut out = Vec::new();
        o.collect(10, 60, &mut out);
        out.sort_by_key(|s| s.0);
        assert_eq!(out, (10..=60).map(|i| (i, i as f64)).collect::<Vec<_>>());
        // Chunk [48, 79] survives, chunk [16, 47] is dropped, buffer [0, 15] is dropped.
        assert_eq!(o.truncate_before(48), 1);
        assert_eq!(o.bounds(), Some((48, 79)));
        assert_eq!(o.truncate_before(80), 1);
        assert!(o.is_empty());
    }
}
