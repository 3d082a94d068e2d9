//! Reliability of log tailing: a writer behaving like containerd and the kubelet (CRI lines,
//! partial lines, rotation with rename then gzip, a container restart with a new `<n>.log`, a
//! pod deleted mid-stream) while the `lookout` binary is SIGKILLed and restarted 30 times at
//! random moments. At the end every written line must be found exactly once through the Loki
//! query API.
//!
//! Scaled to run in about a minute: rotation every 256 KB (the kubelet default is 10 MB),
//! ~1 MB/s of logs in total.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ROTATE_BYTES: u64 = 256 * 1024;

/// A tiny deterministic PRNG (xorshift), so failures can be replayed by seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn rfc3339_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil from days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let dd = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// One container's log files, written the way containerd and the kubelet do.
struct Container {
    dir: PathBuf,
    n: u32,
    file: std::fs::File,
    size: u64,
    rotations: u32,
    last_rotated: Option<PathBuf>,
}

impl Container {
    fn new(dir: PathBuf) -> Container {
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join("0.log")).unwrap();
        Container {
            dir,
            n: 0,
            file,
            size: 0,
            rotations: 0,
            last_rotated: None,
        }
    }

    fn live(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.n))
    }

    fn write(&mut self, content: &str, partial: bool) {
        let ts = rfc3339_now();
        let mut buf = String::new();
        if partial {
            // Split into P chunks and a final F chunk, as containerd does past 16 KB.
            let b = content.as_bytes();
            let cuts = [b.len() / 3, 2 * b.len() / 3];
            let mut from = 0;
            for c in cuts {
                buf.push_str(&format!("{ts} stdout P {}\n", &content[from..c]));
                from = c;
            }
            buf.push_str(&format!("{ts} stdout F {}\n", &content[from..]));
        } else {
            buf.push_str(&format!("{ts} stdout F {content}\n"));
        }
        self.file.write_all(buf.as_bytes()).unwrap();
        self.size += buf.len() as u64;
    }

    /// Kubelet rotation: rename the live file, compress the previous rotated file.
    fn maybe_rotate(&mut self, tail_after_rename: &mut dyn FnMut(&mut Container)) {
        if self.size < ROTATE_BYTES {
            return;
        }
        self.rotations += 1;
        let rotated = self
            .dir
            .join(format!("{}.log.20240101-{:06}", self.n, self.rotations));
        std::fs::rename(self.live(), &rotated).unwrap();
        // The runtime writes a little more to the renamed file before it reopens.
        tail_after_rename(self);
        self.file = std::fs::File::create(self.live()).unwrap();
        self.size = 0;
        if let Some(prev) = self.last_rotated.replace(rotated) {
            let data = std::fs::read(&prev).unwrap();
            let tmp = PathBuf::from(format!("{}.gz.tmp", prev.display()));
            let mut e = flate2::write::GzEncoder::new(
                std::fs::File::create(&tmp).unwrap(),
                flate2::Compression::fast(),
            );
            e.write_all(&data).unwrap();
            e.finish().unwrap();
            std::fs::rename(&tmp, format!("{}.gz", prev.display())).unwrap();
            std::fs::remove_file(&prev).unwrap();
        }
    }

    /// The container restarts: a new `<n+1>.log`.
    fn restart(&mut self) {
        self.n += 1;
        self.file = std::fs::File::create(self.live()).unwrap();
        self.size = 0;
        self.last_rotated = None;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_agent(cfg: &Path, data: &Path, port: u16, log: &Path) -> Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(data)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--log-level")
        .arg("warn")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    text.split_once("\r\n\r\n").map(|x| x.1.to_string())
}

/// Counts of each line id found through the Loki API.
fn found(port: u16, start_ns: i64) -> Option<HashMap<String, u32>> {
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        + 60_000_000_000;
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={start_ns}&end={end}&limit=10000000&direction=forward",
        enc(r#"{job="kubernetes-pods"}"#)
    );
    let body = http_get(port, &path)?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let mut out = HashMap::new();
    for s in v["data"]["result"].as_array()? {
        for e in s["values"].as_array()? {
            let line = e[1].as_str()?;
            let id = line.split(' ').find_map(|w| w.strip_prefix("id="))?;
            *out.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    Some(out)
}

#[test]
fn every_line_exactly_once_through_kills_rotation_restarts_and_deletion() {
    let seed = std::env::var("LOGS_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("seed {seed} (set LOGS_RELIABILITY_SEED to replay)");
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let data = tmp.path().join("data");
    let agent_log = tmp.path().join("agent.log");
    let cfg = tmp.path().join("lookout.yaml");
    std::fs::create_dir_all(&pods).unwrap();
    std::fs::write(
        &cfg,
        format!("logs:\n  enabled: true\n  pods_root: {}\n  commit:\n    max_lines: 5000\n    interval: 200ms\n", pods.display()),
    )
    .unwrap();
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        - 60_000_000_000;

    let written = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let delete_doomed = Arc::new(AtomicBool::new(false));
    let doomed_deleted = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (written, stop, pods, delete_doomed, doomed_deleted, bytes) = (
            written.clone(),
            stop.clone(),
            pods.clone(),
            delete_doomed.clone(),
            doomed_deleted.clone(),
            bytes.clone(),
        );
        std::thread::spawn(move || {
            let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
            let names = ["web", "api", "worker", "doomed"];
            let mut cs: Vec<Option<Container>> = names
                .iter()
                .map(|p| {
                    Some(Container::new(
                        pods.join(format!("prod_{p}-0_uid-{p}")).join("app"),
                    ))
                })
                .collect();
            let mut seq = 0u64;
            let mut restarted = false;
            let pad = "x".repeat(100);
            let t0 = Instant::now();
            while !stop.load(Relaxed) {
                for (i, c) in cs.iter_mut().enumerate() {
                    let Some(c) = c else { continue };
                    for _ in 0..4 {
                        seq += 1;
                        let id = format!("{}-{seq}", names[i]);
                        let line = format!("level=info id={id} msg=\"request handled\" pad={pad}");
                        let partial = rng.below(40) == 0;
                        c.write(&line, partial);
                        bytes.fetch_add(line.len() as u64, Relaxed);
                        written.lock().unwrap().push(id);
                    }
                    let mut extra = |c: &mut Container| {
                        for _ in 0..2 {
                            seq += 1;
                            let id = format!("{}-{seq}", names[i]);
                            c.write(
                                &format!(
                                    "level=warn id={id} msg=\"late write to the renamed file\""
                                ),
                                false,
                            );
                            written.lock().unwrap().push(id);
                        }
                    };
                    c.maybe_rotate(&mut extra);
                }
                if !restarted && t0.elapsed() > Duration::from_secs(8) {
                    restarted = true;
                    if let Some(c) = cs[2].as_mut() {
                        c.restart();
                    }
                }
                if delete_doomed.load(Relaxed) && cs[3].is_some() {
                    let c = cs[3].take().unwrap();
                    drop(c.file);
                    std::fs::remove_dir_all(c.dir.parent().unwrap()).unwrap();
                    doomed_deleted.store(true, Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let mut rng = Rng(seed);
    let port = free_port();
    for round in 0..30 {
        let mut child = start_agent(&cfg, &data, port, &agent_log);
        if round == 12 {
            // Delete a pod while the agent runs and let it finish the files before the next
            // kill (a pod deleted while no agent runs loses its unread lines, as on a node).
            // Wait until the agent has caught up with the doomed pod, then delete it.
            let wait_until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < wait_until {
                let want = written
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|id| id.starts_with("doomed-"))
                    .count();
                let have = found(port, start_ns)
                    .map_or(0, |f| f.keys().filter(|k| k.starts_with("doomed-")).count());
                if have + 50 >= want {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            delete_doomed.store(true, Relaxed);
            while !doomed_deleted.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(3000));
        }
        std::thread::sleep(Duration::from_millis(200 + rng.below(2000)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    stop.store(true, Relaxed);
    writer.join().unwrap();
    let written = written.lock().unwrap().clone();
    eprintln!(
        "wrote {} lines, {} MB",
        written.len(),
        bytes.load(Relaxed) >> 20
    );

    let mut child = start_agent(&cfg, &data, port, &agent_log);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = HashMap::new();
    while Instant::now() < deadline {
        if let Some(f) = found(port, start_ns) {
            let n: u32 = f.values().sum();
            got = f;
            if n as usize >= written.len() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Graceful stop: SIGTERM commits and exits cleanly.
    unsafe_sigterm(&child);
    let status = child.wait().unwrap();
    let missing: Vec<&String> = written.iter().filter(|id| !got.contains_key(*id)).collect();
    let dup: Vec<(&String, &u32)> = got.iter().filter(|(_, n)| **n != 1).collect();
    let unknown = got.len() - (written.len() - missing.len());
    if !missing.is_empty() || !dup.is_empty() {
        let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
        eprintln!(
            "agent log tail:\n{}",
            &log[log.len().saturating_sub(4000)..]
        );
    }
    let mut by_pod: HashMap<&str, usize> = HashMap::new();
    for m in &missing {
        *by_pod.entry(m.split('-').next().unwrap_or("")).or_default() += 1;
    }
    assert!(
        missing.is_empty(),
        "missing by pod {by_pod:?}; {} of {} lines missing, e.g. {:?}",
        missing.len(),
        written.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        dup.is_empty(),
        "{} lines found more than once, e.g. {:?}",
        dup.len(),
        &dup[..dup.len().min(10)]
    );
    assert_eq!(unknown, 0, "lines found that were never written");
    assert!(status.success(), "agent exit after SIGTERM: {status}");
}

fn unsafe_sigterm(child: &Child) {
    // std has no SIGTERM; use the `kill` program.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}
