//! The tailer: finds log files, reads them round-robin, appends their lines to the index and
//! commits with checkpoints.
//!
//! One thread does it all, so reading can never run ahead of indexing (backpressure is
//! implicit: when the index is slow, files are read slowly; nothing is buffered beyond one
//! read per file). Every `scan_interval`, and whenever `notify` reports a file created,
//! removed or renamed under the watched directories (writes only wake the loop), the file set
//! is refreshed:
//! - a path whose device+inode is tracked is the same file (rotation renamed it);
//! - a new path is matched against the checkpoint (device+inode+fingerprint, or fingerprint
//!   alone for a `.gz`: the compressed copy of a rotated file); a finished file or the
//!   compressed copy of a file being read or finished is ignored; an unfinished one resumes at
//!   its offset; an unknown one is read from the start (or, on a node seen for the first time
//!   with `start_at_end`, from its end, skipping rotated files);
//! - a tracked file whose path is gone (rotated away and compressed, pod deleted) is read to
//!   its end through the handle still held and released once idle for `release_after`.
//!
//! Bounds (issue #6): a writer faster than indexing makes the tailer fall behind, never
//! buffer: memory is one read buffer, one batch of lines and `max_line_size` per open file,
//! whatever the rate. What falls behind stays on disk, in files the tailer holds open; a
//! rotated file that the runtime deletes is still read through the held handle. Every file is
//! opened when a scan first lists it (empty live files included, so the file that follows a
//! rotation is held from its first byte), and while reading, the paths of open live files are
//! checked every `live_check`: a rotation seen there triggers a scan at once instead of at
//! the next `scan_interval`. Unread data is given up only by a limit, and its bytes are
//! counted in `lookout_log_bytes_lost_total{reason}` (see [`super::metrics::LossReason`]; the
//! code is in the `bounds` submodule):
//! - `released`: a file gone for `release_timeout` and still not read to its end;
//! - `backlog_limit`: deleted files held open hold more than `max_deleted_backlog` unread
//!   bytes (disk the kubelet meant to free); the ones deleted first are given up;
//! - `rotated_unread`: a listed file deleted before it could be opened (size at listing;
//!   confirmed at the next scan, which would find it again had it only been renamed);
//! - `deleted_while_down`: a file in the checkpoint that the first two scans after a start
//!   did not find (it was deleted while the agent was down): its size at the last checkpoint
//!   minus its committed offset, a lower bound (what was written after that checkpoint is
//!   not known). Counted once: the record keeps a mark.
//!
//! Not counted, because nothing about them is ever seen: files created, rotated and deleted
//! between two looks at their directory (with the kubelet, which rotates at most every 10 s
//! and keeps `containerLogMaxFiles`, that needs several rotations within one `live_check`),
//! and files created and deleted while the agent was down.
//!
//! Commits happen by count and time ([`CommitPolicy`]); each carries the checkpoint as its
//! payload, then the checkpoint file is written.

mod bounds;

use super::checkpoint::{Checkpoint, Record};
use super::decode::{Entry, Format};
use super::early::EarlyOpen;
use super::file::{Tail, identity, read_head, read_head_of};
use super::metrics::{DropReason, LogMetrics, LossReason};
use super::path::{self, FileKind};
use super::podmeta::PodLabels;
use bounds::{Seen, Vanished};
use lookout_store::Labels;
use lookout_store::logs::{CommitPolicy, IndexWriterHandle, LogIndex, LogLine, LogWriter};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How the tailer behaves.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Kubernetes pod logs root (`/var/log/pods`); `None`: no pod logs.
    pub pods_root: Option<PathBuf>,
    /// Host log globs (wildcards in the file name only).
    pub globs: Vec<String>,
    /// The checkpoint file (`<data>/logs/checkpoints`).
    pub checkpoint_path: PathBuf,
    /// The `node` label.
    pub node: String,
    /// On a node without a checkpoint, start live files at their end and skip rotated ones.
    pub start_at_end: bool,
    pub max_line_size: usize,
    pub commit: CommitPolicy,
    pub scan_interval: Duration,
    /// Bytes per read.
    pub read_chunk: usize,
    /// Bytes read from one file before moving to the next.
    pub file_budget: usize,
    /// An unterminated last line is emitted after the file was idle this long.
    pub idle_flush: Duration,
    /// A rotated or deleted file is released after being idle at its end this long.
    pub release_after: Duration,
    /// A deleted file is released after this long whatever its state (bytes left unread
    /// are counted in `lookout_log_bytes_lost_total{reason="released"}`).
    pub release_timeout: Duration,
    /// Unread bytes the tailer may keep pinned on disk in deleted files it holds open;
    /// above it, the files deleted first are released (bytes left unread are counted in
    /// `lookout_log_bytes_lost_total{reason="backlog_limit"}`). 0: no limit.
    pub max_deleted_backlog: u64,
    /// While reading, the paths of open live files are checked this often; a live path
    /// that names another file (rotation) makes the tailer scan at once, so that the new
    /// file is held open before it can be rotated and deleted in turn.
    pub live_check: Duration,
    /// Per-file limit in bytes per second; 0 = none.
    pub rate_limit_bytes: u64,
    /// Pod labels from the Kubernetes pod watch (see [`super::podmeta`]); `None`: none.
    pub pod_labels: Option<Arc<PodLabels>>,
    /// Handles of live files the watcher opened at their creation (see [`super::early`]).
    pub early: Option<Arc<EarlyOpen>>,
}

impl TailOptions {
    pub fn new(checkpoint_path: PathBuf) -> TailOptions {
        TailOptions {
            pods_root: None,
            globs: Vec::new(),
            checkpoint_path,
            node: "unknown".into(),
            start_at_end: false,
            max_line_size: 256 * 1024,
            commit: CommitPolicy::default(),
            scan_interval: Duration::from_secs(1),
            read_chunk: 256 * 1024,
            file_budget: 4 << 20,
            idle_flush: Duration::from_secs(5),
            release_after: Duration::from_secs(2),
            release_timeout: Duration::from_secs(300),
            live_check: Duration::from_millis(100),
            max_deleted_backlog: 1 << 30,
            rate_limit_bytes: 0,
            pod_labels: None,
            early: None,
        }
    }
}

struct Candidate {
    path: PathBuf,
    kind: FileKind,
    labels: Labels,
    format: Format,
}

/// The tailer's state; [`Tailer::run`] is its thread.
pub struct Tailer {
    opts: TailOptions,
    index: Arc<LogIndex>,
    writer: IndexWriterHandle,
    metrics: Arc<LogMetrics>,
    tails: Vec<Tail>,
    /// Checkpointed, unfinished files not found yet.
    restore: Vec<Record>,
    /// Finished files, kept while their directory exists (their `.gz` may still appear).
    done: Vec<Record>,
    ignored: HashSet<(PathBuf, u64)>,
    errored: HashSet<PathBuf>,
    seq: u64,
    fresh_node: bool,
    scanned_once: bool,
    /// The checkpoint's files not found after a start were counted as lost.
    restore_checked: bool,
    buf: Vec<u8>,
    entries: Vec<Entry>,
    /// The pod-label map generation last applied to open files.
    pod_gen: u64,
    last_live_check: Instant,
    /// Files listed by the last scan that were gone when it tried to open them.
    vanished: Vec<Vanished>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn container_dir(p: &Path) -> &Path {
    p.parent().unwrap_or(p)
}

/// Offset just after the last newline among the last 64 KiB of a file.
fn end_at_line(path: &Path, len: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::File::open(path) else {
        return len;
    };
    let from = len.saturating_sub(64 * 1024);
    let mut b = vec![0u8; (len - from) as usize];
    if f.read_exact_at(&mut b, from).is_err() {
        return len;
    }
    match memchr::memrchr(b'\n', &b) {
        Some(i) => from + i as u64 + 1,
        None => from,
    }
}

impl Tailer {
    /// Restores the checkpoint (the index payload or the checkpoint file, whichever is newer).
    pub fn new(opts: TailOptions, index: &Arc<LogIndex>, metrics: Arc<LogMetrics>) -> Tailer {
        let from_index = index
            .last_payload()
            .ok()
            .flatten()
            .and_then(|s| Checkpoint::from_json(&s));
        let from_file = Checkpoint::read_file(&opts.checkpoint_path);
        let fresh_node = from_index.is_none() && from_file.is_none();
        let cp = match (from_index, from_file) {
            (Some(a), Some(b)) => {
                if b.seq > a.seq {
                    b
                } else {
                    a
                }
            }
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => Checkpoint::default(),
        };
        let (done, restore): (Vec<Record>, Vec<Record>) =
            cp.files.into_iter().partition(|r| r.done);
        Tailer {
            buf: vec![0u8; opts.read_chunk.max(4096)],
            opts,
            index: index.clone(),
            writer: index.writer(),
            metrics,
            tails: Vec::new(),
            restore,
            done,
            ignored: HashSet::new(),
            errored: HashSet::new(),
            seq: cp.seq,
            fresh_node,
            scanned_once: false,
            restore_checked: false,
            entries: Vec::new(),
            pod_gen: u64::MAX,
            last_live_check: Instant::now(),
            vanished: Vec::new(),
        }
    }

    fn candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        if let Some(root) = &self.opts.pods_root
            && let Ok(pods) = std::fs::read_dir(root)
        {
            for pod in pods.filter_map(|e| e.ok()) {
                let Ok(conts) = std::fs::read_dir(pod.path()) else {
                    continue;
                };
                for c in conts.filter_map(|e| e.ok()) {
                    let Ok(files) = std::fs::read_dir(c.path()) else {
                        continue;
                    };
                    for f in files.filter_map(|e| e.ok()) {
                        let name = f.file_name();
                        let Some(kind) = name.to_str().and_then(path::classify) else {
                            continue;
                        };
                        let p = f.path();
                        let Some(labels) = path::pod_labels(root, &p, &self.opts.node) else {
                            continue;
                        };
                        out.push(Candidate {
                            path: p,
                            kind,
                            labels,
                            format: Format::Kube,
                        });
                    }
                }
            }
        }
        for g in &self.opts.globs {
            for p in path::glob(g) {
                let labels = path::host_labels(&p, &self.opts.node);
                out.push(Candidate {
                    path: p,
                    kind: FileKind::Live,
                    labels,
                    format: Format::Raw,
                });
            }
        }
        out
    }

    /// Refreshes the set of tracked files.
    pub fn scan(&mut self) {
        let now = Instant::now();
        let mut present: HashMap<(u64, u64), Seen> = HashMap::new();
        let first_scan = !self.scanned_once;
        self.scanned_once = true;
        let pending = std::mem::take(&mut self.vanished);
        // Taken before listing: a file created before the listing is either listed or gone.
        let early = self
            .opts
            .early
            .as_ref()
            .map(|e| e.take())
            .unwrap_or_default();
        for c in self.candidates() {
            let Ok(meta) = std::fs::metadata(&c.path) else {
                continue;
            };
            present.insert((meta.dev_(), meta.ino_()), Seen::of(&meta));
            self.track(c, &meta, now, first_scan);
        }
        self.settle_vanished(pending, &present);
        self.adopt(early, &present, now);
        if !first_scan && !self.restore_checked {
            // The second scan: a checkpointed file neither scan found (nor a `.gz` of it) was
            // deleted while the agent was down. Not the first: a `.gz` being written then
            // could not be matched yet.
            self.restore_checked = true;
            self.count_deleted_while_down(&present);
        }
        for t in &mut self.tails {
            let here = std::fs::metadata(&t.path)
                .is_ok_and(|m| (m.dev_(), m.ino_()) == (t.id.dev, t.id.ino));
            let gone =
                !here && (t.kind == FileKind::Gz || !present.contains_key(&(t.id.dev, t.id.ino)));
            if gone && t.gone_since.is_none() {
                t.gone_since = Some(now);
            }
        }
        self.refresh_pod_labels();
        self.ignored.retain(|(p, _)| p.exists());
        self.errored.retain(|p| p.exists());
        self.metrics
            .files_open
            .store(self.tails.len() as u64, Relaxed);
    }

    /// Starts tracking a listed file, or updates the path of a tracked one (`meta`: its
    /// metadata at listing).
    fn track(&mut self, c: Candidate, meta: &std::fs::Metadata, now: Instant, first_scan: bool) {
        let key = (meta.dev_(), meta.ino_());
        if let Some(t) = self
            .tails
            .iter_mut()
            .find(|t| (t.id.dev, t.id.ino) == key && t.kind != FileKind::Gz)
        {
            if t.kind != FileKind::Gz {
                t.path = c.path.clone();
                t.kind = c.kind;
                t.gone_since = None;
            }
            return;
        }
        if self
            .tails
            .iter()
            .any(|t| t.kind == FileKind::Gz && (t.id.dev, t.id.ino) == key)
        {
            return;
        }
        // An empty live file is opened too: right after a rotation the new live file is
        // usually empty, and holding it from then on is what keeps a quick rotation and
        // deletion of it from losing data. (Its fingerprint is taken once data arrives.)
        let may_be_empty = c.kind == FileKind::Live;
        if self.ignored.contains(&(c.path.clone(), key.1)) || (meta.len() == 0 && !may_be_empty) {
            return;
        }
        let head = match read_head(&c.path, c.kind) {
            Ok(h) if !h.is_empty() || may_be_empty => h,
            Ok(_) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.note_vanished(&c, meta, None, first_scan);
                return;
            }
            Err(e) => {
                if self.errored.insert(c.path.clone()) {
                    self.metrics.open_errors.fetch_add(1, Relaxed);
                    tracing::warn!(path = %c.path.display(), error = %e, "cannot read log file");
                }
                return;
            }
        };
        let plain_match =
            |id: &super::checkpoint::FileId| (id.dev, id.ino) == key && id.fp_matches(&head);
        let (id, offset) = if c.kind == FileKind::Gz {
            if self.tails.iter().any(|t| t.id.fp_matches(&head))
                || self.done.iter().any(|r| r.id.fp_matches(&head))
            {
                self.ignored.insert((c.path.clone(), key.1));
                return;
            }
            match self.restore.iter().position(|r| r.id.fp_matches(&head)) {
                Some(i) => {
                    let r = self.restore.swap_remove(i);
                    (r.id, r.offset)
                }
                None if self.fresh_node && first_scan && self.opts.start_at_end => {
                    self.skip(&c.path, identity(meta, &head), meta.len());
                    return;
                }
                None => (identity(meta, &head), 0),
            }
        } else {
            if self.done.iter().any(|r| plain_match(&r.id)) {
                self.ignored.insert((c.path.clone(), key.1));
                return;
            }
            match self.restore.iter().position(|r| plain_match(&r.id)) {
                Some(i) => {
                    let r = self.restore.swap_remove(i);
                    (r.id, r.offset)
                }
                None if self.fresh_node && first_scan && self.opts.start_at_end => {
                    if c.kind == FileKind::Rotated {
                        self.skip(&c.path, identity(meta, &head), meta.len());
                        return;
                    }
                    (identity(meta, &head), end_at_line(&c.path, meta.len()))
                }
                None => (identity(meta, &head), 0),
            }
        };
        match std::fs::File::open(&c.path).and_then(|f| {
            Tail::with_file(
                f,
                &c.path,
                c.kind,
                id,
                offset,
                c.labels.clone(),
                c.format,
                self.opts.max_line_size,
                self.opts.rate_limit_bytes,
            )
        }) {
            Ok(mut t) => {
                self.attach_pod_labels(&mut t, now);
                self.metrics.files_opened.fetch_add(1, Relaxed);
                self.errored.remove(&c.path);
                self.tails.push(t);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.note_vanished(&c, meta, Some(offset), first_scan);
            }
            Err(e) => {
                if self.errored.insert(c.path.clone()) {
                    self.metrics.open_errors.fetch_add(1, Relaxed);
                    tracing::warn!(path = %c.path.display(), error = %e, "cannot open log file");
                }
            }
        }
    }

    /// Gives a newly opened pod file its pod's labels; when the pod is not known yet and a
    /// discovery feeds the map, the file waits (unread) for them until the deadline.
    fn attach_pod_labels(&self, t: &mut Tail, now: Instant) {
        let (Some(map), Some(uid)) = (&self.opts.pod_labels, t.pod_uid()) else {
            return;
        };
        match map.get(uid) {
            Some(l) => t.set_pod_labels(l),
            None if map.is_active() => t.meta_deadline = Some(now + map.options().wait),
            None => {
                self.metrics.pod_labels_missing.fetch_add(1, Relaxed);
            }
        }
    }

    /// Whether a file waiting for its pod's labels may be read now (labels found, deadline
    /// passed, or no discovery feeding the map any more).
    fn pod_labels_ready(&mut self, ti: usize) -> bool {
        let t = &mut self.tails[ti];
        let Some(deadline) = t.meta_deadline else {
            return true;
        };
        let (Some(map), Some(uid)) = (&self.opts.pod_labels, t.pod_uid()) else {
            t.meta_deadline = None;
            return true;
        };
        if let Some(l) = map.get(uid) {
            t.set_pod_labels(l);
        } else if Instant::now() >= deadline || !map.is_active() {
            self.metrics.pod_labels_missing.fetch_add(1, Relaxed);
            tracing::debug!(path = %t.path.display(), "pod labels unknown; reading without them");
        } else {
            return false;
        }
        t.meta_deadline = None;
        true
    }

    /// Updates open files whose pod's labels changed (labels of pods gone from the map are
    /// kept: lines of deleted pods keep their metadata).
    fn refresh_pod_labels(&mut self) {
        let Some(map) = &self.opts.pod_labels else {
            return;
        };
        let gen_now = map.generation();
        if gen_now == self.pod_gen {
            return;
        }
        self.pod_gen = gen_now;
        for t in &mut self.tails {
            if t.meta_deadline.is_some() {
                continue;
            }
            let Some(l) = t.pod_uid().and_then(|u| map.get(u)) else {
                continue;
            };
            if t.pod_labels.as_ref().is_none_or(|cur| **cur != *l) {
                t.set_pod_labels(l);
            }
        }
    }

    /// Counts the unread bytes of checkpointed files that are gone (see the module docs).
    fn count_deleted_while_down(&mut self, present: &HashMap<(u64, u64), Seen>) {
        for r in &mut self.restore {
            if r.lost_counted || present.contains_key(&(r.id.dev, r.id.ino)) {
                continue;
            }
            r.lost_counted = true;
            let unread = r.size.saturating_sub(r.offset);
            if unread > 0 {
                tracing::warn!(path = %r.path.display(), bytes = unread, "log file deleted while the agent was down, before it was read to the end");
                self.metrics.lost(LossReason::DeletedWhileDown, unread);
            }
        }
    }

    /// Marks a file as finished without reading it (start at end on a fresh node).
    fn skip(&mut self, path: &Path, id: super::checkpoint::FileId, len: u64) {
        self.ignored.insert((path.to_path_buf(), id.ino));
        self.done.push(Record {
            id,
            path: path.to_path_buf(),
            offset: len,
            done: true,
            size: 0,
            lost_counted: false,
        });
    }

    fn append(&mut self, ti: usize) {
        if self.entries.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.entries);
        let t = &mut self.tails[ti];
        let mut i = 0;
        while i < entries.len() {
            let s = entries[i].stream;
            let j = entries[i..]
                .iter()
                .position(|e| e.stream != s)
                .map_or(entries.len(), |k| i + k);
            let lines: Vec<LogLine<'_>> = entries[i..j]
                .iter()
                .map(|e| LogLine {
                    ts_ns: e.ts_ns,
                    line: &e.line,
                    flags: e.flags,
                })
                .collect();
            let labels = t.labels(s).clone();
            if let Err(e) = self.writer.append(&labels, &lines) {
                self.metrics
                    .dropped(DropReason::IndexError, lines.len() as u64);
                tracing::error!(error = %e, "log index append failed");
            }
            i = j;
        }
        self.entries = entries;
        self.entries.clear();
    }

    /// One pass over every file; returns the bytes read.
    pub fn pump(&mut self) -> usize {
        let mut total = 0;
        let now = now_ns();
        let mut ti = 0;
        while ti < self.tails.len() {
            // A read round over many files can be long: the limits and the live paths are
            // looked at every `live_check` within it. (Releasing swaps another file into
            // slot `ti`; it is read in its place.)
            if self.last_live_check.elapsed() >= self.opts.live_check {
                self.last_live_check = Instant::now();
                self.check_live();
                self.release_matching(true);
                if ti >= self.tails.len() {
                    break;
                }
            }
            if !self.pod_labels_ready(ti) {
                ti += 1;
                continue;
            }
            let mut budget = self.opts.file_budget;
            while budget > 0 {
                let r = {
                    let t = &mut self.tails[ti];
                    t.read_some(&mut self.buf, now, &self.metrics, &mut self.entries)
                };
                self.append(ti);
                match r {
                    Ok(0) => break,
                    Ok(n) => {
                        total += n;
                        budget = budget.saturating_sub(n);
                    }
                    Err(e) => {
                        self.metrics.read_errors.fetch_add(1, Relaxed);
                        tracing::warn!(path = %self.tails[ti].path.display(), error = %e, "log read failed");
                        break;
                    }
                }
                if self.writer.should_commit(&self.opts.commit) {
                    self.commit();
                }
            }
            let t = &mut self.tails[ti];
            if t.at_eof && t.holds_partial() && t.last_data.elapsed() >= self.opts.idle_flush {
                t.flush(now, &self.metrics, &mut self.entries);
                self.append(ti);
            }
            ti += 1;
        }
        total
    }

    /// Releases finished files: rotated or deleted, read to the end and idle; and files
    /// given up by a limit (`release_timeout`, `max_deleted_backlog`).
    pub fn release(&mut self) {
        self.release_matching(false);
    }

    /// `limits_only`: release only the files given up by a limit (in the middle of a read
    /// round, where a file's end-of-file state may be stale).
    fn release_matching(&mut self, limits_only: bool) {
        let now = now_ns();
        let over = self.over_backlog();
        let mut i = 0;
        while i < self.tails.len() {
            let t = &self.tails[i];
            let finished_gz = t.kind == FileKind::Gz && t.at_eof;
            let rotated_idle = t.kind == FileKind::Rotated
                && t.at_eof
                && t.last_data.elapsed() >= self.opts.release_after;
            let gone_idle = t.gone_since.is_some()
                && t.at_eof
                && t.last_data.elapsed() >= self.opts.release_after;
            let timed_out = t
                .gone_since
                .is_some_and(|g| g.elapsed() >= self.opts.release_timeout);
            let over_backlog = over.contains(&(t.id.dev, t.id.ino));
            // `at_eof` is from the file's last read, which may be a long read round ago: a
            // rotated or deleted file is finished only if nothing was written since (its
            // writer moved to the next file, so then nothing will be).
            let finished =
                !limits_only && (finished_gz || ((rotated_idle || gone_idle) && t.lag() == 0));
            if !(finished || timed_out || over_backlog) {
                i += 1;
                continue;
            }
            let t = &mut self.tails[i];
            if timed_out || over_backlog {
                let unread = t.unread_bytes();
                if unread > 0 {
                    let reason = if timed_out {
                        LossReason::Released
                    } else {
                        LossReason::BacklogLimit
                    };
                    tracing::warn!(path = %t.path.display(), bytes = unread, reason = reason.as_str(), "deleted log file given up before it was read to the end");
                    self.metrics.lost(reason, unread);
                }
            }
            t.flush(now, &self.metrics, &mut self.entries);
            self.append(i);
            let t = self.tails.swap_remove(i);
            self.metrics.files_released.fetch_add(1, Relaxed);
            self.done.push(Record {
                id: t.id,
                path: t.path.clone(),
                offset: t.safe_offset(),
                done: true,
                size: 0,
                lost_counted: false,
            });
        }
        self.metrics
            .files_open
            .store(self.tails.len() as u64, Relaxed);
    }

    fn checkpoint(&mut self) -> Checkpoint {
        self.seq += 1;
        let exists = |r: &Record| container_dir(&r.path).exists();
        self.done.retain(exists);
        if self.done.len() > 10_000 {
            let cut = self.done.len() - 10_000;
            self.done.drain(..cut);
        }
        self.restore.retain(exists);
        // A file with nothing read yet and no fingerprint (an empty live file) has nothing to
        // resume and could not be matched after a restart: it is not recorded.
        let mut files: Vec<Record> = self
            .tails
            .iter()
            .filter(|t| t.id.fp_len > 0 || t.safe_offset() > 0)
            .map(|t| Record {
                id: t.id,
                path: t.path.clone(),
                offset: t.safe_offset(),
                done: false,
                size: t.known_size(),
                lost_counted: false,
            })
            .collect();
        files.extend(self.restore.iter().cloned());
        files.extend(self.done.iter().cloned());
        Checkpoint {
            seq: self.seq,
            files,
        }
    }

    /// Commits everything appended, with the checkpoint, then writes the checkpoint file.
    pub fn commit(&mut self) {
        let cp = self.checkpoint();
        match self.writer.commit(&cp.to_json()) {
            Ok(()) => {
                self.metrics.commits.fetch_add(1, Relaxed);
                match cp.write_file(&self.opts.checkpoint_path) {
                    Ok(()) => self.metrics.checkpoint_writes.fetch_add(1, Relaxed),
                    Err(e) => {
                        tracing::warn!(error = %e, "writing the log checkpoint file failed");
                        self.metrics.checkpoint_errors.fetch_add(1, Relaxed)
                    }
                };
            }
            Err(e) => {
                self.metrics.commit_errors.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "log index commit failed");
            }
        }
        let lag: u64 = self.tails.iter().map(|t| t.lag()).sum();
        self.metrics.lag_bytes.store(lag, Relaxed);
    }

    /// Runs until `stop`; `wake` is signalled by file-system events, and `rescan` is set by
    /// those that may change the file set (creations, removals, renames): only then, and
    /// every `scan_interval`, are the directories scanned again.
    pub fn run(mut self, stop: Arc<AtomicBool>, wake: mpsc::Receiver<()>, rescan: Arc<AtomicBool>) {
        let mut last_scan = Instant::now() - self.opts.scan_interval;
        let mut last_retention = Instant::now();
        while !stop.load(Relaxed) {
            if last_retention.elapsed() >= Duration::from_secs(60) {
                last_retention = Instant::now();
                match self.index.apply_retention(now_ns()) {
                    Ok(r) if r.partitions_removed > 0 => {
                        tracing::info!(
                            partitions = r.partitions_removed,
                            bytes = r.bytes_removed,
                            "log retention removed partitions"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "log retention failed"),
                }
            }
            if rescan.swap(false, Relaxed) || last_scan.elapsed() >= self.opts.scan_interval {
                self.scan();
                last_scan = Instant::now();
            }
            let n = self.pump();
            self.release();
            if self.writer.should_commit(&self.opts.commit) {
                self.commit();
            }
            if n == 0 {
                match wake.recv_timeout(Duration::from_millis(100)) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(Duration::from_millis(100))
                    }
                }
            }
        }
        self.commit();
    }
}

trait MetaExt {
    fn dev_(&self) -> u64;
    fn ino_(&self) -> u64;
}

impl MetaExt for std::fs::Metadata {
    fn dev_(&self) -> u64 {
        std::os::unix::fs::MetadataExt::dev(self)
    }
    fn ino_(&self) -> u64 {
        std::os::unix::fs::MetadataExt::ino(self)
    }
}
