//! Secrets: passwords, tokens, private keys.
//!
//! [`Secret`] holds a secret value and never shows it: `Debug` and `Display` both print
//! `<secret>`, so a config (or an error, or a log line) containing one can be printed
//! safely. The value is reached only through [`Secret::expose`].
//!
//! [`SecretSource`] says where a secret comes from: inline in the config, a file (Prometheus'
//! `*_file` fields, re-read on every [`SecretSource::resolve`] so rotated Kubernetes secrets
//! are picked up without a reload), or an environment variable (lookout's `*_env`
//! extension). Sources compare by *where* (and, for inline secrets, by value), so a reload
//! can tell whether a job's credentials changed without ever printing them.
//!
//! Cost: `resolve` on a file source does one `read_to_string` per call; callers that need a
//! secret per request should cache for a short interval.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// A secret value. Prints as `<secret>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the config itself.
    Inline(Secret),
    /// Read from this file on every `resolve` (relative paths were already resolved against
    /// the config file's directory at load time). One trailing newline is removed.
    File(PathBuf),
    /// Read from this environment variable on every `resolve`.
    Env(String),
}

impl SecretSource {
    /// The current secret value.
    pub fn resolve(&self) -> Result<Secret> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(path) => match std::fs::read_to_string(path) {
                Ok(mut text) => {
                    trim_one_newline(&mut text);
                    Ok(Secret(text))
                }
                Err(e) => Err(Error::Secret {
                    source_desc: self.describe(),
                    message: e.to_string(),
                }),
            },
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) => Ok(Secret(v)),
                Err(e) => Err(Error::Secret {
                    source_desc: self.describe(),
                    message: e.to_string(),
                }),
            },
        }
    }

    /// A description of the source that is safe to log (`file /etc/x`, `environment variable
    /// TOKEN`, `inline value`).
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Inline(_) => "inline value".to_string(),
            SecretSource::File(p) => format!("file {}", p.display()),
            SecretSource::Env(n) => format!("environment variable {n}"),
        }
    }
}

/// Removes one trailing `\n` (or `\r\n`): files written by `echo` or editors end with one,
/// and Kubernetes secret files usually don't.
fn trim_one_newline(s: &mut String) {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "<secret>");
        assert_eq!(format!("{s:?}"), "<secret>");
        let src = SecretSource::Inline(s.clone());
        assert!(!format!("{src:?}").contains("hunter2"));
        assert!(!format!("{src:#?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn sources_compare_by_origin_and_inline_value() {
        let a = SecretSource::Inline(Secret::new("x"));
        assert_eq!(a, SecretSource::Inline(Secret::new("x")));
        assert_ne!(a, SecretSource::Inline(Secret::new("y")));
        assert_eq!(
            SecretSource::File("/a".into()),
            SecretSource::File("/a".into())
        );
        assert_ne!(
            SecretSource::File("/a".into()),
            SecretSource::Env("/a".into())
        );
    }

    #[test]
    fn file_source_is_reread_and_loses_one_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").expect("write");
        let src = SecretSource::File(path.clone());
        assert_eq!(src.resolve().expect("resolve").expose(), "first");
        // Rotation: the next resolve sees the new content.
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(b"second\n\n").expect("write");
        drop(f);
        assert_eq!(src.resolve().expect("resolve").expose(), "second\n");
        std::fs::write(&path, "crlf\r\n").expect("write");
        assert_eq!(src.resolve().expect("resolve").expose(), "crlf");
        std::fs::write(&path, "none").expect("write");
        assert_eq!(src.resolve().expect("resolve").expose(), "none");
    }

    #[test]
    fn missing_file_and_unset_env_are_errors_that_name_the_source() {
        let e = SecretSource::File("/nonexistent/lookout/secret".into())
            .resolve()
            .expect_err("missing file");
        assert!(
            e.to_string().contains("file /nonexistent/lookout/secret"),
            "{e}"
        );
        let e = SecretSource::Env("LOOKOUT_TEST_SURELY_UNSET_VAR".into())
            .resolve()
            .expect_err("unset env");
        assert!(
            e.to_string()
                .contains("environment variable LOOKOUT_TEST_SURELY_UNSET_VAR"),
            "{e}"
        );
    }

    #[test]
    fn env_source_reads_the_variable() {
        // PATH is set in every test environment; avoids mutating the process environment.
        let expected = std::env::var("PATH").expect("PATH is set");
        let got = SecretSource::Env("PATH".into()).resolve().expect("PATH");
        assert_eq!(got.expose(), expected);
    }
}
