//! Syntax checks for what users write as targets and labels.
//!
//! - A target address is `host[:port]` like Prometheus' `__address__`: a DNS name or IPv4
//!   address, or an IPv6 address in brackets (`[::1]:9100`); no scheme (`scheme` is a job
//!   setting) and no path (`metrics_path` is). Without a port, the scheme's default is used.
//! - A label name matches `[a-zA-Z_][a-zA-Z0-9_]*`.
//!
//! Cost: a scan of the string, no allocation unless an error is returned.

/// Whether `name` is a valid Prometheus label name.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a scrape target address (see the module docs). The error is a message for the
/// user, naming the address.
pub fn check_target_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("target address is empty".to_string());
    }
    let bad = |why: &str| Err(format!("{addr:?} is not a valid target address: {why}"));
    if let Some(i) = addr.find("://") {
        return bad(&format!(
            "write host:port without the scheme (set `scheme: {}` on the job instead)",
            &addr[..i]
        ));
    }
    if addr.contains('/') {
        return bad("write host:port without a path (set `metrics_path` on the job instead)");
    }
    if addr.contains(['?', '#']) {
        return bad("write host:port without a query (set `params` on the job instead)");
    }
    check_host_port(addr).or_else(|e| bad(&e))
}

/// Checks `host[:port]`, where host is a name, an IPv4 address or a bracketed IPv6 address.
pub(crate) fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err("missing ']' after IPv6 address".to_string());
        };
        let ip = &rest[..end];
        let ok_ip = !ip.is_empty()
            && ip.contains(':')
            && ip.split('%').next().is_some_and(|a| {
                a.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            });
        if !ok_ip {
            return Err(format!("{ip:?} is not an IPv6 address"));
        }
        let after = &rest[end + 1..];
        match after {
            "" => (ip, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (ip, Some(p)),
                None => return Err("unexpected text after ']'".to_string()),
            },
        }
    } else {
        match s.matches(':').count() {
            0 => (s, None),
            1 => {
                let (h, p) = s.split_once(':').unwrap_or((s, ""));
                (h, Some(p))
            }
            _ => return Err("IPv6 addresses must be in brackets, e.g. [::1]:9100".to_string()),
        }
    };
    if !s.starts_with('[') {
        if host.is_empty() {
            return Err("missing host".to_string());
        }
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(format!("invalid character {c:?} in host"));
        }
    }
    if let Some(p) = port {
        let valid = !p.is_empty()
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !valid {
            return Err(format!("invalid port {p:?} (want 1-65535)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        for ok in [
            "a",
            "_",
            "__name__",
            "job",
            "A1_b2",
            "__meta_kubernetes_pod_name",
        ] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é", "a b", "a:b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn accepts_prometheus_style_addresses() {
        for ok in [
            "localhost:9090",
            "127.0.0.1:9470",
            "node-exporter.monitoring.svc:9100",
            "my_host:80",
            "example.com",
            "[::1]:9100",
            "[2001:db8::1]:443",
            "[fe80::1%eth0]:9100",
            "[::1]",
            "10.0.0.1:65535",
        ] {
            assert_eq!(check_target_address(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_urls_paths_and_bad_ports() {
        let cases = [
            ("", "empty"),
            ("http://localhost:9090", "scheme: http"),
            ("localhost:9090/metrics", "without a path"),
            ("localhost:9090?x=1", "without a query"),
            ("::1:9100", "must be in brackets"),
            ("localhost:", "invalid port"),
            ("localhost:0", "invalid port"),
            ("localhost:65536", "invalid port"),
            ("localhost:http", "invalid port"),
            (":9100", "missing host"),
            ("[::1", "missing ']'"),
            ("[::1]9100", "after ']'"),
            ("[zz]:1", "not an IPv6 address"),
            ("host name:1", "invalid character ' '"),
        ];
        for (addr, why) in cases {
            let e = check_target_address(addr).expect_err(addr);
            assert!(e.contains(why), "{addr:?}: {e}");
        }
    }
}
