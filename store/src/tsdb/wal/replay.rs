//! Replay: rebuilds a head from the newest checkpoint and the segments after it.
//!
//! Records are applied with the same per-sample rules as a live commit (the series'
//! verdict), using the truncation point restored from the checkpoint and the out-of-order
//! bound logged with each commit, so the rebuilt head holds what the live one held.
//! Samples a checkpoint already holds and that a later segment repeats come back as
//! duplicates and are dropped.
//!
//! Damage never stops a start: a segment whose tail is torn or fails its checksum is
//! truncated at its last whole record (with a warning, counted in `corruptions`) and replay
//! continues with the next segment; a damaged checkpoint is read as far as it is whole.
//! Leftovers of an interrupted checkpoint (older checkpoints, covered segments, `.tmp`
//! files) are deleted.
//!
//! Cost: one sequential read of the log; per sample a vector lookup for its series, the
//! series mutex and one chunk append.

use super::record::{self, RecordType};
use super::segment::{self, Listing, ReadOutcome, checkpoint_path, io_err, segment_path};
use crate::error::Result;
use crate::tsdb::chunk::ChunkIter;
use crate::tsdb::head::Head;
use crate::tsdb::series::{Limits, MemSeries, Verdict};
use crate::{AppendStats, Labels, SeriesRef};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a replay found and did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayStats {
    /// Checkpoint read, if any (it covers segments up to this number).
    pub checkpoint: Option<u64>,
    pub segments: u64,
    pub records: u64,
    pub series: u64,
    /// Samples stored in the head.
    pub samples: u64,
    /// Samples dropped again (duplicates of checkpointed data, rejections the live head
    /// also made, data older than the truncation point).
    pub samples_dropped: u64,
    /// Samples naming a series that no record defines (its record was lost to damage, or
    /// the series was removed by truncation).
    pub unknown_refs: u64,
    /// Series entries whose ref already names other labels (or with no labels): skipped.
    pub bad_series: u64,
    /// Damaged file tails found (and truncated, for segments).
    pub corruptions: u64,
    /// Number the next segment written gets.
    pub next_segment: u64,
    pub duration: Duration,
}

struct Replayer<'a> {
    head: &'a Head,
    dense: Vec<Option<Arc<MemSeries>>>,
    /// Refs whose labels turned out to belong to an existing series with another ref.
    remap: HashMap<SeriesRef, Arc<MemSeries>>,
    min_valid: i64,
    stats: ReplayStats,
    lo: i64,
    hi: i64,
}

/// Refs below this use the dense table; larger ones (never issued in practice) the map.
const DENSE_LIMIT: u64 = 1 << 28;

fn lookup<'s>(
    dense: &'s [Option<Arc<MemSeries>>],
    remap: &'s HashMap<SeriesRef, Arc<MemSeries>>,
    r: SeriesRef,
) -> Option<&'s Arc<MemSeries>> {
    match dense.get(r as usize) {
        Some(Some(s)) => Some(s),
        _ => remap.get(&r),
    }
}

impl Replayer<'_> {
    fn define(&mut self, r: SeriesRef, pairs: Vec<(&str, &str)>) {
        let labels = Labels::from_pairs(pairs);
        let found = (!labels.is_empty() && r != 0)
            .then(|| self.head.replay_series(r, &labels))
            .flatten();
        let Some(s) = found else {
            self.stats.bad_series += 1;
            return;
        };
        self.stats.series += 1;
        if s.r == r && r < DENSE_LIMIT {
            let i = r as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, None);
            }
            self.dense[i] = Some(s);
        } else {
            self.remap.insert(r, s);
        }
    }

    fn apply(&mut self, r: SeriesRef, t: i64, v: f64, ooo_min: Option<i64>) {
        let lim = Limits {
            min_valid: self.min_valid,
            ooo_min,
        };
        let range = self.head.options().chunk_range_ms;
        let Some(s) = lookup(&self.dense, &self.remap, r) else {
            self.stats.unknown_refs += 1;
            return;
        };
        let mut st = s.state.lock();
        let created = match st.verdict(t, v, lim) {
            Verdict::InOrder => st.append_in_order(t, v, range),
            Verdict::OutOfOrder => st.insert_out_of_order(t, v),
            _ => {
                self.stats.samples_dropped += 1;
                return;
            }
        };
        drop(st);
        self.head.chunks_created(created);
        self.stats.samples += 1;
        self.lo = self.lo.min(t);
        self.hi = self.hi.max(t);
    }

    /// Applies one record; false when its body is malformed.
    fn record(&mut self, ty: u8, body: &[u8], in_checkpoint: bool) -> bool {
        self.stats.records += 1;
        match RecordType::from_u8(ty) {
            Some(RecordType::Series) => {
                record::read_series(body, |r, pairs| self.define(r, pairs)).is_some()
            }
            Some(RecordType::Samples) => {
                let Some(mut b) = record::read_samples(body) else {
                    return false;
                };
                let ooo_min = b.ooo_min;
                while let Some(s) = b.next_sample() {
                    let Some((r, t, v)) = s else { return false };
                    self.apply(r, t, v, ooo_min);
                }
                b.finished_cleanly()
            }
            Some(RecordType::Chunks) if in_checkpoint => {
                let mut ok = true;
                let parsed = record::read_chunks(body, |r, bytes| {
                    let mut it = ChunkIter::new(bytes);
                    for (t, v) in it.by_ref() {
                        self.apply(r, t, v, None);
                    }
                    ok &= !it.is_corrupt();
                });
                parsed.is_some() && ok
            }
            Some(RecordType::Meta) if in_checkpoint => match record::read_meta(body) {
                Some((min_valid, next_ref)) => {
                    self.min_valid = self.min_valid.max(min_valid);
                    self.head.restore(min_valid, next_ref);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

fn warn(path: &Path, out: &ReadOutcome, what: &str) {
    tracing::warn!(
        file = %path.display(),
        reason = out.damage.unwrap_or("?"),
        good_bytes = out.good_len,
        lost_bytes = out.file_len.saturating_sub(out.good_len),
        "WAL {what} is damaged after its last whole record; {}",
        if what == "segment" { "truncated there" } else { "read up to there" }
    );
}

/// Replays `dir` into `head` (which must be fresh and have no WAL attached yet).
pub fn replay(dir: &Path, head: &Head) -> Result<ReplayStats> {
    let start = Instant::now();
    let Listing {
        segments,
        checkpoints,
    } = segment::list(dir)?;
    remove_tmp_files(dir);
    let mut rp = Replayer {
        head,
        dense: Vec::new(),
        remap: HashMap::new(),
        // Samples older than what blocks already hold are not replayed.
        min_valid: head.restore_point().0,
        stats: ReplayStats::default(),
        lo: i64::MAX,
        hi: i64::MIN,
    };
    let cp = checkpoints.last().copied();
    if let Some(k) = cp {
        let path = checkpoint_path(dir, k);
        let out = segment::read_file(&path, |ty, body| rp.record(ty, body, true))?;
        if out.damage.is_some() {
            rp.stats.corruptions += 1;
            warn(&path, &out, "checkpoint");
        }
        rp.stats.checkpoint = Some(k);
        // Leftovers of an interrupted clean-up: everything the checkpoint covers.
        for &old in checkpoints.iter().filter(|&&c| c < k) {
            let _ = std::fs::remove_file(checkpoint_path(dir, old));
        }
        for &old in segments.iter().filter(|&&s| s <= k) {
            let _ = std::fs::remove_file(segment_path(dir, old));
        }
    }
    let mut last = cp.unwrap_or(0);
    for &i in segments.iter().filter(|&&s| cp.is_none_or(|k| s > k)) {
        if i != last + 1 && rp.stats.segments > 0 {
            tracing::warn!(after = last, next = i, "WAL segments missing in sequence");
        }
        let path = segment_path(dir, i);
        let out = segment::read_file(&path, |ty, body| rp.record(ty, body, false))?;
        if out.damage.is_some() {
            rp.stats.corruptions += 1;
            warn(&path, &out, "segment");
            truncate(&path, out.good_len)?;
        }
        rp.stats.segments += 1;
        last = i;
    }
    head.record(&AppendStats::default(), rp.lo, rp.hi);
    rp.stats.next_segment = last.max(cp.unwrap_or(0)) + 1;
    rp.stats.duration = start.elapsed();
    Ok(rp.stats)
}

/// Cuts a damaged segment back to its whole records (an empty or headerless one is
/// removed: a fresh segment is started after replay anyway).
fn truncate(path: &Path, good_len: u64) -> Result<()> {
    if good_len <= segment::FILE_MAGIC.len() as u64 {
        return std::fs::remove_file(path).map_err(|e| io_err(path, e));
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.set_len(good_len)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err(path, e))
}

fn remove_tmp_files(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
