//! Checkpoints: how far each log file has been read *and committed to the index*.
//!
//! A file is identified by device + inode plus a fingerprint of its first bytes (FNV-1a 64 of
//! up to [`FP_BYTES`] bytes; inodes are reused after deletion, and a gzipped rotated file is
//! recognised by the fingerprint of its decompressed start). A checkpoint is the JSON of every
//! tracked or recently finished file; it travels as the payload of each index commit (so lines
//! and offsets become durable together) and is also written to `logs/checkpoints` after the
//! commit (write tmp, fsync, rename, fsync the directory). On start the one with the higher
//! `seq` wins — normally the index's.
//!
//! Cost: one small JSON document per commit.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes fingerprinted at the start of a file.
pub const FP_BYTES: usize = 256;

/// FNV-1a 64.
pub fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Identity of a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// How many leading bytes `fp` covers (grows up to [`FP_BYTES`] as the file grows).
    pub fp_len: u32,
    pub fp: u64,
}

impl FileId {
    /// Whether `head` (the first bytes of some file, at least `fp_len` long) has this
    /// fingerprint.
    pub fn fp_matches(&self, head: &[u8]) -> bool {
        let n = self.fp_len as usize;
        n > 0 && head.len() >= n && fnv1a(&head[..n]) == self.fp
    }
}

/// One file's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub id: FileId,
    /// Last known path.
    pub path: PathBuf,
    /// Bytes of (decompressed) content whose lines are committed.
    pub offset: u64,
    /// Read to the end and released; never read again.
    pub done: bool,
    /// The file's size when the checkpoint was taken (0: unknown, e.g. a `.gz`). If the file
    /// is gone after a restart, `size - offset` bytes are known to be lost.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Those lost bytes were counted already (by an earlier start of the agent).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lost_counted: bool,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// The whole checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub files: Vec<Record>,
}

impl Checkpoint {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    pub fn from_json(s: &str) -> Option<Checkpoint> {
        serde_json::from_str(s).ok()
    }

    /// Reads the checkpoint file; `None` when missing or unreadable.
    pub fn read_file(path: &Path) -> Option<Checkpoint> {
        Self::from_json(&std::fs::read_to_string(path).ok()?)
    }

    /// Writes the checkpoint file atomically and durably.
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.to_json().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_fingerprints() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("logs/checkpoints");
        assert_eq!(Checkpoint::read_file(&p), None);
        let head = b"2024-01-01T00:00:00Z stdout F hi\n";
        let c = Checkpoint {
            seq: 3,
            files: vec![Record {
                id: FileId {
                    dev: 1,
                    ino: 2,
                    fp_len: 10,
                    fp: fnv1a(&head[..10]),
                },
                path: "/x/0.log".into(),
                offset: 33,
                done: false,
                size: 40,
                lost_counted: false,
            }],
        };
        c.write_file(&p).unwrap();
        assert_eq!(Checkpoint::read_file(&p), Some(c.clone()));
        assert!(c.files[0].id.fp_matches(head));
        assert!(!c.files[0].id.fp_matches(b"2024-01-02T00:00:00Z"));
        assert!(!c.files[0].id.fp_matches(b"short"));
        // Checkpoints written before `size` existed still load.
        let old = r#"{"seq":1,"files":[{"dev":1,"ino":2,"fp_len":0,"fp":0,"path":"/x","offset":5,"done":false}]}"#;
        let c = Checkpoint::from_json(old).unwrap();
        assert_eq!((c.files[0].size, c.files[0].lost_counted), (0, false));
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(Checkpoint::read_file(&p), None);
    }
}
