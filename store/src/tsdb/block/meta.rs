//! A block's `meta.json` and its identifier.
//!
//! The id is a ULID-shaped string: 26 Crockford base-32 characters, 48 bits of creation time
//! in ms then 80 bits of per-process randomness, so ids sort by creation time and two
//! processes do not collide. Blocks are ordered by `min_time`, not by id.
//!
//! Invariants: `min_time < max_time`; the block holds samples in `[min_time, max_time)`
//! (`max_time` exclusive, as in Prometheus); `compaction.parents` names the blocks this one
//! replaces (empty for a block cut from the head), which is what makes compaction crash-safe.
//!
//! Cost: a few hundred bytes of JSON per block, read once at open.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The block format version written in `meta.json`.
pub const BLOCK_VERSION: u32 = 1;

/// The meta file's name inside a block directory.
pub const META_FILE: &str = "meta.json";

/// Counts of what a block holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
}

/// How a block came to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head; one more than the highest parent's after compaction.
    pub level: u32,
    /// Ids of the head-cut blocks whose data this block holds (transitively).
    pub sources: Vec<String>,
    /// Ids of the blocks this one was compacted from (and replaces).
    #[serde(default)]
    pub parents: Vec<String>,
}

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockMeta {
    pub id: String,
    /// Inclusive lower bound of the block's time range (ms).
    pub min_time: i64,
    /// Exclusive upper bound of the block's time range (ms).
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: Compaction,
    pub version: u32,
}

impl BlockMeta {
    /// Reads and checks `<dir>/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta> {
        let path = dir.join(META_FILE);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let meta: BlockMeta = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: format!("invalid meta.json: {e}"),
        })?;
        let bad = |reason: String| Error::Corrupt {
            path: path.clone(),
            reason,
        };
        if meta.version != BLOCK_VERSION {
            return Err(bad(format!("unsupported block version {}", meta.version)));
        }
        if meta.min_time >= meta.max_time {
            return Err(bad(format!(
                "empty time range [{}, {})",
                meta.min_time, meta.max_time
            )));
        }
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name != meta.id {
            return Err(bad(format!(
                "id {:?} does not match directory name {name:?}",
                meta.id
            )));
        }
        Ok(meta)
    }

    /// The JSON written to `meta.json`.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// True when the block may hold samples in `[mint, maxt]` (inclusive).
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && self.max_time > mint
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new block id: creation time in ms, then randomness.
pub fn new_block_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        & ((1 << 48) - 1);
    let rand = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.finish()
    };
    let (r1, r2) = (rand(ms), rand(!ms));
    // 128 bits: 48 time, 64 + 16 random.
    let v: u128 = (u128::from(ms) << 80) | (u128::from(r1) << 16) | u128::from(r2 & 0xffff);
    (0..26)
        .map(|i| {
            let shift = 5 * (25 - i);
            char::from(CROCKFORD[((v >> shift) & 31) as usize])
        })
        .collect()
}

/// True when `name` looks like a block id (so stray directories are left alone).
pub fn is_block_id(name: &str) -> bool {
    name.len() == 26 && name.bytes().all(|b| CROCKFORD.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sortable_and_recognised() {
        let a = new_block_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_block_id();
        assert!(is_block_id(&a) && is_block_id(&b), "{a} {b}");
        assert!(a < b, "{a} !< {b}");
        assert_ne!(new_block_id(), new_block_id());
        assert!(!is_block_id("01ARZ3NDEKTSV4RRFFQ69G5FA")); // 25 chars
        assert!(!is_block_id("01ARZ3NDEKTSV4RRFFQ69G5FAI")); // I is not Crockford
    }

    #[test]
    fn meta_round_trips_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let id = new_block_id();
        let bdir = dir.path().join(&id);
        std::fs::create_dir(&bdir).unwrap();
        let meta = BlockMeta {
            id: id.clone(),
            min_time: 0,
            max_time: 7_200_000,
            stats: BlockStats {
                num_series: 2,
                num_samples: 10,
                num_chunks: 2,
            },
            compaction: Compaction {
                level: 1,
                sources: vec![id.clone()],
                parents: vec![],
            },
            version: BLOCK_VERSION,
        };
        std::fs::write(bdir.join(META_FILE), meta.to_json()).unwrap();
        assert_eq!(BlockMeta::read(&bdir).unwrap(), meta);
        let mut bad = meta.clone();
        bad.max_time = 0;
        std::fs::write(bdir.join(META_FILE), bad.to_json()).unwrap();
        let e = BlockMeta::read(&bdir).unwrap_err().to_string();
        assert!(e.contains("empty time range"), "{e}");
        std::fs::write(bdir.join(META_FILE), b"{not json").unwrap();
        let e = BlockMeta::read(&bdir).unwrap_err().to_string();
        assert!(e.contains("invalid meta.json"), "{e}");
    }
}
