//! Decoding physical lines of container log files into log entries.
//!
//! - CRI (containerd, CRI-O): `<RFC3339Nano> <stdout|stderr> <P|F> <content>`. `P` (partial)
//!   chunks are joined until the `F` chunk; the entry takes the first chunk's timestamp.
//! - Docker json-file: `{"log":"...\n","stream":"stdout","time":"..."}`; a `log` without a
//!   final `\n` is partial and joined with the next.
//! - Raw (host log globs): the line as is, timestamped with the read time.
//!
//! Bounds: an entry longer than the maximum line size keeps its first `max_line` bytes (cut
//! on a char boundary) and is flagged truncated; the rest of its chunks are read and dropped,
//! so memory per file is at most `max_line`. Bad input never fails: an unparsable timestamp
//! uses the read time (flagged), invalid UTF-8 is decoded lossily (flagged), lines that are not
//! CRI at all are kept whole. Each case is counted in [`LogMetrics`].
//!
//! Cost: one pass over the line plus one copy into the entry.

use super::metrics::LogMetrics;
use lookout_store::logs::schema::{FLAG_BAD_TIMESTAMP, FLAG_INVALID_UTF8, FLAG_TRUNCATED};
use std::sync::atomic::Ordering::Relaxed;

/// Format of a file's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Pod logs: CRI, or Docker json-file when a line starts with `{`.
    Kube,
    Raw,
}

/// The stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// Host logs have none.
    None,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::None => "",
        }
    }
}

/// One decoded entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub ts_ns: i64,
    pub stream: Stream,
    pub line: String,
    pub flags: u64,
}

struct Partial {
    ts_ns: i64,
    stream: Stream,
    buf: Vec<u8>,
    flags: u64,
}

/// Joins partial chunks of one file into entries.
pub struct Assembler {
    format: Format,
    max_line: usize,
    partial: Option<Partial>,
    /// The next chunk was cut by the reader.
    cut_next: bool,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
}

/// Parses an RFC 3339 timestamp (`2024-01-02T03:04:05.123456789Z`, `+01:00` offsets) to ns.
pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    if s.len() < 20
        || s[4] != b'-'
        || s[7] != b'-'
        || !matches!(s[10], b'T' | b't' | b' ')
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    let (h, mi, se) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let st = i;
        while i < s.len() && s[i].is_ascii_digit() {
            if i - st < 9 {
                frac = frac * 10 + i64::from(s[i] - b'0');
            }
            i += 1;
        }
        let n = i - st;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            frac *= 10;
        }
    }
    let off = match s.get(i)? {
        b'Z' | b'z' if i + 1 == s.len() => 0,
        c @ (b'+' | b'-') if i + 6 == s.len() && s[i + 3] == b':' => {
            let v = num(&s[i + 1..i + 3])? * 3600 + num(&s[i + 4..i + 6])? * 60;
            if *c == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - off;
    secs.checked_mul(1_000_000_000)?.checked_add(frac)
}

/// Index of the largest char boundary `<= max` in a UTF-8-ish buffer.
fn cut_point(b: &[u8], max: usize) -> usize {
    let mut end = max.min(b.len());
    while end > 0 && end < b.len() && (b[end] & 0xC0) == 0x80 && max - end < 3 {
        end -= 1;
    }
    end
}

fn to_string(bytes: Vec<u8>, flags: &mut u64, m: &LogMetrics) -> String {
    // Counted without an early exit so the loop vectorizes (lines are rarely binary).
    let control = |c: u8| c < 0x20 && c != b'\t' && c != b'\r' && c != 0x1b;
    if bytes.iter().map(|&c| u32::from(control(c))).sum::<u32>() > 0 {
        m.binary_lines.fetch_add(1, Relaxed);
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            *flags |= FLAG_INVALID_UTF8;
            m.invalid_utf8.fetch_add(1, Relaxed);
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    }
}

#[derive(serde::Deserialize)]
struct DockerLine<'a> {
    #[serde(borrow, default)]
    log: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    stream: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    time: std::borrow::Cow<'a, str>,
}

fn stream_of(s: &[u8]) -> Option<Stream> {
    match s {
        b"stdout" => Some(Stream::Stdout),
        b"stderr" => Some(Stream::Stderr),
        _ => None,
    }
}

impl Assembler {
    pub fn new(format: Format, max_line: usize) -> Assembler {
        Assembler {
            format,
            max_line: max_line.max(1),
            partial: None,
            cut_next: false,
        }
    }

    /// Whether chunks of an unfinished entry are held.
    pub fn has_partial(&self) -> bool {
        self.partial.is_some()
    }

    /// Feeds one physical line (without its `\n`); returns the entry it completes, if any.
    pub fn push(&mut self, phys: &[u8], now_ns: i64, m: &LogMetrics) -> Option<Entry> {
        self.push_cut(phys, false, now_ns, m)
    }

    /// Like [`Assembler::push`]; `cut`: the physical line was longer than the reader keeps
    /// and only its start is given (the entry is flagged truncated).
    pub fn push_cut(
        &mut self,
        phys: &[u8],
        cut: bool,
        now_ns: i64,
        m: &LogMetrics,
    ) -> Option<Entry> {
        if cut {
            self.cut_next = true;
        }
        let phys = phys.strip_suffix(b"\r").unwrap_or(phys);
        match self.format {
            Format::Raw => self.chunk(now_ns, Stream::None, phys, 0, true, m),
            Format::Kube if phys.first() == Some(&b'{') => {
                match serde_json::from_slice::<DockerLine>(phys) {
                    Ok(d) => {
                        let (ts, mut flags) = match parse_rfc3339(d.time.as_bytes()) {
                            Some(t) => (t, 0),
                            None => {
                                m.bad_timestamps.fetch_add(1, Relaxed);
                                (now_ns, FLAG_BAD_TIMESTAMP)
                            }
                        };
                        let stream = stream_of(d.stream.as_bytes()).unwrap_or(Stream::Stdout);
                        let (content, last) = match d.log.strip_suffix('\n') {
                            Some(c) => (c.as_bytes(), true),
                            None => (d.log.as_bytes(), false),
                        };
                        if flags != 0 && self.partial.is_some() {
                            flags = 0; // the group's first chunk decides the timestamp
                        }
                        self.chunk(ts, stream, content, flags, last, m)
                    }
                    Err(_) => self.cri(phys, now_ns, m),
                }
            }
            Format::Kube => self.cri(phys, now_ns, m),
        }
    }

    fn cri(&mut self, phys: &[u8], now_ns: i64, m: &LogMetrics) -> Option<Entry> {
        let mut parts = phys.splitn(4, |&c| c == b' ');
        let ts = parts.next().unwrap_or_default();
        let stream = parts.next().and_then(stream_of);
        let tag = parts.next().unwrap_or_default();
        let full = tag.split(|&c| c == b':').next() != Some(b"P");
        match (parse_rfc3339(ts), stream) {
            (Some(t), Some(s)) if !tag.is_empty() => {
                let content = parts.next().unwrap_or_default();
                self.chunk(t, s, content, 0, full, m)
            }
            (None, Some(s)) if !tag.is_empty() => {
                m.bad_timestamps.fetch_add(1, Relaxed);
                let content = parts.next().unwrap_or_default();
                self.chunk(now_ns, s, content, FLAG_BAD_TIMESTAMP, full, m)
            }
            _ => {
                // Not CRI at all: keep the whole line.
                m.bad_timestamps.fetch_add(1, Relaxed);
                self.chunk(now_ns, Stream::Stdout, phys, FLAG_BAD_TIMESTAMP, true, m)
            }
        }
    }

    fn chunk(
        &mut self,
        ts: i64,
        stream: Stream,
        content: &[u8],
        flags: u64,
        last: bool,
        m: &LogMetrics,
    ) -> Option<Entry> {
        let p = self.partial.get_or_insert_with(|| Partial {
            ts_ns: ts,
            stream,
            buf: Vec::new(),
            flags,
        });
        if std::mem::take(&mut self.cut_next) {
            p.flags |= FLAG_TRUNCATED;
            let room = self.max_line.saturating_sub(p.buf.len());
            p.buf
                .extend_from_slice(&content[..cut_point(content, room)]);
        }
        let room = self.max_line.saturating_sub(p.buf.len());
        if content.len() > room {
            if p.flags & FLAG_TRUNCATED == 0 {
                let cut = cut_point(content, room);
                p.buf.extend_from_slice(&content[..cut]);
                p.flags |= FLAG_TRUNCATED;
            }
        } else if p.flags & FLAG_TRUNCATED == 0 {
            p.buf.extend_from_slice(content);
        }
        if last { self.finish(m) } else { None }
    }

    fn finish(&mut self, m: &LogMetrics) -> Option<Entry> {
        let p = self.partial.take()?;
        let mut flags = p.flags;
        if flags & FLAG_TRUNCATED != 0 {
            m.truncated_lines.fetch_add(1, Relaxed);
        }
        let line = to_string(p.buf, &mut flags, m);
        Some(Entry {
            ts_ns: p.ts_ns,
            stream: p.stream,
            line,
            flags,
        })
    }

    /// Emits held partial chunks as an entry (the file ended without the final chunk).
    pub fn flush(&mut self, m: &LogMetrics) -> Option<Entry> {
        self.finish(m)
    }

    /// Forgets held chunks (the file was truncated or is read again from a checkpoint).
    pub fn reset(&mut self) {
        self.partial = None;
        self.cut_next = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> LogMetrics {
        LogMetrics::default()
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339(b"1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_rfc3339(b"2024-02-29T12:00:00.123456789Z"),
            Some(1_709_208_000_123_456_789)
        );
        assert_eq!(
            parse_rfc3339(b"2024-02-29T13:00:00.123456789+01:00"),
            Some(1_709_208_000_123_456_789)
        );
        assert_eq!(
            parse_rfc3339(b"2024-02-29T12:00:00.1234567891234Z"),
            Some(1_709_208_000_123_456_789)
        );
        for bad in [
            &b"2024-13-01T00:00:00Z"[..],
            b"2024-01-01T00:00:00",
            b"garbage",
            b"2024-01-01T00:00:00.Z",
            b"2024-01-01T00:00:00Zx",
            b"",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn cri_full_and_partial() {
        let mm = m();
        let mut a = Assembler::new(Format::Kube, 1000);
        let e = a
            .push(b"1970-01-01T00:00:01Z stdout F hello world", 7, &mm)
            .unwrap();
        assert_eq!(
            (e.ts_ns, e.stream, e.line.as_str(), e.flags),
            (1_000_000_000, Stream::Stdout, "hello world", 0)
        );
        assert!(
            a.push(b"1970-01-01T00:00:02Z stderr P abc", 7, &mm)
                .is_none()
        );
        assert!(a.has_partial());
        let e = a
            .push(b"1970-01-01T00:00:03Z stderr F def", 7, &mm)
            .unwrap();
        assert_eq!(
            (e.ts_ns, e.stream, e.line.as_str()),
            (2_000_000_000, Stream::Stderr, "abcdef")
        );
        // Empty content.
        let e = a.push(b"1970-01-01T00:00:01Z stdout F", 7, &mm).unwrap();
        assert_eq!(e.line, "");
    }

    #[test]
    fn long_partials_are_cut_and_flagged() {
        let mm = m();
        let mut a = Assembler::new(Format::Kube, 10);
        assert!(
            a.push(b"1970-01-01T00:00:01Z stdout P 0123456", 0, &mm)
                .is_none()
        );
        assert!(
            a.push(b"1970-01-01T00:00:01Z stdout P 789abc", 0, &mm)
                .is_none()
        );
        let e = a
            .push(b"1970-01-01T00:00:01Z stdout F tail", 0, &mm)
            .unwrap();
        assert_eq!(e.line, "0123456789");
        assert_eq!(e.flags, FLAG_TRUNCATED);
        assert_eq!(mm.truncated_lines.load(Relaxed), 1);
        // A cut never splits a character.
        let mut a = Assembler::new(Format::Raw, 4);
        let e = a.push("abcé".as_bytes(), 0, &mm).unwrap();
        assert_eq!(e.line, "abc");
        assert_eq!(e.flags, FLAG_TRUNCATED);
    }

    #[test]
    fn bad_input_is_kept_and_counted() {
        let mm = m();
        let mut a = Assembler::new(Format::Kube, 100);
        let e = a.push(b"yesterday stdout F hi", 42, &mm).unwrap();
        assert_eq!(
            (e.ts_ns, e.line.as_str(), e.flags),
            (42, "hi", FLAG_BAD_TIMESTAMP)
        );
        let e = a.push(b"no cri here", 43, &mm).unwrap();
        assert_eq!((e.ts_ns, e.line.as_str()), (43, "no cri here"));
        assert_eq!(mm.bad_timestamps.load(Relaxed), 2);
        let e = a
            .push(b"1970-01-01T00:00:01Z stdout F caf\xff!", 0, &mm)
            .unwrap();
        assert_eq!(e.line, "caf\u{fffd}!");
        assert_eq!(e.flags, FLAG_INVALID_UTF8);
        assert_eq!(mm.invalid_utf8.load(Relaxed), 1);
        let e = a
            .push(b"1970-01-01T00:00:01Z stdout F \x00\x01\x02", 0, &mm)
            .unwrap();
        assert_eq!(e.line.len(), 3);
        assert_eq!(mm.binary_lines.load(Relaxed), 1);
    }

    #[test]
    fn docker_json() {
        let mm = m();
        let mut a = Assembler::new(Format::Kube, 100);
        let e = a
            .push(
                br#"{"log":"hello\n","stream":"stderr","time":"1970-01-01T00:00:01Z"}"#,
                0,
                &mm,
            )
            .unwrap();
        assert_eq!(
            (e.ts_ns, e.stream, e.line.as_str()),
            (1_000_000_000, Stream::Stderr, "hello")
        );
        assert!(
            a.push(
                br#"{"log":"part ","stream":"stdout","time":"1970-01-01T00:00:02Z"}"#,
                0,
                &mm
            )
            .is_none()
        );
        let e = a
            .push(
                br#"{"log":"two\n","stream":"stdout","time":"1970-01-01T00:00:03Z"}"#,
                0,
                &mm,
            )
            .unwrap();
        assert_eq!((e.ts_ns, e.line.as_str()), (2_000_000_000, "part two"));
        // Broken JSON falls back to CRI parsing and is kept.
        let e = a.push(br#"{"log":"x"#, 5, &mm).unwrap();
        assert_eq!(e.line, r#"{"log":"x"#);
    }

    #[test]
    fn flush_emits_held_chunks() {
        let mm = m();
        let mut a = Assembler::new(Format::Kube, 100);
        assert!(
            a.push(b"1970-01-01T00:00:01Z stdout P abc", 0, &mm)
                .is_none()
        );
        assert_eq!(a.flush(&mm).unwrap().line, "abc");
        assert!(a.flush(&mm).is_none());
    }
}
