//! Rule evaluation cost: 1,000 alerting rules over 100,000 series, one full evaluation round
//! (what every 15 s interval costs). The goal is "less than one core": a round must
//! take well under 15 s of CPU. Each rule selects 1,000 series of one of 100 metrics and
//! compares them with a threshold, so ~10% of series are active alerts with templated
//! annotations.
//!
//! Run: `cargo bench -p lookout-benches --bench rules`

use criterion::{Criterion, criterion_group, criterion_main};
use lookout_config::rules::parse_rule_file;
use lookout_query::rules::{AlertSink, Group, RulesOptions, SentAlert, eval_group};
use lookout_store::{Appendable, Head, Labels};
use std::fmt::Write as _;
use std::time::Duration;

struct Drop;
impl AlertSink for Drop {
    fn send(&self, _: Vec<SentAlert>) {}
}

const METRICS: usize = 100;
const PER_METRIC: usize = 1_000;
const RULES: usize = 1_000;
const T0: i64 = 1_700_000_000_000;

fn setup() -> (Head, Vec<Group>) {
    let head = Head::new();
    // 100,000 series, 4 samples each 15 s apart (the lookback finds the latest).
    for k in 0..4 {
        let mut app = head.appender();
        for m in 0..METRICS {
            for i in 0..PER_METRIC {
                let l = Labels::from_pairs([
                    ("__name__", format!("metric_{m}")),
                    ("job", format!("job{}", i % 10)),
                    ("instance", format!("host-{i}:9100")),
                ]);
                app.append(0, &l, T0 + k * 15_000, ((i * 7 + m) % 100) as f64)
                    .unwrap();
            }
        }
        app.commit().unwrap();
    }
    // 1,000 rules in 10 groups of 100.
    let mut groups = Vec::new();
    for g in 0..10 {
        let mut y = format!("groups:\n  - name: g{g}\n    rules:\n");
        for r in 0..RULES / 10 {
            let n = g * (RULES / 10) + r;
            let _ = write!(
                y,
                "      - alert: A{n}\n        expr: metric_{}{{job=\"job{}\"}} > 90\n        for: 1m\n        labels: {{severity: warn}}\n        annotations: {{summary: '{{{{ $labels.instance }}}} at {{{{ $value | humanize }}}}'}}\n",
                n % METRICS,
                n % 10
            );
        }
        let f = parse_rule_file(&y, "bench.yaml", &lookout_query::template::check_syntax).unwrap();
        groups.push(Group::new(f.groups[0].clone(), Duration::from_secs(15)).unwrap());
    }
    (head, groups)
}

fn bench(c: &mut Criterion) {
    let (head, mut groups) = setup();
    let opts = RulesOptions::default();
    let mut ts = T0 + 45_000;
    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("1000_alert_rules_over_100k_series_one_round", |b| {
        b.iter(|| {
            for grp in groups.iter_mut() {
                eval_group(grp, &head, &head, &Drop, &opts, ts);
            }
            ts += 1;
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
