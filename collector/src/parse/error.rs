//! Errors of the exposition parser.
//!
//! Purpose: one error type, [`ParseError`], carrying the 1-based line number
//! and an [`ErrorKind`] that says what was wrong in words a person can act
//! on, e.g. `line 12: expected '=' after label name "foo", found '}'`.
//!
//! Invariants: errors are only built on the failure path, so they may
//! allocate (they quote a bounded excerpt of the offending input, never the
//! whole line). The parser stops at the first error.

use thiserror::Error;

/// A parse failure at a given line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number in the input.
    pub line: usize,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong on a line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    /// A token other than the one the grammar requires.
    #[error("expected {expected}{context}, found {found}")]
    Unexpected {
        /// What the grammar wanted, e.g. `"'='"`.
        expected: &'static str,
        /// Where, e.g. ` after label name "foo"` (may be empty).
        context: String,
        /// What was there, e.g. `'}'` or `end of line`.
        found: String,
    },
    /// A quoted string without its closing quote on the same line.
    #[error("unterminated quoted string{0}")]
    Unterminated(String),
    /// A quoted metric or label name that is empty.
    #[error("empty quoted {0}")]
    EmptyName(&'static str),
    /// Two labels with the same name in one series (or exemplar).
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    /// A series with no metric name (`{a="b"} 1`).
    #[error("missing metric name")]
    MissingMetricName,
    /// A quoted metric name inside braces when the series already has one.
    #[error("metric name given twice")]
    MetricNameTwice,
    /// Metric name, label name or label value is not valid UTF-8.
    #[error("invalid UTF-8 in {0}")]
    InvalidUtf8(&'static str),
    /// The value token is not a float Prometheus accepts.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// The timestamp token is not valid for the format.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// `# TYPE` with a type the format does not define.
    #[error("invalid metric type {0:?}")]
    InvalidMetricType(String),
    /// OpenMetrics `# UNIT` whose unit is not a `_unit` suffix of the name.
    #[error("unit {unit:?} is not a suffix of metric name {metric:?}")]
    UnitNotSuffix {
        /// The metric family name.
        metric: String,
        /// The declared unit.
        unit: String,
    },
    /// An exemplar (` # {...}`) in the text format, which has none.
    #[error("exemplars are only allowed in OpenMetrics, not in the text format")]
    ExemplarInText,
    /// OpenMetrics does not allow empty lines.
    #[error("empty line (not allowed in OpenMetrics)")]
    EmptyLine,
    /// OpenMetrics input that ends without `# EOF`.
    #[error("missing \"# EOF\" at the end of OpenMetrics input")]
    MissingEof,
    /// Anything after OpenMetrics `# EOF`.
    #[error("data after \"# EOF\"")]
    DataAfterEof,
}

/// Result alias for the parser's internals.
pub type Result<T> = std::result::Result<T, ParseError>;

/// Builds an [`ErrorKind::Unexpected`] describing the byte at `b[i]`.
pub(crate) fn unexpected(
    expected: &'static str,
    context: impl Into<String>,
    b: &[u8],
    i: usize,
    end: usize,
) -> ErrorKind {
    ErrorKind::Unexpected {
        expected,
        context: context.into(),
        found: describe(b, i, end),
    }
}

/// Human description of the byte at `b[i]` (`end` marks the end of line).
pub(crate) fn describe(b: &[u8], i: usize, end: usize) -> String {
    match b.get(i) {
        _ if i >= end => "end of line".to_owned(),
        Some(&c) if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        Some(b'\t') => "tab".to_owned(),
        Some(&c) => format!("byte 0x{c:02X}"),
        None => "end of line".to_owned(),
    }
}

/// A bounded, lossy excerpt of input for error messages.
pub(crate) fn excerpt(b: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = &b[..b.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if b.len() > MAX {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        let e = ParseError {
            line: 12,
            kind: unexpected("'='", " after label name \"foo\"", b"foo}", 3, 4),
        };
        assert_eq!(
            e.to_string(),
            "line 12: expected '=' after label name \"foo\", found '}'"
        );
        let e = ParseError {
            line: 3,
            kind: ErrorKind::DuplicateLabel("job".into()),
        };
        assert_eq!(e.to_string(), "line 3: duplicate label name \"job\"");
    }

    #[test]
    fn describe_bytes() {
        assert_eq!(describe(b"a", 0, 1), "'a'");
        assert_eq!(describe(b"a", 1, 1), "end of line");
        assert_eq!(describe(b"a\n", 1, 1), "end of line");
        assert_eq!(describe(b"\t", 0, 1), "tab");
        assert_eq!(describe(&[0xC3], 0, 1), "byte 0xC3");
        assert_eq!(describe(b"", 5, 9), "end of line");
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt(b"abc"), "abc");
        let long = vec![b'x'; 500];
        assert_eq!(excerpt(&long).chars().count(), 65);
        assert_eq!(excerpt(&[0xFF, b'a']), "\u{FFFD}a");
    }
}
