//! From a scrape body to the store: parse, look up the per-target series cache, relabel and
//! limit-check new series, append, and write staleness markers for series that left.
//!
//! The cache maps the raw bytes of `name{labels}` exactly as the target sent them to the
//! store's series reference (Prometheus' `scrapeCache`). A steady scrape is a predicted slot
//! compare (see [`SeriesTable`]) and an `append` by reference per sample: no hashing, no label
//! parsing, no allocation. Only a cache miss
//! materialises labels, applies target labels, `metric_relabel_configs` and the label limits.
//!
//! Invariants: a scrape is all or nothing — any error (parse, limit, duplicate series) rolls
//! the batch back and the caller then reports the target down and makes every series of the
//! previous scrape stale. Series of one scrape appear in the cache with `seen == iter`.

use super::series_table::SeriesTable;
use crate::parse::{self, Entry, Format};
use crate::relabel;
use crate::telemetry::FailReason;
use lookout_config::relabel::RelabelConfig;
use lookout_store::{Appender, Label, Labels, stale_nan};
use std::borrow::Cow;
use std::collections::HashMap;

/// Per-scrape settings that shape how samples become series.
#[derive(Debug, Clone)]
pub struct AppendOptions {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub metric_relabel: Vec<RelabelConfig>,
}

/// Metadata of one metric family, for `/api/v1/metadata`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricMeta {
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

/// The per-target cache, kept across scrapes and across config reloads of an unchanged target.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    series: SeriesTable,
    iter: u64,
    /// The last iteration whose scrape succeeded (0: none since the last failure).
    last_ok: u64,
    pub metadata: HashMap<String, MetricMeta>,
}

/// A scrape failure: what the target's `lastError` says and the counter it bumps.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeError {
    pub reason: FailReason,
    pub message: String,
}

impl ScrapeError {
    pub fn new(reason: FailReason, message: impl Into<String>) -> Self {
        ScrapeError {
            reason,
            message: message.into(),
        }
    }
}

/// What one successful append pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Samples in the body.
    pub scraped: u64,
    /// Samples left after metric relabeling.
    pub post_relabel: u64,
    /// Series new to the cache in this scrape.
    pub series_added: u64,
    /// Staleness markers written for series that left.
    pub stale: u64,
    /// Samples the store refused (out of order, too old, conflicting duplicate): counted,
    /// the scrape goes on.
    pub rejected: u64,
}

const CACHE_EVICT_AFTER: u64 = 10;

impl ScrapeCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.len() == 0
    }

    /// Parses `body` and appends its samples at `ts` (ms) to `app`, with the target's public
    /// `target_labels`. On error nothing has been appended for this body; the caller rolls
    /// back and calls [`ScrapeCache::append_stale_all`].
    pub fn append_body(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        ts: i64,
        target_labels: &Labels,
        opts: &AppendOptions,
    ) -> Result<Appended, ScrapeError> {
        self.iter += 1;
        let iter = self.iter;
        let r = self.append_inner(app, body, format, ts, target_labels, opts, iter);
        if r.is_err() {
            // Undo what this scrape marked, so the next staleness pass sees the last good one.
            for e in self.series.iter_mut() {
                if e.seen == iter {
                    e.seen = e.prev_seen;
                }
            }
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn append_inner(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        ts: i64,
        target_labels: &Labels,
        opts: &AppendOptions,
        iter: u64,
    ) -> Result<Appended, ScrapeError> {
        let mut out = Appended::default();
        let mut parser = parse::Parser::new(body, format);
        self.series.rewind();
        let mut scratch: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
        while let Some(entry) = parser.next_entry() {
            let entry = entry.map_err(|e| ScrapeError::new(FailReason::Parse, e.to_string()))?;
            let sample = match entry {
                Entry::Sample(s) => s,
                Entry::Help { metric, text } => {
                    let m = self.metadata.entry_ref_or_default(&metric);
                    if m.help != text {
                        m.help = text.into_owned();
                    }
                    continue;
                }
                Entry::Type { metric, kind } => {
                    self.metadata.entry_ref_or_default(&metric).kind = kind.as_str();
                    continue;
                }
                Entry::Unit { metric, unit } => {
                    let m = self.metadata.entry_ref_or_default(&metric);
                    if m.unit != unit {
                        m.unit = unit.to_string();
                    }
                    continue;
                }
            };
            out.scraped += 1;
            let t = match sample.timestamp_ms() {
                Some(t) if opts.honor_timestamps => t,
                _ => ts,
            };
            let v = sample.value();
            let key = sample.series_bytes();
            let entry = match self.series.get_mut(key) {
                Some(e) => {
                    if e.seen == iter {
                        return Err(ScrapeError::new(
                            FailReason::Duplicate,
                            format!(
                                "duplicate series {} in scrape",
                                String::from_utf8_lossy(key)
                            ),
                        ));
                    }
                    e.prev_seen = e.seen;
                    e.seen = iter;
                    e.r
                }
                None => {
                    scratch.clear();
                    scratch.push((Cow::Borrowed("__name__"), sample.name()));
                    sample.labels_into(&mut scratch);
                    let lset = build_series_labels(&scratch, target_labels, opts)?;
                    let r = match lset {
                        None => 0,
                        Some(l) => {
                            check_label_limits(&l, opts)?;
                            match app.append(0, &l, t, v) {
                                Ok(r) => {
                                    out.series_added += 1;
                                    r
                                }
                                // Out of order, too old, or a conflicting duplicate: counted
                                // and skipped as Prometheus does; the series is looked up by
                                // labels again next time.
                                Err(e) if e.is_sample_rejection() => {
                                    out.rejected += 1;
                                    continue;
                                }
                                Err(e) => return Err(store_err(e)),
                            }
                        }
                    };
                    self.series.insert(key, r, iter);
                    if r != 0 {
                        out.post_relabel += 1;
                        check_sample_limit(out.post_relabel, opts)?;
                    }
                    continue;
                }
            };
            if entry == 0 {
                continue;
            }
            out.post_relabel += 1;
            check_sample_limit(out.post_relabel, opts)?;
            match app.append(entry, &Labels::default(), t, v) {
                Ok(_) => {}
                Err(e) if e.is_sample_rejection() => out.rejected += 1,
                Err(e) => return Err(store_err(e)),
            }
        }
        // Series of the previous good scrape that did not come back go stale now.
        out.stale = self.mark_stale(app, ts, self.last_ok)?;
        self.last_ok = iter;
        Ok(out)
    }

    /// Writes staleness markers at `ts` for every series the previous scrape saw, and forgets
    /// them: used after a failed scrape and when the target goes away.
    pub fn append_stale_all(
        &mut self,
        app: &mut dyn Appender,
        ts: i64,
    ) -> Result<u64, ScrapeError> {
        let n = self.mark_stale(app, ts, self.last_ok)?;
        self.last_ok = 0;
        Ok(n)
    }

    fn mark_stale(
        &mut self,
        app: &mut dyn Appender,
        ts: i64,
        prev: u64,
    ) -> Result<u64, ScrapeError> {
        let mut n = 0;
        let empty = Labels::default();
        for e in self.series.iter() {
            if prev != 0 && e.seen == prev && e.r != 0 {
                match app.append(e.r, &empty, ts, stale_nan()) {
                    Ok(_) => n += 1,
                    // The series already has a later sample (an exposed timestamp): it is
                    // not stale at `ts`.
                    Err(err) if err.is_sample_rejection() => {}
                    Err(err) => return Err(store_err(err)),
                }
            }
        }
        let iter = self.iter;
        self.series
            .retain(|e| iter.saturating_sub(e.seen) <= CACHE_EVICT_AFTER);
        Ok(n)
    }
}

trait EntryRef {
    fn entry_ref_or_default(&mut self, k: &str) -> &mut MetricMeta;
}

impl EntryRef for HashMap<String, MetricMeta> {
    fn entry_ref_or_default(&mut self, k: &str) -> &mut MetricMeta {
        if !self.contains_key(k) {
            self.insert(k.to_string(), MetricMeta::default());
        }
        self.get_mut(k).expect("inserted above")
    }
}

fn store_err(e: lookout_store::Error) -> ScrapeError {
    ScrapeError::new(FailReason::Store, format!("appending to the store: {e}"))
}

fn check_sample_limit(n: u64, opts: &AppendOptions) -> Result<(), ScrapeError> {
    if opts.sample_limit > 0 && n > opts.sample_limit {
        return Err(ScrapeError::new(
            FailReason::SampleLimit,
            format!("sample limit exceeded (limit {})", opts.sample_limit),
        ));
    }
    Ok(())
}

fn check_label_limits(l: &Labels, opts: &AppendOptions) -> Result<(), ScrapeError> {
    if opts.label_limit > 0 && l.len() as u64 > opts.label_limit {
        return Err(ScrapeError::new(
            FailReason::LabelLimit,
            format!(
                "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
                l.metric_name().unwrap_or(""),
                l.len(),
                opts.label_limit
            ),
        ));
    }
    for lab in l.iter() {
        if opts.label_name_length_limit > 0 && lab.name.len() as u64 > opts.label_name_length_limit
        {
            return Err(ScrapeError::new(
                FailReason::LabelLimit,
                format!(
                    "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                    l.metric_name().unwrap_or(""),
                    lab.name,
                    lab.name.len(),
                    opts.label_name_length_limit
                ),
            ));
        }
        if opts.label_value_length_limit > 0
            && lab.value.len() as u64 > opts.label_value_length_limit
        {
            return Err(ScrapeError::new(
                FailReason::LabelLimit,
                format!(
                    "label_value_length_limit exceeded (metric: {}, label name: {}, value length: {}, limit: {})",
                    l.metric_name().unwrap_or(""),
                    lab.name,
                    lab.value.len(),
                    opts.label_value_length_limit
                ),
            ));
        }
    }
    Ok(())
}

/// Merges scraped labels with the target's labels (honor_labels or `exported_` renaming, as
/// Prometheus' `mutateSampleLabels`) and applies metric relabeling. `None`: dropped.
fn build_series_labels(
    scraped: &[(Cow<'_, str>, Cow<'_, str>)],
    target: &Labels,
    opts: &AppendOptions,
) -> Result<Option<Labels>, ScrapeError> {
    let mut v: Vec<Label> = Vec::with_capacity(scraped.len() + target.len());
    for (n, val) in scraped {
        if v.iter().any(|l| l.name == n.as_ref()) {
            return Err(ScrapeError::new(
                FailReason::Parse,
                format!("label {n:?} appears twice in one series"),
            ));
        }
        v.push(Label {
            name: n.to_string(),
            value: val.to_string(),
        });
    }
    if opts.honor_labels {
        for tl in target.iter() {
            if !v.iter().any(|l| l.name == tl.name && !l.value.is_empty()) {
                v.retain(|l| l.name != tl.name);
                v.push(tl.clone());
            }
        }
    } else {
        for tl in target.iter() {
            if let Some(pos) = v.iter().position(|l| l.name == tl.name) {
                let old = v.remove(pos);
                if !old.value.is_empty() {
                    // Rename the scraped label to exported_<name>, repeating the prefix until
                    // it does not collide.
                    let mut name = format!("exported_{}", old.name);
                    while v.iter().any(|l| l.name == name) || target.get(&name).is_some() {
                        name = format!("exported_{name}");
                    }
                    v.push(Label {
                        name,
                        value: old.value,
                    });
                }
            }
            v.push(tl.clone());
        }
    }
    let l = Labels::from_vec(v);
    if opts.metric_relabel.is_empty() {
        return Ok(Some(l));
    }
    Ok(relabel::relabel(&opts.metric_relabel, &l).filter(|l| !l.is_empty()))
}
