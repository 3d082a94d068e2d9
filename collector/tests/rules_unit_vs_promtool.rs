//! `lookout test rules` agrees with `promtool test rules` (Debian's prometheus package) on
//! the same rule unit tests: cases that should pass pass in both, cases with wrong
//! expectations fail in both. promtool must be installed (CI installs it); a missing
//! promtool fails this test.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lookout");

/// (name, should pass, test group YAML under `tests:`)
const CASES: &[(&str, bool, &str)] = &[
    (
        "instance_down_fires_after_for",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '1 0x10'
    alert_rule_test:
      - eval_time: 7m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: node, instance: 'a:9100'}
            exp_annotations:
              summary: 'Instance a:9100 down'
              description: 'a:9100 of job node has been down for more than 5 minutes.'
"#,
    ),
    (
        "instance_down_pending_not_firing",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '1 0x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: InstanceDown
        exp_alerts: []
"#,
    ),
    (
        "instance_down_wrong_expectation_fails",
        false,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '1 0x10'
    alert_rule_test:
      - eval_time: 3m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: node, instance: 'a:9100'}
"#,
    ),
    (
        "instance_down_wrong_annotation_fails",
        false,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 8m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: node, instance: 'a:9100'}
            exp_annotations:
              summary: 'Instance a:9100 is down'
              description: 'a:9100 of job node has been down for more than 5 minutes.'
"#,
    ),
    (
        "instance_down_two_instances",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '0x10'
      - series: 'up{job="node", instance="b:9100"}'
        values: '0x10'
      - series: 'up{job="node", instance="c:9100"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 10m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: node, instance: 'a:9100'}
            exp_annotations: {summary: 'Instance a:9100 down', description: 'a:9100 of job node has been down for more than 5 minutes.'}
          - exp_labels: {severity: page, job: node, instance: 'b:9100'}
            exp_annotations: {summary: 'Instance b:9100 down', description: 'b:9100 of job node has been down for more than 5 minutes.'}
"#,
    ),
    (
        "instance_recovers",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '0x7 1x5'
    alert_rule_test:
      - eval_time: 6m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: node, instance: 'a:9100'}
            exp_annotations: {summary: 'Instance a:9100 down', description: 'a:9100 of job node has been down for more than 5 minutes.'}
      - eval_time: 10m
        alertname: InstanceDown
        exp_alerts: []
"#,
    ),
    (
        "flapping",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '1 0 1 0 1 1 1'
    alert_rule_test:
      - eval_time: 5m
        alertname: Flapping
        exp_alerts:
          - exp_labels: {job: node, instance: 'a:9100'}
            exp_annotations: {summary: 'a:9100 changed 4 times'}
"#,
    ),
    (
        "flapping_wrong_count_fails",
        false,
        r#"
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a:9100"}'
        values: '1 0 1 0 1 1 1'
    alert_rule_test:
      - eval_time: 5m
        alertname: Flapping
        exp_alerts:
          - exp_labels: {job: node, instance: 'a:9100'}
            exp_annotations: {summary: 'a:9100 changed 3 times'}
"#,
    ),
    (
        "keep_firing_for_holds",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'trigger'
        values: '1 1 0 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 3m
        alertname: KeepFiring
        exp_alerts:
          - exp_labels: {}
      - eval_time: 7m
        alertname: KeepFiring
        exp_alerts: []
"#,
    ),
    (
        "recording_rule_rate",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'http_requests_total{job="api", instance="1"}'
        values: '0+60x10'
      - series: 'http_requests_total{job="api", instance="2"}'
        values: '0+120x10'
    promql_expr_test:
      - expr: job:http_requests:rate5m
        eval_time: 10m
        exp_samples:
          - labels: 'job:http_requests:rate5m{job="api"}'
            value: 3
"#,
    ),
    (
        "recording_rule_wrong_value_fails",
        false,
        r#"
  - interval: 1m
    input_series:
      - series: 'http_requests_total{job="api", instance="1"}'
        values: '0+60x10'
    promql_expr_test:
      - expr: job:http_requests:rate5m
        eval_time: 10m
        exp_samples:
          - labels: 'job:http_requests:rate5m{job="api"}'
            value: 2
"#,
    ),
    (
        "high_error_rate_uses_recorded_series",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'http_requests_total{job="api"}'
        values: '0+100x15'
      - series: 'http_errors_total{job="api"}'
        values: '0+25x15'
    alert_rule_test:
      - eval_time: 12m
        alertname: HighErrorRate
        exp_alerts:
          - exp_labels: {severity: warn, job: api}
            exp_annotations: {summary: 'error ratio 25% on api'}
"#,
    ),
    (
        "low_error_rate_no_alert",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'http_requests_total{job="api"}'
        values: '0+100x15'
      - series: 'http_errors_total{job="api"}'
        values: '0+5x15'
    alert_rule_test:
      - eval_time: 12m
        alertname: HighErrorRate
        exp_alerts: []
"#,
    ),
    (
        "disk_full_percentage",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'node_filesystem_avail_bytes{mountpoint="/data"}'
        values: '5x5'
      - series: 'node_filesystem_size_bytes{mountpoint="/data"}'
        values: '100x5'
    alert_rule_test:
      - eval_time: 2m
        alertname: DiskFull
        exp_alerts:
          - exp_labels: {severity: critical, mountpoint: /data}
            exp_annotations: {summary: '/data has 5% left'}
"#,
    ),
    (
        "disk_not_full",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'node_filesystem_avail_bytes{mountpoint="/data"}'
        values: '50x5'
      - series: 'node_filesystem_size_bytes{mountpoint="/data"}'
        values: '100x5'
    alert_rule_test:
      - eval_time: 2m
        alertname: DiskFull
        exp_alerts: []
"#,
    ),
    (
        "memory_humanize1024",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'mem_used_bytes{instance="m1"}'
        values: '2147483648x5'
    alert_rule_test:
      - eval_time: 3m
        alertname: MemoryHigh
        exp_alerts:
          - exp_labels: {instance: m1}
            exp_annotations: {summary: '2GiB used on m1'}
"#,
    ),
    (
        "memory_wrong_humanize_fails",
        false,
        r#"
  - interval: 1m
    input_series:
      - series: 'mem_used_bytes{instance="m1"}'
        values: '2147483648x5'
    alert_rule_test:
      - eval_time: 3m
        alertname: MemoryHigh
        exp_alerts:
          - exp_labels: {instance: m1}
            exp_annotations: {summary: '2.147GB used on m1'}
"#,
    ),
    (
        "uptime_humanize_duration",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'process_start_time_seconds{job="x"}'
        values: '-7200x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: LongUptime
        exp_alerts:
          - exp_labels: {job: x}
            exp_annotations: {summary: 'up for 2h 5m 0s'}
"#,
    ),
    (
        "many_requests_printf_and_humanize",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'http_requests_total{job="big"}'
        values: '0+90000x10'
    alert_rule_test:
      - eval_time: 10m
        alertname: ManyRequests
        exp_alerts:
          - exp_labels: {job: big}
            exp_annotations: {summary: '1500.0 req/s (1.5k)'}
"#,
    ),
    (
        "missing_values_and_staleness",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'g{a="1"}'
        values: '1 _ 3 stale 5'
    promql_expr_test:
      - expr: g
        eval_time: 1m
        exp_samples:
          - labels: 'g{a="1"}'
            value: 1
      - expr: g
        eval_time: 3m
        exp_samples: []
      - expr: g
        eval_time: 4m
        exp_samples:
          - labels: 'g{a="1"}'
            value: 5
"#,
    ),
    (
        "expr_test_aggregation",
        true,
        r#"
  - interval: 1m
    input_series:
      - series: 'x{i="1", g="a"}'
        values: '1x3'
      - series: 'x{i="2", g="a"}'
        values: '2x3'
      - series: 'x{i="3", g="b"}'
        values: '4x3'
    promql_expr_test:
      - expr: sum by (g) (x)
        eval_time: 2m
        exp_samples:
          - labels: '{g="a"}'
            value: 3
          - labels: '{g="b"}'
            value: 4
"#,
    ),
    (
        "expr_test_missing_sample_fails",
        false,
        r#"
  - interval: 1m
    input_series:
      - series: 'x{i="1"}'
        values: '1x3'
    promql_expr_test:
      - expr: x
        eval_time: 2m
        exp_samples:
          - labels: 'x{i="1"}'
            value: 1
          - labels: 'x{i="2"}'
            value: 1
"#,
    ),
    (
        "external_labels_in_templates",
        true,
        r#"
  - interval: 1m
    external_labels:
      cluster: prod
    input_series:
      - series: 'up{job="node", instance="z:1"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 6m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: node, instance: 'z:1'}
            exp_annotations: {summary: 'Instance z:1 down', description: 'z:1 of job node has been down for more than 5 minutes.'}
"#,
    ),
];

fn promtool() -> String {
    let p = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let ok = Command::new(&p)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "promtool not found ({p}): install Debian's prometheus package (CI does)"
    );
    p
}

fn passes(cmd: &str, args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .arg(file)
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn lookout_and_promtool_agree_on_rule_unit_tests() {
    let promtool = promtool();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/unit_rules.yaml"),
        dir.path().join("rules.yaml"),
    )
    .unwrap();
    // The rule file itself passes both checkers.
    let rules = dir.path().join("rules.yaml");
    assert!(passes(&promtool, &["check", "rules"], &rules).0);
    assert!(passes(BIN, &["check", "rules"], &rules).0);
    let mut disagreements = Vec::new();
    for (name, should_pass, body) in CASES {
        let f = dir.path().join(format!("{name}.test.yaml"));
        std::fs::write(
            &f,
            format!("rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:{body}"),
        )
        .unwrap();
        let (p_ok, p_out) = passes(&promtool, &["test", "rules"], &f);
        let (l_ok, l_out) = passes(BIN, &["test", "rules"], &f);
        if p_ok != *should_pass || l_ok != *should_pass {
            disagreements.push(format!(
                "{name}: expected {}, promtool {}, lookout {}\n--- promtool:\n{p_out}\n--- lookout:\n{l_out}",
                if *should_pass { "pass" } else { "fail" },
                if p_ok { "pass" } else { "fail" },
                if l_ok { "pass" } else { "fail" },
            ));
        }
    }
    assert!(CASES.len() >= 20);
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        CASES.len(),
        disagreements.join("\n")
    );
}
