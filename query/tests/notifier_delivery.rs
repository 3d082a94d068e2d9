//! Notifier delivery against a loopback receiver: grouping into one message, 429 handling,
//! firing/resolved messages, webhook v4 shape, payload limits, routing, secrecy of URLs.

mod notifier_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lookout_config::notify::{AlertMatcher, AlertingConfig, GroupBy, Notifications};
use lookout_query::notifier::{
    Alert, IntegrationKind, Notifier, NotifierMetrics, fingerprint, parse_rfc3339,
};
use notifier_common::*;

fn start(n: &Notifications) -> (Notifier, Arc<NotifierMetrics>) {
    let m = Arc::new(NotifierMetrics::new());
    let notifier = Notifier::new(
        &AlertingConfig::default(),
        Some(n),
        BTreeMap::from([("cluster".to_string(), "prod".to_string())]),
        "http://lookout.example".into(),
        m.clone(),
    );
    (notifier, m)
}

#[tokio::test]
async fn hundred_alerts_of_one_group_make_one_message_per_integration() {
    let s = server().await;
    let b = &s.base;
    let mut route = route("all", &["alertname"]);
    route.group_interval = Duration::from_secs(30);
    let n = notifications(
        route,
        vec![receiver(
            "all",
            vec![
                slack(&format!("{b}/slack")),
                discord(&format!("{b}/discord")),
                teams(&format!("{b}/teams")),
                webhook(&format!("{b}/hook"), true, 0),
            ],
        )],
    );
    let (notifier, m) = start(&n);
    let alerts: Vec<Alert> = (0..100)
        .map(|i| {
            firing(
                &[
                    ("alertname", "HighLoad"),
                    ("instance", &format!("node-{i}")),
                ],
                &[("summary", "load is high")],
            )
        })
        .collect();
    // Arrive in several batches, as several rule evaluations would send them.
    for chunk in alerts.chunks(25) {
        notifier.send(chunk.to_vec());
    }
    let paths = ["/slack", "/discord", "/teams", "/hook"];
    assert!(
        wait_for(Duration::from_secs(5), || paths
            .iter()
            .all(|p| !s.rec.requests(p).is_empty()))
        .await
    );
    // Let a possible duplicate arrive before counting.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for p in paths {
        assert_eq!(s.rec.requests(p).len(), 1, "{p}");
    }
    let hook = &s.rec.delivered("/hook")[0];
    assert_eq!(hook["alerts"].as_array().unwrap().len(), 100);
    assert_eq!(
        hook["commonLabels"]["cluster"], "prod",
        "external labels added"
    );
    let slack = &s.rec.delivered("/slack")[0];
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING:100] HighLoad"),
        "{}",
        slack["text"]
    );
    assert_eq!(slack["channel"], "#alerts");
    assert_eq!(slack["username"], "lookout");
    assert_eq!(slack["icon_emoji"], ":fire:");
    for k in [
        IntegrationKind::Slack,
        IntegrationKind::Discord,
        IntegrationKind::Teams,
        IntegrationKind::Webhook,
    ] {
        assert_eq!(m.sent(k), 1, "{k:?}");
    }
    assert!(
        m.render()
            .contains("lookout_notifications_sent_total{integration=\"slack\"} 1")
    );
    notifier.shutdown().await;
}

#[tokio::test]
async fn rate_limited_receiver_is_retried_after_retry_after_and_gets_it_once() {
    let s = server().await;
    s.rec.script("/slack", 429, Some("1"));
    let n = notifications(
        route("r", &["alertname"]),
        vec![receiver("r", vec![slack(&format!("{}/slack", s.base))])],
    );
    let (notifier, m) = start(&n);
    notifier.send(vec![firing(&[("alertname", "A")], &[])]);
    assert!(
        wait_for(Duration::from_secs(6), || s.rec.delivered("/slack").len()
            == 1)
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reqs = s.rec.requests("/slack");
    assert_eq!(reqs.len(), 2, "one 429, one delivery");
    assert_eq!((reqs[0].status, reqs[1].status), (429, 200));
    assert!(
        reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(
        (
            m.sent(IntegrationKind::Slack),
            m.failed(IntegrationKind::Slack)
        ),
        (1, 1)
    );
    assert_eq!(m.dropped(IntegrationKind::Slack), 0);
    notifier.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_then_dropped_and_counted() {
    let s = server().await;
    for _ in 0..10 {
        s.rec.script("/hook", 500, None);
    }
    let n = notifications(
        route("r", &["alertname"]),
        vec![receiver(
            "r",
            vec![webhook(&format!("{}/hook", s.base), true, 0)],
        )],
    );
    let m = Arc::new(NotifierMetrics::new());
    let notifier = Notifier::with_options(
        &AlertingConfig::default(),
        Some(&n),
        BTreeMap::new(),
        String::new(),
        m.clone(),
        lookout_query::notifier::NotifierOptions {
            retry: lookout_query::notifier::RetryPolicy {
                attempts: 3,
                backoff: Duration::from_millis(50),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    notifier.send(vec![firing(&[("alertname", "A")], &[])]);
    assert!(
        wait_for(Duration::from_secs(5), || m
            .dropped(IntegrationKind::Webhook)
            == 1)
        .await
    );
    assert_eq!(m.failed(IntegrationKind::Webhook), 3);
    assert_eq!(m.sent(IntegrationKind::Webhook), 0);
    // 400-class errors are not retried.
    assert_eq!(s.rec.requests("/hook").len(), 3);
    notifier.shutdown().await;
}

#[tokio::test]
async fn firing_then_resolved_respects_send_resolved() {
    let s = server().await;
    let b = &s.base;
    let n = notifications(
        route("r", &["alertname"]),
        vec![receiver(
            "r",
            vec![
                webhook(&format!("{b}/yes"), true, 0),
                webhook(&format!("{b}/no"), false, 0),
            ],
        )],
    );
    let (notifier, _) = start(&n);
    let a = firing(
        &[("alertname", "Down"), ("job", "api")],
        &[("summary", "api down")],
    );
    notifier.send(vec![a.clone()]);
    assert!(
        wait_for(Duration::from_secs(5), || s.rec.delivered("/yes").len()
            == 1
            && s.rec.delivered("/no").len() == 1)
        .await
    );
    // Re-sent unchanged by the rule manager: no new message.
    notifier.send(vec![a.clone()]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(s.rec.delivered("/yes").len(), 1);
    // Resolved.
    let mut r = a.clone();
    r.ends_at = Some(SystemTime::now());
    notifier.send(vec![r]);
    assert!(
        wait_for(Duration::from_secs(5), || s.rec.delivered("/yes").len()
            == 2)
        .await
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let yes = s.rec.delivered("/yes");
    assert_eq!(yes.len(), 2, "one firing, one resolved");
    assert_eq!(yes[0]["status"], "firing");
    assert_eq!(yes[1]["status"], "resolved");
    assert_eq!(yes[1]["alerts"][0]["status"], "resolved");
    assert_ne!(yes[1]["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let no = s.rec.delivered("/no");
    assert_eq!(no.len(), 1, "no resolved message without send_resolved");
    assert_eq!(no[0]["status"], "firing");
    notifier.shutdown().await;
}

#[tokio::test]
async fn alert_without_end_resolves_after_resolve_timeout_and_repeats_fire() {
    let s = server().await;
    let mut route = route("r", &["alertname"]);
    route.repeat_interval = Duration::from_millis(600);
    let mut n = notifications(
        route,
        vec![receiver(
            "r",
            vec![webhook(&format!("{}/hook", s.base), true, 0)],
        )],
    );
    n.resolve_timeout = Duration::from_millis(1500);
    let (notifier, _) = start(&n);
    let mut a = firing(&[("alertname", "NoEnd")], &[]);
    a.ends_at = None;
    notifier.send(vec![a]);
    assert!(
        wait_for(Duration::from_secs(6), || s
            .rec
            .delivered("/hook")
            .iter()
            .any(|b| b["status"] == "resolved"))
        .await
    );
    let got = s.rec.delivered("/hook");
    let firing_msgs = got.iter().filter(|b| b["status"] == "firing").count();
    assert!(
        firing_msgs >= 2,
        "repeat_interval resends an unchanged firing group: {firing_msgs}"
    );
    let last = got.last().unwrap();
    assert_eq!(last["status"], "resolved");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        s.rec
            .delivered("/hook")
            .iter()
            .filter(|b| b["status"] == "resolved")
            .count(),
        1
    );
    notifier.shutdown().await;
}

#[tokio::test]
async fn webhook_body_is_alertmanager_version_4() {
    let s = server().await;
    let n = notifications(
        route("team-hook", &["alertname"]),
        vec![receiver(
            "team-hook",
            vec![webhook(&format!("{}/hook", s.base), true, 2)],
        )],
    );
    let (notifier, _) = start(&n);
    let starts = parse_rfc3339("2024-05-01T10:00:00.5Z").unwrap();
    let mk = |i: &str, desc: &str| Alert {
        labels: labels(&[("alertname", "DiskFull"), ("job", "node"), ("instance", i)]),
        annotations: labels(&[("summary", "disk full"), ("description", desc)]),
        starts_at: starts,
        ends_at: Some(SystemTime::now() + Duration::from_secs(600)),
        generator_url: "http://prom/graph?g0.expr=x".into(),
    };
    notifier.send(vec![
        mk("a:9100", "on a"),
        mk("b:9100", "on b"),
        mk("c:9100", "on c"),
    ]);
    assert!(
        wait_for(Duration::from_secs(5), || s.rec.delivered("/hook").len()
            == 1)
        .await
    );
    let b = &s.rec.delivered("/hook")[0];
    let obj = b.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "alerts",
            "commonAnnotations",
            "commonLabels",
            "externalURL",
            "groupKey",
            "groupLabels",
            "receiver",
            "status",
            "truncatedAlerts",
            "version"
        ]
    );
    assert_eq!(b["version"], "4");
    assert_eq!(b["groupKey"], "{}:{alertname=\"DiskFull\"}");
    assert_eq!(b["truncatedAlerts"], 1);
    assert_eq!(b["status"], "firing");
    assert_eq!(b["receiver"], "team-hook");
    assert_eq!(
        b["groupLabels"],
        serde_json::json!({"alertname": "DiskFull"})
    );
    assert_eq!(
        b["commonLabels"],
        serde_json::json!({"alertname": "DiskFull", "job": "node", "cluster": "prod"})
    );
    assert_eq!(
        b["commonAnnotations"],
        serde_json::json!({"summary": "disk full"})
    );
    assert_eq!(b["externalURL"], "http://lookout.example");
    let alerts = b["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    let a0 = alerts[0].as_object().unwrap();
    let mut akeys: Vec<&str> = a0.keys().map(String::as_str).collect();
    akeys.sort();
    assert_eq!(
        akeys,
        [
            "annotations",
            "endsAt",
            "fingerprint",
            "generatorURL",
            "labels",
            "startsAt",
            "status"
        ]
    );
    assert_eq!(a0["status"], "firing");
    assert_eq!(
        a0["labels"]["instance"], "a:9100",
        "sorted by job, instance"
    );
    assert_eq!(alerts[1]["labels"]["instance"], "b:9100");
    assert_eq!(a0["annotations"]["description"], "on a");
    assert_eq!(a0["startsAt"], "2024-05-01T10:00:00.5Z");
    assert_eq!(a0["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a0["generatorURL"], "http://prom/graph?g0.expr=x");
    let fp = a0["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    let full = labels(&[
        ("alertname", "DiskFull"),
        ("job", "node"),
        ("instance", "a:9100"),
        ("cluster", "prod"),
    ]);
    assert_eq!(fp, format!("{:016x}", fingerprint(&full)));
    notifier.shutdown().await;
}

#[tokio::test]
async fn chat_payloads_stay_within_service_limits() {
    let s = server().await;
    let b = &s.base;
    let n = notifications(
        route("r", &["alertname"]),
        vec![receiver(
            "r",
            vec![
                slack(&format!("{b}/slack")),
                discord(&format!("{b}/discord")),
                teams(&format!("{b}/teams")),
            ],
        )],
    );
    let (notifier, _) = start(&n);
    let huge = "é".repeat(9_000) + &"long line\n".repeat(5_000);
    let alerts: Vec<Alert> = (0..30)
        .map(|i| {
            firing(
                &[("alertname", "Huge"), ("instance", &format!("i{i}"))],
                &[("summary", &"s".repeat(400)), ("description", &huge)],
            )
        })
        .collect();
    notifier.send(alerts);
    assert!(
        wait_for(Duration::from_secs(5), || ["/slack", "/discord", "/teams"]
            .iter()
            .all(|p| s.rec.delivered(p).len() == 1))
        .await
    );
    let chars = |v: &serde_json::Value| v.as_str().unwrap().chars().count();

    let sl = &s.rec.delivered("/slack")[0];
    assert!(chars(&sl["text"]) <= 40_000);
    assert!(sl["text"].as_str().unwrap().ends_with('…'));
    let blocks = sl["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50 && blocks.len() > 2);
    for bl in blocks {
        assert_eq!(bl["type"], "section");
        assert!(chars(&bl["text"]["text"]) <= 3_000);
    }

    let d = &s.rec.delivered("/discord")[0];
    assert!(chars(&d["content"]) <= 2_000);
    let embeds = d["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 10);
    let mut total = 0;
    for e in embeds {
        assert!(chars(&e["title"]) <= 256);
        let dl = e.get("description").map_or(0, chars);
        assert!(dl <= 4_096);
        total += chars(&e["title"]) + dl;
        assert_eq!(e["color"], 0xE74C3C);
    }
    assert!(total <= 6_000, "{total}");
    assert!(embeds[9]["title"].as_str().unwrap().contains("21 more"));

    let t = &s.rec.requests("/teams")[0].body;
    assert!(serde_json::to_vec(t).unwrap().len() <= 28_000);
    assert_eq!(t["type"], "message");
    let att = &t["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(att["content"]["type"], "AdaptiveCard");
    assert_eq!(att["content"]["version"], "1.4");
    assert_eq!(att["content"]["body"][0]["type"], "TextBlock");
    assert!(
        att["content"]["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING:30] Huge")
    );
    notifier.shutdown().await;
}

#[tokio::test]
async fn user_templates_override_defaults() {
    let s = server().await;
    let mut sl = slack(&format!("{}/slack", s.base));
    if let lookout_config::notify::ReceiverKind::Slack { title, text, .. } = &mut sl.kind {
        *title = Some("{{ .CommonLabels.alertname }} on {{ .CommonLabels.cluster }}".into());
        *text = Some("{{ range .Alerts }}{{ .Labels.instance }};{{ end }}".into());
    }
    let n = notifications(route("r", &["alertname"]), vec![receiver("r", vec![sl])]);
    let (notifier, _) = start(&n);
    notifier.send(vec![firing(&[("alertname", "X"), ("instance", "i1")], &[])]);
    assert!(
        wait_for(Duration::from_secs(5), || s.rec.delivered("/slack").len()
            == 1)
        .await
    );
    let body = &s.rec.delivered("/slack")[0];
    assert_eq!(body["text"], "X on prod\ni1;");
    assert_eq!(body["blocks"][0]["text"]["text"], "*X on prod*");
    notifier.shutdown().await;
}

#[tokio::test]
async fn routing_matchers_continue_and_group_by() {
    let s = server().await;
    let b = &s.base;
    let mut root = route("default", &["alertname"]);
    let mut pager = route("pager", &["alertname"]);
    pager.matchers = vec![AlertMatcher::parse("severity=\"page\"").unwrap()];
    pager.continue_ = true;
    let mut team = route("team", &["alertname", "instance"]);
    team.matchers = vec![AlertMatcher::parse("team=~\"db|infra\"").unwrap()];
    let mut never = route("never", &["alertname"]);
    never.matchers = vec![AlertMatcher::parse("team=\"db\"").unwrap()];
    let mut all = route("all", &[]);
    all.group_by = GroupBy::All;
    all.matchers = vec![AlertMatcher::parse("everything=\"yes\"").unwrap()];
    root.routes = vec![pager, team, never, all];
    let n = notifications(
        root,
        vec![
            receiver("default", vec![webhook(&format!("{b}/default"), true, 0)]),
            receiver("pager", vec![webhook(&format!("{b}/pager"), true, 0)]),
            receiver("team", vec![webhook(&format!("{b}/team"), true, 0)]),
            receiver("never", vec![webhook(&format!("{b}/never"), true, 0)]),
            receiver("all", vec![webhook(&format!("{b}/all"), true, 0)]),
        ],
    );
    let (notifier, _) = start(&n);
    notifier.send(vec![
        // pager (continue) and team (stops before "never"); two instances → two team groups.
        firing(
            &[
                ("alertname", "DbDown"),
                ("severity", "page"),
                ("team", "db"),
                ("instance", "a"),
            ],
            &[],
        ),
        firing(
            &[
                ("alertname", "DbDown"),
                ("severity", "page"),
                ("team", "db"),
                ("instance", "b"),
            ],
            &[],
        ),
        // only the default route.
        firing(&[("alertname", "Info"), ("severity", "info")], &[]),
        // group_by ... : one group per label set.
        firing(
            &[("alertname", "E"), ("everything", "yes"), ("x", "1")],
            &[],
        ),
        firing(
            &[("alertname", "E"), ("everything", "yes"), ("x", "2")],
            &[],
        ),
    ]);
    assert!(
        wait_for(Duration::from_secs(5), || {
            s.rec.delivered("/pager").len() == 1
                && s.rec.delivered("/team").len() == 2
                && s.rec.delivered("/default").len() == 1
                && s.rec.delivered("/all").len() == 2
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(s.rec.requests("/never").is_empty());
    let pager = &s.rec.delivered("/pager")[0];
    assert_eq!(pager["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(
        pager["groupKey"],
        "{}/{severity=\"page\"}:{alertname=\"DbDown\"}"
    );
    let mut team_keys: Vec<String> = s
        .rec
        .delivered("/team")
        .iter()
        .map(|b| b["groupKey"].as_str().unwrap().to_string())
        .collect();
    team_keys.sort();
    assert_eq!(
        team_keys,
        [
            "{}/{team=~\"db|infra\"}:{alertname=\"DbDown\", instance=\"a\"}",
            "{}/{team=~\"db|infra\"}:{alertname=\"DbDown\", instance=\"b\"}"
        ]
    );
    let default = &s.rec.delivered("/default")[0];
    assert_eq!(default["alerts"][0]["labels"]["alertname"], "Info");
    assert_eq!(default["alerts"].as_array().unwrap().len(), 1);
    for body in s.rec.delivered("/all") {
        assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(body["groupLabels"]["everything"], "yes");
    }
    notifier.shutdown().await;
}

#[tokio::test]
async fn reload_keeps_alerts_and_does_not_repeat() {
    let s = server().await;
    let b = &s.base;
    let n = notifications(
        route("r", &["alertname"]),
        vec![receiver("r", vec![webhook(&format!("{b}/hook"), true, 0)])],
    );
    let (notifier, _) = start(&n);
    notifier.send(vec![firing(&[("alertname", "A")], &[])]);
    assert!(
        wait_for(Duration::from_secs(5), || s.rec.delivered("/hook").len()
            == 1)
        .await
    );
    // Reload with an extra receiver for alert B: the existing group `{}:{alertname="A"}`
    // keeps its notification log, so A is not notified again.
    let mut n2 = n.clone();
    n2.receivers.push(receiver(
        "extra",
        vec![webhook(&format!("{b}/extra"), true, 0)],
    ));
    let mut child = route("extra", &["alertname"]);
    child.matchers = vec![AlertMatcher::parse("alertname=\"B\"").unwrap()];
    n2.route.routes = vec![child];
    notifier.apply(&AlertingConfig::default(), Some(&n2));
    notifier.send(vec![firing(&[("alertname", "B")], &[])]);
    assert!(
        wait_for(Duration::from_secs(5), || s.rec.delivered("/extra").len()
            == 1)
        .await
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.rec.delivered("/hook").len(), 1, "no repeat after reload");
    assert_eq!(
        s.rec.delivered("/extra")[0]["alerts"][0]["labels"]["alertname"],
        "B"
    );
    // Removing the notifications section stops chat delivery.
    notifier.apply(&AlertingConfig::default(), None);
    notifier.send(vec![firing(&[("alertname", "C")], &[])]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.rec.requests("/hook").len(), 1);
    notifier.shutdown().await;
}
