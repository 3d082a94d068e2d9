//! Prometheus rule files (`groups:` of recording and alerting rules) and the rule groups of
//! Prometheus Operator `PrometheusRule` objects, checked the way `promtool check rules` does.
//!
//! Checks: group names present and unique per file; each rule exactly one of `record` /
//! `alert`; `expr` present and valid PromQL (parsed with `promql-parser`); recording rule
//! names valid metric names and no `for` / `keep_firing_for` / `annotations` on them; label
//! names valid; label and annotation templates valid (through the caller's checker, since
//! the template engine lives in `lookout-query`). Every error names `file:line:column`.
//!
//! Cost: load time only.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::context::Ctx;
use crate::duration::PromDuration;
use crate::error::{Error, Result};
use crate::load::parse_yaml;
use crate::position::{field, index};
use crate::target::is_valid_label_name;

/// Checks one template's syntax; returns the message on error.
pub type TemplateCheck<'a> = &'a dyn Fn(&str) -> std::result::Result<(), String>;

/// A rule file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleFile {
    /// The rule groups.
    #[serde(default)]
    pub groups: Vec<RawRuleGroup>,
}

/// `expr` may be written as a number (`expr: 1`) in YAML; keep it as text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RawExpr {
    Text(String),
    Int(i64),
    Float(f64),
}

impl RawExpr {
    fn text(&self) -> String {
        match self {
            RawExpr::Text(s) => s.clone(),
            RawExpr::Int(i) => i.to_string(),
            RawExpr::Float(f) => f.to_string(),
        }
    }
}

/// One group as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleGroup {
    /// Unique name within the file.
    #[serde(default)]
    pub name: String,
    /// How often the group is evaluated (default: `global.evaluation_interval`).
    pub interval: Option<PromDuration>,
    /// Maximum number of alerts / series a rule may produce; 0 = no limit.
    #[serde(default)]
    pub limit: u64,
    /// Thanos' field, accepted in PrometheusRule objects and ignored.
    #[serde(default)]
    pub partial_response_strategy: Option<String>,
    /// The rules, evaluated in order.
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// One rule as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// The metric name a recording rule writes.
    pub record: Option<String>,
    /// The name of an alerting rule.
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: Option<RawExpr>,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for")]
    pub for_: Option<PromDuration>,
    /// How long a firing alert keeps firing after the condition stops.
    pub keep_firing_for: Option<PromDuration>,
    /// Labels added to (or overriding) the result's labels; templates allowed in alerts.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations; templates allowed.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// What a rule produces.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// A recording rule writing the named metric.
    Record(String),
    /// An alerting rule with this alert name.
    Alert(String),
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub expr: String,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Record(n) | RuleKind::Alert(n) => n,
        }
    }
}

/// A checked group.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// `None`: use the global evaluation interval.
    pub interval: Option<Duration>,
    pub limit: u64,
    pub rules: Vec<Rule>,
    /// The file (or `namespace/name` of the PrometheusRule) the group came from.
    pub file: String,
}

/// A checked rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

impl RuleFile {
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// Loads and checks a rule file.
pub fn load_rule_file(path: &Path, check_template: TemplateCheck<'_>) -> Result<RuleFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_rule_file(&text, &path.display().to_string(), check_template)
}

/// Checks rule file text; `origin` names the file in errors.
pub fn parse_rule_file(
    text: &str,
    origin: &str,
    check_template: TemplateCheck<'_>,
) -> Result<RuleFile> {
    let (raw, positions) = parse_yaml::<Option<RawRuleFile>>(text, origin)?;
    let ctx = Ctx {
        origin,
        base_dir: None,
        positions: &positions,
    };
    check_groups(
        &raw.unwrap_or_default().groups,
        &ctx,
        "groups",
        origin,
        check_template,
    )
}

/// A Prometheus Operator `PrometheusRule` object as written (what lookout reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPrometheusRule {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: RawObjectMeta,
    #[serde(default)]
    pub spec: RawRuleFile,
}

/// The part of an object's metadata lookout uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml_ng::Value>,
}

/// Checks a `PrometheusRule` object (YAML or JSON); groups are named by the object.
pub fn parse_prometheus_rule(
    text: &str,
    origin: &str,
    check_template: TemplateCheck<'_>,
) -> Result<RuleFile> {
    let (raw, positions) = parse_yaml::<RawPrometheusRule>(text, origin)?;
    let ctx = Ctx {
        origin,
        base_dir: None,
        positions: &positions,
    };
    if raw.kind != "PrometheusRule" || !raw.api_version.starts_with("monitoring.coreos.com/") {
        return Err(ctx.invalid(
            "kind",
            format_args!(
                "expected a monitoring.coreos.com PrometheusRule, found {} {}",
                raw.api_version, raw.kind
            ),
        ));
    }
    let file = format!("{}/{}", raw.metadata.namespace, raw.metadata.name);
    check_groups(&raw.spec.groups, &ctx, "spec.groups", &file, check_template)
}

/// The rule file name the Prometheus Operator gives a PrometheusRule's groups
/// (`<namespace>-<name>-<uid>.yaml`; the UID keeps `a-b/c` and `a/b-c` apart).
pub fn prometheus_rule_file_name(namespace: &str, name: &str, uid: &str) -> String {
    format!("{namespace}-{name}-{uid}.yaml")
}

/// Checks the `spec` of a PrometheusRule read from the API server exactly as a rule file is
/// checked. The groups' `file` is [`prometheus_rule_file_name`]; errors are prefixed
/// `PrometheusRule <namespace>/<name>` and name the field (`spec.groups[0].rules[1].expr`),
/// with line:column in the object rendered as YAML (apiVersion, kind, metadata, spec).
pub fn check_prometheus_rule_object(
    namespace: &str,
    name: &str,
    uid: &str,
    spec: &serde_json::Value,
    check_template: TemplateCheck<'_>,
) -> Result<RuleFile> {
    let origin = format!("PrometheusRule {namespace}/{name}");
    let doc = serde_json::json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    });
    let text = serde_yaml_ng::to_string(&doc).map_err(|e| Error::Invalid {
        file: origin.clone(),
        line: 1,
        column: 1,
        message: format!("cannot render the object: {e}"),
    })?;
    let mut f = parse_prometheus_rule(&text, &origin, check_template)?;
    let file = prometheus_rule_file_name(namespace, name, uid);
    for g in &mut f.groups {
        g.file = file.clone();
    }
    Ok(f)
}

fn is_valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn check_groups(
    groups: &[RawRuleGroup],
    ctx: &Ctx<'_>,
    base: &str,
    file: &str,
    check_template: TemplateCheck<'_>,
) -> Result<RuleFile> {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut out = Vec::with_capacity(groups.len());
    for (gi, g) in groups.iter().enumerate() {
        let gp = index(base, gi);
        if g.name.is_empty() {
            return Err(ctx.invalid(&gp, "groupname must not be empty"));
        }
        if seen.insert(g.name.as_str(), ()).is_some() {
            return Err(ctx.invalid(
                &field(&gp, "name"),
                format_args!("groupname: \"{}\" is repeated in the same file", g.name),
            ));
        }
        if let Some(i) = g.interval
            && i.0.is_zero()
        {
            return Err(ctx.invalid(&field(&gp, "interval"), "interval must be greater than 0"));
        }
        let mut rules = Vec::with_capacity(g.rules.len());
        for (ri, r) in g.rules.iter().enumerate() {
            rules.push(check_rule(
                r,
                ctx,
                &index(&field(&gp, "rules"), ri),
                check_template,
            )?);
        }
        out.push(RuleGroup {
            name: g.name.clone(),
            interval: g.interval.map(|d| d.0),
            limit: g.limit,
            rules,
            file: file.to_string(),
        });
    }
    Ok(RuleFile { groups: out })
}

fn check_rule(
    r: &RawRule,
    ctx: &Ctx<'_>,
    rp: &str,
    check_template: TemplateCheck<'_>,
) -> Result<Rule> {
    let kind = match (&r.record, &r.alert) {
        (Some(_), Some(_)) => {
            return Err(ctx.invalid(rp, "only one of 'record' and 'alert' must be set"));
        }
        (None, None) => return Err(ctx.invalid(rp, "one of 'record' or 'alert' must be set")),
        (Some(rec), None) => {
            if rec.is_empty() {
                return Err(ctx.invalid(&field(rp, "record"), "field 'record' must not be empty"));
            }
            if !is_valid_metric_name(rec) {
                return Err(ctx.invalid(
                    &field(rp, "record"),
                    format_args!("invalid recording rule name: {rec}"),
                ));
            }
            if r.for_.is_some() {
                return Err(
                    ctx.invalid_key(&field(rp, "for"), "invalid field 'for' in recording rule")
                );
            }
            if r.keep_firing_for.is_some() {
                return Err(ctx.invalid_key(
                    &field(rp, "keep_firing_for"),
                    "invalid field 'keep_firing_for' in recording rule",
                ));
            }
            if !r.annotations.is_empty() {
                return Err(ctx.invalid_key(
                    &field(rp, "annotations"),
                    "invalid field 'annotations' in recording rule",
                ));
            }
            RuleKind::Record(rec.clone())
        }
        (None, Some(a)) => {
            if a.is_empty() {
                return Err(ctx.invalid(&field(rp, "alert"), "field 'alert' must not be empty"));
            }
            RuleKind::Alert(a.clone())
        }
    };
    let expr = match &r.expr {
        None => return Err(ctx.invalid(rp, "field 'expr' must be set in rule")),
        Some(e) => e.text(),
    };
    if expr.trim().is_empty() {
        return Err(ctx.invalid(&field(rp, "expr"), "field 'expr' must be set in rule"));
    }
    if let Err(e) = promql_parser::parser::parse(&expr) {
        return Err(ctx.invalid(
            &field(rp, "expr"),
            format_args!("could not parse expression: {e}"),
        ));
    }
    let is_alert = matches!(kind, RuleKind::Alert(_));
    for (k, v) in &r.labels {
        let lp = field(&field(rp, "labels"), k);
        if !is_valid_label_name(k) || k == "__name__" {
            return Err(ctx.invalid_key(&lp, format_args!("invalid label name: {k}")));
        }
        if is_alert && let Err(e) = check_template(v) {
            return Err(ctx.invalid(&lp, format_args!("invalid label template: {e}")));
        }
    }
    for (k, v) in &r.annotations {
        let ap = field(&field(rp, "annotations"), k);
        if !is_valid_label_name(k) {
            return Err(ctx.invalid_key(&ap, format_args!("invalid annotation name: {k}")));
        }
        if let Err(e) = check_template(v) {
            return Err(ctx.invalid(&ap, format_args!("invalid annotation template: {e}")));
        }
    }
    Ok(Rule {
        kind,
        expr,
        for_: r.for_.map(|d| d.0).unwrap_or_default(),
        keep_firing_for: r.keep_firing_for.map(|d| d.0).unwrap_or_default(),
        labels: r.labels.clone(),
        annotations: r.annotations.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &str) -> std::result::Result<(), String> {
        Ok(())
    }

    fn no_braces(t: &str) -> std::result::Result<(), String> {
        if t.contains("{{ bad") {
            Err("template: line 1: bad".into())
        } else {
            Ok(())
        }
    }

    #[test]
    fn good_file() {
        let f = parse_rule_file(
            "groups:\n  - name: g\n    interval: 30s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Down\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 1m\n        labels: {severity: page}\n        annotations: {summary: '{{ $labels.instance }} down'}\n",
            "r.yaml",
            &ok,
        )
        .unwrap();
        assert_eq!(f.rule_count(), 2);
        assert_eq!(f.groups[0].interval, Some(Duration::from_secs(30)));
        assert_eq!(f.groups[0].rules[1].for_, Duration::from_secs(300));
        assert_eq!(f.groups[0].rules[1].name(), "Down");
    }

    #[test]
    fn errors_are_positioned() {
        let cases: &[(&str, &str)] = &[
            (
                "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up +\n",
                "r.yaml:5:15: groups[0].rules[0].expr: could not parse expression",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - record: a b\n        expr: up\n",
                "r.yaml:4:17: groups[0].rules[0].record: invalid recording rule name: a b",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - record: a\n        for: 1m\n        expr: up\n",
                "r.yaml:5:9: groups[0].rules[0].for: invalid field 'for' in recording rule",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - expr: up\n",
                "r.yaml:4:9: groups[0].rules[0]: one of 'record' or 'alert' must be set",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n        expr: up\n",
                "only one of 'record' and 'alert' must be set",
            ),
            (
                "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n",
                "r.yaml:4:11: groups[1].name: groupname: \"g\" is repeated in the same file",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          x: '{{ bad'\n",
                "r.yaml:7:14: groups[0].rules[0].annotations.x: invalid annotation template",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labels:\n          0bad: x\n",
                "r.yaml:7:11: groups[0].rules[0].labels.0bad: invalid label name",
            ),
            ("groups:\n  - name: g\n    rulez: []\n", "r.yaml:3:5"),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n",
                "field 'expr' must be set",
            ),
        ];
        for (src, want) in cases {
            let e = parse_rule_file(src, "r.yaml", &no_braces)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{src}\nwant {want}\ngot  {e}");
        }
    }

    #[test]
    fn prometheus_rule_object() {
        let src = "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: r\n  namespace: monitoring\n  labels: {app: x}\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: A\n          expr: vector(1)\n";
        let f = parse_prometheus_rule(src, "obj.yaml", &ok).unwrap();
        assert_eq!(f.groups[0].file, "monitoring/r");
        let bad = src.replace("vector(1)", "vector(");
        let e = parse_prometheus_rule(&bad, "obj.yaml", &ok)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("obj.yaml:12:17: spec.groups[0].rules[0].expr"),
            "{e}"
        );
    }

    #[test]
    fn prometheus_rule_object_from_the_api_server() {
        let spec = serde_json::json!({"groups": [
            {"name": "g", "interval": "30s", "rules": [
                {"alert": "A", "expr": "up == 0", "for": "5m", "labels": {"severity": "page"}},
                {"record": "job:up:sum", "expr": "sum by (job) (up)"},
                {"record": "one", "expr": 1}
            ]}
        ]});
        let f = check_prometheus_rule_object("apps", "web", "u-1", &spec, &ok).unwrap();
        assert_eq!(f.rule_count(), 3);
        let g = &f.groups[0];
        assert_eq!(
            (g.name.as_str(), g.file.as_str()),
            ("g", "apps-web-u-1.yaml")
        );
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.rules[0].for_, Duration::from_secs(300));
        assert_eq!(g.rules[2].expr, "1");
        let cases = [
            (
                serde_json::json!({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up =="}]}]}),
                "spec.groups[0].rules[0].expr: could not parse expression",
            ),
            (
                serde_json::json!({"groups": [{"name": "g", "rules": []}, {"name": "g", "rules": []}]}),
                "groupname: \"g\" is repeated",
            ),
            (
                serde_json::json!({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "annotations": {"x": "{{ bad"}}]}]}),
                "invalid annotation template",
            ),
            (
                serde_json::json!({"groups": [{"name": "g", "query_offset": "1m", "rules": []}]}),
                "unknown field `query_offset`",
            ),
        ];
        for (spec, want) in cases {
            let e = check_prometheus_rule_object("apps", "web", "u-1", &spec, &no_braces)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("PrometheusRule apps/web:"), "{e}");
            assert!(e.contains(want), "want {want}\ngot  {e}");
        }
    }
}
