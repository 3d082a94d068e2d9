//! ServiceMonitor / PodMonitor endpoints → scrape jobs, as the Prometheus Operator generates
//! them: one job per endpoint, named `serviceMonitor/<ns>/<name>/<i>` or
//! `podMonitor/<ns>/<name>/<i>`, with the Operator's relabel chain (written here from its
//! documented behaviour): remember the job name, keep the selected Service's (or Pod's) labels
//! and the endpoint's port, set `node`/`pod` from the target ref, `namespace`, `service`,
//! `pod`, `container`, drop Failed/Succeeded pods, copy `targetLabels`/`podTargetLabels`, set
//! `job` (Service name, PodMonitor `<ns>/<name>`, or the `jobLabel` label) and `endpoint`,
//! then the user's `relabelings`.
//!
//! Secrets (`basicAuth`, `authorization`, `bearerTokenSecret`, `tlsConfig` keys) are looked up
//! through the caller's `secret` function (the monitor's namespace) and inlined; a missing
//! Secret or key refuses the job with an error naming it. `tlsConfig` ConfigMap references are
//! refused (lookout may not read ConfigMaps). Cost: regex compilation per rule; callers cache
//! jobs by object version.

use super::crd::{
    Endpoint, PodMonitor, RelabelConfig as CrdRelabel, SecretKeySelector, ServiceMonitor,
};
use super::meta::sanitize;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use lookout_config::relabel::{RawRelabelConfig, RelabelConfig};
use lookout_config::{
    Authorization, BasicAuth, GlobalConfig, HttpClientConfig, Scheme, ScrapeConfig, Secret,
    SecretSource, TlsConfig,
};

/// Resolves a key of a Secret in the monitor's namespace.
pub type SecretFn<'a> = &'a dyn Fn(&SecretKeySelector) -> Result<String, String>;

fn rule(
    src: &[&str],
    target: &str,
    regex: Option<&str>,
    repl: Option<&str>,
    action: Option<&str>,
) -> RawRelabelConfig {
    RawRelabelConfig {
        source_labels: src.iter().map(|s| s.to_string()).collect(),
        separator: None,
        target_label: (!target.is_empty()).then(|| target.to_string()),
        regex: regex.map(str::to_string),
        modulus: None,
        replacement: repl.map(str::to_string),
        action: action.map(str::to_string),
    }
}

fn keep(src: &[&str], regex: &str) -> RawRelabelConfig {
    rule(src, "", Some(regex), None, Some("keep"))
}

fn drop(src: &[&str], regex: &str) -> RawRelabelConfig {
    rule(src, "", Some(regex), None, Some("drop"))
}

/// `source → target` with `(.+)` / `${1}` (copy when non-empty).
fn copy_nonempty(src: &str, target: &str) -> RawRelabelConfig {
    rule(&[src], target, Some("(.+)"), Some("${1}"), None)
}

/// The selector as keep/drop rules over `<prefix>label_<k>` / `<prefix>labelpresent_<k>`.
fn selector_rules(out: &mut Vec<RawRelabelConfig>, sel: &LabelSelector, prefix: &str) {
    for (k, v) in sel.match_labels.iter().flatten() {
        let k = sanitize(k);
        let (l, p) = (
            format!("{prefix}label_{k}"),
            format!("{prefix}labelpresent_{k}"),
        );
        out.push(keep(&[&l, &p], &format!("({v});true")));
    }
    for e in sel.match_expressions.iter().flatten() {
        let k = sanitize(&e.key);
        let (l, p) = (
            format!("{prefix}label_{k}"),
            format!("{prefix}labelpresent_{k}"),
        );
        let vals = e.values.as_deref().unwrap_or_default().join("|");
        match e.operator.as_str() {
            "In" => out.push(keep(&[&l, &p], &format!("({vals});true"))),
            "NotIn" => out.push(drop(&[&l, &p], &format!("({vals});true"))),
            "Exists" => out.push(keep(&[&p], "true")),
            "DoesNotExist" => out.push(drop(&[&p], "true")),
            _ => {}
        }
    }
}

fn target_port_string(tp: &IntOrString) -> String {
    match tp {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn user_rule(r: &CrdRelabel) -> RawRelabelConfig {
    RawRelabelConfig {
        source_labels: r.source_labels.clone(),
        separator: r.separator.clone(),
        target_label: r.target_label.clone().filter(|s| !s.is_empty()),
        regex: r.regex.clone().filter(|s| !s.is_empty()),
        modulus: r.modulus.filter(|m| *m != 0),
        replacement: r.replacement.clone(),
        action: r
            .action
            .as_ref()
            .filter(|a| !a.is_empty())
            .map(|a| a.to_lowercase()),
    }
}

fn check_rules(raw: &[RawRelabelConfig], what: &str) -> Result<Vec<RelabelConfig>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| RelabelConfig::from_raw(r).map_err(|e| format!("{what}[{i}]: {e}")))
        .collect()
}

/// Limits a monitor may set (`spec.sampleLimit` etc.).
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub sample: Option<u64>,
    pub label: Option<u64>,
    pub label_name_length: Option<u64>,
    pub label_value_length: Option<u64>,
}

fn duration(v: &Option<String>, what: &str) -> Result<Option<std::time::Duration>, String> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match lookout_config::duration::parse(s) {
            Ok(d) if !d.is_zero() => Ok(Some(d)),
            Ok(_) => Err(format!("{what} must be greater than 0")),
            Err(e) => Err(format!("{what} {s:?}: {e}")),
        },
    }
}

fn inline(v: String) -> SecretSource {
    SecretSource::Inline(Secret::new(v))
}

/// The endpoint's HTTP client settings, with Secret values inlined.
fn http_config(ep: &Endpoint, secret: SecretFn<'_>) -> Result<HttpClientConfig, String> {
    let mut http = HttpClientConfig::default();
    if let Some(t) = &ep.tls_config {
        let from = |s: &Option<super::crd::SecretOrConfigMap>,
                    what: &str|
         -> Result<Option<SecretSource>, String> {
            match s {
                None => Ok(None),
                Some(x) if x.config_map.is_some() => Err(format!(
                    "tlsConfig.{what}.configMap is not supported (lookout reads Secrets only)"
                )),
                Some(x) => x.secret.as_ref().map(|k| secret(k).map(inline)).transpose(),
            }
        };
        let file = |f: &Option<String>| {
            f.as_ref()
                .filter(|s| !s.is_empty())
                .map(|p| SecretSource::File(p.into()))
        };
        http.tls_config = TlsConfig {
            ca: from(&t.ca, "ca")?.or_else(|| file(&t.ca_file)),
            cert: from(&t.cert, "cert")?.or_else(|| file(&t.cert_file)),
            key: t
                .key_secret
                .as_ref()
                .map(|k| secret(k).map(inline))
                .transpose()?
                .or_else(|| file(&t.key_file)),
            server_name: t.server_name.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: t.insecure_skip_verify,
            min_version: None,
            max_version: None,
        };
        if http.tls_config.cert.is_some() != http.tls_config.key.is_some() {
            return Err(
                "tlsConfig: a client certificate needs a key and a key needs a certificate".into(),
            );
        }
    }
    let mut auths = 0;
    if let Some(b) = &ep.basic_auth {
        auths += 1;
        let user = b
            .username
            .as_ref()
            .map(secret)
            .transpose()?
            .unwrap_or_default();
        let password = b.password.as_ref().map(secret).transpose()?;
        http.basic_auth = Some(BasicAuth {
            username: inline(user),
            password: password.map(inline),
        });
    }
    if let Some(a) = &ep.authorization {
        auths += 1;
        let type_ = a
            .type_
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Bearer".into());
        if type_.eq_ignore_ascii_case("basic") {
            return Err("authorization.type Basic is not allowed (use basicAuth)".into());
        }
        http.authorization = Some(Authorization {
            type_,
            credentials: a.credentials.as_ref().map(secret).transpose()?.map(inline),
        });
    }
    if let Some(s) = ep
        .bearer_token_secret
        .as_ref()
        .filter(|s| !s.name.is_empty())
    {
        auths += 1;
        http.bearer_token = Some(inline(secret(s)?));
    } else if let Some(f) = ep.bearer_token_file.as_ref().filter(|f| !f.is_empty()) {
        auths += 1;
        http.bearer_token = Some(SecretSource::File(f.into()));
    }
    if auths > 1 {
        return Err("at most one of basicAuth, authorization and bearerTokenSecret/bearerTokenFile may be set".into());
    }
    if let Some(f) = ep.follow_redirects {
        http.follow_redirects = f;
    }
    if let Some(h) = ep.enable_http2 {
        http.enable_http2 = h;
    }
    if ep.proxy_url.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err("proxyUrl is not supported".into());
    }
    Ok(http)
}

/// The parts shared by both monitor kinds.
fn base_config(
    job_name: String,
    ep: &Endpoint,
    limits: Limits,
    global: &GlobalConfig,
    secret: SecretFn<'_>,
    relabel: Vec<RawRelabelConfig>,
) -> Result<ScrapeConfig, String> {
    if let Some(what) = ep.unsupported() {
        return Err(format!("{what} is not supported"));
    }
    let interval = duration(&ep.interval, "interval")?.unwrap_or(global.scrape_interval);
    let timeout = match duration(&ep.scrape_timeout, "scrapeTimeout")? {
        Some(t) if t > interval => {
            return Err(format!(
                "scrapeTimeout {} greater than interval {}",
                lookout_config::duration::format(t),
                lookout_config::duration::format(interval)
            ));
        }
        Some(t) => t,
        None => global.scrape_timeout.min(interval),
    };
    let metrics_path = match ep.path.as_deref().filter(|p| !p.is_empty()) {
        None => lookout_config::DEFAULT_METRICS_PATH.to_string(),
        Some(p)
            if p.starts_with('/')
                && !p.contains(['?', '#'])
                && !p.contains(char::is_whitespace) =>
        {
            p.to_string()
        }
        Some(p) => return Err(format!("invalid path {p:?}")),
    };
    let scheme = match ep.scheme.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(s) => return Err(format!("invalid scheme {s:?}")),
    };
    let metric_raw: Vec<RawRelabelConfig> = ep.metric_relabelings.iter().map(user_rule).collect();
    Ok(ScrapeConfig {
        job_name,
        scrape_interval: interval,
        scrape_timeout: timeout,
        metrics_path,
        scheme,
        params: ep.params.clone(),
        honor_labels: ep.honor_labels,
        honor_timestamps: ep.honor_timestamps.unwrap_or(true),
        sample_limit: limits.sample.unwrap_or(global.sample_limit),
        label_limit: limits.label.unwrap_or(global.label_limit),
        label_name_length_limit: limits
            .label_name_length
            .unwrap_or(global.label_name_length_limit),
        label_value_length_limit: limits
            .label_value_length
            .unwrap_or(global.label_value_length_limit),
        body_size_limit: global.body_size_limit,
        http: http_config(ep, secret)?,
        static_configs: Vec::new(),
        file_sd_configs: Vec::new(),
        relabel_configs: check_rules(&relabel, "relabelings")?,
        metric_relabel_configs: check_rules(&metric_raw, "metricRelabelings")?,
    })
}

/// The job name of ServiceMonitor endpoint `i`.
pub fn service_monitor_job(ns: &str, name: &str, i: usize) -> String {
    format!("serviceMonitor/{ns}/{name}/{i}")
}

/// The job name of PodMonitor endpoint `i`.
pub fn pod_monitor_job(ns: &str, name: &str, i: usize) -> String {
    format!("podMonitor/{ns}/{name}/{i}")
}

/// The relabel chain for ServiceMonitor endpoint `ep` (before checking).
pub fn service_monitor_rules(sm: &ServiceMonitor, ep: &Endpoint) -> Vec<RawRelabelConfig> {
    let spec = &sm.spec;
    let mut r = vec![rule(
        &["job"],
        "__tmp_prometheus_job_name",
        None,
        None,
        None,
    )];
    selector_rules(&mut r, &spec.selector, "__meta_kubernetes_service_");
    if let Some(port) = ep.port.as_deref().filter(|p| !p.is_empty()) {
        r.push(keep(&["__meta_kubernetes_endpointslice_port_name"], port));
    } else if let Some(tp) = &ep.target_port {
        match tp {
            IntOrString::String(s) if !s.is_empty() => {
                r.push(keep(&["__meta_kubernetes_pod_container_port_name"], s));
            }
            IntOrString::Int(i) if *i != 0 => {
                r.push(keep(
                    &["__meta_kubernetes_pod_container_port_number"],
                    &i.to_string(),
                ));
            }
            _ => {}
        }
    }
    let kind_name = [
        "__meta_kubernetes_endpointslice_address_target_kind",
        "__meta_kubernetes_endpointslice_address_target_name",
    ];
    r.push(rule(
        &kind_name,
        "node",
        Some("Node;(.*)"),
        Some("${1}"),
        None,
    ));
    r.push(rule(
        &kind_name,
        "pod",
        Some("Pod;(.*)"),
        Some("${1}"),
        None,
    ));
    r.push(rule(
        &["__meta_kubernetes_namespace"],
        "namespace",
        None,
        None,
        None,
    ));
    r.push(rule(
        &["__meta_kubernetes_service_name"],
        "service",
        None,
        None,
        None,
    ));
    r.push(rule(
        &["__meta_kubernetes_pod_name"],
        "pod",
        None,
        None,
        None,
    ));
    r.push(rule(
        &["__meta_kubernetes_pod_container_name"],
        "container",
        None,
        None,
        None,
    ));
    if ep.filter_running.unwrap_or(true) {
        r.push(drop(&["__meta_kubernetes_pod_phase"], "(Failed|Succeeded)"));
    }
    for l in &spec.target_labels {
        let l = sanitize(l);
        r.push(copy_nonempty(
            &format!("__meta_kubernetes_service_label_{l}"),
            &l,
        ));
    }
    for l in &spec.pod_target_labels {
        let l = sanitize(l);
        r.push(copy_nonempty(
            &format!("__meta_kubernetes_pod_label_{l}"),
            &l,
        ));
    }
    r.push(rule(
        &["__meta_kubernetes_service_name"],
        "job",
        None,
        Some("${1}"),
        None,
    ));
    if let Some(jl) = spec.job_label.as_deref().filter(|j| !j.is_empty()) {
        r.push(copy_nonempty(
            &format!("__meta_kubernetes_service_label_{}", sanitize(jl)),
            "job",
        ));
    }
    endpoint_rule(&mut r, ep);
    r.extend(ep.relabelings.iter().map(user_rule));
    r
}

fn endpoint_rule(r: &mut Vec<RawRelabelConfig>, ep: &Endpoint) {
    if let Some(port) = ep.port.as_deref().filter(|p| !p.is_empty()) {
        r.push(rule(&[], "endpoint", None, Some(port), None));
    } else if let Some(tp) = ep
        .target_port
        .as_ref()
        .map(target_port_string)
        .filter(|s| !s.is_empty() && s != "0")
    {
        r.push(rule(&[], "endpoint", None, Some(&tp), None));
    }
}

/// The relabel chain for PodMonitor endpoint `ep` (before checking).
pub fn pod_monitor_rules(pm: &PodMonitor, ep: &Endpoint) -> Vec<RawRelabelConfig> {
    let spec = &pm.spec;
    let ns = pm.metadata.namespace.as_deref().unwrap_or_default();
    let name = pm.metadata.name.as_deref().unwrap_or_default();
    let mut r = vec![rule(
        &["job"],
        "__tmp_prometheus_job_name",
        None,
        None,
        None,
    )];
    if ep.filter_running.unwrap_or(true) {
        r.push(drop(&["__meta_kubernetes_pod_phase"], "(Failed|Succeeded)"));
    }
    selector_rules(&mut r, &spec.selector, "__meta_kubernetes_pod_");
    if let Some(port) = ep.port.as_deref().filter(|p| !p.is_empty()) {
        r.push(keep(&["__meta_kubernetes_pod_container_port_name"], port));
    } else if let Some(tp) = &ep.target_port {
        match tp {
            IntOrString::String(s) if !s.is_empty() => {
                r.push(keep(&["__meta_kubernetes_pod_container_port_name"], s));
            }
            IntOrString::Int(i) if *i != 0 => {
                r.push(keep(
                    &["__meta_kubernetes_pod_container_port_number"],
                    &i.to_string(),
                ));
            }
            _ => {}
        }
    }
    r.push(rule(
        &["__meta_kubernetes_namespace"],
        "namespace",
        None,
        None,
        None,
    ));
    r.push(rule(
        &["__meta_kubernetes_pod_container_name"],
        "container",
        None,
        None,
        None,
    ));
    r.push(rule(
        &["__meta_kubernetes_pod_name"],
        "pod",
        None,
        None,
        None,
    ));
    for l in &spec.pod_target_labels {
        let l = sanitize(l);
        r.push(copy_nonempty(
            &format!("__meta_kubernetes_pod_label_{l}"),
            &l,
        ));
    }
    r.push(rule(&[], "job", None, Some(&format!("{ns}/{name}")), None));
    if let Some(jl) = spec.job_label.as_deref().filter(|j| !j.is_empty()) {
        r.push(copy_nonempty(
            &format!("__meta_kubernetes_pod_label_{}", sanitize(jl)),
            "job",
        ));
    }
    endpoint_rule(&mut r, ep);
    r.extend(ep.relabelings.iter().map(user_rule));
    r
}

/// The scrape job of ServiceMonitor endpoint `i`.
pub fn service_monitor_config(
    sm: &ServiceMonitor,
    i: usize,
    global: &GlobalConfig,
    secret: SecretFn<'_>,
) -> Result<ScrapeConfig, String> {
    let ep = sm.spec.endpoints.get(i).ok_or("no such endpoint")?;
    let ns = sm.metadata.namespace.as_deref().unwrap_or_default();
    let name = sm.metadata.name.as_deref().unwrap_or_default();
    let s = &sm.spec;
    let limits = Limits {
        sample: s.sample_limit,
        label: s.label_limit,
        label_name_length: s.label_name_length_limit,
        label_value_length: s.label_value_length_limit,
    };
    base_config(
        service_monitor_job(ns, name, i),
        ep,
        limits,
        global,
        secret,
        service_monitor_rules(sm, ep),
    )
}

/// The scrape job of PodMonitor endpoint `i`.
pub fn pod_monitor_config(
    pm: &PodMonitor,
    i: usize,
    global: &GlobalConfig,
    secret: SecretFn<'_>,
) -> Result<ScrapeConfig, String> {
    let ep = pm
        .spec
        .pod_metrics_endpoints
        .get(i)
        .ok_or("no such endpoint")?;
    let ns = pm.metadata.namespace.as_deref().unwrap_or_default();
    let name = pm.metadata.name.as_deref().unwrap_or_default();
    let s = &pm.spec;
    let limits = Limits {
        sample: s.sample_limit,
        label: s.label_limit,
        label_name_length: s.label_name_length_limit,
        label_value_length: s.label_value_length_limit,
    };
    base_config(
        pod_monitor_job(ns, name, i),
        ep,
        limits,
        global,
        secret,
        pod_monitor_rules(pm, ep),
    )
}

/// Every Secret key an endpoint references.
pub fn secret_refs(ep: &Endpoint) -> Vec<&SecretKeySelector> {
    let mut v = Vec::new();
    if let Some(t) = &ep.tls_config {
        v.extend(t.ca.as_ref().and_then(|c| c.secret.as_ref()));
        v.extend(t.cert.as_ref().and_then(|c| c.secret.as_ref()));
        v.extend(t.key_secret.as_ref());
    }
    if let Some(b) = &ep.basic_auth {
        v.extend(b.username.as_ref());
        v.extend(b.password.as_ref());
    }
    if let Some(a) = &ep.authorization {
        v.extend(a.credentials.as_ref());
    }
    v.extend(
        ep.bearer_token_secret
            .as_ref()
            .filter(|s| !s.name.is_empty()),
    );
    v
}
