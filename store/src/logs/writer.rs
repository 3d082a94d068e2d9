//! The log index as a whole: its partitions, the one writer, commits and retention.
//!
//! [`LogIndex`] owns the partitions (newest is the *active* one, written by the single
//! [`IndexWriterHandle`]); searches take a snapshot of the list. A commit makes every line
//! appended since the previous commit durable (tantivy fsyncs segment files and writes
//! `meta.json` atomically) together with an opaque payload — the tailer's checkpoint — so
//! "these lines are indexed" and "the offsets after them" can never disagree.
//!
//! When a commit happens after the active window ended, the partition is sealed (its small
//! segments are merged in the background, under the merge cap of [`super::merge`]) and a new partition starts with an empty commit
//! carrying the same payload. Retention removes sealed partitions only.
//!
//! Cost: `append` builds one tantivy document per line (tantivy copies the text); `commit`
//! costs a segment flush plus fsyncs, so callers batch (see [`CommitPolicy`]).
//!
//! Memory: one indexing thread with `writer_memory_bytes` of arena (a segment is flushed when
//! it is full; flushing needs about as much again), tantivy's bounded document queue (when it
//! is full `append` blocks, which is the tailer's backpressure), and one merge at a time of at
//! most `max_merge_docs` lines. The segments a merge reads are mmapped: those pages count in
//! RSS while the merge runs (clean page cache the kernel can reclaim), which the cap bounds.

use super::LogLine;
use super::error::{LogError, Result};
use super::level;
use super::merge::{TieredMergePolicy, pack_for_seal};
use super::partition::{self, Partition};
use super::schema::encode_stream;
use crate::labels::Labels;
use parking_lot::{Mutex, RwLock};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tantivy::indexer::{IndexWriterOptions, UserOperation};
use tantivy::{IndexWriter, TantivyDocument};

/// Merges run one at a time: each merge maps its input segments and builds one output, so
/// concurrent merges multiply the memory they touch (tantivy's default is four) and gain
/// nothing on a node where the agent should use about one core.
const MERGE_THREADS: usize = 1;

/// Lines per message to the indexing thread (tantivy keeps up to four inline per message).
const DOCS_PER_SEND: usize = 4;

/// A send that took this long found tantivy's queue full (taking a free slot costs well
/// under a microsecond; a full queue makes the sender spin and yield until one frees).
const QUEUE_FULL_WAIT: Duration = Duration::from_micros(4);

/// Consecutive slow sends that mean the queue is full (one alone may be a preemption).
const QUEUE_FULL_SENDS: u32 = 3;

/// How long the appender pauses once the queue is full. Without it, appender and indexer
/// hand over one slot at a time and the appender spins (and the indexer wakes it) for every
/// message: on two cores that was 25-35 % more CPU per line than on one. 250 µs is about 25
/// messages of indexing; the queue holds 10,000, so the indexer never runs dry.
const QUEUE_FULL_PAUSE: Duration = Duration::from_micros(250);

/// How the index is laid out and bounded.
#[derive(Debug, Clone)]
pub struct LogIndexOptions {
    /// `logs/index` under the data directory.
    pub dir: PathBuf,
    /// Width of a partition's ingest window.
    pub partition_width: Duration,
    /// Indexing memory budget of the writer (tantivy's minimum is 15 MB).
    pub writer_memory_bytes: usize,
    /// Sealed partitions whose newest line is older than this are removed; zero = never.
    pub retention_time: Duration,
    /// Oldest sealed partitions are removed while the index is larger; zero = no limit.
    pub retention_size: u64,
    /// Largest segment a merge may produce, in lines (see [`super::merge`]): bounds the
    /// memory one merge maps and how often a line is rewritten.
    pub max_merge_docs: u32,
}

impl LogIndexOptions {
    pub fn new(dir: PathBuf) -> Self {
        LogIndexOptions {
            dir,
            partition_width: Duration::from_secs(6 * 3600),
            writer_memory_bytes: 32 << 20,
            retention_time: Duration::from_secs(7 * 24 * 3600),
            retention_size: 0,
            max_merge_docs: 1_000_000,
        }
    }
}

/// When to commit: after this many lines or this much time, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct CommitPolicy {
    pub max_lines: u64,
    pub max_interval: Duration,
}

impl Default for CommitPolicy {
    fn default() -> Self {
        CommitPolicy {
            max_lines: 100_000,
            max_interval: Duration::from_secs(1),
        }
    }
}

struct Active {
    part: Arc<Partition>,
    writer: IndexWriter,
    pending: u64,
    pending_min: i64,
    pending_max: i64,
    last_commit: Instant,
}

/// The log index: partitions plus the writer of the newest one.
pub struct LogIndex {
    opts: LogIndexOptions,
    partitions: RwLock<Vec<Arc<Partition>>>,
    active: Mutex<Option<Active>>,
    sealing: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// What retention removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionStats {
    pub partitions_removed: u64,
    pub bytes_removed: u64,
}

/// Size and shape of the index, for self-metrics and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    pub partitions: u64,
    pub segments: u64,
    pub lines: u64,
    pub disk_bytes: u64,
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Renames a partition this build cannot read to `<start>.unsupported` (ignored by
/// [`partition::list`], kept for the operator to delete): its lines are no longer searchable,
/// and the tailer resumes from its checkpoint file, so nothing is read twice.
fn set_aside(dir: &std::path::Path, reason: &str) -> Result<()> {
    let mut to = dir.as_os_str().to_owned();
    to.push(".unsupported");
    tracing::warn!(
        partition = %dir.display(),
        reason,
        "log partition written in an unsupported format; set aside, not searched"
    );
    std::fs::rename(dir, &to).map_err(|e| LogError::io(dir, e))
}

impl LogIndex {
    /// Opens every partition under `opts.dir` and a writer on the newest (creating one when
    /// there is none).
    pub fn open(opts: LogIndexOptions) -> Result<Arc<LogIndex>> {
        std::fs::create_dir_all(&opts.dir).map_err(|e| LogError::io(&opts.dir, e))?;
        let mut parts = Vec::new();
        for start in partition::list(&opts.dir)? {
            match Partition::open(&opts.dir, start) {
                Ok(p) => parts.push(Arc::new(p)),
                Err(LogError::Format { path, reason }) => set_aside(&path, &reason)?,
                Err(e) => return Err(e),
            }
        }
        let width = opts.partition_width.as_secs().max(1) as i64;
        let newest = match parts.last() {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(Partition::open(
                    &opts.dir,
                    partition::window_start(now_s(), width),
                )?);
                parts.push(p.clone());
                p
            }
        };
        let active = Self::activate(&opts, newest)?;
        Ok(Arc::new(LogIndex {
            opts,
            partitions: RwLock::new(parts),
            active: Mutex::new(Some(active)),
            sealing: Mutex::new(Vec::new()),
        }))
    }

    fn activate(opts: &LogIndexOptions, part: Arc<Partition>) -> Result<Active> {
        let options = IndexWriterOptions::builder()
            .num_worker_threads(1)
            .num_merge_threads(MERGE_THREADS)
            .memory_budget_per_thread(opts.writer_memory_bytes.max(15 << 20))
            .build();
        let writer: IndexWriter = part
            .index
            .writer_with_options(options)
            .map_err(|e| LogError::index(&part.dir, e))?;
        writer.set_merge_policy(Box::new(TieredMergePolicy::new(opts.max_merge_docs)));
        Ok(Active {
            part,
            writer,
            pending: 0,
            pending_min: i64::MAX,
            pending_max: i64::MIN,
            last_commit: Instant::now(),
        })
    }

    pub fn options(&self) -> &LogIndexOptions {
        &self.opts
    }

    /// The payload of the newest commit that has one (the tailer's checkpoint).
    pub fn last_payload(&self) -> Result<Option<String>> {
        for p in self.partitions.read().iter().rev() {
            if let Some(s) = p.payload()? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// A snapshot of the partitions, oldest first.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().clone()
    }

    /// A handle for appending and committing.
    pub fn writer(self: &Arc<Self>) -> IndexWriterHandle {
        IndexWriterHandle {
            index: self.clone(),
            stream_key: String::new(),
            stream_labels: Labels::default(),
            stream_id: None,
            slow_sends: 0,
        }
    }

    /// Size and shape of the index.
    pub fn index_stats(&self) -> IndexStats {
        let parts = self.partitions();
        let mut s = IndexStats {
            partitions: parts.len() as u64,
            ..IndexStats::default()
        };
        for p in &parts {
            s.segments += p.num_segments() as u64;
            s.lines += p.num_docs();
            s.disk_bytes += p.disk_bytes();
        }
        s
    }

    /// Removes sealed partitions beyond the retention limits (`now_ns`: current time).
    pub fn apply_retention(&self, now_ns: i64) -> Result<RetentionStats> {
        let mut stats = RetentionStats::default();
        let active_start = self.active.lock().as_ref().map(|a| a.part.start);
        let mut doomed: Vec<Arc<Partition>> = Vec::new();
        {
            let mut parts = self.partitions.write();
            let rt = self.opts.retention_time.as_nanos().min(i64::MAX as u128) as i64;
            if rt > 0 {
                let cutoff = now_ns.saturating_sub(rt);
                parts.retain(|p| {
                    let old = Some(p.start) != active_start
                        && p.range().is_none_or(|(_, max)| max < cutoff);
                    if old {
                        doomed.push(p.clone());
                    }
                    !old
                });
            }
            if self.opts.retention_size > 0 {
                let mut total: u64 = parts.iter().map(|p| p.disk_bytes()).sum();
                while total > self.opts.retention_size && parts.len() > 1 {
                    if Some(parts[0].start) == active_start {
                        break;
                    }
                    let p = parts.remove(0);
                    total = total.saturating_sub(p.disk_bytes());
                    doomed.push(p);
                }
            }
        }
        for p in doomed {
            let bytes = p.disk_bytes();
            let _g = p.reload_lock.lock();
            std::fs::remove_dir_all(&p.dir).map_err(|e| LogError::io(&p.dir, e))?;
            stats.partitions_removed += 1;
            stats.bytes_removed += bytes;
        }
        Ok(stats)
    }

    /// Waits for background merges of sealed partitions (used at shutdown and in tests).
    pub fn wait_sealing(&self) {
        let hs: Vec<_> = std::mem::take(&mut *self.sealing.lock());
        for h in hs {
            let _ = h.join();
        }
    }

    /// Waits for the active partition's background merges to finish (benchmarks and tests:
    /// a search then runs on a settled index). Uncommitted lines are not affected.
    pub fn wait_merges(&self) -> Result<()> {
        let mut guard = self.active.lock();
        let Some(a) = guard.take() else {
            return Ok(());
        };
        let Active {
            part,
            writer,
            pending,
            pending_min,
            pending_max,
            last_commit,
        } = a;
        if pending > 0 {
            // Merging threads can only be awaited by consuming the writer, which would drop
            // the uncommitted lines: put it back untouched.
            *guard = Some(Active {
                part,
                writer,
                pending,
                pending_min,
                pending_max,
                last_commit,
            });
            return Ok(());
        }
        writer
            .wait_merging_threads()
            .map_err(|e| LogError::index(&part.dir, e))?;
        part.reload()?;
        *guard = Some(Self::activate(&self.opts, part)?);
        Ok(())
    }

    fn seal(&self, old: Active) {
        let cap = self.opts.max_merge_docs;
        let h = std::thread::Builder::new()
            .name("lookout-log-seal".into())
            .spawn(move || {
                let Active {
                    part, mut writer, ..
                } = old;
                // Let the policy's merges finish first, then pack what is left under the cap.
                writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
                if let Ok(metas) = part.index.searchable_segment_metas() {
                    let segs: Vec<_> = metas.iter().map(|m| (m.id(), m.num_docs())).collect();
                    for group in pack_for_seal(&segs, cap) {
                        let _ = writer.merge(&group).wait();
                    }
                }
                let _ = writer.wait_merging_threads();
                let _ = part.reload();
            });
        if let Ok(h) = h {
            self.sealing.lock().push(h);
        }
    }
}

/// The single writer of a [`LogIndex`]; see [`super::LogWriter`].
pub struct IndexWriterHandle {
    index: Arc<LogIndex>,
    stream_key: String,
    stream_labels: Labels,
    /// `(partition start, id)` of the current stream in the active partition's dictionary.
    stream_id: Option<(i64, u32)>,
    /// Consecutive sends that waited for room in tantivy's queue.
    slow_sends: u32,
}

impl IndexWriterHandle {
    /// Lines appended since the last commit.
    pub fn pending(&self) -> u64 {
        self.index.active.lock().as_ref().map_or(0, |a| a.pending)
    }

    /// Whether `policy` says it is time to commit.
    pub fn should_commit(&self, policy: &CommitPolicy) -> bool {
        self.index.active.lock().as_ref().is_some_and(|a| {
            a.pending >= policy.max_lines
                || (a.pending > 0 && a.last_commit.elapsed() >= policy.max_interval)
        })
    }
}

impl super::LogWriter for IndexWriterHandle {
    fn append(&mut self, stream: &Labels, lines: &[LogLine<'_>]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.stream_labels != *stream || self.stream_key.is_empty() {
            self.stream_key = encode_stream(stream);
            self.stream_labels = stream.clone();
            self.stream_id = None;
        }
        let mut g = self.index.active.lock();
        let a = g.as_mut().ok_or(LogError::Closed)?;
        let f = a.part.fields;
        let (min, max) = lines.iter().fold((i64::MAX, i64::MIN), |(lo, hi), l| {
            (lo.min(l.ts_ns), hi.max(l.ts_ns))
        });
        // Widened before sending: a range may cover lines that fail to send, never miss one.
        a.pending_min = a.pending_min.min(min);
        a.pending_max = a.pending_max.max(max);
        let (sid, key_len) = match &a.part.streams {
            Some(dict) => {
                let id = match self.stream_id {
                    Some((start, id)) if start == a.part.start => id,
                    _ => {
                        let id = dict.id(&self.stream_key)?;
                        self.stream_id = Some((a.part.start, id));
                        id
                    }
                };
                dict.widen(id, min, max);
                (id, 0)
            }
            None => (0, self.stream_key.len()),
        };
        // Documents go to the indexing thread in small batches: one channel message per
        // batch instead of per line. Tantivy's queue holds 10,000 messages, so the batch
        // size also bounds how many lines can wait there (40,000 of ~250 bytes).
        for chunk in lines.chunks(DOCS_PER_SEND) {
            let ops = chunk.iter().map(|l| {
                // Sized for the values (tantivy's default reserves 1 KiB per document).
                let mut doc = TantivyDocument::with_capacity(l.line.len() + key_len + 48);
                doc.add_i64(f.ts, l.ts_ns);
                doc.add_text(f.line, l.line);
                f.add_stream_and_meta(
                    &mut doc,
                    (sid, &self.stream_key),
                    level::detect(l.line) as u64,
                    l.line.len() as u64,
                    l.flags,
                );
                UserOperation::Add(doc)
            });
            let t = Instant::now();
            a.writer
                .run(ops)
                .map_err(|e| LogError::index(&a.part.dir, e))?;
            if t.elapsed() < QUEUE_FULL_WAIT {
                self.slow_sends = 0;
            } else {
                self.slow_sends += 1;
                if self.slow_sends >= QUEUE_FULL_SENDS {
                    // The queue is full: let the indexer drain a stretch of it before
                    // sending more (the lock is only contended by this writer's commits).
                    self.slow_sends = 0;
                    std::thread::sleep(QUEUE_FULL_PAUSE);
                }
            }
            a.pending += chunk.len() as u64;
        }
        Ok(())
    }

    fn commit(&mut self, payload: &str) -> Result<()> {
        let mut g = self.index.active.lock();
        let a = g.as_mut().ok_or(LogError::Closed)?;
        // Every stream id a committed line carries must be on disk before the commit is.
        if let Some(dict) = &a.part.streams {
            dict.persist()?;
        }
        let mut pc = a
            .writer
            .prepare_commit()
            .map_err(|e| LogError::index(&a.part.dir, e))?;
        pc.set_payload(payload);
        pc.commit().map_err(|e| LogError::index(&a.part.dir, e))?;
        if a.pending > 0 {
            a.part.widen(a.pending_min, a.pending_max);
        }
        a.part.reload()?;
        a.pending = 0;
        a.pending_min = i64::MAX;
        a.pending_max = i64::MIN;
        a.last_commit = Instant::now();

        // Roll to a new partition once the active window is over.
        let width = self.index.opts.partition_width.as_secs().max(1) as i64;
        let cur = partition::window_start(now_s(), width);
        if cur > a.part.start {
            let part = Arc::new(Partition::open(&self.index.opts.dir, cur)?);
            let mut next = LogIndex::activate(&self.index.opts, part.clone())?;
            let mut pc = next
                .writer
                .prepare_commit()
                .map_err(|e| LogError::index(&part.dir, e))?;
            pc.set_payload(payload);
            pc.commit().map_err(|e| LogError::index(&part.dir, e))?;
            self.index.partitions.write().push(part);
            if let Some(old) = g.replace(next) {
                self.index.seal(old);
            }
        }
        Ok(())
    }

    fn pending(&self) -> u64 {
        IndexWriterHandle::pending(self)
    }
}
