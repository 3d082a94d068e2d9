use super::*;

fn alert(labels: &[(&str, &str)], value: f64) -> AlertData {
    AlertData {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        external_labels: [("cluster".to_string(), "prod".to_string())]
            .into_iter()
            .collect(),
        external_url: "http://lookout:9470".into(),
        value,
    }
}

fn x(src: &str, value: f64) -> String {
    expand_alert(
        src,
        &alert(&[("instance", "node-1:9100"), ("job", "node")], value),
        None,
    )
    .unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn prometheus_style_annotations() {
    // Outputs as Prometheus prints them for the same template and data.
    assert_eq!(
        x("{{ $labels.instance }} is down", 0.0),
        "node-1:9100 is down"
    );
    assert_eq!(
        x("{{ .Labels.job }}/{{ $externalLabels.cluster }}", 0.0),
        "node/prod"
    );
    assert_eq!(x("{{ $value }}", 0.25), "0.25");
    assert_eq!(x("{{ $value | humanize }}", 1234567.0), "1.235M");
    assert_eq!(x("{{ humanize $value }}", 0.0012), "1.2m");
    assert_eq!(x("{{ $value | humanize1024 }}", 1048576.0), "1Mi");
    assert_eq!(x("{{ $value | humanizeDuration }}", 3600.0), "1h 0m 0s");
    assert_eq!(x("{{ $value | humanizeDuration }}", 90061.0), "1d 1h 1m 1s");
    assert_eq!(x("{{ $value | humanizeDuration }}", 1.5), "1.5s");
    assert_eq!(x("{{ $value | humanizeDuration }}", 0.0012), "1.2ms");
    assert_eq!(x("{{ $value | humanizePercentage }}", 0.1234567), "12.35%");
    assert_eq!(
        x("{{ $value | humanizeTimestamp }}", 1435065584.128),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(x(r#"{{ printf "%.2f" $value }}"#, 1.23456), "1.23");
    assert_eq!(x(r#"{{ printf "%.0f" $value }}%"#, 99.6), "100%");
    assert_eq!(
        x(r#"{{ printf "%d items on %s" 3 $labels.job }}"#, 0.0),
        "3 items on node"
    );
    assert_eq!(x("{{ $labels.missing }}|", 0.0), "|");
    assert_eq!(x("{{ $labels.instance | stripPort }}", 0.0), "node-1");
    assert_eq!(
        x(
            r#"{{ reReplaceAll "(.*):.*" "host=$1" $labels.instance }}"#,
            0.0
        ),
        "host=node-1"
    );
    assert_eq!(
        x("{{ toUpper $labels.job }} {{ title \"hello world\" }}", 0.0),
        "NODE Hello World"
    );
}

#[test]
fn control_flow_and_variables() {
    assert_eq!(
        x(
            "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}",
            90.0
        ),
        "high"
    );
    assert_eq!(
        x(
            "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}",
            60.0
        ),
        "mid"
    );
    assert_eq!(
        x(
            "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}",
            10.0
        ),
        "low"
    );
    assert_eq!(
        x("{{ with $labels.job }}job={{ . }}{{ end }}", 0.0),
        "job=node"
    );
    assert_eq!(x("{{ $x := 5 }}{{ $x }}", 0.0), "5");
    assert_eq!(
        x(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0
        ),
        "instance=node-1:9100;job=node;"
    );
    assert_eq!(x("a  {{- \" b \" -}}  c", 0.0), "a b c");
    assert_eq!(x("{{/* a comment */}}x", 0.0), "x");
    assert_eq!(
        x(
            "{{ if and (eq $labels.job \"node\") (not false) }}yes{{ end }}",
            0.0
        ),
        "yes"
    );
    assert_eq!(x("{{ len $labels }}", 0.0), "2");
    assert_eq!(x("{{ index $labels \"job\" }}", 0.0), "node");
}

#[test]
fn query_function_uses_the_callback() {
    type Res = Vec<(std::collections::BTreeMap<String, String>, f64)>;
    let q = |expr: &str| -> Result<Res, String> {
        assert_eq!(expr, "up");
        Ok(vec![(
            [("instance".to_string(), "a".to_string())]
                .into_iter()
                .collect(),
            1.0,
        )])
    };
    let out = expand_alert(
        r#"{{ with query "up" }}{{ . | first | value }} on {{ . | first | label "instance" }}{{ end }}"#,
        &alert(&[], 0.0),
        Some(&q),
    )
    .unwrap();
    assert_eq!(out, "1 on a");
}

#[test]
fn syntax_errors_name_the_line() {
    for bad in [
        "{{ if }}",
        "{{ .Labels.x ",
        "x\n{{ end }}",
        "{{ if true }}no end",
        "{{ \"unterminated }}",
        "{{ template \"x\" }}",
    ] {
        let e = check_syntax(bad).unwrap_err();
        assert!(e.starts_with("template: line "), "{bad}: {e}");
    }
    assert!(
        check_syntax("x\n\n{{ end }}")
            .unwrap_err()
            .contains("line 3")
    );
    let e = expand_alert("{{ nosuchfunc 1 }}", &alert(&[], 0.0), None).unwrap_err();
    assert!(e.contains("nosuchfunc"), "{e}");
}
