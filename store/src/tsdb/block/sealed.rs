//! The sealed-chunk codec of blocks: columns of timestamps and values compressed with pco,
//! values converted to decimal integers where that is exact, and timestamp columns shared
//! between the series that were scraped together (format: `store/docs/block-format.md`,
//! "Sealed chunks").
//!
//! A block's chunk entry starts with a kind byte: [`KIND_XOR`] (the head's XOR chunk, kept for
//! tiny chunks where it is smaller) or [`KIND_COLUMNS`]:
//!
//! ```text
//! uvarint n
//! timestamps: 0 uvarint(len) pco(i64 × n)          inline
//!           | 1 uvarint(back)                        those of the chunk at (this ref - back)
//! values:     0 u64 bits                             every value has these bits
//!           | 1 u8 e, uvarint(len) pco(i64 × n),     v = m / 10^e, bit-exact;
//!             uvarint(k), k × (uvarint(gap) u64 bits) exceptions at the given positions
//!           | 2 uvarint(len) pco(f64 × n)            raw floats
//! ```
//!
//! Invariants: every value round-trips bit-exactly (NaN payloads, so staleness markers, ±Inf,
//! -0.0: what the decimal form cannot hold exactly is an exception or makes the chunk use
//! raw floats); a shared timestamp column points backwards at a chunk whose column is inline,
//! so resolving it is one lookup, never a chain. The encoder is deterministic. Decoding
//! malformed bytes returns an error, never panics.
//!
//! Cost: encoding tries the decimal and the raw-float forms and keeps the smaller (a few µs
//! per chunk of hundreds of samples; sealing is off the ingest path). Decoding is pco's
//! (hundreds of millions of numbers per second) plus one division per decimal value; a
//! shared timestamp column is decoded once per select ([`TsCache`]). Scrapes of one target
//! stamp all its series alike, so a block pays for each target's timestamps about once.

use super::chunks::ChunksReader;
use crate::error::{Error, Result};
use crate::tsdb::chunk::{ChunkEncoder, ChunkIter};
use crate::tsdb::enc::{Dec, put_uvarint};
use pco::ChunkConfig;
use pco::standalone::{simple_compress, simple_decompress};
use std::collections::HashMap;

/// Entry kind: an XOR chunk (`chunk-format.md`) follows.
pub const KIND_XOR: u8 = 1;
/// Entry kind: a columnar chunk follows.
pub const KIND_COLUMNS: u8 = 2;

const TS_INLINE: u8 = 0;
const TS_SHARED: u8 = 1;
const VAL_CONST: u8 = 0;
const VAL_DECIMAL: u8 = 1;
const VAL_FLOAT: u8 = 2;

/// Largest decimal exponent tried (10^15 and the mantissa bound keep `m / 10^e` exact).
const MAX_EXP: usize = 15;
const POW10: [f64; MAX_EXP + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];
/// Mantissas stay below 2^53 so that they are exact as `f64`.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

/// Bytes of compressed timestamp columns remembered for sharing; past this, new columns are
/// written inline without being remembered (bounds the writer's memory on odd data).
const TS_MEMORY_BYTES: usize = 32 << 20;

/// Encodes the chunks of one block, remembering timestamp columns to share.
#[derive(Debug, Default)]
pub struct SealedEncoder {
    /// Compressed timestamp column → ref of the chunk that holds it inline. Compression is
    /// deterministic, so equal bytes mean equal timestamps.
    shared_ts: HashMap<Vec<u8>, u64>,
    remembered: usize,
    mantissas: Vec<i64>,
    exceptions: Vec<(usize, u64)>,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl SealedEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes `samples` (non-empty, timestamps strictly increasing) as the entry to be written
    /// at chunk ref `at`, replacing `out`'s contents.
    pub fn encode(&mut self, samples: &[(i64, f64)], at: u64, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        if samples.is_empty() {
            return Err(corrupt("empty chunk"));
        }
        if samples.windows(2).any(|w| w[1].0 <= w[0].0) {
            return Err(Error::OutOfOrder);
        }
        let cfg = ChunkConfig::default();
        self.ts.clear();
        self.ts.extend(samples.iter().map(|s| s.0));
        self.vals.clear();
        self.vals.extend(samples.iter().map(|s| s.1));
        let ts_col = simple_compress(&self.ts, &cfg).map_err(pco_err)?;

        out.push(KIND_COLUMNS);
        put_uvarint(out, samples.len() as u64);
        let shared = self.shared_ts.get(&ts_col).copied();
        match shared {
            Some(r) => {
                out.push(TS_SHARED);
                put_uvarint(out, at - r);
            }
            None => {
                out.push(TS_INLINE);
                put_uvarint(out, ts_col.len() as u64);
                out.extend_from_slice(&ts_col);
            }
        }
        self.encode_values(&cfg, out)?;

        // Tiny chunks: the XOR form may be smaller than pco's column headers.
        if samples.len() <= 16 {
            let mut x = ChunkEncoder::with_capacity(samples.len() * 10);
            for &(t, v) in samples {
                x.append(t, v)?;
            }
            if 1 + x.bytes().len() < out.len() {
                out.clear();
                out.push(KIND_XOR);
                out.extend_from_slice(x.bytes());
                return Ok(());
            }
        }
        if shared.is_none() && self.remembered + ts_col.len() <= TS_MEMORY_BYTES {
            self.remembered += ts_col.len();
            self.shared_ts.insert(ts_col, at);
        }
        Ok(())
    }

    fn encode_values(&mut self, cfg: &ChunkConfig, out: &mut Vec<u8>) -> Result<()> {
        let first = self.vals[0].to_bits();
        if self.vals.iter().all(|v| v.to_bits() == first) {
            out.push(VAL_CONST);
            out.extend_from_slice(&first.to_be_bytes());
            return Ok(());
        }
        let float_col = simple_compress(&self.vals, cfg).map_err(pco_err)?;
        let mut decimal = Vec::new();
        if let Some(e) = self.decimal_form() {
            let col = simple_compress(&self.mantissas, cfg).map_err(pco_err)?;
            decimal.push(VAL_DECIMAL);
            decimal.push(e as u8);
            put_uvarint(&mut decimal, col.len() as u64);
            decimal.extend_from_slice(&col);
            put_uvarint(&mut decimal, self.exceptions.len() as u64);
            let mut prev = 0;
            for &(i, bits) in &self.exceptions {
                put_uvarint(&mut decimal, (i - prev) as u64);
                decimal.extend_from_slice(&bits.to_be_bytes());
                prev = i;
            }
        }
        if !decimal.is_empty() && decimal.len() < float_col.len() + 4 {
            out.extend_from_slice(&decimal);
        } else {
            out.push(VAL_FLOAT);
            put_uvarint(out, float_col.len() as u64);
            out.extend_from_slice(&float_col);
        }
        Ok(())
    }

    /// Fills `mantissas` and `exceptions` with the smallest exponent that holds every value
    /// but a few exceptions exactly; `None` when too many values are not decimals.
    fn decimal_form(&mut self) -> Option<usize> {
        self.exceptions.clear();
        let mut e = 0;
        for (i, &v) in self.vals.iter().enumerate() {
            match decimal_exponent(v) {
                Some(x) => e = e.max(x),
                None => self.exceptions.push((i, v.to_bits())),
            }
        }
        if self.exceptions.len() > self.vals.len() / 8 {
            return None;
        }
        let p = POW10[e];
        self.mantissas.clear();
        let mut exc = self.exceptions.iter().peekable();
        let mut prev = 0i64;
        for (i, &v) in self.vals.iter().enumerate() {
            if exc.next_if(|x| x.0 == i).is_some() {
                // Exceptions repeat the previous mantissa: a zero delta for pco.
                self.mantissas.push(prev);
                continue;
            }
            let m = (v * p).round();
            // A value exact at its own exponent is exact at any larger one while the
            // mantissa stays below 2^53; check anyway, the result must be bit-exact.
            if m.abs() >= MAX_MANTISSA || (m / p).to_bits() != v.to_bits() {
                return None;
            }
            prev = m as i64;
            self.mantissas.push(prev);
        }
        Some(e)
    }
}

/// The smallest `e` with `v == m / 10^e` bit-exactly for an integer `|m| < 2^53`.
fn decimal_exponent(v: f64) -> Option<usize> {
    if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
        return None;
    }
    POW10.iter().position(|&p| {
        let m = (v * p).round();
        m.abs() < MAX_MANTISSA && (m / p).to_bits() == v.to_bits()
    })
}

/// Decoded shared timestamp columns by chunk ref, for the duration of one read.
#[derive(Debug, Default)]
pub struct TsCache {
    cols: HashMap<u64, Vec<i64>>,
}

/// Shared columns kept per read; beyond this the cache starts over.
const TS_CACHE_COLUMNS: usize = 1024;

impl TsCache {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Appends the samples in `[mint, maxt]` of the chunk at `r` in `chunks` to `out`.
pub fn decode(
    chunks: &ChunksReader,
    r: u64,
    mint: i64,
    maxt: i64,
    cache: &mut TsCache,
    out: &mut Vec<(i64, f64)>,
) -> Result<()> {
    let bytes = chunks.chunk(r)?;
    if chunks.version() == 1 {
        return decode_xor(bytes, mint, maxt, out);
    }
    let (&kind, rest) = bytes.split_first().ok_or_else(|| corrupt("empty entry"))?;
    match kind {
        KIND_XOR => decode_xor(rest, mint, maxt, out),
        KIND_COLUMNS => decode_columns(chunks, r, rest, mint, maxt, cache, out),
        k => Err(corrupt(&format!("unknown chunk kind {k}"))),
    }
}

fn decode_xor(bytes: &[u8], mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Result<()> {
    let mut it = ChunkIter::new(bytes);
    out.extend(
        it.by_ref()
            .skip_while(|s| s.0 < mint)
            .take_while(|s| s.0 <= maxt),
    );
    if it.is_corrupt() {
        return Err(corrupt("XOR chunk does not decode"));
    }
    Ok(())
}

fn decode_columns(
    chunks: &ChunksReader,
    r: u64,
    bytes: &[u8],
    mint: i64,
    maxt: i64,
    cache: &mut TsCache,
    out: &mut Vec<(i64, f64)>,
) -> Result<()> {
    let mut d = Dec::new(bytes);
    let n = d.length().ok_or_else(|| corrupt("sample count"))?;
    let owned;
    let ts: &[i64] = match d.u8() {
        Some(TS_INLINE) => {
            owned = inline_ts(&mut d)?;
            &owned
        }
        Some(TS_SHARED) => {
            let back = d
                .uvarint()
                .ok_or_else(|| corrupt("shared timestamps ref"))?;
            let src = r
                .checked_sub(back)
                .filter(|_| back > 0)
                .ok_or_else(|| corrupt("shared timestamps ref points forward"))?;
            if !cache.cols.contains_key(&src) {
                if cache.cols.len() >= TS_CACHE_COLUMNS {
                    cache.cols.clear();
                }
                let col = shared_ts(chunks, src)?;
                cache.cols.insert(src, col);
            }
            &cache.cols[&src]
        }
        _ => return Err(corrupt("timestamp column tag")),
    };
    if ts.len() != n {
        return Err(corrupt(
            "timestamp column length differs from the sample count",
        ));
    }
    let lo = ts.partition_point(|&t| t < mint);
    let hi = ts.partition_point(|&t| t <= maxt);
    if lo >= hi {
        return Ok(());
    }
    let tag = d.u8().ok_or_else(|| corrupt("value column tag"))?;
    match tag {
        VAL_CONST => {
            let v = f64::from_bits(d.u64().ok_or_else(|| corrupt("constant value"))?);
            out.extend(ts[lo..hi].iter().map(|&t| (t, v)));
        }
        VAL_DECIMAL => {
            let e = usize::from(d.u8().ok_or_else(|| corrupt("decimal exponent"))?);
            let p = *POW10
                .get(e)
                .ok_or_else(|| corrupt("decimal exponent too large"))?;
            let ms: Vec<i64> = column(&mut d)?;
            if ms.len() != n {
                return Err(corrupt("value column length differs from the sample count"));
            }
            let start = out.len();
            out.extend(
                ts[lo..hi]
                    .iter()
                    .zip(&ms[lo..hi])
                    .map(|(&t, &m)| (t, m as f64 / p)),
            );
            let k = d.length().ok_or_else(|| corrupt("exception count"))?;
            let mut i = 0usize;
            for j in 0..k {
                let gap = d.length().ok_or_else(|| corrupt("exception position"))?;
                i = i
                    .checked_add(gap)
                    .filter(|&i| i < n && (j == 0 || gap > 0))
                    .ok_or_else(|| corrupt("exception position out of order"))?;
                let bits = d.u64().ok_or_else(|| corrupt("exception value"))?;
                if (lo..hi).contains(&i) {
                    out[start + i - lo].1 = f64::from_bits(bits);
                }
            }
        }
        VAL_FLOAT => {
            let vs: Vec<f64> = column(&mut d)?;
            if vs.len() != n {
                return Err(corrupt("value column length differs from the sample count"));
            }
            out.extend(ts[lo..hi].iter().copied().zip(vs[lo..hi].iter().copied()));
        }
        _ => return Err(corrupt("value column tag")),
    }
    Ok(())
}

fn inline_ts(d: &mut Dec<'_>) -> Result<Vec<i64>> {
    let ts: Vec<i64> = column(d)?;
    if ts.windows(2).any(|w| w[1] <= w[0]) {
        return Err(corrupt("timestamps do not increase"));
    }
    Ok(ts)
}

/// The inline timestamp column of the chunk at `src`.
fn shared_ts(chunks: &ChunksReader, src: u64) -> Result<Vec<i64>> {
    let bytes = chunks.chunk(src)?;
    let mut d = Dec::new(bytes);
    if d.u8() != Some(KIND_COLUMNS) {
        return Err(corrupt(
            "shared timestamps point at a chunk without columns",
        ));
    }
    d.length().ok_or_else(|| corrupt("sample count"))?;
    if d.u8() != Some(TS_INLINE) {
        return Err(corrupt(
            "shared timestamps point at a chunk that shares its own",
        ));
    }
    inline_ts(&mut d)
}

fn column<T: pco::data_types::Number>(d: &mut Dec<'_>) -> Result<Vec<T>> {
    let len = d.length().ok_or_else(|| corrupt("column length"))?;
    let b = d
        .bytes(len)
        .ok_or_else(|| corrupt("column runs past the chunk"))?;
    simple_decompress(b).map_err(|e| corrupt(&format!("column does not decode: {e}")))
}

fn pco_err(e: pco::errors::PcoError) -> Error {
    corrupt(&format!("pco: {e}"))
}

fn corrupt(reason: &str) -> Error {
    Error::CorruptChunk {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
#[path = "sealed_tests.rs"]
mod tests;
