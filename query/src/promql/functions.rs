//! Function calls: dispatch to range-vector functions ([`super::range_fns`]) and the
//! instant-vector and scalar functions (math, clamping, rounding, time and date, `label_*`,
//! `histogram_quantile`, `absent`, sorting), with Prometheus 2.x label semantics: every
//! function drops the metric name except `last_over_time`, `label_replace`, `label_join`,
//! `sort` and `sort_desc`.
//!
//! Cost: series-major; label sets are rebuilt once per series, not per step.

use super::eval::{Ev, check_unique, unparen};
use super::range_fns::{self, Win};
use super::value::{
    Series, Value, drop_name, go_max, go_min, merge_same_labels, set_label, valid_label_name,
};
use crate::error::{Error, Result};
use lookout_store::Labels;
use promql_parser::parser::{Call, Expr};
use std::collections::HashMap;

pub fn call(ev: &Ev, c: &Call) -> Result<Value> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    if let Some((f, midx, sidx)) = range_fns::lookup(name) {
        return range_call(ev, name, f, &args, midx, sidx);
    }
    let n = ev.n();
    match name {
        "time" => Ok(Value::Scalar(
            (0..n).map(|i| ev.grid.t(i) as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Value::Scalar(vec![std::f64::consts::PI; n])),
        "vector" => {
            let s = ev.scalar(arg(&args, 0)?)?;
            Ok(Value::Vector(vec![Series {
                labels: Labels::default(),
                pts: s
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i as u32, v))
                    .collect(),
            }]))
        }
        "scalar" => {
            let v = ev.vector(arg(&args, 0)?)?;
            let mut cnt = vec![0u32; n];
            let mut val = vec![f64::NAN; n];
            for s in &v {
                for &(i, x) in &s.pts {
                    cnt[i as usize] += 1;
                    val[i as usize] = x;
                }
            }
            Ok(Value::Scalar(
                cnt.iter()
                    .zip(val)
                    .map(|(&c, v)| if c == 1 { v } else { f64::NAN })
                    .collect(),
            ))
        }
        "timestamp" => {
            let a = arg(&args, 0)?;
            let v = match unparen(a) {
                Expr::VectorSelector(vs) => ev.vector_selector(vs, true)?,
                _ => {
                    let mut v = ev.vector(a)?;
                    for s in &mut v {
                        s.pts
                            .iter_mut()
                            .for_each(|p| p.1 = ev.grid.t(p.0 as usize) as f64 / 1000.0);
                    }
                    v
                }
            };
            map_drop(ev, v, |x| x)
        }
        "sort" | "sort_desc" => {
            let mut v = ev.vector(arg(&args, 0)?)?;
            if n == 1 {
                // Only an instant result has an order; NaN sorts last either way.
                let desc = name == "sort_desc";
                let key = |s: &Series| s.pts.first().map_or(f64::NAN, |p| p.1);
                v.sort_by(|a, b| {
                    let (x, y) = (key(a), key(b));
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                        _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    }
                });
            }
            Ok(Value::Vector(v))
        }
        "absent" => absent(ev, arg(&args, 0)?),
        "label_replace" => label_replace(ev, &args),
        "label_join" => label_join(ev, &args),
        "histogram_quantile" => super::histogram::histogram_quantile(ev, &args),
        "histogram_count" | "histogram_sum" => {
            // Only native histograms have these; float samples yield nothing.
            ev.vector(arg(&args, 0)?)?;
            Ok(Value::Vector(Vec::new()))
        }
        "histogram_fraction" => {
            ev.scalar(arg(&args, 0)?)?;
            ev.scalar(arg(&args, 1)?)?;
            ev.vector(arg(&args, 2)?)?;
            Ok(Value::Vector(Vec::new()))
        }
        "clamp" => {
            let v = ev.vector(arg(&args, 0)?)?;
            let (lo, hi) = (ev.scalar(arg(&args, 1)?)?, ev.scalar(arg(&args, 2)?)?);
            map_step(ev, v, |i, x| {
                (hi[i] >= lo[i]).then(|| go_max(lo[i], go_min(hi[i], x)))
            })
        }
        "clamp_min" => {
            let v = ev.vector(arg(&args, 0)?)?;
            let lo = ev.scalar(arg(&args, 1)?)?;
            map_step(ev, v, |i, x| Some(go_max(lo[i], x)))
        }
        "clamp_max" => {
            let v = ev.vector(arg(&args, 0)?)?;
            let hi = ev.scalar(arg(&args, 1)?)?;
            map_step(ev, v, |i, x| Some(go_min(hi[i], x)))
        }
        "round" => {
            let v = ev.vector(arg(&args, 0)?)?;
            let to = match args.get(1) {
                Some(e) => ev.scalar(e)?,
                None => vec![1.0; n],
            };
            map_step(ev, v, |i, x| {
                let inv = 1.0 / to[i];
                Some((x * inv + 0.5).floor() / inv)
            })
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute"
        | "month" | "year" => {
            let f = date_fn(name);
            match args.first() {
                None => Ok(Value::Vector(vec![Series {
                    labels: Labels::default(),
                    pts: (0..n)
                        .map(|i| (i as u32, f(ev.grid.t(i) as f64 / 1000.0)))
                        .collect(),
                }])),
                Some(a) => {
                    let v = ev.vector(a)?;
                    map_drop(ev, v, f)
                }
            }
        }
        _ => {
            let Some(f) = math_fn(name) else {
                return Err(Error::BadData(format!("unsupported function \"{name}\"")));
            };
            let v = ev.vector(arg(&args, 0)?)?;
            map_drop(ev, v, f)
        }
    }
}

fn arg<'e>(args: &[&'e Expr], i: usize) -> Result<&'e Expr> {
    args.get(i)
        .copied()
        .ok_or_else(|| Error::BadData(format!("missing function argument {}", i + 1)))
}

fn string_arg(args: &[&Expr], i: usize) -> Result<String> {
    match unparen(arg(args, i)?) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => Err(Error::BadData(format!(
            "expected string literal as argument {}",
            i + 1
        ))),
    }
}

/// Applies `f` to every value, dropping the metric name.
fn map_drop(ev: &Ev, mut v: Vec<Series>, f: impl Fn(f64) -> f64) -> Result<Value> {
    for s in &mut v {
        s.labels = drop_name(&s.labels);
        s.pts.iter_mut().for_each(|p| p.1 = f(p.1));
    }
    Ok(Value::Vector(merge_same_labels(v, ev.n() == 1)?))
}

/// Applies a step-dependent `f` (None drops the point), dropping the metric name.
fn map_step(ev: &Ev, mut v: Vec<Series>, f: impl Fn(usize, f64) -> Option<f64>) -> Result<Value> {
    for s in &mut v {
        s.labels = drop_name(&s.labels);
        s.pts = s
            .pts
            .iter()
            .filter_map(|&(i, x)| f(i as usize, x).map(|y| (i, y)))
            .collect();
    }
    v.retain(|s| !s.pts.is_empty());
    Ok(Value::Vector(merge_same_labels(v, ev.n() == 1)?))
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sgn" => |x: f64| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        },
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        "tanh" => f64::tanh,
        "deg" => |x: f64| x * 180.0 / std::f64::consts::PI,
        "rad" => |x: f64| x * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

fn range_call(
    ev: &Ev,
    name: &str,
    f: range_fns::RangeFn,
    args: &[&Expr],
    midx: usize,
    sidx: &[usize],
) -> Result<Value> {
    let n = ev.n();
    let mut scal: [Vec<f64>; 2] = [vec![0.0; n], vec![0.0; n]];
    for (k, &i) in sidx.iter().enumerate() {
        scal[k] = ev.scalar(arg(args, i)?)?;
    }
    let margs = arg(args, midx)?;
    let (series, range, refs) = ev.range_input(margs)?;
    let keep_name = name == "last_over_time";
    let mut out = Vec::with_capacity(series.len());
    let mut total = 0usize;
    for s in series {
        ev.ctx.check()?;
        let mut pts = Vec::new();
        let (mut lo, mut hi) = (0usize, 0usize);
        for (i, &r) in refs.iter().enumerate() {
            let start = r - range;
            while lo < s.pts.len() && s.pts[lo].0 < start {
                lo += 1;
            }
            hi = hi.max(lo);
            while hi < s.pts.len() && s.pts[hi].0 <= r {
                hi += 1;
            }
            if lo == hi {
                continue;
            }
            let w = Win {
                ts: ev.grid.t(i),
                start,
                end: r,
                range,
                a: scal[0][i],
                b: scal[1][i],
            };
            if let Some(v) = f(&s.pts[lo..hi], &w).map_err(Error::Execution)? {
                pts.push((i as u32, v));
            }
        }
        if !pts.is_empty() {
            total += pts.len();
            let labels = if keep_name {
                s.labels
            } else {
                drop_name(&s.labels)
            };
            out.push(Series { labels, pts });
        }
    }
    ev.ctx.add_samples(total)?;
    if name == "absent_over_time" {
        let mut seen = vec![false; n];
        for s in &out {
            for &(i, _) in &s.pts {
                seen[i as usize] = true;
            }
        }
        let pts: Vec<(u32, f64)> = (0..n)
            .filter(|&i| !seen[i])
            .map(|i| (i as u32, 1.0))
            .collect();
        if pts.is_empty() {
            return Ok(Value::Vector(Vec::new()));
        }
        return Ok(Value::Vector(vec![Series {
            labels: absent_labels(margs),
            pts,
        }]));
    }
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

/// The labels `absent()` gives its output: the selector's equality matchers, minus the
/// metric name, minus any label matched more than once or not by equality.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match unparen(e) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut set: Vec<(String, String)> = Vec::new();
    let mut has: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        let eq = matches!(m.op, promql_parser::label::MatchOp::Equal);
        if eq && !has.contains(&m.name) {
            set.retain(|(k, _)| *k != m.name);
            set.push((m.name.clone(), m.value.clone()));
            has.push(m.name.clone());
        } else {
            set.retain(|(k, _)| *k != m.name);
        }
    }
    Labels::from_pairs(set)
}

fn absent(ev: &Ev, a: &Expr) -> Result<Value> {
    let v = ev.vector(a)?;
    let n = ev.n();
    let mut seen = vec![false; n];
    for s in &v {
        for &(i, _) in &s.pts {
            seen[i as usize] = true;
        }
    }
    let pts: Vec<(u32, f64)> = (0..n)
        .filter(|&i| !seen[i])
        .map(|i| (i as u32, 1.0))
        .collect();
    if pts.is_empty() {
        return Ok(Value::Vector(Vec::new()));
    }
    Ok(Value::Vector(vec![Series {
        labels: absent_labels(a),
        pts,
    }]))
}

fn label_replace(ev: &Ev, args: &[&Expr]) -> Result<Value> {
    let v = ev.vector(arg(args, 0)?)?;
    let (dst, repl, src, re) = (
        string_arg(args, 1)?,
        string_arg(args, 2)?,
        string_arg(args, 3)?,
        string_arg(args, 4)?,
    );
    let rx = regex::Regex::new(&format!("^(?s:{re})$")).map_err(|e| {
        Error::Execution(format!(
            "invalid regular expression in label_replace(): {re}: {e}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let sv = s.labels.get(&src).unwrap_or("").to_string();
        let res = cache
            .entry(sv.clone())
            .or_insert_with(|| {
                rx.captures(&sv).map(|caps| {
                    let mut r = String::new();
                    caps.expand(&repl, &mut r);
                    r
                })
            })
            .clone();
        if let Some(r) = res {
            s.labels = set_label(&s.labels, &dst, &r);
        }
        out.push(s);
    }
    Ok(Value::Vector(merge_same_labels(out, ev.n() == 1)?))
}

fn label_join(ev: &Ev, args: &[&Expr]) -> Result<Value> {
    let v = ev.vector(arg(args, 0)?)?;
    let (dst, sep) = (string_arg(args, 1)?, string_arg(args, 2)?);
    let mut srcs = Vec::new();
    for i in 3..args.len() {
        let s = string_arg(args, i)?;
        if !valid_label_name(&s) {
            return Err(Error::Execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
        srcs.push(s);
    }
    if !valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
        let j = joined.join(&sep);
        s.labels = set_label(&s.labels, &dst, &j);
        out.push(s);
    }
    Ok(Value::Vector(merge_same_labels(out, ev.n() == 1)?))
}

fn date_fn(name: &str) -> fn(f64) -> f64 {
    match name {
        "days_in_month" => |x| {
            let (y, m, _) = civil(x);
            days_in_month(y, m) as f64
        },
        "day_of_month" => |x| civil(x).2 as f64,
        "day_of_week" => |x| (secs(x).div_euclid(86400) + 4).rem_euclid(7) as f64,
        "day_of_year" => |x| {
            let (y, m, d) = civil(x);
            ((1..m).map(|mm| days_in_month(y, mm)).sum::<i64>() + d) as f64
        },
        "hour" => |x| secs(x).rem_euclid(86400).div_euclid(3600) as f64,
        "minute" => |x| secs(x).rem_euclid(3600).div_euclid(60) as f64,
        "month" => |x| civil(x).1 as f64,
        _ => |x| civil(x).0 as f64,
    }
}

/// Go's `int64(f)` conversion (amd64: out of range and NaN give `i64::MIN`).
fn secs(x: f64) -> i64 {
    if x.is_nan() || x >= i64::MAX as f64 || x < i64::MIN as f64 {
        i64::MIN
    } else {
        x as i64
    }
}

fn civil(x: f64) -> (i64, i64, i64) {
    let days = secs(x).div_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2024-02-29T13:45:00Z
        let t = 1_709_214_300.0;
        assert_eq!(civil(t), (2024, 2, 29));
        assert_eq!(date_fn("days_in_month")(t), 29.0);
        assert_eq!(date_fn("day_of_week")(t), 4.0);
        assert_eq!(date_fn("day_of_year")(t), 60.0);
        assert_eq!(date_fn("hour")(t), 13.0);
        assert_eq!(date_fn("minute")(t), 45.0);
    }
}
