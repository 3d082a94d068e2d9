//! Property test: arbitrary strings, and strings built from PromQL fragments (so many of them
//! parse), go through parsing and evaluation without panicking, over a head holding NaN,
//! Inf and staleness markers.

use lookout_query::promql::{self, EngineOpts};
use lookout_store::{Appendable, Head, Labels, stale_nan};
use proptest::prelude::*;
use std::time::Duration;

fn head() -> Head {
    let h = Head::new();
    let mut app = h.appender();
    for (i, job) in ["a", "b", "c"].iter().enumerate() {
        let l = Labels::from_pairs([
            ("__name__", "m"),
            ("job", job),
            ("le", ["0.5", "1", "+Inf"][i]),
        ]);
        for k in 0..40i64 {
            let v = match k {
                7 => f64::NAN,
                9 => f64::INFINITY,
                20 => stale_nan(),
                _ => (k * (i as i64 + 1)) as f64,
            };
            app.append(0, &l, k * 15_000, v).unwrap();
        }
    }
    app.commit().unwrap();
    h
}

const PIECES: &[&str] = &[
    "m",
    "m{job=\"a\"}",
    "m[1m]",
    "m[5m:30s]",
    "rate(",
    "sum",
    " by (job) ",
    " without (le) ",
    "(",
    ")",
    " + ",
    " / ",
    " > bool ",
    " and ",
    " or ",
    " unless ",
    " on(job) ",
    " group_left ",
    " ignoring(le) ",
    "topk(2,",
    "quantile(0.5,",
    "count_values(\"x\",",
    "histogram_quantile(0.9,",
    "label_replace(",
    ",\"d\",\"$1\",\"job\",\"(.*)\")",
    "offset 1m",
    " @ 100",
    "abs(",
    "clamp(",
    ",1,2)",
    "absent(",
    "scalar(",
    "vector(1)",
    "time()",
    "1",
    "-2.5",
    "NaN",
    "Inf",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "increase(",
    "predict_linear(",
    ",60)",
    "holt_winters(",
    ",0.5,0.5)",
    "sort(",
    "-",
];

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(PIECES), 1..12).prop_map(|v| v.concat()),
        "\\PC{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn parse_and_eval_never_panic(q in query()) {
        let h = head();
        let opts = EngineOpts { timeout: Some(Duration::from_secs(2)), max_samples: 100_000, ..EngineOpts::default() };
        let _ = promql::instant_query(&h, &q, 300_000, &opts);
        let _ = promql::range_query(&h, &q, 0, 600_000, 30_000, &opts);
    }
}
