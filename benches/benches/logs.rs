//! Log pipeline benches: tail + parse + index throughput of 150-byte CRI lines, index size
//! against raw bytes, rare-term search bounded to one hour, and memory while ingesting.
//!
//! The search corpus is the issue's: 10 M lines (`LOGS_BENCH_SEARCH_LINES`) over two hours,
//! searched over the second hour. It is built once and cached under
//! `<target>/bench-data/logs-search-<lines>-v4/` (delete it to rebuild). Ingest throughput is
//! printed per wall second and per CPU second of the process (all threads: the tailer and
//! tantivy's indexing thread), the latter being the "one core" figure on a shared machine.
//! Sizes and memory are printed as `logs/...` lines before the criterion groups. Sample sizes
//! are small so the whole bench ends in a few minutes once the corpus exists.
//!
//! Run: `cargo bench -p lookout-benches --bench logs` (memory of the real binary while
//! ingesting: `benches/scripts/logs_memory.sh`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_collector::logs::{LogMetrics, TailOptions, Tailer};
use lookout_store::logs::{
    CommitPolicy, Direction, LineFilter, LineFilterOp, LogIndex, LogIndexOptions, LogLine,
    LogQuery, LogSearcher, LogWriter,
};
use lookout_store::{Labels, Matcher};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000_000_000_000;

fn words(i: u64) -> String {
    const W: [&str; 16] = [
        "GET", "POST", "user", "order", "cache", "miss", "hit", "db", "query", "took", "status",
        "200", "404", "ok", "retry", "upstream",
    ];
    let mut s = String::new();
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for _ in 0..6 {
        s.push_str(W[(x & 15) as usize]);
        s.push(' ');
        x >>= 4;
    }
    s
}

/// A ~150-byte CRI line.
fn cri_line(i: u64) -> String {
    let secs = 1_700_000_000 + i / 1000;
    let content = format!(
        "level=info ts={secs} req={:016x} {}dur={}ms",
        i.wrapping_mul(0x2545_f491_4f6c_dd1d),
        words(i),
        i % 997
    );
    let mut l = format!(
        "2023-11-14T22:13:20.{:09}Z stdout F {content}",
        i % 1_000_000_000
    );
    while l.len() < 149 {
        l.push('.');
    }
    l.push('\n');
    l
}

fn write_pod_logs(root: &Path, lines: u64) -> u64 {
    let dir = root.join("pods/bench_app-0_uid-1/app");
    std::fs::create_dir_all(&dir).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("0.log")).unwrap());
    let mut bytes = 0;
    for i in 0..lines {
        let l = cri_line(i);
        bytes += l.len() as u64;
        f.write_all(l.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    bytes
}

fn ingest(root: &Path) -> Arc<LogIndex> {
    let index = LogIndex::open(LogIndexOptions::new(root.join("data/logs/index"))).unwrap();
    let mut o = TailOptions::new(root.join("data/logs/checkpoints"));
    o.pods_root = Some(root.join("pods"));
    o.commit = CommitPolicy {
        max_lines: 200_000,
        max_interval: Duration::from_secs(5),
    };
    let mut t = Tailer::new(o, &index, Arc::new(LogMetrics::default()));
    t.scan();
    while t.pump() > 0 {}
    t.commit();
    index
}

/// CPU seconds (user + system, all threads) of this process.
fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = s.rsplit_once(") ").map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tck = 100.0; // USER_HZ on Linux
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // rest starts at field 3 (state): utime and stime are fields 14 and 15.
    (get(11) + get(12)) / tck
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn rss_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn bench_ingest(c: &mut Criterion) {
    let lines: u64 = std::env::var("LOGS_BENCH_INGEST_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    let src = tempfile::tempdir().unwrap();
    let raw = write_pod_logs(src.path(), lines);

    // Measured runs for throughput per CPU second, size and memory.
    let rss0 = rss_kb("VmRSS");
    for run in 0..3 {
        let _ = std::fs::remove_dir_all(src.path().join("data"));
        let (t, cpu0) = (Instant::now(), cpu_seconds());
        let idx = ingest(src.path());
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        let st = idx.index_stats();
        println!(
            "logs/ingest run {run}: {lines} lines, {:.1} MB raw in {secs:.2}s wall = {:.1} MB/s, {cpu:.2} CPU-s = {:.1} MB per CPU-second; index {:.1} MB = {:.3} of raw ({} segments)",
            raw as f64 / 1e6,
            raw as f64 / 1e6 / secs,
            raw as f64 / 1e6 / cpu.max(1e-9),
            st.disk_bytes as f64 / 1e6,
            st.disk_bytes as f64 / raw as f64,
            st.segments,
        );
        idx.wait_sealing();
        drop(idx);
    }
    println!(
        "logs/ingest memory: RSS before {} MB, after {} MB, peak {} MB (bench process, file in page cache)",
        rss0 / 1024,
        rss_kb("VmRSS") / 1024,
        rss_kb("VmHWM") / 1024
    );

    let mut g = c.benchmark_group("logs/tail_parse_index");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Bytes(raw));
    g.bench_function("cri_150B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let _ = std::fs::remove_dir_all(src.path().join("data"));
                let t = Instant::now();
                let idx = ingest(src.path());
                total += t.elapsed();
                drop(idx);
            }
            total
        })
    });
    g.finish();
}

/// Writes the search corpus: `n` lines over 2 hours in 20 streams, three rare needles.
fn build_search_corpus(dir: &Path, n: i64) {
    let mut o = LogIndexOptions::new(dir.join("index"));
    o.writer_memory_bytes = 128 << 20;
    let idx = LogIndex::open(o).unwrap();
    let mut w = idx.writer();
    let streams: Vec<Labels> = (0..20)
        .map(|p| {
            Labels::from_pairs([
                ("namespace", "bench".to_string()),
                ("pod", format!("pod-{p}")),
                ("container", "app".to_string()),
            ])
        })
        .collect();
    // n lines spread over 2 hours; the search covers the second hour.
    let step = 7_200_000_000_000 / n;
    let batch = 10_000;
    let mut i = 0;
    let t = Instant::now();
    while i < n {
        let texts: Vec<String> = (i..(i + batch).min(n))
            .map(|k| {
                if k % (n / 3) == 12_345 {
                    format!(
                        "level=error msg=\"payment declined\" trace=zq7rareneedle{k} {}",
                        words(k as u64)
                    )
                } else {
                    cri_line(k as u64)[31..].trim_end().to_string()
                }
            })
            .collect();
        let s = &streams[(i / batch) as usize % streams.len()];
        let lines: Vec<LogLine> = texts
            .iter()
            .enumerate()
            .map(|(j, t)| LogLine {
                ts_ns: T0 + (i + j as i64) * step,
                line: t,
                flags: 0,
            })
            .collect();
        w.append(s, &lines).unwrap();
        i += batch;
        if i % 500_000 == 0 {
            w.commit("").unwrap();
            eprintln!(
                "logs/search corpus: {i} of {n} lines after {:.0}s",
                t.elapsed().as_secs_f64()
            );
        }
    }
    w.commit("").unwrap();
    drop(w);
    idx.wait_sealing();
    idx.wait_merges().unwrap();
    std::fs::write(dir.join("complete"), n.to_string()).unwrap();
}

fn bench_search(c: &mut Criterion) {
    let n: i64 = std::env::var("LOGS_BENCH_SEARCH_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = target_dir()
        .join("bench-data")
        .join(format!("logs-search-{n}-v4"));
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = Instant::now();
        build_search_corpus(&dir, n);
        println!(
            "logs/search corpus built in {:.0}s",
            t.elapsed().as_secs_f64()
        );
    }
    let idx = LogIndex::open(LogIndexOptions::new(dir.join("index"))).unwrap();
    // Let merges started by opening the index finish, so searches are measured alone.
    idx.wait_merges().unwrap();
    println!(
        "logs/search corpus: {n} lines over 2h, index {:.1} MB, {} segments ({})",
        idx.index_stats().disk_bytes as f64 / 1e6,
        idx.index_stats().segments,
        dir.display()
    );
    let hour = LogQuery {
        matchers: vec![Matcher::equal("namespace", "bench")],
        start_ns: T0 + 3_600_000_000_000,
        end_ns: T0 + 7_200_000_000_000,
        filters: vec![],
    };
    let mut g = c.benchmark_group("logs/search_1h");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for (name, op, needle) in [
        ("word", LineFilterOp::Contains, "zq7rareneedle"),
        ("phrase", LineFilterOp::Contains, "=\"payment declined\""),
        ("regex_literal", LineFilterOp::Regex, "zq7rareneedle"),
    ] {
        let mut q = hour.clone();
        q.filters = vec![LineFilter::new(op, needle).unwrap()];
        let t = Instant::now();
        let found = idx
            .select(&q, Direction::Backward, 100, &mut |_| true)
            .unwrap()
            .len();
        println!(
            "logs/search {name}: {found} hits, first run {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                idx.select(&q, Direction::Backward, 100, &mut |_| true)
                    .unwrap()
                    .len()
            })
        });
    }
    g.bench_function("latest_100_no_filter", |b| {
        b.iter(|| {
            idx.select(&hour, Direction::Backward, 100, &mut |_| true)
                .unwrap()
                .len()
        })
    });
    // One stream of the 20 (selectors are resolved on the stream column, not postings).
    let one = LogQuery {
        matchers: vec![Matcher::equal("pod", "pod-3")],
        ..hour.clone()
    };
    g.bench_function("latest_100_one_stream", |b| {
        b.iter(|| {
            idx.select(&one, Direction::Backward, 100, &mut |_| true)
                .unwrap()
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_ingest, bench_search);
criterion_main!(benches);
