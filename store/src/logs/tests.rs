//! Tests of the log index as a whole: write, commit, reopen, search, retention.

use super::schema::{FLAG_INVALID_UTF8, FLAG_TRUNCATED};
use super::*;
use crate::labels::Labels;
use crate::matcher::{MatchOp, Matcher};
use std::time::Duration;

fn stream(ns: &str, pod: &str) -> Labels {
    Labels::from_pairs([("namespace", ns), ("pod", pod), ("container", "c")])
}

fn open(dir: &std::path::Path) -> Arc<LogIndex> {
    LogIndex::open(LogIndexOptions::new(dir.join("index"))).unwrap()
}

fn all(q: &LogQuery, idx: &LogIndex, dir: Direction) -> Vec<LogRow> {
    idx.select(q, dir, usize::MAX, &mut |_| true).unwrap()
}

fn q(matchers: Vec<Matcher>, filters: Vec<LineFilter>) -> LogQuery {
    LogQuery {
        matchers,
        start_ns: 0,
        end_ns: i64::MAX,
        filters,
    }
}

fn write_sample(idx: &Arc<LogIndex>) {
    let mut w = idx.writer();
    let a = stream("default", "a");
    let b = stream("kube-system", "b");
    let lines: Vec<String> = (0..50)
        .map(|i| format!("level=info msg=\"request {i}\" id=req-{i:04}"))
        .collect();
    let la: Vec<LogLine> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| LogLine {
            ts_ns: 1_000 + 2 * i as i64,
            line: l,
            flags: 0,
        })
        .collect();
    w.append(&a, &la).unwrap();
    let lb = [
        LogLine {
            ts_ns: 1_001,
            line: "ERROR connection refused by peer 10.0.0.1",
            flags: 0,
        },
        LogLine {
            ts_ns: 1_003,
            line: "{\"level\":\"warn\",\"msg\":\"slow\"}",
            flags: FLAG_TRUNCATED,
        },
        LogLine {
            ts_ns: 1_005,
            line: "caf\u{fffd} bytes",
            flags: FLAG_INVALID_UTF8,
        },
    ];
    w.append(&b, &lb).unwrap();
    assert_eq!(LogWriter::pending(&w), 53);
    w.commit("payload-1").unwrap();
    assert_eq!(LogWriter::pending(&w), 0);
}

#[test]
fn select_orders_limits_and_filters_streams() {
    let d = tempfile::tempdir().unwrap();
    let idx = open(d.path());
    write_sample(&idx);
    let rows = idx
        .select(&q(vec![], vec![]), Direction::Backward, 5, &mut |_| true)
        .unwrap();
    let ts: Vec<i64> = rows.iter().map(|r| r.ts_ns).collect();
    assert_eq!(ts, vec![1_098, 1_096, 1_094, 1_092, 1_090]);
    let fwd = idx
        .select(&q(vec![], vec![]), Direction::Forward, 4, &mut |_| true)
        .unwrap();
    let ts: Vec<i64> = fwd.iter().map(|r| r.ts_ns).collect();
    assert_eq!(ts, vec![1_000, 1_001, 1_002, 1_003]);
    assert_eq!(fwd[1].line, "ERROR connection refused by peer 10.0.0.1");
    assert_eq!(fwd[1].level, Level::Error);
    assert_eq!(fwd[3].level, Level::Warn);
    assert_eq!(fwd[3].flags, FLAG_TRUNCATED);
    assert_eq!(fwd[0].labels.get("pod"), Some("a"));

    let m = |op, v: &str| vec![Matcher::new(op, "namespace", v).unwrap()];
    assert_eq!(
        all(
            &q(m(MatchOp::Equal, "kube-system"), vec![]),
            &idx,
            Direction::Forward
        )
        .len(),
        3
    );
    assert_eq!(
        all(
            &q(m(MatchOp::NotEqual, "kube-system"), vec![]),
            &idx,
            Direction::Forward
        )
        .len(),
        50
    );
    assert_eq!(
        all(
            &q(m(MatchOp::RegexMatch, "kube-.*|default"), vec![]),
            &idx,
            Direction::Forward
        )
        .len(),
        53
    );
    assert_eq!(
        all(
            &q(m(MatchOp::RegexNoMatch, "kube-.*"), vec![]),
            &idx,
            Direction::Forward
        )
        .len(),
        50
    );
    assert!(
        all(
            &q(m(MatchOp::Equal, "nope"), vec![]),
            &idx,
            Direction::Forward
        )
        .is_empty()
    );

    // Time range is [start, end).
    let mut r = q(vec![], vec![]);
    r.start_ns = 1_001;
    r.end_ns = 1_005;
    let ts: Vec<i64> = all(&r, &idx, Direction::Forward)
        .iter()
        .map(|r| r.ts_ns)
        .collect();
    assert_eq!(ts, vec![1_001, 1_002, 1_003, 1_004]);
}

#[test]
fn keep_callback_pages_past_rejections() {
    let d = tempfile::tempdir().unwrap();
    let idx = open(d.path());
    write_sample(&idx);
    // Reject all but every 10th row: select must page to find 3.
    let rows = idx
        .select(&q(vec![], vec![]), Direction::Backward, 3, &mut |r| {
            r.line.ends_with('0')
        })
        .unwrap();
    let lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "level=info msg=\"request 40\" id=req-0040",
            "level=info msg=\"request 30\" id=req-0030",
            "level=info msg=\"request 20\" id=req-0020"
        ]
    );
}

#[test]
fn line_filters_match_brute_force() {
    let d = tempfile::tempdir().unwrap();
    let idx = open(d.path());
    write_sample(&idx);
    let every = all(&q(vec![], vec![]), &idx, Direction::Forward);
    let needles = [
        "refused",
        "connection refused",
        "used by pe",
        "req-00",
        "-0042",
        "request 4",
        "ERR",
        "caf\u{fffd}",
        "10.0.0",
        "\"slow\"",
        "zzz",
        "q",
        "st 1",
        "by",
    ];
    for n in needles {
        for op in [
            LineFilterOp::Contains,
            LineFilterOp::NotContains,
            LineFilterOp::Regex,
        ] {
            let pat = if op == LineFilterOp::Regex {
                regex::escape(n)
            } else {
                n.to_string()
            };
            let f = LineFilter::new(op, pat).unwrap();
            let want: Vec<&str> = every
                .iter()
                .filter(|r| f.matches(&r.line))
                .map(|r| r.line.as_str())
                .collect();
            let got_rows = all(&q(vec![], vec![f.clone()]), &idx, Direction::Forward);
            let got: Vec<&str> = got_rows.iter().map(|r| r.line.as_str()).collect();
            assert_eq!(got, want, "needle {n:?} op {op:?}");
        }
    }
}

#[test]
fn long_tokens_still_found() {
    let d = tempfile::tempdir().unwrap();
    let idx = open(d.path());
    let long = format!("x {}TAIL y", "a".repeat(200));
    let mut w = idx.writer();
    w.append(
        &stream("n", "p"),
        &[LogLine {
            ts_ns: 5,
            line: &long,
            flags: 0,
        }],
    )
    .unwrap();
    w.commit("").unwrap();
    for n in ["TAIL", "aTAIL y", "aaaaTAIL", " aaaa"] {
        let f = LineFilter::new(LineFilterOp::Contains, n).unwrap();
        assert_eq!(
            all(&q(vec![], vec![f]), &idx, Direction::Forward).len(),
            1,
            "{n}"
        );
    }
}

#[test]
fn payload_and_lines_survive_reopen_uncommitted_lines_do_not() {
    let d = tempfile::tempdir().unwrap();
    {
        let idx = open(d.path());
        assert_eq!(idx.last_payload().unwrap(), None);
        write_sample(&idx);
        let mut w = idx.writer();
        w.append(
            &stream("x", "y"),
            &[LogLine {
                ts_ns: 9,
                line: "lost",
                flags: 0,
            }],
        )
        .unwrap();
        // dropped without commit
    }
    let idx = open(d.path());
    assert_eq!(idx.last_payload().unwrap().as_deref(), Some("payload-1"));
    assert_eq!(all(&q(vec![], vec![]), &idx, Direction::Forward).len(), 53);
    let mut w = idx.writer();
    w.append(
        &stream("x", "y"),
        &[LogLine {
            ts_ns: 9,
            line: "kept",
            flags: 0,
        }],
    )
    .unwrap();
    w.commit("payload-2").unwrap();
    assert_eq!(idx.last_payload().unwrap().as_deref(), Some("payload-2"));
    assert_eq!(all(&q(vec![], vec![]), &idx, Direction::Forward).len(), 54);
}

#[test]
fn scan_series_labels_stats() {
    let d = tempfile::tempdir().unwrap();
    let idx = open(d.path());
    write_sample(&idx);
    let mut n = 0;
    let mut bytes = 0;
    idx.scan(&q(vec![], vec![]), false, &mut |r| {
        assert!(r.line.is_empty());
        n += 1;
        bytes += r.bytes;
        true
    })
    .unwrap();
    assert_eq!(n, 53);
    let mut seen = 0;
    idx.scan(
        &q(
            vec![],
            vec![LineFilter::new(LineFilterOp::Contains, "peer").unwrap()],
        ),
        false,
        &mut |r| {
            assert!(r.line.contains("peer"));
            seen += 1;
            true
        },
    )
    .unwrap();
    assert_eq!(seen, 1);
    let series = idx.series(&[], 0, i64::MAX).unwrap();
    assert_eq!(
        series,
        vec![stream("default", "a"), stream("kube-system", "b")]
    );
    assert_eq!(
        idx.label_names(&[], 0, i64::MAX).unwrap(),
        ["container", "namespace", "pod"]
    );
    let ns = [Matcher::equal("namespace", "default")];
    assert_eq!(idx.label_values("pod", &ns, 0, i64::MAX).unwrap(), ["a"]);
    // Nothing in a range before the first line.
    assert!(idx.series(&[], 0, 1_000).unwrap().is_empty());
    let st = idx.stats(&[], 0, i64::MAX).unwrap();
    assert_eq!((st.streams, st.entries, st.bytes), (2, 53, bytes));
    assert!(st.chunks >= 1);
}

#[test]
fn retention_by_size_and_time_removes_sealed_partitions_only() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("index");
    // Three partitions made by hand (windows 100, 200, 300 s).
    for (start, ts) in [(100, 10), (200, 20), (300, 30)] {
        let p = partition::Partition::open(&root, start).unwrap();
        let mut w: tantivy::IndexWriter = p.index.writer_with_num_threads(1, 15 << 20).unwrap();
        let dict = p.streams.as_ref().unwrap();
        let id = dict.id("a\0b").unwrap();
        dict.widen(id, ts, ts);
        dict.persist().unwrap();
        let mut doc = tantivy::TantivyDocument::new();
        doc.add_i64(p.fields.ts, ts);
        doc.add_text(p.fields.line, "x");
        p.fields
            .add_stream_and_meta(&mut doc, (id, "a\0b"), 0, 1, 0);
        w.add_document(doc).unwrap();
        w.commit().unwrap();
    }
    let mut opts = LogIndexOptions::new(root.clone());
    opts.retention_time = Duration::from_nanos(100);
    let idx = LogIndex::open(opts).unwrap();
    assert_eq!(idx.partitions().len(), 3);
    // now = 125: partitions whose newest line < 25 go, except the active (newest) one.
    let st = idx.apply_retention(125).unwrap();
    assert_eq!(st.partitions_removed, 2);
    assert_eq!(partition::list(&root).unwrap(), vec![300]);
    assert_eq!(all(&q(vec![], vec![]), &idx, Direction::Forward).len(), 1);

    let mut opts = LogIndexOptions::new(d.path().join("index2"));
    opts.retention_size = 1;
    for start in [100, 200] {
        let _ = partition::Partition::open(&opts.dir, start).unwrap();
    }
    let idx = LogIndex::open(opts.clone()).unwrap();
    let st = idx.apply_retention(0).unwrap();
    assert_eq!(st.partitions_removed, 1);
    assert_eq!(partition::list(&opts.dir).unwrap(), vec![200]);
}

#[test]
fn commit_rolls_to_a_new_partition_when_the_window_ends() {
    let d = tempfile::tempdir().unwrap();
    let mut opts = LogIndexOptions::new(d.path().join("index"));
    opts.partition_width = Duration::from_secs(1);
    let idx = LogIndex::open(opts).unwrap();
    let mut w = idx.writer();
    for i in 0..3 {
        w.append(
            &stream("n", "p"),
            &[LogLine {
                ts_ns: i,
                line: "l",
                flags: 0,
            }],
        )
        .unwrap();
        w.commit(&format!("p{i}")).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
    }
    w.commit("last").unwrap();
    idx.wait_sealing();
    assert!(idx.partitions().len() >= 3, "{}", idx.partitions().len());
    assert_eq!(idx.last_payload().unwrap().as_deref(), Some("last"));
    assert_eq!(all(&q(vec![], vec![]), &idx, Direction::Forward).len(), 3);
    let st = idx.index_stats();
    assert_eq!(st.lines, 3);
    drop(w);
    drop(idx);
    let idx = LogIndex::open(LogIndexOptions::new(d.path().join("index"))).unwrap();
    assert_eq!(idx.last_payload().unwrap().as_deref(), Some("last"));
}

#[test]
fn word_and_regex_literal_filters_over_time_split_segments() {
    let d = tempfile::tempdir().unwrap();
    let idx = open(d.path());
    let mut w = idx.writer();
    let s = stream("default", "a");
    // Two commits = two segments with disjoint time ranges; the needle is inside a token.
    for (base, text) in [
        (1_000, "early trace=zqneedle111"),
        (5_000, "late trace=zqneedle222"),
    ] {
        let lines: Vec<LogLine> = (0..3)
            .map(|i| LogLine {
                ts_ns: base + i,
                line: text,
                flags: 0,
            })
            .collect();
        w.append(&s, &lines).unwrap();
        w.commit("").unwrap();
    }
    idx.wait_merges().unwrap();
    for op in [LineFilterOp::Contains, LineFilterOp::Regex] {
        let mut query = q(vec![], vec![LineFilter::new(op, "needle").unwrap()]);
        assert_eq!(all(&query, &idx, Direction::Forward).len(), 6, "{op:?}");
        query.start_ns = 4_000;
        let late = all(&query, &idx, Direction::Forward);
        assert_eq!(late.len(), 3, "{op:?}");
        assert!(late.iter().all(|r| r.line.starts_with("late")));
        query.filters = vec![LineFilter::new(op, "needle111").unwrap()];
        assert!(all(&query, &idx, Direction::Forward).is_empty(), "{op:?}");
    }
    // Writing still works after waiting for merges.
    w.append(
        &s,
        &[LogLine {
            ts_ns: 9_000,
            line: "after",
            flags: 0,
        }],
    )
    .unwrap();
    w.commit("").unwrap();
    assert_eq!(all(&q(vec![], vec![]), &idx, Direction::Forward).len(), 7);
}

#[test]
fn merges_keep_segments_under_the_cap_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = LogIndexOptions::new(dir.path().join("index"));
    o.max_merge_docs = 300;
    let idx = LogIndex::open(o).unwrap();
    let mut w = idx.writer();
    let s = stream("default", "m");
    let texts: Vec<String> = (0..1_200).map(|i| format!("line {i} uniq{i}")).collect();
    // 40 commits of 30 lines: 40 small segments before merging.
    for (c, chunk) in texts.chunks(30).enumerate() {
        let lines: Vec<LogLine> = chunk
            .iter()
            .enumerate()
            .map(|(j, t)| LogLine {
                ts_ns: 1_000 + (c * 30 + j) as i64,
                line: t,
                flags: 0,
            })
            .collect();
        w.append(&s, &lines).unwrap();
        w.commit("").unwrap();
    }
    drop(w);
    idx.wait_merges().unwrap();
    let parts = idx.partitions();
    let p = parts.last().unwrap();
    p.reload().unwrap();
    let docs = p.segment_docs();
    assert_eq!(docs.iter().sum::<u64>(), 1_200, "{docs:?}");
    assert!(
        docs.iter().all(|&d| d <= 300),
        "a merge went over the cap: {docs:?}"
    );
    assert!(docs.len() < 40, "nothing was merged: {docs:?}");
    let rows = all(
        &q(vec![Matcher::equal("pod", "m")], vec![]),
        &idx,
        Direction::Forward,
    );
    assert_eq!(rows.len(), 1_200);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.line, texts[i]);
    }
}

#[test]
fn legacy_partitions_are_read_and_written() {
    // Partitions in the forms written by earlier builds, in the current window so each is the
    // active one when the index opens: v1/v2 (three columns `level`, `len`, `flags` and
    // `stream` indexed as a term) and v3 (`stream` as a fast-only text column, `meta` packed
    // without the stream id).
    type IsForm = fn(&schema::MetaFields) -> bool;
    let legacy: [(tantivy::schema::Schema, IsForm); 2] = [
        (schema::build_legacy(), |m| {
            matches!(m, schema::MetaFields::Separate { .. })
        }),
        (schema::build_v3(), |m| {
            matches!(m, schema::MetaFields::Packed(_))
        }),
    ];
    for (sch, is_form) in legacy {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("index");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let start = partition::window_start(now, 6 * 3600);
        let dir = root.join(partition::dir_name(start));
        std::fs::create_dir_all(&dir).unwrap();
        tantivy::Index::builder()
            .schema(sch)
            .create_in_dir(&dir)
            .unwrap();
        let idx = open(d.path());
        let p = idx.partitions().pop().unwrap();
        assert!(is_form(&p.fields.meta) && p.fields.stream.is_some());
        assert!(p.streams.is_none());
        let mut w = idx.writer();
        let s = stream("default", "old");
        let lines = [
            LogLine {
                ts_ns: 10,
                line: "level=error boom",
                flags: 0,
            },
            LogLine {
                ts_ns: 11,
                line: "cut short",
                flags: FLAG_TRUNCATED,
            },
        ];
        w.append(&s, &lines).unwrap();
        let other = [LogLine {
            ts_ns: 12,
            line: "level=info other stream",
            flags: 0,
        }];
        w.append(&stream("default", "other"), &other).unwrap();
        w.commit("").unwrap();
        assert_eq!(
            idx.series(&[Matcher::equal("namespace", "default")], 0, i64::MAX)
                .unwrap()
                .len(),
            2
        );
        let rows = all(
            &q(vec![Matcher::equal("pod", "old")], vec![]),
            &idx,
            Direction::Forward,
        );
        let got: Vec<(Level, u64, u64)> =
            rows.iter().map(|r| (r.level, r.bytes, r.flags)).collect();
        assert_eq!(
            got,
            vec![(Level::Error, 16, 0), (Level::Unknown, 9, FLAG_TRUNCATED)]
        );
        assert!(!dir.join(crate::logs::streams::FILE_NAME).exists());
        // A new partition gets the current form.
        let fresh = partition::Partition::open(&root, start + 6 * 3600).unwrap();
        assert!(matches!(
            fresh.fields.meta,
            schema::MetaFields::WithStream(_)
        ));
        assert!(fresh.fields.stream.is_none() && fresh.streams.is_some());
    }
}

#[test]
fn streams_are_known_by_the_range_of_their_lines_across_reopen() {
    // One partition, two streams whose lines are an hour apart: `series` over either hour
    // lists only its stream, and a selector over the other hour finds nothing, also after
    // the index is reopened (the dictionary is read back from disk).
    let d = tempfile::tempdir().unwrap();
    let hour = 3_600_000_000_000i64;
    let (a, b) = (stream("default", "early"), stream("default", "late"));
    {
        let idx = open(d.path());
        let mut w = idx.writer();
        let l = |ts_ns| LogLine {
            ts_ns,
            line: "level=info tick",
            flags: 0,
        };
        w.append(&a, &[l(10), l(hour - 1)]).unwrap();
        w.append(&b, &[l(hour), l(2 * hour - 1)]).unwrap();
        w.commit("").unwrap();
    }
    for _ in 0..2 {
        let idx = open(d.path());
        assert_eq!(idx.partitions().len(), 1);
        assert_eq!(idx.series(&[], 0, hour).unwrap(), vec![a.clone()]);
        assert_eq!(idx.series(&[], hour, 2 * hour).unwrap(), vec![b.clone()]);
        assert_eq!(idx.series(&[], 0, 2 * hour).unwrap().len(), 2);
        assert!(idx.series(&[], 2 * hour, 3 * hour).unwrap().is_empty());
        let mut early = q(vec![Matcher::equal("pod", "early")], vec![]);
        (early.start_ns, early.end_ns) = (hour, 2 * hour);
        assert!(all(&early, &idx, Direction::Forward).is_empty());
        early.start_ns = 0;
        let rows = all(&early, &idx, Direction::Forward);
        assert_eq!(
            rows.iter().map(|r| r.ts_ns).collect::<Vec<_>>(),
            [10, hour - 1]
        );
        assert!(rows.iter().all(|r| *r.labels == a && r.bytes == 15));
        assert_eq!(
            idx.label_values("pod", &[], hour, 2 * hour).unwrap(),
            ["late"]
        );
    }
}

#[test]
fn a_partition_with_a_malformed_stream_dictionary_is_set_aside() {
    let d = tempfile::tempdir().unwrap();
    let start = {
        let idx = open(d.path());
        let mut w = idx.writer();
        let line = LogLine {
            ts_ns: 1,
            line: "x",
            flags: 0,
        };
        w.append(&stream("default", "a"), &[line]).unwrap();
        w.commit("{\"seq\":1}").unwrap();
        idx.partitions()[0].start
    };
    let dir = d.path().join("index").join(partition::dir_name(start));
    std::fs::write(dir.join(streams::FILE_NAME), "{\"id\":0,\"key\":1}\n").unwrap();
    let idx = open(d.path());
    assert!(
        d.path()
            .join("index")
            .join(format!("{}.unsupported", partition::dir_name(start)))
            .join(streams::FILE_NAME)
            .is_file()
    );
    assert_eq!(idx.index_stats().lines, 0);
}

#[test]
fn limited_selects_skip_segments_without_changing_the_answer() {
    // Segments with disjoint, overlapping and nested time ranges (each commit makes one):
    // a limited select in either direction, with and without rejections by `keep`, returns
    // exactly the first rows of the full, sorted answer.
    let d = tempfile::tempdir().unwrap();
    let idx = open(d.path());
    let mut w = idx.writer();
    let ranges: [(i64, i64, i64); 6] = [
        (1_000, 1_400, 4),
        (5_000, 5_300, 3),
        (1_001, 9_001, 40), // spans the others
        (3_002, 3_202, 2),
        (7_003, 7_103, 1),
        (2_004, 6_004, 20),
    ];
    let s = stream("default", "a");
    let mut n = 0;
    for (i, (from, to, step)) in ranges.into_iter().enumerate() {
        // Unique times: the segment's index is the last digit.
        let times: Vec<i64> = (from..to)
            .step_by(step as usize)
            .map(|t| t * 10 + i as i64)
            .collect();
        let texts: Vec<String> = times.iter().map(|t| format!("line at {t}")).collect();
        let lines: Vec<LogLine> = texts
            .iter()
            .zip(&times)
            .map(|(l, &t)| LogLine {
                ts_ns: t,
                line: l,
                flags: 0,
            })
            .collect();
        n += lines.len();
        w.append(&s, &lines).unwrap();
        w.commit("").unwrap();
    }
    assert!(idx.index_stats().segments >= 2);
    let mut every: Vec<i64> = all(&q(vec![], vec![]), &idx, Direction::Forward)
        .iter()
        .map(|r| r.ts_ns)
        .collect();
    assert_eq!(every.len(), n);
    let sorted = {
        let mut v = every.clone();
        v.sort_unstable();
        v.dedup();
        v
    };
    assert_eq!(every, sorted, "timestamps are unique and in order");
    for dir in [Direction::Forward, Direction::Backward] {
        if dir == Direction::Backward {
            every.reverse();
        }
        for limit in [1, 5, 63, 64, 65, 200, 700] {
            let got: Vec<i64> = idx
                .select(&q(vec![], vec![]), dir, limit, &mut |_| true)
                .unwrap()
                .iter()
                .map(|r| r.ts_ns)
                .collect();
            assert_eq!(got, every[..limit.min(n)], "{dir:?} limit {limit}");
            let got: Vec<i64> = idx
                .select(&q(vec![], vec![]), dir, limit, &mut |r| r.ts_ns % 7 == 0)
                .unwrap()
                .iter()
                .map(|r| r.ts_ns)
                .collect();
            let want: Vec<i64> = every
                .iter()
                .copied()
                .filter(|t| t % 7 == 0)
                .take(limit)
                .collect();
            assert_eq!(got, want, "{dir:?} limit {limit}, keep every 7th");
        }
    }
}
