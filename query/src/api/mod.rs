//! The Prometheus HTTP API (`/api/v1/...`) as an axum `Router`.
//!
//! Shapes follow Prometheus: `{"status":"success","data":...}` or
//! `{"status":"error","errorType":...,"error":...}` with the status code of
//! [`crate::Error::status`]. Parameters come from the query string or a form body (Grafana
//! POSTs `query=1+1` on "Save & test").

pub mod params;
pub mod targets;
pub mod write;

use crate::error::Error;
use crate::promql::{self, EngineOpts, QueryValue, RangeSeries};
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
pub use targets::{
    ActiveTarget, DiscoveryError, DroppedTarget, MetadataEntry, TargetSource, TargetsData,
};
pub use write::write_router;

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
        .route("/api/v1/query_range", get(query_range).post(query_range))
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
    respond(tokio::task::spawn_blocking(move || query_inner(&s, &p)).await)
}

async fn query_range(State(s): State<ApiState>, q: RawQuery, f: RawForm) -> Response {
    let p = Params::from_parts(q.0.as_deref(), &f.0);
    let r = tokio::task::spawn_blocking(move || query_range_inner(&s, &p).map(|m| matrix_body(&m)));
    match r.await {
        Ok(Ok(body)) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&Error::Execution(format!("query evaluation failed: {e}"))),
    }
}

fn respond(r: std::result::Result<crate::Result<Value>, tokio::task::JoinError>) -> Response {
    match r {
        Ok(Ok(v)) => success(v),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&Error::Execution(format!("query evaluation failed: {e}"))),
    }
}

/// Engine options for one request: defaults, with the `timeout` parameter applied.
fn engine_opts(p: &Params) -> crate::Result<EngineOpts> {
    let mut o = EngineOpts::default();
    if let Some(t) = p.get("timeout") {
        let ms = params::parse_duration(t).ok_or_else(|| {
            Error::BadData(format!(
                "invalid parameter \"timeout\": cannot parse {t:?} to a valid duration"
            ))
        })?;
        o.timeout = Some(std::time::Duration::from_millis(ms.max(0) as u64));
    }
    Ok(o)
}

fn query_param(p: &Params) -> crate::Result<&str> {
    p.get("query").ok_or_else(|| {
        Error::BadData("invalid parameter \"query\": query must not be empty".into())
    })
}

fn query_inner(s: &ApiState, p: &Params) -> crate::Result<Value> {
    let q = query_param(p)?;
    let t = p.time("time")?.unwrap_or_else(params::now_ms);
    let opts = engine_opts(p)?;
    let v = promql::instant_query(&*s.querier, q, t, &opts)?;
    Ok(query_value_json(&v))
}

fn query_range_inner(s: &ApiState, p: &Params) -> crate::Result<Vec<RangeSeries>> {
    let q = query_param(p)?;
    let start = p.time("start")?.ok_or_else(|| {
        Error::BadData("invalid parameter \"start\": cannot parse \"\" to a valid timestamp".into())
    })?;
    let end = p.time("end")?.ok_or_else(|| {
        Error::BadData("invalid parameter \"end\": cannot parse \"\" to a valid timestamp".into())
    })?;
    let step_s = p.get("step").unwrap_or("");
    let step = params::parse_duration(step_s).ok_or_else(|| {
        Error::BadData(format!(
            "invalid parameter \"step\": cannot parse {step_s:?} to a valid duration"
        ))
    })?;
    let opts = engine_opts(p)?;
    promql::range_query(&*s.querier, q, start, end, step, &opts)
}

/// The whole success body of a matrix, written straight into bytes: a range query can
/// return millions of points, and building a `serde_json::Value` tree for them first costs
/// more than evaluating the query. Same output as `matrix_json` through serde.
pub fn matrix_body(m: &[RangeSeries]) -> Vec<u8> {
    let points: usize = m.iter().map(|s| s.pts.len()).sum();
    let mut b: Vec<u8> = Vec::with_capacity(64 + points * 28 + m.len() * 128);
    b.extend_from_slice(br#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for (i, s) in m.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(br#"{"metric":"#);
        // A map of strings cannot fail to serialize into a Vec.
        let _ = serde_json::to_writer(&mut b, &labels_json(&s.labels));
        b.extend_from_slice(br#","values":["#);
        for (j, &(t, v)) in s.pts.iter().enumerate() {
            if j > 0 {
                b.push(b',');
            }
            b.push(b'[');
            let _ = serde_json::to_writer(&mut b, &ts_json(t));
            b.extend_from_slice(b",\"");
            b.extend_from_slice(format_value(v).as_bytes());
            b.extend_from_slice(b"\"]");
        }
        b.extend_from_slice(b"]}");
    }
    b.extend_from_slice(b"]}}");
    b
}

/// Prometheus' JSON for a query result.
pub fn query_value_json(v: &QueryValue) -> Value {
    match v {
        QueryValue::Scalar { t, v } => {
            json!({"resultType": "scalar", "result": [ts_json(*t), format_value(*v)]})
        }
        QueryValue::String { t, v } => json!({"resultType": "string", "result": [ts_json(*t), v]}),
        QueryValue::Vector(samples) => {
            let r: Vec<Value> = samples
                .iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": [ts_json(s.t), format_value(s.v)]}))
                .collect();
            json!({"resultType": "vector", "result": r})
        }
        QueryValue::Matrix(m) => json!({"resultType": "matrix", "result": matrix_json(m)}),
    }
}

fn matrix_json(m: &[RangeSeries]) -> Value {
    Value::Array(
        m.iter()
            .map(|s| {
                let pts: Vec<Value> = s
                    .pts
                    .iter()
                    .map(|&(t, v)| json!([ts_json(t), format_value(v)]))
                    .collect();
                json!({"metric": labels_json(&s.labels), "values": pts})
            })
            .collect(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_body_equals_the_serde_shape() {
        let m = vec![
            RangeSeries {
                labels: Labels::from_pairs([("__name__", "x"), ("a", "q\"uote")]),
                pts: vec![(1_700_000_000_000, 1.5), (1_700_000_015_123, f64::NAN)],
            },
            RangeSeries {
                labels: Labels::default(),
                pts: vec![(0, f64::INFINITY)],
            },
        ];
        let direct: Value = serde_json::from_slice(&matrix_body(&m)).unwrap();
        let tree = json!({"status": "success", "data": {"resultType": "matrix", "result": matrix_json(&m)}});
        assert_eq!(direct, tree);
    }
}
