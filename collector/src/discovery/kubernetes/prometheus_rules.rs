//! PrometheusRule objects turned into rule groups, as the Prometheus Operator does: each
//! selected object becomes one rule file named `<namespace>-<name>-<uid>.yaml` whose groups
//! keep the names written in the object; the rule manager evaluates them beside the
//! `rule_files` groups.
//!
//! Selection: the `rule_selector` is sent to the API server as the watch's `labelSelector`;
//! the `rule_namespace_selector` is matched here against the watched Namespaces' labels.
//!
//! Validation is the rule files' own (`promtool check rules` semantics, templates, and the
//! PromQL engine's parse), per object: an invalid object is left out with its error logged
//! once per version and counted (`lookout_kubernetes_prometheusrules_rejected`,
//! `lookout_kubernetes_prometheusrule_rejections_total`); every other object's rules keep
//! running. The Operator rejects such objects the same way.
//!
//! Cost: an object is checked once per `resourceVersion` (a cache keyed by UID); a pass over
//! unchanged objects only clones their already checked groups.

use super::KubeTelemetry;
use super::crd::PrometheusRule;
use k8s_openapi::api::core::v1::Namespace;
use lookout_config::label_selector::LabelSelector;
use lookout_config::rules::RuleGroup;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// The rule groups of every selected, valid PrometheusRule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleObjects {
    /// Groups ordered by file (`<namespace>-<name>-<uid>.yaml`), then as written.
    pub groups: Vec<RuleGroup>,
    /// `namespace/name` → why the object was rejected.
    pub rejected: BTreeMap<String, String>,
}

type Checked = Result<Vec<RuleGroup>, String>;

/// Checked objects by UID, with the `resourceVersion` they were checked at.
#[derive(Default)]
pub struct RuleCache {
    by_uid: HashMap<String, (String, Arc<Checked>)>,
}

fn key(o: &PrometheusRule) -> (String, String) {
    (
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().unwrap_or_default(),
    )
}

/// Checks one object exactly as a rule file is checked, plus the engine's own parse.
pub fn check(o: &PrometheusRule) -> Checked {
    let (ns, name) = key(o);
    let uid = o.metadata.uid.as_deref().unwrap_or(&name);
    let empty = serde_json::json!({});
    let spec = if o.spec.is_null() { &empty } else { &o.spec };
    let f = lookout_config::rules::check_prometheus_rule_object(
        &ns,
        &name,
        uid,
        spec,
        &lookout_query::template::check_syntax,
    )
    .map_err(|e| e.to_string())?;
    for g in &f.groups {
        lookout_query::rules::Group::new(g.clone(), Duration::from_secs(60))
            .map_err(|e| format!("PrometheusRule {ns}/{name}: {e}"))?;
    }
    Ok(f.groups)
}

impl RuleCache {
    /// The rule groups of `objects` whose namespace `ns_selector` selects (given the
    /// namespaces' labels). Logs and counts each newly rejected object version.
    pub fn select(
        &mut self,
        objects: &[Arc<PrometheusRule>],
        namespaces: &[Arc<Namespace>],
        ns_selector: Option<&LabelSelector>,
        telemetry: &KubeTelemetry,
    ) -> RuleObjects {
        let ns_labels: HashMap<&str, BTreeMap<String, String>> = namespaces
            .iter()
            .filter_map(|n| {
                Some((
                    n.metadata.name.as_deref()?,
                    n.metadata.labels.clone().unwrap_or_default(),
                ))
            })
            .collect();
        let mut files: BTreeMap<String, Vec<RuleGroup>> = BTreeMap::new();
        let mut rejected = BTreeMap::new();
        let mut seen = HashSet::with_capacity(objects.len());
        for o in objects {
            let (ns, name) = key(o);
            if let Some(sel) = ns_selector {
                // A namespace not (yet) in the store has no labels to match.
                match ns_labels.get(ns.as_str()) {
                    Some(l) if sel.matches(l) => {}
                    _ => continue,
                }
            }
            let uid = o
                .metadata
                .uid
                .clone()
                .unwrap_or_else(|| format!("{ns}/{name}"));
            let rv = o.metadata.resource_version.clone().unwrap_or_default();
            let checked = match self.by_uid.get(&uid) {
                Some((v, c)) if *v == rv => c.clone(),
                _ => {
                    let c = Arc::new(check(o));
                    match c.as_ref() {
                        Err(e) => {
                            telemetry.rule_rejections.fetch_add(1, Relaxed);
                            tracing::warn!(prometheusrule = %format!("{ns}/{name}"), error = %e, "PrometheusRule rejected; its rules are not evaluated");
                        }
                        Ok(g) => {
                            tracing::info!(prometheusrule = %format!("{ns}/{name}"), groups = g.len(), "PrometheusRule loaded");
                        }
                    }
                    self.by_uid.insert(uid.clone(), (rv, c.clone()));
                    c
                }
            };
            seen.insert(uid);
            match checked.as_ref() {
                Ok(groups) => {
                    if let Some(g) = groups.first() {
                        files.insert(g.file.clone(), groups.clone());
                    }
                }
                Err(e) => {
                    rejected.insert(format!("{ns}/{name}"), e.clone());
                }
            }
        }
        // Forget deleted (or no longer selected) objects.
        self.by_uid.retain(|uid, _| seen.contains(uid.as_str()));
        let groups: Vec<RuleGroup> = files.into_values().flatten().collect();
        telemetry
            .rule_objects_rejected
            .store(rejected.len() as u64, Relaxed);
        telemetry.rule_groups.store(groups.len() as u64, Relaxed);
        RuleObjects { groups, rejected }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;

    fn pr(ns: &str, name: &str, rv: &str, spec: serde_json::Value) -> Arc<PrometheusRule> {
        Arc::new(PrometheusRule {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{ns}-{name}")),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            spec,
        })
    }

    fn ns(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
        Arc::new(Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        })
    }

    fn spec(alert: &str, expr: &str) -> serde_json::Value {
        json!({"groups": [{"name": "g", "rules": [{"alert": alert, "expr": expr}]}]})
    }

    #[test]
    fn selects_checks_and_counts_once_per_version() {
        let tel = KubeTelemetry::default();
        let mut cache = RuleCache::default();
        let good = pr("a", "good", "1", spec("Up", "up == 1"));
        let bad = pr("b", "bad", "2", spec("Broken", "up =="));
        let objs = vec![bad.clone(), good.clone()];
        let out = cache.select(&objs, &[], None, &tel);
        assert_eq!(out.groups.len(), 1);
        assert_eq!(out.groups[0].file, "a-good-uid-a-good.yaml");
        assert_eq!(out.groups[0].name, "g");
        assert!(
            out.rejected["b/bad"].contains("spec.groups[0].rules[0].expr"),
            "{:?}",
            out.rejected
        );
        assert_eq!(tel.rule_rejections.load(Relaxed), 1);
        assert_eq!(tel.rule_objects_rejected.load(Relaxed), 1);
        // The same versions again: not re-checked, not re-counted.
        assert_eq!(cache.select(&objs, &[], None, &tel), out);
        assert_eq!(tel.rule_rejections.load(Relaxed), 1);
        // A fixed version is accepted; the groups come in file order.
        let fixed = pr("b", "bad", "3", spec("Broken", "up == 0"));
        let out = cache.select(&[good.clone(), fixed], &[], None, &tel);
        assert!(out.rejected.is_empty());
        assert_eq!(
            out.groups
                .iter()
                .map(|g| g.file.as_str())
                .collect::<Vec<_>>(),
            ["a-good-uid-a-good.yaml", "b-bad-uid-b-bad.yaml"]
        );
        assert_eq!(tel.rule_objects_rejected.load(Relaxed), 0);
        assert_eq!(tel.rule_groups.load(Relaxed), 2);
    }

    #[test]
    fn namespace_selector_uses_namespace_labels() {
        let tel = KubeTelemetry::default();
        let mut cache = RuleCache::default();
        let objs = vec![
            pr("a", "x", "1", spec("A", "vector(1)")),
            pr("b", "y", "1", spec("B", "vector(1)")),
            pr("c", "z", "1", spec("C", "vector(1)")),
        ];
        let nss = vec![ns("a", &[("team", "t")]), ns("b", &[])];
        let cfg = lookout_config::load_str(
            "kubernetes:\n  rule_namespace_selector:\n    matchLabels: {team: t}\n",
            "t.yaml",
        )
        .expect("config");
        let sel = cfg.kubernetes.rule_namespace_selector.expect("selector");
        let out = cache.select(&objs, &nss, Some(&sel), &tel);
        let files: Vec<&str> = out.groups.iter().map(|g| g.file.as_str()).collect();
        assert_eq!(files, ["a-x-uid-a-x.yaml"]);
        assert_eq!(cache.select(&objs, &nss, None, &tel).groups.len(), 3);
    }

    #[test]
    fn engine_rejections_and_empty_specs() {
        let empty = pr("a", "e", "1", serde_json::Value::Null);
        assert_eq!(check(&empty), Ok(vec![]));
        let not_groups = pr("a", "n", "1", json!({"groups": "nope"}));
        assert!(check(&not_groups).is_err());
    }
}
