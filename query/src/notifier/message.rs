//! What one group notification says, independent of where it goes: Alertmanager's template
//! data (`Receiver`, `Status`, `Alerts`, `GroupLabels`, `CommonLabels`, `CommonAnnotations`,
//! `ExternalURL`, `GroupKey`) built from a group's alerts, its conversion to a template
//! [`Value`], our default message templates, and length-limited truncation.
//!
//! Templates see, besides Alertmanager's fields, `.Firing` and `.Resolved` (lists of the
//! alerts in each state; Go's `.Alerts.Firing` methods have no equivalent in our value model)
//! and `.GroupTitle` (the group label values joined by spaces).
//!
//! Invariants: firing alerts carry no `EndsAt` (Alertmanager exposes the zero time for alerts
//! that have not ended); alerts are ordered like Alertmanager's `AlertSlice` (job, instance,
//! then labels). Cost: one `Value` tree per notification; rendering allocates the output.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::template::{Template, Value};

use super::alert::{ZERO_TIME, rfc3339};

/// One alert as a notification shows it.
#[derive(Debug, Clone)]
pub(crate) struct AlertView {
    pub firing: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    /// Set only for resolved alerts.
    pub ends_at: Option<SystemTime>,
    pub generator_url: String,
    pub fingerprint: u64,
}

impl AlertView {
    pub fn status(&self) -> &'static str {
        if self.firing { "firing" } else { "resolved" }
    }
    pub fn ends_at_str(&self) -> String {
        self.ends_at
            .map(rfc3339)
            .unwrap_or_else(|| ZERO_TIME.to_string())
    }
    pub fn fingerprint_str(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }
}

/// The data of one notification (Alertmanager's `template.Data`).
#[derive(Debug, Clone)]
pub(crate) struct NotifyData {
    pub receiver: String,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub alerts: Vec<AlertView>,
    pub external_url: String,
}

impl NotifyData {
    /// `firing` when any alert fires.
    pub fn status(&self) -> &'static str {
        if self.alerts.iter().any(|a| a.firing) {
            "firing"
        } else {
            "resolved"
        }
    }

    pub fn common_labels(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    pub fn common_annotations(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    pub fn num_firing(&self) -> usize {
        self.alerts.iter().filter(|a| a.firing).count()
    }

    /// The template value `.`.
    pub fn to_value(&self) -> Value {
        let alerts: Vec<Value> = self.alerts.iter().map(alert_value).collect();
        let pick = |firing: bool| {
            Value::List(
                self.alerts
                    .iter()
                    .zip(&alerts)
                    .filter(|(a, _)| a.firing == firing)
                    .map(|(_, v)| v.clone())
                    .collect(),
            )
        };
        let title: Vec<&str> = self.group_labels.values().map(String::as_str).collect();
        let group_title = if title.is_empty() {
            self.common_labels()
                .get("alertname")
                .cloned()
                .unwrap_or_default()
        } else {
            title.join(" ")
        };
        let m: BTreeMap<String, Value> = [
            ("Receiver", Value::Str(self.receiver.clone())),
            ("Status", Value::Str(self.status().into())),
            ("Firing", pick(true)),
            ("Resolved", pick(false)),
            ("Alerts", Value::List(alerts)),
            ("GroupLabels", str_map(&self.group_labels)),
            ("CommonLabels", str_map(&self.common_labels())),
            ("CommonAnnotations", str_map(&self.common_annotations())),
            ("ExternalURL", Value::Str(self.external_url.clone())),
            ("GroupKey", Value::Str(self.group_key.clone())),
            ("GroupTitle", Value::Str(group_title)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Value::Map(m)
    }
}

pub(crate) fn alert_value(a: &AlertView) -> Value {
    let m: BTreeMap<String, Value> = [
        ("Status", Value::Str(a.status().into())),
        ("Labels", str_map(&a.labels)),
        ("Annotations", str_map(&a.annotations)),
        ("StartsAt", Value::Str(rfc3339(a.starts_at))),
        ("EndsAt", Value::Str(a.ends_at_str())),
        ("GeneratorURL", Value::Str(a.generator_url.clone())),
        ("Fingerprint", Value::Str(a.fingerprint_str())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Value::Map(m)
}

fn str_map(m: &BTreeMap<String, String>) -> Value {
    Value::Map(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect(),
    )
}

fn common<'a>(
    mut it: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = it.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for m in it {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}

/// Orders alerts like Alertmanager's `AlertSlice`: by `job`, then `instance` (alerts with the
/// label first), then by the whole label set.
pub(crate) fn sort_alerts(alerts: &mut [AlertView]) {
    alerts.sort_by(|a, b| {
        for key in ["job", "instance"] {
            match (a.labels.get(key), b.labels.get(key)) {
                (None, None) => continue,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
                (Some(_), None) => return std::cmp::Ordering::Less,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => continue,
            }
        }
        a.labels.iter().cmp(b.labels.iter())
    });
}

/// Our default title (all chat receivers).
pub(crate) const DEFAULT_TITLE: &str = r#"[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ len .Firing }}{{ end }}] {{ .GroupTitle }}"#;

/// Our default Slack/Mattermost text (mrkdwn).
pub(crate) const DEFAULT_SLACK_TEXT: &str = r#"{{ range .Alerts }}{{ if eq .Status "firing" }}:red_circle:{{ else }}:large_green_circle:{{ end }} *{{ .Labels.alertname }}*{{ with .Annotations.summary }}: {{ . }}{{ end }}
{{ with .Annotations.description }}{{ . }}
{{ end }}{{ end }}"#;

/// Our default Teams / Discord text (Markdown).
pub(crate) const DEFAULT_MD_TEXT: &str = r#"{{ range .Alerts }}{{ if eq .Status "firing" }}🔴{{ else }}🟢{{ end }} **{{ .Labels.alertname }}**{{ with .Annotations.summary }}: {{ . }}{{ end }}
{{ with .Annotations.description }}{{ . }}
{{ end }}{{ end }}"#;

/// Discord: one embed per alert; its title and description (dot = the alert).
pub(crate) const DEFAULT_ALERT_TITLE: &str =
    r#"{{ .Labels.alertname }}{{ with .Annotations.summary }}: {{ . }}{{ end }}"#;
pub(crate) const DEFAULT_ALERT_TEXT: &str = r#"{{ with .Annotations.description }}{{ . }}
{{ end }}{{ range $k, $v := .Labels }}{{ if ne $k "alertname" }}`{{ $k }}={{ $v }}` {{ end }}{{ end }}"#;

/// A parsed message template: the user's if given, else ours.
#[derive(Debug, Clone)]
pub(crate) struct MessageTemplate(Template);

impl MessageTemplate {
    /// Parses the user's template, falling back to `default` (with a warning) when it does not
    /// parse, so a typo costs formatting, not the notification.
    pub fn new(user: Option<&str>, default: &str, what: &str) -> Self {
        if let Some(src) = user {
            match Template::parse(src) {
                Ok(t) => return MessageTemplate(t),
                Err(e) => {
                    tracing::warn!(template = what, error = %e, "bad notification template, using the default")
                }
            }
        }
        // Our defaults are tested to parse; an empty template is the last resort.
        MessageTemplate(Template::parse(default).unwrap_or_else(|_| empty()))
    }

    /// Renders; on an execution error, says so in the message rather than dropping it.
    pub fn render(&self, dot: &Value) -> String {
        match self.0.execute(dot, &[], None) {
            Ok(s) => s.trim().to_string(),
            Err(e) => format!("(template error: {e})"),
        }
    }
}

fn empty() -> Template {
    match Template::parse("") {
        Ok(t) => t,
        Err(_) => unreachable!("the empty template parses"),
    }
}

/// Cuts `s` to at most `max` characters, ending with "…" when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        for t in [
            DEFAULT_TITLE,
            DEFAULT_SLACK_TEXT,
            DEFAULT_MD_TEXT,
            DEFAULT_ALERT_TITLE,
            DEFAULT_ALERT_TEXT,
        ] {
            Template::parse(t).unwrap();
        }
    }

    #[test]
    fn truncation_counts_chars() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 4), "hél…");
        assert_eq!(truncate("héllo", 4).chars().count(), 4);
    }
}
