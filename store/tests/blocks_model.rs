//! Property test: a `Db` that cuts blocks, compacts them and is reopened, against a plain
//! `BTreeMap` model.
//!
//! Random batches of appends move a clock across many block ranges (with some samples
//! behind their series' newest one, some duplicates, some staleness markers); maintenance
//! passes cut the head into blocks and merge blocks; reopening restores from blocks plus
//! the WAL. After every step `select` for random matchers and ranges must equal the model
//! bit for bit, and so must label values under a matcher.

use lookout_store::{
    Appendable, Db, DbOptions, FsyncPolicy, HeadOptions, Labels, MatchOp, Matcher, Querier,
    WalOptions, stale_nan,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Block range of the store under test (ms).
const RANGE: i64 = 100_000;

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
            ("__name__", "cpu"),
            ("job", "a"),
            ("inst", "1"),
            ("opt", "y"),
        ]),
        l(&[("__name__", "cpu"), ("job", "ab"), ("inst", "3")]),
    ]
}

fn matchers() -> Vec<Vec<Matcher>> {
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("matcher");
    vec![
        vec![m(MatchOp::RegexMatch, "__name__", ".+")],
        vec![m(MatchOp::Equal, "__name__", "up")],
        vec![
            m(MatchOp::Equal, "job", "a"),
            m(MatchOp::NotEqual, "inst", "2"),
        ],
        vec![
            m(MatchOp::RegexMatch, "job", "a.*"),
            m(MatchOp::Equal, "opt", ""),
        ],
        vec![m(MatchOp::RegexNoMatch, "opt", "x|y")],
        vec![m(MatchOp::Equal, "__name__", "nope")],
    ]
}

fn value(c: u8) -> f64 {
    match c {
        0 => stale_nan(),
        1 => f64::INFINITY,
        c => f64::from(c) * 1.25,
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Advance the clock, then append `(series, behind, value)` at `clock - behind`.
    Batch {
        advance: i64,
        samples: Vec<(usize, i64, u8)>,
    },
    Maintain,
    Reopen,
    Query {
        matcher: usize,
        from: i64,
        len: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            0i64..40_000,
            prop::collection::vec((0..5usize, prop_oneof![3 => Just(0i64), 1 => 0i64..20_000], 0u8..6), 1..12)
        )
            .prop_map(|(advance, samples)| Op::Batch { advance, samples }),
        2 => Just(Op::Maintain),
        1 => Just(Op::Reopen),
        2 => (0..6usize, 0i64..1_500_000, 0i64..600_000)
            .prop_map(|(matcher, from, len)| Op::Query { matcher, from, len }),
    ]
}

fn options() -> DbOptions {
    DbOptions {
        head: HeadOptions::default(),
        wal: WalOptions {
            segment_size: 4096,
            fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
            fault: None,
        },
        checkpoint_segments: 0,
        block_range_ms: RANGE,
        compact_interval: Duration::ZERO,
        ..DbOptions::default()
    }
}

type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn expect(model: &Model, ms: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, u64)>)> {
    model
        .iter()
        .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
        .map(|(l, s)| {
            (
                l.clone(),
                s.range(mint..=maxt)
                    .map(|(&t, &v)| (t, v))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

fn got(db: &Db, ms: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, u64)>)> {
    db.select(ms, mint, maxt)
        .expect("select")
        .into_iter()
        .map(|s| {
            (
                s.labels,
                s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
            )
        })
        .collect()
}

fn check(
    db: &Db,
    model: &Model,
    ms: &[Matcher],
    mint: i64,
    maxt: i64,
    step: usize,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        got(db, ms, mint, maxt),
        expect(model, ms, mint, maxt),
        "step {} select [{}, {}]",
        step,
        mint,
        maxt
    );
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Some(Db::open(dir.path(), options()).expect("open"));
    let pool = pool();
    let all = matchers();
    let mut model: Model = BTreeMap::new();
    let mut clock = 0i64;
    for (step, op) in ops.into_iter().enumerate() {
        let d = db.as_ref().expect("open db");
        match op {
            Op::Batch { advance, samples } => {
                clock += advance;
                let floor = d
                    .blocks()
                    .iter()
                    .map(|b| b.meta().max_time)
                    .max()
                    .unwrap_or(i64::MIN);
                let mut app = d.appender();
                let mut accepted = Vec::new();
                for (i, behind, c) in samples {
                    let t = clock - behind;
                    let v = value(c);
                    let last = model
                        .get(&pool[i])
                        .and_then(|s| s.keys().next_back().copied());
                    let res = app.append(0, &pool[i], t, v);
                    let fresh = last.is_none_or(|l| t > l) && t >= floor;
                    let pending_newer = accepted.iter().any(|&(j, tj, _)| j == i && tj >= t);
                    if fresh && !pending_newer {
                        prop_assert!(
                            res.is_ok(),
                            "step {}: in-order sample refused: {:?}",
                            step,
                            res
                        );
                    }
                    if res.is_ok() {
                        accepted.push((i, t, v.to_bits()));
                    }
                }
                let st = app.commit().expect("commit");
                // Appends were checked against committed state; the commit re-checks
                // against samples of this batch, so replay that rule.
                let mut stored = 0;
                for (i, t, bits) in accepted {
                    let s = model.entry(pool[i].clone()).or_default();
                    match s.keys().next_back() {
                        Some(&l) if t < l => {}
                        Some(&l) if t == l => {}
                        _ => {
                            s.insert(t, bits);
                            stored += 1;
                        }
                    }
                }
                model.retain(|_, s| !s.is_empty());
                prop_assert_eq!(st.appended, stored, "step {} stored samples", step);
            }
            Op::Maintain => {
                d.compact().expect("maintenance");
            }
            Op::Reopen => {
                drop(db.take());
                let fresh = Db::open(dir.path(), options()).expect("reopen");
                prop_assert!(fresh.refused_blocks().is_empty());
                db = Some(fresh);
            }
            Op::Query { matcher, from, len } => {
                check(d, &model, &all[matcher], from, from + len, step)?;
                let d = db.as_ref().expect("open db");
                let want: BTreeSet<String> = expect(&model, &all[matcher], i64::MIN, i64::MAX)
                    .into_iter()
                    .filter_map(|(l, _)| l.get("job").map(str::to_owned))
                    .collect();
                let have = d
                    .label_values("job", &all[matcher], i64::MIN, i64::MAX)
                    .expect("values");
                prop_assert_eq!(
                    have,
                    want.into_iter().collect::<Vec<_>>(),
                    "step {} label values",
                    step
                );
            }
        }
        let d = db.as_ref().expect("open db");
        check(d, &model, &all[0], i64::MIN, i64::MAX, step)?;
        // Blocks never overlap once maintenance ran, and never reach into the head.
        let blocks = d.blocks();
        for w in blocks.windows(2) {
            prop_assert!(
                w[0].meta().max_time <= w[1].meta().min_time,
                "overlapping blocks"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn blocks_compaction_and_restart_match_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

/// A long deterministic run: many block ranges, so compaction reaches the larger levels.
#[test]
fn long_run_reaches_higher_compaction_levels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = pool();
    let mut model: Model = BTreeMap::new();
    {
        let db = Db::open(dir.path(), options()).expect("open");
        for step in 0..400i64 {
            let t = step * 5_000;
            let mut app = db.appender();
            for (i, l) in pool.iter().enumerate() {
                let v = (step * 7 + i as i64) as f64;
                app.append(0, l, t, v).expect("append");
                model.entry(l.clone()).or_default().insert(t, v.to_bits());
            }
            app.commit().expect("commit");
            if step % 25 == 24 {
                db.compact().expect("compact");
            }
        }
        db.compact().expect("compact");
        let levels: Vec<u32> = db
            .blocks()
            .iter()
            .map(|b| b.meta().compaction.level)
            .collect();
        assert!(levels.iter().any(|&l| l >= 3), "levels {levels:?}");
        assert_eq!(
            got(&db, &matchers()[0], i64::MIN, i64::MAX),
            expect(&model, &matchers()[0], i64::MIN, i64::MAX)
        );
    }
    let db = Db::open(dir.path(), options()).expect("reopen");
    // The WAL holds only what the blocks do not: replay restores less than one and a half
    // block ranges of samples.
    let per_range = (RANGE / 5_000) as u64 * pool.len() as u64;
    assert!(
        db.replay_stats().samples <= per_range * 3 / 2 + pool.len() as u64,
        "{:?}",
        db.replay_stats()
    );
    assert_eq!(
        got(&db, &matchers()[0], i64::MIN, i64::MAX),
        expect(&model, &matchers()[0], i64::MIN, i64::MAX)
    );
    for ms in matchers() {
        assert_eq!(
            got(&db, &ms, 250_000, 1_234_567),
            expect(&model, &ms, 250_000, 1_234_567)
        );
    }
}
