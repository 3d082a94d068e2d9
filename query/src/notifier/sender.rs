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

#[derive(Debug, Clone)]
pub(crate) struct AmTarget {
    pub url: String,
    pub timeout: Duration,
    /// Auth settings of the Alertmanager set (credentials resolved per request).
    pub http: lookout_config::HttpClientConfig,
    /// A client with the set's TLS, redirect and proxy settings.
    pub client: reqwest::Client,
}

/// The Alertmanagers of `cfg`, one client per set. A set whose TLS settings cannot be
/// loaded is logged and skipped.
pub(crate) fn targets(cfg: &AlertingConfig) -> Vec<AmTarget> {
    let mut out = Vec::new();
    for am in &cfg.alertmanagers {
        let client = match crate::http_client::builder(&am.http)
            .and_then(|b| b.build().map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the HTTP client for an Alertmanager set");
                continue;
            }
        };
        for url in am.urls() {
            out.push(AmTarget {
                url,
                timeout: am.timeout,
                http: am.http.clone(),
                client: client.clone(),
            });
        }
    }
    out
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
                    &t.client,
                    Target::Plain(&t.url),
                    Some(&t.http),
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
