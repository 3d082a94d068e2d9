//! Loading: text → positions + raw serde types → checked [`Config`].
//!
//! Steps, each of which stops at the first error:
//! 1. index node positions and reject duplicate keys ([`crate::position`]);
//! 2. deserialize into the raw types with serde_yaml_ng (syntax, unknown fields, wrong
//!    types; serde's own positions);
//! 3. validate into checked types, placing errors with the positions from step 1.
//!
//! Relative paths (rule files, file_sd patterns, secret and TLS files) are resolved against
//! the config file's directory; for [`load_str`] they stay relative to the working
//! directory.
//!
//! Cost: two parses of the text (serde and the position pass) plus validation; configs are
//! a few KB and this runs on start and reload only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::context::Ctx;
use crate::discovery::is_valid_glob;
use crate::error::{Error, Result};
use crate::global::{GlobalConfig, RawGlobalConfig};
use crate::kubernetes::{KubernetesConfig, RawKubernetesConfig};
use crate::logs::{LogsConfig, RawLogsConfig};
use crate::notify::{AlertingConfig, Notifications, RawAlertingConfig, RawNotifications};
use crate::position::{Positions, PositionsError, field, index};
use crate::scrape::{RawScrapeConfig, ScrapeConfig};
use crate::storage::{RawStorageConfig, StorageConfig};

/// The embedded default configuration (`config/default.yaml`).
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../default.yaml");

/// The address the embedded default scrapes lookout itself at, before
/// [`default_config`] substitutes the real one.
pub const DEFAULT_SELF_SCRAPE_ADDR: &str = "127.0.0.1:9470";

/// The name of the embedded default's self-scrape job.
pub const SELF_SCRAPE_JOB: &str = "lookout";

/// The whole configuration file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of config sections (global, scrape_configs, rule_files, storage, kubernetes, alerting, notifications, logs)"
)]
pub struct RawConfig {
    /// Defaults for all jobs and rule groups, and the external labels.
    pub global: Option<RawGlobalConfig>,
    /// The scrape jobs.
    #[serde(default)]
    pub scrape_configs: Vec<RawScrapeConfig>,
    /// Rule file globs (`*` allowed in the last path component).
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Local storage settings.
    pub storage: Option<RawStorageConfig>,
    /// Kubernetes discovery settings.
    pub kubernetes: Option<RawKubernetesConfig>,
    /// Alertmanagers to send alerts to (Prometheus' `alerting` section).
    pub alerting: Option<RawAlertingConfig>,
    /// Built-in notifications in Alertmanager's format (`route`, `receivers`).
    pub notifications: Option<RawNotifications>,
    /// Log tailing and the log index.
    pub logs: Option<RawLogsConfig>,
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: GlobalConfig,
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Globs as written; relative ones resolved against the config file's directory.
    pub rule_files: Vec<String>,
    pub storage: StorageConfig,
    pub kubernetes: KubernetesConfig,
    pub alerting: AlertingConfig,
    /// `None` when the section is absent (no built-in notifications).
    pub notifications: Option<Notifications>,
    pub logs: LogsConfig,
    /// The file the config was loaded from (`None` for [`load_str`] and the default).
    pub source: Option<PathBuf>,
}

impl Config {
    /// The scrape job called `name`.
    pub fn job(&self, name: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|j| j.job_name == name)
    }
}

/// Loads and validates a config file.
pub fn load_file(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let mut cfg = load_inner(&text, &origin, path.parent())?;
    cfg.source = Some(path.to_path_buf());
    Ok(cfg)
}

/// Loads and validates config text; `origin` is the file name used in errors.
pub fn load_str(yaml: &str, origin: &str) -> Result<Config> {
    load_inner(yaml, origin, None)
}

/// The embedded default config, scraping lookout itself at `self_scrape_addr`
/// (`host:port`, e.g. `127.0.0.1:9470`; check user input with
/// [`crate::target::check_target_address`] first).
pub fn default_config(self_scrape_addr: &str) -> Config {
    let mut cfg = match load_str(DEFAULT_CONFIG_YAML, "<embedded default.yaml>") {
        Ok(cfg) => cfg,
        // The embedded text is a constant covered by tests; this cannot fail at run time.
        Err(e) => panic!("embedded default config is invalid: {e}"),
    };
    for job in cfg
        .scrape_configs
        .iter_mut()
        .filter(|j| j.job_name == SELF_SCRAPE_JOB)
    {
        for group in &mut job.static_configs {
            for target in &mut group.targets {
                if target == DEFAULT_SELF_SCRAPE_ADDR {
                    *target = self_scrape_addr.to_string();
                }
            }
        }
    }
    cfg
}

fn load_inner(src: &str, origin: &str, base_dir: Option<&Path>) -> Result<Config> {
    let (raw, positions) = parse_yaml::<Option<RawConfig>>(src, origin)?;
    let raw = raw.unwrap_or_default();
    let ctx = Ctx {
        origin,
        base_dir,
        positions: &positions,
    };
    raw.check(&ctx)
}

impl RawConfig {
    fn check(&self, ctx: &Ctx<'_>) -> Result<Config> {
        let global = self
            .global
            .clone()
            .unwrap_or_default()
            .check(ctx, "global")?;

        let mut rule_files = Vec::with_capacity(self.rule_files.len());
        for (i, pattern) in self.rule_files.iter().enumerate() {
            if pattern.is_empty() || !is_valid_glob(pattern) {
                return Err(ctx.invalid(
                    &index("rule_files", i),
                    format_args!(
                        "invalid rule file path {pattern:?} (`*` only in the last path component)"
                    ),
                ));
            }
            rule_files.push(ctx.resolve_glob(pattern));
        }

        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut scrape_configs = Vec::with_capacity(self.scrape_configs.len());
        for (i, raw) in self.scrape_configs.iter().enumerate() {
            let path = index("scrape_configs", i);
            if let Some(first) = seen.insert(raw.job_name.as_str(), i) {
                let first_pos = ctx
                    .positions
                    .value(&field(&index("scrape_configs", first), "job_name"));
                return Err(ctx.invalid(
                    &field(&path, "job_name"),
                    format_args!(
                        "found multiple scrape configs with job name {:?} (first at line {} column {})",
                        raw.job_name, first_pos.line, first_pos.column
                    ),
                ));
            }
            scrape_configs.push(raw.check(ctx, &path, &global)?);
        }

        let storage = self
            .storage
            .clone()
            .unwrap_or_default()
            .check(ctx, "storage")?;

        let kubernetes = self
            .kubernetes
            .clone()
            .unwrap_or_default()
            .check(ctx, "kubernetes")?;

        let alerting = self
            .alerting
            .clone()
            .unwrap_or_default()
            .check(ctx, "alerting")?;
        let notifications = match &self.notifications {
            Some(n) => Some(n.check(ctx, "notifications")?),
            None => None,
        };

        let logs = self.logs.clone().unwrap_or_default().check(ctx, "logs")?;

        Ok(Config {
            logs,
            alerting,
            notifications,
            global,
            scrape_configs,
            rule_files,
            storage,
            kubernetes,
            source: None,
        })
    }
}

/// Indexes positions; a duplicate key is an error, a syntax error is left to serde.
pub(crate) fn build_positions(src: &str, origin: &str) -> Result<Positions> {
    match Positions::build(src) {
        Ok(p) => Ok(p),
        Err(PositionsError::DuplicateKey { path, at, first }) => {
            let key = path.rsplit('.').next().unwrap_or(&path);
            Err(Error::Parse {
                file: origin.to_string(),
                line: at.line,
                column: at.column,
                message: format!(
                    "{path}: duplicate key {key:?} (first defined at line {} column {})",
                    first.line, first.column
                ),
            })
        }
        Err(PositionsError::Syntax) => Ok(Positions::default()),
    }
}

/// Parses YAML text into `T` and indexes its positions.
pub(crate) fn parse_yaml<T: DeserializeOwned>(src: &str, origin: &str) -> Result<(T, Positions)> {
    let positions = build_positions(src, origin)?;
    let value = serde_yaml_ng::from_str::<T>(src).map_err(|e| yaml_error(origin, src, &e))?;
    Ok((value, positions))
}

/// Converts a serde_yaml_ng error into a positioned [`Error::Parse`], dropping the
/// " at line L column C" that serde_yaml_ng writes into its message.
fn yaml_error(origin: &str, src: &str, e: &serde_yaml_ng::Error) -> Error {
    let (line, column) = e
        .location()
        .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let text = e.to_string();
    let mut message = text.replacen(&format!(" at line {line} column {column}"), "", 1);
    let at_tab = src
        .lines()
        .nth(line - 1)
        .and_then(|l| l.chars().nth(column - 1))
        == Some('\t');
    if at_tab && !message.contains("tab") {
        message.push_str(" (a tab character: YAML indentation must use spaces)");
    }
    Error::Parse {
        file: origin.to_string(),
        line,
        column,
        message,
    }
}
