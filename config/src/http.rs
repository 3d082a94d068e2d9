//! HTTP client settings of a scrape job (Prometheus' `HTTPClientConfig`, written inline in
//! the job): authentication, TLS, redirects, proxy.
//!
//! Rules enforced, with Prometheus' wording where it has one:
//! - at most one of `basic_auth`, `authorization`, `bearer_token`/`bearer_token_file`;
//! - within each, at most one source per secret (`password` / `password_file` /
//!   `password_env`, `credentials` / `credentials_file` / `credentials_env`, ...);
//! - `authorization.type` defaults to `Bearer` and may not be `Basic`;
//! - TLS: a client certificate needs a key and vice versa; `ca` and `ca_file` (etc.) are
//!   exclusive; `min_version` ≤ `max_version`;
//! - every `*_file` must be readable at load time and every `*_env` variable set (the value
//!   is still read on each use, see [`crate::secret`]);
//! - `proxy_url` must be an absolute `http`, `https` or `socks5` URL with a host.
//!
//! Empty strings count as "not set", as in Prometheus. `*_env` fields are a lookout
//! extension.
//!
//! Cost: load time only; file checks open each named file once.

use std::fmt;

use serde::Deserialize;

use crate::context::Ctx;
use crate::error::Result;
use crate::position::field;
use crate::secret::{Secret, SecretSource};
use crate::tls::{RawTlsConfig, TlsConfig};

/// `basic_auth` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a basic_auth mapping (username, password...)"
)]
pub struct RawBasicAuth {
    /// The user name.
    pub username: Option<String>,
    /// A file holding the user name.
    pub username_file: Option<String>,
    /// The password, inline.
    pub password: Option<Secret>,
    /// A file holding the password (re-read on each use).
    pub password_file: Option<String>,
    /// An environment variable holding the password (lookout extension).
    pub password_env: Option<String>,
}

/// `authorization` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an authorization mapping (type, credentials...)"
)]
pub struct RawAuthorization {
    /// The scheme put before the credentials in the `Authorization` header (default `Bearer`).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// The credentials, inline.
    pub credentials: Option<Secret>,
    /// A file holding the credentials (re-read on each use).
    pub credentials_file: Option<String>,
    /// An environment variable holding the credentials (lookout extension).
    pub credentials_env: Option<String>,
}

/// The HTTP client fields as written: inline in a scrape job or an Alertmanager set, or as
/// a receiver's `http_config` object.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpClientConfig {
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub proxy_url: Option<String>,
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuth {
    /// The user name (inline, or a file). Not secret, but sourced the same way.
    pub username: SecretSource,
    /// The password, if any.
    pub password: Option<SecretSource>,
}

/// An `Authorization: <type_> <credentials>` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// The scheme, `Bearer` unless configured.
    pub type_: String,
    pub credentials: Option<SecretSource>,
}

/// Checked HTTP client settings.
#[derive(Clone, PartialEq)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    /// Legacy `bearer_token` / `bearer_token_file`; exclusive with `authorization`.
    pub bearer_token: Option<SecretSource>,
    pub tls_config: TlsConfig,
    /// Default true.
    pub follow_redirects: bool,
    /// Default true.
    pub enable_http2: bool,
    /// `scheme://[user[:password]@]host[:port]`. Debug output hides the password.
    pub proxy_url: Option<String>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            bearer_token: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy_url: None,
        }
    }
}

impl fmt::Debug for HttpClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientConfig")
            .field("basic_auth", &self.basic_auth)
            .field("authorization", &self.authorization)
            .field("bearer_token", &self.bearer_token)
            .field("tls_config", &self.tls_config)
            .field("follow_redirects", &self.follow_redirects)
            .field("enable_http2", &self.enable_http2)
            .field("proxy_url", &self.proxy_url.as_deref().map(redact_url))
            .finish()
    }
}

/// The URL with any password in its user info replaced by `<secret>`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:<secret>{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

pub(crate) fn set(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.is_empty())
}

pub(crate) fn set_secret(s: &Option<Secret>) -> Option<&Secret> {
    s.as_ref().filter(|v| !v.is_empty())
}

/// Builds a secret source from the (up to three) fields that can provide it, rejecting more
/// than one. `names` are the field names of inline, file and env, `what` the wording used in
/// the error (`basic_auth password`).
pub(crate) fn source(
    ctx: &Ctx<'_>,
    parent: &str,
    names: [&str; 3],
    inline: Option<Secret>,
    file: Option<&str>,
    env: Option<&str>,
    what: &str,
) -> Result<Option<SecretSource>> {
    let paths = names.map(|n| field(parent, n));
    let present: Vec<&str> = [inline.is_some(), file.is_some(), env.is_some()]
        .iter()
        .zip(paths.iter())
        .filter(|(set, _)| **set)
        .map(|(_, p)| p.as_str())
        .collect();
    if present.len() > 1 {
        let blame = ctx.last_written(&present).unwrap_or(present[1]);
        let listed: Vec<&str> = names.iter().copied().filter(|n| !n.is_empty()).collect();
        let (last, init) = listed.split_last().unwrap_or((&"", &[]));
        let prefix = if what.is_empty() {
            String::new()
        } else {
            format!("{what} ")
        };
        return Err(ctx.invalid_key(
            blame,
            format_args!(
                "at most one of {prefix}{} & {last} must be configured",
                init.join(", ")
            ),
        ));
    }
    if let Some(s) = inline {
        return Ok(Some(SecretSource::Inline(s)));
    }
    if let Some(f) = file {
        let resolved = ctx.resolve(f);
        ctx.check_readable(&paths[1], &resolved)?;
        return Ok(Some(SecretSource::File(resolved)));
    }
    if let Some(var) = env {
        if std::env::var_os(var).is_none() {
            return Err(ctx.invalid(
                &paths[2],
                format_args!("environment variable {var} is not set"),
            ));
        }
        return Ok(Some(SecretSource::Env(var.to_string())));
    }
    Ok(None)
}

impl RawHttpClientConfig {
    /// Validates the fields found under `parent` (the job's path).
    pub(crate) fn check(&self, ctx: &Ctx<'_>, parent: &str) -> Result<HttpClientConfig> {
        let ba_path = field(parent, "basic_auth");
        let auth_path = field(parent, "authorization");
        let bt_path = field(parent, "bearer_token");
        let btf_path = field(parent, "bearer_token_file");

        let bearer_token = source(
            ctx,
            parent,
            ["bearer_token", "bearer_token_file", ""],
            set_secret(&self.bearer_token).cloned(),
            set(&self.bearer_token_file),
            None,
            "",
        )?;

        let mut kinds: Vec<&str> = Vec::new();
        if self.basic_auth.is_some() {
            kinds.push(&ba_path);
        }
        if self.authorization.is_some() {
            kinds.push(&auth_path);
        }
        if bearer_token.is_some() {
            kinds.push(if set(&self.bearer_token_file).is_some() {
                &btf_path
            } else {
                &bt_path
            });
        }
        if kinds.len() > 1 {
            let blame = ctx.last_written(&kinds).unwrap_or(kinds[1]);
            return Err(ctx.invalid_key(
                blame,
                "at most one of basic_auth, authorization & bearer_token/bearer_token_file must be configured",
            ));
        }

        let basic_auth = match &self.basic_auth {
            None => None,
            Some(b) => {
                let username = source(
                    ctx,
                    &ba_path,
                    ["username", "username_file", ""],
                    set(&b.username).map(Secret::new),
                    set(&b.username_file),
                    None,
                    "basic_auth",
                )?
                .unwrap_or_else(|| SecretSource::Inline(Secret::default()));
                let password = source(
                    ctx,
                    &ba_path,
                    ["password", "password_file", "password_env"],
                    set_secret(&b.password).cloned(),
                    set(&b.password_file),
                    set(&b.password_env),
                    "basic_auth",
                )?;
                Some(BasicAuth { username, password })
            }
        };

        let authorization = match &self.authorization {
            None => None,
            Some(a) => {
                let type_ = a.type_.as_deref().map(str::trim).unwrap_or("");
                let type_ = if type_.is_empty() { "Bearer" } else { type_ };
                if type_.eq_ignore_ascii_case("basic") {
                    return Err(ctx.invalid(
                        &field(&auth_path, "type"),
                        "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                    ));
                }
                let credentials = source(
                    ctx,
                    &auth_path,
                    ["credentials", "credentials_file", "credentials_env"],
                    set_secret(&a.credentials).cloned(),
                    set(&a.credentials_file),
                    set(&a.credentials_env),
                    "authorization",
                )?;
                Some(Authorization {
                    type_: type_.to_string(),
                    credentials,
                })
            }
        };

        let tls_config = match &self.tls_config {
            None => TlsConfig::default(),
            Some(t) => t.check(ctx, &field(parent, "tls_config"))?,
        };

        let proxy_url = match set(&self.proxy_url) {
            None => None,
            Some(u) => {
                check_proxy_url(u).map_err(|m| ctx.invalid(&field(parent, "proxy_url"), m))?;
                Some(u.to_string())
            }
        };

        Ok(HttpClientConfig {
            basic_auth,
            authorization,
            bearer_token,
            tls_config,
            follow_redirects: self.follow_redirects.unwrap_or(true),
            enable_http2: self.enable_http2.unwrap_or(true),
            proxy_url,
        })
    }
}

/// Checks `scheme://[userinfo@]host[:port][/path]` with scheme http, https or socks5.
pub fn check_proxy_url(url: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("invalid proxy_url {:?}: {why}", redact_url(url)));
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("expected scheme://host[:port]");
    };
    if !matches!(scheme, "http" | "https" | "socks5") {
        return bad("scheme must be http, https or socks5");
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return bad("missing host");
    }
    if host_port.chars().any(|c| c.is_whitespace()) {
        return bad("whitespace in host");
    }
    crate::target::check_host_port(host_port).or_else(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_proxy_passwords() {
        assert_eq!(
            redact_url("http://user:pw@proxy:3128/x"),
            "http://user:<secret>@proxy:3128/x"
        );
        assert_eq!(
            redact_url("http://user@proxy:3128"),
            "http://user@proxy:3128"
        );
        assert_eq!(redact_url("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact_url("no-scheme"), "no-scheme");
    }

    #[test]
    fn proxy_urls_are_checked() {
        for ok in [
            "http://proxy:3128",
            "https://proxy.example.com",
            "socks5://127.0.0.1:1080",
            "http://u:p@[::1]:8080/",
        ] {
            assert_eq!(check_proxy_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("proxy:3128", "expected scheme"),
            ("ftp://proxy", "scheme must be"),
            ("http://", "missing host"),
            ("http://proxy:99999", "port"),
            ("http://u:hunter2@:1", "host"),
        ] {
            let e = check_proxy_url(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
