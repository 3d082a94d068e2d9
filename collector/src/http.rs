//! The agent's HTTP server: the query crate's `/api/v1` routes plus lookout's own endpoints
//! (`/metrics`, `/-/healthy`, `/-/ready`, `/-/reload`), with the collector's view of targets
//! and metadata plugged into the API through `TargetSource`.

use crate::discovery::kubernetes::KubeTelemetry;
use crate::discovery::kubernetes::status::Problem;
use crate::scrape::ScrapeManager;
use crate::scrape::target::Target;
use crate::telemetry::Telemetry;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lookout_query::api::{
    self, ActiveTarget, DiscoveryError, DroppedTarget, MetadataEntry, TargetSource, TargetsData,
};
use lookout_store::{Head, Labels};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// The collector's answer to `/api/v1/targets` and `/api/v1/metadata`.
pub struct CollectorTargets {
    pub manager: Arc<ScrapeManager>,
    /// Kubernetes discovery's state: its current problems become `discoveryErrors`.
    pub kubernetes: Arc<KubeTelemetry>,
}

fn discovery_error(p: Problem) -> DiscoveryError {
    let ms = p
        .since
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    DiscoveryError {
        source: p.source,
        namespace: p.namespace,
        scrape_pool: p.scrape_pool,
        error: p.error,
        since: lookout_query::api::params::format_rfc3339(ms),
    }
}

fn map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

fn active(t: &Target) -> ActiveTarget {
    let st = t.status.lock().clone();
    ActiveTarget {
        discovered_labels: map(&t.discovered),
        labels: map(&t.labels),
        scrape_pool: t.scrape_pool().to_string(),
        scrape_url: t.url.clone(),
        global_url: t.url.clone(),
        last_error: st.last_error,
        last_scrape: st
            .last_scrape
            .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| lookout_query::api::params::format_rfc3339(d.as_millis() as i64))
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string()),
        last_scrape_duration: st.last_duration.as_secs_f64(),
        health: st.health.as_str().to_string(),
        scrape_interval: lookout_config::duration::format(t.interval),
        scrape_timeout: lookout_config::duration::format(t.timeout),
    }
}

impl TargetSource for CollectorTargets {
    fn targets(&self) -> TargetsData {
        let (a, d) = self.manager.targets();
        TargetsData {
            active_targets: a.iter().map(|t| active(t)).collect(),
            dropped_targets: d
                .iter()
                .map(|d| DroppedTarget {
                    discovered_labels: map(&d.discovered),
                })
                .collect(),
            discovery_errors: self
                .kubernetes
                .status
                .problems()
                .into_iter()
                .map(discovery_error)
                .collect(),
        }
    }

    fn metadata(&self) -> BTreeMap<String, Vec<MetadataEntry>> {
        let mut out: BTreeMap<String, Vec<MetadataEntry>> = BTreeMap::new();
        for (name, m) in self.manager.metadata() {
            let e = MetadataEntry {
                kind: if m.kind.is_empty() {
                    "unknown".into()
                } else {
                    m.kind.to_string()
                },
                help: m.help,
                unit: m.unit,
            };
            let v = out.entry(name).or_default();
            if !v.contains(&e) {
                v.push(e);
            }
        }
        out
    }
}

/// State of lookout's own endpoints.
#[derive(Clone)]
pub struct SelfState {
    pub telemetry: Arc<Telemetry>,
    pub head: Arc<Head>,
    pub ready: Arc<AtomicBool>,
    pub reload: mpsc::Sender<()>,
    /// More self-metrics (Prometheus text) appended to `/metrics`, e.g. the notifier's.
    pub extra_metrics: Vec<Arc<dyn Fn() -> String + Send + Sync>>,
}

/// The whole router.
pub fn router(api_state: api::ApiState, s: SelfState) -> Router {
    let own = Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "lookout is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .with_state(s);
    api::router(api_state).merge(own)
}

async fn metrics(State(s): State<SelfState>) -> Response {
    let body = s.telemetry.render(&[
        (
            "lookout_head_series",
            "Series in the in-memory head.",
            s.head.num_series() as f64,
        ),
        (
            "lookout_head_chunks",
            "Chunks in the in-memory head (full, open and out-of-order).",
            s.head.num_chunks() as f64,
        ),
    ]);
    let mut body = body;
    for f in &s.extra_metrics {
        body.push_str(&f());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn ready(State(s): State<SelfState>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "lookout is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

async fn reload(State(s): State<SelfState>) -> Response {
    match s.reload.try_send(()) {
        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => (StatusCode::OK, "").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}
