//! Self-metrics of log tailing: counters bumped once per line or per file event, rendered in
//! Prometheus text format on `/metrics`.
//!
//! Two kinds of loss are counted, each with a fixed set of reasons so the `reason` label stays
//! bounded:
//! - `lookout_log_lines_dropped_total{reason}` ([`DropReason`]): lines that were read and then
//!   not indexed;
//! - `lookout_log_bytes_lost_total{reason}` ([`LossReason`]): bytes of log files that were
//!   never read, counted in bytes because the number of lines in unread data is unknown.
//!
//! Accounting invariant for plain files, when no rate limit is set: every byte written to a
//! file the tailer tracked is either in `lookout_log_bytes_read_total`, in
//! `lookout_log_bytes_lost_total`, or still unread (`lookout_log_lag_bytes` covers the open
//! files). Loss happens only by a limit. Cost: relaxed atomics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why lines were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Above the configured per-file rate limit.
    RateLimit,
    /// The index refused the batch.
    IndexError,
}

impl DropReason {
    pub const ALL: [DropReason; 2] = [DropReason::RateLimit, DropReason::IndexError];
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::RateLimit => "rate_limit",
            DropReason::IndexError => "index_error",
        }
    }
}

/// Why bytes of a log file were never read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// A rotated-away or deleted file still held open was released at `release_timeout`
    /// before it was read to the end: its size (at release, through the open handle) minus
    /// the bytes read. For a `.gz`, the decompressed bytes not read.
    Released,
    /// A file was listed by a scan (its size known) but was deleted before the tailer could
    /// open it: its size at listing minus what an earlier handle on the same file had read.
    /// Files created, rotated and deleted entirely between two looks at their directory are
    /// never seen and cannot be counted; the tailer looks at busy files' directories every
    /// `live_check` to keep that window short (see [`super::tailer`]).
    RotatedUnread,
    /// Deleted files held open held more unread bytes than `max_deleted_backlog` allows; the
    /// ones deleted first were released: their size minus the bytes read.
    BacklogLimit,
    /// A file the checkpoint holds was gone when the agent started again (deleted while it
    /// was down): its size at the last checkpoint minus the bytes committed. A lower bound:
    /// what was written after that checkpoint is not known.
    DeletedWhileDown,
}

impl LossReason {
    pub const ALL: [LossReason; 4] = [
        LossReason::Released,
        LossReason::RotatedUnread,
        LossReason::BacklogLimit,
        LossReason::DeletedWhileDown,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LossReason::Released => "released",
            LossReason::RotatedUnread => "rotated_unread",
            LossReason::BacklogLimit => "backlog_limit",
            LossReason::DeletedWhileDown => "deleted_while_down",
        }
    }
}

/// The tailer's counters.
#[derive(Debug, Default)]
pub struct LogMetrics {
    pub lines_read: AtomicU64,
    pub bytes_read: AtomicU64,
    dropped: [AtomicU64; 2],
    lost: [AtomicU64; 4],
    pub invalid_utf8: AtomicU64,
    pub truncated_lines: AtomicU64,
    pub bad_timestamps: AtomicU64,
    pub binary_lines: AtomicU64,
    pub unterminated_lines: AtomicU64,
    pub file_truncations: AtomicU64,
    pub files_opened: AtomicU64,
    pub files_released: AtomicU64,
    pub files_adopted: AtomicU64,
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

    pub fn lost(&self, r: LossReason, bytes: u64) {
        let i = LossReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.lost[i].fetch_add(bytes, Relaxed);
    }

    pub fn lost_total(&self, r: LossReason) -> u64 {
        let i = LossReason::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.lost[i].load(Relaxed)
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
            "lookout_log_files_read_after_deletion_total",
            "counter",
            "Log files deleted before a scan listed them, read through the handle opened when they were created.",
            &self.files_adopted,
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
            "# HELP lookout_log_lines_dropped_total Log lines read but not indexed, by reason.\n# TYPE lookout_log_lines_dropped_total counter"
        );
        for (i, r) in DropReason::ALL.iter().enumerate() {
            let _ = writeln!(
                s,
                "lookout_log_lines_dropped_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.dropped[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP lookout_log_bytes_lost_total Bytes of log files never read (released by a limit, deleted before they could be opened, or deleted while the agent was down), by reason.\n# TYPE lookout_log_bytes_lost_total counter"
        );
        for (i, r) in LossReason::ALL.iter().enumerate() {
            let _ = writeln!(
                s,
                "lookout_log_bytes_lost_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.lost[i].load(Relaxed)
            );
        }
    }
}
