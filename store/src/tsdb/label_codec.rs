//! Compact in-memory form of a series' label set: one allocation of length-prefixed strings.
//!
//! A [`Labels`] value costs a vector plus two heap strings per label (~10 allocations for a
//! typical series); the head keeps one of these per series instead, which is the same bytes
//! without per-string headers: `(varint name_len, name, varint value_len, value)*`.
//!
//! Invariants: built only from a valid [`Labels`] (sorted, unique names, UTF-8), so pairs come
//! back in the same order. Decoding is defensive anyway: malformed bytes end the iteration
//! instead of panicking.
//!
//! Cost: encoding and decoding are linear in the byte length; comparing against a `Labels`
//! needs no allocation.

use crate::labels::{Label, Labels};

/// A label set encoded into one boxed byte slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelBytes(Box<[u8]>);

fn put_uvarint(out: &mut Vec<u8>, mut v: usize) {
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

fn get_uvarint(b: &[u8], pos: &mut usize) -> Option<usize> {
    let mut v = 0usize;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        if shift >= usize::BITS {
            return None;
        }
        v |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

fn get_str<'a>(b: &'a [u8], pos: &mut usize) -> Option<&'a str> {
    let len = get_uvarint(b, pos)?;
    let end = pos.checked_add(len)?;
    let s = std::str::from_utf8(b.get(*pos..end)?).ok()?;
    *pos = end;
    Some(s)
}

impl LabelBytes {
    /// Encodes `labels` into `scratch` (cleared first) and returns a boxed copy.
    pub fn encode(labels: &Labels, scratch: &mut Vec<u8>) -> LabelBytes {
        scratch.clear();
        for l in labels {
            put_uvarint(scratch, l.name.len());
            scratch.extend_from_slice(l.name.as_bytes());
            put_uvarint(scratch, l.value.len());
            scratch.extend_from_slice(l.value.as_bytes());
        }
        LabelBytes(scratch.as_slice().into())
    }

    /// The `(name, value)` pairs in name order.
    pub fn iter(&self) -> LabelPairs<'_> {
        LabelPairs { b: &self.0, pos: 0 }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Decodes into an owned label set.
    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted(
            self.iter()
                .map(|(n, v)| Label {
                    name: n.to_owned(),
                    value: v.to_owned(),
                })
                .collect(),
        )
    }

    /// True when this is exactly `labels` (no allocation).
    pub fn eq_labels(&self, labels: &Labels) -> bool {
        let mut mine = self.iter();
        for l in labels {
            match mine.next() {
                Some((n, v)) if n == l.name && v == l.value => {}
                _ => return false,
            }
        }
        mine.next().is_none()
    }

    /// Encoded size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Iterator over the pairs of a [`LabelBytes`].
#[derive(Debug, Clone)]
pub struct LabelPairs<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for LabelPairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.b.len() {
            return None;
        }
        let pair = get_str(self.b, &mut self.pos).zip(get_str(self.b, &mut self.pos));
        if pair.is_none() {
            // Malformed: stop for good.
            self.pos = self.b.len();
        }
        pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_lookup() {
        let l = Labels::from_pairs([
            ("__name__", "node_cpu_seconds_total"),
            ("cpu", "3"),
            ("mode", "idle"),
            ("x", &"é".repeat(100)),
        ]);
        let mut scratch = Vec::new();
        let b = LabelBytes::encode(&l, &mut scratch);
        assert_eq!(b.to_labels(), l);
        assert!(b.eq_labels(&l));
        assert!(!b.eq_labels(&l.without("cpu")));
        assert!(!LabelBytes::encode(&l.without("cpu"), &mut scratch).eq_labels(&l));
        assert_eq!(b.get("mode"), Some("idle"));
        assert_eq!(b.get("nope"), None);
        // The strings plus one length byte each (two for the 200-byte value).
        let strings: usize = l.iter().map(|x| x.name.len() + x.value.len()).sum();
        assert_eq!(b.len(), strings + 9);
    }

    #[test]
    fn malformed_bytes_end_iteration() {
        let b = LabelBytes(vec![3, b'a', b'b'].into());
        assert_eq!(b.iter().count(), 0);
        let b = LabelBytes(vec![1, b'a', 1, 0xff].into());
        assert_eq!(b.iter().count(), 0);
    }

    proptest! {
        #[test]
        fn any_label_set_round_trips(
            pairs in proptest::collection::vec(("[a-z_]{1,12}", "\\PC{0,20}"), 0..10)
        ) {
            let l = Labels::from_pairs(pairs);
            let b = LabelBytes::encode(&l, &mut Vec::new());
            prop_assert_eq!(b.to_labels(), l.clone());
            prop_assert!(b.eq_labels(&l));
        }
    }
}
