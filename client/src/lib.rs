//! Strata's S3 client: path-style, SigV4-signed requests to one endpoint over a keep-alive
//! HTTP/1.1 pool (plain HTTP, no TLS stack). The load generator, remote replication and the
//! `strata lifecycle` / `strata replication` commands all send their requests through it.
//!
//! Invariant: what is signed is what is sent: the path and query put on the wire are the
//! canonical ones the signature covers, and every extra header given is signed.

mod endpoint;
mod runtime;

pub use endpoint::{is_loopback, parse_endpoint, Endpoint};
pub use reqwest::{header, Body, Error as HttpError, Method, Response, StatusCode};
pub use runtime::BlockingRuntime;
pub use strata_signing::{encode_path, encode_query, Signer, EMPTY_SHA256, UNSIGNED_PAYLOAD};

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use std::time::Duration;
use time::OffsetDateTime;

/// Development credentials used when STRATA_ACCESS_KEY / STRATA_SECRET_KEY are unset.
pub const DEV_ACCESS_KEY: &str = "strata-dev";
/// See [`DEV_ACCESS_KEY`].
pub const DEV_SECRET_KEY: &str = "strata-dev-secret";

/// The credentials from `STRATA_ACCESS_KEY` / `STRATA_SECRET_KEY`, or the development defaults
/// when both are unset; the flag says whether the defaults are in use.
pub fn env_credentials() -> Result<(String, String, bool), String> {
    let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    match (var("STRATA_ACCESS_KEY"), var("STRATA_SECRET_KEY")) {
        (Some(a), Some(s)) => Ok((a, s, false)),
        (None, None) => Ok((DEV_ACCESS_KEY.to_owned(), DEV_SECRET_KEY.to_owned(), true)),
        _ => Err("set both STRATA_ACCESS_KEY and STRATA_SECRET_KEY, or neither".into()),
    }
}

/// How the HTTP connection pool is set up.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Idle connections kept per host (`None`: reqwest's default).
    pub max_idle_per_host: Option<usize>,
    /// How long an idle connection is kept (`None`: reqwest's default).
    pub idle_timeout: Option<Duration>,
    /// Deadline for establishing a connection (`None`: none).
    pub connect_timeout: Option<Duration>,
    /// Deadline for a whole request (`None`: none; a request may set its own).
    pub timeout: Option<Duration>,
    /// Deadline between two reads of a response (`None`: none).
    pub read_timeout: Option<Duration>,
    /// Whether to set TCP_NODELAY and speak HTTP/1.1 only (as the S3 data path does).
    pub http1_nodelay: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_idle_per_host: None,
            idle_timeout: None,
            connect_timeout: None,
            timeout: None,
            read_timeout: None,
            http1_nodelay: true,
        }
    }
}

/// One request: the path already encoded (`/bucket/key`), the query as pairs (encoded and sorted
/// here), extra headers to sign and send, and the body with its length and payload hash.
pub struct Request<'a> {
    /// The HTTP method.
    pub method: Method,
    /// The encoded path, starting with `/`.
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Extra headers (lower-case names), all signed.
    pub headers: &'a [(String, String)],
    /// The body and its length.
    pub body: Option<(Body, u64)>,
    /// `x-amz-content-sha256`: a hex SHA-256, [`UNSIGNED_PAYLOAD`] or [`EMPTY_SHA256`].
    pub payload_hash: &'a str,
    /// A `Content-Length: 0` header on a request without a body.
    pub empty_length: bool,
    /// A deadline for this request, replacing the pool's.
    pub timeout: Option<Duration>,
}

impl<'a> Request<'a> {
    /// A request without a body, query or extra headers.
    pub fn new(method: Method, path: &'a str) -> Self {
        Self {
            method,
            path,
            query: &[],
            headers: &[],
            body: None,
            payload_hash: EMPTY_SHA256,
            empty_length: false,
            timeout: None,
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// The request could not be signed.
    Sign(strata_signing::KeyError),
    /// The connection failed, was reset or timed out.
    Http(reqwest::Error),
}

impl SendError {
    /// Whether a deadline ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Http(e) if e.is_timeout())
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sign(e) => write!(f, "HMAC key: {e}"),
            Self::Http(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SendError {}

/// A path-style S3 client for one endpoint.
pub struct S3Client {
    http: reqwest::Client,
    /// `http://host[:port]`.
    base: String,
    /// The Host header (and the host that is signed).
    host: String,
    signer: Signer,
}

impl S3Client {
    /// A client for `endpoint` signing with `signer`, over a pool set up as `pool` says.
    pub fn new(endpoint: &Endpoint, signer: Signer, pool: &PoolOptions) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder().no_proxy();
        if pool.http1_nodelay {
            builder = builder.tcp_nodelay(true).http1_only();
        }
        if let Some(n) = pool.max_idle_per_host {
            builder = builder.pool_max_idle_per_host(n);
        }
        if let Some(t) = pool.idle_timeout {
            builder = builder.pool_idle_timeout(t);
        }
        if let Some(t) = pool.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = pool.timeout {
            builder = builder.timeout(t);
        }
        if let Some(t) = pool.read_timeout {
            builder = builder.read_timeout(t);
        }
        let http = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: endpoint.base.clone(),
            host: endpoint.host.clone(),
            signer,
        })
    }

    /// The endpoint's base URL, `http://host[:port]`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Signs and sends one request; any answer, whatever its status, is `Ok`.
    pub async fn send(&self, request: Request<'_>) -> Result<Response, SendError> {
        let query = encode_query(request.query);
        let sig = self
            .signer
            .sign_with_headers(
                request.method.as_str(),
                request.path,
                &query,
                &self.host,
                request.payload_hash,
                OffsetDateTime::now_utc(),
                request.headers,
            )
            .map_err(SendError::Sign)?;
        let url = if query.is_empty() {
            format!("{}{}", self.base, request.path)
        } else {
            format!("{}{}?{query}", self.base, request.path)
        };
        let mut req = self
            .http
            .request(request.method, url)
            .header(HOST, &self.host)
            .header("x-amz-date", sig.amz_date)
            .header("x-amz-content-sha256", request.payload_hash)
            .header(AUTHORIZATION, sig.authorization);
        for (n, v) in request.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        if let Some(t) = request.timeout {
            req = req.timeout(t);
        }
        req = match request.body {
            Some((body, len)) => req.header(CONTENT_LENGTH, len).body(body),
            None if request.empty_length => req.header(CONTENT_LENGTH, 0),
            None => req,
        };
        req.send().await.map_err(SendError::Http)
    }
}

/// The S3 error code of an error document (`<Code>...</Code>`), if it carries one.
pub fn error_code(body: &str) -> Option<String> {
    body.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned())
}
