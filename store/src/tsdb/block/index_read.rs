//! Reads a block's `index` file through a memory map (format: `store/docs/block-format.md`).
//!
//! Opening checks the magic, the table of contents' checksum, every section's bounds and
//! CRC32C, and scans the postings table once to note where each label name's entries start
//! and end. After that, lookups read the map directly: a series by ordinal through the
//! series table, a postings list by binary search of the (name, value) table.
//!
//! Invariants: an index that fails any check at open is refused with `Error::Corrupt` naming
//! the file; reads after open still bounds-check every access (a checksum does not prove the
//! writer was right), so nothing here can panic on file contents.
//!
//! Cost: open reads the whole file once for the checksums (sequential, a few hundred MB/s
//! at least) and keeps one small entry per distinct label name in memory; a series lookup
//! decodes one entry; matchers cost one binary search (`=`) or a scan of one label's values.

use super::index_write::ChunkMeta;
use crate::error::{Error, Result};
use crate::tsdb::enc::{Dec, u32_at, u64_at};
use crate::tsdb::postings::{
    RegexShape, intersect_sorted, regex_shape, subtract_sorted, union_sorted,
};
use crate::{Label, Labels, MatchOp, Matcher};
use memmap2::Mmap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// First 8 bytes of an index file: "LKIDX", 0, 0, format version 1.
pub const INDEX_MAGIC: [u8; 8] = *b"LKIDX\x00\x00\x01";

/// The index file's name inside a block directory.
pub const INDEX_FILE: &str = "index";

/// Sections in file order.
const SECTIONS: usize = 5;
const SEC_SYMBOLS: usize = 0;
const SEC_SERIES: usize = 1;
const SEC_SERIES_TABLE: usize = 2;
const SEC_POSTINGS: usize = 3;
const SEC_POSTINGS_TABLE: usize = 4;
/// Size of one postings table entry: name ref, value ref (u32 each), list offset (u64).
const ENTRY: usize = 16;

/// Table of contents: per section offset (u64), length (u64), CRC32C (u32); then its own CRC.
pub const TOC_LEN: usize = SECTIONS * 20 + 4;

/// A memory-mapped, verified index.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    map: Mmap,
    sections: [Range<usize>; SECTIONS],
    /// Label name → range of its entries in the postings table, sorted by name.
    names: Vec<(String, Range<usize>)>,
}

impl IndexReader {
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: block files are immutable once renamed into place; the store only deletes
        // them (unlinking keeps an existing mapping valid) and never truncates them.
        let map = unsafe { Mmap::map(&f) }.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut r = IndexReader {
            path: path.to_path_buf(),
            map,
            sections: Default::default(),
            names: Vec::new(),
        };
        r.verify()?;
        r.scan_names()?;
        Ok(r)
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn verify(&mut self) -> Result<()> {
        let b: &[u8] = &self.map;
        if b.len() < INDEX_MAGIC.len() + TOC_LEN || b[..INDEX_MAGIC.len()] != INDEX_MAGIC {
            return Err(self.corrupt("not an index file (bad magic or too short)"));
        }
        let toc = &b[b.len() - TOC_LEN..];
        let body = &toc[..TOC_LEN - 4];
        if u32_at(toc, TOC_LEN - 4) != Some(crc32c::crc32c(body)) {
            return Err(self.corrupt("table of contents checksum mismatch"));
        }
        let limit = (b.len() - TOC_LEN) as u64;
        let mut d = Dec::new(body);
        let mut sections: [Range<usize>; SECTIONS] = Default::default();
        for (i, sec) in sections.iter_mut().enumerate() {
            let (Some(off), Some(len), Some(crc)) = (d.u64(), d.u64(), d.u32()) else {
                return Err(self.corrupt("table of contents truncated"));
            };
            let end = off.checked_add(len).filter(|&e| e <= limit && off >= 8);
            let Some(end) = end else {
                return Err(self.corrupt(format!("section {i} out of bounds")));
            };
            let range = off as usize..end as usize;
            if crc32c::crc32c(&b[range.clone()]) != crc {
                return Err(self.corrupt(format!(
                    "checksum mismatch in section {} (bytes {}..{})",
                    SECTION_NAMES[i], range.start, range.end
                )));
            }
            *sec = range;
        }
        if !sections[SEC_SERIES_TABLE].len().is_multiple_of(8)
            || !sections[SEC_POSTINGS_TABLE].len().is_multiple_of(ENTRY)
        {
            return Err(self.corrupt("table length is not a multiple of its entry size"));
        }
        self.sections = sections;
        Ok(())
    }

    fn scan_names(&mut self) -> Result<()> {
        let n = self.num_entries();
        let mut names: Vec<(String, Range<usize>)> = Vec::new();
        let mut cur: Option<(u32, usize)> = None;
        for i in 0..=n {
            let name_ref = if i < n { Some(self.entry(i)?.0) } else { None };
            if let Some((r, start)) = cur
                && name_ref != Some(r)
            {
                names.push((self.symbol(r)?.to_owned(), start..i));
                cur = None;
            }
            if cur.is_none()
                && let Some(r) = name_ref
            {
                cur = Some((r, i));
            }
        }
        if names.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(self.corrupt("postings table is not sorted by label name"));
        }
        self.names = names;
        Ok(())
    }

    pub fn num_series(&self) -> usize {
        self.sections[SEC_SERIES_TABLE].len() / 8
    }

    fn num_entries(&self) -> usize {
        self.sections[SEC_POSTINGS_TABLE].len() / ENTRY
    }

    /// The symbol at absolute offset `r`.
    fn symbol(&self, r: u32) -> Result<&str> {
        let sec = &self.sections[SEC_SYMBOLS];
        let pos = r as usize;
        if !sec.contains(&pos) {
            return Err(self.corrupt(format!("symbol ref {r} outside the symbol table")));
        }
        Dec::at(&self.map[..sec.end], pos)
            .str()
            .ok_or_else(|| self.corrupt(format!("symbol at {r} is malformed")))
    }

    /// Postings table entry `i`: (name ref, value ref, list offset).
    fn entry(&self, i: usize) -> Result<(u32, u32, u64)> {
        let pos = self.sections[SEC_POSTINGS_TABLE].start + i * ENTRY;
        match (
            u32_at(&self.map, pos),
            u32_at(&self.map, pos + 4),
            u64_at(&self.map, pos + 8),
        ) {
            (Some(n), Some(v), Some(o)) => Ok((n, v, o)),
            _ => Err(self.corrupt(format!("postings table entry {i} out of bounds"))),
        }
    }

    /// The series with ordinal `ord`: its labels, and its chunk metas into `chunks`.
    pub fn series(&self, ord: u64, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        chunks.clear();
        let bad = || self.corrupt(format!("series {ord} is malformed"));
        let table = &self.sections[SEC_SERIES_TABLE];
        let pos = usize::try_from(ord)
            .ok()
            .and_then(|o| o.checked_mul(8))
            .map(|o| table.start + o)
            .filter(|&p| p + 8 <= table.end)
            .ok_or_else(bad)?;
        let off = u64_at(&self.map, pos).ok_or_else(bad)?;
        let sec = &self.sections[SEC_SERIES];
        let off = usize::try_from(off)
            .ok()
            .filter(|o| sec.contains(o))
            .ok_or_else(bad)?;
        let mut d = Dec::at(&self.map[..sec.end], off);
        let n = d.length().ok_or_else(bad)?;
        let mut labels = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let (Some(nr), Some(vr)) = (d.uvarint(), d.uvarint()) else {
                return Err(bad());
            };
            let name = self.symbol(u32::try_from(nr).map_err(|_| bad())?)?;
            let value = self.symbol(u32::try_from(vr).map_err(|_| bad())?)?;
            labels.push(Label {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
        if labels.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err(bad());
        }
        let nc = d.length().ok_or_else(bad)?;
        let mut prev: Option<ChunkMeta> = None;
        for _ in 0..nc {
            let c = match prev {
                None => {
                    let (Some(min_t), Some(len), Some(r)) = (d.varint(), d.uvarint(), d.uvarint())
                    else {
                        return Err(bad());
                    };
                    ChunkMeta {
                        min_t,
                        max_t: min_t.wrapping_add(len as i64),
                        r,
                    }
                }
                Some(p) => {
                    let (Some(gap), Some(len), Some(dr)) = (d.varint(), d.uvarint(), d.varint())
                    else {
                        return Err(bad());
                    };
                    let min_t = p.max_t.wrapping_add(gap);
                    ChunkMeta {
                        min_t,
                        max_t: min_t.wrapping_add(len as i64),
                        r: p.r.wrapping_add(dr as u64),
                    }
                }
            };
            chunks.push(c);
            prev = Some(c);
        }
        Ok(Labels::from_sorted(labels))
    }

    /// The postings list at absolute offset `off`.
    fn postings_at(&self, off: u64) -> Result<Vec<u64>> {
        let sec = &self.sections[SEC_POSTINGS];
        let bad = || self.corrupt(format!("postings list at {off} is malformed"));
        let off = usize::try_from(off)
            .ok()
            .filter(|o| sec.contains(o))
            .ok_or_else(bad)?;
        let mut d = Dec::at(&self.map[..sec.end], off);
        let n = d.length().ok_or_else(bad)?;
        let total = self.num_series() as u64;
        let mut out = Vec::with_capacity(n.min(self.num_series()));
        let mut cur = 0u64;
        for i in 0..n {
            let delta = d.uvarint().ok_or_else(bad)?;
            if i > 0 && delta == 0 {
                return Err(bad());
            }
            cur = cur
                .checked_add(delta)
                .filter(|&c| c < total)
                .ok_or_else(bad)?;
            out.push(cur);
        }
        Ok(out)
    }

    fn name_range(&self, name: &str) -> Option<Range<usize>> {
        self.names
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.names[i].1.clone())
    }

    /// Label names in the block, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.names.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Values of label `name` in the block, sorted.
    pub fn label_values(&self, name: &str) -> Result<Vec<String>> {
        let Some(range) = self.name_range(name) else {
            return Ok(Vec::new());
        };
        range
            .map(|i| Ok(self.symbol(self.entry(i)?.1)?.to_owned()))
            .collect()
    }

    /// The postings of `name="value"`, if the pair exists.
    fn lookup(&self, range: &Range<usize>, value: &str) -> Result<Option<Vec<u64>>> {
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (_, v, off) = self.entry(mid)?;
            match self.symbol(v)?.cmp(value) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.postings_at(off).map(Some),
            }
        }
        Ok(None)
    }

    /// Union of the postings of the values `v` of one label with `m.matches(v) == want`.
    fn values_where(&self, range: &Range<usize>, m: &Matcher, want: bool) -> Result<Vec<u64>> {
        let mut lists: Vec<Vec<u64>> = Vec::new();
        let literal = match (m.op, want) {
            (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => Some(vec![m.value.clone()]),
            (MatchOp::RegexMatch, true) | (MatchOp::RegexNoMatch, false) => {
                match regex_shape(&m.value) {
                    RegexShape::Literals(l) => Some(l),
                    _ => None,
                }
            }
            _ => None,
        };
        match literal {
            Some(values) => {
                for v in values {
                    if let Some(l) = self.lookup(range, &v)? {
                        lists.push(l);
                    }
                }
            }
            None => {
                for i in range.clone() {
                    let (_, v, off) = self.entry(i)?;
                    if m.matches(self.symbol(v)?) == want {
                        lists.push(self.postings_at(off)?);
                    }
                }
            }
        }
        Ok(match lists.len() {
            0 => Vec::new(),
            1 => lists.pop().unwrap_or_default(),
            _ => union_sorted(&lists.iter().map(Vec::as_slice).collect::<Vec<_>>()),
        })
    }

    /// Ordinals (so: label order) of the series matching all `matchers`, with the
    /// semantics of the head's postings index (a missing label reads as `""`).
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<u64>> {
        let mut intersect: Vec<Vec<u64>> = Vec::new();
        let mut subtract: Vec<Vec<u64>> = Vec::new();
        for m in matchers {
            let range = self.name_range(&m.name);
            if m.matches_empty() {
                if let Some(range) = range {
                    let l = self.values_where(&range, m, false)?;
                    if !l.is_empty() {
                        subtract.push(l);
                    }
                }
            } else {
                let Some(range) = range else {
                    return Ok(Vec::new());
                };
                let l = self.values_where(&range, m, true)?;
                if l.is_empty() {
                    return Ok(Vec::new());
                }
                intersect.push(l);
            }
        }
        intersect.sort_by_key(Vec::len);
        let mut it = intersect.into_iter();
        let mut acc: Vec<u64> = match it.next() {
            Some(first) => first,
            None => (0..self.num_series() as u64).collect(),
        };
        for l in it {
            acc = intersect_sorted(&acc, &l);
            if acc.is_empty() {
                return Ok(acc);
            }
        }
        for l in subtract {
            acc = subtract_sorted(&acc, &l);
        }
        Ok(acc)
    }
}

const SECTION_NAMES: [&str; SECTIONS] = [
    "symbols",
    "series",
    "series table",
    "postings",
    "postings table",
];
