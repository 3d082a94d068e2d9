//! Pod labels on log streams end to end: the fake Kubernetes API serves this node's pods,
//! discovery's pod watch (started through the agent's `Runner`) feeds the tailer's UID map,
//! the tailer indexes pod log files under a temporary pods root, and the index is searched by
//! pod label. Covers: a file written before its pod is known waits and then gets the labels;
//! a pod re-created with the same name (new UID) gets its own labels while the old pod's last
//! lines keep the old ones; a pod on another node contributes nothing.

mod common;
mod k8s_fake;

use k8s_fake::{FakeApi, obj};
use lookout_collector::discovery::kubernetes::{Flags, KubeTelemetry, Runner};
use lookout_collector::logs::{LogMetrics, LogsRuntime, PodLabelOptions, PodLabels, TailOptions};
use lookout_config::{GlobalConfig, KubernetesConfig, KubernetesEnabled};
use lookout_store::Matcher;
use lookout_store::logs::{Direction, LogIndexOptions, LogQuery, LogSearcher};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn kcfg(node: &str, kubeconfig: PathBuf) -> KubernetesConfig {
    KubernetesConfig {
        enabled: KubernetesEnabled::On,
        node_name: Some(node.into()),
        lease_namespace: Some("monitoring".into()),
        lease_duration: Duration::from_secs(2),
        kubelet: false,
        kubeconfig: Some(kubeconfig),
        ..KubernetesConfig::default()
    }
}

fn global() -> GlobalConfig {
    lookout_config::load_str("", "t.yaml")
        .expect("empty config")
        .global
}

fn pod(name: &str, uid: &str, node: &str, labels: Value) -> Value {
    let mut p = obj::pod("shop", name, node, "10.1.0.5", labels, &[]);
    p["metadata"]["uid"] = json!(uid);
    p
}

fn write_lines(pods_root: &Path, pod: &str, uid: &str, lines: &[&str]) {
    let dir = pods_root.join(format!("shop_{pod}_{uid}")).join("app");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("0.log"))
        .expect("open");
    for l in lines {
        writeln!(f, "2024-05-01T10:00:00.000000000Z stdout F {l}").expect("write");
    }
}

/// Lines (sorted) of the streams matching `matchers`.
fn lines(idx: &dyn LogSearcher, matchers: Vec<Matcher>) -> Vec<String> {
    let q = LogQuery {
        matchers,
        start_ns: 0,
        end_ns: i64::MAX,
        filters: vec![],
    };
    let mut v: Vec<String> = idx
        .select(&q, Direction::Forward, usize::MAX, &mut |_| true)
        .expect("select")
        .into_iter()
        .map(|r| r.line)
        .collect();
    v.sort();
    v
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_labels_from_the_watch_keyed_by_uid() {
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pods_root = dir.path().join("pods");
    std::fs::create_dir_all(&pods_root).expect("mkdir");

    // A file of a pod the API does not know yet: it waits for the labels.
    write_lines(
        &pods_root,
        "web-0",
        "uid-web-1",
        &["early one", "early two"],
    );

    let map = PodLabels::new(PodLabelOptions {
        wait: Duration::from_secs(120),
        ..PodLabelOptions::default()
    });
    let rig = common::Rig::new("scrape_configs: []\n");
    let mut runner = Runner::new(
        Flags {
            sa_dir: Some(dir.path().join("no-sa")),
            ..Flags::default()
        },
        Arc::new(KubeTelemetry::default()),
    )
    .with_pod_labels(map.clone());
    runner
        .configure(
            &kcfg("node-a", api.kubeconfig(dir.path())),
            &global(),
            &rig.manager,
        )
        .await
        .expect("discovery starts");
    assert!(map.is_active());

    let mut t = TailOptions::new(dir.path().join("data/logs/checkpoints"));
    t.pods_root = Some(pods_root.clone());
    t.node = "node-a".into();
    t.release_after = Duration::from_millis(100);
    t.idle_flush = Duration::from_millis(100);
    t.scan_interval = Duration::from_millis(100);
    t.pod_labels = Some(map.clone());
    let mut io = LogIndexOptions::new(dir.path().join("data/logs/index"));
    io.writer_memory_bytes = 16 << 20;
    t.commit = lookout_store::logs::CommitPolicy {
        max_lines: 1000,
        max_interval: Duration::from_millis(100),
    };
    let metrics = Arc::new(LogMetrics::default());
    let rt = LogsRuntime::start(io, t, metrics.clone()).expect("tailer starts");
    let idx: Arc<dyn LogSearcher> = rt.index.clone();

    // Not known yet: nothing indexed while the sync has run.
    until("the pod watch synced", || map.is_synced()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        lines(&*idx, vec![]).is_empty(),
        "read before the pod was known"
    );

    api.apply(pod(
        "web-0",
        "uid-web-1",
        "node-a",
        json!({"app": "web", "app.kubernetes.io/version": "1.0"}),
    ));
    api.apply(pod(
        "other-0",
        "uid-other",
        "node-b",
        json!({"app": "other"}),
    ));
    let web = || vec![Matcher::equal("app", "web")];
    until("early lines with pod labels", || {
        lines(&*idx, web()) == ["early one", "early two"]
    })
    .await;
    let v1 = lines(
        &*idx,
        vec![Matcher::equal("app_kubernetes_io_version", "1.0")],
    );
    assert_eq!(v1.len(), 2);

    // Deleted and re-created with the same name: a new UID and new labels.
    assert!(api.delete("pods", "shop", "web-0"));
    until("the deletion seen", || !map.is_live("uid-web-1")).await;
    // The old UID is kept (marked deleted) for the grace period.
    assert!(map.get("uid-web-1").is_some());
    api.apply(pod(
        "web-0",
        "uid-web-2",
        "node-a",
        json!({"app": "web", "app.kubernetes.io/version": "2.0"}),
    ));
    until("the new pod seen", || map.get("uid-web-2").is_some()).await;
    // The old container's last line after deletion, and the new pod's lines.
    write_lines(&pods_root, "web-0", "uid-web-1", &["old last words"]);
    write_lines(&pods_root, "web-0", "uid-web-2", &["new hello"]);
    until("all four lines", || lines(&*idx, web()).len() == 4).await;
    assert_eq!(
        lines(
            &*idx,
            vec![Matcher::equal("app_kubernetes_io_version", "1.0")]
        ),
        ["early one", "early two", "old last words"]
    );
    assert_eq!(
        lines(
            &*idx,
            vec![
                Matcher::equal("app_kubernetes_io_version", "2.0"),
                Matcher::equal("pod_uid", "uid-web-2"),
            ]
        ),
        ["new hello"]
    );
    assert!(lines(&*idx, vec![Matcher::equal("app", "other")]).is_empty());
    assert_eq!(
        metrics
            .pod_labels_missing
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    runner.stop().await;
    assert!(!map.is_active(), "stopping discovery deactivates the map");
    tokio::task::spawn_blocking(move || rt.shutdown())
        .await
        .expect("shutdown");
}
