//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus' shapes.

use super::alerting::{ActiveAlert, AlertState};
use super::{RuleManager, RuleState};
use crate::api::success;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn rfc3339(t: Option<SystemTime>) -> Value {
    match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
        Some(d) => Value::String(crate::api::params::format_rfc3339(d.as_millis() as i64)),
        None => Value::String("0001-01-01T00:00:00Z".into()),
    }
}

fn alert_json(a: &ActiveAlert) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(Some(UNIX_EPOCH + std::time::Duration::from_millis(a.active_at.max(0) as u64))),
        "value": crate::template::gofmt::format_e(a.value, 10),
    });
    if let Some(k) = a.keep_firing_since {
        v["keepFiringSince"] = rfc3339(Some(
            UNIX_EPOCH + std::time::Duration::from_millis(k.max(0) as u64),
        ));
    }
    v
}

/// The `/api/v1/rules` data.
pub fn rules_data(m: &RuleManager, type_filter: Option<&str>) -> Value {
    let groups: Vec<Value> = m
        .groups()
        .iter()
        .map(|g| group_json(&g.lock(), type_filter))
        .collect();
    json!({ "groups": groups })
}

/// One group as `/api/v1/rules` shows it.
pub fn rules_data_for_group(g: &super::Group) -> Value {
    group_json(g, None)
}

fn group_json(g: &super::Group, type_filter: Option<&str>) -> Value {
    {
        let mut rules = Vec::new();
        for r in &g.rules {
            let health = match (&r.health.last_error, r.health.evaluated) {
                (Some(_), _) => "err",
                (None, true) => "ok",
                (None, false) => "unknown",
            };
            let common = |mut v: Value| {
                v["health"] = json!(health);
                if let Some(e) = &r.health.last_error {
                    v["lastError"] = json!(e);
                }
                v["evaluationTime"] = json!(r.health.evaluation_time.as_secs_f64());
                v["lastEvaluation"] = rfc3339(r.health.last_evaluation);
                v
            };
            match &r.state {
                RuleState::Recording { rule, .. } => {
                    if type_filter == Some("alert") {
                        continue;
                    }
                    rules.push(common(json!({
                        "name": rule.name(), "query": rule.expr, "labels": rule.labels, "type": "recording",
                    })));
                }
                RuleState::Alerting(a) => {
                    if type_filter == Some("record") {
                        continue;
                    }
                    let mut alerts: Vec<&ActiveAlert> = a
                        .active
                        .values()
                        .filter(|x| x.state != AlertState::Inactive)
                        .collect();
                    alerts.sort_by(|x, y| x.labels.cmp(&y.labels));
                    rules.push(common(json!({
                        "state": a.state().as_str(),
                        "name": a.name(),
                        "query": a.rule.expr,
                        "duration": a.rule.for_.as_secs_f64(),
                        "keepFiringFor": a.rule.keep_firing_for.as_secs_f64(),
                        "labels": a.rule.labels,
                        "annotations": a.rule.annotations,
                        "alerts": alerts.iter().map(|x| alert_json(x)).collect::<Vec<_>>(),
                        "type": "alerting",
                    })));
                }
            }
        }
        json!({
            "name": g.cfg.name,
            "file": g.cfg.file,
            "rules": rules,
            "interval": g.interval.as_secs_f64(),
            "limit": g.cfg.limit,
            "evaluationTime": g.evaluation_time.as_secs_f64(),
            "lastEvaluation": rfc3339(g.last_evaluation),
        })
    }
}

/// The `/api/v1/alerts` data: pending and firing alerts of every rule.
pub fn alerts_data(m: &RuleManager) -> Value {
    let mut out = Vec::new();
    for g in m.groups() {
        let g = g.lock();
        for r in &g.rules {
            if let RuleState::Alerting(a) = &r.state {
                for x in a
                    .active
                    .values()
                    .filter(|x| x.state != AlertState::Inactive)
                {
                    out.push(alert_json(x));
                }
            }
        }
    }
    json!({ "alerts": out })
}

/// The routes, for merging into the agent's router.
pub fn router(m: Arc<RuleManager>) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .with_state(m)
}

async fn rules(State(m): State<Arc<RuleManager>>, q: RawQuery) -> Response {
    let p = crate::api::params::Params::from_parts(q.0.as_deref(), &[]);
    success(rules_data(&m, p.get("type")))
}

async fn alerts(State(m): State<Arc<RuleManager>>) -> Response {
    success(alerts_data(&m))
}
