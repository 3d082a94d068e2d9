//! Message bodies per receiver type, within each service's limits:
//! - Slack: Block Kit `blocks` plus a `text` fallback (text ≤ 40,000 chars, section text
//!   ≤ 3,000, ≤ 50 blocks), `channel`/`username`/`icon_*`;
//! - Mattermost: `text` ≤ 16,383 chars and Slack-compatible attachments ([`super::mattermost`]);
//! - Discord: `content` (≤ 2,000) and `embeds` (≤ 10; title ≤ 256, description ≤ 4,096,
//!   all embed text ≤ 6,000), colored by status;
//! - Microsoft Teams workflows: a `message` with one Adaptive Card 1.4 attachment, the body
//!   kept under Teams' 28 KB message limit;
//! - generic webhook: Alertmanager's webhook JSON version 4, with `max_alerts` truncation.
//!
//! Invariants: over-long text is cut with "…", never rejected. Cost: one template render
//! per text field and one JSON serialization per notification.

use lookout_config::notify::{Integration, ReceiverKind};
use lookout_config::secret::SecretSource;
use serde_json::{Value as Json, json};

use super::mattermost::MattermostBody;
use super::message::{
    DEFAULT_ALERT_TEXT, DEFAULT_ALERT_TITLE, DEFAULT_MD_TEXT, DEFAULT_SLACK_TEXT, DEFAULT_TITLE,
    MessageTemplate, NotifyData, alert_value, truncate,
};
use super::metrics::IntegrationKind;

pub(crate) const SLACK_TEXT_MAX: usize = 40_000;
pub(crate) const SLACK_SECTION_MAX: usize = 3_000;
pub(crate) const SLACK_BLOCKS_MAX: usize = 50;
pub(crate) const DISCORD_CONTENT_MAX: usize = 2_000;
pub(crate) const DISCORD_EMBEDS_MAX: usize = 10;
pub(crate) const DISCORD_TITLE_MAX: usize = 256;
pub(crate) const DISCORD_DESC_MAX: usize = 4_096;
pub(crate) const DISCORD_TOTAL_MAX: usize = 6_000;
pub(crate) const TEAMS_BODY_MAX: usize = 27_000;

const DISCORD_RED: u32 = 0xE7_4C_3C;
const DISCORD_GREEN: u32 = 0x2E_CC_71;

enum Body {
    Slack {
        channel: Option<String>,
        username: Option<String>,
        icon_emoji: Option<String>,
        icon_url: Option<String>,
        title: MessageTemplate,
        text: MessageTemplate,
    },
    Webhook {
        max_alerts: u64,
    },
    Discord {
        title: MessageTemplate,
        message: Option<MessageTemplate>,
        alert_title: MessageTemplate,
        alert_text: MessageTemplate,
    },
    Teams {
        title: MessageTemplate,
        text: MessageTemplate,
    },
    Mattermost(Box<MattermostBody>),
}

/// One configured integration, templates parsed.
pub(crate) struct IntegrationRt {
    pub kind: IntegrationKind,
    pub send_resolved: bool,
    pub url: SecretSource,
    body: Body,
    /// The receiver's `http_config` and a client built from it (`None`: the shared client).
    pub http: Option<(lookout_config::HttpClientConfig, reqwest::Client)>,
}

impl IntegrationRt {
    pub fn new(i: &Integration) -> Self {
        let t = |user: &Option<String>, def: &str, what: &str| {
            MessageTemplate::new(user.as_deref(), def, what)
        };
        let (kind, url, body) = match &i.kind {
            ReceiverKind::Slack {
                url,
                channel,
                username,
                icon_emoji,
                icon_url,
                title,
                text,
            } => (
                IntegrationKind::Slack,
                url.clone(),
                Body::Slack {
                    channel: channel.clone(),
                    username: username.clone(),
                    icon_emoji: icon_emoji.clone(),
                    icon_url: icon_url.clone(),
                    title: t(title, DEFAULT_TITLE, "slack title"),
                    text: t(text, DEFAULT_SLACK_TEXT, "slack text"),
                },
            ),
            ReceiverKind::Webhook { url, max_alerts } => (
                IntegrationKind::Webhook,
                url.clone(),
                Body::Webhook {
                    max_alerts: *max_alerts,
                },
            ),
            ReceiverKind::Discord {
                url,
                title,
                message,
            } => (
                IntegrationKind::Discord,
                url.clone(),
                Body::Discord {
                    title: t(title, DEFAULT_TITLE, "discord title"),
                    message: message
                        .as_deref()
                        .map(|m| MessageTemplate::new(Some(m), DEFAULT_MD_TEXT, "discord message")),
                    alert_title: t(&None, DEFAULT_ALERT_TITLE, ""),
                    alert_text: t(&None, DEFAULT_ALERT_TEXT, ""),
                },
            ),
            ReceiverKind::Teams { url, title, text } => (
                IntegrationKind::Teams,
                url.clone(),
                Body::Teams {
                    title: t(title, DEFAULT_TITLE, "teams title"),
                    text: t(text, DEFAULT_MD_TEXT, "teams text"),
                },
            ),
            ReceiverKind::Mattermost { url, message } => (
                IntegrationKind::Mattermost,
                url.clone(),
                Body::Mattermost(Box::new(MattermostBody::new(message))),
            ),
        };
        let http = i.http.as_ref().and_then(|h| {
            match crate::http_client::builder(h).and_then(|b| b.build().map_err(|e| e.to_string())) {
                Ok(c) => Some((h.clone(), c)),
                Err(e) => {
                    tracing::error!(integration = kind.name(), error = %e, "cannot build the receiver's HTTP client; using defaults");
                    None
                }
            }
        });
        IntegrationRt {
            kind,
            send_resolved: i.send_resolved,
            url,
            body,
            http,
        }
    }

    /// The JSON body for one notification.
    pub fn body(&self, data: &NotifyData) -> Json {
        match &self.body {
            Body::Webhook { max_alerts } => webhook_v4(data, *max_alerts),
            Body::Mattermost(m) => m.render(data),
            Body::Slack {
                channel,
                username,
                icon_emoji,
                icon_url,
                title,
                text,
            } => {
                let dot = data.to_value();
                let mut v = slack(&title.render(&dot), &text.render(&dot));
                let opts = [
                    ("channel", channel),
                    ("username", username),
                    ("icon_emoji", icon_emoji),
                    ("icon_url", icon_url),
                ];
                if let Json::Object(m) = &mut v {
                    for (k, val) in opts {
                        if let Some(val) = val {
                            m.insert(k.into(), Json::String(val.clone()));
                        }
                    }
                }
                v
            }
            Body::Discord {
                title,
                message,
                alert_title,
                alert_text,
            } => {
                let dot = data.to_value();
                let title = title.render(&dot);
                let color = |firing: bool| if firing { DISCORD_RED } else { DISCORD_GREEN };
                let mut embeds: Vec<(String, String, u32)> = match message {
                    Some(m) => vec![(title.clone(), m.render(&dot), color(data.num_firing() > 0))],
                    None => {
                        let n = data.alerts.len();
                        let shown = if n > DISCORD_EMBEDS_MAX {
                            DISCORD_EMBEDS_MAX - 1
                        } else {
                            n
                        };
                        let mut e: Vec<(String, String, u32)> = data.alerts[..shown]
                            .iter()
                            .map(|a| {
                                let v = alert_value(a);
                                let st = if a.firing { "FIRING" } else { "RESOLVED" };
                                (
                                    format!("[{st}] {}", alert_title.render(&v)),
                                    alert_text.render(&v),
                                    color(a.firing),
                                )
                            })
                            .collect();
                        if n > shown {
                            e.push((
                                format!("… and {} more alerts", n - shown),
                                String::new(),
                                color(data.num_firing() > 0),
                            ));
                        }
                        e
                    }
                };
                discord(&title, &mut embeds)
            }
            Body::Teams { title, text } => {
                let dot = data.to_value();
                teams(
                    &title.render(&dot),
                    &text.render(&dot),
                    data.num_firing() > 0,
                )
            }
        }
    }
}

/// Slack Block Kit message with a `text` fallback.
pub(crate) fn slack(title: &str, text: &str) -> Json {
    let fallback = truncate(&format!("{title}\n{text}"), SLACK_TEXT_MAX);
    let mut blocks = vec![section(&format!(
        "*{}*",
        truncate(title, SLACK_SECTION_MAX - 2)
    ))];
    for chunk in chunks(text, SLACK_SECTION_MAX, SLACK_BLOCKS_MAX - 1) {
        blocks.push(section(&chunk));
    }
    json!({ "text": fallback, "blocks": blocks })
}

fn section(text: &str) -> Json {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// Splits text into at most `max_chunks` pieces of at most `max` characters, at line breaks
/// where possible; what does not fit is cut with "…".
pub(crate) fn chunks(text: &str, max: usize, max_chunks: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0usize;
    let mut overflow = false;
    'lines: for line in text.split_inclusive('\n') {
        let mut rest = line;
        while !rest.is_empty() {
            let rest_len = rest.chars().count();
            if cur_len + rest_len <= max {
                cur.push_str(rest);
                cur_len += rest_len;
                break;
            }
            if cur_len > 0 {
                out.push(std::mem::take(&mut cur));
                cur_len = 0;
                if out.len() == max_chunks {
                    overflow = true;
                    break 'lines;
                }
                continue;
            }
            // One line longer than a chunk: hard split.
            let cut = rest
                .char_indices()
                .nth(max)
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            out.push(rest[..cut].to_string());
            rest = &rest[cut..];
            if out.len() == max_chunks && !rest.is_empty() {
                overflow = true;
                break 'lines;
            }
        }
    }
    if !overflow && !cur.trim().is_empty() {
        if out.len() < max_chunks {
            out.push(cur);
        } else {
            overflow = true;
        }
    }
    if overflow && let Some(last) = out.last_mut() {
        let n = last.chars().count();
        *last = truncate(last, n.min(max.saturating_sub(1)));
        if !last.ends_with('…') {
            last.push('…');
        }
    }
    out.retain(|c| !c.trim().is_empty());
    out
}

/// Discord `content` + embeds within Discord's limits.
pub(crate) fn discord(title: &str, embeds: &mut Vec<(String, String, u32)>) -> Json {
    embeds.truncate(DISCORD_EMBEDS_MAX);
    for (t, d, _) in embeds.iter_mut() {
        *t = truncate(t, DISCORD_TITLE_MAX);
        *d = truncate(d, DISCORD_DESC_MAX);
    }
    let count = |e: &[(String, String, u32)]| {
        e.iter()
            .map(|(t, d, _)| t.chars().count() + d.chars().count())
            .sum::<usize>()
    };
    // Shrink descriptions (last first), then titles, until all embed text fits.
    let mut total = count(embeds);
    for pass in 0..2 {
        for (t, d, _) in embeds.iter_mut().rev() {
            if total <= DISCORD_TOTAL_MAX {
                break;
            }
            let field = if pass == 0 { d } else { t };
            let n = field.chars().count();
            let keep = n.saturating_sub(total - DISCORD_TOTAL_MAX);
            *field = truncate(field, keep.max(if pass == 0 { 0 } else { 1 }));
            total = total - n + field.chars().count();
        }
    }
    let embeds: Vec<Json> = embeds
        .iter()
        .map(|(t, d, c)| {
            let mut e = json!({ "title": t, "color": c });
            if !d.is_empty() {
                e["description"] = Json::String(d.clone());
            }
            e
        })
        .collect();
    json!({ "content": truncate(title, DISCORD_CONTENT_MAX), "embeds": embeds })
}

/// A Teams workflow message carrying one Adaptive Card.
pub(crate) fn teams(title: &str, text: &str, firing: bool) -> Json {
    let build = |text: &str| {
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": { "width": "Full" },
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": title,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": true,
                            "style": "heading",
                            "color": if firing { "Attention" } else { "Good" },
                        },
                        { "type": "TextBlock", "text": text, "wrap": true },
                    ],
                },
            }],
        })
    };
    let title_len = title.len();
    let mut text = truncate(text, TEAMS_BODY_MAX.saturating_sub(title_len));
    loop {
        let v = build(&text);
        let size = serde_json::to_vec(&v)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        if size <= TEAMS_BODY_MAX || text.is_empty() {
            return v;
        }
        let n = text.chars().count();
        // Escaping can make a character cost several bytes: cut by the excess, at least 1/8.
        let cut = (size - TEAMS_BODY_MAX).max(n / 8).max(1);
        text = truncate(&text, n.saturating_sub(cut));
    }
}

/// Alertmanager's webhook JSON, version 4.
pub(crate) fn webhook_v4(data: &NotifyData, max_alerts: u64) -> Json {
    let total = data.alerts.len();
    let keep = if max_alerts == 0 {
        total
    } else {
        total.min(usize::try_from(max_alerts).unwrap_or(usize::MAX))
    };
    let shown = NotifyData {
        alerts: data.alerts[..keep].to_vec(),
        ..data.clone()
    };
    let alerts: Vec<Json> = shown
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": a.status(),
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": super::alert::rfc3339(a.starts_at),
                "endsAt": a.ends_at_str(),
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint_str(),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": shown.group_key,
        "truncatedAlerts": total - keep,
        "status": shown.status(),
        "receiver": shown.receiver,
        "groupLabels": shown.group_labels,
        "commonLabels": shown.common_labels(),
        "commonAnnotations": shown.common_annotations(),
        "externalURL": shown.external_url,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_respects_limits() {
        let text = "x".repeat(10_000);
        let c = chunks(&text, 3_000, 49);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|c| c.chars().count() <= 3_000));
        let big = "line of text\n".repeat(20_000);
        let c = chunks(&big, 3_000, 49);
        assert_eq!(c.len(), 49);
        assert!(c.iter().all(|c| c.chars().count() <= 3_000));
        assert!(c[48].ends_with('…'));
    }

    #[test]
    fn discord_total_limit() {
        let mut e: Vec<(String, String, u32)> = (0..12)
            .map(|_| ("t".repeat(500), "d".repeat(5_000), 1))
            .collect();
        let v = discord("title", &mut e);
        let embeds = v["embeds"].as_array().unwrap();
        assert_eq!(embeds.len(), 10);
        let total: usize = embeds
            .iter()
            .map(|e| {
                e["title"].as_str().unwrap().chars().count()
                    + e["description"].as_str().map_or(0, |d| d.chars().count())
            })
            .sum();
        assert!(total <= 6_000, "{total}");
    }
}
