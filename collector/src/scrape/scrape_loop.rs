//! One loop per target: wait for the target's slot in the interval, fetch, append, report.
//!
//! Start offsets are spread over the interval by the target's hash, so 1,000 targets do not
//! all fire at once. Timestamps snap to the schedule when the scrape starts within
//! [`TIMESTAMP_TOLERANCE_MS`] of its slot (Prometheus 2.39+ does the same): exact intervals
//! compress to one bit per timestamp, jitter costs bytes. Every scrape writes the synthetic
//! series `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`.
//!
//! Cost per scrape: one body buffer borrowed from a process-wide pool (so 1,000 idle loops do
//! not each pin a body's worth of memory), one appender, one cache lookup per sample.

use crate::scrape::append::{AppendOptions, Appended, ScrapeCache, ScrapeError};
use crate::scrape::client::ScrapeClient;
use crate::scrape::target::{Health, Target};
use crate::telemetry::Telemetry;
use lookout_store::{Appendable, Appender, Labels, SeriesRef, stale_nan};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Scrapes that start this close to their slot get the slot's timestamp. Prometheus uses 2 ms;
/// we allow 10 ms so that a busy node (timer wake-ups late by a few ms) still stores exact
/// intervals. The error this introduces is at most 10 ms on a 15 s (or longer) interval.
pub const TIMESTAMP_TOLERANCE_MS: i64 = 10;

/// The timestamp of a scrape that starts at `now` for slot `slot`.
pub fn scrape_timestamp(now: i64, slot: i64) -> i64 {
    if (now - slot).abs() <= TIMESTAMP_TOLERANCE_MS {
        slot
    } else {
        now
    }
}

/// Body buffers not in use. Only scrapes in flight hold one, so the pool stays as small as
/// the scrape concurrency while buffers keep their capacity from scrape to scrape.
static BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// At most this many idle buffers are kept.
const MAX_POOLED: usize = 64;
/// Buffers that grew past this (a one-off huge body) are dropped rather than pooled.
const MAX_POOLED_CAPACITY: usize = 16 << 20;

fn take_buffer() -> Vec<u8> {
    BUFFERS.lock().pop().unwrap_or_default()
}

fn give_buffer(mut b: Vec<u8>) {
    if b.capacity() > MAX_POOLED_CAPACITY {
        return;
    }
    b.clear();
    let mut pool = BUFFERS.lock();
    if pool.len() < MAX_POOLED {
        pool.push(b);
    }
}

/// How a loop is told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Running,
    /// The target went away: write staleness markers for its series.
    WithStaleness,
    /// Shutdown or hand-over to a reloaded loop: leave series as they are.
    Quietly,
}

/// Everything a loop needs; built by the scrape pool.
pub struct LoopContext {
    pub target: Arc<Target>,
    pub client: ScrapeClient,
    pub storage: Arc<dyn Appendable>,
    pub opts: Arc<AppendOptions>,
    pub body_limit: u64,
    pub telemetry: Arc<Telemetry>,
    pub cache: Arc<Mutex<ScrapeCache>>,
}

/// A running loop.
#[derive(Debug)]
pub struct LoopHandle {
    stop: watch::Sender<Stop>,
    pub cache: Arc<Mutex<ScrapeCache>>,
    pub join: tokio::task::JoinHandle<()>,
}

impl LoopHandle {
    pub fn stop(&self, how: Stop) {
        let _ = self.stop.send(how);
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Starts a loop on the current tokio runtime.
pub fn spawn(ctx: LoopContext) -> LoopHandle {
    let (tx, rx) = watch::channel(Stop::Running);
    let cache = ctx.cache.clone();
    let join = tokio::spawn(run(ctx, rx));
    LoopHandle {
        stop: tx,
        cache,
        join,
    }
}

/// The first slot: the next wall-clock time congruent to the target's offset.
fn first_slot(now: i64, interval_ms: i64, hash: u64) -> i64 {
    let offset = (hash % interval_ms as u64) as i64;
    let base = now - now.rem_euclid(interval_ms);
    let mut slot = base + offset;
    if slot < now {
        slot += interval_ms;
    }
    slot
}

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

struct Reporter {
    refs: [SeriesRef; 5],
    labels: Vec<Labels>,
}

impl Reporter {
    fn new(target: &Labels) -> Self {
        let labels = REPORT_NAMES
            .iter()
            .map(|n| {
                let mut v: Vec<(String, String)> = target
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                v.push(("__name__".into(), (*n).into()));
                Labels::from_pairs(v)
            })
            .collect();
        Reporter {
            refs: [0; 5],
            labels,
        }
    }

    fn write(&mut self, app: &mut dyn Appender, t: i64, vals: [f64; 5]) {
        for (i, v) in vals.iter().enumerate() {
            match app.append(self.refs[i], &self.labels[i], t, *v) {
                Ok(r) => self.refs[i] = r,
                Err(_) => {
                    // A stale reference (series collected): look up by labels next time.
                    self.refs[i] = 0;
                }
            }
        }
    }
}

async fn run(ctx: LoopContext, mut stop: watch::Receiver<Stop>) {
    let interval_ms = ctx.target.interval.as_millis().max(1) as i64;
    let mut slot = first_slot(now_ms(), interval_ms, ctx.target.hash);
    let mut reporter = Reporter::new(&ctx.target.labels);
    let mut last_ts: Option<i64> = None;
    let mut special: Option<(ScrapeClient, String, String)> = None;
    let mut special_tried = false;
    loop {
        let wait = (slot - now_ms()).max(0) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stop.changed() => {}
        }
        let how = *stop.borrow();
        if how != Stop::Running {
            if how == Stop::WithStaleness
                && let Some(_last) = last_ts
            {
                let t = now_ms();
                let mut app = ctx.storage.appender();
                let n = ctx.cache.lock().append_stale_all(&mut *app, t).unwrap_or(0);
                reporter.write(&mut *app, t, [stale_nan(); 5]);
                if app.commit().is_ok() {
                    ctx.telemetry.stale_markers_total.fetch_add(n + 5, Relaxed);
                }
            }
            return;
        }
        let now = now_ms();
        let ts = scrape_timestamp(now, slot);
        // Next slot; skip slots we are already past (a stalled process does not burst).
        slot += interval_ms;
        while slot <= now {
            slot += interval_ms;
        }
        if !special_tried {
            special_tried = true;
            match ctx.client.for_target(&ctx.target.url).await {
                Ok(s) => special = s,
                Err(e) => {
                    tracing::warn!(target_url = %ctx.target.url, error = %e, "server_name setup failed")
                }
            }
        }
        let mut buf = take_buffer();
        scrape_once(&ctx, ts, &mut buf, &mut reporter, special.as_ref()).await;
        give_buffer(buf);
        last_ts = Some(ts);
    }
}

async fn scrape_once(
    ctx: &LoopContext,
    ts: i64,
    buf: &mut Vec<u8>,
    reporter: &mut Reporter,
    special: Option<&(ScrapeClient, String, String)>,
) {
    let start = Instant::now();
    let started_at = SystemTime::now();
    let t = &ctx.target;
    ctx.telemetry.scrapes_total.fetch_add(1, Relaxed);
    let fetched = match special {
        Some((client, url, host)) => {
            client
                .fetch(url, t.timeout, ctx.body_limit, Some(host), buf)
                .await
        }
        None => {
            ctx.client
                .fetch(&t.url, t.timeout, ctx.body_limit, None, buf)
                .await
        }
    };
    let mut app = ctx.storage.appender();
    let result: Result<Appended, ScrapeError> = fetched.and_then(|format| {
        ctx.cache
            .lock()
            .append_body(&mut *app, buf, format, ts, &t.labels, &ctx.opts)
    });
    let dur = start.elapsed();
    let (vals, err) = match result {
        Ok(a) => {
            ctx.telemetry
                .samples_scraped_total
                .fetch_add(a.scraped, Relaxed);
            ctx.telemetry
                .stale_markers_total
                .fetch_add(a.stale, Relaxed);
            ctx.telemetry
                .samples_out_of_order_total
                .fetch_add(a.rejected, Relaxed);
            (
                [
                    1.0,
                    dur.as_secs_f64(),
                    a.scraped as f64,
                    a.post_relabel as f64,
                    a.series_added as f64,
                ],
                None,
            )
        }
        Err(e) => {
            app.rollback();
            app = ctx.storage.appender();
            let n = ctx
                .cache
                .lock()
                .append_stale_all(&mut *app, ts)
                .unwrap_or(0);
            ctx.telemetry.stale_markers_total.fetch_add(n, Relaxed);
            ctx.telemetry.failed(e.reason);
            if e.reason == crate::telemetry::FailReason::Parse {
                ctx.telemetry.parse_errors_total.fetch_add(1, Relaxed);
            }
            ([0.0, dur.as_secs_f64(), 0.0, 0.0, 0.0], Some(e))
        }
    };
    reporter.write(&mut *app, ts, vals);
    match app.commit() {
        Ok(st) => {
            ctx.telemetry
                .samples_appended_total
                .fetch_add(st.appended, Relaxed);
            ctx.telemetry
                .samples_duplicate_total
                .fetch_add(st.duplicates, Relaxed);
            ctx.telemetry
                .samples_out_of_order_total
                .fetch_add(st.out_of_order + st.too_old, Relaxed);
        }
        Err(e) => {
            ctx.telemetry.failed(crate::telemetry::FailReason::Store);
            tracing::error!(target_url = %t.url, error = %e, "committing scrape failed");
        }
    }
    let mut st = t.status.lock();
    st.last_scrape = Some(started_at);
    st.last_duration = dur;
    st.last_samples = vals[2] as u64;
    match err {
        None => {
            st.health = Health::Up;
            st.last_error.clear();
        }
        Some(e) => {
            if st.health != Health::Down || st.last_error != e.message {
                tracing::debug!(target_url = %t.url, error = %e.message, "scrape failed");
            }
            st.health = Health::Down;
            st.last_error = e.message;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_snap_to_slot_within_tolerance() {
        assert_eq!(scrape_timestamp(1_000_003, 1_000_000), 1_000_000);
        assert_eq!(scrape_timestamp(999_995, 1_000_000), 1_000_000);
        assert_eq!(scrape_timestamp(1_000_011, 1_000_000), 1_000_011);
    }

    #[test]
    fn slots_are_spread_and_in_future() {
        let now = 1_000_000_007;
        for h in [0u64, 1, 14_999, 15_000, u64::MAX] {
            let s = first_slot(now, 15_000, h);
            assert!(s >= now && s < now + 15_000, "{s}");
            assert_eq!(s.rem_euclid(15_000), (h % 15_000) as i64);
        }
    }
}
