//! The Alertmanager sender (Prometheus' `notifier.Manager`): drains the Alertmanager queue in
//! batches of up to 256 alerts and POSTs each batch as Alertmanager's v2 JSON
//! (`labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`) to every configured
//! Alertmanager concurrently, each with its own timeout and bounded retries.
//!
//! Invariants: alerts are sent as rules produced them (the rule manager decides resend timing
//! and `endsAt`); external labels were merged in before queueing (alert labels win). A batch
//! counts as delivered per Alertmanager; one unreachable Alertmanager does not stop the others.
//! Cost: one JSON serialization per batch, shared by all Alertmanagers.

use std::sync::Arc;
use std::time::Duration;

use lookout_config::notify::AlertingConfig;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};

use super::Shared;
use super::alert::{Alert, rfc3339};
use super::deliver::{RetryPolicy, Target, post_json};
use super::metrics::IntegrationKind;
use super::queue::Queue;

/// Prometheus' `maxBatchSize`.
pub(crate) const MAX_BATCH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AmTarget {
    pub url: String,
    pub timeout: Duration,
}

pub(crate) fn targets(cfg: &AlertingConfig) -> Vec<AmTarget> {
    cfg.alertmanagers
        .iter()
        .flat_map(|am| {
            am.urls().into_iter().map(|url| AmTarget {
                url,
                timeout: am.timeout,
            })
        })
        .collect()
}

/// The v2 `postableAlerts` body.
pub(crate) fn am_body(alerts: &[Alert]) -> Json {
    Json::Array(
        alerts
            .iter()
            .map(|a| {
                let mut v = json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "generatorURL": a.generator_url,
                });
                if let Some(e) = a.ends_at {
                    v["endsAt"] = Json::String(rfc3339(e));
                }
                v
            })
            .collect(),
    )
}

pub(crate) async fn run(
    queue: Arc<Queue>,
    targets: Arc<Mutex<Vec<AmTarget>>>,
    shared: Arc<Shared>,
) {
    loop {
        queue.ready.notified().await;
        send_all(&queue, &targets, &shared).await;
    }
}

/// Sends everything queued now.
pub(crate) async fn send_all(queue: &Queue, targets: &Mutex<Vec<AmTarget>>, shared: &Arc<Shared>) {
    loop {
        let batch = queue.take(MAX_BATCH);
        if batch.is_empty() {
            return;
        }
        let body = match serde_json::to_vec(&am_body(&batch)) {
            Ok(b) => Arc::new(b),
            Err(_) => continue,
        };
        let ts = targets.lock().clone();
        let mut tasks = tokio::task::JoinSet::new();
        for t in ts {
            let (body, shared) = (body.clone(), shared.clone());
            tasks.spawn(async move {
                let policy = RetryPolicy {
                    attempts: shared.policy.attempts.min(3),
                    timeout: t.timeout,
                    ..shared.policy
                };
                if let Err(e) = post_json(
                    &shared.client,
                    Target::Plain(&t.url),
                    &body,
                    IntegrationKind::Alertmanager,
                    &policy,
                    &shared.metrics,
                )
                .await
                {
                    tracing::error!(alertmanager = %t.url, error = %e, "error sending alerts to Alertmanager");
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}
