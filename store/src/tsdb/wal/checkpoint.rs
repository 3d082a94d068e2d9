//! Checkpoints: a compact snapshot of the head that replaces the segments before it, so that
//! replay reads the head's size rather than all history.
//!
//! Procedure: (1) cut the log, so every commit in segments `..=k` has been applied to the
//! head (commits log and apply under the writer lock); (2) write `checkpoint.k.tmp` holding a
//! meta record (truncation point, next series ref), then for every series in ref order its
//! series entry and its samples at or after the truncation point as compressed chunks (the
//! head's own chunks, copied, when they hold exactly those samples; else re-encoded); (3)
//! fsync it, rename it to `checkpoint.k`, fsync the directory; (4) delete segments `..=k` and
//! older checkpoints. Commits continue during (2): the snapshot may already hold samples of
//! segment `k+1` and later, which replay drops as duplicates.
//!
//! Invariants: a crash at any step leaves either the old checkpoint with all its segments or
//! the new one (replay deletes what it covers); a failed checkpoint deletes nothing.
//!
//! Cost: mostly a copy of the head's chunk bytes; series with out-of-order data or samples
//! before the truncation point are decoded and re-encoded (about as fast as a select of
//! them). Written with one 1 MiB buffer; one series at a time is locked, so appends are
//! never blocked for long.

use super::record::{self, RecordType};
use super::segment::{self, FILE_MAGIC, checkpoint_path, io_err, segment_path, sync_dir};
use super::writer::Wal;
use crate::error::{Error, Result};
use crate::tsdb::chunk::Chunk;
use crate::tsdb::head::Head;
use crate::tsdb::series::SAMPLES_PER_CHUNK;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Series per series/chunks record pair.
const SERIES_PER_RECORD: usize = 512;

/// What a checkpoint wrote and removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CheckpointStats {
    /// The checkpoint covers segments up to this number.
    pub index: u64,
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
    pub segments_removed: u64,
    pub duration: Duration,
}

/// Writes a checkpoint of `head` and removes the segments it covers.
pub fn checkpoint(wal: &Wal, head: &Head) -> Result<CheckpointStats> {
    let _only_one = wal.checkpoint_lock.lock();
    let res = write_and_clean(wal, head);
    let c = &wal.counters;
    match &res {
        Ok(_) => c.checkpoints.fetch_add(1, Ordering::Relaxed),
        Err(_) => c.checkpoint_failures.fetch_add(1, Ordering::Relaxed),
    };
    res
}

fn write_and_clean(wal: &Wal, head: &Head) -> Result<CheckpointStats> {
    let start = Instant::now();
    let k = wal.cut()?;
    let dir = wal.dir();
    let tmp = dir.join(format!("{}{k:08}.tmp", segment::CHECKPOINT_PREFIX));
    let mut st = CheckpointStats {
        index: k,
        ..CheckpointStats::default()
    };
    let written = write_snapshot(&tmp, head, &mut st);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let path = checkpoint_path(dir, k);
    std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    sync_dir(dir)?;
    st.segments_removed = remove_covered(dir, k)?;
    st.duration = start.elapsed();
    Ok(st)
}

fn write_snapshot(tmp: &Path, head: &Head, st: &mut CheckpointStats) -> Result<()> {
    let f = File::create(tmp).map_err(|e| io_err(tmp, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(&FILE_MAGIC);
    let (min_valid, next_ref) = head.restore_point();
    let at = record::begin_frame(&mut buf, RecordType::Meta);
    record::put_meta(&mut buf, min_valid, next_ref);
    record::finish_frame(&mut buf, at);

    let mut all = head.series.all();
    all.sort_unstable_by_key(|s| s.r);
    let mut samples = Vec::new();
    for batch in all.chunks(SERIES_PER_RECORD) {
        let at = record::begin_frame(&mut buf, RecordType::Series);
        for s in batch {
            record::put_series(&mut buf, s.r, s.labels.iter());
        }
        record::finish_frame(&mut buf, at);
        let at = record::begin_frame(&mut buf, RecordType::Chunks);
        for s in batch {
            let state = s.state.lock();
            if let Some(chunks) = state.whole_chunks(min_valid) {
                // The head's own chunks hold exactly what to keep: copied as they are.
                for (bytes, n) in chunks {
                    record::put_chunk(&mut buf, s.r, bytes);
                    st.samples += n as u64;
                }
                continue;
            }
            samples.clear();
            state.collect(min_valid, i64::MAX, &mut samples);
            drop(state);
            st.samples += samples.len() as u64;
            for part in samples.chunks(SAMPLES_PER_CHUNK) {
                let c = Chunk::encode(part).map_err(|e| Error::Corrupt {
                    path: tmp.to_path_buf(),
                    reason: format!("series {} cannot be re-encoded: {e}", s.r),
                })?;
                record::put_chunk(&mut buf, s.r, c.bytes());
            }
        }
        record::finish_frame(&mut buf, at);
        st.series += batch.len() as u64;
        st.bytes += buf.len() as u64;
        w.write_all(&buf).map_err(|e| io_err(tmp, e))?;
        buf.clear();
    }
    st.bytes += buf.len() as u64;
    w.write_all(&buf).map_err(|e| io_err(tmp, e))?;
    let f = w.into_inner().map_err(|e| io_err(tmp, e.into_error()))?;
    f.sync_all().map_err(|e| io_err(tmp, e))
}

/// Deletes segments `..=k` and checkpoints before `k`; returns the segments deleted.
fn remove_covered(dir: &Path, k: u64) -> Result<u64> {
    let l = segment::list(dir)?;
    let mut n = 0;
    for &s in l.segments.iter().filter(|&&s| s <= k) {
        let p = segment_path(dir, s);
        std::fs::remove_file(&p).map_err(|e| io_err(&p, e))?;
        n += 1;
    }
    for &c in l.checkpoints.iter().filter(|&&c| c < k) {
        let p = checkpoint_path(dir, c);
        std::fs::remove_file(&p).map_err(|e| io_err(&p, e))?;
    }
    sync_dir(dir)?;
    Ok(n)
}
