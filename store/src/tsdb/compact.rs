//! Turning the head into blocks and small blocks into larger ones.
//!
//! **Head cut** (as Prometheus does): when the head spans more than 1.5 block ranges, the
//! oldest aligned range `[a, a + range)` is written as a level-1 block. First the head's
//! truncation point is raised to `a + range` and in-flight commits are waited out (commits
//! apply under the WAL's writer lock), so no sample of that range can land in the head after
//! it was read; then every series' samples in the range are written in label order.
//!
//! **Compaction**: blocks are grouped into aligned windows of the larger ranges (`3 ×` each
//! step: 2 h → 6 h → 18 h …, capped at a maximum, by default a tenth of retention); a window
//! holding two or more blocks is merged into one block once it is complete (it spans the
//! whole window or ends before the newest block starts). Blocks whose time ranges overlap
//! are merged first, whatever their size. The new block lists its parents in `meta.json`;
//! the parents are deleted only after it is durable (see `block_set` for the crash rules).
//!
//! Invariants: a sample lives in at most one served block once a compaction finished;
//! merged samples are deduplicated by timestamp, the newer block winning.
//!
//! Cost: a head cut decodes and re-encodes one block range of the head; a compaction reads
//! every sample of its sources once; both hold the labels of every series in memory.

use super::block::Block;
use super::block::meta::Compaction;
use super::block::sealed::TsCache;
use super::block::writer::BlockWriter;
use super::block_set::BlockSet;
use super::head::Head;
use super::merge::merge_samples;
use crate::Labels;
use crate::error::Result;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The aligned range the head should be cut at now, if it spans more than 1.5 ranges.
pub fn head_cut_range(head: &Head, range: i64) -> Option<(i64, i64)> {
    if range <= 0 {
        return None;
    }
    // Samples before the truncation point are already in a block (or dropped).
    let lo = head.min_time()?.max(head.restore_point().0);
    let hi = head.max_time()?;
    if hi.saturating_sub(lo) <= range / 2 * 3 {
        return None;
    }
    let a = lo.div_euclid(range).saturating_mul(range);
    Some((a, a.saturating_add(range)))
}

/// Writes the head's samples in `[a, b)` as a block (`None` when there were none). The
/// caller then truncates the head before `b` (with a WAL checkpoint).
pub fn write_head_block(head: &Head, blocks: &BlockSet, a: i64, b: i64) -> Result<Option<Block>> {
    head.raise_min_valid(b);
    if let Some(w) = head.wal() {
        // Barrier: every commit that read the old truncation point has applied.
        drop(w.begin());
    }
    let mut series: Vec<(Labels, Arc<super::series::MemSeries>)> = head
        .series
        .all()
        .into_iter()
        .map(|s| (s.labels.to_labels(), s))
        .collect();
    series.sort_unstable_by(|x, y| x.0.cmp(&y.0));
    let mut w = BlockWriter::create(blocks.dir())?;
    let mut buf = Vec::new();
    for (labels, s) in series {
        buf.clear();
        s.state.lock().collect(a, b - 1, &mut buf);
        w.add_series(labels, &buf)?;
    }
    match w.finish(
        a,
        b,
        Compaction {
            level: 1,
            ..Compaction::default()
        },
    )? {
        Some((_, dir)) => Ok(Some(Block::open(&dir)?)),
        None => Ok(None),
    }
}

/// The compaction ranges: `base`, then ×3 while at most `max` (at least `base` itself).
pub fn ranges(base: i64, max: i64) -> Vec<i64> {
    let mut out = vec![base];
    while let Some(next) = out.last().and_then(|r| r.checked_mul(3)) {
        if next > max {
            break;
        }
        out.push(next);
    }
    out
}

/// Picks blocks to merge next (ids in time order), if any.
pub fn plan(blocks: &[Arc<Block>], ranges: &[i64]) -> Option<Vec<Arc<Block>>> {
    let mut sorted: Vec<Arc<Block>> = blocks.to_vec();
    sorted.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    // Overlapping blocks first.
    let mut group: Vec<Arc<Block>> = Vec::new();
    let mut end = i64::MIN;
    for b in &sorted {
        if !group.is_empty() && b.meta().min_time < end {
            group.push(Arc::clone(b));
            end = end.max(b.meta().max_time);
            continue;
        }
        if group.len() > 1 {
            return Some(group);
        }
        group = vec![Arc::clone(b)];
        end = b.meta().max_time;
    }
    if group.len() > 1 {
        return Some(group);
    }
    // Leave the newest block alone: another of the same size may still join its window.
    let newest = sorted.pop()?;
    let high = newest.meta().min_time;
    for &r in ranges.iter().skip(1) {
        let mut windows: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
        for b in &sorted {
            let k = b.meta().min_time.div_euclid(r);
            // Only blocks that fit inside one window.
            if b.meta().max_time <= k.saturating_add(1).saturating_mul(r) {
                windows.entry(k).or_default().push(Arc::clone(b));
            }
        }
        for (_, p) in windows.into_iter().rev() {
            let (Some(first), Some(last)) = (p.first(), p.last()) else {
                continue;
            };
            let (mint, maxt) = (first.meta().min_time, last.meta().max_time);
            if p.len() > 1 && (maxt - mint == r || maxt <= high) {
                return Some(p);
            }
        }
    }
    None
}

/// Merges `sources` (time order) into one new block, serves it and deletes the sources.
pub fn compact(blocks: &BlockSet, sources: &[Arc<Block>]) -> Result<Option<String>> {
    let mut index: BTreeMap<Labels, Vec<(usize, u64)>> = BTreeMap::new();
    let mut metas = Vec::new();
    for (i, b) in sources.iter().enumerate() {
        for ord in 0..b.num_series() as u64 {
            let labels = b.series_labels(ord)?;
            index.entry(labels).or_default().push((i, ord));
        }
    }
    let mut w = BlockWriter::create(blocks.dir())?;
    let mut lists: Vec<Vec<(i64, f64)>> = Vec::new();
    // Shared timestamp columns are per block file: one cache per source.
    let mut caches: Vec<TsCache> = sources.iter().map(|_| TsCache::new()).collect();
    for (labels, parts) in index {
        lists.clear();
        for (i, ord) in parts {
            let mut buf = Vec::new();
            let cache = &mut caches[i];
            sources[i].series_samples(ord, i64::MIN, i64::MAX, &mut metas, cache, &mut buf)?;
            lists.push(buf);
        }
        let merged = merge_samples(std::mem::take(&mut lists));
        w.add_series(labels, &merged)?;
    }
    let mint = sources.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let maxt = sources.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
    let mut src: Vec<String> = sources
        .iter()
        .flat_map(|b| b.meta().compaction.sources.iter().cloned())
        .collect();
    src.sort();
    src.dedup();
    let c = Compaction {
        level: sources
            .iter()
            .map(|b| b.meta().compaction.level)
            .max()
            .unwrap_or(0)
            + 1,
        sources: src,
        parents: sources.iter().map(|b| b.id().to_owned()).collect(),
    };
    match w.finish(mint, maxt, c)? {
        Some((meta, dir)) => {
            blocks.replace(Block::open(&dir)?)?;
            Ok(Some(meta.id))
        }
        None => {
            // Sources without a single sample: nothing to keep.
            let ids = sources.iter().map(|b| b.id().to_owned()).collect();
            blocks.delete(&ids)?;
            Ok(None)
        }
    }
}
