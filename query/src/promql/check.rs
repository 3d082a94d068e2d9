//! Checks run on a parsed expression before evaluation: everything the parser accepts but
//! this engine (which follows Prometheus 2.42's language) does not evaluate is refused here
//! with a `bad_data` error naming it, so nothing unsupported fails half-way through a query.
//!
//! Cost: one walk over the syntax tree.

use crate::error::{Error, Result};
use promql_parser::parser::{Expr, VectorMatchCardinality};

/// Functions this engine evaluates.
pub const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_replace",
    "label_join",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Registers functions Prometheus 2.x has that the parser no longer knows (`holt_winters`).
pub fn register_extra_functions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use promql_parser::parser::Function;
        use promql_parser::parser::value::ValueType;
        let _ = promql_parser::parser::register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

/// A short name for the kind of an expression, for error messages.
pub fn kind(e: &Expr) -> &'static str {
    match e {
        Expr::Aggregate(_) => "aggregation",
        Expr::Unary(_) => "unary expression",
        Expr::Binary(_) => "binary expression",
        Expr::Paren(_) => "parenthesised expression",
        Expr::Subquery(_) => "subquery",
        Expr::NumberLiteral(_) => "number literal",
        Expr::StringLiteral(_) => "string literal",
        Expr::VectorSelector(_) => "vector selector",
        Expr::MatrixSelector(_) => "range vector selector",
        Expr::Call(_) => "function call",
        Expr::Extension(_) => "extension",
    }
}

/// Refuses anything outside the supported language.
pub fn check(e: &Expr) -> Result<()> {
    match e {
        Expr::Aggregate(a) => {
            use promql_parser::parser::token::*;
            let id = a.op.id();
            let ok = [
                T_SUM,
                T_MIN,
                T_MAX,
                T_AVG,
                T_COUNT,
                T_GROUP,
                T_STDDEV,
                T_STDVAR,
                T_TOPK,
                T_BOTTOMK,
                T_QUANTILE,
                T_COUNT_VALUES,
            ]
            .contains(&id);
            if !ok {
                return Err(Error::BadData(format!(
                    "unsupported aggregation \"{}\"",
                    a.op
                )));
            }
            if let Some(p) = &a.param {
                check(p)?;
            }
            check(&a.expr)
        }
        Expr::Unary(u) => check(&u.expr),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err(Error::BadData("unsupported binary modifier: fill".into()));
            }
            if let Some(m) = &b.modifier
                && let VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_) =
                    m.card
                && is_set_op(b.op.id())
            {
                return Err(Error::BadData(format!(
                    "no grouping allowed for \"{}\" operation",
                    b.op
                )));
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
        Expr::Paren(p) => check(&p.expr),
        Expr::Subquery(s) => check(&s.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(ms) => selector(&ms.vs),
        Expr::Call(c) => {
            if !FUNCTIONS.contains(&c.func.name) {
                return Err(Error::BadData(format!(
                    "unsupported function \"{}\"",
                    c.func.name
                )));
            }
            c.args.args.iter().try_for_each(|a| check(a))
        }
        Expr::Extension(_) => Err(Error::BadData("unsupported expression: extension".into())),
    }
}

pub fn is_set_op(id: promql_parser::parser::token::TokenId) -> bool {
    use promql_parser::parser::token::*;
    id == T_LAND || id == T_LOR || id == T_LUNLESS
}

fn selector(vs: &promql_parser::parser::VectorSelector) -> Result<()> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::BadData(
            "unsupported: \"or\" inside label matchers".into(),
        ));
    }
    Ok(())
}
