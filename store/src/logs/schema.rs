//! The tantivy schema of one log partition and how a partition's index is opened.
//!
//! | field    | type | options | holds |
//! |---|---|---|---|
//! | `ts`     | i64  | fast | line timestamp, ns since the epoch |
//! | `stream` | str  | fast (dictionary; older partitions also a raw term) | the stream's labels, encoded by [`encode_stream`] |
//! | `line`   | text | positions + stored (zstd doc store) | the line, tokenized by [`super::tokenizer`] |
//! | `meta`   | u64  | fast | [`pack_meta`]: line length in bytes, flags ([`FLAG_TRUNCATED`], ...) and [`super::level::Level`] code |
//!
//! Partitions written before `meta` have three columns `level`, `len` and `flags` instead
//! ([`MetaFields::Separate`]); they are read and, when one is still the active partition,
//! written in that form. One column instead of three: each fast value costs a column lookup
//! by name and an operation record per document, and the two extra columns were ~8% of
//! ingest CPU.
//!
//! Stream labels live once per segment in the `stream` column's dictionary; documents carry
//! only its ordinal. Cost: opening a partition mmaps its segment files.

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

/// How a partition stores each line's level, length and flags.
#[derive(Debug, Clone, Copy)]
pub enum MetaFields {
    /// One `meta` column ([`pack_meta`]).
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
    pub stream: Field,
    pub line: Field,
    pub meta: MetaFields,
}

impl Fields {
    /// Adds a line's level, length and flags to `doc` in this partition's form.
    pub fn add_meta(&self, doc: &mut TantivyDocument, level: u64, len: u64, flags: u64) {
        match self.meta {
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

/// Builds the schema.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let ts = b.add_i64_field("ts", FAST);
    // Fast only: the column's per-segment dictionary holds each stream once, documents carry
    // its ordinal, and selectors are resolved on that dictionary (see `search`). Partitions
    // written before also index it as a raw term; that index is no longer read.
    let stream_opts = TextOptions::default().set_fast("raw");
    let stream = b.add_text_field("stream", stream_opts);
    let line_opts = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        )
        .set_stored();
    let line = b.add_text_field("line", line_opts);
    let meta = b.add_u64_field("meta", FAST);
    (
        b.build(),
        Fields {
            ts,
            stream,
            line,
            meta: MetaFields::Packed(meta),
        },
    )
}

/// The schema partitions were written with before the packed `meta` column and the
/// unindexed `stream` (tests build such partitions to check they are still read and written).
pub fn build_legacy() -> Schema {
    let (base, _) = build();
    let mut b = Schema::builder();
    for (_, entry) in base.fields() {
        match entry.name() {
            "meta" => {}
            "stream" => {
                let opts = TextOptions::default()
                    .set_indexing_options(
                        TextFieldIndexing::default()
                            .set_tokenizer("raw")
                            .set_index_option(IndexRecordOption::Basic)
                            .set_fieldnorms(false),
                    )
                    .set_fast("raw");
                b.add_text_field("stream", opts);
            }
            _ => {
                b.add_field(entry.clone());
            }
        }
    }
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
    Ok(Fields {
        ts: f("ts")?,
        stream: f("stream")?,
        line: f("line")?,
        meta: match schema.get_field("meta") {
            Ok(m) => MetaFields::Packed(m),
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

/// Encodes a stream's labels as the `stream` term: `name \0 value \0 name \0 value`.
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
    fn flags_render() {
        assert_eq!(flag_names(0), "");
        assert_eq!(
            flag_names(FLAG_TRUNCATED | FLAG_BAD_TIMESTAMP),
            "truncated,bad_timestamp"
        );
    }
}
