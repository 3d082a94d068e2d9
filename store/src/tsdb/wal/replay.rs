//! Replay: rebuilds a head from the newest checkpoint and the segments after it.
//!
//! Records are applied with the same per-sample rules as a live commit (the series'
//! verdict), using the truncation point restored from the checkpoint and the out-of-order
//! bound logged with each commit, so the rebuilt head holds what the live one held.
//! Samples a checkpoint already holds and that a later segment repeats come back as
//! duplicates and are dropped.
//!
//! This thread reads the files in order (frames, checksums, bodies) and defines series in
//! the head; samples and checkpoint chunks go to appliers split by series ref
//! (`replay_shard`), which keep each series' log order, so the head does not depend on
//! their number.
//!
//! Damage never stops a start: a segment whose tail is torn or fails its checksum is
//! truncated at its last whole record (with a warning, counted in `corruptions`) and replay
//! continues with the next segment; a damaged checkpoint is read as far as it is whole.
//! Leftovers of an interrupted checkpoint (older checkpoints, covered segments, `.tmp`
//! files) are deleted.
//!
//! Cost: one sequential read of the log. Here per sample a varint decode and a 32-byte op
//! queued, per checkpoint chunk one copy of its bytes; the appliers' cost is in
//! `replay_shard`. 1 M series × 2 h (mostly from a checkpoint) replays in 10-21 s on two
//! shared cores, depending on their load (`benches/README.md`, "Restart").

use super::record::{self, RecordType};
use super::replay_shard::{Op, Sink, default_workers};
use super::segment::{self, Listing, ReadOutcome, checkpoint_path, io_err, segment_path};
use crate::error::Result;
use crate::tsdb::head::Head;
use crate::tsdb::series::Limits;
use crate::{AppendStats, Labels, SeriesRef};
use std::collections::{HashMap, HashSet};
use std::path::Path;
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
    /// Threads that applied samples (1: the reading thread itself).
    pub workers: u64,
    pub duration: Duration,
}

/// The reading side: decodes records in log order, defines series in the head and hands
/// samples to the shards.
struct Replayer<'s, 'h> {
    head: &'h Head,
    sink: Sink<'s, 'h>,
    /// Refs defined under their own number (these win over `remap`).
    own: RefSet,
    /// Refs whose labels turned out to belong to an existing series with another ref.
    remap: HashMap<SeriesRef, SeriesRef>,
    /// The limits last sent to the shards.
    lim: Limits,
    stats: ReplayStats,
}

/// A set of refs: a bitmap for the small ones, a hash set for the rest.
#[derive(Debug, Default)]
struct RefSet {
    bits: Vec<u64>,
    big: HashSet<SeriesRef>,
}

/// Refs below this use the bitmap; larger ones (never issued in practice) the set.
const BITMAP_LIMIT: u64 = 1 << 32;

impl RefSet {
    /// Adds `r`; false if it was there already.
    fn insert(&mut self, r: SeriesRef) -> bool {
        if r >= BITMAP_LIMIT {
            return self.big.insert(r);
        }
        let (w, b) = ((r >> 6) as usize, 1u64 << (r & 63));
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        let fresh = self.bits[w] & b == 0;
        self.bits[w] |= b;
        fresh
    }

    fn contains(&self, r: SeriesRef) -> bool {
        if r >= BITMAP_LIMIT {
            return self.big.contains(&r);
        }
        self.bits
            .get((r >> 6) as usize)
            .is_some_and(|w| w & (1 << (r & 63)) != 0)
    }
}

impl Replayer<'_, '_> {
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
        if s.r == r {
            // A ref, once defined, always names the same series: announce it once.
            if self.own.insert(r) {
                self.sink.push(r, Op::Define(s));
            }
        } else {
            // `s` was defined under its own ref earlier, so its shard knows it.
            self.remap.insert(r, s.r);
        }
    }

    /// The ref whose series receives samples logged under `r`.
    #[inline]
    fn target(&self, r: SeriesRef) -> SeriesRef {
        if self.remap.is_empty() || self.own.contains(r) {
            return r;
        }
        self.remap.get(&r).copied().unwrap_or(r)
    }

    /// Makes `ooo_min` (and the current truncation point) the limits of what follows.
    fn limits(&mut self, ooo_min: Option<i64>) {
        if self.lim.ooo_min != ooo_min {
            self.lim.ooo_min = ooo_min;
            self.sink.broadcast(self.lim);
        }
    }

    #[inline]
    fn sample(&mut self, r: SeriesRef, t: i64, v: f64) {
        let r = self.target(r);
        self.sink.push(r, Op::Sample(r, t, v));
    }

    /// Queues one checkpoint chunk of `r` (its bytes are checked by the shard).
    fn chunk(&mut self, r: SeriesRef, bytes: &[u8], last: bool) {
        let r = self.target(r);
        self.sink.push(r, Op::Chunk(r, bytes.into(), last));
    }

    /// Decodes one record and queues what it holds; false when its body is malformed.
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
                self.limits(b.ooo_min);
                while let Some(s) = b.next_sample() {
                    let Some((r, t, v)) = s else { return false };
                    self.sample(r, t, v);
                }
                b.finished_cleanly()
            }
            Some(RecordType::Chunks) if in_checkpoint => {
                self.limits(None);
                // A series' chunks are consecutive; its last one becomes its open chunk
                // again, so each entry goes out once the next one's ref is known.
                let mut prev: Option<(SeriesRef, &[u8])> = None;
                let parsed = record::read_chunks(body, |r, bytes| {
                    if let Some((pr, pb)) = prev.replace((r, bytes)) {
                        self.chunk(pr, pb, pr != r);
                    }
                });
                if let Some((pr, pb)) = prev {
                    self.chunk(pr, pb, true);
                }
                parsed.is_some()
            }
            Some(RecordType::Meta) if in_checkpoint => match record::read_meta(body) {
                Some((min_valid, next_ref)) => {
                    if min_valid > self.lim.min_valid {
                        self.lim.min_valid = min_valid;
                        self.sink.broadcast(self.lim);
                    }
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

/// Replays `dir` into `head` (which must be fresh and have no WAL attached yet), with one
/// applier per core.
pub fn replay(dir: &Path, head: &Head) -> Result<ReplayStats> {
    replay_with(dir, head, default_workers())
}

/// [`replay`] with `workers` appliers (rounded down to a power of two, at most
/// [`MAX_WORKERS`](super::replay_shard::MAX_WORKERS); 0 or 1: everything on the calling thread). The head comes out the
/// same whatever the number.
pub fn replay_with(dir: &Path, head: &Head, workers: usize) -> Result<ReplayStats> {
    let start = Instant::now();
    let lim = Limits {
        // Samples older than what blocks already hold are not replayed.
        min_valid: head.restore_point().0,
        ooo_min: None,
    };
    let (res, applied, shards) = std::thread::scope(|scope| {
        let mut rp = Replayer {
            head,
            sink: Sink::start(scope, head, workers, lim),
            own: RefSet::default(),
            remap: HashMap::new(),
            lim,
            stats: ReplayStats::default(),
        };
        let res = read_all(dir, &mut rp);
        let shards = rp.sink.shards();
        // Always drain the workers, also when reading failed.
        let applied = rp.sink.finish();
        (res.map(|()| rp.stats), applied, shards)
    });
    let mut stats = res?;
    stats.samples = applied.samples;
    stats.samples_dropped = applied.dropped;
    stats.unknown_refs = applied.unknown_refs;
    if applied.corrupt_chunks > 0 {
        tracing::warn!(
            chunks = applied.corrupt_chunks,
            "WAL checkpoint chunks do not decode; their samples from the damage on are lost"
        );
        stats.corruptions += applied.corrupt_chunks;
    }
    stats.workers = shards as u64;
    head.record(&AppendStats::default(), applied.lo, applied.hi);
    stats.duration = start.elapsed();
    Ok(stats)
}

/// Reads the newest checkpoint and the segments after it, in order, into `rp`.
fn read_all(dir: &Path, rp: &mut Replayer<'_, '_>) -> Result<()> {
    let Listing {
        segments,
        checkpoints,
    } = segment::list(dir)?;
    remove_tmp_files(dir);
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
    rp.stats.next_segment = last.max(cp.unwrap_or(0)) + 1;
    Ok(())
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
