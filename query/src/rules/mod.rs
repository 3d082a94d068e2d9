//! Rule evaluation: groups of recording and alerting rules, each group on its own interval,
//! its rules in order at one timestamp, as Prometheus' rule manager does.
//!
//! Recording rules write their result back through the store's `Appendable` (with
//! staleness markers for series that stop); alerting rules keep alert state
//! ([`alerting`]), write `ALERTS` and `ALERTS_FOR_STATE`, restore `for` progress from
//! `ALERTS_FOR_STATE` on their first evaluation after a start, and hand alerts to an
//! [`AlertSink`] (the notifier) with Prometheus' resend timing and `endsAt`.
//!
//! A reload (or a PrometheusRule update) keeps state the way Prometheus does: a group whose
//! file, name, rules and interval are unchanged keeps running untouched; in a changed group
//! each rule takes over the state of the old rule with the same name and labels (an alerting
//! rule its active alerts, so pending alerts do not restart their `for`; a recording rule its
//! previous series). A removed group's series get staleness markers.

pub mod alerting;
pub mod api;
pub mod unittest;

use crate::promql::{self, EngineOpts, QueryValue};
use crate::template::QueryFn;
use alerting::{AlertState, AlertingRule};
use lookout_config::rules::{Rule, RuleGroup, RuleKind};
use lookout_store::{Appendable, Labels, Matcher, Querier, stale_nan};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the `query` template function returns: `(labels, value)` pairs.
type QueryResult = Vec<(BTreeMap<String, String>, f64)>;

/// An alert handed to the notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct SentAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    /// When the alert resolved, or (firing) until when it is valid without a resend.
    pub ends_at: Option<SystemTime>,
    pub generator_url: String,
}

/// Where alerts go.
pub trait AlertSink: Send + Sync {
    fn send(&self, alerts: Vec<SentAlert>);
}

/// Settings shared by all groups.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesOptions {
    pub default_interval: Duration,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    /// Minimum time between resends of a still-firing alert (Prometheus: 1m).
    pub resend_delay: Duration,
    /// How far back `ALERTS_FOR_STATE` is searched on restore (Prometheus: 1h).
    pub outage_tolerance: Duration,
    /// Minimum `for` left after a restore (Prometheus: 10m).
    pub for_grace_period: Duration,
}

impl Default for RulesOptions {
    fn default() -> Self {
        RulesOptions {
            default_interval: Duration::from_secs(60),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
        }
    }
}

/// Health of a rule after its last evaluation.
#[derive(Debug, Clone, Default)]
pub struct RuleHealth {
    pub last_error: Option<String>,
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_time: Duration,
    pub evaluated: bool,
}

// One value per rule, a few hundred at most per process: boxing the larger variant would
// only add an indirection.
#[allow(clippy::large_enum_variant)]
pub enum RuleState {
    Recording {
        rule: Rule,
        expr: promql_parser::parser::Expr,
        /// Series written by the previous evaluation (for staleness markers).
        prev: HashSet<Labels>,
    },
    Alerting(Box<AlertingRule>),
}

pub struct RuleEntry {
    pub state: RuleState,
    pub health: RuleHealth,
}

impl RuleEntry {
    pub fn rule(&self) -> &Rule {
        match &self.state {
            RuleState::Recording { rule, .. } => rule,
            RuleState::Alerting(a) => &a.rule,
        }
    }
}

/// A group and its rules' state.
pub struct Group {
    pub cfg: RuleGroup,
    pub interval: Duration,
    pub rules: Vec<RuleEntry>,
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_time: Duration,
    /// `ALERTS` series of the previous evaluation (for staleness markers).
    prev_alert_series: HashSet<Labels>,
    /// Replaced or removed by a reload: its loop must not evaluate again.
    retired: bool,
}

impl Group {
    /// A group with fresh state (the manager builds these; public for tests and
    /// `lookout test rules`).
    pub fn new(cfg: RuleGroup, default_interval: Duration) -> Result<Group, String> {
        let mut rules = Vec::new();
        for r in &cfg.rules {
            rules.push(
                entry(r.clone())
                    .map_err(|e| format!("group {:?} rule {:?}: {e}", cfg.name, r.name()))?,
            );
        }
        Ok(Group {
            interval: cfg.interval.unwrap_or(default_interval),
            cfg,
            rules,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
            prev_alert_series: HashSet::new(),
            retired: false,
        })
    }
}

struct Running {
    group: Arc<Mutex<Group>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Owns every group's loop.
pub struct RuleManager {
    storage: Arc<dyn Appendable>,
    querier: Arc<dyn Querier>,
    sink: Arc<dyn AlertSink>,
    opts: Mutex<RulesOptions>,
    groups: Mutex<Vec<(String, Running)>>,
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

fn group_key(g: &RuleGroup) -> String {
    format!("{};{}", g.file, g.name)
}

/// Builds a rule's state; errors are expressions the engine rejects.
fn entry(rule: Rule) -> Result<RuleEntry, String> {
    let state = match &rule.kind {
        RuleKind::Record(_) => RuleState::Recording {
            expr: promql::parse(&rule.expr).map_err(|e| e.to_string())?,
            rule,
            prev: HashSet::new(),
        },
        RuleKind::Alert(_) => RuleState::Alerting(Box::new(AlertingRule::new(rule)?)),
    };
    Ok(RuleEntry {
        state,
        health: RuleHealth::default(),
    })
}

impl RuleManager {
    pub fn new(
        storage: Arc<dyn Appendable>,
        querier: Arc<dyn Querier>,
        sink: Arc<dyn AlertSink>,
        opts: RulesOptions,
    ) -> Self {
        RuleManager {
            storage,
            querier,
            sink,
            opts: Mutex::new(opts),
            groups: Mutex::new(Vec::new()),
        }
    }

    /// Replaces the groups. A group with the same file, name, rules and interval (and the same
    /// options) keeps running as is; in a changed group, rules take over the state of the old
    /// rules with the same name and labels (see the module header). Errors name the rule whose
    /// expression the engine rejects; on error nothing changes.
    pub fn apply(&self, groups: Vec<RuleGroup>, opts: RulesOptions) -> Result<(), String> {
        // Build everything first, so a bad rule leaves the running set untouched.
        let mut built: Vec<(RuleGroup, Vec<RuleEntry>)> = Vec::new();
        for g in groups {
            let mut rules = Vec::new();
            for r in &g.rules {
                rules.push(
                    entry(r.clone())
                        .map_err(|e| format!("group {:?} rule {:?}: {e}", g.name, r.name()))?,
                );
            }
            built.push((g, rules));
        }
        let same_opts = {
            let mut cur = self.opts.lock();
            let same = *cur == opts;
            *cur = opts.clone();
            same
        };
        let mut running = self.groups.lock();
        let mut old: HashMap<String, Running> = running.drain(..).collect();
        for (g, mut rules) in built {
            let key = group_key(&g);
            let interval = g.interval.unwrap_or(opts.default_interval);
            let mut prev_alert_series = HashSet::new();
            if let Some(prev) = old.remove(&key) {
                let unchanged = same_opts && {
                    let pg = prev.group.lock();
                    pg.cfg == g && pg.interval == interval
                };
                if unchanged {
                    running.push((key, prev));
                    continue;
                }
                let _ = prev.stop.send(true);
                let mut pg = prev.group.lock();
                pg.retired = true;
                carry_state(&mut pg.rules, &mut rules);
                prev_alert_series = std::mem::take(&mut pg.prev_alert_series);
            }
            let group = Arc::new(Mutex::new(Group {
                cfg: g,
                interval,
                rules,
                last_evaluation: None,
                evaluation_time: Duration::ZERO,
                prev_alert_series,
                retired: false,
            }));
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(run_group(
                group.clone(),
                self.storage.clone(),
                self.querier.clone(),
                self.sink.clone(),
                opts.clone(),
                rx,
            ));
            running.push((key, Running { group, stop: tx }));
        }
        drop(running);
        for (_, r) in old {
            let _ = r.stop.send(true);
            let mut g = r.group.lock();
            g.retired = true;
            mark_stale(&mut g, &*self.storage, ms(SystemTime::now()));
        }
        Ok(())
    }

    /// A snapshot for the API.
    pub fn groups(&self) -> Vec<Arc<Mutex<Group>>> {
        self.groups
            .lock()
            .iter()
            .map(|(_, r)| r.group.clone())
            .collect()
    }

    pub fn stop(&self) {
        for (_, r) in self.groups.lock().drain(..) {
            let _ = r.stop.send(true);
        }
    }
}

/// The identity Prometheus carries state by across reloads: the rule's name and labels.
fn name_and_labels(r: &Rule) -> (&str, &BTreeMap<String, String>) {
    (r.name(), &r.labels)
}

/// Moves state from the old rules of a group into the new ones: an identical rule takes the
/// whole entry (state and health); otherwise the first unclaimed old rule with the same name
/// and labels hands over its active alerts (alerting) or its previous series (recording).
fn carry_state(old: &mut Vec<RuleEntry>, new: &mut [RuleEntry]) {
    let mut carried = vec![false; new.len()];
    for (n, done) in new.iter_mut().zip(carried.iter_mut()) {
        if let Some(i) = old.iter().position(|o| o.rule() == n.rule()) {
            *n = old.remove(i);
            *done = true;
        }
    }
    for (n, _) in new.iter_mut().zip(carried).filter(|(_, done)| !done) {
        let Some(i) = old
            .iter()
            .position(|o| name_and_labels(o.rule()) == name_and_labels(n.rule()))
        else {
            continue;
        };
        match (old.remove(i).state, &mut n.state) {
            (RuleState::Alerting(from), RuleState::Alerting(to)) => {
                to.active = from.active;
                to.restored = from.restored;
            }
            (RuleState::Recording { prev: from, .. }, RuleState::Recording { prev: to, .. }) => {
                *to = from;
            }
            _ => {}
        }
    }
}

/// Staleness markers for every series a removed group wrote last (its `ALERTS` and its
/// recording rules' output), so they end at once rather than after the lookback.
fn mark_stale(g: &mut Group, storage: &dyn Appendable, ts: i64) {
    let mut app = storage.appender();
    let recorded = g.rules.iter().flat_map(|r| match &r.state {
        RuleState::Recording { prev, .. } => prev.iter().collect::<Vec<_>>(),
        RuleState::Alerting(_) => Vec::new(),
    });
    for l in g.prev_alert_series.iter().chain(recorded) {
        let _ = app.append(0, l, ts, stale_nan());
    }
    if let Err(e) = app.commit() {
        tracing::warn!(group = %g.cfg.name, error = %e, "writing staleness markers of a removed rule group failed");
    }
    g.prev_alert_series.clear();
}

fn slot(now: i64, interval: i64, key: &str) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let offset = (h.finish() % interval as u64) as i64;
    let base = now - now.rem_euclid(interval) + offset;
    if base < now { base + interval } else { base }
}

async fn run_group(
    group: Arc<Mutex<Group>>,
    storage: Arc<dyn Appendable>,
    querier: Arc<dyn Querier>,
    sink: Arc<dyn AlertSink>,
    opts: RulesOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let (interval, key) = {
        let g = group.lock();
        (g.interval.as_millis().max(1) as i64, group_key(&g.cfg))
    };
    let mut next = slot(ms(SystemTime::now()), interval, &key);
    loop {
        let wait = (next - ms(SystemTime::now())).max(0) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let ts = next;
        next += interval;
        let now = ms(SystemTime::now());
        while next <= now {
            next += interval;
        }
        // Evaluation is CPU work over the store: keep it off the async workers.
        let (g, st, q, s, o) = (
            group.clone(),
            storage.clone(),
            querier.clone(),
            sink.clone(),
            opts.clone(),
        );
        let _ = tokio::task::spawn_blocking(move || {
            let mut g = g.lock();
            // A reload may have replaced the group while this evaluation was due.
            if !g.retired {
                eval_group(&mut g, &*st, &*q, &*s, &o, ts);
            }
        })
        .await;
    }
}

/// The result of an expression as `(labels, value)` pairs (a scalar is one unlabelled pair).
fn vector_of(v: QueryValue) -> Result<Vec<(Labels, f64)>, String> {
    match v {
        QueryValue::Vector(s) => Ok(s.into_iter().map(|x| (x.labels, x.v)).collect()),
        QueryValue::Scalar { v, .. } => Ok(vec![(Labels::default(), v)]),
        other => Err(format!(
            "rule result is a {}, not a vector or scalar",
            other.result_type()
        )),
    }
}

/// Evaluates every rule of `g` at `ts` (ms), in order. Public for tests and `test rules`.
pub fn eval_group(
    g: &mut Group,
    storage: &dyn Appendable,
    querier: &dyn Querier,
    sink: &dyn AlertSink,
    opts: &RulesOptions,
    ts: i64,
) {
    let started = std::time::Instant::now();
    let engine = EngineOpts {
        default_step_ms: g.interval.as_millis() as i64,
        ..EngineOpts::default()
    };
    let interval_ms = g.interval.as_millis() as i64;
    let limit = g.cfg.limit;
    let group_url = opts.external_url.clone();
    let mut to_send = Vec::new();
    let mut alert_series: HashSet<Labels> = HashSet::new();
    for r in g.rules.iter_mut() {
        let t0 = std::time::Instant::now();
        let mut app = storage.appender();
        let res: Result<Option<String>, String> = (|| match &mut r.state {
            RuleState::Recording { rule, expr, prev } => {
                let v =
                    promql::instant_expr(querier, expr, ts, &engine).map_err(|e| e.to_string())?;
                let name = rule.name().to_string();
                let mut out = Vec::new();
                let mut seen = HashSet::new();
                for (l, val) in vector_of(v)? {
                    let mut pairs: Vec<(String, String)> = l
                        .iter()
                        .filter(|x| x.name != "__name__")
                        .map(|x| (x.name.clone(), x.value.clone()))
                        .collect();
                    for (k, v) in &rule.labels {
                        pairs.retain(|(n, _)| n != k);
                        pairs.push((k.clone(), v.clone()));
                    }
                    pairs.push(("__name__".into(), name.clone()));
                    let l = Labels::from_pairs(pairs);
                    if !seen.insert(l.clone()) {
                        return Err("vector contains metrics with the same labelset after applying rule labels".into());
                    }
                    out.push((l, val));
                }
                if limit > 0 && out.len() as u64 > limit {
                    return Err(format!(
                        "exceeded limit of {limit} with {} series",
                        out.len()
                    ));
                }
                for (l, val) in &out {
                    app.append(0, l, ts, *val).map_err(|e| e.to_string())?;
                }
                for gone in prev.difference(&seen) {
                    app.append(0, gone, ts, stale_nan())
                        .map_err(|e| e.to_string())?;
                }
                *prev = seen;
                Ok(None)
            }
            RuleState::Alerting(a) => {
                let v = promql::instant_expr(querier, &a.expr, ts, &engine)
                    .map_err(|e| e.to_string())?;
                let qf = |q: &str| -> Result<QueryResult, String> {
                    let v = promql::instant_query(querier, q, ts, &engine)
                        .map_err(|e| e.to_string())?;
                    Ok(vector_of(v)?
                        .into_iter()
                        .map(|(l, v)| {
                            (
                                l.iter()
                                    .map(|x| (x.name.clone(), x.value.clone()))
                                    .collect(),
                                v,
                            )
                        })
                        .collect())
                };
                let qf: &QueryFn<'_> = &qf;
                let ev = a.apply(
                    vector_of(v)?,
                    ts,
                    limit,
                    &opts.external_labels,
                    &opts.external_url,
                    Some(qf),
                )?;
                if !a.restored {
                    restore_for_state(a, querier, ts, opts);
                }
                for l in &ev.alerts_series {
                    app.append(0, l, ts, 1.0).map_err(|e| e.to_string())?;
                    alert_series.insert(l.clone());
                }
                for (l, v) in &ev.for_state {
                    app.append(0, l, ts, *v).map_err(|e| e.to_string())?;
                }
                for al in a.to_send(ts, opts.resend_delay.as_millis() as i64, interval_ms) {
                    let ends = match al.resolved_at {
                        Some(r) if al.state == AlertState::Inactive => r,
                        _ => al.valid_until,
                    };
                    to_send.push(SentAlert {
                        labels: al.labels.clone(),
                        annotations: al.annotations.clone(),
                        starts_at: time_of(al.active_at),
                        ends_at: Some(time_of(ends)),
                        generator_url: group_url.clone(),
                    });
                }
                Ok(ev.warning)
            }
        })();
        let res = match res {
            Ok(w) => match app.commit() {
                Ok(_) => w.map_or(Ok(()), Err),
                Err(e) => Err(format!("writing results: {e}")),
            },
            Err(e) => {
                app.rollback();
                Err(e)
            }
        };
        r.health = RuleHealth {
            last_error: res.err(),
            last_evaluation: Some(time_of(ts)),
            evaluation_time: t0.elapsed(),
            evaluated: true,
        };
    }
    // ALERTS series that stopped get staleness markers.
    let gone: Vec<Labels> = g
        .prev_alert_series
        .difference(&alert_series)
        .cloned()
        .collect();
    if !gone.is_empty() {
        let mut app = storage.appender();
        for l in &gone {
            let _ = app.append(0, l, ts, stale_nan());
        }
        let _ = app.commit();
    }
    g.prev_alert_series = alert_series;
    if !to_send.is_empty() {
        sink.send(to_send);
    }
    g.last_evaluation = Some(time_of(ts));
    g.evaluation_time = started.elapsed();
}

/// Reads `ALERTS_FOR_STATE` of the rule written before a restart and restores `for`.
fn restore_for_state(a: &mut AlertingRule, querier: &dyn Querier, ts: i64, opts: &RulesOptions) {
    if a.rule.for_.is_zero() {
        a.restored = true;
        return;
    }
    let m = [
        Matcher::equal("__name__", "ALERTS_FOR_STATE"),
        Matcher::equal("alertname", a.name().to_string()),
    ];
    let from = ts - opts.outage_tolerance.as_millis() as i64;
    let Ok(series) = querier.select(&m, from, ts - 1) else {
        a.restored = true;
        return;
    };
    let found: Vec<(BTreeMap<String, String>, f64, i64)> = series
        .into_iter()
        .filter_map(|s| {
            let &(t, v) = s
                .samples
                .iter()
                .rev()
                .find(|(_, v)| !lookout_store::is_stale_nan(*v))?;
            let labels = s
                .labels
                .iter()
                .filter(|l| l.name != "__name__")
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            Some((labels, v, t))
        })
        .collect();
    a.restore(&found, ts, opts.for_grace_period.as_millis() as i64);
}
