//! An in-process fake Kubernetes API server (axum) with real list/watch semantics, for
//! discovery tests and the scale benchmark.
//!
//! What it does like the real one: a global, monotonically increasing `resourceVersion`;
//! `list` with `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, `k`, `!k`), `fieldSelector`
//! (`path=value`, `path!=value` on any dotted field), `limit`/`continue` paging; `watch` from a
//! `resourceVersion` replaying every later ADDED/MODIFIED/DELETED event, then live ones, with
//! periodic BOOKMARKs when `allowWatchBookmarks=true` and the stream closed after
//! `timeoutSeconds`; a watch from a version older than the last compaction gets an `ERROR`
//! event with a `410 Gone` Status (as etcd compaction causes); `get`/`create`/`replace`
//! (optimistic concurrency on `metadata.resourceVersion`: 409 on mismatch)/`delete`; 403 and
//! 404 Status responses on demand (RBAC denials, CRDs not installed); dropping every open
//! watch at once (an API-server restart). Objects are plain JSON (`serde_json::Value`).

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// How a resource is served.
#[derive(Clone, Copy)]
pub struct Kind {
    pub plural: &'static str,
    pub group_version: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

pub const KINDS: &[Kind] = &[
    Kind {
        plural: "pods",
        group_version: "v1",
        kind: "Pod",
        namespaced: true,
    },
    Kind {
        plural: "services",
        group_version: "v1",
        kind: "Service",
        namespaced: true,
    },
    Kind {
        plural: "secrets",
        group_version: "v1",
        kind: "Secret",
        namespaced: true,
    },
    Kind {
        plural: "namespaces",
        group_version: "v1",
        kind: "Namespace",
        namespaced: false,
    },
    Kind {
        plural: "endpointslices",
        group_version: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        namespaced: true,
    },
    Kind {
        plural: "servicemonitors",
        group_version: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        namespaced: true,
    },
    Kind {
        plural: "podmonitors",
        group_version: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        namespaced: true,
    },
    Kind {
        plural: "prometheusrules",
        group_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        namespaced: true,
    },
    Kind {
        plural: "leases",
        group_version: "coordination.k8s.io/v1",
        kind: "Lease",
        namespaced: true,
    },
];

fn kind_of(v: &Value) -> Option<Kind> {
    let k = v.get("kind")?.as_str()?;
    KINDS.iter().copied().find(|x| x.kind == k)
}

type Key = (&'static str, String, String);

#[derive(Clone, Debug)]
struct Ev {
    rv: u64,
    plural: &'static str,
    type_: &'static str,
    obj: Value,
}

#[derive(Default)]
struct StateInner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<Ev>,
    compacted: u64,
    failures: HashMap<&'static str, u16>,
    requests: Vec<(String, String)>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<StateInner>>,
    live: broadcast::Sender<Ev>,
    kill: watch::Sender<u64>,
    bookmark_every: Duration,
}

/// A running fake API server.
pub struct FakeApi {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn meta<'a>(v: &'a Value, f: &str) -> Option<&'a str> {
    v.get("metadata")?.get(f)?.as_str()
}

/// Whether `labels` satisfy a Kubernetes label selector string.
pub fn label_selector_matches(sel: &str, labels: &serde_json::Map<String, Value>) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    split_terms(sel).iter().all(|term| {
        let t = term.trim();
        if t.is_empty() {
            return true;
        }
        if let Some((k, rest)) = t.split_once(" notin ") {
            let vals = set_values(rest);
            return get(k.trim()).is_none_or(|v| !vals.contains(&v));
        }
        if let Some((k, rest)) = t.split_once(" in ") {
            let vals = set_values(rest);
            return get(k.trim()).is_some_and(|v| vals.contains(&v));
        }
        if let Some((k, v)) = t.split_once("!=") {
            return get(k.trim()) != Some(v.trim());
        }
        if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            return get(k.trim()) == Some(v.trim());
        }
        if let Some(k) = t.strip_prefix('!') {
            return get(k.trim()).is_none();
        }
        get(t).is_some()
    })
}

fn split_terms(sel: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in sel.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn set_values(s: &str) -> Vec<&str> {
    s.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .collect()
}

fn field(v: &Value, path: &str) -> String {
    let mut cur = v;
    for p in path.split('.') {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn field_selector_matches(sel: &str, v: &Value) -> bool {
    sel.split(',').filter(|t| !t.is_empty()).all(|t| {
        if let Some((k, want)) = t.split_once("!=") {
            field(v, k) != want
        } else if let Some((k, want)) = t.split_once("==").or_else(|| t.split_once('=')) {
            field(v, k) == want
        } else {
            false
        }
    })
}

struct Query {
    params: HashMap<String, String>,
}

impl Query {
    fn parse(q: Option<&str>) -> Query {
        let mut params = HashMap::new();
        for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(decode(k), decode(v));
        }
        Query { params }
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
}

fn route(path: &str) -> Option<Target> {
    let rest = if let Some(r) = path.strip_prefix("/api/v1/") {
        ("v1", r)
    } else {
        let r = path.strip_prefix("/apis/")?;
        let mut it = r.splitn(3, '/');
        let (g, v, rest) = (it.next()?, it.next()?, it.next()?);
        let gv: &str = Box::leak(format!("{g}/{v}").into_boxed_str());
        (gv, rest)
    };
    let (gv, rest) = rest;
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let find = |p: &str| {
        KINDS
            .iter()
            .copied()
            .find(|k| k.plural == p && k.group_version == gv)
    };
    match segs.as_slice() {
        ["namespaces", ns, plural] => Some(Target {
            kind: find(plural)?,
            namespace: Some(ns.to_string()),
            name: None,
        }),
        ["namespaces", ns, plural, name] => Some(Target {
            kind: find(plural)?,
            namespace: Some(ns.to_string()),
            name: Some(name.to_string()),
        }),
        [plural] => Some(Target {
            kind: find(plural)?,
            namespace: None,
            name: None,
        }),
        [plural, name] => Some(Target {
            kind: find(plural)?,
            namespace: None,
            name: Some(name.to_string()),
        }),
        _ => None,
    }
}

impl Shared {
    fn matches(&self, t: &Target, q: &Query, obj: &Value) -> bool {
        if let Some(ns) = &t.namespace
            && meta(obj, "namespace") != Some(ns.as_str())
        {
            return false;
        }
        let empty = serde_json::Map::new();
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        q.get("labelSelector")
            .is_none_or(|s| label_selector_matches(s, labels))
            && q.get("fieldSelector")
                .is_none_or(|s| field_selector_matches(s, obj))
    }

    fn list(&self, t: &Target, q: &Query) -> Response {
        let st = self.inner.lock();
        let items: Vec<&Value> = st
            .objects
            .iter()
            .filter(|((p, _, _), v)| *p == t.kind.plural && self.matches(t, q, v))
            .map(|(_, v)| v)
            .collect();
        let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX);
        let page: Vec<&Value> = items.iter().skip(start).take(limit).copied().collect();
        let mut md = json!({"resourceVersion": st.rv.to_string()});
        if start.saturating_add(limit) < items.len() {
            md["continue"] = json!((start + limit).to_string());
        }
        axum::Json(
            json!({"apiVersion": t.kind.group_version, "kind": format!("{}List", t.kind.kind),
            "metadata": md, "items": page}),
        )
        .into_response()
    }

    fn watch(&self, t: Target, q: &Query) -> Response {
        let from: u64 = q
            .get("resourceVersion")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let bookmarks = q.get("allowWatchBookmarks") == Some("true");
        let timeout = q
            .get("timeoutSeconds")
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs);
        let (tx, rx) = mpsc::channel::<Bytes>(1024);
        let mut live = self.live.subscribe();
        let mut kill = self.kill.subscribe();
        let (backlog, gone, current) = {
            let st = self.inner.lock();
            if from != 0 && from < st.compacted {
                (Vec::new(), true, st.rv)
            } else if from == 0 {
                let evs = st
                    .objects
                    .iter()
                    .filter(|((p, _, _), _)| *p == t.kind.plural)
                    .map(|((p, _, _), v)| Ev {
                        rv: st.rv,
                        plural: p,
                        type_: "ADDED",
                        obj: v.clone(),
                    })
                    .collect();
                (evs, false, st.rv)
            } else {
                let evs = st
                    .log
                    .iter()
                    .filter(|e| e.rv > from && e.plural == t.kind.plural)
                    .cloned()
                    .collect();
                (evs, false, st.rv)
            }
        };
        let this = self.clone();
        let q = Query {
            params: q.params.clone(),
        };
        tokio::spawn(async move {
            let line = |v: Value| Bytes::from(format!("{v}\n"));
            if gone {
                let st = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "message": format!("too old resource version: {from} ({current})"),
                    "reason": "Expired", "code": 410}});
                let _ = tx.send(line(st)).await;
                return;
            }
            let mut last = from;
            for e in backlog {
                if this.matches(&t, &q, &e.obj) {
                    let _ = tx
                        .send(line(json!({"type": e.type_, "object": e.obj})))
                        .await;
                }
                last = last.max(e.rv);
            }
            let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
            let mut tick = tokio::time::interval(this.bookmark_every);
            loop {
                let sleep_until = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ev = live.recv() => match ev {
                        Ok(e) if e.rv > last && e.plural == t.kind.plural => {
                            last = e.rv;
                            if this.matches(&t, &q, &e.obj)
                                && tx.send(line(json!({"type": e.type_, "object": e.obj}))).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    },
                    _ = tick.tick(), if bookmarks => {
                        let rv = this.inner.lock().rv.max(last);
                        let bm = json!({"type": "BOOKMARK", "object": {"kind": t.kind.kind, "apiVersion": t.kind.group_version,
                            "metadata": {"resourceVersion": rv.to_string()}}});
                        if tx.send(line(bm)).await.is_err() { return; }
                    }
                    _ = kill.changed() => return,
                    _ = sleep_until => return,
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
        });
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| status(500, "InternalError", "response"))
    }

    fn store(&self, kind: Kind, mut obj: Value, type_: &'static str) -> Value {
        let mut st = self.inner.lock();
        st.rv += 1;
        let rv = st.rv;
        let ns = if kind.namespaced {
            meta(&obj, "namespace").unwrap_or("default").to_string()
        } else {
            String::new()
        };
        let name = meta(&obj, "name").unwrap_or_default().to_string();
        obj["apiVersion"] = json!(kind.group_version);
        obj["kind"] = json!(kind.kind);
        let md = &mut obj["metadata"];
        md["resourceVersion"] = json!(rv.to_string());
        if kind.namespaced {
            md["namespace"] = json!(ns);
        }
        if md.get("uid").is_none() {
            md["uid"] = json!(format!("uid-{}-{ns}-{name}", kind.plural));
        }
        if md.get("creationTimestamp").is_none() {
            md["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
        }
        let key = (kind.plural, ns, name);
        if type_ == "DELETED" {
            st.objects.remove(&key);
        } else {
            st.objects.insert(key, obj.clone());
        }
        let ev = Ev {
            rv,
            plural: kind.plural,
            type_,
            obj: obj.clone(),
        };
        st.log.push(ev.clone());
        drop(st);
        let _ = self.live.send(ev);
        obj
    }

    async fn handle(&self, method: Method, path: &str, q: Query, body: Option<Value>) -> Response {
        let Some(t) = route(path) else {
            return status(
                404,
                "NotFound",
                &format!("the server could not find the requested resource {path}"),
            );
        };
        self.inner
            .lock()
            .requests
            .push((method.to_string(), path.to_string()));
        if let Some(code) = self.inner.lock().failures.get(t.kind.plural).copied() {
            let reason = match code {
                403 => "Forbidden",
                404 => "NotFound",
                _ => "InternalError",
            };
            return status(
                code,
                reason,
                &format!("{} is {}: injected", t.kind.plural, reason.to_lowercase()),
            );
        }
        let ns = t.namespace.clone().unwrap_or_default();
        match (method, &t.name) {
            (Method::GET, None) if matches!(q.get("watch"), Some("true" | "1")) => {
                self.watch(t, &q)
            }
            (Method::GET, None) => self.list(&t, &q),
            (Method::GET, Some(name)) => {
                let st = self.inner.lock();
                match st.objects.get(&(t.kind.plural, ns.clone(), name.clone())) {
                    Some(v) => axum::Json(v.clone()).into_response(),
                    None => status(
                        404,
                        "NotFound",
                        &format!("{} \"{name}\" not found", t.kind.plural),
                    ),
                }
            }
            (Method::POST, None) => {
                let Some(mut obj) = body else {
                    return status(400, "BadRequest", "no body");
                };
                if t.kind.namespaced {
                    obj["metadata"]["namespace"] = json!(ns);
                }
                let name = meta(&obj, "name").unwrap_or_default().to_string();
                if self.inner.lock().objects.contains_key(&(
                    t.kind.plural,
                    ns.clone(),
                    name.clone(),
                )) {
                    return status(
                        409,
                        "AlreadyExists",
                        &format!("{} \"{name}\" already exists", t.kind.plural),
                    );
                }
                (
                    StatusCode::CREATED,
                    axum::Json(self.store(t.kind, obj, "ADDED")),
                )
                    .into_response()
            }
            (Method::PUT, Some(name)) => {
                let Some(obj) = body else {
                    return status(400, "BadRequest", "no body");
                };
                let current = self
                    .inner
                    .lock()
                    .objects
                    .get(&(t.kind.plural, ns.clone(), name.clone()))
                    .cloned();
                let Some(current) = current else {
                    return status(404, "NotFound", "not found");
                };
                if meta(&obj, "resourceVersion")
                    .is_some_and(|rv| Some(rv) != meta(&current, "resourceVersion"))
                {
                    return status(
                        409,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
                axum::Json(self.store(t.kind, obj, "MODIFIED")).into_response()
            }
            (Method::DELETE, Some(name)) => {
                let current = self
                    .inner
                    .lock()
                    .objects
                    .get(&(t.kind.plural, ns.clone(), name.clone()))
                    .cloned();
                match current {
                    Some(obj) => axum::Json(self.store(t.kind, obj, "DELETED")).into_response(),
                    None => status(404, "NotFound", "not found"),
                }
            }
            _ => status(405, "MethodNotAllowed", "method not allowed"),
        }
    }
}

async fn dispatch(State(s): State<Shared>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let q = Query::parse(req.uri().query());
    let bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    s.handle(method, &path, q, body).await
}

impl FakeApi {
    /// Starts a server on a loopback port; bookmarks every `bookmark_every`.
    pub async fn start_with(bookmark_every: Duration) -> FakeApi {
        let (live, _) = broadcast::channel(1 << 16);
        let shared = Shared {
            inner: Arc::new(Mutex::new(StateInner::default())),
            live,
            kill: watch::channel(0).0,
            bookmark_every,
        };
        let app = axum::Router::new()
            .fallback(dispatch)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApi { addr, shared, task }
    }

    pub async fn start() -> FakeApi {
        Self::start_with(Duration::from_millis(500)).await
    }

    /// Creates or replaces an object (`kind` and `metadata.name` required).
    pub fn apply(&self, obj: Value) -> Value {
        let kind = kind_of(&obj).expect("object with a known kind");
        let ns = if kind.namespaced {
            meta(&obj, "namespace").unwrap_or("default").to_string()
        } else {
            String::new()
        };
        let name = meta(&obj, "name").expect("metadata.name").to_string();
        let exists = self
            .shared
            .inner
            .lock()
            .objects
            .contains_key(&(kind.plural, ns, name));
        self.shared
            .store(kind, obj, if exists { "MODIFIED" } else { "ADDED" })
    }

    /// Deletes an object.
    pub fn delete(&self, plural: &str, ns: &str, name: &str) -> bool {
        let kind = KINDS
            .iter()
            .copied()
            .find(|k| k.plural == plural)
            .expect("known plural");
        let key = (
            kind.plural,
            if kind.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        );
        let obj = self.shared.inner.lock().objects.get(&key).cloned();
        match obj {
            Some(o) => {
                self.shared.store(kind, o, "DELETED");
                true
            }
            None => false,
        }
    }

    /// Gets an object.
    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let kind = KINDS.iter().copied().find(|k| k.plural == plural)?;
        let key = (
            kind.plural,
            if kind.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        );
        self.shared.inner.lock().objects.get(&key).cloned()
    }

    /// Forgets the event history: watches resuming from an older version get `410 Gone`.
    pub fn compact(&self) {
        let mut st = self.shared.inner.lock();
        st.compacted = st.rv + 1;
        st.log.clear();
    }

    /// Closes every open watch (as an API-server restart does).
    pub fn drop_watches(&self) {
        self.shared.kill.send_modify(|g| *g += 1);
    }

    /// Makes every request for `plural` fail with `code` (403, 404, 500); `None` heals it.
    pub fn fail(&self, plural: &'static str, code: Option<u16>) {
        let mut st = self.shared.inner.lock();
        match code {
            Some(c) => st.failures.insert(plural, c),
            None => st.failures.remove(plural),
        };
    }

    /// `(method, path)` of every request so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared.inner.lock().requests.clone()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.inner.lock().rv
    }

    /// Writes a kubeconfig pointing at this server into `dir`, returning its path.
    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let p = dir.join("kubeconfig.yaml");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\nusers:\n- name: u\n  user:\n    token: fake-token\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\n    namespace: monitoring\ncurrent-context: c\n",
            self.addr
        );
        std::fs::write(&p, text).expect("write kubeconfig");
        p
    }
}

/// Builders of real-shaped objects.
pub mod obj {
    use serde_json::{Value, json};

    pub fn namespace(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    }

    /// A running, ready pod with one container exposing `ports` (`(name, number)`).
    pub fn pod(
        ns: &str,
        name: &str,
        node: &str,
        ip: &str,
        labels: Value,
        ports: &[(&str, u16)],
    ) -> Value {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"}))
            .collect();
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-rs"), "uid": "rs", "controller": true}]},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "example/app:1", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "hostIP": "10.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "containerID": format!("containerd://{name}"), "ready": true,
                    "restartCount": 0, "image": "example/app:1", "imageID": "", "state": {"running": {}}}]}})
    }

    pub fn service(ns: &str, name: &str, labels: Value, ports: &[(&str, u16)]) -> Value {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(n, p)| json!({"name": n, "port": p, "targetPort": p, "protocol": "TCP"}))
            .collect();
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"ports": ports, "clusterIP": "10.96.0.10"}})
    }

    /// One endpoint: `(ip, node, pod)`; `node`/`pod` may be empty (no nodeName / no targetRef).
    pub fn endpointslice(
        ns: &str,
        name: &str,
        svc: &str,
        endpoints: &[(&str, &str, &str)],
        ports: &[(&str, u16)],
    ) -> Value {
        let eps: Vec<Value> = endpoints
            .iter()
            .map(|(ip, node, pod)| {
                let mut e = json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}});
                if !node.is_empty() {
                    e["nodeName"] = json!(node);
                }
                if !pod.is_empty() {
                    e["targetRef"] = json!({"kind": "Pod", "namespace": ns, "name": pod});
                }
                e
            })
            .collect();
        let ports: Vec<Value> = ports
            .iter()
            .map(|(n, p)| json!({"name": n, "port": p, "protocol": "TCP"}))
            .collect();
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": eps, "ports": ports})
    }

    pub fn service_monitor(ns: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": name, "namespace": ns}, "spec": spec})
    }

    pub fn pod_monitor(ns: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": name, "namespace": ns}, "spec": spec})
    }

    pub fn prometheus_rule(ns: &str, name: &str, labels: Value, spec: Value) -> Value {
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec})
    }

    /// A Secret with string data (base64-encoded as the API does).
    pub fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
        let d: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(b64(v.as_bytes()))))
            .collect();
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "type": "Opaque", "data": d})
    }

    fn b64(b: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }
}
