use std::collections::{HashMap, HashSet};

use super::*;

fn render(p: &Payload, target: u32, t: f64) -> String {
    let mut out = Vec::new();
    p.render(target, t, &mut out);
    String::from_utf8(out).expect("payload is ASCII")
}

/// (series key = name + labels, value) for every sample line, in order.
fn samples(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line has a value");
            (
                series.to_owned(),
                value.parse::<f64>().expect("value parses as f64"),
            )
        })
        .collect()
}

fn metric_name(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

#[test]
fn renders_exactly_the_requested_number_of_series() {
    for n in [0, 1, 7, 50, 184, 185, 186, 200, 999, 1000, 1003, 5000] {
        let p = Payload::new(n, 1);
        assert_eq!(p.series(), n, "n={n}");
        let body = render(&p, 0, 10.0);
        assert_eq!(samples(&body).len(), n, "n={n}");
    }
}

#[test]
fn series_are_unique_and_families_contiguous_with_help_and_type() {
    let body = render(&Payload::new(1000, 7), 3, 100.0);
    let mut seen_series = HashSet::new();
    let mut closed: HashSet<String> = HashSet::new();
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut current = String::new();
    let mut helped = HashSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default().to_owned();
            assert!(helped.insert(name), "HELP repeated: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap_or_default(), it.next().unwrap_or_default());
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            if !current.is_empty() {
                closed.insert(std::mem::take(&mut current));
            }
            assert!(!closed.contains(name), "family {name} split");
            typed.insert(name.to_owned(), kind.to_owned());
            current = name.to_owned();
            continue;
        }
        let (series, _) = line.rsplit_once(' ').expect("value");
        assert!(
            seen_series.insert(series.to_owned()),
            "duplicate series {series}"
        );
        let name = metric_name(series);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| {
                name.strip_suffix(suf)
                    .filter(|b| typed.get(*b).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert_eq!(family, current, "sample {series} outside its family block");
    }
    // Realistic label counts: most series carry 3+ labels of their own (job and instance
    // are added by the scraper).
    let labelled = seen_series
        .iter()
        .filter(|s| s.matches("=\"").count() >= 3)
        .count();
    assert!(
        labelled * 2 > seen_series.len(),
        "only {labelled} series with 3+ labels"
    );
    assert!(typed.values().any(|k| k == "histogram"));
}

#[test]
fn prometheus_parse_reads_every_sample() {
    let body = render(&Payload::new(1000, 7), 0, 30.0);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parses");
    // Buckets fold into one sample per histogram; `_sum` and `_count` stay separate samples.
    let mut lines_seen = 0;
    let mut histograms = 0;
    for s in &scrape.samples {
        lines_seen += match &s.value {
            prometheus_parse::Value::Histogram(b) => {
                histograms += 1;
                assert!(
                    b.windows(2)
                        .all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count)
                );
                assert_eq!(b.last().map(|c| c.less_than), Some(f64::INFINITY));
                b.len()
            }
            _ => 1,
        };
    }
    assert_eq!(histograms, 5);
    assert_eq!(lines_seen, 1000);
}

#[test]
fn counters_and_histograms_never_decrease_and_gauges_move() {
    let p = Payload::new(1000, 42);
    let kinds: HashMap<String, String> = render(&p, 0, 0.0)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|r| {
            let (n, k) = r.split_once(' ').expect("type line");
            (n.to_owned(), k.to_owned())
        })
        .collect();
    let mut changed_gauges = 0;
    let mut changed_counters = 0;
    for target in [0u32, 5, 999] {
        let mut prev = samples(&render(&p, target, 0.0));
        for step in 1..=4 {
            let next = samples(&render(&p, target, f64::from(step) * 15.0));
            for ((series, a), (series2, b)) in prev.iter().zip(&next) {
                assert_eq!(series, series2);
                let name = metric_name(series);
                let kind = kinds.get(name).map(String::as_str).unwrap_or("histogram");
                if kind != "gauge" {
                    assert!(b >= a, "{series} went {a} -> {b}");
                    changed_counters += usize::from(b > a);
                } else {
                    changed_gauges += usize::from(b != a);
                }
            }
            prev = next;
        }
    }
    assert!(changed_counters > 1000, "{changed_counters}");
    assert!(changed_gauges > 100, "{changed_gauges}");
}

#[test]
fn histogram_buckets_are_cumulative_and_inf_equals_count() {
    let body = render(&Payload::new(1000, 3), 11, 1234.5);
    let all = samples(&body);
    let mut last_bucket: Option<(String, f64)> = None;
    let mut checked = 0;
    for (series, v) in &all {
        let name = metric_name(series);
        if name.ends_with("_bucket") {
            let group = series.split(",le=").next().unwrap_or_default().to_owned();
            if let Some((g, prev)) = &last_bucket
                && *g == group
            {
                assert!(v >= prev, "{series}: {v} < {prev}");
            }
            last_bucket = Some((group, *v));
        } else if name.ends_with("_count") {
            let (_, inf) = last_bucket.take().expect("_count follows buckets");
            assert_eq!(inf, *v, "{series}");
            checked += 1;
        }
    }
    assert_eq!(checked, 5, "3 HTTP + 2 gRPC histograms");
}

#[test]
fn targets_differ_and_rendering_is_deterministic() {
    let p = Payload::new(500, 9);
    let a = render(&p, 1, 60.0);
    assert_eq!(a, render(&p, 1, 60.0));
    assert_eq!(a, render(&Payload::new(500, 9), 1, 60.0));
    assert_ne!(a, render(&p, 2, 60.0));
    assert_ne!(a, render(&Payload::new(500, 10), 1, 60.0));
}

#[test]
fn write_fixed_formats_plain_decimals() {
    let cases: [(f64, u8, &str); 8] = [
        (0.0, 0, "0"),
        (12.346, 2, "12.35"),
        (1.005, 3, "1.005"),
        (7.0, 3, "7.000"),
        (-3.0, 2, "0.00"),
        (f64::NAN, 0, "0"),
        (123_456_789_012.0, 0, "123456789012"),
        (0.05, 1, "0.1"),
    ];
    for (v, d, want) in cases {
        let mut out = Vec::new();
        write_fixed(&mut out, v, d);
        assert_eq!(String::from_utf8(out).expect("ascii"), want, "{v} with {d}");
    }
}
