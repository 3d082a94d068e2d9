//! The time-series database: the in-memory head, its write-ahead log, blocks on disk and
//! their compaction and retention.
//!
//! Layout: `bits` and `chunk` are the sample encoding; `label_codec`, `series`, `ooo` and
//! `series_map` hold series; `postings` indexes them; `head` and `appender` tie it together;
//! `wal` makes commits durable; `block` is the on-disk format, `block_set` the served
//! blocks, `compact`, `retention` and `maintain` shape them, `merge` combines query answers,
//! and `db` ties head, WAL and blocks together.

pub mod appender;
pub mod bits;
pub mod block;
pub mod block_set;
pub mod chunk;
pub mod compact;
pub mod db;
pub mod enc;
pub mod head;
pub mod label_codec;
pub mod maintain;
pub mod merge;
pub mod ooo;
pub mod postings;
pub mod retention;
pub mod series;
pub mod series_map;
pub mod wal;
