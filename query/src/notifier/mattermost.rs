//! Mattermost incoming-webhook posts, as Alertmanager's `mattermost_configs` send them:
//! `text` (Markdown), `channel`, `username`, `icon_url`, `icon_emoji`, Slack-compatible
//! `attachments`, `type`, `props.card` and `priority`, every text field a template.
//!
//! Limits: Mattermost stores at most 16,383 characters of post text, so `text` (and each
//! attachment's `text`, `pretext` and `fallback`, which Mattermost renders the same way) is
//! cut to that with "…". `priority` is checked as Alertmanager does: an unknown value becomes
//! `standard`, `requested_ack` needs a non-standard priority and `persistent_notifications`
//! an urgent one. Unset or empty fields are left out of the body.
//!
//! Cost: one template render per configured field and one JSON value per notification.

use lookout_config::notify::{MattermostAttachment, MattermostMessage};
use serde_json::{Map, Value as Json, json};

use super::message::{DEFAULT_MD_TEXT, DEFAULT_TITLE, MessageTemplate, NotifyData, truncate};
use crate::template::Value;

/// Mattermost's post text limit (characters).
pub(crate) const MATTERMOST_TEXT_MAX: usize = 16_383;

/// An optional template field.
type Opt = Option<MessageTemplate>;

fn opt(src: &Option<String>, what: &str) -> Opt {
    src.as_deref()
        .map(|s| MessageTemplate::new(Some(s), "", what))
}

struct FieldTpl {
    title: MessageTemplate,
    value: MessageTemplate,
    short: Option<bool>,
}

struct AttachmentTpl {
    /// `(json key, template)` for every set text field, in Mattermost's order.
    texts: Vec<(&'static str, MessageTemplate)>,
    fields: Vec<FieldTpl>,
}

impl AttachmentTpl {
    fn new(a: &MattermostAttachment) -> Self {
        let named = [
            ("fallback", &a.fallback),
            ("color", &a.color),
            ("pretext", &a.pretext),
            ("text", &a.text),
            ("author_name", &a.author_name),
            ("author_link", &a.author_link),
            ("author_icon", &a.author_icon),
            ("title", &a.title),
            ("title_link", &a.title_link),
            ("thumb_url", &a.thumb_url),
            ("footer", &a.footer),
            ("footer_icon", &a.footer_icon),
            ("image_url", &a.image_url),
        ];
        AttachmentTpl {
            texts: named
                .into_iter()
                .filter_map(|(k, v)| Some((k, opt(v, "mattermost attachment")?)))
                .collect(),
            fields: a
                .fields
                .iter()
                .map(|f| FieldTpl {
                    title: MessageTemplate::new(Some(&f.title), "", "mattermost field title"),
                    value: MessageTemplate::new(Some(&f.value), "", "mattermost field value"),
                    short: f.short,
                })
                .collect(),
        }
    }

    fn render(&self, dot: &Value) -> Json {
        let mut m = Map::new();
        for (k, t) in &self.texts {
            let v = t.render(dot);
            if v.is_empty() {
                continue;
            }
            let v = match *k {
                "text" | "pretext" | "fallback" => truncate(&v, MATTERMOST_TEXT_MAX),
                _ => v,
            };
            m.insert((*k).into(), Json::String(v));
        }
        if !self.fields.is_empty() {
            let fields: Vec<Json> = self
                .fields
                .iter()
                .map(|f| {
                    let mut o = json!({"title": f.title.render(dot), "value": f.value.render(dot)});
                    if let Some(s) = f.short {
                        o["short"] = Json::Bool(s);
                    }
                    o
                })
                .collect();
            m.insert("fields".into(), Json::Array(fields));
        }
        Json::Object(m)
    }
}

/// A configured Mattermost post, templates parsed.
pub(crate) struct MattermostBody {
    title: MessageTemplate,
    /// `None`: lookout's default text (title, then the alerts).
    text: Opt,
    default_text: MessageTemplate,
    channel: Opt,
    username: Opt,
    icon_url: Opt,
    icon_emoji: Opt,
    type_: Opt,
    card: Opt,
    priority: Option<(MessageTemplate, bool, bool)>,
    attachments: Vec<AttachmentTpl>,
}

impl MattermostBody {
    pub fn new(m: &MattermostMessage) -> Self {
        MattermostBody {
            title: MessageTemplate::new(m.title.as_deref(), DEFAULT_TITLE, "mattermost title"),
            text: opt(&m.text, "mattermost text"),
            default_text: MessageTemplate::new(None, DEFAULT_MD_TEXT, ""),
            channel: opt(&m.channel, "mattermost channel"),
            username: opt(&m.username, "mattermost username"),
            icon_url: opt(&m.icon_url, "mattermost icon_url"),
            icon_emoji: opt(&m.icon_emoji, "mattermost icon_emoji"),
            type_: opt(&m.type_, "mattermost type"),
            card: m
                .props
                .as_ref()
                .and_then(|p| opt(&p.card, "mattermost props.card")),
            priority: m.priority.as_ref().and_then(|p| {
                Some((
                    opt(&p.priority, "mattermost priority")?,
                    p.requested_ack,
                    p.persistent_notifications,
                ))
            }),
            attachments: m.attachments.iter().map(AttachmentTpl::new).collect(),
        }
    }

    /// The webhook body for one notification.
    pub fn render(&self, data: &NotifyData) -> Json {
        let dot = data.to_value();
        let text = match &self.text {
            Some(t) => t.render(&dot),
            None => format!(
                "#### {}\n{}",
                self.title.render(&dot),
                self.default_text.render(&dot)
            ),
        };
        let mut m = Map::new();
        m.insert(
            "text".into(),
            Json::String(truncate(&text, MATTERMOST_TEXT_MAX)),
        );
        for (k, t) in [
            ("channel", &self.channel),
            ("username", &self.username),
            ("icon_url", &self.icon_url),
            ("icon_emoji", &self.icon_emoji),
            ("type", &self.type_),
        ] {
            if let Some(v) = t.as_ref().map(|t| t.render(&dot)).filter(|v| !v.is_empty()) {
                m.insert(k.into(), Json::String(v));
            }
        }
        if !self.attachments.is_empty() {
            let a: Vec<Json> = self.attachments.iter().map(|a| a.render(&dot)).collect();
            m.insert("attachments".into(), Json::Array(a));
        }
        if let Some(card) = self
            .card
            .as_ref()
            .map(|t| t.render(&dot))
            .filter(|v| !v.is_empty())
        {
            m.insert("props".into(), json!({ "card": card }));
        }
        if let Some((p, ack, persistent)) = &self.priority {
            let p = p.render(&dot);
            if !p.is_empty() {
                m.insert("priority".into(), priority(&p, *ack, *persistent));
            }
        }
        Json::Object(m)
    }
}

/// Mattermost's `priority` object, corrected as Alertmanager corrects it.
fn priority(p: &str, requested_ack: bool, persistent: bool) -> Json {
    let p = p.to_ascii_lowercase();
    let p = match p.as_str() {
        "urgent" | "important" | "standard" => p,
        _ => {
            tracing::warn!(priority = %p, "invalid Mattermost priority; using standard");
            "standard".to_string()
        }
    };
    let ack = requested_ack && p != "standard";
    let persistent = persistent && p == "urgent";
    json!({ "priority": p, "requested_ack": ack, "persistent_notifications": persistent })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_is_corrected_like_alertmanager() {
        assert_eq!(
            priority("URGENT", true, true),
            json!({"priority": "urgent", "requested_ack": true, "persistent_notifications": true})
        );
        assert_eq!(
            priority("important", true, true),
            json!({"priority": "important", "requested_ack": true, "persistent_notifications": false})
        );
        assert_eq!(
            priority("bogus", true, true),
            json!({"priority": "standard", "requested_ack": false, "persistent_notifications": false})
        );
    }
}
