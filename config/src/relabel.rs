//! Relabel rules (`relabel_configs`, `metric_relabel_configs`) in Prometheus' format.
//!
//! `RawRelabelConfig` is what YAML holds; [`RelabelConfig`] is the checked form with
//! Prometheus' defaults filled in (separator `;`, regex `(.*)` anchored, replacement `$1`,
//! action `replace`) and the regex compiled. The engine that applies them lives in
//! `lookout-collector`'s `relabel` module.

use regex::Regex;
use serde::Deserialize;

/// One relabel rule as written in YAML.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    /// Labels whose values are joined with `separator` and matched against `regex`.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Separator between the source label values (default `;`).
    pub separator: Option<String>,
    /// The label written by `replace`, `hashmod`, `lowercase`, `uppercase`.
    pub target_label: Option<String>,
    /// A regular expression, anchored at both ends (default `(.*)`).
    pub regex: Option<String>,
    /// Modulus for `hashmod`.
    pub modulus: Option<u64>,
    /// Replacement with `$1`-style references (default `$1`).
    pub replacement: Option<String>,
    /// The action (default `replace`).
    pub action: Option<String>,
}

/// What a relabel rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// A checked relabel rule.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub target_label: String,
    /// The regex as written (unanchored), for display and equality.
    pub regex_src: String,
    /// The compiled, anchored regex `^(?:regex)$`.
    pub regex: Regex,
    pub modulus: u64,
    pub replacement: String,
    pub action: Action,
}

impl PartialEq for RelabelConfig {
    fn eq(&self, o: &Self) -> bool {
        self.source_labels == o.source_labels
            && self.separator == o.separator
            && self.target_label == o.target_label
            && self.regex_src == o.regex_src
            && self.modulus == o.modulus
            && self.replacement == o.replacement
            && self.action == o.action
    }
}

impl RelabelConfig {
    /// Checks a raw rule and fills in Prometheus' defaults. The error is a plain message; the
    /// caller adds file:line:column.
    pub fn from_raw(raw: &RawRelabelConfig) -> Result<Self, String> {
        let action = match raw.action.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("replace") => Action::Replace,
            Some("keep") => Action::Keep,
            Some("drop") => Action::Drop,
            Some("keepequal") => Action::KeepEqual,
            Some("dropequal") => Action::DropEqual,
            Some("hashmod") => Action::HashMod,
            Some("labelmap") => Action::LabelMap,
            Some("labeldrop") => Action::LabelDrop,
            Some("labelkeep") => Action::LabelKeep,
            Some("lowercase") => Action::Lowercase,
            Some("uppercase") => Action::Uppercase,
            Some(other) => return Err(format!("unknown relabel action {other:?}")),
        };
        let regex_src = raw.regex.clone().unwrap_or_else(|| "(.*)".to_string());
        let regex = Regex::new(&format!("^(?s:{regex_src})$"))
            .map_err(|e| format!("invalid regex {regex_src:?}: {e}"))?;
        let rc = RelabelConfig {
            source_labels: raw.source_labels.clone(),
            separator: raw.separator.clone().unwrap_or_else(|| ";".to_string()),
            target_label: raw.target_label.clone().unwrap_or_default(),
            regex_src,
            regex,
            modulus: raw.modulus.unwrap_or(0),
            replacement: raw.replacement.clone().unwrap_or_else(|| "$1".to_string()),
            action,
        };
        rc.validate()?;
        Ok(rc)
    }

    fn validate(&self) -> Result<(), String> {
        use Action::*;
        match self.action {
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
                if self.target_label.is_empty() =>
            {
                return Err(format!(
                    "relabel configuration for {} action requires 'target_label' value",
                    action_name(self.action)
                ));
            }
            HashMod if self.modulus == 0 => {
                return Err("relabel configuration for hashmod requires non-zero modulus".into());
            }
            LabelDrop | LabelKeep
                if !self.source_labels.is_empty()
                    || !self.target_label.is_empty()
                    || self.modulus != 0
                    || self.separator != ";"
                    || self.replacement != "$1" =>
            {
                return Err(format!(
                    "{} action requires only 'regex', and no other fields",
                    action_name(self.action)
                ));
            }
            KeepEqual | DropEqual if self.regex_src != "(.*)" || self.replacement != "$1" => {
                return Err(format!(
                    "{} action requires only 'source_labels' and `target_label`, and no other fields",
                    action_name(self.action)
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The action's name as written in YAML.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Replace => "replace",
        Action::Keep => "keep",
        Action::Drop => "drop",
        Action::KeepEqual => "keepequal",
        Action::DropEqual => "dropequal",
        Action::HashMod => "hashmod",
        Action::LabelMap => "labelmap",
        Action::LabelDrop => "labeldrop",
        Action::LabelKeep => "labelkeep",
        Action::Lowercase => "lowercase",
        Action::Uppercase => "uppercase",
    }
}
