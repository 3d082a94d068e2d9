//! Engine checks that need the module's internals; the broad semantic table is
//! `collector/tests/relabel_table.rs`.

use super::*;
use lookout_config::relabel::RawRelabelConfig;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("yaml");
    raw.iter()
        .map(|r| RelabelConfig::from_raw(r).expect("valid rule"))
        .collect()
}

#[test]
fn hashmod_matches_hand_computed_md5() {
    // python3: int.from_bytes(hashlib.md5(v).digest()[8:], "big") % m
    assert_eq!(hashmod("baz", 1000), 976);
    assert_eq!(hashmod("foo\nbar", 1000), 734);
    assert_eq!(hashmod("", 7), 1);
    assert_eq!(hashmod("10.0.0.1:9100", 3), 2);
    assert_eq!(hashmod("a;b", 16), 10);
    assert_eq!(hashmod("pod-7", u64::MAX), 14636533552689905856);
    assert_eq!(hashmod("x", 1), 0);
    assert_eq!(hashmod("x", 0), 0);
}

#[test]
fn labelmap_conflicts_resolve_in_prometheus_order() {
    // Both labels map to `app`; untouched labels are visited by name, so `b_app` wins.
    let r = rules("[{action: labelmap, regex: '[ab]_(.*)'}]");
    let l = Labels::from_pairs([("a_app", "1"), ("b_app", "2")]);
    assert_eq!(relabel(&r, &l).expect("kept").get("app"), Some("2"));

    // A label written by an earlier rule is visited after the untouched ones, so now
    // `a_app` (rewritten by the first rule) is visited last and wins.
    let r = rules(
        "[{source_labels: [a_app], target_label: a_app, replacement: 'x${1}'},
          {action: labelmap, regex: '[ab]_(.*)'}]",
    );
    assert_eq!(relabel(&r, &l).expect("kept").get("app"), Some("x1"));
}

#[test]
fn labelmap_reads_names_and_values_from_before_the_rule() {
    // `x` -> `xx` overwrites `xx`; `xx` is still visited with its original value and maps to
    // `xxx`, and the freshly written `xx` is not visited again.
    let r = rules("[{action: labelmap, regex: '(x+)', replacement: '${1}x'}]");
    let l = Labels::from_pairs([("x", "1"), ("xx", "2")]);
    assert_eq!(
        relabel(&r, &l).expect("kept"),
        Labels::from_pairs([("x", "1"), ("xx", "1"), ("xxx", "2")])
    );
}

#[test]
fn process_on_a_borrowed_builder() {
    let r =
        rules("[{source_labels: [job], target_label: team, regex: '(.*)-api', replacement: $1}]");
    let mut b = LabelBuilder::from_pairs([("job", "billing-api"), ("__name__", "up")]);
    assert!(process(&r, &mut b));
    assert_eq!(b.get("team"), Some("billing"));
    assert_eq!(
        b.into_labels(),
        Labels::from_pairs([
            ("job", "billing-api"),
            ("__name__", "up"),
            ("team", "billing")
        ])
    );
}

#[test]
fn process_stops_at_the_first_drop() {
    let r = rules("[{action: drop, source_labels: [a]}, {target_label: b, replacement: x}]");
    let mut b = LabelBuilder::from_pairs([("a", "1")]);
    // `drop` with the default regex `(.*)` matches everything.
    assert!(!process(&r, &mut b));
    assert_eq!(b.get("b"), None);
}

#[test]
fn no_rules_keep_labels_unchanged() {
    let l = Labels::from_pairs([("a", "1")]);
    assert_eq!(relabel(&[], &l), Some(l.clone()));
}

#[test]
fn without_reserved_drops_double_underscore_labels() {
    let l = Labels::from_pairs([
        ("__address__", "h:1"),
        ("__meta_kubernetes_pod_name", "p"),
        ("__name__", "x"),
        ("_single", "kept"),
        ("job", "j"),
    ]);
    assert_eq!(
        without_reserved(&l),
        Labels::from_pairs([("_single", "kept"), ("job", "j")])
    );
}
