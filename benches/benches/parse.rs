//! Exposition parsing: lookout's parser vs the `prometheus-parse` crate.
//!
//! Two payloads, each measured as bytes/s (criterion `Throughput::Bytes`):
//! - `node_exporter`: a real node_exporter scrape, read from the file named by
//!   `LOOKOUT_BENCH_NODE_EXPORTER`, else `../shared/fixtures/node-exporter-1.5.0.prom`
//!   relative to the workspace root (skipped with a note if neither exists);
//! - `synthetic_10k`: 10,000 series generated here (counters, gauges and
//!   histograms with ~5 labels, values formatted the way Go clients do).
//!
//! Variants: `lookout` is the scrape loop's cache-hit hot path (iterate all
//! samples, touch the raw series bytes, value and timestamp); `lookout_cache_miss`
//! additionally materialises name and labels of every sample; `prometheus_parse`
//! is `Scrape::parse` over the body's lines (its API takes owned lines).
//! The sample count of each payload is printed so samples/s can be derived;
//! `benches/scripts/parse_node_exporter.sh` does that arithmetic.

use std::borrow::Cow;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_collector::parse::{Entry, Format, Parser};

fn node_exporter_payload() -> Option<(PathBuf, Vec<u8>)> {
    let path = match std::env::var_os("LOOKOUT_BENCH_NODE_EXPORTER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/node-exporter-1.5.0.prom"),
    };
    match std::fs::read(&path) {
        Ok(body) => Some((path, body)),
        Err(e) => {
            eprintln!(
                "parse bench: skipping node_exporter ({}: {e})",
                path.display()
            );
            None
        }
    }
}

/// Deterministic xorshift generator for the synthetic payload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Formats like Go's `strconv.FormatFloat(v, 'g', -1, 64)` for typical values:
/// plain below 1e6 (and above 1e-4), otherwise `1.446217e+06` style.
fn go_float(v: f64, out: &mut String) {
    let a = v.abs();
    if v == v.trunc() && a < 1e6 {
        out.push_str(&format!("{}", v as i64));
    } else if (1e-4..1e6).contains(&a) {
        out.push_str(&format!("{v}"));
    } else {
        let s = format!("{v:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        out.push_str(&format!("{mant}e{sign}{:02}", exp.abs()));
    }
}

/// ~10,000 series: 40% counters, 30% gauges, 30% histogram lines (10 buckets +
/// sum + count), each with 4-5 labels of pod-like values.
fn synthetic_payload(series: usize) -> String {
    const NAMESPACES: [&str; 6] = [
        "default",
        "kube-system",
        "monitoring",
        "shop",
        "payments",
        "ci",
    ];
    const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
    const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];
    const LES: [&str; 10] = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    let mut rng = Rng(0x5EED_CAFE_F00D_BEEF);
    let mut out = String::with_capacity(series * 140);
    let mut n = 0;
    let mut family = 0;
    while n < series {
        let kind = family % 10;
        family += 1;
        let name = match kind {
            0..=3 => format!("app_http_requests_{family}_total"),
            4..=6 => format!("app_memory_working_set_{family}_bytes"),
            _ => format!("app_http_request_duration_{family}_seconds"),
        };
        let (type_word, help) = match kind {
            0..=3 => ("counter", "Total number of HTTP requests handled."),
            4..=6 => ("gauge", "Current working set of the container in bytes."),
            _ => ("histogram", "Latency of HTTP requests in seconds."),
        };
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {type_word}\n"
        ));
        for _ in 0..(20 + rng.below(40)) {
            let ns = NAMESPACES[rng.below(6) as usize];
            let pod = format!(
                "{ns}-deploy-{:x}-{:05x}",
                rng.below(1 << 20),
                rng.below(1 << 20)
            );
            let base = format!(
                "namespace=\"{ns}\",pod=\"{pod}\",container=\"app\",instance=\"10.1.{}.{}:8080\"",
                rng.below(256),
                rng.below(256)
            );
            match kind {
                0..=3 => {
                    let labels = format!(
                        "{base},method=\"{}\",code=\"{}\"",
                        METHODS[rng.below(4) as usize],
                        CODES[rng.below(5) as usize]
                    );
                    out.push_str(&format!("{name}{{{labels}}} "));
                    go_float((rng.below(5_000_000)) as f64, &mut out);
                    out.push('\n');
                    n += 1;
                }
                4..=6 => {
                    out.push_str(&format!(
                        "{name}{{{base},node=\"worker-{}\"}} ",
                        rng.below(50)
                    ));
                    go_float(1e6 + rng.unit() * 2e9, &mut out);
                    out.push('\n');
                    n += 1;
                }
                _ => {
                    let total = rng.below(1_000_000);
                    let mut cum = 0.0;
                    for le in LES {
                        cum += (total as f64 - cum) * rng.unit() * 0.6;
                        let v = if le == "+Inf" {
                            total as f64
                        } else {
                            cum.floor()
                        };
                        out.push_str(&format!("{name}_bucket{{{base},le=\"{le}\"}} "));
                        go_float(v, &mut out);
                        out.push('\n');
                    }
                    out.push_str(&format!("{name}_sum{{{base}}} "));
                    go_float(total as f64 * 0.137 * rng.unit(), &mut out);
                    out.push_str(&format!("\n{name}_count{{{base}}} {total}\n"));
                    n += LES.len() + 2;
                }
            }
            if n >= series {
                break;
            }
        }
    }
    out
}

/// The cache-hit hot path: every sample's raw series, value and timestamp.
fn lookout_hot(body: &[u8]) -> (u64, usize) {
    let mut acc = 0u64;
    let mut n = 0;
    for entry in Parser::new(body, Format::Text) {
        match entry {
            Ok(Entry::Sample(s)) => {
                let key = s.series_bytes();
                acc = acc.wrapping_add(key.len() as u64 ^ u64::from(key[0]));
                acc ^= s.value().to_bits() ^ s.timestamp_ms().unwrap_or(0) as u64;
                n += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("bench payload does not parse: {e}"),
        }
    }
    (acc, n)
}

/// The cache-miss path: also materialise name and labels of every sample.
fn lookout_miss(body: &[u8]) -> usize {
    let mut labels: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(16);
    let mut total = 0;
    for entry in Parser::new(body, Format::Text) {
        if let Ok(Entry::Sample(s)) = entry {
            labels.clear();
            s.labels_into(&mut labels);
            total += s.name().len() + labels.len();
        }
    }
    total
}

fn prometheus_parse(body: &str) -> usize {
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("prometheus-parse");
    scrape.samples.len()
}

fn bench_payload(c: &mut Criterion, id: &str, body: &[u8]) {
    let text = String::from_utf8_lossy(body).into_owned();
    let (_, samples) = lookout_hot(body);
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    eprintln!(
        "parse bench payload {id}: {} bytes, {samples} samples, {lines} lines",
        body.len()
    );
    let mut group = c.benchmark_group(format!("parse/{id}"));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("lookout", |b| b.iter(|| lookout_hot(black_box(body))));
    group.bench_function("lookout_cache_miss", |b| {
        b.iter(|| lookout_miss(black_box(body)))
    });
    group.bench_function("prometheus_parse", |b| {
        b.iter(|| prometheus_parse(black_box(&text)))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    if let Some((_, body)) = node_exporter_payload() {
        bench_payload(c, "node_exporter", &body);
    }
    let synthetic = synthetic_payload(10_000);
    bench_payload(c, "synthetic_10k", synthetic.as_bytes());
}

criterion_group!(parse, benches);
criterion_main!(parse);
