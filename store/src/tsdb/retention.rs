//! Retention: which whole blocks to delete, by age and by total size.
//!
//! By time: a block goes when all of its range is older than the reference time (the newest
//! sample the store holds) minus the retention. By size: walking from the newest block back,
//! once the blocks so far plus the bytes kept elsewhere (WAL) exceed the limit, that block
//! and every older one go. Deletion itself is `BlockSet::delete`, safe while queries read
//! (they hold their own `Arc` of each block).
//!
//! Cost: linear in the number of blocks.

use super::block::Block;
use std::collections::HashSet;
use std::sync::Arc;

/// Ids of the blocks beyond the retention limits (0 = no limit).
pub fn expired(
    blocks: &[Arc<Block>],
    now: i64,
    retention_ms: i64,
    retention_bytes: u64,
    other_bytes: u64,
) -> HashSet<String> {
    let mut out = HashSet::new();
    if retention_ms > 0 {
        let cutoff = now.saturating_sub(retention_ms);
        for b in blocks.iter().filter(|b| b.meta().max_time <= cutoff) {
            out.insert(b.id().to_owned());
        }
    }
    if retention_bytes > 0 {
        let mut newest_first: Vec<&Arc<Block>> = blocks.iter().collect();
        newest_first.sort_by_key(|b| std::cmp::Reverse(b.meta().max_time));
        let mut total = other_bytes;
        for b in newest_first {
            total = total.saturating_add(b.size_bytes());
            if total > retention_bytes {
                out.insert(b.id().to_owned());
            }
        }
    }
    out
}
