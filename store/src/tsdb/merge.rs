//! Merging query results from several sources (blocks, then the head) into one answer.
//!
//! Each source returns series sorted by labels; the same series may appear in several
//! sources with overlapping samples (a block cut while the head still held its range, or
//! blocks written twice after a crash). Samples are deduplicated by timestamp; when two
//! sources hold the same timestamp the later source wins (the head is passed last, so the
//! head wins over blocks, and a newer block over an older one).
//!
//! Cost: linear in the samples when sources do not overlap in time (the common case: a plain
//! concatenation), otherwise a sort of that series' samples.

use crate::{Labels, Series};
use std::cmp::Ordering;

/// Merges per-source results (each sorted by labels), sources in increasing priority.
pub fn merge_series(sources: Vec<Vec<Series>>) -> Vec<Series> {
    let mut non_empty: Vec<Vec<Series>> = sources.into_iter().filter(|s| !s.is_empty()).collect();
    match non_empty.len() {
        0 => return Vec::new(),
        1 => return non_empty.pop().unwrap_or_default(),
        _ => {}
    }
    // (labels, priority, samples), grouped by labels in priority order.
    let mut all: Vec<(usize, Series)> = non_empty
        .into_iter()
        .enumerate()
        .flat_map(|(p, list)| list.into_iter().map(move |s| (p, s)))
        .collect();
    all.sort_by(|a, b| a.1.labels.cmp(&b.1.labels).then(a.0.cmp(&b.0)));
    let mut out: Vec<Series> = Vec::with_capacity(all.len());
    let mut group: Vec<(usize, Vec<(i64, f64)>)> = Vec::new();
    let mut cur: Option<Labels> = None;
    for (p, s) in all {
        if cur.as_ref().is_some_and(|l| *l != s.labels) {
            flush(&mut out, &mut cur, &mut group);
        }
        if cur.is_none() {
            cur = Some(s.labels);
        }
        group.push((p, s.samples));
    }
    flush(&mut out, &mut cur, &mut group);
    out
}

fn flush(
    out: &mut Vec<Series>,
    cur: &mut Option<Labels>,
    group: &mut Vec<(usize, Vec<(i64, f64)>)>,
) {
    let Some(labels) = cur.take() else {
        return;
    };
    let samples = merge_samples(std::mem::take(group).into_iter().map(|g| g.1).collect());
    out.push(Series { labels, samples });
}

/// Merges sample lists (each time-sorted, unique timestamps) given in increasing priority:
/// on equal timestamps the later list wins.
pub fn merge_samples(mut lists: Vec<Vec<(i64, f64)>>) -> Vec<(i64, f64)> {
    lists.retain(|l| !l.is_empty());
    if lists.len() <= 1 {
        return lists.pop().unwrap_or_default();
    }
    let disjoint = lists
        .windows(2)
        .all(|w| w[0].last().map(|s| s.0) < w[1].first().map(|s| s.0));
    if disjoint {
        return lists.concat();
    }
    let mut all: Vec<(i64, usize, f64)> = lists
        .into_iter()
        .enumerate()
        .flat_map(|(p, l)| l.into_iter().map(move |(t, v)| (t, p, v)))
        .collect();
    // Highest priority first within a timestamp, then keep the first of each timestamp.
    all.sort_by(|a, b| match a.0.cmp(&b.0) {
        Ordering::Equal => b.1.cmp(&a.1),
        o => o,
    });
    all.dedup_by_key(|s| s.0);
    all.into_iter().map(|(t, _, v)| (t, v)).collect()
}

/// Union of sorted string lists, sorted and duplicate-free.
pub fn merge_strings(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.concat();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(l: &str, samples: &[(i64, f64)]) -> Series {
        Series {
            labels: Labels::from_pairs([("a", l)]),
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn later_sources_win_and_series_are_merged_in_label_order() {
        let block1 = vec![s("x", &[(1, 1.0), (2, 2.0)]), s("z", &[(1, 9.0)])];
        let block2 = vec![s("y", &[(5, 5.0)])];
        let head = vec![s("x", &[(2, 20.0), (3, 3.0)]), s("z", &[(4, 4.0)])];
        let got = merge_series(vec![block1, block2, head]);
        assert_eq!(
            got,
            vec![
                s("x", &[(1, 1.0), (2, 20.0), (3, 3.0)]),
                s("y", &[(5, 5.0)]),
                s("z", &[(1, 9.0), (4, 4.0)]),
            ]
        );
    }

    #[test]
    fn interleaved_samples_are_sorted() {
        let got = merge_samples(vec![
            vec![(1, 1.0), (5, 5.0)],
            vec![(3, 3.0), (5, 50.0), (7, 7.0)],
        ]);
        assert_eq!(got, vec![(1, 1.0), (3, 3.0), (5, 50.0), (7, 7.0)]);
        assert_eq!(
            merge_strings(vec![
                vec!["b".into(), "c".into()],
                vec!["a".into(), "b".into()]
            ]),
            vec!["a", "b", "c"]
        );
    }
}
