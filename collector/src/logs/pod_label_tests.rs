//! The tailer with the pod-label map: waiting (bounded) for an unknown pod, labels keyed by
//! UID, deleted pods keeping their labels, label changes of a live pod.

use super::*;
use lookout_store::logs::{Direction, LogQuery, LogSearcher};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

struct Env {
    dir: tempfile::TempDir,
    map: Arc<PodLabels>,
}

impl Env {
    fn new(opts: PodLabelOptions) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            map: PodLabels::new(opts),
        }
    }
    /// `<pods>/ns_<pod>_<uid>/app/0.log`
    fn file(&self, pod: &str, uid: &str) -> PathBuf {
        let d = self
            .dir
            .path()
            .join("pods")
            .join(format!("ns_{pod}_{uid}"))
            .join("app");
        std::fs::create_dir_all(&d).unwrap();
        d.join("0.log")
    }
    fn tailer(&self, idx: &Arc<LogIndex>, m: &Arc<LogMetrics>) -> Tailer {
        let mut o = TailOptions::new(self.dir.path().join("logs/checkpoints"));
        o.pods_root = Some(self.dir.path().join("pods"));
        o.node = "node-1".into();
        o.release_after = Duration::ZERO;
        o.idle_flush = Duration::ZERO;
        o.pod_labels = Some(self.map.clone());
        Tailer::new(o, idx, m.clone())
    }
    fn index(&self) -> Arc<LogIndex> {
        LogIndex::open(LogIndexOptions::new(self.dir.path().join("logs/index"))).unwrap()
    }
}

fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(p: &std::path::Path, from: usize, to: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    for i in from..to {
        writeln!(f, "2024-01-01T00:00:00.{i:09}Z stdout F line {i}").unwrap();
    }
}

fn step(t: &mut Tailer) {
    t.scan();
    while t.pump() > 0 {}
    t.release();
    t.commit();
}

/// (line, value of `label`) of every indexed line, in order.
fn rows(idx: &LogIndex, label: &str) -> Vec<(String, Option<String>)> {
    let q = LogQuery {
        start_ns: 0,
        end_ns: i64::MAX,
        ..LogQuery::default()
    };
    let mut v: Vec<(String, Option<String>)> = idx
        .select(&q, Direction::Forward, usize::MAX, &mut |_| true)
        .unwrap()
        .into_iter()
        .map(|r| (r.line.clone(), r.labels.get(label).map(str::to_string)))
        .collect();
    v.sort();
    v
}

#[test]
fn unknown_pod_waits_then_gets_sanitized_labels() {
    let env = Env::new(PodLabelOptions {
        wait: Duration::from_secs(3600),
        ..PodLabelOptions::default()
    });
    env.map.set_active(true);
    env.map.sync([], Instant::now());
    let f = env.file("web", "uid-a");
    write(&f, 0, 3);
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = env.tailer(&idx, &m);
    step(&mut t);
    assert!(rows(&idx, "app").is_empty(), "read before its labels came");
    let labels = raw(&[
        ("app", "web"),
        ("app.kubernetes.io/name", "shop"),
        ("namespace", "evil"),
    ]);
    env.map.sync([("uid-a", &labels)], Instant::now());
    step(&mut t);
    let q = LogQuery {
        start_ns: 0,
        end_ns: i64::MAX,
        ..LogQuery::default()
    };
    let r = idx
        .select(&q, Direction::Forward, usize::MAX, &mut |_| true)
        .unwrap();
    assert_eq!(r.len(), 3);
    for row in &r {
        let l = &row.labels;
        assert_eq!(l.get("app"), Some("web"));
        assert_eq!(l.get("app_kubernetes_io_name"), Some("shop"));
        assert_eq!(l.get("namespace"), Some("ns"), "path labels win");
        assert_eq!(l.get("pod_uid"), Some("uid-a"));
        assert_eq!(l.get("stream"), Some("stdout"));
    }
    assert_eq!(m.pod_labels_missing.load(Relaxed), 0);
}

#[test]
fn the_wait_is_bounded_and_nothing_is_lost() {
    let env = Env::new(PodLabelOptions {
        wait: Duration::from_millis(200),
        ..PodLabelOptions::default()
    });
    env.map.set_active(true);
    let f = env.file("ghost", "uid-g");
    write(&f, 0, 5);
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = env.tailer(&idx, &m);
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows(&idx, "app").len() < 5 {
        assert!(Instant::now() < deadline, "lines never read");
        step(&mut t);
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = rows(&idx, "pod");
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|(_, p)| p.as_deref() == Some("ghost")));
    assert!(rows(&idx, "app").iter().all(|(_, a)| a.is_none()));
    assert_eq!(m.pod_labels_missing.load(Relaxed), 1);
}

#[test]
fn inactive_map_does_not_delay_reading() {
    let env = Env::new(PodLabelOptions {
        wait: Duration::from_secs(3600),
        ..PodLabelOptions::default()
    });
    let f = env.file("web", "uid-a");
    write(&f, 0, 2);
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = env.tailer(&idx, &m);
    step(&mut t);
    assert_eq!(rows(&idx, "pod").len(), 2);
}

#[test]
fn recreated_pod_with_the_same_name_has_its_own_labels() {
    let env = Env::new(PodLabelOptions::default());
    env.map.set_active(true);
    let (v1, v2) = (raw(&[("version", "v1")]), raw(&[("version", "v2")]));
    env.map.sync([("uid-1", &v1)], Instant::now());
    let old = env.file("web", "uid-1");
    write(&old, 0, 2);
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = env.tailer(&idx, &m);
    step(&mut t);
    // The pod is deleted and re-created with the same name: a new UID, new labels.
    env.map.sync([("uid-2", &v2)], Instant::now());
    write(&old, 2, 3); // the old container's last line, after the deletion
    let new = env.file("web", "uid-2");
    write(&new, 10, 12);
    step(&mut t);
    let got = rows(&idx, "version");
    let want: Vec<(String, Option<String>)> = [
        ("line 0", "v1"),
        ("line 1", "v1"),
        ("line 10", "v2"),
        ("line 11", "v2"),
        ("line 2", "v1"),
    ]
    .iter()
    .map(|(l, v)| (l.to_string(), Some(v.to_string())))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn deleted_pods_keep_labels_for_open_files_and_within_the_grace() {
    let env = Env::new(PodLabelOptions {
        keep_deleted: Duration::from_secs(3600),
        wait: Duration::from_secs(3600),
        ..PodLabelOptions::default()
    });
    env.map.set_active(true);
    let labels = raw(&[("app", "db")]);
    let t0 = Instant::now();
    env.map.sync([("uid-d", &labels)], t0);
    let f = env.file("db", "uid-d");
    write(&f, 0, 2);
    {
        let idx = env.index();
        let m = Arc::new(LogMetrics::default());
        let mut t = env.tailer(&idx, &m);
        step(&mut t);
        env.map.sync([], t0); // deleted
        write(&f, 2, 4);
        step(&mut t);
        t.commit();
    }
    // The agent restarts while the pod is deleted but within the grace: the resumed file
    // still gets the pod's labels at once.
    write(&f, 4, 6);
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = env.tailer(&idx, &m);
    step(&mut t);
    let got = rows(&idx, "app");
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(
        got.iter().all(|(_, a)| a.as_deref() == Some("db")),
        "{got:?}"
    );
    // Past the grace the entry is forgotten, but the open file keeps its labels.
    env.map.sync([], t0 + Duration::from_secs(7200));
    assert!(env.map.get("uid-d").is_none());
    write(&f, 6, 7);
    step(&mut t);
    assert!(
        rows(&idx, "app")
            .iter()
            .all(|(_, a)| a.as_deref() == Some("db"))
    );
    assert_eq!(rows(&idx, "app").len(), 7);
}

#[test]
fn label_changes_of_a_live_pod_apply_to_later_lines() {
    let env = Env::new(PodLabelOptions::default());
    env.map.set_active(true);
    env.map
        .sync([("uid-a", &raw(&[("track", "stable")]))], Instant::now());
    let f = env.file("web", "uid-a");
    write(&f, 0, 1);
    let idx = env.index();
    let m = Arc::new(LogMetrics::default());
    let mut t = env.tailer(&idx, &m);
    step(&mut t);
    env.map
        .sync([("uid-a", &raw(&[("track", "canary")]))], Instant::now());
    write(&f, 1, 2);
    step(&mut t);
    assert_eq!(
        rows(&idx, "track"),
        [
            ("line 0".to_string(), Some("stable".to_string())),
            ("line 1".into(), Some("canary".into()))
        ]
    );
}
