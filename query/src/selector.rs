//! Evaluation of plain series selectors (`up`, `http_requests_total{job=~"a.*"}`) at one
//! instant: the latest sample within the 5 minute lookback, staleness markers honoured.
//! This is all the API can answer until the PromQL engine lands; any other expression is
//! refused with a clear `bad_data` error naming what is not supported yet.

use crate::error::{Error, Result};
use lookout_store::{Labels, MatchOp, Matcher, Querier, is_stale_nan};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, Expr};

/// Prometheus' default lookback delta.
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// Parses `query` and, if it is a plain selector, returns its matchers.
pub fn parse_selector(query: &str) -> Result<Vec<Matcher>> {
    let expr = parser::parse(query)
        .map_err(|e| Error::BadData(format!("invalid parameter \"query\": {e}")))?;
    let vs = match expr {
        Expr::VectorSelector(vs) => vs,
        Expr::Paren(p) => match *p.expr {
            Expr::VectorSelector(vs) => vs,
            other => return Err(unsupported(&other)),
        },
        other => return Err(unsupported(&other)),
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(Error::BadData(
            "offset and @ modifiers are not supported yet (only plain series selectors are)".into(),
        ));
    }
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        out.push(Matcher::equal("__name__", name.clone()));
    }
    for m in vs.matchers.matchers.iter() {
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

fn unsupported(e: &Expr) -> Error {
    let kind = match e {
        Expr::Aggregate(_) => "aggregation",
        Expr::Unary(_) => "unary expression",
        Expr::Binary(_) => "binary expression",
        Expr::Paren(_) => "parenthesised expression",
        Expr::Subquery(_) => "subquery",
        Expr::NumberLiteral(_) => "number literal",
        Expr::StringLiteral(_) => "string literal",
        Expr::MatrixSelector(_) => "range vector selector",
        Expr::Call(_) => "function call",
        _ => "expression",
    };
    Error::BadData(format!(
        "unsupported {kind}: only plain series selectors (e.g. up{{job=\"x\"}}) can be evaluated yet"
    ))
}

/// The instant vector of `matchers` at `t` (ms).
pub fn eval_instant(q: &dyn Querier, matchers: &[Matcher], t: i64) -> Result<Vec<InstantSample>> {
    let series = q.select(matchers, t - LOOKBACK_MS + 1, t)?;
    Ok(series
        .into_iter()
        .filter_map(|s| {
            let (_, sv) = *s.samples.last()?;
            (!is_stale_nan(sv)).then_some(InstantSample {
                labels: s.labels,
                t,
                v: sv,
            })
        })
        .collect())
}
