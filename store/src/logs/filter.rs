//! Line filters (`|= != |~ !~`) and their pushdown into the index.
//!
//! A filter is always checked exactly on the stored line; pushdown only narrows the candidate
//! documents, and only ever to a *superset* of the matches. For `|= "needle"` the needle is
//! split like lines are ([`super::tokenizer`]); a needle token is
//! - bounded on both sides (by non-word bytes inside the needle): the line has exactly that
//!   token — a term query, or a phrase query for a run of such tokens (positions);
//! - bounded on the left only: the line has a token starting with it — a prefix range of the
//!   term dictionary;
//! - bounded on the right only / on neither side: a token ending with / containing it — a scan
//!   of the term dictionary.
//!
//! The cheapest sufficient choice is made (exact terms, else the longest prefix, else the
//! longest scanned token); truncated index terms are always kept as candidates by scans.
//! `|~` with a plain literal (no regex metacharacter) is pushed down like `|=`; `!=`, other
//! `|~`, `!~` are not pushed down.
//!
//! Cost: term and phrase queries are postings lookups; a dictionary scan visits every term of
//! the `line` field of each segment whose `ts` range overlaps the query (bounded by
//! [`MAX_EXPANSION`] matched terms), segments in parallel; term dictionaries are SSTables,
//! read sequentially at a few tens of ns a term.

use super::error::{LogError, Result};
use super::tokenizer::{
    MAX_TOKEN_BYTES, is_word_byte, may_be_truncated, token_spans, truncate_token,
};
use regex::Regex;
use std::collections::BTreeSet;
use tantivy::query::{PhraseQuery, Query, TermQuery, TermSetQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

/// More matched dictionary terms than this and the filter is not pushed down.
pub const MAX_EXPANSION: usize = 50_000;

/// The four LogQL line filter operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    Contains,
    NotContains,
    Regex,
    NotRegex,
}

/// One line filter.
#[derive(Debug, Clone)]
pub struct LineFilter {
    pub op: LineFilterOp,
    pub pattern: String,
    re: Option<Regex>,
}

impl PartialEq for LineFilter {
    fn eq(&self, o: &Self) -> bool {
        self.op == o.op && self.pattern == o.pattern
    }
}

impl LineFilter {
    /// A filter; regexes are unanchored, as in LogQL.
    pub fn new(op: LineFilterOp, pattern: impl Into<String>) -> Result<LineFilter> {
        let pattern = pattern.into();
        let re = match op {
            LineFilterOp::Regex | LineFilterOp::NotRegex => Some(
                Regex::new(&pattern)
                    .map_err(|e| LogError::BadQuery(format!("invalid regex {pattern:?}: {e}")))?,
            ),
            _ => None,
        };
        Ok(LineFilter { op, pattern, re })
    }

    /// Whether `line` passes.
    pub fn matches(&self, line: &str) -> bool {
        match self.op {
            LineFilterOp::Contains => {
                memchr::memmem::find(line.as_bytes(), self.pattern.as_bytes()).is_some()
            }
            LineFilterOp::NotContains => {
                memchr::memmem::find(line.as_bytes(), self.pattern.as_bytes()).is_none()
            }
            LineFilterOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(line)),
            LineFilterOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(line)),
        }
    }
}

/// How one needle token must appear among a line's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need<'a> {
    /// A run of consecutive whole tokens.
    Exact(Vec<&'a str>),
    Prefix(&'a str),
    Suffix(&'a str),
    Contains(&'a str),
}

fn needs(needle: &str) -> Vec<Need<'_>> {
    let b = needle.as_bytes();
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for (s, e) in token_spans(needle) {
        let left = s > 0 && !is_word_byte(b[s - 1]);
        let right = e < b.len() && !is_word_byte(b[e]);
        let tok = &needle[s..e];
        let need = match (left, right) {
            (true, true) => None,
            (true, false) => Some(Need::Prefix(tok)),
            (false, true) => Some(Need::Suffix(tok)),
            (false, false) => Some(Need::Contains(tok)),
        };
        match need {
            // Adjacent whole tokens of the needle are at consecutive positions in the line.
            None => run.push(tok),
            Some(n) => {
                if !run.is_empty() {
                    out.push(Need::Exact(std::mem::take(&mut run)));
                }
                out.push(n);
            }
        }
    }
    if !run.is_empty() {
        out.push(Need::Exact(run));
    }
    out
}

fn choose<'a>(ns: &[Need<'a>]) -> Vec<Need<'a>> {
    let exact: Vec<Need<'a>> = ns
        .iter()
        .filter(|n| matches!(n, Need::Exact(_)))
        .cloned()
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    let longest =
        |pred: fn(&Need<'a>) -> Option<&'a str>| ns.iter().filter_map(pred).max_by_key(|t| t.len());
    if let Some(p) = longest(|n| {
        if let Need::Prefix(t) = n {
            Some(t)
        } else {
            None
        }
    }) {
        return vec![Need::Prefix(p)];
    }
    ns.iter()
        .filter(|n| matches!(n, Need::Suffix(_) | Need::Contains(_)))
        .max_by_key(|n| match n {
            Need::Suffix(t) | Need::Contains(t) => t.len(),
            _ => 0,
        })
        .cloned()
        .into_iter()
        .collect()
}

fn term(field: Field, t: &str) -> Term {
    Term::from_field_text(field, truncate_token(t))
}

/// Whether a segment holds lines in `[start, end)` (by its `ts` column's range); a segment
/// whose range cannot be read is assumed to.
fn seg_overlaps(seg: &tantivy::SegmentReader, start: i64, end: i64) -> bool {
    match seg.fast_fields().i64("ts") {
        Ok(ts) => seg.num_docs() > 0 && ts.min_value() < end && ts.max_value() >= start,
        Err(_) => true,
    }
}

/// Expands a prefix/suffix/contains need into the matching dictionary terms over the
/// segments overlapping `[start, end)`; `None` when there are too many. Segments are scanned
/// in parallel (one thread per core at most): a suffix/contains scan visits every term.
fn expand(
    searcher: &Searcher,
    field: Field,
    need: &Need<'_>,
    (start, end): (i64, i64),
) -> Result<Option<BTreeSet<Vec<u8>>>> {
    let segs: Vec<&tantivy::SegmentReader> = searcher
        .segment_readers()
        .iter()
        .filter(|seg| seg_overlaps(seg, start, end))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(segs.len());
    let parts: Vec<Result<Option<BTreeSet<Vec<u8>>>>> = if threads <= 1 {
        segs.iter()
            .map(|seg| expand_segment(seg, field, need))
            .collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(seg) = segs.get(i) else { break };
                            mine.push(expand_segment(seg, field, need));
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join().unwrap_or_else(|_| {
                        vec![Err(LogError::BadQuery("line term scan panicked".into()))]
                    })
                })
                .collect()
        })
    };
    let mut out = BTreeSet::new();
    for part in parts {
        match part? {
            Some(terms) => out.extend(terms),
            None => return Ok(None),
        }
        if out.len() > MAX_EXPANSION {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

/// The terms of one segment's `line` dictionary that satisfy `need`; `None` when too many.
fn expand_segment(
    seg: &tantivy::SegmentReader,
    field: Field,
    need: &Need<'_>,
) -> Result<Option<BTreeSet<Vec<u8>>>> {
    let mut out = BTreeSet::new();
    let inv = seg
        .inverted_index(field)
        .map_err(|e| LogError::BadQuery(format!("line index unavailable: {e}")))?;
    let dict = inv.terms();
    let io = |e: std::io::Error| LogError::BadQuery(format!("reading line terms: {e}"));
    match need {
        Need::Prefix(t) => {
            let p = truncate_token(t).as_bytes();
            let mut st = dict.range().ge(p).into_stream().map_err(io)?;
            while st.advance() {
                if !st.key().starts_with(p) {
                    break;
                }
                out.insert(st.key().to_vec());
                if out.len() > MAX_EXPANSION {
                    return Ok(None);
                }
            }
        }
        Need::Suffix(t) | Need::Contains(t) => {
            let t = t.as_bytes();
            let suffix = matches!(need, Need::Suffix(_));
            let finder = memchr::memmem::Finder::new(t);
            let mut st = dict.stream().map_err(io)?;
            while st.advance() {
                let k = st.key();
                let hit = if suffix {
                    k.ends_with(t)
                } else {
                    finder.find(k).is_some()
                };
                // Only long keys can be truncated tokens; check the cheap length first.
                let cut = k.len() >= MAX_TOKEN_BYTES - 3
                    && std::str::from_utf8(k).is_ok_and(may_be_truncated);
                if hit || cut {
                    out.insert(k.to_vec());
                    if out.len() > MAX_EXPANSION {
                        return Ok(None);
                    }
                }
            }
        }
        Need::Exact(_) => {}
    }
    Ok(Some(out))
}

/// The literal a regex matches when it has no metacharacter (then `|~` is a substring test).
fn regex_literal(pattern: &str) -> Option<&str> {
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$', '#', '&', '-', '~',
    ];
    (!pattern.is_empty() && !pattern.contains(META)).then_some(pattern)
}

/// The substring every line passing `f` contains, if there is one to push down.
fn required_substring(f: &LineFilter) -> Option<&str> {
    match f.op {
        LineFilterOp::Contains => Some(&f.pattern),
        LineFilterOp::Regex => regex_literal(&f.pattern),
        LineFilterOp::NotContains | LineFilterOp::NotRegex => None,
    }
}

/// Index queries whose intersection is a superset of the lines passing `filters` in
/// `[start, end)` (segments outside the range are not scanned).
pub fn pushdown(
    searcher: &Searcher,
    field: Field,
    filters: &[LineFilter],
    range: (i64, i64),
) -> Result<Vec<Box<dyn Query>>> {
    let mut qs: Vec<Box<dyn Query>> = Vec::new();
    for needle in filters.iter().filter_map(required_substring) {
        for need in choose(&needs(needle)) {
            match &need {
                Need::Exact(run) if run.len() == 1 => {
                    qs.push(Box::new(TermQuery::new(
                        term(field, run[0]),
                        IndexRecordOption::Basic,
                    )));
                }
                Need::Exact(run) => {
                    qs.push(Box::new(PhraseQuery::new(
                        run.iter().map(|t| term(field, t)).collect(),
                    )));
                }
                _ => {
                    if let Some(terms) = expand(searcher, field, &need, range)? {
                        let terms = terms
                            .into_iter()
                            .filter_map(|k| String::from_utf8(k).ok())
                            .map(|k| Term::from_field_text(field, &k));
                        qs.push(Box::new(TermSetQuery::new(terms)));
                    }
                }
            }
        }
    }
    Ok(qs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_literals_are_pushed_down() {
        let lit = |p: &str| regex_literal(p).map(str::to_string);
        assert_eq!(lit("payment"), Some("payment".into()));
        assert_eq!(lit("err_42"), Some("err_42".into()));
        assert_eq!(lit(" declined "), Some(" declined ".into()));
        for p in ["a.b", "a|b", "(?i)x", "a+", "x$", "", "a-b", r"\d"] {
            assert_eq!(lit(p), None, "{p}");
        }
        let f = LineFilter::new(LineFilterOp::NotRegex, "x").unwrap();
        assert_eq!(required_substring(&f), None);
    }

    #[test]
    fn needle_classification() {
        assert_eq!(needs("foo"), vec![Need::Contains("foo")]);
        assert_eq!(needs(" foo "), vec![Need::Exact(vec!["foo"])]);
        assert_eq!(needs("foo "), vec![Need::Suffix("foo")]);
        assert_eq!(needs(" foo"), vec![Need::Prefix("foo")]);
        assert_eq!(
            needs("connection refused by peer"),
            vec![
                Need::Suffix("connection"),
                Need::Exact(vec!["refused", "by"]),
                Need::Prefix("peer")
            ]
        );
        assert!(needs("  --").is_empty());
    }

    #[test]
    fn choice_prefers_exact_then_prefix() {
        assert_eq!(
            choose(&needs("a refused b")),
            vec![Need::Exact(vec!["refused"])]
        );
        assert_eq!(choose(&needs("abc-defgh")), vec![Need::Prefix("defgh")]);
        assert_eq!(choose(&needs("abc")), vec![Need::Contains("abc")]);
        assert!(choose(&needs("--")).is_empty());
    }

    #[test]
    fn exact_filters() {
        let c = LineFilter::new(LineFilterOp::Contains, "err").unwrap();
        assert!(c.matches("an error"));
        let n = LineFilter::new(LineFilterOp::NotContains, "err").unwrap();
        assert!(!n.matches("an error"));
        let r = LineFilter::new(LineFilterOp::Regex, "e(r)+or").unwrap();
        assert!(r.matches("an error"));
        let nr = LineFilter::new(LineFilterOp::NotRegex, "^an").unwrap();
        assert!(!nr.matches("an error"));
        assert!(LineFilter::new(LineFilterOp::Regex, "(").is_err());
    }
}
