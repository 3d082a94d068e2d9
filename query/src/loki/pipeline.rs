//! Running a LogQL pipeline on one row: line filters, parsers, label filters, drop,
//! line_format.
//!
//! Every row starts with its stream labels plus `detected_level` (and `flags` when the line
//! was flagged by the tailer), as Loki merges structured metadata into the labels of the
//! answer. Parser failures add `__error__` (`JSONParserErr`, `LogfmtParserErr`) rather than
//! dropping the row.
//!
//! Cost: stages that only filter the line do not build a label map; parsers allocate per
//! extracted label.

use super::logql::{LabelFilter, NumOp, Stage};
use lookout_store::Labels;
use lookout_store::logs::LogRow;
use lookout_store::logs::schema::flag_names;
use std::collections::BTreeMap;

/// Labels of a row as the pipeline sees them.
pub type LabelMap = BTreeMap<String, String>;

/// The starting labels of a row.
pub fn base_labels(row: &LogRow) -> LabelMap {
    let mut m: LabelMap = row
        .labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    m.insert("detected_level".into(), row.level.as_str().into());
    if row.flags != 0 {
        m.insert("flags".into(), flag_names(row.flags));
    }
    m
}

/// Whether the stages need the line text (anything beyond pushed-down filters).
pub fn needs_line(stages: &[Stage]) -> bool {
    stages.iter().any(|s| {
        matches!(
            s,
            Stage::Line(_) | Stage::Json | Stage::Logfmt | Stage::LineFormat(_)
        )
    })
}

fn sanitize(k: &str) -> String {
    let mut s: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut LabelMap) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    sanitize(k)
                } else {
                    format!("{prefix}_{}", sanitize(k))
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        serde_json::Value::Null => {}
        serde_json::Value::Array(_) => {
            out.insert(prefix.to_string(), v.to_string());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn add_parsed(labels: &mut LabelMap, parsed: LabelMap) {
    for (k, v) in parsed {
        if k.is_empty() {
            continue;
        }
        // A parsed key that collides with a stream label gets the `_extracted` suffix.
        if labels.contains_key(&k) {
            labels.insert(format!("{k}_extracted"), v);
        } else {
            labels.insert(k, v);
        }
    }
}

/// Parses `key=value key2="quoted value"` pairs; `None` on malformed input.
pub fn logfmt(line: &str) -> Option<LabelMap> {
    let b = line.as_bytes();
    let mut out = LabelMap::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = &line[ks..i];
        if key.is_empty() || key.contains('"') {
            return None;
        }
        if i >= b.len() || b[i] == b' ' {
            out.insert(sanitize(key), String::new());
            continue;
        }
        i += 1;
        let val = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            loop {
                let c = *b.get(i)?;
                if c == b'"' {
                    i += 1;
                    break;
                }
                if c == b'\\' && i + 1 < b.len() {
                    v.push(match b[i + 1] {
                        b'n' => '\n',
                        b't' => '\t',
                        o => o as char,
                    });
                    i += 2;
                    continue;
                }
                let l = line[i..].chars().next().map_or(1, char::len_utf8);
                v.push_str(&line[i..i + l]);
                i += l;
            }
            v
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            line[vs..i].to_string()
        };
        out.insert(sanitize(key), val);
    }
    Some(out)
}

fn num_ok(v: Option<&String>, op: NumOp, want: f64) -> bool {
    let Some(x) = v.and_then(|s| {
        s.trim()
            .parse::<f64>()
            .ok()
            .or_else(|| super::logql::parse_duration_ns(s).map(|d| d as f64 / 1e9))
    }) else {
        return false;
    };
    match op {
        NumOp::Eq => x == want,
        NumOp::Ne => x != want,
        NumOp::Gt => x > want,
        NumOp::Ge => x >= want,
        NumOp::Lt => x < want,
        NumOp::Le => x <= want,
    }
}

/// Renders a `line_format` template: `{{.name}}` / `{{ .name }}` and `{{__line__}}`.
pub fn line_format(tpl: &str, labels: &LabelMap, line: &str) -> String {
    let mut out = String::with_capacity(tpl.len() + 32);
    let mut rest = tpl;
    while let Some(s) = rest.find("{{") {
        out.push_str(&rest[..s]);
        let Some(e) = rest[s..].find("}}") else {
            out.push_str(&rest[s..]);
            return out;
        };
        let inner = rest[s + 2..s + e].trim();
        if inner == "__line__" {
            out.push_str(line);
        } else if let Some(name) = inner.strip_prefix('.') {
            out.push_str(labels.get(name).map_or("", |v| v.as_str()));
        }
        rest = &rest[s + e + 2..];
    }
    out.push_str(rest);
    out
}

/// Runs `stages` on a row; `None` when the row is filtered out. Returns the labels and the
/// (possibly rewritten) line.
pub fn run(stages: &[Stage], row: &LogRow) -> Option<(LabelMap, String)> {
    let mut labels = base_labels(row);
    let mut line = std::borrow::Cow::Borrowed(row.line.as_str());
    for st in stages {
        match st {
            Stage::Line(f) => {
                if !f.matches(&line) {
                    return None;
                }
            }
            Stage::Json => match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(v @ serde_json::Value::Object(_)) => {
                    let mut parsed = LabelMap::new();
                    flatten("", &v, &mut parsed);
                    add_parsed(&mut labels, parsed);
                }
                _ => {
                    labels.insert("__error__".into(), "JSONParserErr".into());
                }
            },
            Stage::Logfmt => match logfmt(&line) {
                Some(p) => add_parsed(&mut labels, p),
                None => {
                    labels.insert("__error__".into(), "LogfmtParserErr".into());
                }
            },
            Stage::Labels(fs) => {
                for f in fs {
                    let ok = match f {
                        LabelFilter::Match(m) => {
                            m.matches(labels.get(&m.name).map_or("", |v| v.as_str()))
                        }
                        LabelFilter::Num { name, op, value } => {
                            num_ok(labels.get(name), *op, *value)
                        }
                    };
                    if !ok {
                        return None;
                    }
                }
            }
            Stage::Drop(names) => {
                for n in names {
                    labels.remove(n);
                }
            }
            Stage::LineFormat(t) => {
                line = std::borrow::Cow::Owned(line_format(t, &labels, &line));
            }
        }
    }
    Some((labels, line.into_owned()))
}

/// A label map as a sorted label set (empty values dropped).
pub fn to_labels(m: &LabelMap) -> Labels {
    Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[cfg(test)]
mod tests {
    use super::super::logql::{Expr, parse};
    use super::*;
    use lookout_store::logs::Level;
    use std::sync::Arc;

    fn row(line: &str) -> LogRow {
        LogRow {
            ts_ns: 1,
            labels: Arc::new(Labels::from_pairs([("app", "x"), ("level", "stream")])),
            line: line.into(),
            level: Level::Info,
            bytes: line.len() as u64,
            flags: 0,
        }
    }

    fn stages(q: &str) -> Vec<Stage> {
        match parse(q).unwrap() {
            Expr::Log(l) => l.stages,
            _ => panic!(),
        }
    }

    #[test]
    fn json_logfmt_filters_format() {
        let s = stages(
            r#"{app="x"} | json | status >= 400 | line_format "{{.method}} {{ .user_name }}""#,
        );
        let (l, line) = run(
            &s,
            &row(r#"{"status":404,"method":"GET","user":{"name":"ann"},"level":"warn"}"#),
        )
        .unwrap();
        assert_eq!(line, "GET ann");
        assert_eq!(l.get("level_extracted").map(String::as_str), Some("warn"));
        assert_eq!(l.get("detected_level").map(String::as_str), Some("info"));
        assert!(run(&s, &row(r#"{"status":200}"#)).is_none());
        let (l, _) = run(&stages(r#"{app="x"} | json"#), &row("not json")).unwrap();
        assert_eq!(
            l.get("__error__").map(String::as_str),
            Some("JSONParserErr")
        );
        let (l, _) = run(
            &stages(r#"{app="x"} | json | drop __error__"#),
            &row("not json"),
        )
        .unwrap();
        assert!(!l.contains_key("__error__"));

        let s = stages(r#"{app="x"} | logfmt | msg=~"hel.*", dur > 1s"#);
        assert!(run(&s, &row(r#"msg="hello world" dur=1.5s"#)).is_some());
        assert!(run(&s, &row(r#"msg="hello world" dur=500ms"#)).is_none());
        assert_eq!(
            logfmt(r#"a=1 b="x y" c"#)
                .unwrap()
                .get("b")
                .map(String::as_str),
            Some("x y")
        );
        assert!(logfmt(r#"a="unterminated"#).is_none());
    }

    #[test]
    fn line_filters_after_parsers_use_the_current_line() {
        let s = stages(r#"{app="x"} | line_format "{{.app}}" |= "x""#);
        assert!(run(&s, &row("no match here")).is_some());
    }
}
