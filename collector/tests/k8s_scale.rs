//! Scale benchmark of Kubernetes discovery (a test-style bench: ignored by default, prints
//! figures, asserts only correctness): 5,000 pods, 1,000 Services (with EndpointSlices) and
//! 300 ServiceMonitors in the fake API server; time from start until the generated jobs hold
//! every expected target, and the extra resident memory.
//!
//! Run: `cargo test --release -p lookout-collector --test k8s_scale -- --ignored --nocapture`

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

fn populate_world(api: &FakeApi, nodes: usize) {
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
                "endpoints": [{"port": "metrics", "interval": "30s"}]}),
        ));
    }
}

async fn run(nodes: usize) {
    let api = FakeApi::start().await;
    populate_world(&api, nodes);
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
