//! AWS Signature Version 2 as S3 verifies it ("Signing and Authenticating REST Requests"):
//! `Authorization: AWS AKID:base64(HMAC-SHA1(secret, StringToSign))`, and presigned URLs with
//! `AWSAccessKeyId`, `Signature` and `Expires` query parameters (boto3 still presigns this way
//! against custom endpoints).
//!
//! Invariant: a request passes only if its StringToSign (method, Content-MD5, Content-Type, date
//! or expiry, `x-amz-*` headers, resource with S3's sub-resources) signs under the configured
//! secret to exactly the signature it carries, compared in constant time. SigV2 never covers the
//! body: the payload check only enforces what the client itself declares.

use super::{
    format_iso8601, key_error, missing_date, parse_http_date, percent_decode, time_too_skewed,
    unsigned_payload_check, AuthConfig, Authenticated, RawQuery, RequestParts, MAX_SKEW,
};
use crate::error::S3Result;
use crate::s3_error;
use base64::Engine;
use strata_signing::sigv2::{self, unfold};
use time::OffsetDateTime;

/// Verifies `Authorization: AWS <rest>` where rest is `AKID:signature`.
pub(super) fn verify_header(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    cfg: &AuthConfig,
    now: OffsetDateTime,
    rest: &str,
) -> S3Result<Authenticated> {
    let (access_key, signature) = rest
        .trim()
        .rsplit_once(':')
        .filter(|(key, sig)| !key.is_empty() && !sig.is_empty())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
            )
        })?;

    let amz_date = super::header_str(parts.headers, "x-amz-date")?;
    let date = super::header_str(parts.headers, "date")?;
    let raw_time = amz_date.or(date).ok_or_else(missing_date)?;
    let request_time = parse_http_date(raw_time).ok_or_else(missing_date)?;
    if (request_time - now).abs() > MAX_SKEW {
        return Err(time_too_skewed(raw_time, now));
    }
    let identity = cfg.identity(access_key)?;

    // With x-amz-date present the Date line is empty (AWS docs); some signers still put the Date
    // header there, so that reading is tried second.
    let mut date_lines = Vec::with_capacity(2);
    match (amz_date, date) {
        (Some(_), Some(date)) => {
            date_lines.push(String::new());
            date_lines.push(date.trim().to_owned());
        }
        (Some(_), None) => date_lines.push(String::new()),
        (None, Some(date)) => date_lines.push(date.trim().to_owned()),
        (None, None) => return Err(missing_date()),
    }
    verify_signature(
        parts,
        query,
        &identity.secret_key,
        access_key,
        signature,
        &date_lines,
        false,
    )?;
    Ok(Authenticated {
        identity: Some(identity),
        payload: unsigned_payload_check(parts.headers)?,
        query_plus_is_literal: false,
    })
}

/// Verifies a presigned URL (`AWSAccessKeyId`, `Signature`, `Expires`).
pub(super) fn verify_presigned(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    cfg: &AuthConfig,
    now: OffsetDateTime,
) -> S3Result<Authenticated> {
    let missing = || {
        s3_error!(
            AccessDenied,
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
        )
    };
    // The signature is base64: a literal '+' in it is a '+', never a space.
    let access_key = single_param(query, "AWSAccessKeyId", false)?.ok_or_else(missing)?;
    let signature = single_param(query, "Signature", false)?.ok_or_else(missing)?;
    let expires_raw = single_param(query, "Expires", false)?.ok_or_else(missing)?;

    let expires_secs: i64 = expires_raw.trim().parse().map_err(|_| {
        s3_error!(
            AccessDenied,
            "Invalid date (should be seconds since epoch): {expires_raw}"
        )
    })?;
    let expires = OffsetDateTime::from_unix_timestamp(expires_secs).map_err(|_| {
        s3_error!(
            AccessDenied,
            "Invalid date (should be seconds since epoch): {expires_raw}"
        )
    })?;
    if now > expires {
        return Err(s3_error!(AccessDenied, "Request has expired")
            .with_extra("Expires", format_iso8601(expires))
            .with_extra("ServerTime", format_iso8601(now)));
    }
    let identity = cfg.identity(&access_key)?;
    verify_signature(
        parts,
        query,
        &identity.secret_key,
        &access_key,
        &signature,
        std::slice::from_ref(&expires_raw),
        true,
    )?;
    Ok(Authenticated {
        identity: Some(identity),
        payload: unsigned_payload_check(parts.headers)?,
        query_plus_is_literal: false,
    })
}

/// One query parameter, decoded; repeated is an error, absent is `None`.
fn single_param(query: &RawQuery<'_>, name: &str, plus_as_space: bool) -> S3Result<Option<String>> {
    let mut values = query.values(name, plus_as_space);
    if values.len() > 1 {
        return Err(s3_error!(InvalidArgument, "{name} must appear only once"));
    }
    match values.pop() {
        None => Ok(None),
        Some(value) => String::from_utf8(value)
            .map(Some)
            .map_err(|_| s3_error!(InvalidArgument, "{name} is not valid UTF-8")),
    }
}

/// Builds the StringToSign for each date line and compares signatures.
fn verify_signature(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    secret: &str,
    access_key: &str,
    provided: &str,
    date_lines: &[String],
    presigned: bool,
) -> S3Result<()> {
    // Malformed base64 cannot match; it still gets the SignatureDoesNotMatch answer.
    let provided_bytes = base64::engine::general_purpose::STANDARD
        .decode(provided.trim())
        .unwrap_or_default();
    let mut first: Option<String> = None;
    for date_line in date_lines {
        for resource in canonical_resources(parts, query) {
            let string_to_sign = string_to_sign(parts, query, date_line, presigned, &resource);
            let expected = hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes())?;
            if strata_signing::constant_time_eq(&expected, &provided_bytes) {
                return Ok(());
            }
            first.get_or_insert(string_to_sign);
        }
    }
    Err(s3_error!(
        SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    )
    .with_extra("AWSAccessKeyId", access_key)
    .with_extra("StringToSign", first.unwrap_or_default())
    .with_extra("SignatureProvided", provided))
}

/// `METHOD\nContent-MD5\nContent-Type\nDate\nCanonicalizedAmzHeaders CanonicalizedResource`.
fn string_to_sign(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    date_line: &str,
    presigned: bool,
    resource: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(parts.method);
    out.push('\n');
    out.push_str(&standard_header(parts, query, "content-md5", presigned));
    out.push('\n');
    out.push_str(&standard_header(parts, query, "content-type", presigned));
    out.push('\n');
    out.push_str(date_line);
    out.push('\n');
    for (name, value) in amz_headers(parts, query, presigned) {
        out.push_str(&name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str(resource);
    out
}

/// Content-MD5 / Content-Type as sent; for a presigned URL, boto3 moves them into the query
/// string, so the query parameter stands in when the header is absent.
fn standard_header(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    name: &str,
    presigned: bool,
) -> String {
    if let Some(value) = parts.headers.get(name) {
        return String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    }
    if presigned {
        if let Some(value) = query.values(name, false).into_iter().next() {
            return String::from_utf8_lossy(&value).trim().to_owned();
        }
    }
    String::new()
}

/// The CanonicalizedAmzHeaders: every `x-amz-*` header, lower-cased, sorted, repeated values
/// joined with `,`, each value trimmed with folding whitespace unfolded. For a presigned URL,
/// `x-amz-*` query parameters count as headers too (boto3 moves headers into the query).
fn amz_headers(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    presigned: bool,
) -> Vec<(String, String)> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in parts.headers.iter() {
        if name.as_str().starts_with("x-amz-") {
            map.entry(name.as_str().to_owned())
                .or_default()
                .push(unfold(&String::from_utf8_lossy(value.as_bytes())));
        }
    }
    if presigned {
        for pair in &query.pairs {
            let key = String::from_utf8_lossy(&percent_decode(pair.key, false)).to_lowercase();
            if key.starts_with("x-amz-") && parts.headers.get(key.as_str()).is_none() {
                let value =
                    String::from_utf8_lossy(&percent_decode(pair.value, false)).into_owned();
                map.entry(key).or_default().push(unfold(&value));
            }
        }
    }
    map.into_iter()
        .map(|(name, values)| (name, values.join(",")))
        .collect()
}

/// The CanonicalizedResources a signer may have used for this request (see
/// [`sigv2::push_canonical_resource`]): the path as sent, and for a path-style request on a bucket
/// (`/bucket`, no key) also `/bucket/`. botocore's `s3` (SigV2) signer builds the resource of a
/// bucket request from the bucket name plus `/` while it sends the path without the slash
/// (CreateBucket, `?acl`, `?versioning` ...); AWS accepts it, so the verifier tries both. The
/// variant names the same bucket and sub-resources, so it lets no signature stand for another
/// request.
fn canonical_resources(parts: &RequestParts<'_>, query: &RawQuery<'_>) -> Vec<String> {
    let mut as_sent = String::with_capacity(parts.raw_path.len() + 32);
    sigv2::push_canonical_resource(
        &mut as_sent,
        parts.virtual_host_bucket,
        parts.raw_path,
        query,
    );
    let bare_bucket = parts.virtual_host_bucket.is_none()
        && parts.raw_path.len() > 1
        && parts
            .raw_path
            .get(1..)
            .is_some_and(|rest| !rest.contains('/'));
    if !bare_bucket {
        return vec![as_sent];
    }
    let mut with_slash = String::with_capacity(as_sent.len() + 1);
    with_slash.push_str(parts.raw_path);
    with_slash.push('/');
    with_slash.push_str(&as_sent[parts.raw_path.len()..]);
    vec![as_sent, with_slash]
}

/// HMAC-SHA1 of `data` under `key`.
pub(super) fn hmac_sha1(key: &[u8], data: &[u8]) -> S3Result<[u8; 20]> {
    sigv2::hmac_sha1(key, data).map_err(key_error)
}
