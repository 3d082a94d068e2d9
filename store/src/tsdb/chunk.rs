//! Compressed sample chunks: delta-of-delta timestamps and XOR-compressed float values.
//!
//! The byte format is specified in `store/docs/chunk-format.md`. In short: a 2-byte big-endian
//! sample count, then a bit stream; the first timestamp is a zig-zag varint, the second a
//! varint delta, later ones a prefix-coded delta-of-delta; the first value is 64 raw bits,
//! later ones the XOR with the previous value coded by its meaningful-bit window.
//!
//! Invariants: timestamps inside a chunk strictly increase (the encoder refuses anything
//! else with [`Error::OutOfOrder`]); values round-trip bit-exactly, including every NaN
//! payload (so the staleness marker survives), ±Inf and -0.0. A [`Chunk`] is immutable; only
//! a [`ChunkEncoder`] grows. Decoding never panics on corrupt bytes: the iterator stops and
//! reports the corruption through [`ChunkIter::is_corrupt`].
//!
//! Cost: encoding is O(1) per sample with no allocation except occasional buffer growth;
//! regular scrapes cost about 1-3 bytes per sample. Decoding is sequential (no random
//! access inside a chunk), a few shifts per sample.

use super::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};

/// Byte length of the header (the sample count).
pub const HEADER_LEN: usize = 2;

/// "No meaningful-bit window yet" marker for `leading`.
const NO_WINDOW: u8 = u8::MAX;

/// Delta-of-delta buckets after the prefix: (prefix, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 7), (0b110, 3, 14), (0b1110, 4, 20)];

/// An immutable, complete chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    min_t: i64,
    max_t: i64,
    data: Box<[u8]>,
}

impl Chunk {
    /// Validates encoded bytes (decoding them fully) and returns the chunk.
    pub fn from_bytes(data: Box<[u8]>) -> Result<Chunk> {
        let mut it = ChunkIter::new(&data);
        let mut bounds: Option<(i64, i64)> = None;
        let mut last: Option<i64> = None;
        for (t, _) in it.by_ref() {
            if last.is_some_and(|l| t <= l) {
                return Err(corrupt("timestamps do not increase"));
            }
            last = Some(t);
            bounds = Some(bounds.map_or((t, t), |(lo, _)| (lo, t)));
        }
        if it.is_corrupt() {
            return Err(corrupt("bit stream ends before the sample count"));
        }
        let (min_t, max_t) = bounds.ok_or_else(|| corrupt("empty chunk"))?;
        Ok(Chunk { min_t, max_t, data })
    }

    /// Encodes sorted samples into one chunk (used for out-of-order overflow chunks).
    pub fn encode(samples: &[(i64, f64)]) -> Result<Chunk> {
        let mut enc = ChunkEncoder::new();
        for &(t, v) in samples {
            enc.append(t, v)?;
        }
        enc.finish().ok_or_else(|| corrupt("empty chunk"))
    }

    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    pub fn max_time(&self) -> i64 {
        self.max_t
    }

    pub fn num_samples(&self) -> usize {
        sample_count(&self.data)
    }

    /// The encoded bytes (header included), as they would be written to disk.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(&self.data)
    }

    /// True when the chunk may hold samples in `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_t <= maxt && self.max_t >= mint
    }
}

fn corrupt(reason: &str) -> Error {
    Error::CorruptChunk {
        reason: reason.to_owned(),
    }
}

fn sample_count(data: &[u8]) -> usize {
    match data {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => 0,
    }
}

/// The open chunk of a series: appends samples in increasing time order.
#[derive(Debug, Clone)]
pub struct ChunkEncoder {
    w: BitWriter,
    count: u16,
    min_t: i64,
    t: i64,
    delta: u64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An encoder whose buffer starts with room for `bytes` bytes (at least 32).
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            w: BitWriter::with_header(&[0; HEADER_LEN], bytes.max(32)),
            count: 0,
            min_t: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.count)
    }

    /// Time of the first sample (meaningless when empty).
    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    /// Time of the last sample (meaningless when empty).
    pub fn max_time(&self) -> i64 {
        self.t
    }

    /// Bits of the last value appended (meaningless when empty).
    pub fn last_value_bits(&self) -> u64 {
        self.v
    }

    /// Bytes allocated by the encoder's buffer.
    pub fn capacity(&self) -> usize {
        self.w.capacity()
    }

    /// True when the chunk may hold samples in `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.count > 0 && self.min_t <= maxt && self.t >= mint
    }

    /// The bytes encoded so far; a valid chunk at every point.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(self.w.bytes())
    }

    /// Appends a sample; `t` must be greater than the last appended time.
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                if t <= self.t {
                    return Err(Error::OutOfOrder);
                }
                // t > self.t, so the difference fits in u64 even across the whole i64 range.
                let delta = t.wrapping_sub(self.t) as u64;
                self.w.write_uvarint(delta);
                self.write_value(bits);
                self.delta = delta;
            }
            u16::MAX => return Err(Error::ChunkFull),
            _ => {
                if t <= self.t {
                    return Err(Error::OutOfOrder);
                }
                let delta = t.wrapping_sub(self.t) as u64;
                // Wrapping arithmetic is exact modulo 2^64, which the decoder mirrors.
                let dod = delta.wrapping_sub(self.delta) as i64;
                self.write_dod(dod);
                self.write_value(bits);
                self.delta = delta;
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
        let [hi, lo] = self.count.to_be_bytes();
        let header = self.w.bytes_mut();
        header[0] = hi;
        header[1] = lo;
        Ok(())
    }

    #[inline]
    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.w.write_bit(false);
            return;
        }
        for (prefix, plen, nbits) in DOD_BUCKETS {
            let lo = -(1i64 << (nbits - 1));
            let hi = (1i64 << (nbits - 1)) - 1;
            if (lo..=hi).contains(&dod) {
                self.w.write_bits(prefix, plen);
                self.w.write_bits(dod as u64 & ((1u64 << nbits) - 1), nbits);
                return;
            }
        }
        self.w.write_bits(0b1111, 4);
        self.w.write_bits(dod as u64, 64);
    }

    #[inline]
    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.v;
        if xor == 0 {
            self.w.write_bit(false);
            return;
        }
        // Capped so it fits the 5-bit field; the cap only costs a few extra zero bits.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.write_bits(0b10, 2);
            self.w.write_bits(xor >> self.trailing, sig);
        } else {
            let sig = 64 - u32::from(leading) - u32::from(trailing);
            self.w.write_bits(0b11, 2);
            self.w.write_bits(u64::from(leading), 5);
            self.w.write_bits(u64::from(sig - 1), 6);
            self.w.write_bits(xor >> trailing, sig);
            self.leading = leading;
            self.trailing = trailing;
        }
    }

    /// Closes the chunk, returning it without spare capacity (`None` when empty).
    pub fn finish(self) -> Option<Chunk> {
        (self.count > 0).then(|| Chunk {
            min_t: self.min_t,
            max_t: self.t,
            data: self.w.into_boxed(),
        })
    }
}

/// Decodes a chunk's samples in order.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    r: BitReader<'a>,
    total: usize,
    read: usize,
    t: i64,
    delta: u64,
    v: u64,
    leading: u8,
    trailing: u8,
    corrupt: bool,
}

impl<'a> ChunkIter<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let corrupt = data.len() < HEADER_LEN;
        Self {
            r: BitReader::new(data, HEADER_LEN),
            total: sample_count(data),
            read: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: NO_WINDOW,
            trailing: 0,
            corrupt,
        }
    }

    /// True once decoding stopped early because the bytes were malformed.
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    #[inline]
    fn decode(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = self.r.read_bits(64)?;
            }
            1 => {
                self.delta = self.r.read_uvarint()?;
                self.t = self.t.wrapping_add(self.delta as i64);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.delta = self.delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.delta as i64);
                self.read_value()?;
            }
        }
        Some((self.t, f64::from_bits(self.v)))
    }

    #[inline]
    fn read_dod(&mut self) -> Option<i64> {
        if !self.r.read_bit()? {
            return Some(0);
        }
        // Each bucket's prefix is ones then a zero; the first `1` was read above.
        for (_, _, nbits) in DOD_BUCKETS {
            if !self.r.read_bit()? {
                let raw = self.r.read_bits(nbits)?;
                // Sign-extend the `nbits`-bit two's complement payload.
                let shift = 64 - nbits;
                return Some(((raw << shift) as i64) >> shift);
            }
        }
        Some(self.r.read_bits(64)? as i64)
    }

    #[inline]
    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if !self.r.read_bit()? {
            if self.leading == NO_WINDOW {
                return None;
            }
        } else {
            let leading = self.r.read_bits(5)? as u8;
            let sig = self.r.read_bits(6)? as u8 + 1;
            if u32::from(leading) + u32::from(sig) > 64 {
                return None;
            }
            self.leading = leading;
            self.trailing = 64 - leading - sig;
        }
        let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let xor = self.r.read_bits(sig)? << self.trailing;
        self.v ^= xor;
        Some(())
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        if self.read >= self.total || self.corrupt {
            return None;
        }
        match self.decode() {
            Some(s) => {
                self.read += 1;
                Some(s)
            }
            None => {
                self.corrupt = true;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.corrupt {
            0
        } else {
            self.total - self.read
        };
        (0, Some(left))
    }
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
