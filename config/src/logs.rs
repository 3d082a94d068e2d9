//! The `logs` section: container and host log tailing and the local log index.
//!
//! ```yaml
//! logs:
//!   enabled: true            # default: on when pods_root exists
//!   pods_root: /var/log/pods # kubelet's pod log directory (default)
//!   paths: [/var/log/syslog, '/var/log/*.log']   # host logs; wildcards in the file name only
//!   node: node-1             # the `node` label; default $NODE_NAME, else the host name
//!   start_at_end: false      # on a node without a checkpoint, skip what is already there
//!   max_line_size: 256KB     # longer lines are cut and flagged (1KB to 64MB)
//!   rate_limit: 0            # bytes per second per file, above which lines are dropped (counted)
//!   release_timeout: 5m      # a rotated-away or deleted file not read to its end by then is
//!                            # given up (unread bytes counted in lookout_log_bytes_lost_total)
//!   max_deleted_backlog: 1GB # unread bytes kept on disk in deleted files held open; above it the
//!                            # files deleted first are given up (counted); 0 = no limit
//!   commit:
//!     max_lines: 100000      # commit the index after this many lines...
//!     interval: 1s           # ...or this much time
//!   index:
//!     partition: 6h          # one index per window of ingest time
//!     writer_memory: 32MB    # indexing buffer (at least 15MB)
//!     max_merge_lines: 1000000  # no merge builds a bigger segment (bounds merge memory)
//!   retention:
//!     time: 7d               # drop partitions older than this; 0 = keep
//!     size: 0                # drop oldest partitions above this size; 0 = no limit
//!   pod_labels:              # Kubernetes pod labels on pod log streams (needs `kubernetes`)
//!     include: ['*']         # label keys (wildcards * ?) that become stream labels; [] = none
//!     wait: 5s               # a new pod's file waits this long for its labels, then is read without
//!     keep_deleted: 10m      # a deleted pod's labels are kept this long for its last lines
//! ```
//!
//! Cost: load time only.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::context::Ctx;
use crate::duration::PromDuration;
use crate::error::Result;
use crate::position::{field, index};
use crate::size::ByteSize;

/// Default pod log directory.
pub const DEFAULT_PODS_ROOT: &str = "/var/log/pods";
/// Default maximum line size (bytes).
pub const DEFAULT_MAX_LINE_SIZE: u64 = 256 * 1024;
/// Largest `max_line_size`: the log index stores a line's length in 28 bits (256 MiB), which
/// leaves room for a cut line's invalid UTF-8 growing threefold when decoded lossily.
pub const MAX_MAX_LINE_SIZE: u64 = 64 << 20;
/// Default log retention.
pub const DEFAULT_LOG_RETENTION_TIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// `logs` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of log settings")]
pub struct RawLogsConfig {
    /// Tail logs at all (default: when `pods_root` exists).
    pub enabled: Option<bool>,
    /// Kubelet's pod log directory (default `/var/log/pods`).
    pub pods_root: Option<String>,
    /// Host log files, as globs with wildcards in the file name only.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The `node` label (default: `$NODE_NAME`, else the host name).
    pub node: Option<String>,
    /// On a node without a checkpoint, start at the end of existing files.
    pub start_at_end: Option<bool>,
    /// Longer lines are cut to this size and flagged (default 256KB).
    pub max_line_size: Option<ByteSize>,
    /// Per-file bytes per second above which lines are dropped and counted (0: none).
    pub rate_limit: Option<ByteSize>,
    /// A rotated-away or deleted file is given up after this long if not read to its end
    /// (default 5m, at least 1s); its unread bytes are counted as lost.
    pub release_timeout: Option<PromDuration>,
    /// Unread bytes that deleted files held open may keep on disk (default 1GB; 0: no
    /// limit); above it, the files deleted first are given up and their unread bytes
    /// counted as lost.
    pub max_deleted_backlog: Option<ByteSize>,
    /// When to commit the index.
    pub commit: Option<RawLogCommit>,
    /// Index layout.
    pub index: Option<RawLogIndex>,
    /// Retention limits.
    pub retention: Option<RawLogRetention>,
    /// Kubernetes pod labels on pod log streams.
    pub pod_labels: Option<RawLogPodLabels>,
}

/// `logs.pod_labels` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with include, wait and keep_deleted"
)]
pub struct RawLogPodLabels {
    /// Pod label keys (wildcards `*`, `?`) that become stream labels (default `['*']`: all).
    pub include: Option<Vec<String>>,
    /// How long a file of a pod not known yet waits for its labels (default 5s).
    pub wait: Option<PromDuration>,
    /// How long a deleted pod's labels are kept (default 10m).
    pub keep_deleted: Option<PromDuration>,
}

/// `logs.commit` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with max_lines and interval"
)]
pub struct RawLogCommit {
    /// Commit after this many lines (default 100000).
    pub max_lines: Option<u64>,
    /// Commit after this much time (default 1s).
    pub interval: Option<PromDuration>,
}

/// `logs.index` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with partition, writer_memory and max_merge_lines"
)]
pub struct RawLogIndex {
    /// Width of a partition's ingest window (default 6h).
    pub partition: Option<PromDuration>,
    /// Indexing memory (default 32MB, at least 15MB).
    pub writer_memory: Option<ByteSize>,
    /// Largest segment a merge may build, in lines (default 1,000,000).
    pub max_merge_lines: Option<u64>,
}

/// `logs.retention` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with time and size")]
pub struct RawLogRetention {
    /// Maximum age (default 7d; 0 keeps forever).
    pub time: Option<PromDuration>,
    /// Maximum index size (default 0: no limit).
    pub size: Option<ByteSize>,
}

/// Checked log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsConfig {
    /// `None`: decided at start by whether `pods_root` exists.
    pub enabled: Option<bool>,
    pub pods_root: PathBuf,
    pub paths: Vec<String>,
    pub node: Option<String>,
    pub start_at_end: bool,
    pub max_line_size: u64,
    pub rate_limit: u64,
    pub release_timeout: Duration,
    pub max_deleted_backlog: u64,
    pub commit_max_lines: u64,
    pub commit_interval: Duration,
    pub partition: Duration,
    pub writer_memory: u64,
    pub max_merge_lines: u64,
    pub retention_time: Duration,
    pub retention_size: u64,
    /// Pod label keys (patterns) that become stream labels.
    pub pod_labels_include: Vec<String>,
    pub pod_labels_wait: Duration,
    pub pod_labels_keep_deleted: Duration,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            enabled: None,
            pods_root: PathBuf::from(DEFAULT_PODS_ROOT),
            paths: Vec::new(),
            node: None,
            start_at_end: false,
            max_line_size: DEFAULT_MAX_LINE_SIZE,
            rate_limit: 0,
            release_timeout: Duration::from_secs(300),
            max_deleted_backlog: 1 << 30,
            commit_max_lines: 100_000,
            commit_interval: Duration::from_secs(1),
            partition: Duration::from_secs(6 * 3600),
            writer_memory: 32 << 20,
            max_merge_lines: 1_000_000,
            retention_time: DEFAULT_LOG_RETENTION_TIME,
            retention_size: 0,
            pod_labels_include: vec!["*".into()],
            pod_labels_wait: Duration::from_secs(5),
            pod_labels_keep_deleted: Duration::from_secs(600),
        }
    }
}

impl LogsConfig {
    /// Whether tailing runs: as configured, else when the pods root or a path exists.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or_else(|| self.pods_root.is_dir())
    }
}

impl RawLogsConfig {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<LogsConfig> {
        let d = LogsConfig::default();
        let mut paths = Vec::with_capacity(self.paths.len());
        for (i, p) in self.paths.iter().enumerate() {
            let dir_part = std::path::Path::new(p)
                .parent()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.is_empty() || dir_part.contains(['*', '?', '[']) {
                return Err(ctx.invalid(
                    &index(&field(path, "paths"), i),
                    format_args!("invalid log path {p:?} (wildcards only in the file name)"),
                ));
            }
            paths.push(ctx.resolve_glob(p));
        }
        if let Some(n) = &self.node
            && n.is_empty()
        {
            return Err(ctx.invalid(&field(path, "node"), "node must not be empty"));
        }
        let max_line_size = self.max_line_size.map_or(d.max_line_size, |b| b.0);
        if !(1024..=MAX_MAX_LINE_SIZE).contains(&max_line_size) {
            return Err(ctx.invalid(
                &field(path, "max_line_size"),
                "max_line_size must be between 1KB and 64MB",
            ));
        }
        let release_timeout = self.release_timeout.map_or(d.release_timeout, |p| p.0);
        if release_timeout < Duration::from_secs(1) {
            return Err(ctx.invalid(
                &field(path, "release_timeout"),
                "release_timeout must be at least 1s",
            ));
        }
        let commit = self.commit.clone().unwrap_or_default();
        let commit_path = field(path, "commit");
        let commit_max_lines = commit.max_lines.unwrap_or(d.commit_max_lines);
        if commit_max_lines == 0 {
            return Err(ctx.invalid(
                &field(&commit_path, "max_lines"),
                "max_lines must be greater than 0",
            ));
        }
        let commit_interval = commit.interval.map_or(d.commit_interval, |p| p.0);
        if commit_interval.is_zero() {
            return Err(ctx.invalid(
                &field(&commit_path, "interval"),
                "interval must be greater than 0",
            ));
        }
        let idx = self.index.clone().unwrap_or_default();
        let idx_path = field(path, "index");
        let partition = idx.partition.map_or(d.partition, |p| p.0);
        if partition < Duration::from_secs(60) {
            return Err(ctx.invalid(
                &field(&idx_path, "partition"),
                "partition must be at least 1m",
            ));
        }
        let writer_memory = idx.writer_memory.map_or(d.writer_memory, |b| b.0);
        if writer_memory < 15 << 20 {
            return Err(ctx.invalid(
                &field(&idx_path, "writer_memory"),
                "writer_memory must be at least 15MB",
            ));
        }
        let max_merge_lines = idx.max_merge_lines.unwrap_or(d.max_merge_lines);
        if !(10_000..=u32::MAX as u64).contains(&max_merge_lines) {
            return Err(ctx.invalid(
                &field(&idx_path, "max_merge_lines"),
                format_args!("max_merge_lines must be between 10000 and {}", u32::MAX),
            ));
        }
        let ret = self.retention.clone().unwrap_or_default();
        let pl = self.pod_labels.clone().unwrap_or_default();
        let pl_path = field(path, "pod_labels");
        let include = pl.include.unwrap_or(d.pod_labels_include);
        for (i, k) in include.iter().enumerate() {
            if k.is_empty() {
                return Err(ctx.invalid(
                    &index(&field(&pl_path, "include"), i),
                    "a label key pattern must not be empty",
                ));
            }
        }
        let wait = pl.wait.map_or(d.pod_labels_wait, |p| p.0);
        if wait > Duration::from_secs(300) {
            return Err(ctx.invalid(
                &field(&pl_path, "wait"),
                "wait must be at most 5m (files are not read while waiting)",
            ));
        }
        Ok(LogsConfig {
            enabled: self.enabled,
            pods_root: self
                .pods_root
                .as_deref()
                .map_or(d.pods_root, |p| ctx.resolve(p)),
            paths,
            node: self.node.clone(),
            start_at_end: self.start_at_end.unwrap_or(false),
            max_line_size,
            rate_limit: self.rate_limit.map_or(0, |b| b.0),
            release_timeout,
            max_deleted_backlog: self
                .max_deleted_backlog
                .map_or(d.max_deleted_backlog, |b| b.0),
            commit_max_lines,
            commit_interval,
            partition,
            writer_memory,
            max_merge_lines,
            retention_time: ret.time.map_or(d.retention_time, |p| p.0),
            retention_size: ret.size.map_or(0, |b| b.0),
            pod_labels_include: include,
            pod_labels_wait: wait,
            pod_labels_keep_deleted: pl.keep_deleted.map_or(d.pod_labels_keep_deleted, |p| p.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::load_str;
    use std::time::Duration;

    #[test]
    fn defaults_and_values() {
        let c = load_str("{}", "t.yaml").unwrap();
        assert_eq!(c.logs, super::LogsConfig::default());
        let c = load_str(
            "logs:\n  enabled: true\n  pods_root: /tmp/pods\n  paths: ['/var/log/*.log']\n  node: n1\n  start_at_end: true\n  max_line_size: 64KB\n  rate_limit: 1MB\n  release_timeout: 1m\n  max_deleted_backlog: 0\n  commit: {max_lines: 10, interval: 250ms}\n  index: {partition: 1h, writer_memory: 20MB, max_merge_lines: 50000}\n  retention: {time: 1d, size: 1GB}\n",
            "t.yaml",
        )
        .unwrap();
        let l = c.logs;
        assert_eq!(l.enabled, Some(true));
        assert!(l.is_enabled());
        assert_eq!(l.pods_root, std::path::PathBuf::from("/tmp/pods"));
        assert_eq!(l.paths, ["/var/log/*.log"]);
        assert_eq!(
            (l.max_line_size, l.rate_limit, l.commit_max_lines),
            (64 << 10, 1 << 20, 10)
        );
        assert_eq!(
            (l.release_timeout, l.max_deleted_backlog),
            (Duration::from_secs(60), 0)
        );
        assert_eq!(
            (l.commit_interval, l.partition),
            (Duration::from_millis(250), Duration::from_secs(3600))
        );
        assert_eq!(l.max_merge_lines, 50_000);
        assert_eq!(
            (l.retention_time, l.retention_size),
            (Duration::from_secs(86400), 1 << 30)
        );
    }

    #[test]
    fn pod_labels_section() {
        let l = load_str("{}", "t.yaml").unwrap().logs;
        assert_eq!(l.pod_labels_include, ["*"]);
        assert_eq!(l.pod_labels_wait, Duration::from_secs(5));
        let l = load_str(
            "logs:\n  pod_labels:\n    include: ['app.kubernetes.io/*', team]\n    wait: 2s\n    keep_deleted: 1h\n",
            "t.yaml",
        )
        .unwrap()
        .logs;
        assert_eq!(l.pod_labels_include, ["app.kubernetes.io/*", "team"]);
        assert_eq!(
            (l.pod_labels_wait, l.pod_labels_keep_deleted),
            (Duration::from_secs(2), Duration::from_secs(3600))
        );
        let l = load_str("logs:\n  pod_labels: {include: []}\n", "t.yaml")
            .unwrap()
            .logs;
        assert!(l.pod_labels_include.is_empty());
    }

    #[test]
    fn errors_name_the_position() {
        for (yaml, line, col, needle) in [
            (
                "logs:\n  max_line_size: 10B\n",
                2,
                18,
                "between 1KB and 64MB",
            ),
            (
                "logs:\n  max_line_size: 65MB\n",
                2,
                18,
                "between 1KB and 64MB",
            ),
            ("logs:\n  paths: ['/var/*/x.log']\n", 2, 11, "wildcards"),
            (
                "logs:\n  commit:\n    interval: 0s\n",
                3,
                15,
                "greater than 0",
            ),
            ("logs:\n  index:\n    writer_memory: 1MB\n", 3, 20, "15MB"),
            ("logs:\n  index:\n    partition: 10s\n", 3, 16, "1m"),
            (
                "logs:\n  index:\n    max_merge_lines: 100\n",
                3,
                22,
                "between 10000",
            ),
            ("logs:\n  nope: 1\n", 2, 3, "unknown field"),
            ("logs:\n  release_timeout: 0s\n", 2, 20, "at least 1s"),
            (
                "logs:\n  pod_labels:\n    include: [app, '']\n",
                3,
                20,
                "must not be empty",
            ),
            ("logs:\n  pod_labels:\n    wait: 1h\n", 3, 11, "at most 5m"),
        ] {
            let e = load_str(yaml, "t.yaml").unwrap_err().to_string();
            assert!(e.contains(&format!("t.yaml:{line}:{col}")), "{yaml:?}: {e}");
            assert!(e.contains(needle), "{e}");
        }
    }
}
