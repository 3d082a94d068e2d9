//! Tailer scenarios driven step by step: rotation, compression, restarts, truncation,
//! deleted pods, bad input.

use super::*;
use lookout_store::logs::{Direction, LogQuery, LogSearcher};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn pods(&self) -> PathBuf {
        self.dir.path().join("pods")
    }
    fn cdir(&self, pod: &str) -> PathBuf {
        let d = self.pods().join(format!("ns_{pod}_uid-{pod}")).join("app");
        std::fs::create_dir_all(&d).unwrap();
        d
    }
    fn opts(&self) -> TailOptions {
        let mut o = TailOptions::new(self.dir.path().join("logs/checkpoints"));
        o.pods_root = Some(self.pods());
        o.node = "node-1".into();
        o.release_after = Duration::ZERO;
        o.idle_flush = Duration::ZERO;
        o
    }
    fn index(&self) -> Arc<LogIndex> {
        LogIndex::open(LogIndexOptions::new(self.dir.path().join("logs/index"))).unwrap()
    }
}

fn cri(i: usize) -> String {
    format!("2024-01-01T00:00:00.{i:09}Z stdout F line {i}\n")
}

fn append(p: &std::path::Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn step(t: &mut Tailer) {
    t.scan();
    while t.pump() > 0 {}
    t.release();
    t.commit();
}

fn lines(idx: &LogIndex) -> Vec<String> {
    let q = LogQuery {
        start_ns: 0,
        end_ns: i64::MAX,
        ..LogQuery::default()
    };
    idx.select(&q, Direction::Forward, usize::MAX, &mut |_| true)
        .unwrap()
        .into_iter()
        .map(|r| r.line)
        .collect()
}

fn expect(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("line {i}")).collect()
}

fn gzip(src: &std::path::Path, dst: &std::path::Path) {
    let data = std::fs::read(src).unwrap();
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(dst).unwrap(),
        flate2::Compression::fast(),
    );
    e.write_all(&data).unwrap();
    e.finish().unwrap();
}

#[test]
fn reads_labels_and_resumes_after_restart_without_duplicates() {
    let env = Env::new();
    let d = env.cdir("web");
    let f = d.join("0.log");
    for i in 0..10 {
        append(&f, &cri(i));
    }
    {
        let idx = env.index();
        let mut t = Tailer::new(env.opts(), &idx, Arc::new(LogMetrics::default()));
        step(&mut t);
        assert_eq!(lines(&idx), expect(0..10));
        let q = LogQuery {
            start_ns: 0,
            end_ns: i64::MAX,
            ..LogQuery::default()
        };
        let r = idx
            .select(&q, Direction::Forward, 1, &mut |_| true)
            .unwrap();
        let l = &r[0].labels;
        assert_eq!(
            (
                l.get("namespace"),
                l.get("pod"),
                l.get("pod_uid"),
                l.get("container"),
                l.get("stream"),
                l.get("node")
            ),
            (
                Some("ns"),
                Some("web"),
                Some("uid-web"),
                Some("app"),
                Some("stdout"),
                Some("node-1")
            )
        );
    }
    for i in 10..15 {
        append(&f, &cri(i));
    }
    let idx = env.index();
    let mut t = Tailer::new(env.opts(), &idx, Arc::new(LogMetrics::default()));
    step(&mut t);
    assert_eq!(lines(&idx), expect(0..15));
}

#[test]
fn rotation_and_compression_while_stopped() {
    let env = Env::new();
    let d = env.cdir("api");
    let f = d.join("0.log");
    for i in 0..5 {
        append(&f, &cri(i));
    }
    {
        let idx = env.index();
        let mut t = Tailer::new(env.opts(), &idx, Arc::new(LogMetrics::default()));
        step(&mut t);
    }
    // While the agent is down: more lines, rotation, a new file, its rotation, compression
    // of the first rotated file.
    for i in 5..8 {
        append(&f, &cri(i));
    }
    let r1 = d.join("0.log.20240101-000001");
    std::fs::rename(&f, &r1).unwrap();
    for i in 8..12 {
        append(&f, &cri(i));
    }
    let r2 = d.join("0.log.20240101-000002");
    std::fs::rename(&f, &r2).unwrap();
    gzip(&r1, &d.join("0.log.20240101-000001.gz"));
    std::fs::remove_file(&r1).unwrap();
    for i in 12..14 {
        append(&f, &cri(i));
    }
    let idx = env.index();
    let mut t = Tailer::new(env.opts(), &idx, Arc::new(LogMetrics::default()));
    step(&mut t);
    let mut got = lines(&idx);
    got.sort_by_key(|l| l[5..].parse::<usize>().unwrap());
    assert_eq!(got, expect(0..14));
    // Later compression of the second rotated file is recognised as already read.
    gzip(&r2, &d.join("0.log.20240101-000002.gz"));
    std::fs::remove_file(&r2).unwrap();
    step(&mut t);
    step(&mut t);
    assert_eq!(lines(&idx).len(), 14);
}

#[test]
fn live_rotation_finishes_the_renamed_file() {
    let env = Env::new();
    let d = env.cdir("live");
    let f = d.join("0.log");
    append(&f, &cri(0));
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(env.opts(), &idx, m.clone());
    step(&mut t);
    // Writer keeps writing to the renamed file before reopening (as containerd does).
    let r = d.join("0.log.20240101-000001");
    std::fs::rename(&f, &r).unwrap();
    append(&r, &cri(1));
    append(&f, &cri(2));
    step(&mut t);
    step(&mut t);
    gzip(&r, &d.join("0.log.20240101-000001.gz"));
    std::fs::remove_file(&r).unwrap();
    step(&mut t);
    let mut got = lines(&idx);
    got.sort();
    assert_eq!(got, expect(0..3));
    assert!(m.files_released.load(Relaxed) >= 1);
}

#[test]
fn container_restart_truncation_and_deleted_pod() {
    let env = Env::new();
    let d = env.cdir("job");
    append(&d.join("0.log"), &cri(0));
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(env.opts(), &idx, m.clone());
    step(&mut t);
    append(&d.join("1.log"), &cri(1));
    step(&mut t);
    assert_eq!(lines(&idx).len(), 2);
    // copytruncate
    std::fs::write(d.join("1.log"), "").unwrap();
    step(&mut t);
    append(&d.join("1.log"), &cri(2));
    step(&mut t);
    assert_eq!(m.file_truncations.load(Relaxed), 1);
    assert_eq!(lines(&idx).len(), 3);
    // The pod is deleted with an unread line: it is read, then the handles are released.
    append(&d.join("1.log"), &cri(3));
    std::fs::remove_dir_all(d.parent().unwrap()).unwrap();
    step(&mut t);
    step(&mut t);
    assert_eq!(lines(&idx).len(), 4);
    assert_eq!(m.files_open.load(Relaxed), 0);
    let q = LogQuery {
        start_ns: 0,
        end_ns: i64::MAX,
        ..LogQuery::default()
    };
    let r = idx
        .select(&q, Direction::Backward, 1, &mut |_| true)
        .unwrap();
    assert_eq!(
        r[0].labels.get("pod"),
        Some("job"),
        "deleted pods keep their metadata"
    );
}

#[test]
fn start_at_end_on_a_fresh_node_only() {
    let env = Env::new();
    let d = env.cdir("old");
    append(&d.join("0.log.20240101-000001"), &cri(0));
    append(&d.join("0.log"), &cri(1));
    let mut o = env.opts();
    o.start_at_end = true;
    {
        let idx = env.index();
        let mut t = Tailer::new(o.clone(), &idx, Arc::new(LogMetrics::default()));
        step(&mut t);
        assert!(lines(&idx).is_empty());
        append(&d.join("0.log"), &cri(2));
        step(&mut t);
        assert_eq!(lines(&idx), expect(2..3));
    }
    // Not fresh any more: a new file is read from its start.
    append(&d.join("1.log"), &cri(3));
    let idx = env.index();
    let mut t = Tailer::new(o, &idx, Arc::new(LogMetrics::default()));
    step(&mut t);
    assert_eq!(lines(&idx), expect(2..4));
}

#[test]
fn bad_input_is_kept_flagged_and_counted() {
    let env = Env::new();
    let d = env.cdir("bad");
    let mut o = env.opts();
    o.max_line_size = 1024;
    let mut data = Vec::new();
    data.extend_from_slice(b"2024-01-01T00:00:00.000000001Z stdout F caf\xff\xfe\n");
    data.extend_from_slice(b"2024-01-01T00:00:00.000000002Z stdout F ");
    data.extend(std::iter::repeat_n(b'x', 10 << 20));
    data.extend_from_slice(b"\n");
    data.extend_from_slice(b"\x00\x01\x02\x03binary\x7f\n");
    data.extend_from_slice(b"2024-13-45T99:00:00Z stdout F broken ts\n");
    data.extend_from_slice(b"2024-01-01T00:00:00.000000005Z stdout F after\n");
    data.extend_from_slice(b"2024-01-01T00:00:00.000000006Z stdout F no newline");
    std::fs::write(d.join("0.log"), &data).unwrap();
    // A log path that cannot be read (a directory where a file should be).
    std::fs::create_dir_all(d.join("9.log")).unwrap();
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(o, &idx, m.clone());
    step(&mut t);
    step(&mut t);
    let got = lines(&idx);
    assert_eq!(
        got.len(),
        6,
        "{:?}",
        got.iter()
            .map(|l| &l[..l.len().min(40)])
            .collect::<Vec<_>>()
    );
    assert!(got.contains(&"caf\u{fffd}\u{fffd}".to_string()));
    assert!(
        got.iter()
            .any(|l| l.len() == 1024 && l.bytes().all(|b| b == b'x'))
    );
    assert!(got.contains(&"broken ts".to_string()));
    assert!(got.contains(&"after".to_string()));
    assert!(got.contains(&"no newline".to_string()));
    assert_eq!(m.invalid_utf8.load(Relaxed), 1);
    assert_eq!(m.truncated_lines.load(Relaxed), 1);
    assert_eq!(m.binary_lines.load(Relaxed), 1);
    assert_eq!(
        m.bad_timestamps.load(Relaxed),
        2,
        "the junk line and the broken timestamp"
    );
    assert_eq!(m.unterminated_lines.load(Relaxed), 1);
    assert!(m.open_errors.load(Relaxed) + m.read_errors.load(Relaxed) >= 1);
    let mut text = String::new();
    m.render(&mut text);
    assert!(text.contains("lookout_log_invalid_utf8_lines_total 1"));
}

#[test]
fn unreadable_file_does_not_stop_the_others() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let d = env.cdir("perm");
    append(&d.join("0.log"), &cri(0));
    std::fs::set_permissions(d.join("0.log"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let root_can_read = std::fs::File::open(d.join("0.log")).is_ok();
    let d2 = env.cdir("ok");
    append(&d2.join("0.log"), &cri(1));
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(env.opts(), &idx, m.clone());
    step(&mut t);
    step(&mut t);
    if root_can_read {
        assert_eq!(lines(&idx).len(), 2);
    } else {
        assert_eq!(lines(&idx), expect(1..2));
        assert_eq!(m.open_errors.load(Relaxed), 1, "counted once, not per scan");
    }
}

#[test]
fn rate_limit_drops_are_counted() {
    let env = Env::new();
    let d = env.cdir("noisy");
    for i in 0..100 {
        append(&d.join("0.log"), &cri(i));
    }
    let mut o = env.opts();
    o.rate_limit_bytes = 50;
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(o, &idx, m.clone());
    step(&mut t);
    let kept = lines(&idx).len() as u64;
    let dropped = m.dropped_total(metrics::DropReason::RateLimit);
    assert!(kept < 100 && dropped > 0);
    assert_eq!(kept + dropped, 100);
}
