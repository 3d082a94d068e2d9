//! The log index: container log lines in tantivy, partitioned by ingest time.
//!
//! Writers (the collector's tailer) go through [`LogWriter`]: append lines of a stream, then
//! commit with a payload (the tailer's checkpoint); a commit returns once the lines and the
//! payload are durable together. Readers (the Loki API) go through [`LogSearcher`]: stream
//! selectors, a time range, line filters, direction and limit. On-disk layout:
//! `store/docs/logs.md`.
//!
//! Modules: [`schema`] (fields, stream encoding), [`tokenizer`], [`level`] (detected level), [`merge`] (merge policy),
//! [`filter`] (line filters and pushdown), [`partition`] (one index per window), [`streams`]
//! (a partition's stream dictionary), [`writer`]
//! (the index, commits, retention), [`search`] (the searcher).
//!
//! Invariants: a stream is identified by its full label set; lines are never modified after
//! commit; only the newest partition is written.

pub mod error;
pub mod filter;
pub mod level;
pub mod merge;
pub mod partition;
pub mod schema;
pub mod search;
pub mod streams;
pub mod tokenizer;
pub mod writer;

pub use error::{LogError, Result};
pub use filter::{LineFilter, LineFilterOp};
pub use level::Level;
pub use writer::{
    CommitPolicy, IndexStats, IndexWriterHandle, LogIndex, LogIndexOptions, RetentionStats,
};

use crate::labels::Labels;
use crate::matcher::Matcher;
use std::sync::Arc;

/// One line to append.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    /// Nanoseconds since the epoch.
    pub ts_ns: i64,
    pub line: &'a str,
    /// [`schema::FLAG_TRUNCATED`] etc.
    pub flags: u64,
}

/// The write side of the log index.
pub trait LogWriter: Send {
    /// Adds lines of one stream to the pending batch (neither visible nor durable yet).
    fn append(&mut self, stream: &Labels, lines: &[LogLine<'_>]) -> Result<()>;
    /// Makes every pending line durable and visible, atomically with `payload`; returns when
    /// both are on disk.
    fn commit(&mut self, payload: &str) -> Result<()>;
    /// Lines appended since the last commit.
    fn pending(&self) -> u64;
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Forward,
    #[default]
    Backward,
}

/// What to search: streams, a time range and line filters.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Stream selector; all must match. Empty selects every stream.
    pub matchers: Vec<Matcher>,
    /// Inclusive start, ns.
    pub start_ns: i64,
    /// Exclusive end, ns.
    pub end_ns: i64,
    /// All must pass.
    pub filters: Vec<LineFilter>,
}

/// One line found.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub ts_ns: i64,
    pub labels: Arc<Labels>,
    /// Empty when the caller did not ask for lines.
    pub line: String,
    pub level: Level,
    /// Length of the stored line in bytes.
    pub bytes: u64,
    pub flags: u64,
}

/// Index statistics of a selector over a range (Loki's `/index/stats`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SelectorStats {
    pub streams: u64,
    pub chunks: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// The read side of the log index.
pub trait LogSearcher: Send + Sync {
    /// Up to `limit` rows in `direction` order that pass the query and `keep` (which may
    /// rewrite a row: labels, line). `keep` sees rows in order.
    fn select(
        &self,
        q: &LogQuery,
        direction: Direction,
        limit: usize,
        keep: &mut dyn FnMut(&mut LogRow) -> bool,
    ) -> Result<Vec<LogRow>>;
    /// Visits every row passing the query, in no particular order; `visit` returns false to
    /// stop. Without `need_line` rows carry an empty line (cheaper: no stored-text reads),
    /// unless the query has line filters.
    fn scan(
        &self,
        q: &LogQuery,
        need_line: bool,
        visit: &mut dyn FnMut(&LogRow) -> bool,
    ) -> Result<()>;
    /// Label sets of the streams matching `matchers` with lines in range, sorted.
    fn series(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<Labels>>;
    /// Label names of the streams matching `matchers` in range, sorted.
    fn label_names(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<String>>;
    /// Values of label `name` in the matching streams in range, sorted.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>>;
    /// Streams, segments, lines and bytes of a selector over a range.
    fn stats(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<SelectorStats>;
}

/// A searcher with no logs (log tailing off): every answer is empty, so the Loki API stays
/// mounted and Grafana's data source test succeeds.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLogs;

impl LogSearcher for NoLogs {
    fn select(
        &self,
        _: &LogQuery,
        _: Direction,
        _: usize,
        _: &mut dyn FnMut(&mut LogRow) -> bool,
    ) -> Result<Vec<LogRow>> {
        Ok(Vec::new())
    }
    fn scan(&self, _: &LogQuery, _: bool, _: &mut dyn FnMut(&LogRow) -> bool) -> Result<()> {
        Ok(())
    }
    fn series(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Labels>> {
        Ok(Vec::new())
    }
    fn label_names(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn label_values(&self, _: &str, _: &[Matcher], _: i64, _: i64) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn stats(&self, _: &[Matcher], _: i64, _: i64) -> Result<SelectorStats> {
        Ok(SelectorStats::default())
    }
}

#[cfg(test)]
mod tests;
