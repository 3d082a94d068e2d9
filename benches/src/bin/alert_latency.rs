//! `alert_latency`: how long after an alert condition has held for its `for` the webhook
//! request arrives, measured end to end through the real `lookout` binary.
//!
//! Setup (all on loopback, in this process except lookout): N scrape targets, each its own
//! `instance`; a webhook receiver; lookout scraping every target at `--scrape-interval` with
//! the rule `up{job="t"} == 0` (`for: --for`), evaluated every `--eval-interval`, routed with
//! `group_by: [instance]`, `group_wait: 0s` to the receiver (one message per alert). Once every
//! target is up, target i goes down (answers 503) at `i × stagger / N`, spreading the moments
//! the conditions begin over every phase of the evaluation schedule.
//!
//! Per alert: the condition begins when the target serves its first 503 (the failed scrape's
//! timestamp, within a millisecond); the latency is the arrival of the first firing message for
//! that instance minus (that moment + `for`). The bound is one evaluation interval plus
//! one second. A second figure takes the alert's `startsAt` (the first evaluation that saw the
//! condition, Prometheus' `activeAt`) + `for` as the start instead: it leaves out the wait for
//! that first evaluation and shows what rounding `for` up to whole intervals and delivery cost.
//! Prints both distributions and writes JSON (`--out`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use clap::Parser;
use tokio::sync::Mutex;

/// Measure notification latency of lookout's alerting.
#[derive(Debug, Parser)]
#[command(name = "alert_latency")]
struct Args {
    /// The `lookout` binary.
    #[arg(long)]
    lookout: PathBuf,
    /// Alerts (targets that go down).
    #[arg(long, default_value_t = 50)]
    alerts: usize,
    /// The rule's `for`, in seconds.
    #[arg(long = "for", default_value_t = 5)]
    for_secs: u64,
    /// `global.evaluation_interval`, in seconds.
    #[arg(long, default_value_t = 2)]
    eval_interval: u64,
    /// `global.scrape_interval`, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    scrape_interval_ms: u64,
    /// Spread of the targets' down moments, in seconds.
    #[arg(long, default_value_t = 10)]
    stagger: u64,
    /// lookout's listen address.
    #[arg(long, default_value = "127.0.0.1:19092")]
    listen: String,
    /// Write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

struct Target {
    down: AtomicBool,
    scrapes: AtomicU64,
    first_down: std::sync::Mutex<Option<Instant>>,
}

async fn scrape(State(t): State<Arc<Target>>) -> (StatusCode, &'static str) {
    t.scrapes.fetch_add(1, Ordering::Relaxed);
    if t.down.load(Ordering::SeqCst) {
        let mut f = t.first_down.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert_with(Instant::now);
        (StatusCode::SERVICE_UNAVAILABLE, "down\n")
    } else {
        (StatusCode::OK, "bench_up 1\n")
    }
}

/// instance → arrival of its first firing message (monotonic and wall clock) and the alert's
/// `startsAt`; and the count of firing messages.
#[derive(Default)]
struct Received {
    first: HashMap<String, (Instant, SystemTime, Option<SystemTime>)>,
    messages: HashMap<String, usize>,
}

async fn hook(State(r): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let at = (Instant::now(), SystemTime::now());
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut r = r.lock().await;
    for a in v["alerts"].as_array().into_iter().flatten() {
        if a["status"] != "firing" {
            continue;
        }
        if let Some(i) = a["labels"]["instance"].as_str() {
            let starts = a["startsAt"]
                .as_str()
                .and_then(lookout_query::notifier::parse_rfc3339);
            r.first.entry(i.to_string()).or_insert((at.0, at.1, starts));
            *r.messages.entry(i.to_string()).or_default() += 1;
        }
    }
    StatusCode::OK
}

async fn serve(app: axum::Router) -> std::io::Result<SocketAddr> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Ok(addr)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alert_latency: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let n = args.alerts.max(1);
    let mut targets = Vec::with_capacity(n);
    let mut addrs = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Arc::new(Target {
            down: AtomicBool::new(false),
            scrapes: AtomicU64::new(0),
            first_down: std::sync::Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(scrape))
            .with_state(t.clone());
        addrs.push(serve(app).await.map_err(|e| format!("target: {e}"))?);
        targets.push(t);
    }
    let received = Arc::new(Mutex::new(Received::default()));
    let hook_addr = serve(
        axum::Router::new()
            .route("/", axum::routing::post(hook))
            .with_state(received.clone()),
    )
    .await
    .map_err(|e| format!("webhook: {e}"))?;

    let dir = std::env::temp_dir().join(format!("alert_latency_{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let list: Vec<String> = addrs.iter().map(|a| format!("'{a}'")).collect();
    let timeout = (args.scrape_interval_ms / 2).max(100);
    std::fs::write(
        dir.join("rules.yaml"),
        format!(
            "groups:\n  - name: latency\n    rules:\n      - alert: TargetDown\n        expr: up{{job=\"t\"}} == 0\n        for: {}s\n",
            args.for_secs
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("lookout.yaml"),
        format!(
            "global:\n  scrape_interval: {}ms\n  scrape_timeout: {timeout}ms\n  evaluation_interval: {}s\nrule_files: [rules.yaml]\nscrape_configs:\n  - job_name: t\n    static_configs: [{{targets: [{}]}}]\nkubernetes: {{enabled: false}}\nnotifications:\n  route:\n    receiver: hook\n    group_by: [instance]\n    group_wait: 0s\n    group_interval: 1s\n    repeat_interval: 1h\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: http://{hook_addr}/\n",
            args.scrape_interval_ms,
            args.eval_interval,
            list.join(", ")
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("lookout.log")).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let _lookout = Child(
        std::process::Command::new(&args.lookout)
            .arg("agent")
            .arg("--config")
            .arg(dir.join("lookout.yaml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen", &args.listen])
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| format!("{}: {e}", args.lookout.display()))?,
    );
    eprintln!(
        "alert_latency: {n} targets, for {}s, evaluation {}s, scrape {}ms; lookout log in {}",
        args.for_secs,
        args.eval_interval,
        args.scrape_interval_ms,
        dir.display()
    );

    // Every target scraped twice: lookout runs and has seen them up.
    let deadline = Instant::now() + Duration::from_secs(60);
    while targets
        .iter()
        .any(|t| t.scrapes.load(Ordering::Relaxed) < 2)
    {
        if Instant::now() > deadline {
            return Err("targets were not scraped within 60s (see the lookout log)".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let a few evaluations see every target up.
    tokio::time::sleep(Duration::from_secs(args.eval_interval * 2)).await;

    let start = Instant::now();
    let step = Duration::from_secs(args.stagger).as_secs_f64() / n as f64;
    for (i, t) in targets.iter().enumerate() {
        tokio::time::sleep_until((start + Duration::from_secs_f64(step * i as f64)).into()).await;
        t.down.store(true, Ordering::SeqCst);
    }
    let wait = Duration::from_secs(args.for_secs + 3 * args.eval_interval + 60);
    let deadline = Instant::now() + wait;
    loop {
        if received.lock().await.first.len() >= n {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Late duplicates would show here.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let rec = received.lock().await;
    let for_ = Duration::from_secs(args.for_secs);
    // Signed milliseconds from `due` to `at`.
    let signed_ms = |at: Duration, early: Duration| (at.as_secs_f64() - early.as_secs_f64()) * 1e3;
    let mut lat_ms = Vec::new();
    let mut active_ms = Vec::new();
    let mut missing = 0;
    for (t, a) in targets.iter().zip(&addrs) {
        let began = *t.first_down.lock().unwrap_or_else(|e| e.into_inner());
        match (began, rec.first.get(&a.to_string())) {
            (Some(b), Some((at, wall, starts))) => {
                let due = b + for_;
                lat_ms.push(signed_ms(
                    at.saturating_duration_since(due),
                    due.saturating_duration_since(*at),
                ));
                if let Some(s) = starts {
                    let due = *s + for_;
                    active_ms.push(signed_ms(
                        wall.duration_since(due).unwrap_or_default(),
                        due.duration_since(*wall).unwrap_or_default(),
                    ));
                }
            }
            _ => missing += 1,
        }
    }
    let duplicates: usize = rec.messages.values().map(|c| c.saturating_sub(1)).sum();
    let bound_ms = (args.eval_interval * 1000 + 1000) as f64;
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        serde_json::json!({
            "min": percentile(v, 0.0), "p50": percentile(v, 50.0), "p90": percentile(v, 90.0),
            "p99": percentile(v, 99.0), "max": percentile(v, 100.0), "mean": mean,
            "within_bound": v.iter().filter(|x| **x <= bound_ms).count(),
        })
    };
    let lat = stats(&mut lat_ms);
    let act = stats(&mut active_ms);
    println!(
        "alerts {n}: measured {}, missing {missing}, duplicate firing messages {duplicates}",
        lat_ms.len()
    );
    for (what, s, len) in [
        ("condition began + for", &lat, lat_ms.len()),
        ("startsAt (activeAt) + for", &act, active_ms.len()),
    ] {
        println!(
            "after {what:<26} (ms): min {:.0}  p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}  mean {:.0}; within {bound_ms:.0} ms: {}/{len}",
            s["min"].as_f64().unwrap_or(f64::NAN),
            s["p50"].as_f64().unwrap_or(f64::NAN),
            s["p90"].as_f64().unwrap_or(f64::NAN),
            s["p99"].as_f64().unwrap_or(f64::NAN),
            s["max"].as_f64().unwrap_or(f64::NAN),
            s["mean"].as_f64().unwrap_or(f64::NAN),
            s["within_bound"],
        );
    }
    if let Some(out) = &args.out {
        let json = serde_json::json!({
            "alerts": n, "measured": lat_ms.len(), "missing": missing, "duplicates": duplicates,
            "for_s": args.for_secs, "evaluation_interval_s": args.eval_interval,
            "scrape_interval_ms": args.scrape_interval_ms, "stagger_s": args.stagger,
            "bound_ms": bound_ms,
            "after_condition_plus_for_ms": lat, "after_starts_at_plus_for_ms": act,
            "samples_after_condition_plus_for_ms": lat_ms,
            "samples_after_starts_at_plus_for_ms": active_ms,
        });
        if let Some(parent) = out.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(out, format!("{json:#}\n"))
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    drop(rec);
    if missing > 0 {
        return Err(format!(
            "{missing} alerts never arrived (lookout log kept in {})",
            dir.display()
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
