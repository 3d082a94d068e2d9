//! The write-ahead log: every commit of a head is written here before its samples become
//! visible, and at start the head is rebuilt from it.
//!
//! Layout (spec: `store/docs/wal-format.md`): `record` encodes record bodies and frames,
//! `segment` reads and writes files, `writer` is the log a head commits through (segments,
//! fsync policy, group commit), `replay` rebuilds a head, `checkpoint` bounds replay by
//! snapshotting the head and deleting the segments it covers.
//!
//! Invariants: records are checksummed (CRC32C) and only whole ones are ever kept; the order
//! of records is the order in which the head applied them; series refs in the log are the
//! head's refs, so they are the same after replay.
//!
//! Cost: about 10-11 bytes per sample in segments, one `write` per commit, fsyncs as the
//! [`FsyncPolicy`] says.

pub mod checkpoint;
pub mod record;
pub mod replay;
pub mod replay_shard;
pub mod segment;
pub mod writer;

pub use checkpoint::CheckpointStats;
pub use replay::ReplayStats;
pub use segment::FaultInjector;
pub use writer::{FsyncPolicy, Wal, WalOptions};

/// Point-in-time self-metrics of a WAL.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WalStats {
    /// Bytes of all segments and checkpoints on disk.
    pub bytes: u64,
    pub segments: u64,
    pub segments_created: u64,
    pub fsyncs: u64,
    pub fsync_seconds: f64,
    pub fsync_failures: u64,
    /// Commits that failed because the log could not be written (nothing was stored).
    pub write_failures: u64,
    pub checkpoints: u64,
    pub checkpoint_failures: u64,
    /// Commits written since open, and how many of them are known durable.
    pub written_seq: u64,
    pub synced_seq: u64,
}

impl Wal {
    pub fn stats(&self) -> WalStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.counters;
        let (bytes, segments) = self.disk_usage();
        WalStats {
            bytes,
            segments,
            segments_created: c.segments_created.load(Relaxed),
            fsyncs: c.fsyncs.load(Relaxed),
            fsync_seconds: c.fsync_nanos.load(Relaxed) as f64 / 1e9,
            fsync_failures: c.fsync_failures.load(Relaxed),
            write_failures: c.write_failures.load(Relaxed),
            checkpoints: c.checkpoints.load(Relaxed),
            checkpoint_failures: c.checkpoint_failures.load(Relaxed),
            written_seq: self.written_seq(),
            synced_seq: self.synced_seq(),
        }
    }
}
