//! Container and host log tailing into the log index.
//!
//! [`LogsRuntime::start`] opens the index under `<data>/logs/index`, restores the checkpoint
//! and runs the [`tailer::Tailer`] on its own thread, woken by `notify` (inotify) events under
//! the pods root and the glob directories, and polling every 100 ms regardless (the fallback
//! when inotify is unavailable or out of watches). [`LogsRuntime::shutdown`] commits what was
//! read, with its checkpoint, before returning. The watcher's thread also opens each new live
//! pod log file on its create event ([`early`]), so that a file rotated and deleted before the
//! tailer looked is still read.
//!
//! Modules: [`path`] (what paths say), [`decode`] (CRI / Docker / raw lines), [`file`] (one
//! tailed file), [`checkpoint`], [`early`] (handles held from creation), [`tailer`] (the loop
//! and its bounds), [`metrics`] (including the bytes lost by a limit).

pub mod checkpoint;
pub mod decode;
pub mod early;
pub mod file;
pub mod metrics;
pub mod path;
pub mod podmeta;
pub mod tailer;

pub use metrics::LogMetrics;
pub use podmeta::{PodLabelOptions, PodLabels};
pub use tailer::{TailOptions, Tailer};

use lookout_store::logs::{LogIndex, LogIndexOptions, Result};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;

/// A running tailer and the index it writes.
pub struct LogsRuntime {
    pub index: Arc<LogIndex>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Whether a file-system event can change the set of files (a file created, removed or
/// renamed): only those make the tailer rescan its directories. Writes to a file it already
/// tails only wake it (a rescan per write would cost a `readdir` + `stat` of every pod
/// directory per event, which at tens of MB/s was most of the tailer's CPU).
fn is_structural(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    match kind {
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Metadata(_)) => false,
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(_) | EventKind::Any | EventKind::Other => true,
    }
}

fn watch(
    dirs: &[&Path],
    tx: mpsc::SyncSender<()>,
    rescan: Arc<AtomicBool>,
    early: Option<Arc<early::EarlyOpen>>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let (Ok(e), Some(h)) = (&res, &early) {
            h.on_event(e);
        }
        // An error (e.g. the inotify queue overflowed) may hide creations: rescan.
        let structural = res.as_ref().map_or(true, |e| is_structural(&e.kind));
        if structural {
            rescan.store(true, Relaxed);
        }
        let _ = tx.try_send(());
    })
    .ok()?;
    for d in dirs {
        if let Err(e) = w.watch(d, notify::RecursiveMode::Recursive) {
            tracing::info!(dir = %d.display(), error = %e, "cannot watch log directory; polling");
        }
    }
    Some(w)
}

impl LogsRuntime {
    /// Opens the index and starts tailing.
    pub fn start(
        index_opts: LogIndexOptions,
        tail: TailOptions,
        metrics: Arc<LogMetrics>,
    ) -> Result<LogsRuntime> {
        let index = LogIndex::open(index_opts)?;
        let (tx, rx) = mpsc::sync_channel(1);
        let mut dirs: Vec<&Path> = Vec::new();
        if let Some(r) = &tail.pods_root {
            dirs.push(r);
        }
        let glob_dirs: Vec<std::path::PathBuf> = tail
            .globs
            .iter()
            .filter_map(|g| Path::new(g).parent().map(Path::to_path_buf))
            .collect();
        dirs.extend(glob_dirs.iter().map(|d| d.as_path()));
        let rescan = Arc::new(AtomicBool::new(true));
        let early = tail
            .pods_root
            .as_ref()
            .map(|r| Arc::new(early::EarlyOpen::new(r.clone(), 1024)));
        let watcher = watch(&dirs, tx, rescan.clone(), early.clone());
        let mut tail = tail;
        tail.early = early;
        let stop = Arc::new(AtomicBool::new(false));
        let tailer = Tailer::new(tail, &index, metrics);
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lookout-logs".into())
            .spawn(move || tailer.run(s, rx, rescan))
            .map_err(|e| lookout_store::logs::LogError::Io {
                path: "lookout-logs thread".into(),
                source: e,
            })?;
        Ok(LogsRuntime {
            index,
            stop,
            thread: Some(thread),
            _watcher: watcher,
        })
    }

    /// Stops tailing after a final commit (lines read so far and their checkpoint).
    pub fn shutdown(mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.index.wait_sealing();
    }
}

/// The node name for the `node` label: configured, else `$NODE_NAME`, else the host name.
pub fn node_name(configured: Option<&str>) -> String {
    if let Some(n) = configured {
        return n.to_string();
    }
    if let Ok(n) = std::env::var("NODE_NAME")
        && !n.is_empty()
    {
        return n;
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The pod-label map for these settings (fed by Kubernetes discovery when it runs).
pub fn pod_labels_from_config(cfg: &lookout_config::LogsConfig) -> Arc<PodLabels> {
    PodLabels::new(PodLabelOptions {
        include: cfg.pod_labels_include.clone(),
        wait: cfg.pod_labels_wait,
        keep_deleted: cfg.pod_labels_keep_deleted,
    })
}

/// Starts tailing as configured, when enabled; an index that cannot be opened is logged and
/// tailing stays off (the rest of the agent runs). `pod_labels`: the map Kubernetes discovery
/// feeds, if any.
pub fn start_from_config(
    cfg: &lookout_config::LogsConfig,
    data_dir: &Path,
    metrics: Arc<LogMetrics>,
    pod_labels: Option<Arc<PodLabels>>,
) -> Option<LogsRuntime> {
    if !cfg.is_enabled() {
        return None;
    }
    let logs_dir = data_dir.join("logs");
    let mut io = LogIndexOptions::new(logs_dir.join("index"));
    io.partition_width = cfg.partition;
    io.writer_memory_bytes = cfg.writer_memory as usize;
    io.max_merge_docs = u32::try_from(cfg.max_merge_lines).unwrap_or(u32::MAX);
    io.retention_time = cfg.retention_time;
    io.retention_size = cfg.retention_size;
    let mut t = TailOptions::new(logs_dir.join("checkpoints"));
    t.pods_root = cfg.pods_root.is_dir().then(|| cfg.pods_root.clone());
    t.globs = cfg.paths.clone();
    t.node = node_name(cfg.node.as_deref());
    t.start_at_end = cfg.start_at_end;
    t.max_line_size = cfg.max_line_size as usize;
    t.rate_limit_bytes = cfg.rate_limit;
    t.release_timeout = cfg.release_timeout;
    t.max_deleted_backlog = cfg.max_deleted_backlog;
    t.pod_labels = pod_labels;
    t.commit = lookout_store::logs::CommitPolicy {
        max_lines: cfg.commit_max_lines,
        max_interval: cfg.commit_interval,
    };
    match LogsRuntime::start(io, t, metrics) {
        Ok(rt) => {
            tracing::info!(pods_root = %cfg.pods_root.display(), paths = cfg.paths.len(), "log tailing started");
            Some(rt)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot open the log index; log tailing is off");
            None
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod pod_label_tests;

#[cfg(test)]
mod bounds_tests;
