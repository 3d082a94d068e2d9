//! The built-in dispatcher (Alertmanager inside lookout): takes alerts from the dispatch
//! queue, routes each through the routing tree and files it into the aggregation group of
//! every matched route (keyed by route key + group labels), creating groups and their tasks
//! as needed and removing groups that ran empty. A reload rebuilds routes and receivers,
//! re-files the alerts it holds, and carries each group's notification log over when the
//! group key and the receiver's configuration are unchanged, so a reload does not repeat
//! notifications.
//!
//! Invariants: only this task creates, fills and removes groups, so a group is removed only
//! after it was seen empty under its lock. Cost: per alert one route match and one map
//! lookup per matched route.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use lookout_config::notify::Notifications;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Shared;
use super::alert::{Alert, labelset_string};
use super::group::{self, Group, NfEntry, ReceiverRt, Stored};
use super::payload::IntegrationRt;
use super::queue::Queue;
use super::route::RouteNode;

/// How long a reload waits for in-flight flushes of the old groups before abandoning them.
const RELOAD_FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Notification logs carried over a reload, by (group key, receiver).
type CarriedLogs = HashMap<(String, String), Vec<Option<NfEntry>>>;

/// A group an alert goes to: key, group labels, timings, receiver.
type Target = (
    String,
    BTreeMap<String, String>,
    (Duration, Duration, Duration),
    String,
);

pub(crate) enum Ctl {
    Apply(Box<Notifications>),
    Shutdown(oneshot::Sender<Vec<JoinHandle<()>>>),
}

struct Config {
    raw: Notifications,
    root: RouteNode,
    receivers: HashMap<String, Arc<ReceiverRt>>,
}

impl Config {
    fn new(n: &Notifications) -> Config {
        let receivers = n
            .receivers
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    Arc::new(ReceiverRt {
                        name: r.name.clone(),
                        config: r.clone(),
                        integrations: r.integrations.iter().map(IntegrationRt::new).collect(),
                    }),
                )
            })
            .collect();
        Config {
            raw: n.clone(),
            root: RouteNode::build(&n.route),
            receivers,
        }
    }
}

pub(crate) struct Dispatcher {
    cfg: Config,
    groups: HashMap<String, (Arc<Group>, JoinHandle<()>)>,
    shared: Arc<Shared>,
    idle_tx: mpsc::UnboundedSender<String>,
}

impl Dispatcher {
    pub(crate) fn spawn(
        n: &Notifications,
        shared: Arc<Shared>,
        queue: Arc<Queue>,
    ) -> (mpsc::UnboundedSender<Ctl>, JoinHandle<()>) {
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        let d = Dispatcher {
            cfg: Config::new(n),
            groups: HashMap::new(),
            shared,
            idle_tx,
        };
        let h = tokio::spawn(d.run(queue, ctl_rx, idle_rx));
        (ctl_tx, h)
    }

    async fn run(
        mut self,
        queue: Arc<Queue>,
        mut ctl: mpsc::UnboundedReceiver<Ctl>,
        mut idle: mpsc::UnboundedReceiver<String>,
    ) {
        loop {
            tokio::select! {
                _ = queue.ready.notified() => {
                    loop {
                        let batch = queue.take(1024);
                        if batch.is_empty() { break; }
                        let now = SystemTime::now();
                        for a in batch {
                            let stored = Stored {
                                timeout: a.ends_at.is_none(),
                                alert: Alert {
                                    ends_at: Some(a.ends_at.unwrap_or(now + self.cfg.raw.resolve_timeout)),
                                    ..a
                                },
                                version: 0,
                            };
                            self.file(stored, None);
                        }
                    }
                }
                Some(key) = idle.recv() => {
                    let empty = self.groups.get(&key).is_some_and(|(g, _)| g.state.lock().alerts.is_empty());
                    if empty && let Some((g, _)) = self.groups.remove(&key) {
                        g.stop.store(true, Ordering::Release);
                        g.wake.notify_one();
                    }
                }
                msg = ctl.recv() => match msg {
                    Some(Ctl::Apply(n)) => self.reload(&n).await,
                    Some(Ctl::Shutdown(ack)) => {
                        let _ = ack.send(self.stop_all().into_iter().map(|(_, h)| h).collect());
                        return;
                    }
                    None => {
                        self.stop_all();
                        return;
                    }
                },
            }
        }
    }

    /// Files an alert into every group its routes select.
    fn file(&mut self, stored: Stored, carried: Option<&CarriedLogs>) {
        let labels = &stored.alert.labels;
        let routes: Vec<Target> = self
            .cfg
            .root
            .matches(labels)
            .into_iter()
            .map(|r| {
                let gl = r.group_labels(labels);
                (
                    format!("{}:{}", r.key, labelset_string(&gl)),
                    gl,
                    (r.group_wait, r.group_interval, r.repeat_interval),
                    r.receiver.clone(),
                )
            })
            .collect();
        for (key, gl, timing, receiver) in routes {
            let Some(rcv) = self.cfg.receivers.get(&receiver).cloned() else {
                continue; // a route without a receiver (empty root receiver): nowhere to send
            };
            let group = match self.groups.get(&key) {
                Some((g, _)) => g.clone(),
                None => {
                    let log =
                        carried.and_then(|c| c.get(&(key.clone(), receiver.clone())).cloned());
                    let g = Arc::new(Group::new(key.clone(), gl, timing, rcv, log));
                    let h = tokio::spawn(group::run(
                        g.clone(),
                        self.shared.clone(),
                        self.idle_tx.clone(),
                    ));
                    self.groups.insert(key.clone(), (g.clone(), h));
                    g
                }
            };
            group.insert(stored.clone());
        }
    }

    fn stop_all(&mut self) -> Vec<(Arc<Group>, JoinHandle<()>)> {
        let out: Vec<_> = self.groups.drain().map(|(_, v)| v).collect();
        for (g, _) in &out {
            g.stop.store(true, Ordering::Release);
            g.wake.notify_one();
        }
        out
    }

    async fn reload(&mut self, n: &Notifications) {
        if *n == self.cfg.raw {
            return;
        }
        let old_receivers = std::mem::take(&mut self.cfg.receivers);
        let new = Config::new(n);
        let mut alerts: HashMap<u64, Stored> = HashMap::new();
        let mut carried: CarriedLogs = HashMap::new();
        let mut stopped = self.stop_all();
        // A group may be in the middle of a flush: its notification log is written when the
        // receiver has answered. Let in-flight flushes finish (bounded) before reading the
        // logs, or a message delivered just before the reload would be sent again after it.
        let deadline = tokio::time::Instant::now() + RELOAD_FLUSH_WAIT;
        for (_, h) in &mut stopped {
            if tokio::time::timeout_at(deadline, &mut *h).await.is_err() {
                h.abort();
            }
        }
        for (g, _) in stopped {
            let st = g.state.lock();
            for (fp, s) in &st.alerts {
                alerts.entry(*fp).or_insert_with(|| s.clone());
            }
            let unchanged = new
                .receivers
                .get(&g.receiver.name)
                .zip(old_receivers.get(&g.receiver.name))
                .is_some_and(|(a, b)| a.config == b.config);
            if unchanged && st.has_flushed {
                carried.insert((g.key.clone(), g.receiver.name.clone()), st.nflog.clone());
            }
        }
        self.cfg = new;
        for (_, s) in alerts {
            self.file(s, Some(&carried));
        }
        tracing::info!(groups = self.groups.len(), "notification routes reloaded");
    }
}
