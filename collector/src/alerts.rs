//! The agent's alerting: rule files named by `rule_files` loaded and checked, the groups of
//! PrometheusRule objects (from Kubernetes discovery), the rule manager evaluating their
//! union over the local store, and the notifier delivering what fires to Alertmanagers and
//! chat receivers.
//!
//! Loading rule files is all-or-nothing: a reload whose rule files do not load is rejected as
//! a whole (the running config and rules stay), as Prometheus does. PrometheusRule groups
//! arrive already checked object by object (an invalid object is left out on its own) and
//! replace the previous object groups whenever the objects change; either kind of update
//! keeps the state of unchanged rules (see `RuleManager::apply`).

use crate::discovery::file::expand;
use crate::discovery::kubernetes::RuleObjects;
use lookout_config::Config;
use lookout_config::rules::RuleGroup;
use lookout_query::notifier::{Alert, Notifier, NotifierMetrics};
use lookout_query::rules::{AlertSink, RuleManager, RulesOptions, SentAlert};
use lookout_store::Head;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// Loads every rule file `cfg.rule_files` names (globs), checking templates.
pub fn load_rules(cfg: &Config) -> Result<Vec<RuleGroup>, String> {
    let mut groups = Vec::new();
    for f in expand(&cfg.rule_files) {
        let rf = lookout_config::rules::load_rule_file(&f, &lookout_query::template::check_syntax)
            .map_err(|e| e.to_string())?;
        groups.extend(rf.groups);
    }
    Ok(groups)
}

/// Hands alerts from the rule manager to the notifier.
struct NotifySink(Arc<Notifier>);

impl AlertSink for NotifySink {
    fn send(&self, alerts: Vec<SentAlert>) {
        self.0.send(
            alerts
                .into_iter()
                .map(|a| Alert {
                    labels: a.labels,
                    annotations: a.annotations,
                    starts_at: a.starts_at,
                    ends_at: a.ends_at,
                    generator_url: a.generator_url,
                })
                .collect(),
        );
    }
}

/// Rules and notifications of one agent.
pub struct Alerting {
    pub rules: Arc<RuleManager>,
    pub notifier: Arc<Notifier>,
    pub metrics: Arc<NotifierMetrics>,
    external_url: String,
    sets: Mutex<RuleSets>,
}

/// What the rule manager runs: the union of both sets, with the config's options.
struct RuleSets {
    files: Vec<RuleGroup>,
    objects: Vec<RuleGroup>,
    opts: RulesOptions,
}

fn union(files: &[RuleGroup], objects: &[RuleGroup]) -> Vec<RuleGroup> {
    files.iter().chain(objects).cloned().collect()
}

fn options(cfg: &Config, external_url: &str) -> RulesOptions {
    RulesOptions {
        default_interval: cfg.global.evaluation_interval,
        external_labels: cfg.global.external_labels.iter().cloned().collect(),
        external_url: external_url.to_string(),
        resend_delay: Duration::from_secs(60),
        ..RulesOptions::default()
    }
}

impl Alerting {
    /// Starts rules and notifier for `cfg` with the already loaded `groups`.
    pub fn start(
        cfg: &Config,
        groups: Vec<RuleGroup>,
        head: Arc<Head>,
        querier: Arc<dyn lookout_store::Querier>,
        external_url: String,
    ) -> Result<Alerting, String> {
        let metrics = Arc::new(NotifierMetrics::default());
        let notifier = Arc::new(Notifier::new(
            &cfg.alerting,
            cfg.notifications.as_ref(),
            cfg.global.external_labels.iter().cloned().collect(),
            external_url.clone(),
            metrics.clone(),
        ));
        let rules = Arc::new(RuleManager::new(
            head,
            querier,
            Arc::new(NotifySink(notifier.clone())),
            options(cfg, &external_url),
        ));
        let opts = options(cfg, &external_url);
        rules.apply(groups.clone(), opts.clone())?;
        Ok(Alerting {
            rules,
            notifier,
            metrics,
            external_url,
            sets: Mutex::new(RuleSets {
                files: groups,
                objects: Vec::new(),
                opts,
            }),
        })
    }

    /// Applies a reloaded config and its rule files' groups (the PrometheusRule groups stay).
    pub fn apply(&self, cfg: &Config, groups: Vec<RuleGroup>) -> Result<(), String> {
        let opts = options(cfg, &self.external_url);
        let mut sets = self.sets.lock();
        self.rules
            .apply(union(&groups, &sets.objects), opts.clone())?;
        sets.files = groups;
        sets.opts = opts;
        self.notifier
            .apply(&cfg.alerting, cfg.notifications.as_ref());
        Ok(())
    }

    /// Replaces the PrometheusRule groups (the rule files' groups stay). The groups were
    /// checked object by object, so the manager accepts them; should it not, the previous
    /// groups keep running and the error is logged.
    pub fn set_object_rules(&self, objects: &RuleObjects) {
        let mut sets = self.sets.lock();
        if sets.objects == objects.groups {
            return;
        }
        match self
            .rules
            .apply(union(&sets.files, &objects.groups), sets.opts.clone())
        {
            Ok(()) => {
                sets.objects = objects.groups.clone();
                tracing::info!(
                    groups = objects.groups.len(),
                    rejected = objects.rejected.len(),
                    "PrometheusRule groups applied"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "PrometheusRule groups not applied; keeping the previous ones");
            }
        }
    }

    pub async fn shutdown(&self) {
        self.rules.stop();
        self.notifier.shutdown().await;
    }
}
