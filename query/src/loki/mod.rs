//! The Loki HTTP API over the log index: `/loki/api/v1/query_range`, `/query`, `/labels`,
//! `/label/{name}/values`, `/series`, `/index/stats`, with Loki's response shapes, so
//! Grafana's stock Loki data source (Explore, log volume) works against lookout.
//!
//! Times are accepted as integer nanoseconds, float seconds or RFC 3339; answers carry
//! nanosecond timestamps as strings (streams) or float seconds (matrix/vector), as Loki's do.
//! Errors are plain-text `400 Bad Request` bodies, as Loki's.
//!
//! Searches run on the blocking pool. Modules: [`logql`] (parser), [`pipeline`] (stages on
//! one row), [`eval`] (log and metric evaluation).

// Handlers return `Result<_, Response>` so a bad parameter becomes Loki's 400 body right
// where it is found; the error path is cold, so the size of `Response` does not matter.
#![allow(clippy::result_large_err)]

pub mod eval;
pub mod logql;
pub mod pipeline;

use crate::api::params::{Params, parse_duration, parse_time};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use logql::Expr;
use lookout_store::Labels;
use lookout_store::logs::{Direction, LogSearcher};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// What the Loki routes read from.
#[derive(Clone)]
pub struct LokiState {
    pub searcher: Arc<dyn LogSearcher>,
}

/// The Loki routes.
pub fn router(state: LokiState) -> Router {
    Router::new()
        .route(
            "/loki/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/loki/api/v1/query", get(query).post(query))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(label_values).post(label_values),
        )
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/index/stats", get(stats).post(stats))
        .route(
            "/loki/api/v1/status/buildinfo",
            get(|| async { axum::Json(json!({"version": "3.0.0-lookout"})) }),
        )
        .with_state(state)
}

fn bad(msg: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response()
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Parses a Loki time: integer ns, float seconds, or RFC 3339.
pub fn parse_time_ns(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    parse_time(s).map(|ms| ms.saturating_mul(1_000_000))
}

fn time_param(p: &Params, k: &str, default: i64) -> Result<i64, Response> {
    match p.get(k) {
        None => Ok(default),
        Some(s) => parse_time_ns(s).ok_or_else(|| {
            bad(format_args!(
                "invalid {k}: cannot parse {s:?} as a timestamp"
            ))
        }),
    }
}

fn range_params(p: &Params) -> Result<(i64, i64), Response> {
    let end = time_param(p, "end", now_ns())?;
    let start = time_param(p, "start", end - 3_600_000_000_000)?;
    if end < start {
        return Err(bad(
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start, end))
}

fn direction(p: &Params) -> Result<Direction, Response> {
    match p.get("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(o) => Err(bad(format_args!("invalid direction {o:?}"))),
    }
}

fn limit(p: &Params) -> Result<usize, Response> {
    match p.get("limit") {
        None => Ok(100),
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| bad(format_args!("invalid limit {s:?}"))),
    }
}

fn labels_json(l: &Labels) -> Value {
    let mut m = Map::new();
    for x in l.iter() {
        m.insert(x.name.clone(), Value::String(x.value.clone()));
    }
    Value::Object(m)
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn secs(t: i64) -> Value {
    let v = t as f64 / 1e9;
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

fn streams_json(st: Vec<eval::StreamOut>) -> Value {
    let result: Vec<Value> = st
        .into_iter()
        .map(|s| {
            let values: Vec<Value> = s
                .values
                .into_iter()
                .map(|(t, l)| json!([t.to_string(), l]))
                .collect();
            json!({"stream": labels_json(&s.labels), "values": values})
        })
        .collect();
    json!({"resultType": "streams", "result": result, "stats": {}})
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("query task failed: {e}\n"),
        )
            .into_response()
    })
}

fn params(q: Option<String>, body: &Bytes) -> Params {
    Params::from_parts(q.as_deref(), body)
}

fn step_param(p: &Params, start: i64, end: i64) -> Result<i64, Response> {
    match p.get("step") {
        Some(s) => match parse_duration(s) {
            Some(ms) if ms > 0 => Ok(ms * 1_000_000),
            _ => Err(bad(format_args!("invalid step {s:?}"))),
        },
        None => Ok((((end - start) / 250) / 1_000_000_000).max(1) * 1_000_000_000),
    }
}

async fn query_range(State(s): State<LokiState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = params(q, &body);
    let run = || -> Result<Value, Response> {
        let text = p
            .get("query")
            .ok_or_else(|| bad("missing query"))?
            .to_string();
        let expr = logql::parse(&text).map_err(bad)?;
        let (start, end) = range_params(&p)?;
        match expr {
            Expr::Log(_) => {
                let (dir, lim) = (direction(&p)?, limit(&p)?);
                Ok(
                    json!({"kind": "log", "text": text, "start": start, "end": end, "forward": dir == Direction::Forward, "limit": lim}),
                )
            }
            _ => {
                let step = step_param(&p, start, end)?;
                if (end - start) / step > eval::MAX_POINTS {
                    return Err(bad(
                        "exceeded maximum resolution of 11,000 points per timeseries. Try increasing the value of the step parameter",
                    ));
                }
                Ok(
                    json!({"kind": "metric", "text": text, "start": start, "end": end, "step": step, "instant": false}),
                )
            }
        }
    };
    let plan = match run() {
        Ok(v) => v,
        Err(r) => return r,
    };
    execute(s, plan).await
}

async fn query(State(s): State<LokiState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = params(q, &body);
    let run = || -> Result<Value, Response> {
        let text = p
            .get("query")
            .ok_or_else(|| bad("missing query"))?
            .to_string();
        let expr = logql::parse(&text).map_err(bad)?;
        let t = time_param(&p, "time", now_ns())?;
        Ok(match expr {
            Expr::Log(_) => {
                json!({"kind": "log", "text": text, "start": t - 3_600_000_000_000i64, "end": t + 1, "forward": direction(&p)? == Direction::Forward, "limit": limit(&p)?})
            }
            _ => {
                json!({"kind": "metric", "text": text, "start": t, "end": t, "step": 1, "instant": true})
            }
        })
    };
    let plan = match run() {
        Ok(v) => v,
        Err(r) => return r,
    };
    execute(s, plan).await
}

/// Runs a planned query (parsed again on the blocking pool; parsing is cheap and keeps the
/// plan `Send`).
async fn execute(s: LokiState, plan: Value) -> Response {
    let r = blocking(move || -> Result<Value, String> {
        let text = plan["text"].as_str().unwrap_or_default();
        let expr = logql::parse(text).map_err(|e| e.to_string())?;
        let start = plan["start"].as_i64().unwrap_or(0);
        let end = plan["end"].as_i64().unwrap_or(0);
        match (plan["kind"].as_str(), expr) {
            (Some("log"), Expr::Log(l)) => {
                let dir = if plan["forward"].as_bool() == Some(true) { Direction::Forward } else { Direction::Backward };
                let lim = plan["limit"].as_u64().unwrap_or(100) as usize;
                let st = eval::logs(s.searcher.as_ref(), &l, start, end.saturating_add(1), dir, lim).map_err(|e| e.to_string())?;
                Ok(streams_json(st))
            }
            (_, e) => {
                let step = plan["step"].as_i64().unwrap_or(1_000_000_000);
                let series = eval::metric(s.searcher.as_ref(), &e, start, end, step).map_err(|e| e.to_string())?;
                if plan["instant"].as_bool() == Some(true) {
                    let result: Vec<Value> = series
                        .into_iter()
                        .filter_map(|s| s.points.last().map(|&(t, v)| json!({"metric": labels_json(&s.labels), "value": [secs(t), fmt_value(v)]})))
                        .collect();
                    Ok(json!({"resultType": "vector", "result": result, "stats": {}}))
                } else {
                    let result: Vec<Value> = series
                        .into_iter()
                        .map(|s| {
                            let values: Vec<Value> = s.points.iter().map(|&(t, v)| json!([secs(t), fmt_value(v)])).collect();
                            json!({"metric": labels_json(&s.labels), "values": values})
                        })
                        .collect();
                    Ok(json!({"resultType": "matrix", "result": result, "stats": {}}))
                }
            }
        }
    })
    .await;
    match r {
        Ok(Ok(v)) => success(v),
        Ok(Err(e)) => bad(e),
        Err(resp) => resp,
    }
}

/// The matchers of an optional selector parameter.
fn selector(p: &Params, key: &str) -> Result<Vec<lookout_store::Matcher>, Response> {
    match p.get(key) {
        None => Ok(Vec::new()),
        Some(q) => match logql::parse(q).map_err(bad)? {
            Expr::Log(l) => Ok(l.matchers),
            _ => Err(bad("expected a stream selector")),
        },
    }
}

async fn labels(State(s): State<LokiState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = params(q, &body);
    let (m, (start, end)) = match (selector(&p, "query"), range_params(&p)) {
        (Ok(m), Ok(r)) => (m, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match blocking(move || s.searcher.label_names(&m, start, end.saturating_add(1))).await {
        Ok(Ok(v)) => success(json!(v)),
        Ok(Err(e)) => bad(e),
        Err(r) => r,
    }
}

async fn label_values(
    State(s): State<LokiState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let p = params(q, &body);
    let (m, (start, end)) = match (selector(&p, "query"), range_params(&p)) {
        (Ok(m), Ok(r)) => (m, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match blocking(move || {
        s.searcher
            .label_values(&name, &m, start, end.saturating_add(1))
    })
    .await
    {
        Ok(Ok(v)) => success(json!(v)),
        Ok(Err(e)) => bad(e),
        Err(r) => r,
    }
}

async fn series(State(s): State<LokiState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = params(q, &body);
    let (start, end) = match range_params(&p) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut sels = Vec::new();
    for m in p.all("match[]").into_iter().chain(p.all("match")) {
        match logql::parse(m) {
            Ok(Expr::Log(l)) => sels.push(l.matchers),
            Ok(_) => return bad("expected a stream selector in match[]"),
            Err(e) => return bad(e),
        }
    }
    if sels.is_empty() {
        sels.push(Vec::new());
    }
    let r = blocking(move || -> lookout_store::logs::Result<Vec<Labels>> {
        let mut all = std::collections::BTreeSet::new();
        for m in &sels {
            all.extend(s.searcher.series(m, start, end.saturating_add(1))?);
        }
        Ok(all.into_iter().collect())
    })
    .await;
    match r {
        Ok(Ok(v)) => success(Value::Array(v.iter().map(labels_json).collect())),
        Ok(Err(e)) => bad(e),
        Err(r) => r,
    }
}

async fn stats(State(s): State<LokiState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = params(q, &body);
    let (m, (start, end)) = match (selector(&p, "query"), range_params(&p)) {
        (Ok(m), Ok(r)) => (m, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match blocking(move || s.searcher.stats(&m, start, end.saturating_add(1))).await {
        Ok(Ok(st)) => axum::Json(json!({"streams": st.streams, "chunks": st.chunks, "entries": st.entries, "bytes": st.bytes})).into_response(),
        Ok(Err(e)) => bad(e),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests;
