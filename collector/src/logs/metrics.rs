//! Self-metrics of log tailing: counters bumped once per line or per file event, rendered in
//! Prometheus text format on `/metrics`.
//!
//! Drop reasons are a fixed set so the `reason` label stays bounded. Cost: relaxed atomics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why lines were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Above the configured per-file rate limit.
    RateLimit,
    /// The index refused the batch.
    IndexError,
    /// A deleted file was released before it was read to the end (release timeout).
    Released,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::RateLimit,
        DropReason::IndexError,
        DropReason::Released,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::RateLimit => "rate_limit",
            DropReason::IndexError => "index_error",
            DropReason::Released => "released",
        }
    }
}

/// The tailer's counters.
#[derive(Debug, Default)]
pub struct LogMetrics {
    pub lines_read: AtomicU64,
    pub bytes_read: AtomicU64,
    dropped: [AtomicU64; 3],
    pub invalid_utf8: AtomicU64,
    pub truncated_lines: AtomicU64,
    pub bad_timestamps: AtomicU64,
    pub binary_lines: AtomicU64,
    pub unterminated_lines: AtomicU64,
    pub file_truncations: AtomicU64,
    pub files_opened: AtomicU64,
    pub files_released: AtomicU64,
    pub open_errors: AtomicU64,
    pub read_errors: AtomicU64,
    pub checkpoint_writes: AtomicU64,
    pub checkpoint_errors: AtomicU64,
    pub commits: AtomicU64,
    pub commit_errors: AtomicU64,
    pub files_open: AtomicU64,
    pub pod_labels_missing: AtomicU64,
    pub lag_bytes: AtomicU64,
}

impl LogMetrics {
    pub fn dropped(&self, r: DropReason, n: u64) {
        let i = DropReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.dropped[i].fetch_add(n, Relaxed);
    }

    pub fn dropped_total(&self, r: DropReason) -> u64 {
        let i = DropReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.dropped[i].load(Relaxed)
    }

    /// Appends every counter in Prometheus text format.
    pub fn render(&self, s: &mut String) {
        let mut one = |name: &str, kind: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        };
        one(
            "lookout_log_lines_read_total",
            "counter",
            "Log lines read and sent to the index.",
            &self.lines_read,
        );
        one(
            "lookout_log_bytes_read_total",
            "counter",
            "Bytes read from log files.",
            &self.bytes_read,
        );
        one(
            "lookout_log_invalid_utf8_lines_total",
            "counter",
            "Lines kept after lossy UTF-8 decoding (flagged invalid_utf8).",
            &self.invalid_utf8,
        );
        one(
            "lookout_log_truncated_lines_total",
            "counter",
            "Lines cut at the maximum line size (flagged truncated).",
            &self.truncated_lines,
        );
        one(
            "lookout_log_bad_timestamp_lines_total",
            "counter",
            "Lines whose CRI or Docker timestamp could not be parsed (read time used, flagged bad_timestamp).",
            &self.bad_timestamps,
        );
        one(
            "lookout_log_binary_lines_total",
            "counter",
            "Lines containing NUL or other control bytes (kept, control bytes replaced).",
            &self.binary_lines,
        );
        one(
            "lookout_log_unterminated_lines_total",
            "counter",
            "Lines emitted without a final newline (file idle or finished).",
            &self.unterminated_lines,
        );
        one(
            "lookout_log_file_truncations_total",
            "counter",
            "Files that shrank under the reader (copytruncate); read again from the start.",
            &self.file_truncations,
        );
        one(
            "lookout_log_files_opened_total",
            "counter",
            "Log files opened for tailing.",
            &self.files_opened,
        );
        one(
            "lookout_log_files_released_total",
            "counter",
            "Rotated or deleted log files read to the end and closed.",
            &self.files_released,
        );
        one(
            "lookout_log_open_errors_total",
            "counter",
            "Log files that could not be opened or read (permissions, vanished).",
            &self.open_errors,
        );
        one(
            "lookout_log_read_errors_total",
            "counter",
            "Read errors on open log files.",
            &self.read_errors,
        );
        one(
            "lookout_log_checkpoint_writes_total",
            "counter",
            "Checkpoint files written.",
            &self.checkpoint_writes,
        );
        one(
            "lookout_log_checkpoint_errors_total",
            "counter",
            "Checkpoint file writes that failed.",
            &self.checkpoint_errors,
        );
        one(
            "lookout_log_index_commits_total",
            "counter",
            "Log index commits.",
            &self.commits,
        );
        one(
            "lookout_log_index_commit_errors_total",
            "counter",
            "Log index commits that failed.",
            &self.commit_errors,
        );
        one(
            "lookout_log_files_without_pod_labels_total",
            "counter",
            "Pod log files read without pod labels (pod unknown to the Kubernetes watch within the wait).",
            &self.pod_labels_missing,
        );
        one(
            "lookout_log_files_open",
            "gauge",
            "Log files currently open.",
            &self.files_open,
        );
        one(
            "lookout_log_lag_bytes",
            "gauge",
            "Bytes written to open log files but not read yet.",
            &self.lag_bytes,
        );
        let _ = writeln!(
            s,
            "# HELP lookout_log_lines_dropped_total Log lines dropped, by reason.\n# TYPE lookout_log_lines_dropped_total counter"
        );
        for (i, r) in DropReason::ALL.iter().enumerate() {
            let _ = writeln!(
                s,
                "lookout_log_lines_dropped_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.dropped[i].load(Relaxed)
            );
        }
    }
}
