//! The `kubernetes` section: lookout's own Kubernetes discovery (ServiceMonitors,
//! PodMonitors, `prometheus.io/*` pod annotations, the node's kubelet), sharded by node, and
//! the PrometheusRule objects whose rules are evaluated beside `rule_files`.
//!
//! ```yaml
//! kubernetes:
//!   enabled: auto            # auto (default): on in a cluster or with a kubeconfig; true; false
//!   kubeconfig: ~/.kube/x    # default: --kubeconfig, then KUBECONFIG, then in-cluster
//!   node_name: node-a        # default: --node-name, then NODE_NAME
//!   namespaces: [a, b]       # watch only these (default: all namespaces)
//!   servicemonitors: true    # each source can be switched off (all default true)
//!   podmonitors: true
//!   annotations: true
//!   kubelet: true
//!   kubelet_insecure_skip_verify: false  # kubelets with self-signed serving certificates
//!   prometheus_rules: true   # evaluate the rules of PrometheusRule objects (default true)
//!   rule_selector:           # only PrometheusRules with these labels (default: all)
//!     matchLabels: {role: alert-rules}
//!   rule_namespace_selector: # only PrometheusRules in namespaces with these labels (default: all)
//!     matchExpressions: [{key: team, operator: Exists}]
//!   lease_name: lookout-leader           # the Lease electing the agent for node-less targets
//!   lease_namespace: monitoring          # default: POD_NAMESPACE, then the pod's own namespace
//!   lease_duration: 15s
//! ```
//!
//! Not a Prometheus section (Prometheus writes `kubernetes_sd_configs` per job); lookout
//! generates the jobs itself, as the Prometheus Operator would. Cost: load time only.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::context::Ctx;
use crate::duration::PromDuration;
use crate::error::Result;
use crate::label_selector::{LabelSelector, RawLabelSelector};
use crate::position::{field, index};

/// Default name of the leader-election Lease.
pub const DEFAULT_LEASE_NAME: &str = "lookout-leader";
/// Default Lease duration (client-go's default is 15s too).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// Whether Kubernetes discovery runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubernetesEnabled {
    /// On when service-account credentials or a kubeconfig are present.
    #[default]
    Auto,
    /// Always on: missing credentials are an error at start.
    On,
    /// Off.
    Off,
}

impl<'de> Deserialize<'de> for KubernetesEnabled {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(KubernetesEnabled::On),
            Raw::Bool(false) => Ok(KubernetesEnabled::Off),
            Raw::Str(s) if s == "auto" => Ok(KubernetesEnabled::Auto),
            Raw::Str(s) => Err(serde::de::Error::custom(format!(
                "invalid value {s:?} for enabled: expected auto, true or false"
            ))),
        }
    }
}

/// `kubernetes` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of kubernetes discovery settings"
)]
pub struct RawKubernetesConfig {
    /// `auto` (default), `true` or `false`.
    #[serde(default)]
    pub enabled: KubernetesEnabled,
    /// A kubeconfig file (default: the `--kubeconfig` flag, `KUBECONFIG`, then in-cluster).
    pub kubeconfig: Option<String>,
    /// The agent's node (default: the `--node-name` flag, then `NODE_NAME`).
    pub node_name: Option<String>,
    /// Namespaces to watch; empty (default) watches all.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Scrape what ServiceMonitors select (default true).
    pub servicemonitors: Option<bool>,
    /// Scrape what PodMonitors select (default true).
    pub podmonitors: Option<bool>,
    /// Scrape pods annotated `prometheus.io/scrape: "true"` (default true).
    pub annotations: Option<bool>,
    /// Scrape the node's kubelet and cAdvisor (default true).
    pub kubelet: Option<bool>,
    /// Skip verifying the kubelet's serving certificate (default false).
    #[serde(default)]
    pub kubelet_insecure_skip_verify: bool,
    /// Evaluate the rules of PrometheusRule objects (default true).
    pub prometheus_rules: Option<bool>,
    /// Only PrometheusRules whose labels match (the Operator's `ruleSelector`; default all).
    pub rule_selector: Option<RawLabelSelector>,
    /// Only PrometheusRules in namespaces whose labels match (the Operator's
    /// `ruleNamespaceSelector`; default all watched namespaces).
    pub rule_namespace_selector: Option<RawLabelSelector>,
    /// Name of the Lease electing the agent that scrapes node-less targets.
    pub lease_name: Option<String>,
    /// Namespace of that Lease (default: `POD_NAMESPACE`, then the pod's namespace).
    pub lease_namespace: Option<String>,
    /// How long a Lease holder is trusted without renewing (default 15s).
    pub lease_duration: Option<PromDuration>,
}

/// Checked Kubernetes discovery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    pub enabled: KubernetesEnabled,
    /// Resolved against the config file's directory.
    pub kubeconfig: Option<PathBuf>,
    pub node_name: Option<String>,
    /// Empty: all namespaces.
    pub namespaces: Vec<String>,
    pub servicemonitors: bool,
    pub podmonitors: bool,
    pub annotations: bool,
    pub kubelet: bool,
    pub kubelet_insecure_skip_verify: bool,
    pub prometheus_rules: bool,
    /// `None`: every PrometheusRule.
    pub rule_selector: Option<LabelSelector>,
    /// `None`: every watched namespace.
    pub rule_namespace_selector: Option<LabelSelector>,
    pub lease_name: String,
    pub lease_namespace: Option<String>,
    pub lease_duration: Duration,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            enabled: KubernetesEnabled::Auto,
            kubeconfig: None,
            node_name: None,
            namespaces: Vec::new(),
            servicemonitors: true,
            podmonitors: true,
            annotations: true,
            kubelet: true,
            kubelet_insecure_skip_verify: false,
            prometheus_rules: true,
            rule_selector: None,
            rule_namespace_selector: None,
            lease_name: DEFAULT_LEASE_NAME.to_string(),
            lease_namespace: None,
            lease_duration: DEFAULT_LEASE_DURATION,
        }
    }
}

/// A Kubernetes object name as DNS-1123 labels allow (namespaces, Leases, nodes).
fn is_dns_name(s: &str, allow_dots: bool) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
        && (allow_dots || !s.contains('.'))
}

impl RawKubernetesConfig {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<KubernetesConfig> {
        let ns_path = field(path, "namespaces");
        for (i, ns) in self.namespaces.iter().enumerate() {
            if !is_dns_name(ns, false) {
                return Err(ctx.invalid(
                    &index(&ns_path, i),
                    format_args!("invalid namespace name {ns:?}"),
                ));
            }
        }
        let non_empty = |v: &Option<String>, name: &str, dots: bool| -> Result<Option<String>> {
            match v.as_deref() {
                None => Ok(None),
                Some(s) if is_dns_name(s, dots) => Ok(Some(s.to_string())),
                Some(s) => Err(ctx.invalid(
                    &field(path, name),
                    format_args!("invalid {name} {s:?}: not a Kubernetes object name"),
                )),
            }
        };
        let node_name = non_empty(&self.node_name, "node_name", true)?;
        let lease_name = non_empty(&self.lease_name, "lease_name", true)?
            .unwrap_or_else(|| DEFAULT_LEASE_NAME.to_string());
        let lease_namespace = non_empty(&self.lease_namespace, "lease_namespace", false)?;
        let lease_duration = match self.lease_duration {
            Some(PromDuration(d)) if d < Duration::from_secs(2) => {
                return Err(ctx.invalid(
                    &field(path, "lease_duration"),
                    "lease_duration must be at least 2s",
                ));
            }
            Some(PromDuration(d)) => d,
            None => DEFAULT_LEASE_DURATION,
        };
        let kubeconfig = match self.kubeconfig.as_deref() {
            None => None,
            Some("") => {
                return Err(ctx.invalid(&field(path, "kubeconfig"), "kubeconfig is empty"));
            }
            Some(p) => Some(ctx.resolve(p)),
        };
        let selector = |raw: &Option<RawLabelSelector>, name: &str| {
            raw.as_ref()
                .map(|s| s.check(ctx, &field(path, name)))
                .transpose()
        };
        let rule_selector = selector(&self.rule_selector, "rule_selector")?;
        let rule_namespace_selector =
            selector(&self.rule_namespace_selector, "rule_namespace_selector")?;
        let mut namespaces = self.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        Ok(KubernetesConfig {
            enabled: self.enabled,
            kubeconfig,
            node_name,
            namespaces,
            servicemonitors: self.servicemonitors.unwrap_or(true),
            podmonitors: self.podmonitors.unwrap_or(true),
            annotations: self.annotations.unwrap_or(true),
            kubelet: self.kubelet.unwrap_or(true),
            kubelet_insecure_skip_verify: self.kubelet_insecure_skip_verify,
            prometheus_rules: self.prometheus_rules.unwrap_or(true),
            rule_selector,
            rule_namespace_selector,
            lease_name,
            lease_namespace,
            lease_duration,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{KubernetesEnabled, load_str};
    use std::time::Duration;

    #[test]
    fn defaults_when_absent_or_null() {
        for text in ["", "kubernetes:\n", "kubernetes: {}\n"] {
            let c = load_str(text, "t.yaml").expect("loads");
            assert_eq!(c.kubernetes, crate::KubernetesConfig::default(), "{text:?}");
            assert_eq!(c.kubernetes.enabled, KubernetesEnabled::Auto);
            assert!(c.kubernetes.servicemonitors && c.kubernetes.kubelet);
            assert!(c.kubernetes.prometheus_rules && c.kubernetes.rule_selector.is_none());
        }
    }

    #[test]
    fn full_section() {
        let c = load_str(
            "kubernetes:\n  enabled: false\n  kubeconfig: kc.yaml\n  node_name: node-1\n  namespaces: [b, a, b]\n  servicemonitors: false\n  podmonitors: false\n  annotations: false\n  kubelet: false\n  prometheus_rules: false\n  kubelet_insecure_skip_verify: true\n  lease_name: l\n  lease_namespace: mon\n  lease_duration: 30s\n",
            "t.yaml",
        )
        .expect("loads");
        let k = c.kubernetes;
        assert_eq!(k.enabled, KubernetesEnabled::Off);
        assert_eq!(
            k.kubeconfig.as_deref(),
            Some(std::path::Path::new("kc.yaml"))
        );
        assert_eq!(k.node_name.as_deref(), Some("node-1"));
        assert_eq!(k.namespaces, vec!["a", "b"]);
        assert!(!k.servicemonitors && !k.podmonitors && !k.annotations && !k.kubelet);
        assert!(!k.prometheus_rules);
        assert!(k.kubelet_insecure_skip_verify);
        assert_eq!(k.lease_name, "l");
        assert_eq!(k.lease_namespace.as_deref(), Some("mon"));
        assert_eq!(k.lease_duration, Duration::from_secs(30));
        let on = load_str("kubernetes:\n  enabled: true\n", "t.yaml").expect("loads");
        assert_eq!(on.kubernetes.enabled, KubernetesEnabled::On);
        let auto = load_str("kubernetes:\n  enabled: auto\n", "t.yaml").expect("loads");
        assert_eq!(auto.kubernetes.enabled, KubernetesEnabled::Auto);
    }

    #[test]
    fn bad_values_are_positioned_errors() {
        let cases = [
            ("kubernetes:\n  enabled: maybe\n", 2, "auto, true or false"),
            ("kubernetes:\n  bogus: 1\n", 2, "unknown field"),
            (
                "kubernetes:\n  namespaces: [ok, Not_OK]\n",
                2,
                "invalid namespace name",
            ),
            ("kubernetes:\n  node_name: \"\"\n", 2, "node_name"),
            ("kubernetes:\n  lease_duration: 1s\n", 2, "at least 2s"),
            (
                "kubernetes:\n  lease_namespace: a.b\n",
                2,
                "lease_namespace",
            ),
            (
                "kubernetes:\n  kubeconfig: \"\"\n",
                2,
                "kubeconfig is empty",
            ),
        ];
        for (text, line, want) in cases {
            let e = load_str(text, "t.yaml").expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.contains(&format!("t.yaml:{line}:")), "{text:?}: {e}");
        }
    }
}
