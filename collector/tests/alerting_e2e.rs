//! Alerting end to end through the `lookout` binary: a target goes down, the rule
//! `up == 0` with `for: 30s` fires, and a local webhook receiver gets exactly one firing
//! message after the `for` and exactly one resolved message when the target comes back.
//! The alert also shows in `/api/v1/alerts` and `/api/v1/rules`.

mod common;

use common::{Reply, Request, serve};
use parking_lot::Mutex;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lookout");

struct Kill(std::process::Child);
impl Drop for Kill {
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

async fn get_json(url: &str) -> Option<Value> {
    let r = reqwest::get(url).await.ok()?;
    serde_json::from_str(&r.text().await.ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_fires_once_after_for_and_resolves_once() {
    let down = Arc::new(AtomicBool::new(false));
    let d = down.clone();
    let target = serve(Arc::new(move |_r: &Request, _n: usize| {
        if d.load(Ordering::SeqCst) {
            Reply::Full(503, "text/plain", b"down".to_vec())
        } else {
            Reply::Full(200, "text/plain", b"ok 1\n".to_vec())
        }
    }))
    .await;
    let got: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
    let g = got.clone();
    let hook = serve(Arc::new(move |r: &Request, _n: usize| {
        if let Ok(v) = serde_json::from_slice::<Value>(&r.body) {
            g.lock().push((Instant::now(), v));
        }
        Reply::Full(200, "text/plain", Vec::new())
    }))
    .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "groups:\n  - name: availability\n    rules:\n      - alert: TargetDown\n        expr: up{job=\"t\"} == 0\n        for: 30s\n        labels: {severity: page}\n        annotations:\n          summary: '{{ $labels.instance }} is down'\n",
    )
    .unwrap();
    let cfg = dir.path().join("lookout.yaml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\n  evaluation_interval: 1s\n  external_labels: {{cluster: test}}\nrule_files: [rules.yaml]\nscrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{target}']}}]\nnotifications:\n  route:\n    receiver: hook\n    group_by: [alertname]\n    group_wait: 1s\n    group_interval: 1s\n    repeat_interval: 1h\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: http://{hook}/\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _agent = Kill(
        Command::new(BIN)
            .args(["agent", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait for the target to be up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get_json(&format!("{base}/api/v1/query?query=up")).await;
        if v.as_ref()
            .is_some_and(|v| v["data"]["result"][0]["value"][1] == "1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "target never came up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let went_down = Instant::now();
    down.store(true, Ordering::SeqCst);

    // The alert is pending first (visible in the API), then one firing message arrives.
    let deadline = Instant::now() + Duration::from_secs(70);
    let mut saw_pending = false;
    while got.lock().is_empty() {
        if let Some(v) = get_json(&format!("{base}/api/v1/alerts")).await
            && v["data"]["alerts"][0]["state"] == "pending"
        {
            saw_pending = true;
        }
        assert!(Instant::now() < deadline, "no firing message");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(saw_pending, "the alert was pending before it fired");
    let (at, msg) = got.lock()[0].clone();
    assert!(
        at - went_down >= Duration::from_secs(30),
        "fired before the `for` elapsed: {:?}",
        at - went_down
    );
    assert_eq!(msg["version"], "4");
    assert_eq!(msg["status"], "firing");
    assert_eq!(msg["receiver"], "hook");
    assert_eq!(msg["alerts"].as_array().unwrap().len(), 1);
    let a = &msg["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "TargetDown");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(
        a["labels"]["cluster"], "test",
        "external labels are attached"
    );
    assert_eq!(a["annotations"]["summary"], format!("{target} is down"));
    let rules = get_json(&format!("{base}/api/v1/rules")).await.unwrap();
    assert_eq!(rules["data"]["groups"][0]["rules"][0]["state"], "firing");

    // Firing stays one message; then the target comes back and one resolved message comes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(got.lock().len(), 1, "exactly one firing message");
    down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().len() < 2 {
        assert!(Instant::now() < deadline, "no resolved message");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let all = got.lock().clone();
    assert_eq!(
        all.len(),
        2,
        "exactly one resolved message: {:?}",
        all.iter().map(|x| &x.1["status"]).collect::<Vec<_>>()
    );
    assert_eq!(all[1].1["status"], "resolved");
    assert_eq!(all[1].1["alerts"][0]["status"], "resolved");
}
