//! Parallel WAL replay: whatever the number of workers, the head rebuilt from one log is the
//! same (samples, refs, chunk count, replay counters), also when the log holds a checkpoint
//! followed by segments that interleave new series with samples, out-of-order samples,
//! duplicates, a label set logged under a second ref, and a damaged segment in the middle.

use lookout_store::tsdb::head::Head;
use lookout_store::tsdb::wal::replay::{ReplayStats, replay_with};
use lookout_store::tsdb::wal::segment;
use lookout_store::{
    Appendable, Db, DbOptions, FsyncPolicy, HeadOptions, Labels, MatchOp, Matcher, Querier,
    SeriesRef, WalOptions,
};
use std::path::{Path, PathBuf};

const WINDOW_MS: i64 = 60_000;

fn head_opts() -> HeadOptions {
    HeadOptions {
        out_of_order_window_ms: WINDOW_MS,
        // Small chunk range: chunks are cut at range boundaries as well as by count.
        chunk_range_ms: 50_000,
    }
}

fn db_opts() -> DbOptions {
    DbOptions {
        head: head_opts(),
        wal: WalOptions {
            fsync: FsyncPolicy::EveryCommit,
            // Small segments: the log spans many files.
            segment_size: 64 << 10,
            ..WalOptions::default()
        },
        checkpoint_segments: 0,
        block_range_ms: 0,
        compact_interval: std::time::Duration::ZERO,
        ..DbOptions::default()
    }
}

fn lbl(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

type Samples = Vec<(Labels, Vec<(i64, u64)>)>;

fn everything(q: &dyn Querier) -> Samples {
    let m = Matcher::new(MatchOp::Equal, "__name__", "m").expect("matcher");
    q.select(&[m], i64::MIN, i64::MAX)
        .expect("select")
        .into_iter()
        .map(|s| {
            let samples = s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            (s.labels, samples)
        })
        .collect()
}

/// Writes a log: series appear over time (each commit creates new ones and appends to old
/// ones), some samples are out of order or duplicates, a checkpoint is taken half-way.
/// Returns what the live head held.
fn write_log(dir: &Path) -> Samples {
    let db = Db::open(dir, db_opts()).expect("open");
    let mut refs: Vec<SeriesRef> = Vec::new();
    for b in 0..120i64 {
        // 20 new series per commit up to 600.
        let live = ((b as usize + 1) * 20).min(600);
        refs.resize(live, 0);
        let mut app = db.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            let t = b * 1000 + (i as i64 % 7);
            let v = if i % 3 == 0 {
                b as f64
            } else {
                (i * 1000) as f64 + b as f64 * 0.5
            };
            *r = app.append(*r, &lbl(i), t, v).expect("append");
            if b > 5 && i % 11 == 0 {
                // Out of order (inside the window) and a duplicate of a stored sample.
                let _ = app.append(*r, &lbl(i), t - 2500, -(i as f64));
                let _ = app.append(*r, &lbl(i), t, v);
            }
        }
        app.commit().expect("commit");
        if b == 60 {
            db.checkpoint().expect("checkpoint");
        }
    }
    db.close().expect("close");
    everything(db.head().as_ref())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

/// Everything a replay leaves behind that must not depend on the number of workers.
#[derive(Debug, PartialEq)]
struct Outcome {
    series: Samples,
    refs: Vec<Option<SeriesRef>>,
    chunks: u64,
    bounds: (Option<i64>, Option<i64>),
    stats: ReplayStats,
    files: Vec<(String, u64)>,
}

fn replay_copy(wal: &Path, scratch: &Path, workers: usize) -> Outcome {
    let dir = scratch.join(format!("w{workers}"));
    copy_dir(wal, &dir);
    let head = Head::with_options(head_opts());
    let mut stats = replay_with(&dir, &head, workers).expect("replay");
    // Rounded down to a power of two, at most 8.
    let expected = match workers {
        0 | 1 => 1,
        2 | 3 => 2,
        4..=7 => 4,
        _ => 8,
    };
    assert_eq!(stats.workers, expected, "workers used");
    stats.duration = Default::default();
    stats.workers = 0;
    let series = everything(&head);
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            let len = e.metadata().expect("metadata").len();
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect();
    files.sort();
    Outcome {
        series,
        refs: (0..600).map(|i| head.series_ref(&lbl(i))).collect(),
        chunks: head.num_chunks(),
        bounds: (head.min_time(), head.max_time()),
        stats,
        files,
    }
}

fn wal_dir(tmp: &tempfile::TempDir) -> (PathBuf, Samples) {
    let d = tmp.path().join("db");
    let live = write_log(&d);
    (d.join("wal"), live)
}

#[test]
fn every_worker_count_rebuilds_the_same_head() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (wal, live) = wal_dir(&tmp);
    let l = segment::list(&wal).expect("list");
    assert!(!l.checkpoints.is_empty(), "the log has a checkpoint");
    assert!(
        l.segments.len() > 3,
        "the log spans segments: {:?}",
        l.segments
    );
    let one = replay_copy(&wal, tmp.path(), 1);
    assert_eq!(one.series.len(), 600);
    assert!(one.stats.samples > 600 * 60, "{:?}", one.stats);
    assert!(
        one.stats.samples_dropped > 0,
        "duplicates are dropped again"
    );
    assert_eq!(one.stats.corruptions, 0);
    assert!(
        live.iter()
            .any(|(_, s)| s.iter().any(|(t, _)| t % 1000 > 7)),
        "the log holds out-of-order samples"
    );
    assert!(one.series == live, "replay differs from the live head");
    for w in [2, 3, 4, 8] {
        let other = replay_copy(&wal, tmp.path(), w);
        assert_eq!(one, other, "{w} workers differ from one");
    }
}

#[test]
fn damage_in_a_middle_segment_is_handled_the_same_by_every_worker_count() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (wal, _) = wal_dir(&tmp);
    let l = segment::list(&wal).expect("list");
    let cp = *l.checkpoints.last().expect("checkpoint");
    let after: Vec<u64> = l.segments.iter().copied().filter(|&s| s > cp).collect();
    assert!(after.len() >= 3, "{after:?}");
    // Flip a byte in the middle of a segment that has whole segments after it.
    let victim = segment::segment_path(&wal, after[after.len() / 2]);
    let mut bytes = std::fs::read(&victim).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&victim, &bytes).expect("write");
    let one = replay_copy(&wal, tmp.path(), 1);
    assert_eq!(one.stats.corruptions, 1, "{:?}", one.stats);
    let cut = one
        .files
        .iter()
        .find(|(n, _)| Path::new(n) == victim.file_name().map(Path::new).expect("name"))
        .expect("victim kept")
        .1;
    assert!(
        cut < bytes.len() as u64,
        "the damaged segment was truncated"
    );
    for w in [2, 4] {
        let other = replay_copy(&wal, tmp.path(), w);
        assert_eq!(one, other, "{w} workers differ from one");
    }
}

#[test]
fn a_label_set_under_a_second_ref_lands_in_one_series_in_log_order() {
    // Truncation removes a series, a later commit creates it again under a new ref, and the
    // log then holds both refs; the checkpoint written at truncation is removed so that the
    // replay reads the raw segments with both definitions.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    {
        let db = Db::open(&dir, db_opts()).expect("open");
        let mut app = db.appender();
        app.append(0, &lbl(1), 1_000, 1.0).expect("append");
        app.append(0, &lbl(2), 1_000, 2.0).expect("append");
        app.commit().expect("commit");
        let mut app = db.appender();
        app.append(0, &lbl(2), 90_000, 3.0).expect("append");
        app.commit().expect("commit");
        db.head().truncate_before(50_000);
        for k in 0..5 {
            let mut app = db.appender();
            app.append(0, &lbl(1), 100_000 + k * 1000, 10.0 + k as f64)
                .expect("append");
            app.commit().expect("commit");
        }
        db.close().expect("close");
    }
    let wal = dir.join("wal");
    let one = replay_copy(&wal, tmp.path(), 1);
    let four = replay_copy(&wal, tmp.path(), 4);
    assert_eq!(one, four);
    let s1 = one
        .series
        .iter()
        .find(|(l, _)| *l == lbl(1))
        .expect("series 1");
    assert_eq!(s1.1.len(), 6, "old and new samples in one series: {s1:?}");
    assert_eq!(one.stats.unknown_refs, 0);
}

#[test]
fn a_chunk_that_does_not_decode_inside_a_whole_checkpoint_record_is_counted_and_skipped() {
    use lookout_store::tsdb::chunk::Chunk;
    use lookout_store::tsdb::wal::record::{self, RecordType};
    let tmp = tempfile::tempdir().expect("tempdir");
    let wal = tmp.path().join("wal");
    std::fs::create_dir_all(&wal).expect("mkdir");
    let good: Vec<(i64, f64)> = (0..10).map(|k| (k * 1000, k as f64)).collect();
    let later: Vec<(i64, f64)> = (10..20).map(|k| (k * 1000, k as f64)).collect();
    let c1 = Chunk::encode(&good).expect("encode");
    let c2 = Chunk::encode(&later).expect("encode");
    // A chunk claiming 50 samples with 3 bytes of bits: its checksum is fine, its bits not.
    let bad = [0u8, 50, 0xff, 0x01, 0x02];
    let mut buf = segment::FILE_MAGIC.to_vec();
    let at = record::begin_frame(&mut buf, RecordType::Meta);
    record::put_meta(&mut buf, i64::MIN, 10);
    record::finish_frame(&mut buf, at);
    let at = record::begin_frame(&mut buf, RecordType::Series);
    for (r, i) in [(1u64, 1usize), (2, 2), (3, 3)] {
        let l = lbl(i);
        record::put_series(
            &mut buf,
            r,
            l.iter().map(|l| (l.name.as_str(), l.value.as_str())),
        );
    }
    record::finish_frame(&mut buf, at);
    let at = record::begin_frame(&mut buf, RecordType::Chunks);
    // Series 1: two chunks (the first adopted whole); series 2: the bad chunk, not its last;
    // series 3: a bad last chunk.
    record::put_chunk(&mut buf, 1, c1.bytes());
    record::put_chunk(&mut buf, 1, c2.bytes());
    record::put_chunk(&mut buf, 2, &bad);
    record::put_chunk(&mut buf, 2, c2.bytes());
    record::put_chunk(&mut buf, 3, &bad);
    record::finish_frame(&mut buf, at);
    std::fs::write(segment::checkpoint_path(&wal, 5), &buf).expect("write");
    let one = replay_copy(&wal, tmp.path(), 1);
    let two = replay_copy(&wal, tmp.path(), 2);
    assert_eq!(one, two);
    assert_eq!(one.stats.corruptions, 2, "{:?}", one.stats);
    let by = |i: usize| {
        one.series
            .iter()
            .find(|(l, _)| *l == lbl(i))
            .map(|s| s.1.len())
    };
    assert_eq!(by(1), Some(20));
    assert_eq!(by(2), Some(10), "series 2 keeps its good chunk");
    // Series 3 keeps what decoded before the damage (maybe nothing), never garbage.
    assert!(by(3).unwrap_or(0) < 50);
}
