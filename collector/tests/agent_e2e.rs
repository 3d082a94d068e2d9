//! The `lookout` binary end to end: it starts on a config, scrapes a loopback target and
//! itself, serves the API in Prometheus' shapes, reloads on SIGHUP (rejecting a bad file and
//! keeping the old config), and exits cleanly on SIGTERM. Also `check config` and `--version`.

mod common;

use common::{Reply, serve};
use serde_json::Value;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lookout");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Agent {
    child: Child,
    base: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &std::path::Path, data: &std::path::Path) -> Agent {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["agent", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lookout");
    Agent {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn get(url: &str) -> Option<(u16, String)> {
    let r = reqwest::get(url).await.ok()?;
    let code = r.status().as_u16();
    Some((code, r.text().await.ok()?))
}

async fn get_json(url: &str) -> Value {
    let (_, body) = get(url).await.expect("request failed");
    serde_json::from_str(&body).expect("JSON body")
}

/// Polls until `f` is true or fails the test after `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

async fn up_jobs(base: &str) -> Vec<String> {
    let Some((_, body)) = get(&format!("{base}/api/v1/query?query=up")).await else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    let mut jobs: Vec<String> = v["data"]["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["value"][1] == "1")
                .filter_map(|r| r["metric"]["job"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    jobs.sort();
    jobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_scrapes_serves_reloads_and_stops() {
    let target = serve(Arc::new(|_r: &common::Request, _n: usize| {
        Reply::Full(
            200,
            "text/plain; version=0.0.4",
            b"# HELP demo_total Demo.\n# TYPE demo_total counter\ndemo_total{kind=\"a\"} 42\n"
                .to_vec(),
        )
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lookout.yaml");
    let write = |body: &str| {
        let mut f = std::fs::File::create(&cfg).unwrap();
        f.write_all(body.as_bytes()).unwrap();
    };
    let one = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{target}']\n        labels: {{team: core}}\n"
    );
    write(&one);
    let agent = start(&cfg, &dir.path().join("data"));
    let base = agent.base.clone();

    eventually(20, "healthy", || async {
        get(&format!("{base}/-/healthy"))
            .await
            .is_some_and(|r| r.0 == 200)
    })
    .await;
    eventually(20, "ready", || async {
        get(&format!("{base}/-/ready"))
            .await
            .is_some_and(|r| r.0 == 200)
    })
    .await;
    eventually(20, "demo up", || async {
        up_jobs(&base).await == vec!["demo".to_string()]
    })
    .await;

    // The selector query in Prometheus' shape.
    let v = get_json(&format!(
        "{base}/api/v1/query?query=demo_total%7Bkind%3D%22a%22%7D"
    ))
    .await;
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let r = &v["data"]["result"][0];
    assert_eq!(r["metric"]["__name__"], "demo_total");
    assert_eq!(r["metric"]["team"], "core");
    assert_eq!(r["metric"]["instance"], target.to_string());
    assert_eq!(r["value"][1], "42");
    assert!(r["value"][0].is_number());

    // Grafana's data source test: POST query=1+1.
    let c = reqwest::Client::new();
    let body = c
        .post(format!("{base}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=1%2B1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"][1], "2");

    // Grafana's Loki data source test: the Loki API answers even with log tailing off
    // (this config has no pods root), with empty results.
    let v = get_json(&format!("{base}/loki/api/v1/labels")).await;
    assert_eq!(v["status"], "success", "{v}");
    assert!(v["data"].is_array(), "{v}");

    // Bad PromQL: 400 bad_data.
    let (code, body) = get(&format!("{base}/api/v1/query?query=up%7B"))
        .await
        .unwrap();
    assert_eq!(code, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");

    // Targets in Prometheus' shape.
    let v = get_json(&format!("{base}/api/v1/targets")).await;
    let t = &v["data"]["activeTargets"][0];
    assert_eq!(t["scrapePool"], "demo");
    assert_eq!(t["health"], "up");
    assert_eq!(t["scrapeUrl"], format!("http://{target}/metrics"));
    assert_eq!(t["labels"]["job"], "demo");
    assert_eq!(t["discoveredLabels"]["__address__"], target.to_string());
    assert!(t["lastScrapeDuration"].is_number());
    assert!(v["data"]["droppedTargets"].is_array());

    // Metadata from HELP/TYPE.
    let v = get_json(&format!("{base}/api/v1/metadata?metric=demo_total")).await;
    assert_eq!(v["data"]["demo_total"][0]["type"], "counter");
    assert_eq!(v["data"]["demo_total"][0]["help"], "Demo.");

    // Self-metrics.
    let (_, m) = get(&format!("{base}/metrics")).await.unwrap();
    assert!(m.contains("lookout_scrapes_total"));
    assert!(m.contains("lookout_head_series"));
    // The head holds the scraped series' open chunks.
    let chunks = m
        .lines()
        .find_map(|l| l.strip_prefix("lookout_head_chunks "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(chunks.is_some_and(|c| c >= 1.0), "{chunks:?}");

    // A bad config is rejected on SIGHUP; the running one stays.
    write("scrape_configs:\n  - job_name: x\n    scrape_intervall: 1s\n");
    signal(&agent.child, "HUP");
    eventually(20, "reload failure counted", || async {
        get(&format!("{base}/metrics")).await.is_some_and(|(_, m)| {
            m.lines()
                .any(|l| l.starts_with("lookout_config_last_reload_successful 0"))
        })
    })
    .await;
    assert_eq!(up_jobs(&base).await, vec!["demo".to_string()]);

    // A good one adds a job; the old job keeps running.
    let two = format!(
        "{one}  - job_name: self\n    static_configs:\n      - targets: ['{}']\n",
        base.trim_start_matches("http://")
    );
    write(&two);
    signal(&agent.child, "HUP");
    eventually(20, "both jobs up", || async {
        up_jobs(&base).await == vec!["demo".to_string(), "self".to_string()]
    })
    .await;

    // A change of the file alone (no signal) is picked up too. Removing the demo job stops
    // its loop with staleness markers, so `up` for it disappears from instant queries.
    let only_self = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{}']\n",
        base.trim_start_matches("http://")
    );
    write(&only_self);
    eventually(20, "demo job removed by file watch", || async {
        up_jobs(&base).await == vec!["self".to_string()]
    })
    .await;

    // SIGTERM: clean exit.
    let mut agent = agent;
    signal(&agent.child, "TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(st) = agent.child.try_wait().unwrap() {
            assert!(st.success(), "exit status {st}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn check_config_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['localhost:9100']\n").unwrap();
    let out = Command::new(BIN)
        .args(["check", "config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "scrape_configs:\n  - job_name: a\n    bogus_field: 1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad.yaml:3:"),
        "error should name file:line:column: {text}"
    );

    // check rules: a rule file and a PrometheusRule object pass; a broken one names the spot.
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 30s\n        annotations:\n          summary: '{{ $labels.instance }} down ({{ $value | humanize }})'\n",
    )
    .unwrap();
    let obj = dir.path().join("obj.yaml");
    std::fs::write(
        &obj,
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: r, namespace: m}\nspec:\n  groups:\n    - name: g\n      rules:\n        - record: job:up:sum\n          expr: sum by (job) (up)\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "rules"])
        .arg(&rules)
        .arg(&obj)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("SUCCESS: 1 rules found").count(), 2, "{text}");
    let bad = dir.path().join("bad_rules.yaml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up ==\n        annotations:\n          summary: '{{ $labels.instance'\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "rules"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("bad_rules.yaml:5:15"), "{text}");

    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_default_scrapes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent = Agent {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let base = agent.base.clone();
    // The default scrapes every 15 s with a spread start: allow for the first slot.
    eventually(40, "self-scrape up", || async {
        up_jobs(&base).await == vec!["lookout".to_string()]
    })
    .await;
    assert!(
        dir.path().join("data").is_dir(),
        "data directory ./data created"
    );
}
