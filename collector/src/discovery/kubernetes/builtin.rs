//! The jobs lookout generates without any monitor object:
//!
//! - `kubernetes-pods` and `kubernetes-pods-slow`: pods annotated `prometheus.io/scrape:
//!   "true"`, with the prometheus-community `prometheus` chart's semantics (`/scheme`, `/path`,
//!   `/port`, `/param_<name>`, pod labels copied, `namespace`, `pod`, `node`; pending and
//!   finished pods dropped; `prometheus.io/scrape_slow: "true"` pods go to the slow job, every
//!   5m with a 30s timeout). The chain is our own YAML of those documented rules.
//! - `kubelet`, `kubelet-cadvisor`, `kubelet-resource`: the agent's own kubelet
//!   (`https://<host>:10250` `/metrics`, `/metrics/cadvisor`, `/metrics/resource`) with the
//!   service-account token (re-read on every scrape, so rotation works) and the cluster CA.
//!   All three carry `job="kubelet"` and a `metrics_path` label, as kube-prometheus does, so
//!   the usual dashboards work.
//!
//! Cost: built once per configuration change.

use lookout_config::relabel::{RawRelabelConfig, RelabelConfig};
use lookout_config::{
    GlobalConfig, HttpClientConfig, Scheme, ScrapeConfig, SecretSource, StaticConfig,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const PODS_JOB: &str = "kubernetes-pods";
pub const PODS_SLOW_JOB: &str = "kubernetes-pods-slow";
/// The kubelet's HTTPS port.
pub const KUBELET_PORT: u16 = 10250;

const POD_RULES: &str = r#"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
  action: keep
  regex: "true"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow]
  action: SLOW_ACTION
  regex: "true"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme]
  regex: (https?)
  target_label: __scheme__
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
  regex: (.+)
  target_label: __metrics_path__
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_port, __meta_kubernetes_pod_ip]
  regex: (\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})
  replacement: "[$2]:$1"
  target_label: __address__
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_port, __meta_kubernetes_pod_ip]
  regex: (\d+);((([0-9]+?)(\.|$)){4})
  replacement: "$2:$1"
  target_label: __address__
- action: labelmap
  regex: __meta_kubernetes_pod_annotation_prometheus_io_param_(.+)
  replacement: __param_$1
- action: labelmap
  regex: __meta_kubernetes_pod_label_(.+)
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
- source_labels: [__meta_kubernetes_pod_name]
  target_label: pod
- source_labels: [__meta_kubernetes_pod_phase]
  regex: Pending|Succeeded|Failed|Completed
  action: drop
- source_labels: [__meta_kubernetes_pod_node_name]
  target_label: node
"#;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    let raw: Vec<RawRelabelConfig> = match serde_yaml_ng::from_str(yaml) {
        Ok(r) => r,
        // Constant text covered by tests.
        Err(e) => panic!("built-in relabel rules do not parse: {e}"),
    };
    raw.iter()
        .map(|r| match RelabelConfig::from_raw(r) {
            Ok(c) => c,
            Err(e) => panic!("built-in relabel rule is invalid: {e}"),
        })
        .collect()
}

fn base(job: &str, global: &GlobalConfig) -> ScrapeConfig {
    ScrapeConfig {
        job_name: job.to_string(),
        scrape_interval: global.scrape_interval,
        scrape_timeout: global.scrape_timeout.min(global.scrape_interval),
        metrics_path: lookout_config::DEFAULT_METRICS_PATH.to_string(),
        scheme: Scheme::Http,
        params: BTreeMap::new(),
        honor_labels: false,
        honor_timestamps: true,
        sample_limit: global.sample_limit,
        label_limit: global.label_limit,
        label_name_length_limit: global.label_name_length_limit,
        label_value_length_limit: global.label_value_length_limit,
        body_size_limit: global.body_size_limit,
        http: HttpClientConfig::default(),
        static_configs: Vec::new(),
        file_sd_configs: Vec::new(),
        relabel_configs: Vec::new(),
        metric_relabel_configs: Vec::new(),
    }
}

/// The two annotation jobs (fed with pod-role groups of the agent's pods).
pub fn annotation_jobs(global: &GlobalConfig) -> Vec<ScrapeConfig> {
    let mut fast = base(PODS_JOB, global);
    fast.honor_labels = true;
    fast.relabel_configs = rules(&POD_RULES.replace("SLOW_ACTION", "drop"));
    let mut slow = base(PODS_SLOW_JOB, global);
    slow.honor_labels = true;
    slow.scrape_interval = Duration::from_secs(300);
    slow.scrape_timeout = Duration::from_secs(30);
    slow.relabel_configs = rules(&POD_RULES.replace("SLOW_ACTION", "keep"));
    vec![fast, slow]
}

/// Where the kubelet is and how to authenticate to it.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeletAccess {
    pub node_name: String,
    /// The node's IP (`HOST_IP`, else a pod's `status.hostIP`).
    pub host: String,
    pub token_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// The three kubelet jobs.
pub fn kubelet_jobs(k: &KubeletAccess, global: &GlobalConfig) -> Vec<ScrapeConfig> {
    let addr = super::meta::join_host_port(&k.host, i32::from(KUBELET_PORT));
    let mut http = HttpClientConfig {
        bearer_token: Some(SecretSource::File(k.token_file.clone())),
        ..HttpClientConfig::default()
    };
    http.tls_config.ca = k.ca_file.clone().map(SecretSource::File);
    http.tls_config.insecure_skip_verify = k.insecure_skip_verify;
    [
        ("kubelet", "/metrics", true),
        ("kubelet-cadvisor", "/metrics/cadvisor", false),
        ("kubelet-resource", "/metrics/resource", true),
    ]
    .into_iter()
    .map(|(job, path, honor_ts)| {
        let mut c = base(job, global);
        c.scheme = Scheme::Https;
        c.metrics_path = path.to_string();
        c.honor_labels = true;
        c.honor_timestamps = honor_ts;
        c.http = http.clone();
        c.static_configs = vec![StaticConfig {
            targets: vec![addr.clone()],
            labels: vec![("node".to_string(), k.node_name.clone())].into_iter().collect(),
        }];
        c.relabel_configs = rules(
            "- target_label: job\n  replacement: kubelet\n- source_labels: [__metrics_path__]\n  target_label: metrics_path\n",
        );
        c
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::target::{Populated, populate};

    fn global() -> GlobalConfig {
        lookout_config::load_str("", "t.yaml")
            .expect("empty")
            .global
    }

    #[test]
    fn kubelet_jobs_scrape_the_three_paths_over_https_with_the_token() {
        let k = KubeletAccess {
            node_name: "node-a".into(),
            host: "10.0.0.7".into(),
            token_file: "/sa/token".into(),
            ca_file: Some("/sa/ca.crt".into()),
            insecure_skip_verify: false,
        };
        let jobs = kubelet_jobs(&k, &global());
        let mut seen = Vec::new();
        for c in &jobs {
            assert_eq!(c.scheme, Scheme::Https);
            assert_eq!(
                c.http.bearer_token,
                Some(SecretSource::File("/sa/token".into()))
            );
            assert_eq!(
                c.http.tls_config.ca,
                Some(SecretSource::File("/sa/ca.crt".into()))
            );
            let g = &crate::discovery::static_groups(c)[0];
            let d = g.discovered().next().expect("one target");
            let Ok(Populated::Target(t)) = populate(c, d) else {
                panic!("target dropped");
            };
            assert_eq!(t.labels.get("job"), Some("kubelet"));
            assert_eq!(t.labels.get("node"), Some("node-a"));
            assert_eq!(t.labels.get("instance"), Some("10.0.0.7:10250"));
            assert_eq!(t.labels.get("metrics_path"), Some(c.metrics_path.as_str()));
            seen.push(t.url.clone());
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "https://10.0.0.7:10250/metrics",
                "https://10.0.0.7:10250/metrics/cadvisor",
                "https://10.0.0.7:10250/metrics/resource"
            ]
        );
        // cAdvisor's own timestamps are ignored, as kube-prometheus does.
        assert!(
            !jobs
                .iter()
                .find(|c| c.job_name == "kubelet-cadvisor")
                .expect("job")
                .honor_timestamps
        );
    }

    #[test]
    fn ipv6_kubelet_address_is_bracketed() {
        let k = KubeletAccess {
            node_name: "n".into(),
            host: "fd00::1".into(),
            token_file: "/t".into(),
            ca_file: None,
            insecure_skip_verify: true,
        };
        let jobs = kubelet_jobs(&k, &global());
        assert_eq!(jobs[0].static_configs[0].targets, vec!["[fd00::1]:10250"]);
        assert!(jobs[0].http.tls_config.insecure_skip_verify);
    }

    #[test]
    fn annotation_rules_parse() {
        let jobs = annotation_jobs(&global());
        assert_eq!(jobs.len(), 2);
        assert!(
            jobs.iter()
                .all(|j| j.relabel_configs.len() == 12 && j.honor_labels)
        );
        assert_eq!(jobs[1].scrape_interval, Duration::from_secs(300));
    }
}
