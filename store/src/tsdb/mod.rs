//! The time-series database: the in-memory head (and, later, WAL, blocks and compaction).

pub mod bits;
pub mod chunk;
pub mod head;
