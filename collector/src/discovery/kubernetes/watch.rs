//! The watch side: one kube-rs watcher + reflector per resource kind (per namespace when
//! `namespaces` restricts them), the Lease elector, the generation loop that turns store
//! contents into [`Generated`] output, and the rules loop that turns PrometheusRules into
//! [`RuleObjects`].
//!
//! Each watcher runs under kube-rs' default exponential backoff: a failed list or watch
//! (connection refused, 403, 404 for a missing CRD, 5xx) is counted and retried; a `410 Gone`
//! or an expired watch relists, and the reflector swaps the store only when the relist is
//! complete, so readers never see a half-empty store. Every applied event wakes the generator,
//! which waits [`DEBOUNCE`] to coalesce bursts (a rollout touches many objects) before one
//! pass. PrometheusRule events (and Namespace events, when a `rule_namespace_selector` needs
//! their labels) wake the rules loop instead, which publishes only once its stores have been
//! listed, so a (re)start never hands the rule manager a transiently empty set.
//! Cost: one task per watched kind; see `generate` for a pass.

use super::access::Access;
use super::generate::{self, Context, Generated, JobCache, Snapshot, Sources};
use super::leader::{self, LeaseConfig};
use super::prometheus_rules::{RuleCache, RuleObjects};
use super::secrets::SecretCache;
use super::{KubeTelemetry, crd, monitor};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use lookout_config::{GlobalConfig, KubernetesConfig};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::{Notify, watch as channel};

/// How long the generator waits after a change before a pass.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// The watched kinds, as the `resource` label of the self-metrics names them.
pub const KINDS: [&str; 7] = [
    "pods",
    "services",
    "endpointslices",
    "namespaces",
    "servicemonitors",
    "podmonitors",
    "prometheusrules",
];

const POD: usize = 0;
const SERVICE: usize = 1;
const SLICE: usize = 2;
const NAMESPACE: usize = 3;
const SM: usize = 4;
const PM: usize = 5;
const PR: usize = 6;

type Tasks = Vec<tokio::task::JoinHandle<()>>;

/// Stores of one kind (one per watched namespace, or one for the cluster).
struct Stores<K: kube::Resource<DynamicType = ()> + Clone + 'static>(Vec<Store<K>>);

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Stores<K> {
    fn state(&self) -> Vec<Arc<K>> {
        self.0.iter().flat_map(|s| s.state()).collect()
    }
}

struct Watching {
    notify: Arc<Notify>,
    /// Also woken by every event (the rules loop, for Namespaces).
    also: Option<Arc<Notify>>,
    telemetry: Arc<KubeTelemetry>,
    stop: channel::Receiver<bool>,
}

impl Watching {
    /// Spawns watchers of `K` (cluster-wide, or one per namespace), returning their stores.
    fn spawn<K>(
        &self,
        tasks: &mut Tasks,
        client: &kube::Client,
        namespaces: &[String],
        wc: watcher::Config,
        kind: usize,
    ) -> Stores<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let apis: Vec<Api<K>> = if namespaces.is_empty() {
            vec![Api::all(client.clone())]
        } else {
            namespaces
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect()
        };
        Stores(
            apis.into_iter()
                .map(|api| self.spawn_one(tasks, api, wc.clone(), kind))
                .collect(),
        )
    }

    fn spawn_one<K>(
        &self,
        tasks: &mut Tasks,
        api: Api<K>,
        wc: watcher::Config,
        kind: usize,
    ) -> Store<K>
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let (reader, writer) = reflector::store();
        let notify = self.notify.clone();
        let also = self.also.clone();
        let tel = self.telemetry.clone();
        let mut stop = self.stop.clone();
        let r = reader.clone();
        let ns = api.namespace().unwrap_or_default().to_string();
        tasks.push(tokio::spawn(async move {
            let stream = reflector::reflector(writer, watcher::watcher(api, wc).default_backoff());
            let mut stream = std::pin::pin!(stream);
            let mut last_error: Option<String> = None;
            loop {
                let ev = tokio::select! {
                    ev = stream.next() => ev,
                    _ = stop.wait_for(|s| *s) => break,
                };
                match ev {
                    None => break,
                    Some(Ok(Event::Init)) => {
                        tel.relists[kind].fetch_add(1, Relaxed);
                    }
                    Some(Ok(Event::InitApply(_))) => {}
                    Some(Ok(Event::InitDone | Event::Apply(_) | Event::Delete(_))) => {
                        tel.status.watch_ok(KINDS[kind], &ns);
                        if last_error.take().is_some() {
                            tracing::info!(resource = KINDS[kind], "kubernetes watch recovered");
                        }
                        tel.objects[kind].store(r.len() as u64, Relaxed);
                        notify.notify_one();
                        if let Some(a) = &also {
                            a.notify_one();
                        }
                    }
                    Some(Err(e)) => {
                        tel.watch_errors[kind].fetch_add(1, Relaxed);
                        let msg = e.to_string();
                        tel.status.watch_failed(KINDS[kind], &ns, super::status::describe_watch_error(&e));
                        // Log a repeated error once, not on every backoff round.
                        if last_error.as_deref() != Some(msg.as_str()) {
                            tracing::warn!(resource = KINDS[kind], error = %msg, "kubernetes watch failed; retrying with backoff");
                            last_error = Some(msg);
                        }
                    }
                }
            }
        }));
        reader
    }
}

/// Where discovery's results go.
pub(super) struct Outputs {
    /// Scrape jobs and targets.
    pub targets: channel::Sender<Arc<Generated>>,
    /// PrometheusRule groups.
    pub rules: channel::Sender<Arc<RuleObjects>>,
    /// Pod labels for the log tailer, when tailing runs.
    pub pod_labels: Option<Arc<crate::logs::PodLabels>>,
}

/// Spawns the watchers, the elector and the generator.
pub(super) fn spawn_all(
    access: Access,
    cfg: KubernetesConfig,
    mut global: channel::Receiver<GlobalConfig>,
    outputs: Outputs,
    telemetry: Arc<KubeTelemetry>,
    mut stop: channel::Receiver<bool>,
) -> Tasks {
    let Outputs {
        targets: out,
        rules: rules_out,
        pod_labels,
    } = outputs;
    let mut tasks = Vec::new();
    let w = Watching {
        notify: Arc::new(Notify::new()),
        also: None,
        telemetry: telemetry.clone(),
        stop: stop.clone(),
    };
    let client = &access.client;
    let ns = &cfg.namespaces;
    let base = watcher::Config::default();
    let pods: Stores<Pod> = w.spawn(
        &mut tasks,
        client,
        ns,
        base.clone()
            .fields(&format!("spec.nodeName={}", access.node_name)),
        POD,
    );
    if let Some(map) = pod_labels {
        map.set_active(true);
        let run = super::podlabels::run(pods.0.clone(), map, stop.clone());
        tasks.push(tokio::spawn(run));
    }
    let want_svc = cfg.servicemonitors;
    let services: Stores<Service> = if want_svc {
        w.spawn(&mut tasks, client, ns, base.clone(), SERVICE)
    } else {
        Stores(vec![])
    };
    let slices: Stores<EndpointSlice> = if want_svc {
        w.spawn(&mut tasks, client, ns, base.clone(), SLICE)
    } else {
        Stores(vec![])
    };
    let sms: Stores<crd::ServiceMonitor> = if want_svc {
        w.spawn(&mut tasks, client, ns, base.clone(), SM)
    } else {
        Stores(vec![])
    };
    let pms: Stores<crd::PodMonitor> = if cfg.podmonitors {
        w.spawn(&mut tasks, client, ns, base.clone(), PM)
    } else {
        Stores(vec![])
    };
    let rules_notify = Arc::new(Notify::new());
    let rule_ns_selector = cfg
        .rule_namespace_selector
        .clone()
        .filter(|_| cfg.prometheus_rules);
    // Namespaces are cluster-scoped: watched when every namespace is, or when the rule
    // namespace selector needs their labels.
    let namespaces: Vec<Store<Namespace>> = if ns.is_empty() || rule_ns_selector.is_some() {
        let nw = Watching {
            notify: w.notify.clone(),
            also: rule_ns_selector.as_ref().map(|_| rules_notify.clone()),
            telemetry: telemetry.clone(),
            stop: stop.clone(),
        };
        vec![nw.spawn_one(
            &mut tasks,
            Api::all(client.clone()),
            base.clone(),
            NAMESPACE,
        )]
    } else {
        vec![]
    };
    if cfg.prometheus_rules {
        let rw = Watching {
            notify: rules_notify.clone(),
            also: None,
            telemetry: telemetry.clone(),
            stop: stop.clone(),
        };
        let wc = match cfg.rule_selector.as_ref().map(|s| s.to_query()) {
            Some(q) if !q.is_empty() => base.clone().labels(&q),
            _ => base.clone(),
        };
        let prs: Stores<crd::PrometheusRule> = rw.spawn(&mut tasks, client, ns, wc, PR);
        let ns_stores = if rule_ns_selector.is_some() {
            namespaces.clone()
        } else {
            vec![]
        };
        tasks.push(tokio::spawn(rules_loop(
            prs,
            ns_stores,
            rule_ns_selector,
            rules_notify,
            rules_out,
            telemetry.clone(),
            stop.clone(),
        )));
    } else {
        // Switched off: no PrometheusRule groups (a restart with the switch off clears them).
        let _ = rules_out.send(Arc::new(RuleObjects::default()));
    }

    let (lead_tx, mut lead_rx) = channel::channel(false);
    let lease = LeaseConfig {
        namespace: access.lease_namespace.clone(),
        name: cfg.lease_name.clone(),
        identity: access.identity.clone(),
        lease_duration: cfg.lease_duration,
        retry: LeaseConfig::default_retry(cfg.lease_duration),
    };
    tasks.push(tokio::spawn(leader::run(
        client.clone(),
        lease,
        lead_tx,
        telemetry.clone(),
        stop.clone(),
    )));

    let notify = w.notify.clone();
    let sources = Sources {
        service_monitors: cfg.servicemonitors,
        pod_monitors: cfg.podmonitors,
        annotations: cfg.annotations,
    };
    tasks.push(tokio::spawn(async move {
        let mut cache = JobCache::default();
        let mut secrets = SecretCache::default();
        let mut last: Option<Arc<Generated>> = None;
        loop {
            tokio::select! {
                _ = notify.notified() => {}
                r = lead_rx.changed() => { if r.is_err() { break; } }
                r = global.changed() => {
                    if r.is_err() { break; }
                    cache.clear();
                }
                _ = tokio::time::sleep(super::secrets::REFRESH) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            tokio::time::sleep(DEBOUNCE).await;
            let snap = Snapshot {
                pods: pods.state(),
                services: services.state(),
                slices: slices.state(),
                namespaces: namespaces.iter().flat_map(|s| s.state()).collect(),
                service_monitors: sms.state(),
                pod_monitors: pms.state(),
            };
            let wanted = secret_names(&snap, sources);
            secrets.refresh(&access.client, &wanted, &telemetry).await;
            let g = global.borrow().clone();
            let leader = *lead_rx.borrow();
            let cx = Context {
                node: &access.node_name,
                leader,
                sources,
                global: &g,
                secrets: &secrets,
                kubelet: access.kubelet.as_ref(),
                host_ip: access.host_ip.as_deref(),
            };
            let next = generate::generate(&snap, &cx, &mut cache);
            telemetry.passes.fetch_add(1, Relaxed);
            if last.as_deref() == Some(&next) {
                continue;
            }
            let new_errors: Vec<_> = next
                .errors
                .iter()
                .filter(|e| !last.as_ref().is_some_and(|l| l.errors.contains(e)))
                .collect();
            for (job, err) in new_errors {
                tracing::warn!(job = %job, error = %err, "kubernetes scrape job refused");
            }
            let next = Arc::new(next);
            last = Some(next.clone());
            if out.send(next).is_err() {
                break;
            }
        }
    }));
    tasks
}

/// Publishes the PrometheusRules' groups on every change, once the stores are listed.
async fn rules_loop(
    prs: Stores<crd::PrometheusRule>,
    namespaces: Vec<Store<Namespace>>,
    ns_selector: Option<lookout_config::label_selector::LabelSelector>,
    notify: Arc<Notify>,
    out: channel::Sender<Arc<RuleObjects>>,
    telemetry: Arc<KubeTelemetry>,
    mut stop: channel::Receiver<bool>,
) {
    let ready = async {
        for s in &prs.0 {
            if s.wait_until_ready().await.is_err() {
                return false;
            }
        }
        for s in &namespaces {
            if s.wait_until_ready().await.is_err() {
                return false;
            }
        }
        true
    };
    tokio::select! {
        r = ready => if !r { return; },
        _ = stop.wait_for(|s| *s) => return,
    }
    let mut cache = RuleCache::default();
    let mut last: Option<Arc<RuleObjects>> = None;
    loop {
        let ns: Vec<Arc<Namespace>> = namespaces.iter().flat_map(|s| s.state()).collect();
        let next = cache.select(&prs.state(), &ns, ns_selector.as_ref(), &telemetry);
        if last.as_deref() != Some(&next) {
            let next = Arc::new(next);
            last = Some(next.clone());
            if out.send(next).is_err() {
                return;
            }
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        tokio::time::sleep(DEBOUNCE).await;
    }
}

/// `(namespace, name)` of every Secret the monitors reference.
fn secret_names(s: &Snapshot, sources: Sources) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut add = |ns: Option<&String>, eps: &[crd::Endpoint]| {
        for ep in eps {
            for r in monitor::secret_refs(ep) {
                out.insert((ns.cloned().unwrap_or_default(), r.name.clone()));
            }
        }
    };
    if sources.service_monitors {
        for sm in &s.service_monitors {
            add(sm.metadata.namespace.as_ref(), &sm.spec.endpoints);
        }
    }
    if sources.pod_monitors {
        for pm in &s.pod_monitors {
            add(
                pm.metadata.namespace.as_ref(),
                &pm.spec.pod_metrics_endpoints,
            );
        }
    }
    out
}
