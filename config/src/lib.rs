//! lookout-config: lookout's typed configuration.
//!
//! The config file is YAML in Prometheus' format (so `global` and `scrape_configs` can be
//! pasted from a prometheus.yml), read into raw serde types with `deny_unknown_fields` and
//! then validated into the checked types re-exported here. Every error about the file's
//! content names `file:line:column` of the offending node.
//!
//! Entry points: [`load_file`], [`load_str`], [`default_config`], [`parse_file_sd`].
//!
//! Modules, one concern each: [`duration`] and [`size`] (human strings), [`secret`]
//! (secrets and where they come from), [`error`], [`relabel`] (relabel rules),
//! [`target`] (address and label name syntax); the sections `global`, `scrape`, `http`,
//! `tls`, `discovery`, `storage`; `position` (node positions) and `load` (the pipeline).

mod context;
mod discovery;
pub mod duration;
pub mod error;
mod global;
mod http;
mod kubernetes;
pub mod label_selector;
mod load;
mod logs;
pub mod notify;
mod position;
pub mod relabel;
pub mod rules;
mod scrape;
pub mod secret;
pub mod size;
mod storage;
pub mod target;
mod tls;

pub use discovery::{
    DEFAULT_FILE_SD_REFRESH_INTERVAL, FileSdConfig, RawFileSdConfig, RawStaticConfig, StaticConfig,
    parse_file_sd,
};
pub use error::{Error, Result};
pub use global::{
    DEFAULT_EVALUATION_INTERVAL, DEFAULT_SCRAPE_INTERVAL, DEFAULT_SCRAPE_TIMEOUT, GlobalConfig,
    RawGlobalConfig,
};
pub use http::{
    Authorization, BasicAuth, HttpClientConfig, RawAuthorization, RawBasicAuth,
    RawHttpClientConfig, redact_url,
};
pub use kubernetes::{
    DEFAULT_LEASE_DURATION, DEFAULT_LEASE_NAME, KubernetesConfig, KubernetesEnabled,
    RawKubernetesConfig,
};
pub use load::{
    Config, DEFAULT_CONFIG_YAML, DEFAULT_SELF_SCRAPE_ADDR, RawConfig, SELF_SCRAPE_JOB,
    default_config, load_file, load_str,
};
pub use logs::{
    DEFAULT_LOG_RETENTION_TIME, DEFAULT_MAX_LINE_SIZE, DEFAULT_PODS_ROOT, LogsConfig, RawLogCommit,
    RawLogIndex, RawLogRetention, RawLogsConfig,
};
pub use scrape::{DEFAULT_METRICS_PATH, RawScrapeConfig, Scheme, ScrapeConfig};
pub use secret::{Secret, SecretSource};
pub use storage::{
    DEFAULT_RETENTION_TIME, RawRetention, RawStorageConfig, RawTsdbConfig, StorageConfig,
    TsdbConfig,
};
pub use tls::{RawTlsConfig, TlsConfig, TlsVersion};
