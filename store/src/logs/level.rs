//! Log level detection, done once per line at index time and stored as a fast field.
//!
//! Looks, in order, for a JSON key (`"level"`, `"lvl"`, `"severity"`, `"loglevel"`), a
//! logfmt key (`level=`, `lvl=`, `severity=`), a klog/glog header (`E0312 10:00:00.000`),
//! and a bracketed or bare upper-case word (`[ERROR]`, ` WARN `) among the first bytes of the
//! line. Values are mapped to Loki's `detected_level` vocabulary.
//!
//! Cost: scans at most [`SCAN_BYTES`] of the line, no allocation.

/// Only this many leading bytes are inspected.
pub const SCAN_BYTES: usize = 512;

/// A detected level; the `u64` code is what the index stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Unknown = 0,
    Trace = 1,
    Debug = 2,
    Info = 3,
    Warn = 4,
    Error = 5,
    Fatal = 6,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unknown => "unknown",
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "critical",
        }
    }

    pub fn from_code(c: u64) -> Level {
        match c {
            1 => Level::Trace,
            2 => Level::Debug,
            3 => Level::Info,
            4 => Level::Warn,
            5 => Level::Error,
            6 => Level::Fatal,
            _ => Level::Unknown,
        }
    }

    /// Maps a level word (any case) to a level.
    pub fn from_word(w: &[u8]) -> Level {
        let mut buf = [0u8; 12];
        if w.is_empty() || w.len() > buf.len() {
            return Level::Unknown;
        }
        for (d, s) in buf.iter_mut().zip(w) {
            *d = s.to_ascii_lowercase();
        }
        match &buf[..w.len()] {
            b"trace" | b"trc" => Level::Trace,
            b"debug" | b"dbg" | b"d" => Level::Debug,
            b"info" | b"inf" | b"i" | b"information" | b"informational" | b"notice" => Level::Info,
            b"warn" | b"warning" | b"wrn" | b"w" => Level::Warn,
            b"error" | b"err" | b"e" | b"eror" => Level::Error,
            b"fatal" | b"critical" | b"crit" | b"panic" | b"emerg" | b"alert" | b"f" => {
                Level::Fatal
            }
            _ => Level::Unknown,
        }
    }
}

const KEYS: [&[u8]; 4] = [b"level", b"lvl", b"severity", b"loglevel"];

/// Searchers for [`KEYS`], built once (building one per line was a visible share of ingest).
static FINDERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 4]> =
    std::sync::LazyLock::new(|| KEYS.map(memchr::memmem::Finder::new));

fn value_after(s: &[u8], mut i: usize) -> &[u8] {
    while i < s.len() && (s[i] == b' ' || s[i] == b'"' || s[i] == b'\'') {
        i += 1;
    }
    let start = i;
    while i < s.len() && s[i].is_ascii_alphabetic() {
        i += 1;
    }
    &s[start..i]
}

/// Detects the level of a line.
pub fn detect(line: &str) -> Level {
    let s = &line.as_bytes()[..line.len().min(SCAN_BYTES)];
    // key=value or "key": value
    for (key, finder) in KEYS.iter().zip(FINDERS.iter()) {
        let mut from = 0;
        while let Some(p) = finder.find(&s[from..]) {
            let at = from + p;
            from = at + key.len();
            let before_ok = at == 0 || !s[at - 1].is_ascii_alphanumeric();
            if !before_ok {
                continue;
            }
            let mut i = at + key.len();
            if i < s.len() && s[i] == b'"' {
                i += 1;
            }
            while i < s.len() && s[i] == b' ' {
                i += 1;
            }
            if i < s.len() && (s[i] == b'=' || s[i] == b':') {
                let l = Level::from_word(value_after(s, i + 1));
                if l != Level::Unknown {
                    return l;
                }
            }
        }
    }
    // klog: `I0312 10:00:00.000000 ...`
    if s.len() > 6
        && matches!(s[0], b'I' | b'W' | b'E' | b'F')
        && s[1..5].iter().all(u8::is_ascii_digit)
        && s[5] == b' '
    {
        return Level::from_word(&s[..1]);
    }
    // An upper-case level word standing alone.
    for (a, b) in crate::logs::tokenizer::token_spans(line) {
        if a >= s.len() {
            break;
        }
        let w = &line.as_bytes()[a..b];
        if w.len() >= 4 && w.iter().all(|c| c.is_ascii_uppercase()) {
            let l = Level::from_word(w);
            if l != Level::Unknown {
                return l;
            }
        }
    }
    Level::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_logfmt_klog_and_words() {
        assert_eq!(
            detect(r#"{"ts":1,"level":"error","msg":"x"}"#),
            Level::Error
        );
        assert_eq!(detect(r#"{"severity": "WARNING"}"#), Level::Warn);
        assert_eq!(detect("ts=1 lvl=debug msg=hi"), Level::Debug);
        assert_eq!(detect("level=info msg=\"starting\""), Level::Info);
        assert_eq!(
            detect("E0312 10:00:00.000000   1 x.go:1] boom"),
            Level::Error
        );
        assert_eq!(
            detect("2024-01-01 12:00:00 [WARN] disk almost full"),
            Level::Warn
        );
        assert_eq!(detect("FATAL: cannot start"), Level::Fatal);
    }

    #[test]
    fn no_false_positives_on_plain_text() {
        assert_eq!(detect("GET /error.html 200"), Level::Unknown);
        assert_eq!(detect("the level of water"), Level::Unknown);
        assert_eq!(detect("sublevel=error"), Level::Unknown);
        assert_eq!(detect(""), Level::Unknown);
    }

    #[test]
    fn codes_round_trip() {
        for c in 0..7 {
            assert_eq!(Level::from_code(c) as u64, c);
        }
    }
}
