//! Bounds: data is lost only by a limit, and then counted in bytes; files held open survive
//! rotation and deletion.

use super::metrics::LossReason;
use super::*;
use lookout_store::logs::{Direction, LogQuery, LogSearcher};
use std::io::Write;
use std::path::{Path, PathBuf};
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
    fn cdir(&self) -> PathBuf {
        let d = self.dir.path().join("pods/ns_web_uid-web/app");
        std::fs::create_dir_all(&d).unwrap();
        d
    }
    /// Reads at most one 4 KiB chunk per file per pump.
    fn opts(&self) -> TailOptions {
        let mut o = TailOptions::new(self.dir.path().join("logs/checkpoints"));
        o.pods_root = Some(self.dir.path().join("pods"));
        o.node = "node-1".into();
        o.release_after = Duration::ZERO;
        o.idle_flush = Duration::ZERO;
        o.read_chunk = 4096;
        o.file_budget = 4096;
        o
    }
    fn index(&self) -> Arc<LogIndex> {
        LogIndex::open(LogIndexOptions::new(self.dir.path().join("logs/index"))).unwrap()
    }
}

/// Lines `from..to` in CRI format.
fn cri(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("2024-01-01T00:00:00.{i:09}Z stdout F line {i}\n"))
        .collect()
}

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn lines(idx: &LogIndex) -> Vec<String> {
    let q = LogQuery {
        start_ns: 0,
        end_ns: i64::MAX,
        ..LogQuery::default()
    };
    let mut v: Vec<String> = idx
        .select(&q, Direction::Forward, usize::MAX, &mut |_| true)
        .unwrap()
        .into_iter()
        .map(|r| r.line)
        .collect();
    v.sort_by_key(|l| {
        l.strip_prefix("line ")
            .and_then(|n| n.parse::<usize>().ok())
    });
    v
}

fn expect(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("line {i}")).collect()
}

/// Steps (scan, pump once, release, commit) until `done` or 1,000 steps; no clock involved.
fn step_until(t: &mut Tailer, idx: &LogIndex, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    for _ in 0..1_000 {
        t.scan();
        t.pump();
        t.release();
        t.commit();
        let got = lines(idx);
        if done(&got) {
            return got;
        }
    }
    lines(idx)
}

fn lost(m: &LogMetrics) -> (u64, u64) {
    (
        m.lost_total(LossReason::Released),
        m.lost_total(LossReason::RotatedUnread),
    )
}

#[test]
fn a_deleted_file_released_at_the_timeout_counts_its_unread_bytes() {
    let env = Env::new();
    let d = env.cdir();
    let data = cri(0, 200);
    append(&d.join("0.log"), &data);
    let total = data.len() as u64;
    let mut o = env.opts();
    o.release_timeout = Duration::ZERO;
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(o, &idx, m.clone());
    t.scan();
    t.pump();
    t.release();
    assert_eq!(m.bytes_read.load(Relaxed), 4096, "one chunk per pump");
    assert_eq!(
        m.files_open.load(Relaxed),
        1,
        "a present file is not released"
    );
    // Rotated and deleted with most of it unread; the timeout (zero here) gives it up.
    let r = d.join("0.log.20240101-000001");
    std::fs::rename(d.join("0.log"), &r).unwrap();
    std::fs::remove_file(&r).unwrap();
    t.scan();
    t.release();
    t.commit();
    assert_eq!(m.files_open.load(Relaxed), 0);
    assert_eq!(lost(&m), (total - 4096, 0));
    assert_eq!(
        m.bytes_read.load(Relaxed) + m.lost_total(LossReason::Released),
        total
    );
    // What was read is indexed: the complete lines, and the cut last one as a fragment.
    let complete = data.as_bytes()[..4096]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let (whole, cut): (Vec<String>, Vec<String>) = lines(&idx)
        .into_iter()
        .partition(|l| l.starts_with("line "));
    assert_eq!(whole, expect(0..complete));
    assert_eq!(cut.len(), 1);
    assert!(data.as_bytes()[..4096].ends_with(cut[0].as_bytes()));
    assert_eq!(m.unterminated_lines.load(Relaxed), 1);
    let mut text = String::new();
    m.render(&mut text);
    assert!(text.contains(&format!(
        "lookout_log_bytes_lost_total{{reason=\"released\"}} {}",
        total - 4096
    )));
    assert!(text.contains("lookout_log_bytes_lost_total{reason=\"rotated_unread\"} 0"));
    assert!(!text.contains("lookout_log_lines_dropped_total{reason=\"released\"}"));
}

#[test]
fn a_held_file_renamed_and_deleted_is_read_completely() {
    let env = Env::new();
    let d = env.cdir();
    append(&d.join("0.log"), &cri(0, 200));
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(env.opts(), &idx, m.clone());
    t.scan();
    t.pump();
    assert_eq!(m.bytes_read.load(Relaxed), 4096);
    // More lines, then rotation and deletion before the tailer read on: the handle it holds
    // still reads the file to its end.
    append(&d.join("0.log"), &cri(200, 300));
    let r = d.join("0.log.20240101-000001");
    std::fs::rename(d.join("0.log"), &r).unwrap();
    std::fs::remove_file(&r).unwrap();
    let got = step_until(&mut t, &idx, |l| l.len() >= 300);
    assert_eq!(got, expect(0..300));
    assert_eq!(lost(&m), (0, 0));
    assert_eq!(
        m.bytes_read.load(Relaxed),
        (cri(0, 200).len() + cri(200, 300).len()) as u64
    );
    t.release();
    assert_eq!(m.files_open.load(Relaxed), 0, "released once read");
}

#[test]
fn a_file_read_to_its_end_then_written_rotated_and_deleted_is_not_released_early() {
    let env = Env::new();
    let d = env.cdir();
    append(&d.join("0.log"), &cri(0, 10));
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(env.opts(), &idx, m.clone());
    t.scan();
    t.pump();
    t.pump();
    assert_eq!(lines_read(&m), cri(0, 10).len() as u64, "read to its end");
    // Written after that read, then rotated and deleted before the next read: the end-of-file
    // state is stale, so release (idle time 0 here) must not drop the file.
    append(&d.join("0.log"), &cri(10, 400));
    let r = d.join("0.log.20240101-000001");
    std::fs::rename(d.join("0.log"), &r).unwrap();
    t.scan();
    std::fs::remove_file(&r).unwrap();
    t.scan();
    t.release();
    let got = step_until(&mut t, &idx, |l| l.len() >= 400);
    assert_eq!(got, expect(0..400));
    assert_eq!(lost(&m), (0, 0));
    assert_eq!(m.lost_total(LossReason::BacklogLimit), 0);
}

fn lines_read(m: &LogMetrics) -> u64 {
    m.bytes_read.load(Relaxed)
}

#[test]
fn the_next_live_file_is_held_as_soon_as_a_rotation_is_seen() {
    let env = Env::new();
    let d = env.cdir();
    append(&d.join("0.log"), &cri(0, 200));
    let mut o = env.opts();
    o.live_check = Duration::ZERO;
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(o, &idx, m.clone());
    t.scan();
    t.pump();
    // Rotation while the tailer is busy reading (no periodic scan runs in this test after
    // this point until both files are deleted).
    // The runtime creates the new live file empty; it is held all the same.
    std::fs::rename(d.join("0.log"), d.join("0.log.20240101-000001")).unwrap();
    append(&d.join("0.log"), "");
    t.pump();
    assert_eq!(m.files_open.load(Relaxed), 2, "the new live file is open");
    append(&d.join("0.log"), &cri(200, 300));
    // The new file is rotated too, and both rotated files are deleted: nothing is lost
    // because both are held.
    std::fs::rename(d.join("0.log"), d.join("0.log.20240101-000002")).unwrap();
    std::fs::remove_file(d.join("0.log.20240101-000001")).unwrap();
    std::fs::remove_file(d.join("0.log.20240101-000002")).unwrap();
    let got = step_until(&mut t, &idx, |l| l.len() >= 300);
    assert_eq!(got, expect(0..300));
    assert_eq!(lost(&m), (0, 0));
}

#[test]
fn a_file_deleted_before_it_could_be_opened_is_counted_at_the_next_scan() {
    let env = Env::new();
    let d = env.cdir();
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(env.opts(), &idx, m.clone());
    t.scan();
    // Listed (size known), then deleted before the open.
    let gone = d.join("0.log.20240101-000001");
    append(&gone, &cri(0, 50));
    let meta = std::fs::metadata(&gone).unwrap();
    std::fs::remove_file(&gone).unwrap();
    t.track_as_listed(&gone, &meta);
    assert_eq!(
        lost(&m),
        (0, 0),
        "not counted before the next scan confirms it"
    );
    // Listed, then renamed before the open: found again under the new name, not lost.
    let moved = d.join("0.log");
    append(&moved, &cri(50, 60));
    let meta2 = std::fs::metadata(&moved).unwrap();
    std::fs::rename(&moved, d.join("0.log.20240101-000002")).unwrap();
    t.track_as_listed(&moved, &meta2);
    t.scan();
    assert_eq!(lost(&m), (0, meta.len()));
    assert_eq!(
        m.open_errors.load(Relaxed),
        0,
        "a vanished file is no open error"
    );
    let got = step_until(&mut t, &idx, |l| l.len() >= 10);
    assert_eq!(got, expect(50..60));
    t.scan();
    assert_eq!(lost(&m), (0, meta.len()), "counted once");
}

#[test]
fn deleted_files_beyond_the_backlog_limit_are_given_up_oldest_first() {
    let env = Env::new();
    let d = env.cdir();
    let (a, b) = (
        d.join("0.log.20240101-000001"),
        d.join("0.log.20240101-000002"),
    );
    let (da, db) = (cri(0, 200), cri(1000, 1200));
    append(&a, &da);
    append(&b, &db);
    let unread_b = db.len() as u64 - 4096;
    let mut o = env.opts();
    o.max_deleted_backlog = unread_b;
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(o, &idx, m.clone());
    t.scan();
    t.pump();
    assert_eq!(m.bytes_read.load(Relaxed), 2 * 4096);
    // Deleted, A first: both are held, A's unread rest goes first when they hold too much.
    std::fs::remove_file(&a).unwrap();
    t.scan();
    t.release();
    assert_eq!(m.files_open.load(Relaxed), 2, "within the limit: held");
    std::thread::sleep(Duration::from_millis(5)); // distinct deletion times, not a timing check
    std::fs::remove_file(&b).unwrap();
    t.scan();
    t.release();
    assert_eq!(m.files_open.load(Relaxed), 1);
    assert_eq!(
        lost(&m),
        (0, 0),
        "released and rotated_unread stay zero; the backlog limit is its own reason"
    );
    assert_eq!(
        m.lost_total(LossReason::BacklogLimit),
        da.len() as u64 - 4096
    );
    let got = step_until(&mut t, &idx, |l| l.iter().any(|x| x == "line 1199"));
    let from_b: Vec<String> = got
        .iter()
        .filter(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse::<usize>().ok())
                >= Some(1000)
        })
        .cloned()
        .collect();
    assert_eq!(
        from_b,
        expect(1000..1200),
        "B, within the limit, is read completely"
    );
    assert_eq!(
        m.bytes_read.load(Relaxed) + m.lost_total(LossReason::BacklogLimit),
        (da.len() + db.len()) as u64
    );
}

/// A tailer with an early-open list, after its first scan of an empty container directory
/// (`env` owns the temporary directory: keep it alive).
struct EarlyEnv {
    env: Env,
    d: PathBuf,
    early: Arc<super::early::EarlyOpen>,
    idx: Arc<LogIndex>,
    m: Arc<LogMetrics>,
    t: Tailer,
}

fn early_env() -> EarlyEnv {
    let env = Env::new();
    let d = env.cdir();
    let early = Arc::new(super::early::EarlyOpen::new(
        env.dir.path().join("pods"),
        16,
    ));
    let mut o = env.opts();
    o.early = Some(early.clone());
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(o, &idx, m.clone());
    t.scan();
    EarlyEnv {
        env,
        d,
        early,
        idx,
        m,
        t,
    }
}

#[test]
fn a_file_first_seen_by_its_rename_event_is_read_after_delete() {
    use notify::event::{ModifyKind, RenameMode};
    let EarlyEnv {
        env: _env,
        d,
        early,
        idx,
        m,
        mut t,
    } = early_env();
    // Created and filled, its create event handled too late (the path already named the next
    // file); the rename event's destination is held; then deleted before any scan.
    let a = d.join("0.log");
    append(&a, &cri(0, 50));
    let r = d.join("0.log.20240101-000001");
    std::fs::rename(&a, &r).unwrap();
    let ev = notify::Event::new(notify::EventKind::Modify(ModifyKind::Name(
        RenameMode::Both,
    )))
    .add_path(a.clone())
    .add_path(r.clone());
    early.on_event(&ev);
    std::fs::remove_file(&r).unwrap();
    let got = step_until(&mut t, &idx, |l| l.len() >= 50);
    assert_eq!(got, expect(0..50), "each line once");
    assert_eq!(m.files_adopted.load(Relaxed), 1);
    assert_eq!(lost(&m), (0, 0));
}

#[test]
fn a_live_file_held_since_its_creation_is_read_after_rename_and_delete() {
    let EarlyEnv {
        env: _env,
        d,
        early,
        idx,
        m,
        mut t,
    } = early_env();
    // Created (the watcher holds it on the create event), filled, rotated and deleted, all
    // before the tailer's next scan.
    let a = d.join("0.log");
    append(&a, "");
    early.hold(&a);
    append(&a, &cri(0, 100));
    std::fs::rename(&a, d.join("0.log.20240101-000001")).unwrap();
    std::fs::remove_file(d.join("0.log.20240101-000001")).unwrap();
    // Created and still there: listed by the scan, its early handle is not used.
    let b = d.join("1.log");
    append(&b, "");
    early.hold(&b);
    append(&b, &cri(100, 110));
    // Not held: paths outside the pods root. Held but listed (so read by path): an empty
    // rotated file.
    let other = tempfile::tempdir().unwrap();
    append(&other.path().join("x.log"), "x\n");
    early.hold(&other.path().join("x.log"));
    append(&d.join("1.log.20240101-000001"), "");
    early.hold(&d.join("1.log.20240101-000001"));
    let got = step_until(&mut t, &idx, |l| l.len() >= 110);
    assert_eq!(got, expect(0..110), "each line once");
    assert_eq!(m.files_adopted.load(Relaxed), 1);
    assert_eq!(lost(&m), (0, 0));
    assert_eq!(m.lost_total(LossReason::BacklogLimit), 0);
    assert!(early.take().is_empty(), "the scan took every handle");
}

#[test]
fn the_backlog_limit_holds_within_a_read_round() {
    let env = Env::new();
    let d = env.cdir();
    let (a, b) = (
        d.join("0.log.20240101-000001"),
        d.join("0.log.20240101-000002"),
    );
    append(&a, &cri(0, 200));
    append(&b, &cri(1000, 1200));
    let mut o = env.opts();
    o.max_deleted_backlog = 1;
    o.live_check = Duration::ZERO;
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(o, &idx, m.clone());
    t.scan();
    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(&b).unwrap();
    t.scan();
    // No release() between rounds: pump() itself gives the files up.
    t.pump();
    assert_eq!(m.files_open.load(Relaxed), 0);
    assert_eq!(
        m.bytes_read.load(Relaxed) + m.lost_total(LossReason::BacklogLimit),
        (cri(0, 200).len() + cri(1000, 1200).len()) as u64
    );
}

#[test]
fn a_file_deleted_while_the_agent_was_down_counts_its_unread_bytes_once() {
    let env = Env::new();
    let d = env.cdir();
    let data = cri(0, 200);
    append(&d.join("0.log"), &data);
    // Another container's file, still there after the restart: not counted.
    let side = env.dir.path().join("pods/ns_web_uid-web/side");
    std::fs::create_dir_all(&side).unwrap();
    append(&side.join("0.log"), &cri(0, 10));
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = Tailer::new(env.opts(), &idx, m.clone());
    t.scan();
    t.pump();
    t.commit();
    drop(t);
    // Committed: the complete lines of the first 4 KiB chunk.
    let committed = data.as_bytes()[..4096]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap() as u64
        + 1;
    let unread = data.len() as u64 - committed;

    // Deleted while the agent is down.
    std::fs::remove_file(d.join("0.log")).unwrap();
    let m2 = Arc::new(LogMetrics::default());
    let mut t2 = Tailer::new(env.opts(), &idx, m2.clone());
    t2.scan();
    assert_eq!(
        m2.lost_total(LossReason::DeletedWhileDown),
        0,
        "not before the second scan"
    );
    t2.scan();
    assert_eq!(m2.lost_total(LossReason::DeletedWhileDown), unread);
    t2.scan();
    t2.pump();
    t2.commit();
    assert_eq!(m2.lost_total(LossReason::DeletedWhileDown), unread);
    let mut text = String::new();
    m2.render(&mut text);
    assert!(text.contains(&format!(
        "lookout_log_bytes_lost_total{{reason=\"deleted_while_down\"}} {unread}"
    )));
    drop(t2);

    // Counted once: the next start does not count it again.
    let m3 = Arc::new(LogMetrics::default());
    let mut t3 = Tailer::new(env.opts(), &idx, m3.clone());
    t3.scan();
    t3.scan();
    assert_eq!(m3.lost_total(LossReason::DeletedWhileDown), 0);
    // Nothing was read twice: the side file's 10 lines and the committed ones, once each.
    let complete = data.as_bytes()[..committed as usize]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    assert_eq!(lines(&idx).len(), 10 + complete);
}
