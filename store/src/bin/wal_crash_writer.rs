//! Test helper for `tests/wal_crash.rs`: ingests numbered batches into a `Db` until killed,
//! printing which batches are acknowledged (fsynced).
//!
//! Usage: `wal_crash_writer <dir> every|interval`. On start it replays the store, prints
//! `ready <next batch>`, then commits batch after batch, resuming after the newest batch it
//! finds. Batch `b` writes one sample at `t = b * 1000` to each of the first
//! [`series_in`]`(b)` series (`value_of(b, i)`); series are created as batches grow, with
//! cached refs after that. A line `ack <b>` means batch `b` and all before it are fsynced:
//! under `every` after each commit returns, under `interval` when the background fsync has
//! covered it. Small segments and a checkpoint every 40 batches exercise rotation and
//! checkpoints under the kill. Not part of lookout; it exists for the crash test.

use lookout_store::{
    Appendable, Db, DbOptions, FsyncPolicy, HeadOptions, Labels, SeriesRef, WalOptions,
};
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

/// Number of series batch `b` writes to.
pub fn series_in(b: i64) -> usize {
    (20 + b / 2).min(300) as usize
}

/// The value of series `i` in batch `b` (every 7th sample of series divisible by 13 is a
/// staleness marker).
pub fn value_of(b: i64, i: usize) -> f64 {
    if i.is_multiple_of(13) && b % 7 == 3 {
        lookout_store::stale_nan()
    } else {
        (b * 1000 + i as i64) as f64 + 0.25
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "crash_test".to_string()),
        ("series", i.to_string()),
    ])
}

fn main() {
    if let Err(e) = run() {
        eprintln!("wal_crash_writer: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(mode)) = (args.get(1), args.get(2)) else {
        return Err("usage: wal_crash_writer <dir> every|interval".into());
    };
    let fsync = match mode.as_str() {
        "every" => FsyncPolicy::EveryCommit,
        "interval" => FsyncPolicy::Interval(Duration::from_millis(5)),
        other => return Err(format!("unknown mode {other:?}")),
    };
    let db = Db::open(
        dir,
        DbOptions {
            head: HeadOptions::default(),
            wal: WalOptions {
                segment_size: 64 << 10,
                fsync,
                fault: None,
            },
            checkpoint_segments: 0,
            retention_ms: 0,
            ..DbOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let head = db.head();
    let mut b = head.max_time().map_or(0, |t| t / 1000 + 1);
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    };
    say(format!("ready {b}"));
    let mut refs: Vec<SeriesRef> = Vec::new();
    // (commit sequence number, batch) not yet known to be fsynced.
    let mut unsynced: VecDeque<(u64, i64)> = VecDeque::new();
    loop {
        let n = series_in(b);
        refs.resize(n, 0);
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app
                .append(*r, &labels(i), b * 1000, value_of(b, i))
                .map_err(|e| format!("append batch {b} series {i}: {e}"))?;
        }
        app.commit().map_err(|e| format!("commit batch {b}: {e}"))?;
        match fsync {
            FsyncPolicy::EveryCommit => say(format!("ack {b}")),
            FsyncPolicy::Interval(_) => {
                unsynced.push_back((db.wal().written_seq(), b));
                let synced = db.wal().synced_seq();
                let mut acked = None;
                while unsynced.front().is_some_and(|&(s, _)| s <= synced) {
                    acked = unsynced.pop_front().map(|x| x.1);
                }
                if let Some(a) = acked {
                    say(format!("ack {a}"));
                }
            }
        }
        if b % 40 == 39 {
            db.checkpoint().map_err(|e| format!("checkpoint: {e}"))?;
        }
        b += 1;
    }
}
