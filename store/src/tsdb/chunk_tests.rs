//! Tests of the chunk encoding: exact round trips (proptest), refusal of non-increasing
//! timestamps, and robustness against corrupt bytes.

use super::*;
use crate::{STALE_NAN_BITS, stale_nan};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn encode(samples: &[(i64, f64)]) -> ChunkEncoder {
    let mut enc = ChunkEncoder::new();
    for &(t, v) in samples {
        enc.append(t, v).expect("increasing timestamps");
    }
    enc
}

fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn decoded(it: ChunkIter<'_>) -> Vec<(i64, u64)> {
    it.map(|(t, v)| (t, v.to_bits())).collect()
}

/// Strictly increasing timestamps: anywhere in the i64 range, or scrape-like.
fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        proptest::collection::btree_set(any::<i64>(), 0..150)
            .prop_map(|s: BTreeSet<i64>| s.into_iter().collect()),
        (
            -2_000_000_000_000i64..2_000_000_000_000,
            1i64..120_000,
            proptest::collection::vec(-50i64..50, 0..150),
        )
            .prop_map(|(start, step, jitter)| {
                let mut t = start;
                let mut out = Vec::new();
                for j in jitter {
                    out.push(t);
                    // Jitter never makes the step non-positive.
                    t += (step + j).max(1);
                }
                out
            }),
        // Large, irregular gaps that hit every delta-of-delta bucket.
        proptest::collection::vec(1i64..(1 << 40), 0..150).prop_map(|gaps| {
            let mut t = i64::MIN / 2;
            gaps.into_iter()
                .map(|g| {
                    t += g;
                    t
                })
                .collect()
        }),
    ]
}

fn special_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(stale_nan()),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::from_bits(0x7ff8_0000_dead_beef)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        Just(f64::from_bits(1)),
    ]
}

/// Values: arbitrary bit patterns, special values, and runs typical of counters and gauges.
fn values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    let one = prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        3 => special_value(),
        2 => (0u32..1000).prop_map(f64::from),
        2 => -1e6f64..1e6,
    ];
    prop_oneof![
        proptest::collection::vec(one, n),
        // Monotone counters with small integer increments.
        proptest::collection::vec(0u32..10, n).prop_map(|incs| {
            let mut c = 1e9;
            incs.into_iter()
                .map(|i| {
                    c += f64::from(i);
                    c
                })
                .collect()
        }),
    ]
}

fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
    timestamps().prop_flat_map(|ts| {
        let n = ts.len();
        values(n).prop_map(move |vs| ts.iter().copied().zip(vs).collect())
    })
}

proptest! {
    #[test]
    fn round_trip_is_bit_exact(s in samples()) {
        let enc = encode(&s);
        prop_assert_eq!(enc.num_samples(), s.len());
        // The open encoder is readable at any point, and so is the finished chunk.
        prop_assert_eq!(decoded(enc.iter()), bits(&s));
        match enc.finish() {
            None => prop_assert!(s.is_empty()),
            Some(c) => {
                prop_assert_eq!(c.num_samples(), s.len());
                prop_assert_eq!(c.min_time(), s[0].0);
                prop_assert_eq!(c.max_time(), s[s.len() - 1].0);
                prop_assert_eq!(decoded(c.iter()), bits(&s));
                // Re-reading the raw bytes (as from disk) gives the same chunk.
                let again = Chunk::from_bytes(c.bytes().into())?;
                prop_assert_eq!(&again, &c);
            }
        }
    }

    #[test]
    fn every_prefix_decodes(s in samples()) {
        let mut enc = ChunkEncoder::new();
        for (i, &(t, v)) in s.iter().enumerate() {
            enc.append(t, v)?;
            prop_assert_eq!(decoded(enc.iter()), bits(&s[..=i]));
        }
    }

    #[test]
    fn non_increasing_timestamp_is_refused_and_harmless(
        s in samples().prop_filter("need a sample", |s| !s.is_empty()),
        back in 0u64..1_000_000,
    ) {
        let mut enc = encode(&s);
        let last = s[s.len() - 1].0;
        let bad = last.saturating_sub_unsigned(back);
        prop_assert!(matches!(enc.append(bad, 1.0), Err(Error::OutOfOrder)));
        prop_assert_eq!(decoded(enc.iter()), bits(&s));
    }

    #[test]
    fn corrupt_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut it = ChunkIter::new(&data);
        let n = it.by_ref().count();
        prop_assert!(n <= sample_count(&data));
        let _ = Chunk::from_bytes(data.into_boxed_slice());
    }
}

#[test]
fn special_values_round_trip() {
    let vals = [
        stale_nan(),
        1.0,
        stale_nan(),
        f64::NAN,
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        stale_nan(),
    ];
    let s: Vec<(i64, f64)> = vals
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * 15_000 - 30_000, v))
        .collect();
    let c = encode(&s).finish().expect("non-empty");
    let got = decoded(c.iter());
    assert_eq!(got, bits(&s));
    assert_eq!(got[0].1, STALE_NAN_BITS);
    assert_eq!(got[4].1, (-0.0f64).to_bits());
    assert_ne!(got[4].1, 0.0f64.to_bits());
}

#[test]
fn extreme_timestamps() {
    let s = [
        (i64::MIN, 1.0),
        (0, 2.0),
        (i64::MAX - 1, 3.0),
        (i64::MAX, 4.0),
    ];
    let c = encode(&s).finish().expect("non-empty");
    assert_eq!(decoded(c.iter()), bits(&s));
}

#[test]
fn duplicate_timestamp_is_refused() {
    let mut enc = encode(&[(10, 1.0)]);
    assert!(matches!(enc.append(10, 1.0), Err(Error::OutOfOrder)));
    assert!(matches!(enc.append(9, 1.0), Err(Error::OutOfOrder)));
    enc.append(11, 1.0).expect("increasing");
    assert_eq!(enc.num_samples(), 2);
}

#[test]
fn regular_scrapes_compress_well() {
    // 120 samples, 15s interval, constant value: ~2 bits per sample after the first two.
    let s: Vec<(i64, f64)> = (0..120)
        .map(|i| (1_700_000_000_000 + i * 15_000, 42.0))
        .collect();
    let c = encode(&s).finish().expect("non-empty");
    assert!(c.bytes().len() <= 48, "{} bytes", c.bytes().len());
    // Counter with small jitter and small integer increments stays around 2-3 bytes/sample.
    let s: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            (
                1_700_000_000_000 + i * 15_000 + (i * 7 % 5),
                1e6 + (i * 3) as f64,
            )
        })
        .collect();
    let c = encode(&s).finish().expect("non-empty");
    assert!(c.bytes().len() <= 120 * 3, "{} bytes", c.bytes().len());
}

#[test]
fn truncated_chunk_is_reported_corrupt() {
    let s: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, i as f64 * 1.5)).collect();
    let c = encode(&s).finish().expect("non-empty");
    let cut = &c.bytes()[..c.bytes().len() / 2];
    let mut it = ChunkIter::new(cut);
    let n = it.by_ref().count();
    assert!(n < 50);
    assert!(it.is_corrupt());
    assert!(matches!(
        Chunk::from_bytes(cut.into()),
        Err(Error::CorruptChunk { .. })
    ));
    assert!(matches!(
        Chunk::from_bytes(Box::new([0, 0])),
        Err(Error::CorruptChunk { .. })
    ));
}

#[test]
fn encode_helper_refuses_unsorted_input() {
    assert!(Chunk::encode(&[(2, 1.0), (1, 1.0)]).is_err());
    assert!(Chunk::encode(&[]).is_err());
    let c = Chunk::encode(&[(1, 1.0), (2, 2.0)]).expect("sorted");
    assert_eq!(c.num_samples(), 2);
    assert!(c.overlaps(2, 5));
    assert!(!c.overlaps(3, 5));
}

#[test]
fn documented_example_bytes() {
    // The example at the end of store/docs/chunk-format.md, byte for byte.
    let c = encode(&[(1000, 1.0), (16000, 1.0), (31001, 2.0)])
        .finish()
        .expect("non-empty");
    let want: &[u8] = &[
        0x00, 0x03, // count
        0xD0, 0x0F, // varint zig-zag 1000
        0x3F, 0xF0, 0, 0, 0, 0, 0, 0, // 1.0
        0x98, 0x75, // varint 15000
        0x40, 0x70, 0x95, 0xFF, 0xC0, // 0 | 10 0000001 | 11 00001 001010 11111111111 | pad
    ];
    assert_eq!(c.bytes(), want);
}
