//! Relabel rules (`relabel_configs`, `metric_relabel_configs`) in Prometheus' format.
//!
//! [`RawRelabelConfig`] is what YAML holds; [`RelabelConfig`] is the checked form with
//! Prometheus' defaults filled in (action `replace`, separator `;`, regex `(.*)`, replacement
//! `$1`), the regex compiled anchored at both ends with `.` matching newlines (`^(?s:re)$`, as
//! Prometheus 3 does), and the replacement and target-label templates parsed with Go's
//! `regexp.Expand` rules ([`Template`]). The engine that applies rules lives in
//! `lookout-collector`'s `relabel` module.
//!
//! Invariants of a checked rule, as Prometheus' `Config.Validate` enforces them: `replace`,
//! `hashmod`, `lowercase`, `uppercase`, `keepequal` and `dropequal` have a valid `target_label`
//! (for `replace` it may hold `$1`/`${name}` references); `hashmod` has a non-zero modulus;
//! `labelmap`'s replacement is a label name with references; `labeldrop`/`labelkeep` set only
//! `regex`; `keepequal`/`dropequal` set only `source_labels` and `target_label`;
//! `lowercase`/`uppercase`/`keepequal`/`dropequal` do not set `replacement`.
//!
//! YAML detail kept from Prometheus (Go yaml.v2): a key written with an explicit null value
//! (`replacement:` with nothing after it) means the empty string, not the default; so
//! `replacement:` deletes the target label and `regex:` matches only the empty string.
//!
//! Regexes use Go's syntax; [`go_regex`] rewrites the few constructs where the `regex` crate
//! differs. Cost: all parsing and compiling happens here, once per config load; compiled
//! regexes are shared between rules with the same pattern ([`shared_regex`]).

mod go_regex;
mod shared_regex;
mod template;

use regex::Regex;
use serde::{Deserialize, Deserializer};
use std::sync::Arc;

pub use template::Template;

/// One relabel rule as written in YAML.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    /// Labels whose values are joined with `separator` and matched against `regex`; a missing
    /// label contributes the empty string.
    #[serde(default, deserialize_with = "null_as_default")]
    pub source_labels: Vec<String>,
    /// Separator between the source label values (default `;`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub separator: Option<String>,
    /// The label written by `replace`, `hashmod`, `lowercase`, `uppercase`, or compared by
    /// `keepequal`/`dropequal`. For `replace` it may contain `$1`/`${name}` references.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub target_label: Option<String>,
    /// A regular expression in Go syntax, anchored at both ends (default `(.*)`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub regex: Option<String>,
    /// Modulus for `hashmod`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub modulus: Option<u64>,
    /// Replacement with `$1`/`${name}` references (default `$1`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub replacement: Option<String>,
    /// The action, case-insensitive (default `replace`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub action: Option<String>,
}

/// A key present with a null value reads as the empty string (absent stays `None`).
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?.unwrap_or_default()))
}

/// A key present with a null value reads as the type's default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
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

impl Action {
    /// Parses an action name, case-insensitively (Go's `strings.ToLower`).
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.to_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }

    /// The action's name as written in YAML.
    pub fn as_str(self) -> &'static str {
        action_name(self)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which label names are valid, as Prometheus' `model.ValidationScheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus 2, and Prometheus 3 with
    /// `metric_name_validation_scheme: legacy`). lookout's default.
    #[default]
    Legacy,
    /// Any non-empty UTF-8 string (Prometheus 3's default).
    Utf8,
}

impl NameValidation {
    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => is_legacy_label_name(name),
            NameValidation::Utf8 => !name.is_empty(),
        }
    }

    /// Whether `tpl` is a valid label name once its `$` references are expanded: under the
    /// legacy scheme, word characters and `$name`/`${name}` references, not starting with a
    /// digit.
    fn is_valid_template(self, tpl: &str) -> bool {
        match self {
            NameValidation::Legacy => is_legacy_label_template(tpl),
            NameValidation::Utf8 => !tpl.is_empty(),
        }
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

fn is_legacy_label_template(tpl: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = tpl.as_bytes();
    if b.is_empty() || b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if word(b[i]) {
            i += 1;
            continue;
        }
        if b[i] != b'$' {
            return false;
        }
        let braced = b.get(i + 1) == Some(&b'{');
        let start = i + 1 + usize::from(braced);
        let mut j = start;
        while j < b.len() && word(b[j]) {
            j += 1;
        }
        if j == start || (braced && b.get(j) != Some(&b'}')) {
            return false;
        }
        i = j + usize::from(braced);
    }
    true
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";
const REGEX_SIZE_LIMIT: usize = 256 << 20;

/// A checked relabel rule.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub target_label: String,
    /// The regex as written (unanchored, Go syntax), for display and equality.
    pub regex_src: String,
    /// The compiled, anchored regex `^(?s:regex)$`, shared by every rule with the same one.
    pub regex: Arc<Regex>,
    pub modulus: u64,
    pub replacement: String,
    pub action: Action,
    /// The label-name rules used to check names here and by the engine.
    pub name_validation: NameValidation,
    /// `target_label` parsed against `regex` (only `replace` expands it).
    pub target_template: Template,
    /// `replacement` parsed against `regex` (used by `replace` and `labelmap`).
    pub replacement_template: Template,
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
            && self.name_validation == o.name_validation
    }
}

impl RelabelConfig {
    /// Checks a raw rule under the legacy label-name scheme and fills in Prometheus'
    /// defaults. The error is a plain message; the caller adds file:line:column.
    pub fn from_raw(raw: &RawRelabelConfig) -> Result<Self, String> {
        Self::from_raw_with(raw, NameValidation::Legacy)
    }

    /// [`RelabelConfig::from_raw`] with an explicit label-name scheme.
    pub fn from_raw_with(raw: &RawRelabelConfig, names: NameValidation) -> Result<Self, String> {
        let action = match raw.action.as_deref() {
            None => Action::Replace,
            Some("") => return Err("relabel action cannot be empty".into()),
            Some(s) => Action::parse(s).ok_or_else(|| format!("unknown relabel action {s:?}"))?,
        };
        if let Some(bad) = raw.source_labels.iter().find(|n| !names.is_valid(n)) {
            return Err(format!("{bad:?} is not a valid label name"));
        }
        let regex_src = raw
            .regex
            .clone()
            .unwrap_or_else(|| DEFAULT_REGEX.to_string());
        let translated = go_regex::translate(&regex_src)
            .map_err(|e| format!("invalid regex {regex_src:?}: {e}"))?;
        // Go's regexp has no compiled-size limit; allow large alternations (long lists of
        // metric names) well past the `regex` crate's 10 MiB default.
        let regex = shared_regex::compile(&format!("^(?s:{translated})$"), REGEX_SIZE_LIMIT)
            .map_err(|e| format!("invalid regex {regex_src:?}: {}", last_line(&e.to_string())))?;
        let target_label = raw.target_label.clone().unwrap_or_default();
        let replacement = raw
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string());
        let rc = RelabelConfig {
            source_labels: raw.source_labels.clone(),
            separator: raw
                .separator
                .clone()
                .unwrap_or_else(|| DEFAULT_SEPARATOR.to_string()),
            target_template: Template::parse(&target_label, &regex),
            replacement_template: Template::parse(&replacement, &regex),
            target_label,
            regex_src,
            regex,
            modulus: raw.modulus.unwrap_or(0),
            replacement,
            action,
            name_validation: names,
        };
        rc.validate(raw)?;
        Ok(rc)
    }

    fn validate(&self, raw: &RawRelabelConfig) -> Result<(), String> {
        use Action::*;
        let a = self.action;
        let names = self.name_validation;
        let target = &self.target_label;
        if a == HashMod && self.modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && target.is_empty()
        {
            return Err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        let target_ok = match a {
            Replace if target.contains('$') => names.is_valid_template(target),
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual => {
                names.is_valid(target)
            }
            _ => true,
        };
        if !target_ok {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {a} action"
            ));
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual)
            && self.replacement != DEFAULT_REPLACEMENT
        {
            return Err(format!("'replacement' can not be set for {a} action"));
        }
        if a == LabelMap && !names.is_valid_template(&self.replacement) {
            return Err(format!(
                "{:?} is invalid 'replacement' for {a} action",
                self.replacement
            ));
        }
        // Prometheus rejects any explicitly written regex here; writing the default `(.*)`
        // is accepted by lookout, which changes nothing.
        if matches!(a, KeepEqual | DropEqual)
            && (raw.regex.as_deref().is_some_and(|r| r != DEFAULT_REGEX)
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !target.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// Parses and checks a YAML list of rules (as under `relabel_configs:`), legacy label names.
/// For tests, benches and embedded snippets; config files go through the config loader, which
/// reports file:line:column.
pub fn rules_from_yaml(yaml: &str) -> Result<Vec<RelabelConfig>, String> {
    let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    raw.iter()
        .enumerate()
        .map(|(i, r)| RelabelConfig::from_raw(r).map_err(|e| format!("rule {i}: {e}")))
        .collect()
}

/// The `regex` crate's errors are multi-line with a caret diagram; keep the message line.
fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
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

#[cfg(test)]
mod tests;
