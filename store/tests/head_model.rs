//! Property test: the head against a plain `BTreeMap` model.
//!
//! Random batches of appends (duplicates, conflicting duplicates, out-of-order samples inside
//! and outside the window, staleness markers, cached and uncached refs), commits and
//! rollbacks, and truncations; after every step the head's `select` for random matchers and
//! ranges must equal the model's answer bit for bit, and every append result and commit's
//! stats must equal the model's.

use lookout_store::{
    AppendStats, Appendable, Error, Head, HeadOptions, Labels, MatchOp, Matcher, Querier,
    SeriesRef, stale_nan,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The label sets the test appends to; some lack `opt`, two differ only in `opt`.
fn pool() -> Vec<Labels> {
    let l = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
    vec![
        l(&[("__name__", "up"), ("job", "a"), ("inst", "1")]),
        l(&[("__name__", "up"), ("job", "a"), ("inst", "2")]),
        l(&[
            ("__name__", "up"),
            ("job", "b"),
            ("inst", "1"),
            ("opt", "x"),
        ]),
        l(&[
            ("__name__", "up"),
            ("job", "b"),
            ("inst", "1"),
            ("opt", "y"),
        ]),
        l(&[
            ("__name__", "cpu"),
            ("job", "a"),
            ("inst", "1"),
            ("opt", "x"),
        ]),
        l(&[("__name__", "cpu"), ("job", "ab"), ("inst", "3")]),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    InOrder,
    Ooo,
    Dup,
    Conflict,
    RejectOoo,
    TooOld,
}

#[derive(Debug, Default, Clone)]
struct MSeries {
    samples: BTreeMap<i64, u64>,
    last_t: Option<i64>,
}

#[derive(Debug, Default)]
struct Model {
    window: i64,
    series: BTreeMap<Labels, MSeries>,
    /// Series that exist in the head (created by any append by labels), for label queries.
    created: Vec<Labels>,
    head_max: Option<i64>,
    min_valid: i64,
}

impl Model {
    fn verdict(&self, l: &Labels, t: i64, v: u64) -> Kind {
        if t < self.min_valid {
            return Kind::TooOld;
        }
        let s = self.series.get(l).cloned().unwrap_or_default();
        let last = match s.last_t {
            Some(last) if !s.samples.is_empty() => last,
            _ => return Kind::InOrder,
        };
        if t > last {
            return Kind::InOrder;
        }
        let dup = |stored: u64| {
            if stored == v {
                Kind::Dup
            } else {
                Kind::Conflict
            }
        };
        if t == last {
            return dup(s.samples[&t]);
        }
        if self.window == 0 {
            return Kind::RejectOoo;
        }
        let ooo_min = self
            .head_max
            .unwrap_or(i64::MIN)
            .saturating_sub(self.window);
        if t < ooo_min {
            return Kind::TooOld;
        }
        s.samples.get(&t).map_or(Kind::Ooo, |&b| dup(b))
    }

    fn apply(&mut self, l: &Labels, t: i64, v: u64, k: Kind) {
        let s = self.series.entry(l.clone()).or_default();
        s.samples.insert(t, v);
        if k == Kind::InOrder {
            s.last_t = Some(t);
        }
    }

    fn count(st: &mut AppendStats, k: Kind) {
        match k {
            Kind::InOrder | Kind::Ooo => st.appended += 1,
            Kind::Dup => st.duplicates += 1,
            Kind::Conflict => st.duplicate_conflicts += 1,
            Kind::RejectOoo => st.out_of_order += 1,
            Kind::TooOld => st.too_old += 1,
        }
    }

    fn select(&self, ms: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, u64)>)> {
        self.series
            .iter()
            .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
            .map(|(l, s)| {
                let got: Vec<(i64, u64)> = s
                    .samples
                    .range(mint..=maxt)
                    .map(|(t, v)| (*t, *v))
                    .collect();
                (l.clone(), got)
            })
            .filter(|(_, s)| !s.is_empty())
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Sample {
    series: usize,
    dt: i64,
    value: usize,
    use_ref: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Batch {
        samples: Vec<Sample>,
        commit: bool,
    },
    Truncate {
        back: i64,
    },
    Query {
        ms: Vec<Matcher>,
        mint: i64,
        len: i64,
    },
}

fn values() -> Vec<f64> {
    vec![
        1.0,
        2.0,
        0.0,
        -0.0,
        stale_nan(),
        f64::NAN,
        f64::INFINITY,
        1e300,
    ]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    let name = prop_oneof![Just("__name__"), Just("job"), Just("inst"), Just("opt")];
    let value = prop_oneof![
        Just(""),
        Just("up"),
        Just("a"),
        Just("b"),
        Just("x"),
        Just("1"),
        Just("a.*"),
        Just("a|b"),
        Just("x|"),
        Just(".+"),
        Just("c.u"),
    ];
    let op = prop_oneof![
        Just(MatchOp::Equal),
        Just(MatchOp::NotEqual),
        Just(MatchOp::RegexMatch),
        Just(MatchOp::RegexNoMatch),
    ];
    (op, name, value).prop_filter_map("valid", |(op, n, v)| Matcher::new(op, n, v).ok())
}

fn op() -> impl Strategy<Value = Op> {
    let sample = (0usize..6, -40i64..15, 0usize..8, any::<bool>()).prop_map(
        |(series, dt, value, use_ref)| Sample {
            series,
            dt,
            value,
            use_ref,
        },
    );
    prop_oneof![
        6 => (proptest::collection::vec(sample, 1..60), prop::bool::weighted(0.85))
            .prop_map(|(samples, commit)| Op::Batch { samples, commit }),
        1 => (0i64..400).prop_map(|back| Op::Truncate { back }),
        3 => (proptest::collection::vec(matcher(), 0..3), -50i64..2000, 0i64..1500)
            .prop_map(|(ms, mint, len)| Op::Query { ms, mint, len }),
    ]
}

fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn kind_of(res: &Result<SeriesRef, Error>) -> Option<Kind> {
    match res {
        Ok(_) => None,
        Err(Error::DuplicateSample) => Some(Kind::Conflict),
        Err(Error::OutOfOrder) => Some(Kind::RejectOoo),
        Err(Error::TooOld) => Some(Kind::TooOld),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn run(window: i64, chunk_range: i64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let head = Head::with_options(HeadOptions {
        out_of_order_window_ms: window,
        chunk_range_ms: chunk_range,
    });
    let pool = pool();
    let vals = values();
    let mut model = Model {
        window,
        min_valid: i64::MIN,
        ..Model::default()
    };
    let mut refs: Vec<SeriesRef> = vec![0; pool.len()];
    // Each series' timestamps move forward from a cursor, with jumps back for out-of-order.
    let mut cursor = vec![0i64; pool.len()];
    let mut truncated = false;
    for op in ops {
        match op {
            Op::Batch { samples, commit } => {
                let mut app = head.appender();
                let mut want = AppendStats::default();
                let mut queued = Vec::new();
                for s in samples {
                    let l = &pool[s.series];
                    cursor[s.series] = (cursor[s.series] + s.dt).max(0);
                    let t = cursor[s.series];
                    let v = vals[s.value];
                    let r = if s.use_ref { refs[s.series] } else { 0 };
                    let res = app.append(r, l, t, v);
                    if r == 0 && !model.created.contains(l) {
                        model.created.push(l.clone());
                    }
                    let k = model.verdict(l, t, v.to_bits());
                    let expect_err = matches!(k, Kind::Conflict | Kind::RejectOoo | Kind::TooOld);
                    prop_assert_eq!(
                        kind_of(&res),
                        expect_err.then_some(k),
                        "append {:?} t={}",
                        l,
                        t
                    );
                    if let Ok(got) = res {
                        refs[s.series] = got;
                    }
                    match k {
                        Kind::InOrder | Kind::Ooo => queued.push((l.clone(), t, v.to_bits())),
                        _ => Model::count(&mut want, k),
                    }
                }
                if commit {
                    let mut hi = model.head_max;
                    for (l, t, v) in queued {
                        let k = model.verdict(&l, t, v);
                        Model::count(&mut want, k);
                        if matches!(k, Kind::InOrder | Kind::Ooo) {
                            model.apply(&l, t, v, k);
                            hi = hi.max(Some(t));
                        }
                    }
                    model.head_max = hi;
                    prop_assert_eq!(app.commit().expect("commit"), want);
                } else {
                    app.rollback();
                }
            }
            Op::Truncate { back } => {
                let t = model.head_max.unwrap_or(0) - back;
                head.truncate_before(t);
                model.min_valid = model.min_valid.max(t);
                for s in model.series.values_mut() {
                    s.samples = s.samples.split_off(&t);
                }
                // Refs of removed series are unknown now; look them up by labels again.
                refs.iter_mut().for_each(|r| *r = 0);
                truncated = true;
            }
            Op::Query { ms, mint, len } => {
                // After a truncation the head may keep some older samples: compare from it on.
                let mint = mint.max(model.min_valid);
                let maxt = mint.saturating_add(len);
                let got = head.select(&ms, mint, maxt).expect("select");
                let got: Vec<(Labels, Vec<(i64, u64)>)> = got
                    .into_iter()
                    .map(|s| (s.labels, bits(&s.samples)))
                    .collect();
                prop_assert_eq!(got, model.select(&ms, mint, maxt));
                if !truncated {
                    check_label_queries(&head, &model, &ms, mint, maxt)?;
                }
            }
        }
    }
    let all = head.select(&[], model.min_valid, i64::MAX).expect("select");
    let all: Vec<(Labels, Vec<(i64, u64)>)> = all
        .into_iter()
        .map(|s| (s.labels, bits(&s.samples)))
        .collect();
    prop_assert_eq!(all, model.select(&[], model.min_valid, i64::MAX));
    Ok(())
}

fn check_label_queries(
    head: &Head,
    model: &Model,
    ms: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Result<(), TestCaseError> {
    // Series qualify by their time bounds; with no matchers over the whole head every
    // created series counts, samples or not (the head answers from its index).
    let bounds_all = model
        .series
        .values()
        .flat_map(|s| s.samples.keys().copied());
    let (lo, hi) = (bounds_all.clone().min(), bounds_all.max());
    let covers = matches!((lo, hi), (Some(lo), Some(hi)) if mint <= lo && maxt >= hi);
    let chosen: Vec<&Labels> = if ms.is_empty() && covers {
        model.created.iter().collect()
    } else {
        model
            .series
            .iter()
            .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
            .filter(|(_, s)| {
                let (Some(a), Some(b)) = (s.samples.keys().next(), s.samples.keys().last()) else {
                    return false;
                };
                *a <= maxt && *b >= mint
            })
            .map(|(l, _)| l)
            .collect()
    };
    let mut names: Vec<String> = chosen
        .iter()
        .flat_map(|l| l.iter().map(|x| x.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    prop_assert_eq!(head.label_names(ms, mint, maxt).expect("names"), names);
    let mut jobs: Vec<String> = chosen
        .iter()
        .filter_map(|l| l.get("job").map(str::to_owned))
        .collect();
    jobs.sort();
    jobs.dedup();
    prop_assert_eq!(
        head.label_values("job", ms, mint, maxt).expect("values"),
        jobs
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]
    #[test]
    fn head_matches_model(
        window in prop_oneof![Just(0i64), Just(25), Just(100_000)],
        chunk_range in prop_oneof![Just(0i64), Just(300), Just(7_200_000)],
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        run(window, chunk_range, ops)?;
    }
}

#[test]
fn model_test_exercises_chunk_cuts_and_out_of_order_spills() {
    // A fixed long run so that chunk cutting (120 samples) and out-of-order buffer spills
    // (32 samples) certainly happen, whatever proptest generates.
    let mut ops = Vec::new();
    for i in 0..40 {
        let samples = (0..50)
            .map(|j| Sample {
                series: j % 2,
                dt: if (i + j) % 7 == 0 { -13 } else { 3 },
                value: (i * j) % 8,
                use_ref: j % 3 != 0,
            })
            .collect();
        ops.push(Op::Batch {
            samples,
            commit: i % 9 != 8,
        });
    }
    ops.push(Op::Query {
        ms: vec![],
        mint: 0,
        len: 100_000,
    });
    run(100_000, 7_200_000, ops).expect("head matches model");
}
