//! The HTTP front: one catch-all actix handler that assigns a request id, resolves the addressing
//! style, authenticates, classifies the request into one [`Operation`] and dispatches it.
//!
//! Invariant: every response, success or failure, carries `x-amz-request-id`; every failure is
//! rendered from an [`S3Error`] (XML body, except for HEAD).

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use percent_encoding::percent_decode_str;
use tracing::Instrument as _;

use crate::auth::{self, AuthConfig, Authenticated, RequestParts};
use crate::error::{S3Error, S3Result};
use crate::handlers;
use crate::metrics::Metrics;
use crate::router::{classify, Operation};
use crate::s3_error;

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    /// The storage engine.
    pub store: strata_storage::Store,
    /// Credentials and anonymous policy.
    pub auth: AuthConfig,
    /// Region this server answers for.
    pub region: String,
    /// Domain for virtual-hosted-style addressing (`bucket.DOMAIN`).
    pub domain: Option<String>,
    /// Whether `/_strata/metrics` is served without authentication.
    pub public_metrics: bool,
    /// Metrics.
    pub metrics: Metrics,
    /// The lifecycle clock.
    pub clock: strata_lifecycle::LifecycleClock,
    /// The lifecycle worker.
    pub lifecycle: strata_lifecycle::worker::LifecycleWorker,
    /// Lifecycle configurations by bucket, read through (only this process writes them).
    pub lifecycle_configs: crate::lifecycle_cache::LifecycleCache,
    /// Access settings by bucket, read through (only this process writes them).
    pub access: crate::authz::AccessCache,
    /// Replication destinations on other endpoints.
    pub remotes: Arc<crate::replication_remote::Remotes>,
    /// The replication worker.
    pub replication: strata_lifecycle::replication::ReplicationWorker,
    /// Idle timeout and admission of request bodies.
    pub body_limits: crate::body::BodyLimits,
}

/// A parsed, authenticated S3 request.
pub struct S3Request {
    /// The actix request.
    pub http: HttpRequest,
    /// Shared state.
    pub state: Arc<AppState>,
    /// Bucket, if addressed.
    pub bucket: Option<String>,
    /// Key, if addressed (decoded).
    pub key: Option<String>,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The authentication outcome (who signed it, how to check the body).
    pub auth: Authenticated,
    /// What the authorization step found.
    pub granted: crate::authz::Granted,
}

impl S3Request {
    /// A query parameter's value.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value as text (None when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The bucket (handlers for bucket operations are only reached with one).
    pub fn bucket(&self) -> S3Result<&str> {
        self.bucket
            .as_deref()
            .ok_or_else(|| s3_error!(InvalidRequest, "A bucket name is required"))
    }

    /// The key (handlers for object operations are only reached with one).
    pub fn key(&self) -> S3Result<&str> {
        self.key
            .as_deref()
            .ok_or_else(|| s3_error!(InvalidRequest, "A key is required"))
    }

    /// Takes the body check out of the request (a body is read once).
    pub fn take_payload_check(&mut self) -> auth::PayloadCheck {
        std::mem::replace(&mut self.auth.payload, auth::PayloadCheck::Unverified)
    }

    /// Reads a small request document (an XML or JSON body of at most `max_len` bytes) with
    /// every integrity check the request asked for and the server's body timeouts.
    pub async fn read_document(
        &mut self,
        payload: web::Payload,
        max_len: u64,
    ) -> S3Result<Vec<u8>> {
        let check = self.take_payload_check();
        let (body, _) = crate::body::read_small(
            payload,
            self.http.headers(),
            check,
            max_len,
            &self.state.body_limits,
        )
        .await?;
        Ok(body)
    }

    /// The storage engine.
    pub fn store(&self) -> &strata_storage::Store {
        &self.state.store
    }
}

/// Runs blocking storage work off the executor.
pub async fn blocking<T, F>(f: F) -> S3Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> S3Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(S3Error::internal)?
}

/// Decodes a query string into (name, value) pairs: `%XX` decoded, `+` as a space.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    parse_query_reading(raw, true)
}

/// Decodes a query string, reading `+` as a space or, when `plus_as_space` is false, as itself.
fn parse_query_reading(raw: &str, plus_as_space: bool) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                let s = if plus_as_space {
                    std::borrow::Cow::Owned(s.replace('+', " "))
                } else {
                    std::borrow::Cow::Borrowed(s)
                };
                percent_decode_str(&s).decode_utf8_lossy().into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// Splits a request into (bucket, key) for path-style or virtual-hosted-style addressing.
/// Returns the virtual-hosted bucket separately (SigV2 needs it).
pub fn resolve_address(
    host: Option<&str>,
    raw_path: &str,
    domain: Option<&str>,
) -> S3Result<(Option<String>, Option<String>, Option<String>)> {
    if !valid_escapes(raw_path) {
        // percent_decode_str keeps an invalid escape such as `%G1` literally; S3 refuses it.
        return Err(s3_error!(InvalidURI, "Couldn't parse the specified URI."));
    }
    let decode = |s: &str| -> S3Result<String> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| s3_error!(InvalidURI, "Couldn't parse the specified URI."))
    };
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let host_name = host.map(|h| {
        // Strip a port, keeping IPv6 literals intact.
        match h.rfind(':') {
            Some(i) if !h[i..].contains(']') => &h[..i],
            _ => h,
        }
    });
    if let (Some(domain), Some(host)) = (domain, host_name) {
        let host = host.to_ascii_lowercase();
        if let Some(bucket) = host.strip_suffix(domain).and_then(|b| b.strip_suffix('.')) {
            if !bucket.is_empty() {
                let key = if path.is_empty() {
                    None
                } else {
                    Some(decode(path)?)
                };
                return Ok((Some(bucket.to_owned()), key, Some(bucket.to_owned())));
            }
        }
    }
    if path.is_empty() {
        return Ok((None, None, None));
    }
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then_some(k)),
        None => (path, None),
    };
    let key = key.map(decode).transpose()?;
    Ok((Some(decode(bucket)?), key, None))
}

/// Largest request head (request line and headers) S3 accepts: "The PUT request header is
/// limited to 8 KB in size" (Amazon S3 User Guide, object metadata); S3 answers a larger one with
/// `400 RequestHeaderSectionTooLarge`, whatever the operation.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

fn check_head_size(req: &HttpRequest) -> S3Result<()> {
    let uri = req.uri();
    let line = req.method().as_str().len()
        + uri.path().len()
        + uri.query().map_or(0, |q| q.len() + 1)
        + 11;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if line + headers > MAX_REQUEST_HEAD {
        return Err(s3_error!(
            RequestHeaderSectionTooLarge,
            "Your request header section exceeds the maximum allowed size."
        )
        .with_extra("MaxSizeAllowed", MAX_REQUEST_HEAD.to_string()));
    }
    Ok(())
}

/// Whether every `%` of a raw path starts an escape of two hex digits.
fn valid_escapes(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn new_request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// The catch-all actix handler.
pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = new_request_id();
    let state = state.into_inner();
    // With debug logging on, every line logged while the request is handled carries its id
    // (blocking tasks excepted: what they fail with is logged below, with the id). At the default
    // level the span is disabled and costs nothing.
    let span = tracing::debug_span!("request", request_id = %request_id);
    let (op, bucket, result) = route(req.clone(), payload, state.clone(), request_id.clone())
        .instrument(span)
        .await;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            if let Some(detail) = &err.detail {
                tracing::error!(
                    request_id,
                    operation = op.name(),
                    error = %detail,
                    "internal error"
                );
            }
            error_response(&req, &err, &request_id)
        }
    };
    if op != Operation::PreflightCors && req.headers().contains_key("origin") {
        handlers::cors::decorate(&state.store, bucket.as_deref(), &req, resp.headers_mut()).await;
    }
    let headers = resp.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&request_id) {
        headers.insert(
            header::HeaderName::from_static("x-amz-request-id"),
            v.clone(),
        );
        headers.insert(header::HeaderName::from_static("x-amz-id-2"), v);
    }
    headers.insert(header::SERVER, header::HeaderValue::from_static("Strata"));
    state
        .metrics
        .record_request(op, resp.status().as_u16(), started.elapsed());
    resp
}

/// Renders an error as S3 does: the XML document (no body for HEAD), status and extra headers.
pub fn error_response(req: &HttpRequest, err: &S3Error, request_id: &str) -> HttpResponse {
    let mut builder = HttpResponseBuilder::new(err.code.status());
    for (name, value) in &err.headers {
        builder.insert_header((*name, value.as_str()));
    }
    if req.method() == Method::HEAD || err.code.status() == StatusCode::NOT_MODIFIED {
        return builder.finish();
    }
    let mut err = err.clone();
    if err.resource.is_none() {
        err.resource = Some(
            percent_decode_str(req.uri().path())
                .decode_utf8_lossy()
                .into_owned(),
        );
    }
    builder
        .content_type("application/xml")
        .body(err.to_xml(request_id))
}

async fn route(
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<AppState>,
    request_id: String,
) -> (Operation, Option<String>, S3Result<HttpResponse>) {
    if let Err(e) = check_head_size(&req) {
        return (Operation::MethodNotAllowed, None, Err(e));
    }
    let raw_path = req.uri().path().to_owned();
    if let Some(admin) = raw_path.strip_prefix("/_strata/") {
        let result = crate::admin::route(&req, admin, &state, payload).await;
        return (Operation::Unsupported("Admin"), None, result);
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let (bucket, key, vhost_bucket) =
        match resolve_address(host.as_deref(), &raw_path, state.domain.as_deref()) {
            Ok(parts) => parts,
            Err(e) => return (Operation::MethodNotAllowed, None, Err(e)),
        };
    let raw_query = req.uri().query().unwrap_or("").to_owned();
    let mut query = parse_query(&raw_query);
    let operation_of = |query: &[(String, String)]| {
        classify(
            req.method().as_str(),
            bucket.as_deref(),
            key.as_deref(),
            |k: &str| query.iter().any(|(n, _)| n == k),
            |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            req.headers().contains_key("x-amz-copy-source"),
        )
    };
    let mut op = operation_of(&query);
    let parts = RequestParts {
        method: req.method().as_str(),
        raw_path: &raw_path,
        raw_query: &raw_query,
        headers: req.headers(),
        virtual_host_bucket: vhost_bucket.as_deref(),
    };
    if op == Operation::PreflightCors {
        // Browsers send preflights without credentials.
        let result = handlers::cors::preflight(&state.store, bucket.as_deref(), &req).await;
        return (op, bucket, result);
    }
    let now = time::OffsetDateTime::now_utc();
    let authenticated = if op == Operation::PostObject {
        // A browser form upload is authorised by its signed policy, checked by the handler.
        Authenticated {
            identity: None,
            payload: auth::PayloadCheck::Unverified,
            query_plus_is_literal: false,
        }
    } else {
        match auth::authenticate(&parts, &state.auth, now) {
            Ok(mut a) => {
                if a.identity.is_none() && state.auth.allow_anonymous {
                    // --allow-anonymous: an unsigned request acts as the administrator.
                    a.identity = Some(state.auth.users.admin());
                }
                a
            }
            Err(e) => return (op, bucket, Err(e)),
        }
    };
    if authenticated.query_plus_is_literal {
        // Read the query as it was signed: a `+` is a plus, not a space.
        query = parse_query_reading(&raw_query, false);
        op = operation_of(&query);
    }
    tracing::debug!(
        request_id,
        operation = op.name(),
        user = authenticated
            .identity
            .as_ref()
            .map_or("-", |i| i.name.as_str()),
        "request"
    );
    let mut s3req = S3Request {
        http: req,
        state,
        bucket: bucket.clone(),
        key,
        query,
        auth: authenticated,
        granted: crate::authz::Granted::default(),
    };
    s3req.granted = match crate::authz::authorize(op, &s3req).await {
        Ok(granted) => granted,
        Err(e) => return (op, bucket, Err(e)),
    };
    let may_list = s3req.granted.may_list;
    let result = match handlers::dispatch(op, s3req, payload).await {
        // API reference, GetObject: without s3:ListBucket a missing key is 403, not 404, so that
        // a reader cannot learn which keys exist.
        Err(e) if e.code == crate::error::S3ErrorCode::NoSuchKey && !may_list => {
            Err(crate::authz::access_denied())
        }
        other => other,
    };
    (op, bucket, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_addressing() {
        assert_eq!(
            resolve_address(Some("localhost:9000"), "/b/a%20b/c", None).unwrap(),
            (Some("b".into()), Some("a b/c".into()), None)
        );
        assert_eq!(
            resolve_address(Some("localhost:9000"), "/b/", None).unwrap(),
            (Some("b".into()), None, None)
        );
        assert_eq!(
            resolve_address(Some("localhost"), "/", None).unwrap(),
            (None, None, None)
        );
        // A key of only slashes is still a key.
        assert_eq!(
            resolve_address(None, "/b//x", None).unwrap(),
            (Some("b".into()), Some("/x".into()), None)
        );
    }

    #[test]
    fn virtual_hosted_addressing() {
        assert_eq!(
            resolve_address(
                Some("photos.s3.local:9000"),
                "/2024/a.jpg",
                Some("s3.local")
            )
            .unwrap(),
            (
                Some("photos".into()),
                Some("2024/a.jpg".into()),
                Some("photos".into())
            )
        );
        // The bare domain is path-style.
        assert_eq!(
            resolve_address(Some("s3.local:9000"), "/b/k", Some("s3.local")).unwrap(),
            (Some("b".into()), Some("k".into()), None)
        );
        assert!(resolve_address(None, "/b/%FF", None).is_err());
        // issue #14: an invalid escape was kept literally in the key.
        assert!(resolve_address(None, "/b/a%G1", None).is_err());
        assert!(resolve_address(None, "/b/a%4", None).is_err());
        assert!(resolve_address(None, "/b/a%41%2f", None).is_ok());
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("list-type=2&prefix=a%2Fb+c&acl"),
            vec![
                ("list-type".to_string(), "2".to_string()),
                ("prefix".to_string(), "a/b c".to_string()),
                ("acl".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn a_literal_plus_reading_keeps_the_plus() {
        assert_eq!(
            parse_query_reading("prefix=a+b%2Bc&x", false),
            vec![
                ("prefix".into(), "a+b+c".into()),
                ("x".into(), String::new())
            ]
        );
        assert_eq!(
            parse_query_reading("prefix=a+b%2Bc", true),
            vec![("prefix".into(), "a b+c".into())]
        );
    }
}
