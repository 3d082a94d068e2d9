//! One alerting rule's state machine, as Prometheus' `AlertingRule`: each evaluation turns
//! the expression's result into active alerts (pending until `for` has passed, then firing;
//! kept firing for `keep_firing_for` after the condition clears), resolves the rest, and
//! says which alerts need (re)sending to the notifier.
//!
//! Invariants: one active alert per label set (the fingerprint); a resolved alert is kept
//! for [`RESOLVED_RETENTION`] so its resolution is sent; `ALERTS` / `ALERTS_FOR_STATE` are
//! produced for pending and firing alerts only.

use crate::template::{AlertData, QueryFn, Template};
use lookout_config::rules::Rule;
use lookout_store::Labels;
use std::collections::{BTreeMap, HashMap};

/// How long resolved alerts are kept to notify their resolution.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule.
#[derive(Debug, Clone)]
pub struct ActiveAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: i64,
    pub keep_firing_since: Option<i64>,
}

impl ActiveAlert {
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // Resolved since the last send: send the resolution.
        if let (Some(r), Some(s)) = (self.resolved_at, self.last_sent_at)
            && r > s
        {
            return true;
        }
        match self.last_sent_at {
            None => true,
            Some(s) => s + resend_delay_ms <= ts,
        }
    }
}

/// An alerting rule and its state.
pub struct AlertingRule {
    pub rule: Rule,
    pub expr: promql_parser::parser::Expr,
    label_tmpls: Vec<(String, Template)>,
    annotation_tmpls: Vec<(String, Template)>,
    pub active: HashMap<u64, ActiveAlert>,
    /// Set once `for` state has been restored (or there was nothing to restore).
    pub restored: bool,
}

fn fingerprint(l: &BTreeMap<String, String>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    l.hash(&mut h);
    h.finish()
}

/// What one evaluation of an alerting rule produced.
pub struct AlertEval {
    /// `ALERTS` samples (labels, 1.0).
    pub alerts_series: Vec<Labels>,
    /// `ALERTS_FOR_STATE` samples (labels, active_at in seconds).
    pub for_state: Vec<(Labels, f64)>,
    /// A template that failed to expand (the alert is still produced, as in Prometheus).
    pub warning: Option<String>,
}

impl AlertingRule {
    pub fn new(rule: Rule) -> Result<Self, String> {
        let expr = crate::promql::parse(&rule.expr).map_err(|e| e.to_string())?;
        let parse = |m: &BTreeMap<String, String>| -> Result<Vec<(String, Template)>, String> {
            m.iter()
                .map(|(k, v)| {
                    Template::parse(v)
                        .map(|t| (k.clone(), t))
                        .map_err(|e| format!("{k}: {e}"))
                })
                .collect()
        };
        Ok(AlertingRule {
            label_tmpls: parse(&rule.labels)?,
            annotation_tmpls: parse(&rule.annotations)?,
            rule,
            expr,
            active: HashMap::new(),
            restored: false,
        })
    }

    pub fn name(&self) -> &str {
        self.rule.name()
    }

    /// The rule's overall state: the highest state of its alerts.
    pub fn state(&self) -> AlertState {
        let mut s = AlertState::Inactive;
        for a in self.active.values() {
            match (a.state, s) {
                (AlertState::Firing, _) => return AlertState::Firing,
                (AlertState::Pending, _) => s = AlertState::Pending,
                _ => {}
            }
        }
        s
    }

    /// Updates state from the expression's result at `ts` (ms). `limit` 0 = none.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        result: Vec<(Labels, f64)>,
        ts: i64,
        limit: u64,
        external_labels: &BTreeMap<String, String>,
        external_url: &str,
        query: Option<&QueryFn<'_>>,
    ) -> Result<AlertEval, String> {
        let mut seen: HashMap<u64, ActiveAlert> = HashMap::new();
        let mut errors = Vec::new();
        for (series, v) in result {
            let mut labels: BTreeMap<String, String> = series
                .iter()
                .filter(|l| l.name != "__name__")
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let data = AlertData {
                labels: labels.clone(),
                external_labels: external_labels.clone(),
                external_url: external_url.to_string(),
                value: v,
            };
            let expand = |t: &Template, errors: &mut Vec<String>| -> String {
                match crate::template::expand_parsed(t, &data, query) {
                    Ok(s) => s,
                    Err(e) => {
                        errors.push(e.clone());
                        format!("<error expanding template: {e}>")
                    }
                }
            };
            for (k, t) in &self.label_tmpls {
                let val = expand(t, &mut errors);
                if val.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), val);
                }
            }
            labels.insert("alertname".into(), self.rule.name().to_string());
            let annotations: BTreeMap<String, String> = self
                .annotation_tmpls
                .iter()
                .map(|(k, t)| (k.clone(), expand(t, &mut errors)))
                .collect();
            let fp = fingerprint(&labels);
            if seen.contains_key(&fp) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            seen.insert(
                fp,
                ActiveAlert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value: v,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: 0,
                    keep_firing_since: None,
                },
            );
        }
        for (fp, new) in seen.iter() {
            match self.active.get_mut(fp) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = new.value;
                    a.annotations = new.annotations.clone();
                    a.keep_firing_since = None;
                }
                _ => {
                    self.active.insert(*fp, new.clone());
                }
            }
        }
        let for_ms = self.rule.for_.as_millis() as i64;
        let keep_ms = self.rule.keep_firing_for.as_millis() as i64;
        let mut resolved = Vec::new();
        for (fp, a) in self.active.iter_mut() {
            if seen.contains_key(fp) {
                continue;
            }
            // Not in this result.
            if a.state == AlertState::Pending {
                resolved.push(*fp);
                continue;
            }
            if a.state == AlertState::Firing && keep_ms > 0 {
                let since = *a.keep_firing_since.get_or_insert(ts);
                if ts - since < keep_ms {
                    continue;
                }
            }
            if a.state != AlertState::Inactive {
                a.state = AlertState::Inactive;
                a.resolved_at = Some(ts);
            }
            if a.resolved_at
                .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
            {
                resolved.push(*fp);
            }
        }
        for fp in resolved {
            self.active.remove(&fp);
        }
        let active_count = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .count();
        if limit > 0 && active_count as u64 > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_count} alerts"
            ));
        }
        let mut out = AlertEval {
            alerts_series: Vec::new(),
            for_state: Vec::new(),
            warning: errors
                .into_iter()
                .next()
                .map(|e| format!("expanding templates: {e}")),
        };
        for a in self.active.values_mut() {
            if a.state == AlertState::Pending && ts - a.active_at >= for_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if a.state == AlertState::Inactive {
                continue;
            }
            let mut l: Vec<(String, String)> = a
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut fs = l.clone();
            l.push(("__name__".into(), "ALERTS".into()));
            l.push(("alertstate".into(), a.state.as_str().into()));
            out.alerts_series.push(Labels::from_pairs(l));
            fs.push(("__name__".into(), "ALERTS_FOR_STATE".into()));
            out.for_state
                .push((Labels::from_pairs(fs), a.active_at as f64 / 1000.0));
        }
        Ok(out)
    }

    /// Alerts that need sending at `ts`, marking them sent. `interval_ms` is the group's.
    pub fn to_send(&mut self, ts: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<ActiveAlert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !a.needs_sending(ts, resend_delay_ms) {
                continue;
            }
            a.last_sent_at = Some(ts);
            a.valid_until = ts + 4 * resend_delay_ms.max(interval_ms);
            out.push(a.clone());
        }
        out
    }

    /// Restores `active_at` of current alerts from `ALERTS_FOR_STATE` samples written before
    /// a restart: `series` are `(labels without __name__, active_at seconds, last sample ms)`.
    pub fn restore(
        &mut self,
        series: &[(BTreeMap<String, String>, f64, i64)],
        ts: i64,
        grace_ms: i64,
    ) {
        let for_ms = self.rule.for_.as_millis() as i64;
        for a in self.active.values_mut() {
            let Some((_, active_s, down_at)) = series.iter().find(|(l, _, _)| *l == a.labels)
            else {
                continue;
            };
            let restored = (*active_s * 1000.0) as i64;
            let spent = down_at - restored;
            let remaining = for_ms - spent;
            let active_at = if remaining <= 0 {
                restored
            } else if remaining < grace_ms {
                ts + grace_ms - for_ms
            } else {
                restored + (ts - down_at)
            };
            a.active_at = active_at;
            if a.state == AlertState::Firing && ts - active_at < for_ms {
                a.state = AlertState::Pending;
                a.fired_at = None;
            }
        }
        self.restored = true;
    }
}
