//! Tests of the postings index against brute-force matching.

use super::*;
use crate::Labels;
use proptest::prelude::*;

fn bytes(l: &Labels) -> LabelBytes {
    LabelBytes::encode(l, &mut Vec::new())
}

fn brute(series: &[(SeriesRef, Labels)], ms: &[Matcher]) -> Vec<SeriesRef> {
    series
        .iter()
        .filter(|(_, l)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
        .map(|(r, _)| *r)
        .collect()
}

#[test]
fn regex_shapes() {
    use RegexShape::*;
    let lits = |v: &[&str]| Literals(v.iter().map(|s| s.to_string()).collect());
    assert_eq!(regex_shape("a|bc|"), lits(&["a", "bc", ""]));
    assert_eq!(regex_shape("idle"), lits(&["idle"]));
    assert_eq!(regex_shape("node_.*"), Prefix("node_".into()));
    assert_eq!(regex_shape("fo+x"), Prefix("fo".into()));
    assert_eq!(regex_shape("ab*"), Prefix("a".into()));
    assert_eq!(regex_shape("ab?c"), Prefix("a".into()));
    assert_eq!(regex_shape("ab{0,2}"), Prefix("a".into()));
    assert_eq!(regex_shape("a*"), General);
    assert_eq!(regex_shape("a.*|b"), General);
    assert_eq!(regex_shape("(?i)abc"), General);
    assert_eq!(regex_shape("ab\\.c"), Prefix("ab".into()));
    assert_eq!(regex_shape("é+x"), Prefix("é".into()));
    assert_eq!(regex_shape("xé?"), Prefix("x".into()));
}

#[test]
fn set_operations() {
    assert_eq!(intersect_sorted(&[1, 3, 5, 7], &[2, 3, 7, 9]), vec![3, 7]);
    assert_eq!(subtract_sorted(&[1, 3, 5, 7], &[0, 3, 7, 9]), vec![1, 5]);
    assert_eq!(union_sorted(&[&[1, 5], &[2, 5], &[]]), vec![1, 2, 5]);
}

#[test]
fn empty_matching_matchers_select_series_without_the_label() {
    let mut p = Postings::default();
    let a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
    let b = Labels::from_pairs([("__name__", "up")]);
    let c = Labels::from_pairs([("__name__", "up"), ("job", "c")]);
    p.add(1, &bytes(&a));
    p.add(2, &bytes(&b));
    p.add(3, &bytes(&c));
    let sel = |ms: &[Matcher]| p.select(ms);
    assert_eq!(sel(&[Matcher::equal("job", "")]), vec![2]);
    assert_eq!(
        sel(&[Matcher::new(MatchOp::NotEqual, "job", "a").unwrap()]),
        vec![2, 3]
    );
    assert_eq!(
        sel(&[Matcher::new(MatchOp::RegexMatch, "job", "a|").unwrap()]),
        vec![1, 2]
    );
    assert_eq!(
        sel(&[Matcher::new(MatchOp::RegexNoMatch, "job", "c").unwrap()]),
        vec![1, 2]
    );
    assert_eq!(
        sel(&[Matcher::new(MatchOp::NotEqual, "job", "").unwrap()]),
        vec![1, 3]
    );
    assert_eq!(sel(&[Matcher::equal("nope", "")]), vec![1, 2, 3]);
    assert!(sel(&[Matcher::equal("nope", "x")]).is_empty());
    assert_eq!(sel(&[]), vec![1, 2, 3]);
    // Removal drops empty values and names.
    p.remove(&[(1, &bytes(&a)), (3, &bytes(&c))]);
    assert_eq!(p.label_names(), vec!["__name__"]);
    assert!(p.label_values("job").is_empty());
    assert_eq!(p.select(&[]), vec![2]);
}

#[test]
fn out_of_order_refs_stay_sorted() {
    let mut p = Postings::default();
    let l = Labels::from_pairs([("a", "x")]);
    for r in [5, 2, 9, 1, 5] {
        p.add(r, &bytes(&l));
    }
    assert_eq!(p.select(&[Matcher::equal("a", "x")]), vec![1, 2, 5, 9]);
}

fn matcher() -> impl Strategy<Value = Matcher> {
    let name = prop_oneof![Just("a"), Just("b"), Just("c"), Just("zz")];
    let value = prop_oneof![
        Just(""),
        Just("x"),
        Just("y"),
        Just("xy"),
        Just("x.*"),
        Just("x+"),
        Just("y|xy|"),
        Just("x|y"),
        Just(".*"),
        Just(".+"),
        Just("xy?"),
        Just("[xy]"),
    ];
    let op = prop_oneof![
        Just(MatchOp::Equal),
        Just(MatchOp::NotEqual),
        Just(MatchOp::RegexMatch),
        Just(MatchOp::RegexNoMatch),
    ];
    (op, name, value).prop_filter_map("valid regex", |(op, n, v)| Matcher::new(op, n, v).ok())
}

fn label_set() -> impl Strategy<Value = Labels> {
    let v = prop_oneof![
        Just(""),
        Just("x"),
        Just("y"),
        Just("xy"),
        Just("xx"),
        Just("yx")
    ];
    (v.clone(), v.clone(), v)
        .prop_map(|(a, b, c)| Labels::from_pairs([("a", a), ("b", b), ("c", c)]))
}

proptest! {
    #[test]
    fn select_equals_brute_force(
        sets in proptest::collection::vec(label_set(), 0..40),
        ms in proptest::collection::vec(matcher(), 0..4),
        drop_every in 2usize..5,
    ) {
        let mut p = Postings::default();
        let mut series: Vec<(SeriesRef, Labels)> = Vec::new();
        for (i, l) in sets.into_iter().enumerate() {
            let r = i as SeriesRef + 1;
            p.add(r, &bytes(&l));
            series.push((r, l));
        }
        prop_assert_eq!(p.select(&ms), brute(&series, &ms));
        // Remove some series and compare again.
        let gone: Vec<(SeriesRef, Labels)> =
            series.iter().filter(|(r, _)| (*r as usize).is_multiple_of(drop_every)).cloned().collect();
        let gone_bytes: Vec<(SeriesRef, LabelBytes)> =
            gone.iter().map(|(r, l)| (*r, bytes(l))).collect();
        let refs: Vec<(SeriesRef, &LabelBytes)> = gone_bytes.iter().map(|(r, b)| (*r, b)).collect();
        p.remove(&refs);
        series.retain(|(r, _)| !(*r as usize).is_multiple_of(drop_every));
        prop_assert_eq!(p.select(&ms), brute(&series, &ms));
        let mut names: Vec<String> =
            series.iter().flat_map(|(_, l)| l.iter().map(|x| x.name.clone())).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(p.label_names(), names);
    }
}
