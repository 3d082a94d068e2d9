//! Arbitrary query strings through PromQL parsing and evaluation (instant and range) over a
//! small in-memory head: nothing may panic; errors are fine. Evaluation runs with a short
//! timeout and a small sample limit so hostile queries stay cheap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_query::promql::{self, EngineOpts};
use lookout_store::{Appendable, Head, Labels};
use std::sync::OnceLock;
use std::time::Duration;

fn head() -> &'static Head {
    static H: OnceLock<Head> = OnceLock::new();
    H.get_or_init(|| {
        let h = Head::new();
        let mut app = h.appender();
        for (i, job) in ["a", "b", "c"].iter().enumerate() {
            let l = Labels::from_pairs([
                ("__name__", "m"),
                ("job", job),
                ("le", ["0.5", "1", "+Inf"][i]),
            ]);
            for k in 0..40i64 {
                let v = if k == 17 {
                    f64::NAN
                } else {
                    (k * (i as i64 + 1)) as f64
                };
                let _ = app.append(0, &l, k * 15_000, v);
            }
        }
        let _ = app.commit();
        h
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    if q.len() > 512 {
        return;
    }
    let opts = EngineOpts {
        timeout: Some(Duration::from_millis(200)),
        max_samples: 200_000,
        ..EngineOpts::default()
    };
    let _ = promql::instant_query(head(), q, 300_000, &opts);
    let _ = promql::range_query(head(), q, 0, 600_000, 30_000, &opts);
});
