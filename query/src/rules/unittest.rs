//! `lookout test rules`: rule unit tests in `promtool test rules` format.
//!
//! A test file names rule files and test groups; each test group loads `input_series`
//! (expanding promtool's value notation: `1+2x3`, `5-1x2`, `_`, `stale`, `1x3`) into a
//! fresh in-memory store, evaluates every rule group at each `evaluation_interval` step from
//! 0 up to the latest `eval_time`, and checks `alert_rule_test` (the firing alerts of an
//! alert name at a time, labels and annotations exactly) and `promql_expr_test` (an
//! expression's samples at a time). Failures are reported like promtool's.

use super::alerting::AlertState;
use super::{AlertSink, Group, RuleState, RulesOptions, SentAlert, eval_group};
use crate::promql::{self, EngineOpts, QueryValue};
use lookout_config::duration::PromDuration;
use lookout_store::{Appendable, Head, Labels, stale_nan};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    interval: Option<PromDuration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: PromDuration,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: PromDuration,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// Expands promtool's value notation into one optional value per step
/// (`None`: no sample; `Some(NaN-stale)`: a staleness marker).
pub fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        let (head, times) = match tok.rsplit_once('x') {
            Some((h, n))
                if !h.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() =>
            {
                (
                    h,
                    Some(n.parse::<usize>().map_err(|e| format!("{tok}: {e}"))?),
                )
            }
            _ => (tok, None),
        };
        let special = |h: &str| -> Option<Option<f64>> {
            match h {
                "_" => Some(None),
                "stale" => Some(Some(stale_nan())),
                _ => None,
            }
        };
        if let Some(v) = special(head) {
            out.extend(std::iter::repeat_n(v, times.unwrap_or(0) + 1));
            continue;
        }
        // `a+bxn` / `a-bxn`: a, a±b, ..., n+1 values. A leading sign belongs to `a`.
        let split = head
            .char_indices()
            .skip(1)
            .find(|&(i, c)| {
                (c == '+' || c == '-') && !matches!(head.as_bytes()[i - 1], b'e' | b'E')
            })
            .map(|(i, _)| i);
        match (split, times) {
            (Some(i), Some(n)) => {
                let a = parse_num(&head[..i])?;
                let b = parse_num(&head[i..])?;
                for k in 0..=n {
                    out.push(Some(a + b * k as f64));
                }
            }
            (None, Some(n)) => {
                let a = parse_num(head)?;
                out.extend(std::iter::repeat_n(Some(a), n + 1));
            }
            (_, None) => out.push(Some(parse_num(head)?)),
        }
    }
    Ok(out)
}

fn parse_num(s: &str) -> Result<f64, String> {
    match s {
        "Inf" | "+Inf" | "inf" | "+inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|_| format!("invalid value {s:?}")),
    }
}

/// Labels of a series written as a selector (`up{job="x"}`), equality matchers only.
pub fn series_labels(s: &str) -> Result<Labels, String> {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::{Expr, parse};
    let e = parse(s).map_err(|e| format!("{s}: {e}"))?;
    let Expr::VectorSelector(vs) = e else {
        return Err(format!("{s}: not a series"));
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(n) = vs.name {
        pairs.push(("__name__".into(), n));
    }
    for m in vs.matchers.matchers {
        if m.op != MatchOp::Equal {
            return Err(format!("{s}: only = matchers are allowed in series"));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

struct NoSink;
impl AlertSink for NoSink {
    fn send(&self, _: Vec<SentAlert>) {}
}

/// Runs a test file; returns the failure messages (empty: all passed).
pub fn run_file(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let tf: TestFile =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut groups_cfg = Vec::new();
    for rf in &tf.rule_files {
        let p: PathBuf = if Path::new(rf).is_absolute() {
            rf.into()
        } else {
            base.join(rf)
        };
        let f = lookout_config::rules::load_rule_file(&p, &crate::template::check_syntax)
            .map_err(|e| e.to_string())?;
        groups_cfg.extend(f.groups);
    }
    if !tf.group_eval_order.is_empty() {
        let order = &tf.group_eval_order;
        groups_cfg.sort_by_key(|g| {
            order
                .iter()
                .position(|n| *n == g.name)
                .unwrap_or(usize::MAX)
        });
    }
    let eval_interval = tf
        .evaluation_interval
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(60));
    let mut failures = Vec::new();
    for (ti, t) in tf.tests.iter().enumerate() {
        let name = if t.name.is_empty() {
            format!("test {ti}")
        } else {
            t.name.clone()
        };
        if let Err(e) = run_group(t, &groups_cfg, eval_interval, &mut failures, &name) {
            failures.push(format!("  {name}: {e}"));
        }
    }
    Ok(failures)
}

fn run_group(
    t: &TestGroup,
    groups_cfg: &[lookout_config::rules::RuleGroup],
    eval_interval: Duration,
    failures: &mut Vec<String>,
    name: &str,
) -> Result<(), String> {
    let head = Head::new();
    let interval = t
        .interval
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(60))
        .as_millis() as i64;
    {
        let mut app = head.appender();
        for s in &t.input_series {
            let l = series_labels(&s.series)?;
            for (i, v) in expand_values(&s.values)?.into_iter().enumerate() {
                if let Some(v) = v {
                    app.append(0, &l, i as i64 * interval, v)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        app.commit().map_err(|e| e.to_string())?;
    }
    let opts = RulesOptions {
        default_interval: eval_interval,
        external_labels: t.external_labels.clone(),
        external_url: t.external_url.clone(),
        ..RulesOptions::default()
    };
    let mut groups: Vec<Group> = groups_cfg
        .iter()
        .map(|g| Group::new(g.clone(), eval_interval))
        .collect::<Result<_, _>>()?;
    let max_t = t
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.0)
        .chain(t.promql_expr_test.iter().map(|e| e.eval_time.0))
        .max()
        .unwrap_or_default()
        .as_millis() as i64;
    let step = eval_interval.as_millis().max(1) as i64;
    let mut alert_tests: Vec<&AlertTest> = t.alert_rule_test.iter().collect();
    alert_tests.sort_by_key(|a| a.eval_time.0);
    let mut next_alert = 0;
    let mut ts = 0;
    while ts <= max_t {
        for g in groups.iter_mut() {
            eval_group(g, &head, &head, &NoSink, &opts, ts);
        }
        // Alert tests whose time has come (before the next evaluation step).
        while next_alert < alert_tests.len()
            && (alert_tests[next_alert].eval_time.0.as_millis() as i64) < ts + step
        {
            check_alerts(alert_tests[next_alert], &groups, failures, name);
            next_alert += 1;
        }
        ts += step;
    }
    for e in &t.promql_expr_test {
        check_expr(e, &head, failures, name);
    }
    Ok(())
}

fn check_alerts(a: &AlertTest, groups: &[Group], failures: &mut Vec<String>, name: &str) {
    let mut got: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> = Vec::new();
    for g in groups {
        for r in &g.rules {
            if let RuleState::Alerting(ar) = &r.state
                && ar.name() == a.alertname
            {
                for x in ar.active.values().filter(|x| x.state == AlertState::Firing) {
                    got.push((x.labels.clone(), x.annotations.clone()));
                }
            }
        }
    }
    let mut exp: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> = a
        .exp_alerts
        .iter()
        .map(|e| {
            let mut l = e.exp_labels.clone();
            l.insert("alertname".into(), a.alertname.clone());
            (l, e.exp_annotations.clone())
        })
        .collect();
    got.sort();
    exp.sort();
    if got != exp {
        failures.push(format!(
            "  {name}: alertname: {}, time: {},\n        exp:{exp:?},\n        got:{got:?}",
            a.alertname,
            lookout_config::duration::format(a.eval_time.0)
        ));
    }
}

fn check_expr(e: &ExprTest, head: &Head, failures: &mut Vec<String>, name: &str) {
    let t = e.eval_time.0.as_millis() as i64;
    let got = match promql::instant_query(head, &e.expr, t, &EngineOpts::default()) {
        Ok(QueryValue::Vector(v)) => v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
        Ok(QueryValue::Scalar { v, .. }) => vec![(Labels::default(), v)],
        Ok(other) => {
            failures.push(format!(
                "  {name}: expr: {:?}, time: {}: unexpected {} result",
                e.expr,
                e.eval_time.0.as_secs(),
                other.result_type()
            ));
            return;
        }
        Err(err) => {
            failures.push(format!(
                "  {name}: expr: {:?}, time: {}, err: {err}",
                e.expr,
                e.eval_time.0.as_secs()
            ));
            return;
        }
    };
    let mut exp = Vec::new();
    for s in &e.exp_samples {
        match if s.labels.is_empty() {
            Ok(Labels::default())
        } else {
            series_labels(&s.labels)
        } {
            Ok(l) => exp.push((l, s.value)),
            Err(err) => {
                failures.push(format!("  {name}: {err}"));
                return;
            }
        }
    }
    let mut got = got;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    let same = got.len() == exp.len()
        && got.iter().zip(&exp).all(|((gl, gv), (el, ev))| {
            gl == el
                && (gv == ev
                    || (gv.is_nan() && ev.is_nan())
                    || ((gv - ev).abs() <= 1e-9 * ev.abs().max(1e-300)))
        });
    if !same {
        let fmt = |v: &[(Labels, f64)]| {
            v.iter()
                .map(|(l, x)| format!("{l} {x}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        failures.push(format!(
            "  {name}: expr: {:?}, time: {}s,\n        exp: {}\n        got: {}",
            e.expr,
            e.eval_time.0.as_secs(),
            fmt(&exp),
            fmt(&got)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation() {
        assert_eq!(
            expand_values("1+2x3").unwrap(),
            vec![Some(1.0), Some(3.0), Some(5.0), Some(7.0)]
        );
        assert_eq!(
            expand_values("5-1x2").unwrap(),
            vec![Some(5.0), Some(4.0), Some(3.0)]
        );
        assert_eq!(
            expand_values("-2+1x1").unwrap(),
            vec![Some(-2.0), Some(-1.0)]
        );
        assert_eq!(
            expand_values("1 _ 3").unwrap(),
            vec![Some(1.0), None, Some(3.0)]
        );
        assert_eq!(
            expand_values("_x2 4").unwrap(),
            vec![None, None, None, Some(4.0)]
        );
        assert_eq!(expand_values("7x2").unwrap(), vec![Some(7.0); 3]);
        assert!(lookout_store::is_stale_nan(
            expand_values("stale").unwrap()[0].unwrap()
        ));
        assert_eq!(expand_values("1e3").unwrap(), vec![Some(1000.0)]);
        assert!(expand_values("abc").is_err());
    }
}
