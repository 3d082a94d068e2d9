//! Exposition parsing: Prometheus text format 0.0.4 and OpenMetrics 1.0 text.
//!
//! Purpose: turn a scraped `/metrics` body into samples and metadata without
//! copying it. This is lookout's own parser (not a port): it follows the
//! semantics Prometheus applies when scraping, so targets that Prometheus
//! accepts are accepted here and vice versa, except where noted below.
//!
//! # API
//!
//! ```text
//! Format { Text, OpenMetrics }            format_for_content_type(ct) -> Format
//! ACCEPT_HEADER: &str                     (the Accept header a scrape sends)
//! Parser::new(&'a [u8], Format)           next_entry() -> Option<Result<Entry<'a>, ParseError>>
//!                                         (also an Iterator over the same items)
//! Entry::Sample(Sample)                   a sample line
//! Entry::Help { metric, text }            # HELP   (text unescaped)
//! Entry::Type { metric, kind }            # TYPE   (kind: MetricType)
//! Entry::Unit { metric, unit }            # UNIT   (OpenMetrics only)
//! Sample::series() -> &'a str             raw `name{labels}` bytes: the series-cache key
//! Sample::value() / timestamp_ms()        f64 / Option<i64> milliseconds
//! Sample::name() / labels()               unescaped name and (name, value) pairs, lazily
//! Sample::exemplar() -> Option<&Exemplar> OpenMetrics exemplar (labels, value, timestamp)
//! Sample::metric_type() / is_created()    family type from the last # TYPE; `_created` series
//! ParseError { line, kind: ErrorKind }    1-based line and the reason
//! ```
//!
//! # Intended use: a series cache keyed by raw bytes
//!
//! ```
//! use std::collections::HashMap;
//! use lookout_collector::parse::{Entry, Format, Parser};
//!
//! let body = b"# TYPE up gauge\nup{job=\"node\"} 1\nup{job=\"db\"} 0 1700000000000\n";
//! let mut cache: HashMap<Vec<u8>, u64> = HashMap::new(); // raw series -> series ref
//! let mut labels = Vec::new();
//! for entry in Parser::new(body, Format::Text) {
//!     let Entry::Sample(s) = entry? else { continue };
//!     let next_ref = cache.len() as u64;
//!     let series_ref = match cache.get(s.series_bytes()) {
//!         Some(r) => *r, // hit: no label work at all
//!         None => {
//!             labels.clear();
//!             s.labels_into(&mut labels); // miss: materialise name + labels once
//!             assert_eq!(s.name(), "up");
//!             *cache.entry(s.series_bytes().to_vec()).or_insert(next_ref)
//!         }
//!     };
//!     let _ = (series_ref, s.value(), s.timestamp_ms());
//! }
//! assert_eq!(cache.len(), 2);
//! # Ok::<(), lookout_collector::parse::ParseError>(())
//! ```
//!
//! # Semantics
//!
//! - Names: `[a-zA-Z_:][a-zA-Z0-9_:]*`, or quoted UTF-8 (Prometheus 3):
//!   `{"my.metric","label.x"="v"}`; label names `[a-zA-Z_][a-zA-Z0-9_]*` or
//!   quoted. Label values escape `\\`, `\"`, `\n`; other escapes are kept
//!   verbatim (as Prometheus does). Invalid UTF-8 in a name or label value is
//!   an error; in HELP text it is replaced lossily. Duplicate label names
//!   (and a label called `__name__`) are errors.
//! - Values: Go `ParseFloat` decimal forms plus `NaN`, `[+-]Inf`; overflow
//!   is an error. Timestamps: text = integer ms (a leading `-` is accepted),
//!   OpenMetrics = float seconds converted exactly to ms (truncated).
//! - Text format: spaces/tabs between tokens, blank lines, and comments other
//!   than `# HELP` / `# TYPE` are skipped; types counter, gauge, histogram,
//!   summary, untyped (= `Unknown`). A missing final newline is accepted.
//!   Stricter than Prometheus: a bare metric name must be followed by
//!   whitespace or `{` (Prometheus reads `foo-1` as `foo` = -1).
//! - OpenMetrics: single spaces, no blank lines, `# EOF` required and nothing
//!   may follow it; `# UNIT` must be a `_unit` suffix of the name; types
//!   counter, gauge, histogram, gaugehistogram, summary, info, stateset,
//!   unknown; exemplars ` # {labels} value [timestamp]`. Lenient where
//!   Prometheus is strict: other `#` comments are skipped, HELP text may be
//!   invalid UTF-8 (replaced). Not enforced (as in Prometheus' parser):
//!   family grouping/ordering, `_total` suffixes, the 128-character exemplar
//!   label limit (the storage layer's job).
//! - Errors stop the parse: after the first `Err`, `next_entry` returns `None`.
//!
//! # Cost
//!
//! One pass over the input, plus one up-front UTF-8 validation of the whole
//! buffer (SIMD-fast; after it, slicing names and values needs no further
//! checks). No heap allocation per sample: entries borrow from the input,
//! label-name scratch space for the duplicate check is reused, and only
//! escaped names/values/help texts are copied. See `benches/benches/parse.rs`.

mod error;
mod labels;
mod lexer;
mod parser;
mod sample;
mod value;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use error::{ErrorKind, ParseError, Result};
pub use labels::LabelIter;
pub use parser::Parser;
pub use sample::{Exemplar, Sample};

/// The `Accept` header lookout sends with a scrape: OpenMetrics preferred,
/// the classic text format as fallback.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Exposition format of a scraped body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    #[default]
    Text,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

/// Picks the parser for a response `Content-Type`: OpenMetrics for
/// `application/openmetrics-text` (any parameters, any case), the text
/// format for anything else, including an empty or missing header, as
/// Prometheus does.
pub fn format_for_content_type(ct: &str) -> Format {
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// Metric family type from `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// OpenMetrics `unknown`, text-format `untyped`.
    Unknown,
}

impl MetricType {
    /// The name Prometheus' `/api/v1/metadata` reports for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// Types the text format 0.0.4 defines.
    pub(crate) fn from_text(word: &[u8]) -> Option<Self> {
        Some(match word {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// Types OpenMetrics 1.0 defines.
    pub(crate) fn from_openmetrics(word: &[u8]) -> Option<Self> {
        Some(match word {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"summary" => MetricType::Summary,
            b"info" => MetricType::Info,
            b"stateset" => MetricType::StateSet,
            b"unknown" => MetricType::Unknown,
            _ => return None,
        })
    }
}

/// One item of the input: a sample or a metadata comment.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// A sample line.
    Sample(Sample<'a>),
    /// `# HELP metric text` (text unescaped; lossy if not UTF-8).
    Help {
        metric: Cow<'a, str>,
        text: Cow<'a, str>,
    },
    /// `# TYPE metric kind`.
    Type {
        metric: Cow<'a, str>,
        kind: MetricType,
    },
    /// `# UNIT metric unit` (OpenMetrics only).
    Unit { metric: Cow<'a, str>, unit: &'a str },
}
