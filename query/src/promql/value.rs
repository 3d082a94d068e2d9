//! Values flowing through the evaluator and the results handed to the API.
//!
//! Evaluation runs over a step grid ([`Grid`]): an instant query is a grid of one step. An
//! instant vector is kept series-major ([`Series`]: labels plus `(step index, value)` points,
//! ascending), a scalar is one float per step, a range vector ([`RangeSeries`]) keeps real
//! sample timestamps. Invariants: points of a [`Series`] are sorted by step; label sets are
//! [`Labels`] (sorted, no empty values).
//!
//! Cost: one `Vec` per series per node; label sets are cloned only when they change.

use lookout_store::{Label, Labels};

/// The evaluation timestamps: `start, start + step, ..., end` (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    pub fn instant(t: i64) -> Self {
        Grid {
            start: t,
            end: t,
            step: 1,
        }
    }

    /// Number of steps (zero when `end < start`).
    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else if self.end == self.start || self.step <= 0 {
            1
        } else {
            ((self.end - self.start) / self.step) as usize + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// Timestamp of step `i`.
    pub fn t(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// One series of an instant vector evaluated over a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    /// `(step index, value)`, ascending by step.
    pub pts: Vec<(u32, f64)>,
}

/// One series of a range vector: samples with their own timestamps (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub pts: Vec<(i64, f64)>,
}

/// An evaluated expression.
#[derive(Debug, Clone)]
pub enum Value {
    /// One value per grid step.
    Scalar(Vec<f64>),
    Vector(Vec<Series>),
    /// Only at the top of an instant query, or as a function argument.
    Matrix(Vec<RangeSeries>),
    String(String),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
            Value::String(_) => "string",
        }
    }
}

/// One element of an instant-query vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// What a query answers, in Prometheus' result types.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<Sample>),
    Matrix(Vec<RangeSeries>),
}

impl QueryValue {
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector(_) => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }
}

/// Label-set editing with Prometheus' builder semantics: setting an empty value deletes.
pub fn drop_name(l: &Labels) -> Labels {
    if l.metric_name().is_none() {
        return l.clone();
    }
    l.without(lookout_store::labels::METRIC_NAME)
}

/// Keeps only the labels named in `names`.
pub fn keep_labels(l: &Labels, names: &[String]) -> Labels {
    let v: Vec<Label> = l
        .iter()
        .filter(|x| names.contains(&x.name))
        .cloned()
        .collect();
    Labels::from_sorted(v)
}

/// Removes the labels named in `names`.
pub fn del_labels(l: &Labels, names: &[String]) -> Labels {
    let v: Vec<Label> = l
        .iter()
        .filter(|x| !names.contains(&x.name))
        .cloned()
        .collect();
    Labels::from_sorted(v)
}

/// Sets (or with an empty value, deletes) one label.
pub fn set_label(l: &Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = l.iter().filter(|x| x.name != name).cloned().collect();
    if !value.is_empty() {
        let pos = v.partition_point(|x| x.name.as_str() < name);
        v.insert(
            pos,
            Label {
                name: name.to_string(),
                value: value.to_string(),
            },
        );
    }
    Labels::from_sorted(v)
}

/// Go's `math.Max`: NaN wins, `+Inf` wins.
pub fn go_max(a: f64, b: f64) -> f64 {
    if (a.is_infinite() && a > 0.0) || (b.is_infinite() && b > 0.0) {
        return f64::INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b { a } else { b }
}

/// Go's `math.Min`: NaN wins, `-Inf` wins.
pub fn go_min(a: f64, b: f64) -> f64 {
    if (a.is_infinite() && a < 0.0) || (b.is_infinite() && b < 0.0) {
        return f64::NEG_INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b { a } else { b }
}

/// Whether a string is a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(s: &str) -> bool {
    let mut it = s.bytes();
    match it.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
        _ => return false,
    }
    it.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Merges series that carry the same label set (points from several inputs landing on one
/// output, as after dropping the metric name). Two points of one label set at the same step
/// are Prometheus' "vector cannot contain metrics with the same labelset" error; at
/// different steps the points are merged in step order.
pub fn merge_same_labels(mut v: Vec<Series>, _single_step: bool) -> crate::Result<Vec<Series>> {
    if v.len() < 2 {
        return Ok(v);
    }
    let mut seen: std::collections::HashMap<Labels, usize> =
        std::collections::HashMap::with_capacity(v.len());
    let mut dup = false;
    for (i, s) in v.iter().enumerate() {
        if seen.insert(s.labels.clone(), i).is_some() {
            dup = true;
            break;
        }
    }
    if !dup {
        return Ok(v);
    }
    let mut out: Vec<Series> = Vec::with_capacity(v.len());
    let mut idx: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for s in v.drain(..) {
        match idx.get(&s.labels) {
            Some(&i) => {
                let o: &mut Series = &mut out[i];
                o.pts.extend(s.pts);
                o.pts.sort_by_key(|p| p.0);
                if o.pts.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(crate::Error::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
            }
            None => {
                idx.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}
