//! What loading produces: defaults, inheritance from `global`, resolved paths and secrets,
//! equality for reloads, and secrets kept out of Debug output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lookout_config::{
    DEFAULT_CONFIG_YAML, Error, Scheme, SecretSource, TlsVersion, default_config, load_file,
    load_str,
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const MB: u64 = 1 << 20;
const GB: u64 = 1 << 30;

fn full() -> lookout_config::Config {
    load_file(Path::new("testdata/prometheus_full.good.yaml")).expect("full config loads")
}

#[test]
fn embedded_default_is_valid_and_substitutes_the_self_scrape_address() {
    let cfg = load_str(DEFAULT_CONFIG_YAML, "default.yaml").expect("embedded default");
    assert_eq!(cfg.global.scrape_interval, secs(15));
    assert_eq!(cfg.global.scrape_timeout, secs(10));
    let job = cfg.job("lookout").expect("self-scrape job");
    assert_eq!(job.static_configs[0].targets, vec!["127.0.0.1:9470"]);
    assert_eq!(job.metrics_path, "/metrics");

    let cfg = default_config("0.0.0.0:19470");
    let job = cfg.job("lookout").expect("self-scrape job");
    assert_eq!(job.static_configs[0].targets, vec!["0.0.0.0:19470"]);
    assert_eq!(cfg.scrape_configs.len(), 1);
    assert_eq!(cfg.source, None);
    assert_eq!(cfg.storage.tsdb.retention_time, secs(15 * 24 * 3600));

    // The file on disk is the one embedded.
    let on_disk = load_file(Path::new("default.yaml")).expect("default.yaml loads");
    assert_eq!(
        on_disk.scrape_configs,
        load_str(DEFAULT_CONFIG_YAML, "x")
            .expect("x")
            .scrape_configs
    );
}

#[test]
fn empty_file_means_prometheus_defaults() {
    let cfg = load_file(Path::new("testdata/empty.good.yaml")).expect("empty");
    assert_eq!(cfg.global.scrape_interval, secs(60));
    assert_eq!(cfg.global.scrape_timeout, secs(10));
    assert_eq!(cfg.global.evaluation_interval, secs(60));
    assert!(cfg.scrape_configs.is_empty());
    assert!(cfg.rule_files.is_empty());
    assert_eq!(cfg.storage.tsdb.retention_time, secs(15 * 24 * 3600));
    assert_eq!(cfg.storage.tsdb.retention_size, 0);
    assert_eq!(cfg.source, Some(PathBuf::from("testdata/empty.good.yaml")));
    let cfg = load_str("", "empty").expect("empty string");
    assert!(cfg.scrape_configs.is_empty());
}

#[test]
fn global_section_and_inheritance() {
    let cfg = full();
    assert_eq!(
        cfg.global.external_labels,
        vec![
            ("cluster".to_string(), "prod".to_string()),
            ("region".to_string(), "eu-west-1".to_string())
        ]
    );
    let prom = cfg.job("prometheus").expect("prometheus job");
    assert_eq!(prom.scrape_interval, secs(30));
    assert_eq!(prom.scrape_timeout, secs(20));
    assert_eq!(prom.sample_limit, 100_000);
    assert_eq!(prom.label_limit, 64);
    assert_eq!(prom.label_name_length_limit, 256);
    assert_eq!(prom.label_value_length_limit, 4096);
    assert_eq!(prom.body_size_limit, 50 * MB);
    assert_eq!(prom.scheme, Scheme::Http);
    assert!(prom.honor_timestamps);
    assert!(!prom.honor_labels);
    assert!(prom.http.follow_redirects);
    assert!(prom.http.enable_http2);

    // Job interval below the global timeout: the inherited timeout is capped.
    let node = cfg.job("node").expect("node job");
    assert_eq!(node.scrape_interval, secs(15));
    assert_eq!(node.scrape_timeout, secs(15));
    let api = cfg.job("api").expect("api job");
    assert_eq!(
        (api.scrape_interval, api.scrape_timeout),
        (secs(30), secs(5))
    );
}

#[test]
fn timeout_defaulting_matches_prometheus() {
    let cfg = load_file(Path::new("testdata/timeouts.good.yaml")).expect("timeouts");
    assert_eq!(cfg.global.scrape_timeout, secs(5));
    let pairs: Vec<(&str, Duration, Duration)> = cfg
        .scrape_configs
        .iter()
        .map(|j| (j.job_name.as_str(), j.scrape_interval, j.scrape_timeout))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("inherits", secs(5), secs(5)),
            ("longer-interval", secs(60), secs(5)),
            ("shorter-interval", secs(2), secs(2)),
            ("equal", secs(10), secs(10)),
        ]
    );
}

#[test]
fn job_fields_are_carried_over() {
    let cfg = full();
    let node = cfg.job("node").expect("node");
    assert_eq!(node.metrics_path, "/probe/metrics");
    assert_eq!(node.scheme, Scheme::Https);
    assert!(node.honor_labels);
    assert!(!node.honor_timestamps);
    assert_eq!(node.params["module"], vec!["node", "extra"]);
    assert_eq!(node.params["format"], vec!["prometheus"]);
    assert_eq!(
        (
            node.sample_limit,
            node.label_limit,
            node.label_name_length_limit,
            node.label_value_length_limit
        ),
        (5000, 30, 100, 1000)
    );
    assert_eq!(node.body_size_limit, 10 * MB);
    assert!(!node.http.follow_redirects);
    assert!(!node.http.enable_http2);
    assert_eq!(
        node.http.proxy_url.as_deref(),
        Some("http://proxyuser:proxy-secret-pw@proxy.internal:3128")
    );
    assert_eq!(node.static_configs.len(), 2);
    assert_eq!(
        node.static_configs[0].targets,
        vec![
            "node-1.internal:9100",
            "10.0.0.12:9100",
            "[2001:db8::7]:9100"
        ]
    );
    assert_eq!(node.static_configs[0].labels["env"], "prod");
    assert_eq!(node.static_configs[0].labels["__scheme__"], "https");
    assert_eq!(node.static_configs[1].targets, vec!["node-9.internal"]);
    assert_eq!(node.relabel_configs.len(), 3);
    assert_eq!(node.relabel_configs[0].target_label, "host");
    assert_eq!(node.metric_relabel_configs.len(), 1);

    let sd = &node.file_sd_configs;
    assert_eq!(sd.len(), 2);
    assert_eq!(
        sd[0].files,
        vec!["testdata/targets/*.json", "/etc/prometheus/targets/*.yml"]
    );
    assert_eq!(sd[0].refresh_interval, secs(60));
    assert_eq!(sd[1].files, vec!["testdata/more.yaml"]);
    assert_eq!(sd[1].refresh_interval, secs(300));

    assert_eq!(
        cfg.rule_files,
        vec!["testdata/rules/*.yml", "/etc/prometheus/alerts.yml"]
    );
    assert_eq!(cfg.storage.tsdb.out_of_order_time_window, secs(600));
    assert_eq!(cfg.storage.tsdb.retention_time, secs(30 * 24 * 3600));
    assert_eq!(cfg.storage.tsdb.retention_size, 100 * GB);
    assert_eq!(cfg.storage.tsdb.wal_fsync_interval, None);
    assert_eq!(cfg.storage.tsdb.block_duration, secs(2 * 3600));
}

#[test]
fn storage_extensions_load() {
    let cfg = load_file(Path::new("testdata/storage_extensions.good.yaml")).expect("load");
    assert_eq!(cfg.storage.tsdb.block_duration, secs(3 * 3600));
    assert_eq!(cfg.storage.tsdb.out_of_order_time_window, secs(90 * 60));
    assert_eq!(
        cfg.storage.tsdb.wal_fsync_interval,
        Some(Duration::from_millis(250))
    );
}

#[test]
fn secrets_resolve_from_inline_files_and_env() {
    let cfg = full();
    let node = cfg.job("node").expect("node");
    let ba = node.http.basic_auth.as_ref().expect("basic_auth");
    assert_eq!(ba.username.resolve().expect("username").expose(), "admin");
    let pw = ba.password.as_ref().expect("password");
    assert_eq!(
        pw,
        &SecretSource::File(PathBuf::from("testdata/secrets/password.txt"))
    );
    assert_eq!(
        pw.resolve().expect("password file").expose(),
        "file-password-123"
    );

    let tls = &node.http.tls_config;
    assert_eq!(
        tls.ca,
        Some(SecretSource::File("testdata/secrets/ca.pem".into()))
    );
    assert!(
        tls.cert
            .as_ref()
            .expect("cert")
            .resolve()
            .expect("cert")
            .expose()
            .contains("TESTCLIENT")
    );
    assert!(
        tls.key
            .as_ref()
            .expect("key")
            .resolve()
            .expect("key")
            .expose()
            .contains("TESTKEY")
    );
    assert_eq!(tls.server_name.as_deref(), Some("node.internal"));
    assert!(!tls.insecure_skip_verify);
    assert_eq!(
        (tls.min_version, tls.max_version),
        (Some(TlsVersion::Tls12), Some(TlsVersion::Tls13))
    );

    let api = cfg.job("api").expect("api");
    let auth = api.http.authorization.as_ref().expect("authorization");
    assert_eq!(auth.type_, "Bearer");
    let cred = auth
        .credentials
        .as_ref()
        .expect("credentials")
        .resolve()
        .expect("inline");
    assert_eq!(cred.expose(), "inline-bearer-credential-xyz");
    let ca = api
        .http
        .tls_config
        .ca
        .as_ref()
        .expect("inline ca")
        .resolve()
        .expect("ca");
    assert!(ca.expose().contains("INLINECA"));

    let legacy = cfg.job("legacy-token").expect("legacy");
    let token = legacy
        .http
        .bearer_token
        .as_ref()
        .expect("bearer_token_file");
    assert_eq!(token.resolve().expect("token").expose(), "file-token-456");
    assert!(legacy.http.authorization.is_none());

    let basic = cfg.job("basic-inline").expect("basic-inline");
    let ba = basic.http.basic_auth.as_ref().expect("basic_auth");
    assert_eq!(
        ba.username.resolve().expect("username file").expose(),
        "admin"
    );

    let env = load_file(Path::new("testdata/env_secrets.good.yaml")).expect("env secrets");
    let path_value = std::env::var("PATH").expect("PATH set");
    let pw = env
        .job("env-basic")
        .and_then(|j| j.http.basic_auth.as_ref())
        .and_then(|b| b.password.as_ref());
    assert_eq!(pw, Some(&SecretSource::Env("PATH".into())));
    assert_eq!(
        pw.map(|p| p.resolve().expect("env").expose().to_string()),
        Some(path_value)
    );
}

#[test]
fn debug_output_never_contains_secret_values() {
    let cfg = full();
    let secrets = [
        "inline-bearer-credential-xyz",
        "inline-legacy-bearer-abc",
        "inline-basic-password-777",
        "inline-private-key-material",
        "proxy-secret-pw",
        "file-password-123",
        "file-token-456",
    ];
    for text in [format!("{cfg:?}"), format!("{cfg:#?}")] {
        for s in secrets {
            assert!(!text.contains(s), "Debug output leaks {s}");
        }
        assert!(text.contains("<secret>"), "secrets are shown as <secret>");
        // Non-secret settings stay visible for debugging.
        assert!(text.contains("proxy.internal:3128"));
        assert!(text.contains("password.txt"));
    }
}

#[test]
fn reload_equality_tells_changed_jobs_apart() {
    assert_eq!(full(), full());

    // Two versions of the file side by side (same directory, so relative paths resolve
    // alike), differing in one job's inline password.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("secrets")).expect("mkdir");
    for f in std::fs::read_dir("testdata/secrets").expect("secrets") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), dir.path().join("secrets").join(f.file_name())).expect("copy");
    }
    let text = std::fs::read_to_string("testdata/prometheus_full.good.yaml").expect("read");
    let changed = text.replace("inline-basic-password-777", "inline-basic-password-778");
    assert_ne!(text, changed);
    std::fs::write(dir.path().join("a.yaml"), &text).expect("write a");
    std::fs::write(dir.path().join("b.yaml"), &changed).expect("write b");
    let a = load_file(&dir.path().join("a.yaml")).expect("a loads");
    let b = load_file(&dir.path().join("b.yaml")).expect("b loads");
    assert_ne!(a, b);
    assert_eq!(a.global, b.global);
    assert_eq!(a.scrape_configs.len(), b.scrape_configs.len());
    for (x, y) in a.scrape_configs.iter().zip(&b.scrape_configs) {
        if x.job_name == "basic-inline" {
            assert_ne!(x, y, "a changed inline password makes the job differ");
        } else {
            assert_eq!(x, y, "job {} should be unchanged", x.job_name);
        }
    }
}

#[test]
fn load_str_names_its_origin_and_load_file_reports_missing_files() {
    let e = load_str(
        "scrape_configs:\n  - job_name: a\n    scheme: gopher\n",
        "inline.yaml",
    )
    .expect_err("bad scheme");
    assert_eq!(e.position(), Some((3, 13)));
    assert!(
        e.to_string()
            .starts_with("inline.yaml:3:13: scrape_configs[0].scheme: "),
        "{e}"
    );

    let e = load_file(Path::new("testdata/does-not-exist.yaml")).expect_err("missing");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("does-not-exist.yaml"), "{e}");
}

#[test]
fn relabeled_jobs_accept_url_targets() {
    let cfg = load_file(Path::new("testdata/blackbox.good.yaml")).expect("blackbox");
    let job = cfg.job("blackbox").expect("job");
    assert_eq!(job.static_configs[0].targets[0], "https://prometheus.io");
    assert_eq!(job.params["module"], vec!["http_2xx"]);
    let cfg = load_file(Path::new("testdata/getting_started.good.yaml")).expect("getting started");
    let job = cfg.job("prometheus").expect("job");
    assert_eq!(job.static_configs[0].labels["app"], "prometheus");
    assert!(cfg.rule_files.is_empty());
}

#[test]
fn empty_sections_count_as_unset() {
    // go-yaml (Prometheus) treats `key:` with nothing after it as the zero value; so do we.
    let yaml = "\
global:
  external_labels:
rule_files:
scrape_configs:
  - job_name: a
    params:
    basic_auth:
    tls_config:
    static_configs:
      - targets:
        labels:
    relabel_configs:
    metric_relabel_configs:
    file_sd_configs:
storage:
  tsdb:
";
    let cfg = load_str(yaml, "nulls.yaml").expect("null sections load");
    let job = cfg.job("a").expect("job");
    assert!(job.params.is_empty());
    assert!(job.http.basic_auth.is_none());
    assert_eq!(job.http.tls_config, lookout_config::TlsConfig::default());
    assert_eq!(job.static_configs.len(), 1);
    assert!(job.static_configs[0].targets.is_empty());
    assert!(job.relabel_configs.is_empty());
    assert!(cfg.global.external_labels.is_empty());
    assert_eq!(cfg.storage, lookout_config::StorageConfig::default());
}
