//! Pod labels for log streams: a map pod UID → the pod's Kubernetes labels, filled by
//! Kubernetes discovery's pod watch and read by the tailer.
//!
//! Keyed by UID (which the log path carries: `<namespace>_<pod>_<uid>`), so a pod re-created
//! with the same name is a different key and neither inherits nor loses labels. A pod that
//! disappears from the watch is marked deleted and keeps its entry for `keep_deleted`, so its
//! remaining lines (and files found after the deletion: a late `.gz`, a file read after a
//! rescan) still get its labels; a file already open keeps the labels it was given for good.
//!
//! Which labels: every pod label (as Promtail's default `kubernetes-pods` job does with
//! `labelmap: __meta_kubernetes_pod_label_(.+)`), or those whose key matches one of the
//! `include` patterns (`*`/`?` wildcards, matched against the Kubernetes key, e.g.
//! `app.kubernetes.io/*`). Names are sanitized to Loki label names: every character outside
//! `[a-zA-Z0-9_]` becomes `_`, a leading digit gets a `_` prefix. Labels the path gives
//! (`namespace`, `pod`, `pod_uid`, `container`, `node`, `job`, `stream`, `filename`) win over
//! pod labels of the same name; names starting with `__` are skipped; when two keys sanitize
//! to the same name the later key in sorted order wins.
//!
//! `active` says whether a discovery feeds the map; only then does the tailer wait (at most
//! `wait`) for an unknown pod's labels before reading its file.
//!
//! Cost: one read-locked hash lookup per pending file per tailer pass; the feeder rebuilds
//! the label list of a pod only when its labels changed.

use super::path::name_matches;
use lookout_store::Label;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Labels the path sets; a pod label of the same name is ignored.
pub const RESERVED: [&str; 8] = [
    "namespace",
    "pod",
    "pod_uid",
    "container",
    "node",
    "job",
    "stream",
    "filename",
];

/// How pod labels become stream labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLabelOptions {
    /// Kubernetes label keys (wildcards `*`, `?`) that become stream labels; `["*"]`: all.
    pub include: Vec<String>,
    /// How long a file of a pod not known yet waits for its labels before being read without.
    pub wait: Duration,
    /// How long a deleted pod's labels are kept.
    pub keep_deleted: Duration,
}

impl Default for PodLabelOptions {
    fn default() -> Self {
        PodLabelOptions {
            include: vec!["*".into()],
            wait: Duration::from_secs(5),
            keep_deleted: Duration::from_secs(600),
        }
    }
}

/// A pod's stream labels, sorted by name.
pub type PodLabelSet = Arc<[Label]>;

struct Entry {
    labels: PodLabelSet,
    deleted: Option<Instant>,
}

/// The shared UID → labels map.
pub struct PodLabels {
    opts: PodLabelOptions,
    pods: RwLock<HashMap<String, Entry>>,
    active: AtomicBool,
    synced: AtomicBool,
    /// Bumped on every change, so readers can skip unchanged maps.
    generation: AtomicU64,
}

impl std::fmt::Debug for PodLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodLabels")
            .field("opts", &self.opts)
            .field("pods", &self.len())
            .field("active", &self.is_active())
            .finish()
    }
}

/// Sanitizes a Kubernetes label key into a Loki label name.
pub fn sanitize(key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 1);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        s.push('_');
    }
    s.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    s
}

impl PodLabels {
    pub fn new(opts: PodLabelOptions) -> Arc<PodLabels> {
        Arc::new(PodLabels {
            opts,
            pods: RwLock::new(HashMap::new()),
            active: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        })
    }

    pub fn options(&self) -> &PodLabelOptions {
        &self.opts
    }

    /// Whether a discovery feeds the map (set by the feeder).
    pub fn is_active(&self) -> bool {
        self.active.load(Relaxed)
    }

    pub fn set_active(&self, on: bool) {
        self.active.store(on, Relaxed);
        if !on {
            self.synced.store(false, Relaxed);
        }
    }

    /// Whether the feeder has applied a complete list of the node's pods.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Relaxed)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// The stream labels for a pod's Kubernetes labels (filtered, sanitized, sorted).
    pub fn stream_labels(&self, raw: &BTreeMap<String, String>) -> PodLabelSet {
        let mut out: Vec<Label> = Vec::new();
        for (k, v) in raw {
            if v.is_empty()
                || !self
                    .opts
                    .include
                    .iter()
                    .any(|p| name_matches(p.as_bytes(), k.as_bytes()))
            {
                continue;
            }
            let name = sanitize(k);
            if name.starts_with("__") || RESERVED.contains(&name.as_str()) {
                continue;
            }
            out.retain(|l| l.name != name);
            out.push(Label {
                name,
                value: v.clone(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.into()
    }

    /// The labels of a pod, live or deleted within `keep_deleted`.
    pub fn get(&self, uid: &str) -> Option<PodLabelSet> {
        self.pods.read().get(uid).map(|e| e.labels.clone())
    }

    /// Whether the pod is in the map and not deleted.
    pub fn is_live(&self, uid: &str) -> bool {
        self.pods
            .read()
            .get(uid)
            .is_some_and(|e| e.deleted.is_none())
    }

    /// Sets a live pod's labels.
    pub fn upsert(&self, uid: &str, raw: &BTreeMap<String, String>) {
        let labels = self.stream_labels(raw);
        let mut pods = self.pods.write();
        match pods.get_mut(uid) {
            Some(e) if e.labels == labels && e.deleted.is_none() => {}
            Some(e) => {
                e.labels = labels;
                e.deleted = None;
                self.generation.fetch_add(1, Relaxed);
            }
            None => {
                pods.insert(
                    uid.to_string(),
                    Entry {
                        labels,
                        deleted: None,
                    },
                );
                self.generation.fetch_add(1, Relaxed);
            }
        }
    }

    /// Marks a pod deleted at `now` (its labels stay for `keep_deleted`).
    pub fn mark_deleted(&self, uid: &str, now: Instant) {
        if let Some(e) = self.pods.write().get_mut(uid)
            && e.deleted.is_none()
        {
            e.deleted = Some(now);
        }
    }

    /// Applies a complete list of the node's live pods (`(uid, labels)`): upserts them, marks
    /// every other pod deleted, forgets pods deleted longer than `keep_deleted` ago.
    pub fn sync<'a>(
        &self,
        live: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
        now: Instant,
    ) {
        let mut seen = std::collections::HashSet::new();
        for (uid, raw) in live {
            self.upsert(uid, raw);
            seen.insert(uid.to_string());
        }
        let keep = self.opts.keep_deleted;
        let mut pods = self.pods.write();
        for (uid, e) in pods.iter_mut() {
            if e.deleted.is_none() && !seen.contains(uid) {
                e.deleted = Some(now);
            }
        }
        let before = pods.len();
        pods.retain(|_, e| {
            e.deleted
                .is_none_or(|d| now.saturating_duration_since(d) < keep)
        });
        if pods.len() != before {
            self.generation.fetch_add(1, Relaxed);
        }
        self.synced.store(true, Relaxed);
    }

    /// Number of pods in the map (live and kept deleted).
    pub fn len(&self) -> usize {
        self.pods.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn names(s: &PodLabelSet) -> Vec<(String, String)> {
        s.iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }

    #[test]
    fn sanitizes_like_promtail_labelmap() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("tier"), "tier");
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(sanitize("a-b"), "a_b");
        assert_eq!(sanitize("é"), "_");
    }

    #[test]
    fn filters_reserved_and_include() {
        let m = PodLabels::new(PodLabelOptions::default());
        let got = m.stream_labels(&raw(&[
            ("app", "web"),
            ("namespace", "evil"),
            ("__x", "y"),
            ("empty", ""),
            ("app.kubernetes.io/name", "shop"),
        ]));
        assert_eq!(
            names(&got),
            [
                ("app".to_string(), "web".to_string()),
                ("app_kubernetes_io_name".into(), "shop".into())
            ]
        );
        let m = PodLabels::new(PodLabelOptions {
            include: vec!["app.kubernetes.io/*".into()],
            ..PodLabelOptions::default()
        });
        let got = m.stream_labels(&raw(&[("app", "web"), ("app.kubernetes.io/name", "shop")]));
        assert_eq!(
            names(&got),
            [("app_kubernetes_io_name".to_string(), "shop".to_string())]
        );
        let none = PodLabels::new(PodLabelOptions {
            include: vec![],
            ..PodLabelOptions::default()
        });
        assert!(none.stream_labels(&raw(&[("app", "web")])).is_empty());
    }

    #[test]
    fn collisions_resolve_to_the_later_key() {
        let m = PodLabels::new(PodLabelOptions::default());
        // Sorted: "a-b" < "a.b" < "a_b"; the last one wins.
        let got = m.stream_labels(&raw(&[("a-b", "1"), ("a.b", "2"), ("a_b", "3")]));
        assert_eq!(names(&got), [("a_b".to_string(), "3".to_string())]);
    }

    #[test]
    fn keyed_by_uid_and_deleted_pods_kept_for_a_while() {
        let m = PodLabels::new(PodLabelOptions {
            keep_deleted: Duration::from_secs(60),
            ..PodLabelOptions::default()
        });
        let t0 = Instant::now();
        let a = raw(&[("app", "v1")]);
        let b = raw(&[("app", "v2")]);
        m.sync([("uid-1", &a)], t0);
        assert!(m.is_synced());
        let g = m.generation();
        // Same name re-created: a new UID with its own labels; the old UID is deleted.
        m.sync([("uid-2", &b)], t0 + Duration::from_secs(1));
        assert!(m.generation() > g);
        assert_eq!(names(&m.get("uid-1").unwrap())[0].1, "v1");
        assert_eq!(names(&m.get("uid-2").unwrap())[0].1, "v2");
        assert!(!m.is_live("uid-1") && m.is_live("uid-2"));
        // Within the grace period the deleted pod keeps its labels; after it, it is gone.
        m.sync([("uid-2", &b)], t0 + Duration::from_secs(30));
        assert!(m.get("uid-1").is_some());
        m.sync([("uid-2", &b)], t0 + Duration::from_secs(62));
        assert!(m.get("uid-1").is_none());
        assert_eq!(m.len(), 1);
        // An unchanged sync does not bump the generation.
        let g = m.generation();
        m.sync([("uid-2", &b)], t0 + Duration::from_secs(63));
        assert_eq!(m.generation(), g);
        // Deleted then seen again (a relist that briefly missed it): live again.
        m.mark_deleted("uid-2", t0);
        m.sync([("uid-2", &b)], t0 + Duration::from_secs(600));
        assert!(m.get("uid-2").is_some());
    }
}
