//! Where alerts go: Prometheus' `alerting:` section (a list of Alertmanagers) and a
//! `notifications:` section in Alertmanager's own format (`route` tree, `receivers` with
//! `slack_configs`, `mattermost_configs`, `webhook_configs`, `discord_configs`,
//! `msteamsv2_configs`), so an existing Alertmanager configuration can be pasted.
//!
//! Webhook URLs are secrets: inline (as Alertmanager allows), `*_file` (Alertmanager's
//! field, re-read on use) or `*_env` (a lookout extension). Receiver types lookout does not
//! deliver to (e-mail, PagerDuty, ...) are rejected with a clear error rather than ignored.
//! Durations and defaults are Alertmanager's: group_wait 30s, group_interval 5m,
//! repeat_interval 4h, `send_resolved` false for Slack and true for the others.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::context::Ctx;
use crate::discovery::{RawStaticConfig, StaticConfig};
use crate::duration::PromDuration;
use crate::error::Result;
use crate::http::{HttpClientConfig, RawAuthorization, RawBasicAuth, RawHttpClientConfig};
use crate::position::{field, index};
use crate::secret::{Secret, SecretSource};
use crate::tls::RawTlsConfig;

/// Prometheus' `alerting:` section as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertingConfig {
    /// Alertmanagers to send alerts to.
    #[serde(default)]
    pub alertmanagers: Vec<RawAlertmanagerConfig>,
}

/// One Alertmanager set as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanagerConfig {
    /// `host:port` of the Alertmanagers.
    #[serde(default)]
    pub static_configs: Vec<RawStaticConfig>,
    /// `http` (default) or `https`.
    pub scheme: Option<String>,
    /// Prefix of the API path (default `/`).
    pub path_prefix: Option<String>,
    /// Per-request timeout (default 10s).
    pub timeout: Option<PromDuration>,
    /// Only `v2` is supported (Alertmanager removed v1).
    pub api_version: Option<String>,
    /// HTTP basic authentication (as in a scrape job).
    pub basic_auth: Option<RawBasicAuth>,
    /// `Authorization` header credentials.
    pub authorization: Option<RawAuthorization>,
    /// Legacy bearer token, exclusive with `authorization`.
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
    /// TLS settings for `https`.
    pub tls_config: Option<RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub proxy_url: Option<String>,
}

/// A checked Alertmanager set.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    pub targets: Vec<StaticConfig>,
    /// Auth, TLS, redirects and proxy for requests to these Alertmanagers.
    pub http: HttpClientConfig,
    pub scheme: String,
    pub path_prefix: String,
    pub timeout: Duration,
}

impl AlertmanagerConfig {
    /// The `POST /api/v2/alerts` URLs of this set.
    pub fn urls(&self) -> Vec<String> {
        let prefix = self.path_prefix.trim_end_matches('/');
        self.targets
            .iter()
            .flat_map(|g| g.targets.iter())
            .map(|a| format!("{}://{a}{prefix}/api/v2/alerts", self.scheme))
            .collect()
    }
}

/// Checked `alerting:` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertingConfig {
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

impl RawAlertingConfig {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<AlertingConfig> {
        let mut out = Vec::new();
        for (i, am) in self.alertmanagers.iter().enumerate() {
            let p = index(&field(path, "alertmanagers"), i);
            let scheme = am.scheme.clone().unwrap_or_else(|| "http".into());
            if scheme != "http" && scheme != "https" {
                return Err(ctx.invalid(
                    &field(&p, "scheme"),
                    format_args!("unknown scheme {scheme:?}"),
                ));
            }
            if let Some(v) = &am.api_version
                && v != "v2"
            {
                return Err(ctx.invalid(
                    &field(&p, "api_version"),
                    format_args!("unsupported Alertmanager API version {v:?} (only v2)"),
                ));
            }
            let mut targets = Vec::new();
            for (j, sc) in am.static_configs.iter().enumerate() {
                targets.push(sc.check(ctx, &index(&field(&p, "static_configs"), j), true)?);
            }
            let http = RawHttpClientConfig {
                basic_auth: am.basic_auth.clone(),
                authorization: am.authorization.clone(),
                bearer_token: am.bearer_token.clone(),
                bearer_token_file: am.bearer_token_file.clone(),
                tls_config: am.tls_config.clone(),
                follow_redirects: am.follow_redirects,
                enable_http2: am.enable_http2,
                proxy_url: am.proxy_url.clone(),
            }
            .check(ctx, &p)?;
            out.push(AlertmanagerConfig {
                targets,
                http,
                scheme,
                path_prefix: am.path_prefix.clone().unwrap_or_else(|| "/".into()),
                timeout: am.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(10)),
            });
        }
        Ok(AlertingConfig { alertmanagers: out })
    }
}

/// The `notifications:` section as written (Alertmanager's format).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifications {
    /// Alertmanager's `global` block (the parts lookout uses).
    pub global: Option<RawNotifyGlobal>,
    /// The routing tree.
    pub route: Option<RawRoute>,
    /// The receivers routes name.
    #[serde(default)]
    pub receivers: Vec<RawReceiver>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifyGlobal {
    /// How long an alert without an end time counts as firing after its last update.
    pub resolve_timeout: Option<PromDuration>,
    /// Default Slack webhook for slack_configs without api_url.
    pub slack_api_url: Option<Secret>,
    pub slack_api_url_file: Option<String>,
}

/// A route as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub receiver: Option<String>,
    /// Labels to group by; `['...']` groups by all labels.
    pub group_by: Option<Vec<String>>,
    pub group_wait: Option<PromDuration>,
    pub group_interval: Option<PromDuration>,
    pub repeat_interval: Option<PromDuration>,
    /// Matchers like `severity="page"`, `team=~"a|b"`.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Legacy equality matchers.
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    /// Legacy regex matchers.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Keep matching sibling routes after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Child routes.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// A receiver as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    pub name: String,
    #[serde(default)]
    pub slack_configs: Vec<RawSlackConfig>,
    #[serde(default)]
    pub webhook_configs: Vec<RawWebhookConfig>,
    #[serde(default)]
    pub discord_configs: Vec<RawDiscordConfig>,
    #[serde(default)]
    pub msteamsv2_configs: Vec<RawTeamsConfig>,
    #[serde(default)]
    pub mattermost_configs: Vec<RawMattermostConfig>,
    // Alertmanager receiver types lookout does not deliver to: named so the error says so.
    pub email_configs: Option<serde_yaml_ng::Value>,
    pub pagerduty_configs: Option<serde_yaml_ng::Value>,
    pub opsgenie_configs: Option<serde_yaml_ng::Value>,
    pub pushover_configs: Option<serde_yaml_ng::Value>,
    pub victorops_configs: Option<serde_yaml_ng::Value>,
    pub wechat_configs: Option<serde_yaml_ng::Value>,
    pub telegram_configs: Option<serde_yaml_ng::Value>,
    pub sns_configs: Option<serde_yaml_ng::Value>,
    pub webex_configs: Option<serde_yaml_ng::Value>,
    pub msteams_configs: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackConfig {
    pub send_resolved: Option<bool>,
    /// Alertmanager's per-receiver `http_config`: auth, TLS, proxy for the webhook requests.
    pub http_config: Option<RawHttpClientConfig>,
    pub api_url: Option<Secret>,
    pub api_url_file: Option<String>,
    pub api_url_env: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    /// Message title template (overrides lookout's default).
    pub title: Option<String>,
    /// Message text template (overrides lookout's default).
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhookConfig {
    pub send_resolved: Option<bool>,
    /// Alertmanager's per-receiver `http_config`: auth, TLS, proxy for the webhook requests.
    pub http_config: Option<RawHttpClientConfig>,
    pub url: Option<Secret>,
    pub url_file: Option<String>,
    pub url_env: Option<String>,
    /// Most alerts in one message (0 = all); the rest are counted in `truncatedAlerts`.
    #[serde(default)]
    pub max_alerts: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscordConfig {
    pub send_resolved: Option<bool>,
    /// Alertmanager's per-receiver `http_config`: auth, TLS, proxy for the webhook requests.
    pub http_config: Option<RawHttpClientConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub webhook_url_env: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeamsConfig {
    pub send_resolved: Option<bool>,
    /// Alertmanager's per-receiver `http_config`: auth, TLS, proxy for the webhook requests.
    pub http_config: Option<RawHttpClientConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub webhook_url_env: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
}

/// Alertmanager's `mattermost_configs` entry: a post through a Mattermost incoming webhook.
/// Every text field is a template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMattermostConfig {
    pub send_resolved: Option<bool>,
    /// Alertmanager's per-receiver `http_config`: auth, TLS, proxy for the webhook requests.
    pub http_config: Option<RawHttpClientConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub webhook_url_env: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
    /// The title in lookout's default text (a lookout extension; ignored when `text` is set).
    pub title: Option<String>,
    /// The whole message text (Markdown), cut to Mattermost's 16,383 characters.
    pub text: Option<String>,
    /// Slack-compatible message attachments.
    #[serde(default)]
    pub attachments: Vec<MattermostAttachment>,
    /// Post type (`custom_...`).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub props: Option<MattermostProps>,
    pub priority: Option<MattermostPriority>,
}

/// What a Mattermost post says (all text fields are templates; unset ones are left out,
/// except `text`, which defaults to lookout's title and alert list).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MattermostMessage {
    /// Channel override (the webhook's own channel when unset).
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
    /// The title in lookout's default text (a lookout extension; ignored when `text` is set).
    pub title: Option<String>,
    /// The whole message text (Markdown), cut to Mattermost's 16,383 characters.
    pub text: Option<String>,
    /// Slack-compatible message attachments.
    pub attachments: Vec<MattermostAttachment>,
    /// Post type (`custom_...`).
    pub type_: Option<String>,
    pub props: Option<MattermostProps>,
    pub priority: Option<MattermostPriority>,
}

/// A Slack-compatible attachment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostAttachment {
    pub fallback: Option<String>,
    pub color: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub author_name: Option<String>,
    pub author_link: Option<String>,
    pub author_icon: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    #[serde(default)]
    pub fields: Vec<MattermostField>,
    pub thumb_url: Option<String>,
    pub footer: Option<String>,
    pub footer_icon: Option<String>,
    pub image_url: Option<String>,
}

/// One attachment field (`title` and `value` required, as Alertmanager checks).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostField {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub value: String,
    pub short: Option<bool>,
}

/// `props` of the post (Mattermost renders `card` in the post's info panel).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostProps {
    pub card: Option<String>,
}

/// Message priority (Mattermost ≥ 9.7): `urgent`, `important` or `standard`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostPriority {
    pub priority: Option<String>,
    #[serde(default)]
    pub requested_ack: bool,
    #[serde(default)]
    pub persistent_notifications: bool,
}

/// How alerts are grouped by a route.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label.
    All,
    Labels(Vec<String>),
}

/// One matcher of a route, Alertmanager's syntax.
#[derive(Debug, Clone)]
pub struct AlertMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    pub re: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl PartialEq for AlertMatcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl AlertMatcher {
    /// Whether the labels satisfy the matcher (a missing label is "").
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Ne => v != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Parses `name="value"`, `name=~"re"`, `name!=value`, `name!~re` (quotes optional).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let ops = [
            ("=~", MatchOp::Re),
            ("!~", MatchOp::NotRe),
            ("!=", MatchOp::Ne),
            ("=", MatchOp::Eq),
        ];
        let (pos, op, len) = ops
            .iter()
            .filter_map(|(t, op)| s.find(t).map(|p| (p, *op, t.len())))
            .min_by_key(|(p, _, len)| (*p, std::cmp::Reverse(*len)))
            .ok_or_else(|| format!("bad matcher {s:?}: no operator"))?;
        let name = s[..pos].trim().trim_matches('"').to_string();
        if name.is_empty() {
            return Err(format!("bad matcher {s:?}: empty label name"));
        }
        let raw = s[pos + len..].trim();
        let value = if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
            raw[1..raw.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else {
            raw.to_string()
        };
        Self::new(name, op, value)
    }

    pub fn new(name: String, op: MatchOp, value: String) -> std::result::Result<Self, String> {
        let re = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("bad regex {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(AlertMatcher {
            name,
            op,
            value,
            re,
        })
    }
}

/// A checked route; unset timings and grouping are inherited from the parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub matchers: Vec<AlertMatcher>,
    pub continue_: bool,
    pub routes: Vec<Route>,
}

/// Where a receiver delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverKind {
    Slack {
        url: SecretSource,
        channel: Option<String>,
        username: Option<String>,
        icon_emoji: Option<String>,
        icon_url: Option<String>,
        title: Option<String>,
        text: Option<String>,
    },
    Webhook {
        url: SecretSource,
        max_alerts: u64,
    },
    Discord {
        url: SecretSource,
        title: Option<String>,
        message: Option<String>,
    },
    Teams {
        url: SecretSource,
        title: Option<String>,
        text: Option<String>,
    },
    Mattermost {
        url: SecretSource,
        message: Box<MattermostMessage>,
    },
}

/// One integration of a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub kind: ReceiverKind,
    pub send_resolved: bool,
    /// The receiver's `http_config` (auth, TLS, proxy); `None`: defaults.
    pub http: Option<HttpClientConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub integrations: Vec<Integration>,
}

/// Checked `notifications:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Notifications {
    pub resolve_timeout: Duration,
    pub route: Route,
    pub receivers: Vec<Receiver>,
}

/// A receiver integration's checked `http_config` (`None` when absent).
fn receiver_http(
    ctx: &Ctx<'_>,
    raw: &Option<RawHttpClientConfig>,
    path: &str,
) -> Result<Option<HttpClientConfig>> {
    raw.as_ref()
        .map(|h| h.check(ctx, &field(path, "http_config")))
        .transpose()
}

fn url_source(
    ctx: &Ctx<'_>,
    path: &str,
    key: &str,
    inline: &Option<Secret>,
    file: &Option<String>,
    env: &Option<String>,
    fallback: Option<SecretSource>,
) -> Result<SecretSource> {
    let set = [inline.is_some(), file.is_some(), env.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set > 1 {
        return Err(ctx.invalid(
            path,
            format_args!("at most one of {key}, {key}_file and {key}_env must be set"),
        ));
    }
    if let Some(s) = inline {
        return Ok(SecretSource::Inline(s.clone()));
    }
    if let Some(f) = file {
        let p = ctx.resolve(f);
        ctx.check_readable(&field(path, &format!("{key}_file")), &p)?;
        return Ok(SecretSource::File(p));
    }
    if let Some(e) = env {
        if std::env::var_os(e).is_none() {
            return Err(ctx.invalid(
                &field(path, &format!("{key}_env")),
                format_args!("environment variable {e} is not set"),
            ));
        }
        return Ok(SecretSource::Env(e.clone()));
    }
    fallback.ok_or_else(|| {
        ctx.invalid(
            path,
            format_args!("one of {key}, {key}_file or {key}_env must be set"),
        )
    })
}

impl RawNotifications {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<Notifications> {
        let global = self.global.clone().unwrap_or_default();
        let slack_default = match (&global.slack_api_url, &global.slack_api_url_file) {
            (Some(s), _) => Some(SecretSource::Inline(s.clone())),
            (None, Some(f)) => Some(SecretSource::File(ctx.resolve(f))),
            _ => None,
        };
        let mut receivers = Vec::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let rp = index(&field(path, "receivers"), i);
            if r.name.is_empty() {
                return Err(ctx.invalid(&rp, "receiver name must not be empty"));
            }
            if receivers.iter().any(|x: &Receiver| x.name == r.name) {
                return Err(ctx.invalid(
                    &field(&rp, "name"),
                    format_args!("notification config name {:?} is not unique", r.name),
                ));
            }
            for (name, v) in [
                ("email_configs", &r.email_configs),
                ("pagerduty_configs", &r.pagerduty_configs),
                ("opsgenie_configs", &r.opsgenie_configs),
                ("pushover_configs", &r.pushover_configs),
                ("victorops_configs", &r.victorops_configs),
                ("wechat_configs", &r.wechat_configs),
                ("telegram_configs", &r.telegram_configs),
                ("sns_configs", &r.sns_configs),
                ("webex_configs", &r.webex_configs),
                ("msteams_configs", &r.msteams_configs),
            ] {
                if v.is_some() {
                    return Err(ctx.invalid_key(
                        &field(&rp, name),
                        format_args!("{name} are not supported by lookout (supported: slack_configs, mattermost_configs, webhook_configs, discord_configs, msteamsv2_configs; or forward to an Alertmanager)"),
                    ));
                }
            }
            let mut integrations = Vec::new();
            for (j, c) in r.slack_configs.iter().enumerate() {
                let p = index(&field(&rp, "slack_configs"), j);
                let url = url_source(
                    ctx,
                    &p,
                    "api_url",
                    &c.api_url,
                    &c.api_url_file,
                    &c.api_url_env,
                    slack_default.clone(),
                )?;
                integrations.push(Integration {
                    http: receiver_http(ctx, &c.http_config, &p)?,
                    send_resolved: c.send_resolved.unwrap_or(false),
                    kind: ReceiverKind::Slack {
                        url,
                        channel: c.channel.clone(),
                        username: c.username.clone(),
                        icon_emoji: c.icon_emoji.clone(),
                        icon_url: c.icon_url.clone(),
                        title: c.title.clone(),
                        text: c.text.clone(),
                    },
                });
            }
            for (j, c) in r.webhook_configs.iter().enumerate() {
                let p = index(&field(&rp, "webhook_configs"), j);
                let url = url_source(ctx, &p, "url", &c.url, &c.url_file, &c.url_env, None)?;
                integrations.push(Integration {
                    http: receiver_http(ctx, &c.http_config, &p)?,
                    send_resolved: c.send_resolved.unwrap_or(true),
                    kind: ReceiverKind::Webhook {
                        url,
                        max_alerts: c.max_alerts,
                    },
                });
            }
            for (j, c) in r.discord_configs.iter().enumerate() {
                let p = index(&field(&rp, "discord_configs"), j);
                let url = url_source(
                    ctx,
                    &p,
                    "webhook_url",
                    &c.webhook_url,
                    &c.webhook_url_file,
                    &c.webhook_url_env,
                    None,
                )?;
                integrations.push(Integration {
                    http: receiver_http(ctx, &c.http_config, &p)?,
                    send_resolved: c.send_resolved.unwrap_or(true),
                    kind: ReceiverKind::Discord {
                        url,
                        title: c.title.clone(),
                        message: c.message.clone(),
                    },
                });
            }
            for (j, c) in r.msteamsv2_configs.iter().enumerate() {
                let p = index(&field(&rp, "msteamsv2_configs"), j);
                let url = url_source(
                    ctx,
                    &p,
                    "webhook_url",
                    &c.webhook_url,
                    &c.webhook_url_file,
                    &c.webhook_url_env,
                    None,
                )?;
                integrations.push(Integration {
                    http: receiver_http(ctx, &c.http_config, &p)?,
                    send_resolved: c.send_resolved.unwrap_or(true),
                    kind: ReceiverKind::Teams {
                        url,
                        title: c.title.clone(),
                        text: c.text.clone(),
                    },
                });
            }
            for (j, c) in r.mattermost_configs.iter().enumerate() {
                let p = index(&field(&rp, "mattermost_configs"), j);
                let url = url_source(
                    ctx,
                    &p,
                    "webhook_url",
                    &c.webhook_url,
                    &c.webhook_url_file,
                    &c.webhook_url_env,
                    None,
                )?;
                for (a, att) in c.attachments.iter().enumerate() {
                    for (f, fld) in att.fields.iter().enumerate() {
                        let fp = index(&field(&index(&field(&p, "attachments"), a), "fields"), f);
                        if fld.title.is_empty() {
                            return Err(
                                ctx.invalid(&fp, "missing title in Mattermost field configuration")
                            );
                        }
                        if fld.value.is_empty() {
                            return Err(
                                ctx.invalid(&fp, "missing value in Mattermost field configuration")
                            );
                        }
                    }
                }
                integrations.push(Integration {
                    http: receiver_http(ctx, &c.http_config, &p)?,
                    send_resolved: c.send_resolved.unwrap_or(true),
                    kind: ReceiverKind::Mattermost {
                        url,
                        message: Box::new(MattermostMessage {
                            channel: c.channel.clone(),
                            username: c.username.clone(),
                            icon_url: c.icon_url.clone(),
                            icon_emoji: c.icon_emoji.clone(),
                            title: c.title.clone(),
                            text: c.text.clone(),
                            attachments: c.attachments.clone(),
                            type_: c.type_.clone(),
                            props: c.props.clone(),
                            priority: c.priority.clone(),
                        }),
                    },
                });
            }
            receivers.push(Receiver {
                name: r.name.clone(),
                integrations,
            });
        }
        let root = self.route.clone().unwrap_or_default();
        let rpath = field(path, "route");
        if root.receiver.is_none() && !receivers.is_empty() {
            return Err(ctx.invalid(&rpath, "root route must specify a default receiver"));
        }
        if !root.matchers.is_empty() || !root.match_.is_empty() || !root.match_re.is_empty() {
            return Err(ctx.invalid(&rpath, "root route must not have any matchers"));
        }
        let defaults = Route {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            matchers: Vec::new(),
            continue_: false,
            routes: Vec::new(),
        };
        let route = check_route(&root, &defaults, ctx, &rpath, &receivers)?;
        Ok(Notifications {
            resolve_timeout: global
                .resolve_timeout
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(300)),
            route,
            receivers,
        })
    }
}

fn check_route(
    r: &RawRoute,
    parent: &Route,
    ctx: &Ctx<'_>,
    path: &str,
    receivers: &[Receiver],
) -> Result<Route> {
    let receiver = r
        .receiver
        .clone()
        .unwrap_or_else(|| parent.receiver.clone());
    if !receiver.is_empty() && !receivers.iter().any(|x| x.name == receiver) {
        return Err(ctx.invalid(
            &field(path, "receiver"),
            format_args!("undefined receiver {receiver:?} used in route"),
        ));
    }
    let group_by = match &r.group_by {
        None => parent.group_by.clone(),
        Some(v) if v.iter().any(|x| x == "...") => {
            if v.len() > 1 {
                return Err(ctx.invalid(
                    &field(path, "group_by"),
                    "cannot have wildcard group_by (`...`) and other labels at the same time",
                ));
            }
            GroupBy::All
        }
        Some(v) => GroupBy::Labels(v.clone()),
    };
    let mut matchers = Vec::new();
    for (i, m) in r.matchers.iter().enumerate() {
        matchers.push(
            AlertMatcher::parse(m)
                .map_err(|e| ctx.invalid(&index(&field(path, "matchers"), i), e))?,
        );
    }
    for (k, v) in &r.match_ {
        matchers.push(
            AlertMatcher::new(k.clone(), MatchOp::Eq, v.clone())
                .map_err(|e| ctx.invalid(&field(path, "match"), e))?,
        );
    }
    for (k, v) in &r.match_re {
        matchers.push(
            AlertMatcher::new(k.clone(), MatchOp::Re, v.clone())
                .map_err(|e| ctx.invalid(&field(&field(path, "match_re"), k), e))?,
        );
    }
    let dur = |v: &Option<PromDuration>, d: Duration| v.map(|x| x.0).unwrap_or(d);
    let mut route = Route {
        receiver,
        group_by,
        group_wait: dur(&r.group_wait, parent.group_wait),
        group_interval: dur(&r.group_interval, parent.group_interval),
        repeat_interval: dur(&r.repeat_interval, parent.repeat_interval),
        matchers,
        continue_: r.continue_,
        routes: Vec::new(),
    };
    if route.group_interval.is_zero() {
        return Err(ctx.invalid(
            &field(path, "group_interval"),
            "group_interval cannot be zero",
        ));
    }
    if route.repeat_interval.is_zero() {
        return Err(ctx.invalid(
            &field(path, "repeat_interval"),
            "repeat_interval cannot be zero",
        ));
    }
    for (i, c) in r.routes.iter().enumerate() {
        let child = check_route(c, &route, ctx, &index(&field(path, "routes"), i), receivers)?;
        route.routes.push(child);
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_syntax() {
        let m = AlertMatcher::parse(r#"severity="page""#).unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("severity", MatchOp::Eq, "page")
        );
        let m = AlertMatcher::parse("team=~a|b").unwrap();
        assert_eq!(m.op, MatchOp::Re);
        let labels: BTreeMap<String, String> = [("team".to_string(), "b".to_string())]
            .into_iter()
            .collect();
        assert!(m.matches(&labels));
        assert_eq!(AlertMatcher::parse("x!=y").unwrap().op, MatchOp::Ne);
        assert_eq!(
            AlertMatcher::parse("x!~\"y.*\"").unwrap().op,
            MatchOp::NotRe
        );
        assert!(AlertMatcher::parse("nothing").is_err());
    }
}
