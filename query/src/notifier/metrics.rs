//! The notifier's own telemetry: per-integration counters of delivered, failed and dropped
//! notifications and the alert queues' length, rendered in Prometheus' text format for the
//! agent's `/metrics`.
//!
//! Invariants: counters only grow; `failed` counts failed attempts (each retry that failed),
//! `dropped` counts notifications given up after the retries and alerts pushed out of a full
//! queue. Cost: relaxed atomic increments, no allocation on the counting paths.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationKind {
    Alertmanager,
    Slack,
    Webhook,
    Discord,
    Teams,
    Mattermost,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 6] = [
        IntegrationKind::Alertmanager,
        IntegrationKind::Slack,
        IntegrationKind::Webhook,
        IntegrationKind::Discord,
        IntegrationKind::Teams,
        IntegrationKind::Mattermost,
    ];

    /// The `integration` label value (Alertmanager's config key names).
    pub fn name(self) -> &'static str {
        match self {
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Slack => "slack",
            IntegrationKind::Webhook => "webhook",
            IntegrationKind::Discord => "discord",
            IntegrationKind::Teams => "msteamsv2",
            IntegrationKind::Mattermost => "mattermost",
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// Which alert queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Alerts waiting to be sent to Alertmanagers.
    Alertmanager,
    /// Alerts waiting to be routed by the built-in dispatcher.
    Dispatch,
}

impl QueueKind {
    fn name(self) -> &'static str {
        match self {
            QueueKind::Alertmanager => "alertmanager",
            QueueKind::Dispatch => "dispatch",
        }
    }
}

/// Counters of the notifier (shared with the `/metrics` handler).
#[derive(Debug, Default)]
pub struct NotifierMetrics {
    sent: [AtomicU64; IntegrationKind::ALL.len()],
    failed: [AtomicU64; IntegrationKind::ALL.len()],
    dropped: [AtomicU64; IntegrationKind::ALL.len()],
    queue_len: [AtomicU64; 2],
    queue_cap: [AtomicU64; 2],
    queue_dropped: [AtomicU64; 2],
}

impl NotifierMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn inc_sent(&self, k: IntegrationKind) {
        self.sent[k.idx()].fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_failed(&self, k: IntegrationKind) {
        self.failed[k.idx()].fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_dropped(&self, k: IntegrationKind) {
        self.dropped[k.idx()].fetch_add(1, Ordering::Relaxed);
    }
    /// Notifications delivered.
    pub fn sent(&self, k: IntegrationKind) -> u64 {
        self.sent[k.idx()].load(Ordering::Relaxed)
    }
    /// Failed delivery attempts.
    pub fn failed(&self, k: IntegrationKind) -> u64 {
        self.failed[k.idx()].load(Ordering::Relaxed)
    }
    /// Notifications given up after all retries.
    pub fn dropped(&self, k: IntegrationKind) -> u64 {
        self.dropped[k.idx()].load(Ordering::Relaxed)
    }

    pub(crate) fn set_queue(&self, q: QueueKind, len: usize, cap: usize) {
        self.queue_len[q as usize].store(len as u64, Ordering::Relaxed);
        self.queue_cap[q as usize].store(cap as u64, Ordering::Relaxed);
    }
    pub(crate) fn add_queue_dropped(&self, q: QueueKind, n: usize) {
        self.queue_dropped[q as usize].fetch_add(n as u64, Ordering::Relaxed);
    }
    /// Alerts waiting in a queue.
    pub fn queue_length(&self, q: QueueKind) -> u64 {
        self.queue_len[q as usize].load(Ordering::Relaxed)
    }
    /// Alerts pushed out of a full queue.
    pub fn queue_dropped(&self, q: QueueKind) -> u64 {
        self.queue_dropped[q as usize].load(Ordering::Relaxed)
    }

    /// Prometheus text exposition of all counters.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let per_kind: [(&str, &str, &[AtomicU64; IntegrationKind::ALL.len()]); 3] = [
            (
                "lookout_notifications_sent_total",
                "Notifications delivered.",
                &self.sent,
            ),
            (
                "lookout_notifications_failed_total",
                "Failed notification attempts (each failed request).",
                &self.failed,
            ),
            (
                "lookout_notifications_dropped_total",
                "Notifications given up after all retries.",
                &self.dropped,
            ),
        ];
        for (name, help, arr) in per_kind {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for k in IntegrationKind::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{integration=\"{}\"}} {}",
                    k.name(),
                    arr[k.idx()].load(Ordering::Relaxed)
                );
            }
        }
        let queues = [QueueKind::Alertmanager, QueueKind::Dispatch];
        let per_queue: [(&str, &str, &str, &[AtomicU64; 2]); 3] = [
            (
                "lookout_notifier_queue_length",
                "Alerts waiting in the queue.",
                "gauge",
                &self.queue_len,
            ),
            (
                "lookout_notifier_queue_capacity",
                "Capacity of the queue.",
                "gauge",
                &self.queue_cap,
            ),
            (
                "lookout_notifier_alerts_dropped_total",
                "Alerts dropped because the queue was full.",
                "counter",
                &self.queue_dropped,
            ),
        ];
        for (name, help, ty, arr) in per_queue {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}");
            for q in queues {
                let _ = writeln!(
                    out,
                    "{name}{{queue=\"{}\"}} {}",
                    q.name(),
                    arr[q as usize].load(Ordering::Relaxed)
                );
            }
        }
        out
    }
}
