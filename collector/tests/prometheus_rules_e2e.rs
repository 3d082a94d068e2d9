//! PrometheusRule objects end to end: the `lookout` binary with Kubernetes discovery against
//! the fake API server (real list/watch wire protocol). Objects the `rule_selector` selects
//! become rule groups beside the rule files' (file `<namespace>-<name>-<uid>.yaml`, group
//! names as written) within seconds of ADDED / MODIFIED / DELETED, without a restart; a
//! modification keeps the pending state of rules whose name and labels did not change; an
//! invalid object is rejected on its own (counted in `/metrics`) while every other rule keeps
//! running, and is picked up once fixed.

mod k8s_fake;

use k8s_fake::{FakeApi, obj};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
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
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn get_text(url: &str) -> Option<String> {
    reqwest::get(url).await.ok()?.text().await.ok()
}

async fn groups(base: &str) -> Vec<Value> {
    get_text(&format!("{base}/api/v1/rules"))
        .await
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["data"]["groups"].as_array().cloned())
        .unwrap_or_default()
}

/// Polls `/api/v1/rules` (up to 30s) until `f` holds for the groups.
async fn until(base: &str, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let g = groups(base).await;
        if f(&g) {
            return g;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}; groups: {g:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn metric(base: &str, name: &str) -> Option<f64> {
    let text = get_text(&format!("{base}/metrics")).await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn group<'a>(gs: &'a [Value], name: &str) -> Option<&'a Value> {
    gs.iter().find(|g| g["name"] == name)
}

fn rule<'a>(g: &'a Value, name: &str) -> Option<&'a Value> {
    g["rules"].as_array()?.iter().find(|r| r["name"] == name)
}

fn web_spec(summary: &str, second: bool) -> Value {
    let mut rules = vec![
        json!({"alert": "WebPending", "expr": "vector(1)", "for": "1h",
            "labels": {"severity": "page"}, "annotations": {"summary": summary}}),
        json!({"record": "web:one", "expr": "vector(1)"}),
    ];
    if second {
        rules.push(json!({"alert": "WebSecond", "expr": "vector(2) > 1", "for": "1h"}));
    }
    json!({"groups": [{"name": "web.rules", "interval": "1s", "rules": rules}]})
}

const WEB_FILE: &str = "apps-web-uid-prometheusrules-apps-web.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_rules_follow_the_cluster() {
    let api = FakeApi::start().await;
    api.apply(obj::namespace("apps", json!({})));
    let selected = json!({"role": "alert-rules"});
    api.apply(obj::prometheus_rule(
        "apps",
        "web",
        selected.clone(),
        web_spec("first", false),
    ));
    // Not selected by the rule_selector: never evaluated.
    api.apply(obj::prometheus_rule(
        "apps",
        "unlabelled",
        json!({}),
        json!({"groups": [{"name": "unlabelled.rules", "rules": [{"alert": "X", "expr": "vector(1)"}]}]}),
    ));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yaml"),
        "groups:\n  - name: files\n    interval: 1s\n    rules:\n      - record: file:one\n        expr: vector(1)\n",
    )
    .expect("rules");
    let cfg = dir.path().join("lookout.yaml");
    std::fs::write(
        &cfg,
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yaml]\nscrape_configs: []\nkubernetes:\n  enabled: true\n  kubelet: false\n  lease_namespace: monitoring\n  rule_selector:\n    matchLabels: {role: alert-rules}\n",
    )
    .expect("config");
    let kubeconfig = api.kubeconfig(dir.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _agent = Kill(
        Command::new(BIN)
            .args(["agent", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--node-name", "node-a"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lookout"),
    );

    // ADDED: the object's group appears beside the rule file's, under the Operator's name.
    let gs = until(&base, "the PrometheusRule's group", |g| {
        group(g, "web.rules").is_some() && group(g, "files").is_some()
    })
    .await;
    let web = group(&gs, "web.rules").expect("web");
    assert_eq!(web["file"], WEB_FILE);
    assert_eq!(web["interval"], 1.0);
    assert!(group(&gs, "unlabelled.rules").is_none(), "{gs:#?}");
    // It evaluates: the alert goes pending and the recording rule writes.
    let gs = until(&base, "WebPending pending", |g| {
        group(g, "web.rules")
            .and_then(|w| rule(w, "WebPending"))
            .is_some_and(|r| r["state"] == "pending")
    })
    .await;
    let active_at = rule(group(&gs, "web.rules").expect("web"), "WebPending").expect("rule")
        ["alerts"][0]["activeAt"]
        .clone();
    assert!(active_at.is_string(), "{active_at}");

    // MODIFIED: a new rule appears; WebPending (same name and labels, new annotation) keeps
    // its pending alert and so its `for` progress.
    api.apply(obj::prometheus_rule(
        "apps",
        "web",
        selected.clone(),
        web_spec("second", true),
    ));
    let gs = until(&base, "WebSecond after the modification", |g| {
        group(g, "web.rules")
            .and_then(|w| rule(w, "WebSecond"))
            .is_some()
    })
    .await;
    let pending = rule(group(&gs, "web.rules").expect("web"), "WebPending").expect("rule");
    assert_eq!(pending["annotations"]["summary"], "second");
    assert_eq!(pending["state"], "pending");
    assert_eq!(
        pending["alerts"][0]["activeAt"], active_at,
        "the pending alert keeps its start across the update"
    );

    // An invalid object is rejected and counted; the others keep running.
    api.apply(obj::prometheus_rule(
        "apps",
        "broken",
        selected.clone(),
        json!({"groups": [{"name": "broken.rules", "rules": [{"alert": "Broken", "expr": "sum(up"}]}]}),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&base, "lookout_kubernetes_prometheusrule_rejections_total").await != Some(1.0) {
        assert!(Instant::now() < deadline, "rejection not counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        metric(&base, "lookout_kubernetes_prometheusrules_rejected").await,
        Some(1.0)
    );
    let before = group(&groups(&base).await, "web.rules").expect("web")["lastEvaluation"].clone();
    let gs = until(&base, "web.rules still evaluating", |g| {
        group(g, "web.rules").is_some_and(|w| w["lastEvaluation"] != before)
            && group(g, "files").is_some()
    })
    .await;
    assert!(group(&gs, "broken.rules").is_none(), "{gs:#?}");
    assert_eq!(
        rule(group(&gs, "web.rules").expect("web"), "WebPending").expect("rule")["alerts"][0]["activeAt"],
        active_at
    );

    // DELETED: the group goes; the rule file's group stays.
    assert!(api.delete("prometheusrules", "apps", "web"));
    until(&base, "web.rules gone", |g| {
        group(g, "web.rules").is_none() && group(g, "files").is_some()
    })
    .await;

    // Fixing the invalid object brings its rules in.
    api.apply(obj::prometheus_rule(
        "apps",
        "broken",
        selected,
        json!({"groups": [{"name": "broken.rules", "rules": [{"alert": "Broken", "expr": "sum(up)"}]}]}),
    ));
    let gs = until(&base, "the fixed object's group", |g| {
        group(g, "broken.rules").is_some()
    })
    .await;
    assert_eq!(
        group(&gs, "broken.rules").expect("broken")["file"],
        "apps-broken-uid-prometheusrules-apps-broken.yaml"
    );
    assert_eq!(
        metric(&base, "lookout_kubernetes_prometheusrules_rejected").await,
        Some(0.0)
    );
    assert_eq!(
        metric(&base, "lookout_kubernetes_prometheusrule_rejections_total").await,
        Some(1.0)
    );
}
