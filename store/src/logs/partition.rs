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
//! A v4 partition also holds its stream dictionary (`streams`, see [`super::streams`]).
//!
//! Cost: opening reads the stream dictionary, each segment's `ts` column min/max (footer data, no scan) and opens
//! each segment's line dictionary (its block index) to check its format.

use super::error::{LogError, Result};
use super::schema::{self, Fields};
use super::streams::StreamDict;
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
    /// The stream dictionary (v4 partitions; earlier ones keep streams in a column).
    pub streams: Option<StreamDict>,
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
        let streams = match fields.stream {
            None => Some(StreamDict::open(&dir)?),
            Some(_) => None,
        };
        let p = Partition {
            start,
            dir,
            index,
            fields,
            streams,
            reader,
            min_ts: AtomicI64::new(i64::MAX),
            max_ts: AtomicI64::new(i64::MIN),
            reload_lock: Mutex::new(()),
        };
        p.check_format()?;
        p.refresh_range()?;
        if p.streams.as_ref().is_some_and(|d| d.is_empty()) && p.num_docs() > 0 {
            tracing::warn!(
                partition = %p.dir.display(),
                "log partition has lines but no stream dictionary (`streams` missing): its lines cannot be attributed to streams and are not returned"
            );
        }
        Ok(p)
    }

    /// Fails with [`LogError::Format`] when a segment's line dictionary cannot be opened
    /// (a partition written with the FST dictionaries of earlier builds).
    fn check_format(&self) -> Result<()> {
        for seg in self.reader.searcher().segment_readers() {
            if let Err(e) = seg.inverted_index(self.fields.line) {
                return Err(LogError::Format {
                    path: self.dir.clone(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(())
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

    /// Lines in each searchable segment.
    pub fn segment_docs(&self) -> Vec<u64> {
        let searcher = self.reader.searcher();
        let readers = searcher.segment_readers();
        readers.iter().map(|r| u64::from(r.num_docs())).collect()
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

    fn vint(b: &[u8], i: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let x = b[*i];
            *i += 1;
            v |= u64::from(x & 127) << shift;
            shift += 7;
            if x & 128 != 0 {
                return v;
            }
        }
    }

    /// Rewrites the dictionary-type marker (the last 4 bytes of each field's dictionary in a
    /// `.term` composite file) to 1, the FST type of earlier builds.
    fn mark_as_fst(path: &Path) {
        let mut b = std::fs::read(path).unwrap();
        let n = b.len();
        let json_len = u32::from_le_bytes(b[n - 8..n - 4].try_into().unwrap()) as usize;
        let body = n - 8 - json_len;
        let footer_len = u32::from_le_bytes(b[body - 4..body].try_into().unwrap()) as usize;
        let footer = body - 4 - footer_len;
        let mut i = footer;
        let count = vint(&b, &mut i);
        let mut offsets = Vec::new();
        let mut at = 0;
        for _ in 0..count {
            at += vint(&b, &mut i) as usize;
            offsets.push(at);
            i += 4; // field
            vint(&b, &mut i); // idx
        }
        offsets.push(footer);
        for w in offsets.windows(2).filter(|w| w[1] > w[0]) {
            assert_eq!(b[w[1] - 4..w[1]], 2u32.to_le_bytes(), "sstable marker");
            b[w[1] - 4..w[1]].copy_from_slice(&1u32.to_le_bytes());
        }
        std::fs::write(path, b).unwrap();
    }

    #[test]
    fn partitions_in_the_old_dictionary_format_are_set_aside() {
        use crate::Labels;
        use crate::logs::{LogIndex, LogIndexOptions, LogLine, LogWriter};
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("index");
        let opts = LogIndexOptions::new(root.clone());
        let old_start = {
            let idx = LogIndex::open(opts.clone()).unwrap();
            let mut w = idx.writer();
            let line = LogLine {
                ts_ns: 1,
                line: "hello old world",
                flags: 0,
            };
            w.append(&Labels::from_pairs([("pod", "a")]), &[line])
                .unwrap();
            w.commit("{\"seq\":1}").unwrap();
            drop(w);
            let p = idx.partitions();
            p[0].start
        };
        let dir = root.join(dir_name(old_start));
        let terms: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "term"))
            .collect();
        assert!(!terms.is_empty());
        for t in &terms {
            mark_as_fst(t);
        }
        match Partition::open(&root, old_start) {
            Err(LogError::Format { .. }) => {}
            Err(e) => panic!("expected a format error, got {e}"),
            Ok(_) => panic!("expected a format error, opened"),
        }
        // The index opens anyway: the partition is renamed aside and a fresh one is written
        // (here in the same window, so under the same name).
        let idx = LogIndex::open(opts).unwrap();
        assert!(
            root.join(format!("{}.unsupported", dir_name(old_start)))
                .is_dir()
        );
        assert_eq!(idx.index_stats().lines, 0);
        let mut w = idx.writer();
        let line = LogLine {
            ts_ns: 2,
            line: "hello new world",
            flags: 0,
        };
        w.append(&Labels::from_pairs([("pod", "a")]), &[line])
            .unwrap();
        w.commit("").unwrap();
        assert_eq!(idx.index_stats().lines, 1);
    }
}
