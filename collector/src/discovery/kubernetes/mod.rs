//! Kubernetes discovery: ServiceMonitors, PodMonitors, `prometheus.io/*` pod annotations and
//! the node's kubelet, turned into scrape jobs the way the Prometheus Operator does, each
//! agent (one per node, a DaemonSet) scraping only its node's share; and PrometheusRule
//! objects turned into rule groups ([`prometheus_rules`]), published on a second channel
//! that the agent hands to its rule manager ([`Runner::next_change`]).
//!
//! Pipeline: kube-rs watchers + reflectors ([`watch`]) keep stores of this node's Pods
//! (field selector `spec.nodeName`), Services, EndpointSlices, Namespaces, ServiceMonitors
//! and PodMonitors; any change wakes the generator, which after a short debounce fetches the
//! referenced Secrets ([`secrets`]) and builds the jobs and groups ([`generate`]); the result
//! is published on a `watch` channel and [`Runner::apply`] hands it to the scrape manager
//! (generated jobs live beside the file's jobs; a removed target gets staleness markers
//! there).
//!
//! **Sharding.** A target backed by a pod belongs to the agent on that pod's node (the
//! endpoint's `nodeName`, or the pod found among this node's pods), so N agents scrape every
//! such target exactly once. A target without a node (the `kubernetes` Service's endpoints,
//! slices without `targetRef`) belongs to the one agent holding the Lease
//! `<lease_namespace>/<lease_name>` ([`leader`]): a Lease rather than hashing over live
//! agents because it needs no view of the other agents, gives exactly one owner at a time
//! (writes are compare-and-swap on resourceVersion), and is what the chart's RBAC grants.
//! Failover: when the holder dies its Lease expires after `lease_duration` (15s) and the next
//! agent to retry (every ~2s) takes it and starts scraping those targets; a clean shutdown
//! releases the Lease at once. During a failover node-less targets may be unscraped for up
//! to `lease_duration + retry`; they are never scraped twice while the old holder still
//! believes it leads, since it steps down after 2/3 of the duration without a renewal.
//!
//! **Failures.** Watch errors, `410 Gone`, API-server restarts and RBAC denials are retried by
//! the kube-rs watcher with exponential backoff and a relist; they never stop the agent. They
//! are counted in `lookout_kubernetes_watch_errors_total{resource}`, relists in
//! `lookout_kubernetes_watch_relists_total{resource}`, refused jobs in
//! `lookout_kubernetes_job_errors` and logged with the reason. While a resource cannot be
//! listed its store keeps the last good state. What is failing right now ([`status`]: each
//! failing watcher, the Lease, each refused monitor endpoint, with the time it started) is
//! shown under `discoveryErrors` in `/api/v1/targets` and as
//! `lookout_kubernetes_watch_healthy{resource}` / `lookout_kubernetes_lease_healthy`.
//!
//! Cost: memory is the reflector stores (whole objects) plus the generated groups; CPU is one
//! generation pass per debounce window with changes.

pub mod access;
pub mod builtin;
pub mod crd;
pub mod generate;
pub mod leader;
pub mod meta;
pub mod monitor;
pub mod podlabels;
pub mod prometheus_rules;
pub mod rbac;
pub mod secrets;
pub mod selector;
pub mod status;
pub mod watch;

use crate::discovery::Update;
use crate::scrape::ScrapeManager;
pub use access::{Access, AccessError, Flags};
pub use generate::Generated;
use lookout_config::{GlobalConfig, KubernetesConfig};
pub use prometheus_rules::RuleObjects;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::sync::watch as channel;

/// The name of the provider of every generated job's groups.
pub const PROVIDER: &str = "kubernetes";

/// Discovery's self-metrics (rendered into `/metrics` by the agent's telemetry).
#[derive(Default)]
pub struct KubeTelemetry {
    pub watch_errors: [AtomicU64; watch::KINDS.len()],
    pub relists: [AtomicU64; watch::KINDS.len()],
    pub objects: [AtomicU64; watch::KINDS.len()],
    pub secret_errors: AtomicU64,
    pub lease_errors: AtomicU64,
    pub leader: AtomicU64,
    pub jobs: AtomicU64,
    /// Targets in the applied groups (before relabeling).
    pub targets: AtomicU64,
    pub job_errors: AtomicU64,
    pub passes: AtomicU64,
    /// PrometheusRule objects currently rejected (invalid).
    pub rule_objects_rejected: AtomicU64,
    /// PrometheusRule object versions rejected since start.
    pub rule_rejections: AtomicU64,
    /// Rule groups loaded from PrometheusRule objects.
    pub rule_groups: AtomicU64,
    /// Current problems (failing watches, the Lease, refused jobs), for `/api/v1/targets`.
    pub status: status::Status,
}

impl KubeTelemetry {
    /// Appends the metrics in Prometheus text format.
    pub fn render(&self, s: &mut String) {
        self.status.render(s, &watch::KINDS);
        let per_kind = |s: &mut String, name: &str, kind: &str, help: &str, v: &[AtomicU64]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (k, x) in watch::KINDS.iter().zip(v) {
                let _ = writeln!(s, "{name}{{resource=\"{k}\"}} {}", x.load(Relaxed));
            }
        };
        per_kind(
            s,
            "lookout_kubernetes_watch_errors_total",
            "counter",
            "Kubernetes list/watch errors (retried with backoff).",
            &self.watch_errors,
        );
        per_kind(
            s,
            "lookout_kubernetes_watch_relists_total",
            "counter",
            "Kubernetes full lists (start, 410 Gone, reconnects).",
            &self.relists,
        );
        per_kind(
            s,
            "lookout_kubernetes_objects",
            "gauge",
            "Objects in the discovery stores.",
            &self.objects,
        );
        for (name, kind, help, v) in [
            (
                "lookout_kubernetes_secret_errors_total",
                "counter",
                "Secrets referenced by monitors that could not be read.",
                &self.secret_errors,
            ),
            (
                "lookout_kubernetes_lease_errors_total",
                "counter",
                "Leader-election requests that failed.",
                &self.lease_errors,
            ),
            (
                "lookout_kubernetes_leader",
                "gauge",
                "Whether this agent holds the Lease (scrapes node-less targets).",
                &self.leader,
            ),
            (
                "lookout_kubernetes_jobs",
                "gauge",
                "Scrape jobs generated from Kubernetes.",
                &self.jobs,
            ),
            (
                "lookout_kubernetes_targets",
                "gauge",
                "Targets discovered in Kubernetes and handed to the scrape manager (before relabeling).",
                &self.targets,
            ),
            (
                "lookout_kubernetes_job_errors",
                "gauge",
                "Monitor endpoints refused (see the logs for why).",
                &self.job_errors,
            ),
            (
                "lookout_kubernetes_generation_passes_total",
                "counter",
                "Target generation passes.",
                &self.passes,
            ),
            (
                "lookout_kubernetes_prometheusrules_rejected",
                "gauge",
                "PrometheusRule objects rejected as invalid (see the logs for why).",
                &self.rule_objects_rejected,
            ),
            (
                "lookout_kubernetes_prometheusrule_rejections_total",
                "counter",
                "PrometheusRule object versions rejected as invalid.",
                &self.rule_rejections,
            ),
            (
                "lookout_kubernetes_prometheusrule_groups",
                "gauge",
                "Rule groups loaded from PrometheusRule objects.",
                &self.rule_groups,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        }
    }
}

/// A running discovery: its output, and the handles to steer and stop it.
pub struct Discovery {
    pub output: channel::Receiver<Arc<Generated>>,
    /// The PrometheusRules' groups; first sent once the objects have been listed.
    pub rules: channel::Receiver<Arc<RuleObjects>>,
    global: channel::Sender<GlobalConfig>,
    stop: channel::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Discovery {
    /// Starts discovery with resolved access.
    pub fn start(
        access: Access,
        cfg: &KubernetesConfig,
        global: GlobalConfig,
        telemetry: Arc<KubeTelemetry>,
    ) -> Discovery {
        Self::start_with_pod_labels(access, cfg, global, telemetry, None)
    }

    /// Starts discovery, also feeding `pod_labels` (the log tailer's map) from the pod watch.
    pub fn start_with_pod_labels(
        access: Access,
        cfg: &KubernetesConfig,
        global: GlobalConfig,
        telemetry: Arc<KubeTelemetry>,
        pod_labels: Option<Arc<crate::logs::PodLabels>>,
    ) -> Discovery {
        let (stop_tx, stop_rx) = channel::channel(false);
        let (global_tx, global_rx) = channel::channel(global);
        let (out_tx, out_rx) = channel::channel(Arc::new(Generated::default()));
        let (rules_tx, rules_rx) = channel::channel(Arc::new(RuleObjects::default()));
        let tasks = watch::spawn_all(
            access,
            cfg.clone(),
            global_rx,
            watch::Outputs {
                targets: out_tx,
                rules: rules_tx,
                pod_labels,
            },
            telemetry,
            stop_rx,
        );
        Discovery {
            output: out_rx,
            rules: rules_rx,
            global: global_tx,
            stop: stop_tx,
            tasks,
        }
    }

    /// Ends every task abruptly, as a crash would: nothing is released (tests use this to
    /// check the Lease failover).
    pub fn crash(self) {
        for t in &self.tasks {
            t.abort();
        }
        std::mem::forget(self.stop);
    }

    /// Stops every task (the Lease is released if held) and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Describes an API error briefly (`403 Forbidden: ...`).
pub fn describe_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

/// The agent's side: starts discovery from the config, hands its output to the scrape
/// manager, restarts it when the `kubernetes` section changes.
pub struct Runner {
    flags: Flags,
    cfg: Option<KubernetesConfig>,
    disc: Option<Discovery>,
    applied: Arc<Generated>,
    telemetry: Arc<KubeTelemetry>,
    pod_labels: Option<Arc<crate::logs::PodLabels>>,
    /// Discovery stopped: the rule manager must drop the PrometheusRules' groups.
    rules_cleared: bool,
}

/// What changed in Kubernetes.
pub enum Change {
    /// New scrape jobs and targets (hand to [`Runner::apply`]).
    Targets(Arc<Generated>),
    /// New PrometheusRule groups (hand to the rule manager).
    Rules(Arc<RuleObjects>),
}

impl Runner {
    pub fn new(flags: Flags, telemetry: Arc<KubeTelemetry>) -> Runner {
        Runner {
            flags,
            cfg: None,
            disc: None,
            applied: Arc::new(Generated::default()),
            telemetry,
            pod_labels: None,
            rules_cleared: false,
        }
    }

    /// Feeds the log tailer's pod-label map from the pod watch while discovery runs.
    pub fn with_pod_labels(mut self, map: Arc<crate::logs::PodLabels>) -> Runner {
        self.pod_labels = Some(map);
        self
    }

    /// Starts, restarts or keeps discovery for this configuration. An error means the
    /// configuration demands discovery (`enabled: true`) and it cannot run.
    pub async fn configure(
        &mut self,
        cfg: &KubernetesConfig,
        global: &GlobalConfig,
        manager: &ScrapeManager,
    ) -> Result<(), AccessError> {
        if self.cfg.as_ref() == Some(cfg) {
            if let Some(d) = &self.disc {
                d.global.send_if_modified(|g| {
                    let changed = g != global;
                    *g = global.clone();
                    changed
                });
            }
            return Ok(());
        }
        if let Some(d) = self.disc.take() {
            d.stop().await;
            self.telemetry.status.clear();
        }
        self.cfg = Some(cfg.clone());
        let sa = self
            .flags
            .sa_dir
            .clone()
            .unwrap_or_else(|| access::SA_DIR.into());
        let started = match access::resolve(cfg, &self.flags, &sa).await {
            Ok(Some(a)) => {
                tracing::info!(node = %a.node_name, lease = %format!("{}/{}", a.lease_namespace, cfg.lease_name), "kubernetes discovery started");
                Some(Discovery::start_with_pod_labels(
                    a,
                    cfg,
                    global.clone(),
                    self.telemetry.clone(),
                    self.pod_labels.clone(),
                ))
            }
            Ok(None) => None,
            Err(e) => {
                self.apply(manager, Arc::new(Generated::default()));
                self.rules_cleared = true;
                return Err(e);
            }
        };
        if started.is_none() {
            self.apply(manager, Arc::new(Generated::default()));
            self.rules_cleared = true;
        }
        self.disc = started;
        Ok(())
    }

    /// Waits for the next output (forever when discovery is off).
    pub async fn changed(&mut self) -> Arc<Generated> {
        match &mut self.disc {
            Some(d) => match d.output.changed().await {
                Ok(()) => d.output.borrow_and_update().clone(),
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// Waits for the next change of targets or of PrometheusRule groups (forever when
    /// discovery is off, after one empty rule set if it was just stopped).
    pub async fn next_change(&mut self) -> Change {
        if std::mem::take(&mut self.rules_cleared) {
            return Change::Rules(Arc::new(RuleObjects::default()));
        }
        let Some(d) = &mut self.disc else {
            return std::future::pending().await;
        };
        let (mut targets_open, mut rules_open) = (true, true);
        loop {
            tokio::select! {
                r = d.output.changed(), if targets_open => match r {
                    Ok(()) => return Change::Targets(d.output.borrow_and_update().clone()),
                    Err(_) => targets_open = false,
                },
                r = d.rules.changed(), if rules_open => match r {
                    Ok(()) => return Change::Rules(d.rules.borrow_and_update().clone()),
                    Err(_) => rules_open = false,
                },
                else => return std::future::pending().await,
            }
        }
    }

    /// Hands an output to the scrape manager: generated jobs are replaced as a set, and each
    /// job whose groups or config changed is re-synced.
    pub fn apply(&mut self, manager: &ScrapeManager, next: Arc<Generated>) {
        let old: BTreeMap<&str, &lookout_config::ScrapeConfig> = self
            .applied
            .configs
            .iter()
            .map(|c| (c.job_name.as_str(), c))
            .collect();
        manager.apply_generated(&next.configs);
        for c in &next.configs {
            let groups = next.groups.get(&c.job_name);
            let same_cfg = old.get(c.job_name.as_str()) == Some(&c);
            if same_cfg && self.applied.groups.get(&c.job_name) == groups {
                continue;
            }
            manager.update(Update {
                job: c.job_name.clone(),
                provider: PROVIDER.into(),
                groups: groups.cloned().unwrap_or_default(),
            });
        }
        self.telemetry
            .jobs
            .store(next.configs.len() as u64, Relaxed);
        self.telemetry
            .job_errors
            .store(next.errors.len() as u64, Relaxed);
        self.telemetry.status.set_jobs(&next.errors);
        let targets: usize = next
            .groups
            .values()
            .flatten()
            .map(|g| g.targets.len())
            .sum();
        self.telemetry.targets.store(targets as u64, Relaxed);
        self.applied = next;
    }

    /// Stops discovery.
    pub async fn stop(&mut self) {
        if let Some(d) = self.disc.take() {
            d.stop().await;
            self.telemetry.status.clear();
        }
    }
}
