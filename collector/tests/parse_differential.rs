//! Differential test: lookout's exposition parser against the `prometheus-parse`
//! crate, on inputs that crate handles correctly.
//!
//! prometheus-parse mangles escapes in label values, `:` in names, `,` / `=` /
//! `}` in label values and float timestamps, so generated inputs avoid those.
//! It also groups histogram buckets and summary quantiles of `# TYPE`d
//! families into one sample (dropping the `le` / `quantile` label); the
//! comparison expands those groups back into one sample per bucket/quantile
//! and compares per sample: metric name, label set, value (NaN-aware) and
//! timestamp. `le` / `quantile` values are compared as floats (it re-formats
//! them).

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use lookout_collector::parse::{Entry, Format, Parser};
use proptest::prelude::*;

/// One sample in a comparable form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Norm {
    name: String,
    labels: BTreeMap<String, String>,
    value: u64,
    ts: Option<i64>,
}

fn value_bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

/// `le` and `quantile` values as canonical float text.
fn canon_label(name: &str, value: &str) -> String {
    if name != "le" && name != "quantile" {
        return value.to_owned();
    }
    match value.to_ascii_lowercase().parse::<f64>() {
        Ok(f) => format!("{f:?}"),
        Err(_) => value.to_owned(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Parsed {
    samples: Vec<Norm>,
    help: HashMap<String, String>,
}

fn ours(input: &str, format: Format) -> Parsed {
    let mut samples = Vec::new();
    let mut help = HashMap::new();
    for entry in Parser::new(input.as_bytes(), format) {
        match entry.unwrap_or_else(|e| panic!("lookout rejected valid input: {e}\n{input}")) {
            Entry::Sample(s) => samples.push(Norm {
                name: s.name().into_owned(),
                labels: s
                    .labels()
                    .map(|(k, v)| {
                        let v = canon_label(&k, &v);
                        (k.into_owned(), v)
                    })
                    .collect(),
                value: value_bits(s.value()),
                ts: s.timestamp_ms(),
            }),
            Entry::Help { metric, text } => {
                help.insert(metric.into_owned(), text.into_owned());
            }
            _ => {}
        }
    }
    samples.sort();
    Parsed { samples, help }
}

fn theirs(input: &str) -> Parsed {
    use prometheus_parse::{Scrape, Value};
    let before = now_ms();
    let lines = input.lines().map(|l| Ok(l.to_owned()));
    let scrape = Scrape::parse(lines).unwrap_or_else(|e| panic!("prometheus-parse: {e}"));
    let after = now_ms();
    let mut samples = Vec::new();
    for s in scrape.samples {
        let ts = s.timestamp.timestamp_millis();
        // Without an explicit timestamp prometheus-parse stamps "now".
        let ts = if (before - 1..=after + 1).contains(&ts) {
            None
        } else {
            Some(ts)
        };
        let labels: BTreeMap<String, String> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), canon_label(k, v)))
            .collect();
        let mut push = |name: String, extra: Option<(&str, f64)>, v: f64| {
            let mut labels = labels.clone();
            if let Some((k, f)) = extra {
                labels.insert(k.to_owned(), format!("{f:?}"));
            }
            samples.push(Norm {
                name,
                labels,
                value: value_bits(v),
                ts,
            });
        };
        match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => push(s.metric, None, v),
            Value::Histogram(buckets) => {
                for b in buckets {
                    push(
                        format!("{}_bucket", s.metric),
                        Some(("le", b.less_than)),
                        b.count,
                    );
                }
            }
            Value::Summary(quantiles) => {
                for q in quantiles {
                    push(s.metric.clone(), Some(("quantile", q.quantile)), q.count);
                }
            }
        }
    }
    samples.sort();
    Parsed {
        samples,
        help: scrape.docs,
    }
}

fn assert_same(input: &str, format: Format, expected_samples: usize) {
    let a = ours(input, format);
    let b = theirs(input);
    assert_eq!(a.samples.len(), expected_samples, "sample count\n{input}");
    assert_eq!(a.samples, b.samples, "samples differ\n{input}");
    assert_eq!(a.help, b.help, "help differs\n{input}");
}

const FIXED: &[(&str, usize)] = &[
    ("up 1\n", 1),
    (
        "# HELP http_requests_total The total number of HTTP requests.\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
         http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
         \n\
         metric_without_timestamp_and_labels 12.47\n\
         something_weird{problem=\"division by zero\"} +Inf -3982045\n",
        4,
    ),
    (
        "# HELP http_request_duration_seconds A histogram of the request duration.\n\
         # TYPE http_request_duration_seconds histogram\n\
         http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n\
         http_request_duration_seconds_bucket{le=\"0.1\"} 33444\n\
         http_request_duration_seconds_bucket{le=\"0.2\"} 100392\n\
         http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n\
         http_request_duration_seconds_sum 53423\n\
         http_request_duration_seconds_count 144320\n",
        6,
    ),
    (
        "# TYPE rpc_duration_seconds summary\n\
         rpc_duration_seconds{service=\"a\",quantile=\"0.01\"} 3102\n\
         rpc_duration_seconds{service=\"a\",quantile=\"0.99\"} 76656\n\
         rpc_duration_seconds{quantile=\"0.5\",service=\"b\"} 4773\n\
         rpc_duration_seconds_sum{service=\"a\"} 1.7560473e+07\n\
         rpc_duration_seconds_count{service=\"a\"} 2693\n",
        5,
    ),
    (
        "# TYPE g gauge\ng NaN\ng_two -Inf\ng_three -0\ng_four 1e-07\ng_five .5\n\
         g_six 123456789012345678901234567890\ng_seven{a=\"with space\",b=\"ü☃\"} 5.\n",
        7,
    ),
];

#[test]
fn fixed_inputs_agree() {
    for &(input, n) in FIXED {
        assert_same(input, Format::Text, n);
    }
}

/// A generated metric family.
#[derive(Debug, Clone)]
struct Family {
    name: String,
    kind: u8, // 0 untyped, 1 counter, 2 gauge, 3 histogram, 4 summary
    typed: bool,
    help: Option<String>,
    groups: Vec<Group>,
}

#[derive(Debug, Clone)]
struct Group {
    labels: Vec<(String, String)>,
    values: Vec<String>,
    ts: Option<i64>,
}

const LES: [&str; 6] = ["0.005", "0.1", "1", "2.5", "10", "+Inf"];
const QUANTILES: [&str; 5] = ["0", "0.5", "0.9", "0.99", "1"];

fn value_token() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..1_000_000_000).prop_map(|v| v.to_string()),
        (-1e12f64..1e12).prop_map(|v| v.to_string()),
        (-1e300f64..1e300).prop_map(|v| format!("{v:e}")),
        (1u64..99_999, -30i32..30).prop_map(|(m, e)| format!("{m}e{e:+03}")),
        prop::sample::select(vec![
            "NaN", "+Inf", "-Inf", "Inf", "-0", "0", "1e+06", "1.5E-3", ".5", "5.", "-12",
        ])
        .prop_map(str::to_owned),
    ]
}

fn group(values: usize, with_ts: bool) -> impl Strategy<Value = Group> {
    let labels = prop::collection::btree_map(
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        "[a-zA-Z0-9 _./:;@ü☃{-]{0,12}",
        0..5,
    );
    let ts = if with_ts {
        prop::option::of(-1_000_000_000_000i64..1_600_000_000_000).boxed()
    } else {
        Just(None).boxed()
    };
    (labels, prop::collection::vec(value_token(), values), ts).prop_map(|(labels, values, ts)| {
        let labels = labels
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "le" | "quantile" | "__name__"))
            .collect();
        Group { labels, values, ts }
    })
}

fn family(index: usize, with_ts: bool) -> impl Strategy<Value = Family> {
    let kind = 0u8..5;
    kind.prop_flat_map(move |kind| {
        let n_values = match kind {
            3 => LES.len() + 2,
            4 => QUANTILES.len() + 2,
            _ => 1,
        };
        (
            "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
            any::<bool>(),
            prop::option::of("[a-zA-Z0-9][a-zA-Z0-9 ,.()]{0,30}[a-zA-Z0-9.)]"),
            prop::collection::vec(group(n_values, with_ts), 1..4),
        )
            .prop_map(move |(base, typed, help, groups)| Family {
                name: format!("{base}_f{index}"),
                kind,
                typed,
                help,
                groups: dedupe(groups),
            })
    })
}

/// Drops groups whose label set repeats an earlier one.
fn dedupe(groups: Vec<Group>) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for g in groups {
        if !out.iter().any(|o| o.labels == g.labels) {
            out.push(g);
        }
    }
    out
}

fn render_labels(labels: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Renders families; returns the text and the number of sample lines.
fn render(families: &[Family], format: Format) -> (String, usize) {
    let om = format == Format::OpenMetrics;
    let mut out = String::new();
    let mut n = 0;
    for f in families {
        let type_word = match (f.kind, om) {
            (0, false) => "untyped",
            (0, true) => "unknown",
            (1, _) => "counter",
            (2, _) => "gauge",
            (3, _) => "histogram",
            _ => "summary",
        };
        if let Some(h) = &f.help {
            out.push_str(&format!("# HELP {} {h}\n", f.name));
        }
        if f.typed {
            out.push_str(&format!("# TYPE {} {type_word}\n", f.name));
        }
        let sep = if om { " " } else { "  " };
        let mut line = |name: &str, labels: &str, v: &str, ts: Option<i64>| {
            out.push_str(name);
            out.push_str(labels);
            out.push_str(sep);
            out.push_str(v);
            if let (Some(ts), false) = (ts, om) {
                out.push_str(&format!(" {ts}"));
            }
            out.push('\n');
            n += 1;
        };
        for g in &f.groups {
            let plain = render_labels(&g.labels, None);
            match f.kind {
                3 | 4 => {
                    let (points, label, name): (&[&str], &str, String) = if f.kind == 3 {
                        (&LES, "le", format!("{}_bucket", f.name))
                    } else {
                        (&QUANTILES, "quantile", f.name.clone())
                    };
                    for (p, v) in points.iter().zip(&g.values) {
                        line(&name, &render_labels(&g.labels, Some((label, p))), v, g.ts);
                    }
                    let k = points.len();
                    line(&format!("{}_sum", f.name), &plain, &g.values[k], g.ts);
                    line(&format!("{}_count", f.name), &plain, &g.values[k + 1], g.ts);
                }
                1 if om => line(&format!("{}_total", f.name), &plain, &g.values[0], g.ts),
                _ => line(&f.name, &plain, &g.values[0], g.ts),
            }
        }
    }
    if om {
        out.push_str("# EOF\n");
    }
    (out, n)
}

fn families(with_ts: bool) -> impl Strategy<Value = Vec<Family>> {
    (1usize..6).prop_flat_map(move |n| (0..n).map(|i| family(i, with_ts)).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn generated_text_agrees(fams in families(true)) {
        let (input, n) = render(&fams, Format::Text);
        assert_same(&input, Format::Text, n);
    }

    #[test]
    fn generated_openmetrics_agrees(fams in families(false)) {
        let (input, n) = render(&fams, Format::OpenMetrics);
        assert_same(&input, Format::OpenMetrics, n);
    }
}
