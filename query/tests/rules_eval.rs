//! Rule evaluation at chosen timestamps over an in-memory head: recording rules write back
//! (and go stale), alerting rules move through pending → firing → resolved with `for` and
//! `keep_firing_for`, write ALERTS / ALERTS_FOR_STATE, send each firing and each resolution
//! once (resends only after the resend delay), expand templates, honour limits, and restore
//! `for` progress after a restart.

use lookout_config::rules::parse_rule_file;
use lookout_query::rules::{AlertSink, Group, RulesOptions, SentAlert, eval_group};
use lookout_store::{Appendable, Head, Labels, Matcher, Querier, is_stale_nan};
use parking_lot::Mutex;
use std::time::{Duration, UNIX_EPOCH};

#[derive(Default)]
struct Collect(Mutex<Vec<SentAlert>>);
impl AlertSink for Collect {
    fn send(&self, a: Vec<SentAlert>) {
        self.0.lock().extend(a);
    }
}

const T0: i64 = 1_700_000_000_000;

fn put(h: &Head, labels: &[(&str, &str)], t: i64, v: f64) {
    let mut app = h.appender();
    app.append(0, &Labels::from_pairs(labels.iter().copied()), t, v)
        .unwrap();
    app.commit().unwrap();
}

fn group(src: &str) -> Group {
    let f = parse_rule_file(src, "rules.yaml", &lookout_query::template::check_syntax).unwrap();
    Group::new(f.groups[0].clone(), Duration::from_secs(15)).unwrap()
}

fn select(h: &Head, name: &str) -> Vec<lookout_store::Series> {
    h.select(&[Matcher::equal("__name__", name)], 0, i64::MAX / 2)
        .unwrap()
}

fn opts() -> RulesOptions {
    RulesOptions {
        external_labels: [("cluster".to_string(), "c1".to_string())]
            .into_iter()
            .collect(),
        ..RulesOptions::default()
    }
}

#[test]
fn recording_rule_writes_and_goes_stale() {
    let h = Head::new();
    put(
        &h,
        &[("__name__", "req_total"), ("job", "a"), ("i", "1")],
        T0,
        10.0,
    );
    put(
        &h,
        &[("__name__", "req_total"), ("job", "a"), ("i", "2")],
        T0,
        5.0,
    );
    let mut g = group(
        "groups:\n  - name: g\n    rules:\n      - record: job:req:sum\n        expr: sum by (job) (req_total)\n        labels: {tier: x}\n",
    );
    let sink = Collect::default();
    eval_group(&mut g, &h, &h, &sink, &opts(), T0);
    let s = select(&h, "job:req:sum");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels.get("tier"), Some("x"));
    assert_eq!(s[0].samples, vec![(T0, 15.0)]);
    // Source gone past the lookback: the recorded series gets a staleness marker.
    eval_group(&mut g, &h, &h, &sink, &opts(), T0 + 10 * 60 * 1000);
    let s = select(&h, "job:req:sum");
    assert!(is_stale_nan(s[0].samples.last().unwrap().1));
    assert!(g.rules[0].health.last_error.is_none());
}

#[test]
fn alert_fires_after_for_once_and_resolves_once() {
    let h = Head::new();
    let mut g = group(
        "groups:\n  - name: g\n    rules:\n      - alert: TargetDown\n        expr: up == 0\n        for: 30s\n        labels: {severity: page}\n        annotations:\n          summary: '{{ $labels.instance }} of {{ $externalLabels.cluster }} down ({{ $value }})'\n",
    );
    let sink = Collect::default();
    let o = opts();
    let up = |t: i64, v: f64| {
        put(
            &h,
            &[("__name__", "up"), ("job", "n"), ("instance", "h:1")],
            t,
            v,
        )
    };
    let mut t = T0;
    up(t, 0.0);
    eval_group(&mut g, &h, &h, &sink, &o, t);
    assert!(sink.0.lock().is_empty(), "pending alerts are not sent");
    let alerts = select(&h, "ALERTS");
    assert_eq!(alerts[0].labels.get("alertstate"), Some("pending"));
    for step in 1..=2 {
        t = T0 + step * 15_000;
        up(t, 0.0);
        eval_group(&mut g, &h, &h, &sink, &o, t);
    }
    // t0 + 30s: for elapsed -> firing, sent once.
    {
        let sent = sink.0.lock();
        assert_eq!(sent.len(), 1);
        let a = &sent[0];
        assert_eq!(
            a.labels.get("alertname").map(String::as_str),
            Some("TargetDown")
        );
        assert_eq!(a.labels.get("severity").map(String::as_str), Some("page"));
        assert_eq!(a.annotations["summary"], "h:1 of c1 down (0)");
        assert_eq!(a.starts_at, UNIX_EPOCH + Duration::from_millis(T0 as u64));
        // endsAt: 4 × max(resend delay 1m, interval 15s) after the send.
        assert_eq!(
            a.ends_at,
            Some(UNIX_EPOCH + Duration::from_millis((t + 240_000) as u64))
        );
    }
    let firing: Vec<_> = select(&h, "ALERTS")
        .into_iter()
        .filter(|s| s.labels.get("alertstate") == Some("firing"))
        .collect();
    assert_eq!(firing.len(), 1);
    let fs = select(&h, "ALERTS_FOR_STATE");
    assert_eq!(fs[0].samples.last().unwrap().1, T0 as f64 / 1000.0);
    // Still firing 15 s later: no resend before the resend delay.
    t += 15_000;
    up(t, 0.0);
    eval_group(&mut g, &h, &h, &sink, &o, t);
    assert_eq!(sink.0.lock().len(), 1);
    // Back up: resolved, sent once with endsAt = resolution time.
    t += 15_000;
    up(t, 1.0);
    eval_group(&mut g, &h, &h, &sink, &o, t);
    {
        let sent = sink.0.lock();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[1].ends_at,
            Some(UNIX_EPOCH + Duration::from_millis(t as u64))
        );
    }
    t += 15_000;
    up(t, 1.0);
    eval_group(&mut g, &h, &h, &sink, &o, t);
    assert_eq!(sink.0.lock().len(), 2, "a resolution is sent once");
    // The firing ALERTS series went stale.
    let firing: Vec<_> = select(&h, "ALERTS")
        .into_iter()
        .filter(|s| s.labels.get("alertstate") == Some("firing"))
        .collect();
    assert!(is_stale_nan(firing[0].samples.last().unwrap().1));
}

#[test]
fn keep_firing_for_and_limit_and_duplicate_labelsets() {
    let h = Head::new();
    let sink = Collect::default();
    let o = opts();
    let mut g = group(
        "groups:\n  - name: g\n    rules:\n      - alert: Flappy\n        expr: x > 0\n        keep_firing_for: 1m\n",
    );
    put(&h, &[("__name__", "x")], T0, 1.0);
    eval_group(&mut g, &h, &h, &sink, &o, T0);
    assert_eq!(sink.0.lock().len(), 1, "for: 0 fires at once");
    put(&h, &[("__name__", "x")], T0 + 15_000, 0.0);
    eval_group(&mut g, &h, &h, &sink, &o, T0 + 15_000);
    let v = lookout_query::rules::api::rules_data_for_group(&g);
    assert_eq!(
        v["rules"][0]["state"], "firing",
        "kept firing within keep_firing_for"
    );
    put(&h, &[("__name__", "x")], T0 + 90_000, 0.0);
    eval_group(&mut g, &h, &h, &sink, &o, T0 + 90_000);
    let v = lookout_query::rules::api::rules_data_for_group(&g);
    assert_eq!(v["rules"][0]["state"], "inactive");

    let mut g = group(
        "groups:\n  - name: g\n    limit: 1\n    rules:\n      - alert: Many\n        expr: y\n",
    );
    put(&h, &[("__name__", "y"), ("a", "1")], T0, 1.0);
    put(&h, &[("__name__", "y"), ("a", "2")], T0, 1.0);
    eval_group(&mut g, &h, &h, &sink, &o, T0);
    assert!(
        g.rules[0]
            .health
            .last_error
            .as_deref()
            .unwrap()
            .contains("exceeded limit of 1 with 2 alerts")
    );

    let mut g = group(
        "groups:\n  - name: g\n    rules:\n      - record: z\n        expr: y\n        labels: {a: same}\n",
    );
    eval_group(&mut g, &h, &h, &sink, &o, T0);
    assert!(
        g.rules[0]
            .health
            .last_error
            .as_deref()
            .unwrap()
            .contains("same labelset")
    );
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let h = Head::new();
    let sink = Collect::default();
    let o = opts();
    let src = "groups:\n  - name: g\n    rules:\n      - alert: Slow\n        expr: s > 0\n        for: 30m\n";
    let mut g = group(src);
    for i in 0..=20 {
        let t = T0 + i * 60_000;
        put(&h, &[("__name__", "s")], t, 1.0);
        eval_group(&mut g, &h, &h, &sink, &o, t);
    }
    // "Restart" 2 minutes later with fresh rule state over the same store.
    let mut g2 = group(src);
    let t = T0 + 22 * 60_000;
    put(&h, &[("__name__", "s")], t, 1.0);
    eval_group(&mut g2, &h, &h, &sink, &o, t);
    let v = lookout_query::rules::api::rules_data_for_group(&g2);
    let active_at = v["rules"][0]["alerts"][0]["activeAt"]
        .as_str()
        .unwrap()
        .to_string();
    // 20 of 30 minutes were spent before the restart; 10 remain, which equals the grace
    // period, so the alert keeps its progress shifted by the 2 minutes of downtime.
    assert_eq!(
        active_at,
        lookout_query::api::params::format_rfc3339(T0 + 2 * 60_000)
    );
}
