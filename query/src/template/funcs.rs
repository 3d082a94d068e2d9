//! Template functions: Go's builtins (`and or not len index eq ne lt le gt ge print printf
//! println urlquery html js`) and Prometheus' (`humanize*`, `title`, `toUpper`, `toLower`,
//! `reReplaceAll`, `match`, `stripPort`, `stripDomain`, `first`, `label`, `value`,
//! `sortByLabel`, `query`, `safeHtml`, `parseDuration`, `toTime`, `pathPrefix`,
//! `externalURL`), with Prometheus' output formats.

use super::ExecError;
use super::exec::{State, Value};
use super::gofmt::{format_e, format_f, format_g, format_shortest};

fn err<T>(msg: impl Into<String>) -> Result<T, ExecError> {
    Err(ExecError(msg.into()))
}

fn num(f: &str, v: &Value) -> Result<f64, ExecError> {
    v.as_f64()
        .ok_or_else(|| ExecError(format!("{f}: can't convert {} to a number", v.render())))
}

fn one<'a>(f: &str, a: &'a [Value]) -> Result<&'a Value, ExecError> {
    match a {
        [v] => Ok(v),
        _ => err(format!(
            "wrong number of args for {f}: want 1 got {}",
            a.len()
        )),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.render(),
    }
}

pub(super) fn call(st: &mut State<'_>, f: &str, a: Vec<Value>) -> Result<Value, ExecError> {
    Ok(match f {
        "humanize" => Value::Str(humanize(num(f, one(f, &a)?)?)),
        "humanize1024" => Value::Str(humanize1024(num(f, one(f, &a)?)?)),
        "humanizeDuration" => Value::Str(humanize_duration(num(f, one(f, &a)?)?)),
        "humanizePercentage" => {
            Value::Str(format!("{}%", format_g(num(f, one(f, &a)?)? * 100.0, 4)))
        }
        "humanizeTimestamp" => Value::Str(humanize_timestamp(num(f, one(f, &a)?)?)),
        "toTime" => Value::Str(humanize_timestamp(num(f, one(f, &a)?)?)),
        "title" => Value::Str(title(&text(one(f, &a)?))),
        "toUpper" => Value::Str(text(one(f, &a)?).to_uppercase()),
        "toLower" => Value::Str(text(one(f, &a)?).to_lowercase()),
        "safeHtml" | "html" | "urlquery" | "js" if a.len() == 1 => match f {
            "html" => Value::Str(html_escape(&text(&a[0]))),
            "urlquery" => Value::Str(url_escape(&text(&a[0]))),
            "js" => Value::Str(
                text(&a[0])
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'")
                    .replace('"', "\\\""),
            ),
            _ => a[0].clone(),
        },
        "stripPort" => {
            let s = text(one(f, &a)?);
            Value::Str(strip_port(&s))
        }
        "stripDomain" => {
            let s = text(one(f, &a)?);
            let (host, port) = match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => {
                    (h.to_string(), format!(":{p}"))
                }
                _ => (s.clone(), String::new()),
            };
            if host.parse::<std::net::IpAddr>().is_ok() {
                Value::Str(s)
            } else {
                Value::Str(format!("{}{port}", host.split('.').next().unwrap_or("")))
            }
        }
        "reReplaceAll" => {
            let [pat, repl, s] = &a[..] else {
                return err("wrong number of args for reReplaceAll: want 3");
            };
            let re = regex::Regex::new(&text(pat))
                .map_err(|e| ExecError(format!("reReplaceAll: {e}")))?;
            // The regex crate expands `$1`, `${1}`, `$name` like Go (longest name wins: `$1x`
            // is the group named `1x`), so the replacement is passed through unchanged.
            Value::Str(re.replace_all(&text(s), text(repl).as_str()).into_owned())
        }
        "match" => {
            let [pat, s] = &a[..] else {
                return err("wrong number of args for match: want 2");
            };
            let re = regex::Regex::new(&text(pat)).map_err(|e| ExecError(format!("match: {e}")))?;
            Value::Bool(re.is_match(&text(s)))
        }
        "parseDuration" => {
            let s = text(one(f, &a)?);
            let d = lookout_config::duration::parse(&s)
                .map_err(|e| ExecError(format!("parseDuration: {e}")))?;
            Value::Num(d.as_secs_f64())
        }
        "query" => {
            let q = text(one(f, &a)?);
            let Some(qf) = st.query else {
                return err("the query function is not available here");
            };
            let res = qf(&q).map_err(ExecError)?;
            Value::List(res.into_iter().map(|(l, v)| sample(l, v)).collect())
        }
        "first" => match one(f, &a)? {
            Value::List(l) => l.first().cloned().unwrap_or(Value::Null),
            other => {
                return err(format!(
                    "first: expected query result, got {}",
                    other.type_name()
                ));
            }
        },
        "label" => {
            let [name, s] = &a[..] else {
                return err("wrong number of args for label: want 2");
            };
            match s {
                Value::Map(m) => match m.get("Labels") {
                    Some(Value::Map(l)) => l
                        .get(&text(name))
                        .cloned()
                        .unwrap_or(Value::Str(String::new())),
                    _ => Value::Str(String::new()),
                },
                _ => Value::Str(String::new()),
            }
        }
        "value" => match one(f, &a)? {
            Value::Map(m) => m.get("Value").cloned().unwrap_or(Value::Null),
            other => return err(format!("value: expected sample, got {}", other.type_name())),
        },
        "sortByLabel" => {
            let [name, l] = &a[..] else {
                return err("wrong number of args for sortByLabel: want 2");
            };
            let name = text(name);
            let Value::List(mut l) = l.clone() else {
                return err("sortByLabel: expected query result");
            };
            let key = |v: &Value| match v {
                Value::Map(m) => match m.get("Labels") {
                    Some(Value::Map(lm)) => lm.get(&name).map(text).unwrap_or_default(),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            l.sort_by_key(key);
            Value::List(l)
        }
        "pathPrefix" => Value::Str(String::new()),
        "externalURL" => Value::Str(String::new()),
        "printf" => {
            let Some((fmt, rest)) = a.split_first() else {
                return err("printf: missing format");
            };
            Value::Str(sprintf(&text(fmt), rest)?)
        }
        "print" => {
            // Go adds spaces between operands when neither is a string.
            let mut s = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
                    s.push(' ');
                }
                s.push_str(&text(v));
            }
            Value::Str(s)
        }
        "println" => Value::Str(format!(
            "{}\n",
            a.iter().map(text).collect::<Vec<_>>().join(" ")
        )),
        "len" => match one(f, &a)? {
            Value::Str(s) => Value::Int(s.len() as i64),
            Value::List(l) => Value::Int(l.len() as i64),
            Value::Map(m) => Value::Int(m.len() as i64),
            other => return err(format!("len of {}", other.type_name())),
        },
        "index" => {
            let Some((mut v, keys)) = a.split_first().map(|(v, k)| (v.clone(), k)) else {
                return err("index: missing argument");
            };
            for k in keys {
                v = match (&v, k) {
                    (Value::Map(m), k) => m
                        .get(&text(k))
                        .cloned()
                        .unwrap_or(Value::Str(String::new())),
                    (Value::List(l), k) => {
                        let i = num("index", k)? as usize;
                        l.get(i)
                            .cloned()
                            .ok_or_else(|| ExecError(format!("index out of range: {i}")))?
                    }
                    _ => return err(format!("can't index item of type {}", v.type_name())),
                };
            }
            v
        }
        "not" => Value::Bool(!one(f, &a)?.truthy()),
        "and" => a
            .iter()
            .find(|v| !v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => a
            .iter()
            .find(|v| v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "eq" => {
            let Some((x, rest)) = a.split_first() else {
                return err("eq: missing argument");
            };
            Value::Bool(rest.iter().any(|y| equal(x, y)))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            let [x, y] = &a[..] else {
                return err(format!("wrong number of args for {f}: want 2"));
            };
            let ord = match (x, y) {
                (Value::Str(p), Value::Str(q)) => p.cmp(q),
                _ => num(f, x)?
                    .partial_cmp(&num(f, y)?)
                    .unwrap_or(std::cmp::Ordering::Equal),
            };
            use std::cmp::Ordering::*;
            Value::Bool(match f {
                "ne" => !equal(x, y),
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            })
        }
        other => return err(format!("function {other:?} not defined")),
    })
}

fn equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Str(p), Value::Str(q)) => p == q,
        (Value::Bool(p), Value::Bool(q)) => p == q,
        _ => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) if !matches!(x, Value::Str(_)) && !matches!(y, Value::Str(_)) => {
                p == q
            }
            _ => x == y,
        },
    }
}

fn sample(labels: std::collections::BTreeMap<String, String>, v: f64) -> Value {
    Value::Map(
        [
            (
                "Labels".to_string(),
                Value::Map(
                    labels
                        .into_iter()
                        .map(|(k, v)| (k, Value::Str(v)))
                        .collect(),
                ),
            ),
            ("Value".to_string(), Value::Num(v)),
        ]
        .into_iter()
        .collect(),
    )
}

fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        return rest[..end].to_string();
    }
    match s.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h.to_string(),
        _ => s.to_string(),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, 4);
    }
    let mut v = v;
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", format_g(v, 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", format_g(v, 4))
}

/// Prometheus' `humanize1024`: binary prefixes.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, 4))
}

/// Prometheus' `humanizeDuration` (seconds in, `1d 2h 3m 4s` out).
pub fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_g(v, 4);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", format_g(v, 4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, 4))
}

/// Prometheus' `humanizeTimestamp`: Go's `time.Time.String()` in UTC.
pub fn humanize_timestamp(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_g(v, 4);
    }
    // As Prometheus: nanoseconds truncated to a millisecond `model.Time`.
    let ms = ((v * 1e9) as i64).div_euclid(1_000_000);
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let base = civil(secs);
    let frac = if milli == 0 {
        String::new()
    } else {
        format!(".{}", format!("{milli:03}").trim_end_matches('0'))
    };
    format!("{base}{frac} +0000 UTC")
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for Unix seconds (proleptic Gregorian calendar).
fn civil(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %X %%`, with
/// width/precision and the `-`, `+`, `0` flags.
pub fn sprintf(fmt: &str, args: &[Value]) -> Result<String, ExecError> {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero) = (false, false, false);
        while let Some(&f) = it.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' | '#' => {}
                _ => break,
            }
            it.next();
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let mut s = match verb {
            's' | 'v' => match (verb, arg) {
                ('v', Value::Num(n)) => format_shortest(*n),
                _ => text(arg),
            },
            'q' => format!("{:?}", text(arg)),
            'd' => match arg {
                Value::Int(n) => n.to_string(),
                Value::Num(n) if n.fract() == 0.0 => format!("{}", *n as i64),
                other => format!("%!d({}={})", other.type_name(), other.render()),
            },
            'f' | 'F' => match arg.as_f64() {
                Some(n) if !matches!(arg, Value::Str(_)) => format_f(n, prec.unwrap_or(6)),
                _ => format!("%!f({}={})", arg.type_name(), arg.render()),
            },
            'e' => match arg.as_f64() {
                Some(n) if !matches!(arg, Value::Str(_)) => format_e(n, prec.unwrap_or(6)),
                _ => format!("%!e({}={})", arg.type_name(), arg.render()),
            },
            'g' => match arg.as_f64() {
                Some(n) if !matches!(arg, Value::Str(_)) => match prec {
                    Some(p) => format_g(n, p),
                    None => format_shortest(n),
                },
                _ => format!("%!g({}={})", arg.type_name(), arg.render()),
            },
            'x' | 'X' => {
                let s = match arg {
                    Value::Int(n) => format!("{n:x}"),
                    Value::Num(n) if n.fract() == 0.0 => format!("{:x}", *n as i64),
                    other => text(other).bytes().map(|b| format!("{b:02x}")).collect(),
                };
                if verb == 'X' { s.to_uppercase() } else { s }
            }
            't' => text(arg),
            other => format!("%!{other}({})", arg.render()),
        };
        if plus && matches!(verb, 'd' | 'f' | 'e' | 'g') && !s.starts_with('-') {
            s.insert(0, '+');
        }
        if let Some(p) = prec
            && matches!(verb, 's' | 'v' | 'q')
        {
            s = s.chars().take(p).collect();
        }
        let w: usize = width.parse().unwrap_or(0);
        let len = s.chars().count();
        if len < w {
            let pad = w - len;
            if minus {
                s.push_str(&" ".repeat(pad));
            } else if zero && matches!(verb, 'd' | 'f' | 'e' | 'g') {
                let neg = s.starts_with('-') || s.starts_with('+');
                let at = usize::from(neg);
                s.insert_str(at, &"0".repeat(pad));
            } else {
                s.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&s);
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[ai..]
            .iter()
            .map(|v| format!("{}={}", v.type_name(), v.render()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    Ok(out)
}
