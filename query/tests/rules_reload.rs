//! The rule manager across reloads, as Prometheus keeps state: an unchanged group keeps
//! running untouched; in a changed group a rule with the same name and labels keeps its
//! pending alerts (their `for` progress), one whose labels changed starts afresh; a removed
//! group's `ALERTS` series end with a staleness marker at once.

use lookout_config::rules::{Rule, RuleGroup, RuleKind};
use lookout_query::rules::{AlertSink, RuleManager, RuleState, RulesOptions, SentAlert};
use lookout_store::{Head, Matcher, Querier, is_stale_nan};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Nothing;
impl AlertSink for Nothing {
    fn send(&self, _: Vec<SentAlert>) {}
}

fn alert(name: &str, expr: &str, labels: &[(&str, &str)], summary: &str) -> Rule {
    Rule {
        kind: RuleKind::Alert(name.into()),
        expr: expr.into(),
        for_: Duration::from_secs(3600),
        keep_firing_for: Duration::ZERO,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: BTreeMap::from([("summary".to_string(), summary.to_string())]),
    }
}

fn group(file: &str, name: &str, rules: Vec<Rule>) -> RuleGroup {
    RuleGroup {
        name: name.into(),
        interval: Some(Duration::from_millis(100)),
        limit: 0,
        rules,
        file: file.into(),
    }
}

/// `(active_at of each active alert)` of rule `i` of the group named `name`.
fn active_at(m: &RuleManager, name: &str, i: usize) -> Option<Vec<i64>> {
    let groups = m.groups();
    let g = groups.iter().find(|g| g.lock().cfg.name == name)?;
    let g = g.lock();
    match &g.rules.get(i)?.state {
        RuleState::Alerting(a) => {
            let mut v: Vec<i64> = a.active.values().map(|x| x.active_at).collect();
            v.sort();
            Some(v)
        }
        RuleState::Recording { .. } => None,
    }
}

async fn wait_pending(m: &RuleManager, name: &str, i: usize) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = active_at(m, name, i)
            && !v.is_empty()
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "rule {i} of {name} never pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_state_like_prometheus() {
    let head = Arc::new(Head::new());
    let m = RuleManager::new(
        head.clone(),
        head.clone(),
        Arc::new(Nothing),
        RulesOptions::default(),
    );
    let a = alert("A", "vector(1)", &[("severity", "page")], "one");
    let b = alert("B", "vector(2)", &[], "two");
    let other = alert("C", "vector(3)", &[], "three");
    m.apply(
        vec![
            group("f.yaml", "g", vec![a.clone(), b.clone()]),
            group("f.yaml", "other", vec![other.clone()]),
        ],
        RulesOptions::default(),
    )
    .unwrap();
    let a_at = wait_pending(&m, "g", 0).await;
    let b_at = wait_pending(&m, "g", 1).await;
    let c_at = wait_pending(&m, "other", 0).await;
    let other_arc = m
        .groups()
        .into_iter()
        .find(|g| g.lock().cfg.name == "other")
        .unwrap();

    // A's annotation changes (same name and labels: keeps its pending alert), B's labels
    // change (a different rule to Prometheus: starts afresh), a rule is added; `other` is
    // unchanged and keeps running as the same group.
    let a2 = alert("A", "vector(1)", &[("severity", "page")], "changed");
    let b2 = alert("B", "vector(2)", &[("team", "x")], "two");
    let d = alert("D", "vector(4)", &[], "four");
    m.apply(
        vec![
            group("f.yaml", "g", vec![d.clone(), a2.clone(), b2.clone()]),
            group("f.yaml", "other", vec![other.clone()]),
        ],
        RulesOptions::default(),
    )
    .unwrap();
    assert_eq!(
        active_at(&m, "g", 1),
        Some(a_at.clone()),
        "A kept its `for`"
    );
    // Fresh state: no alert, or (if an evaluation already ran) one that started later.
    let fresh = |v: Option<Vec<i64>>, before: &[i64]| {
        v.is_some_and(|v| v.iter().all(|t| before.iter().all(|b| t > b)))
    };
    assert!(fresh(active_at(&m, "g", 2), &b_at), "B starts afresh");
    let still = m
        .groups()
        .into_iter()
        .find(|g| g.lock().cfg.name == "other")
        .unwrap();
    assert!(Arc::ptr_eq(&still, &other_arc), "unchanged group untouched");
    assert_eq!(active_at(&m, "other", 0), Some(c_at.clone()));
    // The moved group keeps evaluating: B becomes pending again, A keeps its start.
    wait_pending(&m, "g", 2).await;
    assert_eq!(active_at(&m, "g", 1), Some(a_at));

    // The same group name in another file is another group: no state is shared.
    m.apply(
        vec![
            group("f.yaml", "g", vec![d, a2.clone(), b2]),
            group("other-file.yaml", "other", vec![other]),
        ],
        RulesOptions::default(),
    )
    .unwrap();
    assert!(fresh(active_at(&m, "other", 0), &c_at));

    // Removing a group ends its ALERTS series at once.
    let alerts_of = |name: &str| {
        head.select(
            &[
                Matcher::equal("__name__", "ALERTS"),
                Matcher::equal("alertname", name),
            ],
            0,
            i64::MAX / 2,
        )
        .unwrap()
    };
    assert!(!alerts_of("A").is_empty(), "ALERTS written while pending");
    m.apply(
        vec![group("other-file.yaml", "other", vec![])],
        RulesOptions::default(),
    )
    .unwrap();
    for s in alerts_of("A") {
        let last = s.samples.last().expect("samples").1;
        assert!(is_stale_nan(last), "ALERTS of a removed group end: {last}");
    }
    m.stop();
}
