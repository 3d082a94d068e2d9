//! LogQL parsing: the subset lookout evaluates.
//!
//! ```text
//! expr      := agg | range | log
//! agg       := (sum|count|min|max|avg) [grouping] '(' expr ')' [grouping]
//! grouping  := (by|without) '(' ident,* ')'
//! range     := (count_over_time|rate|bytes_over_time|bytes_rate) '(' log '[' duration ']' ')'
//! log       := '{' matcher,* '}' stage*
//! stage     := (|= | != | |~ | !~) string
//!            | '|' json | '|' logfmt | '|' drop ident,* | '|' line_format string
//!            | '|' label_filter ((',' | and) label_filter)*
//! ```
//! Strings are `"..."` with Go escapes or `` `raw` ``; durations are Prometheus-style
//! (`5m`, `1h30m`, `250ms`).
//!
//! Cost: one pass over the query text.

use lookout_store::logs::{LineFilter, LineFilterOp};
use lookout_store::{MatchOp, Matcher};

/// A parse error with the byte position.
/// `by (..)` and `without (..)` labels of an aggregation (at most one is set).
type Grouping = (Option<Vec<String>>, Option<Vec<String>>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub pos: usize,
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "parse error at position {}: {}", self.pos, self.msg)
    }
}

/// Comparison of a label filter.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    Match(Matcher),
    Num { name: String, op: NumOp, value: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One pipeline stage after the line filters pushed to the index.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Line(LineFilter),
    Json,
    Logfmt,
    Labels(Vec<LabelFilter>),
    Drop(Vec<String>),
    LineFormat(String),
}

/// A log query: selector and pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

impl LogExpr {
    /// Line filters before any other stage: these are exact on the raw line and go to the index.
    pub fn leading_filters(&self) -> Vec<LineFilter> {
        self.stages
            .iter()
            .map_while(|s| match s {
                Stage::Line(f) => Some(f.clone()),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Count,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Range {
        op: RangeOp,
        log: LogExpr,
        range_ns: i64,
    },
    Agg {
        op: AggOp,
        by: Option<Vec<String>>,
        without: Option<Vec<String>>,
        inner: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Sym(&'static str),
    Dur(String),
}

const SYMS: [&str; 20] = [
    "|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "|", "{", "}", "(", ")", "[", "]", ",", "=",
    ">", "<", "!",
];

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let err = |pos, msg: &str| ParseError {
        pos,
        msg: msg.to_string(),
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'"' {
            let mut v = String::new();
            i += 1;
            loop {
                let Some(&ch) = b.get(i) else {
                    return Err(err(start, "unterminated string"));
                };
                match ch {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        let e = *b.get(i + 1).ok_or_else(|| err(i, "unterminated escape"))?;
                        match e {
                            b'n' => v.push('\n'),
                            b't' => v.push('\t'),
                            b'r' => v.push('\r'),
                            b'\\' => v.push('\\'),
                            b'"' => v.push('"'),
                            _ => {
                                v.push('\\');
                                v.push(e as char);
                            }
                        }
                        i += 2;
                    }
                    _ => {
                        let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
                        v.push_str(&s[i..i + ch_len]);
                        i += ch_len;
                    }
                }
            }
            out.push((start, Tok::Str(v)));
        } else if c == b'`' {
            let end = s[i + 1..]
                .find('`')
                .ok_or_else(|| err(start, "unterminated raw string"))?;
            out.push((start, Tok::Str(s[i + 1..i + 1 + end].to_string())));
            i += end + 2;
        } else if c == b'[' {
            let end = s[i..].find(']').ok_or_else(|| err(start, "missing ]"))?;
            out.push((start, Tok::Dur(s[i + 1..i + end].trim().to_string())));
            i += end + 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push((start, Tok::Ident(s[start..i].to_string())));
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push((start, Tok::Num(s[start..i].to_string())));
        } else if let Some(sym) = SYMS.iter().find(|sym| s[i..].starts_with(**sym)) {
            out.push((start, Tok::Sym(sym)));
            i += sym.len();
        } else {
            return Err(err(
                start,
                &format!(
                    "unexpected character {:?}",
                    &s[i..].chars().next().unwrap_or(' ')
                ),
            ));
        }
    }
    Ok(out)
}

/// Parses a Prometheus-style duration to ns.
pub fn parse_duration_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (mut i, mut total) = (0, 0i64);
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        let st = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let n: f64 = s[st..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit: f64 = match &s[us..i] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            "y" => 365.0 * 86400e9,
            _ => return None,
        };
        total = total.checked_add((n * unit) as i64)?;
    }
    Some(total)
}

struct P {
    toks: Vec<(usize, Tok)>,
    i: usize,
    len: usize,
}

impl P {
    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.len, |t| t.0)
    }
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            pos: self.pos(),
            msg: msg.into(),
        })
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.1)
    }
    fn peek2(&self) -> Option<&Tok> {
        self.toks.get(self.i + 1).map(|t| &t.1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.1.clone());
        self.i += 1;
        t
    }
    fn sym(&mut self, s: &str) -> bool {
        if self.peek()
            == Some(&Tok::Sym(match SYMS.iter().find(|x| **x == s) {
                Some(x) => x,
                None => return false,
            }))
        {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, s: &str) -> Result<(), ParseError> {
        if self.sym(s) {
            Ok(())
        } else {
            self.err(format!("expected {s:?}"))
        }
    }
    fn ident(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s),
            _ => {
                self.i -= 1;
                self.err("expected a label name")
            }
        }
    }
    fn string(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => {
                self.i -= 1;
                self.err("expected a string")
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        match self.peek().cloned() {
            Some(Tok::Sym("{")) => Ok(Expr::Log(self.log()?)),
            Some(Tok::Ident(name)) => {
                let agg = match name.as_str() {
                    "sum" => Some(AggOp::Sum),
                    "count" => Some(AggOp::Count),
                    "min" => Some(AggOp::Min),
                    "max" => Some(AggOp::Max),
                    "avg" => Some(AggOp::Avg),
                    _ => None,
                };
                let range = match name.as_str() {
                    "count_over_time" => Some(RangeOp::CountOverTime),
                    "rate" => Some(RangeOp::Rate),
                    "bytes_over_time" => Some(RangeOp::BytesOverTime),
                    "bytes_rate" => Some(RangeOp::BytesRate),
                    _ => None,
                };
                self.i += 1;
                if let Some(op) = agg {
                    let (mut by, mut without) = self.grouping()?;
                    self.expect("(")?;
                    let inner = self.expr()?;
                    self.expect(")")?;
                    if by.is_none() && without.is_none() {
                        (by, without) = self.grouping()?;
                    }
                    if matches!(inner, Expr::Log(_)) {
                        return self.err("aggregation over a log query needs a range function (e.g. count_over_time)");
                    }
                    return Ok(Expr::Agg {
                        op,
                        by,
                        without,
                        inner: Box::new(inner),
                    });
                }
                if let Some(op) = range {
                    self.expect("(")?;
                    let log = self.log()?;
                    let range_ns = match self.next() {
                        Some(Tok::Dur(d)) => parse_duration_ns(&d).filter(|n| *n > 0),
                        _ => None,
                    };
                    let Some(range_ns) = range_ns else {
                        self.i -= 1;
                        return self.err("expected a range like [5m]");
                    };
                    self.expect(")")?;
                    return Ok(Expr::Range { op, log, range_ns });
                }
                self.i -= 1;
                self.err(format!("unknown function {name:?}"))
            }
            _ => self.err("expected a stream selector or a function"),
        }
    }

    fn grouping(&mut self) -> Result<Grouping, ParseError> {
        let kind = match self.peek() {
            Some(Tok::Ident(k)) if k == "by" || k == "without" => k.clone(),
            _ => return Ok((None, None)),
        };
        self.i += 1;
        self.expect("(")?;
        let mut names = Vec::new();
        if !self.sym(")") {
            loop {
                names.push(self.ident()?);
                if self.sym(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(if kind == "by" {
            (Some(names), None)
        } else {
            (None, Some(names))
        })
    }

    fn log(&mut self) -> Result<LogExpr, ParseError> {
        self.expect("{")?;
        let mut matchers = Vec::new();
        if !self.sym("}") {
            loop {
                let name = self.ident()?;
                let op = match self.next() {
                    Some(Tok::Sym("=")) => MatchOp::Equal,
                    Some(Tok::Sym("!=")) => MatchOp::NotEqual,
                    Some(Tok::Sym("=~")) => MatchOp::RegexMatch,
                    Some(Tok::Sym("!~")) => MatchOp::RegexNoMatch,
                    _ => {
                        self.i -= 1;
                        return self.err("expected = != =~ or !~");
                    }
                };
                let v = self.string()?;
                matchers.push(Matcher::new(op, name, v).map_err(|e| ParseError {
                    pos: self.pos(),
                    msg: e.to_string(),
                })?);
                if self.sym("}") {
                    break;
                }
                self.expect(",")?;
            }
        }
        if matchers.iter().all(|m| m.matches("")) {
            return self
                .err("queries require at least one matcher that does not match the empty string");
        }
        let mut stages = Vec::new();
        loop {
            let lop = match self.peek() {
                Some(Tok::Sym("|=")) => Some(LineFilterOp::Contains),
                Some(Tok::Sym("!=")) => Some(LineFilterOp::NotContains),
                Some(Tok::Sym("|~")) => Some(LineFilterOp::Regex),
                Some(Tok::Sym("!~")) => Some(LineFilterOp::NotRegex),
                _ => None,
            };
            if let Some(op) = lop {
                self.i += 1;
                let pat = self.string()?;
                let f = LineFilter::new(op, pat).map_err(|e| ParseError {
                    pos: self.pos(),
                    msg: e.to_string(),
                })?;
                stages.push(Stage::Line(f));
                continue;
            }
            if self.peek() != Some(&Tok::Sym("|")) {
                break;
            }
            self.i += 1;
            match self.peek().cloned() {
                Some(Tok::Ident(k)) if k == "json" => {
                    self.i += 1;
                    stages.push(Stage::Json);
                }
                Some(Tok::Ident(k)) if k == "logfmt" => {
                    self.i += 1;
                    stages.push(Stage::Logfmt);
                }
                Some(Tok::Ident(k)) if k == "line_format" => {
                    self.i += 1;
                    stages.push(Stage::LineFormat(self.string()?));
                }
                Some(Tok::Ident(k))
                    if k == "drop" && !matches!(self.peek2(), Some(Tok::Sym(_))) =>
                {
                    self.i += 1;
                    let mut names = vec![self.ident()?];
                    while self.sym(",") {
                        names.push(self.ident()?);
                    }
                    stages.push(Stage::Drop(names));
                }
                Some(Tok::Ident(_)) => {
                    let mut fs = vec![self.label_filter()?];
                    loop {
                        if self.sym(",") {
                            fs.push(self.label_filter()?);
                        } else if matches!(self.peek(), Some(Tok::Ident(k)) if k == "and") {
                            self.i += 1;
                            fs.push(self.label_filter()?);
                        } else {
                            break;
                        }
                    }
                    stages.push(Stage::Labels(fs));
                }
                _ => return self.err("expected a pipeline stage after |"),
            }
        }
        Ok(LogExpr { matchers, stages })
    }

    fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        let name = self.ident()?;
        let op = match self.next() {
            Some(Tok::Sym(s)) => s,
            _ => {
                self.i -= 1;
                return self.err("expected a comparison");
            }
        };
        match self.next() {
            Some(Tok::Str(v)) => {
                let mop = match op {
                    "=" | "==" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    "=~" => MatchOp::RegexMatch,
                    "!~" => MatchOp::RegexNoMatch,
                    _ => {
                        self.i -= 1;
                        return self.err(format!("operator {op} needs a number"));
                    }
                };
                Ok(LabelFilter::Match(Matcher::new(mop, name, v).map_err(
                    |e| ParseError {
                        pos: self.pos(),
                        msg: e.to_string(),
                    },
                )?))
            }
            Some(Tok::Num(n)) => {
                let value = n
                    .parse::<f64>()
                    .ok()
                    .or_else(|| parse_duration_ns(&n).map(|d| d as f64 / 1e9))
                    .ok_or_else(|| ParseError {
                        pos: self.pos(),
                        msg: format!("bad number {n:?}"),
                    })?;
                let op = match op {
                    "=" | "==" => NumOp::Eq,
                    "!=" => NumOp::Ne,
                    ">" => NumOp::Gt,
                    ">=" => NumOp::Ge,
                    "<" => NumOp::Lt,
                    "<=" => NumOp::Le,
                    _ => {
                        self.i -= 1;
                        return self.err(format!("operator {op} needs a string"));
                    }
                };
                Ok(LabelFilter::Num { name, op, value })
            }
            _ => {
                self.i -= 1;
                self.err("expected a string or a number")
            }
        }
    }
}

/// Parses a LogQL expression.
pub fn parse(q: &str) -> Result<Expr, ParseError> {
    let mut p = P {
        toks: lex(q)?,
        i: 0,
        len: q.len(),
    };
    let e = p.expr()?;
    if p.i < p.toks.len() {
        return p.err("unexpected trailing input");
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_queries() {
        let Expr::Log(l) = parse(r#"{namespace="a", pod=~"web-.*"} |= "err" != `x\y` |~ "a+" | json | level="error", status>=400 | drop __error__, x | line_format "{{.msg}}""#).unwrap() else {
            panic!()
        };
        assert_eq!(l.matchers.len(), 2);
        assert_eq!(l.stages.len(), 7);
        assert_eq!(l.leading_filters().len(), 3);
        assert!(matches!(&l.stages[1], Stage::Line(f) if f.pattern == "x\\y"));
        assert!(matches!(&l.stages[4], Stage::Labels(fs) if fs.len() == 2));
        assert_eq!(
            l.stages[5],
            Stage::Drop(vec!["__error__".into(), "x".into()])
        );
        assert_eq!(l.stages[6], Stage::LineFormat("{{.msg}}".into()));
    }

    #[test]
    fn metric_queries() {
        let e = parse(
            r#"sum by (level, detected_level) (count_over_time({job="x"} | drop __error__ [1m]))"#,
        )
        .unwrap();
        let Expr::Agg {
            op: AggOp::Sum,
            by: Some(by),
            inner,
            ..
        } = e
        else {
            panic!()
        };
        assert_eq!(by, ["level", "detected_level"]);
        assert!(matches!(
            *inner,
            Expr::Range {
                op: RangeOp::CountOverTime,
                range_ns: 60_000_000_000,
                ..
            }
        ));
        assert!(parse(r#"sum(rate({a="b"}[5m])) by (pod)"#).is_ok());
        assert!(parse(r#"bytes_over_time({a="b"} |= "x" [1h30m])"#).is_ok());
    }

    #[test]
    fn errors_have_positions() {
        for bad in [
            r#"{a="b""#,
            r#"{}"#,
            r#"{a=~".*"}"#,
            r#"{a="b"} |"#,
            r#"rate({a="b"})"#,
            r#"sum({a="b"})"#,
            r#"{a="b"} |~ "(""#,
            "nope",
            r#"{a="b"} extra"#,
            "\"unterminated",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.pos <= bad.len(), "{bad}: {e}");
        }
        assert_eq!(parse_duration_ns("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_ns("x"), None);
    }
}
