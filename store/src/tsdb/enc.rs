//! Byte-level helpers shared by the on-disk formats (block files, WAL records, the head's
//! label encoding): varints, fixed-width integers, length-prefixed strings, and a
//! bounds-checked reader over a borrowed (memory-mapped or read) slice.
//!
//! Invariants: every read is bounds-checked and returns `None` on malformed input, so a
//! damaged file yields an error at the caller, never a panic or an out-of-bounds access.
//!
//! Cost: a few shifts per integer; no allocation (strings are borrowed from the slice).

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Appends `v` zig-zag encoded as a varint.
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed UTF-8 string.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over a byte slice that refuses to read past its end.
#[derive(Debug, Clone)]
pub struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }

    /// A cursor starting at `pos` (which may be past the end: every read then fails).
    pub fn at(b: &'a [u8], pos: usize) -> Self {
        Self { b, pos }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub fn done(&self) -> bool {
        self.pos == self.b.len()
    }

    pub fn u8(&mut self) -> Option<u8> {
        let x = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(x)
    }

    pub fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return None;
            }
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A varint that must fit a `usize` (lengths, counts).
    pub fn length(&mut self) -> Option<usize> {
        usize::try_from(self.uvarint()?).ok()
    }

    /// A length no larger than the bytes left (so a corrupt length cannot make the caller
    /// allocate for elements that are not there).
    pub fn bounded_length(&mut self) -> Option<usize> {
        let n = self.length()?;
        (n <= self.b.len().saturating_sub(self.pos)).then_some(n)
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub fn str(&mut self) -> Option<&'a str> {
        let n = self.length()?;
        std::str::from_utf8(self.bytes(n)?).ok()
    }

    pub fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Option<u64> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Some(hi << 32 | lo)
    }

    /// A little-endian `f64` (the WAL's sample values).
    pub fn f64_le(&mut self) -> Option<f64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(f64::from_bits(u64::from_le_bytes(a)))
    }
}

/// Reads a big-endian `u32` at `pos` of `b`.
pub fn u32_at(b: &[u8], pos: usize) -> Option<u32> {
    Dec::at(b, pos).u32()
}

/// Reads a big-endian `u64` at `pos` of `b`.
pub fn u64_at(b: &[u8], pos: usize) -> Option<u64> {
    Dec::at(b, pos).u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn integers_and_strings_round_trip(u in any::<u64>(), i in any::<i64>(), s in "\\PC{0,40}") {
            let mut b = Vec::new();
            put_uvarint(&mut b, u);
            put_varint(&mut b, i);
            put_str(&mut b, &s);
            b.extend_from_slice(&(u as u32).to_be_bytes());
            b.extend_from_slice(&u.to_be_bytes());
            let mut d = Dec::new(&b);
            prop_assert_eq!(d.uvarint(), Some(u));
            prop_assert_eq!(d.varint(), Some(i));
            prop_assert_eq!(d.str(), Some(s.as_str()));
            prop_assert_eq!(d.u32(), Some(u as u32));
            prop_assert_eq!(d.u64(), Some(u));
            prop_assert_eq!(d.pos(), b.len());
            prop_assert_eq!(d.uvarint(), None);
        }

        #[test]
        fn truncated_input_never_panics(b in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut d = Dec::new(&b);
            let _ = d.str();
            let _ = d.varint();
            let _ = d.u64();
        }
    }

    #[test]
    fn overlong_varint_is_refused() {
        let b = [0xff; 11];
        assert_eq!(Dec::new(&b).uvarint(), None);
        let mut ten = vec![0xff; 9];
        ten.push(0x02);
        assert_eq!(Dec::new(&ten).uvarint(), None);
    }
}
