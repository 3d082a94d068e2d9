//! Scrape features against a loopback server: content negotiation (OpenMetrics and text),
//! gzip, auth headers with secrets from files and the environment, params, target
//! relabeling into dropped targets, file_sd updates, and TLS (CA, server_name, client
//! certificates, insecure_skip_verify) against a real TLS server (`openssl s_server`).

mod common;

use common::{Reply, Request, Rig, serve};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OM_BODY: &[u8] = b"# TYPE om_requests counter\n# HELP om_requests Requests.\nom_requests_total{code=\"200\"} 10\nom_requests_created{code=\"200\"} 1700000000.5\n# TYPE om_info info\nom_info{version=\"1.2\"} 1\n# EOF\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_gzip_auth_and_params() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cr3t-token\n").unwrap();
    // SAFETY: set_var races only with concurrent environment access in this process; nextest
    // runs each test in its own process, and under `cargo test` the other tests of this file
    // build their clients with no_proxy and read no environment variables.
    unsafe { std::env::set_var("LOOKOUT_TEST_BASIC_PW", "pw-from-env") };
    let h: common::Handler = Arc::new(|r: &Request, _n: usize| {
        let accept = r.header("accept").unwrap_or("");
        match r.path.as_str() {
            "/om" if accept.starts_with("application/openmetrics-text;version=1.0.0") => {
                Reply::Full(
                    200,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    OM_BODY.to_vec(),
                )
            }
            "/om_no_eof" => Reply::Full(
                200,
                "application/openmetrics-text; version=1.0.0",
                b"x_total 1\n".to_vec(),
            ),
            "/gz"
                if r.header("accept-encoding")
                    .is_some_and(|v| v.contains("gzip")) =>
            {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(b"gz_metric{a=\"b\"} 7\n").unwrap();
                Reply::Gzip("text/plain; version=0.0.4", e.finish().unwrap())
            }
            "/bearer" if r.header("authorization") == Some("Bearer s3cr3t-token") => {
                Reply::Full(200, "text/plain", b"authed 1\n".to_vec())
            }
            // "user:pw-from-env" in base64.
            "/basic" if r.header("authorization") == Some("Basic dXNlcjpwdy1mcm9tLWVudg==") => {
                Reply::Full(200, "text/plain", b"authed 1\n".to_vec())
            }
            p if p.starts_with("/probe?") => {
                // Params arrive URL-encoded and sorted; relabeled __param_ overrides config.
                let body = format!("probe_query{{q=\"{}\"}} 1\n", &p[7..]).replace('"', "'");
                let body = format!("probe_ok{{}} 1\n# {body}");
                Reply::Full(200, "text/plain", body.into_bytes())
            }
            _ => Reply::Full(401, "text/plain", b"no".to_vec()),
        }
    });
    let addr = serve(h).await;
    let y = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 500ms
scrape_configs:
  - job_name: om
    metrics_path: /om
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: om_no_eof
    metrics_path: /om_no_eof
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: gz
    metrics_path: /gz
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: bearer
    metrics_path: /bearer
    authorization:
      credentials_file: {token}
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: basic
    metrics_path: /basic
    basic_auth:
      username: user
      password_env: LOOKOUT_TEST_BASIC_PW
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: probe
    metrics_path: /probe
    params:
      module: [http_2xx]
      target: [placeholder]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - target_label: __address__
        replacement: '{addr}'
    static_configs: [{{targets: ['example.com/a b']}}]
"#,
        token = token.display()
    );
    let rig = Rig::new(&y);
    rig.wait_scrapes(2, Duration::from_secs(20)).await;
    let health = |j: &str| {
        let t = rig.target(j).unwrap();
        let st = t.status.lock().clone();
        (st.health.as_str().to_string(), st.last_error)
    };
    for j in ["om", "gz", "bearer", "basic", "probe"] {
        let (h, e) = health(j);
        assert_eq!(h, "up", "{j}: {e}");
    }
    let (h, e) = health("om_no_eof");
    assert_eq!(h, "down");
    assert!(e.contains("EOF"), "{e}");

    let s = rig.select(&[("__name__", "om_requests_total")]);
    assert_eq!(s[0].samples.last().unwrap().1, 10.0);
    assert_eq!(rig.select(&[("__name__", "om_info")]).len(), 1);
    assert_eq!(
        rig.select(&[("__name__", "gz_metric")])[0]
            .samples
            .last()
            .unwrap()
            .1,
        7.0
    );
    // The probe URL carried both params, the relabeled target overriding the config's.
    let t = rig.target("probe").unwrap();
    assert_eq!(
        t.url,
        format!("http://{addr}/probe?module=http_2xx&target=example.com%2Fa+b")
    );
    assert_eq!(t.labels.get("instance"), Some(addr.to_string().as_str()));
    // Secrets never appear in a target's view.
    assert!(!format!("{:?}", rig.manager.targets().0).contains("s3cr3t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_relabeling_drops_and_file_sd_follows_changes() {
    let h: common::Handler =
        Arc::new(|_r: &Request, _n: usize| Reply::Full(200, "text/plain", b"fsd 1\n".to_vec()));
    let a = serve(h.clone()).await;
    let b = serve(h).await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("targets.json");
    std::fs::write(
        &f,
        format!(r#"[{{"targets": ["{a}"], "labels": {{"env": "prod"}}}}, {{"targets": ["{b}"], "labels": {{"env": "dev"}}}}]"#),
    )
    .unwrap();
    let y = format!(
        r#"scrape_configs:
  - job_name: fsd
    scrape_interval: 1s
    scrape_timeout: 500ms
    file_sd_configs:
      - files: ['{}/*.json']
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [env]
        regex: dev
        action: drop
"#,
        dir.path().display()
    );
    let cfg = lookout_config::load_str(&y, "t.yaml").unwrap();
    let rig = Rig::new("scrape_configs: []\n");
    rig.manager.apply_config(&cfg.scrape_configs);
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(lookout_collector::discovery::file::run(
        "fsd".into(),
        "file/0".into(),
        cfg.scrape_configs[0].file_sd_configs[0].clone(),
        tx,
        rig.telemetry.clone(),
        stop_rx,
    ));
    let u = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    rig.manager.update(u);
    let (active, dropped) = rig.manager.targets();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].labels.get("env"), Some("prod"));
    assert_eq!(
        active[0].discovered.get("__meta_filepath"),
        Some(f.display().to_string().as_str())
    );
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].discovered.get("env"), Some("dev"));

    // The file changes: the prod target moves to `b` (now labelled prod) — picked up by
    // the watcher well before the 1m refresh interval.
    std::fs::write(
        &f,
        format!(r#"[{{"targets": ["{b}"], "labels": {{"env": "prod"}}}}]"#),
    )
    .unwrap();
    let u = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    rig.manager.update(u);
    let (active, dropped) = rig.manager.targets();
    assert_eq!(active.len(), 1);
    assert_eq!(
        active[0].labels.get("instance"),
        Some(b.to_string().as_str())
    );
    assert!(dropped.is_empty());
    // A broken file keeps the previous targets and is counted.
    std::fs::write(&f, "[{\"targets\": [").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig
        .telemetry
        .file_sd_read_errors_total
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(Instant::now() < deadline, "parse error not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rx.try_recv().is_err(), "no update for a broken file");
    assert_eq!(rig.manager.targets().0.len(), 1);
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed (Debian package openssl)");
    assert!(st.success(), "openssl {args:?} failed");
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CA, a server certificate for `metrics.internal` signed by it, and a client certificate.
fn make_pki(dir: &std::path::Path) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
        dir,
    );
    for (name, cn) in [("server", "metrics.internal"), ("client", "scraper")] {
        openssl(
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
            dir,
        );
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("subjectAltName=DNS:{cn}\n"),
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
            dir,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_ca_server_name_and_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_pki(d);
    std::fs::write(d.join("metrics"), "tls_metric 1\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // -WWW serves files from the working directory; -Verify requires a client certificate.
    let _srv = Server(
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                "server.crt",
                "-key",
                "server.key",
                "-CAfile",
                "ca.crt",
                "-Verify",
                "1",
                "-WWW",
                "-quiet",
            ])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let p = |f: &str| d.join(f).display().to_string();
    let y = format!(
        r#"global: {{scrape_interval: 1s, scrape_timeout: 900ms}}
scrape_configs:
  - job_name: tls_ok
    scheme: https
    tls_config: {{ca_file: '{ca}', cert_file: '{cc}', key_file: '{ck}', server_name: metrics.internal}}
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
  - job_name: tls_wrong_name
    scheme: https
    tls_config: {{ca_file: '{ca}', cert_file: '{cc}', key_file: '{ck}'}}
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
  - job_name: tls_insecure
    scheme: https
    tls_config: {{insecure_skip_verify: true, cert_file: '{cc}', key_file: '{ck}'}}
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
  - job_name: tls_no_client_cert
    scheme: https
    tls_config: {{ca_file: '{ca}', server_name: metrics.internal}}
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"#,
        ca = p("ca.crt"),
        cc = p("client.crt"),
        ck = p("client.key"),
    );
    let rig = Rig::new(&y);
    rig.wait_scrapes(2, Duration::from_secs(30)).await;
    let st = |j: &str| rig.target(j).unwrap().status.lock().clone();
    assert_eq!(
        st("tls_ok").health.as_str(),
        "up",
        "{}",
        st("tls_ok").last_error
    );
    assert_eq!(
        st("tls_insecure").health.as_str(),
        "up",
        "{}",
        st("tls_insecure").last_error
    );
    assert_eq!(st("tls_wrong_name").health.as_str(), "down");
    assert_eq!(st("tls_no_client_cert").health.as_str(), "down");
    assert_eq!(
        rig.select(&[("__name__", "tls_metric"), ("job", "tls_ok")])[0]
            .labels
            .get("instance"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
}
