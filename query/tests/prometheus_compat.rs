//! Proof against the real thing: starts Debian's `prometheus` (2.42) on loopback, pushes the
//! same samples into it and into lookout (both through their remote-write receivers), runs
//! the corpus in `compat/corpus.rs` as instant queries (at three times) and as range queries
//! against both, and compares the answers: labels exactly, values within 1e-9 relative,
//! NaN / ±Inf as Prometheus writes them, errors against errors.
//!
//! Fails when `prometheus` is missing (`LOOKOUT_PROMETHEUS` overrides the path): CI installs
//! it. Prints a pass table per category.

mod compat;

use compat::{corpus, data, http};
use lookout_query::api::{self, ApiState, MetadataEntry, TargetSource, TargetsData};
use lookout_store::Head;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct NoTargets;
impl TargetSource for NoTargets {
    fn targets(&self) -> TargetsData {
        TargetsData::default()
    }
    fn metadata(&self) -> BTreeMap<String, Vec<MetadataEntry>> {
        BTreeMap::new()
    }
}

struct Prom(Child);
impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(dir: &std::path::Path) -> (Prom, String) {
    let bin = std::env::var("LOOKOUT_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} not found: install Debian's prometheus package (apt-get install -y prometheus)"
    );
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        "global:\n  evaluation_interval: 1m\n  scrape_interval: 1m\n",
    )
    .unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--query.lookback-delta=5m")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus");
    let p = Prom(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http::request(&addr, "GET", "/-/ready", "text/plain", b"")
            && r.status == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not become ready; see {}",
            dir.join("prometheus.log").display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (p, addr)
}

fn start_lookout(rt: &tokio::runtime::Runtime) -> String {
    let head = Arc::new(Head::new());
    let state = ApiState {
        querier: head.clone(),
        targets: Arc::new(NoTargets),
    };
    let app = api::router(state).merge(api::write_router(head));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(async move { axum::serve(listener, app).await });
    addr
}

fn push(addr: &str, body: &[u8]) {
    let r = http::request(
        addr,
        "POST",
        "/api/v1/write",
        "application/x-protobuf",
        body,
    )
    .unwrap();
    assert!(
        r.status / 100 == 2,
        "remote write to {addr} failed: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

fn num_eq(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
                return false;
            }
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        _ => false,
    }
}

fn point_eq(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_array(), b.as_array()) else {
        return false;
    };
    a.len() == 2
        && b.len() == 2
        && a[0].as_f64() == b[0].as_f64()
        && num_eq(a[1].as_str().unwrap_or("?a"), b[1].as_str().unwrap_or("?b"))
}

fn metric_key(v: &Value) -> String {
    v.get("metric").map(|m| m.to_string()).unwrap_or_default()
}

/// Compares two API answers; `None` when they agree, else a description.
fn compare(prom: &(u16, Value), ours: &(u16, Value), ordered: bool) -> Option<String> {
    let (ps, os) = (prom.1["status"].as_str(), ours.1["status"].as_str());
    if ps == Some("error") && os == Some("error") {
        return None;
    }
    if ps != os {
        return Some(format!(
            "status: prometheus {} {}, lookout {} {}",
            prom.0, prom.1, ours.0, ours.1
        ));
    }
    let (pd, od) = (&prom.1["data"], &ours.1["data"]);
    if pd["resultType"] != od["resultType"] {
        return Some(format!(
            "resultType: prometheus {}, lookout {}",
            pd["resultType"], od["resultType"]
        ));
    }
    let rt = pd["resultType"].as_str().unwrap_or("");
    if rt == "scalar" || rt == "string" {
        let ok = if rt == "scalar" {
            point_eq(&pd["result"], &od["result"])
        } else {
            pd["result"] == od["result"]
        };
        return (!ok).then(|| format!("prometheus {}, lookout {}", pd["result"], od["result"]));
    }
    let mut pr: Vec<Value> = pd["result"].as_array().cloned().unwrap_or_default();
    let mut or: Vec<Value> = od["result"].as_array().cloned().unwrap_or_default();
    if !ordered {
        pr.sort_by_key(metric_key);
        or.sort_by_key(metric_key);
    }
    if pr.len() != or.len() {
        return Some(format!(
            "{} series from prometheus, {} from lookout\n  prometheus: {}\n  lookout:    {}",
            pr.len(),
            or.len(),
            short(&pr),
            short(&or)
        ));
    }
    for (p, o) in pr.iter().zip(&or) {
        if p["metric"] != o["metric"] {
            return Some(format!(
                "labels: prometheus {}, lookout {}",
                p["metric"], o["metric"]
            ));
        }
        if rt == "vector" {
            if !point_eq(&p["value"], &o["value"]) {
                return Some(format!(
                    "{}: prometheus {}, lookout {}",
                    p["metric"], p["value"], o["value"]
                ));
            }
        } else {
            let (pv, ov) = (
                p["values"].as_array().cloned().unwrap_or_default(),
                o["values"].as_array().cloned().unwrap_or_default(),
            );
            if pv.len() != ov.len() || pv.iter().zip(&ov).any(|(a, b)| !point_eq(a, b)) {
                return Some(format!(
                    "{}: prometheus {}, lookout {}",
                    p["metric"],
                    Value::Array(pv),
                    Value::Array(ov)
                ));
            }
        }
    }
    None
}

fn short(v: &[Value]) -> String {
    let s = Value::Array(v.to_vec()).to_string();
    if s.len() > 600 {
        format!("{}...", &s[..600])
    } else {
        s
    }
}

#[test]
fn answers_match_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (_prom, paddr) = start_prometheus(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let laddr = start_lookout(&rt);

    // Identical samples, in ten-minute slices so Prometheus' head accepts them in order.
    let defs = data::build();
    let mut from = 0;
    while from < data::N {
        let body =
            lookout_query::api::write::encode_request(&data::request(&defs, from, from + 40));
        push(&paddr, &body);
        push(&laddr, &body);
        from += 40;
    }

    let t0s = data::T0 / 1000;
    let at = |min: i64| (t0s + min * 60).to_string();
    let instants = [at(31) + ".5", at(45), at(61)];
    let (start, end, step) = (at(10), at(60), "60");
    let mut table: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut total = 0usize;
    for (cat, q) in corpus::corpus() {
        let mut q = q.clone();
        for m in [20, 30, 40, 50] {
            q = q.replace(&format!("{{t{m}}}"), &at(m));
        }
        let ordered = q.starts_with("sort");
        // (kind, request parameters, API path)
        type Run<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);
        let mut runs: Vec<Run> = Vec::new();
        for t in &instants {
            runs.push((
                "instant",
                vec![("query", q.clone()), ("time", t.clone())],
                "/api/v1/query",
            ));
        }
        runs.push((
            "range",
            vec![
                ("query", q.clone()),
                ("start", start.clone()),
                ("end", end.clone()),
                ("step", step.to_string()),
            ],
            "/api/v1/query_range",
        ));
        for (mode, form, path) in runs {
            total += 1;
            let p = http::post_form(&paddr, path, &form).unwrap();
            let o = http::post_form(&laddr, path, &form).unwrap();
            let e = table.entry(format!("{cat} ({mode})")).or_default();
            e.1 += 1;
            match compare(&p, &o, ordered && mode == "instant") {
                None => e.0 += 1,
                Some(d) => failures.push(format!(
                    "[{cat}/{mode}] {q} @ {:?}: {d}",
                    form.get(1).map(|f| &f.1)
                )),
            }
        }
    }
    println!(
        "\n{:<32} {:>6} {:>6} {:>7}",
        "category", "pass", "total", "rate"
    );
    let (mut sp, mut st) = (0, 0);
    for (c, (p, t)) in &table {
        println!(
            "{c:<32} {p:>6} {t:>6} {:>6.1}%",
            100.0 * *p as f64 / *t as f64
        );
        sp += p;
        st += t;
    }
    println!(
        "{:<32} {sp:>6} {st:>6} {:>6.1}%",
        "all",
        100.0 * sp as f64 / st as f64
    );
    for f in &failures {
        println!("MISMATCH {f}");
    }
    assert!(total >= 300, "corpus too small: {total}");
    assert!(
        failures.is_empty(),
        "{} of {total} comparisons differ from Prometheus",
        failures.len()
    );
}
