//! The stream dictionary of one partition (schema v4).
//!
//! Each distinct stream (label set, encoded by [`super::schema::encode_stream`]) gets a small
//! id the first time a line of it is appended to the partition; the line's packed `meta`
//! column carries the id ([`super::schema::pack_meta_v4`]). The dictionary maps ids back to
//! label sets and keeps, per stream, the range of line timestamps appended, so `/series` and
//! `/labels` answer from it without touching the segments, and a selector skips the streams
//! that have no lines in the searched range.
//!
//! Why not tantivy's string column (v3): recording a string per document cost ~6 % of ingest
//! CPU (a dictionary lookup per document and a column of its own), where the id rides in a
//! column every document has anyway.
//!
//! On disk: `streams` in the partition directory, JSON lines, appended:
//!
//! ```text
//! {"id":0,"key":"container\u0000app\u0000...","min":1700000000000000000,"max":1700000000500000000}
//! {"id":0,"min":1700000000000000000,"max":1700000001000000000}
//! ```
//!
//! The first record of an id carries its key; later ones widen its range. Ids are dense and
//! in order. [`StreamDict::persist`] appends the records of every stream added or widened
//! since the last call and fsyncs, and the index writer calls it before each commit, so every
//! id a committed line carries is on disk and ranges on disk cover every committed line.
//! A crash mid-append leaves a last line without a newline: loading ignores it and the next
//! append overwrites it. When the file holds more than twice as many records as streams
//! (plus 256), it is rewritten whole (temporary file, fsync, rename).
//!
//! Cost: one record per changed stream per commit (~40 bytes when only the range moved);
//! opening parses the file once.

use super::error::{LogError, Result};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file name inside a partition directory.
pub const FILE_NAME: &str = "streams";

/// Largest stream id ([`super::schema::pack_meta_v4`] keeps 28 bits for it).
pub const MAX_STREAM_ID: u32 = (1 << 28) - 1;

/// One stream of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The encoded label set.
    pub key: Arc<str>,
    /// Oldest and newest line timestamp appended (ns).
    pub min: i64,
    pub max: i64,
}

impl StreamEntry {
    /// Whether the stream may have lines in `[start, end)`.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.min < end && self.max >= start
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Record<'a> {
    id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    key: Option<std::borrow::Cow<'a, str>>,
    min: i64,
    max: i64,
}

#[derive(Default)]
struct State {
    entries: Vec<StreamEntry>,
    by_key: HashMap<Arc<str>, u32>,
    /// Ids added or widened since the last persist (each once).
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
}

struct FileState {
    /// Bytes of complete records in the file.
    len: u64,
    /// Records in the file.
    records: usize,
    /// Ids whose key record is in the file.
    written: usize,
    handle: Option<std::fs::File>,
}

/// The dictionary of one partition; see the module docs.
pub struct StreamDict {
    path: PathBuf,
    state: RwLock<State>,
    file: Mutex<FileState>,
}

/// A malformed dictionary makes its partition unreadable: the error names the partition
/// directory (which the index sets aside) and the file's line.
fn format_err(path: &Path, line: usize, reason: impl std::fmt::Display) -> LogError {
    LogError::Format {
        path: path.parent().unwrap_or(path).to_path_buf(),
        reason: format!("{FILE_NAME} line {line}: {reason}"),
    }
}

fn io(p: &Path) -> impl Fn(std::io::Error) -> LogError + Copy + '_ {
    move |e| LogError::io(p, e)
}

/// Appends `rec` as one JSON line.
fn write_record(buf: &mut Vec<u8>, rec: &Record<'_>) {
    // Serializing integers and a string into a Vec cannot fail.
    if serde_json::to_writer(&mut *buf, rec).is_ok() {
        buf.push(b'\n');
    }
}

impl StreamDict {
    /// Loads the dictionary of the partition in `dir` (empty when the file does not exist).
    /// A malformed complete record is a [`LogError::Format`] naming `dir` and the line.
    pub fn open(dir: &Path) -> Result<StreamDict> {
        let path = dir.join(FILE_NAME);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(LogError::io(&path, e)),
        };
        let mut st = State::default();
        let mut len = 0usize;
        let mut records = 0usize;
        for (n, raw) in data.split_inclusive(|&b| b == b'\n').enumerate() {
            if raw.last() != Some(&b'\n') {
                break; // an append cut short by a crash: never referenced by a commit
            }
            let rec: Record<'_> = serde_json::from_slice(&raw[..raw.len() - 1])
                .map_err(|e| format_err(&path, n + 1, e))?;
            let id = rec.id as usize;
            match rec.key {
                Some(key) if id == st.entries.len() => {
                    let key: Arc<str> = Arc::from(key.as_ref());
                    st.by_key.insert(key.clone(), rec.id);
                    st.entries.push(StreamEntry {
                        key,
                        min: rec.min,
                        max: rec.max,
                    });
                    st.is_dirty.push(false);
                }
                Some(_) => return Err(format_err(&path, n + 1, "stream ids out of order")),
                None => {
                    let e = st
                        .entries
                        .get_mut(id)
                        .ok_or_else(|| format_err(&path, n + 1, "range of an unknown stream"))?;
                    e.min = e.min.min(rec.min);
                    e.max = e.max.max(rec.max);
                }
            }
            len += raw.len();
            records += 1;
        }
        let written = st.entries.len();
        Ok(StreamDict {
            path,
            state: RwLock::new(st),
            file: Mutex::new(FileState {
                len: len as u64,
                records,
                written,
                handle: None,
            }),
        })
    }

    /// The id of the stream `key`, added (with an empty range) when it is new.
    pub fn id(&self, key: &str) -> Result<u32> {
        if let Some(&id) = self.state.read().by_key.get(key) {
            return Ok(id);
        }
        let mut st = self.state.write();
        if let Some(&id) = st.by_key.get(key) {
            return Ok(id);
        }
        let id = u32::try_from(st.entries.len())
            .ok()
            .filter(|&id| id <= MAX_STREAM_ID)
            .ok_or_else(|| LogError::Format {
                path: self.path.clone(),
                reason: format!("more than {MAX_STREAM_ID} streams in one partition"),
            })?;
        let key: Arc<str> = Arc::from(key);
        st.by_key.insert(key.clone(), id);
        st.entries.push(StreamEntry {
            key,
            min: i64::MAX,
            max: i64::MIN,
        });
        st.is_dirty.push(true);
        st.dirty.push(id);
        Ok(id)
    }

    /// Widens stream `id`'s range to include `[min, max]`.
    pub fn widen(&self, id: u32, min: i64, max: i64) {
        let mut st = self.state.write();
        let i = id as usize;
        let Some(e) = st.entries.get_mut(i) else {
            return;
        };
        if min >= e.min && max <= e.max {
            return;
        }
        e.min = e.min.min(min);
        e.max = e.max.max(max);
        if !st.is_dirty[i] {
            st.is_dirty[i] = true;
            st.dirty.push(id);
        }
    }

    /// The streams, by id.
    pub fn snapshot(&self) -> Arc<[StreamEntry]> {
        self.state.read().entries.iter().cloned().collect()
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.state.read().entries.len()
    }

    /// Whether the dictionary holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every stream added or widened since the last call and fsyncs; a no-op when
    /// nothing changed.
    pub fn persist(&self) -> Result<()> {
        let mut f = self.file.lock();
        let (buf, dirty, total) = {
            let mut st = self.state.write();
            if st.dirty.is_empty() {
                return Ok(());
            }
            let dirty = std::mem::take(&mut st.dirty);
            let mut buf = Vec::with_capacity(dirty.len() * 64);
            for &id in &dirty {
                st.is_dirty[id as usize] = false;
                let e = &st.entries[id as usize];
                let rec = Record {
                    id,
                    key: (id as usize >= f.written).then(|| e.key.as_ref().into()),
                    min: e.min,
                    max: e.max,
                };
                write_record(&mut buf, &rec);
            }
            (buf, dirty, st.entries.len())
        };
        let res = if f.records + dirty.len() > 2 * total + 256 {
            self.rewrite(&mut f)
        } else {
            self.append(&mut f, &buf, dirty.len())
        };
        match res {
            Ok(()) => f.written = total,
            Err(_) => {
                // Nothing of this batch counts as written (a partial append is overwritten
                // by the next one): mark it again.
                let mut st = self.state.write();
                for id in dirty {
                    if !std::mem::replace(&mut st.is_dirty[id as usize], true) {
                        st.dirty.push(id);
                    }
                }
                st.dirty.sort_unstable();
            }
        }
        res
    }

    fn append(&self, f: &mut FileState, buf: &[u8], n: usize) -> Result<()> {
        let io = io(&self.path);
        if f.handle.is_none() {
            let h = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&self.path)
                .map_err(io)?;
            f.handle = Some(h);
        }
        let Some(h) = f.handle.as_mut() else {
            return Ok(());
        };
        // From the end of the last complete record: drops the tail of a cut-short append.
        h.set_len(f.len).map_err(io)?;
        h.seek(SeekFrom::Start(f.len)).map_err(io)?;
        h.write_all(buf).map_err(io)?;
        h.sync_data().map_err(io)?;
        f.len += buf.len() as u64;
        f.records += n;
        Ok(())
    }

    fn rewrite(&self, f: &mut FileState) -> Result<()> {
        let mut buf = Vec::new();
        for (id, e) in self.snapshot().iter().enumerate() {
            let rec = Record {
                id: id as u32,
                key: Some(e.key.as_ref().into()),
                min: e.min,
                max: e.max,
            };
            write_record(&mut buf, &rec);
        }
        let tmp = self.path.with_extension("tmp");
        {
            let mut h = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            h.write_all(&buf).map_err(io(&tmp))?;
            h.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        f.handle = None;
        f.len = buf.len() as u64;
        f.records = self.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(d: &StreamDict) -> Vec<(String, i64, i64)> {
        d.snapshot()
            .iter()
            .map(|e| (e.key.to_string(), e.min, e.max))
            .collect()
    }

    #[test]
    fn ids_ranges_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let d = StreamDict::open(dir.path()).unwrap();
        assert!(d.is_empty());
        let a = d.id("a\0x").unwrap();
        let b = d.id("b\0y\nz\"").unwrap();
        assert_eq!((a, b, d.id("a\0x").unwrap()), (0, 1, 0));
        d.widen(a, 10, 20);
        d.widen(b, 5, 5);
        d.persist().unwrap();
        d.widen(a, 30, 40);
        d.widen(a, 1, 2);
        d.persist().unwrap();
        d.persist().unwrap(); // nothing changed: nothing written
        let want = vec![("a\0x".to_string(), 1, 40), ("b\0y\nz\"".to_string(), 5, 5)];
        assert_eq!(keys(&d), want);
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let again = StreamDict::open(dir.path()).unwrap();
        assert_eq!(keys(&again), want);
        assert_eq!(again.id("b\0y\nz\"").unwrap(), 1);
        assert_eq!(again.id("c").unwrap(), 2);
        assert!(again.snapshot()[1].overlaps(5, 6) && !again.snapshot()[1].overlaps(6, 9));
    }

    #[test]
    fn a_record_cut_short_is_ignored_and_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let d = StreamDict::open(dir.path()).unwrap();
        let a = d.id("a").unwrap();
        d.widen(a, 1, 2);
        d.persist().unwrap();
        drop(d);
        let path = dir.path().join(FILE_NAME);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"id":1,"key":"b","mi"#).unwrap();
        drop(f);
        let d = StreamDict::open(dir.path()).unwrap();
        assert_eq!(keys(&d), vec![("a".to_string(), 1, 2)]);
        let c = d.id("c").unwrap();
        assert_eq!(c, 1);
        d.widen(c, 3, 4);
        d.persist().unwrap();
        let d = StreamDict::open(dir.path()).unwrap();
        assert_eq!(
            keys(&d),
            vec![("a".to_string(), 1, 2), ("c".to_string(), 3, 4)]
        );
    }

    #[test]
    fn a_malformed_record_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "{\"id\":0,\"key\":\"a\",\"min\":1,\"max\":2}\nnot json\n",
        )
        .unwrap();
        match StreamDict::open(dir.path()) {
            Err(LogError::Format { reason, .. }) => {
                assert!(reason.starts_with("streams line 2:"), "{reason}")
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a malformed dictionary"),
        }
        std::fs::write(
            dir.path().join(FILE_NAME),
            "{\"id\":1,\"key\":\"a\",\"min\":1,\"max\":2}\n",
        )
        .unwrap();
        assert!(matches!(
            StreamDict::open(dir.path()),
            Err(LogError::Format { .. })
        ));
    }

    #[test]
    fn a_long_history_is_rewritten_compactly() {
        let dir = tempfile::tempdir().unwrap();
        let d = StreamDict::open(dir.path()).unwrap();
        let a = d.id("a").unwrap();
        let b = d.id("b").unwrap();
        for t in 0..1_000 {
            d.widen(a, 0, t);
            d.widen(b, -t, 0);
            d.persist().unwrap();
        }
        let lines = std::fs::read_to_string(dir.path().join(FILE_NAME))
            .unwrap()
            .lines()
            .count();
        assert!(lines <= 2 * 2 + 256 + 2, "{lines} records");
        let again = StreamDict::open(dir.path()).unwrap();
        assert_eq!(
            keys(&again),
            vec![("a".to_string(), 0, 999), ("b".to_string(), -999, 0)]
        );
        assert!(!dir.path().join("streams.tmp").exists());
    }
}
