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
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            head: HeadOptions::default(),
            wal: WalOptions::default(),
            checkpoint_segments: DEFAULT_CHECKPOINT_SEGMENTS,
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
