//! Kubernetes label selectors (`matchLabels`, `matchExpressions`) and the Operator's
//! `namespaceSelector`, evaluated against watched objects.
//!
//! Used to pre-filter what a monitor can select before the generated relabel chain runs (the
//! chain repeats the same test, so the result is the Operator's either way; filtering first
//! keeps other Services' targets out of the job and out of `droppedTargets`). An expression
//! with an unknown operator selects nothing, as the API server would reject it.
//! Cost: a map lookup per term per object.

use super::crd::NamespaceSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use lookout_config::label_selector::SelectorOp;
use std::collections::BTreeMap;

/// Whether `labels` satisfy `sel` (an empty selector matches everything).
pub fn matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let get = |k: &str| labels.and_then(|m| m.get(k));
    for (k, v) in sel.match_labels.iter().flatten() {
        if get(k) != Some(v) {
            return false;
        }
    }
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default();
        let ok = SelectorOp::from_name(&e.operator).is_some_and(|op| op.holds(get(&e.key), values));
        if !ok {
            return false;
        }
    }
    true
}

/// Whether a monitor in `own_ns` with `sel` looks at namespace `ns`: `any`, else
/// `matchNames`, else only its own namespace.
pub fn selects_namespace(sel: Option<&NamespaceSelector>, own_ns: &str, ns: &str) -> bool {
    match sel {
        Some(s) if s.any => true,
        Some(s) if !s.match_names.is_empty() => s.match_names.iter().any(|n| n == ns),
        _ => own_ns == ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let sel = |ml: &[(&str, &str)], me: Vec<LabelSelectorRequirement>| LabelSelector {
            match_labels: Some(labels(ml)),
            match_expressions: Some(me),
        };
        assert!(matches(&LabelSelector::default(), Some(&l)));
        assert!(matches(&LabelSelector::default(), None));
        assert!(matches(&sel(&[("app", "web")], vec![]), Some(&l)));
        assert!(!matches(&sel(&[("app", "db")], vec![]), Some(&l)));
        assert!(!matches(&sel(&[("app", "web")], vec![]), None));
        assert!(matches(
            &sel(&[], vec![expr("tier", "In", &["front", "x"])]),
            Some(&l)
        ));
        assert!(!matches(
            &sel(&[], vec![expr("tier", "In", &["back"])]),
            Some(&l)
        ));
        assert!(matches(
            &sel(&[], vec![expr("tier", "NotIn", &["back"])]),
            Some(&l)
        ));
        assert!(matches(
            &sel(&[], vec![expr("zone", "NotIn", &["a"])]),
            Some(&l)
        ));
        assert!(!matches(
            &sel(&[], vec![expr("tier", "NotIn", &["front"])]),
            Some(&l)
        ));
        assert!(matches(
            &sel(&[], vec![expr("app", "Exists", &[])]),
            Some(&l)
        ));
        assert!(!matches(
            &sel(&[], vec![expr("zone", "Exists", &[])]),
            Some(&l)
        ));
        assert!(matches(
            &sel(&[], vec![expr("zone", "DoesNotExist", &[])]),
            Some(&l)
        ));
        assert!(!matches(
            &sel(&[], vec![expr("app", "DoesNotExist", &[])]),
            Some(&l)
        ));
        assert!(!matches(
            &sel(&[], vec![expr("app", "Bogus", &[])]),
            Some(&l)
        ));
    }

    #[test]
    fn namespace_selector() {
        let any = NamespaceSelector {
            any: true,
            match_names: vec![],
        };
        let names = NamespaceSelector {
            any: false,
            match_names: vec!["a".into(), "b".into()],
        };
        assert!(selects_namespace(Some(&any), "own", "x"));
        assert!(selects_namespace(Some(&names), "own", "b"));
        assert!(!selects_namespace(Some(&names), "own", "own"));
        assert!(selects_namespace(None, "own", "own"));
        assert!(!selects_namespace(None, "own", "x"));
        assert!(selects_namespace(
            Some(&NamespaceSelector::default()),
            "own",
            "own"
        ));
    }
}
