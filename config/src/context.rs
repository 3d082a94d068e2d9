//! The validation context: what every check needs to turn a problem into a positioned
//! [`Error`] and to resolve file paths the way Prometheus does.
//!
//! A check names the offending node by its YAML path (built with
//! [`crate::position::field`] / [`crate::position::index`]); the context looks the path up in
//! the document's [`Positions`] and prefixes the message with `path: `, like serde_yaml_ng
//! does for its own errors, so both kinds read the same.
//!
//! Cost: cold path only (errors) plus one `Path::join` per file path.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::position::{Pos, Positions};

pub(crate) struct Ctx<'a> {
    /// The file name printed in errors.
    pub origin: &'a str,
    /// Directory relative paths are resolved against (the config file's directory).
    pub base_dir: Option<&'a Path>,
    pub positions: &'a Positions,
}

impl Ctx<'_> {
    fn error_at(&self, pos: Pos, path: &str, msg: impl Display) -> Error {
        let message = if path.is_empty() {
            msg.to_string()
        } else {
            format!("{path}: {msg}")
        };
        Error::Invalid {
            file: self.origin.to_string(),
            line: pos.line,
            column: pos.column,
            message,
        }
    }

    /// An error about the value at `path`.
    pub fn invalid(&self, path: &str, msg: impl Display) -> Error {
        self.error_at(self.positions.value(path), path, msg)
    }

    /// An error about the presence of the field at `path` (points at its key).
    pub fn invalid_key(&self, path: &str, msg: impl Display) -> Error {
        self.error_at(self.positions.key(path), path, msg)
    }

    /// Of several field paths, the one written last in the document (used to blame the
    /// second of two conflicting fields). `None` if none of them is present.
    pub fn last_written<'p>(&self, paths: &[&'p str]) -> Option<&'p str> {
        paths
            .iter()
            .copied()
            .filter(|p| self.positions.has(p))
            .max_by_key(|p| {
                let pos = self.positions.key(p);
                (pos.line, pos.column)
            })
    }

    /// Resolves a path from the config against the config file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        match self.base_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// Resolves a glob pattern (kept as text) against the config file's directory.
    pub fn resolve_glob(&self, pattern: &str) -> String {
        if Path::new(pattern).is_relative()
            && let Some(dir) = self.base_dir
            && !dir.as_os_str().is_empty()
        {
            return dir.join(pattern).to_string_lossy().into_owned();
        }
        pattern.to_string()
    }

    /// Checks that a file named at `path` can be opened for reading now.
    pub fn check_readable(&self, path: &str, file: &Path) -> crate::error::Result<()> {
        match std::fs::File::open(file) {
            Ok(f) => match f.metadata() {
                Ok(m) if m.is_dir() => Err(self.invalid(
                    path,
                    format_args!("{} is a directory, not a file", file.display()),
                )),
                _ => Ok(()),
            },
            Err(e) => Err(self.invalid(
                path,
                format_args!("cannot read file {}: {e}", file.display()),
            )),
        }
    }
}
