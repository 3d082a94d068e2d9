//! The Prometheus Operator's `ServiceMonitor`, `PodMonitor` and `PrometheusRule`
//! (`monitoring.coreos.com/v1`): our own serde types for the fields lookout uses, and the
//! `kube::Resource` glue so kube-rs can list and watch them.
//!
//! Decoding is lenient on purpose: unknown fields (newer CRD versions, fields lookout ignores)
//! are skipped, so an object the Operator accepts never stops discovery. Fields that change
//! what is scraped and that lookout does not implement are reported by
//! [`Endpoint::unsupported`] so the job can be refused with a clear error rather than
//! scraped wrongly. Cost: one decode per watch event.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// `spec.namespaceSelector`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    #[serde(default)]
    pub any: bool,
    #[serde(default)]
    pub match_names: Vec<String>,
}

/// A key of a Secret in the monitor's namespace.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKeySelector {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
}

/// A Secret or ConfigMap key (`tlsConfig.ca`, `tlsConfig.cert`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretOrConfigMap {
    pub secret: Option<SecretKeySelector>,
    pub config_map: Option<SecretKeySelector>,
}

/// `tlsConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsConfig {
    pub ca: Option<SecretOrConfigMap>,
    pub cert: Option<SecretOrConfigMap>,
    pub key_secret: Option<SecretKeySelector>,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `basicAuth`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BasicAuth {
    pub username: Option<SecretKeySelector>,
    pub password: Option<SecretKeySelector>,
}

/// `authorization`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub credentials: Option<SecretKeySelector>,
}

/// A relabel rule as the CRDs write it (camelCase).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    pub separator: Option<String>,
    pub target_label: Option<String>,
    pub regex: Option<String>,
    pub modulus: Option<u64>,
    pub replacement: Option<String>,
    pub action: Option<String>,
}

/// A ServiceMonitor `endpoints[]` or PodMonitor `podMetricsEndpoints[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub port: Option<String>,
    pub target_port: Option<IntOrString>,
    pub path: Option<String>,
    pub scheme: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    pub interval: Option<String>,
    pub scrape_timeout: Option<String>,
    #[serde(default)]
    pub honor_labels: bool,
    pub honor_timestamps: Option<bool>,
    #[serde(default)]
    pub relabelings: Vec<RelabelConfig>,
    #[serde(default)]
    pub metric_relabelings: Vec<RelabelConfig>,
    pub tls_config: Option<TlsConfig>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token_secret: Option<SecretKeySelector>,
    pub bearer_token_file: Option<String>,
    pub filter_running: Option<bool>,
    pub follow_redirects: Option<bool>,
    #[serde(rename = "enableHttp2", alias = "enableHTTP2")]
    pub enable_http2: Option<bool>,
    pub proxy_url: Option<String>,
    /// Present only to be refused (lookout has no OAuth2 client).
    pub oauth2: Option<serde_json::Value>,
}

impl Endpoint {
    /// Settings lookout does not implement; a job using one is refused.
    pub fn unsupported(&self) -> Option<&'static str> {
        if self.oauth2.is_some() {
            return Some("oauth2");
        }
        None
    }
}

/// `ServiceMonitor.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub job_label: Option<String>,
    #[serde(default)]
    pub target_labels: Vec<String>,
    #[serde(default)]
    pub pod_target_labels: Vec<String>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub selector: LabelSelector,
    pub namespace_selector: Option<NamespaceSelector>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
}

/// `PodMonitor.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitorSpec {
    pub job_label: Option<String>,
    #[serde(default)]
    pub pod_target_labels: Vec<String>,
    #[serde(default)]
    pub pod_metrics_endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub selector: LabelSelector,
    pub namespace_selector: Option<NamespaceSelector>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
}

/// A `monitoring.coreos.com/v1` ServiceMonitor.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceMonitor {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceMonitorSpec,
}

/// A `monitoring.coreos.com/v1` PodMonitor.
#[derive(Debug, Clone, Deserialize)]
pub struct PodMonitor {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodMonitorSpec,
}

/// A `monitoring.coreos.com/v1` PrometheusRule. The spec stays JSON until
/// [`super::prometheus_rules`] checks it like a rule file, so one malformed object is rejected
/// on its own instead of failing the whole watch.
#[derive(Debug, Clone, Deserialize)]
pub struct PrometheusRule {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: serde_json::Value,
}

macro_rules! crd_resource {
    ($t:ty, $kind:literal, $plural:literal) => {
        impl kube::Resource for $t {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("monitoring.coreos.com")
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

crd_resource!(ServiceMonitor, "ServiceMonitor", "servicemonitors");
crd_resource!(PodMonitor, "PodMonitor", "podmonitors");
crd_resource!(PrometheusRule, "PrometheusRule", "prometheusrules");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_real_shaped_service_monitor_and_skips_unknown_fields() {
        let sm: ServiceMonitor = serde_json::from_value(serde_json::json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "x", "namespace": "ns"},
            "spec": {
                "jobLabel": "app.kubernetes.io/name",
                "selector": {"matchLabels": {"app": "x"}},
                "endpoints": [{"port": "web", "interval": "30s", "someFutureField": 1,
                    "bearerTokenSecret": {"name": "s", "key": "t"},
                    "enableHttp2": false,
                    "relabelings": [{"sourceLabels": ["a"], "targetLabel": "b", "action": "Replace"}]},
                    {"targetPort": 8080}],
                "scrapeClass": "ignored"
            }
        }))
        .expect("decodes");
        assert_eq!(sm.spec.endpoints.len(), 2);
        let e = &sm.spec.endpoints[0];
        assert_eq!(e.port.as_deref(), Some("web"));
        assert_eq!(e.enable_http2, Some(false));
        assert_eq!(e.relabelings[0].target_label.as_deref(), Some("b"));
        assert_eq!(
            sm.spec.endpoints[1].target_port,
            Some(IntOrString::Int(8080))
        );
        assert_eq!(
            <ServiceMonitor as kube::Resource>::url_path(&(), Some("ns")),
            "/apis/monitoring.coreos.com/v1/namespaces/ns/servicemonitors"
        );
    }
}
