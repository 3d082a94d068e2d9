//! The evaluator: walks a parsed expression over a step grid and produces a [`Value`].
//!
//! Semantics follow Prometheus 2.x: a vector selector takes, per step, the newest sample in
//! `[t - lookback, t]` (a staleness marker there means "no value"); a range selector takes the
//! samples in `[t - range, t]` without staleness markers; `offset` and `@` move the reference
//! time; subqueries evaluate their inner expression on a grid aligned to multiples of their
//! step. Step-invariant expressions (those pinned by `@`, constants) are evaluated once and
//! repeated, as Prometheus does.
//!
//! Limits: every loop over series checks the deadline ([`Ctx::check`]), and every sample taken
//! from the store or materialised in a result counts against `max_samples`.
//!
//! Cost: one `select` per selector; each series is walked once per node with a cursor.

use super::value::{Grid, RangeSeries, Series, Value, drop_name};
use crate::error::{Error, Result};
use lookout_store::{Labels, MatchOp, Matcher, Querier, is_stale_nan};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};
use std::cell::Cell;
use std::time::{Instant, SystemTime};

/// Per-query state shared by every evaluator of one query (subqueries included).
pub struct Ctx<'a> {
    pub querier: &'a dyn Querier,
    pub deadline: Option<Instant>,
    pub max_samples: usize,
    pub samples: Cell<usize>,
    pub lookback: i64,
    /// Start and end of the whole query, for `@ start()` / `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
    /// Subquery step when none is given (Prometheus' evaluation interval).
    pub default_step: i64,
    /// Counter for cheap deadline checks in tight loops.
    pub ticks: Cell<u32>,
}

impl Ctx<'_> {
    /// Fails once the deadline has passed.
    pub fn check(&self) -> Result<()> {
        if let Some(d) = self.deadline
            && Instant::now() >= d
        {
            return Err(Error::Timeout("query execution".into()));
        }
        Ok(())
    }

    /// Like [`Ctx::check`] but looks at the clock only every 1024 calls.
    pub fn tick(&self) -> Result<()> {
        let n = self.ticks.get().wrapping_add(1);
        self.ticks.set(n);
        if n.is_multiple_of(1024) {
            self.check()
        } else {
            Ok(())
        }
    }

    /// Accounts for `n` more samples held in memory.
    pub fn add_samples(&self, n: usize) -> Result<()> {
        let total = self.samples.get().saturating_add(n);
        self.samples.set(total);
        if total > self.max_samples {
            return Err(Error::Execution(
                "query processing would load too many samples into memory in query execution"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Evaluates expressions over one grid.
pub struct Ev<'a, 'c> {
    pub ctx: &'a Ctx<'c>,
    pub grid: Grid,
}

pub fn ms_of(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

/// Strips parentheses.
pub fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Functions whose result depends on the evaluation time even with constant inputs.
fn at_unsafe(name: &str) -> bool {
    matches!(
        name,
        "days_in_month"
            | "day_of_month"
            | "day_of_week"
            | "day_of_year"
            | "hour"
            | "minute"
            | "month"
            | "year"
            | "predict_linear"
            | "time"
            | "timestamp"
    )
}

/// Prometheus' notion of a step-invariant expression.
pub fn step_invariant(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(ms) => ms.vs.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some(),
        Expr::Aggregate(a) => step_invariant(&a.expr),
        Expr::Binary(b) => step_invariant(&b.lhs) && step_invariant(&b.rhs),
        Expr::Call(c) => !at_unsafe(c.func.name) && c.args.args.iter().all(|a| step_invariant(a)),
        Expr::Paren(p) => step_invariant(&p.expr),
        Expr::Unary(u) => step_invariant(&u.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Extension(_) => false,
    }
}

/// The store matchers of a selector.
pub fn matchers_of(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::BadData(
            "unsupported: \"or\" inside label matchers".into(),
        ));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal("__name__", name.clone()));
    }
    for m in &vs.matchers.matchers {
        let op = match &m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::RegexMatch,
            PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
        };
        out.push(
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| Error::BadData(e.to_string()))?,
        );
    }
    Ok(out)
}

impl<'a, 'c> Ev<'a, 'c> {
    pub fn new(ctx: &'a Ctx<'c>, grid: Grid) -> Self {
        Ev { ctx, grid }
    }

    pub fn n(&self) -> usize {
        self.grid.len()
    }

    /// Evaluates `e` over this evaluator's grid.
    pub fn eval(&self, e: &Expr) -> Result<Value> {
        self.ctx.check()?;
        if self.n() > 1
            && !matches!(
                e,
                Expr::NumberLiteral(_)
                    | Expr::StringLiteral(_)
                    | Expr::MatrixSelector(_)
                    | Expr::Subquery(_)
            )
            && step_invariant(e)
        {
            let one = Ev::new(self.ctx, Grid::instant(self.grid.start));
            let v = one.eval_inner(e)?;
            return self.replicate(v);
        }
        self.eval_inner(e)
    }

    fn replicate(&self, v: Value) -> Result<Value> {
        let n = self.n();
        Ok(match v {
            Value::Scalar(s) => Value::Scalar(vec![s.first().copied().unwrap_or(f64::NAN); n]),
            Value::Vector(vs) => {
                self.ctx.add_samples(vs.len() * n)?;
                Value::Vector(
                    vs.into_iter()
                        .filter_map(|s| {
                            let v = s.pts.first()?.1;
                            Some(Series {
                                labels: s.labels,
                                pts: (0..n as u32).map(|i| (i, v)).collect(),
                            })
                        })
                        .collect(),
                )
            }
            other => other,
        })
    }

    fn eval_inner(&self, e: &Expr) -> Result<Value> {
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(vec![n.val; self.n()])),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Value::Scalar(mut s) => {
                    s.iter_mut().for_each(|v| *v = -*v);
                    Ok(Value::Scalar(s))
                }
                Value::Vector(mut vs) => {
                    for s in &mut vs {
                        s.labels = drop_name(&s.labels);
                        s.pts.iter_mut().for_each(|p| p.1 = -p.1);
                    }
                    check_unique(&vs)?;
                    Ok(Value::Vector(vs))
                }
                other => Err(Error::Execution(format!(
                    "unary minus on {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.vector_selector(vs, false)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                let (series, range, refs) = self.range_input(e)?;
                // Only reachable for a single evaluation (instant query, or the top of one).
                let r = refs.first().copied().unwrap_or(self.grid.start);
                let out = series
                    .into_iter()
                    .filter_map(|mut s| {
                        s.pts.retain(|p| p.0 >= r - range && p.0 <= r);
                        (!s.pts.is_empty()).then_some(s)
                    })
                    .collect();
                Ok(Value::Matrix(out))
            }
            Expr::Call(c) => super::functions::call(self, c),
            Expr::Aggregate(a) => super::aggregate::eval(self, a),
            Expr::Binary(b) => super::binary::eval(self, b),
            Expr::Extension(_) => Err(Error::BadData("unsupported expression: extension".into())),
        }
    }

    /// Evaluates `e` and requires a scalar (one value per step).
    pub fn scalar(&self, e: &Expr) -> Result<Vec<f64>> {
        match self.eval(e)? {
            Value::Scalar(s) => Ok(s),
            other => Err(Error::Execution(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates `e` and requires an instant vector.
    pub fn vector(&self, e: &Expr) -> Result<Vec<Series>> {
        match self.eval(e)? {
            Value::Vector(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// The reference time of each step for a node with these modifiers.
    pub fn refs(&self, at: &Option<AtModifier>, offset: &Option<Offset>) -> Vec<i64> {
        let off = offset_ms(offset);
        let pinned = at.as_ref().map(|a| match a {
            AtModifier::Start => self.ctx.query_start,
            AtModifier::End => self.ctx.query_end,
            AtModifier::At(t) => ms_of(t),
        });
        (0..self.n())
            .map(|i| pinned.unwrap_or_else(|| self.grid.t(i)) - off)
            .collect()
    }

    fn select(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<lookout_store::Series>> {
        let m = matchers_of(vs)?;
        let data = self.ctx.querier.select(&m, mint, maxt)?;
        self.ctx
            .add_samples(data.iter().map(|s| s.samples.len()).sum())?;
        self.ctx.check()?;
        Ok(data)
    }

    /// A vector selector over the grid; with `want_ts` the values are the samples' timestamps
    /// in seconds (for `timestamp()`).
    pub fn vector_selector(&self, vs: &VectorSelector, want_ts: bool) -> Result<Vec<Series>> {
        let refs = self.refs(&vs.at, &vs.offset);
        let (Some(&lo), Some(&hi)) = (refs.iter().min(), refs.iter().max()) else {
            return Ok(Vec::new());
        };
        let lb = self.ctx.lookback;
        let data = self.select(vs, lo - lb, hi)?;
        let mut out = Vec::with_capacity(data.len());
        for s in data {
            self.ctx.tick()?;
            let mut pts = Vec::new();
            let mut j = 0usize;
            for (i, &r) in refs.iter().enumerate() {
                while j < s.samples.len() && s.samples[j].0 <= r {
                    j += 1;
                }
                if j == 0 {
                    continue;
                }
                let (t, v) = s.samples[j - 1];
                if t < r - lb || is_stale_nan(v) {
                    continue;
                }
                pts.push((i as u32, if want_ts { t as f64 / 1000.0 } else { v }));
            }
            if !pts.is_empty() {
                out.push(Series {
                    labels: s.labels,
                    pts,
                });
            }
        }
        Ok(out)
    }

    /// The series, range (ms) and per-step reference times of a range-vector argument (a range
    /// selector or a subquery, possibly parenthesised).
    pub fn range_input(&self, e: &Expr) -> Result<(Vec<RangeSeries>, i64, Vec<i64>)> {
        match unparen(e) {
            Expr::MatrixSelector(ms) => {
                let range = ms.range.as_millis() as i64;
                let refs = self.refs(&ms.vs.at, &ms.vs.offset);
                let (Some(&lo), Some(&hi)) = (refs.iter().min(), refs.iter().max()) else {
                    return Ok((Vec::new(), range, refs));
                };
                let data = self.select(&ms.vs, lo - range, hi)?;
                let out = data
                    .into_iter()
                    .map(|s| RangeSeries {
                        labels: s.labels,
                        pts: s
                            .samples
                            .into_iter()
                            .filter(|p| !is_stale_nan(p.1))
                            .collect(),
                    })
                    .collect();
                Ok((out, range, refs))
            }
            Expr::Subquery(sq) => self.subquery(sq),
            other => Err(Error::Execution(format!(
                "expected a range vector, got {}",
                super::check::kind(other)
            ))),
        }
    }

    fn subquery(&self, sq: &SubqueryExpr) -> Result<(Vec<RangeSeries>, i64, Vec<i64>)> {
        let range = sq.range.as_millis() as i64;
        let step = sq
            .step
            .map(|d| d.as_millis() as i64)
            .unwrap_or(self.ctx.default_step);
        if step <= 0 {
            return Err(Error::BadData("zero or negative subquery step".into()));
        }
        let refs = self.refs(&sq.at, &sq.offset);
        let (Some(&lo), Some(&hi)) = (refs.iter().min(), refs.iter().max()) else {
            return Ok((Vec::new(), range, refs));
        };
        let want = lo - range;
        let mut start = step * (want / step);
        if start < want {
            start += step;
        }
        let grid = Grid {
            start,
            end: hi,
            step,
        };
        // One value per inner step is held at least: count the steps before allocating them.
        if hi >= start {
            let steps = ((hi - start) / step).saturating_add(1);
            self.ctx
                .add_samples(usize::try_from(steps).unwrap_or(usize::MAX))?;
        }
        let inner = Ev::new(self.ctx, grid);
        let v = if grid.is_empty() {
            Value::Vector(Vec::new())
        } else {
            inner.eval(&sq.expr)?
        };
        let out = match v {
            Value::Vector(vs) => vs
                .into_iter()
                .map(|s| RangeSeries {
                    labels: s.labels,
                    pts: s
                        .pts
                        .into_iter()
                        .map(|(i, v)| (grid.t(i as usize), v))
                        .collect(),
                })
                .collect(),
            Value::Scalar(s) => vec![RangeSeries {
                labels: Labels::default(),
                pts: s
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (grid.t(i), v))
                    .collect(),
            }],
            other => {
                return Err(Error::Execution(format!(
                    "subquery of {} is not allowed",
                    other.type_name()
                )));
            }
        };
        Ok((out, range, refs))
    }
}

/// Prometheus' "vector cannot contain metrics with the same labelset" check over a whole
/// result (used where Prometheus checks the full matrix, not one step).
pub fn check_unique(v: &[Series]) -> Result<()> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    for s in v {
        if !seen.insert(&s.labels) {
            return Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}
