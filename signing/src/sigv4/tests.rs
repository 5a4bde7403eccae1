//! The signer against the official `aws-sigv4` signer, configured as the S3 SDK configures it.

use super::*;
use crate::encoding::{encode_path, encode_query as canonical_query};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
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
