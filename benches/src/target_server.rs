//! Many synthetic scrape targets served from one process over loopback.
//!
//! Each target has its own socket address ([`target_addrs`]): either one IP with consecutive
//! ports, or consecutive loopback IPs (127.0.0.0/8 is all local on Linux) on one port. A
//! minimal HTTP/1.1 server answers `GET /metrics` with the target's [`Payload`] render as
//! `text/plain; version=0.0.4`, with `Content-Length` and keep-alive; `GET /stats` on any
//! target returns `{"requests":R,"targets_seen":T}` (scrapes served, distinct targets scraped
//! at least once) and `GET /stats/reset` does the same and then zeroes both.
//!
//! Invariants: a malformed or oversized request gets a 4xx and the connection closes; nothing
//! here panics on request bytes. Cost per scrape: one render into a pooled buffer (no
//! allocation once the pool is warm) and one `write_all`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::exposition::Payload;

/// How targets get distinct addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrMode {
    /// `ip:base_port + i`.
    Ports,
    /// `(ip + i):base_port`, skipping host bytes .0 and .255; must stay inside 127.0.0.0/8.
    Ips,
}

/// The `n` addresses of the targets, or why they cannot be laid out.
pub fn target_addrs(
    mode: AddrMode,
    ip: Ipv4Addr,
    base_port: u16,
    n: usize,
) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::with_capacity(n);
    match mode {
        AddrMode::Ports => {
            for i in 0..n {
                let port = usize::from(base_port) + i;
                let port = u16::try_from(port)
                    .map_err(|_| format!("port {port} for target {i} is past 65535"))?;
                out.push(SocketAddr::new(IpAddr::V4(ip), port));
            }
        }
        AddrMode::Ips => {
            let mut a = u32::from(ip);
            while out.len() < n {
                let cur = Ipv4Addr::from(a);
                if cur.octets()[0] != 127 {
                    return Err(format!("{n} targets from {ip} leave 127.0.0.0/8 at {cur}"));
                }
                if !matches!(cur.octets()[3], 0 | 255) {
                    out.push(SocketAddr::new(IpAddr::V4(cur), base_port));
                }
                a = a
                    .checked_add(1)
                    .ok_or_else(|| format!("address overflow after {cur}"))?;
            }
        }
    }
    Ok(out)
}

/// Bytes reserved before the body in pooled buffers, for the response head.
const HEAD_ROOM: usize = 160;
/// Largest request head accepted.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// State shared by every target of the process.
#[derive(Debug)]
pub struct Server {
    payload: Payload,
    start: Instant,
    requests: AtomicU64,
    per_target: Vec<AtomicU64>,
    pool: Mutex<Vec<Vec<u8>>>,
}

impl Server {
    /// A server for `targets` targets that all expose `payload`.
    pub fn new(payload: Payload, targets: usize) -> Self {
        Self {
            payload,
            start: Instant::now(),
            requests: AtomicU64::new(0),
            per_target: (0..targets).map(|_| AtomicU64::new(0)).collect(),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// (scrapes served, targets scraped at least once) since start or the last reset.
    pub fn stats(&self) -> (u64, usize) {
        let seen = self
            .per_target
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) > 0)
            .count();
        (self.requests.load(Ordering::Relaxed), seen)
    }

    fn reset_stats(&self) {
        self.requests.store(0, Ordering::Relaxed);
        for c in &self.per_target {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn take_buf(&self) -> Vec<u8> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        pooled.unwrap_or_else(|| Vec::with_capacity(HEAD_ROOM + self.payload.approx_len()))
    }

    fn give_buf(&self, buf: Vec<u8>) {
        if let Ok(mut p) = self.pool.lock()
            && p.len() < 64
        {
            p.push(buf);
        }
    }

    /// Builds the full response for `path` into `buf`; returns where it starts in `buf`.
    fn respond(&self, target: u32, path: &str, close: bool, buf: &mut Vec<u8>) -> usize {
        buf.clear();
        buf.resize(HEAD_ROOM, 0);
        let (status, ctype) = match path {
            "/metrics" => {
                let t = self.start.elapsed().as_secs_f64();
                self.payload.render(target, t, buf);
                self.requests.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = self.per_target.get(target as usize) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                ("200 OK", "text/plain; version=0.0.4; charset=utf-8")
            }
            "/stats" | "/stats/reset" => {
                let (r, seen) = self.stats();
                if path == "/stats/reset" {
                    self.reset_stats();
                }
                buf.extend_from_slice(
                    format!("{{\"requests\":{r},\"targets_seen\":{seen}}}\n").as_bytes(),
                );
                ("200 OK", "application/json")
            }
            _ => {
                buf.extend_from_slice(b"not found\n");
                ("404 Not Found", "text/plain; charset=utf-8")
            }
        };
        head_into(buf, status, ctype, close)
    }
}

/// Writes the response head right-aligned into the reserved room; returns its start.
fn head_into(buf: &mut [u8], status: &str, ctype: &str, close: bool) -> usize {
    let body_len = buf.len() - HEAD_ROOM;
    let conn = if close { "Connection: close\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {body_len}\r\n{conn}\r\n"
    );
    // The longest head is well under HEAD_ROOM: fixed strings plus a 20-digit length.
    let start = HEAD_ROOM - head.len();
    buf[start..HEAD_ROOM].copy_from_slice(head.as_bytes());
    start
}

/// Accepts connections for one target until the listener fails for good.
pub async fn serve(listener: TcpListener, target: u32, server: &'static Server) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    // A peer that resets or sends garbage just loses its connection.
                    let _ = connection(stream, target, server).await;
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                eprintln!("fake_targets: accept on target {target}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One parsed request head.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    close: bool,
    body_len: usize,
}

fn parse_request(head: &str) -> Option<Request<'_>> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    let path = target.split('?').next()?;
    let mut close = version == "HTTP/1.0";
    let mut body_len = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                close = true;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                close = false;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body_len = value.parse().ok()?;
        }
    }
    Some(Request {
        method,
        path,
        close,
        body_len,
    })
}

async fn connection(mut stream: TcpStream, target: u32, server: &'static Server) -> io::Result<()> {
    let mut req = Vec::with_capacity(1024);
    loop {
        let head_end = loop {
            if let Some(p) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if req.len() > MAX_REQUEST_HEAD {
                stream.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
                return Ok(());
            }
            if stream.read_buf(&mut req).await? == 0 {
                return Ok(());
            }
        };
        let parsed = std::str::from_utf8(&req[..head_end])
            .ok()
            .and_then(parse_request);
        let Some(r) = parsed else {
            stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
            return Ok(());
        };
        if r.method != "GET" {
            stream.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
            return Ok(());
        }
        if r.body_len > MAX_REQUEST_HEAD {
            stream.write_all(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
            return Ok(());
        }
        let (close, body_len) = (r.close, r.body_len);
        let mut buf = server.take_buf();
        let start = server.respond(target, r.path, close, &mut buf);
        let written = stream.write_all(&buf[start..]).await;
        server.give_buf(buf);
        written?;
        if close {
            return Ok(());
        }
        // Drop the request head and any body it announced; keep pipelined bytes.
        let consumed = head_end.saturating_add(body_len);
        while req.len() < consumed {
            if stream.read_buf(&mut req).await? == 0 {
                return Ok(());
            }
        }
        req.drain(..consumed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mode_lays_out_consecutive_ports_and_rejects_overflow() {
        let ip = Ipv4Addr::LOCALHOST;
        let a = target_addrs(AddrMode::Ports, ip, 20000, 3).expect("fits");
        let ports: Vec<u16> = a.iter().map(SocketAddr::port).collect();
        assert_eq!(ports, [20000, 20001, 20002]);
        assert!(target_addrs(AddrMode::Ports, ip, 65534, 3).is_err());
    }

    #[test]
    fn ip_mode_skips_network_and_broadcast_bytes_and_stays_in_loopback() {
        let a = target_addrs(AddrMode::Ips, Ipv4Addr::new(127, 1, 0, 253), 9100, 4).expect("fits");
        let ips: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            ips,
            [
                "127.1.0.253:9100",
                "127.1.0.254:9100",
                "127.1.1.1:9100",
                "127.1.1.2:9100"
            ]
        );
        assert!(target_addrs(AddrMode::Ips, Ipv4Addr::new(127, 255, 255, 250), 1, 10).is_err());
    }

    #[test]
    fn request_heads_parse_keep_alive_close_and_bad_input() {
        let r = parse_request("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n")
            .expect("ok");
        assert_eq!(
            (r.method, r.path, r.close, r.body_len),
            ("GET", "/metrics", false, 0)
        );
        let r = parse_request("GET / HTTP/1.1\r\nconnection: Close\r\n\r\n").expect("ok");
        assert!(r.close);
        let r = parse_request("GET / HTTP/1.0\r\n\r\n").expect("ok");
        assert!(r.close);
        let r = parse_request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").expect("ok");
        assert!(!r.close);
        assert!(parse_request("garbage\r\n\r\n").is_none());
        assert!(parse_request("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_none());
    }

    #[test]
    fn responses_carry_length_type_and_body() {
        let server = Server::new(Payload::new(20, 1), 2);
        let mut buf = Vec::new();
        let start = server.respond(1, "/metrics", false, &mut buf);
        let text = String::from_utf8(buf[start..].to_vec()).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(!head.contains("Connection: close"));
        assert_eq!(body.lines().filter(|l| !l.starts_with('#')).count(), 20);
        assert_eq!(server.stats(), (1, 1));

        let start = server.respond(0, "/nope", true, &mut buf);
        let text = String::from_utf8(buf[start..].to_vec()).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 404"));
        assert!(text.contains("Connection: close"));

        let start = server.respond(0, "/stats/reset", false, &mut buf);
        assert!(
            String::from_utf8_lossy(&buf[start..])
                .ends_with("{\"requests\":1,\"targets_seen\":1}\n")
        );
        assert_eq!(server.stats(), (0, 0));
    }
}
