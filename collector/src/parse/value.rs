//! Sample values and timestamps.
//!
//! Purpose: turn value and timestamp tokens into `f64` / `i64` milliseconds
//! with the semantics Prometheus gives them (Go's `strconv.ParseFloat` on the
//! decimal forms exporters emit).
//!
//! Accepted values: `[+-]?` digits with optional fraction and exponent
//! (`1`, `-0`, `.5`, `5.`, `1e+06`, `1.5E-3`), `NaN` (no sign), and
//! `[+-]?Inf` / `[+-]?Infinity`, all case-insensitive. Rejected: hex floats,
//! `_` separators, signed NaN, and finite literals that overflow `f64`
//! (Go reports those as a range error; Prometheus fails the scrape).
//!
//! Timestamps: the text format carries integer milliseconds (`-?[0-9]+`);
//! OpenMetrics carries float seconds, converted to milliseconds exactly for
//! plain decimals (`1520879607.789` -> `1520879607789`, extra digits
//! truncated toward zero) and via `f64` for exponent forms.
//!
//! Cost: integers of up to 15 digits take a branch-light fast path with no
//! UTF-8 or grammar checks; everything else goes through `core`'s
//! Eisel-Lemire float parser. No allocation.

/// Parses a sample value. `None` means the token is not a valid value.
#[inline]
pub(crate) fn parse_value(tok: &[u8]) -> Option<f64> {
    if let Some(v) = parse_small_int(tok) {
        return Some(v);
    }
    let (neg, body) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    match body.first()? {
        b'0'..=b'9' | b'.' => {}
        b'i' | b'I' => {
            return if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
                Some(if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                })
            } else {
                None
            };
        }
        b'n' | b'N' if body.len() == tok.len() && body.eq_ignore_ascii_case(b"nan") => {
            return Some(f64::NAN);
        }
        _ => return None,
    }
    // Only decimal forms reach here: core's parser accepts exactly
    // `[+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?` once specials are excluded.
    let s = std::str::from_utf8(tok).ok()?;
    let v: f64 = s.parse().ok()?;
    // Go's ParseFloat reports overflow to ±Inf as an error.
    if v.is_infinite() { None } else { Some(v) }
}

/// Fast path: `-?[0-9]{1,15}` is exactly representable as `f64`.
#[inline]
fn parse_small_int(tok: &[u8]) -> Option<f64> {
    let (neg, digits) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    let v = n as f64;
    Some(if neg { -v } else { v })
}

/// Parses a text-format timestamp: integer milliseconds, optionally negative.
pub(crate) fn parse_text_timestamp(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        // Accumulate negatively so i64::MIN is representable.
        n = n.checked_mul(10)?.checked_sub(i64::from(d))?;
    }
    if neg { Some(n) } else { n.checked_neg() }
}

/// Parses an OpenMetrics timestamp (float seconds) into milliseconds.
pub(crate) fn parse_om_timestamp(tok: &[u8]) -> Option<i64> {
    if let Some(ms) = decimal_seconds_to_ms(tok) {
        return Some(ms);
    }
    // Not a plain decimal that fits: only a (huge) valid float can remain,
    // and NaN / ±Inf are never valid timestamps.
    let secs = parse_value(tok)?;
    if !secs.is_finite() {
        return None;
    }
    let ms = secs * 1000.0;
    // i64::MAX as f64 rounds up to 2^63, so compare with strict bounds.
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ms) {
        return None;
    }
    Some(ms.trunc() as i64)
}

/// Exact conversion of a decimal literal `[+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?`
/// in seconds to milliseconds, truncated toward zero. Returns `None` for
/// anything else (specials, garbage) or when the result does not fit.
fn decimal_seconds_to_ms(tok: &[u8]) -> Option<i64> {
    let (neg, rest) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    let (mantissa, exp) = match rest.iter().position(|&c| c == b'e' || c == b'E') {
        Some(e) => (&rest[..e], parse_exponent(&rest[e + 1..])?),
        None => (rest, 0),
    };
    let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut m: i128 = 0;
    for &c in int.iter().chain(frac) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        m = m.checked_mul(10)?.checked_add(i128::from(d))?;
    }
    // value = m * 10^(exp - frac.len()); milliseconds add 3 to the exponent.
    let shift = exp + 3 - i64::try_from(frac.len()).ok()?;
    let ms = if m == 0 {
        0
    } else if shift >= 0 {
        m.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else if shift < -38 {
        0
    } else {
        m / 10i128.pow(u32::try_from(-shift).ok()?)
    };
    let ms = i64::try_from(ms).ok()?;
    Some(if neg { -ms } else { ms })
}

/// `[+-]?d+` with a magnitude small enough to keep shifts meaningful.
fn parse_exponent(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() {
        return None;
    }
    let mut e: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        // Clamp: anything beyond ±10^6 is far outside i64 milliseconds anyway.
        e = (e * 10 + i64::from(d)).min(1_000_000);
    }
    Some(if neg { -e } else { e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_accepted() {
        let cases: &[(&str, f64)] = &[
            ("0", 0.0),
            ("7", 7.0),
            ("-12", -12.0),
            ("858816", 858816.0),
            ("999999999999999", 999_999_999_999_999.0),
            ("12345678901234567890", 12_345_678_901_234_567_890.0),
            ("1.5", 1.5),
            ("+1.5", 1.5),
            ("-0.25", -0.25),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e+06", 1e6),
            ("1.446217e+06", 1_446_217.0),
            ("8.178952E-3", 8.178952e-3),
            ("1e-400", 0.0),
            ("+Inf", f64::INFINITY),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("+infinity", f64::INFINITY),
            ("-INFINITY", f64::NEG_INFINITY),
        ];
        for (tok, want) in cases {
            let got = parse_value(tok.as_bytes());
            assert_eq!(got, Some(*want), "{tok}");
        }
        for tok in ["NaN", "nan", "NAN"] {
            assert!(
                parse_value(tok.as_bytes()).is_some_and(f64::is_nan),
                "{tok}"
            );
        }
        let neg_zero = parse_value(b"-0").unwrap_or(1.0);
        assert!(
            neg_zero == 0.0 && neg_zero.is_sign_negative(),
            "-0 keeps its sign"
        );
        let neg_zero = parse_value(b"-0.0").unwrap_or(1.0);
        assert!(neg_zero.is_sign_negative());
    }

    #[test]
    fn values_rejected() {
        for tok in [
            "", "-", "+", ".", "e5", "1e", "1e+", "0x10", "0x1p-2", "1_000", "1,5", "1.5.5",
            "+NaN", "-nan", "nanx", "Infx", "in", "infinit", "1e400", "-1e400", "12a", "١", "1 ",
            " 1", "--1", "+-1",
        ] {
            assert_eq!(parse_value(tok.as_bytes()), None, "{tok:?}");
        }
        assert_eq!(parse_value(&[0xFF, b'1']), None);
    }

    #[test]
    fn text_timestamps() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1395066363000", 1_395_066_363_000),
            ("-3982045", -3_982_045),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ];
        for (tok, want) in ok {
            assert_eq!(parse_text_timestamp(tok.as_bytes()), Some(*want), "{tok}");
        }
        for tok in [
            "",
            "-",
            "+5",
            "1.5",
            "1e3",
            "9223372036854775808",
            "12x",
            "NaN",
        ] {
            assert_eq!(parse_text_timestamp(tok.as_bytes()), None, "{tok:?}");
        }
    }

    #[test]
    fn openmetrics_timestamps() {
        let ok: &[(&str, i64)] = &[
            ("1520879607.789", 1_520_879_607_789),
            ("1520879607", 1_520_879_607_000),
            ("1520879607.7", 1_520_879_607_700),
            ("1520879607.78", 1_520_879_607_780),
            ("1520879607.7899", 1_520_879_607_789),
            ("0.0015", 1),
            ("-1.5", -1_500),
            ("-0.0009", 0),
            ("+2", 2_000),
            (".5", 500),
            ("5.", 5_000),
            ("1.5e3", 1_500_000),
            ("1e-3", 1),
            ("1.520879607789e9", 1_520_879_607_789),
            ("1520879607789E-3", 1_520_879_607_789),
            ("1520879607789E-6", 1_520_879_607),
            ("15e-1", 1_500),
            ("1e-4", 0),
            ("0e999999999", 0),
            ("-1.0015e0", -1_001),
        ];
        for (tok, want) in ok {
            assert_eq!(parse_om_timestamp(tok.as_bytes()), Some(*want), "{tok}");
        }
        for tok in [
            "",
            ".",
            "-",
            "NaN",
            "+Inf",
            "-Inf",
            "1e30",
            "abc",
            "1.2.3",
            "0x1",
            "1e",
            "1e+",
            "e3",
            ".e3",
            "1e99999999999",
        ] {
            assert_eq!(parse_om_timestamp(tok.as_bytes()), None, "{tok:?}");
        }
        // Overflowing exact decimal falls back to float and is then rejected.
        assert_eq!(parse_om_timestamp(b"99999999999999999999"), None);
    }
}
