//! The tantivy schema of one log partition and how a partition's index is opened.
//!
//! | field    | type | options | holds |
//! |---|---|---|---|
//! | `ts`     | i64  | fast | line timestamp, ns since the epoch |
//! | `line`   | text | positions + stored (zstd doc store) | the line, tokenized by [`super::tokenizer`] |
//! | `meta`   | u64  | fast | [`pack_meta_v4`]: stream id, line length in bytes, flags ([`FLAG_TRUNCATED`], ...) and [`super::level::Level`] code |
//!
//! The stream id indexes the partition's stream dictionary ([`super::streams`]), which holds
//! each stream's labels (encoded by [`encode_stream`]) once per partition.
//!
//! Partitions written by earlier builds are read and, when one is still the active
//! partition, written in their own form, detected from their schema:
//! - v3: a `stream` text field, fast only (the column's per-segment dictionary holds each
//!   stream once, documents carry its ordinal), and `meta` packed by [`pack_meta`] without a
//!   stream id ([`MetaFields::Packed`]);
//! - v1/v2: `stream` also indexed as a raw term (no longer read) and three columns `level`,
//!   `len`, `flags` instead of `meta` ([`MetaFields::Separate`]).
//!
//! Each fast value costs a column lookup by name and an operation record per document:
//! v2's two extra columns were ~8 % of ingest CPU, v3's string column another ~6 %.

use super::error::{LogError, Result};
use super::tokenizer::{LogTokenizer, TOKENIZER_NAME};
use crate::labels::{Label, Labels};
use std::path::Path;
use tantivy::TantivyDocument;
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexSettings};

/// The line was longer than the maximum line size and was cut.
pub const FLAG_TRUNCATED: u64 = 1;
/// The line was not valid UTF-8 and was decoded lossily.
pub const FLAG_INVALID_UTF8: u64 = 2;
/// The line's timestamp could not be parsed; the read time was used.
pub const FLAG_BAD_TIMESTAMP: u64 = 4;

/// Flags fit in five bits of the packed `meta` column.
const FLAG_BITS: u64 = 0x1f;
const _: () = assert!((FLAG_TRUNCATED | FLAG_INVALID_UTF8 | FLAG_BAD_TIMESTAMP) & !FLAG_BITS == 0);

/// The packed `meta` value: `len << 8 | flags << 3 | level` (level codes are below 8).
pub fn pack_meta(level: u64, len: u64, flags: u64) -> u64 {
    (len << 8) | ((flags & FLAG_BITS) << 3) | (level & 7)
}

/// `(level, len, flags)` of a packed `meta` value.
pub fn unpack_meta(m: u64) -> (u64, u64, u64) {
    (m & 7, m >> 8, (m >> 3) & FLAG_BITS)
}

/// Bits of the line length in [`pack_meta_v4`]; longer lengths are stored as the maximum.
pub const LEN_BITS_V4: u32 = 28;
const LEN_MAX_V4: u64 = (1 << LEN_BITS_V4) - 1;
const STREAM_SHIFT_V4: u32 = 8 + LEN_BITS_V4;
const _: () = assert!(STREAM_SHIFT_V4 + 28 == 64 && super::streams::MAX_STREAM_ID == (1 << 28) - 1);

/// The packed `meta` value of schema v4: `stream << 36 | len << 8 | flags << 3 | level`, with
/// the length saturated at 2^28 - 1 (lines are cut well below, see the config's
/// `max_line_size`).
pub fn pack_meta_v4(stream: u32, level: u64, len: u64, flags: u64) -> u64 {
    (u64::from(stream) << STREAM_SHIFT_V4)
        | (len.min(LEN_MAX_V4) << 8)
        | ((flags & FLAG_BITS) << 3)
        | (level & 7)
}

/// `(stream, level, len, flags)` of a [`pack_meta_v4`] value.
pub fn unpack_meta_v4(m: u64) -> (u32, u64, u64, u64) {
    (
        (m >> STREAM_SHIFT_V4) as u32,
        m & 7,
        (m >> 8) & LEN_MAX_V4,
        (m >> 3) & FLAG_BITS,
    )
}

/// How a partition stores each line's stream, level, length and flags.
#[derive(Debug, Clone, Copy)]
pub enum MetaFields {
    /// One `meta` column with the stream id ([`pack_meta_v4`]); the stream dictionary maps
    /// ids to labels (v4).
    WithStream(Field),
    /// One `meta` column ([`pack_meta`]; v3).
    Packed(Field),
    /// Three columns (partitions written before `meta`).
    Separate {
        level: Field,
        len: Field,
        flags: Field,
    },
}

/// Names of the flags, in bit order, as exposed in query results.
pub const FLAG_NAMES: [(u64, &str); 3] = [
    (FLAG_TRUNCATED, "truncated"),
    (FLAG_INVALID_UTF8, "invalid_utf8"),
    (FLAG_BAD_TIMESTAMP, "bad_timestamp"),
];

/// Handles to the schema's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub ts: Field,
    /// The `stream` text column of v1-v3 partitions; `None` in v4 ([`MetaFields::WithStream`]).
    pub stream: Option<Field>,
    pub line: Field,
    pub meta: MetaFields,
}

impl Fields {
    /// Adds a line's stream, level, length and flags to `doc` in this partition's form:
    /// `stream` is the dictionary id (v4) and `key` the encoded labels (earlier forms).
    pub fn add_stream_and_meta(
        &self,
        doc: &mut TantivyDocument,
        (stream, key): (u32, &str),
        level: u64,
        len: u64,
        flags: u64,
    ) {
        if let Some(f) = self.stream {
            doc.add_text(f, key);
        }
        match self.meta {
            MetaFields::WithStream(f) => doc.add_u64(f, pack_meta_v4(stream, level, len, flags)),
            MetaFields::Packed(f) => doc.add_u64(f, pack_meta(level, len, flags)),
            MetaFields::Separate {
                level: fl,
                len: fn_,
                flags: ff,
            } => {
                doc.add_u64(fl, level);
                doc.add_u64(fn_, len);
                doc.add_u64(ff, flags);
            }
        }
    }
}

/// Builds the schema (v4).
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let ts = b.add_i64_field("ts", FAST);
    let line = b.add_text_field("line", line_options());
    let meta = b.add_u64_field("meta", FAST);
    (
        b.build(),
        Fields {
            ts,
            stream: None,
            line,
            meta: MetaFields::WithStream(meta),
        },
    )
}

fn line_options() -> TextOptions {
    TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        )
        .set_stored()
}

/// The schema of v3 partitions: `stream` as a fast-only text column, `meta` without the
/// stream id (tests build such partitions to check they are still read and written).
pub fn build_v3() -> Schema {
    let mut b = Schema::builder();
    b.add_i64_field("ts", FAST);
    b.add_text_field("stream", TextOptions::default().set_fast("raw"));
    b.add_text_field("line", line_options());
    b.add_u64_field("meta", FAST);
    b.build()
}

/// The schema partitions were written with before the packed `meta` column and the
/// unindexed `stream` (v1/v2; tests build such partitions to check they are still read and
/// written).
pub fn build_legacy() -> Schema {
    let mut b = Schema::builder();
    b.add_i64_field("ts", FAST);
    let opts = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
        .set_fast("raw");
    b.add_text_field("stream", opts);
    b.add_text_field("line", line_options());
    b.add_u64_field("level", FAST);
    b.add_u64_field("len", FAST);
    b.add_u64_field("flags", FAST);
    b.build()
}

fn fields_of(schema: &Schema, path: &Path) -> Result<Fields> {
    let f = |name: &'static str| {
        schema.get_field(name).map_err(|_| LogError::Schema {
            path: path.to_path_buf(),
            field: name,
        })
    };
    let stream = schema.get_field("stream").ok();
    Ok(Fields {
        ts: f("ts")?,
        stream,
        line: f("line")?,
        meta: match schema.get_field("meta") {
            Ok(m) if stream.is_none() => MetaFields::WithStream(m),
            Ok(m) => MetaFields::Packed(m),
            Err(_) if stream.is_none() => MetaFields::WithStream(f("meta")?),
            Err(_) => MetaFields::Separate {
                level: f("level")?,
                len: f("len")?,
                flags: f("flags")?,
            },
        },
    })
}

/// Opens the index in `dir`, creating it if `dir` holds none.
pub fn open_or_create(dir: &Path) -> Result<(Index, Fields)> {
    std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
    let exists = dir.join("meta.json").exists();
    let index = if exists {
        Index::open_in_dir(dir).map_err(|e| LogError::index(dir, e))?
    } else {
        let (schema, _) = build();
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(1),
            }),
            docstore_blocksize: 64 * 1024,
            ..IndexSettings::default()
        };
        Index::builder()
            .schema(schema)
            .settings(settings)
            .create_in_dir(dir)
            .map_err(|e| LogError::index(dir, e))?
    };
    index
        .tokenizers()
        .register(TOKENIZER_NAME, LogTokenizer::default());
    let fields = fields_of(&index.schema(), dir)?;
    Ok((index, fields))
}

/// Encodes a stream's labels as the stream dictionary's key (the `stream` term of v1-v3): `name \0 value \0 name \0 value`.
/// Names and values from paths and the Kubernetes API never contain NUL.
pub fn encode_stream(labels: &Labels) -> String {
    let mut s = String::with_capacity(
        labels
            .iter()
            .map(|l| l.name.len() + l.value.len() + 2)
            .sum(),
    );
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push('\0');
        }
        s.push_str(&l.name);
        s.push('\0');
        s.push_str(&l.value);
    }
    s
}

/// Decodes a `stream` term; `None` if it is malformed.
pub fn decode_stream(s: &str) -> Option<Labels> {
    if s.is_empty() {
        return Some(Labels::default());
    }
    let mut parts = s.split('\0');
    let mut v = Vec::new();
    while let Some(name) = parts.next() {
        let value = parts.next()?;
        v.push(Label {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Some(Labels::from_vec(v))
}

/// Names of the flags set in `flags`, comma-separated (empty when none).
pub fn flag_names(flags: u64) -> String {
    let mut out = String::new();
    for (bit, name) in FLAG_NAMES {
        if flags & bit != 0 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_encoding_round_trips() {
        let l = Labels::from_pairs([
            ("namespace", "default"),
            ("pod", "a=b c"),
            ("container", "x"),
        ]);
        assert_eq!(decode_stream(&encode_stream(&l)), Some(l));
        assert_eq!(decode_stream(""), Some(Labels::default()));
        assert_eq!(decode_stream("odd"), None);
    }

    #[test]
    fn meta_packs_and_unpacks() {
        for (level, len, flags) in [
            (0, 0, 0),
            (
                6,
                150,
                FLAG_TRUNCATED | FLAG_INVALID_UTF8 | FLAG_BAD_TIMESTAMP,
            ),
            (3, 10 << 20, FLAG_INVALID_UTF8),
            (7, (1 << 56) - 1, FLAG_BITS),
        ] {
            assert_eq!(
                unpack_meta(pack_meta(level, len, flags)),
                (level, len, flags)
            );
        }
    }

    #[test]
    fn meta_v4_packs_and_unpacks() {
        for (stream, level, len, flags) in [
            (0, 0, 0, 0),
            (
                1,
                6,
                150,
                FLAG_TRUNCATED | FLAG_INVALID_UTF8 | FLAG_BAD_TIMESTAMP,
            ),
            (77, 3, 10 << 20, FLAG_INVALID_UTF8),
            (
                crate::logs::streams::MAX_STREAM_ID,
                7,
                LEN_MAX_V4,
                FLAG_BITS,
            ),
        ] {
            assert_eq!(
                unpack_meta_v4(pack_meta_v4(stream, level, len, flags)),
                (stream, level, len, flags)
            );
        }
        // Longer lengths saturate instead of spilling into the stream id.
        assert_eq!(
            unpack_meta_v4(pack_meta_v4(5, 1, 1 << 40, 0)),
            (5, 1, LEN_MAX_V4, 0)
        );
    }

    #[test]
    fn schema_versions_are_detected() {
        let p = Path::new("x");
        let (v4, _) = build();
        let f = fields_of(&v4, p).unwrap();
        assert!(f.stream.is_none() && matches!(f.meta, MetaFields::WithStream(_)));
        let f = fields_of(&build_v3(), p).unwrap();
        assert!(f.stream.is_some() && matches!(f.meta, MetaFields::Packed(_)));
        let f = fields_of(&build_legacy(), p).unwrap();
        assert!(f.stream.is_some() && matches!(f.meta, MetaFields::Separate { .. }));
    }

    #[test]
    fn flags_render() {
        assert_eq!(flag_names(0), "");
        assert_eq!(
            flag_names(FLAG_TRUNCATED | FLAG_BAD_TIMESTAMP),
            "truncated,bad_timestamp"
        );
    }
}
