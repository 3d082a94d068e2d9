//! Relabeling: applies checked [`RelabelConfig`] rules to a label set, with Prometheus'
//! semantics (`model/relabel`), for target relabeling (`relabel_configs`, once per discovered
//! target) and metric relabeling (`metric_relabel_configs`, once per new series of a target).
//!
//! Semantics, per rule, in order; the first rule that drops stops processing:
//! - The *source value* is the values of `source_labels` joined with `separator`; a missing
//!   label contributes the empty string.
//! - `keep` / `drop`: drop unless / if the anchored regex matches the source value.
//! - `keepequal` / `dropequal`: drop unless / if the source value equals the value of
//!   `target_label` (missing = empty).
//! - `replace`: if the regex matches, expand `target_label` and `replacement` with the match
//!   (Go `regexp.Expand` rules); an expanded name that is not a valid label name skips the
//!   rule; an empty expanded value deletes the label. No match: nothing happens.
//! - `lowercase` / `uppercase`: set `target_label` to the source value with Go's case mapping.
//! - `hashmod`: MD5 of the source value, its last 8 bytes read as a big-endian `u64`, modulo
//!   `modulus`, written in decimal to `target_label`.
//! - `labelmap`: every label whose *name* matches gets copied to the name produced by
//!   expanding `replacement` (labels visited in Prometheus' order; the original is kept).
//! - `labeldrop` / `labelkeep`: remove labels whose name matches / does not match.
//!
//! As in Prometheus, names produced by `labelmap` are not checked here; callers validate the
//! final label set.
//!
//! Cost: regexes and templates are compiled at config load; applying a rule allocates only
//! for what it writes (the joined source value when there is more than one source label, the
//! new name and value, one capture-slot buffer for a rule that expands references).

mod builder;
mod case;

use std::borrow::Cow;

use lookout_config::relabel::{Action, RelabelConfig};
use lookout_store::Labels;
use md5::{Digest, Md5};

pub use builder::LabelBuilder;
pub use case::{go_lower, go_upper};

/// Applies `rules` in order to `labels`. Returns false if the target/series is dropped (the
/// builder is then left as the dropping rule found it).
pub fn process(rules: &[RelabelConfig], labels: &mut LabelBuilder<'_>) -> bool {
    rules.iter().all(|rule| apply(rule, labels))
}

/// Applies `rules` to a label set; `None` when it is dropped.
pub fn relabel(rules: &[RelabelConfig], labels: &Labels) -> Option<Labels> {
    if rules.is_empty() {
        return Some(labels.clone());
    }
    let mut b = LabelBuilder::from_labels(labels);
    process(rules, &mut b).then(|| b.into_labels())
}

/// Drops every label whose name starts with `__`. For use after target relabeling, where
/// Prometheus removes all reserved labels (`__address__`, `__meta_*`, `__tmp_*`, ...) from
/// the target's labels; a target has no `__name__`.
pub fn without_reserved(labels: &Labels) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| !l.name.starts_with("__"))
            .cloned()
            .collect(),
    )
}

/// The source value: `source_labels`' values joined with `separator`.
fn source_value<'b>(rule: &RelabelConfig, labels: &'b LabelBuilder<'_>) -> Cow<'b, str> {
    match rule.source_labels.as_slice() {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(labels.get(one).unwrap_or("")),
        many => {
            let mut s = String::new();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    s.push_str(&rule.separator);
                }
                s.push_str(labels.get(name).unwrap_or(""));
            }
            Cow::Owned(s)
        }
    }
}

/// Applies one rule; false when it drops.
fn apply(rule: &RelabelConfig, labels: &mut LabelBuilder<'_>) -> bool {
    match rule.action {
        Action::Keep => rule.regex.is_match(&source_value(rule, labels)),
        Action::Drop => !rule.regex.is_match(&source_value(rule, labels)),
        Action::KeepEqual => {
            source_value(rule, labels) == labels.get(&rule.target_label).unwrap_or("")
        }
        Action::DropEqual => {
            source_value(rule, labels) != labels.get(&rule.target_label).unwrap_or("")
        }
        Action::Replace => {
            replace(rule, labels);
            true
        }
        Action::Lowercase => {
            let v = go_lower(&source_value(rule, labels));
            labels.set(&rule.target_label, v);
            true
        }
        Action::Uppercase => {
            let v = go_upper(&source_value(rule, labels));
            labels.set(&rule.target_label, v);
            true
        }
        Action::HashMod => {
            let v = hashmod(&source_value(rule, labels), rule.modulus);
            labels.set(&rule.target_label, v.to_string());
            true
        }
        Action::LabelMap => {
            labelmap(rule, labels);
            true
        }
        Action::LabelDrop => {
            labels.retain(|name, _| !rule.regex.is_match(name));
            true
        }
        Action::LabelKeep => {
            labels.retain(|name, _| rule.regex.is_match(name));
            true
        }
    }
}

/// `md5(value)`, last 8 bytes as big-endian `u64`, modulo `modulus` (non-zero by validation;
/// 0 is treated as "no bucket" and yields 0 rather than panicking).
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail).checked_rem(modulus).unwrap_or(0)
}

fn replace(rule: &RelabelConfig, labels: &mut LabelBuilder<'_>) {
    let (name, value) = {
        let src = source_value(rule, labels);
        let (tt, rt) = (&rule.target_template, &rule.replacement_template);
        match (tt.literal(), rt.literal()) {
            // Neither side refers to a group: only whether the regex matches matters.
            (Some(name), Some(value)) => {
                if !rule.regex.is_match(&src) {
                    return;
                }
                (Cow::Borrowed(name), value.to_owned())
            }
            (lit_name, _) => {
                let mut locs = rule.regex.capture_locations();
                if rule.regex.captures_read(&mut locs, &src).is_none() {
                    return;
                }
                let name = match lit_name {
                    Some(n) => Cow::Borrowed(n),
                    None => {
                        let mut n = String::new();
                        tt.expand_into(&src, &locs, &mut n);
                        Cow::Owned(n)
                    }
                };
                let mut value = String::new();
                rt.expand_into(&src, &locs, &mut value);
                (name, value)
            }
        }
    };
    if !rule.name_validation.is_valid(&name) {
        return;
    }
    // An empty value deletes the label.
    labels.set(&name, value);
}

fn labelmap(rule: &RelabelConfig, labels: &mut LabelBuilder<'_>) {
    let mut locs = rule.regex.capture_locations();
    let mut writes = Vec::new();
    for i in labels.range_order() {
        let (name, value) = labels.entry(i);
        // `is_match` runs on the lazy DFA; capture slots only for the (few) names that match.
        if !rule.regex.is_match(name) || rule.regex.captures_read(&mut locs, name).is_none() {
            continue;
        }
        let mut new_name = String::new();
        rule.replacement_template
            .expand_into(name, &locs, &mut new_name);
        writes.push((new_name, value.clone()));
    }
    for (name, value) in writes {
        labels.set(&name, value);
    }
}

#[cfg(test)]
mod tests;
