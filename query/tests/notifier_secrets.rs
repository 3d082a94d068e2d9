//! Webhook URLs are secrets: they never appear in log output or `Debug` output, even when
//! deliveries fail (HTTP errors and transport errors both log).

mod notifier_common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use lookout_config::notify::AlertingConfig;
use lookout_query::notifier::{
    IntegrationKind, Notifier, NotifierMetrics, NotifierOptions, RetryPolicy,
};
use notifier_common::*;
use parking_lot::Mutex;

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
async fn urls_never_logged_or_printed() {
    let buf = Buf::default();
    let b2 = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || b2.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = server().await;
    for _ in 0..5 {
        s.rec.script("/hooks/SECRET-TOKEN-1", 500, None);
    }
    s.rec.script("/hooks/SECRET-TOKEN-2", 404, None);
    // A closed port: a transport error (reqwest puts URLs in its errors).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let n = notifications(
        route("r", &["alertname"]),
        vec![receiver(
            "r",
            vec![
                webhook(&format!("{}/hooks/SECRET-TOKEN-1", s.base), true, 0),
                slack(&format!("{}/hooks/SECRET-TOKEN-2", s.base)),
                discord(&format!("http://{closed}/hooks/SECRET-TOKEN-3")),
            ],
        )],
    );
    let m = Arc::new(NotifierMetrics::new());
    let notifier = Notifier::with_options(
        &AlertingConfig::default(),
        Some(&n),
        BTreeMap::new(),
        String::new(),
        m.clone(),
        NotifierOptions {
            retry: RetryPolicy {
                attempts: 2,
                backoff: Duration::from_millis(20),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    notifier.send(vec![firing(&[("alertname", "A")], &[])]);
    assert!(
        wait_for(Duration::from_secs(10), || {
            m.dropped(IntegrationKind::Webhook) == 1
                && m.dropped(IntegrationKind::Slack) == 1
                && m.dropped(IntegrationKind::Discord) == 1
        })
        .await
    );
    let log = String::from_utf8_lossy(&buf.0.lock()).to_string();
    assert!(log.contains("notification attempt failed"), "{log}");
    assert!(log.contains("HTTP 500"), "{log}");
    assert!(!log.contains("SECRET-TOKEN"), "{log}");
    assert!(!log.contains("/hooks/"), "{log}");
    for dbg in [
        format!("{notifier:?}"),
        format!("{n:?}"),
        format!("{:?}", n.receivers),
    ] {
        assert!(!dbg.contains("SECRET-TOKEN"), "{dbg}");
    }
    assert!(!m.render().contains("SECRET"));
    notifier.shutdown().await;
}
