//! Test helpers: a loopback HTTP server whose responses a test scripts per path (including
//! ones no real exporter should send), and a scrape manager wired to an in-memory head.

#![allow(dead_code)]

use lookout_collector::discovery::{self, Update};
use lookout_collector::scrape::ScrapeManager;
use lookout_collector::scrape::target::Target;
use lookout_collector::telemetry::Telemetry;
use lookout_store::{Head, Matcher, Querier, Series};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does for one request.
pub enum Reply {
    /// A complete response: status, content type, body.
    Full(u16, &'static str, Vec<u8>),
    /// A 200 response whose body is already gzip-compressed.
    Gzip(&'static str, Vec<u8>),
    /// Accept the request and never answer.
    Hang,
    /// A redirect to the given location.
    Redirect(String),
    /// A chunked body that never ends.
    Endless,
}

/// `handler(request, n)`: the request head (request line and headers) and how many requests
/// its path has had so far (1 for the first).
pub type Handler = Arc<dyn Fn(&Request, usize) -> Reply + Send + Sync>;

/// One request as the handler sees it.
pub struct Request {
    pub path: String,
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Starts a server answering every request with `handler`.
pub async fn serve(handler: Handler) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let counts = Arc::new(parking_lot::Mutex::new(HashMap::<String, usize>::new()));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let h = handler.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end + 4);
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.trim()
                                .eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < len {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buf.drain(..len).collect();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let n = {
                        let mut c = counts.lock();
                        let e = c.entry(path.clone()).or_insert(0);
                        *e += 1;
                        *e
                    };
                    match h(&Request { path, head, body }, n) {
                        Reply::Full(code, ct, body) => {
                            let hdr = format!(
                                "HTTP/1.1 {code} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                                body.len()
                            );
                            if s.write_all(hdr.as_bytes()).await.is_err()
                                || s.write_all(&body).await.is_err()
                            {
                                return;
                            }
                        }
                        Reply::Gzip(ct, body) => {
                            let hdr = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                                body.len()
                            );
                            if s.write_all(hdr.as_bytes()).await.is_err()
                                || s.write_all(&body).await.is_err()
                            {
                                return;
                            }
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        Reply::Redirect(to) => {
                            let hdr = format!(
                                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
                            );
                            if s.write_all(hdr.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        Reply::Endless => {
                            let hdr = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
                            if s.write_all(hdr.as_bytes()).await.is_err() {
                                return;
                            }
                            let line = "endless_metric{a=\"b\"} 1\n".repeat(400);
                            let chunk = format!("{:x}\r\n{line}\r\n", line.len());
                            loop {
                                if s.write_all(chunk.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A manager scraping into a fresh head.
pub struct Rig {
    pub head: Arc<Head>,
    pub telemetry: Arc<Telemetry>,
    pub manager: ScrapeManager,
}

impl Rig {
    pub fn new(yaml: &str) -> Rig {
        let head = Arc::new(Head::new());
        let telemetry = Arc::new(Telemetry::new());
        let manager = ScrapeManager::new(head.clone(), telemetry.clone());
        let r = Rig {
            head,
            telemetry,
            manager,
        };
        r.apply(yaml);
        r
    }

    pub fn apply(&self, yaml: &str) {
        let cfg = lookout_config::load_str(yaml, "test.yaml").expect("test config is valid");
        self.manager.apply_config(&cfg.scrape_configs);
        for c in &cfg.scrape_configs {
            self.manager.update(Update {
                job: c.job_name.clone(),
                provider: "static".into(),
                groups: discovery::static_groups(c),
            });
        }
    }

    pub fn target(&self, job: &str) -> Option<Arc<Target>> {
        self.manager
            .targets()
            .0
            .into_iter()
            .find(|t| t.scrape_pool() == job)
    }

    /// Waits until every active target has been scraped at least `n` times.
    pub async fn wait_scrapes(&self, n: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (active, _) = self.manager.targets();
            let done = active.iter().all(|t| {
                let st = t.status.lock();
                st.last_scrape.is_some()
            }) && self
                .telemetry
                .scrapes_total
                .load(std::sync::atomic::Ordering::Relaxed)
                >= n * active.len() as u64;
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "targets were not scraped in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn select(&self, matchers: &[(&str, &str)]) -> Vec<Series> {
        let m: Vec<Matcher> = matchers
            .iter()
            .map(|(n, v)| Matcher::equal(*n, *v))
            .collect();
        self.head.select(&m, i64::MIN / 2, i64::MAX / 2).unwrap()
    }

    /// The last `up` value of a job.
    pub fn up(&self, job: &str) -> Option<f64> {
        let s = self.select(&[("__name__", "up"), ("job", job)]);
        s.first().and_then(|s| s.samples.last()).map(|x| x.1)
    }
}
