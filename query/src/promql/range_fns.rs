//! Functions over range vectors (`rate`, `increase`, the `*_over_time` family, ...): each is a
//! pure function of one series' samples inside one window, following Prometheus 2.x
//! arithmetic (extrapolation, counter-reset handling, Kahan-compensated sums).
//!
//! Invariant: windows handed in are non-empty and ascending by time. Cost: linear in the
//! window (quantile sorts a copy).

/// Everything a range function may need besides the samples.
#[derive(Debug, Clone, Copy)]
pub struct Win {
    /// The evaluation timestamp of this step (ms).
    pub ts: i64,
    /// Window bounds (ms, inclusive) and length.
    pub start: i64,
    pub end: i64,
    pub range: i64,
    /// Scalar arguments at this step (quantile, predict duration, smoothing factors).
    pub a: f64,
    pub b: f64,
}

pub type RangeFn = fn(&[(i64, f64)], &Win) -> Result<Option<f64>, String>;

/// The implementation of `name`, the index of its range-vector argument, and the indexes of
/// its scalar arguments.
pub fn lookup(name: &str) -> Option<(RangeFn, usize, &'static [usize])> {
    Some(match name {
        "rate" => (rate as RangeFn, 0, &[]),
        "increase" => (increase, 0, &[]),
        "delta" => (delta, 0, &[]),
        "irate" => (irate, 0, &[]),
        "idelta" => (idelta, 0, &[]),
        "deriv" => (deriv, 0, &[]),
        "predict_linear" => (predict_linear, 0, &[1]),
        "resets" => (resets, 0, &[]),
        "changes" => (changes, 0, &[]),
        "avg_over_time" => (avg_over_time, 0, &[]),
        "min_over_time" => (min_over_time, 0, &[]),
        "max_over_time" => (max_over_time, 0, &[]),
        "sum_over_time" => (sum_over_time, 0, &[]),
        "count_over_time" => (count_over_time, 0, &[]),
        "quantile_over_time" => (quantile_over_time, 1, &[0]),
        "stddev_over_time" => (stddev_over_time, 0, &[]),
        "stdvar_over_time" => (stdvar_over_time, 0, &[]),
        "last_over_time" => (last_over_time, 0, &[]),
        "present_over_time" => (present_over_time, 0, &[]),
        "absent_over_time" => (present_over_time, 0, &[]),
        "holt_winters" => (holt_winters, 0, &[1, 2]),
        _ => return None,
    })
}

/// Kahan-Babuška compensated addition: returns the new sum and compensation.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn extrapolated(w: &[(i64, f64)], c: &Win, counter: bool, is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = 0.0;
        for &(_, v) in w {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 - c.start) as f64 / 1000.0;
    let to_end = (c.end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_step = sampled / (w.len() - 1) as f64;
    if counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_step * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_step / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_step / 2.0
    };
    result *= interval / sampled;
    if is_rate {
        result /= c.range as f64 / 1000.0;
    }
    Some(result)
}

fn rate(w: &[(i64, f64)], c: &Win) -> Result<Option<f64>, String> {
    Ok(extrapolated(w, c, true, true))
}
fn increase(w: &[(i64, f64)], c: &Win) -> Result<Option<f64>, String> {
    Ok(extrapolated(w, c, true, false))
}
fn delta(w: &[(i64, f64)], c: &Win) -> Result<Option<f64>, String> {
    Ok(extrapolated(w, c, false, false))
}

fn instant_value(w: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
    let mut r = if is_rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let dt = last.0 - prev.0;
    if dt == 0 {
        return None;
    }
    if is_rate {
        r /= dt as f64 / 1000.0;
    }
    Some(r)
}

fn irate(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(instant_value(w, true))
}
fn idelta(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(instant_value(w, false))
}

/// Least-squares fit of value over time (seconds relative to `t0`): `(slope, intercept)`.
pub fn linear_regression(w: &[(i64, f64)], t0: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = w[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in w.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - t0) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn deriv(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    if w.len() < 2 {
        return Ok(None);
    }
    Ok(Some(linear_regression(w, w[0].0).0))
}

fn predict_linear(w: &[(i64, f64)], c: &Win) -> Result<Option<f64>, String> {
    if w.len() < 2 {
        return Ok(None);
    }
    let (slope, intercept) = linear_regression(w, c.ts);
    Ok(Some(slope * c.a + intercept))
}

fn resets(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(Some(w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64))
}

fn changes(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(Some(
        w.windows(2)
            .filter(|p| p[1].1 != p[0].1 && !(p[1].1.is_nan() && p[0].1.is_nan()))
            .count() as f64,
    ))
}

fn avg_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    let (mut mean, mut c, mut count) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in w {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    Ok(Some(if mean.is_infinite() { mean } else { mean + c }))
}

fn min_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    let mut m = w[0].1;
    for &(_, v) in w {
        if v < m || m.is_nan() {
            m = v;
        }
    }
    Ok(Some(m))
}

fn max_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    let mut m = w[0].1;
    for &(_, v) in w {
        if v > m || m.is_nan() {
            m = v;
        }
    }
    Ok(Some(m))
}

fn sum_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    let (mut s, mut c) = (0.0, 0.0);
    for &(_, v) in w {
        (s, c) = kahan_inc(v, s, c);
    }
    Ok(Some(if s.is_infinite() { s } else { s + c }))
}

fn count_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(Some(w.len() as f64))
}

fn quantile_over_time(w: &[(i64, f64)], c: &Win) -> Result<Option<f64>, String> {
    let mut v: Vec<f64> = w.iter().map(|p| p.1).collect();
    Ok(Some(quantile(c.a, &mut v)))
}

/// Prometheus' quantile: NaN for no values, ±Inf outside `[0, 1]`, linear interpolation.
pub fn quantile(q: f64, v: &mut [f64]) -> f64 {
    if v.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    v.sort_by(nan_first);
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    v[lower as usize] * (1.0 - weight) + v[upper as usize] * weight
}

/// Ascending order with NaN before everything.
pub fn nan_first(a: &f64, b: &f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn stdvar(w: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in w {
        count += 1.0;
        let d = v - (mean + cm);
        (mean, cm) = kahan_inc(d / count, mean, cm);
        (aux, ca) = kahan_inc(d * (v - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

fn stddev_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(Some(stdvar(w).sqrt()))
}
fn stdvar_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(Some(stdvar(w)))
}
fn last_over_time(w: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(w.last().map(|p| p.1))
}
fn present_over_time(_: &[(i64, f64)], _: &Win) -> Result<Option<f64>, String> {
    Ok(Some(1.0))
}

fn holt_winters(w: &[(i64, f64)], c: &Win) -> Result<Option<f64>, String> {
    let (sf, tf) = (c.a, c.b);
    if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
        return Err(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        ));
    }
    if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
        return Err(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        ));
    }
    if w.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0f64, w[0].1);
    let mut b = w[1].1 - w[0].1;
    for (i, &(_, v)) in w.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(start: i64, end: i64) -> Win {
        Win {
            ts: end,
            start,
            end,
            range: end - start,
            a: 0.0,
            b: 0.0,
        }
    }

    #[test]
    fn rate_extrapolates_and_handles_resets() {
        // 0..60s, samples every 10s of a counter +1/s: rate is 1/s over a 60s window.
        let w: Vec<(i64, f64)> = (0..=6).map(|i| (i * 10_000, i as f64 * 10.0)).collect();
        let r = rate(&w, &win(0, 60_000)).unwrap().unwrap();
        assert!((r - 1.0).abs() < 1e-12, "{r}");
        // A reset from 30 to 5 counts as +5 from zero.
        let w = vec![(0, 10.0), (10_000, 30.0), (20_000, 5.0)];
        let inc = increase(&w, &win(0, 20_000)).unwrap().unwrap();
        assert!((inc - 25.0).abs() < 1e-9, "{inc}");
        assert_eq!(rate(&[(0, 1.0)], &win(0, 1)).unwrap(), None);
    }

    #[test]
    fn quantile_and_regression() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
        let w = vec![(0, 1.0), (1000, 3.0), (2000, 5.0)];
        let (s, i) = linear_regression(&w, 0);
        assert!((s - 2.0).abs() < 1e-12 && (i - 1.0).abs() < 1e-12);
    }
}
