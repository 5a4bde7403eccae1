//! AWS Signature Version 4 for the `s3` service: the canonical forms, the signing key, and a
//! signer for path-style requests.
//!
//! Invariant: the verifier (the server) and the signer (the load generator, remote replication)
//! build the canonical request and the string to sign with these functions; the signer's output
//! is held equal to the official `aws-sigv4` signer's by the unit tests.

use crate::encoding::{percent_decode, uri_encode_into, RawQuery};
use crate::{hmac_sha256, sha256, KeyError};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use time::OffsetDateTime;

/// The only SigV4 algorithm S3 accepts with HMAC credentials.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name in the credential scope.
pub const SERVICE: &str = "s3";
/// The last element of the credential scope.
pub const TERMINATOR: &str = "aws4_request";
/// Payload hash of a body that is sent but not hashed (allowed by S3 for PutObject).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Derived signing keys by (secret digest, date, region): deriving costs four HMACs per request.
type SigningKeyCache = HashMap<([u8; 32], String, String), [u8; 32]>;

/// The process-wide signing key cache; a handful of entries live at once (one per day and region).
static SIGNING_KEYS: LazyLock<Mutex<SigningKeyCache>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Bound on cached keys; the cache is simply emptied when it fills.
const MAX_CACHED_KEYS: usize = 64;

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")`, cached.
pub fn signing_key(secret: &str, date: &str, region: &str) -> Result<[u8; 32], KeyError> {
    let id = (
        sha256(secret.as_bytes()),
        date.to_owned(),
        region.to_owned(),
    );
    {
        let cache = SIGNING_KEYS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = cache.get(&id) {
            return Ok(*key);
        }
    }
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes())?;
    let k_region = hmac_sha256(&k_date, region.as_bytes())?;
    let k_service = hmac_sha256(&k_region, SERVICE.as_bytes())?;
    let key = hmac_sha256(&k_service, TERMINATOR.as_bytes())?;
    let mut cache = SIGNING_KEYS.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= MAX_CACHED_KEYS {
        cache.clear();
    }
    cache.insert(id, key);
    Ok(key)
}

/// The credential scope `DATE/REGION/s3/aws4_request`.
pub fn scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/{SERVICE}/{TERMINATOR}")
}

/// The canonical URI: S3 encodes once and never normalises (`//`, `.` and `..` stay).
/// `reencode` decodes each `%XX` and re-encodes every byte outside the unreserved set, keeping
/// `/`; otherwise the wire path is used as sent.
pub fn canonical_uri(raw_path: &str, reencode: bool) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    if !reencode {
        return raw_path.to_owned();
    }
    let mut out = String::with_capacity(raw_path.len() + 16);
    uri_encode_into(&mut out, &percent_decode(raw_path, false), true);
    out
}

/// The canonical query: every parameter decoded and re-encoded with the unreserved set, sorted by
/// encoded name then value, empty values kept as `name=`; a presigned request's `X-Amz-Signature`
/// is left out.
pub fn canonical_query(query: &RawQuery<'_>, presigned: bool, plus_as_space: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .pairs
        .iter()
        .filter(|pair| !(presigned && percent_decode(pair.key, false) == b"X-Amz-Signature"))
        .map(|pair| {
            let mut key = String::new();
            uri_encode_into(&mut key, &percent_decode(pair.key, plus_as_space), false);
            let mut value = String::new();
            uri_encode_into(
                &mut value,
                &percent_decode(pair.value, plus_as_space),
                false,
            );
            (key, value)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Appends `value` without leading/trailing spaces and with runs of spaces collapsed (SigV4's
/// `Trimall`; only the space character, as S3 and the AWS SDKs do).
pub fn push_trimmed_collapsed(out: &mut Vec<u8>, value: &[u8]) {
    let mut previous_space = false;
    let start = out.len();
    for &b in value {
        if b == b' ' {
            previous_space = true;
            continue;
        }
        if previous_space && out.len() > start {
            out.push(b' ');
        }
        previous_space = false;
        out.push(b);
    }
}

/// `METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED_HEADERS\nPAYLOAD`, as bytes (header values need not be
/// UTF-8); `headers_block` is the `name:value\n` lines of the signed headers.
pub fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers_block: &[u8],
    signed_headers: &str,
    payload: &str,
) -> Vec<u8> {
    let mut creq = Vec::with_capacity(256 + headers_block.len());
    creq.extend_from_slice(method.as_bytes());
    creq.push(b'\n');
    creq.extend_from_slice(uri.as_bytes());
    creq.push(b'\n');
    creq.extend_from_slice(query.as_bytes());
    creq.push(b'\n');
    creq.extend_from_slice(headers_block);
    creq.push(b'\n');
    creq.extend_from_slice(signed_headers.as_bytes());
    creq.push(b'\n');
    creq.extend_from_slice(payload.as_bytes());
    creq
}

/// `AWS4-HMAC-SHA256\nAMZ_DATE\nSCOPE\nhex(SHA-256(canonical request))`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(sha256(canonical_request))
    )
}

/// The headers that carry a signature.
pub struct Signature {
    /// Value of `x-amz-date`.
    pub amz_date: String,
    /// Value of `Authorization`.
    pub authorization: String,
}

/// Signs requests with one access key for one region and the `s3` service.
///
/// The Authorization header covers `host`, `x-amz-content-sha256`, `x-amz-date` and the extra
/// headers given, over the canonical URI and query the caller also puts on the wire.
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    /// The signing key of the last date used (it changes once a day).
    key_cache: Mutex<Option<(String, [u8; 32])>>,
}

impl Signer {
    /// A signer for these credentials and region.
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Self {
        Signer {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            key_cache: Mutex::new(None),
        }
    }

    fn signing_key(&self, date: &str) -> Result<[u8; 32], KeyError> {
        let mut cache = self.key_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((d, key)) = cache.as_ref() {
            if d == date {
                return Ok(*key);
            }
        }
        let key = signing_key(&self.secret_key, date, &self.region)?;
        *cache = Some((date.to_owned(), key));
        Ok(key)
    }

    /// Signs a request whose canonical URI (already encoded) and canonical query are given.
    pub fn sign(
        &self,
        method: &str,
        canonical_uri: &str,
        canonical_query: &str,
        host: &str,
        payload_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Signature, KeyError> {
        self.sign_with_headers(
            method,
            canonical_uri,
            canonical_query,
            host,
            payload_hash,
            now,
            &[],
        )
    }

    /// Like `sign`, also signing `extra` headers (lower-case names, values as sent; S3 wants
    /// every `x-amz-*` header signed).
    #[allow(clippy::too_many_arguments)]
    pub fn sign_with_headers(
        &self,
        method: &str,
        canonical_uri: &str,
        canonical_query: &str,
        host: &str,
        payload_hash: &str,
        now: OffsetDateTime,
        extra: &[(String, String)],
    ) -> Result<Signature, KeyError> {
        let date = format!(
            "{:04}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        let amz_date = format!(
            "{date}T{:02}{:02}{:02}Z",
            now.hour(),
            now.minute(),
            now.second()
        );
        let mut headers: Vec<(&str, String)> = vec![
            ("host", host.to_owned()),
            ("x-amz-content-sha256", payload_hash.to_owned()),
            ("x-amz-date", amz_date.clone()),
        ];
        // Canonical values: trimmed, runs of whitespace collapsed to one space.
        headers.extend(extra.iter().map(|(n, v)| {
            (
                n.as_str(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        }));
        headers.sort_by(|a, b| a.0.cmp(b.0));
        let headers_block: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed_headers = headers
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(";");
        let creq = canonical_request(
            method,
            canonical_uri,
            canonical_query,
            headers_block.as_bytes(),
            &signed_headers,
            payload_hash,
        );
        let scope = scope(&date, &self.region);
        let string_to_sign = string_to_sign(&amz_date, &scope, &creq);
        let key = self.signing_key(&date)?;
        let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes())?);
        Ok(Signature {
            authorization: format!(
                "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                self.access_key
            ),
            amz_date,
        })
    }
}

#[cfg(test)]
mod tests;
