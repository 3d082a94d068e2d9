//! Property test: a WAL-backed `Db` against an in-memory `Head` given the same operations.
//!
//! Random batches (new and cached refs, duplicates, conflicting values, out-of-order samples
//! inside and outside the window, staleness markers), commits and rollbacks, truncations,
//! checkpoints and reopens. The in-memory head is the model of what must survive: after
//! every step, and in particular after every reopen, `select` over the untruncated range
//! must match it bit for bit, every append must get the same answer, and series refs must
//! be the same. (`tests/head_model.rs` checks the head itself against a plain map.)

use lookout_store::{
    Appendable, Db, DbOptions, FsyncPolicy, Head, HeadOptions, Labels, MatchOp, Matcher, Querier,
    SeriesRef, WalOptions, stale_nan,
};
use proptest::prelude::*;
use std::time::Duration;

const WINDOW: i64 = 50;

fn pool(i: usize) -> Labels {
    Labels::from_pairs([
        (
            "__name__",
            if i.is_multiple_of(2) { "a" } else { "b" }.to_string(),
        ),
        ("i", i.to_string()),
    ])
}

const POOL: usize = 7;

#[derive(Debug, Clone)]
enum Op {
    Batch {
        samples: Vec<(usize, i64, u8, bool)>,
        commit: bool,
    },
    Truncate(i64),
    Checkpoint,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            prop::collection::vec((0..POOL, 0i64..400, 0u8..5, any::<bool>()), 0..12),
            prop::bool::weighted(0.85),
        )
            .prop_map(|(samples, commit)| Op::Batch { samples, commit }),
        1 => (0i64..400).prop_map(Op::Truncate),
        1 => Just(Op::Checkpoint),
        2 => Just(Op::Reopen),
    ]
}

fn value(c: u8) -> f64 {
    match c {
        0 => 1.0,
        1 => 2.5,
        2 => stale_nan(),
        3 => -0.0,
        _ => f64::NAN,
    }
}

fn options() -> DbOptions {
    DbOptions {
        head: head_options(),
        wal: WalOptions {
            segment_size: 512,
            fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
            fault: None,
        },
        checkpoint_segments: 0,
        retention_ms: 0,
        ..DbOptions::default()
    }
}

fn head_options() -> HeadOptions {
    HeadOptions {
        out_of_order_window_ms: WINDOW,
        chunk_range_ms: 100,
    }
}

type Bits = Vec<(Labels, Vec<(i64, u64)>)>;

fn dump(q: &dyn Querier, from: i64) -> Bits {
    let m = Matcher::new(MatchOp::RegexMatch, "__name__", "a|b").expect("matcher");
    q.select(&[m], from, i64::MAX)
        .expect("select")
        .into_iter()
        .map(|s| {
            let v = s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            (s.labels, v)
        })
        .filter(|(_, v): &(Labels, Vec<(i64, u64)>)| !v.is_empty())
        .collect()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Some(Db::open(dir.path(), options()).expect("open"));
    let model = Head::with_options(head_options());
    let mut db_refs = [0 as SeriesRef; POOL];
    let mut model_refs = [0 as SeriesRef; POOL];
    let mut truncated = i64::MIN;
    for (step, op) in ops.into_iter().enumerate() {
        let d = db.as_ref().expect("open db");
        match op {
            Op::Batch { samples, commit } => {
                let mut a = d.appender();
                let mut m = model.appender();
                for (i, t, c, cached) in samples {
                    let (rd, rm) = if cached {
                        (db_refs[i], model_refs[i])
                    } else {
                        (0, 0)
                    };
                    let got = a.append(rd, &pool(i), t, value(c));
                    let want = m.append(rm, &pool(i), t, value(c));
                    prop_assert_eq!(
                        got.as_ref().map_err(|e| e.to_string()),
                        want.as_ref().map_err(|e| e.to_string()),
                        "step {} append",
                        step
                    );
                    if let (Ok(r1), Ok(r2)) = (got, want) {
                        (db_refs[i], model_refs[i]) = (r1, r2);
                    }
                }
                if commit {
                    let got = a.commit().expect("commit");
                    let want = m.commit().expect("model commit");
                    prop_assert_eq!(got, want, "step {} commit stats", step);
                } else {
                    a.rollback();
                    m.rollback();
                }
            }
            Op::Truncate(t) => {
                d.truncate_before(t).expect("truncate");
                model.truncate_before(t);
                truncated = truncated.max(t);
            }
            Op::Checkpoint => {
                d.checkpoint().expect("checkpoint");
            }
            Op::Reopen => {
                drop(db.take());
                let fresh = Db::open(dir.path(), options()).expect("reopen");
                prop_assert_eq!(fresh.replay_stats().corruptions, 0);
                prop_assert_eq!(fresh.replay_stats().unknown_refs, 0);
                db = Some(fresh);
            }
        }
        let d = db.as_ref().expect("open db");
        prop_assert_eq!(dump(d, truncated), dump(&model, truncated), "step {}", step);
        for i in 0..POOL {
            let (a, b) = (d.head().series_ref(&pool(i)), model.series_ref(&pool(i)));
            if a.is_some() && b.is_some() {
                prop_assert_eq!(a, b, "step {} ref of series {}", step, i);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reopened_db_matches_in_memory_head(ops in prop::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}
