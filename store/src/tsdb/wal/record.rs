//! WAL record bodies and framing: how series, samples, checkpoint chunks and checkpoint
//! metadata become bytes, and how those bytes come back.
//!
//! A framed record is `len: u32 LE | crc32c: u32 LE | type: u8 | body[len]`, the checksum
//! covering the type byte and the body (see `store/docs/wal-format.md`). Bodies use LEB128
//! varints (zig-zag for signed values); sample values are the raw 8 IEEE-754 bytes so every
//! NaN payload (the staleness marker) survives.
//!
//! Invariants: decoding never panics and never trusts a length without checking it against
//! the bytes at hand; a body that does not decode completely is reported as corrupt.
//!
//! Cost: encoding appends to a caller-owned buffer (no allocation once it has grown);
//! decoding of samples is a varint or two plus an 8-byte load per sample.

use crate::SeriesRef;
use crate::tsdb::enc::{Dec, put_str, put_uvarint, put_varint};

/// Bytes of the frame header before the body.
pub const FRAME_HEADER: usize = 9;

/// Record type tags (the byte after the checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Series definitions: `(ref, labels)`.
    Series = 1,
    /// One commit's samples, with the out-of-order bound in force at that commit.
    Samples = 2,
    /// Checkpoint only: compressed chunks of series samples.
    Chunks = 3,
    /// Checkpoint only: head-wide state (truncation point, next series ref).
    Meta = 4,
}

impl RecordType {
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Series,
            2 => Self::Samples,
            3 => Self::Chunks,
            4 => Self::Meta,
            _ => return None,
        })
    }
}

/// Starts a framed record of type `ty` at the end of `out`; returns the frame's offset for
/// [`finish_frame`].
pub fn begin_frame(out: &mut Vec<u8>, ty: RecordType) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(ty as u8);
    at
}

/// Fills in the length and checksum of the frame started at `at`.
pub fn finish_frame(out: &mut [u8], at: usize) {
    let body_len = (out.len() - at - FRAME_HEADER) as u32;
    let crc = crc32c::crc32c(&out[at + 8..]);
    out[at..at + 4].copy_from_slice(&body_len.to_le_bytes());
    out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Parses a frame header: `(body length, checksum, type byte)`.
pub fn parse_header(h: &[u8; FRAME_HEADER]) -> (u32, u32, u8) {
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    (len, crc, h[8])
}

/// The checksum a frame with this type byte and body must carry.
pub fn checksum(ty: u8, body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&[ty]), body)
}

/// Appends one series entry (inside a [`RecordType::Series`] body).
pub fn put_series<'a>(
    out: &mut Vec<u8>,
    r: SeriesRef,
    labels: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) {
    put_uvarint(out, r);
    put_uvarint(out, labels.clone().count() as u64);
    for (n, v) in labels {
        put_str(out, n);
        put_str(out, v);
    }
}

/// Encodes a samples body: the out-of-order bound, then the samples with refs and
/// timestamps delta-coded against the previous sample of the record.
pub fn put_samples(
    out: &mut Vec<u8>,
    ooo_min: Option<i64>,
    samples: impl ExactSizeIterator<Item = (SeriesRef, i64, f64)>,
) {
    match ooo_min {
        None => out.push(0),
        Some(m) => {
            out.push(1);
            put_varint(out, m);
        }
    }
    put_uvarint(out, samples.len() as u64);
    let (mut pr, mut pt) = (0u64, 0i64);
    for (r, t, v) in samples {
        put_varint(out, r.wrapping_sub(pr) as i64);
        put_varint(out, t.wrapping_sub(pt));
        out.extend_from_slice(&v.to_bits().to_le_bytes());
        (pr, pt) = (r, t);
    }
}

/// Appends one chunk entry (inside a [`RecordType::Chunks`] body).
pub fn put_chunk(out: &mut Vec<u8>, r: SeriesRef, chunk: &[u8]) {
    put_uvarint(out, r);
    put_uvarint(out, chunk.len() as u64);
    out.extend_from_slice(chunk);
}

/// Encodes a meta body.
pub fn put_meta(out: &mut Vec<u8>, min_valid: i64, next_ref: SeriesRef) {
    put_varint(out, min_valid);
    put_uvarint(out, next_ref);
}

/// Decodes a series body, calling `f(ref, labels)` per entry; `None` if malformed.
pub fn read_series(body: &[u8], mut f: impl FnMut(SeriesRef, Vec<(&str, &str)>)) -> Option<()> {
    let mut d = Dec::new(body);
    while !d.done() {
        let r = d.uvarint()?;
        let n = d.bounded_length()?;
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((d.str()?, d.str()?));
        }
        f(r, pairs);
    }
    Some(())
}

/// A decoded samples body: the bound and a lazy sample iterator.
#[derive(Debug)]
pub struct SamplesBody<'a> {
    pub ooo_min: Option<i64>,
    pub count: usize,
    d: Dec<'a>,
    pr: u64,
    pt: i64,
}

pub fn read_samples(body: &[u8]) -> Option<SamplesBody<'_>> {
    let mut d = Dec::new(body);
    let ooo_min = match d.u8()? {
        0 => None,
        1 => Some(d.varint()?),
        _ => return None,
    };
    // Each sample takes at least 10 bytes, which bounds a corrupt count.
    let count = usize::try_from(d.uvarint()?).ok()?;
    if count > body.len() / 10 {
        return None;
    }
    Some(SamplesBody {
        ooo_min,
        count,
        d,
        pr: 0,
        pt: 0,
    })
}

impl SamplesBody<'_> {
    /// The next sample; `Some(None)` marks malformed bytes.
    pub fn next_sample(&mut self) -> Option<Option<(SeriesRef, i64, f64)>> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        let s = (|| {
            let r = self.pr.wrapping_add(self.d.varint()? as u64);
            let t = self.pt.wrapping_add(self.d.varint()?);
            let v = self.d.f64_le()?;
            Some((r, t, v))
        })();
        if let Some((r, t, _)) = s {
            (self.pr, self.pt) = (r, t);
        } else {
            self.count = 0;
        }
        Some(s)
    }

    /// True when every sample was read and no byte is left over.
    pub fn finished_cleanly(&self) -> bool {
        self.count == 0 && self.d.done()
    }
}

/// Decodes a chunks body, calling `f(ref, chunk bytes)` per entry; `None` if malformed.
pub fn read_chunks<'a>(body: &'a [u8], mut f: impl FnMut(SeriesRef, &'a [u8])) -> Option<()> {
    let mut d = Dec::new(body);
    while !d.done() {
        let r = d.uvarint()?;
        let n = d.bounded_length()?;
        f(r, d.bytes(n)?);
    }
    Some(())
}

/// Decodes a meta body: `(min_valid, next_ref)`.
pub fn read_meta(body: &[u8]) -> Option<(i64, SeriesRef)> {
    let mut d = Dec::new(body);
    let m = (d.varint()?, d.uvarint()?);
    d.done().then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_with_stale_nan_and_negative_deltas() {
        let stale = crate::stale_nan();
        let input = vec![
            (5, 1_000, 1.5),
            (3, 999, stale),
            (u64::MAX, i64::MIN, -0.0),
            (1, i64::MAX, f64::INFINITY),
        ];
        let mut out = Vec::new();
        put_samples(&mut out, Some(-7), input.iter().copied());
        let mut b = read_samples(&out).expect("decodes");
        assert_eq!(b.ooo_min, Some(-7));
        let mut got = Vec::new();
        while let Some(s) = b.next_sample() {
            got.push(s.expect("well formed"));
        }
        assert!(b.finished_cleanly());
        assert_eq!(got.len(), input.len());
        for (a, e) in got.iter().zip(&input) {
            assert_eq!((a.0, a.1, a.2.to_bits()), (e.0, e.1, e.2.to_bits()));
        }
    }

    #[test]
    fn truncated_bodies_are_rejected_not_panicking() {
        let mut out = Vec::new();
        put_samples(&mut out, None, [(1, 2, 3.0), (2, 3, 4.0)].into_iter());
        for cut in 0..out.len() {
            if let Some(mut b) = read_samples(&out[..cut]) {
                let mut bad = false;
                while let Some(s) = b.next_sample() {
                    bad |= s.is_none();
                }
                assert!(bad || !b.finished_cleanly(), "cut at {cut} looked complete");
            }
        }
        let mut s = Vec::new();
        put_series(&mut s, 9, [("a", "b"), ("c", "d")].into_iter());
        for cut in 1..s.len() {
            assert!(read_series(&s[..cut], |_, _| {}).is_none(), "cut {cut}");
        }
        let mut got = Vec::new();
        read_series(&s, |r, l| got.push((r, l.len()))).expect("whole body decodes");
        assert_eq!(got, vec![(9, 2)]);
    }

    #[test]
    fn frame_checksum_covers_type_and_body() {
        let mut out = vec![0xAA];
        let at = begin_frame(&mut out, RecordType::Meta);
        put_meta(&mut out, -5, 42);
        finish_frame(&mut out, at);
        let mut h = [0u8; FRAME_HEADER];
        h.copy_from_slice(&out[1..1 + FRAME_HEADER]);
        let (len, crc, ty) = parse_header(&h);
        let body = &out[1 + FRAME_HEADER..];
        assert_eq!(len as usize, body.len());
        assert_eq!(crc, checksum(ty, body));
        assert_ne!(crc, checksum(RecordType::Series as u8, body));
        assert_eq!(read_meta(body), Some((-5, 42)));
    }
}
