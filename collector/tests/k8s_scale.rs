//! Scale benchmark of Kubernetes discovery (a test-style bench: ignored by default, prints
//! figures, asserts only correctness): 5,000 pods, 1,000 Services (with EndpointSlices) and
//! 300 ServiceMonitors in the fake API server; time from start until the generated jobs hold
//! every expected target, and the extra resident memory.
//!
//! Two ways: in process (`scale_all_pods_on_this_node`, `scale_pods_over_50_nodes`: discovery
//! alone, the fake API server in the same process, so its RSS counts too), and the real
//! `lookout` binary as a child process against the fake API server through a kubeconfig
//! (`agent_process_*`: what a user sees; memory read from the child's `/proc/<pid>/status`).
//! The process runs compare the agent converged on the full world with the same agent idle
//! against an empty cluster (discovery on, nothing to find).
//!
//! Run: `cargo test --release -p lookout-collector --test k8s_scale -- --ignored --nocapture --test-threads 1`

mod k8s_agent;
mod k8s_fake;

use k8s_fake::{FakeApi, obj};
use lookout_collector::discovery::kubernetes::{Discovery, Flags, KubeTelemetry, access};
use lookout_collector::scrape::target::{Populated, populate};
use lookout_config::{KubernetesConfig, KubernetesEnabled};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PODS: usize = 5_000;
const SERVICES: usize = 1_000;
const MONITORS: usize = 300;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn populate_world(api: &FakeApi, nodes: usize, interval: &str) {
    api.apply(obj::namespace("apps", json!({})));
    let per_svc = PODS / SERVICES;
    for s in 0..SERVICES {
        let app = format!("svc-{s}");
        let group = (s % MONITORS).to_string();
        let mut eps = Vec::new();
        for k in 0..per_svc {
            let i = s * per_svc + k;
            let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
            let node = format!("node-{}", i % nodes);
            let name = format!("{app}-{k}");
            api.apply(obj::pod(
                "apps",
                &name,
                &node,
                &ip,
                json!({"app": app, "group": group}),
                &[("metrics", 9090)],
            ));
            eps.push((ip, node, name));
        }
        api.apply(obj::service(
            "apps",
            &app,
            json!({"app": app, "group": group}),
            &[("metrics", 9090)],
        ));
        let refs: Vec<(&str, &str, &str)> = eps
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        api.apply(obj::endpointslice(
            "apps",
            &format!("{app}-x"),
            &app,
            &refs,
            &[("metrics", 9090)],
        ));
    }
    for m in 0..MONITORS {
        api.apply(obj::service_monitor(
            "apps",
            &format!("sm-{m}"),
            json!({"selector": {"matchLabels": {"group": m.to_string()}},
                "endpoints": [{"port": "metrics", "interval": interval}]}),
        ));
    }
}

async fn run(nodes: usize) {
    let api = FakeApi::start().await;
    populate_world(&api, nodes, "30s");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = KubernetesConfig {
        enabled: KubernetesEnabled::On,
        kubeconfig: Some(api.kubeconfig(dir.path())),
        node_name: Some("node-0".into()),
        lease_namespace: Some("monitoring".into()),
        kubelet: false,
        annotations: false,
        ..KubernetesConfig::default()
    };
    let sa = dir.path().join("none");
    let flags = Flags {
        sa_dir: Some(sa.clone()),
        ..Flags::default()
    };
    let access = access::resolve(&cfg, &flags, &sa)
        .await
        .expect("access")
        .expect("on");
    let global = lookout_config::load_str("", "t").expect("cfg").global;
    let expected = PODS.div_ceil(nodes);
    let rss0 = rss_kib();
    let t0 = Instant::now();
    let mut d = Discovery::start(access, &cfg, global, Arc::new(KubeTelemetry::default()));
    let g = loop {
        let g = d.output.borrow_and_update().clone();
        let n: usize = g
            .groups
            .values()
            .flatten()
            .map(|grp| grp.targets.len())
            .sum();
        if g.configs.len() == MONITORS && n == expected {
            break g;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no convergence: {} jobs, {n} targets",
            g.configs.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), d.output.changed()).await;
    };
    let converge = t0.elapsed();
    let rss1 = rss_kib();
    let t1 = Instant::now();
    let mut active = 0;
    for c in &g.configs {
        for grp in &g.groups[&c.job_name] {
            for lbl in grp.discovered() {
                if let Ok(Populated::Target(_)) = populate(c, lbl) {
                    active += 1;
                }
            }
        }
    }
    let relabel = t1.elapsed();
    assert_eq!(active, expected);
    println!(
        "k8s_discovery scale: {PODS} pods over {nodes} node(s), {SERVICES} services, {MONITORS} ServiceMonitors: \
         converged in {:.3}s to {} jobs / {expected} targets on this node; extra RSS {:.1} MB; \
         relabeling all targets {:.3}s",
        converge.as_secs_f64(),
        g.configs.len(),
        (rss1.saturating_sub(rss0)) as f64 / 1024.0,
        relabel.as_secs_f64()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --release"]
async fn scale_all_pods_on_this_node() {
    run(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --release"]
async fn scale_pods_over_50_nodes() {
    run(50).await;
}

/// The agent's config: Kubernetes discovery through `kubeconfig`, nothing else to scrape.
fn agent_config(kubeconfig: &std::path::Path, node: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1h\nscrape_configs: []\nkubernetes:\n  enabled: true\n  kubeconfig: {}\n  node_name: {node}\n  lease_namespace: monitoring\n  kubelet: false\n  annotations: false\n",
        kubeconfig.display()
    )
}

/// Jobs and targets the agent's discovery handed to its scrape manager (from `/metrics`
/// only: the targets API would build a large answer and inflate the agent's memory).
async fn agent_targets(a: &k8s_agent::AgentProcess) -> (f64, f64) {
    let m = a.metrics().await;
    let n = k8s_agent::metric(&m, "lookout_kubernetes_targets").unwrap_or(0.0);
    let jobs = k8s_agent::metric(&m, "lookout_kubernetes_jobs").unwrap_or(0.0);
    (jobs, n)
}

/// Resident memory of an agent that has settled (KiB), after `settle`.
async fn settled_rss(a: &k8s_agent::AgentProcess, settle: Duration) -> u64 {
    tokio::time::sleep(settle).await;
    a.proc_kib("VmRSS")
}

async fn run_process(nodes: usize) {
    let mb = |kib: u64| kib as f64 / 1024.0;
    // Idle: the same agent, discovery on, an empty cluster.
    let idle = {
        let api = FakeApi::start().await;
        api.apply(obj::namespace("apps", json!({})));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut a = k8s_agent::start(
            dir.path(),
            &agent_config(&api.kubeconfig(dir.path()), "node-0"),
        );
        a.ready(Duration::from_secs(30)).await;
        let aa = &a;
        k8s_agent::eventually(30, "a discovery pass", || async move {
            let m = aa.metrics().await;
            k8s_agent::metric(&m, "lookout_kubernetes_generation_passes_total")
                .filter(|n| *n >= 1.0)
        })
        .await;
        let rss = settled_rss(&a, Duration::from_secs(3)).await;
        (rss, a.proc_kib("VmHWM"))
    };

    let api = FakeApi::start().await;
    populate_world(&api, nodes, "1h");
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = PODS.div_ceil(nodes) as f64;
    let t0 = Instant::now();
    let mut a = k8s_agent::start(
        dir.path(),
        &agent_config(&api.kubeconfig(dir.path()), "node-0"),
    );
    a.ready(Duration::from_secs(30)).await;
    let ready = t0.elapsed();
    loop {
        let (jobs, n) = agent_targets(&a).await;
        if jobs == MONITORS as f64 && n == expected {
            break;
        }
        assert!(n <= expected, "more targets than pods on this node: {n}");
        assert!(a.alive(), "lookout exited");
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no convergence: {jobs} jobs, {n} targets"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converge = t0.elapsed();
    let (rss_conv, hwm_conv) = (a.proc_kib("VmRSS"), a.proc_kib("VmHWM"));
    let rss_settled = settled_rss(&a, Duration::from_secs(5)).await;
    let hwm_settled = a.proc_kib("VmHWM");
    // Correctness, after the measurements: every target is active in the scrape manager.
    let v = a
        .json("/api/v1/targets?state=active")
        .await
        .expect("targets");
    let active = v["data"]["activeTargets"].as_array().map_or(0, Vec::len);
    assert_eq!(active as f64, expected);
    println!(
        "k8s_discovery scale (lookout process): {PODS} pods over {nodes} node(s), {SERVICES} services, \
         {MONITORS} ServiceMonitors; {expected} targets on this node; \
         ready {:.3}s, converged {:.3}s after start; idle RSS {:.1} MB (peak {:.1}); \
         converged RSS {:.1} MB (peak {:.1}), after 5 s {:.1} MB (peak {:.1}); \
         extra RSS at convergence {:.1} MB, after 5 s {:.1} MB (peak extra {:.1} MB)",
        ready.as_secs_f64(),
        converge.as_secs_f64(),
        mb(idle.0),
        mb(idle.1),
        mb(rss_conv),
        mb(hwm_conv),
        mb(rss_settled),
        mb(hwm_settled),
        mb(rss_conv.saturating_sub(idle.0)),
        mb(rss_settled.saturating_sub(idle.0)),
        mb(hwm_settled.saturating_sub(idle.0)),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --release"]
async fn agent_process_all_pods_on_this_node() {
    run_process(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --release"]
async fn agent_process_pods_over_50_nodes() {
    run_process(50).await;
}

/// Serves the scale world for runs by hand (a profiler around `lookout`, another agent build)
/// when `K8S_SCALE_SERVE` is set:
/// writes `kubeconfig.yaml` and `lookout.yaml` into `K8S_SCALE_DIR` (default a temp dir),
/// prints their paths and holds for `K8S_SCALE_HOLD_SECS` (default 300). Pods are spread over
/// `K8S_SCALE_NODES` nodes (default 50); the agent config names node-0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper: serves the fake world for manual runs"]
async fn serve_world_for_manual_runs() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    if std::env::var_os("K8S_SCALE_SERVE").is_none() {
        println!("set K8S_SCALE_SERVE=1 to serve the world");
        return;
    }
    let nodes = env("K8S_SCALE_NODES", 50) as usize;
    let api = FakeApi::start().await;
    populate_world(&api, nodes, "1h");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::env::var("K8S_SCALE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("dir");
    let kc = api.kubeconfig(&dir);
    let cfg = dir.join("lookout.yaml");
    std::fs::write(&cfg, agent_config(&kc, "node-0")).expect("config");
    println!(
        "serving {PODS} pods over {nodes} nodes; config {}",
        cfg.display()
    );
    tokio::time::sleep(Duration::from_secs(env("K8S_SCALE_HOLD_SECS", 300))).await;
}
