//! PromQL engine latency in-process (no HTTP): `sum by (job) (rate(x[5m]))` over 10,000
//! series x 1 h at a 15 s step, `histogram_quantile` over 100 services x 100 buckets, a
//! `topk`, and typical Grafana panel queries. The side-by-side comparison with Prometheus is
//! `benches/scripts/promql_vs_prometheus.sh`.

use criterion::{Criterion, criterion_group, criterion_main};
use lookout_query::promql::{self, EngineOpts};
use lookout_store::{Appendable, Head, Labels};

const STEP: i64 = 15_000;
const N: i64 = 241;

fn head() -> Head {
    let h = Head::new();
    let mut app = h.appender();
    for i in 0..10_000usize {
        let l = Labels::from_pairs([
            ("__name__", "x".to_string()),
            ("instance", format!("i{i}")),
            ("job", format!("j{}", i % 10)),
        ]);
        let mut r = 0;
        for k in 0..N {
            r = app
                .append(r, &l, k * STEP, (k * (i as i64 % 7 + 1)) as f64)
                .unwrap();
        }
    }
    for svc in 0..100 {
        for b in 0..100 {
            let le = if b == 99 {
                "+Inf".to_string()
            } else {
                format!("{}", (b + 1) as f64 * 0.01)
            };
            let l = Labels::from_pairs([
                ("__name__", "lat_bucket".to_string()),
                ("le", le),
                ("svc", format!("s{svc}")),
            ]);
            let mut r = 0;
            for k in 0..N {
                r = app.append(r, &l, k * STEP, (k * (b + 1)) as f64).unwrap();
            }
        }
    }
    app.commit().unwrap();
    h
}

fn bench(c: &mut Criterion) {
    let h = head();
    let opts = EngineOpts::default();
    let mut g = c.benchmark_group("promql_range_1h_15s");
    g.sample_size(10);
    for q in [
        "sum by (job) (rate(x[5m]))",
        "histogram_quantile(0.99, sum by (le) (rate(lat_bucket[5m])))",
        "histogram_quantile(0.9, rate(lat_bucket[5m]))",
        "topk(10, rate(x[5m]))",
        "avg by (job) (x)",
        "rate(x{instance=\"i7\"}[1m])",
    ] {
        g.bench_function(q, |b| {
            b.iter(|| promql::range_query(&h, q, 0, (N - 1) * STEP, STEP, &opts).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
