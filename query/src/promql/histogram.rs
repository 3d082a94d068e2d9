//! `histogram_quantile` over classic (`le`-labelled) buckets, as Prometheus 2.x computes it:
//! buckets grouped by their labels without `le` and the metric name, sorted by upper bound,
//! equal bounds merged, counts forced monotonic, then linear interpolation inside the bucket
//! holding the rank.
//!
//! Cost: grouping is done once per series; each step sorts its groups' buckets.

use super::eval::Ev;
use super::value::{Series, Value, del_labels};
use crate::error::Result;
use lookout_store::Labels;
use promql_parser::parser::Expr;
use std::collections::HashMap;

/// `bucket_quantile` on `(upper bound, cumulative count)` pairs.
pub fn bucket_quantile(q: f64, b: &mut Vec<(f64, f64)>) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if b.is_empty() {
        return f64::NAN;
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if b[b.len() - 1].0 != f64::INFINITY {
        return f64::NAN;
    }
    // Merge equal upper bounds.
    let mut w = 0usize;
    for r in 1..b.len() {
        if b[r].0 == b[w].0 {
            b[w].1 += b[r].1;
        } else {
            w += 1;
            b[w] = b[r];
        }
    }
    b.truncate(w + 1);
    // Force monotonic counts.
    let mut max = f64::NEG_INFINITY;
    for x in b.iter_mut() {
        if x.1 > max {
            max = x.1;
        } else if x.1 < max {
            x.1 = max;
        }
    }
    if b.len() < 2 {
        return f64::NAN;
    }
    let obs = b[b.len() - 1].1;
    if obs == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * obs;
    let last = b.len() - 1;
    let idx = b[..last].partition_point(|x| x.1 < rank);
    // `partition_point` equals Go's sort.Search only for monotonic predicates; counts are
    // monotonic now, except with NaN, where Search's binary probing is mirrored below.
    let idx = if b.iter().any(|x| x.1.is_nan()) {
        go_search(last, |i| b[i].1 >= rank)
    } else {
        idx
    };
    if idx == last {
        return b[last - 1].0;
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Go's `sort.Search`: smallest index in `[0, n)` for which `f` is true (binary probing).
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0usize, n);
    while i < j {
        let h = (i + j) / 2;
        if !f(h) { i = h + 1 } else { j = h }
    }
    i
}

pub fn histogram_quantile(ev: &Ev, args: &[&Expr]) -> Result<Value> {
    let (Some(qe), Some(ve)) = (args.first(), args.get(1)) else {
        return Err(crate::Error::BadData(
            "histogram_quantile needs two arguments".into(),
        ));
    };
    let q = ev.scalar(qe)?;
    let v = ev.vector(ve)?;
    let n = ev.n();
    let drop = ["le".to_string(), "__name__".to_string()];
    let mut gid: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let mut members: Vec<(usize, f64, &Series)> = Vec::new();
    for s in &v {
        let Some(le) = s.labels.get("le").and_then(parse_go_float) else {
            continue;
        };
        let key = del_labels(&s.labels, &drop);
        let g = *gid.entry(key.clone()).or_insert_with(|| {
            groups.push(key);
            groups.len() - 1
        });
        members.push((g, le, s));
    }
    // Per step, per group: the buckets present.
    let mut per: Vec<Vec<Vec<(f64, f64)>>> = vec![Vec::new(); groups.len()];
    for p in per.iter_mut() {
        p.resize(n, Vec::new());
    }
    for &(g, le, s) in &members {
        for &(i, x) in &s.pts {
            per[g][i as usize].push((le, x));
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (g, labels) in groups.into_iter().enumerate() {
        ev.ctx.tick()?;
        let mut pts = Vec::new();
        for (i, b) in per[g].iter_mut().enumerate() {
            if !b.is_empty() {
                pts.push((i as u32, bucket_quantile(q[i], b)));
            }
        }
        if !pts.is_empty() {
            out.push(Series { labels, pts });
        }
    }
    Ok(Value::Vector(out))
}

/// Go's `strconv.ParseFloat` for the forms seen in `le` labels.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        return (t.len() == s.len()).then_some(f64::NAN);
    }
    if t.bytes()
        .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
    {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut b = vec![(f64::INFINITY, 10.0), (1.0, 5.0), (0.5, 2.0)];
        // rank 5 lands at the top of the (0.5, 1] bucket.
        assert_eq!(bucket_quantile(0.5, &mut b.clone()), 1.0);
        assert!((bucket_quantile(0.1, &mut b) - 0.25).abs() < 1e-12);
        let mut no_inf = vec![(1.0, 1.0)];
        assert!(bucket_quantile(0.5, &mut no_inf).is_nan());
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.25"), Some(0.25));
        assert_eq!(parse_go_float("abc"), None);
    }
}
