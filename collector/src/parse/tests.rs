//! End-to-end unit tests of the parser: every feature and every error path,
//! table-driven, for both formats.

use std::borrow::Cow;

use super::*;

/// A sample flattened for comparison: name, labels, value bits, timestamp.
#[derive(Debug, PartialEq)]
struct Flat {
    series: String,
    name: String,
    labels: Vec<(String, String)>,
    value: u64,
    ts: Option<i64>,
}

fn flat(s: &Sample<'_>) -> Flat {
    Flat {
        series: s.series().to_owned(),
        name: s.name().into_owned(),
        labels: s
            .labels()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        value: s.value().to_bits(),
        ts: s.timestamp_ms(),
    }
}

fn want(series: &str, name: &str, labels: &[(&str, &str)], value: f64, ts: Option<i64>) -> Flat {
    Flat {
        series: series.to_owned(),
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value: value.to_bits(),
        ts,
    }
}

fn parse_all(input: &str, format: Format) -> Result<Vec<Entry<'_>>> {
    Parser::new(input.as_bytes(), format).collect()
}

fn samples(input: &str, format: Format) -> Vec<Flat> {
    let entries = parse_all(input, format).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(flat(s)),
            _ => None,
        })
        .collect()
}

fn first_error(input: &[u8], format: Format) -> ParseError {
    for entry in Parser::new(input, format) {
        if let Err(e) = entry {
            return e;
        }
    }
    panic!("{:?}: no error", String::from_utf8_lossy(input));
}

#[test]
fn single_sample_lines() {
    use Format::{OpenMetrics as Om, Text};
    let cases: Vec<(Format, &str, Flat)> = vec![
        (Text, "up 1", want("up", "up", &[], 1.0, None)),
        (Text, "up 1\n", want("up", "up", &[], 1.0, None)),
        (Text, "  up \t 1  \t", want("up", "up", &[], 1.0, None)),
        (
            Text,
            "a:b:c_d 2.5",
            want("a:b:c_d", "a:b:c_d", &[], 2.5, None),
        ),
        (Text, ":x 1", want(":x", ":x", &[], 1.0, None)),
        (
            Text,
            "m 1 1395066363000",
            want("m", "m", &[], 1.0, Some(1_395_066_363_000)),
        ),
        (
            Text,
            "m +Inf -3982045",
            want("m", "m", &[], f64::INFINITY, Some(-3_982_045)),
        ),
        (Text, "m -Inf", want("m", "m", &[], f64::NEG_INFINITY, None)),
        (Text, "m Inf", want("m", "m", &[], f64::INFINITY, None)),
        (Text, "m 1e+06", want("m", "m", &[], 1e6, None)),
        (Text, "m -0", want("m", "m", &[], -0.0, None)),
        (Text, "m{} 3", want("m{}", "m", &[], 3.0, None)),
        (
            Text,
            "m {a=\"b\"} 3",
            want("m {a=\"b\"}", "m", &[("a", "b")], 3.0, None),
        ),
        (
            Text,
            "m{ a = \"1\" , b=\"2\", } 3 4",
            want(
                "m{ a = \"1\" , b=\"2\", }",
                "m",
                &[("a", "1"), ("b", "2")],
                3.0,
                Some(4),
            ),
        ),
        (
            Text,
            r#"msdos{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9"#,
            want(
                r#"msdos{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""}"#,
                "msdos",
                &[
                    ("path", r"C:\DIR\FILE.TXT"),
                    ("error", "Cannot find file:\n\"FILE.TXT\""),
                ],
                1.458255915e9,
                None,
            ),
        ),
        (
            Text,
            r#"{"my.metric", "label.x"="v"} 7"#,
            want(
                r#"{"my.metric", "label.x"="v"}"#,
                "my.metric",
                &[("label.x", "v")],
                7.0,
                None,
            ),
        ),
        (
            Text,
            r#"{"quote\"d"} 1"#,
            want(r#"{"quote\"d"}"#, "quote\"d", &[], 1.0, None),
        ),
        (
            Text,
            r#"m{"ünï.côdé"="☃"} 1"#,
            want(r#"m{"ünï.côdé"="☃"}"#, "m", &[("ünï.côdé", "☃")], 1.0, None),
        ),
        (Om, "up 1\n# EOF\n", want("up", "up", &[], 1.0, None)),
        (Om, "up 1\n# EOF", want("up", "up", &[], 1.0, None)),
        (
            Om,
            "m_total{a=\"b\"} 1 1520879607.789\n# EOF\n",
            want(
                "m_total{a=\"b\"}",
                "m_total",
                &[("a", "b")],
                1.0,
                Some(1_520_879_607_789),
            ),
        ),
        (
            Om,
            "m 1 1520879607\n# EOF\n",
            want("m", "m", &[], 1.0, Some(1_520_879_607_000)),
        ),
        (
            Om,
            "{\"my.metric\",\"l.x\"=\"v\"} 2\n# EOF\n",
            want(
                "{\"my.metric\",\"l.x\"=\"v\"}",
                "my.metric",
                &[("l.x", "v")],
                2.0,
                None,
            ),
        ),
        (
            Om,
            "m +Inf\n# EOF\n",
            want("m", "m", &[], f64::INFINITY, None),
        ),
    ];
    for (format, input, expected) in cases {
        let got = samples(input, format);
        assert_eq!(got, vec![expected], "{format:?} {input:?}");
    }
}

#[test]
fn nan_values() {
    for (input, format) in [
        ("m NaN", Format::Text),
        ("m NaN\n# EOF\n", Format::OpenMetrics),
    ] {
        let got = samples(input, format);
        assert_eq!(got.len(), 1);
        assert!(f64::from_bits(got[0].value).is_nan(), "{input}");
    }
}

#[test]
fn metadata_entries() {
    let text = "# HELP m Some help\\\\ with \\n escapes and \\\" kept\n\
                # TYPE m counter\n\
                # HELP\t\"my.metric\"\thelp\n\
                # TYPE other untyped\n\
                # TYPE h histogram  \n\
                # UNIT m seconds\n\
                # just a comment\n\
                #HELP not metadata\n\
                # HELPER nor this\n\
                #\n\
                \n   \n\
                m 1\n";
    let entries = parse_all(text, Format::Text).unwrap_or_else(|e| panic!("{e}"));
    let expected = [
        Entry::Help {
            metric: "m".into(),
            text: "Some help\\ with \n escapes and \\\" kept".into(),
        },
        Entry::Type {
            metric: "m".into(),
            kind: MetricType::Counter,
        },
        Entry::Help {
            metric: "my.metric".into(),
            text: "help".into(),
        },
        Entry::Type {
            metric: "other".into(),
            kind: MetricType::Unknown,
        },
        Entry::Type {
            metric: "h".into(),
            kind: MetricType::Histogram,
        },
    ];
    assert_eq!(&entries[..5], &expected[..]);
    assert_eq!(
        entries.len(),
        6,
        "UNIT and other comments are skipped in text"
    );

    let om = "# HELP m_seconds Help \\\"q\\\" \\\\ \\n\n\
              # TYPE m_seconds gauge\n\
              # UNIT m_seconds seconds\n\
              # HELP e\n\
              # HELP e2 \n\
              # UNIT u \n\
              # TYPE s stateset\n# TYPE i info\n# TYPE g gaugehistogram\n# TYPE u unknown\n\
              # some other comment\n\
              m_seconds 1\n# EOF\n";
    let entries = parse_all(om, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        entries[0],
        Entry::Help {
            metric: "m_seconds".into(),
            text: "Help \"q\" \\ \n".into()
        }
    );
    assert_eq!(
        entries[2],
        Entry::Unit {
            metric: "m_seconds".into(),
            unit: "seconds"
        }
    );
    assert_eq!(
        entries[3],
        Entry::Help {
            metric: "e".into(),
            text: "".into()
        }
    );
    assert_eq!(
        entries[4],
        Entry::Help {
            metric: "e2".into(),
            text: "".into()
        }
    );
    assert_eq!(
        entries[5],
        Entry::Unit {
            metric: "u".into(),
            unit: ""
        }
    );
    let kinds: Vec<MetricType> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Type { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    use MetricType::*;
    assert_eq!(kinds, [Gauge, StateSet, Info, GaugeHistogram, Unknown]);
    assert!(matches!(entries.last(), Some(Entry::Sample(_))));
}

#[test]
fn help_text_borrows_unless_escaped_and_is_lossy_on_bad_utf8() {
    let entries = parse_all("# HELP m plain text\n", Format::Text).unwrap_or_default();
    assert!(matches!(
        &entries[0],
        Entry::Help {
            text: Cow::Borrowed("plain text"),
            ..
        }
    ));
    let input = b"# HELP m bad \xFF byte\nm 1\n";
    let entries: Vec<_> = Parser::new(input, Format::Text).collect();
    assert_eq!(entries.len(), 2);
    match &entries[0] {
        Ok(Entry::Help { text, .. }) => assert_eq!(text, "bad \u{FFFD} byte"),
        other => panic!("{other:?}"),
    }
    // Samples after the invalid byte still parse (slow UTF-8 path).
    assert!(matches!(&entries[1], Ok(Entry::Sample(s)) if s.series() == "m"));
}

#[test]
fn samples_borrow_from_input() {
    let input = String::from("m{a=\"x\",b=\"y\\\"z\"} 1\n");
    let entries = parse_all(&input, Format::Text).unwrap_or_default();
    let Some(Entry::Sample(s)) = entries.first() else {
        panic!("no sample")
    };
    let base = input.as_ptr() as usize;
    let series = s.series().as_ptr() as usize;
    assert!(
        series >= base && series < base + input.len(),
        "series is a slice of the input"
    );
    let mut labels = Vec::new();
    s.labels_into(&mut labels);
    assert!(matches!(
        labels[0],
        (Cow::Borrowed("a"), Cow::Borrowed("x"))
    ));
    assert!(matches!(&labels[1].1, Cow::Owned(v) if v == "y\"z"));
    assert!(matches!(s.name(), Cow::Borrowed("m")));
}

#[test]
fn exemplars() {
    let input = "# TYPE foo histogram\n\
        foo_bucket{le=\"0.1\"} 8 # {trace_id=\"abc\"} 0.054 1520879607.789\n\
        foo_bucket{le=\"+Inf\"} 17 1520879608 # {} 2\n\
        foo_count 17\n\
        c_total 3 # {a=\"1\",b=\"x\\\"y\"} NaN\n\
        # EOF\n";
    let entries = parse_all(input, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}"));
    let s: Vec<&Sample<'_>> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(s.len(), 4);
    let e = s[0].exemplar().unwrap_or_else(|| panic!("exemplar"));
    assert_eq!(e.raw_labels(), "{trace_id=\"abc\"}");
    let labels: Vec<_> = e.labels().collect();
    assert_eq!(labels, [(Cow::Borrowed("trace_id"), Cow::Borrowed("abc"))]);
    assert_eq!(e.value(), 0.054);
    assert_eq!(e.timestamp_ms(), Some(1_520_879_607_789));
    assert_eq!(s[0].value(), 8.0);
    assert_eq!(s[0].timestamp_ms(), None);
    assert_eq!(s[0].series(), "foo_bucket{le=\"0.1\"}");

    let e = s[1].exemplar().unwrap_or_else(|| panic!("exemplar"));
    assert_eq!(
        (e.labels().count(), e.value(), e.timestamp_ms()),
        (0, 2.0, None)
    );
    assert_eq!(s[1].timestamp_ms(), Some(1_520_879_608_000));
    assert!(s[2].exemplar().is_none());
    let e = s[3].exemplar().unwrap_or_else(|| panic!("exemplar"));
    assert!(e.value().is_nan());
    let mut out = Vec::new();
    e.labels_into(&mut out);
    assert_eq!(out[1].1, "x\"y");
}

#[test]
fn family_types_and_created_series() {
    let input = "# TYPE req counter\n\
        req_total{code=\"200\"} 10\n\
        req_created{code=\"200\"} 1.7e9\n\
        # TYPE lat summary\n\
        lat{quantile=\"0.5\"} 1\n\
        lat_sum 2\nlat_count 3\nlat_created 1.7e9\n\
        stray 1\n\
        # EOF\n";
    let entries = parse_all(input, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, Option<MetricType>, bool)> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some((s.name().into_owned(), s.metric_type(), s.is_created())),
            _ => None,
        })
        .collect();
    use MetricType::*;
    let expected = [
        ("req_total", Some(Counter), false),
        ("req_created", Some(Counter), true),
        ("lat", Some(Summary), false),
        ("lat_sum", Some(Summary), false),
        ("lat_count", Some(Summary), false),
        ("lat_created", Some(Summary), true),
        ("stray", None, false),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, t, c)| (n.to_string(), *t, *c))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn line_numbers_of_samples() {
    let input = "# HELP a x\n\na 1\n# c\nb 2\n";
    let lines: Vec<usize> = parse_all(input, Format::Text)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s.line()),
            _ => None,
        })
        .collect();
    assert_eq!(lines, [3, 5]);
}

#[test]
fn errors_text_format() {
    // (input, line, substring of the message)
    let cases: &[(&[u8], usize, &str)] = &[
        (b"m", 1, "expected value after series, found end of line"),
        (b"m ", 1, "expected value after series"),
        (b"m{a=\"b\"}", 1, "expected value"),
        (
            b"m{a=\"b\"}1",
            1,
            "expected whitespace after labels, found '1'",
        ),
        (
            b"m=1",
            1,
            "expected whitespace or '{' after metric name, found '='",
        ),
        (b"m.x 1", 1, "after metric name, found '.'"),
        (b"ok 1\n1m 1", 2, "expected metric name or '{', found '1'"),
        (
            b"m{a} 1",
            1,
            "expected '=' after label name \"a\", found '}'",
        ),
        (
            b"m{a=b} 1",
            1,
            "expected '\"' (label value) after label name \"a\"=",
        ),
        (
            b"m{a=\"b} 1",
            1,
            "unterminated quoted string (value of label \"a\")",
        ),
        (
            b"m{a=\"b\" c=\"d\"} 1",
            1,
            "expected ',' or '}' after value of label \"a\"",
        ),
        (b"m{a=\"1\",a=\"2\"} 1", 1, "duplicate label name \"a\""),
        (
            b"m{__name__=\"x\"} 1",
            1,
            "duplicate label name \"__name__\"",
        ),
        (b"{a=\"1\"} 1", 1, "missing metric name"),
        (b"m{\"n\"} 1", 1, "metric name given twice"),
        (b"{\"\"} 1", 1, "empty quoted metric name"),
        (b"m abc", 1, "invalid value \"abc\""),
        (b"m 0x10", 1, "invalid value"),
        (b"m 1_000", 1, "invalid value"),
        (b"m 1e999", 1, "invalid value"),
        (b"m +NaN", 1, "invalid value"),
        (b"m 1 1.5", 1, "invalid timestamp \"1.5\""),
        (b"m 1 99999999999999999999", 1, "invalid timestamp"),
        (
            b"m 1 2 3",
            1,
            "expected end of line after timestamp, found '3'",
        ),
        (
            b"m 1 # {a=\"b\"} 1",
            1,
            "exemplars are only allowed in OpenMetrics",
        ),
        (b"m 1\r\n", 1, "invalid value"),
        (
            b"m{a=\"\xFF\"} 1",
            1,
            "invalid UTF-8 in metric name or label value",
        ),
        (
            b"# HELP m x\xFF\nm{\"\xC3\x28\"=\"v\"} 1",
            2,
            "invalid UTF-8",
        ),
        (b"# TYPE m bogus", 1, "invalid metric type \"bogus\""),
        (b"# TYPE m info", 1, "invalid metric type \"info\""),
        (b"# TYPE m", 1, "invalid metric type \"\""),
        (
            b"# HELP  ",
            1,
            "expected metric name after # HELP, found end of line",
        ),
        (
            b"# HELP 1m x",
            1,
            "expected metric name after # HELP, found '1'",
        ),
        (
            b"# HELP m-x y",
            1,
            "expected ' ' or end of line after metric name, found '-'",
        ),
        (
            b"# TYPE \"m counter",
            1,
            "unterminated quoted string (metric name)",
        ),
        (b"# HELP \"\" x", 1, "empty quoted metric name"),
        (b"# HELP \"\xFF\" x", 1, "invalid UTF-8 in metric name"),
    ];
    for &(input, line, msg) in cases {
        let err = first_error(input, Format::Text);
        let text = String::from_utf8_lossy(input);
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(
            err.to_string().contains(msg),
            "{text:?}: got {err:?} / {err}, want {msg:?}"
        );
    }
}

#[test]
fn errors_openmetrics() {
    let cases: &[(&[u8], usize, &str)] = &[
        (b"", 1, "missing \"# EOF\""),
        (b"m 1\n", 2, "missing \"# EOF\""),
        (b"m 1", 2, "missing \"# EOF\""),
        (b"m 1\n# EOF\n\n", 3, "data after \"# EOF\""),
        (b"# EOF\nm 1\n", 2, "data after \"# EOF\""),
        (b"m 1\n\n# EOF\n", 2, "empty line"),
        (
            b" m 1\n# EOF\n",
            1,
            "expected metric name or '{', found ' '",
        ),
        (b"m  1\n# EOF\n", 1, "expected value, found ' '"),
        (b"m\t1\n# EOF\n", 1, "expected ' ' after series, found tab"),
        (
            b"m 1 \n# EOF\n",
            1,
            "expected timestamp after value, found end of line",
        ),
        (b"m{a=\"1\", b=\"2\"} 1\n# EOF\n", 1, "found ' '"),
        (b"m 1 NaN\n# EOF\n", 1, "invalid timestamp \"NaN\""),
        (b"m 1 +Inf\n# EOF\n", 1, "invalid timestamp"),
        (
            b"m 1 1 2\n# EOF\n",
            1,
            "expected exemplar (\" # {\") after timestamp, found '2'",
        ),
        (
            b"m 1 # x\n# EOF\n",
            1,
            "expected '{' starting exemplar, found 'x'",
        ),
        (
            b"m 1 # {a=\"1\"}\n# EOF\n",
            1,
            "expected ' ' after exemplar labels",
        ),
        (b"m 1 # {a=\"1\"} \n# EOF\n", 1, "expected exemplar value"),
        (b"m 1 # {a=\"1\"} x\n# EOF\n", 1, "invalid value \"x\""),
        (
            b"m 1 # {a=\"1\"} 1 \n# EOF\n",
            1,
            "expected exemplar timestamp",
        ),
        (
            b"m 1 # {a=\"1\"} 1 2 3\n# EOF\n",
            1,
            "after exemplar timestamp",
        ),
        (b"m 1 # {a=\"1\"} 1 NaN\n# EOF\n", 1, "invalid timestamp"),
        (
            b"m 1 # {a=\"1\",a=\"2\"} 1\n# EOF\n",
            1,
            "duplicate label name \"a\"",
        ),
        (b"m 1 # {\"n\"} 1\n# EOF\n", 1, "expected '='"),
        (
            b"m 1 # {a=\"\xFF\"} 1\n# EOF\n",
            1,
            "invalid UTF-8 in exemplar label",
        ),
        (
            b"# TYPE m untyped\n# EOF\n",
            1,
            "invalid metric type \"untyped\"",
        ),
        (
            b"# TYPE m counter \n# EOF\n",
            1,
            "invalid metric type \"counter \"",
        ),
        (b"# TYPE m\n# EOF\n", 1, "invalid metric type \"\""),
        (
            b"# UNIT m_bytes seconds\n# EOF\n",
            1,
            "unit \"seconds\" is not a suffix",
        ),
        (b"# UNIT mseconds seconds\n# EOF\n", 1, "is not a suffix"),
        (b"# UNIT seconds seconds\n# EOF\n", 1, "is not a suffix"),
        (b"# UNIT m_x \xFF\n# EOF\n", 1, "invalid UTF-8 in unit"),
        (
            b"# HELP m x\xFF\n{\"a\",\"\xFF\"=\"v\"} 1\n# EOF\n",
            2,
            "invalid UTF-8",
        ),
        (
            b"# HELP m\tx\n# EOF\n",
            1,
            "expected ' ' or end of line after metric name, found tab",
        ),
        (b"m 1\n# EOF\nm 2\n# EOF\n", 3, "data after"),
    ];
    for &(input, line, msg) in cases {
        let err = first_error(input, Format::OpenMetrics);
        let text = String::from_utf8_lossy(input);
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(
            err.to_string().contains(msg),
            "{text:?}: got {err}, want {msg:?}"
        );
    }
}

#[test]
fn unit_suffix_accepted_forms() {
    for input in [
        "# UNIT a_seconds seconds\n# EOF\n",
        "# UNIT _seconds seconds\n# EOF\n",
    ] {
        assert!(parse_all(input, Format::OpenMetrics).is_ok(), "{input}");
    }
}

#[test]
fn parser_stops_after_error_and_after_eof() {
    let mut p = Parser::new(b"a 1\nb x\nc 3\n", Format::Text);
    assert!(matches!(p.next_entry(), Some(Ok(Entry::Sample(_)))));
    assert!(matches!(p.next_entry(), Some(Err(_))));
    assert!(p.next_entry().is_none());
    assert!(p.next_entry().is_none());

    let mut p = Parser::new(b"a 1\n# EOF\n", Format::OpenMetrics);
    assert!(matches!(p.next_entry(), Some(Ok(Entry::Sample(_)))));
    assert!(p.next_entry().is_none());
    assert!(p.next_entry().is_none());
}

#[test]
fn text_format_ignores_eof_marker_and_handles_empty_input() {
    assert_eq!(samples("", Format::Text), vec![]);
    assert_eq!(samples("\n\n", Format::Text), vec![]);
    assert_eq!(samples("a 1\n# EOF\nb 2\n", Format::Text).len(), 2);
}

#[test]
fn content_type_negotiation() {
    let cases = [
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::OpenMetrics,
        ),
        (
            "application/openmetrics-text;version=0.0.1",
            Format::OpenMetrics,
        ),
        ("Application/OpenMetrics-Text", Format::OpenMetrics),
        ("  application/openmetrics-text  ", Format::OpenMetrics),
        ("text/plain; version=0.0.4; charset=utf-8", Format::Text),
        ("text/plain", Format::Text),
        ("application/json", Format::Text),
        ("", Format::Text),
        ("application/openmetrics-textual", Format::Text),
    ];
    for (ct, want) in cases {
        assert_eq!(format_for_content_type(ct), want, "{ct:?}");
    }
    assert!(ACCEPT_HEADER.starts_with("application/openmetrics-text;version=1.0.0,"));
    assert!(ACCEPT_HEADER.ends_with("*/*;q=0.1"));
    assert_eq!(Format::default(), Format::Text);
}

#[test]
fn metric_type_names() {
    use MetricType::*;
    let all = [
        Counter,
        Gauge,
        Histogram,
        GaugeHistogram,
        Summary,
        Info,
        StateSet,
        Unknown,
    ];
    for t in all {
        assert_eq!(MetricType::from_openmetrics(t.as_str().as_bytes()), Some(t));
    }
    assert_eq!(MetricType::from_text(b"untyped"), Some(Unknown));
    assert_eq!(MetricType::from_text(b"unknown"), None);
    assert_eq!(MetricType::from_text(b"Counter"), None);
}
