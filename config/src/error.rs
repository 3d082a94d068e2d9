//! Errors of the config crate.
//!
//! Every error about the *content* of a config or file_sd file names `file:line:column` of
//! the offending YAML/JSON node, 1-based, the way editors and compilers print them:
//! `lookout.yaml:12:18: scrape_configs[1].scrape_timeout: scrape timeout 20s greater than
//! scrape interval 15s`. Errors while *using* a loaded config (a secret file that vanished
//! since load) have no position and say which source failed instead.
//!
//! Cost: errors are cold; they allocate freely.

use std::path::PathBuf;

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong while loading or using a configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not well-formed YAML/JSON or does not have the expected shape (unknown
    /// field, wrong type, missing field, duplicate key). Positions come from the parser.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The text has the right shape but a value is not acceptable (bad duration, timeout
    /// greater than interval, conflicting fields, missing secret file...).
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A file could not be read (the config file itself, or a file_sd file).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A secret could not be resolved at use time (file unreadable, variable unset).
    /// `source_desc` names where it was looked up, never the value.
    #[error("cannot resolve secret from {source_desc}: {message}")]
    Secret {
        source_desc: String,
        message: String,
    },
}

impl Error {
    /// The file named by a positioned error.
    pub fn file(&self) -> Option<&str> {
        match self {
            Error::Parse { file, .. } | Error::Invalid { file, .. } => Some(file),
            _ => None,
        }
    }

    /// `(line, column)`, 1-based, of a positioned error.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Error::Parse { line, column, .. } | Error::Invalid { line, column, .. } => {
                Some((*line, *column))
            }
            _ => None,
        }
    }

    /// The message without the `file:line:column: ` prefix.
    pub fn message(&self) -> String {
        match self {
            Error::Parse { message, .. } | Error::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positioned_errors_print_file_line_column_first() {
        let e = Error::Invalid {
            file: "a.yaml".into(),
            line: 3,
            column: 7,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "a.yaml:3:7: bad");
        assert_eq!(e.position(), Some((3, 7)));
        assert_eq!(e.file(), Some("a.yaml"));
        let s = Error::Secret {
            source_desc: "environment variable X".into(),
            message: "not set".into(),
        };
        assert_eq!(s.position(), None);
        assert_eq!(
            s.to_string(),
            "cannot resolve secret from environment variable X: not set"
        );
    }
}
