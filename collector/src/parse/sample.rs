//! One parsed sample line and its optional exemplar.
//!
//! Purpose: the value type the scrape loop consumes. A [`Sample`] borrows
//! everything from the input buffer; on the hot path (series-cache hit) the
//! loop reads only [`Sample::series`] (the cache key), [`Sample::value`] and
//! [`Sample::timestamp_ms`]. On a miss it calls [`Sample::name`] and
//! [`Sample::labels`], which re-lex the series slice and allocate only for
//! names or values that contain escape sequences.
//!
//! Invariants: a `Sample` only exists for a line the parser fully accepted:
//! the series is valid UTF-8, its label names are unique, `__name__` is not
//! among them, and its metric name is non-empty.
//!
//! Cost: building a `Sample` copies a few slices and numbers (no heap);
//! `labels()` is a lazy iterator over the series bytes.

use std::borrow::Cow;

use super::MetricType;
use super::labels::LabelIter;
use super::lexer::{Escapes, unescape};

/// A sample line: series, value, optional timestamp and exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub(crate) series: &'a str,
    pub(crate) name: &'a str,
    pub(crate) name_escaped: bool,
    pub(crate) labels: &'a str,
    pub(crate) value: f64,
    pub(crate) timestamp_ms: Option<i64>,
    pub(crate) exemplar: Option<Exemplar<'a>>,
    pub(crate) family: Option<(&'a str, MetricType)>,
    pub(crate) line: usize,
}

impl<'a> Sample<'a> {
    /// The exact input bytes of `name{labels}` (from the first byte of the
    /// name, or of `{`, through the closing `}`): the series-cache key.
    ///
    /// Two lines spelling the same series differently (label order, text
    /// format whitespace, escapes) give different keys; that costs a cache
    /// miss, never a wrong series.
    #[inline]
    pub fn series(&self) -> &'a str {
        self.series
    }

    /// [`Sample::series`] as bytes.
    #[inline]
    pub fn series_bytes(&self) -> &'a [u8] {
        self.series.as_bytes()
    }

    /// The sample value (NaN and ±Inf included).
    #[inline]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The explicit timestamp in milliseconds since the epoch, if the line
    /// had one (OpenMetrics seconds are converted).
    #[inline]
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }

    /// The OpenMetrics exemplar on this line, if any.
    #[inline]
    pub fn exemplar(&self) -> Option<&Exemplar<'a>> {
        self.exemplar.as_ref()
    }

    /// 1-based line number of the sample in the input.
    #[inline]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The metric name, unescaped (borrowed unless a quoted name had escapes).
    pub fn name(&self) -> Cow<'a, str> {
        if self.name_escaped {
            unescape(self.name, Escapes::Quoted)
        } else {
            Cow::Borrowed(self.name)
        }
    }

    /// The labels (without `__name__`) as unescaped `(name, value)` pairs in
    /// input order. Meant for a series-cache miss; see the module docs.
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter::new(self.labels)
    }

    /// Appends the labels to `out` (which the caller may reuse across
    /// samples to avoid reallocating).
    pub fn labels_into(&self, out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) {
        out.extend(self.labels());
    }

    /// The type of the metric family this sample belongs to: set when the
    /// most recent `# TYPE` line names this sample's family (the name itself
    /// or the name plus a suffix the type defines, e.g. `_bucket`).
    pub fn metric_type(&self) -> Option<MetricType> {
        let (family, kind) = self.family?;
        let suffix = self.name.strip_prefix(family)?;
        let allowed: &[&str] = match kind {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricType::Summary => &["_count", "_sum", "_created"],
            MetricType::Info => &["_info"],
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[],
        };
        (suffix.is_empty() || allowed.contains(&suffix)).then_some(kind)
    }

    /// True for the `_created` series of a counter, histogram or summary
    /// family (OpenMetrics creation timestamps), which a scrape loop may
    /// want to store as a created timestamp instead of as a series.
    pub fn is_created(&self) -> bool {
        self.name.ends_with("_created")
            && matches!(
                self.metric_type(),
                Some(MetricType::Counter | MetricType::Histogram | MetricType::Summary)
            )
            && self.family.is_some_and(|(f, _)| f.len() < self.name.len())
    }
}

/// An OpenMetrics exemplar: `# {trace_id="abc"} 1.0 1520879607.789`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    pub(crate) labels: &'a str,
    pub(crate) value: f64,
    pub(crate) timestamp_ms: Option<i64>,
}

impl<'a> Exemplar<'a> {
    /// The label set as it appeared in the input, braces included.
    pub fn raw_labels(&self) -> &'a str {
        self.labels
    }

    /// The exemplar's labels as unescaped `(name, value)` pairs.
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter::new(self.labels)
    }

    /// Appends the labels to `out`.
    pub fn labels_into(&self, out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) {
        out.extend(self.labels());
    }

    /// The exemplar value.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The exemplar timestamp in milliseconds, if given.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &'static str, family: Option<(&'static str, MetricType)>) -> Sample<'static> {
        Sample {
            series: name,
            name,
            name_escaped: false,
            labels: "",
            value: 1.0,
            timestamp_ms: None,
            exemplar: None,
            family,
            line: 1,
        }
    }

    #[test]
    fn family_membership() {
        use MetricType::*;
        type Case<'a> = (
            &'a str,
            Option<(&'a str, MetricType)>,
            Option<MetricType>,
            bool,
        );
        let cases: &[Case<'_>] = &[
            ("foo_total", Some(("foo", Counter)), Some(Counter), false),
            ("foo", Some(("foo", Counter)), Some(Counter), false),
            ("foo_created", Some(("foo", Counter)), Some(Counter), true),
            ("foo_bucket", Some(("foo", Counter)), None, false),
            (
                "foo_bucket",
                Some(("foo", Histogram)),
                Some(Histogram),
                false,
            ),
            (
                "foo_created",
                Some(("foo", Histogram)),
                Some(Histogram),
                true,
            ),
            ("foo_created", Some(("foo", Summary)), Some(Summary), true),
            (
                "foo_gsum",
                Some(("foo", GaugeHistogram)),
                Some(GaugeHistogram),
                false,
            ),
            ("foo_created", Some(("foo", GaugeHistogram)), None, false),
            (
                "foo_created",
                Some(("foo_created", Gauge)),
                Some(Gauge),
                false,
            ),
            ("foo_info", Some(("foo", Info)), Some(Info), false),
            ("foobar", Some(("foo", Gauge)), None, false),
            ("bar", Some(("foo", Gauge)), None, false),
            ("foo_created", None, None, false),
        ];
        for &(name, family, want, created) in cases {
            let s = sample(name, family);
            assert_eq!(s.metric_type(), want, "{name} in {family:?}");
            assert_eq!(s.is_created(), created, "{name} in {family:?}");
        }
    }

    #[test]
    fn escaped_names_are_resolved_on_demand() {
        let mut s = sample(r#"{"a\"b"}"#, None);
        s.name = r#"a\"b"#;
        s.name_escaped = true;
        assert_eq!(s.name(), "a\"b");
        let s = sample("plain", None);
        assert!(matches!(s.name(), Cow::Borrowed("plain")));
    }
}
