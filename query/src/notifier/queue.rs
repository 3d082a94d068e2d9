//! A bounded alert queue between the rule evaluator (which must never block on delivery) and
//! a consumer task. When full, the oldest alerts are dropped and counted, as Prometheus'
//! notifier does: the newest state of an alert matters more than an old one.
//!
//! Cost: one mutex acquisition per `push`/`drain`; no allocation beyond the deque's growth.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::alert::Alert;
use super::metrics::{NotifierMetrics, QueueKind};

pub(crate) struct Queue {
    items: Mutex<VecDeque<Alert>>,
    cap: usize,
    kind: QueueKind,
    metrics: Arc<NotifierMetrics>,
    pub(crate) ready: Notify,
}

impl Queue {
    pub(crate) fn new(cap: usize, kind: QueueKind, metrics: Arc<NotifierMetrics>) -> Self {
        metrics.set_queue(kind, 0, cap);
        Queue {
            items: Mutex::new(VecDeque::new()),
            cap,
            kind,
            metrics,
            ready: Notify::new(),
        }
    }

    /// Appends alerts, dropping the oldest beyond capacity. Never blocks on I/O.
    pub(crate) fn push(&self, alerts: impl IntoIterator<Item = Alert>) {
        let mut q = self.items.lock();
        q.extend(alerts);
        let over = q.len().saturating_sub(self.cap);
        if over > 0 {
            q.drain(..over);
            self.metrics.add_queue_dropped(self.kind, over);
        }
        self.metrics.set_queue(self.kind, q.len(), self.cap);
        drop(q);
        self.ready.notify_one();
    }

    /// Takes up to `max` alerts from the front.
    pub(crate) fn take(&self, max: usize) -> Vec<Alert> {
        let mut q = self.items.lock();
        let n = q.len().min(max);
        let out: Vec<Alert> = q.drain(..n).collect();
        self.metrics.set_queue(self.kind, q.len(), self.cap);
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.items.lock().len()
    }
}
