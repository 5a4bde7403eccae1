//! AWS Signature Version 2 ("Signing and Authenticating REST Requests"): the pieces of the
//! StringToSign that do not depend on how headers are stored, and the HMAC-SHA1 signature.

use crate::encoding::{percent_decode, RawQuery};
use crate::KeyError;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Query parameters that are part of the CanonicalizedResource: the sub-resources AWS documents
/// plus the ones botocore's `HmacV1Auth` signs (botocore is the SigV2 client still in use, so its
/// list is the one signatures must agree with).
pub const SUB_RESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Trims a header value and replaces folding whitespace (line breaks with their indentation) by one space.
pub fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_fold = false;
    for c in value.trim().chars() {
        if c == '\r' || c == '\n' {
            in_fold = true;
            continue;
        }
        if in_fold && (c == ' ' || c == '\t') {
            continue;
        }
        if in_fold {
            out.push(' ');
            in_fold = false;
        }
        out.push(c);
    }
    out
}

/// Appends the CanonicalizedResource: `/bucket` for virtual-hosted requests, the path as sent,
/// then the sub-resources, sorted by name, with values decoded (`?acl`, `?partNumber=1&uploadId=...`).
pub fn push_canonical_resource(
    out: &mut String,
    virtual_host_bucket: Option<&str>,
    raw_path: &str,
    query: &RawQuery<'_>,
) {
    if let Some(bucket) = virtual_host_bucket {
        out.push('/');
        out.push_str(bucket);
    }
    if raw_path.is_empty() {
        out.push('/');
    } else {
        out.push_str(raw_path);
    }
    let mut subs: Vec<(String, Option<String>)> = query
        .pairs
        .iter()
        .filter_map(|pair| {
            let key = String::from_utf8_lossy(&percent_decode(pair.key, false)).into_owned();
            if !SUB_RESOURCES.contains(&key.as_str()) {
                return None;
            }
            let value = pair
                .has_equals
                .then(|| String::from_utf8_lossy(&percent_decode(pair.value, false)).into_owned());
            Some((key, value))
        })
        .collect();
    // Sort by name only, keeping the wire order of repeats (botocore sorts the same way).
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (key, value)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        if let Some(value) = value {
            out.push('=');
            out.push_str(value);
        }
    }
}

/// HMAC-SHA1 of `data` under `key`.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> Result<[u8; 20], KeyError> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).map_err(|_| KeyError)?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// The SigV2 signature of `string_to_sign` under `secret`, base64 as it is sent.
pub fn signature(secret: &str, string_to_sign: &str) -> Result<String, KeyError> {
    let mac = hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(mac))
}
