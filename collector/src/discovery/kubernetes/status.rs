//! What is wrong with Kubernetes discovery right now, for `/api/v1/targets` and `/metrics`.
//!
//! Three kinds of trouble are tracked, each with the time it started:
//! - a watched resource that cannot be listed or watched (RBAC denial, CRD missing, API
//!   server down), one entry per watcher (a resource, in one namespace when `namespaces`
//!   restricts discovery); set on every failed list/watch, cleared by the next successful
//!   event (a complete relist or a live change), so a `410 Gone` shows until its relist ends;
//! - the Lease (leader election requests failing);
//! - monitor endpoints refused by the generator (unsupported or invalid fields, missing
//!   Secrets), replaced as a set after every pass that changed the output.
//!
//! Invariants: an error keeps its `since` while it persists, even if its message changes (a
//! 403 turning into a connection refused is still the same outage); clearing is idempotent.
//! Cost: one short mutex section per failed request or recovered watcher, plus an O(1) check
//! per applied watch event ([`Status::watch_ok`] takes the lock only when something failed).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::SystemTime;

/// One current problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `kubernetes/<resource>` (a watch or the Lease) or `kubernetes` (a refused job).
    pub source: String,
    /// The namespace of a namespaced watcher, when discovery is restricted to namespaces.
    pub namespace: Option<String>,
    /// The refused scrape pool (job), for monitor errors.
    pub scrape_pool: Option<String>,
    pub error: String,
    /// When the problem started.
    pub since: SystemTime,
}

#[derive(Debug, Clone)]
struct Entry {
    error: String,
    since: SystemTime,
}

/// `(resource, namespace)` of a watcher; the namespace is empty for a cluster-wide one.
type WatchKey = (&'static str, String);

#[derive(Default)]
struct Inner {
    watches: BTreeMap<WatchKey, Entry>,
    lease: Option<Entry>,
    jobs: BTreeMap<String, Entry>,
}

/// Current discovery problems (shared by the watchers, the elector and the runner).
#[derive(Default)]
pub struct Status {
    inner: Mutex<Inner>,
    /// Whether any watcher is failing (lets [`Status::watch_ok`] skip the lock).
    any_watch_failing: AtomicBool,
}

fn set(slot: &mut Option<Entry>, error: String) {
    match slot {
        Some(e) => e.error = error,
        None => {
            *slot = Some(Entry {
                error,
                since: SystemTime::now(),
            })
        }
    }
}

impl Status {
    /// Records a failed list or watch of `resource` (`namespace` empty when cluster-wide).
    pub fn watch_failed(&self, resource: &'static str, namespace: &str, error: String) {
        let mut g = self.inner.lock();
        match g.watches.entry((resource, namespace.to_string())) {
            std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().error = error,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(Entry {
                    error,
                    since: SystemTime::now(),
                });
            }
        }
        self.any_watch_failing.store(true, Relaxed);
    }

    /// Records a successful event of a watcher: its problem, if any, is over. Returns whether
    /// there was one.
    pub fn watch_ok(&self, resource: &'static str, namespace: &str) -> bool {
        if !self.any_watch_failing.load(Relaxed) {
            return false;
        }
        let mut g = self.inner.lock();
        let had = g
            .watches
            .remove(&(resource, namespace.to_string()))
            .is_some();
        if g.watches.is_empty() {
            self.any_watch_failing.store(false, Relaxed);
        }
        had
    }

    /// Whether every watcher of `resource` is healthy.
    pub fn watch_healthy(&self, resource: &str) -> bool {
        !self.any_watch_failing.load(Relaxed)
            || !self
                .inner
                .lock()
                .watches
                .keys()
                .any(|(r, _)| *r == resource)
    }

    /// Records a failed leader-election round (`None`: a round succeeded).
    pub fn lease(&self, error: Option<String>) {
        let mut g = self.inner.lock();
        match error {
            Some(e) => set(&mut g.lease, e),
            None => g.lease = None,
        }
    }

    /// Replaces the refused jobs with `errors` (`(job, why)`), keeping the start time of
    /// those still refused.
    pub fn set_jobs(&self, errors: &[(String, String)]) {
        let mut g = self.inner.lock();
        let mut old = std::mem::take(&mut g.jobs);
        for (job, why) in errors {
            let since = old
                .remove(job)
                .map(|e| e.since)
                .unwrap_or_else(SystemTime::now);
            g.jobs.insert(
                job.clone(),
                Entry {
                    error: why.clone(),
                    since,
                },
            );
        }
    }

    /// Forgets everything (discovery stopped or restarted).
    pub fn clear(&self) {
        *self.inner.lock() = Inner::default();
        self.any_watch_failing.store(false, Relaxed);
    }

    /// Every current problem: watches (by resource, namespace), then the Lease, then jobs.
    pub fn problems(&self) -> Vec<Problem> {
        let g = self.inner.lock();
        let mut out = Vec::with_capacity(g.watches.len() + g.jobs.len() + 1);
        for ((resource, ns), e) in &g.watches {
            out.push(Problem {
                source: format!("{}/{resource}", super::PROVIDER),
                namespace: (!ns.is_empty()).then(|| ns.clone()),
                scrape_pool: None,
                error: e.error.clone(),
                since: e.since,
            });
        }
        if let Some(e) = &g.lease {
            out.push(Problem {
                source: format!("{}/leases", super::PROVIDER),
                namespace: None,
                scrape_pool: None,
                error: e.error.clone(),
                since: e.since,
            });
        }
        for (job, e) in &g.jobs {
            out.push(Problem {
                source: super::PROVIDER.to_string(),
                namespace: None,
                scrape_pool: Some(job.clone()),
                error: e.error.clone(),
                since: e.since,
            });
        }
        out
    }

    /// Appends `lookout_kubernetes_watch_healthy{resource}` for `resources` and
    /// `lookout_kubernetes_lease_healthy`.
    pub fn render(&self, s: &mut String, resources: &[&str]) {
        let name = "lookout_kubernetes_watch_healthy";
        let _ = writeln!(
            s,
            "# HELP {name} Whether every watch of the resource works (0 while a list/watch fails; see /api/v1/targets discoveryErrors).\n# TYPE {name} gauge"
        );
        for r in resources {
            let _ = writeln!(
                s,
                "{name}{{resource=\"{r}\"}} {}",
                u8::from(self.watch_healthy(r))
            );
        }
        let name = "lookout_kubernetes_lease_healthy";
        let healthy = self.inner.lock().lease.is_none();
        let _ = writeln!(
            s,
            "# HELP {name} Whether the last leader-election round reached the API server.\n# TYPE {name} gauge\n{name} {}",
            u8::from(healthy)
        );
    }
}

/// Describes a watcher error briefly: what failed and the API's answer
/// (`list: 403 Forbidden: servicemonitors is forbidden ...`).
pub fn describe_watch_error(e: &kube::runtime::watcher::Error) -> String {
    use kube::runtime::watcher::Error as W;
    match e {
        W::InitialListFailed(e) => format!("list: {}", super::describe_error(e)),
        W::WatchStartFailed(e) => format!("watch: {}", super::describe_error(e)),
        W::WatchFailed(e) => format!("watch stream: {}", super::describe_error(e)),
        W::WatchError(s) => format!("watch: {} {}: {}", s.code, s.reason, s.message),
        W::NoResourceVersion => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_problem_keeps_its_start_until_it_clears() {
        let s = Status::default();
        assert!(s.watch_healthy("pods"));
        assert!(!s.watch_ok("pods", ""));
        s.watch_failed("servicemonitors", "", "list: 403 Forbidden".into());
        let first = s.problems();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].source, "kubernetes/servicemonitors");
        assert_eq!(first[0].namespace, None);
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.watch_failed("servicemonitors", "", "list: connection refused".into());
        let second = s.problems();
        assert_eq!(second[0].error, "list: connection refused");
        assert_eq!(second[0].since, first[0].since);
        assert!(!s.watch_healthy("servicemonitors"));
        assert!(s.watch_healthy("pods"));
        let mut text = String::new();
        s.render(&mut text, &["pods", "servicemonitors"]);
        assert!(text.contains("lookout_kubernetes_watch_healthy{resource=\"servicemonitors\"} 0"));
        assert!(text.contains("lookout_kubernetes_watch_healthy{resource=\"pods\"} 1"));
        assert!(s.watch_ok("servicemonitors", ""));
        assert!(s.problems().is_empty());
        assert!(s.watch_healthy("servicemonitors"));
    }

    #[test]
    fn namespaced_watchers_are_separate() {
        let s = Status::default();
        s.watch_failed("pods", "a", "x".into());
        s.watch_failed("pods", "b", "y".into());
        assert!(s.watch_ok("pods", "a"));
        assert!(!s.watch_healthy("pods"));
        let p = s.problems();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].namespace.as_deref(), Some("b"));
    }

    #[test]
    fn refused_jobs_are_replaced_as_a_set_and_keep_their_start() {
        let s = Status::default();
        s.set_jobs(&[("serviceMonitor/a/x/0".into(), "oauth2".into())]);
        let t0 = s.problems()[0].since;
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.set_jobs(&[
            ("serviceMonitor/a/x/0".into(), "oauth2".into()),
            ("podMonitor/a/y/0".into(), "bad regex".into()),
        ]);
        let p = s.problems();
        assert_eq!(p.len(), 2);
        let x = p
            .iter()
            .find(|p| p.scrape_pool.as_deref() == Some("serviceMonitor/a/x/0"))
            .expect("x");
        assert_eq!(x.since, t0);
        assert_eq!(x.source, "kubernetes");
        s.set_jobs(&[]);
        assert!(s.problems().is_empty());
        s.lease(Some("403".into()));
        assert_eq!(s.problems()[0].source, "kubernetes/leases");
        s.lease(None);
        assert!(s.problems().is_empty());
    }
}
