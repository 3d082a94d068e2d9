//! Go (RE2) regular-expression syntax, rewritten for the `regex` crate.
//!
//! Prometheus compiles relabel regexes with Go's `regexp`. The `regex` crate accepts almost the
//! same language, but a few constructs mean something else or are rejected, and a config that
//! works in Prometheus must match the same strings here. [`translate`] rewrites a Go pattern
//! into an equivalent `regex`-crate pattern:
//!
//! - `\d \D \s \S \w \W` are ASCII in Go (`\s` is `[\t\n\f\r ]`) but Unicode in `regex`;
//!   they become explicit ASCII classes. `\b`/`\B` become ASCII word boundaries.
//! - `\<` and `\>` are literal `<`/`>` in Go but word-boundary assertions in `regex`.
//! - A `{` that does not start a valid repetition (`a{`, `x{y}`) is a literal in Go, an error
//!   in `regex`; it is escaped. A stray `}` is escaped too.
//! - Inside a class Go has no set operators and no nested classes: `&&`, `~~`, `--` and `[`
//!   are literal there, so every literal is re-emitted escaped where `regex` needs it.
//! - `\p{^Name}` (negated property), `\Q...\E` (quoted literal) and octal escapes (`\0`,
//!   `\012`) exist only in Go; they become `\P{Name}`, escaped text and `\x{..}`.
//!
//! Everything else (groups, flags, repetitions, Unicode classes, POSIX classes) passes through
//! unchanged. Malformed input is passed on so that `regex` reports the error.
//!
//! Cost: one pass over the pattern at config-load time; never on the data path.

/// Rewrites a Go regular expression into `regex`-crate syntax with the same meaning.
pub(crate) fn translate(go: &str) -> Result<String, String> {
    let s: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len() + 8);
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            '\\' => i = escape_outside(&s, i, &mut out)?,
            '[' => i = class(&s, i, &mut out)?,
            '{' => match repeat_len(&s, i) {
                Some(n) => {
                    out.extend(&s[i..i + n]);
                    i += n;
                }
                None => {
                    out.push_str("\\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// ASCII Perl classes as Go defines them, in bracketed form.
fn perl_class(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => r"[\t\n\x0C\r ]",
        'S' => r"[^\t\n\x0C\r ]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        _ => return None,
    })
}

/// The length of a valid Go repetition `{n}`, `{n,}` or `{n,m}` starting at `i`, if any.
fn repeat_len(s: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let digits = |j: &mut usize| {
        let start = *j;
        while *j < s.len() && s[*j].is_ascii_digit() {
            *j += 1;
        }
        *j > start
    };
    if !digits(&mut j) {
        return None;
    }
    if j < s.len() && s[j] == ',' {
        j += 1;
        digits(&mut j);
    }
    (j < s.len() && s[j] == '}').then_some(j + 1 - i)
}

/// An escape outside a class, at `s[i] == '\\'`. Returns the index after it.
fn escape_outside(s: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let Some(&c) = s.get(i + 1) else {
        return Err("trailing backslash at end of expression".into());
    };
    if let Some(class) = perl_class(c) {
        out.push_str(class);
        return Ok(i + 2);
    }
    match c {
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        'Q' => {
            // Literal text up to `\E` or the end of the pattern.
            let body = i + 2;
            let end = (body..s.len())
                .find(|&k| s[k] == '\\' && s.get(k + 1) == Some(&'E'))
                .unwrap_or(s.len());
            let lit: String = s[body..end].iter().collect();
            out.push_str(&regex::escape(&lit));
            return Ok(if end < s.len() { end + 2 } else { end });
        }
        'p' | 'P' => return unicode_class(s, i, out),
        _ => return escape_char(s, i, out),
    }
    Ok(i + 2)
}

/// `\pX`, `\p{Name}`, `\p{^Name}` (and the `\P` forms) at `s[i] == '\\'`.
fn unicode_class(s: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let mut negated = s[i + 1] == 'P';
    match s.get(i + 2) {
        Some('{') => {
            let close = (i + 3..s.len())
                .find(|&k| s[k] == '}')
                .ok_or("missing closing } in Unicode class")?;
            let mut name = &s[i + 3..close];
            if name.first() == Some(&'^') {
                negated = !negated;
                name = &name[1..];
            }
            out.push_str(if negated { "\\P{" } else { "\\p{" });
            out.extend(name);
            out.push('}');
            Ok(close + 1)
        }
        Some(&c) => {
            out.push_str(if negated { "\\P" } else { "\\p" });
            out.push(c);
            Ok(i + 3)
        }
        None => Err("missing Unicode class name".into()),
    }
}

/// A single-character escape (also used for class members) at `s[i] == '\\'`.
fn escape_char(s: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let Some(&c) = s.get(i + 1) else {
        return Err("trailing backslash at end of expression".into());
    };
    match c {
        '0'..='7' => {
            // Go: `\1`..`\7` alone would be a backreference (unsupported); `\0` and any
            // escape followed by more octal digits is an octal code of up to three digits.
            let is_oct = |k: usize| matches!(s.get(k), Some('0'..='7'));
            if c != '0' && !is_oct(i + 2) {
                return Err(format!(
                    "invalid escape sequence: \\{c} (backreferences are not supported)"
                ));
            }
            let mut j = i + 2;
            while j < i + 4 && is_oct(j) {
                j += 1;
            }
            let code = s[i + 1..j]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + d.to_digit(8).unwrap_or(0));
            out.push_str(&format!("\\x{{{code:X}}}"));
            Ok(j)
        }
        'x' => {
            // `\xHH` or `\x{HHHH}`: copied whole so the braces are not taken for a repetition.
            let end = if s.get(i + 2) == Some(&'{') {
                (i + 3..s.len())
                    .find(|&k| s[k] == '}')
                    .map_or(s.len(), |k| k + 1)
            } else {
                (i + 4).min(s.len())
            };
            out.extend(&s[i..end]);
            Ok(end)
        }
        // Literal in Go, word-boundary assertions in `regex`.
        '<' | '>' => {
            out.push(c);
            Ok(i + 2)
        }
        _ => {
            out.push('\\');
            out.push(c);
            Ok(i + 2)
        }
    }
}

/// A bracketed class at `s[i] == '['`. Returns the index after the closing `]`.
fn class(s: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let missing = || format!("missing closing ]: {}", s[i..].iter().collect::<String>());
    out.push('[');
    let mut j = i + 1;
    if s.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let mut first = true;
    loop {
        let &c = s.get(j).ok_or_else(missing)?;
        if c == ']' && !first {
            out.push(']');
            return Ok(j + 1);
        }
        first = false;
        // POSIX class `[:alpha:]` / `[:^alpha:]`; a `[` without `:...:]` is a literal.
        if c == '['
            && s.get(j + 1) == Some(&':')
            && let Some(end) =
                (j + 2..s.len().saturating_sub(1)).find(|&k| s[k] == ':' && s[k + 1] == ']')
        {
            out.extend(&s[j..end + 2]);
            j = end + 2;
            continue;
        }
        if c == '\\' {
            if let Some(class) = s.get(j + 1).and_then(|&p| perl_class(p)) {
                // Nested classes are a union inside `regex`; positive ones can be inlined.
                out.push_str(if class.starts_with("[^") {
                    class
                } else {
                    &class[1..class.len() - 1]
                });
                j += 2;
                continue;
            }
            if matches!(s.get(j + 1), Some('p' | 'P')) {
                j = unicode_class(s, j, out)?;
                continue;
            }
        }
        j = class_char(s, j, out)?;
        // A range `lo-hi`, unless the `-` is the last member.
        if s.get(j) == Some(&'-') && s.get(j + 1).is_some_and(|&n| n != ']') {
            out.push('-');
            j = class_char(s, j + 1, out)?;
        }
    }
}

/// One class member character (literal or escape) at `j`, re-emitted for `regex`.
fn class_char(s: &[char], j: usize, out: &mut String) -> Result<usize, String> {
    let c = s[j];
    if c == '\\' {
        return escape_char(s, j, out);
    }
    if matches!(c, '[' | ']' | '\\' | '-' | '^' | '&' | '~') {
        out.push('\\');
    }
    out.push(c);
    Ok(j + 1)
}

#[cfg(test)]
mod tests {
    use super::translate;
    use regex::Regex;

    /// Compiles a Go pattern the way relabeling does (anchored) and matches `hay`.
    fn m(go: &str, hay: &str) -> bool {
        let t = translate(go).unwrap_or_else(|e| panic!("translate {go:?}: {e}"));
        Regex::new(&format!("^(?s:{t})$"))
            .unwrap_or_else(|e| panic!("compile {go:?} -> {t:?}: {e}"))
            .is_match(hay)
    }

    #[test]
    fn perl_classes_are_ascii_like_go() {
        assert!(m(r"\d+", "0123456789"));
        assert!(!m(r"\d", "٣")); // ARABIC-INDIC DIGIT THREE: \d in regex, not in Go
        assert!(m(r"\D", "٣"));
        assert!(!m(r"\w+", "héllo"));
        assert!(m(r"\w+", "hello_42"));
        assert!(m(r"\W", "é"));
        assert!(!m(r"\s", "\u{a0}")); // no-break space
        assert!(!m(r"\s", "\u{b}")); // \v is not in Go's \s
        assert!(m(r"\s\S", "\tx"));
        assert!(m(r"[\d\s]+", "1 2"));
        assert!(!m(r"[^\d]", "5"));
        assert!(m(r"[^\D]", "5"));
        assert!(!m(r"[\w]", "é"));
    }

    #[test]
    fn word_boundaries_are_ascii() {
        // Between 'é' and 'x': no boundary in Unicode mode (both word chars), one in ASCII.
        assert!(m(r"é\bx", "éx"));
        assert!(!m(r"a\bb", "ab"));
        assert!(m(r"a\Bb", "ab"));
    }

    #[test]
    fn angle_escapes_are_literals() {
        assert!(m(r"\<x\>", "<x>"));
        assert!(m(r"[\<\>]+", "<>"));
    }

    #[test]
    fn braces_that_are_not_repetitions_are_literal() {
        assert!(m("a{", "a{"));
        assert!(m("x{y}", "x{y}"));
        assert!(m("a{2}", "aa"));
        assert!(m("a{2,}", "aaaa"));
        assert!(m("a{1,2}b", "aab"));
        assert!(!m("a{1,2}b", "aaab"));
        assert!(m("}", "}"));
        assert!(m(r"\x{41}{2}", "AA"));
        assert!(m(r"\x41", "A"));
    }

    #[test]
    fn classes_have_no_set_operators() {
        assert!(m("[a&&b]+", "a&b"));
        assert!(m("[a~~b]+", "~ab"));
        assert!(m("[[]", "["));
        assert!(m("[]a]+", "]a"));
        assert!(m("[^]a]", "b"));
        assert!(m("[a-c-]+", "b-"));
        assert!(m("[!--]", ","));
        assert!(m("[[:alpha:]]+", "abc"));
        assert!(m("[[:^digit:]]", "x"));
        assert!(m("[^^]", "a"));
        assert!(!m("[^^]", "^"));
    }

    #[test]
    fn go_only_escapes() {
        assert!(m(r"\p{^Greek}", "a"));
        assert!(!m(r"\p{^Greek}", "α"));
        assert!(m(r"\P{^Greek}", "α"));
        assert!(m(r"\pL\p{Lu}", "aB"));
        assert!(m(r"\Q.*+\E+", ".*++"));
        assert!(m(r"a\Q{(", "a{("));
        assert!(m(r"\0", "\0"));
        assert!(m(r"\101\12", "A\n"));
        assert!(translate(r"\1").is_err());
        assert!(translate("[a").is_err());
        assert!(translate("a\\").is_err());
    }

    #[test]
    fn ordinary_syntax_passes_through() {
        for p in [
            "(.*)",
            "(?i)foo|bar",
            "(?P<name>[^:]+):(?<port>\\d+)",
            "^a.b$",
            "(?s:x)",
            "a*?b+?c??",
        ] {
            let t = translate(p).expect("translate");
            Regex::new(&t).expect("compiles");
        }
        assert!(m("(?i)FOO", "foo"));
        assert!(m(r"\.\*\$\^", ".*$^"));
    }
}
