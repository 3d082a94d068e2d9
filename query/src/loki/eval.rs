//! Evaluating LogQL over a [`LogSearcher`].
//!
//! Log queries: the selector and the leading line filters go to the index; the rest of the
//! pipeline runs in `select`'s `keep` callback, so `limit` counts rows that passed the whole
//! pipeline. Rows are grouped into streams by their final labels.
//!
//! Metric queries: one scan over `[start - range, end]`; each row is added to every step
//! `t` with `t - range < ts <= t` (Loki's left-open windows). Without parsers or line stages,
//! the labels of a row depend only on its stream and level, so they are computed once per
//! (stream, level, flags) and lines are not read at all.
//!
//! Cost: proportional to the rows in range times steps per window.

use super::logql::{AggOp, Expr, LogExpr, RangeOp, Stage};
use super::pipeline::{self, to_labels};
use lookout_store::Labels;
use lookout_store::logs::{Direction, LogQuery, LogSearcher, Result};
use std::collections::{BTreeMap, HashMap};

/// Most steps a range query may have (as Loki).
pub const MAX_POINTS: i64 = 11_000;

/// One stream of a log query answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamOut {
    pub labels: Labels,
    /// `(ts ns, line)` in the requested direction.
    pub values: Vec<(i64, String)>,
}

/// One series of a metric answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesOut {
    pub labels: Labels,
    /// `(t ns, value)`, ascending, only steps with data.
    pub points: Vec<(i64, f64)>,
}

fn split(e: &LogExpr) -> (LogQuery, Vec<Stage>) {
    let lead = e.leading_filters();
    let rest = e.stages[lead.len()..].to_vec();
    (
        LogQuery {
            matchers: e.matchers.clone(),
            start_ns: 0,
            end_ns: 0,
            filters: lead,
        },
        rest,
    )
}

/// Runs a log query over `[start, end)`.
pub fn logs(
    s: &dyn LogSearcher,
    e: &LogExpr,
    start: i64,
    end: i64,
    dir: Direction,
    limit: usize,
) -> Result<Vec<StreamOut>> {
    let (mut q, rest) = split(e);
    q.start_ns = start;
    q.end_ns = end;
    let mut labels_of: Vec<Labels> = Vec::new();
    let rows = s.select(&q, dir, limit, &mut |row| match pipeline::run(&rest, row) {
        Some((l, line)) => {
            row.line = line;
            labels_of.push(to_labels(&l));
            true
        }
        None => false,
    })?;
    let mut by: BTreeMap<Labels, Vec<(i64, String)>> = BTreeMap::new();
    for (row, l) in rows.into_iter().zip(labels_of) {
        by.entry(l).or_default().push((row.ts_ns, row.line));
    }
    Ok(by
        .into_iter()
        .map(|(labels, values)| StreamOut { labels, values })
        .collect())
}

/// Evaluates a metric expression at each step `start, start+step, ..., <= end`.
pub fn metric(
    s: &dyn LogSearcher,
    e: &Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Vec<SeriesOut>> {
    let step = step.max(1);
    let n = ((end - start) / step).max(0);
    let steps = n as usize + 1;
    let grid = eval(s, e, start, step, steps)?;
    Ok(grid
        .into_iter()
        .filter_map(|(labels, vals)| {
            let points: Vec<(i64, f64)> = vals
                .into_iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nan())
                .map(|(k, v)| (start + k as i64 * step, v))
                .collect();
            (!points.is_empty()).then_some(SeriesOut { labels, points })
        })
        .collect())
}

type Grid = BTreeMap<Labels, Vec<f64>>;

fn eval(s: &dyn LogSearcher, e: &Expr, start: i64, step: i64, steps: usize) -> Result<Grid> {
    match e {
        Expr::Log(_) => Err(lookout_store::logs::LogError::BadQuery(
            "a log query is not a metric query".into(),
        )),
        Expr::Range { op, log, range_ns } => range(s, *op, log, *range_ns, start, step, steps),
        Expr::Agg {
            op,
            by,
            without,
            inner,
        } => {
            let g = eval(s, inner, start, step, steps)?;
            Ok(aggregate(*op, by.as_deref(), without.as_deref(), g, steps))
        }
    }
}

fn range(
    s: &dyn LogSearcher,
    op: RangeOp,
    log: &LogExpr,
    range_ns: i64,
    start: i64,
    step: i64,
    steps: usize,
) -> Result<Grid> {
    let (mut q, rest) = split(log);
    let last = start + (steps as i64 - 1) * step;
    q.start_ns = start.saturating_sub(range_ns).saturating_add(1);
    q.end_ns = last.saturating_add(1);
    let need_line = pipeline::needs_line(&rest);
    let mut cache: HashMap<(usize, u8, u64), Option<Labels>> = HashMap::new();
    let mut grid: Grid = BTreeMap::new();
    let mut by_ptr: HashMap<Labels, usize> = HashMap::new();
    let mut cols: Vec<Vec<f64>> = Vec::new();
    let mut keys: Vec<Labels> = Vec::new();
    s.scan(&q, need_line, &mut |row| {
        let labels = if need_line {
            pipeline::run(&rest, row).map(|(l, _)| to_labels(&l))
        } else {
            let key = (
                std::sync::Arc::as_ptr(&row.labels) as usize,
                row.level as u8,
                row.flags,
            );
            cache
                .entry(key)
                .or_insert_with(|| pipeline::run(&rest, row).map(|(l, _)| to_labels(&l)))
                .clone()
        };
        let Some(labels) = labels else { return true };
        let idx = match by_ptr.get(&labels) {
            Some(i) => *i,
            None => {
                by_ptr.insert(labels.clone(), cols.len());
                keys.push(labels);
                cols.push(vec![f64::NAN; steps]);
                cols.len() - 1
            }
        };
        let v = match op {
            RangeOp::CountOverTime | RangeOp::Rate => 1.0,
            RangeOp::BytesOverTime | RangeOp::BytesRate => row.bytes as f64,
        };
        // Steps t with ts <= t < ts + range.
        let lo = (row.ts_ns - start + step - 1).div_euclid(step).max(0);
        let hi = (row.ts_ns + range_ns - 1 - start)
            .div_euclid(step)
            .min(steps as i64 - 1);
        let col = &mut cols[idx];
        for k in lo..=hi {
            let c = &mut col[k as usize];
            *c = if c.is_nan() { v } else { *c + v };
        }
        true
    })?;
    let secs = range_ns as f64 / 1e9;
    for (labels, mut col) in keys.into_iter().zip(cols) {
        if matches!(op, RangeOp::Rate | RangeOp::BytesRate) {
            for c in col.iter_mut().filter(|c| !c.is_nan()) {
                *c /= secs;
            }
        }
        grid.insert(labels, col);
    }
    Ok(grid)
}

fn aggregate(
    op: AggOp,
    by: Option<&[String]>,
    without: Option<&[String]>,
    g: Grid,
    steps: usize,
) -> Grid {
    let mut acc: BTreeMap<Labels, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (labels, col) in g {
        let key = match (by, without) {
            (Some(names), _) => Labels::from_pairs(
                labels
                    .iter()
                    .filter(|l| names.contains(&l.name))
                    .map(|l| (l.name.clone(), l.value.clone())),
            ),
            (None, Some(names)) => Labels::from_pairs(
                labels
                    .iter()
                    .filter(|l| !names.contains(&l.name))
                    .map(|l| (l.name.clone(), l.value.clone())),
            ),
            (None, None) => Labels::default(),
        };
        let (vals, counts) = acc
            .entry(key)
            .or_insert_with(|| (vec![f64::NAN; steps], vec![0.0; steps]));
        for (k, v) in col.into_iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            let cur = vals[k];
            vals[k] = if cur.is_nan() {
                match op {
                    AggOp::Count => 1.0,
                    _ => v,
                }
            } else {
                match op {
                    AggOp::Sum | AggOp::Avg => cur + v,
                    AggOp::Count => cur + 1.0,
                    AggOp::Min => cur.min(v),
                    AggOp::Max => cur.max(v),
                }
            };
            counts[k] += 1.0;
        }
    }
    acc.into_iter()
        .map(|(l, (mut vals, counts))| {
            if op == AggOp::Avg {
                for (v, c) in vals.iter_mut().zip(counts) {
                    if c > 0.0 {
                        *v /= c;
                    }
                }
            }
            (l, vals)
        })
        .collect()
}
