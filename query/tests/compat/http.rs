//! A tiny HTTP/1.0 client over `std::net` (one request per connection, body read to EOF),
//! enough to talk to Prometheus and lookout from tests without a client dependency.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let headers = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let mut body = buf[split + 4..].to_vec();
    if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(Response { status, body })
}

fn dechunk(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = b[i..].windows(2).position(|w| w == b"\r\n") {
        let n =
            usize::from_str_radix(String::from_utf8_lossy(&b[i..i + p]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let st = i + p + 2;
        out.extend_from_slice(&b[st..(st + n).min(b.len())]);
        i = st + n + 2;
        if i >= b.len() {
            break;
        }
    }
    out
}

/// Form-encodes one value.
pub fn urlencode(s: &str) -> String {
    let mut o = String::with_capacity(s.len() * 3);
    for c in s.bytes() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(c as char)
            }
            _ => o.push_str(&format!("%{c:02X}")),
        }
    }
    o
}

/// POSTs a form and parses the JSON answer.
pub fn post_form(
    addr: &str,
    path: &str,
    form: &[(&str, String)],
) -> std::io::Result<(u16, serde_json::Value)> {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let r = request(
        addr,
        "POST",
        path,
        "application/x-www-form-urlencoded",
        body.join("&").as_bytes(),
    )?;
    let v = serde_json::from_slice(&r.body)
        .map_err(|e| std::io::Error::other(format!("{e}: {}", String::from_utf8_lossy(&r.body))))?;
    Ok((r.status, v))
}
