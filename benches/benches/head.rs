//! Benchmarks of the tsdb head: append throughput with cached refs (and by labels), select of
//! 1,000 series over 6h from the head and from a block holding the same samples (sealed
//! chunks), and a memory report (bytes per series holding 120 samples).
//!
//! Memory is measured with a counting global allocator in this binary: it tracks the bytes
//! requested from the system allocator (live), so the figure excludes malloc's own per-block
//! overhead (printed separately as a count of live allocations).
//!
//! Run: `cargo bench -p lookout-benches --bench head`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_store::tsdb::block::Block;
use lookout_store::tsdb::block::meta::Compaction;
use lookout_store::tsdb::block::writer::BlockWriter;
use lookout_store::tsdb::chunk::ChunkEncoder;
use lookout_store::{Appendable, Head, Labels, Matcher, Querier, SeriesRef};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are plain atomics and do not affect the allocation itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract of `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Deterministic xorshift generator (no dependency, reproducible figures).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const METRICS: [(&str, &str, &[&str], Kind); 8] = [
    (
        "node_cpu_seconds_total",
        "mode",
        &[
            "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
        ],
        Kind::FloatCounter,
    ),
    (
        "node_network_receive_bytes_total",
        "device",
        &["eth0", "eth1", "lo", "cni0"],
        Kind::IntCounter,
    ),
    (
        "node_network_transmit_bytes_total",
        "device",
        &["eth0", "eth1", "lo", "cni0"],
        Kind::IntCounter,
    ),
    (
        "node_filesystem_avail_bytes",
        "mountpoint",
        &["/", "/var", "/boot", "/run"],
        Kind::Gauge,
    ),
    (
        "node_disk_io_time_seconds_total",
        "device",
        &["sda", "sdb", "nvme0n1"],
        Kind::FloatCounter,
    ),
    (
        "node_memory_MemAvailable_bytes",
        "node",
        &["n"],
        Kind::Gauge,
    ),
    ("node_load1", "node", &["n"], Kind::FloatGauge),
    (
        "node_uname_info",
        "release",
        &["6.8.0-45-generic"],
        Kind::Constant,
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    FloatCounter,
    IntCounter,
    Gauge,
    FloatGauge,
    Constant,
}

/// One synthetic series: node-exporter-like labels (5 labels) and a value model.
struct Synth {
    labels: Labels,
    kind: Kind,
    value: f64,
}

impl Synth {
    fn next_value(&mut self, rng: &mut Rng) -> f64 {
        let r = rng.next();
        self.value = match self.kind {
            Kind::FloatCounter => self.value + (r % 1500) as f64 / 100.0,
            Kind::IntCounter => self.value + (r % 200_000) as f64,
            Kind::Gauge if r.is_multiple_of(5) => self.value + ((r >> 8) % 64) as f64 * 4096.0,
            Kind::Gauge => self.value,
            Kind::FloatGauge => ((r % 400) as f64) / 100.0,
            Kind::Constant => 1.0,
        };
        self.value
    }
}

/// About `n` series spread over node instances, 5 labels each.
fn synth_series(n: usize) -> Vec<Synth> {
    let mut out = Vec::with_capacity(n);
    'outer: for inst in 0.. {
        let instance = format!(
            "10.{}.{}.{}:9100",
            inst / 65536 % 256,
            inst / 256 % 256,
            inst % 256
        );
        for (name, label, values, kind) in METRICS {
            for v in values {
                // Two "cpus" (or a second variant) per instance for more realistic counts.
                for cpu in 0..2 {
                    if out.len() == n {
                        break 'outer;
                    }
                    let value = format!("{v}{}", if cpu == 0 { "" } else { "-1" });
                    let labels = Labels::from_pairs([
                        ("__name__", name.to_string()),
                        ("instance", instance.clone()),
                        ("job", "node-exporter".to_string()),
                        (label, value),
                        ("cpu", cpu.to_string()),
                    ]);
                    out.push(Synth {
                        labels,
                        kind,
                        value: 1.0e6,
                    });
                }
            }
        }
    }
    out
}

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 15_000;

/// Appends `rounds` scrapes of every series (one commit per round), caching refs.
fn scrape_rounds(
    head: &Head,
    series: &mut [Synth],
    refs: &mut [SeriesRef],
    rng: &mut Rng,
    from: i64,
    rounds: i64,
) {
    for round in from..from + rounds {
        let t = T0 + round * STEP + (rng.next() % 3) as i64;
        let mut app = head.appender();
        for (s, r) in series.iter_mut().zip(refs.iter_mut()) {
            let v = s.next_value(rng);
            *r = app.append(*r, &s.labels, t, v).expect("append");
        }
        app.commit().expect("commit");
    }
}

/// Prints live bytes per series after 120 scrapes of 20,000 series. `kind` overrides the
/// value model of every series (None: the node-exporter-like mix).
fn memory_report(what: &str, kind: Option<Kind>) {
    const N: usize = 20_000;
    let synth = || {
        let mut v = synth_series(N);
        if let Some(k) = kind {
            v.iter_mut().for_each(|s| s.kind = k);
        }
        v
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut series = synth();
    let mut refs = vec![0; N];
    let (b0, a0) = (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_ALLOCS.load(Ordering::Relaxed),
    );
    let head = Head::new();
    scrape_rounds(&head, &mut series, &mut refs, &mut rng, 0, 120);
    let (b1, a1) = (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_ALLOCS.load(Ordering::Relaxed),
    );
    let per_series = (b1 - b0) as f64 / N as f64;
    let allocs = (a1 - a0) as f64 / N as f64;
    // The sample data alone: the same generator encoded straight into chunks.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut series2 = synth();
    let mut encs: Vec<ChunkEncoder> = (0..N).map(|_| ChunkEncoder::new()).collect();
    for round in 0..120 {
        let t = T0 + round * STEP + (rng.next() % 3) as i64;
        for (s, e) in series2.iter_mut().zip(encs.iter_mut()) {
            e.append(t, s.next_value(&mut rng)).expect("encode");
        }
    }
    let data = encs.iter().map(|e| e.bytes().len()).sum::<usize>() as f64 / N as f64;
    let labels: usize = series
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .map(|l| l.name.len() + l.value.len())
                .sum::<usize>()
        })
        .sum();
    println!(
        "head memory ({what}): {N} series x 120 samples: {per_series:.0} bytes/series requested \
         from the allocator ({allocs:.1} live allocations/series, malloc overhead not included): \
         compressed samples {data:.0} bytes/series ({:.2} bytes/sample) + head overhead {:.0} \
         bytes/series (label strings alone {:.0}); num_chunks={} num_series={}",
        data / 120.0,
        per_series - data,
        labels as f64 / N as f64,
        head.num_chunks(),
        head.num_series(),
    );
    drop(head);
}

fn bench_append(c: &mut Criterion) {
    memory_report("node-exporter-like mix", None);
    memory_report("all series constant", Some(Kind::Constant));
    let mut g = c.benchmark_group("head");
    g.sample_size(20).measurement_time(Duration::from_secs(6));
    const N: usize = 10_000;
    g.throughput(Throughput::Elements(N as u64));
    {
        let head = Head::new();
        let mut rng = Rng(7);
        let mut series = synth_series(N);
        let mut refs = vec![0; N];
        scrape_rounds(&head, &mut series, &mut refs, &mut rng, 0, 1);
        let mut round = 1;
        g.bench_function("append_cached_refs_10k_series", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                scrape_rounds(&head, &mut series, &mut refs, &mut rng, round, iters as i64);
                round += iters as i64;
                start.elapsed()
            })
        });
    }
    {
        let head = Head::new();
        let mut rng = Rng(11);
        let mut series = synth_series(N);
        let mut refs = vec![0; N];
        scrape_rounds(&head, &mut series, &mut refs, &mut rng, 0, 1);
        let mut round = 1;
        g.bench_function("append_by_labels_10k_series", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    // r = 0: every sample hashes and compares its labels.
                    refs.iter_mut().for_each(|r| *r = 0);
                    scrape_rounds(&head, &mut series, &mut refs, &mut rng, round, 1);
                    round += 1;
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn bench_select(c: &mut Criterion) {
    // Exactly 1,000 node_cpu_seconds_total series among 5,000; 6h at 15s = 1,440 samples each.
    let is_cpu = |s: &Synth| s.labels.metric_name() == Some("node_cpu_seconds_total");
    let (cpu, other): (Vec<Synth>, Vec<Synth>) = synth_series(20_000).into_iter().partition(is_cpu);
    let mut all: Vec<Synth> = cpu
        .into_iter()
        .take(1_000)
        .chain(other.into_iter().take(4_000))
        .collect();
    let head = Head::new();
    let mut rng = Rng(3);
    let mut refs = vec![0; all.len()];
    scrape_rounds(&head, &mut all, &mut refs, &mut rng, 0, 6 * 240);
    let want = vec![Matcher::equal("__name__", "node_cpu_seconds_total")];
    let got = head.select(&want, i64::MIN, i64::MAX).expect("select");
    let samples: usize = got.iter().map(|s| s.samples.len()).sum();
    assert_eq!(got.len(), 1_000);
    println!(
        "select fixture: {} of {} series, {} samples",
        got.len(),
        head.num_series(),
        samples
    );
    let mut g = c.benchmark_group("head");
    g.sample_size(20).measurement_time(Duration::from_secs(6));
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("select_1000_series_6h", |b| {
        b.iter(|| {
            black_box(
                head.select(&want, T0, T0 + 6 * 3600 * 1000)
                    .expect("select"),
            )
        })
    });
    let end = T0 + 6 * 3600 * 1000;
    let last_5m: usize = head
        .select(&want, end - 300_000, end)
        .expect("select")
        .iter()
        .map(|s| s.samples.len())
        .sum();
    g.throughput(Throughput::Elements(last_5m as u64));
    g.bench_function("select_1000_series_last_5m", |b| {
        b.iter(|| black_box(head.select(&want, end - 300_000, end).expect("select")))
    });
    g.finish();

    // The same samples sealed into one block (as a 6 h compaction writes them).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = BlockWriter::create(dir.path()).expect("block writer");
    for s in head.select(&[], i64::MIN, i64::MAX).expect("select all") {
        w.add_series(s.labels, &s.samples).expect("add series");
    }
    let (meta, bdir) = w
        .finish(T0, end + 1, Compaction::default())
        .expect("finish")
        .expect("block");
    let block = Block::open(&bdir).expect("open block");
    let from_block = block.select(&want, T0, end).expect("block select");
    assert_eq!(from_block, head.select(&want, T0, end).expect("select"));
    println!(
        "block fixture: {} series, {} samples, {} bytes on disk",
        meta.stats.num_series,
        meta.stats.num_samples,
        block.size_bytes()
    );
    let mut g = c.benchmark_group("block");
    g.sample_size(20).measurement_time(Duration::from_secs(6));
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("select_1000_series_6h", |b| {
        b.iter(|| black_box(block.select(&want, T0, end).expect("select")))
    });
    g.throughput(Throughput::Elements(last_5m as u64));
    g.bench_function("select_1000_series_last_5m", |b| {
        b.iter(|| black_box(block.select(&want, end - 300_000, end).expect("select")))
    });
    g.finish();
}

fn bench_chunk(c: &mut Criterion) {
    // One chunk of 120 node_cpu_seconds_total-like samples (float counter, ms jitter).
    let mut rng = Rng(5);
    let mut s = synth_series(1).pop().expect("one series");
    s.kind = Kind::FloatCounter;
    let samples: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            (
                T0 + i * STEP + (rng.next() % 3) as i64,
                s.next_value(&mut rng),
            )
        })
        .collect();
    let chunk = lookout_store::tsdb::chunk::Chunk::encode(&samples).expect("encode");
    let mut g = c.benchmark_group("chunk");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(120));
    g.bench_function("encode_120", |b| {
        b.iter(|| {
            let mut e = ChunkEncoder::new();
            for &(t, v) in &samples {
                e.append(t, v).expect("increasing");
            }
            black_box(e.finish())
        })
    });
    g.bench_function("decode_120", |b| {
        b.iter(|| black_box(chunk.iter().fold(0.0, |acc, (_, v)| acc + v)))
    });
    g.finish();
}

criterion_group!(benches, bench_append, bench_select, bench_chunk);
criterion_main!(benches);
