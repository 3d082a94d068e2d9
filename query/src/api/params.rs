//! Request parameters from the query string and a form body, parsed as Prometheus does:
//! times as RFC 3339 or Unix seconds with decimals, the default range of `/series` and
//! `/labels` being all time.

use crate::error::{Error, Result};

/// Decoded parameters (query string first, then form body).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_pairs(s: &str, out: &mut Vec<(String, String)>) {
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((decode(k), decode(v)));
    }
}

impl Params {
    pub fn from_parts(query: Option<&str>, form: &[u8]) -> Self {
        let mut v = Vec::new();
        if let Some(q) = query {
            parse_pairs(q, &mut v);
        }
        if let Ok(f) = std::str::from_utf8(form) {
            parse_pairs(f, &mut v);
        }
        Params(v)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter in ms, if present.
    pub fn time(&self, k: &str) -> Result<Option<i64>> {
        match self.get(k) {
            None => Ok(None),
            Some(s) => parse_time(s).map(Some).ok_or_else(|| {
                Error::BadData(format!(
                    "invalid parameter \"{k}\": cannot parse \"{s}\" to a valid timestamp"
                ))
            }),
        }
    }

    /// `start`/`end` with Prometheus' defaults (all time).
    pub fn range(&self) -> Result<(i64, i64)> {
        let start = self.time("start")?.unwrap_or(i64::MIN / 2);
        let end = self.time("end")?.unwrap_or(i64::MAX / 2);
        if end < start {
            return Err(Error::BadData(
                "invalid parameter \"end\": end timestamp must not be before start time".into(),
            ));
        }
        Ok((start, end))
    }
}

/// A duration in ms from float seconds (`15`, `0.5`) or Prometheus' duration syntax
/// (`1h30m`, `15s`, `100ms`, units `y w d h m s ms`).
pub fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms.abs() > 9.2e15 {
            return None;
        }
        return Some(ms.round() as i64);
    }
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (mut i, mut total) = (0usize, 0i64);
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: i64 = s.get(st..i)?.parse().ok()?;
        let ust = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match s.get(ust..i)? {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

/// Unix seconds (with decimals) or RFC 3339 (`2024-01-02T03:04:05.678Z`, with offset) to ms.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return None;
        }
        return Some((f * 1000.0).round() as i64);
    }
    parse_rfc3339(s)
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b'T' && b[10] != b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let st = i + 1;
        i = st;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[st..i];
        let f3: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = f3.parse().ok()?;
    }
    let off = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        b'+' | b'-' if i + 6 == b.len() => {
            let sign = if b[i] == b'+' { 1 } else { -1 };
            sign * (num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?) * 60
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(((days * 86400 + h * 3600 + mi * 60 + se - off) * 1000) + ms)
}

/// RFC 3339 with milliseconds in UTC, as Prometheus prints `lastScrape`.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// `1+1`-style constant arithmetic on number literals, evaluated with PromQL's scalar
/// semantics; `None` for anything else.
pub fn constant_scalar(q: &str) -> Option<f64> {
    use promql_parser::parser::{self, Expr};
    fn eval(e: &Expr) -> Option<f64> {
        match e {
            Expr::NumberLiteral(n) => Some(n.val),
            Expr::Paren(p) => eval(&p.expr),
            Expr::Unary(u) => eval(&u.expr).map(|v| -v),
            Expr::Binary(b) => {
                let (l, r) = (eval(&b.lhs)?, eval(&b.rhs)?);
                use promql_parser::parser::token::*;
                let id = b.op.id();
                Some(match id {
                    T_ADD => l + r,
                    T_SUB => l - r,
                    T_MUL => l * r,
                    T_DIV => l / r,
                    T_MOD => l % r,
                    T_POW => l.powf(r),
                    _ => return None,
                })
            }
            _ => None,
        }
    }
    eval(&parser::parse(q).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1.5"), Some(1500));
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z"), Some(1435781451781));
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Some(1435781451781)
        );
        assert_eq!(parse_time("garbage"), None);
        assert_eq!(format_rfc3339(1435781451781), "2015-07-01T20:10:51.781Z");
        assert_eq!(parse_duration("15"), Some(15_000));
        assert_eq!(parse_duration("0.5"), Some(500));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("100ms"), Some(100));
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn scalars() {
        assert_eq!(constant_scalar("1+1"), Some(2.0));
        assert_eq!(constant_scalar("2 * (3 - 1)"), Some(4.0));
        assert_eq!(constant_scalar("up"), None);
    }
}
