//! Errors of the store.

use std::path::PathBuf;

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid matcher regex {regex:?}: {source}")]
    BadRegex {
        regex: String,
        #[source]
        source: regex::Error,
    },
    #[error("unknown series reference {0}")]
    UnknownRef(u64),
    #[error("out of order sample")]
    OutOfOrder,
    #[error("sample timestamp too old")]
    TooOld,
    #[error("duplicate sample for timestamp")]
    DuplicateSample,
    #[error("empty label set")]
    EmptyLabelSet,
    #[error("chunk is full")]
    ChunkFull,
    #[error("corrupt chunk: {reason}")]
    CorruptChunk { reason: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write-ahead log write to {path} failed, batch not stored: {source}")]
    WalWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt data in {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

impl Error {
    /// True for errors that reject one sample (out of order, too old, conflicting duplicate):
    /// the sample is counted and skipped, the rest of the batch is unaffected. Scrape loops
    /// should count these rather than fail the scrape.
    pub fn is_sample_rejection(&self) -> bool {
        matches!(
            self,
            Error::OutOfOrder | Error::TooOld | Error::DuplicateSample
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;
