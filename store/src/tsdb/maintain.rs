//! Keeping the store in shape: cutting the head into blocks, compacting blocks, applying
//! retention. One pass is [`Maintenance::run`]; `Db` calls it from a background thread every
//! `compact_interval` and on demand ([`Db::compact`](super::db::Db::compact)).
//!
//! Order within a pass: (1) while the head spans more than 1.5 block ranges, write its
//! oldest range as a block, then truncate the head there and checkpoint the WAL, so a
//! restart replays only what no block holds; (2) while the planner finds blocks to merge,
//! merge them; (3) delete blocks beyond retention, and truncate the head itself if it holds
//! samples older than the time retention.
//!
//! Invariants: passes never run concurrently (one mutex); a failure stops the pass with an
//! error and leaves the served state consistent (a block is served only once durable, its
//! sources deleted only after).
//!
//! Cost: see `compact`; a pass with nothing to do costs a few atomic loads and a lock.

use super::block_set::BlockSet;
use super::compact;
use super::head::Head;
use super::retention;
use super::wal::{self, Wal};
use crate::error::Result;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Maximum block range when retention does not bound it (31 days, as Prometheus).
pub const MAX_BLOCK_RANGE_CAP: i64 = 31 * 24 * 3600 * 1000;

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintenanceStats {
    /// Blocks written from the head.
    pub head_blocks: u64,
    /// Block merges done.
    pub compactions: u64,
    /// Blocks deleted by retention.
    pub retention_deleted: u64,
}

/// Cumulative counters for self-metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub head_blocks: AtomicU64,
    pub compactions: AtomicU64,
    pub failures: AtomicU64,
    pub retention_deleted: AtomicU64,
}

/// Everything a maintenance pass needs.
#[derive(Debug)]
pub struct Maintenance {
    pub head: Arc<Head>,
    pub wal: Arc<Wal>,
    pub blocks: Arc<BlockSet>,
    pub block_range: i64,
    pub ranges: Vec<i64>,
    pub retention_ms: i64,
    pub retention_bytes: u64,
    pub counters: Counters,
    lock: Mutex<()>,
}

impl Maintenance {
    pub fn new(
        head: Arc<Head>,
        wal: Arc<Wal>,
        blocks: Arc<BlockSet>,
        block_range: i64,
        max_range: i64,
        retention_ms: i64,
        retention_bytes: u64,
    ) -> Self {
        let max = if max_range > 0 {
            max_range
        } else if retention_ms > 0 {
            (retention_ms / 10).min(MAX_BLOCK_RANGE_CAP)
        } else {
            MAX_BLOCK_RANGE_CAP
        };
        let ranges = if block_range > 0 {
            compact::ranges(block_range, max)
        } else {
            Vec::new()
        };
        Self {
            head,
            wal,
            blocks,
            block_range,
            ranges,
            retention_ms,
            retention_bytes,
            counters: Counters::default(),
            lock: Mutex::new(()),
        }
    }

    /// One pass; counts a failure before returning it.
    pub fn run(&self) -> Result<MaintenanceStats> {
        let _one = self.lock.lock();
        let mut st = MaintenanceStats::default();
        let res = self.pass(&mut st);
        let c = &self.counters;
        c.head_blocks.fetch_add(st.head_blocks, Ordering::Relaxed);
        c.compactions.fetch_add(st.compactions, Ordering::Relaxed);
        c.retention_deleted
            .fetch_add(st.retention_deleted, Ordering::Relaxed);
        if res.is_err() {
            c.failures.fetch_add(1, Ordering::Relaxed);
        }
        res.map(|()| st)
    }

    fn pass(&self, st: &mut MaintenanceStats) -> Result<()> {
        while let Some((a, b)) = compact::head_cut_range(&self.head, self.block_range) {
            let block = compact::write_head_block(&self.head, &self.blocks, a, b)?;
            if let Some(block) = block {
                tracing::info!(
                    block = block.id(),
                    min_time = a,
                    max_time = b,
                    series = block.meta().stats.num_series,
                    samples = block.meta().stats.num_samples,
                    bytes = block.size_bytes(),
                    "head block written"
                );
                self.blocks.add(block);
                st.head_blocks += 1;
            }
            self.head.truncate_before(b);
            wal::checkpoint::checkpoint(&self.wal, &self.head)?;
        }
        while let Some(group) = compact::plan(&self.blocks.snapshot(), &self.ranges) {
            let ids: Vec<&str> = group.iter().map(|b| b.id()).collect();
            let new = compact::compact(&self.blocks, &group)?;
            tracing::info!(sources = ?ids, block = ?new, "blocks compacted");
            st.compactions += 1;
        }
        self.retention(st)
    }

    fn retention(&self, st: &mut MaintenanceStats) -> Result<()> {
        let now = self
            .head
            .max_time()
            .map(|t| t.saturating_add(1))
            .into_iter()
            .chain(self.blocks.max_time())
            .max();
        let Some(now) = now else {
            return Ok(());
        };
        let gone: HashSet<String> = retention::expired(
            &self.blocks.snapshot(),
            now,
            self.retention_ms,
            self.retention_bytes,
            self.wal.disk_usage().0,
        );
        if !gone.is_empty() {
            let metas = self.blocks.delete(&gone)?;
            for m in &metas {
                tracing::info!(
                    block = m.id,
                    min_time = m.min_time,
                    max_time = m.max_time,
                    "retention deleted a block"
                );
            }
            st.retention_deleted += metas.len() as u64;
        }
        if self.retention_ms > 0
            && let Some(lo) = self.head.min_time()
        {
            let cutoff = now.saturating_sub(self.retention_ms);
            if lo < cutoff {
                let tr = self.head.truncate_before(cutoff);
                wal::checkpoint::checkpoint(&self.wal, &self.head)?;
                tracing::info!(
                    cutoff,
                    chunks = tr.chunks_removed,
                    series = tr.series_removed,
                    "retention truncated the head"
                );
            }
        }
        Ok(())
    }
}
