//! The time-series database: the in-memory head, its write-ahead log (and, later, blocks and
//! compaction).
//!
//! Layout: `bits` and `chunk` are the sample encoding; `label_codec`, `series`, `ooo` and
//! `series_map` hold series; `postings` indexes them; `head` and `appender` tie it together;
//! `wal` makes commits durable and `db` opens a head from disk.

pub mod appender;
pub mod bits;
pub mod block;
pub mod chunk;
pub mod db;
pub mod head;
pub mod label_codec;
pub mod ooo;
pub mod postings;
pub mod series;
pub mod series_map;
pub mod wal;
