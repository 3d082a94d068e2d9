//! The in-memory head: every active series, its recent samples in compressed chunks, and the
//! postings index that finds series by label matchers.
//!
//! Writers go through [`HeadAppender`](super::appender::HeadAppender) (via [`Appendable`]);
//! readers through [`Querier`]. Later parts of the store build on the hooks here: refs are
//! never reused, full chunks are immutable (ready to be written out), and
//! [`Head::truncate_before`] drops what a cut block will hold.
//!
//! Invariants: a series is in the postings index iff it is in the series map; it is removed
//! only when it holds no sample and no appender has pending samples for it. `max_time` only
//! grows; samples older than `min_valid` (the last truncation point) are rejected as too old.
//!
//! Cost: see the modules: an append with a cached ref touches one shard read lock and the
//! series mutex; select is postings set operations plus decoding the overlapping chunks.
//! The head's own bookkeeping is a handful of atomics.

use super::label_codec::LabelBytes;
use super::postings::Postings;
use super::series::{Limits, MemSeries};
use super::series_map::SeriesMap;
use crate::{
    AppendStats, Appendable, Appender, Labels, Matcher, Querier, Result, Series, SeriesRef,
    error::Error,
};
use parking_lot::RwLock;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Tuning of a [`Head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadOptions {
    /// How far (ms) behind the newest sample in the head an older-than-its-series sample may
    /// be and still be stored (Prometheus' `out_of_order_time_window`). 0 rejects every
    /// out-of-order sample.
    pub out_of_order_window_ms: i64,
    /// Chunks are cut when a sample crosses a multiple of this many ms, so no chunk straddles
    /// a block boundary later (default 2h, Prometheus' smallest block). 0 or less: never.
    pub chunk_range_ms: i64,
}

impl Default for HeadOptions {
    fn default() -> Self {
        Self {
            out_of_order_window_ms: 0,
            chunk_range_ms: 2 * 3600 * 1000,
        }
    }
}

/// What [`Head::truncate_before`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TruncateStats {
    pub chunks_removed: u64,
    pub series_removed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    appended: AtomicU64,
    duplicates: AtomicU64,
    duplicate_conflicts: AtomicU64,
    out_of_order: AtomicU64,
    too_old: AtomicU64,
}

/// The in-memory head.
#[derive(Debug)]
pub struct Head {
    opts: HeadOptions,
    pub(super) series: SeriesMap,
    postings: RwLock<Postings>,
    next_ref: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    min_valid: AtomicI64,
    num_chunks: AtomicU64,
    counters: Counters,
    /// The write-ahead log, once replay is done (`None`: purely in memory).
    wal: OnceLock<Arc<super::wal::Wal>>,
}

impl Default for Head {
    fn default() -> Self {
        Self::with_options(HeadOptions::default())
    }
}

impl Head {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_options(opts: HeadOptions) -> Self {
        Self {
            opts,
            series: SeriesMap::default(),
            postings: RwLock::default(),
            next_ref: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid: AtomicI64::new(i64::MIN),
            num_chunks: AtomicU64::new(0),
            counters: Counters::default(),
            wal: OnceLock::new(),
        }
    }

    pub fn options(&self) -> HeadOptions {
        self.opts
    }

    /// Number of series in the head.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Number of chunks in memory (full, open and out-of-order).
    pub fn num_chunks(&self) -> u64 {
        self.num_chunks.load(Ordering::Relaxed)
    }

    /// Cumulative counts of every committed or rejected sample since the head was created.
    pub fn counters(&self) -> AppendStats {
        let c = &self.counters;
        AppendStats {
            appended: c.appended.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            duplicate_conflicts: c.duplicate_conflicts.load(Ordering::Relaxed),
            out_of_order: c.out_of_order.load(Ordering::Relaxed),
            too_old: c.too_old.load(Ordering::Relaxed),
        }
    }

    /// Oldest sample time held (approximate while truncation races with appends).
    pub fn min_time(&self) -> Option<i64> {
        let t = self.min_time.load(Ordering::Relaxed);
        (t != i64::MAX).then_some(t)
    }

    /// Newest in-order sample time ever committed.
    pub fn max_time(&self) -> Option<i64> {
        let t = self.max_time.load(Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }

    /// The reference of the series with exactly these labels, if it exists.
    pub fn series_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        self.series
            .get_by_labels(labels.hash64(), labels)
            .map(|s| s.r)
    }

    pub(super) fn limits(&self) -> Limits {
        let w = self.opts.out_of_order_window_ms;
        Limits {
            min_valid: self.min_valid.load(Ordering::Relaxed),
            ooo_min: (w > 0).then(|| self.max_time.load(Ordering::Relaxed).saturating_sub(w)),
        }
    }

    pub(super) fn chunk_range(&self) -> i64 {
        self.opts.chunk_range_ms
    }

    /// The series with these labels, created (and indexed) if missing.
    pub(super) fn get_or_create(
        &self,
        labels: &Labels,
        scratch: &mut Vec<u8>,
    ) -> Result<Arc<MemSeries>> {
        if labels.is_empty() {
            return Err(Error::EmptyLabelSet);
        }
        let hash = labels.hash64();
        if let Some(s) = self.series.get_by_labels(hash, labels) {
            return Ok(s);
        }
        let (s, _) = self.series.get_or_create(
            hash,
            labels,
            || {
                let r = self.next_ref.fetch_add(1, Ordering::Relaxed);
                MemSeries::new(r, LabelBytes::encode(labels, scratch))
            },
            |s| {
                self.postings.write().add(s.r, &s.labels);
                if let Some(w) = self.wal.get() {
                    w.note_series(s.r, &s.labels);
                }
            },
        );
        Ok(s)
    }

    /// The write-ahead log every commit goes through, if the head has one.
    pub fn wal(&self) -> Option<&Arc<super::wal::Wal>> {
        self.wal.get()
    }

    /// Attaches the log after replay; later commits are logged before they apply.
    pub(super) fn attach_wal(&self, wal: Arc<super::wal::Wal>) {
        let _ = self.wal.set(wal);
    }

    /// Replay: the series with reference `r` and these labels, created if missing. `None`
    /// when `r` already names a different label set; an existing series with these labels
    /// but another ref is returned as is (the caller maps `r` to it).
    pub(super) fn replay_series(&self, r: SeriesRef, labels: &Labels) -> Option<Arc<MemSeries>> {
        if let Some(s) = self.series.get(r) {
            return s.labels.eq_labels(labels).then_some(s);
        }
        let mut scratch = Vec::new();
        let (s, _) = self.series.get_or_create(
            labels.hash64(),
            labels,
            || MemSeries::new(r, LabelBytes::encode(labels, &mut scratch)),
            |s| self.postings.write().add(s.r, &s.labels),
        );
        self.next_ref
            .fetch_max(r.saturating_add(1), Ordering::Relaxed);
        Some(s)
    }

    /// Replay: restores the truncation point and the next reference to hand out.
    pub(super) fn restore(&self, min_valid: i64, next_ref: SeriesRef) {
        self.min_valid.fetch_max(min_valid, Ordering::Relaxed);
        self.next_ref.fetch_max(next_ref, Ordering::Relaxed);
    }

    /// Raises the truncation point to `t` without dropping anything: from now on samples
    /// older than `t` are rejected as too old (used before a block of them is written).
    pub(super) fn raise_min_valid(&self, t: i64) {
        self.min_valid.fetch_max(t, Ordering::Relaxed);
    }

    /// The truncation point and the next reference, for checkpoints.
    pub(super) fn restore_point(&self) -> (i64, SeriesRef) {
        (
            self.min_valid.load(Ordering::Relaxed),
            self.next_ref.load(Ordering::Relaxed),
        )
    }

    /// Counts chunks created by an append; called under the series lock so a concurrent
    /// truncation never subtracts a chunk before it was added.
    pub(super) fn chunks_created(&self, n: usize) {
        if n > 0 {
            self.num_chunks.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Folds a finished commit (or the rejections of a rollback) into the head's counters
    /// and time bounds.
    pub(super) fn record(&self, st: &AppendStats, lo: i64, hi: i64) {
        let c = &self.counters;
        for (counter, n) in [
            (&c.appended, st.appended),
            (&c.duplicates, st.duplicates),
            (&c.duplicate_conflicts, st.duplicate_conflicts),
            (&c.out_of_order, st.out_of_order),
            (&c.too_old, st.too_old),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        if lo <= hi {
            self.min_time.fetch_min(lo, Ordering::Relaxed);
            self.max_time.fetch_max(hi, Ordering::Relaxed);
        }
    }

    /// Drops every chunk whose samples are all older than `t`, then every series left
    /// without samples (unless an open appender has pending samples for it); from now on
    /// samples older than `t` are rejected as too old. Samples at or after `t` are kept;
    /// older ones may survive inside chunks that straddle `t`.
    pub fn truncate_before(&self, t: i64) -> TruncateStats {
        self.min_valid.fetch_max(t, Ordering::Relaxed);
        let mut stats = TruncateStats::default();
        let mut empty = Vec::new();
        let mut new_min = i64::MAX;
        for s in self.series.all() {
            let mut st = s.state.lock();
            stats.chunks_removed += st.truncate_before(t) as u64;
            match st.bounds() {
                Some((lo, _)) => new_min = new_min.min(lo),
                None if st.pending == 0 => empty.push(Arc::clone(&s)),
                None => {}
            }
        }
        self.num_chunks
            .fetch_sub(stats.chunks_removed, Ordering::Relaxed);
        let mut removed: Vec<Arc<MemSeries>> = Vec::new();
        for s in empty {
            let hash = s.labels.to_labels().hash64();
            let gone = self.series.remove_if(hash, &s, |s| {
                let mut st = s.state.lock();
                let ok = st.is_empty() && st.pending == 0;
                st.deleted |= ok;
                ok
            });
            if gone {
                removed.push(s);
            }
        }
        stats.series_removed = removed.len() as u64;
        let refs: Vec<(SeriesRef, &LabelBytes)> =
            removed.iter().map(|s| (s.r, &s.labels)).collect();
        self.postings.write().remove(&refs);
        self.min_time.fetch_max(new_min, Ordering::Relaxed);
        stats
    }

    /// Series matching `matchers` that hold samples in `[mint, maxt]`, in ref order.
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Arc<MemSeries>> {
        if mint > maxt {
            return Vec::new();
        }
        let refs = self.postings.read().select(matchers);
        refs.into_iter()
            .filter_map(|r| self.series.get(r))
            .filter(|s| {
                let st = s.state.lock();
                st.bounds().is_some_and(|(lo, hi)| lo <= maxt && hi >= mint)
            })
            .collect()
    }

    /// True when `[mint, maxt]` covers every sample in the head, so the index alone can
    /// answer label queries without matchers.
    fn covers_head(&self, mint: i64, maxt: i64) -> bool {
        match (self.min_time(), self.max_time()) {
            (Some(lo), Some(hi)) => mint <= lo && maxt >= hi,
            _ => false,
        }
    }
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(super::appender::HeadAppender::new(self))
    }
}

impl Querier for Head {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        if mint > maxt {
            return Ok(Vec::new());
        }
        let refs = self.postings.read().select(matchers);
        let mut out = Vec::new();
        // Decoded into a reused buffer, then copied out at the exact size: one allocation
        // per series instead of a growing vector's several.
        let mut scratch = Vec::new();
        for r in refs {
            let Some(s) = self.series.get(r) else {
                continue;
            };
            scratch.clear();
            s.state.lock().collect(mint, maxt, &mut scratch);
            if !scratch.is_empty() {
                out.push(Series {
                    labels: s.labels.to_labels(),
                    samples: scratch.as_slice().to_vec(),
                });
            }
        }
        out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        // Approximation, as in Prometheus: series without samples still count here.
        if matchers.is_empty() && self.covers_head(mint, maxt) {
            return Ok(self.postings.read().label_names());
        }
        let series = self.matching(matchers, mint, maxt);
        let names: BTreeSet<&str> = series
            .iter()
            .flat_map(|s| s.labels.iter().map(|(n, _)| n))
            .collect();
        Ok(names.into_iter().map(str::to_owned).collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        if matchers.is_empty() && self.covers_head(mint, maxt) {
            return Ok(self.postings.read().label_values(name));
        }
        let series = self.matching(matchers, mint, maxt);
        let values: BTreeSet<&str> = series.iter().filter_map(|s| s.labels.get(name)).collect();
        Ok(values.into_iter().map(str::to_owned).collect())
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
