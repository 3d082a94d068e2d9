//! Shared by the notifier tests: a loopback HTTP receiver that records every request and
//! answers from a per-path script, and builders for notification configs.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lookout_config::notify::{GroupBy, Integration, Notifications, Receiver, ReceiverKind, Route};
use lookout_config::secret::{Secret, SecretSource};
use lookout_query::notifier::Alert;
use parking_lot::Mutex;

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub at: Instant,
    pub status: u16,
    pub body: serde_json::Value,
    /// The request's Authorization header, if any.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    log: Vec<Request>,
    script: HashMap<String, VecDeque<(u16, Option<String>)>>,
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Inner>>);

pub struct Server {
    pub base: String,
    pub rec: Recorder,
}

impl Recorder {
    /// Answers the next request to `path` with `status` (and a Retry-After header).
    pub fn script(&self, path: &str, status: u16, retry_after: Option<&str>) {
        self.0
            .lock()
            .script
            .entry(path.to_string())
            .or_default()
            .push_back((status, retry_after.map(str::to_string)));
    }

    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.0
            .lock()
            .log
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Successful requests (2xx answered) to `path`.
    pub fn delivered(&self, path: &str) -> Vec<serde_json::Value> {
        self.requests(path)
            .into_iter()
            .filter(|r| r.status < 300)
            .map(|r| r.body)
            .collect()
    }
}

async fn handle(State(rec): State<Recorder>, uri: Uri, h: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let mut g = rec.0.lock();
    let (status, retry) = g
        .script
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or((200, None));
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    g.log.push(Request {
        path,
        at: Instant::now(),
        status,
        body,
        authorization: h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let mut resp = (StatusCode::from_u16(status).unwrap(), "ok").into_response();
    if let Some(r) = retry {
        resp.headers_mut().insert("retry-after", r.parse().unwrap());
    }
    resp
}

pub async fn server() -> Server {
    let rec = Recorder::default();
    let app = axum::Router::new().fallback(handle).with_state(rec.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        rec,
    }
}

pub fn url(u: &str) -> SecretSource {
    SecretSource::Inline(Secret::new(u))
}

pub fn webhook(u: &str, send_resolved: bool, max_alerts: u64) -> Integration {
    Integration {
        kind: ReceiverKind::Webhook {
            url: url(u),
            max_alerts,
        },
        http: None,
        send_resolved,
    }
}

pub fn slack(u: &str) -> Integration {
    Integration {
        kind: ReceiverKind::Slack {
            url: url(u),
            channel: Some("#alerts".into()),
            username: Some("lookout".into()),
            icon_emoji: Some(":fire:".into()),
            icon_url: None,
            title: None,
            text: None,
        },
        http: None,
        send_resolved: true,
    }
}

pub fn discord(u: &str) -> Integration {
    Integration {
        kind: ReceiverKind::Discord {
            url: url(u),
            title: None,
            message: None,
        },
        http: None,
        send_resolved: true,
    }
}

pub fn teams(u: &str) -> Integration {
    Integration {
        kind: ReceiverKind::Teams {
            url: url(u),
            title: None,
            text: None,
        },
        http: None,
        send_resolved: true,
    }
}

pub fn receiver(name: &str, integrations: Vec<Integration>) -> Receiver {
    Receiver {
        name: name.into(),
        integrations,
    }
}

/// A route with fast timings: group_wait 100ms, group_interval 300ms, repeat 1h.
pub fn route(receiver: &str, group_by: &[&str]) -> Route {
    Route {
        receiver: receiver.into(),
        group_by: GroupBy::Labels(group_by.iter().map(|s| s.to_string()).collect()),
        group_wait: Duration::from_millis(100),
        group_interval: Duration::from_millis(300),
        repeat_interval: Duration::from_secs(3600),
        matchers: Vec::new(),
        continue_: false,
        routes: Vec::new(),
    }
}

pub fn notifications(route: Route, receivers: Vec<Receiver>) -> Notifications {
    Notifications {
        resolve_timeout: Duration::from_secs(300),
        route,
        receivers,
    }
}

pub fn labels(p: &[(&str, &str)]) -> BTreeMap<String, String> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A firing alert (ends in 10 minutes, as the rule manager would set).
pub fn firing(p: &[(&str, &str)], ann: &[(&str, &str)]) -> Alert {
    Alert {
        labels: labels(p),
        annotations: labels(ann),
        starts_at: SystemTime::now(),
        ends_at: Some(SystemTime::now() + Duration::from_secs(600)),
        generator_url: "http://lookout.example/graph?g0.expr=up".into(),
    }
}

/// Waits until `f` holds (polling), up to `max`; returns whether it held.
pub async fn wait_for(max: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + max;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    f()
}
