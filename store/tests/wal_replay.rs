//! WAL behaviour through `Db`: replay after reopen, stable refs, torn and corrupt tails,
//! checkpoints at truncation, segment rotation, a full disk (injected write errors), and the
//! single-process lock.

use lookout_store::tsdb::wal::{FaultInjector, segment};
use lookout_store::{
    Appendable, Db, DbOptions, Error, FsyncPolicy, HeadOptions, Labels, MatchOp, Matcher, Querier,
    SeriesRef, WalOptions, stale_nan,
};
use std::path::Path;
use std::sync::Arc;

fn opts() -> DbOptions {
    DbOptions {
        head: HeadOptions::default(),
        wal: WalOptions {
            fsync: FsyncPolicy::EveryCommit,
            ..WalOptions::default()
        },
        checkpoint_segments: 0,
        retention_ms: 0,
        ..DbOptions::default()
    }
}

fn lbl(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

/// Commits `batches` batches of one sample per series (t = 1000*b, v = b*100 + i).
fn fill(db: &Db, series: usize, batches: std::ops::Range<i64>) -> Vec<SeriesRef> {
    let mut refs = vec![0; series];
    for b in batches {
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app
                .append(*r, &lbl(i), b * 1000, (b * 100 + i as i64) as f64)
                .expect("append");
        }
        app.commit().expect("commit");
    }
    refs
}

fn all(q: &dyn Querier) -> Vec<lookout_store::Series> {
    let m = Matcher::new(MatchOp::Equal, "__name__", "m").expect("matcher");
    q.select(&[m], i64::MIN, i64::MAX).expect("select")
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let wal = dir.join("wal");
    let l = segment::list(&wal).expect("list");
    let last = *l.segments.last().expect("a segment");
    segment::segment_path(&wal, last)
}

#[test]
fn reopen_restores_samples_and_refs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (before, refs) = {
        let db = Db::open(dir.path(), opts()).expect("open");
        let refs = fill(&db, 50, 0..30);
        // A staleness marker and an explicit label lookup survive too.
        let mut app = db.appender();
        app.append(refs[3], &lbl(3), 40_000, stale_nan())
            .expect("stale");
        app.commit().expect("commit");
        (all(&*db.head().clone()), refs)
    };
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.replay_stats().corruptions, 0);
    assert_eq!(db.replay_stats().samples, 50 * 30 + 1);
    let after = all(&db);
    assert_eq!(after.len(), 50);
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.labels, b.labels);
        let bits = |s: &lookout_store::Series| -> Vec<(i64, u64)> {
            s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
        };
        assert_eq!(bits(a), bits(b));
    }
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(db.head().series_ref(&lbl(i)), Some(*r), "ref of series {i}");
    }
    // New series get refs beyond every replayed one.
    let mut app = db.appender();
    let fresh = app.append(0, &lbl(999), 50_000, 1.0).expect("append");
    app.commit().expect("commit");
    assert!(fresh > *refs.iter().max().expect("refs"));
}

#[test]
fn torn_tail_is_truncated_with_earlier_records_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), opts()).expect("open");
        fill(&db, 10, 0..5);
    }
    // Chop the last record in half (as a crash mid-write would).
    let seg = last_segment(dir.path());
    let len = std::fs::metadata(&seg).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    f.set_len(len - 30).expect("truncate");
    drop(f);
    let db = Db::open(dir.path(), opts()).expect("reopen despite a torn tail");
    assert_eq!(db.replay_stats().corruptions, 1);
    let got = all(&db);
    // Batches 0..4 are whole; the last batch is gone entirely (one record per commit).
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|s| s.samples.len() == 4), "{got:?}");
    // The segment was cut back to whole records: a second open finds nothing wrong, and
    // appending continues.
    drop(db);
    let db = Db::open(dir.path(), opts()).expect("third open");
    assert_eq!(db.replay_stats().corruptions, 0);
    fill(&db, 10, 4..6);
    assert!(all(&db).iter().all(|s| s.samples.len() == 6));
}

#[test]
fn flipped_byte_stops_the_segment_but_not_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), opts()).expect("open");
        fill(&db, 4, 0..10);
    }
    let seg = last_segment(dir.path());
    let mut bytes = std::fs::read(&seg).expect("read");
    let at = bytes.len() * 3 / 4;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, &bytes).expect("write");
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.replay_stats().corruptions, 1);
    let got = all(&db);
    let n = got[0].samples.len();
    assert!((1..10).contains(&n), "kept {n} batches");
    // Whatever was kept is an exact prefix of what was written.
    for s in &got {
        assert_eq!(s.samples.len(), n);
        for (b, &(t, _)) in s.samples.iter().enumerate() {
            assert_eq!(t, b as i64 * 1000);
        }
    }
    // Garbage after the magic of a fresh, otherwise empty segment.
    drop(db);
    let next = last_segment(dir.path());
    std::fs::write(&next, b"LKWAL\x00\x00\x01garbage!").expect("write");
    let db = Db::open(dir.path(), opts()).expect("reopen with garbage");
    assert_eq!(db.replay_stats().corruptions, 1);
    assert_eq!(all(&db)[0].samples.len(), n);
}

#[test]
fn checkpoint_at_truncation_bounds_replay_and_keeps_the_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = DbOptions {
        wal: WalOptions {
            segment_size: 4096,
            ..opts().wal
        },
        ..opts()
    };
    {
        let db = Db::open(dir.path(), o.clone()).expect("open");
        fill(&db, 20, 0..200);
        let segs_before = db.wal_stats().segments;
        assert!(segs_before > 5, "{segs_before} segments");
        let (tr, cp) = db.truncate_before(150_000).expect("truncate");
        assert!(tr.chunks_removed > 0);
        assert_eq!(cp.series, 20);
        assert!(cp.segments_removed >= segs_before - 1, "{cp:?}");
        assert!(db.wal_stats().segments <= 2);
        fill(&db, 20, 200..210);
    }
    let db = Db::open(dir.path(), o).expect("reopen");
    assert!(db.replay_stats().checkpoint.is_some());
    let got = all(&db);
    assert_eq!(got.len(), 20);
    for s in &got {
        let ts: Vec<i64> = s.samples.iter().map(|x| x.0).collect();
        let want: Vec<i64> = (150..210).map(|b| b * 1000).collect();
        assert_eq!(ts, want, "{}", s.labels);
    }
    // Truncated data stays rejected after the restart.
    let mut app = db.appender();
    let err = app.append(0, &lbl(0), 1000, 1.0).expect_err("too old");
    assert!(matches!(err, Error::TooOld));
}

#[test]
fn full_disk_fails_commits_cleanly_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = Arc::new(FaultInjector::default());
    let o = DbOptions {
        wal: WalOptions {
            fault: Some(fault.clone()),
            ..opts().wal
        },
        ..opts()
    };
    {
        let db = Db::open(dir.path(), o.clone()).expect("open");
        fill(&db, 5, 0..3);
        fault.set_disk_full(true);
        for b in 3..6 {
            let mut app = db.appender();
            for i in 0..5 {
                app.append(0, &lbl(i), b * 1000, 1.0)
                    .expect("append is in memory");
            }
            // A brand-new series too: its record must not be lost either.
            app.append(0, &lbl(77), b * 1000, 1.0).expect("append");
            let err = app.commit().expect_err("disk full");
            assert!(matches!(err, Error::WalWrite { .. }), "{err}");
            assert!(err.to_string().contains("No space left"), "{err}");
        }
        assert_eq!(db.wal_stats().write_failures, 3);
        // Nothing of the failed batches is visible.
        assert!(all(&db).iter().all(|s| s.samples.len() == 3));
        fault.set_disk_full(false);
        fill(&db, 5, 6..8);
        let mut app = db.appender();
        app.append(0, &lbl(77), 8000, 2.0).expect("append");
        app.commit().expect("commit after space returned");
    }
    let db = Db::open(dir.path(), o).expect("reopen");
    assert_eq!(db.replay_stats().corruptions, 0, "{:?}", db.replay_stats());
    assert_eq!(db.replay_stats().unknown_refs, 0);
    let got = all(&db);
    assert_eq!(got.len(), 6);
    for s in got {
        let ts: Vec<i64> = s.samples.iter().map(|x| x.0).collect();
        if s.labels.get("i") == Some("77") {
            assert_eq!(ts, vec![8000]);
        } else {
            assert_eq!(ts, vec![0, 1000, 2000, 6000, 7000]);
        }
    }
}

#[test]
fn second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _db = Db::open(dir.path(), opts()).expect("open");
    let err = Db::open(dir.path(), opts()).expect_err("locked");
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn interval_policy_syncs_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = DbOptions {
        wal: WalOptions {
            fsync: FsyncPolicy::Interval(std::time::Duration::from_millis(10)),
            ..WalOptions::default()
        },
        ..opts()
    };
    let db = Db::open(dir.path(), o).expect("open");
    fill(&db, 3, 0..4);
    let written = db.wal_stats().written_seq;
    assert_eq!(written, 4);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.wal_stats().synced_seq < written {
        assert!(std::time::Instant::now() < deadline, "never synced");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(db.wal_stats().fsyncs >= 1);
}

#[test]
fn checkpoints_racing_concurrent_commits_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = DbOptions {
        wal: WalOptions {
            segment_size: 8 << 10,
            fsync: FsyncPolicy::Interval(std::time::Duration::from_millis(2)),
            ..WalOptions::default()
        },
        ..opts()
    };
    const THREADS: usize = 3;
    const COMMITS: i64 = 150;
    {
        let db = Db::open(dir.path(), o.clone()).expect("open");
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..THREADS)
                .map(|w| {
                    let db = &db;
                    s.spawn(move || {
                        let mut refs = [0; 20];
                        for b in 0..COMMITS {
                            let mut app = db.appender();
                            for (i, r) in refs.iter_mut().enumerate() {
                                *r = app
                                    .append(*r, &lbl(w * 100 + i), b, (b * 7 + i as i64) as f64)
                                    .expect("append");
                            }
                            app.commit().expect("commit");
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    db.checkpoint().expect("checkpoint");
                    n += 1;
                    std::thread::sleep(std::time::Duration::from_millis(3));
                }
                assert!(n > 1, "only {n} checkpoints ran");
            });
            for w in writers {
                w.join().expect("writer");
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert!(db.wal_stats().checkpoints > 1);
    }
    let db = Db::open(dir.path(), o).expect("reopen");
    assert!(db.replay_stats().checkpoint.is_some());
    let got = all(&db);
    assert_eq!(got.len(), THREADS * 20);
    for s in got {
        let i: i64 = s.labels.get("i").and_then(|x| x.parse().ok()).expect("i");
        let want: Vec<(i64, f64)> = (0..COMMITS)
            .map(|b| (b, (b * 7 + i % 100) as f64))
            .collect();
        assert_eq!(s.samples, want, "{}", s.labels);
    }
    let mut text = String::new();
    db.render_metrics(&mut text);
    assert!(
        text.contains("# TYPE lookout_tsdb_wal_fsync_duration_seconds summary"),
        "{text}"
    );
    assert!(
        text.contains("lookout_tsdb_wal_replayed_samples "),
        "{text}"
    );
    assert!(
        text.contains("lookout_tsdb_wal_corruptions_total 0"),
        "{text}"
    );
}
