//! The `__meta_kubernetes_*` labels of Prometheus' `pod` and `endpointslice` discovery roles,
//! built from the watched objects so relabel rules written for Prometheus (and the chains the
//! Prometheus Operator generates) see exactly the labels they expect.
//!
//! Pod role: one group per pod (pod labels on the group), one target per container port
//! (`podIP:port`), or one per port-less container (`podIP`). Pods without an IP yield nothing.
//! EndpointSlice role: one group per slice (slice and Service labels on the group), one target
//! per endpoint × port; an endpoint backed by a known pod also carries the pod's labels and
//! the matching container's, and that pod's container ports not served by the slice become
//! extra targets, as Prometheus does.
//!
//! Invariant: label names are sanitized the way Prometheus does (`[^a-zA-Z0-9_]` → `_`).
//! Cost: a few allocations per label per target; runs on discovery changes only.

use crate::discovery::TargetGroup;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use lookout_store::{Label, Labels};
use std::collections::{BTreeMap, HashSet};

pub const NAMESPACE: &str = "__meta_kubernetes_namespace";
const POD: &str = "__meta_kubernetes_pod_";
const EPS: &str = "__meta_kubernetes_endpointslice_";

/// Prometheus' `strutil.SanitizeLabelName`: every byte outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn push(v: &mut Vec<Label>, name: impl Into<String>, value: impl Into<String>) {
    v.push(Label {
        name: name.into(),
        value: value.into(),
    });
}

/// `<prefix>label_<k>`, `<prefix>labelpresent_<k>` (and the same for annotations).
fn push_map(v: &mut Vec<Label>, prefix: &str, what: &str, m: Option<&BTreeMap<String, String>>) {
    for (k, val) in m.into_iter().flatten() {
        let k = sanitize(k);
        push(v, format!("{prefix}{what}_{k}"), val.clone());
        push(v, format!("{prefix}{what}present_{k}"), "true");
    }
}

/// `host:port`, bracketing IPv6 addresses.
pub fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `__meta_kubernetes_namespace_label_*` (Prometheus' `attach_metadata: namespace`).
pub fn namespace_labels(v: &mut Vec<Label>, ns: Option<&Namespace>) {
    if let Some(ns) = ns {
        push_map(
            v,
            "__meta_kubernetes_namespace_",
            "label",
            ns.metadata.labels.as_ref(),
        );
        push_map(
            v,
            "__meta_kubernetes_namespace_",
            "annotation",
            ns.metadata.annotations.as_ref(),
        );
    }
}

fn pod_ready(pod: &Pod) -> &'static str {
    let cond = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    match cond.map(|c| c.status.as_str()) {
        Some("True") => "true",
        Some("False") => "false",
        _ => "unknown",
    }
}

/// The pod-level labels (Prometheus' `podLabels`), namespace included.
pub fn pod_labels(pod: &Pod) -> Vec<Label> {
    let mut v = Vec::with_capacity(16);
    let m = &pod.metadata;
    let status = pod.status.as_ref();
    push(&mut v, NAMESPACE, m.namespace.clone().unwrap_or_default());
    push(
        &mut v,
        format!("{POD}name"),
        m.name.clone().unwrap_or_default(),
    );
    push(
        &mut v,
        format!("{POD}ip"),
        status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
    );
    push(&mut v, format!("{POD}ready"), pod_ready(pod));
    push(
        &mut v,
        format!("{POD}phase"),
        status.and_then(|s| s.phase.clone()).unwrap_or_default(),
    );
    push(
        &mut v,
        format!("{POD}node_name"),
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
    );
    push(
        &mut v,
        format!("{POD}host_ip"),
        status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
    );
    push(
        &mut v,
        format!("{POD}uid"),
        m.uid.clone().unwrap_or_default(),
    );
    if let Some(owner) = m
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        push(&mut v, format!("{POD}controller_kind"), owner.kind.clone());
        push(&mut v, format!("{POD}controller_name"), owner.name.clone());
    }
    push_map(&mut v, POD, "label", m.labels.as_ref());
    push_map(&mut v, POD, "annotation", m.annotations.as_ref());
    v
}

/// The pod's IP, if it has one.
pub fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// Every container (regular then init) with its `init` flag.
fn containers(pod: &Pod) -> Vec<(&k8s_openapi::api::core::v1::Container, bool)> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let mut out: Vec<_> = spec.containers.iter().map(|c| (c, false)).collect();
    out.extend(spec.init_containers.iter().flatten().map(|c| (c, true)));
    out
}

fn container_id(pod: &Pod, name: &str, init: bool) -> Option<String> {
    let s = pod.status.as_ref()?;
    let list = if init {
        s.init_container_statuses.as_ref()
    } else {
        s.container_statuses.as_ref()
    };
    list?
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.container_id.clone())
}

fn container_labels(
    v: &mut Vec<Label>,
    pod: &Pod,
    c: &k8s_openapi::api::core::v1::Container,
    init: bool,
) {
    push(v, format!("{POD}container_name"), c.name.clone());
    push(
        v,
        format!("{POD}container_image"),
        c.image.clone().unwrap_or_default(),
    );
    push(
        v,
        format!("{POD}container_init"),
        if init { "true" } else { "false" },
    );
    if let Some(id) = container_id(pod, &c.name, init) {
        push(v, format!("{POD}container_id"), id);
    }
}

fn port_labels(v: &mut Vec<Label>, p: &k8s_openapi::api::core::v1::ContainerPort) {
    push(
        v,
        format!("{POD}container_port_name"),
        p.name.clone().unwrap_or_default(),
    );
    push(
        v,
        format!("{POD}container_port_number"),
        p.container_port.to_string(),
    );
    push(
        v,
        format!("{POD}container_port_protocol"),
        p.protocol.clone().unwrap_or_else(|| "TCP".into()),
    );
}

/// The pod role's group for one pod (`None` without a pod IP). `extra` is added to the group
/// labels (e.g. namespace metadata).
pub fn pod_group(pod: &Pod, extra: &[Label]) -> Option<TargetGroup> {
    let ip = pod_ip(pod)?;
    let mut targets = Vec::new();
    for (c, init) in containers(pod) {
        let ports = c.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            let mut t = Vec::with_capacity(6);
            push(&mut t, "__address__", ip);
            container_labels(&mut t, pod, c, init);
            targets.push(Labels::from_vec(t));
            continue;
        }
        for p in ports {
            let mut t = Vec::with_capacity(8);
            push(&mut t, "__address__", join_host_port(ip, p.container_port));
            container_labels(&mut t, pod, c, init);
            port_labels(&mut t, p);
            targets.push(Labels::from_vec(t));
        }
    }
    let mut labels = pod_labels(pod);
    labels.extend(extra.iter().cloned());
    Some(TargetGroup {
        source: format!(
            "pod/{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        ),
        targets,
        labels: Labels::from_vec(labels),
    })
}

/// Prometheus' `addServiceLabels`.
pub fn service_labels(v: &mut Vec<Label>, svc: &Service) {
    let m = &svc.metadata;
    push(
        v,
        "__meta_kubernetes_service_name",
        m.name.clone().unwrap_or_default(),
    );
    push_map(v, "__meta_kubernetes_service_", "label", m.labels.as_ref());
    push_map(
        v,
        "__meta_kubernetes_service_",
        "annotation",
        m.annotations.as_ref(),
    );
}

fn flag(v: &mut Vec<Label>, name: &str, b: Option<bool>) {
    if let Some(b) = b {
        push(v, format!("{EPS}{name}"), if b { "true" } else { "false" });
    }
}

/// Labels of one endpoint (without port and pod labels).
fn endpoint_labels(v: &mut Vec<Label>, ep: &Endpoint) {
    if let Some(r) = &ep.target_ref {
        push(
            v,
            format!("{EPS}address_target_kind"),
            r.kind.clone().unwrap_or_default(),
        );
        push(
            v,
            format!("{EPS}address_target_name"),
            r.name.clone().unwrap_or_default(),
        );
    }
    if let Some(c) = &ep.conditions {
        flag(v, "endpoint_conditions_ready", c.ready);
        flag(v, "endpoint_conditions_serving", c.serving);
        flag(v, "endpoint_conditions_terminating", c.terminating);
    }
    if let Some(h) = &ep.hostname {
        push(v, format!("{EPS}endpoint_hostname"), h.clone());
    }
    if let Some(n) = &ep.node_name {
        push(v, format!("{EPS}endpoint_node_name"), n.clone());
    }
    if let Some(z) = &ep.zone {
        push(v, format!("{EPS}endpoint_zone"), z.clone());
    }
}

/// The endpointslice role's group for one slice. `owns` decides, per endpoint, whether this
/// agent scrapes it; `pod_of` finds the pod behind an endpoint (only pods this agent sees).
/// Returns `None` when no target of the slice belongs to this agent.
pub fn endpointslice_group<'p>(
    eps: &EndpointSlice,
    svc: Option<&Service>,
    extra: &[Label],
    owns: impl Fn(&Endpoint) -> bool,
    pod_of: impl Fn(&Endpoint) -> Option<&'p Pod>,
) -> Option<TargetGroup> {
    let ns = eps.metadata.namespace.as_deref().unwrap_or_default();
    let name = eps.metadata.name.as_deref().unwrap_or_default();
    let ports = eps.ports.as_deref().unwrap_or_default();
    let mut targets = Vec::new();
    let mut seen_pods: Vec<(&Pod, HashSet<(i32, String)>)> = Vec::new();
    for ep in &eps.endpoints {
        if !owns(ep) {
            continue;
        }
        let Some(addr) = ep.addresses.first() else {
            continue;
        };
        let pod = pod_of(ep);
        let mut base = Vec::with_capacity(24);
        endpoint_labels(&mut base, ep);
        if let Some(p) = pod {
            base.extend(pod_labels(p));
        }
        let mut served = HashSet::new();
        for port in ports {
            let mut t = base.clone();
            let number = port.port.unwrap_or_default();
            let proto = port.protocol.clone().unwrap_or_else(|| "TCP".into());
            push(&mut t, "__address__", join_host_port(addr, number));
            push(&mut t, format!("{EPS}port"), number.to_string());
            if let Some(n) = &port.name {
                push(&mut t, format!("{EPS}port_name"), n.clone());
            }
            push(&mut t, format!("{EPS}port_protocol"), proto.clone());
            if let Some(a) = &port.app_protocol {
                push(&mut t, format!("{EPS}port_app_protocol"), a.clone());
            }
            if let Some(p) = pod {
                'found: for (c, init) in containers(p) {
                    for cp in c.ports.iter().flatten() {
                        let cproto = cp.protocol.as_deref().unwrap_or("TCP");
                        if cp.container_port == number && cproto == proto {
                            container_labels(&mut t, p, c, init);
                            port_labels(&mut t, cp);
                            break 'found;
                        }
                    }
                }
            }
            served.insert((number, proto));
            targets.push(Labels::from_vec(t));
        }
        if let Some(p) = pod {
            match seen_pods.iter_mut().find(|(q, _)| std::ptr::eq(*q, p)) {
                Some((_, s)) => s.extend(served),
                None => seen_pods.push((p, served)),
            }
        }
    }
    // Container ports of the pods seen above that no endpoint serves.
    for (p, served) in &seen_pods {
        let Some(ip) = pod_ip(p) else { continue };
        for (c, init) in containers(p) {
            for cp in c.ports.iter().flatten() {
                let proto = cp.protocol.clone().unwrap_or_else(|| "TCP".into());
                if served.contains(&(cp.container_port, proto)) {
                    continue;
                }
                let mut t = pod_labels(p);
                push(&mut t, "__address__", join_host_port(ip, cp.container_port));
                container_labels(&mut t, p, c, init);
                port_labels(&mut t, cp);
                targets.push(Labels::from_vec(t));
            }
        }
    }
    if targets.is_empty() {
        return None;
    }
    let mut labels = Vec::with_capacity(16);
    push(&mut labels, NAMESPACE, ns);
    push(&mut labels, format!("{EPS}name"), name);
    push(
        &mut labels,
        format!("{EPS}address_type"),
        eps.address_type.clone(),
    );
    push_map(&mut labels, EPS, "label", eps.metadata.labels.as_ref());
    push_map(
        &mut labels,
        EPS,
        "annotation",
        eps.metadata.annotations.as_ref(),
    );
    if let Some(s) = svc {
        service_labels(&mut labels, s);
    }
    labels.extend(extra.iter().cloned());
    Some(TargetGroup {
        source: format!("endpointslice/{ns}/{name}"),
        targets,
        labels: Labels::from_vec(labels),
    })
}
