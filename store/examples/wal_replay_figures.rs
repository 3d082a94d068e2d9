//! Measures WAL figures: ingest rate through the WAL, bytes per sample in segments and in a
//! checkpoint, and replay time from segments and from a checkpoint.
//!
//! `cargo run --release -p lookout-store --example wal_replay_figures -- SERIES SCRAPES DIR`
//! (DIR is deleted first). Series are a third constants, a third counters and a third
//! noisy gauges, 15 s apart, one commit per scrape.

use lookout_store::{Appendable, Db, DbOptions, FsyncPolicy, Labels, WalOptions};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(k), Some(dir)) = (
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
        args.get(2).and_then(|a| a.parse::<i64>().ok()),
        args.get(3),
    ) else {
        eprintln!("usage: wal_replay_figures SERIES SCRAPES DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let _ = std::fs::remove_dir_all(&dir);
    let opts = || DbOptions {
        checkpoint_segments: 0,
        wal: WalOptions {
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    };
    let labels: Vec<Labels> = (0..n)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 100)),
                ("instance", format!("host-{}", i / 100)),
                ("job", "node".to_string()),
            ])
        })
        .collect();
    let total = n as f64 * k as f64;
    {
        let db = Db::open(&dir, opts()).expect("open");
        let mut refs = vec![0u64; n];
        let t0 = Instant::now();
        for b in 0..k {
            let mut app = db.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                let v = match i % 3 {
                    0 => 42.0,
                    1 => (b * 10 + i as i64) as f64,
                    _ => ((b * 7919 + i as i64) % 1000) as f64 / 7.0,
                };
                let t = 1_700_000_000_000 + b * 15_000;
                *r = app.append(*r, &labels[i], t, v).expect("append");
            }
            app.commit().expect("commit");
        }
        let el = t0.elapsed().as_secs_f64();
        let st = db.wal_stats();
        println!(
            "ingest {n} series x {k} scrapes = {total} samples: {el:.2}s ({:.0} samples/s); \
             WAL {} bytes ({:.2} B/sample) in {} segments",
            total / el,
            st.bytes,
            st.bytes as f64 / total,
            st.segments
        );
    }
    let db = Db::open(&dir, opts()).expect("reopen");
    let rs = db.replay_stats().clone();
    println!(
        "replay from segments: {:.2}s ({:.0} samples/s)",
        rs.duration.as_secs_f64(),
        rs.samples as f64 / rs.duration.as_secs_f64()
    );
    let cp = db.checkpoint().expect("checkpoint");
    println!(
        "checkpoint: {:.2}s, {} bytes ({:.2} B/sample)",
        cp.duration.as_secs_f64(),
        cp.bytes,
        cp.bytes as f64 / cp.samples as f64
    );
    drop(db);
    let db = Db::open(&dir, opts()).expect("reopen after checkpoint");
    let rs = db.replay_stats().clone();
    println!(
        "replay from checkpoint: {:.2}s ({:.0} samples/s)",
        rs.duration.as_secs_f64(),
        rs.samples as f64 / rs.duration.as_secs_f64()
    );
}
