//! Golden PromQL scripts (`query/testdata/*.test`) in the `load` / `eval` style:
//!
//! ```text
//! load 1m
//!   http_requests{job="a"} 0+10x10 _ stale 3 NaN Inf
//! eval instant at 5m sum(http_requests)
//!   {} 50
//! eval range from 0 to 4m step 1m http_requests
//!   http_requests{job="a"} 0 10 20 30 40
//! eval_fail instant at 0 foo(
//! eval_ordered instant at 5m sort(http_requests)
//! clear
//! ```
//!
//! Values: numbers, `a+bxN` / `a-bxN` (N+1 values), `_` / `_xN` (gaps), `stale`, `NaN`, `Inf`.
//! Instant results compare as sets (or in order for `eval_ordered`); a line that is only a
//! number expects a scalar. Floats compare within 1e-9 relative; NaN equals NaN.

use lookout_query::promql::{self, EngineOpts, QueryValue};
use lookout_store::{Appendable, Head, Labels};
use promql_parser::parser::Expr;

fn dur_ms(s: &str) -> i64 {
    lookout_query::api::params::parse_duration(s).unwrap_or_else(|| panic!("bad duration {s}"))
}

fn parse_labels(desc: &str) -> Labels {
    if desc.starts_with('{') && desc.len() == 2 {
        return Labels::default();
    }
    let e = promql_parser::parser::parse(desc).unwrap_or_else(|e| panic!("bad series {desc}: {e}"));
    let Expr::VectorSelector(vs) = e else {
        panic!("bad series {desc}")
    };
    let mut pairs: Vec<(String, String)> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = vs.name {
        pairs.push(("__name__".into(), n));
    }
    Labels::from_pairs(pairs)
}

/// Splits `name{...} rest` at the end of the series description.
fn split_desc(line: &str) -> (&str, &str) {
    let line = line.trim();
    let mut depth = 0;
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return (&line[..=i], line[i + 1..].trim());
                }
            }
            ' ' | '\t' if !in_str && depth == 0 => return (&line[..i], line[i..].trim()),
            _ => {}
        }
    }
    (line, "")
}

fn num(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "Inf" | "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "stale" => lookout_store::stale_nan(),
        _ => s.parse().unwrap_or_else(|_| panic!("bad value {s}")),
    }
}

/// Expands a value list; `None` is a gap.
fn expand(vals: &str) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for tok in vals.split_whitespace() {
        if let Some(n) = tok.strip_prefix("_x") {
            out.extend(std::iter::repeat_n(None, n.parse().unwrap()));
        } else if tok == "_" {
            out.push(None);
        } else if let Some((ab, n)) = tok.rsplit_once('x')
            && let Some(pos) = ab[1..].find(['+', '-']).map(|p| p + 1)
        {
            let (a, b) = (num(&ab[..pos]), num(&ab[pos..]));
            let n: usize = n.parse().unwrap();
            for i in 0..=n {
                out.push(Some(a + b * i as f64));
            }
        } else {
            out.push(Some(num(tok)));
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

struct Eval {
    kind: String,
    line: usize,
    start: i64,
    end: i64,
    step: i64,
    range: bool,
    expr: String,
    expect: Vec<(Option<Labels>, Vec<Option<f64>>)>,
}

fn run_eval(head: &Head, e: &Eval, file: &str) -> Result<(), String> {
    let opts = EngineOpts::default();
    let ctx = format!("{file}:{}: {}", e.line, e.expr);
    let fail = e.kind == "eval_fail";
    if e.range {
        let r = promql::range_query(head, &e.expr, e.start, e.end, e.step, &opts);
        let got = match (r, fail) {
            (Err(_), true) => return Ok(()),
            (Ok(_), true) => return Err(format!("{ctx}: expected an error")),
            (Err(err), false) => return Err(format!("{ctx}: {err}")),
            (Ok(g), false) => g,
        };
        if got.len() != e.expect.len() {
            return Err(format!(
                "{ctx}: expected {} series, got {}: {got:?}",
                e.expect.len(),
                got.len()
            ));
        }
        for (labels, vals) in &e.expect {
            let labels = labels
                .as_ref()
                .ok_or(format!("{ctx}: scalar expectation in range eval"))?;
            let s = got
                .iter()
                .find(|s| &s.labels == labels)
                .ok_or(format!("{ctx}: missing {labels}: {got:?}"))?;
            let want: Vec<(i64, f64)> = vals
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (e.start + i as i64 * e.step, v)))
                .collect();
            let ok = want.len() == s.pts.len()
                && want
                    .iter()
                    .zip(&s.pts)
                    .all(|(a, b)| a.0 == b.0 && close(a.1, b.1));
            if !ok {
                return Err(format!("{ctx}: {labels}: want {want:?} got {:?}", s.pts));
            }
        }
        return Ok(());
    }
    let r = promql::instant_query(head, &e.expr, e.start, &opts);
    let got = match (r, fail) {
        (Err(_), true) => return Ok(()),
        (Ok(_), true) => return Err(format!("{ctx}: expected an error")),
        (Err(err), false) => return Err(format!("{ctx}: {err}")),
        (Ok(g), false) => g,
    };
    match got {
        QueryValue::Scalar { v, .. } => match e.expect.as_slice() {
            [(None, w)] if w.len() == 1 && close(w[0].unwrap_or(f64::NAN), v) => Ok(()),
            _ => Err(format!("{ctx}: got scalar {v}, want {:?}", e.expect)),
        },
        QueryValue::Vector(samples) => {
            if samples.len() != e.expect.len() {
                return Err(format!(
                    "{ctx}: expected {} samples, got {samples:?}",
                    e.expect.len()
                ));
            }
            for (k, (labels, vals)) in e.expect.iter().enumerate() {
                let labels = labels
                    .as_ref()
                    .ok_or(format!("{ctx}: expected scalar, got vector"))?;
                let want = vals.first().copied().flatten().unwrap_or(f64::NAN);
                let found = if e.kind == "eval_ordered" {
                    (&samples[k].labels == labels).then_some(&samples[k])
                } else {
                    samples.iter().find(|s| &s.labels == labels)
                };
                match found {
                    Some(s) if close(s.v, want) => {}
                    _ => return Err(format!("{ctx}: want {labels} {want}, got {samples:?}")),
                }
            }
            Ok(())
        }
        other => Err(format!("{ctx}: unexpected result {other:?}")),
    }
}

fn run_file(path: &std::path::Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let mut head = Head::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let (mut count, mut failures) = (0, Vec::new());
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "clear" {
            head = Head::new();
        } else if let Some(step) = line.strip_prefix("load ") {
            let step = dur_ms(step.trim());
            let mut app = head.appender();
            while i < lines.len()
                && lines[i].starts_with(char::is_whitespace)
                && !lines[i].trim().is_empty()
            {
                let (desc, vals) = split_desc(lines[i]);
                let labels = parse_labels(desc);
                for (k, v) in expand(vals).into_iter().enumerate() {
                    if let Some(v) = v {
                        app.append(0, &labels, k as i64 * step, v).unwrap();
                    }
                }
                i += 1;
            }
            app.commit().unwrap();
        } else if line.starts_with("eval") {
            let (kind, rest) = line.split_once(' ').unwrap();
            let toks: Vec<&str> = rest.splitn(7, ' ').collect();
            let mut ev = Eval {
                kind: kind.to_string(),
                line: i,
                start: 0,
                end: 0,
                step: 1,
                range: false,
                expr: String::new(),
                expect: Vec::new(),
            };
            if toks[0] == "instant" {
                let t: Vec<&str> = rest.splitn(4, ' ').collect();
                ev.start = dur_ms(t[2]);
                ev.end = ev.start;
                ev.expr = t[3].to_string();
            } else {
                // range from A to B step S expr
                ev.range = true;
                ev.start = dur_ms(toks[2]);
                ev.end = dur_ms(toks[4]);
                ev.step = dur_ms(toks[6].split_once(' ').unwrap().0);
                ev.expr = toks[6].split_once(' ').unwrap().1.to_string();
            }
            while i < lines.len()
                && lines[i].starts_with(char::is_whitespace)
                && !lines[i].trim().is_empty()
            {
                let l = lines[i].trim();
                let first = l.split_whitespace().next().unwrap_or("");
                if first.parse::<f64>().is_ok() || ["NaN", "Inf", "+Inf", "-Inf"].contains(&first) {
                    ev.expect.push((None, expand(l)));
                } else {
                    let (desc, vals) = split_desc(l);
                    ev.expect.push((Some(parse_labels(desc)), expand(vals)));
                }
                i += 1;
            }
            count += 1;
            if let Err(e) = run_eval(&head, &ev, &file) {
                failures.push(e);
            }
        } else {
            panic!("{file}:{i}: cannot parse {line:?}");
        }
    }
    (count, failures)
}

#[test]
fn golden_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "test"));
    files.sort();
    assert!(!files.is_empty(), "no golden scripts in {dir:?}");
    let (mut total, mut failures) = (0, Vec::new());
    for f in &files {
        let (n, fails) = run_file(f);
        total += n;
        failures.extend(fails);
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    assert!(total > 50, "only {total} evals");
    assert!(
        failures.is_empty(),
        "{} of {total} golden evals failed",
        failures.len()
    );
}
