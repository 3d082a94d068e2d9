//! Writes one block: series in label order go in, a complete block directory comes out.
//!
//! Everything is written under `<blocks>/<id>.tmp/`: the chunks file as series arrive, then
//! the index and `meta.json`; each file is fsynced, then the directory, then it is renamed to
//! `<blocks>/<id>/` and the parent directory is fsynced. A block directory without the
//! `.tmp` suffix is therefore always complete; a crash leaves at most a `.tmp` directory,
//! which opening the store deletes.
//!
//! Samples are re-encoded into sealed chunks ([`super::sealed`]) of up to
//! [`BLOCK_CHUNK_SAMPLES`] samples (the head cuts at 120: sealed data is read in whole ranges,
//! and longer columns compress better); series scraped together share one timestamp column.
//!
//! Cost: one columnar encode per chunk, the chunk bytes written once; the index (labels and
//! chunk metas of every series) and the compressed timestamp columns seen so far (bounded)
//! are kept in memory until `finish`.

use super::chunks::{CHUNKS_FILE, ChunksWriter};
use super::index_read::INDEX_FILE;
use super::index_write::{ChunkMeta, IndexSeries, write_index};
use super::meta::{BLOCK_VERSION, BlockMeta, BlockStats, Compaction, META_FILE, new_block_id};
use super::sealed::SealedEncoder;
use crate::Labels;
use crate::error::{Error, Result};
use crate::tsdb::wal::segment::sync_dir;
use std::path::{Path, PathBuf};

/// Samples per chunk in a block (at a 15 s interval, 17 h: a series of a compacted block of
/// up to that range is one chunk).
pub const BLOCK_CHUNK_SAMPLES: usize = 4096;

/// Suffix of a block directory being written.
pub const TMP_SUFFIX: &str = ".tmp";

/// A block being written.
#[derive(Debug)]
pub struct BlockWriter {
    blocks_dir: PathBuf,
    id: String,
    tmp: PathBuf,
    chunks: Option<ChunksWriter>,
    series: Vec<IndexSeries>,
    stats: BlockStats,
    metas: Vec<ChunkMeta>,
    enc: SealedEncoder,
    buf: Vec<u8>,
}

impl BlockWriter {
    /// Starts a block under `blocks_dir` (created if missing).
    pub fn create(blocks_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(blocks_dir).map_err(|e| io(blocks_dir, e))?;
        let id = new_block_id();
        let tmp = blocks_dir.join(format!("{id}{TMP_SUFFIX}"));
        std::fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
        let chunks = ChunksWriter::create(&tmp.join(CHUNKS_FILE))?;
        Ok(Self {
            blocks_dir: blocks_dir.to_path_buf(),
            id,
            tmp,
            chunks: Some(chunks),
            series: Vec::new(),
            stats: BlockStats::default(),
            metas: Vec::new(),
            enc: SealedEncoder::new(),
            buf: Vec::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Adds a series with its samples (time-ordered, unique timestamps). Series must come in
    /// strictly increasing label order; a series without samples is skipped.
    pub fn add_series(&mut self, labels: Labels, samples: &[(i64, f64)]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        if self.series.last().is_some_and(|l| l.labels >= labels) {
            return Err(self.bad(format!("series {labels} added out of label order")));
        }
        let Some(w) = self.chunks.as_mut() else {
            return Err(self.bad("block already finished".into()));
        };
        self.metas.clear();
        for part in samples.chunks(BLOCK_CHUNK_SAMPLES) {
            let at = w.next_ref();
            self.enc
                .encode(part, at, &mut self.buf)
                .map_err(|e| Error::Corrupt {
                    path: self.tmp.clone(),
                    reason: format!("samples of {labels} cannot be encoded: {e}"),
                })?;
            let r = w.write(&self.buf)?;
            debug_assert_eq!(r, at);
            self.metas.push(ChunkMeta {
                min_t: part[0].0,
                max_t: part[part.len() - 1].0,
                r,
            });
        }
        self.stats.num_series += 1;
        self.stats.num_samples += samples.len() as u64;
        self.stats.num_chunks += self.metas.len() as u64;
        self.series.push(IndexSeries {
            labels,
            chunks: std::mem::take(&mut self.metas),
        });
        Ok(())
    }

    fn bad(&self, reason: String) -> Error {
        Error::Corrupt {
            path: self.tmp.clone(),
            reason,
        }
    }

    /// Completes the block covering `[min_time, max_time)` and moves it into place; `None`
    /// (and nothing on disk) when no series had samples.
    pub fn finish(
        mut self,
        min_time: i64,
        max_time: i64,
        mut compaction: Compaction,
    ) -> Result<Option<(BlockMeta, PathBuf)>> {
        let res = self.finish_inner(min_time, max_time, &mut compaction);
        if !matches!(res, Ok(Some(_))) {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
        res
    }

    fn finish_inner(
        &mut self,
        min_time: i64,
        max_time: i64,
        compaction: &mut Compaction,
    ) -> Result<Option<(BlockMeta, PathBuf)>> {
        let Some(chunks) = self.chunks.take() else {
            return Err(self.bad("block already finished".into()));
        };
        chunks.finish()?;
        if self.series.is_empty() {
            return Ok(None);
        }
        if compaction.sources.is_empty() {
            compaction.sources.push(self.id.clone());
        }
        write_index(&self.tmp.join(INDEX_FILE), &self.series)?;
        let meta = BlockMeta {
            id: self.id.clone(),
            min_time,
            max_time,
            stats: self.stats.clone(),
            compaction: std::mem::take(compaction),
            version: BLOCK_VERSION,
        };
        let meta_path = self.tmp.join(META_FILE);
        write_synced(&meta_path, &meta.to_json())?;
        sync_dir(&self.tmp)?;
        let dst = self.blocks_dir.join(&self.id);
        std::fs::rename(&self.tmp, &dst).map_err(|e| io(&dst, e))?;
        sync_dir(&self.blocks_dir)?;
        Ok(Some((meta, dst)))
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        // Abandoned before finish: remove the partial directory.
        if self.chunks.is_some() {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
