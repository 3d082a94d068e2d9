//! Case mapping with the results of Go's `strings.ToLower` / `strings.ToUpper`, which the
//! `lowercase` and `uppercase` actions use.
//!
//! Go maps each character on its own with Unicode's *simple* case mapping (one character to
//! one character). Rust's `str::to_lowercase`/`to_uppercase` use the *full* mapping, which can
//! produce several characters (`ß` → `SS`, `İ` → `i̇`) and treats a final `Σ` specially. Where
//! Rust's per-character mapping yields one character it equals the simple mapping; the few
//! characters whose full mapping is longer are listed here with their simple mapping (taken
//! from UnicodeData.txt): only `İ` lowercases, only the Greek letters with ypogegrammeni
//! uppercase (to the matching prosgegrammeni letter), all others stay unchanged.
//!
//! Cost: one pass; ASCII input takes the byte fast path.

/// `strings.ToLower`.
pub fn go_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(lower_char).collect()
}

/// `strings.ToUpper`.
pub fn go_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(upper_char).collect()
}

fn lower_char(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        // U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE: simple lowercase is plain `i`.
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

fn upper_char(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => {
            let cp = c as u32;
            let simple = match cp {
                // Small alpha/eta/omega (with breathings) with ypogegrammeni → prosgegrammeni.
                0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => cp + 8,
                0x1FB3 | 0x1FC3 | 0x1FF3 => cp + 9,
                _ => cp,
            };
            char::from_u32(simple).unwrap_or(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii() {
        assert_eq!(go_lower("bAr123Foo"), "bar123foo");
        assert_eq!(go_upper("bAr123Foo"), "BAR123FOO");
    }

    #[test]
    fn simple_mapping_not_full() {
        assert_eq!(go_upper("straße"), "STRAßE");
        assert_eq!(go_upper("ﬁ"), "ﬁ");
        assert_eq!(go_lower("İ"), "i");
        assert_eq!(go_upper("ᾳ"), "ᾼ");
        assert_eq!(go_upper("ᾀ"), "ᾈ");
        assert_eq!(go_upper("ᾲ"), "ᾲ");
        // No final-sigma rule: every Σ becomes σ.
        assert_eq!(go_lower("ΟΔΟΣ"), "οδοσ");
        assert_eq!(go_upper("éa"), "ÉA");
        assert_eq!(go_lower("ÀK"), "àk"); // Kelvin sign lowercases to ASCII k
    }
}
