//! `/api/v1/targets` and `/api/v1/metadata`: what the collector knows about scrape targets
//! and metric families, in Prometheus' shapes. The collector implements [`TargetSource`].
//! `/api/v1/targets` adds one key to Prometheus' `data`, `discoveryErrors` ([`DiscoveryError`]):
//! clients that do not know it ignore it, as JSON clients of the Prometheus API do.

use super::{ApiState, success};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use std::collections::BTreeMap;

/// One active target, as Prometheus' `activeTargets` entries.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    pub discovered_labels: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub global_url: String,
    pub last_error: String,
    pub last_scrape: String,
    pub last_scrape_duration: f64,
    pub health: String,
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

/// One target dropped by relabeling.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    pub discovered_labels: BTreeMap<String, String>,
}

/// A discovery source that is failing now (a lookout extension of `/api/v1/targets`: the
/// extra `discoveryErrors` key of `data`, which Prometheus clients ignore). Examples:
/// `{"source": "kubernetes/servicemonitors", "error": "list: 403 Forbidden: ...", ...}` for a
/// watch the API server refuses, `{"source": "kubernetes", "scrapePool":
/// "serviceMonitor/apps/x/0", "error": "...oauth2..."}` for a refused monitor endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryError {
    /// What fails: `<provider>/<resource>` for a watch or lease, `<provider>` for a job.
    pub source: String,
    /// The namespace of a namespaced watch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The scrape pool (job) refused or affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_pool: Option<String>,
    pub error: String,
    /// Since when (RFC 3339).
    pub since: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsData {
    pub active_targets: Vec<ActiveTarget>,
    pub dropped_targets: Vec<DroppedTarget>,
    /// lookout's extension: discovery sources failing now (always present, often empty).
    pub discovery_errors: Vec<DiscoveryError>,
}

/// One metadata entry of `/api/v1/metadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Implemented by the collector.
pub trait TargetSource: Send + Sync {
    fn targets(&self) -> TargetsData;
    fn metadata(&self) -> BTreeMap<String, Vec<MetadataEntry>>;
}

pub(super) async fn targets(State(s): State<ApiState>, q: RawQuery) -> Response {
    let p = super::Params::from_parts(q.0.as_deref(), &[]);
    let mut d = s.targets.targets();
    select(&mut d, p.get("state"), p.get("scrapePool"));
    success(serde_json::to_value(d).unwrap_or_default())
}

/// Applies the `state` and `scrapePool` parameters.
fn select(d: &mut TargetsData, state: Option<&str>, pool: Option<&str>) {
    match state {
        Some("active") => d.dropped_targets.clear(),
        Some("dropped") => d.active_targets.clear(),
        _ => {}
    }
    if let Some(pool) = pool {
        d.active_targets.retain(|t| t.scrape_pool == pool);
        // Errors of other pools go; those of a whole source (a watch) may concern this one.
        d.discovery_errors
            .retain(|e| e.scrape_pool.as_deref().is_none_or(|p| p == pool));
    }
}

pub(super) async fn metadata(State(s): State<ApiState>, q: RawQuery) -> Response {
    let p = super::Params::from_parts(q.0.as_deref(), &[]);
    let mut m = s.targets.metadata();
    if let Some(metric) = p.get("metric") {
        m.retain(|k, _| k == metric);
    }
    if let Some(limit) = p.get("limit").and_then(|l| l.parse::<i64>().ok())
        && limit >= 0
    {
        let keep: Vec<String> = m.keys().take(limit as usize).cloned().collect();
        m.retain(|k, _| keep.contains(k));
    }
    success(serde_json::to_value(m).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(source: &str, pool: Option<&str>) -> DiscoveryError {
        DiscoveryError {
            source: source.into(),
            namespace: None,
            scrape_pool: pool.map(str::to_string),
            error: "e".into(),
            since: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn discovery_errors_are_an_extra_key_filtered_by_pool() {
        let mut d = TargetsData {
            discovery_errors: vec![
                err("kubernetes/servicemonitors", None),
                err("kubernetes", Some("serviceMonitor/a/x/0")),
                err("kubernetes", Some("serviceMonitor/a/y/0")),
            ],
            ..TargetsData::default()
        };
        let v = serde_json::to_value(&d).expect("json");
        assert_eq!(v["activeTargets"], serde_json::json!([]));
        assert_eq!(
            v["discoveryErrors"][0]["source"],
            "kubernetes/servicemonitors"
        );
        assert!(v["discoveryErrors"][0].get("scrapePool").is_none());
        assert_eq!(
            v["discoveryErrors"][1]["scrapePool"],
            "serviceMonitor/a/x/0"
        );
        select(&mut d, Some("active"), Some("serviceMonitor/a/x/0"));
        let pools: Vec<_> = d
            .discovery_errors
            .iter()
            .map(|e| e.scrape_pool.as_deref())
            .collect();
        assert_eq!(pools, vec![None, Some("serviceMonitor/a/x/0")]);
    }
}
