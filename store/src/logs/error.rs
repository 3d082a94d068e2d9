//! Errors of the log index.
//!
//! Kept apart from the time-series store's [`crate::Error`] so the two halves of the crate
//! can evolve independently; every error names the partition or path it concerns.

use std::path::PathBuf;

/// Everything the log index can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log index {path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("log index I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log index {path}: unexpected schema (field {field:?} missing)")]
    Schema { path: PathBuf, field: &'static str },
    /// The partition was written by a build with another term-dictionary format (the FST
    /// dictionaries of earlier versions); it cannot be read or merged by this one.
    #[error("log index {path}: unsupported on-disk format ({reason})")]
    Format { path: PathBuf, reason: String },
    #[error("invalid log query: {0}")]
    BadQuery(String),
    #[error("the log index is closed")]
    Closed,
}

impl LogError {
    pub(crate) fn index(path: &std::path::Path, source: tantivy::TantivyError) -> Self {
        LogError::Index {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, LogError>;
