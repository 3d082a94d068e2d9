//! The Loki API end to end over a socket, on a real log index.

use super::*;
use lookout_store::logs::{LogIndex, LogIndexOptions, LogLine, LogWriter};
use std::io::{Read, Write};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

fn index(dir: &std::path::Path) -> Arc<LogIndex> {
    let idx = LogIndex::open(LogIndexOptions::new(dir.join("index"))).unwrap();
    let mut w = idx.writer();
    let web = Labels::from_pairs([("namespace", "prod"), ("app", "web"), ("stream", "stdout")]);
    let db = Labels::from_pairs([("namespace", "prod"), ("app", "db"), ("stream", "stderr")]);
    let lines: Vec<String> = (0..60)
        .map(|i| {
            if i % 3 == 0 {
                format!(r#"{{"level":"error","status":500,"msg":"fail {i}"}}"#)
            } else {
                format!(r#"{{"level":"info","status":200,"msg":"ok {i}"}}"#)
            }
        })
        .collect();
    let ll: Vec<LogLine> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| LogLine {
            ts_ns: T0 + i as i64 * S,
            line: l,
            flags: 0,
        })
        .collect();
    w.append(&web, &ll).unwrap();
    let dbl: Vec<String> = (0..10)
        .map(|i| format!("level=warn query=select duration={i}ms"))
        .collect();
    let ll: Vec<LogLine> = dbl
        .iter()
        .enumerate()
        .map(|(i, l)| LogLine {
            ts_ns: T0 + i as i64 * 6 * S,
            line: l,
            flags: 0,
        })
        .collect();
    w.append(&db, &ll).unwrap();
    w.commit("").unwrap();
    idx
}

struct Server {
    _rt: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let idx = index(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = l.local_addr().unwrap();
    let app = router(LokiState { searcher: idx });
    rt.spawn(async move { axum::serve(l, app).await });
    Server {
        _rt: rt,
        addr,
        _dir: dir,
    }
}

fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn get(s: &Server, path: &str) -> (u16, String) {
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json_get(s: &Server, path: &str) -> Value {
    let (st, body) = get(s, path);
    assert_eq!(st, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn range(q: &str, extra: &str) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}{extra}",
        enc(q),
        T0,
        T0 + 100 * S
    )
}

#[test]
fn query_range_streams_with_direction_limit_and_pipeline() {
    let s = serve();
    let v = json_get(
        &s,
        &range(r#"{app="web"} |= "fail""#, "&limit=3&direction=backward"),
    );
    assert_eq!(v["data"]["resultType"], "streams");
    let r = &v["data"]["result"];
    let vals: Vec<&Value> = r
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap())
        .collect();
    assert_eq!(vals.len(), 3);
    assert_eq!(vals[0][0], (T0 + 57 * S).to_string());
    assert!(vals[0][1].as_str().unwrap().contains("fail 57"));
    assert_eq!(r[0]["stream"]["detected_level"], "error");
    assert_eq!(r[0]["stream"]["app"], "web");

    let v = json_get(
        &s,
        &range(
            r#"{app="web"} | json | status >= 500 | line_format "{{.msg}}""#,
            "&limit=2&direction=forward",
        ),
    );
    // Extracted labels differ per line (msg), so each line is its own stream, as in Loki.
    let res = v["data"]["result"].as_array().unwrap();
    let mut got: Vec<(String, String)> = res
        .iter()
        .map(|s| {
            (
                s["values"][0][0].as_str().unwrap().to_string(),
                s["values"][0][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ((T0).to_string(), "fail 0".to_string()),
            ((T0 + 3 * S).to_string(), "fail 3".to_string())
        ]
    );
    assert!(res.iter().all(|s| s["stream"]["status"] == "500"));

    let v = json_get(
        &s,
        &range(
            r#"{namespace="prod"} | logfmt | duration > 5ms"#,
            "&limit=100",
        ),
    );
    let n: usize = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 4, "durations 6..9ms");
}

#[test]
fn log_volume_query_as_grafana_sends_it() {
    let s = serve();
    let q = r#"sum by (level, detected_level) (count_over_time({namespace="prod"} | drop __error__ [10s]))"#;
    let v = json_get(&s, &range(q, "&step=10s"));
    assert_eq!(v["data"]["resultType"], "matrix");
    let res = v["data"]["result"].as_array().unwrap();
    let levels: Vec<&str> = res
        .iter()
        .map(|s| s["metric"]["detected_level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["error", "info", "warn"]);
    let total = |i: usize| -> f64 {
        res[i]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_str().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    // Windows of 10s at a 10s step partition the lines: each counted once.
    assert_eq!(total(0) + total(1), 60.0);
    assert_eq!(total(2), 10.0);
    let first = &res[0]["values"][0];
    assert_eq!(first[0].as_f64().unwrap(), (T0 / S) as f64);

    let v = json_get(&s, &range(r#"sum(rate({app="db"}[1m]))"#, "&step=60s"));
    // Windows (t-60s, t]: 1 line at T0, then the 9 lines at 6s..54s.
    assert_eq!(
        v["data"]["result"][0]["values"][0][1],
        "0.016666666666666666"
    );
    assert_eq!(v["data"]["result"][0]["values"][1][1], "0.15");
    let v = json_get(
        &s,
        &range(r#"bytes_over_time({app="db"}[100s])"#, "&step=100s"),
    );
    let b: f64 = v["data"]["result"][0]["values"][0][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(b > 0.0);
    let path = format!(
        "/loki/api/v1/query?query={}&time={}",
        enc(r#"sum(count_over_time({app="web"}[1h]))"#),
        T0 + 100 * S
    );
    let v = json_get(&s, &path);
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"][0]["value"][1], "60");
}

#[test]
fn labels_values_series_stats_and_errors() {
    let s = serve();
    let w = format!("&start={}&end={}", T0, T0 + 100 * S);
    let v = json_get(&s, &format!("/loki/api/v1/labels?x=1{w}"));
    assert_eq!(v["data"], json!(["app", "namespace", "stream"]));
    let v = json_get(&s, &format!("/loki/api/v1/label/app/values?x=1{w}"));
    assert_eq!(v["data"], json!(["db", "web"]));
    let v = json_get(
        &s,
        &format!("/loki/api/v1/series?match[]={}{w}", enc(r#"{app=~"w.*"}"#)),
    );
    assert_eq!(
        v["data"],
        json!([{"app": "web", "namespace": "prod", "stream": "stdout"}])
    );
    let v = json_get(
        &s,
        &format!(
            "/loki/api/v1/index/stats?query={}{w}",
            enc(r#"{namespace="prod"}"#)
        ),
    );
    assert_eq!(
        (v["streams"].as_u64(), v["entries"].as_u64()),
        (Some(2), Some(70))
    );
    // Outside the data: empty.
    let v = json_get(
        &s,
        &format!(
            "/loki/api/v1/labels?start={}&end={}",
            T0 - 100 * S,
            T0 - 50 * S
        ),
    );
    assert_eq!(v["data"], json!([]));

    for bad in [
        range(r#"{app="web""#, ""),
        range(r#"{app=~".*"}"#, ""),
        range(r#"{app="web"}"#, "&direction=sideways"),
        range(r#"{app="web"}"#, "&limit=-1"),
        range(r#"rate({app="web"}[1m])"#, "&step=1ms"),
        format!(
            "/loki/api/v1/query_range?query={}&start=yesterday",
            enc(r#"{app="web"}"#)
        ),
        "/loki/api/v1/query_range".to_string(),
    ] {
        let (st, body) = get(&s, &bad);
        assert_eq!(st, 400, "{bad}: {body}");
        assert!(!body.is_empty());
    }
}

#[test]
fn times_in_every_format() {
    assert_eq!(parse_time_ns("1700000000000000000"), Some(T0));
    assert_eq!(parse_time_ns("1700000000.5"), Some(T0 + S / 2));
    assert_eq!(parse_time_ns("2023-11-14T22:13:20Z"), Some(T0));
    assert_eq!(parse_time_ns("soon"), None);
}
