//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`,
//! `topk`, `bottomk`, `quantile`, `count_values`) with `by` / `without`, step by step with the
//! arithmetic of Prometheus 2.x (incremental mean, Welford variance, the same heap for
//! `topk`/`bottomk` so ties pick the same series).
//!
//! Invariant: within one step, elements are visited in input order, as Prometheus does.
//! Cost: the grouping key of each series is computed once; per step, state is one slot per
//! group (reset lazily), so memory does not grow with the number of steps.

use super::eval::Ev;
use super::range_fns::quantile;
use super::value::{Series, Value, del_labels, keep_labels, set_label, valid_label_name};
use crate::error::{Error, Result};
use lookout_store::Labels;
use promql_parser::parser::token::*;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use std::collections::HashMap;

#[derive(Clone, Copy, Default)]
struct Acc {
    value: f64,
    mean: f64,
    count: f64,
}

#[allow(clippy::needless_range_loop, clippy::collapsible_match)]
pub fn eval(ev: &Ev, a: &AggregateExpr) -> Result<Value> {
    let op = a.op.id();
    let n = ev.n();
    let (without, names): (bool, Vec<String>) = match &a.modifier {
        None => (false, Vec::new()),
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
    };
    let mut param = vec![0.0; n];
    let mut value_label = String::new();
    if let Some(p) = &a.param {
        if op == T_COUNT_VALUES {
            match super::eval::unparen(p) {
                Expr::StringLiteral(s) => value_label = s.val.clone(),
                _ => {
                    return Err(Error::BadData(
                        "count_values needs a string parameter".into(),
                    ));
                }
            }
        } else {
            param = ev.scalar(p)?;
        }
    }
    let v = ev.vector(&a.expr)?;
    if op == T_COUNT_VALUES {
        if !valid_label_name(&value_label) {
            return Err(Error::Execution(format!(
                "invalid label name {value_label:?}"
            )));
        }
        return count_values(ev, &v, without, names, &value_label);
    }
    let mut drop = names.clone();
    drop.push("__name__".into());
    let key_of = |l: &Labels| {
        if without {
            del_labels(l, &drop)
        } else {
            keep_labels(l, &names)
        }
    };
    // Group of each input series.
    let mut gid: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let sgroup: Vec<usize> = v
        .iter()
        .map(|s| {
            let k = key_of(&s.labels);
            *gid.entry(k.clone()).or_insert_with(|| {
                groups.push(k);
                groups.len() - 1
            })
        })
        .collect();
    let by_series = op == T_TOPK || op == T_BOTTOMK;
    let mut out_pts: Vec<Vec<(u32, f64)>> =
        vec![Vec::new(); if by_series { v.len() } else { groups.len() }];
    let mut acc = vec![Acc::default(); groups.len()];
    let mut stamp = vec![u32::MAX; groups.len()];
    let mut touched: Vec<usize> = Vec::new();
    let mut heaps: Vec<Vec<(usize, f64)>> = vec![
        Vec::new();
        if by_series || op == T_QUANTILE {
            groups.len()
        } else {
            0
        }
    ];
    let mut cur = vec![0usize; v.len()];
    let mut step_elems: Vec<(usize, f64)> = Vec::with_capacity(v.len());
    for i in 0..n {
        ev.ctx.check()?;
        step_elems.clear();
        for (si, s) in v.iter().enumerate() {
            if let Some(&(st, x)) = s.pts.get(cur[si])
                && st as usize == i
            {
                step_elems.push((si, x));
                cur[si] += 1;
            }
        }
        if step_elems.is_empty() {
            continue;
        }
        let k = if by_series {
            let f = param[i];
            if f.is_nan() || !(i64::MIN as f64..=i64::MAX as f64).contains(&f) {
                return Err(Error::Execution(format!(
                    "Scalar value {} overflows int64",
                    crate::api::format_value(f)
                )));
            }
            let k = f as i64;
            if k < 1 {
                continue;
            }
            k as usize
        } else {
            0
        };
        touched.clear();
        for &(si, x) in &step_elems {
            let g = sgroup[si];
            if stamp[g] != i as u32 {
                stamp[g] = i as u32;
                touched.push(g);
                acc[g] = Acc {
                    value: x,
                    mean: x,
                    count: 1.0,
                };
                match op {
                    T_STDDEV | T_STDVAR => acc[g].value = 0.0,
                    T_GROUP => acc[g].value = 1.0,
                    _ => {}
                }
                if by_series || op == T_QUANTILE {
                    heaps[g].clear();
                    heaps[g].push((si, x));
                }
                continue;
            }
            let a = &mut acc[g];
            match op {
                T_SUM => a.value += x,
                T_AVG => {
                    a.count += 1.0;
                    if a.mean.is_infinite() {
                        if x.is_infinite() && (a.mean > 0.0) == (x > 0.0) {
                            continue;
                        }
                        if !x.is_infinite() && !x.is_nan() {
                            continue;
                        }
                    }
                    a.mean += x / a.count - a.mean / a.count;
                }
                T_MAX => {
                    if a.value < x || a.value.is_nan() {
                        a.value = x
                    }
                }
                T_MIN => {
                    if a.value > x || a.value.is_nan() {
                        a.value = x
                    }
                }
                T_COUNT => a.count += 1.0,
                T_STDDEV | T_STDVAR => {
                    a.count += 1.0;
                    let d = x - a.mean;
                    a.mean += d / a.count;
                    a.value += d * (x - a.mean);
                }
                T_TOPK | T_BOTTOMK => {
                    let top = op == T_TOPK;
                    let h = &mut heaps[g];
                    let head = h[0].1;
                    let better = if top { head < x } else { head > x };
                    if h.len() < k || better || head.is_nan() {
                        if h.len() == k {
                            if k == 1 {
                                h[0] = (si, x);
                                continue;
                            }
                            heap_pop(h, top);
                        }
                        heap_push(h, (si, x), top);
                    }
                }
                T_QUANTILE => heaps[g].push((si, x)),
                _ => {}
            }
        }
        for &g in &touched {
            let a = acc[g];
            let val = match op {
                T_AVG => a.mean,
                T_COUNT => a.count,
                T_STDVAR => a.value / a.count,
                T_STDDEV => (a.value / a.count).sqrt(),
                T_QUANTILE => {
                    let mut vals: Vec<f64> = heaps[g].iter().map(|e| e.1).collect();
                    quantile(param[i], &mut vals)
                }
                T_TOPK | T_BOTTOMK => {
                    for &(si, x) in &heaps[g] {
                        out_pts[si].push((i as u32, x));
                    }
                    continue;
                }
                _ => a.value,
            };
            out_pts[g].push((i as u32, val));
        }
    }
    let labels: Vec<Labels> = if by_series {
        v.into_iter().map(|s| s.labels).collect()
    } else {
        groups
    };
    let out: Vec<Series> = labels
        .into_iter()
        .zip(out_pts)
        .filter(|(_, p)| !p.is_empty())
        .map(|(labels, pts)| Series { labels, pts })
        .collect();
    ev.ctx.add_samples(out.iter().map(|s| s.pts.len()).sum())?;
    Ok(Value::Vector(out))
}

/// Go's `vectorByValueHeap` (`top`) / `vectorByReverseValueHeap` ordering: NaN sorts first.
fn less(a: f64, b: f64, top: bool) -> bool {
    if a.is_nan() {
        return true;
    }
    if top { a < b } else { a > b }
}

fn heap_push(h: &mut Vec<(usize, f64)>, e: (usize, f64), top: bool) {
    h.push(e);
    let mut j = h.len() - 1;
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j].1, h[i].1, top) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_pop(h: &mut Vec<(usize, f64)>, top: bool) {
    let n = h.len() - 1;
    h.swap(0, n);
    let mut i = 0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(h[j1 + 1].1, h[j1].1, top) {
            j = j1 + 1;
        }
        if !less(h[j].1, h[i].1, top) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    h.pop();
}

fn count_values(
    ev: &Ev,
    v: &[Series],
    without: bool,
    mut names: Vec<String>,
    label: &str,
) -> Result<Value> {
    let n = ev.n();
    if without {
        names.push("__name__".into());
    } else {
        names.push(label.to_string());
    }
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::new();
    let mut cur = vec![0usize; v.len()];
    for i in 0..n {
        ev.ctx.check()?;
        let mut seen_step: Vec<usize> = Vec::new();
        for (si, s) in v.iter().enumerate() {
            let Some(&(st, x)) = s.pts.get(cur[si]) else {
                continue;
            };
            if st as usize != i {
                continue;
            }
            cur[si] += 1;
            let m = set_label(&s.labels, label, &crate::api::format_value(x));
            let key = if without {
                del_labels(&m, &names)
            } else {
                keep_labels(&m, &names)
            };
            let o = match idx.get(&key) {
                Some(&o) => o,
                None => {
                    idx.insert(key.clone(), out.len());
                    out.push(Series {
                        labels: key,
                        pts: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            match out[o].pts.last_mut() {
                Some(p) if p.0 == i as u32 => p.1 += 1.0,
                _ => {
                    out[o].pts.push((i as u32, 1.0));
                    seen_step.push(o);
                }
            }
        }
    }
    Ok(Value::Vector(out))
}
