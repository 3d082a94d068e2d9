//! Alert and notification templates: Go `text/template` syntax with Prometheus' functions
//! (`humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`,
//! `humanizeTimestamp`, `printf`, `reReplaceAll`, `title`, `toUpper`, `first`, `label`,
//! `value`, `query`, ...), our own implementation.
//!
//! Alert templates see `$labels`, `$externalLabels`, `$externalURL` and `$value` (and the
//! same as `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`), as in Prometheus; maps
//! return "" for missing keys (Prometheus runs templates with `missingkey=zero`).
//!
//! Cost: templates are parsed once per rule (at load) and executed per alert per
//! evaluation; execution allocates the output string and small temporaries.

mod exec;
mod funcs;
pub mod gofmt;
mod parse;

pub use exec::{QueryFn, Value};
pub use parse::ParseError;

use std::collections::BTreeMap;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

/// A template execution error.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecError(pub String);

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error executing template: {}", self.0)
    }
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, ParseError> {
        Ok(Template {
            nodes: parse::parse(src)?,
        })
    }

    /// Executes with `dot` as `.` and the given variables.
    pub fn execute(
        &self,
        dot: &Value,
        vars: &[(&str, Value)],
        query: Option<&QueryFn<'_>>,
    ) -> Result<String, ExecError> {
        exec::execute(&self.nodes, dot, vars, query)
    }
}

/// Checks template syntax only (for `check rules`).
pub fn check_syntax(src: &str) -> Result<(), String> {
    Template::parse(src).map(|_| ()).map_err(|e| e.to_string())
}

/// The data an alert's templates see.
#[derive(Debug, Clone, Default)]
pub struct AlertData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

fn str_map(m: &BTreeMap<String, String>) -> Value {
    Value::Map(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect(),
    )
}

/// Expands an alert label or annotation template the way Prometheus does.
pub fn expand_alert(
    src: &str,
    data: &AlertData,
    query: Option<&QueryFn<'_>>,
) -> Result<String, String> {
    let t = Template::parse(src).map_err(|e| e.to_string())?;
    expand_parsed(&t, data, query)
}

/// [`expand_alert`] for a template parsed once up front.
pub fn expand_parsed(
    t: &Template,
    data: &AlertData,
    query: Option<&QueryFn<'_>>,
) -> Result<String, String> {
    let labels = str_map(&data.labels);
    let ext = str_map(&data.external_labels);
    let dot = Value::Map(
        [
            ("Labels".to_string(), labels.clone()),
            ("ExternalLabels".to_string(), ext.clone()),
            (
                "ExternalURL".to_string(),
                Value::Str(data.external_url.clone()),
            ),
            ("Value".to_string(), Value::Num(data.value)),
        ]
        .into_iter()
        .collect(),
    );
    t.execute(
        &dot,
        &[
            ("labels", labels),
            ("externalLabels", ext),
            ("externalURL", Value::Str(data.external_url.clone())),
            ("value", Value::Num(data.value)),
        ],
        query,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
