//! Scraping: pools (one per job) of loops (one per target), kept in step with discovery and
//! configuration.
//!
//! `ScrapeManager::apply_config` leaves pools whose job is unchanged untouched (their loops
//! keep running, nothing is lost); a changed job gets new loops that inherit each target's
//! series cache when the series' labels cannot have changed; a removed job's loops stop with
//! staleness markers. `ScrapeManager::update` re-syncs one job from a discovery update.

pub mod append;
pub mod client;
pub mod scrape_loop;
pub mod target;

use crate::discovery::{TargetGroup, Update};
use crate::telemetry::Telemetry;
use append::{AppendOptions, ScrapeCache};
use client::ScrapeClient;
use lookout_config::ScrapeConfig;
use lookout_store::{Appendable, Labels};
use parking_lot::Mutex;
use scrape_loop::{LoopContext, LoopHandle, Stop};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use target::{Populated, Target};

struct Running {
    target: Arc<Target>,
    handle: LoopHandle,
}

/// One job's targets and loops.
struct ScrapePool {
    cfg: Arc<ScrapeConfig>,
    client: Option<ScrapeClient>,
    client_error: Option<String>,
    opts: Arc<AppendOptions>,
    groups: BTreeMap<String, Vec<TargetGroup>>,
    loops: HashMap<u64, Running>,
    dropped: Vec<Labels>,
    errors: Vec<(Labels, String)>,
}

fn options(cfg: &ScrapeConfig) -> AppendOptions {
    AppendOptions {
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        sample_limit: cfg.sample_limit,
        label_limit: cfg.label_limit,
        label_name_length_limit: cfg.label_name_length_limit,
        label_value_length_limit: cfg.label_value_length_limit,
        metric_relabel: cfg.metric_relabel_configs.clone(),
    }
}

/// Whether caches built under `a` stay valid under `b` (same series labels for same input).
fn caches_compatible(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    a.metric_relabel_configs == b.metric_relabel_configs
        && a.honor_labels == b.honor_labels
        && a.honor_timestamps == b.honor_timestamps
}

/// A snapshot of one target for `/api/v1/targets`.
#[derive(Debug, Clone)]
pub struct TargetView {
    pub target: Arc<Target>,
}

/// A dropped target for `/api/v1/targets`.
#[derive(Debug, Clone)]
pub struct DroppedView {
    pub discovered: Labels,
    pub scrape_pool: String,
}

/// Owns every scrape pool.
pub struct ScrapeManager {
    storage: Arc<dyn Appendable>,
    telemetry: Arc<Telemetry>,
    pools: Mutex<BTreeMap<String, ScrapePool>>,
}

impl ScrapeManager {
    pub fn new(storage: Arc<dyn Appendable>, telemetry: Arc<Telemetry>) -> Self {
        ScrapeManager {
            storage,
            telemetry,
            pools: Mutex::new(BTreeMap::new()),
        }
    }

    /// Applies a new set of scrape configs (see the module header for what is kept).
    pub fn apply_config(&self, cfgs: &[ScrapeConfig]) {
        let mut pools = self.pools.lock();
        let wanted: HashMap<&str, &ScrapeConfig> =
            cfgs.iter().map(|c| (c.job_name.as_str(), c)).collect();
        pools.retain(|job, pool| {
            if wanted.contains_key(job.as_str()) {
                return true;
            }
            for r in pool.loops.values() {
                r.handle.stop(Stop::WithStaleness);
            }
            false
        });
        for cfg in cfgs {
            match pools.get_mut(&cfg.job_name) {
                Some(pool) if *pool.cfg == *cfg => {}
                Some(pool) => {
                    let keep_caches = caches_compatible(&pool.cfg, cfg);
                    let (client, client_error) = make_client(cfg);
                    pool.cfg = Arc::new(cfg.clone());
                    pool.client = client;
                    pool.client_error = client_error;
                    pool.opts = Arc::new(options(cfg));
                    let old = std::mem::take(&mut pool.loops);
                    let mut caches = HashMap::new();
                    for (h, r) in old {
                        if keep_caches {
                            r.handle.stop(Stop::Quietly);
                            caches.insert(h, r.handle.cache.clone());
                        } else {
                            r.handle.stop(Stop::WithStaleness);
                        }
                    }
                    self.sync_pool(pool, caches);
                }
                None => {
                    let (client, client_error) = make_client(cfg);
                    let mut pool = ScrapePool {
                        cfg: Arc::new(cfg.clone()),
                        client,
                        client_error,
                        opts: Arc::new(options(cfg)),
                        groups: BTreeMap::new(),
                        loops: HashMap::new(),
                        dropped: Vec::new(),
                        errors: Vec::new(),
                    };
                    self.sync_pool(&mut pool, HashMap::new());
                    pools.insert(cfg.job_name.clone(), pool);
                }
            }
        }
        self.count_health(&pools);
    }

    /// Applies a discovery update.
    pub fn update(&self, u: Update) {
        let mut pools = self.pools.lock();
        let Some(pool) = pools.get_mut(&u.job) else {
            return;
        };
        pool.groups.insert(u.provider, u.groups);
        self.sync_pool(pool, HashMap::new());
    }

    /// Drops the groups of providers that are gone (after a reload restarted discovery).
    pub fn retain_providers(&self, job: &str, keep: &[String]) {
        let mut pools = self.pools.lock();
        if let Some(pool) = pools.get_mut(job) {
            let before = pool.groups.len();
            pool.groups.retain(|p, _| keep.contains(p));
            if pool.groups.len() != before {
                self.sync_pool(pool, HashMap::new());
            }
        }
    }

    fn sync_pool(&self, pool: &mut ScrapePool, mut caches: HashMap<u64, Arc<Mutex<ScrapeCache>>>) {
        let mut next: HashMap<u64, Target> = HashMap::new();
        pool.dropped.clear();
        pool.errors.clear();
        for groups in pool.groups.values() {
            for g in groups {
                for d in g.discovered() {
                    match target::populate(&pool.cfg, d.clone()) {
                        Ok(Populated::Target(t)) => {
                            next.entry(t.hash).or_insert(t);
                        }
                        Ok(Populated::Dropped(d)) => pool.dropped.push(d),
                        Err(e) => {
                            tracing::warn!(job = %pool.cfg.job_name, error = %e, "invalid target");
                            pool.errors.push((d, e));
                        }
                    }
                }
            }
        }
        pool.loops.retain(|h, r| {
            if next.contains_key(h) {
                return true;
            }
            r.handle.stop(Stop::WithStaleness);
            false
        });
        for (h, t) in next {
            if pool.loops.contains_key(&h) {
                continue;
            }
            let target = Arc::new(t);
            let Some(client) = pool.client.clone() else {
                let mut st = target.status.lock();
                st.health = target::Health::Down;
                st.last_error = pool.client_error.clone().unwrap_or_default();
                continue;
            };
            let cache = caches.remove(&h).unwrap_or_default();
            let handle = scrape_loop::spawn(LoopContext {
                target: target.clone(),
                client,
                storage: self.storage.clone(),
                opts: pool.opts.clone(),
                body_limit: pool.cfg.body_size_limit,
                telemetry: self.telemetry.clone(),
                cache,
            });
            pool.loops.insert(h, Running { target, handle });
        }
    }

    fn count_health(&self, pools: &BTreeMap<String, ScrapePool>) {
        let (mut up, mut down, mut unknown) = (0, 0, 0);
        for p in pools.values() {
            for r in p.loops.values() {
                match r.target.status.lock().health {
                    target::Health::Up => up += 1,
                    target::Health::Down => down += 1,
                    target::Health::Unknown => unknown += 1,
                }
            }
        }
        self.telemetry.targets_up.store(up, Relaxed);
        self.telemetry.targets_down.store(down, Relaxed);
        self.telemetry.targets_unknown.store(unknown, Relaxed);
    }

    /// Active targets (sorted by pool and URL) and dropped targets.
    pub fn targets(&self) -> (Vec<Arc<Target>>, Vec<DroppedView>) {
        let pools = self.pools.lock();
        self.count_health(&pools);
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        for (job, p) in pools.iter() {
            let mut ts: Vec<Arc<Target>> = p.loops.values().map(|r| r.target.clone()).collect();
            ts.sort_by(|a, b| a.url.cmp(&b.url));
            active.extend(ts);
            for d in &p.dropped {
                dropped.push(DroppedView {
                    discovered: d.clone(),
                    scrape_pool: job.clone(),
                });
            }
        }
        (active, dropped)
    }

    /// Metric metadata gathered from every target's last scrapes: `(metric, kind, help, unit)`.
    pub fn metadata(&self) -> Vec<(String, append::MetricMeta)> {
        let pools = self.pools.lock();
        let mut out: BTreeMap<String, Vec<append::MetricMeta>> = BTreeMap::new();
        for p in pools.values() {
            for r in p.loops.values() {
                for (k, m) in r.handle.cache.lock().metadata.iter() {
                    let v = out.entry(k.clone()).or_default();
                    if !v.contains(m) {
                        v.push(m.clone());
                    }
                }
            }
        }
        out.into_iter()
            .flat_map(|(k, v)| v.into_iter().map(move |m| (k.clone(), m)))
            .collect()
    }

    /// Stops every loop without staleness markers (shutdown) and waits for them.
    pub async fn shutdown(&self) {
        let joins: Vec<tokio::task::JoinHandle<()>> = {
            let mut pools = self.pools.lock();
            let mut j = Vec::new();
            for p in pools.values_mut() {
                for (_, r) in p.loops.drain() {
                    r.handle.stop(Stop::Quietly);
                    j.push(r.handle.join);
                }
            }
            j
        };
        for j in joins {
            let _ = j.await;
        }
    }
}

fn make_client(cfg: &ScrapeConfig) -> (Option<ScrapeClient>, Option<String>) {
    match ScrapeClient::new(&cfg.http) {
        Ok(c) => (Some(c), None),
        Err(e) => {
            tracing::error!(job = %cfg.job_name, error = %e, "cannot build HTTP client");
            (None, Some(e))
        }
    }
}
