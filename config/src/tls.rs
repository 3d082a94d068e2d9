//! TLS settings of a scrape job (`tls_config`, Prometheus' `TLSConfig`).
//!
//! Rules: `ca`/`ca_file`, `cert`/`cert_file` and `key`/`key_file` are each exclusive pairs; a
//! client certificate needs a key and a key needs a certificate; `min_version` ≤
//! `max_version`; named files must be readable at load time. The CA and certificate are not
//! secret but are sourced like secrets (inline or file, the file re-read on each use), so
//! rotated certificates are picked up without a reload.
//!
//! Cost: load time only; each named file is opened once.

use serde::Deserialize;

use crate::context::Ctx;
use crate::error::Result;
use crate::http::{set, set_secret, source};
use crate::position::field;
use crate::secret::{Secret, SecretSource};

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "TLS10")]
    Tls10,
    #[serde(rename = "TLS11")]
    Tls11,
    #[serde(rename = "TLS12")]
    Tls12,
    #[serde(rename = "TLS13")]
    Tls13,
}

/// `tls_config` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a tls_config mapping")]
pub struct RawTlsConfig {
    /// CA certificates (PEM), inline.
    pub ca: Option<String>,
    /// A file of CA certificates (PEM).
    pub ca_file: Option<String>,
    /// Client certificate (PEM), inline.
    pub cert: Option<String>,
    /// A file holding the client certificate (PEM).
    pub cert_file: Option<String>,
    /// Client private key (PEM), inline.
    pub key: Option<Secret>,
    /// A file holding the client private key (PEM).
    pub key_file: Option<String>,
    /// Server name to send (SNI) and to verify the certificate against.
    pub server_name: Option<String>,
    /// Skip certificate verification. Default false.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Lowest TLS version accepted (`TLS10`..`TLS13`).
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version accepted.
    pub max_version: Option<TlsVersion>,
}

/// Checked TLS settings. CA and certificate are not secret but are sourced like secrets
/// (inline or file, file re-read on use) so rotated certificates are picked up.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    pub ca: Option<SecretSource>,
    pub cert: Option<SecretSource>,
    pub key: Option<SecretSource>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
}

impl RawTlsConfig {
    pub(crate) fn check(&self, ctx: &Ctx<'_>, path: &str) -> Result<TlsConfig> {
        let ca = source(
            ctx,
            path,
            ["ca", "ca_file", ""],
            set(&self.ca).map(Secret::new),
            set(&self.ca_file),
            None,
            "tls_config",
        )?;
        let cert = source(
            ctx,
            path,
            ["cert", "cert_file", ""],
            set(&self.cert).map(Secret::new),
            set(&self.cert_file),
            None,
            "tls_config",
        )?;
        let key = source(
            ctx,
            path,
            ["key", "key_file", ""],
            set_secret(&self.key).cloned(),
            set(&self.key_file),
            None,
            "tls_config",
        )?;
        let cert_field = if set(&self.cert_file).is_some() {
            "cert_file"
        } else {
            "cert"
        };
        let key_field = if set(&self.key_file).is_some() {
            "key_file"
        } else {
            "key"
        };
        match (&cert, &key) {
            (Some(_), None) => {
                return Err(ctx.invalid_key(
                    &field(path, cert_field),
                    "client certificate specified without client key (set key_file or key)",
                ));
            }
            (None, Some(_)) => {
                return Err(ctx.invalid_key(
                    &field(path, key_field),
                    "client key specified without client certificate (set cert_file or cert)",
                ));
            }
            _ => {}
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version)
            && min > max
        {
            return Err(ctx.invalid(
                &field(path, "max_version"),
                "max_version must be greater than or equal to min_version",
            ));
        }
        let server_name = set(&self.server_name).map(str::to_string);
        Ok(TlsConfig {
            ca,
            cert,
            key,
            server_name,
            insecure_skip_verify: self.insecure_skip_verify,
            min_version: self.min_version,
            max_version: self.max_version,
        })
    }
}
