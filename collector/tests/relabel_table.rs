//! Table test of relabeling semantics: every case in `testdata/relabel_cases.yaml` gives
//! input labels, rules as written in a Prometheus config, and the exact expected output (or
//! that the set is dropped). All failures are collected and reported together.

use std::collections::BTreeMap;

use lookout_collector::relabel::{self, LabelBuilder};
use lookout_config::relabel::{NameValidation, RawRelabelConfig, RelabelConfig};
use lookout_store::Labels;
use serde::Deserialize;

const CASES: &str = include_str!("testdata/relabel_cases.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// `utf8` to check the rules under the UTF-8 label-name scheme.
    #[serde(default)]
    names: Option<String>,
    input: BTreeMap<String, String>,
    rules: Vec<RawRelabelConfig>,
    #[serde(default)]
    output: Option<BTreeMap<String, String>>,
    #[serde(default)]
    dropped: bool,
}

fn labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Runs one case; `Err` describes how it failed.
fn run(case: &Case) -> Result<(), String> {
    let names = match case.names.as_deref() {
        None => NameValidation::Legacy,
        Some("utf8") => NameValidation::Utf8,
        Some(other) => return Err(format!("unknown names scheme {other:?}")),
    };
    let rules = case
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| RelabelConfig::from_raw_with(r, names).map_err(|e| format!("rule {i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let want = match (&case.output, case.dropped) {
        (Some(out), false) => Some(labels(out)),
        (None, true) => None,
        _ => return Err("a case needs exactly one of `output` and `dropped: true`".into()),
    };
    let input = labels(&case.input);
    let got = relabel::relabel(&rules, &input);
    if got != want {
        return Err(format!("relabel: want {want:?}\n      got  {got:?}"));
    }
    // The builder path gives the same answer.
    let mut b = LabelBuilder::from_labels(&input);
    let kept = relabel::process(&rules, &mut b);
    let via_builder = kept.then(|| b.into_labels());
    if via_builder != want {
        return Err(format!(
            "process: want {want:?}\n      got  {via_builder:?}"
        ));
    }
    Ok(())
}

#[test]
fn relabel_table() {
    let cases: Vec<Case> = serde_yaml_ng::from_str(CASES).expect("relabel_cases.yaml parses");
    assert!(
        cases.len() >= 40,
        "the table shrank to {} cases",
        cases.len()
    );
    let mut seen = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        if !seen.insert(case.name.as_str()) {
            failures.push(format!("duplicate case name {:?}", case.name));
        }
        if let Err(e) = run(case) {
            failures.push(format!("case {:?}:\n      {e}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} relabel cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The table's rules are parsed from YAML as a list of rules exactly as a config holds them.
#[test]
fn rules_parse_as_a_plain_yaml_list() {
    let yaml = "
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
- regex: __meta_kubernetes_pod_label_(.+)
  action: labelmap
- source_labels: [__meta_kubernetes_pod_phase]
  regex: Pending|Succeeded|Failed|Completed
  action: drop
";
    let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("parses");
    let rules: Vec<RelabelConfig> = raw
        .iter()
        .map(|r| RelabelConfig::from_raw(r).expect("valid"))
        .collect();
    let input = Labels::from_pairs([
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_pod_label_app", "cart"),
        ("__meta_kubernetes_pod_phase", "Running"),
    ]);
    let out = relabel::relabel(&rules, &input).expect("running pods are kept");
    assert_eq!(out.get("namespace"), Some("shop"));
    assert_eq!(out.get("app"), Some("cart"));
    let stripped = relabel::without_reserved(&out);
    assert_eq!(
        stripped,
        Labels::from_pairs([("app", "cart"), ("namespace", "shop")])
    );

    let pending = Labels::from_pairs([("__meta_kubernetes_pod_phase", "Pending")]);
    assert_eq!(relabel::relabel(&rules, &pending), None);
}
