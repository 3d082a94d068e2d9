//! HTTP clients built from a Prometheus `HttpClientConfig` (TLS, redirects, proxy) and its
//! per-request authentication, shared by scraping (collector) and alert delivery (notifier).
//!
//! Secrets (passwords, tokens, keys) are resolved on every call so rotated files are picked
//! up; they are never logged (`Secret` has no printable form).

use lookout_config::{HttpClientConfig, SecretSource};

fn read_pem(src: &Option<SecretSource>, what: &str) -> Result<Option<Vec<u8>>, String> {
    match src {
        None => Ok(None),
        Some(s) => s
            .resolve()
            .map(|v| Some(v.expose().as_bytes().to_vec()))
            .map_err(|e| format!("{what}: {e}")),
    }
}

/// A client builder with the config's TLS, redirect and proxy settings.
pub fn builder(cfg: &HttpClientConfig) -> Result<reqwest::ClientBuilder, String> {
    let tls = &cfg.tls_config;
    let mut b = reqwest::Client::builder()
        .redirect(if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .pool_idle_timeout(std::time::Duration::from_secs(5 * 60))
        .pool_max_idle_per_host(2)
        .tcp_nodelay(true)
        .danger_accept_invalid_certs(tls.insecure_skip_verify);
    b = match &cfg.proxy_url {
        Some(u) => b.proxy(reqwest::Proxy::all(u).map_err(|e| format!("proxy_url: {e}"))?),
        None => b.no_proxy(),
    };
    if let Some(ca) = read_pem(&tls.ca, "tls_config CA")? {
        for c in reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| format!("CA: {e}"))? {
            b = b.add_root_certificate(c);
        }
    }
    let cert = read_pem(&tls.cert, "tls_config certificate")?;
    let key = read_pem(&tls.key, "tls_config key")?;
    if let (Some(mut cert), Some(key)) = (cert, key) {
        cert.push(b'\n');
        cert.extend_from_slice(&key);
        let id =
            reqwest::Identity::from_pem(&cert).map_err(|e| format!("client certificate: {e}"))?;
        b = b.identity(id);
    }
    Ok(b)
}

/// Adds the config's authentication (basic auth, `authorization`, legacy bearer token).
pub fn authenticate(
    mut req: reqwest::RequestBuilder,
    cfg: &HttpClientConfig,
) -> Result<reqwest::RequestBuilder, String> {
    if let Some(ba) = &cfg.basic_auth {
        let user = ba
            .username
            .resolve()
            .map_err(|e| format!("basic_auth username: {e}"))?
            .expose()
            .to_string();
        let pass = match &ba.password {
            Some(p) => Some(
                p.resolve()
                    .map_err(|e| format!("basic_auth password: {e}"))?
                    .expose()
                    .to_string(),
            ),
            None => None,
        };
        req = req.basic_auth(user, pass);
    }
    if let Some(a) = &cfg.authorization {
        if let Some(c) = &a.credentials {
            let cred = c
                .resolve()
                .map_err(|e| format!("authorization credentials: {e}"))?;
            req = req.header(
                reqwest::header::AUTHORIZATION,
                format!("{} {}", a.type_, cred.expose()),
            );
        }
    } else if let Some(tok) = &cfg.bearer_token {
        let cred = tok.resolve().map_err(|e| format!("bearer token: {e}"))?;
        req = req.header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", cred.expose()),
        );
    }
    Ok(req)
}
