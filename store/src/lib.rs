//! lookout-store: the time-series store (`tsdb`) and, later, the log index.
//!
//! This crate owns the seam between writers (the scrape pipeline, rule evaluation, remote
//! write) and readers (the query API): writers go through [`Appender`], readers through
//! [`Querier`]. Neither side sees how samples are laid out.
//!
//! Invariants: a [`Labels`] set is sorted by name with unique names; a [`SeriesRef`] is never
//! zero and stays valid for the life of the head that issued it.

pub mod error;
pub mod labels;
pub mod logs;
pub mod matcher;
pub mod tsdb;

pub use error::{Error, Result};
pub use labels::{Label, Labels};
pub use matcher::{MatchOp, Matcher};
pub use tsdb::db::{Db, DbOptions};
pub use tsdb::head::{Head, HeadOptions, TruncateStats};
pub use tsdb::wal::{FsyncPolicy, WalOptions, WalStats};

/// A handle to a series inside a head; `0` is never issued and means "look up by labels".
pub type SeriesRef = u64;

/// The bit pattern Prometheus writes as a staleness marker (a signalling NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True for exactly the staleness marker's bit pattern (not for any other NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One series and its samples in a time range, as returned by [`Querier::select`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    /// `(timestamp in ms, value)` in ascending time order; staleness markers included.
    pub samples: Vec<(i64, f64)>,
}

/// A batch of appends that becomes visible (and durable, once the WAL exists) at `commit`.
///
/// Scrape loops open one appender per scrape; a scrape that fails (sample limit, parse error)
/// calls `rollback` and nothing of it is stored.
pub trait Appender: Send {
    /// Appends a sample. With `r == 0` the series is looked up (or created) by `labels`; with a
    /// cached non-zero `r` the labels are not looked at. Returns the series' reference.
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef>;
    /// Makes every sample of this batch visible.
    fn commit(self: Box<Self>) -> Result<AppendStats>;
    /// Discards every sample of this batch.
    fn rollback(self: Box<Self>);
}

/// What a commit did, for the caller's self-metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples stored.
    pub appended: u64,
    /// Samples dropped silently: same timestamp and same value bits as a stored sample.
    pub duplicates: u64,
    /// Samples rejected: same timestamp as a stored sample but a different value
    /// ("duplicate sample for timestamp").
    pub duplicate_conflicts: u64,
    /// Samples rejected: older than their series' last sample, out-of-order ingestion off.
    pub out_of_order: u64,
    /// Samples rejected: outside the out-of-order window or before the head's truncation.
    pub too_old: u64,
}

/// Anything that hands out appenders.
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// The read side: everything the query API needs.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers` with at least one sample in `[mint, maxt]` (ms,
    /// inclusive), sorted by labels, each with its samples inside the range.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>>;
    /// Label names of the series matching `matchers` (all series when empty), sorted.
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>>;
    /// Values of label `name` on the series matching `matchers`, sorted.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>>;
}
