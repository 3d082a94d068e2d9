//! Label sets: `{name="value",...}` in series and exemplars.
//!
//! Purpose: two halves of one grammar.
//! - [`parse_label_set`] validates a label set while the parser walks a line,
//!   records where a quoted metric name sits (`{"my.metric", ...}`) and
//!   collects label-name slices for the duplicate check. It never allocates
//!   (the name scratch vector is owned and reused by the parser).
//! - [`LabelIter`] re-lexes an already validated label set to hand out
//!   unescaped `(name, value)` pairs. This runs only when the scrape loop
//!   misses its series cache, so the hot path (cache hit) never pays for it.
//!
//! Grammar: label names are `[a-zA-Z_][a-zA-Z0-9_]*` or a non-empty quoted
//! string (Prometheus 3 UTF-8 names); values are quoted strings with escapes
//! `\\`, `\"`, `\n` (other escapes are kept verbatim, as Prometheus does). A
//! trailing comma is allowed. In the text format spaces and tabs may appear
//! between tokens; OpenMetrics allows none.
//!
//! Invariants: `LabelIter` only ever sees input that `parse_label_set`
//! accepted, so it cannot fail; on anything unexpected it simply ends.
//!
//! Cost: validation is one pass over the bytes plus a duplicate check that
//! compares name slices pairwise (sorted when a set has more than 16 labels).

use std::borrow::Cow;

use super::error::{ErrorKind, unexpected};
use super::lexer::{Escapes, is_label_start, scan_label_name, scan_quoted, skip_ws, unescape};

/// A label name as it appeared in the input (quotes stripped, escapes not
/// resolved), kept for the duplicate check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameRef<'a> {
    pub raw: &'a [u8],
    pub escaped: bool,
}

/// Whether a quoted metric name may appear inside the braces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameSlot {
    /// Series without a name before `{`: a quoted name may (must) appear.
    Open,
    /// Series whose name precedes `{`: a second name is an error.
    Taken,
    /// Exemplar label sets never carry a metric name.
    Forbidden,
}

/// Result of [`parse_label_set`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelSet {
    /// Index just after the closing `}`.
    pub next: usize,
    /// Byte range and escape flag of a quoted metric name found inside.
    pub name: Option<(usize, usize, bool)>,
}

/// Validates the label set whose `{` is at `b[i]`, pushing label names onto
/// `names` (which the caller clears). `ws` enables text-format whitespace.
pub(crate) fn parse_label_set<'a>(
    b: &'a [u8],
    i: usize,
    end: usize,
    ws: bool,
    slot: NameSlot,
    names: &mut Vec<NameRef<'a>>,
) -> Result<LabelSet, ErrorKind> {
    let mut i = i + 1;
    let mut metric = None;
    loop {
        if ws {
            i = skip_ws(b, i, end);
        }
        let Some(&c) = b.get(i).filter(|_| i < end) else {
            return Err(unexpected("label name or '}'", "", b, i, end));
        };
        if c == b'}' {
            return Ok(LabelSet {
                next: i + 1,
                name: metric,
            });
        }
        let (raw, escaped, after) = if c == b'"' {
            let q = scan_quoted(b, i, end)
                .ok_or_else(|| ErrorKind::Unterminated(" (label or metric name)".into()))?;
            let j = if ws { skip_ws(b, q.next, end) } else { q.next };
            let ends_item = j < end && (b[j] == b',' || b[j] == b'}');
            if ends_item && slot != NameSlot::Forbidden {
                if q.start == q.end {
                    return Err(ErrorKind::EmptyName("metric name"));
                }
                if slot == NameSlot::Taken || metric.is_some() {
                    return Err(ErrorKind::MetricNameTwice);
                }
                metric = Some((q.start, q.end, q.escaped));
                i = if b[j] == b',' { j + 1 } else { j };
                continue;
            }
            if q.start == q.end {
                return Err(ErrorKind::EmptyName("label name"));
            }
            (&b[q.start..q.end], q.escaped, q.next)
        } else if is_label_start(c) {
            let e = scan_label_name(b, i, end);
            (&b[i..e], false, e)
        } else {
            return Err(unexpected("label name or '}'", "", b, i, end));
        };
        let ctx = || format!(" after label name {:?}", String::from_utf8_lossy(raw));
        let mut j = if ws { skip_ws(b, after, end) } else { after };
        if j >= end || b[j] != b'=' {
            return Err(unexpected("'='", ctx(), b, j, end));
        }
        j += 1;
        if ws {
            j = skip_ws(b, j, end);
        }
        if j >= end || b[j] != b'"' {
            return Err(unexpected(
                "'\"' (label value)",
                format!("{}=", ctx()),
                b,
                j,
                end,
            ));
        }
        let v = scan_quoted(b, j, end).ok_or_else(|| {
            let name = String::from_utf8_lossy(raw);
            ErrorKind::Unterminated(format!(" (value of label {name:?})"))
        })?;
        names.push(NameRef { raw, escaped });
        j = if ws { skip_ws(b, v.next, end) } else { v.next };
        match b.get(j).filter(|_| j < end) {
            Some(b',') => i = j + 1,
            Some(b'}') => i = j,
            _ => {
                let name = String::from_utf8_lossy(raw);
                let ctx = format!(" after value of label {name:?}");
                return Err(unexpected("',' or '}'", ctx, b, j, end));
            }
        }
    }
}

/// Fails on two labels with the same (unescaped) name; with `series` set, a
/// label called `__name__` also clashes with the metric name.
pub(crate) fn check_duplicates(names: &mut [NameRef<'_>], series: bool) -> Result<(), ErrorKind> {
    let dup = |raw: &[u8]| ErrorKind::DuplicateLabel(String::from_utf8_lossy(raw).into_owned());
    if names.iter().any(|n| n.escaped) {
        return check_duplicates_escaped(names, series);
    }
    if series && let Some(n) = names.iter().find(|n| n.raw == b"__name__") {
        return Err(dup(n.raw));
    }
    if names.len() > 16 {
        names.sort_unstable_by_key(|n| n.raw);
        return match names.windows(2).find(|w| w[0].raw == w[1].raw) {
            Some(w) => Err(dup(w[0].raw)),
            None => Ok(()),
        };
    }
    for (k, n) in names.iter().enumerate().skip(1) {
        if names[..k].iter().any(|m| m.raw == n.raw) {
            return Err(dup(n.raw));
        }
    }
    Ok(())
}

/// Slow path for sets with escaped quoted names: compare unescaped strings.
fn check_duplicates_escaped(names: &[NameRef<'_>], series: bool) -> Result<(), ErrorKind> {
    let mut seen: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        let s = unescape(&String::from_utf8_lossy(n.raw), Escapes::Quoted).into_owned();
        if (series && s == "__name__") || seen.contains(&s) {
            return Err(ErrorKind::DuplicateLabel(s));
        }
        seen.push(s);
    }
    Ok(())
}

/// Iterator over the unescaped `(name, value)` pairs of a validated label
/// set (`{...}` as it appeared in the input, or an empty string).
///
/// Pairs come in input order; a quoted metric name inside the braces is
/// skipped. Values borrow from the input unless they contain escapes.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> LabelIter<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        LabelIter { s, i: 0 }
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.s;
        let b = s.as_bytes();
        let end = b.len();
        loop {
            let mut i = self.i;
            while i < end && matches!(b[i], b'{' | b',' | b' ' | b'\t') {
                i += 1;
            }
            self.i = end; // Ends the iteration unless a pair is found below.
            let c = *b.get(i)?;
            let name = if c == b'"' {
                let q = scan_quoted(b, i, end)?;
                let j = skip_ws(b, q.next, end);
                if j < end && (b[j] == b',' || b[j] == b'}') {
                    self.i = j; // The quoted metric name: skip it.
                    continue;
                }
                i = q.next;
                unescape(s.get(q.start..q.end)?, Escapes::Quoted)
            } else if is_label_start(c) {
                let e = scan_label_name(b, i, end);
                let name = s.get(i..e)?;
                i = e;
                Cow::Borrowed(name)
            } else {
                return None;
            };
            i = skip_ws(b, i, end);
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i = skip_ws(b, i + 1, end);
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let v = scan_quoted(b, i, end)?;
            let value = unescape(s.get(v.start..v.end)?, Escapes::Quoted);
            self.i = v.next;
            return Some((name, value));
        }
    }
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
