//! Partitions: one tantivy index per ingest-time window under `logs/index/<start>`.
//!
//! A partition holds the lines *ingested* during its window (`start` .. `start + width`,
//! seconds since the epoch, aligned to the width), so at any moment exactly one partition is
//! written and a commit is atomic across everything appended since the previous commit.
//! Each partition tracks the min/max *line* timestamp it holds so searches skip partitions
//! outside their range; retention drops whole sealed partitions (a directory removal).
//!
//! Invariants: the directory name is the window start, zero-padded to 12 digits, so names sort
//! by time; only the newest partition is ever written.
//!
//! Cost: opening reads each segment's `ts` column min/max (footer data, no scan).

use super::error::{LogError, Result};
use super::schema::{self, Fields};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use tantivy::{Index, IndexReader, ReloadPolicy};

/// One partition: its index, a reader, and the range of line timestamps it holds.
pub struct Partition {
    /// Window start, seconds since the epoch.
    pub start: i64,
    pub dir: PathBuf,
    pub index: Index,
    pub fields: Fields,
    pub reader: IndexReader,
    min_ts: AtomicI64,
    max_ts: AtomicI64,
    /// Serializes reader reloads with retention's removal.
    pub(crate) reload_lock: Mutex<()>,
}

/// The directory name of the window starting at `start`.
pub fn dir_name(start: i64) -> String {
    format!("{start:012}")
}

/// The start of the window of width `width_s` holding `now_s`.
pub fn window_start(now_s: i64, width_s: i64) -> i64 {
    now_s.div_euclid(width_s.max(1)) * width_s.max(1)
}

impl Partition {
    /// Opens (or creates) the partition in `root/<start>`.
    pub fn open(root: &Path, start: i64) -> Result<Partition> {
        let dir = root.join(dir_name(start));
        let (index, fields) = schema::open_or_create(&dir)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| LogError::index(&dir, e))?;
        let p = Partition {
            start,
            dir,
            index,
            fields,
            reader,
            min_ts: AtomicI64::new(i64::MAX),
            max_ts: AtomicI64::new(i64::MIN),
            reload_lock: Mutex::new(()),
        };
        p.refresh_range()?;
        Ok(p)
    }

    /// Recomputes the timestamp range from the segments' `ts` columns.
    pub fn refresh_range(&self) -> Result<()> {
        let searcher = self.reader.searcher();
        for seg in searcher.segment_readers() {
            if seg.num_docs() == 0 {
                continue;
            }
            let col = seg
                .fast_fields()
                .i64("ts")
                .map_err(|e| LogError::index(&self.dir, e))?;
            self.widen(col.min_value(), col.max_value());
        }
        Ok(())
    }

    /// Widens the timestamp range to include `[min, max]`.
    pub fn widen(&self, min: i64, max: i64) {
        self.min_ts.fetch_min(min, Relaxed);
        self.max_ts.fetch_max(max, Relaxed);
    }

    /// `(min, max)` line timestamp, `None` when empty.
    pub fn range(&self) -> Option<(i64, i64)> {
        let (a, b) = (self.min_ts.load(Relaxed), self.max_ts.load(Relaxed));
        (a <= b).then_some((a, b))
    }

    /// Whether the partition may hold lines in `[start, end)` (ns).
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.range().is_some_and(|(a, b)| a < end && b >= start)
    }

    /// The payload of the last commit.
    pub fn payload(&self) -> Result<Option<String>> {
        let metas = self
            .index
            .load_metas()
            .map_err(|e| LogError::index(&self.dir, e))?;
        Ok(metas.payload)
    }

    /// Makes the last commit visible to searches.
    pub fn reload(&self) -> Result<()> {
        let _g = self.reload_lock.lock();
        self.reader
            .reload()
            .map_err(|e| LogError::index(&self.dir, e))
    }

    /// Bytes on disk.
    pub fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.dir)
    }

    /// Number of searchable segments.
    pub fn num_segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Number of documents (lines).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// Total size of the files in `dir` (not recursive: tantivy writes a flat directory).
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Window starts of the partitions under `root`, ascending. Other entries are ignored.
pub fn list(root: &Path) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(LogError::io(root, e)),
    };
    for e in rd {
        let e = e.map_err(|e| LogError::io(root, e))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 12
            && name.bytes().all(|b| b.is_ascii_digit())
            && e.path().join("meta.json").exists()
            && let Ok(start) = name.parse::<i64>()
        {
            out.push(start);
        }
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_and_names_sort() {
        assert_eq!(window_start(3600 * 7 + 5, 3600 * 6), 3600 * 6);
        assert_eq!(window_start(-1, 10), -10);
        assert!(dir_name(99) < dir_name(100));
        assert_eq!(dir_name(1_700_000_000), "001700000000");
    }

    #[test]
    fn list_ignores_strangers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("junk")).unwrap();
        std::fs::create_dir_all(d.path().join("000000000100")).unwrap(); // no meta.json
        let _p = Partition::open(d.path(), 200).unwrap();
        assert_eq!(list(d.path()).unwrap(), vec![200]);
        assert_eq!(list(&d.path().join("missing")).unwrap(), Vec::<i64>::new());
    }
}
