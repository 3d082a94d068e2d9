//! Target discovery: providers turn configuration (and later the Kubernetes API) into target
//! groups, and send each change as the full set of groups of one provider.
//!
//! A provider sends `Update { job, provider, groups }`; the scrape manager replaces that
//! provider's groups and re-syncs the job's targets (unchanged targets keep running).

pub mod file;
pub mod kubernetes;

use lookout_store::Labels;

/// A group of targets sharing labels, as Prometheus' `targetgroup.Group`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroup {
    /// Where the group comes from (e.g. `static/0`, a file path and index).
    pub source: String,
    /// One label set per target; each has at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to all targets of the group (target labels win on conflict).
    pub labels: Labels,
}

impl TargetGroup {
    /// Each target's discovered labels: group labels overlaid by the target's own.
    pub fn discovered(&self) -> impl Iterator<Item = Labels> + '_ {
        self.targets.iter().map(|t| {
            let mut v = self.labels.clone().into_vec();
            v.extend(t.iter().cloned());
            Labels::from_vec(v)
        })
    }
}

/// A change from one provider: the complete current set of its groups.
#[derive(Debug, Clone)]
pub struct Update {
    pub job: String,
    pub provider: String,
    pub groups: Vec<TargetGroup>,
}

/// Groups of `static_configs`, with sources `static/<i>`.
pub fn static_groups(cfg: &lookout_config::ScrapeConfig) -> Vec<TargetGroup> {
    cfg.static_configs
        .iter()
        .enumerate()
        .map(|(i, sc)| to_group(format!("static/{i}"), sc))
        .collect()
}

/// Converts one static config (also a file_sd entry) into a group.
pub fn to_group(source: String, sc: &lookout_config::StaticConfig) -> TargetGroup {
    TargetGroup {
        source,
        targets: sc
            .targets
            .iter()
            .map(|a| Labels::from_pairs([("__address__", a.as_str())]))
            .collect(),
        labels: Labels::from_pairs(sc.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    }
}
