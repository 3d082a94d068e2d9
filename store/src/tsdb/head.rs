//! The in-memory head: every active series and its recent samples.
//!
//! FIRST CUT: samples are kept uncompressed; the compressed-chunk head replaces this module
//! with the same public API.

use crate::{
    AppendStats, Appendable, Appender, Labels, Matcher, Querier, Result, Series, SeriesRef,
    error::Error,
};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeSet, HashMap};

struct MemSeries {
    labels: Labels,
    samples: Mutex<Vec<(i64, f64)>>,
}

/// The in-memory head.
#[derive(Default)]
pub struct Head {
    by_labels: RwLock<HashMap<Labels, SeriesRef>>,
    series: RwLock<Vec<std::sync::Arc<MemSeries>>>,
}

impl Head {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of series in the head.
    pub fn num_series(&self) -> usize {
        self.series.read().len()
    }

    fn get_or_create(&self, labels: &Labels) -> SeriesRef {
        if let Some(r) = self.by_labels.read().get(labels) {
            return *r;
        }
        let mut by = self.by_labels.write();
        if let Some(r) = by.get(labels) {
            return *r;
        }
        let mut s = self.series.write();
        s.push(std::sync::Arc::new(MemSeries {
            labels: labels.clone(),
            samples: Mutex::new(Vec::new()),
        }));
        let r = s.len() as SeriesRef;
        by.insert(labels.clone(), r);
        r
    }

    fn series_for(&self, r: SeriesRef) -> Option<std::sync::Arc<MemSeries>> {
        if r == 0 {
            return None;
        }
        self.series.read().get(r as usize - 1).cloned()
    }

    fn matching(&self, matchers: &[Matcher]) -> Vec<std::sync::Arc<MemSeries>> {
        self.series
            .read()
            .iter()
            .filter(|s| {
                matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .cloned()
            .collect()
    }
}

struct HeadAppender<'a> {
    head: &'a Head,
    pending: Vec<(SeriesRef, i64, f64)>,
}

impl Appender for HeadAppender<'_> {
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef> {
        let r = if r == 0 {
            self.head.get_or_create(labels)
        } else {
            r
        };
        self.pending.push((r, t, v));
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<AppendStats> {
        let mut st = AppendStats::default();
        for (r, t, v) in self.pending {
            let s = self.head.series_for(r).ok_or(Error::UnknownRef(r))?;
            let mut smp = s.samples.lock();
            match smp.last() {
                Some(&(lt, _)) if lt == t => st.duplicates += 1,
                Some(&(lt, _)) if lt > t => st.out_of_order += 1,
                _ => {
                    smp.push((t, v));
                    st.appended += 1;
                }
            }
        }
        Ok(st)
    }

    fn rollback(self: Box<Self>) {}
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(HeadAppender {
            head: self,
            pending: Vec::new(),
        })
    }
}

impl Querier for Head {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        let mut out: Vec<Series> = self
            .matching(matchers)
            .into_iter()
            .filter_map(|s| {
                let samples: Vec<(i64, f64)> = s
                    .samples
                    .lock()
                    .iter()
                    .copied()
                    .filter(|(t, _)| *t >= mint && *t <= maxt)
                    .collect();
                (!samples.is_empty()).then(|| Series {
                    labels: s.labels.clone(),
                    samples,
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let set: BTreeSet<String> = self
            .select(matchers, mint, maxt)?
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        Ok(set.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        let set: BTreeSet<String> = self
            .select(matchers, mint, maxt)?
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_owned))
            .collect();
        Ok(set.into_iter().collect())
    }
}
