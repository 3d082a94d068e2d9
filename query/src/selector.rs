//! Series selectors as the API's `match[]` parameters take them (`up`,
//! `http_requests_total{job=~"a.*"}`): parsed into store matchers; any other expression is
//! refused with a `bad_data` error naming what it is.

use crate::error::{Error, Result};
use lookout_store::{MatchOp, Matcher};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, Expr};

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
        "unsupported {kind}: match[] takes series selectors (e.g. up{{job=\"x\"}})"
    ))
}
