//! One HTTP delivery with retries: POST a JSON body, retry transport errors, 5xx, 408 and 429
//! with exponential backoff (a 429's `Retry-After` seconds are honoured instead), give up
//! after a bounded number of attempts; other 4xx are permanent failures (as Alertmanager).
//!
//! Invariants: webhook URLs are secrets and never appear in errors or logs: reqwest errors are
//! stripped of their URL and a failure is described by integration and status only.
//! Cost: one request per attempt; the body is built once and reused across attempts.

use std::time::Duration;

use lookout_config::secret::SecretSource;

use super::metrics::{IntegrationKind, NotifierMetrics};

/// Why a delivery failed (safe to log: never contains the URL).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot read the webhook URL from {0}")]
    Secret(String),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("receiver answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
}

impl DeliveryError {
    fn retryable(&self) -> bool {
        match self {
            DeliveryError::Secret(_) => false,
            DeliveryError::Transport(_) => true,
            DeliveryError::Status { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
        }
    }
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total (≥ 1).
    pub attempts: u32,
    /// First backoff; doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Where to post: a secret webhook URL or a plain (non-secret) Alertmanager URL.
pub(crate) enum Target<'a> {
    Secret(&'a SecretSource),
    Plain(&'a str),
}

/// Posts `body` with retries. Counts each failed attempt in `failed`, success in `sent`, and a
/// final give-up in `dropped`.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    target: Target<'_>,
    auth: Option<&lookout_config::HttpClientConfig>,
    body: &[u8],
    kind: IntegrationKind,
    policy: &RetryPolicy,
    metrics: &NotifierMetrics,
) -> Result<(), DeliveryError> {
    let mut backoff = policy.backoff;
    let mut last = DeliveryError::Transport("no attempt made".into());
    for attempt in 1..=policy.attempts.max(1) {
        // Re-resolved per attempt: a rotated secret file is picked up.
        let url = match target {
            Target::Secret(s) => match s.resolve() {
                Ok(u) => u.expose().to_string(),
                Err(_) => {
                    metrics.inc_failed(kind);
                    metrics.inc_dropped(kind);
                    return Err(DeliveryError::Secret(s.describe()));
                }
            },
            Target::Plain(u) => u.to_string(),
        };
        let (err, retry_after) = match attempt_once(client, &url, auth, body, policy.timeout).await
        {
            Ok(()) => {
                metrics.inc_sent(kind);
                return Ok(());
            }
            Err(e) => e,
        };
        metrics.inc_failed(kind);
        tracing::warn!(integration = kind.name(), attempt, error = %err, "notification attempt failed");
        if !err.retryable() || attempt == policy.attempts.max(1) {
            last = err;
            break;
        }
        let wait = match retry_after {
            Some(ra) => ra.min(policy.max_retry_after),
            None => {
                let w = backoff;
                backoff = (backoff * 2).min(policy.max_backoff);
                w
            }
        };
        last = err;
        tokio::time::sleep(wait).await;
    }
    metrics.inc_dropped(kind);
    Err(last)
}

async fn attempt_once(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&lookout_config::HttpClientConfig>,
    body: &[u8],
    timeout: Duration,
) -> Result<(), (DeliveryError, Option<Duration>)> {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .timeout(timeout)
        .body(body.to_vec());
    if let Some(cfg) = auth {
        req = crate::http_client::authenticate(req, cfg)
            .map_err(|e| (DeliveryError::Secret(e), None))?;
    }
    let resp = req
        .send()
        .await
        .map_err(|e| (DeliveryError::Transport(e.without_url().to_string()), None))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = if status.as_u16() == 429 {
        Some(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs(1)),
        )
    } else {
        None
    };
    let mut text = resp.text().await.unwrap_or_default();
    if text.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    Err((
        DeliveryError::Status {
            status: status.as_u16(),
            body: text,
        },
        retry_after,
    ))
}
