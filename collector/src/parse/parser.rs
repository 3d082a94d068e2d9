//! The line-by-line driver for both formats.
//!
//! Purpose: split the input into lines (`memchr`), dispatch each to the
//! comment or sample grammar of its format, and yield [`Entry`] values.
//!
//! Invariants: `pos` only moves forward, by at least one line per loop
//! iteration, so parsing always terminates; after the first error (or the
//! OpenMetrics `# EOF`) the parser is exhausted. `valid` is the longest
//! UTF-8-valid prefix of the input, computed once, so turning ASCII-delimited
//! slices into `&str` is a boundary check instead of a re-validation.
//!
//! Cost: per line one `memchr`, then a single pass over the line's bytes.
//! The only per-parser allocation is the reused label-name scratch vector.

use std::borrow::Cow;

use super::error::{ErrorKind, ParseError, excerpt, unexpected};
use super::labels::{NameRef, NameSlot, check_duplicates, parse_label_set};
use super::lexer::{
    Escapes, is_name_start, scan, scan_name, scan_quoted, scan_token, skip_ws, unescape,
};
use super::sample::{Exemplar, Sample};
use super::value::{parse_om_timestamp, parse_text_timestamp, parse_value};
use super::{Entry, Format, MetricType};

/// Streaming parser over one scraped body. See the module docs for the API.
#[derive(Debug)]
pub struct Parser<'a> {
    buf: &'a [u8],
    valid: &'a str,
    pos: usize,
    line: usize,
    format: Format,
    done: bool,
    names: Vec<NameRef<'a>>,
    family: Option<(&'a str, MetricType)>,
}

/// What one line turned out to be.
enum Line<'a> {
    Entry(Entry<'a>),
    Skip,
    Eof,
}

/// A metric name in a HELP/TYPE/UNIT line: raw text, escape flag, next index.
type MetaName<'a> = (&'a str, bool, usize);

impl<'a> Parser<'a> {
    /// A parser over `input` in the given format.
    pub fn new(input: &'a [u8], format: Format) -> Self {
        let valid = match std::str::from_utf8(input) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default(),
        };
        Parser {
            buf: input,
            valid,
            pos: 0,
            line: 1,
            format,
            done: false,
            names: Vec::with_capacity(16),
            family: None,
        }
    }

    /// The format this parser reads.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The next sample or metadata entry; `None` at the end of input (or
    /// after `# EOF`, or after an error was returned).
    pub fn next_entry(&mut self) -> Option<Result<Entry<'a>, ParseError>> {
        while !self.done {
            let len = self.buf.len();
            if self.pos >= len {
                self.done = true;
                return match self.format {
                    Format::Text => None,
                    Format::OpenMetrics => Some(Err(self.error(self.line, ErrorKind::MissingEof))),
                };
            }
            let start = self.pos;
            let end = memchr::memchr(b'\n', &self.buf[start..]).map_or(len, |o| start + o);
            let line = self.line;
            self.pos = end + 1;
            self.line += 1;
            let parsed = match self.format {
                Format::Text => self.text_line(start, end),
                Format::OpenMetrics => self.om_line(start, end),
            };
            match parsed {
                Ok(Line::Entry(entry)) => return Some(Ok(entry)),
                Ok(Line::Skip) => {}
                Ok(Line::Eof) => {
                    self.done = true;
                    if self.pos < len {
                        return Some(Err(self.error(line + 1, ErrorKind::DataAfterEof)));
                    }
                }
                Err(kind) => {
                    self.done = true;
                    return Some(Err(self.error(line, kind)));
                }
            }
        }
        None
    }

    fn error(&self, line: usize, kind: ErrorKind) -> ParseError {
        ParseError { line, kind }
    }

    /// `buf[a..b]` as `&str`, if valid UTF-8 (always a boundary check only
    /// when inside the valid prefix).
    #[inline]
    fn str_at(&self, a: usize, b: usize) -> Option<&'a str> {
        match self.valid.get(a..b) {
            Some(s) => Some(s),
            None => std::str::from_utf8(self.buf.get(a..b)?).ok(),
        }
    }

    fn text_line(&mut self, start: usize, end: usize) -> Result<Line<'a>, ErrorKind> {
        let b = self.buf;
        let i = skip_ws(b, start, end);
        if i == end {
            return Ok(Line::Skip);
        }
        if b[i] == b'#' {
            return self.text_comment(i, end);
        }
        Ok(Line::Entry(Entry::Sample(self.sample(
            i,
            end,
            Format::Text,
        )?)))
    }

    fn om_line(&mut self, start: usize, end: usize) -> Result<Line<'a>, ErrorKind> {
        let b = self.buf;
        if start == end {
            return Err(ErrorKind::EmptyLine);
        }
        if b[start] == b'#' {
            return self.om_comment(start, end);
        }
        Ok(Line::Entry(Entry::Sample(self.sample(
            start,
            end,
            Format::OpenMetrics,
        )?)))
    }

    /// `#` at `b[i]`. Only `# HELP` and `# TYPE` (each followed by
    /// whitespace) mean something; every other comment is skipped.
    fn text_comment(&mut self, i: usize, end: usize) -> Result<Line<'a>, ErrorKind> {
        let b = self.buf;
        let k = skip_ws(b, i + 1, end);
        if k == i + 1 {
            return Ok(Line::Skip);
        }
        let word = &b[k..end];
        let is_kw =
            |kw: &[u8]| word.starts_with(kw) && matches!(word.get(kw.len()), Some(b' ' | b'\t'));
        let help = is_kw(b"HELP");
        if !help && !is_kw(b"TYPE") {
            return Ok(Line::Skip);
        }
        let what = if help {
            " after # HELP"
        } else {
            " after # TYPE"
        };
        let (raw, escaped, after) = self.meta_name(skip_ws(b, k + 4, end), end, true, what)?;
        let metric = name_cow(raw, escaped);
        if help {
            // Exactly one separator goes; the rest of the line is the text.
            let text_start = if after < end { after + 1 } else { end };
            let text = self.help_text(text_start, end, Escapes::TextHelp);
            return Ok(Line::Entry(Entry::Help { metric, text }));
        }
        let t = skip_ws(b, after, end);
        let mut t_end = end;
        while t_end > t && matches!(b[t_end - 1], b' ' | b'\t') {
            t_end -= 1;
        }
        let kind = MetricType::from_text(&b[t..t_end])
            .ok_or_else(|| ErrorKind::InvalidMetricType(excerpt(&b[t..t_end])))?;
        self.family = Some((raw, kind));
        Ok(Line::Entry(Entry::Type { metric, kind }))
    }

    fn om_comment(&mut self, start: usize, end: usize) -> Result<Line<'a>, ErrorKind> {
        let b = self.buf;
        let line = &b[start..end];
        if line == b"# EOF" {
            return Ok(Line::Eof);
        }
        let kw = if line.starts_with(b"# HELP ") {
            b"HELP"
        } else if line.starts_with(b"# TYPE ") {
            b"TYPE"
        } else if line.starts_with(b"# UNIT ") {
            b"UNIT"
        } else {
            return Ok(Line::Skip);
        };
        let what = match kw {
            b"HELP" => " after # HELP",
            b"TYPE" => " after # TYPE",
            _ => " after # UNIT",
        };
        let (raw, escaped, after) = self.meta_name(start + 7, end, false, what)?;
        let metric = name_cow(raw, escaped);
        // `after` is `end` or a single space; the rest is the argument.
        let arg = if after < end { after + 1 } else { end };
        match kw {
            b"HELP" => {
                let text = self.help_text(arg, end, Escapes::Quoted);
                Ok(Line::Entry(Entry::Help { metric, text }))
            }
            b"TYPE" => {
                let kind = MetricType::from_openmetrics(&b[arg..end])
                    .ok_or_else(|| ErrorKind::InvalidMetricType(excerpt(&b[arg..end])))?;
                self.family = Some((raw, kind));
                Ok(Line::Entry(Entry::Type { metric, kind }))
            }
            _ => {
                let unit = self
                    .str_at(arg, end)
                    .ok_or(ErrorKind::InvalidUtf8("unit"))?;
                let fits = raw.strip_suffix(unit).is_some_and(|h| h.ends_with('_'));
                if !unit.is_empty() && !fits {
                    return Err(ErrorKind::UnitNotSuffix {
                        metric: metric.into_owned(),
                        unit: unit.to_owned(),
                    });
                }
                Ok(Line::Entry(Entry::Unit { metric, unit }))
            }
        }
    }

    /// A (possibly quoted) metric name at `b[i]` in a metadata line; it must
    /// be followed by the end of line or a separator (space; tab in text).
    fn meta_name(
        &self,
        i: usize,
        end: usize,
        text: bool,
        what: &'static str,
    ) -> Result<MetaName<'a>, ErrorKind> {
        let b = self.buf;
        let (a, z, escaped, after) = match b.get(i).filter(|_| i < end) {
            Some(b'"') => {
                let q = scan_quoted(b, i, end)
                    .ok_or_else(|| ErrorKind::Unterminated(" (metric name)".into()))?;
                if q.start == q.end {
                    return Err(ErrorKind::EmptyName("metric name"));
                }
                (q.start, q.end, q.escaped, q.next)
            }
            Some(&c) if is_name_start(c) => {
                let z = scan_name(b, i, end);
                (i, z, false, z)
            }
            _ => return Err(unexpected("metric name", what, b, i, end)),
        };
        let sep_ok = after == end || b[after] == b' ' || (text && b[after] == b'\t');
        if !sep_ok {
            return Err(unexpected(
                "' ' or end of line",
                " after metric name",
                b,
                after,
                end,
            ));
        }
        let raw = self
            .str_at(a, z)
            .ok_or(ErrorKind::InvalidUtf8("metric name"))?;
        Ok((raw, escaped, after))
    }

    fn help_text(&self, a: usize, end: usize, escapes: Escapes) -> Cow<'a, str> {
        match self.str_at(a, end) {
            Some(s) => unescape(s, escapes),
            None => {
                let lossy = String::from_utf8_lossy(&self.buf[a..end]);
                Cow::Owned(unescape(&lossy, escapes).into_owned())
            }
        }
    }

    /// A sample line whose series starts at `b[i]`.
    fn sample(&mut self, i: usize, end: usize, format: Format) -> Result<Sample<'a>, ErrorKind> {
        let b = self.buf;
        let ws = format == Format::Text;
        self.names.clear();
        let c = b[i];
        let (name, name_escaped, labels, series_end) = if is_name_start(c) {
            let z = scan_name(b, i, end);
            let k = if ws { skip_ws(b, z, end) } else { z };
            if k < end && b[k] == b'{' {
                let set = parse_label_set(b, k, end, ws, NameSlot::Taken, &mut self.names)?;
                ((i, z), false, (k, set.next), set.next)
            } else {
                ((i, z), false, (z, z), z)
            }
        } else if c == b'{' {
            let set = parse_label_set(b, i, end, ws, NameSlot::Open, &mut self.names)?;
            let (a, z, esc) = set.name.ok_or(ErrorKind::MissingMetricName)?;
            ((a, z), esc, (i, set.next), set.next)
        } else {
            return Err(unexpected("metric name or '{'", "", b, i, end));
        };
        check_duplicates(&mut self.names, true)?;
        let bad_utf8 = || ErrorKind::InvalidUtf8("metric name or label value");
        let series = self.str_at(i, series_end).ok_or_else(bad_utf8)?;
        let name = self.str_at(name.0, name.1).ok_or_else(bad_utf8)?;
        let labels = self.str_at(labels.0, labels.1).ok_or_else(bad_utf8)?;
        let (value, timestamp_ms, exemplar) = match format {
            Format::Text => self.text_tail(series_end, end, labels.is_empty())?,
            Format::OpenMetrics => self.om_tail(series_end, end)?,
        };
        Ok(Sample {
            series,
            name,
            name_escaped,
            labels,
            value,
            timestamp_ms,
            exemplar,
            family: self.family,
            line: self.line - 1,
        })
    }

    /// Text format: whitespace, value, optional integer-ms timestamp.
    fn text_tail(&self, i: usize, end: usize, bare: bool) -> Result<Tail<'a>, ErrorKind> {
        let b = self.buf;
        let k = skip_ws(b, i, end);
        if k == end {
            return Err(unexpected("value", " after series", b, k, end));
        }
        if k == i {
            let (expected, ctx) = if bare {
                ("whitespace or '{'", " after metric name")
            } else {
                ("whitespace", " after labels")
            };
            return Err(unexpected(expected, ctx, b, k, end));
        }
        let v_end = scan_token(b, k, end);
        let value = value_of(&b[k..v_end])?;
        let t = skip_ws(b, v_end, end);
        if t == end {
            return Ok((value, None, None));
        }
        if b[t] == b'#' {
            return Err(ErrorKind::ExemplarInText);
        }
        let t_end = scan_token(b, t, end);
        let ts = parse_text_timestamp(&b[t..t_end])
            .ok_or_else(|| ErrorKind::InvalidTimestamp(excerpt(&b[t..t_end])))?;
        let rest = skip_ws(b, t_end, end);
        if rest < end {
            return Err(unexpected("end of line", " after timestamp", b, rest, end));
        }
        Ok((value, Some(ts), None))
    }

    /// OpenMetrics: ` value [ timestamp] [ # {labels} value [timestamp]]`.
    fn om_tail(&mut self, i: usize, end: usize) -> Result<Tail<'a>, ErrorKind> {
        let b = self.buf;
        if i >= end || b[i] != b' ' {
            return Err(unexpected("' '", " after series", b, i, end));
        }
        let v_end = scan_space(b, i + 1, end);
        if v_end == i + 1 {
            return Err(unexpected("value", "", b, v_end, end));
        }
        let value = value_of(&b[i + 1..v_end])?;
        if v_end == end {
            return Ok((value, None, None));
        }
        let mut k = v_end + 1;
        let mut ts = None;
        if !b[k..end].starts_with(b"# ") {
            let t_end = scan_space(b, k, end);
            if t_end == k {
                return Err(unexpected("timestamp", " after value", b, k, end));
            }
            let t = parse_om_timestamp(&b[k..t_end])
                .ok_or_else(|| ErrorKind::InvalidTimestamp(excerpt(&b[k..t_end])))?;
            ts = Some(t);
            if t_end == end {
                return Ok((value, ts, None));
            }
            k = t_end + 1;
            if !b[k..end].starts_with(b"# ") {
                return Err(unexpected(
                    "exemplar (\" # {\")",
                    " after timestamp",
                    b,
                    k,
                    end,
                ));
            }
        }
        let exemplar = self.exemplar(k + 2, end)?;
        Ok((value, ts, Some(exemplar)))
    }

    /// `{labels} value [timestamp]` with `{` expected at `b[i]`.
    fn exemplar(&mut self, i: usize, end: usize) -> Result<Exemplar<'a>, ErrorKind> {
        let b = self.buf;
        if i >= end || b[i] != b'{' {
            return Err(unexpected("'{'", " starting exemplar", b, i, end));
        }
        self.names.clear();
        let set = parse_label_set(b, i, end, false, NameSlot::Forbidden, &mut self.names)?;
        check_duplicates(&mut self.names, false)?;
        let labels = self
            .str_at(i, set.next)
            .ok_or(ErrorKind::InvalidUtf8("exemplar label"))?;
        let k = set.next;
        if k >= end || b[k] != b' ' {
            return Err(unexpected("' '", " after exemplar labels", b, k, end));
        }
        let v_end = scan_space(b, k + 1, end);
        if v_end == k + 1 {
            return Err(unexpected("exemplar value", "", b, v_end, end));
        }
        let value = value_of(&b[k + 1..v_end])?;
        let mut timestamp_ms = None;
        if v_end < end {
            let t = v_end + 1;
            let t_end = scan_space(b, t, end);
            if t_end == t {
                return Err(unexpected("exemplar timestamp", "", b, t, end));
            }
            if t_end < end {
                return Err(unexpected(
                    "end of line",
                    " after exemplar timestamp",
                    b,
                    t_end,
                    end,
                ));
            }
            timestamp_ms = Some(
                parse_om_timestamp(&b[t..t_end])
                    .ok_or_else(|| ErrorKind::InvalidTimestamp(excerpt(&b[t..t_end])))?,
            );
        }
        Ok(Exemplar {
            labels,
            value,
            timestamp_ms,
        })
    }
}

/// Value, timestamp and exemplar of a sample line.
type Tail<'a> = (f64, Option<i64>, Option<Exemplar<'a>>);

#[inline]
fn value_of(tok: &[u8]) -> Result<f64, ErrorKind> {
    parse_value(tok).ok_or_else(|| ErrorKind::InvalidValue(excerpt(tok)))
}

/// Index of the next space (OpenMetrics has no other separator) or `end`.
#[inline]
fn scan_space(b: &[u8], i: usize, end: usize) -> usize {
    scan(b, i, end, |c| c != b' ')
}

fn name_cow(raw: &str, escaped: bool) -> Cow<'_, str> {
    if escaped {
        unescape(raw, Escapes::Quoted)
    } else {
        Cow::Borrowed(raw)
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry()
    }
}

impl std::iter::FusedIterator for Parser<'_> {}
