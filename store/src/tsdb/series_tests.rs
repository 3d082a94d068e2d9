//! Unit tests of one series: verdicts, chunk cutting, out-of-order merge, truncation.

use super::*;
use crate::{Labels, stale_nan};

const RANGE: i64 = 7_200_000;

fn series() -> MemSeries {
    let l = Labels::from_pairs([("__name__", "up")]);
    MemSeries::new(1, LabelBytes::encode(&l, &mut Vec::new()))
}

fn lim(min_valid: i64, ooo_min: Option<i64>) -> Limits {
    Limits { min_valid, ooo_min }
}

fn all(st: &SeriesState) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    st.collect(i64::MIN, i64::MAX, &mut out);
    out.into_iter().map(|(t, v)| (t, v.to_bits())).collect()
}

#[test]
fn verdicts_follow_the_rules() {
    let s = series();
    let mut st = s.state.lock();
    let no_ooo = lim(i64::MIN, None);
    assert_eq!(st.verdict(100, 1.0, no_ooo), Verdict::InOrder);
    st.append_in_order(100, 1.0, RANGE);
    st.append_in_order(200, 2.0, RANGE);
    assert_eq!(st.verdict(200, 2.0, no_ooo), Verdict::Duplicate);
    assert_eq!(st.verdict(200, 2.5, no_ooo), Verdict::Conflict);
    assert_eq!(st.verdict(150, 2.5, no_ooo), Verdict::RejectOutOfOrder);
    assert_eq!(st.verdict(100, 1.0, no_ooo), Verdict::RejectOutOfOrder);
    assert_eq!(st.verdict(201, 2.0, no_ooo), Verdict::InOrder);
    // Truncated range wins over everything.
    assert_eq!(st.verdict(150, 1.0, lim(160, None)), Verdict::TooOld);
    // With a window: inside it, older samples are accepted unless the timestamp exists.
    let win = lim(i64::MIN, Some(120));
    assert_eq!(st.verdict(150, 9.0, win), Verdict::OutOfOrder);
    assert_eq!(st.verdict(119, 9.0, win), Verdict::TooOld);
    st.insert_out_of_order(150, 9.0);
    assert_eq!(st.verdict(150, 9.0, win), Verdict::Duplicate);
    assert_eq!(st.verdict(150, 8.0, win), Verdict::Conflict);
    // Existing in-order timestamps older than the last sample are checked too.
    let win = lim(i64::MIN, Some(0));
    assert_eq!(st.verdict(100, 1.0, win), Verdict::Duplicate);
    assert_eq!(st.verdict(100, 3.0, win), Verdict::Conflict);
    // Stale markers compare bit-exactly.
    st.append_in_order(300, stale_nan(), RANGE);
    assert_eq!(st.verdict(300, stale_nan(), no_ooo), Verdict::Duplicate);
    assert_eq!(st.verdict(300, f64::NAN, no_ooo), Verdict::Conflict);
    assert_eq!(all(&st).len(), 4);
}

#[test]
fn chunks_cut_at_120_samples_and_at_range_boundaries() {
    let s = series();
    let mut st = s.state.lock();
    let mut created = 0;
    for i in 0..240 {
        created += st.append_in_order(i * 1000, i as f64, RANGE);
    }
    assert_eq!(created, 2);
    assert_eq!(st.num_chunks(), 2);
    assert_eq!(st.chunks[0].num_samples(), SAMPLES_PER_CHUNK);
    // The 241st sample crosses the 2h boundary only later; 120 more cut again.
    let s2 = series();
    let mut st2 = s2.state.lock();
    st2.append_in_order(RANGE - 2, 1.0, RANGE);
    st2.append_in_order(RANGE - 1, 1.0, RANGE);
    assert_eq!(st2.num_chunks(), 1);
    assert_eq!(st2.append_in_order(RANGE, 1.0, RANGE), 1);
    assert_eq!(st2.num_chunks(), 2);
    assert_eq!(st2.chunks[0].max_time(), RANGE - 1);
    // Negative times use floor division for the boundary.
    let s3 = series();
    let mut st3 = s3.state.lock();
    st3.append_in_order(-1, 1.0, RANGE);
    assert_eq!(st3.append_in_order(0, 1.0, RANGE), 1);
}

#[test]
fn reads_merge_out_of_order_samples_in_time_order() {
    let s = series();
    let mut st = s.state.lock();
    for i in (0..300).step_by(2) {
        st.append_in_order(i, i as f64, RANGE);
    }
    for i in (1..300i32).step_by(2).rev().map(i64::from) {
        st.insert_out_of_order(i, -(i as f64));
    }
    let got = all(&st);
    assert_eq!(got.len(), 300);
    for (k, (t, v)) in got.iter().enumerate() {
        let want = if k % 2 == 0 { k as f64 } else { -(k as f64) };
        assert_eq!((*t, *v), (k as i64, want.to_bits()));
    }
    let mut part = Vec::new();
    st.collect(101, 110, &mut part);
    assert_eq!(
        part.iter().map(|s| s.0).collect::<Vec<_>>(),
        (101..=110).collect::<Vec<_>>()
    );
    assert_eq!(st.bounds(), Some((0, 299)));
}

#[test]
fn truncation_drops_whole_chunks_only() {
    let s = series();
    let mut st = s.state.lock();
    for i in 0..300 {
        st.append_in_order(i, 0.5, RANGE);
    }
    // Chunks [0,119], [120,239], open [240,299].
    assert_eq!(st.truncate_before(130), 1);
    assert_eq!(st.bounds(), Some((120, 299)));
    assert_eq!(st.truncate_before(300), 2);
    assert!(st.is_empty());
    assert_eq!(st.bounds(), None);
    // An empty series takes any sample again (subject to the head's limits).
    assert_eq!(st.verdict(5, 1.0, lim(i64::MIN, None)), Verdict::InOrder);
}

#[test]
fn adopted_full_chunks_behave_like_appended_ones() {
    use crate::tsdb::chunk::Chunk;
    let enc = |from: i64, n: i64| {
        let s: Vec<(i64, f64)> = (from..from + n).map(|k| (k * 1000, k as f64)).collect();
        Chunk::encode(&s).expect("encode")
    };
    let s = series();
    let mut st = s.state.lock();
    let free = lim(i64::MIN, None);
    // Refused: too many samples, a range boundary crossed, older than allowed.
    let many = enc(0, SAMPLES_PER_CHUNK as i64 + 1);
    assert!(st.adopt_full(many, free, RANGE).is_err());
    assert!(st.adopt_full(enc(7_199, 2), free, RANGE).is_err());
    assert!(st.adopt_full(enc(0, 10), lim(5_000, None), RANGE).is_err());
    assert!(st.is_empty());
    // Taken: two chunks in order; an overlapping one is refused.
    assert!(st.adopt_full(enc(0, 10), free, RANGE).is_ok());
    assert!(st.adopt_full(enc(9, 5), free, RANGE).is_err());
    assert!(st.adopt_full(enc(10, 10), free, RANGE).is_ok());
    assert_eq!(st.num_chunks(), 2);
    assert_eq!(st.bounds(), Some((0, 19_000)));
    // Without an open chunk the newest full chunk decides.
    assert_eq!(st.verdict(19_000, 19.0, free), Verdict::Duplicate);
    assert_eq!(st.verdict(19_000, 1.0, free), Verdict::Conflict);
    assert_eq!(st.verdict(5_000, 5.0, free), Verdict::RejectOutOfOrder);
    assert_eq!(
        st.verdict(5_000, 5.0, lim(i64::MIN, Some(0))),
        Verdict::Duplicate
    );
    assert_eq!(
        st.verdict(5_500, 5.0, lim(i64::MIN, Some(0))),
        Verdict::OutOfOrder
    );
    assert_eq!(st.verdict(19_001, 0.0, free), Verdict::InOrder);
    st.append_in_order(20_000, 20.0, RANGE);
    // Once a chunk is open, nothing more is adopted.
    assert!(st.adopt_full(enc(30, 5), free, RANGE).is_err());
    let got = all(&st);
    assert_eq!(got.len(), 21);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn whole_chunks_are_offered_only_when_they_hold_exactly_the_kept_samples() {
    let s = series();
    let mut st = s.state.lock();
    assert_eq!(st.whole_chunks(i64::MIN).map(|c| c.count()), Some(0));
    for k in 0..300 {
        st.append_in_order(k * 1000, k as f64, RANGE);
    }
    let parts: Vec<(Vec<u8>, usize)> = st
        .whole_chunks(0)
        .expect("clean")
        .map(|(b, n)| (b.to_vec(), n))
        .collect();
    assert_eq!(parts.iter().map(|p| p.1).sum::<usize>(), 300);
    let decoded: Vec<(i64, u64)> = parts
        .iter()
        .flat_map(|(b, _)| crate::tsdb::chunk::ChunkIter::new(b).collect::<Vec<_>>())
        .map(|(t, v)| (t, v.to_bits()))
        .collect();
    assert_eq!(decoded, all(&st));
    // Samples before the truncation point, or out-of-order data: not offered.
    assert!(st.whole_chunks(1).is_none());
    st.insert_out_of_order(500, 0.5);
    assert!(st.whole_chunks(i64::MIN).is_none());
}
