//! Robustness properties of the exposition parser (complementing the cargo-fuzz
//! target in `fuzz/`): arbitrary bytes and mutated valid payloads never panic,
//! always terminate, and every sample handed out is a slice of the input; and
//! rendering arbitrary series (escapes, quoted UTF-8 names, colons) then
//! parsing them gives back exactly what was rendered.

use std::borrow::Cow;

use lookout_collector::parse::{Entry, Format, Parser};
use proptest::prelude::*;

/// Drains a parser, materialising everything, and checks the invariants that
/// must hold for any input. Returns the number of samples.
fn drain(input: &[u8], format: Format) -> usize {
    let lines = input.iter().filter(|&&c| c == b'\n').count() + 1;
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len() + 1;
    let mut parser = Parser::new(input, format);
    let mut items = 0;
    let mut samples = 0;
    let mut labels: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    while let Some(item) = parser.next_entry() {
        items += 1;
        // At most one item per line, plus a final error (missing # EOF).
        assert!(items <= lines + 1, "parser does not terminate");
        match item {
            Ok(Entry::Sample(s)) => {
                samples += 1;
                assert!(
                    range.contains(&(s.series().as_ptr() as usize)),
                    "series borrows input"
                );
                assert!(!s.name().is_empty());
                labels.clear();
                s.labels_into(&mut labels);
                if let Some(e) = s.exemplar() {
                    labels.extend(e.labels());
                }
                let _ = (s.value(), s.timestamp_ms(), s.metric_type(), s.is_created());
            }
            Ok(_) => {}
            Err(e) => {
                assert!(
                    e.line >= 1 && e.line <= lines + 1,
                    "line {} of {lines}",
                    e.line
                );
                assert!(!e.to_string().is_empty());
                assert!(parser.next_entry().is_none(), "no items after an error");
                break;
            }
        }
    }
    samples
}

const SEED: &str = "# HELP http_requests_total The total \\\\ number of \\n requests.\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
msdos{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
{\"my.metric\",\"label.x\"=\"v\"} 7\n\
# TYPE foo histogram\n\
foo_bucket{le=\"0.1\"} 8 # {trace_id=\"abc\"} 0.054 1520879607.789\n\
foo_bucket{le=\"+Inf\"} 17 1520879608\n\
foo_sum 3.2e+01\nfoo_count 17\nfoo_created 1.7e9\n\
# UNIT up_seconds seconds\n\
up_seconds NaN\n\
# EOF\n";

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let special = prop::sample::select(b"\"{}\\=,# \n\t.:e+-0\xff\xc3".to_vec());
    let byte = prop_oneof![special, any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut buf: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = buf.len().max(1);
        match *e {
            Edit::Flip(i, b) if !buf.is_empty() => buf[i % n] = b,
            Edit::Insert(i, b) => buf.insert(i % (buf.len() + 1), b),
            Edit::Delete(i) if !buf.is_empty() => {
                buf.remove(i % n);
            }
            Edit::Truncate(i) => buf.truncate(i % (buf.len() + 1)),
            _ => {}
        }
    }
    buf
}

#[test]
fn seed_is_valid_in_both_formats() {
    assert_eq!(drain(SEED.as_bytes(), Format::OpenMetrics), 9);
    // The text format rejects the exemplar line, after the first three samples.
    assert_eq!(drain(SEED.as_bytes(), Format::Text), 3);
}

/// A series to render: name (maybe quoted), labels, value, timestamp.
#[derive(Debug, Clone)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    ts: Option<i64>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn is_plain_label(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn render(s: &Series, om: bool) -> (String, String) {
    let plain_name = s.name.bytes().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == b'_' || c == b':' || (i > 0 && c.is_ascii_digit())
    });
    let mut items: Vec<String> = Vec::new();
    let mut series = String::new();
    if plain_name {
        series.push_str(&s.name);
    } else {
        items.push(format!("\"{}\"", escape(&s.name)));
    }
    for (k, v) in &s.labels {
        let k = if is_plain_label(k) {
            k.clone()
        } else {
            format!("\"{}\"", escape(k))
        };
        items.push(format!("{k}=\"{}\"", escape(v)));
    }
    if !items.is_empty() || !plain_name {
        series.push('{');
        series.push_str(&items.join(","));
        series.push('}');
    }
    let mut line = format!("{series} {:?}", s.value);
    match (s.ts, om) {
        (Some(ts), false) => line.push_str(&format!(" {ts}")),
        (Some(ts), true) => line.push_str(&format!(" {}.{:03}", ts / 1000, ts % 1000)),
        _ => {}
    }
    (series, line)
}

fn series_strategy() -> impl Strategy<Value = Series> {
    let name = prop_oneof![
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        "[a-z.☃ü\"\\\\\n-]{1,12}", // needs quoting
    ];
    let label = prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,10}", "[a-z.☃ü\"\\\\ -]{1,8}"];
    let labels = prop::collection::btree_map(label, "\\PC{0,12}|[\"\\\\\n{},=]{0,6}", 0..6);
    let value = prop_oneof![
        any::<f64>().prop_filter("finite or inf", |v| !v.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
    ];
    (
        name,
        labels,
        value,
        prop::option::of(0i64..4_000_000_000_000),
    )
        .prop_map(|(name, labels, value, ts)| Series {
            name,
            labels: labels
                .into_iter()
                .filter(|(k, _)| k != "__name__")
                .collect(),
            value,
            ts,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        drain(&bytes, Format::Text);
        drain(&bytes, Format::OpenMetrics);
    }

    #[test]
    fn random_ascii_soup_never_panics(s in "[a-z_{}=\",# \\\\\n\t.0-9+-]{0,300}") {
        drain(s.as_bytes(), Format::Text);
        drain(s.as_bytes(), Format::OpenMetrics);
    }

    #[test]
    fn mutated_payloads_never_panic(edits in prop::collection::vec(edit(), 1..8)) {
        let buf = apply(SEED.as_bytes().to_vec(), &edits);
        drain(&buf, Format::Text);
        drain(&buf, Format::OpenMetrics);
    }

    #[test]
    fn rendered_series_round_trip(all in prop::collection::vec(series_strategy(), 1..8), om in any::<bool>()) {
        let mut body = String::new();
        let mut keys = Vec::new();
        for s in &all {
            let (series, line) = render(s, om);
            keys.push(series);
            body.push_str(&line);
            body.push('\n');
        }
        if om {
            body.push_str("# EOF\n");
        }
        let format = if om { Format::OpenMetrics } else { Format::Text };
        let parsed: Vec<_> = Parser::new(body.as_bytes(), format)
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        prop_assert_eq!(parsed.len(), all.len());
        for ((entry, want), key) in parsed.iter().zip(&all).zip(&keys) {
            let Entry::Sample(s) = entry else {
                return Err(TestCaseError::fail("not a sample"));
            };
            prop_assert_eq!(s.series(), key.as_str());
            prop_assert_eq!(s.name(), want.name.as_str());
            let labels: Vec<(String, String)> =
                s.labels().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            prop_assert_eq!(&labels, &want.labels);
            prop_assert_eq!(s.value().to_bits(), want.value.to_bits());
            prop_assert_eq!(s.timestamp_ms(), want.ts);
        }
    }
}
