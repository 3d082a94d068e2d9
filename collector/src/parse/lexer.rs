//! Byte-level scanning primitives shared by both exposition formats.
//!
//! Purpose: character classes for metric and label names, whitespace
//! skipping, quoted-string scanning and unescaping. Everything works on byte
//! indices into the caller's buffer and never allocates, except `unescape`
//! when the input actually contains a backslash.
//!
//! Invariants: every scanner takes a half-open range `[i, end)` with
//! `i <= end <= b.len()` and returns an index in that range, so callers can
//! slice without bounds surprises. All delimiters are ASCII, which is why a
//! returned index is always a UTF-8 character boundary.
//!
//! Cost: one table lookup per name byte; quoted strings are scanned with
//! `memchr2` (SIMD) for the closing quote or a backslash.

use std::borrow::Cow;

const NAME_START: u8 = 1; // [a-zA-Z_:]
const NAME: u8 = 2; // [a-zA-Z0-9_:]
const LABEL_START: u8 = 4; // [a-zA-Z_]
const LABEL: u8 = 8; // [a-zA-Z0-9_]

static CLASS: [u8; 256] = build_classes();

const fn build_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut v = 0;
        if alpha || b == b':' {
            v |= NAME_START | NAME;
        }
        if digit {
            v |= NAME | LABEL;
        }
        if alpha {
            v |= LABEL_START | LABEL;
        }
        t[c] = v;
        c += 1;
    }
    t
}

#[inline]
pub(crate) fn is_name_start(c: u8) -> bool {
    CLASS[c as usize] & NAME_START != 0
}

#[inline]
pub(crate) fn is_label_start(c: u8) -> bool {
    CLASS[c as usize] & LABEL_START != 0
}

/// Index just past the run of metric-name bytes (`[a-zA-Z0-9_:]`) from `i`.
#[inline]
pub(crate) fn scan_name(b: &[u8], i: usize, end: usize) -> usize {
    scan(b, i, end, |c| CLASS[c as usize] & NAME != 0)
}

/// Index just past the run of label-name bytes (`[a-zA-Z0-9_]`) from `i`.
#[inline]
pub(crate) fn scan_label_name(b: &[u8], i: usize, end: usize) -> usize {
    scan(b, i, end, |c| CLASS[c as usize] & LABEL != 0)
}

/// Index of the first byte at or after `i` that is neither a space nor a tab.
#[inline]
pub(crate) fn skip_ws(b: &[u8], i: usize, end: usize) -> usize {
    scan(b, i, end, |c| c == b' ' || c == b'\t')
}

/// Index of the first space or tab at or after `i` (or `end`).
#[inline]
pub(crate) fn scan_token(b: &[u8], i: usize, end: usize) -> usize {
    scan(b, i, end, |c| c != b' ' && c != b'\t')
}

/// Index of the first byte in `[i, end)` for which `keep` is false (or `end`).
/// Iterating a subslice lets the compiler drop per-byte bounds checks.
#[inline(always)]
pub(crate) fn scan(b: &[u8], i: usize, end: usize, keep: impl Fn(u8) -> bool) -> usize {
    match b.get(i..end) {
        Some(s) => i + s.iter().position(|&c| !keep(c)).unwrap_or(s.len()),
        None => i,
    }
}

/// A quoted string found by [`scan_quoted`]: `content` is the byte range
/// between the quotes (escapes not resolved), `next` the index after the
/// closing quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quoted {
    pub start: usize,
    pub end: usize,
    pub next: usize,
    pub escaped: bool,
}

/// Scans a double-quoted string whose opening quote is at `b[i]`.
///
/// A backslash escapes the following byte, whatever it is; unknown escapes are
/// kept verbatim by [`unescape`]. Returns `None` when the closing quote is
/// missing before `end` (or a backslash is the last byte).
#[inline]
pub(crate) fn scan_quoted(b: &[u8], i: usize, end: usize) -> Option<Quoted> {
    let start = i + 1;
    let mut j = start;
    let mut escaped = false;
    loop {
        let off = memchr::memchr2(b'"', b'\\', b.get(j..end)?)?;
        j += off;
        if b[j] == b'"' {
            return Some(Quoted {
                start,
                end: j,
                next: j + 1,
                escaped,
            });
        }
        // A backslash: skip it and the byte it escapes.
        escaped = true;
        j += 2;
        if j > end {
            return None;
        }
    }
}

/// Which escape sequences a quoted or help string resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// Label values, quoted names and OpenMetrics help: `\\`, `\"`, `\n`.
    Quoted,
    /// Text-format (0.0.4) help text: `\\` and `\n` only.
    TextHelp,
}

/// Resolves escapes in `s`; borrows when there is no backslash.
///
/// Unknown escape sequences (and a trailing lone backslash) are kept as they
/// are, which is what Prometheus does.
pub(crate) fn unescape(s: &str, escapes: Escapes) -> Cow<'_, str> {
    if !s.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if escapes == Escapes::Quoted => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        for c in [b'a', b'Z', b'_', b':'] {
            assert!(is_name_start(c), "{}", c as char);
        }
        for c in [b'0', b'.', b'-', b' ', b'{', 0xC3] {
            assert!(!is_name_start(c), "{}", c as char);
        }
        assert!(is_label_start(b'_') && is_label_start(b'x'));
        assert!(!is_label_start(b':') && !is_label_start(b'1'));
    }

    #[test]
    fn scanners_stop_at_class_boundary() {
        let b = b"abc:d_9{x";
        assert_eq!(scan_name(b, 0, b.len()), 7);
        assert_eq!(scan_label_name(b, 0, b.len()), 3);
        assert_eq!(scan_name(b, 0, 2), 2, "respects end");
        assert_eq!(skip_ws(b" \t x", 0, 4), 3);
        assert_eq!(skip_ws(b"   ", 0, 3), 3);
        assert_eq!(scan_token(b"1.5e3 99", 0, 8), 5);
        assert_eq!(scan_token(b"1.5\t99", 0, 6), 3);
    }

    #[test]
    fn quoted_strings() {
        type Case<'a> = (&'a [u8], Option<(usize, usize, bool)>);
        let cases: &[Case<'_>] = &[
            (br#""abc" rest"#, Some((1, 4, false))),
            (br#""""#, Some((1, 1, false))),
            (br#""a\"b""#, Some((1, 5, true))),
            (br#""a\\" x"#, Some((1, 4, true))),
            (br#""abc"#, None),
            (br#""ab\"#, None),
            (br#""ab\""#, None),
        ];
        for (input, want) in cases {
            let got = scan_quoted(input, 0, input.len()).map(|q| (q.start, q.end, q.escaped));
            assert_eq!(got, *want, "{}", String::from_utf8_lossy(input));
            if let Some(q) = scan_quoted(input, 0, input.len()) {
                assert_eq!(q.next, q.end + 1);
            }
        }
        // `end` bounds the search even if a quote follows it.
        assert_eq!(scan_quoted(br#""ab" "#, 0, 3), None);
    }

    #[test]
    fn unescape_label_values_and_help() {
        let cases = [
            ("plain", Escapes::Quoted, "plain", false),
            (r#"a\\b"#, Escapes::Quoted, r"a\b", true),
            (r#"say \"hi\""#, Escapes::Quoted, r#"say "hi""#, true),
            (r"two\nlines", Escapes::Quoted, "two\nlines", true),
            (r"keep \t as is", Escapes::Quoted, r"keep \t as is", true),
            (r"trailing \", Escapes::Quoted, r"trailing \", true),
            (
                r#"text help \" stays"#,
                Escapes::TextHelp,
                r#"text help \" stays"#,
                true,
            ),
            (
                r"text help \\ \n",
                Escapes::TextHelp,
                "text help \\ \n",
                true,
            ),
            (r"ünï\\cödé", Escapes::Quoted, r"ünï\cödé", true),
        ];
        for (input, esc, want, owned) in cases {
            let got = unescape(input, esc);
            assert_eq!(got, want, "{input}");
            assert_eq!(matches!(got, Cow::Owned(_)), owned, "{input}");
        }
    }
}
