//! SigV4 header signing for the benchmark's requests (path-style S3 requests, no body signing).
//!
//! Invariant: the Authorization header covers exactly `host`, `x-amz-content-sha256` and
//! `x-amz-date`, over the canonical URI and query the caller also puts on the wire, so what is
//! signed is what is sent. The unit tests hold it equal to the official `aws-sigv4` signer.

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use time::OffsetDateTime;

/// Payload hash of a body that is sent but not hashed (allowed by S3 for PutObject).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (query components).
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`QUERY_ENCODE`], keeping `/` (object keys in the path; S3 encodes once, no normalisation).
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

/// Percent-encodes an object key for the request path.
pub fn encode_path(key: &str) -> String {
    utf8_percent_encode(key, PATH_ENCODE).to_string()
}

/// The canonical (and wire) query string of `pairs`: each side encoded, sorted by name then value.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                utf8_percent_encode(k, QUERY_ENCODE).to_string(),
                utf8_percent_encode(v, QUERY_ENCODE).to_string(),
            )
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (k, v) in encoded {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&k);
        out.push('=');
        out.push_str(&v);
    }
    out
}

/// The headers that carry a signature.
pub struct Signature {
    /// Value of `x-amz-date`.
    pub amz_date: String,
    /// Value of `Authorization`.
    pub authorization: String,
}

/// Signs requests with one access key for one region and the `s3` service.
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    /// The signing key of the last date used (it changes once a day).
    key_cache: Mutex<Option<(String, [u8; 32])>>,
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32], String> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|e| format!("HMAC key: {e}"))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
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

    fn signing_key(&self, date: &str) -> Result<[u8; 32], String> {
        let mut cache = self.key_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((d, key)) = cache.as_ref() {
            if d == date {
                return Ok(*key);
            }
        }
        let k_date = hmac_sha256(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        )?;
        let k_region = hmac_sha256(&k_date, self.region.as_bytes())?;
        let k_service = hmac_sha256(&k_region, b"s3")?;
        let key = hmac_sha256(&k_service, b"aws4_request")?;
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
    ) -> Result<Signature, String> {
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
    ) -> Result<Signature, String> {
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
        // Canonical values: trimmed, runs of spaces collapsed to one.
        headers.extend(extra.iter().map(|(n, v)| {
            (
                n.as_str(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        }));
        headers.sort_by(|a, b| a.0.cmp(b.0));
        let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed_headers = headers
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(";");
        let canonical_request = format!(
            "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let key = self.signing_key(&date)?;
        let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes())?);
        Ok(Signature {
            authorization: format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                self.access_key
            ),
            amz_date,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SigningSettings, UriPathNormalizationMode,
    };
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    use std::time::SystemTime;
    use time::macros::datetime;

    /// The Authorization header `aws-sigv4` computes, configured as the S3 SDK configures it.
    fn oracle(
        method: &str,
        uri: &str,
        host: &str,
        payload: &str,
        at: OffsetDateTime,
        extra: &[(String, String)],
    ) -> (String, String) {
        let identity: Identity = Credentials::new("AKID", "secret/key+", None, None, "t").into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-3")
            .name("s3")
            .time(SystemTime::from(at))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        // aws-sigv4 adds x-amz-content-sha256 (from the body) and x-amz-date itself.
        let mut headers = vec![("host", host)];
        headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let body = if payload == UNSIGNED_PAYLOAD {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Precomputed(payload.to_owned())
        };
        let signable = SignableRequest::new(
            method,
            format!("http://{host}{uri}"),
            headers.into_iter(),
            body,
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let get = |name: &str| {
            instructions
                .headers()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_owned())
                .unwrap()
        };
        (get("authorization"), get("x-amz-date"))
    }

    #[test]
    fn matches_the_official_signer() {
        let signer = Signer::new("AKID", "secret/key+", "eu-west-3");
        let at = datetime!(2026-03-04 05:06:07 UTC);
        let host = "127.0.0.1:9000";
        let key = encode_path("dir/some key+ü~.bin");
        assert_eq!(key, "dir/some%20key%2B%C3%BC~.bin");
        let cases: Vec<(&str, String, String, &str)> = vec![
            (
                "PUT",
                format!("/bkt/{key}"),
                String::new(),
                UNSIGNED_PAYLOAD,
            ),
            ("GET", format!("/bkt/{key}"), String::new(), EMPTY_SHA256),
            ("PUT", "/bkt".into(), String::new(), EMPTY_SHA256),
            (
                "GET",
                "/bkt".into(),
                canonical_query(&[
                    ("prefix", "bench-1/"),
                    ("max-keys", "1000"),
                    ("list-type", "2"),
                    ("continuation-token", "a+b/c=="),
                ]),
                EMPTY_SHA256,
            ),
        ];
        for (method, path, query, payload) in cases {
            let uri = if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            };
            let (want_auth, want_date) = oracle(method, &uri, host, payload, at, &[]);
            let got = signer
                .sign(method, &path, &query, host, payload, at)
                .unwrap();
            assert_eq!(got.amz_date, want_date);
            assert_eq!(got.authorization, want_auth, "{method} {uri}");
        }
    }

    #[test]
    fn extra_headers_match_the_official_signer() {
        let signer = Signer::new("AKID", "secret/key+", "eu-west-3");
        let at = datetime!(2026-03-04 05:06:07 UTC);
        let extra = vec![
            ("content-type".to_owned(), "text/plain".to_owned()),
            (
                "x-amz-meta-colour".to_owned(),
                " blue  and   green ".to_owned(),
            ),
            ("x-amz-storage-class".to_owned(), "STANDARD_IA".to_owned()),
        ];
        let (want, _) = oracle("PUT", "/bkt/k", "h:1", UNSIGNED_PAYLOAD, at, &extra);
        let got = signer
            .sign_with_headers("PUT", "/bkt/k", "", "h:1", UNSIGNED_PAYLOAD, at, &extra)
            .unwrap();
        assert_eq!(got.authorization, want);
    }

    #[test]
    fn query_is_sorted_and_encoded() {
        assert_eq!(
            canonical_query(&[("prefix", "a b/"), ("list-type", "2"), ("acl", "")]),
            "acl=&list-type=2&prefix=a%20b%2F"
        );
    }

    #[test]
    fn signing_key_cache_follows_the_date() {
        let signer = Signer::new("AKID", "secret/key+", "eu-west-3");
        let day1 = datetime!(2026-03-04 23:59:59 UTC);
        let day2 = datetime!(2026-03-05 00:00:01 UTC);
        let a = signer
            .sign("GET", "/b", "", "h", EMPTY_SHA256, day1)
            .unwrap();
        let b = signer
            .sign("GET", "/b", "", "h", EMPTY_SHA256, day2)
            .unwrap();
        let fresh = Signer::new("AKID", "secret/key+", "eu-west-3");
        let b2 = fresh
            .sign("GET", "/b", "", "h", EMPTY_SHA256, day2)
            .unwrap();
        assert_ne!(a.authorization, b.authorization);
        assert_eq!(b.authorization, b2.authorization);
    }
}
