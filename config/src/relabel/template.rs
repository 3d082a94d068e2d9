//! Replacement templates (`replacement`, a `replace` rule's `target_label`) with the exact
//! reference rules of Go's `regexp.Expand`, which Prometheus uses.
//!
//! Rules (they differ from the `regex` crate's `expand`):
//! - `$$` is a literal `$`.
//! - `$name` takes the longest run of Unicode letters, decimal digits and `_` as the name, so
//!   `$1x` refers to a group named `1x` (which does not exist: it expands to nothing); write
//!   `${1}x` for group 1 followed by `x`.
//! - `${name}` is braced; a missing `}` makes the `$` literal.
//! - A name made only of ASCII digits is a group number, unless it has a leading zero (`$01`
//!   is the name `01`, not group 1).
//! - A reference to a group that does not exist, or did not take part in the match, expands
//!   to the empty string; a `$` not followed by a valid reference is kept as a literal `$`.
//!
//! A template is parsed once against its regex, references resolved to group indices, so
//! expansion is a loop over pieces with no lookups. Expanding allocates nothing beyond the
//! caller's output buffer.

use std::sync::LazyLock;

use regex::{CaptureLocations, Regex};

/// A parsed template, resolved against one regex's capture groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// The whole expansion when the template refers to no existing group.
    literal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Group(usize),
}

/// Characters Go accepts in a reference name: Unicode letters, decimal digits and `_`.
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^[\p{L}\p{Nd}_]+").expect("static regex compiles")
});

impl Template {
    /// Parses `src` and resolves its references against `re`'s groups.
    pub fn parse(src: &str, re: &Regex) -> Template {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            rest = &rest[pos + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                lit.push('$');
                rest = after;
                continue;
            }
            let Some((name, after)) = reference(rest) else {
                // Malformed: the `$` is literal text.
                lit.push('$');
                continue;
            };
            rest = after;
            if let Some(idx) = group_index(name, re) {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Group(idx));
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        let literal = if pieces.iter().all(|p| matches!(p, Piece::Lit(_))) {
            Some(
                pieces
                    .iter()
                    .filter_map(|p| match p {
                        Piece::Lit(s) => Some(s.as_str()),
                        Piece::Group(_) => None,
                    })
                    .collect(),
            )
        } else {
            None
        };
        Template { pieces, literal }
    }

    /// The expansion if it does not depend on the match (no reference to an existing group).
    pub fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// Appends the expansion for a match of the template's regex on `hay` to `out`.
    pub fn expand_into(&self, hay: &str, locs: &CaptureLocations, out: &mut String) {
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Group(i) => {
                    if let Some((start, end)) = locs.get(*i) {
                        out.push_str(&hay[start..end]);
                    }
                }
            }
        }
    }
}

/// Splits a reference (`name` or `{name}`) off the front of `s`, which follows a `$`.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len = NAME.find(body)?.end();
    let (name, after) = body.split_at(len);
    if braced {
        return after.strip_prefix('}').map(|a| (name, a));
    }
    Some((name, after))
}

/// The group a reference names: a number (no leading zero) or a group name.
fn group_index(name: &str, re: &Regex) -> Option<usize> {
    let numeric =
        name.bytes().all(|b| b.is_ascii_digit()) && (name == "0" || !name.starts_with('0'));
    if numeric {
        return name
            .parse::<usize>()
            .ok()
            .filter(|&n| n < re.captures_len());
    }
    re.capture_names().position(|n| n == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(re: &str, tpl: &str, hay: &str) -> String {
        let re = Regex::new(&format!("^(?s:{re})$")).expect("regex");
        let t = Template::parse(tpl, &re);
        let mut locs = re.capture_locations();
        assert!(re.captures_read(&mut locs, hay).is_some(), "no match");
        let mut out = String::new();
        t.expand_into(hay, &locs, &mut out);
        out
    }

    #[test]
    fn numbered_and_braced() {
        assert_eq!(expand("(a)(b)", "$2$1", "ab"), "ba");
        assert_eq!(expand("(a)(b)", "${1}x${2}", "ab"), "axb");
        assert_eq!(expand("(a)", "$0", "a"), "a");
    }

    #[test]
    fn go_takes_the_longest_name() {
        // `$1x` is the (missing) group `1x`, not group 1 followed by `x`.
        assert_eq!(expand("(a)", "$1x", "a"), "");
        assert_eq!(expand("(a)", "$1_", "a"), "");
        assert_eq!(expand("(a)", "$1-x", "a"), "a-x");
        assert_eq!(expand("(a)", "$1é", "a"), ""); // letters are Unicode letters in Go
    }

    #[test]
    fn named_groups() {
        assert_eq!(
            expand("(?P<host>[^:]+):(?<port>.*)", "$port/${host}", "h:80"),
            "80/h"
        );
        assert_eq!(expand("(?P<x>a)", "$x_y", "a"), "");
        assert_eq!(expand("(?P<x>a)", "${x}_y", "a"), "a_y");
    }

    #[test]
    fn dollar_literals_and_malformed_references() {
        assert_eq!(expand("(a)", "$$1", "a"), "$1");
        assert_eq!(expand("(a)", "$", "a"), "$");
        assert_eq!(expand("(a)", "x$-", "a"), "x$-");
        assert_eq!(expand("(a)", "${1", "a"), "${1");
        assert_eq!(expand("(a)", "${}", "a"), "${}");
    }

    #[test]
    fn missing_or_unmatched_groups_are_empty() {
        assert_eq!(expand("(a)", "[$2]", "a"), "[]");
        assert_eq!(expand("(a)|(b)", "[$1|$2]", "b"), "[|b]");
        assert_eq!(expand("(a)", "[$01]", "a"), "[]"); // leading zero: a name, not group 1
        assert_eq!(expand("(a)", "[$nope]", "a"), "[]");
        assert_eq!(expand("(a)", "[$99999999999999999999999]", "a"), "[]");
    }

    #[test]
    fn literal_when_no_group_is_referenced() {
        let re = Regex::new("^(?s:(a))$").expect("regex");
        assert_eq!(Template::parse("x$$y", &re).literal(), Some("x$y"));
        assert_eq!(Template::parse("x$5", &re).literal(), Some("x"));
        assert_eq!(Template::parse("x$1", &re).literal(), None);
    }
}
