//! The alert notifier: takes the alerts rule evaluation produces and delivers them
//! (1) to the configured Alertmanagers (`POST /api/v2/alerts`, Prometheus' notifier), and
//! (2) through the built-in dispatcher (Alertmanager's routing, grouping, timing and
//! resolved messages) to chat receivers: Slack, Mattermost, Discord, Microsoft Teams
//! workflows and generic webhooks (Alertmanager's webhook JSON v4).
//!
//! Layout: `alert` (model, fingerprint, times), `queue` (bounded, drop-oldest), `sender`
//! (Alertmanager), `route` + `dispatch` + `group` (the dispatcher), `message` (template data,
//! default templates), `payload` (bodies within each service's limits; Mattermost's in
//! `mattermost`), `deliver` (HTTP with
//! retries), `metrics` (counters).
//!
//! Invariants: [`Notifier::send`] never blocks: it only queues (dropping the oldest alerts
//! when a queue is full, counted). Webhook URLs are secrets: they are resolved per request
//! and never logged or printed (`Debug` shows counts only). External labels are added to
//! every alert (the alert's own labels win).
//! Cost: per alert a label merge and a queue push on the caller's thread; everything else
//! runs on tasks of the tokio runtime current at [`Notifier::new`].

mod alert;
mod deliver;
mod dispatch;
mod group;
mod mattermost;
mod message;
mod metrics;
mod payload;
mod queue;
mod route;
mod sender;

pub use alert::{Alert, fingerprint, parse_rfc3339, rfc3339};
pub use deliver::{DeliveryError, RetryPolicy};
pub use metrics::{IntegrationKind, NotifierMetrics, QueueKind};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_config::notify::{AlertingConfig, Notifications};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use dispatch::{Ctl, Dispatcher};
use queue::Queue;
use sender::AmTarget;

/// Tuning of the notifier; the defaults suit production.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// Alerts each queue holds before dropping the oldest (Prometheus' default 10,000).
    pub queue_capacity: usize,
    /// Retries of chat/webhook deliveries (Alertmanager deliveries use at most 3 attempts and
    /// the configured timeout).
    pub retry: RetryPolicy,
    /// How long [`Notifier::shutdown`] waits for queued and in-flight deliveries.
    pub shutdown_timeout: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: 10_000,
            retry: RetryPolicy::default(),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// What the notifier's tasks share.
pub(crate) struct Shared {
    pub client: reqwest::Client,
    pub metrics: Arc<NotifierMetrics>,
    pub external_url: String,
    pub policy: RetryPolicy,
}

/// Delivers alerts to Alertmanagers and chat receivers.
pub struct Notifier {
    shared: Arc<Shared>,
    external_labels: BTreeMap<String, String>,
    am_queue: Arc<Queue>,
    am_targets: Arc<Mutex<Vec<AmTarget>>>,
    am_task: JoinHandle<()>,
    dispatch_queue: Arc<Queue>,
    dispatch: Mutex<Option<(mpsc::UnboundedSender<Ctl>, JoinHandle<()>)>>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("alertmanagers", &self.am_targets.lock().len())
            .field("dispatcher", &self.dispatch.lock().is_some())
            .field("external_url", &self.shared.external_url)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts the notifier on the current tokio runtime (panics outside one, like
    /// `tokio::spawn`).
    pub fn new(
        alerting: &AlertingConfig,
        notifications: Option<&Notifications>,
        external_labels: BTreeMap<String, String>,
        external_url: String,
        telemetry: Arc<NotifierMetrics>,
    ) -> Self {
        Self::with_options(
            alerting,
            notifications,
            external_labels,
            external_url,
            telemetry,
            NotifierOptions::default(),
        )
    }

    /// [`Notifier::new`] with explicit tuning.
    pub fn with_options(
        alerting: &AlertingConfig,
        notifications: Option<&Notifications>,
        external_labels: BTreeMap<String, String>,
        external_url: String,
        telemetry: Arc<NotifierMetrics>,
        opts: NotifierOptions,
    ) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            client,
            metrics: telemetry.clone(),
            external_url,
            policy: opts.retry,
        });
        let am_queue = Arc::new(Queue::new(
            opts.queue_capacity,
            QueueKind::Alertmanager,
            telemetry.clone(),
        ));
        let am_targets = Arc::new(Mutex::new(sender::targets(alerting)));
        let am_task = tokio::spawn(sender::run(
            am_queue.clone(),
            am_targets.clone(),
            shared.clone(),
        ));
        let dispatch_queue = Arc::new(Queue::new(
            opts.queue_capacity,
            QueueKind::Dispatch,
            telemetry,
        ));
        let dispatch =
            notifications.map(|n| Dispatcher::spawn(n, shared.clone(), dispatch_queue.clone()));
        Notifier {
            shared,
            external_labels,
            am_queue,
            am_targets,
            am_task,
            dispatch_queue,
            dispatch: Mutex::new(dispatch),
            shutdown_timeout: opts.shutdown_timeout,
        }
    }

    /// Queues alerts for delivery; never blocks. External labels are added (alert labels
    /// win). When a queue is full the oldest alerts are dropped and counted.
    pub fn send(&self, mut alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        for a in &mut alerts {
            for (k, v) in &self.external_labels {
                a.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let to_am = !self.am_targets.lock().is_empty();
        let to_dispatch = self.dispatch.lock().is_some();
        match (to_am, to_dispatch) {
            (true, true) => {
                self.dispatch_queue.push(alerts.iter().cloned());
                self.am_queue.push(alerts);
            }
            (true, false) => self.am_queue.push(alerts),
            (false, true) => self.dispatch_queue.push(alerts),
            (false, false) => {}
        }
    }

    /// Applies a reloaded configuration. Unchanged dispatcher configuration is a no-op;
    /// a changed one keeps the alerts and, for unchanged groups and receivers, what was
    /// already notified.
    pub fn apply(&self, alerting: &AlertingConfig, notifications: Option<&Notifications>) {
        *self.am_targets.lock() = sender::targets(alerting);
        let mut d = self.dispatch.lock();
        match (notifications, d.as_ref()) {
            (Some(n), Some((ctl, _))) => {
                let _ = ctl.send(Ctl::Apply(Box::new(n.clone())));
            }
            (Some(n), None) => {
                *d = Some(Dispatcher::spawn(
                    n,
                    self.shared.clone(),
                    self.dispatch_queue.clone(),
                ));
            }
            (None, Some(_)) => {
                // Dropping the control sender stops the dispatcher and its groups.
                *d = None;
                self.dispatch_queue.take(usize::MAX);
            }
            (None, None) => {}
        }
    }

    /// Sends what is queued for Alertmanagers and lets in-flight chat notifications finish,
    /// within the shutdown bound; then stops all tasks. Group timers are not fast-forwarded:
    /// alerts still waiting for their `group_wait` are not sent early.
    pub async fn shutdown(&self) {
        let bound = self.shutdown_timeout;
        let dispatch = self.dispatch.lock().take();
        let work = async {
            sender::send_all(&self.am_queue, &self.am_targets, &self.shared).await;
            if let Some((ctl, _)) = &dispatch {
                let (tx, rx) = oneshot::channel();
                if ctl.send(Ctl::Shutdown(tx)).is_ok()
                    && let Ok(handles) = rx.await
                {
                    for h in handles {
                        let _ = h.await;
                    }
                }
            }
        };
        if tokio::time::timeout(bound, work).await.is_err() {
            tracing::warn!(
                ?bound,
                "notifier shutdown timed out; pending notifications lost"
            );
        }
        self.am_task.abort();
        if let Some((_, h)) = dispatch {
            h.abort();
        }
    }

    /// Alerts waiting in the queues (Alertmanager, dispatcher).
    pub fn queued(&self) -> (usize, usize) {
        (self.am_queue.len(), self.dispatch_queue.len())
    }
}

impl Drop for Notifier {
    /// Stops the tasks without flushing (use [`Notifier::shutdown`] to flush); dropping the
    /// dispatcher's control channel stops it and its groups.
    fn drop(&mut self) {
        self.am_task.abort();
    }
}
