//! An aggregation group: the alerts one route collected under one set of group labels, and
//! the task that notifies the route's receiver about them with Alertmanager's timing:
//! the first notification `group_wait` after the group appeared (at once when an alert is
//! already older than `group_wait`), then a flush every `group_interval` that notifies only
//! when the group changed (a new firing alert, or a newly resolved one for integrations with
//! `send_resolved`), or when `repeat_interval` passed since the last notification.
//!
//! Invariants: per integration a notification log entry (the firing and resolved alerts last
//! notified) decides whether to send, as Alertmanager's dedup stage; resolved alerts are kept
//! until a flush notified every integration, then dropped unless updated meanwhile; an alert
//! without `ends_at` resolves `resolve_timeout` after its last update.
//! Cost: a flush clones the group's alerts once and renders one body per integration.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::Shared;
use super::alert::Alert;
use super::deliver::{Target, post_json};
use super::message::{AlertView, NotifyData, sort_alerts};
use super::payload::IntegrationRt;

/// A receiver as the dispatcher runs it.
pub(crate) struct ReceiverRt {
    pub name: String,
    pub config: lookout_config::notify::Receiver,
    pub integrations: Vec<IntegrationRt>,
}

/// An alert as a group stores it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub alert: Alert,
    /// `ends_at` was not given: it is `updated + resolve_timeout`.
    pub timeout: bool,
    pub version: u64,
}

/// What was last notified to one integration.
#[derive(Debug, Clone)]
pub(crate) struct NfEntry {
    firing: HashSet<u64>,
    resolved: HashSet<u64>,
    at: Instant,
}

pub(crate) struct GroupState {
    pub alerts: HashMap<u64, Stored>,
    pub next_flush: Instant,
    pub has_flushed: bool,
    pub nflog: Vec<Option<NfEntry>>,
    version: u64,
}

pub(crate) struct Group {
    pub key: String,
    pub labels: BTreeMap<String, String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub receiver: Arc<ReceiverRt>,
    pub state: Mutex<GroupState>,
    pub wake: Notify,
    pub stop: AtomicBool,
}

impl Group {
    pub fn new(
        key: String,
        labels: BTreeMap<String, String>,
        timing: (Duration, Duration, Duration),
        receiver: Arc<ReceiverRt>,
        carried: Option<Vec<Option<NfEntry>>>,
    ) -> Group {
        let n = receiver.integrations.len();
        let (has_flushed, nflog, first) = match carried {
            Some(log) if log.len() == n => (true, log, timing.1),
            _ => (false, vec![None; n], timing.0),
        };
        Group {
            key,
            labels,
            group_wait: timing.0,
            group_interval: timing.1,
            repeat_interval: timing.2,
            receiver,
            state: Mutex::new(GroupState {
                alerts: HashMap::new(),
                next_flush: Instant::now() + first,
                has_flushed,
                nflog,
                version: 0,
            }),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
        }
    }

    /// Adds or updates an alert (Alertmanager's merge of overlapping alerts).
    pub fn insert(&self, mut new: Stored) {
        let fp = new.alert.fingerprint();
        let mut st = self.state.lock();
        if let Some(old) = st.alerts.get(&fp) {
            let (os, oe) = (old.alert.starts_at, old.alert.ends_at);
            let (ns, ne) = (new.alert.starts_at, new.alert.ends_at);
            let overlaps = match (oe, ne) {
                (Some(oe), Some(ne)) => (ne > os && ne < oe) || (ns > os && ns < oe),
                _ => true,
            };
            if overlaps {
                if os < ns {
                    new.alert.starts_at = os;
                }
                let now = SystemTime::now();
                if new.alert.resolved_at(now) {
                    if old.alert.resolved_at(now) && oe > ne {
                        new.alert.ends_at = oe;
                    }
                } else if oe > ne && !old.timeout {
                    new.alert.ends_at = oe;
                    new.timeout = false;
                }
            }
        }
        st.version += 1;
        new.version = st.version;
        let starts = new.alert.starts_at;
        st.alerts.insert(fp, new);
        if !st.has_flushed
            && starts + self.group_wait < SystemTime::now()
            && st.next_flush > Instant::now()
        {
            st.next_flush = Instant::now();
            drop(st);
            self.wake.notify_one();
        }
    }
}

/// Runs a group until stopped; tells the dispatcher when the group ran empty.
pub(crate) async fn run(
    group: Arc<Group>,
    shared: Arc<Shared>,
    idle: mpsc::UnboundedSender<String>,
) {
    loop {
        let deadline = group.state.lock().next_flush;
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = group.wake.notified() => {}
        }
        if group.stop.load(Ordering::Acquire) {
            return;
        }
        {
            let mut st = group.state.lock();
            if Instant::now() < st.next_flush {
                continue;
            }
            st.next_flush = Instant::now() + group.group_interval;
        }
        flush(&group, &shared).await;
        if group.state.lock().alerts.is_empty() {
            let _ = idle.send(group.key.clone());
        }
    }
}

fn needs_update(
    entry: Option<&NfEntry>,
    firing: &HashSet<u64>,
    resolved: &HashSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    now: Instant,
) -> bool {
    let Some(e) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    if firing.is_empty() {
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    e.at + repeat <= now
}

async fn flush(group: &Arc<Group>, shared: &Arc<Shared>) {
    let now = SystemTime::now();
    let now_i = Instant::now();
    let (mut views, versions, nflog) = {
        let st = group.state.lock();
        let mut views = Vec::with_capacity(st.alerts.len());
        let mut versions = Vec::with_capacity(st.alerts.len());
        for (fp, s) in &st.alerts {
            let resolved = s.alert.resolved_at(now);
            views.push(AlertView {
                firing: !resolved,
                labels: s.alert.labels.clone(),
                annotations: s.alert.annotations.clone(),
                starts_at: s.alert.starts_at,
                ends_at: if resolved { s.alert.ends_at } else { None },
                generator_url: s.alert.generator_url.clone(),
                fingerprint: *fp,
            });
            versions.push((*fp, s.version, resolved));
        }
        (views, versions, st.nflog.clone())
    };
    sort_alerts(&mut views);
    let firing: HashSet<u64> = views
        .iter()
        .filter(|a| a.firing)
        .map(|a| a.fingerprint)
        .collect();
    let resolved: HashSet<u64> = views
        .iter()
        .filter(|a| !a.firing)
        .map(|a| a.fingerprint)
        .collect();
    let data = Arc::new(NotifyData {
        receiver: group.receiver.name.clone(),
        group_key: group.key.clone(),
        group_labels: group.labels.clone(),
        alerts: views,
        external_url: shared.external_url.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, integ) in group.receiver.integrations.iter().enumerate() {
        let send = needs_update(
            nflog.get(i).and_then(Option::as_ref),
            &firing,
            &resolved,
            integ.send_resolved,
            group.repeat_interval,
            now_i,
        );
        if !send {
            continue;
        }
        let alerts: Vec<AlertView> = data
            .alerts
            .iter()
            .filter(|a| a.firing || integ.send_resolved)
            .cloned()
            .collect();
        if alerts.is_empty() {
            // Only resolved alerts and no send_resolved: nothing to say, but remember it.
            tasks.spawn(async move { (i, true) });
            continue;
        }
        let body = integ.body(&NotifyData {
            alerts,
            ..(*data).clone()
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let (group, shared) = (group.clone(), shared.clone());
        tasks.spawn(async move {
            let integ = &group.receiver.integrations[i];
            let (client, auth) = match &integ.http {
                Some((cfg, c)) => (c, Some(cfg)),
                None => (&shared.client, None),
            };
            let res = post_json(
                client,
                Target::Secret(&integ.url),
                auth,
                &bytes,
                integ.kind,
                &shared.policy,
                &shared.metrics,
            )
            .await;
            if let Err(e) = &res {
                tracing::error!(receiver = %group.receiver.name, integration = integ.kind.name(), group = %group.key, error = %e, "notification dropped after retries");
            }
            (i, res.is_ok())
        });
    }
    let mut all_ok = true;
    let mut ok = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((i, true)) => ok.push(i),
            _ => all_ok = false,
        }
    }
    let mut st = group.state.lock();
    for i in ok {
        if let Some(slot) = st.nflog.get_mut(i) {
            *slot = Some(NfEntry {
                firing: firing.clone(),
                resolved: resolved.clone(),
                at: now_i,
            });
        }
    }
    st.has_flushed = true;
    if all_ok {
        for (fp, version, was_resolved) in versions {
            if was_resolved && st.alerts.get(&fp).is_some_and(|s| s.version == version) {
                st.alerts.remove(&fp);
            }
        }
    }
}
