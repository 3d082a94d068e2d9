//! The on-disk store: a head made durable by a write-ahead log under `<dir>/wal/`, and
//! immutable blocks under `<dir>/blocks/` (see `block`, `compact`, `maintain`).
//!
//! `Db::open` takes an exclusive lock on `<dir>/LOCK`, replays the WAL into a fresh head,
//! starts a new segment and attaches the log to the head, so every later commit is logged
//! before it is visible. A background thread fsyncs the log (under
//! [`FsyncPolicy::Interval`]) and writes a checkpoint once enough segments piled up; a
//! checkpoint is also written after each [`Db::truncate_before`], so truncated samples do
//! not come back at the next start.
//!
//! Blocks are opened first (see `block_set`: unfinished and replaced blocks are removed,
//! damaged ones refused); the head's truncation point is set to the end of the newest block,
//! so the replay restores only samples no block holds. A second background thread runs a
//! maintenance pass (head cut, compaction, retention) every `compact_interval`. Queries
//! read the head, then a snapshot of the blocks, and merge them (the head wins on equal
//! timestamps).
//!
//! Invariants: the head's samples are exactly those of its replayed log plus the commits
//! since; truncation must go through the `Db` (a direct `Head::truncate_before` is undone by
//! the next replay until a checkpoint is written). Only one process opens a directory.
//!
//! Cost: open costs one replay (see `wal::replay`); the thread wakes once per fsync
//! interval (or second) and lists the WAL directory.

use super::block::Block;
use super::block_set::{BlockSet, RefusedBlock};
use super::head::{Head, HeadOptions, TruncateStats};
use super::maintain::{Maintenance, MaintenanceStats};
use super::merge::{merge_series, merge_strings};
use super::wal::{self, CheckpointStats, FsyncPolicy, ReplayStats, Wal, WalOptions, WalStats};
use crate::error::{Error, Result};
use crate::{Appendable, Appender, Matcher, Querier, Series};
use parking_lot::Mutex;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Default number of closed segments after which a checkpoint is written.
pub const DEFAULT_CHECKPOINT_SEGMENTS: u64 = 3;

/// Tuning of a [`Db`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub head: HeadOptions,
    pub wal: WalOptions,
    /// Write a checkpoint when this many segments are on disk (0: only at truncation).
    pub checkpoint_segments: u64,
    /// Blocks (and head samples) older than the newest sample minus this (ms) are deleted,
    /// checked every `compact_interval` (0: kept forever).
    pub retention_ms: i64,
    /// The oldest blocks are deleted while blocks plus WAL exceed this many bytes (0: no
    /// limit).
    pub retention_bytes: u64,
    /// Range (ms) of the blocks cut from the head, and of the head's chunk alignment
    /// (default 2 h; 0: no blocks, the head keeps everything).
    pub block_range_ms: i64,
    /// Largest range compaction builds (0: a tenth of `retention_ms`, at most 31 days).
    pub max_block_range_ms: i64,
    /// How often the background thread runs a maintenance pass (zero: never; call
    /// [`Db::compact`]).
    pub compact_interval: Duration,
    /// Threads that apply the WAL at open (0: one per core; 1: the opening thread alone).
    pub replay_workers: usize,
}

/// Default range of a block cut from the head: 2 h.
pub const DEFAULT_BLOCK_RANGE_MS: i64 = 2 * 3600 * 1000;

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            head: HeadOptions::default(),
            wal: WalOptions::default(),
            checkpoint_segments: DEFAULT_CHECKPOINT_SEGMENTS,
            retention_ms: 0,
            retention_bytes: 0,
            block_range_ms: DEFAULT_BLOCK_RANGE_MS,
            max_block_range_ms: 0,
            compact_interval: Duration::from_secs(60),
            replay_workers: 0,
        }
    }
}

#[derive(Debug)]
struct Background {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

/// A durable head.
#[derive(Debug)]
pub struct Db {
    dir: PathBuf,
    head: Arc<Head>,
    wal: Arc<Wal>,
    replay: ReplayStats,
    maint: Arc<Maintenance>,
    bg: Mutex<Vec<Background>>,
    _lock: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Db {
    /// Opens (creating if needed) the store in `dir`, replaying its WAL.
    pub fn open(dir: impl AsRef<Path>, mut opts: DbOptions) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(io(&wal_dir))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.try_lock().map_err(|e| Error::Io {
            path: lock_path.clone(),
            source: std::io::Error::other(format!("the store is in use by another process ({e})")),
        })?;
        let blocks = Arc::new(BlockSet::open(&dir.join("blocks"))?);
        // Head chunks must not straddle a block boundary.
        let chunk = opts.head.chunk_range_ms;
        if opts.block_range_ms > 0 && (chunk <= 0 || opts.block_range_ms % chunk != 0) {
            opts.head.chunk_range_ms = opts.block_range_ms;
        }
        let head = Arc::new(Head::with_options(opts.head));
        if let Some(t) = blocks.max_time() {
            head.raise_min_valid(t);
        }
        let replay = match opts.replay_workers {
            0 => wal::replay::replay(&wal_dir, &head)?,
            n => wal::replay::replay_with(&wal_dir, &head, n)?,
        };
        tracing::info!(
            dir = %dir.display(),
            series = head.num_series(),
            samples = replay.samples,
            segments = replay.segments,
            checkpoint = ?replay.checkpoint,
            corruptions = replay.corruptions,
            seconds = replay.duration.as_secs_f64(),
            workers = replay.workers,
            "WAL replayed"
        );
        let wal = Arc::new(Wal::create(
            &wal_dir,
            replay.next_segment,
            opts.wal.clone(),
        )?);
        head.attach_wal(Arc::clone(&wal));
        let maint = Arc::new(Maintenance::new(
            Arc::clone(&head),
            Arc::clone(&wal),
            blocks,
            opts.block_range_ms,
            opts.max_block_range_ms,
            opts.retention_ms,
            opts.retention_bytes,
        ));
        let mut bg = vec![spawn_background(&head, &wal, &opts)?];
        if !opts.compact_interval.is_zero() {
            bg.push(spawn_maintenance(&maint, opts.compact_interval, &dir)?);
        }
        Ok(Db {
            dir,
            head,
            wal,
            replay,
            maint,
            bg: Mutex::new(bg),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The head, for callers that hold an `Arc<Head>` (appending through it is logged).
    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }

    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }

    /// What the replay at open found.
    pub fn replay_stats(&self) -> &ReplayStats {
        &self.replay
    }

    pub fn wal_stats(&self) -> WalStats {
        self.wal.stats()
    }

    /// The blocks served now, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.maint.blocks.snapshot()
    }

    /// Blocks found damaged at open and not served.
    pub fn refused_blocks(&self) -> Vec<RefusedBlock> {
        self.maint.blocks.refused()
    }

    /// Runs a maintenance pass now: cut the head into blocks, compact, apply retention.
    pub fn compact(&self) -> Result<MaintenanceStats> {
        self.maint.run()
    }

    /// Truncates the head before `t` and writes a checkpoint recording it.
    pub fn truncate_before(&self, t: i64) -> Result<(TruncateStats, CheckpointStats)> {
        let tr = self.head.truncate_before(t);
        let cp = wal::checkpoint::checkpoint(&self.wal, &self.head)?;
        Ok((tr, cp))
    }

    /// Writes a checkpoint now.
    pub fn checkpoint(&self) -> Result<CheckpointStats> {
        wal::checkpoint::checkpoint(&self.wal, &self.head)
    }

    /// Makes every commit so far durable.
    pub fn sync(&self) -> Result<()> {
        self.wal.sync()
    }

    /// Stops the background thread and fsyncs the log. Appends after this still work and
    /// are logged, but are only fsynced by a later `sync`/`close`.
    pub fn close(&self) -> Result<()> {
        let all: Vec<Background> = self.bg.lock().drain(..).collect();
        for bg in &all {
            let _ = bg.stop.send(());
        }
        for bg in all {
            let _ = bg.handle.join();
        }
        self.wal.sync()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the WAL failed");
        }
    }
}

fn spawn_background(head: &Arc<Head>, wal: &Arc<Wal>, opts: &DbOptions) -> Result<Background> {
    let (stop, rx) = mpsc::channel::<()>();
    let dir = wal.dir().to_path_buf();
    let (head, wal) = (Arc::clone(head), Arc::clone(wal));
    let (tick, interval_sync) = match opts.wal.fsync {
        FsyncPolicy::Interval(d) => (d.max(Duration::from_millis(1)), true),
        FsyncPolicy::EveryCommit => (Duration::from_secs(1), false),
    };
    let every = opts.checkpoint_segments;
    let handle = std::thread::Builder::new()
        .name("lookout-wal".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(tick) {
                if interval_sync && let Err(e) = wal.sync() {
                    tracing::error!(error = %e, "WAL fsync failed");
                }
                if every > 0 && wal.disk_usage().1 > every {
                    match wal::checkpoint::checkpoint(&wal, &head) {
                        Ok(cp) => tracing::info!(
                            index = cp.index,
                            series = cp.series,
                            samples = cp.samples,
                            bytes = cp.bytes,
                            removed = cp.segments_removed,
                            seconds = cp.duration.as_secs_f64(),
                            "WAL checkpoint written"
                        ),
                        Err(e) => tracing::error!(error = %e, "WAL checkpoint failed"),
                    }
                }
            }
        })
        .map_err(|source| Error::Io { path: dir, source })?;
    Ok(Background { stop, handle })
}

fn spawn_maintenance(maint: &Arc<Maintenance>, every: Duration, dir: &Path) -> Result<Background> {
    let (stop, rx) = mpsc::channel::<()>();
    let maint = Arc::clone(maint);
    let handle = std::thread::Builder::new()
        .name("lookout-compact".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                if let Err(e) = maint.run() {
                    tracing::error!(error = %e, "TSDB maintenance (block cut, compaction, retention) failed");
                }
            }
        })
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(Background { stop, handle })
}

impl Db {
    /// Appends the WAL's self-metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let w = self.wal_stats();
        let r = &self.replay;
        let m = &self.maint;
        let c =
            |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed) as f64;
        let rows: [(&str, &str, &str, f64); 20] = [
            (
                "lookout_tsdb_blocks_loaded",
                "gauge",
                "Blocks served.",
                m.blocks.snapshot().len() as f64,
            ),
            (
                "lookout_tsdb_blocks_refused",
                "gauge",
                "Blocks found damaged at the last start and not served.",
                m.blocks.refused().len() as f64,
            ),
            (
                "lookout_tsdb_storage_blocks_bytes",
                "gauge",
                "Bytes of the served blocks.",
                m.blocks.size_bytes() as f64,
            ),
            (
                "lookout_tsdb_head_blocks_written_total",
                "counter",
                "Blocks cut from the head.",
                c(&m.counters.head_blocks),
            ),
            (
                "lookout_tsdb_compactions_total",
                "counter",
                "Block merges done.",
                c(&m.counters.compactions),
            ),
            (
                "lookout_tsdb_compactions_failed_total",
                "counter",
                "Maintenance passes (head cut, compaction, retention) that failed.",
                c(&m.counters.failures),
            ),
            (
                "lookout_tsdb_retention_deleted_blocks_total",
                "counter",
                "Blocks deleted by time or size retention.",
                c(&m.counters.retention_deleted),
            ),
            (
                "lookout_tsdb_wal_bytes",
                "gauge",
                "Bytes of WAL segments and checkpoints.",
                w.bytes as f64,
            ),
            (
                "lookout_tsdb_wal_segments",
                "gauge",
                "WAL segment files on disk.",
                w.segments as f64,
            ),
            (
                "lookout_tsdb_wal_segments_created_total",
                "counter",
                "WAL segments created.",
                w.segments_created as f64,
            ),
            (
                "lookout_tsdb_wal_fsync_duration_seconds_sum",
                "counter",
                "Time spent in WAL fsyncs.",
                w.fsync_seconds,
            ),
            (
                "lookout_tsdb_wal_fsync_duration_seconds_count",
                "counter",
                "WAL fsyncs.",
                w.fsyncs as f64,
            ),
            (
                "lookout_tsdb_wal_fsync_failures_total",
                "counter",
                "WAL fsyncs that failed.",
                w.fsync_failures as f64,
            ),
            (
                "lookout_tsdb_wal_write_failures_total",
                "counter",
                "Commits refused because the WAL could not be written.",
                w.write_failures as f64,
            ),
            (
                "lookout_tsdb_wal_corruptions_total",
                "counter",
                "Damaged WAL file tails found (and truncated) at the last start.",
                r.corruptions as f64,
            ),
            (
                "lookout_tsdb_wal_replay_duration_seconds",
                "gauge",
                "Duration of the WAL replay at the last start.",
                r.duration.as_secs_f64(),
            ),
            (
                "lookout_tsdb_wal_replayed_samples",
                "gauge",
                "Samples restored by the WAL replay at the last start.",
                r.samples as f64,
            ),
            (
                "lookout_tsdb_checkpoint_creations_total",
                "counter",
                "WAL checkpoints written.",
                w.checkpoints as f64,
            ),
            (
                "lookout_tsdb_checkpoint_creations_failed_total",
                "counter",
                "WAL checkpoints that failed.",
                w.checkpoint_failures as f64,
            ),
            (
                "lookout_tsdb_wal_unsynced_commits",
                "gauge",
                "Commits written but not yet fsynced.",
                w.written_seq.saturating_sub(w.synced_seq) as f64,
            ),
        ];
        for (name, kind, help, v) in rows {
            let family = name
                .strip_suffix("_sum")
                .or_else(|| name.strip_suffix("_count"));
            match family {
                Some(f) if name.ends_with("_sum") => {
                    let _ = writeln!(out, "# HELP {f} {help}\n# TYPE {f} summary");
                }
                Some(_) => {}
                None => {
                    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                }
            }
            let _ = writeln!(out, "{name} {v}");
        }
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.head.appender()
    }
}

impl Db {
    /// The blocks overlapping `[mint, maxt]`, oldest first.
    fn blocks_in(&self, mint: i64, maxt: i64) -> Vec<Arc<Block>> {
        let mut b = self.maint.blocks.snapshot();
        b.retain(|b| b.meta().overlaps(mint, maxt));
        b
    }
}

impl Querier for Db {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        // The head first: a head cut racing this query then shows up in the block snapshot.
        let head = self.head.select(matchers, mint, maxt)?;
        let mut parts = Vec::new();
        for b in self.blocks_in(mint, maxt) {
            parts.push(b.select(matchers, mint, maxt)?);
        }
        parts.push(head);
        Ok(merge_series(parts))
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let mut parts = vec![self.head.label_names(matchers, mint, maxt)?];
        for b in self.blocks_in(mint, maxt) {
            parts.push(b.label_names(matchers, mint, maxt)?);
        }
        Ok(merge_strings(parts))
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        let mut parts = vec![self.head.label_values(name, matchers, mint, maxt)?];
        for b in self.blocks_in(mint, maxt) {
            parts.push(b.label_values(name, matchers, mint, maxt)?);
        }
        Ok(merge_strings(parts))
    }
}
