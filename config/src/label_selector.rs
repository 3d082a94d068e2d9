//! Kubernetes label selectors as the Prometheus Operator's `ruleSelector` /
//! `ruleNamespaceSelector` write them (`matchLabels`, `matchExpressions` with `In`, `NotIn`,
//! `Exists`, `DoesNotExist`), checked into a [`LabelSelector`] that can be sent to the API
//! server as a `labelSelector` query string or evaluated against an object's labels.
//!
//! Keys are accepted in the Operator's camelCase (`matchLabels`) and in lookout's snake_case
//! (`match_labels`), so a selector can be pasted from a `Prometheus` object.
//!
//! Invariants: a checked selector only holds terms the API server accepts (valid operator,
//! values present exactly when the operator takes them, label keys and values of the
//! Kubernetes syntax), so its query string is never rejected. Cost: load time; matching is
//! one map lookup per term.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::context::Ctx;
use crate::error::Result;
use crate::position::{field, index};

/// A selector as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabelSelector {
    /// Labels that must have exactly these values.
    #[serde(default, alias = "matchLabels")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements, all of which must hold.
    #[serde(default, alias = "matchExpressions")]
    pub match_expressions: Vec<RawRequirement>,
}

/// One `matchExpressions` entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequirement {
    /// The label key.
    #[serde(default)]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[serde(default)]
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A set-based operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl SelectorOp {
    /// The operator as Kubernetes spells it (`In`, `NotIn`, `Exists`, `DoesNotExist`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "In" => SelectorOp::In,
            "NotIn" => SelectorOp::NotIn,
            "Exists" => SelectorOp::Exists,
            "DoesNotExist" => SelectorOp::DoesNotExist,
            _ => return None,
        })
    }

    /// Whether a label with value `got` (`None`: absent) satisfies the operator over `values`.
    pub fn holds(self, got: Option<&String>, values: &[String]) -> bool {
        match self {
            SelectorOp::In => got.is_some_and(|v| values.contains(v)),
            SelectorOp::NotIn => got.is_none_or(|v| !values.contains(v)),
            SelectorOp::Exists => got.is_some(),
            SelectorOp::DoesNotExist => got.is_none(),
        }
    }
}

/// A checked requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: SelectorOp,
    pub values: Vec<String>,
}

/// A checked selector; the empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// A label value: empty, or at most 63 characters as for a key's name.
fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && v.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

impl RawLabelSelector {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<LabelSelector> {
        let ml = field(path, "match_labels");
        for (k, v) in &self.match_labels {
            if !is_label_key(k) {
                return Err(
                    ctx.invalid_key(&field(&ml, k), format_args!("invalid label key {k:?}"))
                );
            }
            if !is_label_value(v) {
                return Err(ctx.invalid(&field(&ml, k), format_args!("invalid label value {v:?}")));
            }
        }
        let mut match_expressions = Vec::new();
        for (i, r) in self.match_expressions.iter().enumerate() {
            let p = index(&field(path, "match_expressions"), i);
            if !is_label_key(&r.key) {
                return Err(ctx.invalid(&p, format_args!("invalid label key {:?}", r.key)));
            }
            let Some(op) = SelectorOp::from_name(&r.operator) else {
                return Err(ctx.invalid(
                    &field(&p, "operator"),
                    format_args!(
                        "invalid operator {:?}: expected In, NotIn, Exists or DoesNotExist",
                        r.operator
                    ),
                ));
            };
            let takes_values = matches!(op, SelectorOp::In | SelectorOp::NotIn);
            if takes_values && r.values.is_empty() {
                return Err(ctx.invalid(&p, "values must be non-empty for In and NotIn"));
            }
            if !takes_values && !r.values.is_empty() {
                return Err(ctx.invalid(
                    &field(&p, "values"),
                    "values must be empty for Exists and DoesNotExist",
                ));
            }
            if let Some(v) = r.values.iter().find(|v| !is_label_value(v)) {
                return Err(ctx.invalid(
                    &field(&p, "values"),
                    format_args!("invalid label value {v:?}"),
                ));
            }
            match_expressions.push(Requirement {
                key: r.key.clone(),
                op,
                values: r.values.clone(),
            });
        }
        Ok(LabelSelector {
            match_labels: self.match_labels.clone(),
            match_expressions,
        })
    }
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .match_expressions
                .iter()
                .all(|r| r.op.holds(labels.get(&r.key), &r.values))
    }

    /// The API server's `labelSelector` syntax (`a=b,c in (d,e),!f`); empty for the empty
    /// selector.
    pub fn to_query(&self) -> String {
        let mut terms: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            terms.push(match r.op {
                SelectorOp::In => format!("{} in ({})", r.key, r.values.join(",")),
                SelectorOp::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                SelectorOp::Exists => r.key.clone(),
                SelectorOp::DoesNotExist => format!("!{}", r.key),
            });
        }
        terms.join(",")
    }
}

#[cfg(test)]
mod tests {
    use crate::load_str;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_query_and_matching() {
        let c = load_str(
            "kubernetes:\n  rule_selector:\n    matchLabels: {role: alert-rules}\n    matchExpressions:\n      - {key: team, operator: In, values: [a, b]}\n      - {key: example.com/skip, operator: DoesNotExist}\n",
            "t.yaml",
        )
        .expect("loads");
        let s = c.kubernetes.rule_selector.expect("set");
        assert_eq!(
            s.to_query(),
            "role=alert-rules,team in (a,b),!example.com/skip"
        );
        assert!(s.matches(&labels(&[("role", "alert-rules"), ("team", "a")])));
        assert!(!s.matches(&labels(&[("role", "alert-rules"), ("team", "c")])));
        assert!(!s.matches(&labels(&[
            ("role", "alert-rules"),
            ("team", "a"),
            ("example.com/skip", "")
        ])));
        assert!(!s.matches(&labels(&[("team", "a")])));
    }

    #[test]
    fn bad_selectors_are_positioned_errors() {
        let cases = [
            (
                "kubernetes:\n  rule_selector:\n    match_expressions:\n      - {key: a, operator: Maybe, values: [x]}\n",
                4,
                "invalid operator \"Maybe\"",
            ),
            (
                "kubernetes:\n  rule_selector:\n    match_expressions:\n      - {key: a, operator: In}\n",
                4,
                "values must be non-empty",
            ),
            (
                "kubernetes:\n  rule_namespace_selector:\n    match_expressions:\n      - {key: a, operator: Exists, values: [x]}\n",
                4,
                "values must be empty",
            ),
            (
                "kubernetes:\n  rule_selector:\n    match_labels: {\"bad key!\": x}\n",
                3,
                "invalid label key",
            ),
            (
                "kubernetes:\n  rule_selector:\n    match_labels: {a: \"no spaces\"}\n",
                3,
                "invalid label value",
            ),
            (
                "kubernetes:\n  rule_selector:\n    matchNames: [x]\n",
                3,
                "unknown field",
            ),
        ];
        for (text, line, want) in cases {
            let e = load_str(text, "t.yaml").expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.contains(&format!("t.yaml:{line}:")), "{text:?}: {e}");
        }
    }
}
