//! lookout's own metrics: counters and gauges about the agent itself, served on `/metrics`.
//!
//! Everything here is a lock-free atomic bumped on the hot path at most once per scrape (never
//! per sample), rendered in Prometheus text format on request. Failure counters are keyed by a
//! small fixed set of reasons, so cardinality is bounded.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a scrape failed; a fixed set so the `reason` label stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    Connect,
    Timeout,
    HttpStatus,
    BodyLimit,
    Parse,
    SampleLimit,
    LabelLimit,
    Duplicate,
    Store,
    Other,
}

impl FailReason {
    pub const ALL: [FailReason; 10] = [
        FailReason::Connect,
        FailReason::Timeout,
        FailReason::HttpStatus,
        FailReason::BodyLimit,
        FailReason::Parse,
        FailReason::SampleLimit,
        FailReason::LabelLimit,
        FailReason::Duplicate,
        FailReason::Store,
        FailReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Connect => "connect",
            FailReason::Timeout => "timeout",
            FailReason::HttpStatus => "http_status",
            FailReason::BodyLimit => "body_size_limit",
            FailReason::Parse => "parse",
            FailReason::SampleLimit => "sample_limit",
            FailReason::LabelLimit => "label_limit",
            FailReason::Duplicate => "duplicate_series",
            FailReason::Store => "store",
            FailReason::Other => "other",
        }
    }
}

/// The agent's counters. One instance per process, shared by `Arc`.
#[derive(Default)]
pub struct Telemetry {
    pub scrapes_total: AtomicU64,
    failures: [AtomicU64; 10],
    pub samples_scraped_total: AtomicU64,
    pub samples_appended_total: AtomicU64,
    pub samples_duplicate_total: AtomicU64,
    pub samples_out_of_order_total: AtomicU64,
    pub parse_errors_total: AtomicU64,
    pub stale_markers_total: AtomicU64,
    pub config_reloads_total: AtomicU64,
    pub config_reload_failures_total: AtomicU64,
    pub config_last_reload_success: AtomicU64,
    pub file_sd_read_errors_total: AtomicU64,
    pub targets_up: AtomicU64,
    pub targets_down: AtomicU64,
    pub targets_unknown: AtomicU64,
    /// Kubernetes discovery's own metrics.
    pub kubernetes: std::sync::Arc<crate::discovery::kubernetes::KubeTelemetry>,
}

impl Telemetry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn failed(&self, r: FailReason) {
        let i = FailReason::ALL.iter().position(|x| *x == r).unwrap_or(9);
        self.failures[i].fetch_add(1, Relaxed);
    }

    pub fn failures(&self, r: FailReason) -> u64 {
        let i = FailReason::ALL.iter().position(|x| *x == r).unwrap_or(9);
        self.failures[i].load(Relaxed)
    }

    /// Renders all counters in Prometheus text format 0.0.4. `extra` gauges (e.g. head series)
    /// are appended as `(name, help, value)`.
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut s = String::with_capacity(4096);
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        one(
            "lookout_scrapes_total",
            "counter",
            "Scrapes attempted.",
            self.scrapes_total.load(Relaxed),
        );
        one(
            "lookout_scrape_samples_scraped_total",
            "counter",
            "Samples parsed from scrape bodies.",
            self.samples_scraped_total.load(Relaxed),
        );
        one(
            "lookout_samples_appended_total",
            "counter",
            "Samples committed to the time-series store.",
            self.samples_appended_total.load(Relaxed),
        );
        one(
            "lookout_samples_duplicate_total",
            "counter",
            "Samples dropped because their series already had a sample at that timestamp.",
            self.samples_duplicate_total.load(Relaxed),
        );
        one(
            "lookout_samples_out_of_order_total",
            "counter",
            "Samples rejected as out of order or too old.",
            self.samples_out_of_order_total.load(Relaxed),
        );
        one(
            "lookout_scrape_parse_errors_total",
            "counter",
            "Scrapes whose body could not be parsed.",
            self.parse_errors_total.load(Relaxed),
        );
        one(
            "lookout_stale_markers_total",
            "counter",
            "Staleness markers written for series that left a scrape or a target.",
            self.stale_markers_total.load(Relaxed),
        );
        one(
            "lookout_config_reloads_total",
            "counter",
            "Configuration reloads attempted.",
            self.config_reloads_total.load(Relaxed),
        );
        one(
            "lookout_config_reload_failures_total",
            "counter",
            "Configuration reloads rejected (the old configuration stayed).",
            self.config_reload_failures_total.load(Relaxed),
        );
        one(
            "lookout_config_last_reload_successful",
            "gauge",
            "Whether the last configuration reload succeeded.",
            self.config_last_reload_success.load(Relaxed),
        );
        one(
            "lookout_file_sd_read_errors_total",
            "counter",
            "file_sd files that could not be read or parsed.",
            self.file_sd_read_errors_total.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP lookout_scrape_failures_total Scrapes that failed, by reason.\n# TYPE lookout_scrape_failures_total counter"
        );
        for (i, r) in FailReason::ALL.iter().enumerate() {
            let _ = writeln!(
                s,
                "lookout_scrape_failures_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.failures[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP lookout_targets Scrape targets by health.\n# TYPE lookout_targets gauge"
        );
        for (h, v) in [
            ("up", &self.targets_up),
            ("down", &self.targets_down),
            ("unknown", &self.targets_unknown),
        ] {
            let _ = writeln!(s, "lookout_targets{{health=\"{h}\"}} {}", v.load(Relaxed));
        }
        self.kubernetes.render(&mut s);
        for (name, help, v) in extra {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        s
    }
}
