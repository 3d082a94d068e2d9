//! PromQL latency, lookout beside Prometheus on the same data, same run.
//!
//! Starts Debian's `prometheus` on loopback (remote-write receiver on) and lookout's API
//! in-process on loopback, pushes identical samples into both through remote write, then times
//! each query of the set (range queries over one hour at a 15 s step) against both over HTTP.
//!
//!   cargo run --release -p lookout-benches --bin promql_compare -- [--series 10000]
//!       [--iterations 5] [--prometheus /usr/bin/prometheus]
//!
//! Data: `x{job, instance}` counters (`--series` of them, one hour at 15 s, with resets) and a
//! classic histogram `lat_bucket{svc, le}` of 100 services x 100 buckets.

use lookout_query::api::write::{Label, Sample, TimeSeries, WriteRequest, encode_request};
use lookout_query::api::{self, ApiState, MetadataEntry, TargetSource, TargetsData};
use lookout_store::Head;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T0: i64 = 1_699_999_200_000;
const STEP: i64 = 15_000;
const N: i64 = 241;

struct NoTargets;
impl TargetSource for NoTargets {
    fn targets(&self) -> TargetsData {
        TargetsData::default()
    }
    fn metadata(&self) -> BTreeMap<String, Vec<MetadataEntry>> {
        BTreeMap::new()
    }
}

fn request(addr: &str, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let status = String::from_utf8_lossy(&buf[..buf.len().min(16)])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf.len())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (c as char).to_string(),
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// One series: its labels and one value per step.
type SeriesDef = (Vec<(String, String)>, Vec<f64>);

fn series_defs(n_series: usize) -> Vec<SeriesDef> {
    let mut out = Vec::new();
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for i in 0..n_series {
        let mut v = 0.0;
        let vals: Vec<f64> = (0..N)
            .map(|k| {
                if k == 100 + (i as i64 % 50) {
                    v = 0.0;
                }
                v += (rnd() % 50) as f64;
                v
            })
            .collect();
        out.push((
            vec![
                ("__name__".into(), "x".into()),
                ("instance".into(), format!("i{i}")),
                ("job".into(), format!("j{}", i % 10)),
            ],
            vals,
        ));
    }
    for svc in 0..100 {
        let mut counts = vec![0f64; 100];
        let mut rows: Vec<Vec<f64>> = (0..100).map(|_| Vec::with_capacity(N as usize)).collect();
        for _ in 0..N {
            for _ in 0..(rnd() % 20) {
                let b = (rnd() % 100) as usize;
                for c in counts.iter_mut().skip(b) {
                    *c += 1.0;
                }
            }
            for (b, r) in rows.iter_mut().enumerate() {
                r.push(counts[b]);
            }
        }
        for (b, r) in rows.into_iter().enumerate() {
            let le = if b == 99 {
                "+Inf".to_string()
            } else {
                format!("{}", (b + 1) as f64 * 0.01)
            };
            out.push((
                vec![
                    ("__name__".into(), "lat_bucket".into()),
                    ("le".into(), le),
                    ("svc".into(), format!("s{svc}")),
                ],
                r,
            ));
        }
    }
    out
}

fn push_all(addr: &str, defs: &[SeriesDef]) {
    for from in (0..N).step_by(40) {
        for chunk in defs.chunks(2000) {
            let req = WriteRequest {
                timeseries: chunk
                    .iter()
                    .map(|(l, v)| TimeSeries {
                        labels: l
                            .iter()
                            .map(|(n, v)| Label {
                                name: n.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                        samples: (from..(from + 40).min(N))
                            .map(|k| Sample {
                                value: v[k as usize],
                                timestamp: T0 + k * STEP,
                            })
                            .collect(),
                        histograms: vec![],
                    })
                    .collect(),
            };
            let (st, _) = request(
                addr,
                "POST",
                "/api/v1/write",
                "application/x-protobuf",
                &encode_request(&req),
            );
            assert!(st / 100 == 2, "push to {addr}: status {st}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str, d: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| d.to_string())
    };
    let n_series: usize = arg("--series", "10000").parse().expect("--series");
    let iters: usize = arg("--iterations", "5").parse().expect("--iterations");
    let prom_bin = arg("--prometheus", "/usr/bin/prometheus");

    let dir = std::env::temp_dir().join(format!("promql_compare_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.yml"), "global:\n  evaluation_interval: 1m\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let paddr = format!("127.0.0.1:{port}");
    let mut prom = Command::new(&prom_bin)
        .arg(format!("--config.file={}", dir.join("p.yml").display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={paddr}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&paddr).map(|_| ()).is_err()
        || request(&paddr, "GET", "/-/ready", "text/plain", b"").0 != 200
    {
        assert!(Instant::now() < deadline, "prometheus not ready");
        std::thread::sleep(Duration::from_millis(200));
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let head = Arc::new(Head::new());
    let app = api::router(ApiState {
        querier: head.clone(),
        targets: Arc::new(NoTargets),
    })
    .merge(api::write_router(head));
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let laddr = l.local_addr().unwrap().to_string();
    rt.spawn(async move { axum::serve(l, app).await });

    let defs = series_defs(n_series);
    let t = Instant::now();
    push_all(&paddr, &defs);
    let tp = t.elapsed();
    let t = Instant::now();
    push_all(&laddr, &defs);
    eprintln!(
        "loaded {} series x {N} samples: prometheus {:.1?}, lookout {:.1?}",
        defs.len(),
        tp,
        t.elapsed()
    );

    let queries = [
        "sum by (job) (rate(x[5m]))",
        "histogram_quantile(0.99, sum by (le) (rate(lat_bucket[5m])))",
        "histogram_quantile(0.9, rate(lat_bucket[5m]))",
        "topk(10, rate(x[5m]))",
        "sum(rate(x[5m]))",
        "avg by (job) (x)",
        "count by (job) (x > 1000)",
        "max_over_time(x{job=\"j1\"}[10m])",
        "rate(x{instance=\"i7\"}[1m])",
        "sum by (job) (increase(x[1h]))",
    ];
    let (start, end) = (T0 / 1000, (T0 + (N - 1) * STEP) / 1000);
    println!(
        "{:<62} {:>12} {:>12} {:>7}",
        "query (range 1h, step 15s)", "prometheus", "lookout", "ratio"
    );
    for q in queries {
        let body = format!("query={}&start={start}&end={end}&step=15", enc(q));
        let time = |addr: &str| {
            let r = request(
                addr,
                "POST",
                "/api/v1/query_range",
                "application/x-www-form-urlencoded",
                body.as_bytes(),
            );
            assert_eq!(r.0, 200, "{q} on {addr}");
            let mut v: Vec<Duration> = (0..iters)
                .map(|_| {
                    let t = Instant::now();
                    request(
                        addr,
                        "POST",
                        "/api/v1/query_range",
                        "application/x-www-form-urlencoded",
                        body.as_bytes(),
                    );
                    t.elapsed()
                })
                .collect();
            v.sort();
            v[v.len() / 2]
        };
        let p = time(&paddr);
        let o = time(&laddr);
        println!(
            "{q:<62} {:>10.1}ms {:>10.1}ms {:>6.2}x",
            p.as_secs_f64() * 1e3,
            o.as_secs_f64() * 1e3,
            p.as_secs_f64() / o.as_secs_f64()
        );
    }
    let _ = prom.kill();
    let _ = prom.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
