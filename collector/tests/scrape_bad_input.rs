//! Targets that misbehave: each is marked down with the reason in its status and in
//! self-metrics, while a good target beside them is unaffected. Nothing panics, memory stays
//! bounded (bodies are cut at the limit, hanging servers are cut at the timeout).

mod common;

use common::{Reply, Rig, serve};
use lookout_collector::telemetry::FailReason;
use std::sync::Arc;
use std::time::Duration;

fn good_body() -> Vec<u8> {
    b"# HELP good_total A good counter.\n# TYPE good_total counter\ngood_total{path=\"/\"} 17\ngood_gauge 3.5\n".to_vec()
}

fn handler() -> common::Handler {
    Arc::new(|req: &common::Request, _n: usize| match req.path.as_str() {
        "/good" => Reply::Full(200, "text/plain; version=0.0.4", good_body()),
        "/garbage" => Reply::Full(
            200,
            "text/plain",
            b"<html>this is {{ not metrics</html>\n".to_vec(),
        ),
        "/big" => Reply::Full(
            200,
            "text/plain",
            (0..500)
                .map(|i| format!("big_metric{{i=\"{i}\"}} {i}\n"))
                .collect::<String>()
                .into_bytes(),
        ),
        "/badutf8" => Reply::Full(200, "text/plain", b"m{l=\"\xff\xfe\"} 1\n".to_vec()),
        "/dup" => Reply::Full(
            200,
            "text/plain",
            b"dup_metric{a=\"1\"} 1\ndup_metric{a=\"1\"} 2\n".to_vec(),
        ),
        "/hugelabel" => {
            let mut b = b"huge{l=\"".to_vec();
            b.extend(std::iter::repeat_n(b'x', 100 * 1024));
            b.extend_from_slice(b"\"} 1\n");
            Reply::Full(200, "text/plain", b)
        }
        "/hang" => Reply::Hang,
        "/redirect" => Reply::Redirect("/redirect".into()),
        "/endless" => Reply::Endless,
        "/samplelimit" => Reply::Full(
            200,
            "text/plain",
            (0..10)
                .map(|i| format!("many{{i=\"{i}\"}} {i}\n"))
                .collect::<String>()
                .into_bytes(),
        ),
        "/status500" => Reply::Full(500, "text/plain", b"boom".to_vec()),
        _ => Reply::Full(404, "text/plain", b"not found".to_vec()),
    })
}

fn job(name: &str, addr: &std::net::SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "  - job_name: {name}\n    scrape_interval: 1s\n    scrape_timeout: 500ms\n    metrics_path: {path}\n{extra}    static_configs:\n      - targets: ['{addr}']\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_target_is_down_with_its_reason_and_the_good_one_is_up() {
    let addr = serve(handler()).await;
    let mut y = String::from("scrape_configs:\n");
    y += &job("good", &addr, "/good", "");
    y += &job("garbage", &addr, "/garbage", "");
    y += &job("big", &addr, "/big", "    body_size_limit: 1KB\n");
    y += &job("badutf8", &addr, "/badutf8", "");
    y += &job("dup", &addr, "/dup", "");
    y += &job(
        "hugelabel",
        &addr,
        "/hugelabel",
        "    label_value_length_limit: 1000\n",
    );
    y += &job("hugelabel_nolimit", &addr, "/hugelabel", "");
    y += &job("hang", &addr, "/hang", "");
    y += &job("redirect", &addr, "/redirect", "");
    y += &job("endless", &addr, "/endless", "    body_size_limit: 64KB\n");
    y += &job(
        "samplelimit",
        &addr,
        "/samplelimit",
        "    sample_limit: 5\n",
    );
    y += &job("status500", &addr, "/status500", "");
    let rig = Rig::new(&y);
    rig.wait_scrapes(2, Duration::from_secs(20)).await;

    let expect_down = [
        ("garbage", "line 1"),
        ("big", "body size limit exceeded"),
        ("badutf8", "UTF-8"),
        ("dup", "duplicate series"),
        ("hugelabel", "label_value_length_limit exceeded"),
        ("hang", "timeout"),
        ("redirect", "redirect"),
        ("endless", "body size limit exceeded"),
        ("samplelimit", "sample limit exceeded"),
        ("status500", "500"),
    ];
    for (j, reason) in expect_down {
        let t = rig.target(j).unwrap_or_else(|| panic!("no target for {j}"));
        let st = t.status.lock().clone();
        assert_eq!(st.health.as_str(), "down", "{j} should be down");
        assert!(
            st.last_error.contains(reason),
            "{j}: error {:?} should mention {reason:?}",
            st.last_error
        );
        assert_eq!(rig.up(j), Some(0.0), "{j}: up should be 0");
    }
    for j in ["good", "hugelabel_nolimit"] {
        let t = rig.target(j).unwrap();
        let st = t.status.lock().clone();
        assert_eq!(st.health.as_str(), "up", "{j}: {}", st.last_error);
        assert_eq!(rig.up(j), Some(1.0));
    }
    // The good target's samples are all there, with target labels.
    let s = rig.select(&[("__name__", "good_total")]);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels.get("job"), Some("good"));
    assert_eq!(s[0].labels.get("instance"), Some(addr.to_string().as_str()));
    assert_eq!(s[0].labels.get("path"), Some("/"));
    assert_eq!(s[0].samples.last().unwrap().1, 17.0);
    // Nothing of a failed scrape was stored.
    assert!(rig.select(&[("__name__", "many")]).is_empty());
    assert!(rig.select(&[("__name__", "dup_metric")]).is_empty());
    assert!(rig.select(&[("__name__", "endless_metric")]).is_empty());
    // Self-metrics count each reason.
    let tel = &rig.telemetry;
    for r in [
        FailReason::Parse,
        FailReason::BodyLimit,
        FailReason::Duplicate,
        FailReason::LabelLimit,
        FailReason::Timeout,
        FailReason::SampleLimit,
        FailReason::HttpStatus,
    ] {
        assert!(tel.failures(r) > 0, "no failure counted for {}", r.as_str());
    }
    let text = tel.render(&[]);
    assert!(text.contains("lookout_scrape_failures_total{reason=\"sample_limit\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_leaving_a_scrape_and_failed_scrapes_get_staleness_markers() {
    // First scrape: a and b. Second: only a. Third onwards: garbage.
    let h: common::Handler = Arc::new(|_r: &common::Request, n: usize| match n {
        1 => Reply::Full(200, "text/plain", b"a 1\nb 2\n".to_vec()),
        2 => Reply::Full(200, "text/plain", b"a 1\n".to_vec()),
        _ => Reply::Full(200, "text/plain", b"a{ 1\n".to_vec()),
    });
    let addr = serve(h).await;
    let rig = Rig::new(&format!("scrape_configs:\n{}", job("s", &addr, "/m", "")));
    rig.wait_scrapes(3, Duration::from_secs(20)).await;
    let b = rig.select(&[("__name__", "b")]);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].samples.len(), 2, "{:?}", b[0].samples);
    assert!(lookout_store::is_stale_nan(b[0].samples[1].1));
    let a = rig.select(&[("__name__", "a")]);
    assert_eq!(a[0].samples.len(), 3, "{:?}", a[0].samples);
    assert_eq!(a[0].samples[1].1, 1.0);
    assert!(lookout_store::is_stale_nan(a[0].samples[2].1));
    // A stale series stays stale (no second marker) while the target keeps failing.
    rig.wait_scrapes(4, Duration::from_secs(20)).await;
    assert_eq!(rig.select(&[("__name__", "a")])[0].samples.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_and_exported_prefix_and_honor_timestamps() {
    let h: common::Handler = Arc::new(|_r: &common::Request, _n: usize| {
        Reply::Full(
            200,
            "text/plain",
            b"m{job=\"inner\",instance=\"x\"} 1\nts_metric 5 1000\n".to_vec(),
        )
    });
    let addr = serve(h).await;
    let y = format!(
        "scrape_configs:\n{}{}",
        job("plain", &addr, "/m", ""),
        job(
            "honor",
            &addr,
            "/m",
            "    honor_labels: true\n    honor_timestamps: false\n"
        )
    );
    let rig = Rig::new(&y);
    rig.wait_scrapes(1, Duration::from_secs(20)).await;
    let s = rig.select(&[("__name__", "m"), ("job", "plain")]);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels.get("exported_job"), Some("inner"));
    assert_eq!(s[0].labels.get("exported_instance"), Some("x"));
    let s = rig.select(&[("__name__", "m"), ("job", "inner")]);
    assert_eq!(s.len(), 1, "honor_labels keeps the scraped job");
    assert_eq!(s[0].labels.get("instance"), Some("x"));
    // honor_timestamps: true (default) keeps the exposed 1000 ms; false uses scrape time.
    let plain = rig.select(&[("__name__", "ts_metric"), ("job", "plain")]);
    assert_eq!(plain[0].samples[0].0, 1000);
    let honor = rig.select(&[("__name__", "ts_metric"), ("job", "inner")]);
    assert!(honor.is_empty());
    let honor = rig.select(&[("__name__", "ts_metric"), ("job", "honor")]);
    assert!(honor[0].samples[0].0 > 1_600_000_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_the_store_refuses_are_counted_and_the_scrape_goes_on() {
    // Exposed timestamps: the first scrape at t=5000, later scrapes go back in time for `b`
    // (out of order) and change `c`'s value at the same timestamp (conflicting duplicate).
    let h: common::Handler = Arc::new(|_r: &common::Request, n: usize| match n {
        1 => Reply::Full(200, "text/plain", b"a 1\nb 1 5000\nc 1 5000\n".to_vec()),
        _ => Reply::Full(200, "text/plain", b"a 2\nb 2 4000\nc 2 5000\n".to_vec()),
    });
    let addr = serve(h).await;
    let rig = Rig::new(&format!("scrape_configs:\n{}", job("ts", &addr, "/m", "")));
    rig.wait_scrapes(2, Duration::from_secs(20)).await;
    let t = rig.target("ts").unwrap();
    assert_eq!(
        t.status.lock().health.as_str(),
        "up",
        "{}",
        t.status.lock().last_error
    );
    assert_eq!(
        rig.select(&[("__name__", "a")])[0]
            .samples
            .last()
            .unwrap()
            .1,
        2.0
    );
    assert_eq!(
        rig.select(&[("__name__", "b")])[0].samples,
        vec![(5000, 1.0)]
    );
    assert_eq!(
        rig.select(&[("__name__", "c")])[0].samples,
        vec![(5000, 1.0)]
    );
    assert!(
        rig.telemetry
            .samples_out_of_order_total
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
}
