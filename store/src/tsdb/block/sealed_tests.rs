use super::super::chunks::{CHUNKS_FILE, ChunksWriter};
use super::*;
use crate::stale_nan;
use proptest::prelude::*;

/// Writes each sample list as one chunk through one encoder; returns the reader and refs.
fn write_all(dir: &std::path::Path, lists: &[Vec<(i64, f64)>]) -> (ChunksReader, Vec<u64>) {
    let p = dir.join(CHUNKS_FILE);
    let mut w = ChunksWriter::create(&p).unwrap();
    let mut enc = SealedEncoder::new();
    let mut buf = Vec::new();
    let mut refs = Vec::new();
    for s in lists {
        let at = w.next_ref();
        enc.encode(s, at, &mut buf).unwrap();
        assert_eq!(w.write(&buf).unwrap(), at);
        refs.push(at);
    }
    w.finish().unwrap();
    (ChunksReader::open(&p).unwrap(), refs)
}

fn read(r: &ChunksReader, at: u64, mint: i64, maxt: i64, cache: &mut TsCache) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    decode(r, at, mint, maxt, cache, &mut out).unwrap();
    out.into_iter().map(|(t, v)| (t, v.to_bits())).collect()
}

fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn kind_of(r: &ChunksReader, at: u64) -> (u8, Option<u8>, Option<u8>) {
    let b = r.chunk(at).unwrap();
    let mut d = Dec::new(b);
    let k = d.u8().unwrap();
    if k != KIND_COLUMNS {
        return (k, None, None);
    }
    d.length().unwrap();
    let ts = d.u8();
    match ts {
        Some(TS_INLINE) => {
            let n = d.length().unwrap();
            d.bytes(n).unwrap();
        }
        _ => {
            d.uvarint().unwrap();
        }
    }
    (k, ts, d.u8())
}

fn scrape_times(n: usize, jitter: &[i64]) -> Vec<i64> {
    (0..n as i64)
        .map(|i| 1_700_000_000_000 + i * 15_000 + jitter[i as usize % jitter.len()])
        .collect()
}

#[test]
fn value_forms_are_chosen_by_content_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ts = scrape_times(480, &[0, 3, -2, 1, -3]);
    let constant: Vec<_> = ts.iter().map(|&t| (t, 3.3e9)).collect();
    let cents: Vec<_> = ts
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, (12_345_678 + i as i64 * 137) as f64 / 100.0))
        .collect();
    let mut with_stale = cents.clone();
    with_stale[479].1 = stale_nan();
    with_stale[10].1 = -0.0;
    let noisy: Vec<_> = ts
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, (i as f64 * 0.7).sin() * std::f64::consts::PI))
        .collect();
    let lists = vec![constant, cents, with_stale, noisy];
    let (r, refs) = write_all(dir.path(), &lists);
    let mut cache = TsCache::new();
    for (s, &at) in lists.iter().zip(&refs) {
        assert_eq!(read(&r, at, i64::MIN, i64::MAX, &mut cache), bits(s));
    }
    // The first chunk holds the timestamps; the others share them.
    assert_eq!(
        kind_of(&r, refs[0]),
        (KIND_COLUMNS, Some(TS_INLINE), Some(VAL_CONST))
    );
    assert_eq!(
        kind_of(&r, refs[1]),
        (KIND_COLUMNS, Some(TS_SHARED), Some(VAL_DECIMAL))
    );
    assert_eq!(
        kind_of(&r, refs[2]),
        (KIND_COLUMNS, Some(TS_SHARED), Some(VAL_DECIMAL))
    );
    assert_eq!(
        kind_of(&r, refs[3]),
        (KIND_COLUMNS, Some(TS_SHARED), Some(VAL_FLOAT))
    );
    // Decimal cents with their timestamps shared: far below a byte per sample.
    assert!(
        r.chunk(refs[1]).unwrap().len() < 480,
        "{}",
        r.chunk(refs[1]).unwrap().len()
    );
}

#[test]
fn ranges_select_inside_a_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let ts = scrape_times(100, &[0]);
    let a: Vec<_> = ts.iter().map(|&t| (t, (t % 977) as f64)).collect();
    let mut b: Vec<_> = ts.iter().map(|&t| (t, (t % 13) as f64 / 4.0)).collect();
    b[50].1 = f64::INFINITY;
    let (r, refs) = write_all(dir.path(), &[a.clone(), b.clone()]);
    let mut cache = TsCache::new();
    for (s, at) in [(a, refs[0]), (b, refs[1])] {
        for (lo, hi) in [(0, 100), (10, 20), (50, 51), (99, 100), (0, 1)] {
            let want = bits(&s[lo..hi]);
            let got = read(&r, at, s[lo].0, s[hi - 1].0, &mut cache);
            assert_eq!(got, want, "{lo}..{hi}");
        }
        assert!(read(&r, at, 0, ts[0] - 1, &mut cache).is_empty());
        assert!(read(&r, at, ts[99] + 1, i64::MAX, &mut cache).is_empty());
    }
}

#[test]
fn tiny_chunks_use_the_xor_form_when_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let (r, refs) = write_all(dir.path(), &[vec![(5, 1.5)], vec![(5, 1.5), (20, 2.5)]]);
    let mut cache = TsCache::new();
    assert_eq!(kind_of(&r, refs[0]).0, KIND_XOR);
    assert_eq!(read(&r, refs[0], 0, 100, &mut cache), bits(&[(5, 1.5)]));
    assert_eq!(
        read(&r, refs[1], 0, 100, &mut cache),
        bits(&[(5, 1.5), (20, 2.5)])
    );
}

#[test]
fn encoder_refuses_unordered_or_empty_input() {
    let mut enc = SealedEncoder::new();
    let mut out = Vec::new();
    assert!(enc.encode(&[], 8, &mut out).is_err());
    assert!(enc.encode(&[(2, 1.0), (2, 1.0)], 8, &mut out).is_err());
    assert!(enc.encode(&[(3, 1.0), (2, 1.0)], 8, &mut out).is_err());
}

#[test]
fn damaged_entries_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let ts = scrape_times(300, &[1, -1]);
    let a: Vec<_> = ts.iter().map(|&t| (t, (t % 1000) as f64 * 0.25)).collect();
    let b: Vec<_> = ts.iter().map(|&t| (t, (t % 777) as f64)).collect();
    let (_, refs) = write_all(dir.path(), &[a, b]);
    let p = dir.path().join(CHUNKS_FILE);
    let good = std::fs::read(&p).unwrap();
    // Rewrite each entry with a corrupted payload but a valid checksum (so the codec itself
    // meets the damage), at every byte position: an error or other samples, never a panic.
    let mut errors = 0;
    for &at in &refs {
        let payload = {
            let r = ChunksReader::open(&p).unwrap();
            r.chunk(at).unwrap().to_vec()
        };
        for pos in 0..payload.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = payload.clone();
                bad[pos] ^= flip;
                let mut file = good[..at as usize].to_vec();
                put_uvarint(&mut file, bad.len() as u64);
                file.extend_from_slice(&bad);
                file.extend_from_slice(&crc32c::crc32c(&bad).to_be_bytes());
                let q = dir.path().join("damaged");
                std::fs::write(&q, &file).unwrap();
                let r = ChunksReader::open(&q).unwrap();
                let mut out = Vec::new();
                if decode(&r, at, i64::MIN, i64::MAX, &mut TsCache::new(), &mut out).is_err() {
                    errors += 1;
                }
            }
        }
    }
    assert!(errors > 0);
}

#[test]
fn version_1_files_hold_bare_xor_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(CHUNKS_FILE);
    let mut x = ChunkEncoder::new();
    for i in 0..50 {
        x.append(i * 1000, i as f64).unwrap();
    }
    let mut file = b"LKCHK\x00\x00\x01".to_vec();
    put_uvarint(&mut file, x.bytes().len() as u64);
    file.extend_from_slice(x.bytes());
    file.extend_from_slice(&crc32c::crc32c(x.bytes()).to_be_bytes());
    std::fs::write(&p, &file).unwrap();
    let r = ChunksReader::open(&p).unwrap();
    assert_eq!(r.version(), 1);
    let got = read(&r, 8, 10_000, 12_000, &mut TsCache::new());
    assert_eq!(got, bits(&[(10_000, 10.0), (11_000, 11.0), (12_000, 12.0)]));
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        (-1_000_000i64..1_000_000, 0u32..6).prop_map(|(m, e)| m as f64 / 10f64.powi(e as i32)),
        Just(stale_nan()),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        (0i64..1000).prop_map(|x| x as f64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Any samples round-trip bit-exactly, whatever form the encoder picks, with timestamp
    /// columns shared between lists that have the same stamps.
    #[test]
    fn any_samples_round_trip(
        start in -1_000_000_000i64..1_000_000_000,
        gaps in prop::collection::vec(1i64..100_000, 1..300),
        vals in prop::collection::vec(prop::collection::vec(any_value(), 300), 1..4),
        mixed in prop::collection::vec((0i64..5, -1e6f64..1e6), 1..300),
    ) {
        let mut ts = vec![start];
        for g in &gaps[1..] {
            ts.push(ts[ts.len() - 1] + g);
        }
        let mut lists: Vec<Vec<(i64, f64)>> = vals
            .iter()
            .map(|vs| ts.iter().copied().zip(vs.iter().copied()).collect())
            .collect();
        let m: Vec<(i64, f64)> = ts.iter().copied().zip(mixed.iter().map(|&(k, v)| {
            if k == 0 { stale_nan() } else { (v * 100.0).round() / 100.0 }
        })).collect();
        lists.push(m);
        let dir = tempfile::tempdir().unwrap();
        let (r, refs) = write_all(dir.path(), &lists);
        let mut cache = TsCache::new();
        for (s, &at) in lists.iter().zip(&refs) {
            prop_assert_eq!(read(&r, at, i64::MIN, i64::MAX, &mut cache), bits(s));
        }
    }
}
