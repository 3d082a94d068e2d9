//! The head's appender: batches samples and makes them visible at commit.
//!
//! `append` resolves the series (by cached ref without touching the labels, else by label
//! hash, creating the series if needed), checks the sample against the series' committed
//! state so clear rejections are reported at once, and queues it. `commit` re-checks each
//! queued sample under the series lock (another appender may have written in between) and
//! stores it; `rollback` (or dropping the appender) discards the queue. Series created by a
//! rolled-back appender stay in the head until truncation removes them, as in Prometheus.
//! With a write-ahead log, `commit` first writes the batch to the log (a failed write stores
//! nothing and returns [`Error::WalWrite`]) and then applies it, under the log's lock.
//!
//! Rules per sample, in order: older than the last truncation → too old; newer than the
//! series' last sample → stored; same timestamp as a stored sample → dropped silently when
//! the value bits are equal (a duplicate), rejected with [`Error::DuplicateSample`] when not;
//! otherwise out of order → stored when the head has an out-of-order window and the sample
//! is inside it, too old when outside it, rejected as out of order when there is no window.
//! The window is measured from the head's newest sample as of the last commit.
//!
//! Invariants: each queued sample holds one unit of its series' `pending` count until it is
//! committed or discarded, which keeps truncation from removing the series under it.
//!
//! Cost: per sample one shard read lock, one `Arc` clone and the series mutex at append and
//! again at commit; no allocation except growth of the queue.

use super::head::Head;
use super::series::{Limits, MemSeries, Verdict};
use super::wal::FsyncPolicy;
use crate::{AppendStats, Appender, Labels, Result, SeriesRef, error::Error};
use std::sync::Arc;

/// Attempts at resolving a series by labels when truncation deletes it under us.
const LOOKUP_ATTEMPTS: usize = 8;

#[derive(Debug)]
struct Queued {
    series: Arc<MemSeries>,
    t: i64,
    v: f64,
}

/// A batch of appends to a [`Head`].
#[derive(Debug)]
pub struct HeadAppender<'a> {
    head: &'a Head,
    queue: Vec<Queued>,
    /// Samples already settled at append time (duplicates and rejections).
    stats: AppendStats,
    scratch: Vec<u8>,
}

impl<'a> HeadAppender<'a> {
    pub fn new(head: &'a Head) -> Self {
        Self {
            head,
            queue: Vec::new(),
            stats: AppendStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Checks the sample against `series` and queues it; `None` when the series was deleted.
    fn try_queue(&mut self, series: Arc<MemSeries>, t: i64, v: f64) -> Option<Result<SeriesRef>> {
        let lim = self.head.limits();
        let verdict = {
            let mut st = series.state.lock();
            if st.deleted {
                return None;
            }
            let verdict = st.verdict(t, v, lim);
            if matches!(verdict, Verdict::InOrder | Verdict::OutOfOrder) {
                st.pending += 1;
            }
            verdict
        };
        let r = series.r;
        let res = match verdict {
            Verdict::InOrder | Verdict::OutOfOrder => {
                self.queue.push(Queued { series, t, v });
                Ok(r)
            }
            Verdict::Duplicate => {
                self.stats.duplicates += 1;
                Ok(r)
            }
            Verdict::Conflict => {
                self.stats.duplicate_conflicts += 1;
                Err(Error::DuplicateSample)
            }
            Verdict::RejectOutOfOrder => {
                self.stats.out_of_order += 1;
                Err(Error::OutOfOrder)
            }
            Verdict::TooOld => {
                self.stats.too_old += 1;
                Err(Error::TooOld)
            }
        };
        Some(res)
    }

    fn do_commit(&mut self, lim: Limits) -> AppendStats {
        let range = self.head.chunk_range();
        let mut st = std::mem::take(&mut self.stats);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for q in self.queue.drain(..) {
            let mut s = q.series.state.lock();
            s.pending = s.pending.saturating_sub(1);
            let created = match s.verdict(q.t, q.v, lim) {
                Verdict::InOrder => s.append_in_order(q.t, q.v, range),
                Verdict::OutOfOrder => s.insert_out_of_order(q.t, q.v),
                Verdict::Duplicate => {
                    st.duplicates += 1;
                    continue;
                }
                Verdict::Conflict => {
                    st.duplicate_conflicts += 1;
                    continue;
                }
                Verdict::RejectOutOfOrder => {
                    st.out_of_order += 1;
                    continue;
                }
                Verdict::TooOld => {
                    st.too_old += 1;
                    continue;
                }
            };
            self.head.chunks_created(created);
            drop(s);
            st.appended += 1;
            lo = lo.min(q.t);
            hi = hi.max(q.t);
        }
        self.head.record(&st, lo, hi);
        st
    }

    fn discard(&mut self) {
        for q in self.queue.drain(..) {
            let mut s = q.series.state.lock();
            s.pending = s.pending.saturating_sub(1);
        }
        let st = std::mem::take(&mut self.stats);
        self.head.record(&st, i64::MAX, i64::MIN);
    }

    /// Discards the batch; series it created stay in the head, so they are logged.
    fn discard_and_log_series(&mut self) {
        self.discard();
        if let Some(w) = self.head.wal() {
            w.flush_series();
        }
    }
}

impl Appender for HeadAppender<'_> {
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef> {
        if r != 0 {
            let series = self.head.series.get(r).ok_or(Error::UnknownRef(r))?;
            return self
                .try_queue(series, t, v)
                .unwrap_or(Err(Error::UnknownRef(r)));
        }
        for _ in 0..LOOKUP_ATTEMPTS {
            let series = self.head.get_or_create(labels, &mut self.scratch)?;
            if let Some(res) = self.try_queue(series, t, v) {
                return res;
            }
        }
        // Truncation kept deleting the series we found; report it rather than spin.
        Err(Error::UnknownRef(0))
    }

    fn commit(mut self: Box<Self>) -> Result<AppendStats> {
        let head = self.head;
        let Some(wal) = head.wal() else {
            return Ok(self.do_commit(head.limits()));
        };
        // Log, then apply, both under the WAL's writer lock: the log's order is the order
        // the head applies in, so replay (with the logged out-of-order bound) matches it.
        let mut guard = wal.begin();
        let lim = head.limits();
        let logged = guard.log(
            lim.ooo_min,
            self.queue.iter().map(|q| (q.series.r, q.t, q.v)),
        );
        let seq = match logged {
            Ok(seq) => seq,
            Err(e) => {
                drop(guard);
                self.discard();
                return Err(e);
            }
        };
        let st = self.do_commit(lim);
        drop(guard);
        if wal.options().fsync == FsyncPolicy::EveryCommit {
            wal.sync_upto(seq)?;
        }
        Ok(st)
    }

    fn rollback(mut self: Box<Self>) {
        self.discard_and_log_series();
    }
}

impl Drop for HeadAppender<'_> {
    fn drop(&mut self) {
        // After commit or rollback this is a no-op; otherwise it is an implicit rollback.
        if !self.queue.is_empty() || self.stats != AppendStats::default() {
            self.discard_and_log_series();
        }
    }
}
