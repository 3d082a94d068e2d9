//! The real `lookout` binary run as a child process against the fake API server (`k8s_fake`,
//! in the test process) through a kubeconfig: what a user runs, with its own memory.
//! Helpers to read its HTTP API, its `/metrics` and its `/proc/<pid>/status`.

#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lookout");

/// A running `lookout agent`; killed when dropped.
pub struct AgentProcess {
    pub child: Child,
    pub base: String,
    log: std::path::PathBuf,
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let status = self.child.wait();
        if std::thread::panicking() {
            // A failed test shows how the agent ended and what it logged.
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("lookout {status:?}; last log lines:");
            for l in tail.iter().rev() {
                eprintln!("  {l}");
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Writes `config` into `dir` and starts `lookout agent` on it (`RUST_LOG` from the
/// environment, default `info`; its output goes to `dir/lookout.log`, whose tail is printed
/// when the test fails).
pub fn start(dir: &Path, config: &str) -> AgentProcess {
    let cfg = dir.join("lookout.yaml");
    std::fs::write(&cfg, config).expect("write config");
    let log_path = dir.join("lookout.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port();
    let child = Command::new(BIN)
        .args(["agent", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("KUBECONFIG")
        .env_remove("NODE_NAME")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start lookout");
    AgentProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log: log_path,
    }
}

impl AgentProcess {
    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn get(&self, path: &str) -> Option<String> {
        let r = reqwest::get(format!("{}{path}", self.base)).await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    }

    pub async fn json(&self, path: &str) -> Option<Value> {
        serde_json::from_str(&self.get(path).await?).ok()
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.unwrap_or_default()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn proc_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0)
    }

    /// Waits until the agent answers `/-/ready`.
    pub async fn ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.get("/-/ready").await.is_none() {
            assert!(self.alive(), "lookout exited");
            assert!(Instant::now() < deadline, "lookout not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The value of the sample `series` (exact name and labels as rendered) in a text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Polls `f` every 200 ms until it returns `Some`, failing the test after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
