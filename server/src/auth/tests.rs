//! Tests of [`authenticate`]: requests signed by the official `aws-sigv4` signer (the oracle) must
//! verify, any one-byte change must not; SigV2 against AWS's documented example and vectors
//! computed by botocore.

use super::*;
use crate::error::{S3Error, S3ErrorCode};
use actix_web::http::header::{HeaderName, HeaderValue};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::time::{Duration, SystemTime};
use time::macros::datetime;

const AK: &str = "AKIDEXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOST: &str = "127.0.0.1:9000";
const SIGNED_AT: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

fn config() -> AuthConfig {
    AuthConfig::single(AK, SK, "us-east-1", false)
}

/// A request as it arrives on the wire.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    vhost: Option<String>,
}

impl Req {
    fn new(method: &str, path: &str, query: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: vec![("host".to_owned(), HOST.to_owned())],
            vhost: None,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| n != name);
        self
    }

    fn get_header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    fn map_header(mut self, name: &str, f: impl Fn(&str) -> String) -> Self {
        for (n, v) in &mut self.headers {
            if n == name {
                *v = f(v);
            }
        }
        self
    }

    fn run_with(&self, cfg: &AuthConfig, now: OffsetDateTime) -> S3Result<Authenticated> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let parts = RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers: &map,
            virtual_host_bucket: self.vhost.as_deref(),
        };
        authenticate(&parts, cfg, now)
    }

    fn run(&self) -> S3Result<Authenticated> {
        self.run_with(&config(), SIGNED_AT)
    }
}

/// Signs `req` with `aws-sigv4` configured as the S3 client configures it.
fn sign_v4(req: &Req, body: SignableBody<'_>, presign: Option<Duration>) -> Req {
    sign_v4_with(req, body, presign, SK, "us-east-1", SIGNED_AT)
}

fn sign_v4_with(
    req: &Req,
    body: SignableBody<'_>,
    presign: Option<Duration>,
    secret: &str,
    region: &str,
    at: OffsetDateTime,
) -> Req {
    let identity: Identity = Credentials::new(AK, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    if let Some(expires) = presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(SystemTime::from(at))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = if req.query.is_empty() {
        format!("http://{HOST}{}", req.path)
    } else {
        format!("http://{HOST}{}?{}", req.path, req.query)
    };
    let signable = SignableRequest::new(
        &req.method,
        uri,
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        body,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut signed = req.clone();
    for (name, value) in instructions.headers() {
        signed.headers.push((name.to_owned(), value.to_owned()));
    }
    for (name, value) in instructions.params() {
        if !signed.query.is_empty() {
            signed.query.push('&');
        }
        signed.query.push_str(name);
        signed.query.push('=');
        uri_encode_into(&mut signed.query, value.as_bytes(), false);
    }
    signed
}

fn err(result: S3Result<Authenticated>) -> S3Error {
    result.expect_err("request must be rejected")
}

fn assert_mismatch(result: S3Result<Authenticated>, what: &str) {
    let e = result.expect_err(what);
    assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch, "{what}: {e}");
    let names: Vec<&str> = e.extra.iter().map(|(n, _)| *n).collect();
    assert!(names.contains(&"StringToSign"), "{what}");
    assert!(names.contains(&"CanonicalRequest"), "{what}");
}

/// `s` with its last character replaced by another one.
fn flip_last(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = if *last == 'a' { 'b' } else { 'a' };
    }
    chars.into_iter().collect()
}

/// Flips one hex digit of the signature in an Authorization header value.
fn flip_signature(authorization: &str) -> String {
    flip_last(authorization)
}

/// Requests with awkward paths, queries and headers.
fn awkward_requests() -> Vec<(Req, &'static [u8])> {
    vec![
        (Req::new("GET", "/bucket/key", ""), b""),
        (Req::new("GET", "/", ""), b""),
        (
            Req::new("PUT", "/bucket/a%20b/%2B%3D/caf%C3%A9/%E2%9C%93.txt", "")
                .header("content-type", "text/plain")
                .header("x-amz-meta-note", "  spaced    out   value  "),
            b"hello world",
        ),
        (
            Req::new(
                "GET",
                "/bucket",
                "list-type=2&prefix=a%20b%2Bc%3Dd&delimiter=%2F&encoding-type=url",
            ),
            b"",
        ),
        (Req::new("GET", "/bucket/key", "acl"), b""),
        (Req::new("GET", "/bucket/key", "acl="), b""),
        (
            Req::new("PUT", "/bucket/key", "tagging&versionId=v%2B1%3D"),
            b"<Tagging/>",
        ),
        (Req::new("GET", "/bucket/key", "b=2&a=2&a=1&c="), b""),
        // No normalisation: S3 keeps `//`, `.` and `..` segments.
        (Req::new("GET", "/bucket//double/./dot/../key", ""), b""),
        // Unreserved characters, and an encoded slash inside a key.
        (Req::new("GET", "/bucket/~user/-_.key", ""), b""),
        (Req::new("GET", "/bucket/a%2Fb", ""), b""),
        (Req::new("GET", "/bucket/a%2fb%7e", ""), b""),
        // Unicode and odd characters in the query.
        (
            Req::new(
                "GET",
                "/bucket",
                "prefix=%E6%97%A5%E6%9C%AC&marker=%20%2B%3D%26",
            ),
            b"",
        ),
        (
            Req::new("POST", "/bucket", "delete")
                .header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")
                .header("x-amz-checksum-crc32", "AAAAAA=="),
            b"<Delete></Delete>",
        ),
    ]
}

#[test]
fn oracle_header_signed_requests_verify() {
    for (req, body) in awkward_requests() {
        let signed = sign_v4(&req, SignableBody::Bytes(body), None);
        let auth = signed
            .run()
            .unwrap_or_else(|e| panic!("{req:?} must verify: {e} {:?}", e.extra));
        assert_eq!(
            auth.identity.as_ref().map(|i| i.access_key.as_str()),
            Some(AK)
        );
        match auth.payload {
            PayloadCheck::Sha256(hash) => assert_eq!(hash, sha256(body)),
            other => panic!("expected a SHA-256 payload check, got {other:?}"),
        }
    }
}

#[test]
fn oracle_unsigned_payload_verifies() {
    let req = Req::new("PUT", "/bucket/key", "");
    let signed = sign_v4(&req, SignableBody::UnsignedPayload, None);
    let auth = signed.run().unwrap();
    assert!(matches!(auth.payload, PayloadCheck::Unverified));
}

#[test]
fn one_byte_changes_break_header_signatures() {
    for (req, body) in awkward_requests() {
        let signed = sign_v4(&req, SignableBody::Bytes(body), None);

        let mut changed = signed.clone();
        changed.path = flip_last(&signed.path);
        assert_mismatch(changed.run(), &format!("path of {req:?}"));

        let mut changed = signed.clone();
        changed.method = if signed.method == "GET" {
            "HEAD"
        } else {
            "GET"
        }
        .to_owned();
        assert_mismatch(changed.run(), &format!("method of {req:?}"));

        if !signed.query.is_empty() {
            let mut changed = signed.clone();
            changed.query = format!("{}x", signed.query);
            assert_mismatch(changed.run(), &format!("query of {req:?}"));
        }

        let changed = signed.clone().map_header("host", flip_last);
        assert_mismatch(changed.run(), &format!("host of {req:?}"));

        let changed = signed.clone().map_header("authorization", flip_signature);
        assert_mismatch(changed.run(), &format!("signature of {req:?}"));

        let changed = signed
            .clone()
            .map_header("x-amz-content-sha256", |_| hex::encode(sha256(b"other")));
        assert_mismatch(changed.run(), &format!("payload hash of {req:?}"));
    }

    let req = Req::new("PUT", "/bucket/key", "").header("x-amz-meta-note", "value");
    let signed = sign_v4(&req, SignableBody::Bytes(b"x"), None);
    let changed = signed.map_header("x-amz-meta-note", |_| "valuf".to_owned());
    assert_mismatch(changed.run(), "signed x-amz-meta header");
}

#[test]
fn oracle_presigned_requests_verify() {
    for (req, _) in awkward_requests() {
        // Presigned URLs carry no body hash and sign only `host` (plus what the URL user sends).
        let req = Req {
            headers: vec![("host".to_owned(), HOST.to_owned())],
            ..req
        };
        let signed = sign_v4(
            &req,
            SignableBody::UnsignedPayload,
            Some(Duration::from_secs(3600)),
        );
        let auth = signed
            .run()
            .unwrap_or_else(|e| panic!("{req:?} must verify: {e} {:?}", e.extra));
        assert_eq!(
            auth.identity.as_ref().map(|i| i.access_key.as_str()),
            Some(AK)
        );
        assert!(matches!(auth.payload, PayloadCheck::Unverified));
        // Still valid just before expiry.
        assert!(signed
            .run_with(&config(), SIGNED_AT + time::Duration::seconds(3600))
            .is_ok());

        let mut changed = signed.clone();
        changed.path = flip_last(&signed.path);
        assert_mismatch(changed.run(), &format!("presigned path of {req:?}"));

        let mut changed = signed.clone();
        changed.query = flip_last(&signed.query);
        assert_mismatch(changed.run(), &format!("presigned signature of {req:?}"));

        let mut changed = signed.clone();
        changed.query = signed.query.replacen("X-Amz-", "x=1&X-Amz-", 1);
        assert_mismatch(changed.run(), &format!("presigned extra param of {req:?}"));

        let changed = signed.clone().map_header("host", flip_last);
        assert_mismatch(changed.run(), &format!("presigned host of {req:?}"));
    }
}

#[test]
fn presigned_validity_window() {
    let req = Req::new("GET", "/bucket/key", "");
    let signed = sign_v4(
        &req,
        SignableBody::UnsignedPayload,
        Some(Duration::from_secs(600)),
    );
    let expired = err(signed.run_with(&config(), SIGNED_AT + time::Duration::seconds(601)));
    assert_eq!(expired.code, S3ErrorCode::AccessDenied);
    assert_eq!(expired.message, "Request has expired");

    let early = err(signed.run_with(&config(), SIGNED_AT - time::Duration::minutes(16)));
    assert_eq!(early.code, S3ErrorCode::AccessDenied);
    assert_eq!(early.message, "Request is not yet valid");
    // A little clock skew is tolerated.
    assert!(signed
        .run_with(&config(), SIGNED_AT - time::Duration::minutes(14))
        .is_ok());

    for bad in ["0", "-1", "604801", "soon"] {
        let mut changed = signed.clone();
        changed.query = signed
            .query
            .replace("X-Amz-Expires=600", &format!("X-Amz-Expires={bad}"));
        let e = err(changed.run());
        assert_eq!(
            e.code,
            S3ErrorCode::AuthorizationQueryParametersError,
            "{bad}"
        );
    }
    // Seven days is the longest validity.
    let week = sign_v4(
        &req,
        SignableBody::UnsignedPayload,
        Some(Duration::from_secs(604_800)),
    );
    assert!(week
        .run_with(&config(), SIGNED_AT + time::Duration::days(6))
        .is_ok());

    let mut missing = signed.clone();
    missing.query = signed
        .query
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-SignedHeaders"))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        err(missing.run()).code,
        S3ErrorCode::AuthorizationQueryParametersError
    );
}

#[test]
fn header_auth_rejects_clock_skew() {
    let signed = sign_v4(
        &Req::new("GET", "/bucket/key", ""),
        SignableBody::Bytes(b""),
        None,
    );
    assert!(signed
        .run_with(&config(), SIGNED_AT + time::Duration::minutes(14))
        .is_ok());
    for skew in [time::Duration::minutes(16), time::Duration::minutes(-16)] {
        let e = err(signed.run_with(&config(), SIGNED_AT + skew));
        assert_eq!(e.code, S3ErrorCode::RequestTimeTooSkewed);
    }
}

#[test]
fn wrong_region_names_the_expected_one() {
    let req = Req::new("GET", "/bucket/key", "");
    let signed = sign_v4_with(
        &req,
        SignableBody::Bytes(b""),
        None,
        SK,
        "us-west-2",
        SIGNED_AT,
    );
    let e = err(signed.run());
    assert_eq!(e.code, S3ErrorCode::AuthorizationHeaderMalformed);
    assert!(
        e.message
            .contains("the region 'us-west-2' is wrong; expecting 'us-east-1'"),
        "{e}"
    );
    assert!(e.extra.contains(&("Region", "us-east-1".to_owned())));

    let presigned = sign_v4_with(
        &req,
        SignableBody::UnsignedPayload,
        Some(Duration::from_secs(60)),
        SK,
        "us-west-2",
        SIGNED_AT,
    );
    let e = err(presigned.run());
    assert_eq!(e.code, S3ErrorCode::AuthorizationQueryParametersError);
    assert!(e.message.contains("expecting 'us-east-1'"), "{e}");
}

#[test]
fn unknown_access_key_and_wrong_secret() {
    let signed = sign_v4(
        &Req::new("GET", "/bucket/key", ""),
        SignableBody::Bytes(b""),
        None,
    );
    let other = AuthConfig::single("SOMEONEELSE", SK, "us-east-1", false);
    assert_eq!(
        err(signed.run_with(&other, SIGNED_AT)).code,
        S3ErrorCode::InvalidAccessKeyId
    );
    let wrong_secret = sign_v4_with(
        &Req::new("GET", "/bucket/key", ""),
        SignableBody::Bytes(b""),
        None,
        "not-the-secret",
        "us-east-1",
        SIGNED_AT,
    );
    assert_mismatch(wrong_secret.run(), "wrong secret");
}

#[test]
fn x_amz_content_sha256_is_required_and_validated() {
    let req = Req::new("GET", "/bucket/key", "");
    let signed = sign_v4(&req, SignableBody::Bytes(b""), None);
    let missing = signed.clone().without_header("x-amz-content-sha256");
    let e = err(missing.run());
    assert_eq!(e.code, S3ErrorCode::InvalidRequest);
    assert_eq!(
        e.message,
        "Missing required header for this request: x-amz-content-sha256"
    );
    let invalid = signed.map_header("x-amz-content-sha256", |_| "GIBBERISH".to_owned());
    assert_eq!(err(invalid.run()).code, S3ErrorCode::InvalidArgument);
}

#[test]
fn unsigned_amz_headers_are_refused() {
    let signed = sign_v4(
        &Req::new("PUT", "/bucket/key", ""),
        SignableBody::Bytes(b""),
        None,
    );
    let e = err(signed.header("x-amz-acl", "public-read").run());
    assert_eq!(e.code, S3ErrorCode::AccessDenied);
    assert!(e
        .extra
        .contains(&("HeadersNotSigned", "x-amz-acl".to_owned())));
}

#[test]
fn host_must_be_signed_and_scope_must_match() {
    let signed = sign_v4(
        &Req::new("GET", "/bucket/key", ""),
        SignableBody::Bytes(b""),
        None,
    );
    let no_host = signed.clone().map_header("authorization", |v| {
        v.replace("SignedHeaders=host;", "SignedHeaders=")
    });
    assert_eq!(
        err(no_host.run()).code,
        S3ErrorCode::AuthorizationHeaderMalformed
    );
    let other_day = signed
        .clone()
        .map_header("authorization", |v| v.replace("/20260301/", "/20260302/"));
    assert_eq!(
        err(other_day.run()).code,
        S3ErrorCode::AuthorizationHeaderMalformed
    );
    let other_service = signed
        .clone()
        .map_header("authorization", |v| v.replace("/s3/", "/ec2/"));
    assert_eq!(
        err(other_service.run()).code,
        S3ErrorCode::AuthorizationHeaderMalformed
    );
    let garbage = signed.map_header("authorization", |_| "AWS4-HMAC-SHA256 nonsense".to_owned());
    assert_eq!(
        err(garbage.run()).code,
        S3ErrorCode::AuthorizationHeaderMalformed
    );
}

#[test]
fn anonymous_requests_are_anonymous() {
    // An unsigned request authenticates as no one: authorization then decides.
    let req = Req::new("GET", "/bucket/key", "");
    let open = config();
    let auth = req.run_with(&open, SIGNED_AT).unwrap();
    assert!(auth.identity.is_none());
    assert!(matches!(auth.payload, PayloadCheck::Unverified));

    // A declared hash is still enforced, and an unsigned aws-chunked body still decoded.
    let hashed = req
        .clone()
        .header("x-amz-content-sha256", &hex::encode(sha256(b"abc")));
    let auth = hashed.run_with(&open, SIGNED_AT).unwrap();
    assert!(matches!(auth.payload, PayloadCheck::Sha256(h) if h == sha256(b"abc")));
    let chunked = req
        .clone()
        .header("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        .header("x-amz-decoded-content-length", "5");
    let auth = chunked.run_with(&open, SIGNED_AT).unwrap();
    assert!(matches!(
        auth.payload,
        PayloadCheck::Chunked(ChunkedMode {
            signing: None,
            trailer: true,
            decoded_length: Some(5)
        })
    ));
    // Signed chunks need a signature to chain from.
    let signed_chunks = req.header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    assert!(signed_chunks.run_with(&open, SIGNED_AT).is_err());
}

#[test]
fn only_one_auth_mechanism() {
    let signed = sign_v4(
        &Req::new("GET", "/bucket/key", ""),
        SignableBody::Bytes(b""),
        None,
    );
    let mut both = signed.clone();
    both.query = "X-Amz-Signature=abc".to_owned();
    assert_eq!(err(both.run()).code, S3ErrorCode::InvalidArgument);
    let odd = signed.map_header("authorization", |_| "Bearer token".to_owned());
    assert_eq!(err(odd.run()).code, S3ErrorCode::InvalidArgument);
}

#[test]
fn streaming_signed_upload_hands_out_the_seed() {
    // The AWS documented example ("sigv4-streaming", Example: PUT Object).
    let req = Req {
        method: "PUT".to_owned(),
        path: "/examplebucket/chunkObject.txt".to_owned(),
        query: String::new(),
        headers: vec![],
        vhost: None,
    }
    .header("host", "s3.amazonaws.com")
    .header("x-amz-date", "20130524T000000Z")
    .header("x-amz-storage-class", "REDUCED_REDUNDANCY")
    .header(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
         x-amz-decoded-content-length;x-amz-storage-class,\
         Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    )
    .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    .header("content-encoding", "aws-chunked")
    .header("x-amz-decoded-content-length", "66560")
    .header("content-length", "66824");
    let cfg = AuthConfig::single(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        false,
    );
    let auth = req
        .run_with(&cfg, datetime!(2013-05-24 00:05:00 UTC))
        .unwrap_or_else(|e| panic!("{e} {:?}", e.extra));
    let PayloadCheck::Chunked(mode) = auth.payload else {
        panic!("expected an aws-chunked payload");
    };
    assert!(!mode.trailer);
    assert_eq!(mode.decoded_length, Some(66560));
    let signing = mode.signing.clone().unwrap();
    assert_eq!(
        signing.seed_signature,
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    );
    assert_eq!(signing.scope, "20130524/us-east-1/s3/aws4_request");
    assert_eq!(signing.amz_date, "20130524T000000Z");

    // The documented first chunk verifies against the handed-out chain.
    let mut body =
        b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
            .to_vec();
    body.extend_from_slice(&[b'a'; 65536]);
    body.extend_from_slice(b"\r\n");
    let mut decoder = ChunkedDecoder::new(mode);
    let mut out = Vec::new();
    decoder.feed(&body, &mut out).unwrap();
    assert_eq!(out.len(), 65536);
}

#[test]
fn oracle_streaming_modes_map_to_chunked_checks() {
    let req = Req::new("PUT", "/bucket/key", "")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", "11")
        .header("x-amz-trailer", "x-amz-checksum-crc32");
    let signed = sign_v4(&req, SignableBody::StreamingUnsignedPayloadTrailer, None);
    let auth = signed.run().unwrap();
    assert!(matches!(
        auth.payload,
        PayloadCheck::Chunked(ChunkedMode {
            signing: None,
            trailer: true,
            decoded_length: Some(11)
        })
    ));
    let signed = sign_v4(&req, SignableBody::StreamingSignedPayloadTrailer, None);
    let auth = signed.run().unwrap();
    let PayloadCheck::Chunked(mode) = auth.payload else {
        panic!("expected an aws-chunked payload");
    };
    assert!(mode.trailer);
    let signing = mode.signing.unwrap();
    let authorization = signed.get_header("authorization");
    assert!(authorization.ends_with(&signing.seed_signature));
}

// SigV2.

const V2_AK: &str = "AKIAIOSFODNN7EXAMPLE";
const V2_SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn v2_config() -> AuthConfig {
    AuthConfig::single(V2_AK, V2_SK, "us-east-1", false)
}

#[test]
fn sigv2_documented_example_verifies() {
    // AWS docs, "Signing and Authenticating REST Requests": GET Object, virtual-hosted style.
    let now = datetime!(2007-03-27 19:40:00 UTC);
    let mut req = Req::new("GET", "/photos/puppy.jpg", "")
        .map_header("host", |_| {
            "awsexamplebucket1.us-west-1.s3.amazonaws.com".to_owned()
        })
        .header("date", "Tue, 27 Mar 2007 19:36:42 +0000")
        .header(
            "authorization",
            "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
        );
    req.vhost = Some("awsexamplebucket1".to_owned());
    let auth = req.run_with(&v2_config(), now).unwrap();
    assert_eq!(
        auth.identity.as_ref().map(|i| i.access_key.as_str()),
        Some(V2_AK)
    );
    assert!(matches!(auth.payload, PayloadCheck::Unverified));

    // Path-style addressing signs the same resource.
    let mut path_style = req.clone();
    path_style.vhost = None;
    path_style.path = "/awsexamplebucket1/photos/puppy.jpg".to_owned();
    assert!(path_style.run_with(&v2_config(), now).is_ok());

    // One byte changed anywhere breaks it.
    let mut changed = req.clone();
    changed.path = "/photos/puppy.jpf".to_owned();
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    let changed = req
        .clone()
        .map_header("date", |_| "Tue, 27 Mar 2007 19:36:43 +0000".to_owned());
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    let changed = req
        .clone()
        .map_header("authorization", |v| v.replace("qgk2", "qgk3"));
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    let mut changed = req.clone();
    changed.query = "acl".to_owned();
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    // A query parameter that is not a sub-resource is not signed by SigV2.
    let mut unsigned_param = req.clone();
    unsigned_param.query = "x-id=GetObject".to_owned();
    assert!(unsigned_param.run_with(&v2_config(), now).is_ok());

    let e = err(req.run_with(&v2_config(), now + time::Duration::hours(1)));
    assert_eq!(e.code, S3ErrorCode::RequestTimeTooSkewed);
    let other = AuthConfig::single("SOMEONEELSE", V2_SK, "us-east-1", false);
    assert_eq!(
        err(req.run_with(&other, now)).code,
        S3ErrorCode::InvalidAccessKeyId
    );
}

#[test]
fn sigv2_botocore_header_vector_verifies() {
    // botocore HmacV1Auth: PUT ?acl with x-amz-* headers and a Content-Type.
    let req = Req::new("PUT", "/my-bucket/obj.txt", "acl")
        .header("content-type", "text/plain")
        .header("x-amz-meta-tag", "hello   world")
        .header("x-amz-acl", "private")
        .header("date", "Wed, 01 Jan 2025 12:00:00 GMT")
        .header(
            "authorization",
            "AWS AKIAIOSFODNN7EXAMPLE:jjJDA9VflCZJN+7lNpDzlryqdZ8=",
        );
    let now = datetime!(2025-01-01 12:01:00 UTC);
    assert!(req.run_with(&v2_config(), now).is_ok());
    let changed = req.map_header("x-amz-acl", |_| "public-read".to_owned());
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
}

#[test]
fn sigv2_botocore_presigned_get_verifies() {
    // botocore HmacV1QueryAuth (what boto3's generate_presigned_url produces with SigV2).
    let req = Req::new(
        "GET",
        "/my-bucket/dir/my%20photo%2Bv1.jpg",
        "versionId=3%2Fxyz&response-content-disposition=attachment%3B%20filename%3D%22a%20b.jpg%22\
         &AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=%2FgXBc59fcjTi7XfSalgjMSQbKCk%3D&Expires=1893456000",
    );
    let now = datetime!(2026-06-01 00:00:00 UTC);
    let auth = req.run_with(&v2_config(), now).unwrap();
    assert_eq!(
        auth.identity.as_ref().map(|i| i.access_key.as_str()),
        Some(V2_AK)
    );

    let expired = err(req.run_with(&v2_config(), datetime!(2030-01-01 00:00:01 UTC)));
    assert_eq!(expired.code, S3ErrorCode::AccessDenied);
    assert_eq!(expired.message, "Request has expired");

    let mut changed = req.clone();
    changed.query = req.query.replace("3%2Fxyz", "3%2Fxyy");
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    let mut changed = req.clone();
    changed.query = req.query.replace("1893456000", "1893456001");
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    let mut changed = req.clone();
    changed.path = "/my-bucket/dir/my%20photo%2Bv2.jpg".to_owned();
    assert_eq!(
        err(changed.run_with(&v2_config(), now)).code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    let mut missing = req.clone();
    missing.query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1893456000".to_owned();
    assert_eq!(
        err(missing.run_with(&v2_config(), now)).code,
        S3ErrorCode::AccessDenied
    );
}

#[test]
fn sigv2_with_x_amz_date_signs_an_empty_date_line() {
    let string_to_sign =
        "GET\n\n\n\nx-amz-date:Tue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg";
    let signature = {
        let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(V2_SK.as_bytes()).unwrap();
        mac.update(string_to_sign.as_bytes());
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let req = Req::new("GET", "/awsexamplebucket1/photos/puppy.jpg", "")
        .header("x-amz-date", "Tue, 27 Mar 2007 19:36:42 +0000")
        .header("authorization", &format!("AWS {V2_AK}:{signature}"));
    assert!(req
        .run_with(&v2_config(), datetime!(2007-03-27 19:36:42 UTC))
        .is_ok());
}

// Issue 14: a presigned URL's `%2B` could be rewritten to a literal `+`; the signature still
// verified (the literal-plus reading) while the handlers read the `+` as a space, so the request
// meant something its signer had not signed.
#[test]
fn a_plus_that_verifies_only_as_a_plus_is_read_as_one() {
    let req = Req {
        headers: vec![("host".to_owned(), HOST.to_owned())],
        ..Req::new("GET", "/bucket", "list-type=2&prefix=a%2Bb")
    };
    let signed = sign_v4(
        &req,
        SignableBody::UnsignedPayload,
        Some(Duration::from_secs(3600)),
    );
    assert!(signed.query.contains("prefix=a%2Bb"), "{}", signed.query);
    let auth = signed.run().expect("as signed");
    assert!(!auth.query_plus_is_literal);
    let mut rewritten = signed.clone();
    rewritten.query = signed.query.replace("prefix=a%2Bb", "prefix=a+b");
    let auth = rewritten.run().expect("the literal-plus reading verifies");
    assert!(auth.query_plus_is_literal, "the handlers must read a plus");
    // A `+` its signer signed as a space (`%20`) verifies in the primary reading: a space.
    let spaced = sign_v4(
        &Req {
            headers: vec![("host".to_owned(), HOST.to_owned())],
            ..Req::new("GET", "/bucket", "list-type=2&prefix=a%20b")
        },
        SignableBody::UnsignedPayload,
        Some(Duration::from_secs(3600)),
    );
    let mut as_plus = spaced.clone();
    as_plus.query = spaced.query.replace("prefix=a%20b", "prefix=a+b");
    let auth = as_plus.run().expect("a + for a space verifies");
    assert!(!auth.query_plus_is_literal);
}
