//! The `storage` section: settings of the local time-series store.
//!
//! Written the way Prometheus' config file writes them, so a pasted `storage:` block works:
//!
//! ```yaml
//! storage:
//!   tsdb:
//!     retention:
//!       time: 15d      # drop blocks older than this; 0 = no time limit (default 15d)
//!       size: 50GB     # drop oldest blocks above this size; 0 = no size limit (default)
//!     out_of_order_time_window: 0s   # at most half of block_duration
//!     wal_fsync_interval: 1s   # lookout extension; unset = the store's default
//!     block_duration: 2h       # lookout extension (Prometheus: --storage.tsdb.min-block-duration)
//! ```
//!
//! In Prometheus, retention is usually given as command-line flags; lookout reads it only
//! from here. Cost: load time only.

use std::time::Duration;

use serde::Deserialize;

use crate::context::Ctx;
use crate::duration::PromDuration;
use crate::error::Result;
use crate::position::field;
use crate::size::ByteSize;

/// Default range of a block cut from the head.
pub const DEFAULT_BLOCK_DURATION: Duration = Duration::from_secs(2 * 3600);

/// Bounds of `block_duration`: a minute to a day (compaction builds longer blocks from it).
const BLOCK_DURATION_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));

/// Default age limit of stored samples.
pub const DEFAULT_RETENTION_TIME: Duration = Duration::from_secs(15 * 24 * 3600);

/// `storage` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of storage settings")]
pub struct RawStorageConfig {
    /// Time-series store settings.
    pub tsdb: Option<RawTsdbConfig>,
}

/// `storage.tsdb` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of tsdb settings")]
pub struct RawTsdbConfig {
    /// How far back out-of-order samples are accepted (default 0s: none).
    pub out_of_order_time_window: Option<PromDuration>,
    /// Retention limits.
    pub retention: Option<RawRetention>,
    /// How often the WAL is fsynced (lookout extension; unset = store default).
    pub wal_fsync_interval: Option<PromDuration>,
    /// Range of the blocks cut from the head (lookout extension; default 2h).
    pub block_duration: Option<PromDuration>,
}

/// `storage.tsdb.retention` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with time and size")]
pub struct RawRetention {
    /// Maximum age of data (default 15d; `0` disables the age limit).
    pub time: Option<PromDuration>,
    /// Maximum size of stored blocks, e.g. `50GB` (default 0: no size limit).
    pub size: Option<ByteSize>,
}

/// Checked storage settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageConfig {
    pub tsdb: TsdbConfig,
}

/// Checked time-series store settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsdbConfig {
    /// Zero means no age limit.
    pub retention_time: Duration,
    /// Bytes; zero means no size limit.
    pub retention_size: u64,
    pub out_of_order_time_window: Duration,
    /// `None`: the store's default.
    pub wal_fsync_interval: Option<Duration>,
    /// Range of the blocks cut from the head.
    pub block_duration: Duration,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        TsdbConfig {
            retention_time: DEFAULT_RETENTION_TIME,
            retention_size: 0,
            out_of_order_time_window: Duration::ZERO,
            wal_fsync_interval: None,
            block_duration: DEFAULT_BLOCK_DURATION,
        }
    }
}

impl RawStorageConfig {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<StorageConfig> {
        let Some(tsdb) = &self.tsdb else {
            return Ok(StorageConfig::default());
        };
        let tsdb_path = field(path, "tsdb");
        let retention = tsdb.retention.clone().unwrap_or_default();
        let wal_fsync_interval = match tsdb.wal_fsync_interval {
            Some(PromDuration(d)) if d.is_zero() => {
                return Err(ctx.invalid(
                    &field(&tsdb_path, "wal_fsync_interval"),
                    "wal_fsync_interval must be greater than 0 (leave it unset for the default)",
                ));
            }
            other => other.map(|p| p.0),
        };
        let block_duration = tsdb.block_duration.map_or(DEFAULT_BLOCK_DURATION, |p| p.0);
        let (lo, hi) = BLOCK_DURATION_RANGE;
        if block_duration < lo || block_duration > hi || block_duration.subsec_nanos() != 0 {
            return Err(ctx.invalid(
                &field(&tsdb_path, "block_duration"),
                "block_duration must be whole seconds between 1m and 24h",
            ));
        }
        let out_of_order_time_window = tsdb
            .out_of_order_time_window
            .map_or(Duration::ZERO, |p| p.0);
        // The head keeps at least half a block range behind its newest sample after a cut;
        // a longer window would accept samples the head no longer holds.
        if out_of_order_time_window > block_duration / 2 {
            return Err(ctx.invalid(
                &field(&tsdb_path, "out_of_order_time_window"),
                "out_of_order_time_window must be at most half of block_duration (default 2h)",
            ));
        }
        Ok(StorageConfig {
            tsdb: TsdbConfig {
                retention_time: retention.time.map_or(DEFAULT_RETENTION_TIME, |p| p.0),
                retention_size: retention.size.map_or(0, |b| b.0),
                out_of_order_time_window,
                wal_fsync_interval,
                block_duration,
            },
        })
    }
}
