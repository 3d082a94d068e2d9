//! Credentials configured in the pasted Prometheus / Alertmanager sections reach the
//! receivers: `alerting.alertmanagers[].authorization` on `POST /api/v2/alerts`, and a
//! webhook receiver's `http_config.basic_auth`, with secrets read from files.

mod notifier_common;

use lookout_query::notifier::{Alert, Notifier, NotifierMetrics};
use notifier_common::server;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_and_webhook_requests_carry_their_credentials() {
    let srv = server().await;
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("am-token");
    std::fs::write(&tok, "am-secret\n").unwrap();
    let pw = dir.path().join("hook-pw");
    std::fs::write(&pw, "hook-secret").unwrap();
    let addr = srv.base.trim_start_matches("http://");
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{addr}']}}]\n      path_prefix: /am\n      authorization:\n        credentials_file: {tok}\nnotifications:\n  route:\n    receiver: hook\n    group_wait: 100ms\n    group_interval: 100ms\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: {base}/hook\n          http_config:\n            basic_auth:\n              username: alice\n              password_file: {pw}\n",
        tok = tok.display(),
        pw = pw.display(),
        base = srv.base,
    );
    let cfg = lookout_config::load_str(&yaml, "auth.yaml").unwrap();
    let n = Notifier::new(
        &cfg.alerting,
        cfg.notifications.as_ref(),
        Default::default(),
        "http://lookout".into(),
        Arc::new(NotifierMetrics::new()),
    );
    n.send(vec![Alert {
        labels: [("alertname".to_string(), "A".to_string())]
            .into_iter()
            .collect(),
        annotations: Default::default(),
        starts_at: SystemTime::now(),
        ends_at: None,
        generator_url: String::new(),
    }]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.rec.requests("/am/api/v2/alerts").is_empty() || srv.rec.requests("/hook").is_empty() {
        assert!(Instant::now() < deadline, "requests did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let am = &srv.rec.requests("/am/api/v2/alerts")[0];
    assert_eq!(am.authorization.as_deref(), Some("Bearer am-secret"));
    let hook = &srv.rec.requests("/hook")[0];
    // "alice:hook-secret" in base64.
    assert_eq!(
        hook.authorization.as_deref(),
        Some("Basic YWxpY2U6aG9vay1zZWNyZXQ=")
    );
    n.shutdown().await;
}
