//! The postings index: label name → label value → sorted series refs, and the evaluation of
//! label matchers against it.
//!
//! Matcher semantics follow Prometheus: a missing label reads as the empty string, so a
//! matcher that matches `""` also selects series without the label. Such a matcher is
//! evaluated by subtraction (all series minus those whose value for the label does not
//! match); a matcher that does not match `""` intersects the union of the postings of the
//! values it matches. With no intersecting matcher the base set is every series.
//!
//! Invariants: every list is sorted and duplicate-free; a value with an empty list and a name
//! with no values are removed; `all` holds every indexed ref.
//!
//! Cost: `=` is a hash and a tree lookup; `=~` visits the values of its label (only those
//! under the regex's literal prefix when it has one, none when it is a plain alternation of
//! literals); list operations are linear merges. About 8 bytes per label per series plus the
//! distinct strings once.

use super::label_codec::LabelBytes;
use crate::{MatchOp, Matcher, SeriesRef};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

type Values = BTreeMap<Box<str>, Vec<SeriesRef>>;

/// The head's inverted index.
#[derive(Debug, Default)]
pub struct Postings {
    names: HashMap<Box<str>, Values>,
    all: Vec<SeriesRef>,
}

fn insert_sorted(list: &mut Vec<SeriesRef>, r: SeriesRef) {
    // Refs are allocated in increasing order, so this is almost always a push.
    match list.last() {
        Some(&last) if last >= r => {
            if let Err(i) = list.binary_search(&r) {
                list.insert(i, r);
            }
        }
        _ => list.push(r),
    }
}

impl Postings {
    /// Indexes series `r` with the given labels.
    pub fn add(&mut self, r: SeriesRef, labels: &LabelBytes) {
        for (n, v) in labels.iter() {
            let values = match self.names.get_mut(n) {
                Some(values) => values,
                None => self.names.entry(n.into()).or_default(),
            };
            match values.get_mut(v) {
                Some(list) => insert_sorted(list, r),
                None => {
                    values.insert(v.into(), vec![r]);
                }
            }
        }
        insert_sorted(&mut self.all, r);
    }

    /// Removes every ref in `removed` (sorted, each given with its labels) from the index.
    pub fn remove(&mut self, removed: &[(SeriesRef, &LabelBytes)]) {
        if removed.is_empty() {
            return;
        }
        let mut gone: Vec<SeriesRef> = removed.iter().map(|x| x.0).collect();
        gone.sort_unstable();
        let keep = |r: &SeriesRef| gone.binary_search(r).is_err();
        // Each touched list is filtered once, however many of its refs go.
        let mut touched: Vec<(&str, &str)> = removed.iter().flat_map(|x| x.1.iter()).collect();
        touched.sort_unstable();
        touched.dedup();
        for (n, v) in touched {
            let Some(values) = self.names.get_mut(n) else {
                continue;
            };
            if let Some(list) = values.get_mut(v) {
                list.retain(keep);
                if list.is_empty() {
                    values.remove(v);
                } else if list.capacity() > 2 * list.len() + 4 {
                    list.shrink_to_fit();
                }
            }
            if values.is_empty() {
                self.names.remove(n);
            }
        }
        self.all.retain(keep);
    }

    /// Label names present in the index, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.names.keys().map(|n| n.to_string()).collect();
        names.sort_unstable();
        names
    }

    /// Values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.names
            .get(name)
            .map(|vals| vals.keys().map(|v| v.to_string()).collect())
            .unwrap_or_default()
    }

    /// Refs of the series matching all `matchers` (every series when empty), sorted.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut intersect: Vec<Cow<'_, [SeriesRef]>> = Vec::new();
        let mut subtract: Vec<Cow<'_, [SeriesRef]>> = Vec::new();
        for m in matchers {
            let values = self.names.get(m.name.as_str());
            if m.matches_empty() {
                // Remove series that have the label with a value the matcher rejects.
                if let Some(values) = values {
                    let list = self.values_where(values, m, false);
                    if !list.is_empty() {
                        subtract.push(list);
                    }
                }
            } else {
                let Some(values) = values else {
                    return Vec::new();
                };
                let list = self.values_where(values, m, true);
                if list.is_empty() {
                    return Vec::new();
                }
                intersect.push(list);
            }
        }
        intersect.sort_by_key(|l| l.len());
        let mut it = intersect.into_iter();
        let mut acc: Vec<SeriesRef> = match it.next() {
            Some(first) => first.into_owned(),
            None => self.all.clone(),
        };
        for l in it {
            acc = intersect_sorted(&acc, &l);
            if acc.is_empty() {
                return acc;
            }
        }
        for l in subtract {
            acc = subtract_sorted(&acc, &l);
        }
        acc
    }

    /// Union of the lists of the values `v` of one label for which `m.matches(v) == want`.
    fn values_where<'a>(
        &self,
        values: &'a Values,
        m: &Matcher,
        want: bool,
    ) -> Cow<'a, [SeriesRef]> {
        let get = |v: &str| values.get(v).map(|l| l.as_slice());
        let lists: Vec<&[SeriesRef]> = match (m.op, want) {
            (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => {
                get(&m.value).into_iter().collect()
            }
            (MatchOp::RegexMatch, true) | (MatchOp::RegexNoMatch, false) => {
                match regex_shape(&m.value) {
                    RegexShape::Literals(lits) => lits.iter().filter_map(|v| get(v)).collect(),
                    RegexShape::Prefix(p) => values
                        .range::<str, _>((
                            std::ops::Bound::Included(p.as_str()),
                            std::ops::Bound::Unbounded,
                        ))
                        .take_while(|(v, _)| v.starts_with(p.as_str()))
                        .filter(|(v, _)| m.matches(v) == want)
                        .map(|(_, l)| l.as_slice())
                        .collect(),
                    RegexShape::General => scan(values, m, want),
                }
            }
            _ => scan(values, m, want),
        };
        match lists.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            _ => Cow::Owned(union_sorted(&lists)),
        }
    }
}

fn scan<'a>(values: &'a Values, m: &Matcher, want: bool) -> Vec<&'a [SeriesRef]> {
    values
        .iter()
        .filter(|(v, _)| m.matches(v) == want)
        .map(|(_, l)| l.as_slice())
        .collect()
}

/// What a regex source allows the index to skip.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RegexShape {
    /// `a|b|c` with no metacharacters: exactly these strings match.
    Literals(Vec<String>),
    /// Every match starts with this (non-empty) literal.
    Prefix(String),
    /// Anything else: test every value.
    General,
}

fn is_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | ' '
            | '\t'
            | '\n'
            | '\r'
            | '&'
            | '-'
            | '~'
    )
}

pub(crate) fn regex_shape(re: &str) -> RegexShape {
    if re.split('|').all(|alt| !alt.chars().any(is_meta)) {
        return RegexShape::Literals(re.split('|').map(str::to_owned).collect());
    }
    if re.contains('|') {
        return RegexShape::General;
    }
    let end = re.find(is_meta).unwrap_or(re.len());
    let mut prefix = &re[..end];
    // A quantifier that allows zero repetitions makes the last literal optional.
    if matches!(re[end..].chars().next(), Some('*' | '?' | '{')) {
        let cut = prefix.char_indices().last().map_or(0, |(i, _)| i);
        prefix = &prefix[..cut];
    }
    if prefix.is_empty() {
        RegexShape::General
    } else {
        RegexShape::Prefix(prefix.to_owned())
    }
}

/// Intersection of two sorted lists.
pub fn intersect_sorted(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// `a` without the elements of `b` (both sorted).
pub fn subtract_sorted(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Union of several sorted lists, sorted and duplicate-free.
pub fn union_sorted(lists: &[&[SeriesRef]]) -> Vec<SeriesRef> {
    let mut out: Vec<SeriesRef> = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
    for l in lists {
        out.extend_from_slice(l);
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
#[path = "postings_tests.rs"]
mod tests;
