//! Mattermost receivers (`mattermost_configs`) against a loopback receiver: the configuration
//! as an Alertmanager section is written (URL from a file or the environment, `http_config`),
//! the incoming-webhook body (default text, user templates in every field, attachments,
//! props, priority), firing then resolved messages with `send_resolved`, Mattermost's
//! 16,383-character text limit, and the URL kept out of logs when deliveries fail.

mod notifier_common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lookout_config::notify::{AlertingConfig, ReceiverKind};
use lookout_query::notifier::{
    IntegrationKind, Notifier, NotifierMetrics, NotifierOptions, RetryPolicy,
};
use notifier_common::*;
use parking_lot::Mutex;

fn start(n: &lookout_config::notify::Notifications) -> (Notifier, Arc<NotifierMetrics>) {
    let m = Arc::new(NotifierMetrics::new());
    let notifier = Notifier::with_options(
        &AlertingConfig::default(),
        Some(n),
        BTreeMap::new(),
        "http://lookout.example".into(),
        m.clone(),
        NotifierOptions {
            retry: RetryPolicy {
                attempts: 2,
                backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(50),
                ..RetryPolicy::default()
            },
            ..NotifierOptions::default()
        },
    );
    (notifier, m)
}

/// Loads a `notifications:` section with fast timings from YAML text.
fn load(receivers: &str) -> lookout_config::notify::Notifications {
    let text = format!(
        "notifications:\n  route:\n    receiver: mm\n    group_by: [alertname]\n    group_wait: 100ms\n    group_interval: 300ms\n    repeat_interval: 1h\n  receivers:\n    - name: mm\n      mattermost_configs:\n{receivers}"
    );
    lookout_config::load_str(&text, "t.yaml")
        .expect("config loads")
        .notifications
        .expect("notifications")
}

#[tokio::test]
async fn mattermost_posts_follow_the_config_and_resolve() {
    let s = server().await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("mm-url");
    std::fs::write(&url_file, format!("{}/hooks/templated\n", s.base)).unwrap();
    // SAFETY: set once, before anything reads the environment concurrently in this process.
    unsafe { std::env::set_var("LOOKOUT_TEST_MM_URL", format!("{}/hooks/default", s.base)) };
    let n = load(&format!(
        "        - webhook_url_env: LOOKOUT_TEST_MM_URL\n\
         \x20       - webhook_url_file: {file}\n\
         \x20         send_resolved: false\n\
         \x20         http_config:\n\
         \x20           authorization: {{credentials: mm-token}}\n\
         \x20         channel: '{{{{ .CommonLabels.team }}}}-alerts'\n\
         \x20         username: lookout\n\
         \x20         icon_url: https://example.invalid/icon.png\n\
         \x20         icon_emoji: ':rotating_light:'\n\
         \x20         text: '{{{{ len .Alerts }}}} alerts: {{{{ .CommonAnnotations.summary }}}}'\n\
         \x20         type: custom_alert\n\
         \x20         attachments:\n\
         \x20           - title: '{{{{ .GroupTitle }}}}'\n\
         \x20             title_link: '{{{{ .ExternalURL }}}}'\n\
         \x20             color: '{{{{ if eq .Status \"firing\" }}}}#E74C3C{{{{ else }}}}#2ECC71{{{{ end }}}}'\n\
         \x20             fields:\n\
         \x20               - {{title: severity, value: '{{{{ .CommonLabels.severity }}}}', short: true}}\n\
         \x20         props: {{card: 'runbook: {{{{ .CommonAnnotations.runbook }}}}'}}\n\
         \x20         priority: {{priority: urgent, requested_ack: true, persistent_notifications: true}}\n",
        file = url_file.display()
    ));
    let kinds: Vec<&ReceiverKind> = n.receivers[0]
        .integrations
        .iter()
        .map(|i| &i.kind)
        .collect();
    assert!(matches!(
        kinds[..],
        [
            ReceiverKind::Mattermost { .. },
            ReceiverKind::Mattermost { .. }
        ]
    ));
    let (notifier, m) = start(&n);
    let alerts: Vec<_> = (0..2)
        .map(|i| {
            firing(
                &[
                    ("alertname", "HighLoad"),
                    ("instance", &format!("node-{i}")),
                    ("severity", "page"),
                    ("team", "infra"),
                ],
                &[
                    ("summary", "load is high"),
                    ("runbook", "https://rb.invalid/load"),
                ],
            )
        })
        .collect();
    notifier.send(alerts.clone());
    assert!(
        wait_for(Duration::from_secs(5), || {
            s.rec.delivered("/hooks/default").len() == 1
                && s.rec.delivered("/hooks/templated").len() == 1
        })
        .await
    );

    // Defaults: lookout's title and alert list as Markdown, nothing else.
    let d = &s.rec.delivered("/hooks/default")[0];
    let text = d["text"].as_str().unwrap();
    assert!(text.starts_with("#### [FIRING:2] HighLoad\n"), "{text}");
    assert!(text.contains("**HighLoad**: load is high"), "{text}");
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["text"]);

    // Every configured field, rendered.
    let t = &s.rec.delivered("/hooks/templated")[0];
    assert_eq!(t["text"], "2 alerts: load is high");
    assert_eq!(t["channel"], "infra-alerts");
    assert_eq!(t["username"], "lookout");
    assert_eq!(t["icon_url"], "https://example.invalid/icon.png");
    assert_eq!(t["icon_emoji"], ":rotating_light:");
    assert_eq!(t["type"], "custom_alert");
    let att = &t["attachments"][0];
    assert_eq!(att["title"], "HighLoad");
    assert_eq!(att["title_link"], "http://lookout.example");
    assert_eq!(att["color"], "#E74C3C");
    assert_eq!(
        att["fields"],
        serde_json::json!([{"title": "severity", "value": "page", "short": true}])
    );
    assert_eq!(t["props"]["card"], "runbook: https://rb.invalid/load");
    assert_eq!(
        t["priority"],
        serde_json::json!({"priority": "urgent", "requested_ack": true, "persistent_notifications": true})
    );
    assert_eq!(
        s.rec.requests("/hooks/templated")[0]
            .authorization
            .as_deref(),
        Some("Bearer mm-token")
    );
    assert_eq!(s.rec.requests("/hooks/default")[0].authorization, None);

    // Resolved: only the integration with send_resolved (the default) says so.
    let resolved: Vec<_> = alerts
        .into_iter()
        .map(|mut a| {
            a.ends_at = Some(SystemTime::now());
            a
        })
        .collect();
    notifier.send(resolved);
    assert!(
        wait_for(Duration::from_secs(5), || s
            .rec
            .delivered("/hooks/default")
            .len()
            == 2)
        .await
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let d = s.rec.delivered("/hooks/default");
    assert_eq!(d.len(), 2, "one firing, one resolved message");
    assert!(
        d[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("#### [RESOLVED] HighLoad"),
        "{}",
        d[1]["text"]
    );
    assert_eq!(
        s.rec.delivered("/hooks/templated").len(),
        1,
        "send_resolved: false"
    );
    assert_eq!(m.sent(IntegrationKind::Mattermost), 3);
    assert!(
        m.render()
            .contains("lookout_notifications_sent_total{integration=\"mattermost\"} 3")
    );
    notifier.shutdown().await;
}

#[tokio::test]
async fn mattermost_text_stays_within_the_post_limit() {
    let s = server().await;
    let n = load(&format!(
        "        - webhook_url: {}/mm\n          attachments:\n            - text: '{{{{ range .Alerts }}}}{{{{ .Annotations.description }}}}{{{{ end }}}}'\n",
        s.base
    ));
    let (notifier, _) = start(&n);
    let huge = "é".repeat(9_000) + &"long line\n".repeat(3_000);
    let alerts: Vec<_> = (0..10)
        .map(|i| {
            firing(
                &[("alertname", "Huge"), ("instance", &format!("i{i}"))],
                &[("summary", "big"), ("description", &huge)],
            )
        })
        .collect();
    notifier.send(alerts);
    assert!(wait_for(Duration::from_secs(5), || s.rec.delivered("/mm").len() == 1).await);
    let body = &s.rec.delivered("/mm")[0];
    let chars = |v: &serde_json::Value| v.as_str().unwrap().chars().count();
    assert!(chars(&body["text"]) <= 16_383, "{}", chars(&body["text"]));
    assert!(body["text"].as_str().unwrap().ends_with('…'));
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("#### [FIRING:10] Huge")
    );
    let att = &body["attachments"][0]["text"];
    assert_eq!(chars(att), 16_383);
    assert!(att.as_str().unwrap().ends_with('…'));
    notifier.shutdown().await;
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn mattermost_url_is_never_logged() {
    let buf = Buf::default();
    let b2 = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || b2.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = server().await;
    for _ in 0..4 {
        s.rec.script("/hooks/MM-SECRET-TOKEN", 500, None);
    }
    let n = load(&format!(
        "        - webhook_url: {}/hooks/MM-SECRET-TOKEN\n",
        s.base
    ));
    let (notifier, m) = start(&n);
    notifier.send(vec![firing(&[("alertname", "A")], &[])]);
    assert!(
        wait_for(Duration::from_secs(5), || m
            .dropped(IntegrationKind::Mattermost)
            == 1)
        .await
    );
    assert_eq!(m.failed(IntegrationKind::Mattermost), 2);
    notifier.shutdown().await;
    let logs = String::from_utf8_lossy(&buf.0.lock()).to_string();
    assert!(logs.contains("mattermost"), "the failure is logged: {logs}");
    assert!(!logs.contains("MM-SECRET-TOKEN"), "{logs}");
    assert!(!format!("{n:?}").contains("MM-SECRET-TOKEN"));
}
