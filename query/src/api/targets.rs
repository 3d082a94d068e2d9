//! `/api/v1/targets` and `/api/v1/metadata`: what the collector knows about scrape targets
//! and metric families, in Prometheus' shapes. The collector implements [`TargetSource`].

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

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsData {
    pub active_targets: Vec<ActiveTarget>,
    pub dropped_targets: Vec<DroppedTarget>,
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
    match p.get("state") {
        Some("active") => d.dropped_targets.clear(),
        Some("dropped") => d.active_targets.clear(),
        _ => {}
    }
    if let Some(pool) = p.get("scrapePool") {
        d.active_targets.retain(|t| t.scrape_pool == pool);
    }
    success(serde_json::to_value(d).unwrap_or_default())
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
