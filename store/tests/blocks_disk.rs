//! Blocks on disk: damaged blocks are refused (others still served), interrupted block
//! writes and compactions are repaired at open, a head cut interrupted before its WAL
//! checkpoint does not duplicate samples, and retention deletes whole blocks by age and size.

use lookout_store::{
    Appendable, Db, DbOptions, FsyncPolicy, HeadOptions, Labels, MatchOp, Matcher, Querier, Series,
    WalOptions,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const RANGE: i64 = 60_000;
const STEP: i64 = 1_000;
const SERIES: usize = 4;
/// End of the data `four_blocks` writes: the head then spans less than 1.5 ranges.
const END: i64 = 5 * RANGE + 2 * RANGE / 5;

fn options() -> DbOptions {
    DbOptions {
        head: HeadOptions::default(),
        wal: WalOptions {
            fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
            ..WalOptions::default()
        },
        block_range_ms: RANGE,
        // No merging unless a test asks for it.
        max_block_range_ms: RANGE,
        compact_interval: Duration::ZERO,
        ..DbOptions::default()
    }
}

fn lbl(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

/// Appends one sample per series every STEP ms in `[from, to)`; value = t/1000 + i.
fn fill(db: &Db, from: i64, to: i64) {
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..SERIES {
            app.append(0, &lbl(i), t, (t / 1000) as f64 + i as f64)
                .expect("append");
        }
        app.commit().expect("commit");
        t += STEP;
    }
}

fn expected(from: i64, to: i64) -> Vec<Series> {
    (0..SERIES)
        .map(|i| Series {
            labels: lbl(i),
            samples: (from / STEP..to / STEP)
                .map(|k| (k * STEP, (k * STEP / 1000) as f64 + i as f64))
                .collect(),
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|s| (s.labels.clone(), s))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect()
}

fn all(db: &Db, mint: i64, maxt: i64) -> lookout_store::Result<Vec<Series>> {
    db.select(
        &[Matcher::new(MatchOp::Equal, "__name__", "m").expect("m")],
        mint,
        maxt,
    )
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("blocks"))
        .expect("blocks dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// A store holding four blocks (`[0, 4 RANGE)`) and a head up to END.
fn four_blocks(dir: &Path) -> Db {
    let db = Db::open(dir, options()).expect("open");
    fill(&db, 0, END);
    let st = db.compact().expect("compact");
    assert_eq!(st.head_blocks, 4);
    assert_eq!(db.blocks().len(), 4);
    db
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
    }
}

#[test]
fn damaged_index_refuses_that_block_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let end = END;
    drop(four_blocks(dir.path()));
    let victim = block_dirs(dir.path())[1].clone();
    let index = victim.join("index");
    let mut b = std::fs::read(&index).expect("read");
    let mid = b.len() / 3;
    b[mid] ^= 0x40;
    std::fs::write(&index, &b).expect("write");

    let db = Db::open(dir.path(), options()).expect("a damaged block does not stop the store");
    let refused = db.refused_blocks();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].dir, victim);
    assert!(
        refused[0].error.contains("checksum mismatch"),
        "{}",
        refused[0].error
    );
    assert_eq!(db.blocks().len(), 3);
    // Everything but the damaged block's range is still served.
    let got = all(&db, i64::MIN, i64::MAX).expect("select");
    let mut want = expected(0, RANGE);
    for (w, rest) in want.iter_mut().zip(expected(2 * RANGE, end)) {
        w.samples.extend(rest.samples);
    }
    assert_eq!(got, want);
    // The refused block is left on disk for inspection, and a later maintenance pass
    // neither deletes nor rewrites it.
    db.compact().expect("compact");
    assert!(victim.exists());
}

#[test]
fn damaged_chunk_fails_queries_of_its_range_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(four_blocks(dir.path()));
    let victim = block_dirs(dir.path())[2].clone();
    let chunks = victim.join("chunks");
    let mut b = std::fs::read(&chunks).expect("read");
    let at = b.len() - 20;
    b[at] ^= 0x01;
    std::fs::write(&chunks, &b).expect("write");
    let db = Db::open(dir.path(), options()).expect("open");
    let e = all(&db, 2 * RANGE, 3 * RANGE - 1).expect_err("damaged chunk read");
    let msg = e.to_string();
    assert!(
        msg.contains("checksum mismatch") && msg.contains(&*victim.to_string_lossy()),
        "{msg}"
    );
    assert_eq!(
        all(&db, 0, 2 * RANGE - 1).expect("other blocks"),
        expected(0, 2 * RANGE)
    );
}

#[test]
fn unfinished_block_directory_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let end = END;
    drop(four_blocks(dir.path()));
    // A crash while writing a block leaves `<id>.tmp` with whatever was written.
    let first = block_dirs(dir.path())[0].clone();
    let name = first
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let partial = dir
        .path()
        .join("blocks")
        .join(format!("{}.tmp", name.replace('0', "1")));
    copy_dir(&first, &partial);
    std::fs::remove_file(partial.join("index")).expect("rm");
    let db = Db::open(dir.path(), options()).expect("open");
    assert!(!partial.exists());
    assert!(db.refused_blocks().is_empty());
    assert_eq!(
        all(&db, i64::MIN, i64::MAX).expect("select"),
        expected(0, end)
    );
}

#[test]
fn compaction_interrupted_before_deleting_sources_is_finished_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let end = END;
    drop(four_blocks(dir.path()));
    let saved = tempfile::tempdir().expect("tempdir");
    let parents = block_dirs(dir.path());
    for p in &parents {
        copy_dir(p, &saved.path().join(p.file_name().expect("name")));
    }
    let merging = DbOptions {
        max_block_range_ms: 3 * RANGE,
        ..options()
    };
    {
        let db = Db::open(dir.path(), merging.clone()).expect("open");
        let st = db.compact().expect("compact");
        assert!(st.compactions >= 1, "{st:?}");
        assert_eq!(
            all(&db, i64::MIN, i64::MAX).expect("select"),
            expected(0, end)
        );
    }
    // Put the parents back, as if the process died after the new block was renamed into
    // place but before its sources were deleted: parents and child both on disk.
    let child_count = block_dirs(dir.path()).len();
    for p in &parents {
        copy_dir(&saved.path().join(p.file_name().expect("name")), p);
    }
    let db = Db::open(dir.path(), options()).expect("reopen");
    let ids: Vec<String> = db.blocks().iter().map(|b| b.id().to_string()).collect();
    assert_eq!(ids.len(), child_count, "{ids:?}");
    let merged = db
        .blocks()
        .into_iter()
        .find(|b| b.meta().compaction.level == 2)
        .expect("merged block");
    for p in &merged.meta().compaction.parents {
        assert!(
            !dir.path().join("blocks").join(p).exists(),
            "parent {p} still on disk"
        );
    }
    assert_eq!(
        all(&db, i64::MIN, i64::MAX).expect("select"),
        expected(0, end)
    );
}

#[test]
fn damaged_child_keeps_its_parents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let end = END;
    drop(four_blocks(dir.path()));
    let saved = tempfile::tempdir().expect("tempdir");
    let parents = block_dirs(dir.path());
    for p in &parents {
        copy_dir(p, &saved.path().join(p.file_name().expect("name")));
    }
    let merging = DbOptions {
        max_block_range_ms: 3 * RANGE,
        ..options()
    };
    let child = {
        let db = Db::open(dir.path(), merging).expect("open");
        db.compact().expect("compact");
        db.blocks()
            .into_iter()
            .find(|b| b.meta().compaction.level == 2)
            .expect("child")
            .dir()
            .to_path_buf()
    };
    for p in &parents {
        copy_dir(&saved.path().join(p.file_name().expect("name")), p);
    }
    let index = child.join("index");
    let mut b = std::fs::read(&index).expect("read");
    b[10] ^= 0xff;
    std::fs::write(&index, &b).expect("write");
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.refused_blocks().len(), 1);
    assert_eq!(
        db.blocks().len(),
        4,
        "parents must stay when the child is unreadable"
    );
    assert_eq!(
        all(&db, i64::MIN, i64::MAX).expect("select"),
        expected(0, end)
    );
}

#[test]
fn head_cut_interrupted_before_checkpoint_does_not_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let end = 2 * RANGE;
    let saved_wal = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), options()).expect("open");
        fill(&db, 0, end);
        db.sync().expect("sync");
        copy_dir(&dir.path().join("wal"), saved_wal.path());
        assert_eq!(db.compact().expect("compact").head_blocks, 1);
    }
    // The block is durable but the WAL still holds everything (crash before checkpoint).
    std::fs::remove_dir_all(dir.path().join("wal")).expect("rm wal");
    copy_dir(saved_wal.path(), &dir.path().join("wal"));
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.blocks().len(), 1);
    let rs = db.replay_stats();
    assert_eq!(rs.samples, (RANGE / STEP) as u64 * SERIES as u64, "{rs:?}");
    assert_eq!(
        all(&db, i64::MIN, i64::MAX).expect("select"),
        expected(0, end)
    );
    // A later pass does not write the same range again.
    fill(&db, end, end + RANGE);
    db.compact().expect("compact");
    let ranges: Vec<(i64, i64)> = db
        .blocks()
        .iter()
        .map(|b| (b.meta().min_time, b.meta().max_time))
        .collect();
    assert_eq!(ranges, vec![(0, RANGE), (RANGE, 2 * RANGE)]);
    assert_eq!(
        all(&db, i64::MIN, i64::MAX).expect("select"),
        expected(0, end + RANGE)
    );
}

#[test]
fn retention_by_time_deletes_old_blocks_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let end = END;
    drop(four_blocks(dir.path()));
    let db = Db::open(
        dir.path(),
        DbOptions {
            retention_ms: 3 * RANGE,
            ..options()
        },
    )
    .expect("open");
    let st = db.compact().expect("compact");
    // Newest sample at end - STEP; blocks ending at or before end - 3 RANGE go: [0, R), [R, 2R).
    assert_eq!(st.retention_deleted, 2, "{st:?}");
    assert_eq!(block_dirs(dir.path()).len(), 2);
    assert_eq!(
        all(&db, i64::MIN, i64::MAX).expect("select"),
        expected(2 * RANGE, end)
    );
}

#[test]
fn retention_by_size_deletes_oldest_blocks_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let end = END;
    let db = four_blocks(dir.path());
    let sizes: Vec<u64> = db.blocks().iter().map(|b| b.size_bytes()).collect();
    let wal = db.wal_stats().bytes;
    drop(db);
    // Room for the WAL and the two newest blocks, not three.
    let limit = wal + sizes[2] + sizes[3] + sizes[1] / 2;
    let db = Db::open(
        dir.path(),
        DbOptions {
            retention_bytes: limit,
            ..options()
        },
    )
    .expect("open");
    db.compact().expect("compact");
    let left: Vec<i64> = db.blocks().iter().map(|b| b.meta().min_time).collect();
    assert_eq!(left, vec![2 * RANGE, 3 * RANGE]);
    assert_eq!(
        all(&db, i64::MIN, i64::MAX).expect("select"),
        expected(2 * RANGE, end)
    );
}

#[test]
fn deleting_a_block_does_not_break_a_reader_holding_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = four_blocks(dir.path());
    let held = db.blocks();
    drop(db);
    let db = Db::open(
        dir.path(),
        DbOptions {
            retention_ms: RANGE,
            ..options()
        },
    )
    .expect("open");
    let reader = db.blocks();
    db.compact().expect("compact");
    assert!(db.blocks().len() < reader.len());
    // The snapshot taken before retention still reads its (now unlinked) files.
    let m = [Matcher::new(MatchOp::Equal, "__name__", "m").expect("m")];
    for b in &reader {
        assert_eq!(
            b.select(&m, i64::MIN, i64::MAX)
                .expect("read deleted block")
                .len(),
            SERIES
        );
    }
    drop(held);
}
