//! The `global` section: defaults shared by all jobs and rule groups, plus the external
//! labels, in Prometheus' format.
//!
//! Defaults and rules (Prometheus'): `scrape_interval` 1m, `scrape_timeout` 10s but at most
//! the interval when not set, `evaluation_interval` 1m; an explicit timeout greater than the
//! interval is an error. External label names must be valid label names; they are returned
//! sorted by name. The scrape limits (`sample_limit`, `body_size_limit`, ...) are defaults
//! for jobs that don't set their own, 0 meaning no limit.
//!
//! Cost: load time only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::context::Ctx;
use crate::duration::PromDuration;
use crate::error::Result;
use crate::position::field;
use crate::size::ByteSize;
use crate::target::is_valid_label_name;

/// Prometheus' default global `scrape_interval`.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
/// Prometheus' default global `scrape_timeout`.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Prometheus' default global `evaluation_interval`.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// `global` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of global settings")]
pub struct RawGlobalConfig {
    /// Default scrape interval for jobs (default 1m).
    pub scrape_interval: Option<PromDuration>,
    /// Default scrape timeout (default 10s, at most `scrape_interval`).
    pub scrape_timeout: Option<PromDuration>,
    /// Default rule evaluation interval (default 1m).
    pub evaluation_interval: Option<PromDuration>,
    /// Labels added to series and alerts sent to other systems (remote write, Alertmanager).
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Default max uncompressed scrape body size; 0 = no limit.
    pub body_size_limit: Option<ByteSize>,
    /// Default max samples per scrape; 0 = no limit.
    #[serde(default)]
    pub sample_limit: u64,
    /// Default max labels per sample; 0 = no limit.
    #[serde(default)]
    pub label_limit: u64,
    /// Default max label name length; 0 = no limit.
    #[serde(default)]
    pub label_name_length_limit: u64,
    /// Default max label value length; 0 = no limit.
    #[serde(default)]
    pub label_value_length_limit: u64,
}

/// The checked global section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub evaluation_interval: Duration,
    /// Sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// Default for jobs; bytes, 0 = no limit.
    pub body_size_limit: u64,
    /// Default for jobs; 0 = no limit.
    pub sample_limit: u64,
    /// Default for jobs; 0 = no limit.
    pub label_limit: u64,
    /// Default for jobs; 0 = no limit.
    pub label_name_length_limit: u64,
    /// Default for jobs; 0 = no limit.
    pub label_value_length_limit: u64,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            external_labels: Vec::new(),
            body_size_limit: 0,
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
        }
    }
}

fn positive(ctx: &Ctx<'_>, path: &str, d: Option<PromDuration>) -> Result<Option<Duration>> {
    match d {
        Some(PromDuration(d)) if d.is_zero() => Err(ctx.invalid(path, "must be greater than 0")),
        other => Ok(other.map(|p| p.0)),
    }
}

impl RawGlobalConfig {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<GlobalConfig> {
        let interval_path = field(path, "scrape_interval");
        let timeout_path = field(path, "scrape_timeout");
        let interval =
            positive(ctx, &interval_path, self.scrape_interval)?.unwrap_or(DEFAULT_SCRAPE_INTERVAL);
        let timeout = match positive(ctx, &timeout_path, self.scrape_timeout)? {
            Some(t) if t > interval => {
                return Err(ctx.invalid(
                    &timeout_path,
                    format_args!(
                        "global scrape timeout {} greater than scrape interval {}",
                        PromDuration(t),
                        PromDuration(interval)
                    ),
                ));
            }
            Some(t) => t,
            None => DEFAULT_SCRAPE_TIMEOUT.min(interval),
        };
        let evaluation_interval = positive(
            ctx,
            &field(path, "evaluation_interval"),
            self.evaluation_interval,
        )?
        .unwrap_or(DEFAULT_EVALUATION_INTERVAL);

        let labels_path = field(path, "external_labels");
        for name in self.external_labels.keys() {
            if !is_valid_label_name(name) {
                return Err(ctx.invalid_key(
                    &field(&labels_path, name),
                    format_args!("{name:?} is not a valid label name"),
                ));
            }
        }
        Ok(GlobalConfig {
            scrape_interval: interval,
            scrape_timeout: timeout,
            evaluation_interval,
            external_labels: self
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body_size_limit: self.body_size_limit.map_or(0, |b| b.0),
            sample_limit: self.sample_limit,
            label_limit: self.label_limit,
            label_name_length_limit: self.label_name_length_limit,
            label_value_length_limit: self.label_value_length_limit,
        })
    }
}
