//! Immutable on-disk blocks: the samples of every series over one time range, with an
//! inverted index, read through memory maps (format: `store/docs/block-format.md`).
//!
//! A block directory `<blocks>/<id>/` holds `chunks` (compressed chunks, see [`chunks`]),
//! `index` (symbols, series, postings; see [`index_read`]) and `meta.json` ([`meta`]). It is
//! written once by [`writer::BlockWriter`] and never modified; compaction and retention
//! replace or delete whole blocks.
//!
//! Invariants: an open [`Block`] has a verified index (checksums, bounds); every chunk is
//! checksum-verified when read, so a damaged block yields `Error::Corrupt` naming its files,
//! never wrong samples or a panic. Series come out in label order.
//!
//! Cost: opening maps two files and reads the index once for its checksums; a select costs
//! postings set operations, one series entry per match and the overlapping chunks' decoding.

pub mod chunks;
pub mod index_read;
pub mod index_write;
pub mod meta;
pub mod sealed;
pub mod writer;

use crate::error::{Error, Result};
use crate::{Labels, Matcher, Series};
use chunks::{CHUNKS_FILE, ChunksReader};
use index_read::{INDEX_FILE, IndexReader};
use index_write::ChunkMeta;
pub use meta::BlockMeta;
use sealed::TsCache;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// An open, verified block.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunksReader,
    size: u64,
}

impl Block {
    /// Opens the block in `dir`, verifying its meta and index.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta = BlockMeta::read(dir)?;
        let index = IndexReader::open(&dir.join(INDEX_FILE))?;
        let chunks = ChunksReader::open(&dir.join(CHUNKS_FILE))?;
        let meta_len = std::fs::metadata(dir.join(meta::META_FILE)).map_or(0, |m| m.len());
        let index_len = std::fs::metadata(dir.join(INDEX_FILE)).map_or(0, |m| m.len());
        if index.num_series() as u64 != meta.stats.num_series {
            return Err(Error::Corrupt {
                path: dir.to_path_buf(),
                reason: format!(
                    "index holds {} series, meta.json says {}",
                    index.num_series(),
                    meta.stats.num_series
                ),
            });
        }
        let size = chunks.len() + index_len + meta_len;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            size,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// Bytes on disk (chunks, index, meta).
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    pub fn num_series(&self) -> usize {
        self.index.num_series()
    }

    /// Labels of series `ord`.
    pub fn series_labels(&self, ord: u64) -> Result<Labels> {
        self.index.series(ord, &mut Vec::new())
    }

    /// Labels of series `ord` and its samples in `[mint, maxt]` appended to `out`. `cache`
    /// keeps shared timestamp columns decoded across the series of one read.
    pub fn series_samples(
        &self,
        ord: u64,
        mint: i64,
        maxt: i64,
        metas: &mut Vec<ChunkMeta>,
        cache: &mut TsCache,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<Labels> {
        let labels = self.index.series(ord, metas)?;
        for c in metas.iter().filter(|c| c.min_t <= maxt && c.max_t >= mint) {
            sealed::decode(&self.chunks, c.r, mint, maxt, cache, out).map_err(|e| match e {
                Error::CorruptChunk { reason } => Error::Corrupt {
                    path: self.dir.join(CHUNKS_FILE),
                    reason: format!("chunk at offset {}: {reason}", c.r),
                },
                e => e,
            })?;
        }
        Ok(labels)
    }

    /// Series matching `matchers` with samples in `[mint, maxt]`, in label order.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        if mint > maxt || !self.meta.overlaps(mint, maxt) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut metas = Vec::new();
        let mut buf = Vec::new();
        let mut cache = TsCache::new();
        for ord in self.index.select(matchers)? {
            buf.clear();
            let labels = self.series_samples(ord, mint, maxt, &mut metas, &mut cache, &mut buf)?;
            if !buf.is_empty() {
                out.push(Series {
                    labels,
                    samples: buf.as_slice().to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// Ordinals of the matching series with a chunk overlapping `[mint, maxt]`, with labels.
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>> {
        let mut out = Vec::new();
        if mint > maxt || !self.meta.overlaps(mint, maxt) {
            return Ok(out);
        }
        let mut metas = Vec::new();
        for ord in self.index.select(matchers)? {
            let labels = self.index.series(ord, &mut metas)?;
            if metas.iter().any(|c| c.min_t <= maxt && c.max_t >= mint) {
                out.push(labels);
            }
        }
        Ok(out)
    }

    /// True when `[mint, maxt]` covers the whole block, so the postings table answers
    /// label queries without matchers.
    fn covered_by(&self, mint: i64, maxt: i64) -> bool {
        mint <= self.meta.min_time && maxt >= self.meta.max_time - 1
    }

    /// Label names of the matching series with samples in the range, sorted.
    pub fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        if matchers.is_empty() && self.covered_by(mint, maxt) {
            return Ok(self.index.label_names());
        }
        let names: BTreeSet<String> = self
            .matching(matchers, mint, maxt)?
            .into_iter()
            .flat_map(|l| l.into_vec().into_iter().map(|l| l.name))
            .collect();
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` on the matching series with samples in the range, sorted.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        if matchers.is_empty() && self.covered_by(mint, maxt) {
            return self.index.label_values(name);
        }
        let values: BTreeSet<String> = self
            .matching(matchers, mint, maxt)?
            .into_iter()
            .filter_map(|l| l.get(name).map(str::to_owned))
            .collect();
        Ok(values.into_iter().collect())
    }
}

#[cfg(test)]
#[path = "block_tests.rs"]
mod tests;
