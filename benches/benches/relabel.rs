//! Benchmarks of relabeling: a Kubernetes-pods style target relabeling (11 rules over a
//! discovered target with 30 labels) and metric relabeling of one series (3 rules, the series
//! kept; and the same rules with the series dropped by the first rule).
//!
//! Run: `cargo bench -p lookout-benches --bench relabel`

use criterion::{Criterion, criterion_group, criterion_main};
use lookout_collector::relabel::{self, LabelBuilder};
use lookout_config::relabel::{RelabelConfig, rules_from_yaml};
use lookout_store::Labels;
use std::hint::black_box;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    rules_from_yaml(yaml).expect("bench rules are valid")
}

const TARGET_RULES: &str = r#"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
  regex: "true"
  action: keep
- source_labels: [__meta_kubernetes_pod_phase]
  regex: Pending|Succeeded|Failed|Completed
  action: drop
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
  regex: (.+)
  target_label: __metrics_path__
- source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
  regex: ([^:]+)(?::\d+)?;(\d+)
  replacement: $1:$2
  target_label: __address__
- regex: __meta_kubernetes_pod_label_(.+)
  action: labelmap
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
- source_labels: [__meta_kubernetes_pod_name]
  target_label: pod
- source_labels: [__meta_kubernetes_pod_node_name]
  target_label: node
- source_labels: [__address__]
  modulus: 4
  target_label: __tmp_hash
  action: hashmod
- source_labels: [__tmp_hash]
  regex: "[0-3]"
  action: keep
- regex: __meta_kubernetes_pod_label_pod_template_hash|controller_revision_hash
  action: labeldrop
"#;

const METRIC_RULES: &str = r#"
- source_labels: [__name__]
  regex: go_gc_.*|process_.*
  action: drop
- regex: id|image
  action: labeldrop
- source_labels: [__name__, le]
  regex: (.+)_bucket;\+Inf
  target_label: __tmp_inf
  replacement: "1"
"#;

fn discovered_target() -> Labels {
    let mut pairs: Vec<(String, String)> = [
        ("__address__", "10.1.2.3:8080"),
        ("__scheme__", "http"),
        ("__metrics_path__", "/metrics"),
        ("job", "kubernetes-pods"),
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_pod_name", "cart-7d9f8b6c5-x2x4z"),
        ("__meta_kubernetes_pod_ip", "10.1.2.3"),
        ("__meta_kubernetes_pod_node_name", "node-3"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_ready", "true"),
        (
            "__meta_kubernetes_pod_uid",
            "5f0c7a1e-4c1b-4f1e-9b1a-0a6d3c2b1e7f",
        ),
        ("__meta_kubernetes_pod_host_ip", "192.168.1.13"),
        ("__meta_kubernetes_pod_container_name", "cart"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
        ("__meta_kubernetes_pod_controller_name", "cart-7d9f8b6c5"),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
            "true",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_port",
            "9102",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_path",
            "/stats",
        ),
        (
            "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape",
            "true",
        ),
        ("__meta_kubernetes_pod_label_app", "cart"),
        ("__meta_kubernetes_pod_label_tier", "backend"),
        ("__meta_kubernetes_pod_label_pod_template_hash", "7d9f8b6c5"),
        ("__meta_kubernetes_pod_label_version", "v1.4.2"),
        ("__meta_kubernetes_pod_labelpresent_app", "true"),
        ("__meta_kubernetes_pod_labelpresent_tier", "true"),
        ("__meta_kubernetes_pod_labelpresent_version", "true"),
        (
            "__meta_kubernetes_pod_labelpresent_pod_template_hash",
            "true",
        ),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    pairs.sort();
    Labels::from_pairs(pairs)
}

fn bench(c: &mut Criterion) {
    let target_rules = rules(TARGET_RULES);
    let target = discovered_target();
    assert!(
        relabel::relabel(&target_rules, &target).is_some(),
        "the bench target is kept"
    );
    c.bench_function("relabel/target_k8s_pod_11_rules_30_labels", |b| {
        b.iter(|| relabel::relabel(black_box(&target_rules), black_box(&target)))
    });

    let metric_rules = rules(METRIC_RULES);
    let series = Labels::from_pairs([
        ("__name__", "http_request_duration_seconds_bucket"),
        ("instance", "10.1.2.3:9102"),
        ("job", "kubernetes-pods"),
        ("le", "+Inf"),
        ("method", "GET"),
        ("namespace", "shop"),
    ]);
    c.bench_function("relabel/metric_3_rules_kept", |b| {
        b.iter(|| relabel::relabel(black_box(&metric_rules), black_box(&series)))
    });
    let dropped = Labels::from_pairs([("__name__", "go_gc_duration_seconds"), ("quantile", "0.5")]);
    assert!(relabel::relabel(&metric_rules, &dropped).is_none());
    c.bench_function("relabel/metric_3_rules_dropped", |b| {
        b.iter(|| {
            let mut lb = LabelBuilder::from_labels(black_box(&dropped));
            relabel::process(black_box(&metric_rules), &mut lb)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
