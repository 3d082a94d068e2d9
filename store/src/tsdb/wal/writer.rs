//! The WAL writer: appends each commit's records to the current segment, cuts segments,
//! and fsyncs according to the [`FsyncPolicy`].
//!
//! A commit holds the writer lock while it writes its records *and* while the head applies
//! its samples (see the appender), so the order of records in the log is the order in which
//! the head saw them and replay reproduces the head exactly. New series are not logged when
//! they are created (that happens outside any commit); their entries are queued in `pending`
//! and written, ahead of the samples, by the next commit to run, whichever appender it
//! belongs to.
//!
//! Invariants: `synced_seq <= written_seq`; a commit numbered `s` is durable once
//! `synced_seq >= s`. Only whole frames are ever left in a segment (see `segment`). When no
//! segment could be opened (disk full), commits fail until one can.
//!
//! Cost: per commit one buffer encode (about 10-11 bytes per sample), one `write` syscall,
//! and under [`FsyncPolicy::EveryCommit`] one `fdatasync` shared by every commit that
//! arrived while it ran (group commit).

use super::record::{self, RecordType};
use super::segment::{FaultInjector, SegmentWriter, io_err, list};
use crate::SeriesRef;
use crate::error::{Error, Result};
use crate::tsdb::label_codec::LabelBytes;
use parking_lot::{Mutex, MutexGuard};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Default maximum segment size.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

/// Default fsync interval when none is configured.
pub const DEFAULT_FSYNC_INTERVAL: Duration = Duration::from_secs(1);

/// When written records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `commit` returns only after an fsync covering it: a successful commit is durable.
    EveryCommit,
    /// A background fsync at this interval: a commit is durable at most one interval after
    /// it returned (and survives a process crash at once, since it is in the page cache).
    Interval(Duration),
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::Interval(DEFAULT_FSYNC_INTERVAL)
    }
}

/// WAL tuning.
#[derive(Debug, Clone, Default)]
pub struct WalOptions {
    /// Segments are cut before a commit that would grow them past this (0: the default).
    pub segment_size: u64,
    pub fsync: FsyncPolicy,
    /// Injected write failures (tests only).
    pub fault: Option<Arc<FaultInjector>>,
}

impl WalOptions {
    fn segment_size(&self) -> u64 {
        if self.segment_size == 0 {
            DEFAULT_SEGMENT_SIZE
        } else {
            self.segment_size
        }
    }
}

/// Cumulative counters of a [`Wal`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub fsyncs: AtomicU64,
    pub fsync_nanos: AtomicU64,
    pub write_failures: AtomicU64,
    pub fsync_failures: AtomicU64,
    pub segments_created: AtomicU64,
    pub checkpoints: AtomicU64,
    pub checkpoint_failures: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct WriterState {
    seg: Option<SegmentWriter>,
    /// Index the next segment gets.
    next_index: u64,
    buf: Vec<u8>,
    /// Number of commits written so far (their sequence numbers are 1..=seq).
    seq: u64,
}

/// Series entries created but not yet logged.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    writer: Mutex<WriterState>,
    pending: Mutex<Pending>,
    synced_seq: AtomicU64,
    sync_lock: Mutex<()>,
    pub(crate) checkpoint_lock: Mutex<()>,
    pub(crate) counters: Counters,
}

impl Wal {
    /// Opens the log for writing in a fresh segment numbered `first_index` (replay has
    /// already read everything before it).
    pub fn create(dir: &Path, first_index: u64, opts: WalOptions) -> Result<Wal> {
        let seg = SegmentWriter::create(dir, first_index)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            writer: Mutex::new(WriterState {
                seg: Some(seg),
                next_index: first_index + 1,
                buf: Vec::new(),
                seq: 0,
            }),
            pending: Mutex::default(),
            synced_seq: AtomicU64::new(0),
            sync_lock: Mutex::new(()),
            checkpoint_lock: Mutex::new(()),
            counters: Counters::default(),
        };
        wal.counters
            .segments_created
            .fetch_add(1, Ordering::Relaxed);
        Ok(wal)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &WalOptions {
        &self.opts
    }

    /// Queues a new series' entry for the next commit (called while the series is created).
    pub fn note_series(&self, r: SeriesRef, labels: &LabelBytes) {
        let mut p = self.pending.lock();
        record::put_series(&mut p.bytes, r, labels.iter());
    }

    /// Logs queued series entries now (a rolled-back batch may have created series; the
    /// head keeps them, so the log should too). Best effort: on failure they stay queued.
    pub fn flush_series(&self) {
        if !self.pending.lock().bytes.is_empty() {
            let _ = self.begin().log(None, std::iter::empty());
        }
    }

    /// Takes the writer lock for one commit.
    pub fn begin(&self) -> CommitGuard<'_> {
        CommitGuard {
            wal: self,
            w: self.writer.lock(),
        }
    }

    /// Commits written so far.
    pub fn written_seq(&self) -> u64 {
        self.writer.lock().seq
    }

    /// Commits known to be on stable storage.
    pub fn synced_seq(&self) -> u64 {
        self.synced_seq.load(Ordering::Acquire)
    }

    /// Makes commit `seq` (and everything before it) durable, sharing one fsync between
    /// concurrent callers.
    pub fn sync_upto(&self, seq: u64) -> Result<()> {
        if self.synced_seq() >= seq {
            return Ok(());
        }
        let _s = self.sync_lock.lock();
        if self.synced_seq() >= seq {
            return Ok(());
        }
        let (file, path, upto) = {
            let w = self.writer.lock();
            match &w.seg {
                Some(s) => (Arc::clone(&s.file), s.path.clone(), w.seq),
                // Segments are synced when they are closed: nothing open, nothing to do.
                None => {
                    self.synced_seq.fetch_max(w.seq, Ordering::AcqRel);
                    return Ok(());
                }
            }
        };
        self.fsync(&file, &path)?;
        self.synced_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// Makes every commit written so far durable.
    pub fn sync(&self) -> Result<()> {
        let seq = self.written_seq();
        self.sync_upto(seq)
    }

    fn fsync(&self, file: &std::fs::File, path: &Path) -> Result<()> {
        let t0 = Instant::now();
        let res = file.sync_data();
        let c = &self.counters;
        c.fsync_nanos
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        c.fsyncs.fetch_add(1, Ordering::Relaxed);
        res.map_err(|e| {
            c.fsync_failures.fetch_add(1, Ordering::Relaxed);
            io_err(path, e)
        })
    }

    /// Closes the current segment (if it holds records) so that every commit so far lies in
    /// segments up to the returned index; new commits go to later segments.
    pub fn cut(&self) -> Result<u64> {
        let mut w = self.writer.lock();
        let empty = w.seg.as_ref().is_some_and(|s| s.len <= 8);
        if empty {
            return Ok(w.next_index - 2);
        }
        self.rotate(&mut w)?;
        Ok(w.next_index - 2)
    }

    /// Fsyncs and closes the current segment, then opens the next.
    fn rotate(&self, w: &mut WriterState) -> Result<()> {
        if let Some(s) = w.seg.take() {
            if let Err(e) = self.fsync(&s.file, &s.path) {
                w.seg = Some(s);
                return Err(e);
            }
            self.synced_seq.fetch_max(w.seq, Ordering::AcqRel);
        }
        let seg = SegmentWriter::create(&self.dir, w.next_index)?;
        w.next_index += 1;
        w.seg = Some(seg);
        self.counters
            .segments_created
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes of every segment and checkpoint file, and the number of segments.
    pub fn disk_usage(&self) -> (u64, u64) {
        let Ok(l) = list(&self.dir) else {
            return (0, 0);
        };
        let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let bytes = l
            .segments
            .iter()
            .map(|&i| size(super::segment::segment_path(&self.dir, i)))
            .chain(
                l.checkpoints
                    .iter()
                    .map(|&i| size(super::segment::checkpoint_path(&self.dir, i))),
            )
            .sum();
        (bytes, l.segments.len() as u64)
    }
}

/// The writer lock held across one commit: log first, then apply, then drop.
#[derive(Debug)]
pub struct CommitGuard<'a> {
    wal: &'a Wal,
    w: MutexGuard<'a, WriterState>,
}

impl CommitGuard<'_> {
    /// Writes pending series and this commit's samples as whole frames; returns the
    /// commit's sequence number (unchanged when there was nothing to write).
    pub fn log(
        &mut self,
        ooo_min: Option<i64>,
        samples: impl ExactSizeIterator<Item = (SeriesRef, i64, f64)>,
    ) -> Result<u64> {
        let w = &mut *self.w;
        w.buf.clear();
        let series_len = {
            let p = self.wal.pending.lock();
            if !p.bytes.is_empty() {
                let at = record::begin_frame(&mut w.buf, RecordType::Series);
                w.buf.extend_from_slice(&p.bytes);
                record::finish_frame(&mut w.buf, at);
            }
            p.bytes.len()
        };
        if samples.len() > 0 {
            let at = record::begin_frame(&mut w.buf, RecordType::Samples);
            record::put_samples(&mut w.buf, ooo_min, samples);
            record::finish_frame(&mut w.buf, at);
        }
        if w.buf.is_empty() {
            return Ok(w.seq);
        }
        let max = self.wal.opts.segment_size();
        let needs_cut = match &w.seg {
            None => true,
            Some(s) => s.len > 8 && s.len + w.buf.len() as u64 > max,
        };
        if needs_cut {
            let buf = std::mem::take(&mut w.buf);
            let res = self.wal.rotate(w);
            w.buf = buf;
            if let Err(e) = res {
                self.wal
                    .counters
                    .write_failures
                    .fetch_add(1, Ordering::Relaxed);
                return Err(wal_write(e));
            }
        }
        let Some(seg) = w.seg.as_mut() else {
            return Err(Error::WalWrite {
                path: self.wal.dir.clone(),
                source: std::io::Error::other("no open segment"),
            });
        };
        if let Err(e) = seg.write(&w.buf, self.wal.opts.fault.as_deref()) {
            self.wal
                .counters
                .write_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(Error::WalWrite {
                path: seg.path.clone(),
                source: e,
            });
        }
        if series_len > 0 {
            // Entries queued meanwhile (appended after ours) stay for the next commit.
            self.wal.pending.lock().bytes.drain(..series_len);
        }
        w.seq += 1;
        Ok(w.seq)
    }
}

fn wal_write(e: Error) -> Error {
    match e {
        Error::Io { path, source } => Error::WalWrite { path, source },
        other => other,
    }
}
