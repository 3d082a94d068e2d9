//! Executing a parsed template against a value tree.

use super::ExecError;
use super::funcs;
use super::parse::{Arg, Cmd, Node, Pipe};
use std::collections::BTreeMap;

/// A value in a template's data.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Int(i64),
    Str(String),
    Map(BTreeMap<String, Value>),
    List(Vec<Value>),
}

/// Runs a PromQL query for the `query` template function: returns `(labels, value)` pairs.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<Vec<(BTreeMap<String, String>, f64)>, String> + 'a;

impl Value {
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0,
            Value::Int(n) => *n != 0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// How Go prints the value with `{{ . }}` / `%v`.
    pub fn render(&self) -> String {
        match self {
            Value::Null => "<no value>".into(),
            Value::Bool(b) => b.to_string(),
            Value::Num(n) => super::gofmt::format_shortest(*n),
            Value::Int(n) => n.to_string(),
            Value::Str(s) => s.clone(),
            Value::Map(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", v.render()))
                    .collect();
                format!("map[{}]", parts.join(" "))
            }
            Value::List(l) => {
                let parts: Vec<String> = l.iter().map(Value::render).collect();
                format!("[{}]", parts.join(" "))
            }
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Int(n) => Some(*n as f64),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    fn field(&self, name: &str) -> Result<Value, ExecError> {
        match self {
            Value::Map(m) => Ok(m.get(name).cloned().unwrap_or(Value::Str(String::new()))),
            Value::Null => Ok(Value::Null),
            other => Err(ExecError(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            ))),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "nil",
            Value::Bool(_) => "bool",
            Value::Num(_) => "float64",
            Value::Int(_) => "int",
            Value::Str(_) => "string",
            Value::Map(_) => "map",
            Value::List(_) => "slice",
        }
    }
}

pub(super) struct State<'a> {
    vars: Vec<(String, Value)>,
    pub query: Option<&'a QueryFn<'a>>,
    out: String,
    steps: usize,
}

const MAX_STEPS: usize = 100_000;

pub fn execute(
    nodes: &[Node],
    dot: &Value,
    vars: &[(&str, Value)],
    query: Option<&QueryFn<'_>>,
) -> Result<String, ExecError> {
    let mut st = State {
        vars: std::iter::once(("".to_string(), dot.clone()))
            .chain(vars.iter().map(|(k, v)| (k.to_string(), v.clone())))
            .collect(),
        query,
        out: String::new(),
        steps: 0,
    };
    walk(&mut st, nodes, dot)?;
    Ok(st.out)
}

fn walk(st: &mut State<'_>, nodes: &[Node], dot: &Value) -> Result<(), ExecError> {
    for n in nodes {
        st.steps += 1;
        if st.steps > MAX_STEPS {
            return Err(ExecError("template too expensive".into()));
        }
        match n {
            Node::Text(t) => st.out.push_str(t),
            Node::Action(p) => {
                let v = pipe(st, p, dot)?;
                if p.vars.is_empty() {
                    st.out.push_str(&v.render());
                }
            }
            Node::If {
                pipe: p,
                then,
                otherwise,
            } => {
                let mark = st.vars.len();
                let v = pipe(st, p, dot)?;
                if v.truthy() {
                    walk(st, then, dot)?;
                } else {
                    walk(st, otherwise, dot)?;
                }
                st.vars.truncate(mark);
            }
            Node::With {
                pipe: p,
                body,
                otherwise,
            } => {
                let mark = st.vars.len();
                let v = pipe(st, p, dot)?;
                if v.truthy() {
                    walk(st, body, &v)?;
                } else {
                    walk(st, otherwise, dot)?;
                }
                st.vars.truncate(mark);
            }
            Node::Range {
                pipe: p,
                body,
                otherwise,
            } => {
                let mark = st.vars.len();
                let mut p2 = p.clone();
                let names = std::mem::take(&mut p2.vars);
                let v = pipe(st, &p2, dot)?;
                let items: Vec<(Value, Value)> = match v {
                    Value::List(l) => l
                        .into_iter()
                        .enumerate()
                        .map(|(i, x)| (Value::Int(i as i64), x))
                        .collect(),
                    Value::Map(m) => m.into_iter().map(|(k, x)| (Value::Str(k), x)).collect(),
                    Value::Null => Vec::new(),
                    Value::Int(n) => (0..n.max(0))
                        .map(|i| (Value::Int(i), Value::Int(i)))
                        .collect(),
                    other => {
                        return Err(ExecError(format!(
                            "range can't iterate over {}",
                            other.render()
                        )));
                    }
                };
                if items.is_empty() {
                    walk(st, otherwise, dot)?;
                }
                for (k, x) in items {
                    let inner = st.vars.len();
                    match names.len() {
                        0 => {}
                        1 => st.vars.push((names[0].clone(), x.clone())),
                        _ => {
                            st.vars.push((names[0].clone(), k));
                            st.vars.push((names[1].clone(), x.clone()));
                        }
                    }
                    walk(st, body, &x)?;
                    st.vars.truncate(inner);
                }
                st.vars.truncate(mark);
            }
        }
    }
    Ok(())
}

fn lookup_var(st: &State<'_>, name: &str) -> Result<Value, ExecError> {
    st.vars
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ExecError(format!("undefined variable: ${name}")))
}

fn chain(mut v: Value, fields: &[String]) -> Result<Value, ExecError> {
    for f in fields {
        v = v.field(f)?;
    }
    Ok(v)
}

pub(super) fn pipe(st: &mut State<'_>, p: &Pipe, dot: &Value) -> Result<Value, ExecError> {
    let mut prev: Option<Value> = None;
    for c in &p.cmds {
        prev = Some(cmd(st, c, dot, prev)?);
    }
    let v = prev.unwrap_or(Value::Null);
    if !p.vars.is_empty() {
        if p.assign {
            let name = &p.vars[0];
            let slot = st
                .vars
                .iter_mut()
                .rev()
                .find(|(n, _)| n == name)
                .ok_or_else(|| ExecError(format!("undefined variable: ${name}")))?;
            slot.1 = v.clone();
        } else {
            st.vars.push((p.vars[0].clone(), v.clone()));
        }
    }
    Ok(v)
}

fn arg(st: &mut State<'_>, a: &Arg, dot: &Value) -> Result<Value, ExecError> {
    Ok(match a {
        Arg::Field(f) => chain(dot.clone(), f)?,
        Arg::Var(n, f) => chain(lookup_var(st, n)?, f)?,
        Arg::Str(s) => Value::Str(s.clone()),
        Arg::Num(n) => {
            if n.fract() == 0.0 && n.abs() < 9e15 {
                Value::Int(*n as i64)
            } else {
                Value::Num(*n)
            }
        }
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Nil => Value::Null,
        Arg::Ident(f) => funcs::call(st, f, Vec::new())?,
        Arg::Sub(p, f) => {
            let v = pipe(st, p, dot)?;
            chain(v, f)?
        }
    })
}

fn cmd(st: &mut State<'_>, c: &Cmd, dot: &Value, prev: Option<Value>) -> Result<Value, ExecError> {
    if let Some(Arg::Ident(f)) = c.args.first() {
        let mut args = Vec::with_capacity(c.args.len());
        for a in &c.args[1..] {
            args.push(arg(st, a, dot)?);
        }
        if let Some(p) = prev {
            args.push(p);
        }
        return funcs::call(st, f, args);
    }
    if c.args.len() > 1 || prev.is_some() {
        return Err(ExecError("can't give argument to non-function".into()));
    }
    arg(st, &c.args[0], dot)
}
