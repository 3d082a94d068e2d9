//! Behaviour tests of the head through its public seams.

use super::*;
use crate::{MatchOp, STALE_NAN_BITS, stale_nan};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn head_with_window(w: i64) -> Head {
    Head::with_options(HeadOptions {
        out_of_order_window_ms: w,
        ..HeadOptions::default()
    })
}

fn all(h: &Head, ms: &[Matcher]) -> Vec<Series> {
    h.select(ms, i64::MIN, i64::MAX).expect("select")
}

fn times(s: &Series) -> Vec<i64> {
    s.samples.iter().map(|x| x.0).collect()
}

#[test]
fn refs_are_stable_and_cached_refs_skip_labels() {
    let h = Head::new();
    let a = l(&[("__name__", "up"), ("job", "a")]);
    let mut app = h.appender();
    let r = app.append(0, &a, 1, 1.0).expect("append");
    assert_ne!(r, 0);
    assert_eq!(app.append(0, &a, 2, 1.0).expect("append"), r);
    // With a cached ref the labels are not looked at: these bogus labels are ignored.
    assert_eq!(
        app.append(r, &Labels::default(), 3, 1.0).expect("append"),
        r
    );
    assert!(matches!(
        app.append(9999, &a, 4, 1.0),
        Err(Error::UnknownRef(9999))
    ));
    assert!(matches!(
        app.append(0, &Labels::default(), 4, 1.0),
        Err(Error::EmptyLabelSet)
    ));
    let st = app.commit().expect("commit");
    assert_eq!(st.appended, 3);
    assert_eq!(h.series_ref(&a), Some(r));
    assert_eq!(times(&all(&h, &[])[0]), vec![1, 2, 3]);
}

#[test]
fn samples_are_visible_only_after_commit_and_rollback_discards() {
    let h = Head::new();
    let a = l(&[("__name__", "a")]);
    let b = l(&[("__name__", "b")]);
    let mut app = h.appender();
    app.append(0, &a, 10, 1.0).expect("append");
    assert!(all(&h, &[]).is_empty());
    app.commit().expect("commit");
    assert_eq!(all(&h, &[]).len(), 1);

    let mut app = h.appender();
    app.append(0, &a, 20, 2.0).expect("append");
    app.append(0, &b, 20, 2.0).expect("append");
    app.rollback();
    let got = all(&h, &[]);
    assert_eq!(got.len(), 1);
    assert_eq!(times(&got[0]), vec![10]);
    // The series created by the rolled-back appender exists but holds nothing...
    assert_eq!(h.num_series(), 2);
    // ...and the next truncation removes it.
    assert_eq!(h.truncate_before(0).series_removed, 1);
    assert_eq!(h.num_series(), 1);
    // Dropping an appender without commit is a rollback too.
    {
        let mut app = h.appender();
        app.append(0, &a, 30, 3.0).expect("append");
    }
    assert_eq!(times(&all(&h, &[])[0]), vec![10]);
    assert_eq!(h.counters().appended, 1);
}

#[test]
fn duplicates_are_dropped_or_rejected_and_counted() {
    let h = Head::new();
    let a = l(&[("__name__", "a")]);
    let mut app = h.appender();
    let r = app.append(0, &a, 10, 1.0).expect("append");
    app.commit().expect("commit");

    let mut app = h.appender();
    assert_eq!(app.append(r, &a, 10, 1.0).expect("identical"), r);
    assert!(matches!(
        app.append(r, &a, 10, 2.0),
        Err(Error::DuplicateSample)
    ));
    // Inside one batch the second sample only clashes at commit.
    app.append(r, &a, 20, 5.0).expect("append");
    app.append(r, &a, 20, 5.0).expect("append");
    app.append(r, &a, 20, 6.0).expect("append");
    let st = app.commit().expect("commit");
    assert_eq!(
        st,
        AppendStats {
            appended: 1,
            duplicates: 2,
            duplicate_conflicts: 2,
            out_of_order: 0,
            too_old: 0,
        }
    );
    assert_eq!(h.counters().duplicates, 2);
    assert_eq!(h.counters().duplicate_conflicts, 2);
    assert_eq!(all(&h, &[])[0].samples, vec![(10, 1.0), (20, 5.0)]);
}

#[test]
fn out_of_order_without_window_is_rejected() {
    let h = Head::new();
    let a = l(&[("__name__", "a")]);
    let mut app = h.appender();
    let r = app.append(0, &a, 100, 1.0).expect("append");
    app.commit().expect("commit");
    let mut app = h.appender();
    assert!(matches!(app.append(r, &a, 50, 1.0), Err(Error::OutOfOrder)));
    let st = app.commit().expect("commit");
    assert_eq!(st.out_of_order, 1);
    assert_eq!(h.counters().out_of_order, 1);
    assert_eq!(times(&all(&h, &[])[0]), vec![100]);
}

#[test]
fn out_of_order_inside_window_is_merged_and_outside_is_too_old() {
    let h = head_with_window(1000);
    let a = l(&[("__name__", "a")]);
    let b = l(&[("__name__", "b")]);
    let mut app = h.appender();
    let ra = app.append(0, &a, 5000, 1.0).expect("append");
    let rb = app.append(0, &b, 2000, 1.0).expect("append");
    app.commit().expect("commit");
    // Head max is 5000: the window starts at 4000, for every series.
    let mut app = h.appender();
    app.append(ra, &a, 4500, 2.0).expect("inside window");
    app.append(ra, &a, 4000, 3.0).expect("window edge");
    assert!(matches!(app.append(ra, &a, 3999, 4.0), Err(Error::TooOld)));
    // Series b's own last sample is 2000; older samples of b are outside the head's window.
    assert!(matches!(app.append(rb, &b, 1500, 4.0), Err(Error::TooOld)));
    app.append(rb, &b, 4100, 4.0).expect("in order for b");
    let st = app.commit().expect("commit");
    assert_eq!((st.appended, st.too_old), (3, 2));
    let got = all(&h, &[Matcher::equal("__name__", "a")]);
    assert_eq!(got[0].samples, vec![(4000, 3.0), (4500, 2.0), (5000, 1.0)]);
    // An out-of-order duplicate is detected like an in-order one.
    let mut app = h.appender();
    app.append(ra, &a, 4500, 2.0).expect("identical");
    assert!(matches!(
        app.append(ra, &a, 4000, 9.0),
        Err(Error::DuplicateSample)
    ));
    let st = app.commit().expect("commit");
    assert_eq!((st.duplicates, st.duplicate_conflicts), (1, 1));
}

#[test]
fn stale_markers_round_trip_bit_exactly() {
    let h = Head::new();
    let a = l(&[("__name__", "a")]);
    let mut app = h.appender();
    let r = app.append(0, &a, 1, 1.0).expect("append");
    app.append(r, &a, 2, stale_nan()).expect("append");
    app.append(r, &a, 3, f64::NAN).expect("append");
    app.append(r, &a, 4, -0.0).expect("append");
    app.commit().expect("commit");
    let s = &all(&h, &[])[0].samples;
    let bits: Vec<u64> = s.iter().map(|x| x.1.to_bits()).collect();
    assert_eq!(
        bits,
        vec![
            1.0f64.to_bits(),
            STALE_NAN_BITS,
            f64::NAN.to_bits(),
            (-0.0f64).to_bits()
        ]
    );
}

fn fill(h: &Head) {
    let mut app = h.appender();
    for job in ["api", "db", "web"] {
        for inst in ["i1", "i2"] {
            let ls = l(&[("__name__", "up"), ("job", job), ("instance", inst)]);
            for t in 0..300 {
                app.append(0, &ls, t * 10, t as f64).expect("append");
            }
        }
    }
    let other = l(&[("__name__", "other"), ("zone", "z")]);
    app.append(0, &other, 5000, 1.0).expect("append");
    app.commit().expect("commit");
}

#[test]
fn select_filters_by_matchers_and_range_sorted_by_labels() {
    let h = Head::new();
    fill(&h);
    let re = |op, n, v| Matcher::new(op, n, v).expect("matcher");
    let got = h
        .select(
            &[
                Matcher::equal("__name__", "up"),
                re(MatchOp::RegexMatch, "job", "api|web"),
                re(MatchOp::NotEqual, "instance", "i2"),
            ],
            1000,
            1500,
        )
        .expect("select");
    let jobs: Vec<&str> = got.iter().filter_map(|s| s.labels.get("job")).collect();
    assert_eq!(jobs, vec!["api", "web"]);
    for s in &got {
        assert_eq!(s.samples.first().map(|x| x.0), Some(1000));
        assert_eq!(s.samples.last().map(|x| x.0), Some(1500));
        assert_eq!(s.samples.len(), 51);
    }
    // A range with no samples of a series leaves it out.
    let got = h
        .select(&[re(MatchOp::RegexMatch, "__name__", ".+")], 4000, 6000)
        .expect("select");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels.get("zone"), Some("z"));
    // Matchers that match the empty string select series without the label.
    let got = all(&h, &[Matcher::equal("job", "")]);
    assert_eq!(got.len(), 1);
    assert!(h.select(&[], 10, 5).expect("select").is_empty());
    // Sorted by the full label set.
    let got = all(&h, &[]);
    let mut sorted: Vec<Labels> = got.iter().map(|s| s.labels.clone()).collect();
    sorted.sort();
    assert_eq!(
        got.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
        sorted
    );
}

#[test]
fn label_names_and_values_honour_matchers_and_time() {
    let h = Head::new();
    fill(&h);
    let everything = h.label_names(&[], i64::MIN, i64::MAX).expect("names");
    assert_eq!(everything, vec!["__name__", "instance", "job", "zone"]);
    let up_only = h
        .label_names(&[Matcher::equal("__name__", "up")], i64::MIN, i64::MAX)
        .expect("names");
    assert_eq!(up_only, vec!["__name__", "instance", "job"]);
    // Only "other" has samples after 3000.
    let late = h.label_names(&[], 4000, 9000).expect("names");
    assert_eq!(late, vec!["__name__", "zone"]);
    let jobs = h
        .label_values("job", &[], i64::MIN, i64::MAX)
        .expect("values");
    assert_eq!(jobs, vec!["api", "db", "web"]);
    let m = Matcher::new(MatchOp::RegexNoMatch, "job", "db").expect("matcher");
    let jobs = h.label_values("job", &[m], 0, 100).expect("values");
    assert_eq!(jobs, vec!["api", "web"]);
    assert!(
        h.label_values("job", &[], 4000, 9000)
            .expect("values")
            .is_empty()
    );
}

#[test]
fn truncation_drops_old_chunks_and_empty_series_but_not_pending_ones() {
    let h = Head::new();
    let a = l(&[("__name__", "a")]);
    let b = l(&[("__name__", "b")]);
    let c = l(&[("__name__", "c")]);
    let mut app = h.appender();
    for t in 0..300 {
        app.append(0, &a, t, 1.0).expect("append");
    }
    app.append(0, &b, 10, 1.0).expect("append");
    app.commit().expect("commit");
    // a: chunks [0,119], [120,239], open [240,299]; b: open [10,10].
    assert_eq!(h.num_chunks(), 4);
    assert_eq!(h.min_time(), Some(0));
    // An appender with a pending sample for c (a new series) and for b.
    let mut pending = h.appender();
    pending.append(0, &c, 400, 1.0).expect("append");
    let rb = h.series_ref(&b).expect("b exists");
    pending.append(rb, &b, 400, 1.0).expect("append");
    let st = h.truncate_before(250);
    assert_eq!(st.chunks_removed, 3);
    // b's only chunk is gone but its pending sample keeps it; c has a pending sample too.
    assert_eq!(st.series_removed, 0);
    assert_eq!(h.num_chunks(), 1);
    assert_eq!(h.min_time(), Some(240));
    pending.commit().expect("commit");
    let got = all(&h, &[]);
    assert_eq!(got.len(), 3);
    assert_eq!(times(&got[1]), vec![400]);
    // Samples before the truncation point are too old now, even for a fresh series.
    let mut app = h.appender();
    assert!(matches!(
        app.append(0, &l(&[("x", "y")]), 249, 1.0),
        Err(Error::TooOld)
    ));
    app.commit().expect("commit");
    assert_eq!(h.counters().too_old, 1);
    // Truncating past everything removes every series and chunk.
    let st = h.truncate_before(1000);
    assert_eq!(st.series_removed, 4);
    assert_eq!((h.num_series(), h.num_chunks()), (0, 0));
    assert!(all(&h, &[]).is_empty());
    assert!(
        h.label_names(&[], i64::MIN, i64::MAX)
            .expect("names")
            .is_empty()
    );
    assert_eq!(h.min_time(), None);
    // A ref of a removed series is unknown; the labels get a new series and a new ref.
    let mut app = h.appender();
    let ra = app.append(0, &a, 2000, 1.0).expect("append");
    assert!(matches!(
        app.append(rb, &b, 2000, 1.0),
        Err(Error::UnknownRef(_))
    ));
    app.commit().expect("commit");
    assert!(ra > rb);
}

#[test]
fn concurrent_appenders_readers_and_truncation() {
    let h = Head::new();
    std::thread::scope(|sc| {
        for w in 0..4 {
            let h = &h;
            sc.spawn(move || {
                let mut refs = vec![0; 50];
                for round in 0..200i64 {
                    let mut app = h.appender();
                    for (i, r) in refs.iter_mut().enumerate() {
                        let ls = l(&[
                            ("__name__", "m"),
                            ("w", &w.to_string()),
                            ("i", &i.to_string()),
                        ]);
                        *r = app
                            .append(*r, &ls, 10_000 + round, round as f64)
                            .expect("append");
                    }
                    app.commit().expect("commit");
                }
            });
        }
        let h = &h;
        sc.spawn(move || {
            for _ in 0..50 {
                let _ = h.select(&[Matcher::equal("__name__", "m")], 0, i64::MAX);
                // Nothing is older than 10_000, so this removes nothing that has samples.
                h.truncate_before(5_000);
            }
        });
    });
    assert_eq!(h.num_series(), 200);
    assert_eq!(h.counters().appended, 200 * 200);
    let got = all(&h, &[]);
    assert!(got.iter().all(|s| s.samples.len() == 200));
}
