//! Bit-level writer and reader for the chunk encodings.
//!
//! Bits are packed most-significant first: the first bit written is bit 7 of the first byte.
//! The writer appends to a `Vec<u8>` that may start with a fixed byte header (the chunk's
//! sample count); the reader starts at a given byte offset.
//!
//! Invariants: a writer never leaves unused bits anywhere but at the end of its last byte
//! (those are zero). A reader never reads past its slice: every read returns `None` once the
//! data is exhausted instead of panicking, so corrupt input is an error, not a crash.
//!
//! Cost: writing is one or two byte operations per call for short codes; the writer grows
//! its buffer in small steps (not doubling) because a head holds one open buffer per series
//! and spare capacity there is the largest avoidable memory cost. Reading keeps a 64-bit
//! window so most reads are a shift and a mask.

/// Appends bits to a byte vector.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// Unused (zero) low bits in the last byte of `buf`; 0 when a new byte is needed.
    free: u32,
}

/// Minimum growth step of the buffer in bytes.
const GROW_MIN: usize = 16;

impl BitWriter {
    /// A writer whose output starts with `header` (written as whole bytes).
    pub fn with_header(header: &[u8], capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(header.len()));
        buf.extend_from_slice(header);
        Self { buf, free: 0 }
    }

    /// Bytes written so far (the last one may be partly filled).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Mutable access to the whole bytes written so far, for patching a header in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Number of bits written after the start of the buffer (header included).
    pub fn bit_len(&self) -> usize {
        self.buf.len() * 8 - self.free as usize
    }

    /// Bytes allocated for the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The finished bytes, with no spare capacity.
    pub fn into_boxed(self) -> Box<[u8]> {
        self.buf.into_boxed_slice()
    }

    /// Makes room for `extra` more bytes, growing by an eighth (at least GROW_MIN bytes)
    /// instead of doubling.
    #[inline]
    fn reserve(&mut self, extra: usize) {
        let spare = self.buf.capacity() - self.buf.len();
        if spare < extra {
            let step = (self.buf.len() / 8).max(GROW_MIN).max(extra - spare);
            self.buf.reserve_exact(step);
        }
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.reserve(1);
            self.buf.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if bit && let Some(last) = self.buf.last_mut() {
            *last |= 1 << self.free;
        }
    }

    /// Writes the low `n` bits of `v` (`n <= 64`), most significant first.
    #[inline]
    pub fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        // Keep only the low n bits (two shifts so that n == 64 does not overflow).
        let mut v = (v << (64 - n)) >> (64 - n);
        let mut n = n;
        if self.free > 0 {
            // Fill the partly used last byte first.
            let take = n.min(self.free);
            let chunk = (v >> (n - take)) as u8;
            self.free -= take;
            n -= take;
            if let Some(last) = self.buf.last_mut() {
                *last |= chunk << self.free;
            }
            if n == 0 {
                return;
            }
            v = (v << (64 - n)) >> (64 - n);
        }
        // Byte aligned now: append the remaining n bits as whole bytes, left-aligned.
        let bytes = (v << (64 - n)).to_be_bytes();
        let k = n.div_ceil(8) as usize;
        self.reserve(k);
        self.buf.extend_from_slice(&bytes[..k]);
        self.free = (k as u32) * 8 - n;
    }

    /// Writes an unsigned LEB-style varint as groups of 8 bits (continuation bit + 7 bits).
    pub fn write_uvarint(&mut self, mut v: u64) {
        loop {
            let low = v & 0x7f;
            v >>= 7;
            if v == 0 {
                self.write_bits(low, 8);
                return;
            }
            self.write_bits(0x80 | low, 8);
        }
    }

    /// Writes a signed varint (zig-zag mapped).
    pub fn write_varint(&mut self, v: i64) {
        self.write_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Reads bits from a byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` not yet loaded into `window`.
    next: usize,
    /// Loaded bits, left-aligned (the next bit to read is bit 63).
    window: u64,
    /// Number of valid bits in `window`.
    avail: u32,
}

impl<'a> BitReader<'a> {
    /// A reader over `data` starting at byte `start` (past the end means "empty").
    pub fn new(data: &'a [u8], start: usize) -> Self {
        Self {
            data,
            next: start.min(data.len()),
            window: 0,
            avail: 0,
        }
    }

    #[inline]
    fn refill(&mut self) {
        if self.avail > 56 {
            return;
        }
        if let Some(bytes) = self.data.get(self.next..self.next + 8) {
            // Fast path: take as many whole bytes of the next 8 as fit into the window.
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            let word = u64::from_be_bytes(word);
            let take = (64 - self.avail) / 8;
            let spare = 64 - self.avail - take * 8;
            let fresh = ((word >> self.avail) >> spare) << spare;
            self.window |= fresh;
            self.avail += take * 8;
            self.next += take as usize;
            return;
        }
        while self.avail <= 56 {
            let Some(&b) = self.data.get(self.next) else {
                return;
            };
            self.window |= u64::from(b) << (56 - self.avail);
            self.avail += 8;
            self.next += 1;
        }
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        if self.avail == 0 {
            self.refill();
            if self.avail == 0 {
                return None;
            }
        }
        let bit = self.window >> 63 == 1;
        self.window <<= 1;
        self.avail -= 1;
        Some(bit)
    }

    /// Reads `n` bits (`n <= 64`) as the low bits of the result.
    #[inline]
    pub fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        if n > 56 {
            return self.read_wide(n);
        }
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return None;
            }
        }
        // Two shifts so that n == 0 yields 0 instead of shifting by 64.
        let v = (self.window >> 1) >> (63 - n);
        self.window <<= n;
        self.avail -= n;
        Some(v)
    }

    /// Reads 57..=64 bits in two parts (the window cannot always hold them at once).
    #[cold]
    fn read_wide(&mut self, n: u32) -> Option<u64> {
        let hi = self.read_bits(n - 32)?;
        let lo = self.read_bits(32)?;
        Some((hi << 32) | lo)
    }

    /// Reads an unsigned varint written by [`BitWriter::write_uvarint`].
    pub fn read_uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let group = self.read_bits(8)?;
            if shift >= 64 {
                return None;
            }
            v |= (group & 0x7f) << shift;
            if group & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
        }
    }

    /// Reads a signed varint written by [`BitWriter::write_varint`].
    pub fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn msb_first_packing_and_header() {
        let mut w = BitWriter::with_header(&[0xAB], 4);
        w.write_bit(true);
        w.write_bits(0b01, 2);
        w.write_bits(0x1F, 5);
        w.write_bit(true);
        assert_eq!(w.bytes(), &[0xAB, 0b1011_1111, 0b1000_0000]);
        assert_eq!(w.bit_len(), 8 + 9);
        let mut r = BitReader::new(w.bytes(), 1);
        assert_eq!(r.read_bit(), Some(true));
        assert_eq!(r.read_bits(2), Some(0b01));
        assert_eq!(r.read_bits(5), Some(0x1F));
        assert_eq!(r.read_bit(), Some(true));
        // Padding bits read as zero, then the data ends.
        assert_eq!(r.read_bits(7), Some(0));
        assert_eq!(r.read_bit(), None);
    }

    #[test]
    fn reader_stops_at_end_without_panicking() {
        let data = [0xFFu8; 3];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.read_bits(20), Some(0xFFFFF));
        assert_eq!(r.read_bits(5), None);
        assert_eq!(BitReader::new(&data, 10).read_bit(), None);
        let mut r = BitReader::new(&[0x80; 12], 0);
        // Unterminated varint longer than 64 bits of payload.
        assert_eq!(r.read_uvarint(), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Bit(bool),
        Bits(u64, u32),
        UVar(u64),
        Var(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<bool>().prop_map(Op::Bit),
            (any::<u64>(), 0u32..=64).prop_map(|(v, n)| {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                Op::Bits(v & mask, n)
            }),
            any::<u64>().prop_map(Op::UVar),
            any::<i64>().prop_map(Op::Var),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(ops in proptest::collection::vec(op(), 0..200)) {
            let mut w = BitWriter::with_header(&[1, 2], 0);
            for o in &ops {
                match *o {
                    Op::Bit(b) => w.write_bit(b),
                    Op::Bits(v, n) => w.write_bits(v, n),
                    Op::UVar(v) => w.write_uvarint(v),
                    Op::Var(v) => w.write_varint(v),
                }
            }
            prop_assert_eq!(&w.bytes()[..2], &[1, 2]);
            let mut r = BitReader::new(w.bytes(), 2);
            for o in &ops {
                match *o {
                    Op::Bit(b) => prop_assert_eq!(r.read_bit(), Some(b)),
                    Op::Bits(v, n) => prop_assert_eq!(r.read_bits(n), Some(v)),
                    Op::UVar(v) => prop_assert_eq!(r.read_uvarint(), Some(v)),
                    Op::Var(v) => prop_assert_eq!(r.read_varint(), Some(v)),
                }
            }
            // Whatever is left is zero padding inside the last byte.
            let rest = (w.bytes().len() * 8 - w.bit_len()) as u32;
            prop_assert!(rest < 8);
            prop_assert_eq!(r.read_bits(rest), Some(0));
            prop_assert_eq!(r.read_bit(), None);
        }
    }
}
