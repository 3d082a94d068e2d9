//! Kubernetes discovery against the in-process fake API server (`k8s_fake`): the Operator's
//! target labels for a table of ServiceMonitor/PodMonitor fixtures, annotations, sharding by
//! node and the Lease failover, watch failures (410 Gone, dropped watches, RBAC denials),
//! Secrets, and end to end through the scrape manager to stored samples.

mod common;
mod k8s_fake;

use k8s_fake::{FakeApi, obj};
use lookout_collector::discovery::kubernetes::{
    Discovery, Flags, Generated, KubeTelemetry, Runner, access,
};
use lookout_collector::scrape::target::{Populated, populate};
use lookout_config::{GlobalConfig, KubernetesConfig, KubernetesEnabled};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

fn kcfg(node: &str) -> KubernetesConfig {
    KubernetesConfig {
        enabled: KubernetesEnabled::On,
        node_name: Some(node.into()),
        lease_namespace: Some("monitoring".into()),
        lease_duration: Duration::from_secs(2),
        kubelet: false,
        ..KubernetesConfig::default()
    }
}

fn global() -> GlobalConfig {
    lookout_config::load_str("", "t.yaml")
        .expect("empty config")
        .global
}

struct Agent {
    disc: Option<Discovery>,
    telemetry: Arc<KubeTelemetry>,
    _dir: tempfile::TempDir,
}

async fn agent_with(api: &FakeApi, mut cfg: KubernetesConfig) -> Agent {
    let dir = tempfile::tempdir().expect("tempdir");
    cfg.kubeconfig = Some(api.kubeconfig(dir.path()));
    let flags = Flags {
        sa_dir: Some(dir.path().join("no-sa")),
        ..Flags::default()
    };
    let access = access::resolve(&cfg, &flags, &dir.path().join("no-sa"))
        .await
        .expect("access")
        .expect("enabled");
    let telemetry = Arc::new(KubeTelemetry::default());
    let disc = Discovery::start(access, &cfg, global(), telemetry.clone());
    Agent {
        disc: Some(disc),
        telemetry,
        _dir: dir,
    }
}

async fn agent(api: &FakeApi, node: &str) -> Agent {
    agent_with(api, kcfg(node)).await
}

impl Agent {
    /// Waits (up to 30s: CI runs many of these at once on 2 cores) for an output satisfying `f`.
    async fn until(&mut self, what: &str, f: impl Fn(&Generated) -> bool) -> Arc<Generated> {
        self.until_within(Duration::from_secs(30), what, f).await
    }

    /// Waits (up to `max`) for an output satisfying `f`.
    async fn until_within(
        &mut self,
        max: Duration,
        what: &str,
        f: impl Fn(&Generated) -> bool,
    ) -> Arc<Generated> {
        let rx = &mut self.disc.as_mut().expect("running").output;
        let deadline = Instant::now() + max;
        loop {
            let cur = rx.borrow_and_update().clone();
            if f(&cur) {
                return cur;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for: {what}; last output: {:#?}",
                summary(&cur)
            );
            let _ = tokio::time::timeout(left, rx.changed()).await;
        }
    }

    async fn stop(&mut self) {
        if let Some(d) = self.disc.take() {
            d.stop().await;
        }
    }
}

/// job → sorted target label sets (public labels after the job's relabeling).
type Targets = BTreeMap<String, Vec<BTreeMap<String, String>>>;

fn targets(g: &Generated) -> Targets {
    let mut out = Targets::new();
    for c in &g.configs {
        let mut v = Vec::new();
        for grp in g.groups.get(&c.job_name).into_iter().flatten() {
            for d in grp.discovered() {
                if let Ok(Populated::Target(t)) = populate(c, d) {
                    v.push(
                        t.labels
                            .iter()
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect(),
                    );
                }
            }
        }
        v.sort();
        v.dedup();
        out.insert(c.job_name.clone(), v);
    }
    out
}

fn urls(g: &Generated, job: &str) -> Vec<String> {
    let c = g.configs.iter().find(|c| c.job_name == job).expect("job");
    let mut v: Vec<String> = g.groups[job]
        .iter()
        .flat_map(|grp| grp.discovered())
        .filter_map(|d| match populate(c, d) {
            Ok(Populated::Target(t)) => Some(t.url.clone()),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn summary(g: &Generated) -> (Targets, Vec<(String, String)>, bool) {
    (targets(g), g.errors.clone(), g.leader)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The shared world of the fixture table (this agent runs on node-a).
fn world(api: &FakeApi) {
    api.apply(obj::namespace("apps", json!({"team": "a"})));
    api.apply(obj::namespace("other", json!({})));
    api.apply(obj::namespace("default", json!({})));
    api.apply(obj::pod(
        "apps",
        "web-1",
        "node-a",
        "10.1.0.1",
        json!({"app": "web", "tier": "front", "version": "v1"}),
        &[("http", 8080), ("metrics", 9090)],
    ));
    api.apply(obj::pod(
        "apps",
        "web-2",
        "node-b",
        "10.1.0.2",
        json!({"app": "web", "tier": "front", "version": "v2"}),
        &[("http", 8080), ("metrics", 9090)],
    ));
    let mut done = obj::pod(
        "apps",
        "job-1",
        "node-a",
        "10.1.0.4",
        json!({"app": "web"}),
        &[("metrics", 9090)],
    );
    done["status"]["phase"] = json!("Succeeded");
    api.apply(done);
    api.apply(obj::pod(
        "apps",
        "db-1",
        "node-a",
        "10.1.0.3",
        json!({"app": "db"}),
        &[("metrics", 9187)],
    ));
    api.apply(obj::service(
        "apps",
        "web",
        json!({"app": "web", "team": "a", "k8s-app": "web-app"}),
        &[("http", 8080), ("metrics", 9090)],
    ));
    api.apply(obj::endpointslice(
        "apps",
        "web-abc",
        "web",
        &[
            ("10.1.0.1", "node-a", "web-1"),
            ("10.1.0.2", "node-b", "web-2"),
        ],
        &[("http", 8080), ("metrics", 9090)],
    ));
    api.apply(obj::service(
        "apps",
        "db",
        json!({"app": "db"}),
        &[("metrics", 9187)],
    ));
    api.apply(obj::endpointslice(
        "apps",
        "db-xyz",
        "db",
        &[("10.1.0.3", "node-a", "db-1")],
        &[("metrics", 9187)],
    ));
    api.apply(obj::service(
        "default",
        "kubernetes",
        json!({"component": "apiserver", "provider": "kubernetes"}),
        &[("https", 6443)],
    ));
    api.apply(obj::endpointslice(
        "default",
        "kubernetes",
        "kubernetes",
        &[("192.168.0.10", "", "")],
        &[("https", 6443)],
    ));
    api.apply(obj::service(
        "other",
        "web",
        json!({"app": "web"}),
        &[("metrics", 9090)],
    ));
    api.apply(obj::endpointslice(
        "other",
        "web-1",
        "web",
        &[("10.2.0.1", "node-a", "")],
        &[("metrics", 9090)],
    ));
    api.apply(obj::secret("default", "tok", &[("token", "s3cret")]));
}

/// A monitor object, its job, and the target labels expected.
type Fixture = (
    serde_json::Value,
    &'static str,
    Vec<BTreeMap<String, String>>,
);

/// (monitor object, job, expected target labels) — what the Prometheus Operator's relabel
/// chain gives for each, worked out by hand from its documented rules.
fn fixtures() -> Vec<Fixture> {
    let web1 = |extra: &[(&str, &str)]| {
        let mut m = labels(&[
            ("namespace", "apps"),
            ("service", "web"),
            ("pod", "web-1"),
            ("container", "app"),
        ]);
        m.extend(labels(extra));
        m
    };
    vec![
        (
            obj::service_monitor(
                "apps",
                "web-sm",
                json!({"selector": {"matchLabels": {"app": "web"}},
                "endpoints": [{"port": "metrics", "interval": "15s"}]}),
            ),
            "serviceMonitor/apps/web-sm/0",
            vec![web1(&[
                ("job", "web"),
                ("endpoint", "metrics"),
                ("instance", "10.1.0.1:9090"),
            ])],
        ),
        (
            obj::service_monitor(
                "apps",
                "web-joblabel",
                json!({"jobLabel": "k8s-app", "targetLabels": ["team"],
                "podTargetLabels": ["version"], "namespaceSelector": {"any": true},
                "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
                "endpoints": [{"port": "http", "path": "/stats",
                    "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node_name"}]}]}),
            ),
            "serviceMonitor/apps/web-joblabel/0",
            vec![web1(&[
                ("job", "web-app"),
                ("endpoint", "http"),
                ("instance", "10.1.0.1:8080"),
                ("team", "a"),
                ("version", "v1"),
                ("node_name", "node-a"),
            ])],
        ),
        (
            obj::service_monitor(
                "apps",
                "by-targetport",
                json!({"selector": {"matchLabels": {"app": "db"}},
                "endpoints": [{"targetPort": 9187}]}),
            ),
            "serviceMonitor/apps/by-targetport/0",
            vec![labels(&[
                ("job", "db"),
                ("namespace", "apps"),
                ("service", "db"),
                ("pod", "db-1"),
                ("container", "app"),
                ("endpoint", "9187"),
                ("instance", "10.1.0.3:9187"),
            ])],
        ),
        (
            obj::service_monitor(
                "default",
                "apiserver",
                json!({"selector": {"matchLabels": {"component": "apiserver", "provider": "kubernetes"}},
                "endpoints": [{"port": "https", "scheme": "https", "bearerTokenSecret": {"name": "tok", "key": "token"},
                    "tlsConfig": {"insecureSkipVerify": true}}]}),
            ),
            "serviceMonitor/default/apiserver/0",
            vec![labels(&[
                ("job", "kubernetes"),
                ("namespace", "default"),
                ("service", "kubernetes"),
                ("endpoint", "https"),
                ("instance", "192.168.0.10:6443"),
            ])],
        ),
        (
            obj::service_monitor(
                "monitoring",
                "cross-ns",
                json!({"namespaceSelector": {"matchNames": ["other"]},
                "selector": {"matchLabels": {"app": "web"}}, "endpoints": [{"port": "metrics"}]}),
            ),
            "serviceMonitor/monitoring/cross-ns/0",
            vec![labels(&[
                ("job", "web"),
                ("namespace", "other"),
                ("service", "web"),
                ("endpoint", "metrics"),
                ("instance", "10.2.0.1:9090"),
            ])],
        ),
        (
            obj::service_monitor(
                "apps",
                "not-in",
                json!({"selector": {"matchExpressions": [
                    {"key": "app", "operator": "NotIn", "values": ["web"]}, {"key": "team", "operator": "DoesNotExist"}]},
                "endpoints": [{"port": "metrics", "metricRelabelings": [{"action": "drop", "sourceLabels": ["__name__"], "regex": "go_.*"}]}]}),
            ),
            "serviceMonitor/apps/not-in/0",
            vec![labels(&[
                ("job", "db"),
                ("namespace", "apps"),
                ("service", "db"),
                ("pod", "db-1"),
                ("container", "app"),
                ("endpoint", "metrics"),
                ("instance", "10.1.0.3:9187"),
            ])],
        ),
        (
            obj::pod_monitor(
                "apps",
                "web-pm",
                json!({"selector": {"matchLabels": {"app": "web"}},
                "podMetricsEndpoints": [{"port": "metrics"}]}),
            ),
            "podMonitor/apps/web-pm/0",
            vec![labels(&[
                ("job", "apps/web-pm"),
                ("namespace", "apps"),
                ("pod", "web-1"),
                ("container", "app"),
                ("endpoint", "metrics"),
                ("instance", "10.1.0.1:9090"),
            ])],
        ),
        (
            obj::pod_monitor(
                "apps",
                "pm-joblabel",
                json!({"jobLabel": "app", "podTargetLabels": ["tier"],
                "selector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                "podMetricsEndpoints": [{"port": "http", "params": {"module": ["x"]}}]}),
            ),
            "podMonitor/apps/pm-joblabel/0",
            vec![labels(&[
                ("job", "web"),
                ("tier", "front"),
                ("namespace", "apps"),
                ("pod", "web-1"),
                ("container", "app"),
                ("endpoint", "http"),
                ("instance", "10.1.0.1:8080"),
            ])],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_fixtures_give_the_operators_target_labels() {
    let api = FakeApi::start().await;
    world(&api);
    let table = fixtures();
    for (m, _, _) in &table {
        api.apply(m.clone());
    }
    let mut a = agent(&api, "node-a").await;
    let jobs: Vec<&str> = table.iter().map(|(_, j, _)| *j).collect();
    let g = a
        .until("every fixture job with its targets, as leader", |g| {
            let t = targets(g);
            g.leader && table.iter().all(|(_, job, want)| t.get(*job) == Some(want))
        })
        .await;
    let t = targets(&g);
    for (_, job, want) in &table {
        assert_eq!(t.get(*job), Some(want), "{job}");
    }
    assert!(
        jobs.iter()
            .all(|j| g.configs.iter().any(|c| c.job_name == *j))
    );
    // Endpoint fields reach the job.
    let c = |j: &str| {
        g.configs
            .iter()
            .find(|c| c.job_name == j)
            .expect("job")
            .clone()
    };
    assert_eq!(
        c("serviceMonitor/apps/web-sm/0").scrape_interval,
        Duration::from_secs(15)
    );
    assert_eq!(
        c("serviceMonitor/apps/web-joblabel/0").metrics_path,
        "/stats"
    );
    let api_job = c("serviceMonitor/default/apiserver/0");
    assert_eq!(api_job.scheme.as_str(), "https");
    assert!(api_job.http.tls_config.insecure_skip_verify);
    let tok = api_job
        .http
        .bearer_token
        .as_ref()
        .expect("token")
        .resolve()
        .expect("inline");
    assert_eq!(tok.expose(), "s3cret");
    assert_eq!(
        c("serviceMonitor/apps/not-in/0")
            .metric_relabel_configs
            .len(),
        1
    );
    assert_eq!(
        urls(&g, "podMonitor/apps/pm-joblabel/0"),
        vec!["http://10.1.0.1:8080/metrics?module=x"]
    );
    // Secrets are read one by one by name, never listed or watched.
    let reqs = api.requests();
    assert!(
        reqs.iter()
            .any(|(m, p)| m == "GET" && p == "/api/v1/namespaces/default/secrets/tok")
    );
    assert!(!reqs.iter().any(|(_, p)| p.ends_with("/secrets")));
    // Pods are watched with this node's field selector only: web-2 (node-b) never shows up.
    assert!(!format!("{t:?}").contains("web-2"));
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotations_follow_the_community_chart() {
    let api = FakeApi::start().await;
    api.apply(obj::namespace("apps", json!({})));
    let mut p = obj::pod(
        "apps",
        "annotated",
        "node-a",
        "10.1.0.9",
        json!({"app": "ann"}),
        &[("http", 8080)],
    );
    p["metadata"]["annotations"] = json!({"prometheus.io/scrape": "true", "prometheus.io/port": "9999",
        "prometheus.io/path": "/m", "prometheus.io/scheme": "https", "prometheus.io/param_format": "prom"});
    api.apply(p);
    let mut slow = obj::pod(
        "apps",
        "slow",
        "node-a",
        "10.1.0.10",
        json!({"app": "slow"}),
        &[("http", 8080)],
    );
    slow["metadata"]["annotations"] =
        json!({"prometheus.io/scrape": "true", "prometheus.io/scrape_slow": "true"});
    api.apply(slow);
    let mut off = obj::pod(
        "apps",
        "off",
        "node-a",
        "10.1.0.11",
        json!({}),
        &[("http", 8080)],
    );
    off["metadata"]["annotations"] = json!({"prometheus.io/scrape": "false"});
    api.apply(off);
    let mut pending = obj::pod(
        "apps",
        "pending",
        "node-a",
        "10.1.0.12",
        json!({}),
        &[("http", 8080)],
    );
    pending["metadata"]["annotations"] = json!({"prometheus.io/scrape": "true"});
    pending["status"]["phase"] = json!("Pending");
    api.apply(pending);
    let mut a = agent(&api, "node-a").await;
    let g = a
        .until("annotated pods", |g| {
            targets(g)
                .get("kubernetes-pods")
                .is_some_and(|v| !v.is_empty())
        })
        .await;
    let t = targets(&g);
    assert_eq!(
        t["kubernetes-pods"],
        vec![labels(&[
            ("job", "kubernetes-pods"),
            ("app", "ann"),
            ("namespace", "apps"),
            ("pod", "annotated"),
            ("node", "node-a"),
            ("instance", "10.1.0.9:9999")
        ])]
    );
    assert_eq!(
        urls(&g, "kubernetes-pods"),
        vec!["https://10.1.0.9:9999/m?format=prom"]
    );
    assert_eq!(
        t["kubernetes-pods-slow"],
        vec![labels(&[
            ("job", "kubernetes-pods-slow"),
            ("app", "slow"),
            ("namespace", "apps"),
            ("pod", "slow"),
            ("node", "node-a"),
            ("instance", "10.1.0.10:8080")
        ])]
    );
    a.stop().await;

    // Switched off: no annotation jobs.
    let mut cfg = kcfg("node-a");
    cfg.annotations = false;
    let mut b = agent_with(&api, cfg).await;
    let g = b.until("a pass", |g| g.leader).await;
    assert!(
        !g.configs
            .iter()
            .any(|c| c.job_name.starts_with("kubernetes-pods"))
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_arrive_within_seconds_and_watch_failures_recover() {
    let api = FakeApi::start_with(Duration::from_millis(200)).await;
    world(&api);
    let (sm, job, _) = fixtures().remove(0);
    let mut a = agent(&api, "node-a").await;
    a.until("first pass", |g| g.leader).await;

    // A new ServiceMonitor.
    let t0 = Instant::now();
    api.apply(sm);
    a.until("new ServiceMonitor's job", |g| {
        targets(g).get(job).is_some_and(|v| v.len() == 1)
    })
    .await;
    assert!(t0.elapsed() < Duration::from_secs(5));

    // Scale up: a new pod on this node and its endpoint.
    api.apply(obj::pod(
        "apps",
        "web-3",
        "node-a",
        "10.1.0.5",
        json!({"app": "web", "version": "v1"}),
        &[("metrics", 9090)],
    ));
    api.apply(obj::endpointslice(
        "apps",
        "web-abc",
        "web",
        &[
            ("10.1.0.1", "node-a", "web-1"),
            ("10.1.0.2", "node-b", "web-2"),
            ("10.1.0.5", "node-a", "web-3"),
        ],
        &[("http", 8080), ("metrics", 9090)],
    ));
    a.until("scaled up", |g| {
        targets(g).get(job).is_some_and(|v| v.len() == 2)
    })
    .await;

    // API-server restart with compacted history: the watchers get 410 Gone and relist.
    let relists_before: u64 = a.telemetry.relists.iter().map(|x| x.load(Relaxed)).sum();
    api.compact();
    api.drop_watches();
    api.delete("pods", "apps", "web-3");
    api.apply(obj::endpointslice(
        "apps",
        "web-abc",
        "web",
        &[
            ("10.1.0.1", "node-a", "web-1"),
            ("10.1.0.2", "node-b", "web-2"),
        ],
        &[("http", 8080), ("metrics", 9090)],
    ));
    a.until("scaled down after relist", |g| {
        targets(g).get(job).is_some_and(|v| v.len() == 1)
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while a
        .telemetry
        .relists
        .iter()
        .map(|x| x.load(Relaxed))
        .sum::<u64>()
        <= relists_before
    {
        assert!(Instant::now() < deadline, "no relist after 410 Gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // RBAC denial on ServiceMonitors: counted, the last good state stays, recovery picks up
    // what changed meanwhile.
    api.fail("servicemonitors", Some(403));
    api.drop_watches();
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.telemetry.watch_errors[4].load(Relaxed) == 0 {
        assert!(Instant::now() < deadline, "denial not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let g = a
        .until("still there while denied", |g| targets(g).contains_key(job))
        .await;
    assert_eq!(targets(&g)[job].len(), 1);
    api.fail("servicemonitors", None);
    api.delete("servicemonitors", "apps", "web-sm");
    // The watcher retries with kube-rs' backoff, which this test's earlier failures have
    // grown (it resets only after 120s without errors; its cap is 30s): wait past the cap.
    a.until_within(
        Duration::from_secs(45),
        "monitor removal seen after recovery",
        |g| !g.configs.iter().any(|c| c.job_name == job),
    )
    .await;
    let mut text = String::new();
    a.telemetry.render(&mut text);
    assert!(
        text.contains("lookout_kubernetes_watch_errors_total{resource=\"servicemonitors\"}"),
        "{text}"
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secret_refuses_only_that_job() {
    let api = FakeApi::start().await;
    world(&api);
    api.apply(obj::service_monitor("apps", "needs-secret", json!({"selector": {"matchLabels": {"app": "web"}},
        "endpoints": [{"port": "metrics", "basicAuth": {"username": {"name": "creds", "key": "user"}, "password": {"name": "creds", "key": "pass"}}}]})));
    api.apply(fixtures().remove(0).0);
    let mut a = agent(&api, "node-a").await;
    let g = a
        .until("error for the job and the other job fine", |g| {
            g.errors
                .iter()
                .any(|(j, _)| j == "serviceMonitor/apps/needs-secret/0")
                && g.configs
                    .iter()
                    .any(|c| c.job_name == "serviceMonitor/apps/web-sm/0")
        })
        .await;
    let err = &g
        .errors
        .iter()
        .find(|(j, _)| j == "serviceMonitor/apps/needs-secret/0")
        .expect("error")
        .1;
    assert!(err.contains("creds"), "{err}");
    // The Secret appears: picked up at the next refresh of the cache (after any change).
    api.apply(obj::secret(
        "apps",
        "creds",
        &[("user", "u"), ("pass", "p")],
    ));
    a.stop().await;
    let mut b = agent(&api, "node-a").await;
    let g = b
        .until("job built", |g| {
            g.configs
                .iter()
                .any(|c| c.job_name == "serviceMonitor/apps/needs-secret/0")
        })
        .await;
    let c = g
        .configs
        .iter()
        .find(|c| c.job_name == "serviceMonitor/apps/needs-secret/0")
        .expect("job");
    let ba = c.http.basic_auth.as_ref().expect("basic auth");
    assert_eq!(ba.username.resolve().expect("u").expose(), "u");
    assert_eq!(
        ba.password
            .as_ref()
            .expect("p")
            .resolve()
            .expect("p")
            .expose(),
        "p"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_targets_by_node_and_one_lease_holder_fails_over() {
    let api = FakeApi::start().await;
    world(&api);
    let (sm_web, web_job, _) = fixtures().remove(0);
    let (sm_api, api_job, _) = fixtures().remove(3);
    api.apply(sm_web);
    api.apply(sm_api);
    let mut a = agent(&api, "node-a").await;
    let mut b = agent(&api, "node-b").await;
    let has = |g: &Generated, job: &str| targets(g).get(job).is_some_and(|v| !v.is_empty());
    let ga = a.until("a sees its web pod", |g| has(g, web_job)).await;
    let gb = b.until("b sees its web pod", |g| has(g, web_job)).await;
    // Each node's pod exactly once.
    assert_eq!(targets(&ga)[web_job][0]["pod"], "web-1");
    assert_eq!(targets(&gb)[web_job][0]["pod"], "web-2");
    // Exactly one of them scrapes the API server.
    let ga = a
        .until("a settled", |g| {
            g.configs.iter().any(|c| c.job_name == api_job)
        })
        .await;
    let gb = b
        .until("b settled", |g| {
            g.configs.iter().any(|c| c.job_name == api_job)
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let held_by = loop {
        let h = api
            .get("leases", "monitoring", "lookout-leader")
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
            .unwrap_or_default();
        if !h.is_empty() {
            break h;
        }
        assert!(Instant::now() < deadline, "nobody took the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (mut leader, mut follower) = if held_by == "node-a" { (a, b) } else { (b, a) };
    leader
        .until("holder scrapes the API server", |g| {
            g.leader && has(g, api_job)
        })
        .await;
    let g = follower
        .until("the other has the job without targets", |g| {
            !g.leader && g.configs.iter().any(|c| c.job_name == api_job)
        })
        .await;
    assert!(!has(&g, api_job), "{:?}", summary(&g));
    let _ = (ga, gb);

    // The holder dies without releasing: after the Lease expires the other one takes over.
    let t0 = Instant::now();
    if let Some(d) = leader.disc.take() {
        d.crash();
    }
    follower
        .until("takes over the API server", |g| g.leader && has(g, api_job))
        .await;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "took over before the lease expired: {took:?}"
    );
    // A clean stop releases the Lease at once.
    follower.stop().await;
    let lease = api
        .get("leases", "monitoring", "lookout-leader")
        .expect("lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{lease}"
    );
    leader.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_fake_api_to_scraped_samples() {
    let metrics = common::serve(Arc::new(|_req: &common::Request, _n: usize| {
        common::Reply::Full(
            200,
            "text/plain; version=0.0.4",
            b"app_requests_total 7\n".to_vec(),
        )
    }))
    .await;
    let port = metrics.port();
    let api = FakeApi::start().await;
    api.apply(obj::namespace("apps", json!({})));
    api.apply(obj::pod(
        "apps",
        "web-1",
        "node-a",
        "127.0.0.1",
        json!({"app": "web"}),
        &[("metrics", port)],
    ));
    api.apply(obj::service(
        "apps",
        "web",
        json!({"app": "web"}),
        &[("metrics", port)],
    ));
    api.apply(obj::endpointslice(
        "apps",
        "web-1",
        "web",
        &[("127.0.0.1", "node-a", "web-1")],
        &[("metrics", port)],
    ));
    api.apply(obj::service_monitor(
        "apps",
        "web",
        json!({"selector": {"matchLabels": {"app": "web"}},
        "endpoints": [{"port": "metrics", "interval": "1s"}]}),
    ));

    let rig = common::Rig::new("scrape_configs: []\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = kcfg("node-a");
    cfg.kubeconfig = Some(api.kubeconfig(dir.path()));
    let tel = Arc::new(KubeTelemetry::default());
    let mut runner = Runner::new(
        Flags {
            sa_dir: Some(dir.path().join("none")),
            ..Flags::default()
        },
        tel.clone(),
    );
    runner
        .configure(&cfg, &global(), &rig.manager)
        .await
        .expect("starts");
    let job = "serviceMonitor/apps/web/0";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let g = tokio::time::timeout(Duration::from_secs(1), runner.changed()).await;
        if let Ok(g) = g {
            runner.apply(&rig.manager, g);
        }
        let s = rig.select(&[("__name__", "app_requests_total")]);
        if let Some(series) = s.first() {
            let l = &series.labels;
            assert_eq!(l.get("job"), Some("web"));
            assert_eq!(l.get("namespace"), Some("apps"));
            assert_eq!(l.get("service"), Some("web"));
            assert_eq!(l.get("pod"), Some("web-1"));
            assert_eq!(l.get("container"), Some("app"));
            assert_eq!(l.get("endpoint"), Some("metrics"));
            assert_eq!(
                l.get("instance"),
                Some(format!("127.0.0.1:{port}").as_str())
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no sample scraped through discovery"
        );
    }
    assert!(
        rig.manager
            .targets()
            .0
            .iter()
            .any(|t| t.labels.get("job") == Some("web"))
    );
    // The ServiceMonitor job and the two annotation jobs.
    assert_eq!(tel.jobs.load(Relaxed), 3);

    // The monitor goes away: its target stops, with a staleness marker for its series.
    api.delete("servicemonitors", "apps", "web");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(g) = tokio::time::timeout(Duration::from_secs(1), runner.changed()).await {
            runner.apply(&rig.manager, g);
        }
        if rig.manager.targets().0.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "target not removed");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = rig.select(&[("__name__", "app_requests_total")]);
    let last = s[0].samples.last().expect("samples").1;
    assert!(
        last.is_nan(),
        "last sample should be a staleness marker, got {last}"
    );
    let _ = job;
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_jobs_appear_with_a_service_account_token() {
    let api = FakeApi::start().await;
    api.apply(obj::namespace("apps", json!({})));
    api.apply(obj::pod(
        "apps",
        "web-1",
        "node-a",
        "10.1.0.1",
        json!({}),
        &[("http", 8080)],
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let sa = dir.path().join("sa");
    std::fs::create_dir_all(&sa).expect("mkdir");
    std::fs::write(sa.join("token"), "tok").expect("token");
    std::fs::write(sa.join("ca.crt"), "ca").expect("ca");
    let mut cfg = kcfg("node-a");
    cfg.kubelet = true;
    cfg.kubeconfig = Some(api.kubeconfig(dir.path()));
    let flags = Flags {
        sa_dir: Some(sa.clone()),
        ..Flags::default()
    };
    let access = access::resolve(&cfg, &flags, &sa)
        .await
        .expect("access")
        .expect("on");
    let mut a = Agent {
        disc: Some(Discovery::start(
            access,
            &cfg,
            global(),
            Arc::new(KubeTelemetry::default()),
        )),
        telemetry: Arc::new(KubeTelemetry::default()),
        _dir: dir,
    };
    // The node's address comes from the pods' status.hostIP when HOST_IP is not set.
    let g = a
        .until("kubelet jobs", |g| {
            g.configs
                .iter()
                .filter(|c| c.job_name.starts_with("kubelet"))
                .count()
                == 3
        })
        .await;
    assert_eq!(
        urls(&g, "kubelet-cadvisor"),
        vec!["https://10.0.0.1:10250/metrics/cadvisor"]
    );
    assert_eq!(targets(&g)["kubelet"][0]["job"], "kubelet");
    a.stop().await;
}
