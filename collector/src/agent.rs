//! The `lookout agent` program: loads the configuration, starts the store, the scrape
//! manager, discovery and the HTTP server, and runs until SIGTERM/SIGINT.
//!
//! Reload (SIGHUP, `POST /-/reload`, or a change of the config file on disk): the new file is
//! loaded and validated first; a bad file is logged, counted and ignored, and the running
//! configuration stays. A good one is applied job by job: unchanged jobs keep their loops and
//! discovery; changed ones are rebuilt (see `scrape` for what survives).

use crate::alerts::{self, Alerting};
use crate::discovery::{self, Update};
use crate::http::{self, CollectorTargets, SelfState};
use crate::scrape::ScrapeManager;
use crate::telemetry::Telemetry;
use lookout_config::{Config, ScrapeConfig};
use lookout_store::{Db, DbOptions, FsyncPolicy, HeadOptions, WalOptions};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use tokio::sync::{mpsc, watch};

/// How the agent was started.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The config file; `None` runs on the embedded default.
    pub config_path: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub listen: String,
    /// `--kubeconfig` / `--node-name` for Kubernetes discovery.
    pub kube: discovery::kubernetes::Flags,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Config(#[from] lookout_config::Error),
    #[error("creating data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
    #[error("rules: {0}")]
    Rules(String),
    #[error("kubernetes discovery: {0}")]
    Kubernetes(#[from] discovery::kubernetes::AccessError),
    #[error("time-series store: {0}")]
    Store(#[from] lookout_store::Error),
}

/// Opens the time-series store in `<data-dir>/tsdb`, replaying its write-ahead log.
fn open_store(data_dir: &Path, c: &lookout_config::TsdbConfig) -> Result<Db, AgentError> {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let opts = DbOptions {
        head: HeadOptions {
            out_of_order_window_ms: ms(c.out_of_order_time_window),
            ..HeadOptions::default()
        },
        wal: WalOptions {
            fsync: c
                .wal_fsync_interval
                .map_or_else(FsyncPolicy::default, FsyncPolicy::Interval),
            ..WalOptions::default()
        },
        retention_ms: ms(c.retention_time),
        retention_bytes: c.retention_size,
        block_range_ms: ms(c.block_duration),
        ..DbOptions::default()
    };
    Ok(Db::open(data_dir.join("tsdb"), opts)?)
}

fn load(opts: &AgentOptions, bound: &str) -> Result<Config, lookout_config::Error> {
    match &opts.config_path {
        Some(p) => lookout_config::load_file(p),
        None => Ok(lookout_config::default_config(bound)),
    }
}

/// Discovery providers of one job, kept while the job's discovery config is unchanged.
struct JobDiscovery {
    sd: (
        Vec<lookout_config::StaticConfig>,
        Vec<lookout_config::FileSdConfig>,
    ),
    stops: Vec<watch::Sender<bool>>,
}

fn sd_part(
    c: &ScrapeConfig,
) -> (
    Vec<lookout_config::StaticConfig>,
    Vec<lookout_config::FileSdConfig>,
) {
    (c.static_configs.clone(), c.file_sd_configs.clone())
}

/// Starts or keeps each job's providers so they match `cfgs`.
fn sync_discovery(
    running: &mut HashMap<String, JobDiscovery>,
    cfgs: &[ScrapeConfig],
    manager: &ScrapeManager,
    tx: &mpsc::Sender<Update>,
    telemetry: &Arc<Telemetry>,
) {
    running.retain(|job, jd| {
        let keep = cfgs
            .iter()
            .any(|c| &c.job_name == job && sd_part(c) == jd.sd);
        if !keep {
            for s in &jd.stops {
                let _ = s.send(true);
            }
        }
        keep
    });
    for c in cfgs {
        if running.contains_key(&c.job_name) {
            // Unchanged discovery: re-send the static groups, since a changed job's pool
            // was rebuilt (the groups of its file providers are kept by the pool).
            manager.update(Update {
                job: c.job_name.clone(),
                provider: "static".into(),
                groups: discovery::static_groups(c),
            });
            continue;
        }
        let mut providers = vec!["static".to_string()];
        manager.update(Update {
            job: c.job_name.clone(),
            provider: "static".into(),
            groups: discovery::static_groups(c),
        });
        let mut stops = Vec::new();
        for (i, f) in c.file_sd_configs.iter().enumerate() {
            let (stx, srx) = watch::channel(false);
            let provider = format!("file/{i}");
            providers.push(provider.clone());
            tokio::spawn(discovery::file::run(
                c.job_name.clone(),
                provider,
                f.clone(),
                tx.clone(),
                telemetry.clone(),
                srx,
            ));
            stops.push(stx);
        }
        manager.retain_providers(&c.job_name, &providers);
        running.insert(
            c.job_name.clone(),
            JobDiscovery {
                sd: sd_part(c),
                stops,
            },
        );
    }
}

/// Runs the agent until a termination signal.
pub async fn run(opts: AgentOptions) -> Result<(), AgentError> {
    std::fs::create_dir_all(&opts.data_dir).map_err(|source| AgentError::DataDir {
        path: opts.data_dir.clone(),
        source,
    })?;
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .map_err(|source| AgentError::Listen {
            addr: opts.listen.clone(),
            source,
        })?;
    let bound: SocketAddr = listener.local_addr().map_err(AgentError::Serve)?;
    let mut cfg = load(&opts, &bound.to_string())?;
    tracing::info!(
        listen = %bound,
        data_dir = %opts.data_dir.display(),
        config = %opts.config_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "<embedded default>".into()),
        jobs = cfg.scrape_configs.len(),
        "starting lookout"
    );

    let telemetry = Arc::new(Telemetry::new());
    telemetry.config_last_reload_success.store(1, Relaxed);
    let db = Arc::new(open_store(&opts.data_dir, &cfg.storage.tsdb)?);
    let head = db.head().clone();
    let log_metrics = Arc::new(crate::logs::LogMetrics::default());
    // Pod labels for log streams come from discovery's pod watch; the map is shared before
    // either starts, and tailing starts after discovery so new files wait for their labels.
    let pod_labels = cfg
        .logs
        .is_enabled()
        .then(|| crate::logs::pod_labels_from_config(&cfg.logs));
    let manager = Arc::new(ScrapeManager::new(head.clone(), telemetry.clone()));
    let (utx, mut urx) = mpsc::channel::<Update>(64);
    let mut discovery: HashMap<String, JobDiscovery> = HashMap::new();
    manager.apply_config(&cfg.scrape_configs);
    sync_discovery(
        &mut discovery,
        &cfg.scrape_configs,
        &manager,
        &utx,
        &telemetry,
    );

    let mut kube =
        discovery::kubernetes::Runner::new(opts.kube.clone(), telemetry.kubernetes.clone());
    if let Some(m) = &pod_labels {
        kube = kube.with_pod_labels(m.clone());
    }
    kube.configure(&cfg.kubernetes, &cfg.global, &manager)
        .await?;
    let logs =
        crate::logs::start_from_config(&cfg.logs, &opts.data_dir, log_metrics.clone(), pod_labels);

    let groups = alerts::load_rules(&cfg).map_err(AgentError::Rules)?;
    // Reads go through the Db, which merges blocks and the head.
    let alerting = Alerting::start(
        &cfg,
        groups,
        head.clone(),
        db.clone(),
        format!("http://{bound}"),
    )
    .map_err(AgentError::Rules)?;

    let ready = Arc::new(AtomicBool::new(false));
    let (reload_tx, mut reload_rx) = mpsc::channel::<()>(1);
    let api_state = lookout_query::api::ApiState {
        querier: db.clone(),
        targets: Arc::new(CollectorTargets {
            manager: manager.clone(),
            kubernetes: telemetry.kubernetes.clone(),
        }),
    };
    let app = http::router(
        api_state,
        SelfState {
            telemetry: telemetry.clone(),
            head: head.clone(),
            ready: ready.clone(),
            reload: reload_tx.clone(),
            extra_metrics: vec![
                {
                    let m = alerting.metrics.clone();
                    Arc::new(move || m.render())
                },
                {
                    let db = db.clone();
                    Arc::new(move || {
                        let mut s = String::new();
                        db.render_metrics(&mut s);
                        s
                    })
                },
                {
                    let m = log_metrics.clone();
                    Arc::new(move || {
                        let mut s = String::new();
                        m.render(&mut s);
                        s
                    })
                },
            ],
        },
    )
    .merge(lookout_query::rules::api::router(alerting.rules.clone()))
    .merge(lookout_query::api::write::write_router(head.clone()));
    // Mounted with tailing off too (empty answers), so Grafana's Loki data source test works.
    let searcher: Arc<dyn lookout_store::logs::LogSearcher> = match &logs {
        Some(l) => l.index.clone(),
        None => Arc::new(lookout_store::logs::NoLogs),
    };
    let app = app.merge(lookout_query::loki::router(
        lookout_query::loki::LokiState { searcher },
    ));
    let (shut_tx, mut shut_rx) = watch::channel(false);
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shut_rx.wait_for(|v| *v).await;
            })
            .await
    });
    let _watcher = opts
        .config_path
        .as_deref()
        .and_then(|p| watch_config(p, reload_tx.clone()));
    ready.store(true, Relaxed);

    let mut term = signal(tokio::signal::unix::SignalKind::terminate());
    let mut hup = signal(tokio::signal::unix::SignalKind::hangup());
    loop {
        tokio::select! {
            Some(u) = urx.recv() => manager.update(u),
            c = kube.next_change() => match c {
                discovery::kubernetes::Change::Targets(g) => kube.apply(&manager, g),
                discovery::kubernetes::Change::Rules(r) => alerting.set_object_rules(&r),
            },
            Some(()) = reload_rx.recv() => {
                reload(&opts, &bound, &mut cfg, &manager, &mut discovery, &utx, &telemetry, &alerting);
                reload_kube(&mut kube, &cfg, &manager).await;
            }
            _ = recv(&mut hup) => {
                reload(&opts, &bound, &mut cfg, &manager, &mut discovery, &utx, &telemetry, &alerting);
                reload_kube(&mut kube, &cfg, &manager).await;
            }
            _ = recv(&mut term) => { tracing::info!("received SIGTERM, shutting down"); break; }
            _ = tokio::signal::ctrl_c() => { tracing::info!("received SIGINT, shutting down"); break; }
        }
    }
    ready.store(false, Relaxed);
    for jd in discovery.values() {
        for s in &jd.stops {
            let _ = s.send(true);
        }
    }
    kube.stop().await;
    alerting.shutdown().await;
    manager.shutdown().await;
    // Scrape loops wrote their staleness markers: make everything durable.
    if let Err(e) = db.close() {
        tracing::error!(error = %e, "closing the time-series store failed");
    }
    if let Some(l) = logs {
        // Commits what was read, with its checkpoint.
        let _ = tokio::task::spawn_blocking(move || l.shutdown()).await;
    }
    let _ = shut_tx.send(true);
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(AgentError::Serve(e)),
        Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
    }
    tracing::info!("lookout stopped");
    Ok(())
}

/// Applies the (possibly reloaded) `kubernetes` section; a failure keeps the agent running.
async fn reload_kube(
    kube: &mut discovery::kubernetes::Runner,
    cfg: &Config,
    manager: &ScrapeManager,
) {
    if let Err(e) = kube.configure(&cfg.kubernetes, &cfg.global, manager).await {
        tracing::error!(error = %e, "kubernetes discovery cannot run with the reloaded configuration");
    }
}

fn signal(k: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(k).ok()
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[allow(clippy::too_many_arguments)]
fn reload(
    opts: &AgentOptions,
    bound: &SocketAddr,
    cfg: &mut Config,
    manager: &ScrapeManager,
    discovery: &mut HashMap<String, JobDiscovery>,
    utx: &mpsc::Sender<Update>,
    telemetry: &Arc<Telemetry>,
    alerting: &Alerting,
) {
    telemetry.config_reloads_total.fetch_add(1, Relaxed);
    // Config and rule files load together: either both apply or neither does.
    let loaded = load(opts, &bound.to_string())
        .map_err(|e| e.to_string())
        .and_then(|new| {
            let groups = alerts::load_rules(&new)?;
            alerting.apply(&new, groups)?;
            Ok(new)
        });
    match loaded {
        Err(e) => {
            telemetry.config_reload_failures_total.fetch_add(1, Relaxed);
            telemetry.config_last_reload_success.store(0, Relaxed);
            tracing::error!(error = %e, "configuration reload failed; keeping the running configuration");
        }
        Ok(new) => {
            telemetry.config_last_reload_success.store(1, Relaxed);
            if new == *cfg {
                tracing::info!("configuration unchanged");
                return;
            }
            manager.apply_config(&new.scrape_configs);
            sync_discovery(discovery, &new.scrape_configs, manager, utx, telemetry);
            *cfg = new;
            tracing::info!(jobs = cfg.scrape_configs.len(), "configuration reloaded");
        }
    }
}

/// Watches the config file's directory (editors and ConfigMap updates replace the file) and
/// asks for a reload when the file changes.
fn watch_config(path: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let file = path.file_name()?.to_os_string();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !ev.kind.is_access()
            && ev.paths.iter().any(|p| {
                p.file_name() == Some(file.as_os_str())
                    || p.file_name()
                        .is_some_and(|f| f.to_string_lossy().starts_with("..data"))
            })
        {
            let _ = tx.try_send(());
        }
    })
    .ok()?;
    if let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; reload with SIGHUP");
        return None;
    }
    Some(w)
}
