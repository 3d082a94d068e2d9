//! Target lists: `static_configs`, `file_sd_configs`, and the target group files that file
//! discovery reads (Prometheus' `file_sd` format, YAML or JSON).
//!
//! A target group file is a list of `{targets: [...], labels: {...}}`, exactly like a
//! `static_configs` list. [`parse_file_sd`] checks it with the same error quality as the main
//! config: file:line:column of the offending node.
//!
//! Target *addresses* are checked as `host[:port]` only in `static_configs` of jobs without
//! `relabel_configs` (Prometheus' rule): with relabeling, a "target" may be a URL that a rule
//! moves into a parameter (the blackbox exporter pattern). File-discovered targets are not
//! address-checked here for the same reason; the scraper checks `__address__` after
//! relabeling with [`crate::target::check_target_address`].
//!
//! Cost: load time only.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::context::Ctx;
use crate::duration::PromDuration;
use crate::error::{Error, Result};
use crate::position::{Positions, field, index};
use crate::target::{check_target_address, is_valid_label_name};

/// How often file discovery re-reads its files when no change notification arrives.
pub const DEFAULT_FILE_SD_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// One target group as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a target group mapping (targets, labels)"
)]
pub struct RawStaticConfig {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels attached to every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A checked target group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a file_sd config mapping (files, refresh_interval)"
)]
pub struct RawFileSdConfig {
    /// File paths; the last path component may contain `*` (e.g. `targets/*.json`).
    /// Files must end in `.json`, `.yml` or `.yaml`.
    #[serde(default)]
    pub files: Vec<String>,
    /// Re-read interval (default 5m).
    pub refresh_interval: Option<PromDuration>,
}

/// A checked file discovery config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSdConfig {
    /// Glob patterns, relative ones resolved against the config file's directory.
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

impl RawStaticConfig {
    /// Checks the group at `path`. Addresses are checked only if `check_addresses`.
    pub(crate) fn check(
        &self,
        ctx: &Ctx<'_>,
        path: &str,
        check_addresses: bool,
    ) -> Result<StaticConfig> {
        let targets_path = field(path, "targets");
        for (i, t) in self.targets.iter().enumerate() {
            let res = if check_addresses {
                check_target_address(t)
            } else if t.is_empty() {
                Err("target address is empty".to_string())
            } else {
                Ok(())
            };
            res.map_err(|m| ctx.invalid(&index(&targets_path, i), m))?;
        }
        let labels_path = field(path, "labels");
        for name in self.labels.keys() {
            if !is_valid_label_name(name) {
                return Err(ctx.invalid_key(
                    &field(&labels_path, name),
                    format_args!("{name:?} is not a valid label name"),
                ));
            }
        }
        Ok(StaticConfig {
            targets: self.targets.clone(),
            labels: self.labels.clone(),
        })
    }
}

/// Prometheus' rule: a `*` may appear only in the last path component.
pub(crate) fn is_valid_glob(pattern: &str) -> bool {
    match pattern.find('*') {
        Some(i) => !pattern[i..].contains('/'),
        None => true,
    }
}

impl RawFileSdConfig {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<FileSdConfig> {
        let files_path = field(path, "files");
        if self.files.is_empty() {
            return Err(ctx.invalid_key(&files_path, "file_sd_configs needs at least one file"));
        }
        let mut files = Vec::with_capacity(self.files.len());
        for (i, f) in self.files.iter().enumerate() {
            let lower = f.to_ascii_lowercase();
            let ext_ok = [".json", ".yml", ".yaml"]
                .iter()
                .any(|e| lower.ends_with(e));
            if !ext_ok || !is_valid_glob(f) {
                return Err(ctx.invalid(
                    &index(&files_path, i),
                    format_args!(
                        "path name {f:?} is not valid for file discovery (want .json, .yml or .yaml; `*` only in the last path component)"
                    ),
                ));
            }
            files.push(ctx.resolve_glob(f));
        }
        let refresh_interval = match self.refresh_interval {
            None => DEFAULT_FILE_SD_REFRESH_INTERVAL,
            Some(PromDuration(d)) if d.is_zero() => {
                return Err(ctx.invalid(
                    &field(path, "refresh_interval"),
                    "refresh_interval must be greater than 0",
                ));
            }
            Some(PromDuration(d)) => d,
        };
        Ok(FileSdConfig {
            files,
            refresh_interval,
        })
    }
}

/// Parses a file discovery target file. The format follows the extension of `path`:
/// `.json`, or `.yml`/`.yaml`. Errors name `path:line:column`. Label names are checked;
/// target addresses are not (see the module docs).
pub fn parse_file_sd(content: &str, path: &Path) -> Result<Vec<StaticConfig>> {
    let origin = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let (raw, positions): (Vec<RawStaticConfig>, Positions) = match ext.as_str() {
        "json" => {
            // JSON is YAML's flow syntax, so the same position pass indexes it.
            let positions = crate::load::build_positions(content, &origin)?;
            let raw = serde_json::from_str(content).map_err(|e| json_error(&origin, e))?;
            (raw, positions)
        }
        "yml" | "yaml" => {
            let (raw, positions) =
                crate::load::parse_yaml::<Option<Vec<RawStaticConfig>>>(content, &origin)?;
            (raw.unwrap_or_default(), positions)
        }
        other => {
            return Err(Error::Invalid {
                file: origin,
                line: 1,
                column: 1,
                message: format!(
                    "unsupported file extension {other:?} for file discovery (want .json, .yml or .yaml)"
                ),
            });
        }
    };
    let ctx = Ctx {
        origin: &origin,
        base_dir: None,
        positions: &positions,
    };
    raw.iter()
        .enumerate()
        .map(|(i, g)| g.check(&ctx, &index("", i), false))
        .collect()
}

fn json_error(origin: &str, e: serde_json::Error) -> Error {
    let (line, column) = (e.line().max(1), e.column().max(1));
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
    Error::Parse {
        file: origin.to_string(),
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(e: &Error) -> (usize, usize) {
        e.position().expect("positioned")
    }

    #[test]
    fn parses_json_and_yaml_target_files() {
        let json =
            r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]"#;
        let groups = parse_file_sd(json, Path::new("t.json")).expect("json");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets, vec!["a:1", "b:2"]);
        assert_eq!(
            groups[0].labels.get("env").map(String::as_str),
            Some("prod")
        );
        assert!(groups[1].labels.is_empty());

        let yaml = "- targets: [a:1]\n  labels:\n    env: dev\n";
        let groups = parse_file_sd(yaml, Path::new("dir/t.YML")).expect("yaml");
        assert_eq!(groups[0].targets, vec!["a:1"]);
        assert!(
            parse_file_sd("", Path::new("t.yaml"))
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn json_syntax_and_shape_errors_are_positioned() {
        let e = parse_file_sd("[\n  {\"targets\": [\"a:1\",]}\n]", Path::new("x.json"))
            .expect_err("trailing comma");
        assert_eq!(e.file(), Some("x.json"));
        assert_eq!(at(&e), (2, 22));
        let e = parse_file_sd(
            "[\n {\"targets\": [\"a:1\"], \"lables\": {}}\n]",
            Path::new("x.json"),
        )
        .expect_err("unknown field");
        assert!(e.to_string().contains("unknown field `lables`"), "{e}");
        assert_eq!(e.position().map(|p| p.0), Some(2));
        assert!(e.to_string().starts_with("x.json:2:"), "{e}");
    }

    #[test]
    fn invalid_label_names_point_at_the_key() {
        let json = "[\n  {\"targets\": [\"a:1\"],\n   \"labels\": {\"ok\": \"1\", \"bad-name\": \"2\"}}\n]";
        let e = parse_file_sd(json, Path::new("x.json")).expect_err("bad label");
        assert_eq!(at(&e), (3, 26));
        assert!(
            e.to_string()
                .contains("\"bad-name\" is not a valid label name"),
            "{e}"
        );

        let yaml = "- targets: ['a:1']\n  labels:\n    1x: y\n";
        let e = parse_file_sd(yaml, Path::new("x.yaml")).expect_err("bad label");
        assert_eq!(
            e.to_string(),
            "x.yaml:3:5: [0].labels.1x: \"1x\" is not a valid label name"
        );
    }

    #[test]
    fn yaml_errors_and_duplicates_are_positioned() {
        let e = parse_file_sd(
            "- targets: ['a:1']\n  targets: ['b:1']\n",
            Path::new("d.yaml"),
        )
        .expect_err("duplicate");
        assert!(e.to_string().starts_with("d.yaml:2:3: "), "{e}");
        assert!(e.to_string().contains("duplicate key"), "{e}");
        let e = parse_file_sd("- targets: 5\n", Path::new("d.yaml")).expect_err("type");
        assert!(e.to_string().starts_with("d.yaml:1:12: "), "{e}");
    }

    #[test]
    fn empty_targets_and_unknown_extensions_are_rejected() {
        let e = parse_file_sd("- targets: ['']\n", Path::new("x.yml")).expect_err("empty");
        assert_eq!(at(&e), (1, 13));
        let e = parse_file_sd("[]", Path::new("x.txt")).expect_err("ext");
        assert!(
            e.to_string().contains("unsupported file extension \"txt\""),
            "{e}"
        );
    }

    #[test]
    fn glob_rule() {
        assert!(is_valid_glob("targets/*.json"));
        assert!(is_valid_glob("/etc/t/a*b*.yml"));
        assert!(!is_valid_glob("targets/*/x.json"));
    }
}
