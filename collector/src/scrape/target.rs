//! Scrape targets: turning discovered label sets into targets the way Prometheus does
//! (`populateLabels`), and each target's health as `/api/v1/targets` shows it.
//!
//! A discovered set gets the job's defaults (`job`, `__address__`, `__scheme__`,
//! `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`, `__param_<k>`), goes through
//! `relabel_configs`, loses its `__meta_*` labels, gets a default port and `instance`, and is
//! identified by a hash of its labels and URL so a re-sync keeps unchanged targets running.

use crate::relabel;
use lookout_config::ScrapeConfig;
use lookout_store::{Label, Labels};
use parking_lot::Mutex;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime};

pub const ADDRESS: &str = "__address__";
pub const SCHEME: &str = "__scheme__";
pub const METRICS_PATH: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
pub const PARAM_PREFIX: &str = "__param_";
pub const META_PREFIX: &str = "__meta_";

/// Health of a target as Prometheus reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What the last scrape of a target did.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: Duration,
    pub last_samples: u64,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_duration: Duration::ZERO,
            last_samples: 0,
        }
    }
}

/// One scrape target.
#[derive(Debug)]
pub struct Target {
    /// The scrape pool: the job's `job_name` (the `job` label may be relabeled).
    pub pool: String,
    /// Labels before relabeling (as `discoveredLabels` shows them).
    pub discovered: Labels,
    /// Labels after relabeling, including internal `__` labels other than `__meta_*`.
    pub internal: Labels,
    /// The public target labels attached to every sample (no `__` labels).
    pub labels: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub hash: u64,
    pub status: Mutex<TargetStatus>,
}

impl Target {
    pub fn scrape_pool(&self) -> &str {
        &self.pool
    }
}

/// The result of turning one discovered label set into a target.
#[derive(Debug)]
// Returned by value once per target per sync and unpacked at once: boxing the target would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Populated {
    Target(Target),
    /// Dropped by relabeling (shown under `droppedTargets`).
    Dropped(Labels),
}

/// Builds a target from a discovered label set (group labels merged under target labels).
/// Errors name what is wrong (missing address, bad interval label...).
pub fn populate(cfg: &ScrapeConfig, discovered: Labels) -> Result<Populated, String> {
    let mut pairs: Vec<Label> = discovered.into_vec();
    let mut set_default = |name: &str, value: String| {
        if !pairs.iter().any(|l| l.name == name && !l.value.is_empty()) {
            pairs.push(Label {
                name: name.to_string(),
                value,
            });
        }
    };
    set_default("job", cfg.job_name.clone());
    set_default(
        SCRAPE_INTERVAL,
        lookout_config::duration::format(cfg.scrape_interval),
    );
    set_default(
        SCRAPE_TIMEOUT,
        lookout_config::duration::format(cfg.scrape_timeout),
    );
    set_default(METRICS_PATH, cfg.metrics_path.clone());
    set_default(SCHEME, cfg.scheme.as_str().to_string());
    for (k, v) in &cfg.params {
        if let Some(first) = v.first() {
            set_default(&format!("{PARAM_PREFIX}{k}"), first.clone());
        }
    }
    let discovered = Labels::from_vec(pairs);
    let Some(relabeled) = relabel::relabel(&cfg.relabel_configs, &discovered) else {
        return Ok(Populated::Dropped(discovered));
    };
    // `__address__` must survive relabeling.
    let Some(addr) = relabeled.get(ADDRESS).map(str::to_owned) else {
        return Err("no address".to_string());
    };
    let scheme = relabeled.get(SCHEME).unwrap_or("http").to_string();
    let addr = with_default_port(&addr, &scheme)?;

    let interval = parse_dur_label(&relabeled, SCRAPE_INTERVAL, cfg.scrape_interval)?;
    let timeout = parse_dur_label(&relabeled, SCRAPE_TIMEOUT, cfg.scrape_timeout)?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".to_string());
    }
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".to_string());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout {} greater than scrape interval {}",
            lookout_config::duration::format(timeout),
            lookout_config::duration::format(interval)
        ));
    }

    let mut internal: Vec<Label> = relabeled
        .iter()
        .filter(|l| !l.name.starts_with(META_PREFIX))
        .cloned()
        .collect();
    for l in internal.iter_mut() {
        if l.name == ADDRESS {
            l.value = addr.clone();
        }
    }
    if !internal.iter().any(|l| l.name == "instance") {
        internal.push(Label {
            name: "instance".into(),
            value: addr.clone(),
        });
    }
    let internal = Labels::from_vec(internal);
    let labels = relabel::without_reserved(&internal);
    let path = internal.get(METRICS_PATH).unwrap_or("/metrics");
    let url = build_url(&scheme, &addr, path, cfg, &internal);
    let mut h = DefaultHasher::new();
    internal.hash(&mut h);
    url.hash(&mut h);
    Ok(Populated::Target(Target {
        pool: cfg.job_name.clone(),
        discovered,
        internal,
        labels,
        url,
        interval,
        timeout,
        hash: h.finish(),
        status: Mutex::new(TargetStatus::default()),
    }))
}

fn parse_dur_label(l: &Labels, name: &str, default: Duration) -> Result<Duration, String> {
    match l.get(name) {
        None => Ok(default),
        Some(v) => lookout_config::duration::parse(v)
            .map_err(|e| format!("error parsing {name} label {v:?}: {e}")),
    }
}

/// Adds `:80` / `:443` when the address has no port, and rejects addresses that are URLs.
fn with_default_port(addr: &str, scheme: &str) -> Result<String, String> {
    if addr.contains('/') || addr.contains('@') || addr.contains('?') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let has_port = if let Some(rest) = addr.strip_prefix('[') {
        rest.contains("]:")
    } else {
        addr.matches(':').count() == 1
    };
    if has_port {
        return Ok(addr.to_string());
    }
    let port = if scheme == "https" { 443 } else { 80 };
    if addr.matches(':').count() > 1 && !addr.starts_with('[') {
        return Ok(format!("[{addr}]:{port}"));
    }
    Ok(format!("{addr}:{port}"))
}

fn build_url(scheme: &str, addr: &str, path: &str, cfg: &ScrapeConfig, l: &Labels) -> String {
    let mut params: Vec<(String, Vec<String>)> = cfg
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for lab in l.iter() {
        if let Some(k) = lab.name.strip_prefix(PARAM_PREFIX) {
            match params.iter_mut().find(|(pk, _)| pk == k) {
                Some((_, vs)) if !vs.is_empty() => vs[0] = lab.value.clone(),
                Some((_, vs)) => vs.push(lab.value.clone()),
                None => params.push((k.to_string(), vec![lab.value.clone()])),
            }
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut url = format!("{scheme}://{addr}{path}");
    let mut first = !path.contains('?');
    for (k, vs) in &params {
        for v in vs {
            url.push(if first { '?' } else { '&' });
            first = false;
            url.push_str(&query_escape(k));
            url.push('=');
            url.push_str(&query_escape(v));
        }
    }
    url
}

/// Percent-encodes a query component the way Go's `url.QueryEscape` does.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports() {
        assert_eq!(with_default_port("a", "http").unwrap(), "a:80");
        assert_eq!(with_default_port("a", "https").unwrap(), "a:443");
        assert_eq!(with_default_port("a:9", "http").unwrap(), "a:9");
        assert_eq!(with_default_port("[::1]:9", "http").unwrap(), "[::1]:9");
        assert_eq!(with_default_port("::1", "http").unwrap(), "[::1]:80");
        assert!(with_default_port("http://a:9", "http").is_err());
    }

    #[test]
    fn escape() {
        assert_eq!(query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
