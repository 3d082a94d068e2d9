//! From a snapshot of the watched objects to this agent's scrape jobs and target groups.
//!
//! Sharding (see the module header of `kubernetes`): an endpoint belongs to this agent when its
//! `nodeName` is this node, or — without a `nodeName` — when it points at a pod this agent
//! watches (pods are watched for this node only). An endpoint with neither a node nor a pod
//! `targetRef` (the API server, manually managed slices) belongs to the Lease holder. Pod-role
//! jobs (PodMonitors, annotations) only ever see this node's pods.
//!
//! Jobs are cached by the monitor's uid + resourceVersion + the content of the Secrets it
//! references, so a change elsewhere recompiles no relabel rules. Groups are built once per
//! EndpointSlice / pod per pass and shared by every job that selects them.
//! Cost: O(monitors × services in their namespaces) selector tests plus O(slices + pods)
//! group builds per pass; passes run after a debounce, not per event.

use super::builtin::{self, KubeletAccess};
use super::crd::{PodMonitor, ServiceMonitor};
use super::meta;
use super::monitor;
use super::secrets::SecretCache;
use super::selector;
use crate::discovery::TargetGroup;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use lookout_config::{GlobalConfig, ScrapeConfig};
use lookout_store::Label;
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// The label EndpointSlices carry naming their Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The watched objects at one moment.
#[derive(Default, Clone)]
pub struct Snapshot {
    /// This node's pods only.
    pub pods: Vec<Arc<Pod>>,
    pub services: Vec<Arc<Service>>,
    pub slices: Vec<Arc<EndpointSlice>>,
    pub namespaces: Vec<Arc<Namespace>>,
    pub service_monitors: Vec<Arc<ServiceMonitor>>,
    pub pod_monitors: Vec<Arc<PodMonitor>>,
}

/// Which sources are on.
#[derive(Debug, Clone, Copy)]
pub struct Sources {
    pub service_monitors: bool,
    pub pod_monitors: bool,
    pub annotations: bool,
}

/// What one pass produces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generated {
    /// Generated jobs, sorted by name.
    pub configs: Vec<ScrapeConfig>,
    /// Each job's groups (every job in `configs` has an entry).
    pub groups: BTreeMap<String, Vec<TargetGroup>>,
    /// Jobs refused, with why (bad monitor fields, missing Secrets).
    pub errors: Vec<(String, String)>,
    /// Whether this agent held the Lease (scrapes node-less targets).
    pub leader: bool,
}

/// Compiled jobs kept across passes.
#[derive(Default)]
pub struct JobCache {
    jobs: HashMap<String, (u64, Result<ScrapeConfig, String>)>,
}

impl JobCache {
    pub fn clear(&mut self) {
        self.jobs.clear();
    }
}

/// Inputs of a pass other than the objects.
pub struct Context<'a> {
    pub node: &'a str,
    pub leader: bool,
    pub sources: Sources,
    pub global: &'a GlobalConfig,
    pub secrets: &'a SecretCache,
    pub kubelet: Option<&'a KubeletAccess>,
    /// `HOST_IP`, else a pod's `status.hostIP` is used.
    pub host_ip: Option<&'a str>,
}

fn key<'a>(ns: Option<&'a String>, name: Option<&'a String>) -> (&'a str, &'a str) {
    (
        ns.map(String::as_str).unwrap_or_default(),
        name.map(String::as_str).unwrap_or_default(),
    )
}

fn fingerprint(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    refs: &[&super::crd::SecretKeySelector],
    secrets: &SecretCache,
) -> u64 {
    let mut h = DefaultHasher::new();
    meta.uid.hash(&mut h);
    meta.resource_version.hash(&mut h);
    let ns = meta.namespace.as_deref().unwrap_or_default();
    for r in refs {
        r.name.hash(&mut h);
        secrets.fingerprint(ns, &r.name, &mut h);
    }
    h.finish()
}

/// A monitor endpoint's job: name, cache fingerprint, how to build it, its groups.
type Wanted<'a> = (
    String,
    u64,
    Box<dyn FnOnce() -> Result<ScrapeConfig, String> + 'a>,
    Vec<TargetGroup>,
);

/// Runs one pass.
pub fn generate(s: &Snapshot, cx: &Context<'_>, cache: &mut JobCache) -> Generated {
    let mut out = Generated {
        leader: cx.leader,
        ..Generated::default()
    };
    let pods: HashMap<(&str, &str), &Pod> = s
        .pods
        .iter()
        .map(|p| {
            (
                key(p.metadata.namespace.as_ref(), p.metadata.name.as_ref()),
                p.as_ref(),
            )
        })
        .collect();
    let ns_labels: HashMap<&str, Vec<Label>> = s
        .namespaces
        .iter()
        .map(|n| {
            let mut v = Vec::new();
            meta::namespace_labels(&mut v, Some(n));
            (n.metadata.name.as_deref().unwrap_or_default(), v)
        })
        .collect();
    let no_labels = Vec::new();
    let extra = |ns: &str| ns_labels.get(ns).unwrap_or(&no_labels);
    // Keyed by the pod's address: each pod of the snapshot is built once per pass.
    let mut pod_groups: HashMap<usize, Option<TargetGroup>> = HashMap::new();
    let mut pod_group = |p: &Pod| -> Option<TargetGroup> {
        pod_groups
            .entry(p as *const Pod as usize)
            .or_insert_with(|| {
                meta::pod_group(
                    p,
                    extra(p.metadata.namespace.as_deref().unwrap_or_default()),
                )
            })
            .clone()
    };
    let mut wanted: Vec<Wanted<'_>> = Vec::new();

    if cx.sources.service_monitors {
        let mut services_by_ns: HashMap<&str, Vec<&Service>> = HashMap::new();
        for svc in &s.services {
            services_by_ns
                .entry(svc.metadata.namespace.as_deref().unwrap_or_default())
                .or_default()
                .push(svc);
        }
        let mut slices_by_svc: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for eps in &s.slices {
            if let Some(svc) = eps
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            {
                slices_by_svc
                    .entry((
                        eps.metadata.namespace.as_deref().unwrap_or_default(),
                        svc.as_str(),
                    ))
                    .or_default()
                    .push(eps);
            }
        }
        let owns = |ep: &Endpoint| -> bool {
            if let Some(n) = &ep.node_name {
                return n == cx.node;
            }
            match &ep.target_ref {
                Some(r) if r.kind.as_deref() == Some("Pod") => {
                    pods.contains_key(&key(r.namespace.as_ref(), r.name.as_ref()))
                }
                _ => cx.leader,
            }
        };
        let pod_of = |ep: &Endpoint| -> Option<&Pod> {
            let r = ep
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))?;
            pods.get(&key(r.namespace.as_ref(), r.name.as_ref()))
                .copied()
        };
        let mut slice_groups: HashMap<(&str, &str), Option<TargetGroup>> = HashMap::new();
        let mut namespaces: Vec<&str> = services_by_ns.keys().copied().collect();
        namespaces.sort_unstable();
        for sm in &s.service_monitors {
            let own_ns = sm.metadata.namespace.as_deref().unwrap_or_default();
            let mut groups = Vec::new();
            for ns in &namespaces {
                if !selector::selects_namespace(sm.spec.namespace_selector.as_ref(), own_ns, ns) {
                    continue;
                }
                for svc in &services_by_ns[ns] {
                    if !selector::matches(&sm.spec.selector, svc.metadata.labels.as_ref()) {
                        continue;
                    }
                    let name = svc.metadata.name.as_deref().unwrap_or_default();
                    for eps in slices_by_svc.get(&(*ns, name)).into_iter().flatten() {
                        let k = key(eps.metadata.namespace.as_ref(), eps.metadata.name.as_ref());
                        let g = slice_groups.entry(k).or_insert_with(|| {
                            meta::endpointslice_group(eps, Some(svc), extra(ns), owns, pod_of)
                        });
                        groups.extend(g.clone());
                    }
                }
            }
            for (i, ep) in sm.spec.endpoints.iter().enumerate() {
                let job = monitor::service_monitor_job(
                    own_ns,
                    sm.metadata.name.as_deref().unwrap_or_default(),
                    i,
                );
                let fp = fingerprint(&sm.metadata, &monitor::secret_refs(ep), cx.secrets);
                let sm = sm.clone();
                let secrets = cx.secrets;
                let global = cx.global;
                wanted.push((
                    job,
                    fp,
                    Box::new(move || {
                        let ns = sm.metadata.namespace.clone().unwrap_or_default();
                        let f =
                            |k: &super::crd::SecretKeySelector| secrets.get(&ns, &k.name, &k.key);
                        monitor::service_monitor_config(&sm, i, global, &f)
                    }),
                    groups.clone(),
                ));
            }
        }
    }

    if cx.sources.pod_monitors {
        for pm in &s.pod_monitors {
            let own_ns = pm.metadata.namespace.as_deref().unwrap_or_default();
            let mut groups = Vec::new();
            for p in &s.pods {
                let ns = p.metadata.namespace.as_deref().unwrap_or_default();
                if selector::selects_namespace(pm.spec.namespace_selector.as_ref(), own_ns, ns)
                    && selector::matches(&pm.spec.selector, p.metadata.labels.as_ref())
                {
                    groups.extend(pod_group(p));
                }
            }
            for (i, ep) in pm.spec.pod_metrics_endpoints.iter().enumerate() {
                let job = monitor::pod_monitor_job(
                    own_ns,
                    pm.metadata.name.as_deref().unwrap_or_default(),
                    i,
                );
                let fp = fingerprint(&pm.metadata, &monitor::secret_refs(ep), cx.secrets);
                let pm = pm.clone();
                let secrets = cx.secrets;
                let global = cx.global;
                wanted.push((
                    job,
                    fp,
                    Box::new(move || {
                        let ns = pm.metadata.namespace.clone().unwrap_or_default();
                        let f =
                            |k: &super::crd::SecretKeySelector| secrets.get(&ns, &k.name, &k.key);
                        monitor::pod_monitor_config(&pm, i, global, &f)
                    }),
                    groups.clone(),
                ));
            }
        }
    }

    let mut fixed: Vec<(ScrapeConfig, Vec<TargetGroup>)> = Vec::new();
    if cx.sources.annotations {
        let groups: Vec<TargetGroup> = s
            .pods
            .iter()
            .filter(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("prometheus.io/scrape"))
                    .is_some_and(|v| v == "true")
            })
            .filter_map(|p| pod_group(p))
            .collect();
        for c in builtin::annotation_jobs(cx.global) {
            fixed.push((c, groups.clone()));
        }
    }
    if let Some(k) = cx.kubelet {
        let host = cx.host_ip.map(str::to_string).or_else(|| {
            s.pods
                .iter()
                .find_map(|p| p.status.as_ref().and_then(|st| st.host_ip.clone()))
        });
        match host {
            Some(host) => {
                let access = KubeletAccess { host, ..k.clone() };
                for c in builtin::kubelet_jobs(&access, cx.global) {
                    let g = crate::discovery::static_groups(&c);
                    fixed.push((c, g));
                }
            }
            None => out.errors.push((
                "kubelet".into(),
                "the node's address is unknown (set HOST_IP)".into(),
            )),
        }
    }

    let mut live = HashMap::new();
    for (job, fp, build, groups) in wanted {
        let entry = match cache.jobs.remove(&job) {
            Some((old, r)) if old == fp => (old, r),
            _ => (fp, build()),
        };
        match &entry.1 {
            Ok(c) => {
                out.groups.insert(job.clone(), groups);
                out.configs.push(c.clone());
            }
            Err(e) => out.errors.push((job.clone(), e.clone())),
        }
        live.insert(job, entry);
    }
    cache.jobs = live;
    for (c, g) in fixed {
        out.groups.insert(c.job_name.clone(), g);
        out.configs.push(c);
    }
    out.configs.sort_by(|a, b| a.job_name.cmp(&b.job_name));
    out.errors.sort();
    out
}
