//! The time-series database: the in-memory head (and, later, WAL, blocks and compaction).
//!
//! Layout: `bits` and `chunk` are the sample encoding; `label_codec`, `series`, `ooo` and
//! `series_map` hold series; `postings` indexes them; `head` and `appender` tie it together.

pub mod appender;
pub mod bits;
pub mod chunk;
pub mod head;
pub mod label_codec;
pub mod ooo;
pub mod postings;
pub mod series;
pub mod series_map;
