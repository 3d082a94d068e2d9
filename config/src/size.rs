//! Byte sizes as Prometheus writes them (`body_size_limit`, `retention.size`): `512MB`,
//! `10GiB`, `1GB512MB`, `1.5KB`, `0`.
//!
//! Units are base 2 whichever spelling is used, as in Prometheus (`alecthomas/units`
//! `Base2Bytes`): `B`; `KB`/`KiB` = 1024; `MB`/`MiB` = 1024²; `GB`/`GiB`; `TB`/`TiB`;
//! `PB`/`PiB`; `EB`/`EiB`. Units are case-sensitive (`kB`, `mb` are rejected). A size is one
//! or more `<number><unit>` parts, summed; a number may have a decimal fraction (rounded down
//! to whole bytes). The bare string `0` is zero. A unit is otherwise required.
//!
//! [`format`] writes the canonical form: `0B` for zero, otherwise the parts from the largest
//! unit down with the `KB`/`MB`... spelling of Prometheus' docs (`1536` → `1KB512B`,
//! `10485760` → `10MB`). `parse(format(n)) == n` for every `n`.
//!
//! Cost: one pass over the string, no allocation when parsing.

use std::fmt;
use std::str::FromStr;

const UNITS: [(&str, &str, u64); 7] = [
    ("EB", "EiB", 1 << 60),
    ("PB", "PiB", 1 << 50),
    ("TB", "TiB", 1 << 40),
    ("GB", "GiB", 1 << 30),
    ("MB", "MiB", 1 << 20),
    ("KB", "KiB", 1 << 10),
    ("B", "B", 1),
];

/// Why a size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a valid size: {:?} ({})", self.input, self.reason)
    }
}

impl std::error::Error for SizeError {}

fn unit_size(unit: &str) -> Option<u64> {
    UNITS
        .iter()
        .find(|(short, long, _)| *short == unit || *long == unit)
        .map(|(_, _, size)| *size)
}

/// Parses a size string into bytes.
pub fn parse(s: &str) -> Result<u64, SizeError> {
    let err = |reason| SizeError {
        input: s.to_string(),
        reason,
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err("empty"));
    }
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut total: u64 = 0;
    while pos < bytes.len() {
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let int_part = &s[int_start..pos];
        let mut frac_part = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_part = &s[frac_start..pos];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err(
                "expected a number followed by a unit such as B, KB or MB",
            ));
        }
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &s[unit_start..pos];
        if unit.is_empty() {
            return Err(err("missing unit such as B, KB or MB"));
        }
        let size = unit_size(unit)
            .ok_or_else(|| err("unknown unit; use B, KB, MB, GB, TB, PB or EB, all base 2"))?;
        let overflow = || err("size out of range");
        let whole: u64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| overflow())?
        };
        let mut part = whole.checked_mul(size).ok_or_else(overflow)?;
        // Fraction: digits / 10^len of `size`, rounded down. Digits beyond 19 cannot change
        // the result by a whole byte for any unit up to 2^60, so they are ignored.
        let frac_digits = &frac_part[..frac_part.len().min(19)];
        if !frac_digits.is_empty() {
            let num: u128 = frac_digits.parse().map_err(|_| overflow())?;
            let den: u128 = 10u128.pow(frac_digits.len() as u32);
            let extra = u64::try_from(num * u128::from(size) / den).map_err(|_| overflow())?;
            part = part.checked_add(extra).ok_or_else(overflow)?;
        }
        total = total.checked_add(part).ok_or_else(overflow)?;
    }
    Ok(total)
}

/// Formats a byte count canonically (see the module docs).
pub fn format(n: u64) -> String {
    ByteSize(n).to_string()
}

/// A byte count that parses from and displays as a size string; deserializes from YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.0;
        if n == 0 {
            return f.write_str("0B");
        }
        for (short, _, size) in UNITS {
            let count = n / size;
            if count > 0 {
                write!(f, "{count}{short}")?;
                n -= count * size;
            }
        }
        Ok(())
    }
}

impl FromStr for ByteSize {
    type Err = SizeError;
    fn from_str(s: &str) -> Result<Self, SizeError> {
        parse(s).map(ByteSize)
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size string such as \"512MB\" or \"1GiB\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ByteSize, E> {
                parse(s).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                if v == 0 {
                    Ok(ByteSize(0))
                } else {
                    Err(E::custom(format_args!(
                        "not a valid size: {v} (missing unit, e.g. \"{v}B\" or \"{v}MB\")"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format_args!("not a valid size: {v} (negative)"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: u64 = 1024;
    const MB: u64 = KB * 1024;
    const GB: u64 = MB * 1024;

    #[test]
    fn parses_and_formats_canonically() {
        let cases: &[(&str, u64, &str)] = &[
            ("0", 0, "0B"),
            ("0B", 0, "0B"),
            ("0MB", 0, "0B"),
            ("1B", 1, "1B"),
            ("1023B", 1023, "1023B"),
            ("1024B", KB, "1KB"),
            ("1KB", KB, "1KB"),
            ("1KiB", KB, "1KB"),
            ("512KiB", 512 * KB, "512KB"),
            ("10MB", 10 * MB, "10MB"),
            ("10MiB", 10 * MB, "10MB"),
            ("1536B", 1536, "1KB512B"),
            ("1.5KB", 1536, "1KB512B"),
            ("1.5GB", GB + 512 * MB, "1GB512MB"),
            ("1GB512MB", GB + 512 * MB, "1GB512MB"),
            (".5KB", 512, "512B"),
            ("2TB", 2 << 40, "2TB"),
            ("3PiB", 3 << 50, "3PB"),
            ("15EB", 15 << 60, "15EB"),
            ("0.1B", 0, "0B"),
            ("1.0009765625KB", KB + 1, "1KB1B"),
        ];
        for &(input, n, canon) in cases {
            let got = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, n, "parse({input})");
            assert_eq!(format(got), canon, "format(parse({input}))");
            assert_eq!(parse(canon), Ok(n), "round trip via {canon}");
        }
    }

    #[test]
    fn max_value_round_trips() {
        assert_eq!(parse(&format(u64::MAX)), Ok(u64::MAX));
    }

    #[test]
    fn rejects_malformed_sizes() {
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("10", "missing unit"),
            ("MB", "expected a number"),
            ("10kB", "unknown unit"),
            ("10mb", "unknown unit"),
            ("10 MB", "missing unit"),
            ("-1MB", "expected a number"),
            ("1.2.3MB", "missing unit"),
            ("16EB", "out of range"),
            ("99999999999999999999B", "out of range"),
            ("10M", "unknown unit"),
        ];
        for &(input, reason) in bad {
            let e = parse(input).expect_err(input).to_string();
            assert!(e.contains(reason), "{input:?}: {e}");
        }
    }

    #[test]
    fn deserializes_from_yaml() {
        let s: ByteSize = serde_yaml_ng::from_str("512MB").expect("512MB");
        assert_eq!(s.0, 512 * MB);
        let z: ByteSize = serde_yaml_ng::from_str("0").expect("0");
        assert_eq!(z.0, 0);
        let e = serde_yaml_ng::from_str::<ByteSize>("100").expect_err("100");
        assert!(e.to_string().contains("missing unit"), "{e}");
    }
}
