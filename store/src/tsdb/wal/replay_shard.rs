//! Replay's appliers: the decoded records of the log, split by series over worker threads
//! that append them to the head.
//!
//! The reading thread (see `replay`) turns every record into [`Op`]s: a series is announced
//! once ([`Op::Define`]), then its samples ([`Op::Sample`]) and checkpoint chunks
//! ([`Op::Chunk`]) follow, and the limits in force ([`Op::Limits`]: truncation point,
//! out-of-order bound of the commit) are broadcast whenever they change. Ops go to shard
//! `ref mod shards` in batches; each shard applies its batches in the order they were sent.
//!
//! Invariants: every series belongs to exactly one shard, so the samples of one series are
//! applied in log order, each after its series' definition and under the limits in force
//! at its record, exactly as a single-threaded replay applies them; shards never touch the
//! same series, so the series mutex is never contended and the result does not depend on
//! thread timing. With one shard the ops are applied on the reading thread itself (same
//! code, no threads). A checkpoint chunk is adopted whole only when appending its samples
//! one by one would have built the same chunk ([`SeriesState::adopt_full`]).
//!
//! Cost: 32 bytes per op through a bounded queue of reused batches (no allocation per
//! sample); per sample a table lookup by ref (consecutive samples of one series share one
//! lookup and one lock), the verdict and one chunk append; per adopted chunk one decode
//! (validation) and no re-encoding.

use crate::SeriesRef;
use crate::tsdb::chunk::{Chunk, ChunkIter};
use crate::tsdb::head::Head;
use crate::tsdb::series::{Limits, MemSeries, SeriesState, Verdict};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

/// Ops per batch handed to a worker (32 bytes each: 256 KiB).
const BATCH: usize = 8192;

/// Batches queued per worker before the reader waits.
const QUEUE: usize = 4;

/// Refs (divided by the number of shards) below this use a dense table; larger ones (never
/// issued in practice) a map.
const DENSE_LIMIT: u64 = 1 << 28;

/// Most workers a replay starts.
pub const MAX_WORKERS: usize = 8;

/// One unit of replay work for a shard.
#[derive(Debug)]
pub enum Op {
    /// The series (its own ref routes to this shard) may now receive samples.
    Define(Arc<MemSeries>),
    /// A sample for the series with this (own) ref.
    Sample(SeriesRef, i64, f64),
    /// A checkpoint chunk's bytes; unless it is the series' last (`true`, which becomes the
    /// open chunk again) it is validated and taken as a full chunk when it fits
    /// ([`SeriesState::adopt_full`]), else its samples are applied one by one.
    Chunk(SeriesRef, Box<[u8]>, bool),
    /// The limits for the samples that follow.
    Limits(Limits),
}

/// What one shard did.
#[derive(Debug, Clone, Copy)]
pub struct ShardStats {
    pub samples: u64,
    pub dropped: u64,
    pub unknown_refs: u64,
    /// Checkpoint chunks whose bytes did not decode.
    pub corrupt_chunks: u64,
    pub lo: i64,
    pub hi: i64,
}

impl Default for ShardStats {
    fn default() -> Self {
        Self {
            samples: 0,
            dropped: 0,
            unknown_refs: 0,
            corrupt_chunks: 0,
            lo: i64::MAX,
            hi: i64::MIN,
        }
    }
}

impl ShardStats {
    fn add(&mut self, o: &ShardStats) {
        self.samples += o.samples;
        self.dropped += o.dropped;
        self.unknown_refs += o.unknown_refs;
        self.corrupt_chunks += o.corrupt_chunks;
        self.lo = self.lo.min(o.lo);
        self.hi = self.hi.max(o.hi);
    }
}

/// The series of one shard and the state its samples are applied with.
struct Shard<'h> {
    head: &'h Head,
    range: i64,
    /// log2 of the number of shards: a series sits at `ref >> shift`.
    shift: u32,
    dense: Vec<Option<Arc<MemSeries>>>,
    sparse: HashMap<SeriesRef, Arc<MemSeries>>,
    lim: Limits,
    stats: ShardStats,
}

impl<'h> Shard<'h> {
    fn new(head: &'h Head, shift: u32, lim: Limits) -> Self {
        Self {
            head,
            range: head.options().chunk_range_ms,
            shift,
            dense: Vec::new(),
            sparse: HashMap::new(),
            lim,
            stats: ShardStats::default(),
        }
    }

    fn series(&self, r: SeriesRef) -> Option<&Arc<MemSeries>> {
        let i = r >> self.shift;
        if i < DENSE_LIMIT {
            self.dense.get(i as usize)?.as_ref()
        } else {
            self.sparse.get(&r)
        }
    }

    fn define(&mut self, s: &Arc<MemSeries>) {
        let i = s.r >> self.shift;
        if i < DENSE_LIMIT {
            let i = i as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, None);
            }
            self.dense[i] = Some(Arc::clone(s));
        } else {
            self.sparse.insert(s.r, Arc::clone(s));
        }
    }

    /// Applies a batch in order; runs of samples of one series share a lookup and a lock.
    /// Chunks are moved out of the batch (which is cleared afterwards anyway).
    fn apply(&mut self, ops: &mut [Op]) {
        let mut i = 0;
        while i < ops.len() {
            match &ops[i] {
                Op::Define(s) => self.define(s),
                Op::Limits(l) => self.lim = *l,
                Op::Chunk(..) => {
                    let taken = std::mem::replace(&mut ops[i], Op::Limits(self.lim));
                    if let Op::Chunk(r, bytes, last) = taken {
                        self.chunk(r, bytes, last);
                    }
                }
                Op::Sample(r, _, _) => {
                    let mut j = i + 1;
                    while matches!(ops.get(j), Some(Op::Sample(r2, _, _)) if r2 == r) {
                        j += 1;
                    }
                    self.run(*r, &ops[i..j]);
                    i = j;
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Adopts the chunk `bytes` of series `r`, or applies its samples; a chunk that does
    /// not decode counts as a corruption (samples before the damage are kept only when it
    /// is applied sample by sample).
    fn chunk(&mut self, r: SeriesRef, bytes: Box<[u8]>, last: bool) {
        let Some(s) = self.series(r) else {
            // The sample count is the chunk's first two bytes (big-endian).
            let n = match *bytes {
                [hi, lo, ..] => u16::from_be_bytes([hi, lo]),
                _ => 0,
            };
            self.stats.unknown_refs += u64::from(n);
            return;
        };
        let (lim, range) = (self.lim, self.range);
        let mut one = ShardStats::default();
        let mut st = s.state.lock();
        let rest = if last {
            Some(Err(bytes))
        } else {
            match Chunk::from_bytes(bytes) {
                Ok(c) => {
                    let (n, lo, hi) = (c.num_samples() as u64, c.min_time(), c.max_time());
                    match st.adopt_full(c, lim, range) {
                        Ok(()) => {
                            self.head.chunks_created(1);
                            (one.samples, one.lo, one.hi) = (n, lo, hi);
                            None
                        }
                        Err(c) => Some(Ok(c)),
                    }
                }
                Err(_) => {
                    one.corrupt_chunks += 1;
                    None
                }
            }
        };
        if let Some(rest) = rest {
            let mut created = 0;
            let bytes: &[u8] = match &rest {
                Ok(c) => c.bytes(),
                Err(b) => b,
            };
            let mut it = ChunkIter::new(bytes);
            for (t, v) in it.by_ref() {
                match apply_one(&mut st, t, v, lim, range) {
                    Some(n) => {
                        created += n;
                        one.samples += 1;
                        one.lo = one.lo.min(t);
                        one.hi = one.hi.max(t);
                    }
                    None => one.dropped += 1,
                }
            }
            one.corrupt_chunks += u64::from(it.is_corrupt());
            self.head.chunks_created(created);
        }
        drop(st);
        self.stats.add(&one);
    }

    /// Applies consecutive samples of the series `r`.
    fn run(&mut self, r: SeriesRef, ops: &[Op]) {
        let Some(s) = self.series(r) else {
            self.stats.unknown_refs += ops.len() as u64;
            return;
        };
        let (lim, range) = (self.lim, self.range);
        let (mut stored, mut created) = (0u64, 0usize);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut st = s.state.lock();
        for op in ops {
            let &Op::Sample(_, t, v) = op else { continue };
            let Some(n) = apply_one(&mut st, t, v, lim, range) else {
                continue;
            };
            created += n;
            stored += 1;
            lo = lo.min(t);
            hi = hi.max(t);
        }
        // Counted under the series lock, as a live append does.
        self.head.chunks_created(created);
        drop(st);
        let n = ops.len() as u64;
        self.stats.samples += stored;
        self.stats.dropped += n - stored;
        self.stats.lo = self.stats.lo.min(lo);
        self.stats.hi = self.stats.hi.max(hi);
    }
}

/// Applies one sample as a live commit would; the chunks it created, or `None` when the
/// verdict drops it.
#[inline]
fn apply_one(st: &mut SeriesState, t: i64, v: f64, lim: Limits, range: i64) -> Option<usize> {
    match st.verdict(t, v, lim) {
        Verdict::InOrder => Some(st.append_in_order(t, v, range)),
        Verdict::OutOfOrder => Some(st.insert_out_of_order(t, v)),
        _ => None,
    }
}

type Worker<'scope> = ScopedJoinHandle<'scope, ShardStats>;

enum Out<'scope, 'h> {
    /// One shard, applied on the calling thread.
    Inline(Box<Shard<'h>>),
    Threads {
        tx: Vec<SyncSender<Vec<Op>>>,
        free: Receiver<Vec<Op>>,
        workers: Vec<Worker<'scope>>,
    },
}

/// Routes ops to the shards and collects their results.
pub struct Sink<'scope, 'h> {
    mask: u64,
    bufs: Vec<Vec<Op>>,
    out: Out<'scope, 'h>,
}

impl std::fmt::Debug for Sink<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("shards", &self.bufs.len())
            .finish()
    }
}

/// The number of workers replay uses by default: one per core (a power of two, at most
/// [`MAX_WORKERS`]).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn shards_for(workers: usize) -> usize {
    let w = workers.clamp(1, MAX_WORKERS);
    // The largest power of two not above w.
    1 << (usize::BITS - 1 - w.leading_zeros())
}

impl<'scope, 'h: 'scope> Sink<'scope, 'h> {
    /// Starts `workers` appliers (rounded down to a power of two; 1 means none: ops are
    /// applied on this thread). Falls back to fewer workers if threads cannot be started.
    pub fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        head: &'h Head,
        workers: usize,
        lim: Limits,
    ) -> Self
    where
        'h: 'env,
    {
        let n = shards_for(workers);
        if n > 1
            && let Some(out) = spawn(scope, head, n, lim)
        {
            return Self {
                mask: n as u64 - 1,
                bufs: (0..n).map(|_| Vec::with_capacity(BATCH)).collect(),
                out,
            };
        }
        Self {
            mask: 0,
            bufs: vec![Vec::with_capacity(BATCH)],
            out: Out::Inline(Box::new(Shard::new(head, 0, lim))),
        }
    }
}

impl Sink<'_, '_> {
    /// Number of shards ops are split over.
    pub fn shards(&self) -> usize {
        self.bufs.len()
    }

    /// Queues an op for the shard owning series ref `r`.
    #[inline]
    pub fn push(&mut self, r: SeriesRef, op: Op) {
        let k = (r & self.mask) as usize;
        self.bufs[k].push(op);
        if self.bufs[k].len() >= BATCH {
            self.flush(k);
        }
    }

    /// Queues an op for every shard.
    pub fn broadcast(&mut self, lim: Limits) {
        for k in 0..self.bufs.len() {
            self.bufs[k].push(Op::Limits(lim));
            if self.bufs[k].len() >= BATCH {
                self.flush(k);
            }
        }
    }

    fn flush(&mut self, k: usize) {
        match &mut self.out {
            Out::Inline(shard) => {
                shard.apply(&mut self.bufs[k]);
                self.bufs[k].clear();
            }
            Out::Threads { tx, free, .. } => {
                let next = free
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                let full = std::mem::replace(&mut self.bufs[k], next);
                // A worker only goes away by panicking, which `finish` reports.
                let _ = tx[k].send(full);
            }
        }
    }

    /// Applies everything queued, stops the workers and sums what the shards did.
    pub fn finish(mut self) -> ShardStats {
        for k in 0..self.bufs.len() {
            if !self.bufs[k].is_empty() {
                self.flush(k);
            }
        }
        match self.out {
            Out::Inline(shard) => shard.stats,
            Out::Threads { tx, workers, .. } => {
                drop(tx);
                let mut total = ShardStats::default();
                for w in workers {
                    match w.join() {
                        Ok(s) => total.add(&s),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                total
            }
        }
    }
}

fn spawn<'scope, 'env, 'h: 'scope + 'env>(
    scope: &'scope Scope<'scope, 'env>,
    head: &'h Head,
    n: usize,
    lim: Limits,
) -> Option<Out<'scope, 'h>> {
    let shift = n.trailing_zeros();
    let (free_tx, free) = channel::<Vec<Op>>();
    let mut tx = Vec::with_capacity(n);
    let mut workers = Vec::with_capacity(n);
    for k in 0..n {
        let (t, rx) = sync_channel::<Vec<Op>>(QUEUE);
        let back: Sender<Vec<Op>> = free_tx.clone();
        let mut shard = Shard::new(head, shift, lim);
        let spawned = std::thread::Builder::new()
            .name(format!("wal-replay-{k}"))
            .spawn_scoped(scope, move || {
                for mut batch in rx {
                    shard.apply(&mut batch);
                    batch.clear();
                    let _ = back.send(batch);
                }
                shard.stats
            });
        match spawned {
            Ok(h) => {
                tx.push(t);
                workers.push(h);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start WAL replay workers; replaying on one thread");
                // Dropping the senders ends the workers already started (they saw nothing).
                drop(tx);
                for w in workers {
                    let _ = w.join();
                }
                return None;
            }
        }
    }
    Some(Out::Threads { tx, free, workers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_stay_small_and_shard_counts_are_powers_of_two() {
        assert!(
            std::mem::size_of::<Op>() <= 32,
            "{}",
            std::mem::size_of::<Op>()
        );
        let got: Vec<usize> = [0, 1, 2, 3, 4, 5, 7, 8, 9, 64]
            .into_iter()
            .map(shards_for)
            .collect();
        assert_eq!(got, vec![1, 1, 2, 2, 4, 4, 4, 8, 8, 8]);
    }

    #[test]
    fn runs_of_one_series_and_unknown_refs_are_counted() {
        use crate::Labels;
        use crate::tsdb::label_codec::LabelBytes;
        let head = Head::new();
        let l = Labels::from_pairs([("__name__", "x")]);
        let s = Arc::new(MemSeries::new(4, LabelBytes::encode(&l, &mut Vec::new())));
        let lim = Limits {
            min_valid: 1_000,
            ooo_min: None,
        };
        let mut shard = Shard::new(&head, 1, lim);
        let mut ops = vec![
            Op::Sample(4, 2_000, 1.0),
            Op::Define(Arc::clone(&s)),
            Op::Sample(4, 2_000, 1.0),
            Op::Sample(4, 3_000, 2.0),
            // Duplicate, then too old, then a second run after another series' sample.
            Op::Sample(4, 3_000, 2.0),
            Op::Sample(4, 500, 2.0),
            Op::Sample(6, 1_500, 0.0),
            Op::Limits(Limits {
                min_valid: 5_000,
                ooo_min: None,
            }),
            Op::Sample(4, 4_000, 3.0),
            Op::Sample(4, 6_000, 4.0),
        ];
        shard.apply(&mut ops);
        let st = shard.stats;
        assert_eq!(
            st.unknown_refs, 2,
            "before its definition and an undefined ref"
        );
        assert_eq!(st.samples, 3);
        assert_eq!(st.dropped, 3);
        assert_eq!((st.lo, st.hi), (2_000, 6_000));
        let mut out = Vec::new();
        s.state.lock().collect(i64::MIN, i64::MAX, &mut out);
        assert_eq!(out, vec![(2_000, 1.0), (3_000, 2.0), (6_000, 4.0)]);
    }
}
