//! Crash test: a writer process (`wal_crash_writer`) ingests numbered batches and reports
//! which are fsynced; it is SIGKILLed at random moments 50 times and restarted. After each
//! kill the store is opened here and must hold every acknowledged batch, each batch whole or
//! not at all, batches without gaps, every value exact, no duplicate timestamps.
//!
//! Set `WAL_CRASH_SEED` to replay a run; the seed is printed.

use lookout_store::{Db, DbOptions, Labels, MatchOp, Matcher, Querier, WalOptions};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KILLS: usize = 50;

// Mirrors of the writer's batch contents (src/bin/wal_crash_writer.rs).
fn series_in(b: i64) -> usize {
    (20 + b / 2).min(300) as usize
}

fn value_of(b: i64, i: usize) -> f64 {
    if i.is_multiple_of(13) && b % 7 == 3 {
        lookout_store::stale_nan()
    } else {
        (b * 1000 + i as i64) as f64 + 0.25
    }
}

/// The first batch that writes to series `i`.
fn first_batch(i: usize) -> i64 {
    (0..).find(|&b| series_in(b) > i).unwrap_or(0)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the writer until a random moment after it is ready; returns (ready batch, last ack).
fn run_and_kill(dir: &std::path::Path, mode: &str, rng: &mut Rng) -> (i64, Option<i64>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wal_crash_writer"))
        .arg(dir)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("writer never became ready");
    let ready: i64 = first
        .strip_prefix("ready ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    // Kill somewhere between "right away" and a few hundred commits in.
    std::thread::sleep(Duration::from_micros(rng.next() % 150_000));
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "writer exited on its own: {status}");
    reader.join().expect("reader thread");
    let mut ack = None;
    for line in rx.try_iter() {
        if let Some(n) = line.strip_prefix("ack ") {
            ack = Some(n.parse::<i64>().expect("ack number"));
        }
    }
    (ready, ack)
}

/// Opens the store and checks it; returns the newest batch stored and the number of
/// damaged tails the replay repaired.
fn verify(dir: &std::path::Path, acked: Option<i64>, round: usize) -> (Option<i64>, u64) {
    let db = Db::open(
        dir,
        DbOptions {
            wal: WalOptions {
                segment_size: 64 << 10,
                ..WalOptions::default()
            },
            checkpoint_segments: 0,
            ..DbOptions::default()
        },
    )
    .expect("reopen after kill");
    let rs = db.replay_stats().clone();
    assert_eq!(rs.unknown_refs, 0, "round {round}: {rs:?}");
    assert_eq!(rs.bad_series, 0, "round {round}: {rs:?}");
    let m = Matcher::new(MatchOp::Equal, "__name__", "crash_test").expect("matcher");
    let got = db.select(&[m], i64::MIN, i64::MAX).expect("select");
    let newest = db.head().max_time().map(|t| t / 1000);
    if let Some(a) = acked {
        let n = newest.unwrap_or_else(|| panic!("round {round}: nothing stored, acked {a}"));
        assert!(n >= a, "round {round}: newest batch {n} < acknowledged {a}");
    }
    let Some(last) = newest else {
        assert!(got.is_empty());
        return (None, rs.corruptions);
    };
    // Exactly the series the batches up to `last` wrote, each with every batch since its
    // first: a batch is stored whole or not at all, with no gap and no duplicate.
    assert_eq!(got.len(), series_in(last), "round {round}: series count");
    for s in &got {
        let i: usize = s
            .labels
            .get("series")
            .and_then(|x| x.parse().ok())
            .expect("series label");
        let want: Vec<(i64, u64)> = (first_batch(i)..=last)
            .map(|b| (b * 1000, value_of(b, i).to_bits()))
            .collect();
        let have: Vec<(i64, u64)> = s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(have, want, "round {round}: series {i}");
    }
    let want = Labels::from_pairs([("__name__", "crash_test"), ("series", "0")]);
    assert!(db.head().series_ref(&want).is_some());
    (Some(last), rs.corruptions)
}

/// A kill never interrupts a `write` half-way, but a power loss can leave the last,
/// unacknowledged write half on disk: append a random partial frame to the newest segment.
fn tear_tail(dir: &std::path::Path, rng: &mut Rng) {
    use std::io::Write;
    let wal = dir.join("wal");
    let l = lookout_store::tsdb::wal::segment::list(&wal).expect("list");
    let Some(&last) = l.segments.last() else {
        return;
    };
    let path = lookout_store::tsdb::wal::segment::segment_path(&wal, last);
    let n = 1 + (rng.next() % 40) as usize;
    let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open segment");
    f.write_all(&junk).expect("append junk");
}

#[test]
fn sigkilled_writer_loses_nothing_acknowledged() {
    let seed = std::env::var("WAL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("WAL_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    let mut acked: Option<i64> = None;
    let mut stored: Option<i64> = None;
    let mut total_acks = 0;
    let mut repaired = 0;
    for round in 0..KILLS {
        let mode = if round % 2 == 0 { "every" } else { "interval" };
        let (ready, ack) = run_and_kill(dir.path(), mode, &mut rng);
        // The writer resumes right after what the store held.
        assert_eq!(ready, stored.map_or(0, |s| s + 1), "round {round}");
        if let Some(a) = ack {
            total_acks += 1;
            acked = Some(acked.map_or(a, |x| x.max(a)));
        }
        if round % 5 == 4 {
            tear_tail(dir.path(), &mut rng);
        }
        let (s, c) = verify(dir.path(), acked, round);
        stored = s;
        repaired += c;
    }
    eprintln!(
        "{KILLS} kills in {:.1}s, {total_acks} rounds acknowledged batches, newest batch {stored:?}, \
         {repaired} torn tails repaired",
        start.elapsed().as_secs_f64()
    );
    assert!(repaired >= (KILLS / 5) as u64, "torn tails went unnoticed");
    assert!(total_acks >= KILLS / 2, "too few rounds got anything done");
    assert!(
        stored.is_some_and(|s| s > 100),
        "writer made too little progress"
    );
}
