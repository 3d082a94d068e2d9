//! The HTTP side of a scrape: one `reqwest` client per scrape pool built from the job's
//! `HttpClientConfig` (TLS, redirects), per-request auth (secrets re-read on every scrape so
//! rotated tokens work, never logged), and a body read that enforces the size limit on the
//! decompressed bytes while streaming, so a huge or endless body never sits in memory.

use crate::parse;
use crate::scrape::append::ScrapeError;
use crate::telemetry::FailReason;
use lookout_config::HttpClientConfig;
use std::time::Duration;

/// Used when a job sets no `body_size_limit`: a bound so an endless body cannot exhaust memory.
pub const DEFAULT_BODY_LIMIT: u64 = 256 << 20;

/// A client for one scrape pool.
#[derive(Clone)]
pub struct ScrapeClient {
    http: reqwest::Client,
    cfg: HttpClientConfig,
    user_agent: String,
}

impl std::fmt::Debug for ScrapeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeClient").finish_non_exhaustive()
    }
}

impl ScrapeClient {
    pub fn new(cfg: &HttpClientConfig) -> Result<Self, String> {
        let http = Self::builder(cfg)?
            .build()
            .map_err(|e| format!("building HTTP client: {e}"))?;
        Ok(ScrapeClient {
            http,
            cfg: cfg.clone(),
            user_agent: format!("lookout/{}", env!("CARGO_PKG_VERSION")),
        })
    }

    /// For a job with `tls_config.server_name` and an `https` URL: a client that connects to
    /// the target's address but speaks TLS (SNI and certificate check) for `server_name`, and
    /// the URL to use with it. The `Host` header keeps the target's address. Otherwise `None`.
    pub async fn for_target(
        &self,
        url: &str,
    ) -> Result<Option<(ScrapeClient, String, String)>, String> {
        let Some(sn) = &self.cfg.tls_config.server_name else {
            return Ok(None);
        };
        let Some(rest) = url.strip_prefix("https://") else {
            return Ok(None);
        };
        let end = rest.find('/').unwrap_or(rest.len());
        let hostport = &rest[..end];
        let addr = tokio::net::lookup_host(hostport)
            .await
            .map_err(|e| format!("resolving {hostport}: {e}"))?
            .next()
            .ok_or_else(|| format!("resolving {hostport}: no addresses"))?;
        let http = Self::builder(&self.cfg)?
            .resolve(sn, addr)
            .build()
            .map_err(|e| format!("building HTTP client: {e}"))?;
        let new_url = format!("https://{sn}:{}{}", addr.port(), &rest[end..]);
        Ok(Some((
            ScrapeClient {
                http,
                cfg: self.cfg.clone(),
                user_agent: self.user_agent.clone(),
            },
            new_url,
            hostport.to_string(),
        )))
    }

    fn builder(cfg: &HttpClientConfig) -> Result<reqwest::ClientBuilder, String> {
        lookout_query::http_client::builder(cfg)
    }

    /// Fetches `url` into `buf` (cleared first) and returns the response's content type.
    pub async fn fetch(
        &self,
        url: &str,
        timeout: Duration,
        body_limit: u64,
        host_header: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> Result<parse::Format, ScrapeError> {
        buf.clear();
        let limit = if body_limit == 0 {
            DEFAULT_BODY_LIMIT
        } else {
            body_limit
        };
        let mut req = self
            .http
            .get(url)
            .timeout(timeout)
            .header(reqwest::header::ACCEPT, parse::ACCEPT_HEADER)
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", timeout.as_secs_f64()),
            );
        if let Some(h) = host_header {
            req = req.header(reqwest::header::HOST, h);
        }
        let req = lookout_query::http_client::authenticate(req, &self.cfg)
            .map_err(|e| ScrapeError::new(FailReason::Other, e))?;
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ScrapeError::new(
                FailReason::HttpStatus,
                format!("server returned HTTP status {status}"),
            ));
        }
        let format = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(parse::format_for_content_type)
            .unwrap_or(parse::Format::Text);
        let mut resp = resp;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (buf.len() + chunk.len()) as u64 > limit {
                        return Err(ScrapeError::new(
                            FailReason::BodyLimit,
                            format!("body size limit exceeded (limit {limit} bytes)"),
                        ));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(classify(e)),
            }
        }
        Ok(format)
    }
}

/// Maps a transport error to a failure reason and Prometheus-like message.
fn classify(e: reqwest::Error) -> ScrapeError {
    let mut msg = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    let reason = if e.is_timeout() {
        msg = "context deadline exceeded (scrape timeout)".to_string();
        FailReason::Timeout
    } else if e.is_connect() {
        FailReason::Connect
    } else if e.is_redirect() {
        FailReason::HttpStatus
    } else if e.is_decode() || e.is_body() {
        FailReason::Parse
    } else {
        FailReason::Other
    };
    ScrapeError::new(reason, msg)
}
