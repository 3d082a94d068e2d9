//! The PromQL engine: parse (with `promql-parser`), check, evaluate over the store's
//! [`Querier`], and shape the result as Prometheus does.
//!
//! Entry points are [`instant_query`] and [`range_query`]. Both honour [`EngineOpts`]: a
//! deadline checked inside every evaluation loop (so a timed-out query stops using CPU), a cap
//! on samples held in memory, the lookback window, and the default subquery step.
//!
//! Semantics follow Prometheus 2.42 (inclusive lookback and range windows, `@` and negative
//! offsets enabled); see the module headers of [`eval`], [`functions`], [`aggregate`] and
//! [`binary`] for the details of each part.

pub mod aggregate;
pub mod binary;
pub mod check;
pub mod eval;
pub mod functions;
pub mod histogram;
pub mod range_fns;
pub mod value;

use crate::error::{Error, Result};
use eval::{Ctx, Ev};
use lookout_store::Querier;
use promql_parser::parser::{Expr, value::ValueType};
use std::cell::Cell;
use std::time::{Duration, Instant};
pub use value::{Grid, QueryValue, RangeSeries, Sample, Value};

/// Prometheus' limit on points per series in a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Limits and defaults of one query.
#[derive(Debug, Clone)]
pub struct EngineOpts {
    /// Wall-clock budget; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Most samples held in memory at once (Prometheus' `query.max-samples`).
    pub max_samples: usize,
    /// How far back a vector selector looks for a sample (ms).
    pub lookback_ms: i64,
    /// Step of subqueries that give none (Prometheus' evaluation interval, ms).
    pub default_step_ms: i64,
}

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            timeout: Some(Duration::from_secs(120)),
            max_samples: 50_000_000,
            lookback_ms: 5 * 60 * 1000,
            default_step_ms: 60_000,
        }
    }
}

/// Parses and checks a query; errors are `bad_data`.
pub fn parse(query: &str) -> Result<Expr> {
    check::register_extra_functions();
    let e = promql_parser::parser::parse(query).map_err(|e| {
        Error::BadData(format!(
            "invalid parameter \"query\": {}",
            parse_error(query, &e)
        ))
    })?;
    check::check(&e)?;
    Ok(e)
}

/// Adds a position to the parser's message when it has none: the parser reports positions
/// for lexer errors only, so for grammar errors the failing token is located by re-parsing
/// growing prefixes of the token stream.
fn parse_error(query: &str, msg: &str) -> String {
    if msg.contains(':') && msg.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return msg.to_string();
    }
    let (line, col) = error_position(query);
    format!("{line}:{col}: parse error: {msg}")
}

/// 1-based line and column of the first byte after the longest prefix (cut at a whitespace
/// boundary) that the parser accepts; the end of input if none is accepted.
fn error_position(query: &str) -> (usize, usize) {
    let mut good = 0usize;
    let cuts: Vec<usize> = query
        .char_indices()
        .filter(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
        .chain(std::iter::once(query.len()))
        .collect();
    for &c in cuts.iter().take(64) {
        if promql_parser::parser::parse(&query[..c]).is_ok() {
            good = c;
        }
    }
    let off = query[good..]
        .find(|c: char| !c.is_whitespace())
        .map(|o| good + o)
        .unwrap_or(query.len());
    let before = &query[..off];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn ctx<'a>(q: &'a dyn Querier, opts: &EngineOpts, start: i64, end: i64) -> Ctx<'a> {
    Ctx {
        querier: q,
        deadline: opts.timeout.map(|d| Instant::now() + d),
        max_samples: opts.max_samples,
        samples: Cell::new(0),
        lookback: opts.lookback_ms,
        query_start: start,
        query_end: end,
        default_step: opts.default_step_ms,
        ticks: Cell::new(0),
    }
}

/// Evaluates `query` at `t` (ms).
pub fn instant_query(
    q: &dyn Querier,
    query: &str,
    t: i64,
    opts: &EngineOpts,
) -> Result<QueryValue> {
    let e = parse(query)?;
    instant_expr(q, &e, t, opts)
}

/// Evaluates a parsed expression at `t` (ms).
pub fn instant_expr(q: &dyn Querier, e: &Expr, t: i64, opts: &EngineOpts) -> Result<QueryValue> {
    let c = ctx(q, opts, t, t);
    let ev = Ev::new(&c, Grid::instant(t));
    Ok(match ev.eval(e)? {
        Value::Scalar(s) => QueryValue::Scalar {
            t,
            v: s.first().copied().unwrap_or(f64::NAN),
        },
        Value::String(s) => QueryValue::String { t, v: s },
        Value::Vector(v) => QueryValue::Vector(
            v.into_iter()
                .filter_map(|s| {
                    Some(Sample {
                        t,
                        v: s.pts.first()?.1,
                        labels: s.labels,
                    })
                })
                .collect(),
        ),
        Value::Matrix(m) => QueryValue::Matrix(m),
    })
}

/// Checks a range query's shape as Prometheus' API does (`bad_data` errors).
pub fn check_range(start: i64, end: i64, step: i64) -> Result<()> {
    if end < start {
        return Err(Error::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    if step <= 0 {
        return Err(Error::BadData(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(Error::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    Ok(())
}

/// Evaluates `query` at `start, start + step, ..., end` (ms); series sorted by labels.
pub fn range_query(
    q: &dyn Querier,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
    opts: &EngineOpts,
) -> Result<Vec<RangeSeries>> {
    check_range(start, end, step)?;
    let e = parse(query)?;
    match e.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            let name = match other {
                ValueType::Matrix => "range vector",
                ValueType::String => "string",
                _ => "unknown",
            };
            return Err(Error::BadData(format!(
                "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
            )));
        }
    }
    let c = ctx(q, opts, start, end);
    let grid = Grid { start, end, step };
    let ev = Ev::new(&c, grid);
    let mut out: Vec<RangeSeries> = match ev.eval(&e)? {
        Value::Scalar(s) => vec![RangeSeries {
            labels: Default::default(),
            pts: s
                .into_iter()
                .enumerate()
                .map(|(i, v)| (grid.t(i), v))
                .collect(),
        }],
        Value::Vector(v) => v
            .into_iter()
            .filter(|s| !s.pts.is_empty())
            .map(|s| RangeSeries {
                labels: s.labels,
                pts: s
                    .pts
                    .into_iter()
                    .map(|(i, v)| (grid.t(i as usize), v))
                    .collect(),
            })
            .collect(),
        other => {
            return Err(Error::Execution(format!(
                "unexpected {} result",
                other.type_name()
            )));
        }
    };
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}
