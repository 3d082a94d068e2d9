//! The Prometheus HTTP API (`/api/v1/...`) as an axum `Router`.
//!
//! Shapes follow Prometheus: `{"status":"success","data":...}` or
//! `{"status":"error","errorType":...,"error":...}` with the status code of
//! [`crate::Error::status`]. Parameters come from the query string or a form body (Grafana
//! POSTs `query=1+1` on "Save & test").

pub mod params;
pub mod targets;

use crate::error::Error;
use crate::selector;
use axum::extract::{Path, RawForm, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use lookout_store::{Labels, Querier};
use params::Params;
use serde_json::{Map, Value, json};
use std::sync::Arc;
pub use targets::{ActiveTarget, DroppedTarget, MetadataEntry, TargetSource, TargetsData};

/// What the API reads from.
#[derive(Clone)]
pub struct ApiState {
    pub querier: Arc<dyn Querier>,
    pub targets: Arc<dyn TargetSource>,
}

/// The `/api/v1` routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .with_state(state)
}

/// A success body.
pub fn success(data: Value) -> Response {
    json_response(StatusCode::OK, json!({"status": "success", "data": data}))
}

fn json_response(code: StatusCode, v: Value) -> Response {
    let mut r = (code, Json(v)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Prometheus' error body and status for `e`.
pub fn error_response(e: &Error) -> Response {
    let code = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    json_response(
        code,
        json!({"status": "error", "errorType": e.error_type(), "error": e.to_string()}),
    )
}

/// A float as Prometheus writes sample values (Go's `FormatFloat(v, 'f', -1, 64)`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A millisecond timestamp as Prometheus' JSON number of seconds.
pub fn ts_json(t: i64) -> Value {
    let secs = t as f64 / 1000.0;
    serde_json::Number::from_f64(secs)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub fn labels_json(l: &Labels) -> Value {
    let mut m = Map::new();
    for lab in l.iter() {
        m.insert(lab.name.clone(), Value::String(lab.value.clone()));
    }
    Value::Object(m)
}

async fn query(State(s): State<ApiState>, q: RawQuery, f: RawForm) -> Response {
    let p = Params::from_parts(q.0.as_deref(), &f.0);
    match query_inner(&s, &p) {
        Ok(v) => success(v),
        Err(e) => error_response(&e),
    }
}

fn query_inner(s: &ApiState, p: &Params) -> crate::Result<Value> {
    let q = p.get("query").ok_or_else(|| {
        Error::BadData("invalid parameter \"query\": query must not be empty".into())
    })?;
    let t = p.time("time")?.unwrap_or_else(params::now_ms);
    // Constant scalars answer directly (Grafana's data source test sends `1+1`).
    if let Some(v) = params::constant_scalar(q) {
        return Ok(json!({"resultType": "scalar", "result": [ts_json(t), format_value(v)]}));
    }
    let matchers = selector::parse_selector(q)?;
    let v = selector::eval_instant(&*s.querier, &matchers, t)?;
    let result: Vec<Value> = v
        .iter()
        .map(|smp| json!({"metric": labels_json(&smp.labels), "value": [ts_json(smp.t), format_value(smp.v)]}))
        .collect();
    Ok(json!({"resultType": "vector", "result": result}))
}

fn matchers_of(p: &Params) -> crate::Result<Vec<Vec<lookout_store::Matcher>>> {
    p.all("match[]")
        .iter()
        .map(|m| selector::parse_selector(m))
        .collect()
}

async fn series(State(s): State<ApiState>, q: RawQuery, f: RawForm) -> Response {
    let p = Params::from_parts(q.0.as_deref(), &f.0);
    let r = (|| {
        let sets = matchers_of(&p)?;
        if sets.is_empty() {
            return Err(Error::BadData("no match[] parameter provided".into()));
        }
        let (start, end) = p.range()?;
        let mut all: Vec<Labels> = Vec::new();
        for m in &sets {
            for sr in s.querier.select(m, start, end)? {
                all.push(sr.labels);
            }
        }
        all.sort();
        all.dedup();
        Ok(Value::Array(all.iter().map(labels_json).collect()))
    })();
    match r {
        Ok(v) => success(v),
        Err(e) => error_response(&e),
    }
}

async fn labels(State(s): State<ApiState>, q: RawQuery, f: RawForm) -> Response {
    let p = Params::from_parts(q.0.as_deref(), &f.0);
    let r = (|| {
        let sets = matchers_of(&p)?;
        let (start, end) = p.range()?;
        let mut names: Vec<String> = Vec::new();
        if sets.is_empty() {
            names = s.querier.label_names(&[], start, end)?;
        } else {
            for m in &sets {
                names.extend(s.querier.label_names(m, start, end)?);
            }
            names.sort();
            names.dedup();
        }
        Ok(json!(names))
    })();
    match r {
        Ok(v) => success(v),
        Err(e) => error_response(&e),
    }
}

async fn label_values(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    q: RawQuery,
) -> Response {
    let p = Params::from_parts(q.0.as_deref(), &axum::body::Bytes::new());
    let r = (|| {
        let sets = matchers_of(&p)?;
        let (start, end) = p.range()?;
        let mut vals: Vec<String> = Vec::new();
        if sets.is_empty() {
            vals = s.querier.label_values(&name, &[], start, end)?;
        } else {
            for m in &sets {
                vals.extend(s.querier.label_values(&name, m, start, end)?);
            }
            vals.sort();
            vals.dedup();
        }
        Ok(json!(vals))
    })();
    match r {
        Ok(v) => success(v),
        Err(e) => error_response(&e),
    }
}

async fn buildinfo() -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        "application": "lookout"
    }))
}
