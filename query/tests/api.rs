//! The HTTP API end to end over a real socket: Grafana's data-source test, instant and range
//! queries by GET and form POST, Prometheus' error shapes and status codes (400 bad_data with
//! a position, 422 execution, 503 timeout), the 11,000-points limit, the sample limit, and
//! remote write feeding queries.

#[path = "compat/http.rs"]
mod http;

use lookout_query::api::write::{Label, Sample, TimeSeries, WriteRequest, encode_request};
use lookout_query::api::{self, ApiState, MetadataEntry, TargetSource, TargetsData};
use lookout_query::promql::{self, EngineOpts};
use lookout_store::{Appendable, Head, Labels};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

struct NoTargets;
impl TargetSource for NoTargets {
    fn targets(&self) -> TargetsData {
        TargetsData::default()
    }
    fn metadata(&self) -> BTreeMap<String, Vec<MetadataEntry>> {
        BTreeMap::new()
    }
}

fn serve(head: Arc<Head>) -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = api::router(ApiState {
        querier: head.clone(),
        targets: Arc::new(NoTargets),
    })
    .merge(api::write_router(head));
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = l.local_addr().unwrap().to_string();
    rt.spawn(async move { axum::serve(l, app).await });
    (rt, addr)
}

fn get(addr: &str, path_and_query: &str) -> (u16, Value) {
    let r = http::request(addr, "GET", path_and_query, "text/plain", b"").unwrap();
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

fn loaded_head(series: usize, samples: i64) -> Arc<Head> {
    let head = Arc::new(Head::new());
    let mut app = head.appender();
    for s in 0..series {
        let l = Labels::from_pairs([
            ("__name__", "x".to_string()),
            ("job", format!("j{}", s % 3)),
            ("i", s.to_string()),
        ]);
        for k in 0..samples {
            app.append(0, &l, k * 15_000, (k * (s as i64 + 1)) as f64)
                .unwrap();
        }
    }
    app.commit().unwrap();
    head
}

#[test]
fn grafana_and_query_shapes() {
    let (_rt, addr) = serve(loaded_head(6, 100));
    // Grafana's "Save & test".
    let (st, v) = http::post_form(
        &addr,
        "/api/v1/query",
        &[("query", "1+1".into()), ("time", "100".into())],
    )
    .unwrap();
    assert_eq!(st, 200);
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"][1], "2");
    let (st, v) = get(&addr, "/api/v1/status/buildinfo");
    assert_eq!(st, 200);
    assert!(v["data"]["version"].is_string());
    // Instant vector by GET.
    let (st, v) = get(&addr, "/api/v1/query?query=sum%20by%20(job)%20(x)&time=600");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 3);
    // Range query by GET and POST agree.
    let (st, g) = get(
        &addr,
        "/api/v1/query_range?query=rate(x%5B5m%5D)&start=300&end=1200&step=60",
    );
    assert_eq!(st, 200, "{g}");
    let (_, p) = http::post_form(
        &addr,
        "/api/v1/query_range",
        &[
            ("query", "rate(x[5m])".into()),
            ("start", "300".into()),
            ("end", "1200".into()),
            ("step", "1m".into()),
        ],
    )
    .unwrap();
    assert_eq!(g, p);
    assert_eq!(g["data"]["resultType"], "matrix");
    assert_eq!(
        g["data"]["result"][0]["values"].as_array().unwrap().len(),
        16
    );
}

#[test]
fn errors_have_prometheus_shapes() {
    let (_rt, addr) = serve(loaded_head(6, 100));
    let (st, v) = get(&addr, "/api/v1/query?query=sum(x%20by");
    assert_eq!(st, 400);
    assert_eq!(v["errorType"], "bad_data");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("1:"), "no position in {msg}");
    let (st, v) = get(
        &addr,
        "/api/v1/query_range?query=x&start=0&end=100000&step=1",
    );
    assert_eq!(st, 400);
    assert!(v["error"].as_str().unwrap().contains("11,000"), "{v}");
    let (st, v) = get(&addr, "/api/v1/query_range?query=x&start=0&end=100&step=0");
    assert_eq!((st, v["errorType"].as_str()), (400, Some("bad_data")));
    let (st, v) = get(&addr, "/api/v1/query?query=x%20%2B%20on(job)%20x&time=600");
    assert_eq!(
        (st, v["errorType"].as_str()),
        (422, Some("execution")),
        "{v}"
    );
    let (st, v) = get(&addr, "/api/v1/query?query=mad_over_time(x%5B5m%5D)");
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("mad_over_time"),
        "{v}"
    );
}

#[test]
fn timeout_stops_the_query() {
    let (_rt, addr) = serve(loaded_head(200, 400));
    // A one-second-step subquery over a day: far more work than a millisecond allows.
    let (st, v) = get(
        &addr,
        "/api/v1/query?query=max_over_time(rate(x%5B5m%5D)%5B1d%3A1s%5D)&time=6000&timeout=1ms",
    );
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["errorType"], "timeout");
}

#[test]
fn sample_limit_fails_cleanly() {
    let head = loaded_head(50, 200);
    let opts = EngineOpts {
        max_samples: 1000,
        ..EngineOpts::default()
    };
    let err = promql::instant_query(&*head, "sum(rate(x[1h]))", 3_000_000, &opts).unwrap_err();
    assert_eq!(err.error_type(), "execution");
    assert!(err.to_string().contains("too many samples"), "{err}");
    assert!(
        promql::instant_query(
            &*head,
            "sum(rate(x[1h]))",
            3_000_000,
            &EngineOpts::default()
        )
        .is_ok()
    );
}

#[test]
fn remote_write_feeds_queries() {
    let head = Arc::new(Head::new());
    let (_rt, addr) = serve(head);
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "pushed".into(),
                },
                Label {
                    name: "k".into(),
                    value: "v".into(),
                },
            ],
            samples: (0..10)
                .map(|i| Sample {
                    value: i as f64,
                    timestamp: i * 10_000,
                })
                .collect(),
            histograms: vec![],
        }],
    };
    let r = http::request(
        &addr,
        "POST",
        "/api/v1/write",
        "application/x-protobuf",
        &encode_request(&req),
    )
    .unwrap();
    assert_eq!(r.status, 204);
    let (st, v) = get(&addr, "/api/v1/query?query=pushed&time=90");
    assert_eq!(st, 200);
    assert_eq!(v["data"]["result"][0]["value"][1], "9");
    assert_eq!(v["data"]["result"][0]["metric"]["k"], "v");
    // Out-of-order samples are refused with 400 (no retry), garbage too.
    let r = http::request(
        &addr,
        "POST",
        "/api/v1/write",
        "application/x-protobuf",
        &encode_request(&req),
    )
    .unwrap();
    assert!(r.status == 204 || r.status == 400, "{}", r.status);
    let r = http::request(
        &addr,
        "POST",
        "/api/v1/write",
        "application/x-protobuf",
        b"\xff\xffgarbage",
    )
    .unwrap();
    assert_eq!(r.status, 400);
}
