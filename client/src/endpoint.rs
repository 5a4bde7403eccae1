//! The endpoints the client talks to: bare `http://host[:port]` URLs (buckets go in the path).

/// Whether `host` (from a URL) names this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// The parts of an endpoint URL the client needs: base URL, Host header, port.
pub struct Endpoint {
    /// `http://host[:port]`.
    pub base: String,
    /// Host header value.
    pub host: String,
    /// Host without port.
    pub hostname: String,
    /// TCP port.
    pub port: u16,
}

/// Parses `--endpoint`.
pub fn parse_endpoint(endpoint: &str) -> Result<Endpoint, String> {
    let url =
        reqwest::Url::parse(endpoint).map_err(|e| format!("invalid endpoint {endpoint:?}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "endpoint {endpoint:?}: only http:// endpoints are supported (the load generator has no TLS stack)"
        ));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(format!(
            "endpoint {endpoint:?} must be a bare http://host:port (buckets are addressed path-style)"
        ));
    }
    let hostname = url
        .host_str()
        .ok_or_else(|| format!("endpoint {endpoint:?} has no host"))?
        .to_owned();
    let host = match url.port() {
        Some(p) => format!("{hostname}:{p}"),
        None => hostname.clone(),
    };
    Ok(Endpoint {
        base: format!("http://{host}"),
        port: url.port_or_known_default().unwrap_or(80),
        host,
        hostname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = parse_endpoint("http://127.0.0.1:9000").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:9000");
        assert_eq!(e.host, "127.0.0.1:9000");
        assert_eq!(e.port, 9000);
        let e = parse_endpoint("http://localhost/").unwrap();
        assert_eq!(e.host, "localhost");
        assert_eq!(e.port, 80);
        assert!(parse_endpoint("https://s3.example.com").is_err());
        assert!(parse_endpoint("http://h:1/bucket").is_err());
        assert!(parse_endpoint("127.0.0.1:9000").is_err());
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.3.2.1"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("LOCALHOST"));
        assert!(!is_loopback("10.0.0.1"));
        assert!(!is_loopback("example.com"));
    }
}
