//! `scrape_configs`: one entry per job, in Prometheus' format, validated into
//! [`ScrapeConfig`] with the global defaults applied.
//!
//! Rules (Prometheus' unless noted):
//! - `job_name` is required, non-empty and unique across the file;
//! - `scrape_interval` defaults to the global one; `scrape_timeout` defaults to the global
//!   one capped at the job's interval; an explicit timeout greater than the interval is an
//!   error; both must be greater than zero (lookout: Prometheus treats 0 as "unset");
//! - `metrics_path` (default `/metrics`) must start with `/` (lookout);
//! - limits default to the global ones, 0 meaning no limit;
//! - static target addresses are checked as `host[:port]` when the job has no
//!   `relabel_configs`;
//! - relabel rules are checked by [`crate::relabel`], errors placed on the rule.
//!
//! Cost: load time only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::context::Ctx;
use crate::discovery::{FileSdConfig, RawFileSdConfig, RawStaticConfig, StaticConfig};
use crate::duration::PromDuration;
use crate::error::Result;
use crate::global::GlobalConfig;
use crate::http::{HttpClientConfig, RawAuthorization, RawBasicAuth, RawHttpClientConfig};
use crate::position::{field, index};
use crate::relabel::{RawRelabelConfig, RelabelConfig};
use crate::secret::Secret;
use crate::size::ByteSize;
use crate::tls::RawTlsConfig;

/// Default `metrics_path`.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// URL scheme used to scrape a job's targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `scrape_configs` entry as written. The HTTP client fields sit inline, as in
/// Prometheus.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a scrape config mapping (job_name, static_configs, ...)"
)]
pub struct RawScrapeConfig {
    /// The job name; becomes the `job` label. Required, unique.
    pub job_name: String,
    /// How often to scrape (default: global `scrape_interval`).
    pub scrape_interval: Option<PromDuration>,
    /// Per-scrape timeout (default: global `scrape_timeout`, at most `scrape_interval`).
    pub scrape_timeout: Option<PromDuration>,
    /// HTTP path of the metrics endpoint (default `/metrics`).
    pub metrics_path: Option<String>,
    /// `http` (default) or `https`.
    pub scheme: Option<Scheme>,
    /// URL query parameters sent with every scrape.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the target's labels when they clash with server-side ones (default false).
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps exposed by the target (default true).
    pub honor_timestamps: Option<bool>,
    /// Max samples per scrape after metric relabeling; 0 = no limit (default: global).
    pub sample_limit: Option<u64>,
    /// Max labels per sample; 0 = no limit (default: global).
    pub label_limit: Option<u64>,
    /// Max label name length; 0 = no limit (default: global).
    pub label_name_length_limit: Option<u64>,
    /// Max label value length; 0 = no limit (default: global).
    pub label_value_length_limit: Option<u64>,
    /// Max uncompressed response body size, e.g. `10MB`; 0 = no limit (default: global).
    pub body_size_limit: Option<ByteSize>,
    /// HTTP basic authentication.
    pub basic_auth: Option<RawBasicAuth>,
    /// `Authorization` header credentials.
    pub authorization: Option<RawAuthorization>,
    /// Legacy bearer token (prefer `authorization`).
    pub bearer_token: Option<Secret>,
    /// Legacy bearer token file (prefer `authorization.credentials_file`).
    pub bearer_token_file: Option<String>,
    /// TLS settings.
    pub tls_config: Option<RawTlsConfig>,
    /// Follow HTTP 3xx redirects (default true).
    pub follow_redirects: Option<bool>,
    /// Allow HTTP/2 (default true).
    pub enable_http2: Option<bool>,
    /// HTTP proxy URL.
    pub proxy_url: Option<String>,
    /// Fixed target groups.
    #[serde(default)]
    pub static_configs: Vec<RawStaticConfig>,
    /// Target groups read from files.
    #[serde(default)]
    pub file_sd_configs: Vec<RawFileSdConfig>,
    /// Rules applied to targets before scraping.
    #[serde(default)]
    pub relabel_configs: Vec<RawRelabelConfig>,
    /// Rules applied to scraped samples before storage.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RawRelabelConfig>,
}

/// A checked scrape job.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: Scheme,
    pub params: BTreeMap<String, Vec<String>>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// 0 = no limit.
    pub sample_limit: u64,
    /// 0 = no limit.
    pub label_limit: u64,
    /// 0 = no limit.
    pub label_name_length_limit: u64,
    /// 0 = no limit.
    pub label_value_length_limit: u64,
    /// Bytes; 0 = no limit.
    pub body_size_limit: u64,
    pub http: HttpClientConfig,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

impl RawScrapeConfig {
    fn http(&self) -> RawHttpClientConfig {
        RawHttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            tls_config: self.tls_config.clone(),
            follow_redirects: self.follow_redirects,
            enable_http2: self.enable_http2,
            proxy_url: self.proxy_url.clone(),
        }
    }

    /// Checks the job at `path` against the checked global config.
    pub(crate) fn check(
        &self,
        ctx: &Ctx<'_>,
        path: &str,
        global: &GlobalConfig,
    ) -> Result<ScrapeConfig> {
        let job = &self.job_name;
        if job.trim().is_empty() {
            return Err(ctx.invalid(&field(path, "job_name"), "job_name is empty"));
        }

        let interval = match self.scrape_interval {
            Some(PromDuration(d)) if d.is_zero() => {
                return Err(ctx.invalid(
                    &field(path, "scrape_interval"),
                    "scrape_interval must be greater than 0",
                ));
            }
            Some(PromDuration(d)) => d,
            None => global.scrape_interval,
        };
        let timeout = match self.scrape_timeout {
            Some(PromDuration(d)) if d.is_zero() => {
                return Err(ctx.invalid(
                    &field(path, "scrape_timeout"),
                    "scrape_timeout must be greater than 0",
                ));
            }
            Some(PromDuration(d)) if d > interval => {
                return Err(ctx.invalid(
                    &field(path, "scrape_timeout"),
                    format_args!(
                        "scrape timeout {} greater than scrape interval {} for scrape config with job name {job:?}",
                        PromDuration(d),
                        PromDuration(interval)
                    ),
                ));
            }
            Some(PromDuration(d)) => d,
            None => global.scrape_timeout.min(interval),
        };

        let metrics_path = match self.metrics_path.as_deref() {
            None => DEFAULT_METRICS_PATH.to_string(),
            Some(p)
                if !p.starts_with('/')
                    || p.contains(['?', '#'])
                    || p.contains(char::is_whitespace) =>
            {
                return Err(ctx.invalid(
                    &field(path, "metrics_path"),
                    format_args!(
                        "invalid metrics_path {p:?}: must start with \"/\" and hold no query (use `params`) or spaces"
                    ),
                ));
            }
            Some(p) => p.to_string(),
        };

        let http = self.http().check(ctx, path)?;

        let static_path = field(path, "static_configs");
        let check_addresses = self.relabel_configs.is_empty();
        let static_configs = self
            .static_configs
            .iter()
            .enumerate()
            .map(|(i, s)| s.check(ctx, &index(&static_path, i), check_addresses))
            .collect::<Result<Vec<_>>>()?;
        let sd_path = field(path, "file_sd_configs");
        let file_sd_configs = self
            .file_sd_configs
            .iter()
            .enumerate()
            .map(|(i, s)| s.check(ctx, &index(&sd_path, i)))
            .collect::<Result<Vec<_>>>()?;

        let relabel_configs =
            check_rules(ctx, &field(path, "relabel_configs"), &self.relabel_configs)?;
        let metric_relabel_configs = check_rules(
            ctx,
            &field(path, "metric_relabel_configs"),
            &self.metric_relabel_configs,
        )?;

        Ok(ScrapeConfig {
            job_name: job.clone(),
            scrape_interval: interval,
            scrape_timeout: timeout,
            metrics_path,
            scheme: self.scheme.unwrap_or_default(),
            params: self.params.clone(),
            honor_labels: self.honor_labels,
            honor_timestamps: self.honor_timestamps.unwrap_or(true),
            sample_limit: self.sample_limit.unwrap_or(global.sample_limit),
            label_limit: self.label_limit.unwrap_or(global.label_limit),
            label_name_length_limit: self
                .label_name_length_limit
                .unwrap_or(global.label_name_length_limit),
            label_value_length_limit: self
                .label_value_length_limit
                .unwrap_or(global.label_value_length_limit),
            body_size_limit: self.body_size_limit.map_or(global.body_size_limit, |b| b.0),
            http,
            static_configs,
            file_sd_configs,
            relabel_configs,
            metric_relabel_configs,
        })
    }
}

/// Checks a list of relabel rules. The error points at the `regex` or `action` field when
/// the message is about it, else at the rule.
fn check_rules(
    ctx: &Ctx<'_>,
    path: &str,
    rules: &[RawRelabelConfig],
) -> Result<Vec<RelabelConfig>> {
    rules
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            RelabelConfig::from_raw(raw).map_err(|msg| {
                let rule = index(path, i);
                let blame = if raw.regex.is_some() && msg.starts_with("invalid regex") {
                    field(&rule, "regex")
                } else if raw.action.is_some() && msg.contains("action") {
                    field(&rule, "action")
                } else {
                    rule
                };
                ctx.invalid(&blame, msg)
            })
        })
        .collect()
}
