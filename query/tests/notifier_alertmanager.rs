//! Against Debian's real Alertmanager (`prometheus-alertmanager`) on loopback: alerts sent
//! through the Notifier appear in its `GET /api/v2/alerts` with the right labels,
//! annotations and `endsAt`, and resolve; and the webhook Alertmanager itself sends for them
//! has the same version-4 shape (group key, fingerprints, statuses) as our built-in
//! dispatcher's. Fails (does not skip) when the binary is missing.

mod notifier_common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lookout_config::StaticConfig;
use lookout_config::notify::{AlertingConfig, AlertmanagerConfig};
use lookout_query::notifier::{Alert, Notifier, NotifierMetrics, parse_rfc3339};
use notifier_common::*;

const BIN: &str = "/usr/bin/prometheus-alertmanager";

struct Am(Child);

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn start_am(dir: &std::path::Path, hook: &str) -> (Am, String) {
    assert!(
        std::path::Path::new(BIN).exists(),
        "{BIN} is missing: apt-get install -y prometheus-alertmanager"
    );
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 300ms\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook}\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(BIN)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-alertmanager");
    let am = Am(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await
            && r.status().is_success()
        {
            return (am, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alertmanager did not become ready");
}

async fn am_alerts(base: &str) -> Vec<serde_json::Value> {
    reqwest::get(format!("{base}/api/v2/alerts"))
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<Vec<serde_json::Value>>(&b).unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_real_alertmanager_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let rec = server().await;
    let (_am, base) = start_am(dir.path(), &format!("{}/am", rec.base)).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    let alerting = AlertingConfig {
        alertmanagers: vec![AlertmanagerConfig {
            targets: vec![StaticConfig {
                targets: vec![format!("127.0.0.1:{port}")],
                labels: BTreeMap::new(),
            }],
            scheme: "http".into(),
            path_prefix: "/".into(),
            timeout: Duration::from_secs(5),
            http: Default::default(),
        }],
    };
    // Our own dispatcher with the same route, posting to /ours, to compare with Alertmanager.
    let mut r = route("hook", &["alertname"]);
    r.group_interval = Duration::from_millis(300);
    let n = notifications(
        r,
        vec![receiver(
            "hook",
            vec![webhook(&format!("{}/ours", rec.base), true, 0)],
        )],
    );
    let m = Arc::new(NotifierMetrics::new());
    let notifier = Notifier::new(
        &alerting,
        Some(&n),
        BTreeMap::from([("cluster".to_string(), "prod".to_string())]),
        "http://lookout.example".into(),
        m.clone(),
    );
    let starts = parse_rfc3339("2024-05-01T10:00:00.25Z").unwrap();
    let ends = SystemTime::now() + Duration::from_secs(600);
    let mk = |i: &str, ends_at| Alert {
        labels: labels(&[
            ("alertname", "TargetDown"),
            ("job", "api"),
            ("instance", i),
            ("cluster", "staging"),
        ]),
        annotations: labels(&[
            ("summary", "target down"),
            ("description", &format!("{i} is down")),
        ]),
        starts_at: starts,
        ends_at: Some(ends_at),
        generator_url: "http://lookout.example/graph?g0.expr=up".into(),
    };
    notifier.send(vec![mk("a:80", ends), mk("b:80", ends)]);

    let mut got = Vec::new();
    for _ in 0..100 {
        got = am_alerts(&base).await;
        if got.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 2, "{got:?}");
    got.sort_by_key(|a| a["labels"]["instance"].as_str().unwrap().to_string());
    let a = &got[0];
    assert_eq!(a["labels"]["alertname"], "TargetDown");
    assert_eq!(a["labels"]["instance"], "a:80");
    assert_eq!(
        a["labels"]["cluster"], "staging",
        "alert labels win over external labels"
    );
    assert_eq!(a["annotations"]["description"], "a:80 is down");
    assert_eq!(a["annotations"]["summary"], "target down");
    assert_eq!(a["generatorURL"], "http://lookout.example/graph?g0.expr=up");
    assert_eq!(a["status"]["state"], "active");
    let got_start = parse_rfc3339(a["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(got_start, starts);
    let got_end = parse_rfc3339(a["endsAt"].as_str().unwrap()).unwrap();
    let diff = got_end
        .duration_since(ends)
        .unwrap_or_else(|e| e.duration());
    assert!(diff < Duration::from_millis(2), "endsAt kept: {diff:?}");

    // Alertmanager's own webhook for this group vs ours: same v4 shape.
    assert!(
        wait_for(Duration::from_secs(10), || !rec
            .rec
            .delivered("/am")
            .is_empty()
            && !rec.rec.delivered("/ours").is_empty())
        .await
    );
    let theirs = &rec.rec.delivered("/am")[0];
    let ours = &rec.rec.delivered("/ours")[0];
    for k in [
        "version",
        "groupKey",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "truncatedAlerts",
    ] {
        assert_eq!(theirs[k], ours[k], "field {k}");
    }
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(theirs), keys(ours));
    for i in 0..2 {
        let (t, o) = (&theirs["alerts"][i], &ours["alerts"][i]);
        assert_eq!(keys(t), keys(o));
        for k in [
            "status",
            "labels",
            "annotations",
            "generatorURL",
            "fingerprint",
            "endsAt",
        ] {
            assert_eq!(t[k], o[k], "alert {i} field {k}");
        }
        assert_eq!(
            parse_rfc3339(t["startsAt"].as_str().unwrap()),
            parse_rfc3339(o["startsAt"].as_str().unwrap())
        );
    }

    // Resolve: endsAt in the past.
    let resolved_at = SystemTime::now() - Duration::from_secs(1);
    notifier.send(vec![mk("a:80", resolved_at), mk("b:80", resolved_at)]);
    let mut left = usize::MAX;
    for _ in 0..100 {
        left = am_alerts(&base).await.len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        left, 0,
        "resolved alerts are no longer active in Alertmanager"
    );
    assert!(
        wait_for(Duration::from_secs(10), || rec
            .rec
            .delivered("/am")
            .iter()
            .any(|b| b["status"] == "resolved"))
        .await
    );
    let am_resolved = rec
        .rec
        .delivered("/am")
        .into_iter()
        .find(|b| b["status"] == "resolved")
        .unwrap();
    let end = parse_rfc3339(am_resolved["alerts"][0]["endsAt"].as_str().unwrap()).unwrap();
    let diff = end
        .duration_since(resolved_at)
        .unwrap_or_else(|e| e.duration());
    assert!(
        diff < Duration::from_millis(2),
        "Alertmanager resolved with our endsAt: {diff:?}"
    );
    assert!(
        wait_for(Duration::from_secs(10), || rec
            .rec
            .delivered("/ours")
            .iter()
            .any(|b| b["status"] == "resolved"))
        .await
    );
    notifier.shutdown().await;
    assert_eq!(
        m.sent(lookout_query::notifier::IntegrationKind::Alertmanager),
        2
    );
}
