//! Prometheus durations: `1y2w3d4h5m6s7ms`, `15s`, `500ms`, `0`.
//!
//! Grammar (Prometheus' `model.ParseDuration`): an optional integer count for each unit, in
//! the fixed order `y w d h m s ms`, each at most once, at least one present; the bare string
//! `0` is zero. A year is 365 days, a week 7 days, a day 24 hours. No signs, fractions or
//! spaces. Values above `i64::MAX` nanoseconds (~292 years) are rejected so every parsed
//! duration also fits in a nanosecond `i64`.
//!
//! [`format`] writes the canonical form back: `0s` for zero, otherwise the non-zero units
//! from largest to smallest, where years and weeks are only used when they divide the value
//! exactly (`90d`, not `12w6d`). Sub-millisecond parts are dropped (durations are
//! millisecond-precise). `parse(format(d)) == d` for every millisecond-precise `d`.
//!
//! Cost: a single pass over the string, no allocation when parsing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

const MS_PER_SECOND: u64 = 1000;
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: u64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: u64 = 365 * MS_PER_DAY;

/// Units in the only order the grammar allows, with their size in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", MS_PER_YEAR),
    ("w", MS_PER_WEEK),
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// The largest accepted duration in milliseconds (`i64::MAX` nanoseconds).
const MAX_MS: u64 = (i64::MAX as u64) / 1_000_000;

/// Why a duration string was rejected. Displays as a complete sentence fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a valid duration string: {:?} ({})",
            self.input, self.reason
        )
    }
}

impl std::error::Error for DurationError {}

/// Parses a Prometheus duration string.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: s.to_string(),
        reason,
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err("empty"));
    }
    let bytes = s.as_bytes();
    let mut pos = 0;
    // Index into UNITS of the next unit allowed: enforces order and uniqueness.
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err(err(
                "expected a number followed by a unit such as s, m or h",
            ));
        }
        let count: u64 = s[digits_start..pos]
            .parse()
            .map_err(|_| err("number out of range"))?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &s[unit_start..pos];
        if unit.is_empty() {
            return Err(err("missing unit such as s, m or h"));
        }
        let Some(offset) = UNITS[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)
        else {
            return Err(if UNITS.iter().any(|(name, _)| *name == unit) {
                err("units must appear once each, in the order y w d h m s ms")
            } else {
                err("unknown unit; use y, w, d, h, m, s or ms")
            });
        };
        let idx = next_unit + offset;
        next_unit = idx + 1;
        total_ms = count
            .checked_mul(UNITS[idx].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .filter(|ms| *ms <= MAX_MS)
            .ok_or_else(|| err("duration out of range"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration in Prometheus' canonical form (see the module docs).
pub fn format(d: Duration) -> String {
    PromDuration(d).to_string()
}

/// A `std::time::Duration` that parses from and displays as a Prometheus duration string;
/// it also deserializes from a YAML/JSON string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub Duration);

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Saturate rather than wrap for durations beyond u64 milliseconds.
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (name, size) in UNITS {
            let exact_only = name == "y" || name == "w";
            if exact_only && ms % size != 0 {
                continue;
            }
            let n = ms / size;
            if n > 0 {
                write!(f, "{n}{name}")?;
                ms -= n * size;
            }
        }
        Ok(())
    }
}

impl FromStr for PromDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, DurationError> {
        parse(s).map(PromDuration)
    }
}

impl From<PromDuration> for Duration {
    fn from(d: PromDuration) -> Duration {
        d.0
    }
}

impl<'de> serde::Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PromDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"15s\", \"1m30s\" or \"1d\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<PromDuration, E> {
                parse(s).map(PromDuration).map_err(E::custom)
            }
            // YAML `0` is an integer; Prometheus accepts it as zero.
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PromDuration, E> {
                if v == 0 {
                    Ok(PromDuration(Duration::ZERO))
                } else {
                    Err(E::custom(format_args!(
                        "not a valid duration string: {v} (missing unit, e.g. \"{v}s\")"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PromDuration, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format_args!(
                        "not a valid duration string: {v} (negative)"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_and_formats_canonically() {
        // (input, millis, canonical form)
        let cases: &[(&str, u64, &str)] = &[
            ("0", 0, "0s"),
            ("0s", 0, "0s"),
            ("0ms", 0, "0s"),
            ("500ms", 500, "500ms"),
            ("1s", 1000, "1s"),
            ("15s", 15_000, "15s"),
            ("90s", 90_000, "1m30s"),
            ("1m30s", 90_000, "1m30s"),
            ("1h30m", 5_400_000, "1h30m"),
            ("1h", MS_PER_HOUR, "1h"),
            ("24h", MS_PER_DAY, "1d"),
            ("1d", MS_PER_DAY, "1d"),
            ("7d", MS_PER_WEEK, "1w"),
            ("1w", MS_PER_WEEK, "1w"),
            ("15d", 15 * MS_PER_DAY, "15d"),
            ("90d", 90 * MS_PER_DAY, "90d"),
            ("2w", 2 * MS_PER_WEEK, "2w"),
            ("1y", MS_PER_YEAR, "1y"),
            ("365d", MS_PER_YEAR, "1y"),
            ("1y1d", MS_PER_YEAR + MS_PER_DAY, "366d"),
            (
                "1y2w3d4h5m6s7ms",
                MS_PER_YEAR
                    + 2 * MS_PER_WEEK
                    + 3 * MS_PER_DAY
                    + 4 * MS_PER_HOUR
                    + 5 * MS_PER_MINUTE
                    + 6 * MS_PER_SECOND
                    + 7,
                "382d4h5m6s7ms",
            ),
            ("1s500ms", 1500, "1s500ms"),
            ("1h0m", MS_PER_HOUR, "1h"),
        ];
        for &(input, millis, canon) in cases {
            let d = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d, ms(millis), "parse({input})");
            assert_eq!(format(d), canon, "format(parse({input}))");
            assert_eq!(parse(canon), Ok(d), "round trip of {input} via {canon}");
        }
    }

    #[test]
    fn rejects_malformed_strings() {
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("1", "missing unit"),
            ("s", "expected a number"),
            ("1.5h", "missing unit"),
            ("-1s", "expected a number"),
            ("1x", "unknown unit"),
            ("1ns", "unknown unit"),
            ("1us", "unknown unit"),
            ("30m1h", "order"),
            ("1s1s", "order"),
            ("1h 30m", "expected a number"),
            (" 1h", "expected a number"),
            ("1H", "unknown unit"),
            ("99999999999999999999s", "number out of range"),
            ("300y", "out of range"),
        ];
        for &(input, reason) in bad {
            let e = parse(input).expect_err(input).to_string();
            assert!(e.contains(reason), "{input:?}: {e}");
            assert!(e.starts_with("not a valid duration string"), "{e}");
        }
    }

    #[test]
    fn largest_duration_round_trips() {
        let d = parse("292y").expect("292y fits in i64 nanoseconds");
        assert_eq!(parse(&format(d)), Ok(d));
    }

    #[test]
    fn formatting_truncates_below_milliseconds() {
        assert_eq!(format(Duration::from_micros(1500)), "1ms");
        assert_eq!(format(Duration::from_nanos(999_999)), "0s");
    }

    #[test]
    fn deserializes_from_yaml_strings_and_zero() {
        let d: PromDuration = serde_yaml_ng::from_str("1m").expect("1m");
        assert_eq!(d.0, ms(60_000));
        let z: PromDuration = serde_yaml_ng::from_str("0").expect("0");
        assert_eq!(z.0, Duration::ZERO);
        let e = serde_yaml_ng::from_str::<PromDuration>("15").expect_err("15");
        assert!(e.to_string().contains("missing unit"), "{e}");
        let e = serde_yaml_ng::from_str::<PromDuration>("[1]").expect_err("seq");
        assert!(e.to_string().contains("a duration string"), "{e}");
    }
}
