//! Go's number formatting as Prometheus' templates print it: `%g` with a precision
//! (`%.4g` in every `humanize*` function), `%f`/`%e` with a precision, and the
//! `strconv.FormatFloat(v, 'f', -1, 64)` shortest form.
//!
//! Go's `%.Ng`: N significant digits, exponent form when the decimal exponent is < -4 or
//! >= N, trailing zeros removed, exponent with at least two digits (`1.235e+07`).

/// Go's `fmt.Sprintf("%.{prec}g", v)`.
pub fn format_g(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let prec = prec.max(1);
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Round to `prec` significant digits via scientific formatting, then decide the form.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

/// Go's `%.{prec}f`.
pub fn format_f(v: f64, prec: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.prec$}"))
}

/// Go's `%.{prec}e` (`1.234560e+03`).
pub fn format_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sci = format!("{v:.prec$e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

/// Go's `%v` / `strconv.FormatFloat(v, 'g', -1, 64)`: shortest representation, exponent
/// form for exponents < -4 or >= 21.
pub fn format_shortest(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..21).contains(&exp) {
        let s = format!("{v:e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    } else {
        format!("{v}")
    }
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v == f64::INFINITY {
        Some("+Inf".into())
    } else if v == f64::NEG_INFINITY {
        Some("-Inf".into())
    } else {
        None
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_format() {
        // Expected values are what Go's fmt prints for the same inputs.
        assert_eq!(format_g(1234.5, 4), "1234");
        assert_eq!(format_g(1235.5, 4), "1236");
        assert_eq!(format_g(12345678.0, 4), "1.235e+07");
        assert_eq!(format_g(1.0, 4), "1");
        assert_eq!(format_g(0.0001234, 4), "0.0001234");
        assert_eq!(format_g(0.00001234, 4), "1.234e-05");
        assert_eq!(format_g(100.0, 4), "100");
        assert_eq!(format_g(-2.5, 4), "-2.5");
        assert_eq!(format_g(0.0, 4), "0");
        assert_eq!(format_g(f64::NAN, 4), "NaN");
        assert_eq!(format_g(f64::INFINITY, 4), "+Inf");
        assert_eq!(format_f(1.23456, 2), "1.23");
        assert_eq!(format_e(1234.56, 2), "1.23e+03");
        assert_eq!(format_shortest(0.1), "0.1");
        assert_eq!(format_shortest(1e21), "1e+21");
        assert_eq!(format_shortest(123456.0), "123456");
    }
}
