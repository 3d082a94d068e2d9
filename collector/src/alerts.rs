//! The agent's alerting: rule files named by `rule_files` loaded and checked, the rule
//! manager evaluating them over the local store, and the notifier delivering what fires to
//! Alertmanagers and chat receivers.
//!
//! Loading is all-or-nothing: a reload whose rule files do not load is rejected as a whole
//! (the running config and rules stay), as Prometheus does.

use crate::discovery::file::expand;
use lookout_config::Config;
use lookout_config::rules::RuleGroup;
use lookout_query::notifier::{Alert, Notifier, NotifierMetrics};
use lookout_query::rules::{AlertSink, RuleManager, RulesOptions, SentAlert};
use lookout_store::Head;
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
        rules.apply(groups, options(cfg, &external_url))?;
        Ok(Alerting {
            rules,
            notifier,
            metrics,
            external_url,
        })
    }

    /// Applies a reloaded config and its rule groups.
    pub fn apply(&self, cfg: &Config, groups: Vec<RuleGroup>) -> Result<(), String> {
        self.rules.apply(groups, options(cfg, &self.external_url))?;
        self.notifier
            .apply(&cfg.alerting, cfg.notifications.as_ref());
        Ok(())
    }

    pub async fn shutdown(&self) {
        self.rules.stop();
        self.notifier.shutdown().await;
    }
}
