//! The tokenizer of log lines, shared by indexing and by line-filter pushdown.
//!
//! A token is a maximal run of "word bytes": ASCII letters, digits, `_`, and every byte of a
//! non-ASCII character (so multi-byte UTF-8 stays inside tokens and offsets stay on char
//! boundaries). Tokens are case-sensitive (LogQL's `|=` is) and cut to [`MAX_TOKEN_BYTES`]
//! (at a char boundary, see [`truncate_token`]), never dropped: every token of a line has a
//! term in the index, which is what makes pushdown a safe superset.
//!
//! Cost: one pass over the line, one `String` reused across tokens.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the tokenizer is registered under on each partition's index.
pub const TOKENIZER_NAME: &str = "lookout_log";

/// Longest indexed term; longer tokens are indexed by their prefix.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Whether `b` belongs inside a token.
#[inline]
pub fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The indexed form of a token: its longest prefix of at most [`MAX_TOKEN_BYTES`] bytes that
/// ends on a char boundary.
pub fn truncate_token(t: &str) -> &str {
    if t.len() <= MAX_TOKEN_BYTES {
        return t;
    }
    let mut end = MAX_TOKEN_BYTES;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    &t[..end]
}

/// Whether an indexed term may be the cut form of a longer token.
pub fn may_be_truncated(term: &str) -> bool {
    term.len() + 3 >= MAX_TOKEN_BYTES
}

/// Byte ranges of the tokens of `text`.
pub fn token_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && !is_word_byte(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let s = i;
        while i < b.len() && is_word_byte(b[i]) {
            i += 1;
        }
        Some((s, i))
    })
}

/// The tantivy tokenizer.
#[derive(Clone, Default)]
pub struct LogTokenizer {
    token: Token,
}

pub struct LogTokenStream<'a> {
    text: &'a str,
    pos: usize,
    token: &'a mut Token,
}

impl Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        self.token.reset();
        LogTokenStream {
            text,
            pos: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for LogTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let b = self.text.as_bytes();
        let mut i = self.pos;
        while i < b.len() && !is_word_byte(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            self.pos = i;
            return false;
        }
        let s = i;
        while i < b.len() && is_word_byte(b[i]) {
            i += 1;
        }
        self.pos = i;
        // Word bytes include every non-ASCII byte, so `s` and `i` are char boundaries.
        let t = truncate_token(&self.text[s..i]);
        self.token.text.clear();
        self.token.text.push_str(t);
        self.token.offset_from = s;
        self.token.offset_to = i;
        self.token.position = self.token.position.wrapping_add(1);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        let mut t = LogTokenizer::default();
        let mut st = t.token_stream(s);
        let mut out = Vec::new();
        while st.advance() {
            out.push(st.token().text.clone());
        }
        out
    }

    #[test]
    fn splits_on_punctuation_and_keeps_case() {
        assert_eq!(
            toks("GET /api/v1?x=Ab_9 héllo-wörld"),
            ["GET", "api", "v1", "x", "Ab_9", "héllo", "wörld"]
        );
        assert!(toks("  ..;; ").is_empty());
    }

    #[test]
    fn positions_are_consecutive() {
        let mut t = LogTokenizer::default();
        let mut st = t.token_stream("a b c");
        let mut pos = Vec::new();
        while st.advance() {
            pos.push(st.token().position);
        }
        assert_eq!(pos, [0, 1, 2]);
    }

    #[test]
    fn long_tokens_are_cut_on_char_boundary() {
        let long = "é".repeat(40); // 80 bytes
        let t = toks(&long);
        assert_eq!(t.len(), 1);
        assert!(t[0].len() <= MAX_TOKEN_BYTES && t[0].len() >= MAX_TOKEN_BYTES - 3);
        assert!(long.starts_with(&t[0]));
        assert!(may_be_truncated(&t[0]));
        assert_eq!(truncate_token("short"), "short");
    }

    #[test]
    fn spans_match_stream() {
        let s = "x=1, y=22";
        let spans: Vec<_> = token_spans(s).map(|(a, b)| &s[a..b]).collect();
        assert_eq!(spans, toks(s));
    }
}
