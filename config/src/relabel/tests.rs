//! Checks of `RelabelConfig::from_raw`: defaults, YAML details and every validation error.

use super::*;

fn raw(yaml: &str) -> RawRelabelConfig {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("yaml {yaml:?}: {e}"))
}

fn check(yaml: &str) -> Result<RelabelConfig, String> {
    RelabelConfig::from_raw(&raw(yaml))
}

fn err(yaml: &str) -> String {
    match check(yaml) {
        Ok(rc) => panic!("expected an error for {yaml:?}, got {rc:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_err(yaml: &str, want: &str) {
    let e = err(yaml);
    assert!(
        e.contains(want),
        "{yaml:?}: error {e:?} does not contain {want:?}"
    );
}

#[test]
fn defaults_are_prometheus_defaults() {
    let rc = check("target_label: t").expect("valid");
    assert_eq!(rc.action, Action::Replace);
    assert_eq!(rc.separator, ";");
    assert_eq!(rc.regex_src, "(.*)");
    assert_eq!(rc.replacement, "$1");
    assert_eq!(rc.modulus, 0);
    assert!(rc.source_labels.is_empty());
    assert_eq!(rc.name_validation, NameValidation::Legacy);
    // Anchored at both ends, `.` matches newlines.
    assert!(rc.regex.is_match("a\nb"));
    let rc = check("{source_labels: [a], regex: 'b', action: keep}").expect("valid");
    assert!(rc.regex.is_match("b"));
    assert!(!rc.regex.is_match("abc"));
}

#[test]
fn action_is_case_insensitive() {
    assert_eq!(check("{action: Keep}").expect("valid").action, Action::Keep);
    assert_eq!(
        check("{action: LABELMAP}").expect("valid").action,
        Action::LabelMap
    );
    assert_eq!(
        check("{action: DropEqual, target_label: a}")
            .expect("valid")
            .action,
        Action::DropEqual
    );
}

#[test]
fn explicit_null_means_empty_string() {
    let rc = check("target_label: t\nreplacement:\n").expect("valid");
    assert_eq!(rc.replacement, "");
    let rc = check("{target_label: t, separator: ~, regex: null}").expect("valid");
    assert_eq!(rc.separator, "");
    assert_eq!(rc.regex_src, "");
    assert!(rc.regex.is_match(""));
    assert!(!rc.regex.is_match("x"));
    assert!(check("action: keep\nsource_labels:\nmodulus:\n").is_ok());
    assert_err(
        "action:\ntarget_label: t\n",
        "relabel action cannot be empty",
    );
}

#[test]
fn scalars_read_as_strings() {
    let rc = check("{target_label: port, replacement: 8080, regex: 1.5}").expect("valid");
    assert_eq!(rc.replacement, "8080");
    assert_eq!(rc.regex_src, "1.5");
}

#[test]
fn unknown_fields_and_actions_are_rejected() {
    assert!(serde_yaml_ng::from_str::<RawRelabelConfig>("{target: x}").is_err());
    assert_err("{action: rename}", "unknown relabel action \"rename\"");
}

#[test]
fn invalid_regex() {
    assert_err("{action: keep, regex: '(a'}", "invalid regex \"(a\"");
    assert_err("{action: keep, regex: '[a'}", "invalid regex");
    assert_err(r"{action: keep, regex: '(a)\1'}", "invalid regex");
}

#[test]
fn replace_needs_a_valid_target() {
    assert_err(
        "{source_labels: [a]}",
        "relabel configuration for replace action requires 'target_label' value",
    );
    assert_err(
        "{source_labels: [a], action: replace, target_label: ''}",
        "requires 'target_label'",
    );
    assert_err(
        "{target_label: foo-bar}",
        "\"foo-bar\" is invalid 'target_label' for replace action",
    );
    assert_err("{target_label: 1abc}", "is invalid 'target_label'");
    assert_err("{target_label: 'a$'}", "is invalid 'target_label'");
    assert_err("{target_label: '${1'}", "is invalid 'target_label'");
    assert_err("{target_label: 'x-$1'}", "is invalid 'target_label'");
    for ok in [
        "a",
        "_",
        "__meta_x",
        "$1",
        "${1}",
        "${1}_suffix",
        "x$1y${name}",
        "$1x",
    ] {
        check(&format!("{{target_label: '{ok}'}}")).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn utf8_names_accept_any_non_empty_name() {
    let r = raw("{source_labels: [utf-8.label], target_label: 'foo-bar.$1'}");
    assert!(RelabelConfig::from_raw(&r).is_err());
    let rc = RelabelConfig::from_raw_with(&r, NameValidation::Utf8).expect("valid in utf8");
    assert_eq!(rc.name_validation, NameValidation::Utf8);
}

#[test]
fn source_labels_must_be_label_names() {
    assert_err(
        "{source_labels: [ok, foo.bar], action: keep}",
        "\"foo.bar\" is not a valid label name",
    );
    assert_err(
        "{source_labels: [''], action: keep}",
        "is not a valid label name",
    );
}

#[test]
fn hashmod_rules() {
    assert_err(
        "{source_labels: [a], target_label: t, action: hashmod}",
        "requires non-zero modulus",
    );
    assert_err(
        "{source_labels: [a], target_label: t, action: hashmod, modulus: 0}",
        "non-zero modulus",
    );
    assert_err(
        "{source_labels: [a], action: hashmod, modulus: 3}",
        "hashmod action requires 'target_label'",
    );
    assert_err(
        "{source_labels: [a], target_label: '$1', action: hashmod, modulus: 3}",
        "invalid 'target_label' for hashmod",
    );
    assert!(check("{source_labels: [a], target_label: t, action: hashmod, modulus: 3}").is_ok());
    assert!(serde_yaml_ng::from_str::<RawRelabelConfig>("{modulus: -1}").is_err());
}

#[test]
fn case_actions() {
    assert_err(
        "{source_labels: [a], action: lowercase}",
        "lowercase action requires 'target_label'",
    );
    assert_err(
        "{source_labels: [a], action: uppercase, target_label: '$1'}",
        "invalid 'target_label' for uppercase",
    );
    assert_err(
        "{source_labels: [a], action: lowercase, target_label: b, replacement: x}",
        "'replacement' can not be set for lowercase action",
    );
    assert!(check("{source_labels: [a], action: uppercase, target_label: b}").is_ok());
}

#[test]
fn keepequal_and_dropequal_take_only_sources_and_target() {
    assert_err(
        "{source_labels: [a], action: keepequal}",
        "keepequal action requires 'target_label'",
    );
    assert_err(
        "{source_labels: [a], action: dropequal, target_label: b, regex: 'x'}",
        "dropequal action requires only 'source_labels' and `target_label`",
    );
    assert_err(
        "{source_labels: [a], action: keepequal, target_label: b, separator: ','}",
        "requires only",
    );
    assert_err(
        "{source_labels: [a], action: keepequal, target_label: b, modulus: 2}",
        "requires only",
    );
    assert_err(
        "{source_labels: [a], action: keepequal, target_label: b, replacement: x}",
        "'replacement' can not be set",
    );
    assert_err(
        "{source_labels: [a], action: keepequal, target_label: b-c}",
        "invalid 'target_label' for keepequal",
    );
    assert!(
        check("{source_labels: [a], action: keepequal, target_label: b, regex: '(.*)'}").is_ok()
    );
}

#[test]
fn labeldrop_and_labelkeep_take_only_regex() {
    assert_err(
        "{action: labeldrop, regex: x, source_labels: [a]}",
        "labeldrop action requires only 'regex', and no other fields",
    );
    assert_err(
        "{action: labelkeep, regex: x, target_label: a}",
        "labelkeep action requires only 'regex'",
    );
    assert_err(
        "{action: labeldrop, regex: x, replacement: y}",
        "requires only 'regex'",
    );
    assert_err(
        "{action: labeldrop, regex: x, separator: ','}",
        "requires only 'regex'",
    );
    assert_err(
        "{action: labelkeep, regex: x, modulus: 4}",
        "requires only 'regex'",
    );
    assert!(check("{action: labeldrop, regex: x, separator: ';', replacement: $1}").is_ok());
}

#[test]
fn labelmap_replacement_must_be_a_name_template() {
    assert_err(
        "{action: labelmap, regex: 'x_(.+)', replacement: 'foo-$1'}",
        "\"foo-$1\" is invalid 'replacement' for labelmap action",
    );
    assert_err(
        "{action: labelmap, regex: 'x_(.+)', replacement: ''}",
        "invalid 'replacement'",
    );
    assert!(check("{action: labelmap, regex: 'x_(.+)', replacement: 'k8s_${1}'}").is_ok());
    assert!(check("{action: labelmap, regex: 'x_(.+)'}").is_ok());
}

#[test]
fn keep_and_drop_need_nothing_else() {
    assert!(check("{action: keep}").is_ok());
    assert!(check("{action: drop, source_labels: [a, b], separator: ''}").is_ok());
}

#[test]
fn templates_are_parsed_against_the_regex() {
    let rc = check("{source_labels: [a], regex: '(?P<k>[^=]+)=(.*)', target_label: '$k', replacement: '${2}x'}")
        .expect("valid");
    assert_eq!(rc.target_template.literal(), None);
    assert_eq!(rc.replacement_template.literal(), None);
    let rc = check("{target_label: t, replacement: fixed}").expect("valid");
    assert_eq!(rc.target_template.literal(), Some("t"));
    assert_eq!(rc.replacement_template.literal(), Some("fixed"));
}

#[test]
fn legacy_name_checks() {
    assert!(is_legacy_label_name("__name__"));
    assert!(is_legacy_label_name("a1"));
    assert!(!is_legacy_label_name("1a"));
    assert!(!is_legacy_label_name(""));
    assert!(!is_legacy_label_name("a.b"));
    assert!(!is_legacy_label_name("é"));
}

#[test]
fn large_compiled_regexes_are_accepted() {
    // Go has no compiled-size limit; this one is past the `regex` crate's 10 MiB default.
    let rc = check(r"{action: keep, source_labels: [a], regex: '\pL{300}'}").expect("compiles");
    assert!(rc.regex.is_match(&"é".repeat(300)));
    assert!(!rc.regex.is_match(&"é".repeat(299)));
}
