//! Kubernetes discovery failures as a user sees them: the real `lookout` binary against the
//! fake API server. An RBAC denial of one resource shows in `/api/v1/targets`
//! (`discoveryErrors`) and in `/metrics` while the agent keeps running and the other resources
//! keep producing targets; allowing it clears the error and brings its targets; a refused
//! ServiceMonitor (a field lookout does not support) is listed with its scrape pool; a
//! `410 Gone` after an API-server restart relists and shows as recovered.

mod k8s_agent;
mod k8s_fake;

use k8s_agent::{eventually, metric};
use k8s_fake::{FakeApi, obj};
use serde_json::{Value, json};
use std::time::Duration;

fn world(api: &FakeApi) {
    api.apply(obj::namespace("apps", json!({})));
    api.apply(obj::pod(
        "apps",
        "web-1",
        "node-a",
        "127.0.0.1",
        json!({"app": "web"}),
        &[("metrics", 1)],
    ));
    api.apply(obj::service(
        "apps",
        "web",
        json!({"app": "web"}),
        &[("metrics", 1)],
    ));
    api.apply(obj::endpointslice(
        "apps",
        "web-1",
        "web",
        &[("127.0.0.1", "node-a", "web-1")],
        &[("metrics", 1)],
    ));
    api.apply(obj::service_monitor(
        "apps",
        "web",
        json!({"selector": {"matchLabels": {"app": "web"}}, "endpoints": [{"port": "metrics"}]}),
    ));
    api.apply(obj::service_monitor(
        "apps",
        "needs-oauth",
        json!({"selector": {"matchLabels": {"app": "web"}},
            "endpoints": [{"port": "metrics", "oauth2": {"clientId": {"secret": {"name": "o", "key": "id"}},
                "clientSecret": {"name": "o", "key": "secret"}, "tokenUrl": "https://auth/token"}}]}),
    ));
    api.apply(obj::pod_monitor(
        "apps",
        "web-pods",
        json!({"selector": {"matchLabels": {"app": "web"}}, "podMetricsEndpoints": [{"port": "metrics"}]}),
    ));
}

fn pools(v: &Value) -> Vec<String> {
    let mut p: Vec<String> = v["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["scrapePool"].as_str().map(str::to_string))
        .collect();
    p.sort();
    p.dedup();
    p
}

fn errors(v: &Value) -> Vec<Value> {
    v["data"]["discoveryErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn watch_errors(v: &Value) -> Vec<Value> {
    errors(v)
        .into_iter()
        .filter(|e| e["source"].as_str().unwrap_or_default() != "kubernetes")
        .collect()
}

const SM: &str = "lookout_kubernetes_watch_healthy{resource=\"servicemonitors\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_and_gone_show_in_targets_and_metrics_and_recover() {
    let api = FakeApi::start_with(Duration::from_millis(200)).await;
    world(&api);
    api.fail("servicemonitors", Some(403));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(dir.path());
    let mut agent = k8s_agent::start(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1h\nscrape_configs: []\nkubernetes:\n  enabled: true\n  kubeconfig: {}\n  node_name: node-a\n  lease_namespace: monitoring\n  kubelet: false\n  annotations: false\n",
            kubeconfig.display()
        ),
    );
    agent.ready(Duration::from_secs(30)).await;

    // Denied: the error is listed, the PodMonitor still gives its target.
    let a = &agent;
    let v = eventually(30, "the denial and the PodMonitor target", || async move {
        let v = a.json("/api/v1/targets").await?;
        let denied = watch_errors(&v).iter().any(|e| {
            e["source"] == "kubernetes/servicemonitors"
                && e["error"].as_str().is_some_and(|s| s.contains("403"))
        });
        (denied && pools(&v).contains(&"podMonitor/apps/web-pods/0".to_string())).then_some(v)
    })
    .await;
    assert!(
        !pools(&v).iter().any(|p| p.starts_with("serviceMonitor/")),
        "{v:#}"
    );
    let e = &watch_errors(&v)[0];
    assert!(e["since"].as_str().is_some_and(|s| s.ends_with('Z')), "{e}");
    assert!(e.get("scrapePool").is_none(), "{e}");
    // The Prometheus keys are all there, in their shapes.
    assert!(v["data"]["droppedTargets"].is_array());
    let m = agent.metrics().await;
    assert_eq!(metric(&m, SM), Some(0.0), "{m}");
    assert_eq!(
        metric(&m, "lookout_kubernetes_watch_healthy{resource=\"pods\"}"),
        Some(1.0)
    );
    assert!(
        metric(
            &m,
            "lookout_kubernetes_watch_errors_total{resource=\"servicemonitors\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{m}"
    );
    assert!(agent.alive());

    // Allowed: the error clears, the ServiceMonitor's target appears, the refused one is
    // listed with its pool.
    api.fail("servicemonitors", None);
    let a = &agent;
    let v = eventually(60, "recovery from the denial", || async move {
        let v = a.json("/api/v1/targets").await?;
        (watch_errors(&v).is_empty()
            && pools(&v).contains(&"serviceMonitor/apps/web/0".to_string()))
        .then_some(v)
    })
    .await;
    assert!(pools(&v).contains(&"podMonitor/apps/web-pods/0".to_string()));
    // The pool is the job's name; the `job` label is what the Operator's relabeling made.
    let t = v["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["scrapePool"] == "serviceMonitor/apps/web/0")
        .expect("the ServiceMonitor's target");
    assert_eq!(t["labels"]["job"], "web", "{t}");
    let refused = eventually(10, "the refused monitor listed", || async move {
        let v = a.json("/api/v1/targets").await?;
        errors(&v)
            .into_iter()
            .find(|e| e["scrapePool"] == "serviceMonitor/apps/needs-oauth/0")
    })
    .await;
    assert_eq!(refused["source"], "kubernetes");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|s| s.contains("oauth2")),
        "{refused}"
    );
    // Asking for one pool keeps its own error and drops the other pools'.
    let only = agent
        .json("/api/v1/targets?scrapePool=serviceMonitor/apps/web/0")
        .await
        .expect("targets");
    assert!(errors(&only).is_empty(), "{only:#}");
    let m = agent.metrics().await;
    assert_eq!(metric(&m, SM), Some(1.0), "{m}");
    assert_eq!(
        metric(&m, "lookout_kubernetes_job_errors"),
        Some(1.0),
        "{m}"
    );

    // An API-server restart with compacted history: 410 Gone, a relist, recovered; then
    // changes arrive again. (Nothing changes between the compaction and the relist: an event
    // sent on a watch the fake is still closing would move the watcher past the compaction.)
    let relists = |m: &str| {
        metric(
            m,
            "lookout_kubernetes_watch_relists_total{resource=\"servicemonitors\"}",
        )
        .unwrap_or(0.0)
    };
    let errors_total = |m: &str| {
        metric(
            m,
            "lookout_kubernetes_watch_errors_total{resource=\"servicemonitors\"}",
        )
        .unwrap_or(0.0)
    };
    let m = agent.metrics().await;
    let (before, errors_before) = (relists(&m), errors_total(&m));
    api.compact();
    api.drop_watches();
    let a = &agent;
    eventually(60, "410 Gone counted, relisted, recovered", || async move {
        let m = a.metrics().await;
        let v = a.json("/api/v1/targets").await?;
        // Shown only if the test fails.
        eprintln!(
            "relists {} errors {} healthy {:?} watch errors {:?}",
            relists(&m),
            errors_total(&m),
            metric(&m, SM),
            watch_errors(&v),
        );
        (relists(&m) > before
            && errors_total(&m) > errors_before
            && metric(&m, SM) == Some(1.0)
            && watch_errors(&v).is_empty())
        .then_some(())
    })
    .await;
    api.apply(obj::service_monitor(
        "apps",
        "web-again",
        json!({"selector": {"matchLabels": {"app": "web"}}, "endpoints": [{"port": "metrics"}]}),
    ));
    eventually(60, "a change after the relist", || async move {
        let v = a.json("/api/v1/targets").await?;
        pools(&v)
            .contains(&"serviceMonitor/apps/web-again/0".to_string())
            .then_some(())
    })
    .await;
    assert!(agent.alive(), "lookout must survive every failure");
}
