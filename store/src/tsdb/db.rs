//! The on-disk store: a head made durable by a write-ahead log under `<dir>/wal/`.
//!
//! `Db::open` takes an exclusive lock on `<dir>/LOCK`, replays the WAL into a fresh head,
//! starts a new segment and attaches the log to the head, so every later commit is logged
//! before it is visible. A background thread fsyncs the log (under
//! [`FsyncPolicy::Interval`]) and writes a checkpoint once enough segments piled up; a
//! checkpoint is also written after each [`Db::truncate_before`], so truncated samples do
//! not come back at the next start.
//!
//! Invariants: the head's samples are exactly those of its replayed log plus the commits
//! since; truncation must go through the `Db` (a direct `Head::truncate_before` is undone by
//! the next replay until a checkpoint is written). Only one process opens a directory.
//!
//! Cost: open costs one replay (see `wal::replay`); the thread wakes once per fsync
//! interval (or second) and lists the WAL directory.

use super::head::{Head, HeadOptions, TruncateStats};
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
    /// Samples older than the newest one minus this (ms) are truncated away, checked once a
    /// minute (0: kept forever). Stands in for block retention until blocks exist.
    pub retention_ms: i64,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            head: HeadOptions::default(),
            wal: WalOptions::default(),
            checkpoint_segments: DEFAULT_CHECKPOINT_SEGMENTS,
            retention_ms: 0,
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
    bg: Mutex<Option<Background>>,
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
    pub fn open(dir: impl AsRef<Path>, opts: DbOptions) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(io(&wal_dir))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.try_lock().map_err(|e| Error::Io {
            path: lock_path.clone(),
            source: std::io::Error::other(format!("the store is in use by another process ({e})")),
        })?;
        let head = Arc::new(Head::with_options(opts.head));
        let replay = wal::replay::replay(&wal_dir, &head)?;
        tracing::info!(
            dir = %dir.display(),
            series = head.num_series(),
            samples = replay.samples,
            segments = replay.segments,
            checkpoint = ?replay.checkpoint,
            corruptions = replay.corruptions,
            seconds = replay.duration.as_secs_f64(),
            "WAL replayed"
        );
        let wal = Arc::new(Wal::create(
            &wal_dir,
            replay.next_segment,
            opts.wal.clone(),
        )?);
        head.attach_wal(Arc::clone(&wal));
        let bg = spawn_background(&head, &wal, &opts)?;
        Ok(Db {
            dir,
            head,
            wal,
            replay,
            bg: Mutex::new(Some(bg)),
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
        if let Some(bg) = self.bg.lock().take() {
            let _ = bg.stop.send(());
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

/// How often the background thread checks retention.
const RETENTION_CHECK: Duration = Duration::from_secs(60);

/// Truncates samples older than the newest minus `retention` ms, with a checkpoint.
fn apply_retention(head: &Head, wal: &Wal, retention: i64) {
    let (Some(lo), Some(hi)) = (head.min_time(), head.max_time()) else {
        return;
    };
    let cutoff = hi.saturating_sub(retention);
    if lo >= cutoff {
        return;
    }
    let tr = head.truncate_before(cutoff);
    match wal::checkpoint::checkpoint(wal, head) {
        Ok(_) => tracing::info!(
            cutoff,
            chunks = tr.chunks_removed,
            series = tr.series_removed,
            "retention truncated the head"
        ),
        Err(e) => tracing::error!(error = %e, "checkpoint after retention failed"),
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
    let retention = opts.retention_ms;
    let handle = std::thread::Builder::new()
        .name("lookout-wal".into())
        .spawn(move || {
            let mut last_retention = std::time::Instant::now();
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(tick) {
                if interval_sync && let Err(e) = wal.sync() {
                    tracing::error!(error = %e, "WAL fsync failed");
                }
                if retention > 0 && last_retention.elapsed() >= RETENTION_CHECK {
                    last_retention = std::time::Instant::now();
                    apply_retention(&head, &wal, retention);
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

impl Db {
    /// Appends the WAL's self-metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let w = self.wal_stats();
        let r = &self.replay;
        let rows: [(&str, &str, &str, f64); 13] = [
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

impl Querier for Db {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        self.head.select(matchers, mint, maxt)
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        self.head.label_names(matchers, mint, maxt)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        self.head.label_values(name, matchers, mint, maxt)
    }
}
