//! Request authentication: AWS Signature Version 4 (header and presigned query), Signature
//! Version 2 (header and presigned query) and anonymous access, plus the aws-chunked body decoder.
//!
//! Invariant: [`authenticate`] returns `Ok` only when the request carries a valid signature made
//! with the secret of the identity it names, or carries no credentials at all (an anonymous
//! request, which only the authorization step can let through). What the signature cannot cover before the body arrives is described by the returned
//! [`PayloadCheck`], and the caller must enforce it (hash the body, or decode it with
//! [`ChunkedDecoder`]) before acting on the body.

mod chunked;
pub mod post_policy;
mod sigv2;
mod sigv4;

pub use chunked::{ChunkSigning, ChunkedDecoder, ChunkedMode};

use crate::error::S3Result;
use crate::s3_error;
use actix_web::http::header::HeaderMap;
use strata_signing::{
    format_amz_date, format_iso8601, parse_amz_date, parse_http_date, percent_decode, RawQuery,
};
use time::OffsetDateTime;
#[cfg(test)]
use {
    hmac::{Hmac, KeyInit, Mac},
    strata_signing::{sha256, uri_encode_into},
};

/// Server credentials and policy.
#[derive(Clone)]
pub struct AuthConfig {
    /// The identities whose signatures the server accepts.
    pub users: std::sync::Arc<crate::users::UserDirectory>,
    /// The region requests must be signed for (SigV4 credential scope).
    pub region: String,
    /// Whether requests without any credentials act as the administrator (`--allow-anonymous`).
    pub allow_anonymous: bool,
}

/// What the authenticator needs of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The path exactly as received on the wire, still percent-encoded (actix `req.uri().path()`).
    pub raw_path: &'a str,
    /// The query string exactly as received, without '?', possibly empty.
    pub raw_query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// For SigV2's CanonicalizedResource: the bucket when addressed virtual-hosted style (`bucket.DOMAIN`), else None.
    pub virtual_host_bucket: Option<&'a str>,
}

/// How the body must be checked once it arrives.
#[derive(Debug, Clone)]
pub enum PayloadCheck {
    /// UNSIGNED-PAYLOAD, SigV2, or anonymous: nothing to verify against the signature.
    Unverified,
    /// x-amz-content-sha256 was a hex SHA-256: the body's SHA-256 must equal it (else XAmzContentSHA256Mismatch).
    Sha256([u8; 32]),
    /// The body is aws-chunked: decode it with `ChunkedDecoder::new(mode)`.
    Chunked(ChunkedMode),
}

/// The outcome of a successful authentication.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who signed the request; `None` for anonymous requests.
    pub identity: Option<std::sync::Arc<crate::users::Identity>>,
    /// What remains to be checked on the body.
    pub payload: PayloadCheck,
    /// The signature verified only with a literal `+` in the query read as a plus (its signer
    /// signed `%2B`), so the handlers must read it so too: read as a space, the request would
    /// mean something its signer did not sign.
    pub query_plus_is_literal: bool,
}

/// Verify the request's signature (SigV4 header, SigV4 presigned query, SigV2 header, SigV2
/// presigned query) and name its signer; a request without credentials is anonymous.
pub fn authenticate(
    parts: &RequestParts<'_>,
    cfg: &AuthConfig,
    now: OffsetDateTime,
) -> S3Result<Authenticated> {
    let query = RawQuery::parse(parts.raw_query);
    let authorization = match parts.headers.get("authorization") {
        Some(value) => Some(value.to_str().map_err(|_| {
            s3_error!(
                AuthorizationHeaderMalformed,
                "The authorization header is malformed; it contains non-ASCII characters."
            )
        })?),
        None => None,
    };
    let v4_query = query.contains("X-Amz-Algorithm")
        || query.contains("X-Amz-Credential")
        || query.contains("X-Amz-Signature");
    let v2_query = query.contains("AWSAccessKeyId") || query.contains("Signature");

    let mechanisms = usize::from(authorization.is_some()) + usize::from(v4_query || v2_query);
    if mechanisms > 1 || (v4_query && v2_query) {
        return Err(s3_error!(
            InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified"
        ));
    }

    if let Some(value) = authorization {
        let trimmed = value.trim_start();
        if let Some(rest) = strip_scheme(trimmed, sigv4::ALGORITHM) {
            return sigv4::verify_header(parts, &query, cfg, now, rest);
        }
        if let Some(rest) = strip_scheme(trimmed, "AWS") {
            return sigv2::verify_header(parts, &query, cfg, now, rest);
        }
        if strip_scheme(trimmed, "AWS4-ECDSA-P256-SHA256").is_some() {
            return Err(s3_error!(
                NotImplemented,
                "Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not supported"
            ));
        }
        return Err(s3_error!(InvalidArgument, "Unsupported Authorization Type"));
    }
    if v4_query {
        return sigv4::verify_presigned(parts, &query, cfg, now);
    }
    if v2_query {
        return sigv2::verify_presigned(parts, &query, cfg, now);
    }
    // No credentials: an anonymous request, for the authorization step to allow or deny.
    Ok(Authenticated {
        identity: None,
        payload: unsigned_payload_check(parts.headers)?,
        query_plus_is_literal: false,
    })
}

/// `"<scheme> rest"` -> `Some(rest)`; the scheme must be followed by whitespace.
fn strip_scheme<'v>(value: &'v str, scheme: &str) -> Option<&'v str> {
    let rest = value.strip_prefix(scheme)?;
    if rest.starts_with([' ', '\t']) {
        Some(rest.trim_start())
    } else {
        None
    }
}

/// Maximum clock difference S3 tolerates between a request's time and the server's.
const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// x-amz-content-sha256 values that are not a hash.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// The declared payload, from `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeclaredPayload {
    Unsigned,
    Sha256([u8; 32]),
    StreamingSigned { trailer: bool },
    StreamingUnsignedTrailer,
}

impl DeclaredPayload {
    /// Parses an `x-amz-content-sha256` value; S3 answers InvalidArgument for anything else.
    fn parse(value: &str) -> S3Result<Self> {
        match value {
            UNSIGNED_PAYLOAD => Ok(Self::Unsigned),
            STREAMING_SIGNED => Ok(Self::StreamingSigned { trailer: false }),
            STREAMING_SIGNED_TRAILER => Ok(Self::StreamingSigned { trailer: true }),
            STREAMING_UNSIGNED_TRAILER => Ok(Self::StreamingUnsignedTrailer),
            _ => {
                let mut hash = [0u8; 32];
                if value.len() == 64 && hex::decode_to_slice(value, &mut hash).is_ok() {
                    Ok(Self::Sha256(hash))
                } else {
                    Err(s3_error!(
                        InvalidArgument,
                        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, \
                         STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER \
                         or a valid sha256 value."
                    )
                    .with_extra("ArgumentName", "x-amz-content-sha256")
                    .with_extra("ArgumentValue", value))
                }
            }
        }
    }
}

/// The payload check for a request whose signature (SigV2, or none) does not cover the body.
/// A declared SHA-256 is still enforced, and an unsigned aws-chunked body still needs decoding.
fn unsigned_payload_check(headers: &HeaderMap) -> S3Result<PayloadCheck> {
    let Some(value) = header_str(headers, "x-amz-content-sha256")? else {
        return Ok(PayloadCheck::Unverified);
    };
    match DeclaredPayload::parse(value)? {
        DeclaredPayload::Unsigned => Ok(PayloadCheck::Unverified),
        DeclaredPayload::Sha256(hash) => Ok(PayloadCheck::Sha256(hash)),
        DeclaredPayload::StreamingUnsignedTrailer => Ok(PayloadCheck::Chunked(ChunkedMode {
            signing: None,
            trailer: true,
            decoded_length: decoded_content_length(headers)?,
        })),
        DeclaredPayload::StreamingSigned { .. } => Err(s3_error!(
            InvalidRequest,
            "x-amz-content-sha256 {value} requires AWS Signature Version 4 authentication"
        )),
    }
}

/// `x-amz-decoded-content-length`, when present.
fn decoded_content_length(headers: &HeaderMap) -> S3Result<Option<u64>> {
    match header_str(headers, "x-amz-decoded-content-length")? {
        None => Ok(None),
        Some(value) => value.trim().parse::<u64>().map(Some).map_err(|_| {
            s3_error!(
                InvalidArgument,
                "x-amz-decoded-content-length must be a non-negative integer"
            )
            .with_extra("ArgumentName", "x-amz-decoded-content-length")
            .with_extra("ArgumentValue", value)
        }),
    }
}

/// The first value of a header as text; a value that is not visible ASCII is an error.
fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> S3Result<Option<&'h str>> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| {
            s3_error!(InvalidArgument, "Header {name} contains invalid characters")
                .with_extra("ArgumentName", name.to_owned())
        }),
    }
}

/// HMAC-SHA256 of `data` under `key`.
fn hmac_sha256(key: &[u8], data: &[u8]) -> S3Result<[u8; 32]> {
    strata_signing::hmac_sha256(key, data).map_err(key_error)
}

/// The internal error for an HMAC key that was refused.
fn key_error(e: strata_signing::KeyError) -> crate::error::S3Error {
    crate::error::S3Error::internal(format!("HMAC key: {e}"))
}

/// The `RequestTimeTooSkewed` error S3 returns.
fn time_too_skewed(request_time: &str, now: OffsetDateTime) -> crate::error::S3Error {
    s3_error!(
        RequestTimeTooSkewed,
        "The difference between the request time and the current time is too large."
    )
    .with_extra("RequestTime", request_time)
    .with_extra("ServerTime", format_iso8601(now))
    .with_extra(
        "MaxAllowedSkewMilliseconds",
        MAX_SKEW.whole_milliseconds().to_string(),
    )
}

/// The error S3 returns when a request carries neither a valid `Date` nor `x-amz-date`.
fn missing_date() -> crate::error::S3Error {
    s3_error!(
        AccessDenied,
        "AWS authentication requires a valid Date or x-amz-date header"
    )
}

impl AuthConfig {
    /// A configuration with only an administrator (unit tests).
    #[cfg(test)]
    pub fn single(access_key: &str, secret_key: &str, region: &str, allow_anonymous: bool) -> Self {
        Self {
            users: std::sync::Arc::new(crate::users::UserDirectory::new(
                crate::users::admin_identity(access_key, secret_key),
                Vec::new(),
            )),
            region: region.to_owned(),
            allow_anonymous,
        }
    }

    /// The identity of an access key, or S3's InvalidAccessKeyId.
    fn identity(&self, access_key: &str) -> S3Result<std::sync::Arc<crate::users::Identity>> {
        self.users
            .by_access_key(access_key)
            .ok_or_else(|| unknown_access_key(access_key))
    }
}

/// The error S3 returns for an access key no identity has.
fn unknown_access_key(access_key: &str) -> crate::error::S3Error {
    s3_error!(
        InvalidAccessKeyId,
        "The AWS Access Key Id you provided does not exist in our records."
    )
    .with_extra("AWSAccessKeyId", access_key)
}

#[cfg(test)]
mod tests;
