use super::meta::Compaction;
use super::writer::{BLOCK_CHUNK_SAMPLES, BlockWriter};
use super::*;
use crate::{MatchOp, stale_nan};

fn labels(p: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(p.iter().copied())
}

/// Three series, one with enough samples for several chunks; returns them in label order.
fn sample_series() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut v = vec![
        (
            labels(&[("__name__", "up"), ("job", "a"), ("inst", "1")]),
            (0..10).map(|i| (i * 1000, 1.0)).collect::<Vec<_>>(),
        ),
        (
            labels(&[
                ("__name__", "up"),
                ("job", "b"),
                ("inst", "1"),
                ("opt", "x"),
            ]),
            vec![(500, 0.0), (1500, stale_nan()), (2500, f64::NEG_INFINITY)],
        ),
        (
            labels(&[("__name__", "cpu"), ("job", "a")]),
            (0..(BLOCK_CHUNK_SAMPLES as i64 * 2 + 7))
                .map(|i| (i, i as f64 * 0.5))
                .collect(),
        ),
    ];
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn write_block(dir: &Path, series: &[(Labels, Vec<(i64, f64)>)]) -> PathBuf {
    let mut w = BlockWriter::create(dir).unwrap();
    for (l, s) in series {
        w.add_series(l.clone(), s).unwrap();
    }
    w.finish(0, 100_000, Compaction::default())
        .unwrap()
        .unwrap()
        .1
}

fn bits(s: &[Series]) -> Vec<(Labels, Vec<(i64, u64)>)> {
    s.iter()
        .map(|s| {
            (
                s.labels.clone(),
                s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
            )
        })
        .collect()
}

#[test]
fn written_block_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let series = sample_series();
    let bdir = write_block(dir.path(), &series);
    let b = Block::open(&bdir).unwrap();
    assert_eq!(b.meta().stats.num_series, 3);
    assert_eq!(b.meta().stats.num_chunks, 1 + 1 + 3);
    assert_eq!(b.meta().compaction.sources, vec![b.id().to_string()]);
    let all = b.select(&[], i64::MIN, i64::MAX).unwrap();
    let want: Vec<Series> = series
        .iter()
        .map(|(l, s)| Series {
            labels: l.clone(),
            samples: s.clone(),
        })
        .collect();
    assert_eq!(bits(&all), bits(&want));

    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let names =
        |s: Vec<Series>| -> Vec<String> { s.iter().map(|s| s.labels.to_string()).collect() };
    let up = b
        .select(&[m(MatchOp::Equal, "__name__", "up")], 0, 100_000)
        .unwrap();
    assert_eq!(up.len(), 2);
    let no_opt = b
        .select(&[m(MatchOp::Equal, "opt", "")], 0, 100_000)
        .unwrap();
    assert_eq!(no_opt.len(), 2, "{:?}", names(no_opt));
    let re = b
        .select(
            &[
                m(MatchOp::RegexMatch, "job", "a|c"),
                m(MatchOp::NotEqual, "__name__", "cpu"),
            ],
            0,
            100_000,
        )
        .unwrap();
    assert_eq!(names(re), vec!["up{inst=\"1\", job=\"a\"}"]);
    let re2 = b
        .select(&[m(MatchOp::RegexNoMatch, "job", "b.*")], 0, 100_000)
        .unwrap();
    assert_eq!(re2.len(), 2);
    assert!(
        b.select(&[m(MatchOp::Equal, "nope", "x")], 0, 100_000)
            .unwrap()
            .is_empty()
    );
    // A range inside the long series returns just that slice, across chunk boundaries.
    let mid = b
        .select(&[m(MatchOp::Equal, "__name__", "cpu")], 7000, 7500)
        .unwrap();
    assert_eq!(mid[0].samples.first().map(|s| s.0), Some(7000));
    assert_eq!(mid[0].samples.last().map(|s| s.0), Some(7500));
    // Time filtering drops series with nothing in range.
    assert_eq!(b.select(&[], 20_000, 30_000).unwrap().len(), 0);

    assert_eq!(
        b.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        vec!["__name__", "inst", "job", "opt"]
    );
    assert_eq!(
        b.label_values("job", &[], i64::MIN, i64::MAX).unwrap(),
        vec!["a", "b"]
    );
    assert_eq!(
        b.label_values("job", &[m(MatchOp::Equal, "__name__", "up")], 0, 600)
            .unwrap(),
        vec!["a", "b"]
    );
    assert_eq!(
        b.label_names(&[m(MatchOp::Equal, "__name__", "cpu")], 0, 100)
            .unwrap(),
        vec!["__name__", "job"]
    );
}

#[test]
fn empty_block_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let w = BlockWriter::create(dir.path()).unwrap();
    assert!(w.finish(0, 10, Compaction::default()).unwrap().is_none());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn out_of_order_series_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::create(dir.path()).unwrap();
    w.add_series(labels(&[("a", "2")]), &[(1, 1.0)]).unwrap();
    assert!(w.add_series(labels(&[("a", "1")]), &[(1, 1.0)]).is_err());
    drop(w);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "tmp dir left"
    );
}

#[test]
fn any_flipped_index_byte_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let bdir = write_block(dir.path(), &sample_series());
    let path = bdir.join(INDEX_FILE);
    let orig = std::fs::read(&path).unwrap();
    for pos in (0..orig.len()).step_by(7) {
        let mut b = orig.clone();
        b[pos] ^= 0x10;
        std::fs::write(&path, &b).unwrap();
        let e = Block::open(&bdir).expect_err("damaged index opened");
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    }
    std::fs::write(&path, &orig[..orig.len() - 3]).unwrap();
    assert!(Block::open(&bdir).is_err());
    std::fs::write(&path, &orig).unwrap();
    assert!(Block::open(&bdir).is_ok());
}

#[test]
fn damaged_chunk_is_an_error_not_wrong_samples() {
    let dir = tempfile::tempdir().unwrap();
    let bdir = write_block(dir.path(), &sample_series());
    let path = bdir.join(CHUNKS_FILE);
    let mut b = std::fs::read(&path).unwrap();
    let last = b.len() - 10;
    b[last] ^= 0xff;
    std::fs::write(&path, &b).unwrap();
    let blk = Block::open(&bdir).unwrap();
    let e = blk.select(&[], i64::MIN, i64::MAX).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
}
