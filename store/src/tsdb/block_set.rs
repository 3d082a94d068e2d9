//! The set of blocks a store serves: opened at start, grown by head cuts, rewritten by
//! compaction, shrunk by retention.
//!
//! Opening `<dir>/blocks/` (1) deletes `*.tmp` directories (blocks whose writing did not
//! finish), (2) opens every block directory, refusing (with an error log, kept for
//! [`BlockSet::refused`]) any whose meta or index fails its checks, and (3) deletes every
//! block named as a parent by a block that opened fine: that child is complete and durable,
//! so a compaction that crashed before deleting its sources is finished here. A block is
//! never deleted because of a child that failed to open.
//!
//! Invariants: the list is sorted by `min_time` (then id); readers take a snapshot of
//! `Arc<Block>`s, so a block deleted while a query reads it stays mapped until the query
//! drops it (unlinking does not invalidate a mapping); files are never truncated.
//!
//! Cost: open reads every block's meta and index once; a snapshot is one `Arc` clone per
//! block.

use super::block::writer::TMP_SUFFIX;
use super::block::{Block, BlockMeta, meta::is_block_id};
use super::wal::segment::sync_dir;
use crate::error::{Error, Result};
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A block that could not be opened, and why.
#[derive(Debug, Clone)]
pub struct RefusedBlock {
    pub dir: PathBuf,
    pub error: String,
}

/// The blocks of a store.
#[derive(Debug)]
pub struct BlockSet {
    dir: PathBuf,
    blocks: RwLock<Vec<Arc<Block>>>,
    refused: Mutex<Vec<RefusedBlock>>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BlockSet {
    /// Opens (creating if needed) the blocks directory `dir`.
    pub fn open(dir: &Path) -> Result<BlockSet> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut opened: Vec<Block> = Vec::new();
        let mut refused = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !entry.file_type().map_err(io(&path))?.is_dir() {
                continue;
            }
            if let Some(id) = name.strip_suffix(TMP_SUFFIX)
                && is_block_id(id)
            {
                tracing::warn!(dir = %path.display(), "removing an unfinished block");
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
                continue;
            }
            if !is_block_id(name) {
                continue;
            }
            match Block::open(&path) {
                Ok(b) => opened.push(b),
                Err(e) => {
                    tracing::error!(dir = %path.display(), error = %e, "block refused: not served");
                    refused.push(RefusedBlock {
                        dir: path,
                        error: e.to_string(),
                    });
                }
            }
        }
        let parents: HashSet<String> = opened
            .iter()
            .flat_map(|b| b.meta().compaction.parents.iter().cloned())
            .collect();
        let mut keep = Vec::with_capacity(opened.len());
        let mut removed = false;
        for b in opened {
            if parents.contains(b.id()) {
                tracing::info!(
                    block = b.id(),
                    "removing a block already replaced by compaction"
                );
                let d = b.dir().to_path_buf();
                drop(b);
                std::fs::remove_dir_all(&d).map_err(io(&d))?;
                removed = true;
            } else {
                keep.push(Arc::new(b));
            }
        }
        refused.retain(|r| {
            let id = r.dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !parents.contains(id)
        });
        if removed {
            sync_dir(dir)?;
        }
        sort(&mut keep);
        Ok(BlockSet {
            dir: dir.to_path_buf(),
            blocks: RwLock::new(keep),
            refused: Mutex::new(refused),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blocks served now, sorted by time.
    pub fn snapshot(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// Blocks refused at open.
    pub fn refused(&self) -> Vec<RefusedBlock> {
        self.refused.lock().clone()
    }

    /// End (exclusive) of the newest block's range.
    pub fn max_time(&self) -> Option<i64> {
        self.blocks.read().iter().map(|b| b.meta().max_time).max()
    }

    /// Total bytes of the served blocks.
    pub fn size_bytes(&self) -> u64 {
        self.blocks.read().iter().map(|b| b.size_bytes()).sum()
    }

    /// Serves a newly written block.
    pub fn add(&self, b: Block) {
        let mut l = self.blocks.write();
        l.push(Arc::new(b));
        sort(&mut l);
    }

    /// Serves `new` in place of its parents, then deletes the parents from disk.
    pub fn replace(&self, new: Block) -> Result<()> {
        let parents: HashSet<String> = new.meta().compaction.parents.iter().cloned().collect();
        let gone: Vec<Arc<Block>> = {
            let mut l = self.blocks.write();
            let (gone, keep): (Vec<_>, Vec<_>) =
                l.drain(..).partition(|b| parents.contains(b.id()));
            *l = keep;
            l.push(Arc::new(new));
            sort(&mut l);
            gone
        };
        self.remove_dirs(&gone)
    }

    /// Stops serving the blocks with these ids and deletes them; returns their metas.
    pub fn delete(&self, ids: &HashSet<String>) -> Result<Vec<BlockMeta>> {
        let gone: Vec<Arc<Block>> = {
            let mut l = self.blocks.write();
            let (gone, keep): (Vec<_>, Vec<_>) = l.drain(..).partition(|b| ids.contains(b.id()));
            *l = keep;
            gone
        };
        self.remove_dirs(&gone)?;
        Ok(gone.iter().map(|b| b.meta().clone()).collect())
    }

    fn remove_dirs(&self, gone: &[Arc<Block>]) -> Result<()> {
        for b in gone {
            std::fs::remove_dir_all(b.dir()).map_err(io(b.dir()))?;
        }
        if !gone.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

fn sort(l: &mut [Arc<Block>]) {
    l.sort_by(|a, b| {
        (a.meta().min_time, a.meta().max_time, a.id()).cmp(&(
            b.meta().min_time,
            b.meta().max_time,
            b.id(),
        ))
    });
}
