//! Golden config files (model: Prometheus' `config/testdata`).
//!
//! Every `testdata/*.good.yaml` must load. Every `testdata/*.bad.yaml` must fail, and its
//! sibling `*.bad.yaml.err` holds a substring the error must contain, including the
//! `file:line:column` prefix (so each case pins where the error points, not just what it
//! says). Failures are collected and reported together, each with the source line and a
//! caret under the reported column.

use std::path::{Path, PathBuf};

use lookout_config::{Error, load_file};

fn testdata() -> PathBuf {
    // Relative (cargo runs tests in the crate directory), so file names in errors stay
    // short and stable: `testdata/x.bad.yaml:3:5`.
    PathBuf::from("testdata")
}

fn files_with_suffix(suffix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read testdata")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .map(|n| testdata().join(n))
        .collect();
    out.sort();
    out
}

/// The line the error points at, with a caret under its column.
fn show(path: &Path, e: &Error) -> String {
    let Some((line, col)) = e.position() else {
        return String::new();
    };
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_default();
    let src = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    format!(
        "\n    | {src}\n    | {}^",
        " ".repeat(col.saturating_sub(1))
    )
}

#[test]
fn good_files_load() {
    let good = files_with_suffix(".good.yaml");
    assert!(
        good.len() >= 5,
        "expected golden good files, found {good:?}"
    );
    let mut failures = Vec::new();
    for path in &good {
        if let Err(e) = load_file(path) {
            failures.push(format!("{}: {e}{}", path.display(), show(path, &e)));
        }
    }
    assert!(
        failures.is_empty(),
        "good files failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn bad_files_fail_at_the_expected_place() {
    let bad = files_with_suffix(".bad.yaml");
    assert!(
        bad.len() >= 30,
        "expected golden bad files, found {}",
        bad.len()
    );
    let mut failures = Vec::new();
    for path in &bad {
        let err_path = PathBuf::from(format!("{}.err", path.display()));
        let expected = match std::fs::read_to_string(&err_path) {
            Ok(s) => s.trim_end_matches('\n').to_string(),
            Err(_) => {
                let got = load_file(path)
                    .err()
                    .map(|e| format!("{e}{}", show(path, &e)));
                failures.push(format!(
                    "{}: missing .err file; got {got:?}",
                    path.display()
                ));
                continue;
            }
        };
        assert!(
            expected.contains(".bad.yaml:"),
            "{}: expectation must include file:line:column",
            err_path.display()
        );
        match load_file(path) {
            Ok(_) => failures.push(format!("{}: loaded, expected an error", path.display())),
            Err(e) => {
                let got = e.to_string();
                if !got.contains(&expected) {
                    failures.push(format!(
                        "{}:\n  want: {expected}\n  got:  {got}{}",
                        path.display(),
                        show(path, &e)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "bad files:\n{}", failures.join("\n"));
}

#[test]
fn every_err_file_has_its_bad_file() {
    for err in files_with_suffix(".bad.yaml.err") {
        let yaml = err.with_extension("");
        assert!(yaml.exists(), "{} has no {}", err.display(), yaml.display());
    }
}
