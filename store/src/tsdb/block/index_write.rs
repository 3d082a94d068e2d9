//! Writes a block's `index` file (format: `store/docs/block-format.md`).
//!
//! Input: the block's series in label order, each with the metas of its chunks. Output, in
//! file order: the symbol table (every distinct label name and value once), the series
//! entries (label pairs as symbol offsets, chunk metas delta-encoded), the series table
//! (fixed-width offsets, so a series ordinal finds its entry in O(1)), the postings lists (per
//! label pair, the ordinals of its series, delta-encoded) and the postings table (fixed-width
//! `(name, value, list offset)` entries sorted by name then value), then a fixed-size table of
//! contents with a CRC32C per section and one over itself.
//!
//! Invariants: series ordinals are positions in label order, so any sorted postings list
//! yields series already sorted by labels; symbol offsets fit in 32 bits (the symbol table
//! comes first and is refused past 4 GiB).
//!
//! Cost: the symbol set and postings lists are built in memory (a few bytes per label per
//! series plus the distinct strings); the file is written sequentially once.

use super::index_read::{INDEX_MAGIC, TOC_LEN};
use crate::Labels;
use crate::error::{Error, Result};
use crate::tsdb::enc::{put_str, put_uvarint, put_varint};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where a chunk of a series is and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_t: i64,
    pub max_t: i64,
    /// Offset of the chunk's entry in the chunks file.
    pub r: u64,
}

/// One series of a block being written.
#[derive(Debug, Clone)]
pub struct IndexSeries {
    pub labels: Labels,
    pub chunks: Vec<ChunkMeta>,
}

struct Out {
    path: PathBuf,
    w: BufWriter<File>,
    pos: u64,
    crc: u32,
}

impl Out {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.w.write_all(b).map_err(|e| io(&self.path, e))?;
        self.pos += b.len() as u64;
        self.crc = crc32c::crc32c_append(self.crc, b);
        Ok(())
    }

    /// Starts a section: returns its offset and resets the running checksum.
    fn begin(&mut self) -> u64 {
        self.crc = 0;
        self.pos
    }

    fn end(&self, start: u64, toc: &mut Vec<u8>) {
        toc.extend_from_slice(&start.to_be_bytes());
        toc.extend_from_slice(&(self.pos - start).to_be_bytes());
        toc.extend_from_slice(&self.crc.to_be_bytes());
    }
}

/// Writes the index of `series` (sorted by labels, no duplicates) to `path`, fsynced;
/// returns the file size.
pub fn write_index(path: &Path, series: &[IndexSeries]) -> Result<u64> {
    if let Some(w) = series.windows(2).find(|w| w[0].labels >= w[1].labels) {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("series not in label order at {}", w[1].labels),
        });
    }
    if u32::try_from(series.len()).is_err() {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "{} series do not fit one block (at most 2^32)",
                series.len()
            ),
        });
    }
    let f = File::create(path).map_err(|e| io(path, e))?;
    let mut out = Out {
        path: path.to_path_buf(),
        w: BufWriter::with_capacity(1 << 20, f),
        pos: 0,
        crc: 0,
    };
    out.put(&INDEX_MAGIC)?;
    let mut toc = Vec::with_capacity(TOC_LEN);
    let mut buf = Vec::with_capacity(1 << 16);

    // Symbols, sorted; a symbol's ref is its absolute offset.
    let mut symbols: BTreeMap<&str, u32> = BTreeMap::new();
    for s in series {
        for l in &s.labels {
            symbols.insert(&l.name, 0);
            symbols.insert(&l.value, 0);
        }
    }
    let start = out.begin();
    for (sym, r) in symbols.iter_mut() {
        *r = u32::try_from(out.pos).map_err(|_| Error::Corrupt {
            path: path.to_path_buf(),
            reason: "symbol table larger than 4 GiB".into(),
        })?;
        buf.clear();
        put_str(&mut buf, sym);
        out.put(&buf)?;
    }
    out.end(start, &mut toc);
    let sym = |s: &str| symbols.get(s).copied().unwrap_or(0);

    // Series entries, collecting postings on the way.
    let mut postings: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    let mut offsets = Vec::with_capacity(series.len());
    let start = out.begin();
    for (ord, s) in series.iter().enumerate() {
        offsets.push(out.pos);
        buf.clear();
        put_uvarint(&mut buf, s.labels.len() as u64);
        for l in &s.labels {
            let (n, v) = (sym(&l.name), sym(&l.value));
            put_uvarint(&mut buf, u64::from(n));
            put_uvarint(&mut buf, u64::from(v));
            postings.entry((n, v)).or_default().push(ord as u32);
        }
        put_chunk_metas(&mut buf, &s.chunks);
        out.put(&buf)?;
    }
    out.end(start, &mut toc);

    let start = out.begin();
    for chunk in offsets.chunks(4096) {
        buf.clear();
        for o in chunk {
            buf.extend_from_slice(&o.to_be_bytes());
        }
        out.put(&buf)?;
    }
    out.end(start, &mut toc);

    // Postings lists, in table order: by name string, then value string.
    let by_ref: HashMap<u32, &str> = symbols.iter().map(|(s, r)| (*r, *s)).collect();
    let text = |r: u32| by_ref.get(&r).copied().unwrap_or("");
    let mut keys: Vec<(u32, u32)> = postings.keys().copied().collect();
    keys.sort_unstable_by(|a, b| (text(a.0), text(a.1)).cmp(&(text(b.0), text(b.1))));
    let mut table = Vec::with_capacity(keys.len() * 16);
    let start = out.begin();
    for k in &keys {
        let list = postings.get(k).map(Vec::as_slice).unwrap_or_default();
        table.extend_from_slice(&k.0.to_be_bytes());
        table.extend_from_slice(&k.1.to_be_bytes());
        table.extend_from_slice(&out.pos.to_be_bytes());
        buf.clear();
        put_uvarint(&mut buf, list.len() as u64);
        let mut prev = 0u32;
        for &o in list {
            put_uvarint(&mut buf, u64::from(o - prev));
            prev = o;
        }
        out.put(&buf)?;
    }
    out.end(start, &mut toc);
    let start = out.begin();
    out.put(&table)?;
    out.end(start, &mut toc);

    let crc = crc32c::crc32c(&toc);
    toc.extend_from_slice(&crc.to_be_bytes());
    debug_assert_eq!(toc.len(), TOC_LEN);
    out.put(&toc)?;
    let size = out.pos;
    let f = out.w.into_inner().map_err(|e| io(path, e.into_error()))?;
    f.sync_all().map_err(|e| io(path, e))?;
    Ok(size)
}

/// Chunk metas: count, then per chunk its start (absolute for the first, else the gap after
/// the previous chunk's end), its length in ms and its ref (absolute, then delta).
fn put_chunk_metas(buf: &mut Vec<u8>, chunks: &[ChunkMeta]) {
    put_uvarint(buf, chunks.len() as u64);
    let mut prev: Option<&ChunkMeta> = None;
    for c in chunks {
        match prev {
            None => {
                put_varint(buf, c.min_t);
                put_uvarint(buf, c.max_t.wrapping_sub(c.min_t) as u64);
                put_uvarint(buf, c.r);
            }
            Some(p) => {
                put_varint(buf, c.min_t.wrapping_sub(p.max_t));
                put_uvarint(buf, c.max_t.wrapping_sub(c.min_t) as u64);
                put_varint(buf, c.r.wrapping_sub(p.r) as i64);
            }
        }
        prev = Some(c);
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
