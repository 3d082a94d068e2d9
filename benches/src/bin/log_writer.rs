//! A container-runtime-like log writer for the memory benchmark: writes ~150-byte CRI lines
//! into `<pods-root>/bench_writer-<i>_uid-<i>/app/0.log` at a fixed total rate, rotating
//! like the kubelet (rename to `0.log.<n>`, keep the last `--keep-rotated` rotated files,
//! delete older; the kubelet's defaults are 10Mi and 4: `containerLogMaxSize`,
//! `containerLogMaxFiles` = 5 counting the live file).
//!
//! `cargo run --release -p lookout-benches --bin log_writer -- --help`
//!
//! Prints `wrote <lines> lines <bytes> bytes in <secs>s` at the end (and `ready` once the
//! files exist). Cost: the writer itself uses a few percent of a core at 20 MB/s.

use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// The pods root to write under.
    #[arg(long)]
    pods_root: PathBuf,
    /// Total bytes per second over all pods.
    #[arg(long, default_value_t = 20_000_000)]
    rate: u64,
    /// Seconds to write.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Number of pods (one container each) sharing the rate.
    #[arg(long, default_value_t = 4)]
    pods: usize,
    /// Rotate a file after this many bytes.
    #[arg(long, default_value_t = 50_000_000)]
    rotate_bytes: u64,
    /// Rotated files kept per container (older ones are deleted).
    #[arg(long, default_value_t = 2)]
    keep_rotated: u64,
}

struct Pod {
    dir: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    rotations: u64,
}

fn open(dir: &std::path::Path) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("0.log"))?;
    Ok(std::io::BufWriter::with_capacity(1 << 20, f))
}

fn line(i: u64, out: &mut Vec<u8>) {
    const W: [&str; 8] = [
        "GET", "POST", "user", "order", "cache", "miss", "db", "upstream",
    ];
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let start = out.len();
    let _ = write!(
        out,
        "2024-05-01T10:00:00.{:09}Z stdout F level=info req={:016x} {} {} {} took={}ms status=200",
        i % 1_000_000_000,
        x,
        W[(x & 7) as usize],
        W[((x >> 3) & 7) as usize],
        W[((x >> 6) & 7) as usize],
        i % 997
    );
    while out.len() - start < 149 {
        out.push(b'.');
    }
    out.push(b'\n');
}

fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let mut pods: Vec<Pod> = (0..a.pods.max(1))
        .map(|i| {
            let dir = a
                .pods_root
                .join(format!("bench_writer-{i}_uid-{i}"))
                .join("app");
            std::fs::create_dir_all(&dir)?;
            Ok(Pod {
                file: open(&dir)?,
                dir,
                written: 0,
                rotations: 0,
            })
        })
        .collect::<std::io::Result<_>>()?;
    println!("ready");
    let t0 = Instant::now();
    let end = Duration::from_secs(a.duration);
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(1 << 20);
    while t0.elapsed() < end {
        // Catch up to the target byte count for the elapsed time, 10 ms at a time.
        let due = (a.rate as f64 * t0.elapsed().as_secs_f64()) as u64;
        while bytes < due {
            let p = &mut pods[(lines as usize) % a.pods.max(1)];
            buf.clear();
            line(lines, &mut buf);
            p.file.write_all(&buf)?;
            p.written += buf.len() as u64;
            bytes += buf.len() as u64;
            lines += 1;
            if p.written >= a.rotate_bytes {
                p.file.flush()?;
                p.rotations += 1;
                std::fs::rename(
                    p.dir.join("0.log"),
                    p.dir.join(format!("0.log.{:06}", p.rotations)),
                )?;
                if p.rotations > a.keep_rotated {
                    let old = p.rotations - a.keep_rotated;
                    let _ = std::fs::remove_file(p.dir.join(format!("0.log.{old:06}")));
                }
                p.file = open(&p.dir)?;
                p.written = 0;
            }
        }
        for p in &mut pods {
            p.file.flush()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in &mut pods {
        p.file.flush()?;
    }
    println!(
        "wrote {lines} lines {bytes} bytes in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
