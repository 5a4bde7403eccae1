//! Property-based fuzzing (issue 14) of what the server parses from a request before it trusts
//! it: SigV4 header and presigned-query authentication, SigV2 header and presigned-query
//! authentication, aws-chunked framing with its chunk signatures and trailers, every XML request
//! body (DeleteObjects, CompleteMultipartUpload, object and bucket tagging, versioning, restore,
//! CreateBucket, lifecycle, replication, CORS), `Range`, `x-amz-copy-source` and
//! `x-amz-copy-source-range`, the conditional headers and HTTP dates, part numbers and capped
//! counts (`max-keys`, `max-parts`), query strings, the body headers, the POST policy, and key
//! names (path decoding and addressing, key and bucket name rules).
//!
//! Each target gets arbitrary input (token soups that mix valid-looking pieces with arbitrary
//! characters, and arbitrary bytes) and mutations of a valid input (flipped, inserted, deleted
//! and duplicated bytes, escapes decoded or added, truncation), so that the cases get past the
//! first syntax check into the deep code. Every property asks for an answer, `Ok` or an S3 error
//! other than `InternalError`, without a panic. Where it is cheap, more is checked: what the
//! project's signers sign verifies, and a tampered request that still verifies means what the
//! signed one meant; parsed ranges are ordered; a decoded aws-chunked body never exceeds its
//! declared sizes, and a signed one that decodes is exactly what was signed; parsed documents
//! render back to themselves; values survive encoding and parsing. Inputs are bounded in size by
//! the strategies; the `fuzz_hostile_*` tests feed large adversarial inputs (megabyte documents
//! and headers, deep nesting, entity expansion, chunk sizes of 2^60) and check that each gets
//! its answer promptly (the right error, or the document it is), with bounded output.
//!
//! Reproducible: the cases come from a fixed RNG seed ([`SEED`]) and a fixed count per property,
//! so every run, in CI too, tries the same inputs. When a property fails, proptest shrinks the
//! case and saves its seed in `server/proptest-regressions/fuzz_tests.txt`; that file is kept in
//! the repository and its cases are replayed first on every run.
//!
//! A longer exploration takes more cases (`PROPTEST_CASES` overrides every count here) or another
//! seed (`PROPTEST_RNG_SEED`):
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test -p strata-server fuzz_ -- --nocapture
//! PROPTEST_RNG_SEED=7 PROPTEST_CASES=20000 cargo test -p strata-server fuzz_
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::RngSeed;
use strata_signing::sigv4::{canonical_query, canonical_request, canonical_uri, string_to_sign};
use strata_signing::{
    chunk, encode_path, encode_query, format_amz_date, hmac_sha256, percent_decode, sha256, sigv2,
    uri_encode_into, RawQuery, Signer,
};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::app::{parse_query, resolve_address};
use crate::auth::post_policy::{verify_post, Condition};
use crate::auth::{
    authenticate, AuthConfig, Authenticated, ChunkSigning, ChunkedDecoder, ChunkedMode,
    PayloadCheck, RequestParts,
};
use crate::error::{S3Error, S3ErrorCode, S3Result};
use crate::handlers::copy::parse_source_range;
use crate::handlers::multipart::parse_part_number;
use crate::handlers::object::{parse_range, resolve_range, ByteRange};
use crate::handlers::tagging::parse_tagging_body;
use crate::handlers::{cors, lifecycle, replication};
use crate::request::parse_copy_source;
use crate::request::{
    decode_token, encode_token, parse_capped, parse_http_date, parse_max_keys, tags_from_header,
    validate_bucket_name, validate_key, PreconditionFailure, Preconditions, MAX_KEY_LEN,
    MAX_OBJECT_TAGS,
};
use crate::xml::{self, XmlWriter};

/// The RNG seed of every property (unless `PROPTEST_RNG_SEED` names another).
const SEED: u64 = 0x5354_5241_5441_0014;

/// The configuration of a property: `cases` cases from [`SEED`], failures persisted. The
/// `PROPTEST_CASES` and `PROPTEST_RNG_SEED` environment variables take precedence.
fn config(cases: u32) -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            cases
        },
        rng_seed: match defaults.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            chosen => chosen,
        },
        ..defaults
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs: token soups and mutations.

/// A string of up to `max` pieces: tokens of `dict`, printable ASCII and arbitrary characters.
fn soup(dict: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => select(dict).prop_map(str::to_owned),
            2 => "[ -~]{1,4}",
            1 => any::<char>().prop_map(String::from),
        ],
        0..max,
    )
    .prop_map(|pieces| pieces.concat())
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Edit {
    /// XOR a byte with a non-zero mask.
    Flip(Index, u8),
    /// Insert bytes (a token of the target's dictionary, or arbitrary bytes).
    Insert(Index, Vec<u8>),
    /// Remove up to n bytes.
    Delete(Index, usize),
    /// Repeat up to n bytes in place.
    Duplicate(Index, usize),
    /// Cut the rest.
    Truncate(Index),
    /// Replace the next `%XX` escape by the byte it stands for.
    DecodeEscape(Index),
    /// Replace a byte by its `%XX` escape.
    EncodeByte(Index),
}

fn edit(dict: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Edit::Flip(i, m)),
        4 => (
            any::<Index>(),
            prop_oneof![
                3 => select(dict).prop_map(|t| t.as_bytes().to_vec()),
                1 => prop::collection::vec(any::<u8>(), 1..6),
            ]
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => (any::<Index>(), 1..12usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => (any::<Index>(), 1..40usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => any::<Index>().prop_map(Edit::DecodeEscape),
        1 => any::<Index>().prop_map(Edit::EncodeByte),
    ]
}

/// One to three edits.
fn edits(dict: &'static [&'static str]) -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(dict), 1..4)
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `data` with `edits` applied in order.
fn apply(data: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut d = data.to_vec();
    for e in edits {
        let len = d.len();
        match e {
            Edit::Flip(i, mask) if len > 0 => d[i.index(len)] ^= mask,
            Edit::Insert(i, bytes) => {
                let at = i.index(len + 1);
                d.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(i, n) if len > 0 => {
                let at = i.index(len);
                d.drain(at..(at + n).min(len));
            }
            Edit::Duplicate(i, n) if len > 0 => {
                let at = i.index(len);
                let end = (at + n).min(len);
                let piece = d[at..end].to_vec();
                d.splice(end..end, piece);
            }
            Edit::Truncate(i) => d.truncate(i.index(len + 1)),
            Edit::DecodeEscape(i) if len > 0 => {
                let start = i.index(len);
                let escape = (start..len).chain(0..start).find(|&p| {
                    d[p] == b'%'
                        && d.get(p + 1).copied().and_then(hex_digit).is_some()
                        && d.get(p + 2).copied().and_then(hex_digit).is_some()
                });
                if let Some(p) = escape {
                    let byte =
                        (hex_digit(d[p + 1]).unwrap_or(0) << 4) | hex_digit(d[p + 2]).unwrap_or(0);
                    d.splice(p..p + 3, [byte]);
                }
            }
            Edit::EncodeByte(i) if len > 0 => {
                let at = i.index(len);
                let escape = format!("%{:02X}", d[at]);
                d.splice(at..at + 1, escape.bytes());
            }
            _ => {}
        }
    }
    d
}

/// `s` with `edits` applied, invalid UTF-8 replaced.
fn apply_str(s: &str, edits: &[Edit]) -> String {
    String::from_utf8_lossy(&apply(s.as_bytes(), edits)).into_owned()
}

/// Cuts `data` into pieces of the given sizes (cycled), as a body arrives from the network.
fn pieces<'d>(data: &'d [u8], sizes: &[usize]) -> Vec<&'d [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes
            .next()
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// The error must be one S3 gives a client for its input: never `InternalError`.
fn client_error(what: &str, e: &S3Error) -> Result<(), TestCaseError> {
    prop_assert!(
        e.code != S3ErrorCode::InternalError,
        "{what}: internal error {e} ({:?})",
        e.detail
    );
    prop_assert!(
        e.code.status().is_client_error() || e.code == S3ErrorCode::NotImplemented,
        "{what}: {e} is answered with {}",
        e.code.status()
    );
    Ok(())
}

/// The error must have one of `codes`.
fn one_of(what: &str, e: &S3Error, codes: &[S3ErrorCode]) -> Result<(), TestCaseError> {
    client_error(what, e)?;
    prop_assert!(codes.contains(&e.code), "{what}: unexpected {e}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Requests for the authenticator.

const AK: &str = "AKIAFUZZEXAMPLE";
const SK: &str = "fuzz/secret+key/EXAMPLEKEY0123456789";
const REGION: &str = "us-east-1";
const HOST: &str = "127.0.0.1:9000";
const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);
const DAY: &str = "20260301";

fn auth_config(allow_anonymous: bool) -> AuthConfig {
    AuthConfig::single(AK, SK, REGION, allow_anonymous)
}

/// A request as it arrives on the wire.
#[derive(Debug, Clone)]
struct Wire {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    vhost: Option<String>,
}

impl Wire {
    /// The header map actix would build; names or values HTTP cannot carry are left out.
    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                map.append(n, v);
            }
        }
        map
    }

    fn authenticate(&self, cfg: &AuthConfig, now: OffsetDateTime) -> S3Result<Authenticated> {
        let headers = self.header_map();
        let parts = RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers: &headers,
            virtual_host_bucket: self.vhost.as_deref(),
        };
        authenticate(&parts, cfg, now)
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }
}

/// The decoded query as the handlers read it, sorted (a signature covers the pairs, not their
/// order), with `+` read as a space. The two are not told apart because the verifiers do not
/// tell them apart either: for clients that send `+` unencoded, SigV4 also tries the reading of a
/// literal `+` and SigV2 decodes sub-resources with `+` kept, so a `%2B` that was signed still
/// verifies when sent as `+`, which the handlers then read as a space. That is a known leniency,
/// not checked here.
fn query_meaning(raw: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = parse_query(raw)
        .into_iter()
        .map(|(k, v)| (k.replace('+', " "), v.replace('+', " ")))
        .collect();
    pairs.sort();
    pairs
}

/// The `x-amz-*` headers, values joined with `,` and whitespace collapsed. A header with an
/// empty value is left out: SigV4 canonicalises it as `name:`, exactly as it does a signed
/// header that is absent, so a signed empty header can be dropped without breaking the signature
/// (a known leniency, not checked here).
fn amz_headers(map: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in map {
        if name.as_str().starts_with("x-amz-") {
            let text = String::from_utf8_lossy(value.as_bytes());
            out.entry(name.as_str().to_owned())
                .or_default()
                .push(text.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out.into_iter()
        .map(|(k, v)| (k, v.join(",")))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// How the request body is declared (`x-amz-content-sha256`).
#[derive(Debug, Clone, Copy)]
enum Payload {
    Unsigned,
    Sha256,
    Streaming,
    StreamingTrailer,
    UnsignedTrailer,
}

impl Payload {
    fn value(self) -> String {
        match self {
            Self::Unsigned => "UNSIGNED-PAYLOAD".to_owned(),
            Self::Sha256 => hex::encode(sha256(b"fuzz")),
            Self::Streaming => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned(),
            Self::StreamingTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER".to_owned(),
            Self::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned(),
        }
    }

    fn streaming(self) -> bool {
        matches!(
            self,
            Self::Streaming | Self::StreamingTrailer | Self::UnsignedTrailer
        )
    }
}

/// What a client asks for, before it is signed.
#[derive(Debug, Clone)]
struct Intent {
    method: &'static str,
    bucket: String,
    key: String,
    query: Vec<(String, String)>,
    meta: BTreeMap<String, String>,
    content_type: Option<String>,
    payload: Payload,
}

impl Intent {
    fn path(&self) -> String {
        format!("/{}/{}", self.bucket, encode_path(&self.key))
    }

    fn query_refs(&self) -> Vec<(&str, &str)> {
        self.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

fn key_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9/+%=&?#;:@!$'()*, ._~-]{1,24}",
        2 => "\\PC{1,12}",
        1 => "[\\x00-\\x7f]{1,12}",
        1 => any::<String>().prop_filter("keys are not empty", |k| !k.is_empty()),
    ]
}

fn bucket_name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]"
}

/// Query parameter names: sub-resources (which SigV2 signs) and others (which it does not).
fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "acl",
                "versionId",
                "uploadId",
                "partNumber",
                "tagging",
                "response-content-type",
                "delete",
                "prefix",
                "list-type",
            ][..]
        )
        .prop_map(str::to_owned),
        "p[a-z0-9._~-]{0,8}",
    ]
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9+ /=%&._~-]{0,12}",
        1 => "\\PC{0,8}",
    ]
}

fn header_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._/+=-]{0,16}"
}

fn intent() -> impl Strategy<Value = Intent> {
    (
        select(&["GET", "PUT", "POST", "HEAD", "DELETE"][..]),
        bucket_name(),
        key_name(),
        prop::collection::vec((param_name(), param_value()), 0..4),
        prop::collection::btree_map("[a-z0-9]{1,8}", header_text(), 0..3),
        prop::option::of("[a-z]{1,8}/[a-z0-9.+-]{1,12}"),
        select(
            &[
                Payload::Unsigned,
                Payload::Sha256,
                Payload::Streaming,
                Payload::StreamingTrailer,
                Payload::UnsignedTrailer,
            ][..],
        ),
    )
        .prop_map(
            |(method, bucket, key, query, meta, content_type, payload)| Intent {
                method,
                bucket,
                key,
                query,
                meta,
                content_type,
                payload,
            },
        )
}

/// The intent signed with SigV4 in the Authorization header, by the project's signer.
fn sign_v4_header(intent: &Intent) -> Wire {
    let path = intent.path();
    let query = encode_query(&intent.query_refs());
    let mut extra: Vec<(String, String)> = intent
        .meta
        .iter()
        .map(|(n, v)| (format!("x-amz-meta-{n}"), v.clone()))
        .collect();
    if let Some(ct) = &intent.content_type {
        extra.push(("content-type".to_owned(), ct.clone()));
    }
    if intent.payload.streaming() {
        extra.push(("x-amz-decoded-content-length".to_owned(), "5".to_owned()));
    }
    let payload = intent.payload.value();
    let signature = Signer::new(AK, SK, REGION)
        .sign_with_headers(
            intent.method,
            &canonical_uri(&path, true),
            &canonical_query(&RawQuery::parse(&query), false, true),
            HOST,
            &payload,
            NOW,
            &extra,
        )
        .expect("HMAC takes any key");
    let mut wire = Wire {
        method: intent.method.to_owned(),
        path,
        query,
        headers: Vec::new(),
        vhost: None,
    }
    .header("host", HOST)
    .header("x-amz-date", &signature.amz_date)
    .header("x-amz-content-sha256", &payload)
    .header("authorization", &signature.authorization);
    for (name, value) in &extra {
        wire = wire.header(name, value);
    }
    wire
}

/// The intent as a SigV4 presigned URL (only `host` signed, the payload unsigned).
fn presign_v4(intent: &Intent, expires: u32) -> Wire {
    let path = intent.path();
    let amz_date = format_amz_date(NOW);
    let scope = format!("{DAY}/{REGION}/s3/aws4_request");
    let credential = format!("{AK}/{scope}");
    let expires = expires.to_string();
    let mut pairs = intent.query_refs();
    pairs.extend([
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date.as_str()),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", "host"),
    ]);
    let mut query = encode_query(&pairs);
    let creq = canonical_request(
        intent.method,
        &canonical_uri(&path, true),
        &canonical_query(&RawQuery::parse(&query), true, true),
        format!("host:{HOST}\n").as_bytes(),
        "host",
        "UNSIGNED-PAYLOAD",
    );
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = strata_signing::signing_key(SK, DAY, REGION).expect("HMAC takes any key");
    let signature = hex::encode(hmac_sha256(&key, sts.as_bytes()).expect("HMAC takes any key"));
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    Wire {
        method: intent.method.to_owned(),
        path,
        query,
        headers: Vec::new(),
        vhost: None,
    }
    .header("host", HOST)
}

/// The SigV2 StringToSign of an intent: `date_line` is the Date header or the expiry.
fn v2_string_to_sign(intent: &Intent, date_line: &str, query: &str, with_headers: bool) -> String {
    let mut sts = format!("{}\n\n", intent.method);
    if with_headers {
        sts.push_str(intent.content_type.as_deref().unwrap_or(""));
    }
    sts.push('\n');
    sts.push_str(date_line);
    sts.push('\n');
    if with_headers {
        for (name, value) in &intent.meta {
            sts.push_str(&format!("x-amz-meta-{name}:{}\n", sigv2::unfold(value)));
        }
    }
    sigv2::push_canonical_resource(&mut sts, None, &intent.path(), &RawQuery::parse(query));
    sts
}

/// The intent signed with SigV2 in the Authorization header.
fn sign_v2_header(intent: &Intent) -> Wire {
    let query = encode_query(&intent.query_refs());
    let date = httpdate::fmt_http_date(SystemTime::from(NOW));
    let sts = v2_string_to_sign(intent, &date, &query, true);
    let signature = sigv2::signature(SK, &sts).expect("HMAC takes any key");
    let mut wire = Wire {
        method: intent.method.to_owned(),
        path: intent.path(),
        query,
        headers: Vec::new(),
        vhost: None,
    }
    .header("host", HOST)
    .header("date", &date)
    .header("authorization", &format!("AWS {AK}:{signature}"));
    for (name, value) in &intent.meta {
        wire = wire.header(&format!("x-amz-meta-{name}"), value);
    }
    if let Some(ct) = &intent.content_type {
        wire = wire.header("content-type", ct);
    }
    wire
}

/// The intent as a SigV2 presigned URL.
fn presign_v2(intent: &Intent, expires_in: i64) -> Wire {
    let user_query = encode_query(&intent.query_refs());
    let expires = (NOW.unix_timestamp() + expires_in).to_string();
    let sts = v2_string_to_sign(intent, &expires, &user_query, false);
    let signature = sigv2::signature(SK, &sts).expect("HMAC takes any key");
    let mut query = user_query;
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&format!("AWSAccessKeyId={AK}&Expires={expires}&Signature="));
    uri_encode_into(&mut query, signature.as_bytes(), false);
    Wire {
        method: intent.method.to_owned(),
        path: intent.path(),
        query,
        headers: Vec::new(),
        vhost: None,
    }
    .header("host", HOST)
}

/// What may appear in authentication inputs.
const AUTH_TOKENS: &[&str] = &[
    "AWS4-HMAC-SHA256 ",
    "AWS4-ECDSA-P256-SHA256 ",
    "AWS ",
    "Credential=",
    "SignedHeaders=",
    "Signature=",
    ", ",
    ",",
    ";",
    "/",
    "=",
    ":",
    " ",
    "\t",
    "&",
    "%",
    "%2B",
    "+",
    "%2F",
    "%00",
    "%FF",
    "%C3%A9",
    "%zz",
    "host",
    "x-amz-date",
    "x-amz-content-sha256",
    "aws4_request",
    "s3",
    "us-east-1",
    "20260301",
    "20260301T120000Z",
    "AKIAFUZZEXAMPLE",
    "X-Amz-Algorithm=",
    "X-Amz-Credential=",
    "X-Amz-Signature=",
    "X-Amz-Date=",
    "X-Amz-Expires=",
    "X-Amz-SignedHeaders=",
    "AWSAccessKeyId=",
    "Expires=",
    "acl",
    "versionId=",
    "UNSIGNED-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "0",
    "604800",
    "-1",
    "99999999999999999999",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "Sun, 01 Mar 2026 12:00:00 GMT",
];

const HEADER_NAMES: &[&str] = &[
    "authorization",
    "x-amz-date",
    "date",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-meta-extra",
    "x-amz-acl",
    "x-amz-user-agent",
    "content-md5",
    "content-type",
    "host",
];

/// Where a mutation of a request applies.
#[derive(Debug, Clone)]
enum Target {
    Method,
    Path,
    Query,
    HeaderValue(Index),
    HeaderName(Index),
    Remove(Index),
    Repeat(Index),
    Add(&'static str, String),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        1 => Just(Target::Method),
        2 => Just(Target::Path),
        3 => Just(Target::Query),
        5 => any::<Index>().prop_map(Target::HeaderValue),
        1 => any::<Index>().prop_map(Target::HeaderName),
        1 => any::<Index>().prop_map(Target::Remove),
        1 => any::<Index>().prop_map(Target::Repeat),
        1 => (select(HEADER_NAMES), soup(AUTH_TOKENS, 6)).prop_map(|(n, v)| Target::Add(n, v)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<(Target, Vec<Edit>)>> {
    prop::collection::vec((target(), edits(AUTH_TOKENS)), 1..3)
}

fn mutate(wire: &Wire, mutations: &[(Target, Vec<Edit>)]) -> Wire {
    let mut m = wire.clone();
    for (target, edits) in mutations {
        let n = m.headers.len();
        match target {
            Target::Method => m.method = apply_str(&m.method, edits),
            Target::Path => m.path = apply_str(&m.path, edits),
            Target::Query => m.query = apply_str(&m.query, edits),
            Target::HeaderValue(i) if n > 0 => {
                let h = &mut m.headers[i.index(n)];
                h.1 = apply(&h.1, edits);
            }
            Target::HeaderName(i) if n > 0 => {
                let h = &mut m.headers[i.index(n)];
                h.0 = apply_str(&h.0, edits);
            }
            Target::Remove(i) if n > 0 => {
                m.headers.remove(i.index(n));
            }
            Target::Repeat(i) if n > 0 => {
                let h = m.headers[i.index(n)].clone();
                m.headers.push(h);
            }
            Target::Add(name, value) => m
                .headers
                .push((name.to_string(), value.clone().into_bytes())),
            _ => {}
        }
    }
    m
}

/// A tampered request that still verifies must mean what the signed one meant: same method,
/// same decoded path, same query as `query` reads it, and for header signatures the same
/// `x-amz-*` headers.
fn same_meaning(
    signed: &Wire,
    tampered: &Wire,
    query: fn(&str) -> Vec<(String, String)>,
    headers_signed: bool,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&tampered.method, &signed.method);
    prop_assert_eq!(
        percent_decode(&tampered.path, false),
        percent_decode(&signed.path, false),
        "path {:?} verified for {:?}",
        tampered.path,
        signed.path
    );
    prop_assert_eq!(
        query(&tampered.query),
        query(&signed.query),
        "query {:?} verified for {:?}",
        tampered.query,
        signed.query
    );
    if headers_signed {
        prop_assert_eq!(
            amz_headers(&tampered.header_map()),
            amz_headers(&signed.header_map())
        );
    }
    Ok(())
}

/// What SigV2 signs of a query: the sub-resources, decoded and joined (`acl&versionId=v`), `+`
/// read as a space as in [`query_meaning`]. SigV2 signs the values decoded, so a `&` or `=` inside
/// one cannot be told from a separator (`acl=a%26versionId%3Db` signs as `acl=a&versionId=b`):
/// that is the protocol's, and only this text is compared.
fn v2_sub_resources(query: &str) -> Vec<(String, String)> {
    let mut resource = String::new();
    sigv2::push_canonical_resource(&mut resource, None, "/", &RawQuery::parse(query));
    vec![(resource.replace('+', " "), String::new())]
}

/// An arbitrary request: methods, paths, queries and headers built from authentication tokens.
fn arbitrary_wire() -> impl Strategy<Value = Wire> {
    (
        prop_oneof![
            select(&["GET", "PUT", "POST", "HEAD", "DELETE", "OPTIONS"][..])
                .prop_map(str::to_owned),
            "[A-Za-z]{0,8}",
        ],
        soup(AUTH_TOKENS, 8).prop_map(|p| format!("/{p}")),
        soup(AUTH_TOKENS, 16),
        prop::collection::vec(
            (
                prop_oneof![
                    4 => select(HEADER_NAMES).prop_map(str::to_owned),
                    1 => "x-amz-[a-z-]{1,10}",
                ],
                prop_oneof![
                    4 => soup(AUTH_TOKENS, 12).prop_map(String::into_bytes),
                    1 => prop::collection::vec(any::<u8>(), 0..40),
                ],
            ),
            0..6,
        ),
        prop::option::of(bucket_name()),
    )
        .prop_map(|(method, path, query, headers, vhost)| Wire {
            method,
            path,
            query,
            headers,
            vhost,
        })
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn fuzz_sigv4_header_signed_requests(
        intent in intent(),
        mutations in mutations(),
        skew in -900i64..=900,
    ) {
        let signed = sign_v4_header(&intent);
        let now = NOW + time::Duration::seconds(skew);
        let auth = signed.authenticate(&auth_config(false), now);
        prop_assert!(auth.is_ok(), "{:?} must verify: {:?}", signed, auth.err());
        let tampered = mutate(&signed, &mutations);
        match tampered.authenticate(&auth_config(false), now) {
            // Credentials tampered away: anonymous, for authorization to judge.
            Ok(a) if a.identity.is_none() => {}
            Ok(_) => same_meaning(&signed, &tampered, query_meaning, true)?,
            Err(e) => client_error("tampered SigV4 header request", &e)?,
        }
    }

    #[test]
    fn fuzz_sigv4_presigned_requests(
        intent in intent(),
        mutations in mutations(),
        expires in 1u32..=604_800,
        after in 0i64..=3600,
    ) {
        let signed = presign_v4(&intent, expires);
        let now = NOW + time::Duration::seconds(after);
        let auth = signed.authenticate(&auth_config(false), now);
        if after <= i64::from(expires) {
            prop_assert!(auth.is_ok(), "{:?} must verify: {:?}", signed, auth.err());
        } else {
            let e = auth.expect_err("an expired URL is refused");
            prop_assert_eq!(e.code, S3ErrorCode::AccessDenied);
        }
        let tampered = mutate(&signed, &mutations);
        match tampered.authenticate(&auth_config(false), now) {
            // Credentials tampered away: anonymous, for authorization to judge.
            Ok(a) if a.identity.is_none() => {}
            Ok(_) => same_meaning(&signed, &tampered, query_meaning, false)?,
            Err(e) => client_error("tampered presigned SigV4 request", &e)?,
        }
    }

    #[test]
    fn fuzz_sigv2_header_signed_requests(intent in intent(), mutations in mutations()) {
        let signed = sign_v2_header(&intent);
        let auth = signed.authenticate(&auth_config(false), NOW);
        prop_assert!(auth.is_ok(), "{:?} must verify: {:?}", signed, auth.err());
        let tampered = mutate(&signed, &mutations);
        match tampered.authenticate(&auth_config(false), NOW) {
            // Credentials tampered away: anonymous, for authorization to judge.
            Ok(a) if a.identity.is_none() => {}
            Ok(_) => same_meaning(&signed, &tampered, v2_sub_resources, true)?,
            Err(e) => client_error("tampered SigV2 header request", &e)?,
        }
    }

    #[test]
    fn fuzz_sigv2_presigned_requests(
        intent in intent(),
        mutations in mutations(),
        expires_in in 1i64..=86_400,
    ) {
        let signed = presign_v2(&intent, expires_in);
        let auth = signed.authenticate(&auth_config(false), NOW);
        prop_assert!(auth.is_ok(), "{:?} must verify: {:?}", signed, auth.err());
        let tampered = mutate(&signed, &mutations);
        match tampered.authenticate(&auth_config(false), NOW) {
            // Credentials tampered away: anonymous, for authorization to judge.
            Ok(a) if a.identity.is_none() => {}
            Ok(_) => same_meaning(&signed, &tampered, v2_sub_resources, false)?,
            Err(e) => client_error("tampered presigned SigV2 request", &e)?,
        }
    }

    #[test]
    fn fuzz_authentication_of_arbitrary_requests(
        wire in arbitrary_wire(),
        anonymous in any::<bool>(),
        skew in -86_400i64..=86_400,
    ) {
        let now = NOW + time::Duration::seconds(skew);
        match wire.authenticate(&auth_config(anonymous), now) {
            // Nothing here carries a valid signature: at most it is let through as anonymous,
            // which only the authorization step can allow.
            Ok(auth) => {
                prop_assert!(auth.identity.is_none(), "{:?} authenticated", wire);
            }
            Err(e) => client_error("arbitrary request", &e)?,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// aws-chunked bodies.

const CHUNK_SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

fn chunk_signing() -> ChunkSigning {
    ChunkSigning {
        signing_key: strata_signing::signing_key(SK, DAY, REGION).expect("HMAC takes any key"),
        amz_date: format_amz_date(NOW),
        scope: format!("{DAY}/{REGION}/s3/aws4_request"),
        seed_signature: CHUNK_SEED.to_owned(),
    }
}

/// A valid aws-chunked body and what it must decode to.
#[derive(Debug, Clone)]
struct Framing {
    data: Vec<u8>,
    /// A signed body: a first chunk of 8 KiB before `data` (every chunk but the last is at
    /// least 8 KiB).
    long_first: bool,
    signed: bool,
    trailer: bool,
    declare_length: bool,
    /// Chunk sizes of an unsigned body (cycled).
    sizes: Vec<usize>,
    /// Trailers of a trailer body.
    trailers: Vec<(String, String)>,
}

struct Built {
    mode: ChunkedMode,
    body: Vec<u8>,
    payload: Vec<u8>,
}

impl Framing {
    fn build(&self) -> Built {
        let signing = self.signed.then(chunk_signing);
        let mut payload = Vec::new();
        if self.signed && self.long_first {
            payload.extend((0..8192u32).map(|i| (i % 251) as u8));
        }
        payload.extend_from_slice(&self.data);
        let chunks: Vec<&[u8]> = if self.signed {
            if self.long_first {
                vec![&payload[..8192], &payload[8192..]]
            } else {
                vec![&payload[..]]
            }
        } else {
            pieces(&payload, &self.sizes)
        };
        let mut body = Vec::new();
        let mut previous = CHUNK_SEED.to_owned();
        let sign = |s: &ChunkSigning, sts: String| -> String {
            hex::encode(chunk::sign(&s.signing_key, &sts).expect("HMAC takes any key"))
        };
        for c in chunks
            .into_iter()
            .filter(|c| !c.is_empty())
            .chain(std::iter::once(&b""[..]))
        {
            body.extend_from_slice(format!("{:x}", c.len()).as_bytes());
            if let Some(s) = &signing {
                let sig = sign(
                    s,
                    chunk::chunk_string_to_sign(&s.amz_date, &s.scope, &previous, &sha256(c)),
                );
                body.extend_from_slice(format!(";chunk-signature={sig}").as_bytes());
                previous = sig;
            }
            body.extend_from_slice(b"\r\n");
            if !c.is_empty() {
                body.extend_from_slice(c);
                body.extend_from_slice(b"\r\n");
            }
        }
        if self.trailer {
            for (name, value) in &self.trailers {
                body.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            }
            if let Some(s) = &signing {
                let canonical = chunk::canonical_trailers(&self.trailers);
                let sig = sign(
                    s,
                    chunk::trailer_string_to_sign(&s.amz_date, &s.scope, &previous, &canonical),
                );
                body.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
            }
        }
        body.extend_from_slice(b"\r\n");
        Built {
            mode: ChunkedMode {
                signing,
                trailer: self.trailer,
                decoded_length: self.declare_length.then_some(payload.len() as u64),
            },
            body,
            payload,
        }
    }

    /// The trailers the decoder hands out.
    fn expected_trailers(&self) -> Vec<(String, String)> {
        if self.trailer {
            self.trailers.clone()
        } else {
            Vec::new()
        }
    }
}

fn framing() -> impl Strategy<Value = Framing> {
    (
        prop::collection::vec(any::<u8>(), 0..160),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(1usize..64, 1..4),
        prop::collection::btree_map(
            prop_oneof![
                Just("x-amz-checksum-crc32".to_owned()),
                Just("x-amz-checksum-sha256".to_owned()),
                "x-[a-z0-9-]{1,12}",
            ],
            "[a-zA-Z0-9+/=]{0,24}",
            0..3,
        ),
    )
        .prop_map(
            |(data, long_first, signed, trailer, declare_length, sizes, trailers)| Framing {
                data,
                long_first,
                signed,
                trailer,
                declare_length,
                sizes,
                trailers: trailers.into_iter().collect(),
            },
        )
}

const CHUNK_TOKENS: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    "0",
    "1",
    "5",
    "a",
    "F",
    "2000",
    "ffffffff",
    "1000000000000000",
    "ffffffffffffffff",
    "10000000000000000",
    "140000001",
    "-1",
    " ",
    ";",
    ";chunk-signature=",
    "chunk-signature",
    "=",
    ";x=y",
    CHUNK_SEED,
    "x-amz-trailer-signature:",
    "x-amz-checksum-crc32:",
    "AAAAAA==",
    ":",
    "hello",
];

/// Decodes `body` fed in `sizes`-sized pieces; returns the output and the outcome.
fn decode_pieces(
    mode: ChunkedMode,
    body: &[u8],
    sizes: &[usize],
) -> (Vec<u8>, S3Result<Vec<(String, String)>>) {
    let mut decoder = ChunkedDecoder::new(mode);
    let mut out = Vec::new();
    for piece in pieces(body, sizes) {
        if let Err(e) = decoder.feed(piece, &mut out) {
            return (out, Err(e));
        }
    }
    let result = decoder.finish();
    (out, result)
}

const CHUNK_ERRORS: &[S3ErrorCode] = &[
    S3ErrorCode::InvalidRequest,
    S3ErrorCode::IncompleteBody,
    S3ErrorCode::SignatureDoesNotMatch,
    S3ErrorCode::InvalidChunkSizeError,
];

/// What holds for any body: bounded output, and a declared length is never exceeded and, on
/// success, met exactly.
fn check_decoded(
    mode: &ChunkedMode,
    body: &[u8],
    out: &[u8],
    result: &S3Result<Vec<(String, String)>>,
) -> Result<(), TestCaseError> {
    prop_assert!(out.len() <= body.len());
    if let Some(declared) = mode.decoded_length {
        prop_assert!(
            out.len() as u64 <= declared,
            "{} bytes decoded, {declared} declared",
            out.len()
        );
        if result.is_ok() {
            prop_assert_eq!(out.len() as u64, declared);
        }
    }
    match result {
        Ok(trailers) => {
            prop_assert!(trailers.len() <= 16);
            if !mode.trailer {
                prop_assert!(trailers.is_empty());
            }
        }
        Err(e) => one_of("aws-chunked body", e, CHUNK_ERRORS)?,
    }
    Ok(())
}

fn modes() -> impl Strategy<Value = ChunkedMode> {
    (any::<bool>(), any::<bool>(), prop::option::of(0u64..300)).prop_map(
        |(signed, trailer, decoded_length)| ChunkedMode {
            signing: signed.then(chunk_signing),
            trailer,
            decoded_length,
        },
    )
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn fuzz_chunked_valid_bodies_decode(
        framing in framing(),
        sizes in prop::collection::vec(1usize..80, 1..6),
    ) {
        let built = framing.build();
        let (out, result) = decode_pieces(built.mode.clone(), &built.body, &sizes);
        prop_assert!(result.is_ok(), "{:?}: {:?}", String::from_utf8_lossy(&built.body), result);
        prop_assert_eq!(out, built.payload);
        prop_assert_eq!(result.ok(), Some(framing.expected_trailers()));
    }

    #[test]
    fn fuzz_chunked_mutated_bodies(
        framing in framing(),
        edits in edits(CHUNK_TOKENS),
        sizes in prop::collection::vec(1usize..80, 1..6),
    ) {
        let built = framing.build();
        let body = apply(&built.body, &edits);
        let (out, result) = decode_pieces(built.mode.clone(), &body, &sizes);
        check_decoded(&built.mode, &body, &out, &result)?;
        // Chunk and trailer signatures: whatever still decodes is exactly what was signed.
        if framing.signed {
            if let Ok(trailers) = result {
                prop_assert_eq!(out, built.payload);
                prop_assert_eq!(trailers, framing.expected_trailers());
            }
        }
    }

    #[test]
    fn fuzz_chunked_arbitrary_bodies(
        mode in modes(),
        body in prop_oneof![
            soup(CHUNK_TOKENS, 40).prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..400),
        ],
        sizes in prop::collection::vec(1usize..80, 1..6),
    ) {
        let (out, result) = decode_pieces(mode.clone(), &body, &sizes);
        check_decoded(&mode, &body, &out, &result)?;
        if mode.signing.is_some() {
            // Nothing here carries a valid chunk signature, and the final chunk needs one too.
            prop_assert!(result.is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XML request bodies.

/// The request documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Delete,
    Complete,
    Tagging,
    Versioning,
    Restore,
    CreateBucket,
    Lifecycle,
    Replication,
    Cors,
}

const DOCS: &[Doc] = &[
    Doc::Delete,
    Doc::Complete,
    Doc::Tagging,
    Doc::Versioning,
    Doc::Restore,
    Doc::CreateBucket,
    Doc::Lifecycle,
    Doc::Replication,
    Doc::Cors,
];

/// Valid documents of each kind, the starting points of mutations.
const SAMPLES: &[(Doc, &str)] = &[
    (Doc::Delete, r#"<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object><Object><Key>c</Key><VersionId>0000000000000000000000000000000a</VersionId></Object></Delete>"#),
    (Doc::Delete, "<Delete><Object><Key>k</Key></Object></Delete>"),
    (Doc::Complete, r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>"#),
    (Doc::Tagging, "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k2</Key><Value></Value></Tag></TagSet></Tagging>"),
    (Doc::Versioning, r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>"#),
    (Doc::Restore, "<RestoreRequest><Days>2</Days><GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters></RestoreRequest>"),
    (Doc::CreateBucket, "<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>"),
    (Doc::Lifecycle, r#"<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ID>logs</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>t</Key><Value>1</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition><Expiration><Days>365</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule><Rule><ID>mpu</ID><Filter><Prefix></Prefix></Filter><Status>Disabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>"#),
    (Doc::Lifecycle, "<LifecycleConfiguration><Rule><Prefix>old/</Prefix><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration><NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition></Rule><Rule><Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule></LifecycleConfiguration>"),
    (Doc::Replication, r#"<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Role>arn:aws:iam::1:role/r</Role><Rule><ID>a</ID><Priority>2</Priority><Status>Enabled</Status><DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication><Filter><Prefix>logs/</Prefix></Filter><Destination><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>STANDARD_IA</StorageClass></Destination></Rule><Rule><Priority>1</Priority><Status>Disabled</Status><Filter><And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><Destination><Bucket>arn:strata:replication::west:dst</Bucket></Destination><ExistingObjectReplication><Status>Enabled</Status></ExistingObjectReplication></Rule></ReplicationConfiguration>"#),
    (Doc::Replication, "<ReplicationConfiguration><Role/><Rule><Status>Enabled</Status><Prefix>x</Prefix><Destination><Bucket>arn:aws:s3:::d</Bucket></Destination></Rule></ReplicationConfiguration>"),
    (Doc::Cors, "<CORSConfiguration><CORSRule><AllowedOrigin>http://*.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>content-type</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>300</MaxAgeSeconds></CORSRule><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"),
];

const XML_TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "=",
    "\"",
    "'",
    "&amp;",
    "&lt;",
    "&#x41;",
    "&#65;",
    "&#0;",
    "&#xFFFFFFFF;",
    "&#xD800;",
    "&unknown;",
    "&e;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<?pi x?>",
    "<!DOCTYPE d [<!ENTITY e \"x\">]>",
    "<!doctype d>",
    "\u{85}",
    "\u{2028}",
    "\r",
    "\r\n",
    " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"",
    " xmlns:a=\"urn:x\"",
    "a:",
    "\u{0}",
    "\u{feff}",
    "\u{fffd}",
    " ",
    "\n",
    "<Key>",
    "</Key>",
    "<Object>",
    "</Object>",
    "<Part>",
    "<PartNumber>",
    "</PartNumber>",
    "<ETag>",
    "<Rule>",
    "</Rule>",
    "<Filter>",
    "</Filter>",
    "<And>",
    "<Tag>",
    "<Prefix>",
    "<Days>",
    "</Days>",
    "<Date>",
    "<Status>",
    "</Status>",
    "<Role/>",
    "<Destination>",
    "<CORSRule>",
    "<AllowedMethod>",
    "<AllowedOrigin>",
    "Enabled",
    "Disabled",
    "GLACIER",
    "*",
    "0",
    "-1",
    "10000",
    "10001",
    "4294967296",
    "99999999999999999999",
    "2030-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999+23:59",
    "-9999-01-01T00:00:00Z",
];

/// Parses `body` as `doc` the way its handler does, checking what the handler relies on.
fn parse_doc(doc: Doc, body: &[u8]) -> Result<(), TestCaseError> {
    fn schema<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, TestCaseError> {
        match xml::parse::<T>(body) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                one_of("XML document", &e, &[S3ErrorCode::MalformedXML])?;
                Ok(None)
            }
        }
    }
    use S3ErrorCode::{InvalidArgument, InvalidRequest, InvalidTag, MalformedXML};
    match doc {
        Doc::Delete => {
            schema::<xml::DeleteRequest>(body)?;
        }
        Doc::Complete => {
            if let Some(c) = schema::<xml::CompleteMultipartUpload>(body)? {
                for p in &c.parts {
                    match parse_part_number(Some(p.part_number.trim())) {
                        Ok(n) => prop_assert!((1..=10_000).contains(&n)),
                        Err(e) => one_of("part number", &e, &[InvalidArgument])?,
                    }
                }
            }
        }
        Doc::Tagging => match parse_tagging_body(body, MAX_OBJECT_TAGS) {
            Ok(tags) => {
                prop_assert!(tags.len() <= MAX_OBJECT_TAGS);
                let again = parse_tagging_body(render_tags(&tags).as_bytes(), MAX_OBJECT_TAGS);
                prop_assert_eq!(again.ok(), Some(tags));
            }
            Err(e) => one_of("tagging", &e, &[MalformedXML, InvalidTag])?,
        },
        Doc::Versioning => {
            schema::<xml::VersioningConfiguration>(body)?;
        }
        Doc::Restore => {
            schema::<xml::RestoreRequest>(body)?;
        }
        Doc::CreateBucket => {
            schema::<xml::CreateBucketConfiguration>(body)?;
        }
        Doc::Lifecycle => match lifecycle::parse_configuration(body) {
            Ok(cfg) => {
                let rendered = lifecycle::render_configuration(&cfg);
                let again = lifecycle::parse_configuration(rendered.as_bytes());
                prop_assert_eq!(
                    again.as_ref().ok(),
                    Some(&cfg),
                    "{} {:?}",
                    rendered,
                    again.as_ref().err()
                );
            }
            Err(e) => one_of(
                "lifecycle",
                &e,
                &[MalformedXML, InvalidArgument, InvalidRequest],
            )?,
        },
        Doc::Replication => match replication::parse_configuration(body) {
            Ok(cfg) => {
                let rendered = replication::render_configuration(&cfg);
                let again = replication::parse_configuration(rendered.as_bytes());
                prop_assert_eq!(
                    again.as_ref().ok(),
                    Some(&cfg),
                    "{} {:?}",
                    rendered,
                    again.as_ref().err()
                );
                // The handler's checks that need no store.
                if let Err(e) = cfg.validate("bucket", &|name| name == "west") {
                    one_of(
                        "replication rules",
                        &crate::request::rule_error(e),
                        &[MalformedXML, InvalidArgument, InvalidRequest],
                    )?;
                }
            }
            Err(e) => one_of(
                "replication",
                &e,
                &[MalformedXML, InvalidArgument, InvalidRequest],
            )?,
        },
        Doc::Cors => match cors::parse_config(body) {
            Ok(rules) => {
                prop_assert!(!rules.is_empty() && rules.len() <= 100);
                // What GetBucketCors renders parses back to the same rules (MaxAgeSeconds trimmed).
                let rendered = cors::render(&rules);
                let again = cors::parse_config(rendered.as_bytes());
                let trimmed: Vec<cors::CorsRule> = rules
                    .iter()
                    .map(|r| cors::CorsRule {
                        max_age_seconds: r.max_age_seconds.as_deref().map(|a| a.trim().to_owned()),
                        ..r.clone()
                    })
                    .collect();
                prop_assert_eq!(
                    again.as_ref().map(|r| format!("{r:?}")).ok(),
                    Some(format!("{trimmed:?}")),
                    "{}",
                    rendered
                );
                // The rules' patterns against a request's origin, method and headers.
                for origin in ["http://app.example.com", "", "*", "http://*"] {
                    let headers = ["x-amz-meta-a".to_owned(), "Content-Type".to_owned()];
                    if let Some(rule) = cors::find_rule(&rules, origin, "GET", &headers) {
                        prop_assert!(rule.allowed_methods.iter().any(|m| m == "GET"));
                    }
                }
            }
            Err(e) => one_of("CORS", &e, &[MalformedXML, InvalidRequest])?,
        },
    }
    Ok(())
}

/// `<name>inner</name>`.
fn el(name: &str, inner: &str) -> String {
    format!("<{name}>{inner}</{name}>")
}

/// Mostly one of `usual`, sometimes one of `odd`.
fn usually(
    usual: &'static [&'static str],
    odd: &'static [&'static str],
) -> impl Strategy<Value = String> {
    prop_oneof![
        20 => select(usual).prop_map(str::to_owned),
        1 => select(odd).prop_map(str::to_owned),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => usually(
            &["1", "2", "7", "30", "365"],
            &["0", " 3 ", "-1", "+3", "2147483647", "2147483648", "4294967295", "4294967296",
              "18446744073709551615", "18446744073709551616", "1.5", "", "0x10"],
        ),
        1 => any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn date() -> impl Strategy<Value = String> {
    usually(
        &[
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:00.000Z",
            "2030-01-01T00:00:00+00:00",
        ],
        &[
            "2030-01-01T05:00:00Z",
            "2030-01-01T00:00:00+01:00",
            "2030-01-01T01:00:00+01:00",
            "9999-12-31T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T00:00:00Z",
            "2030-02-30T00:00:00Z",
            "2030-01-01",
            "2030-01-01T00:00:00.000000001Z",
            " 2030-01-01T00:00:00Z ",
        ],
    )
}

fn class() -> impl Strategy<Value = String> {
    usually(
        &[
            "STANDARD_IA",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
            "GLACIER",
            "GLACIER_IR",
            "DEEP_ARCHIVE",
        ],
        &[
            "STANDARD",
            "REDUCED_REDUNDANCY",
            "EXPRESS_ONEZONE",
            "glacier",
            "",
        ],
    )
}

fn status() -> impl Strategy<Value = String> {
    usually(&["Enabled", "Disabled"], &[" Enabled ", "enabled", ""])
}

fn tag_el() -> impl Strategy<Value = String> {
    ("[a-z]{0,3}", "[a-z]{0,3}").prop_map(|(k, v)| el("Tag", &(el("Key", &k) + &el("Value", &v))))
}

/// A lifecycle or replication `<Filter>` (or legacy `<Prefix>`), or none.
fn filter_el(sizes: bool) -> impl Strategy<Value = String> {
    let size = move |n: String| {
        if sizes {
            el("ObjectSizeGreaterThan", &n)
        } else {
            String::new()
        }
    };
    prop_oneof![
        Just(String::new()),
        "[a-z/]{0,4}".prop_map(|p| el("Prefix", &p)),
        Just("<Filter/>".to_owned()),
        "[a-z/]{0,4}".prop_map(|p| el("Filter", &el("Prefix", &p))),
        tag_el().prop_map(|t| el("Filter", &t)),
        number().prop_map(move |n| el("Filter", &size(n))),
        (
            prop::option::of("[a-z/]{0,4}"),
            prop::collection::vec(tag_el(), 1..3),
            prop::option::of(number()),
            prop::option::of(number())
        )
            .prop_map(move |(p, tags, gt, lt)| {
                let mut inner = p.map(|p| el("Prefix", &p)).unwrap_or_default();
                inner.push_str(&tags.concat());
                if sizes {
                    inner.push_str(
                        &gt.map(|n| el("ObjectSizeGreaterThan", &n))
                            .unwrap_or_default(),
                    );
                    inner.push_str(&lt.map(|n| el("ObjectSizeLessThan", &n)).unwrap_or_default());
                }
                el("Filter", &el("And", &inner))
            }),
    ]
}

fn day_or_date(days: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => number().prop_map(move |n| el(days, &n)),
        4 => date().prop_map(|d| el("Date", &d)),
        1 => (number(), date()).prop_map(move |(n, d)| el(days, &n) + &el("Date", &d)),
    ]
}

fn lifecycle_rule() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z0-9]{0,6}"),
        status(),
        filter_el(true),
        prop::option::of(prop_oneof![
            day_or_date("Days"),
            select(&["true", "false", "yes"][..]).prop_map(|b| el("ExpiredObjectDeleteMarker", b)),
        ]),
        prop::collection::vec((day_or_date("Days"), class()), 0..3),
        prop::option::of((number(), prop::option::of(number()))),
        prop::collection::vec((prop::option::weighted(0.95, number()), class()), 0..2),
        prop::option::of(prop::option::weighted(0.95, number())),
    )
        .prop_map(
            |(
                id,
                status,
                filter,
                expiration,
                transitions,
                noncurrent,
                noncurrent_transitions,
                abort,
            )| {
                let mut r = id.map(|i| el("ID", &i)).unwrap_or_default();
                r.push_str(&filter);
                r.push_str(&el("Status", &status));
                if let Some(e) = expiration {
                    r.push_str(&el("Expiration", &e));
                }
                for (when, class) in transitions {
                    r.push_str(&el("Transition", &(when + &el("StorageClass", &class))));
                }
                if let Some((days, newer)) = noncurrent {
                    let newer = newer
                        .map(|n| el("NewerNoncurrentVersions", &n))
                        .unwrap_or_default();
                    r.push_str(&el(
                        "NoncurrentVersionExpiration",
                        &(el("NoncurrentDays", &days) + &newer),
                    ));
                }
                for (days, class) in noncurrent_transitions {
                    let days = days.map(|n| el("NoncurrentDays", &n)).unwrap_or_default();
                    r.push_str(&el(
                        "NoncurrentVersionTransition",
                        &(days + &el("StorageClass", &class)),
                    ));
                }
                if let Some(days) = abort {
                    let days = days
                        .map(|n| el("DaysAfterInitiation", &n))
                        .unwrap_or_default();
                    r.push_str(&el("AbortIncompleteMultipartUpload", &days));
                }
                el("Rule", &r)
            },
        )
}

fn replication_rule() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop_oneof![8 => "[a-z0-9]{0,6}", 1 => "[a-zé]{1,3}"]),
        prop::option::of(number()),
        status(),
        filter_el(false),
        prop::option::weighted(
            0.95,
            (
                prop::option::weighted(
                    0.95,
                    usually(
                        &["arn:aws:s3:::dst", "arn:strata:replication::west:dst"],
                        &[
                            "arn:aws:s3:::bucket",
                            "arn:strata:replication::east:dst",
                            "arn:aws:s3:::",
                            "arn:aws:s3:::a/b",
                            "dst",
                        ],
                    ),
                ),
                prop::option::of(class()),
                prop::option::of("[0-9]{0,4}"),
            ),
        ),
        prop::option::of(status()),
        prop::option::of(status()),
    )
        .prop_map(
            |(id, priority, status, filter, destination, markers, existing)| {
                let mut r = id.map(|i| el("ID", &i)).unwrap_or_default();
                r.push_str(&priority.map(|p| el("Priority", &p)).unwrap_or_default());
                r.push_str(&el("Status", &status));
                r.push_str(&filter);
                if let Some((bucket, class, account)) = destination {
                    let mut d = bucket.map(|b| el("Bucket", &b)).unwrap_or_default();
                    d.push_str(&class.map(|c| el("StorageClass", &c)).unwrap_or_default());
                    d.push_str(&account.map(|a| el("Account", &a)).unwrap_or_default());
                    r.push_str(&el("Destination", &d));
                }
                if let Some(s) = markers {
                    r.push_str(&el("DeleteMarkerReplication", &el("Status", &s)));
                }
                if let Some(s) = existing {
                    r.push_str(&el("ExistingObjectReplication", &el("Status", &s)));
                }
                el("Rule", &r)
            },
        )
}

/// A Tagging document as GetObjectTagging renders it.
fn render_tags(tags: &[(String, String)]) -> String {
    let mut w = XmlWriter::new("Tagging");
    w.open("TagSet");
    for (k, v) in tags {
        w.open("Tag").elem("Key", k).elem("Value", v).close();
    }
    w.finish()
}

/// Text that XML 1.0 can carry (no control characters but tab, LF and CR).
fn xml_text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 <>&\"'/=;:._-]{0,16}", "\\PC{0,10}",]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn fuzz_xml_mutated_documents(sample in select(SAMPLES), edits in edits(XML_TOKENS)) {
        let (doc, text) = sample;
        parse_doc(doc, text.as_bytes())?;
        parse_doc(doc, &apply(text.as_bytes(), &edits))?;
    }

    #[test]
    fn fuzz_xml_arbitrary_documents(
        doc in select(DOCS),
        body in prop_oneof![
            soup(XML_TOKENS, 40).prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..300),
        ],
    ) {
        parse_doc(doc, &body)?;
    }

    #[test]
    fn fuzz_lifecycle_and_replication_documents(
        lifecycle in prop::collection::vec(lifecycle_rule(), 0..4),
        replication in prop::collection::vec(replication_rule(), 0..4),
        role in any::<bool>(),
    ) {
        parse_doc(Doc::Lifecycle, el("LifecycleConfiguration", &lifecycle.concat()).as_bytes())?;
        let role = if role { "<Role>arn:aws:iam::1:role/r</Role>" } else { "" };
        let replication = el("ReplicationConfiguration", &(role.to_owned() + &replication.concat()));
        parse_doc(Doc::Replication, replication.as_bytes())?;
    }

    #[test]
    fn fuzz_xml_text_round_trips(
        tags in prop::collection::vec((xml_text(), xml_text()), 0..4),
        keys in prop::collection::vec(xml_text(), 1..4),
    ) {
        // Tag keys and values, and the keys of DeleteObjects, come back as they were written.
        let written = render_tags(&tags);
        let parsed: xml::Tagging = xml::parse(written.as_bytes()).expect("a rendered tag set parses");
        let read: Vec<(String, String)> =
            parsed.tag_set.tags.into_iter().map(|t| (t.key, t.value)).collect();
        prop_assert_eq!(read, tags, "{}", written);

        let mut w = XmlWriter::new("Delete");
        for k in &keys {
            w.open("Object").elem("Key", k).close();
        }
        let written = w.finish();
        let parsed: xml::DeleteRequest = xml::parse(written.as_bytes()).expect("a rendered Delete parses");
        let read: Vec<String> = parsed.objects.into_iter().map(|o| o.key).collect();
        prop_assert_eq!(read, keys, "{}", written);
    }
}

// ---------------------------------------------------------------------------------------------
// Range, copy source, conditional headers, dates, counts, queries, body headers.

const RANGE_TOKENS: &[&str] = &[
    "bytes=",
    "bytes",
    "=",
    "-",
    ",",
    " ",
    "0",
    "1",
    "9",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "+1",
    "-0",
    "items=",
    "\t",
];

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn fuzz_range_headers(
        value in prop_oneof![
            soup(RANGE_TOKENS, 10),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("bytes={a}-{b}")),
            any::<u64>().prop_map(|n| format!("bytes=-{n}")),
            any::<String>(),
        ],
        size in prop_oneof![0u64..100, any::<u64>()],
    ) {
        let Some(range) = parse_range(&value) else { return Ok(()) };
        if let ByteRange::From(first, Some(last)) = range {
            prop_assert!(first <= last, "{value:?} parsed as {first}-{last}");
        }
        if let Ok((first, last)) = resolve_range(&range, size) {
            prop_assert!(first <= last && last < size, "{value:?} on {size}: {first}-{last}");
        }
    }

    #[test]
    fn fuzz_range_round_trips(first in any::<u64>(), len in any::<u64>(), pad in "[ ]{0,2}") {
        let last = first.saturating_add(len);
        let value = format!("{pad}bytes={first}-{last}{pad}");
        prop_assert_eq!(parse_range(&value), Some(ByteRange::From(first, Some(last))));
        prop_assert_eq!(parse_range(&format!("bytes={first}-")), Some(ByteRange::From(first, None)));
        prop_assert_eq!(parse_range(&format!("bytes=-{len}")), Some(ByteRange::Suffix(len)));
    }

    #[test]
    fn fuzz_copy_source_ranges(
        value in prop_oneof![
            soup(RANGE_TOKENS, 10),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("bytes={a}-{b}")),
            any::<String>(),
        ],
        size in prop_oneof![0u64..100, any::<u64>()],
    ) {
        match parse_source_range(&value, size) {
            Ok((first, last)) => prop_assert!(first <= last && last < size),
            Err(e) => one_of("copy source range", &e, &[S3ErrorCode::InvalidArgument])?,
        }
    }

    #[test]
    fn fuzz_copy_sources(
        bucket in bucket_name(),
        key in key_name(),
        version in prop::option::of("[0-9a-f]{32}|null|\\PC{0,6}"),
        edits in edits(&["/", "?", "%", "%2F", "%FF", "%C3", "versionId=", "&", "=", "+", "x=1&"]),
        slash in any::<bool>(),
    ) {
        let mut value = format!("{}{bucket}/{}", if slash { "/" } else { "" }, encode_path(&key));
        if let Some(v) = &version {
            value.push_str("?versionId=");
            uri_encode_into(&mut value, v.as_bytes(), false);
        }
        let parsed = parse_copy_source(&value);
        prop_assert!(parsed.is_ok(), "{value:?}: {:?}", parsed.as_ref().err());
        let parsed = parsed.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed.bucket, &bucket);
        prop_assert_eq!(&parsed.key, &key);
        prop_assert_eq!(&parsed.version_id, &version);

        let mutated = apply_str(&value, &edits);
        match parse_copy_source(&mutated) {
            Ok(src) => {
                prop_assert!(!src.bucket.is_empty() && !src.key.is_empty());
                prop_assert!(!src.bucket.contains('/'));
            }
            Err(e) => one_of("copy source", &e, &[S3ErrorCode::InvalidArgument])?,
        }
    }

    #[test]
    fn fuzz_conditional_headers(
        if_match in prop::option::of(soup(ETAG_TOKENS, 6)),
        if_none_match in prop::option::of(soup(ETAG_TOKENS, 6)),
        modified_since in prop::option::of(date_text()),
        unmodified_since in prop::option::of(date_text()),
        copy in any::<bool>(),
        last_modified_ms in prop_oneof![0i64..4_000_000_000_000, any::<i64>()],
    ) {
        let conditions = Preconditions {
            prefix: if copy { "x-amz-copy-source-" } else { "" },
            if_match: if_match.as_deref(),
            if_none_match: if_none_match.as_deref(),
            if_modified_since: modified_since.as_deref().and_then(parse_http_date),
            if_unmodified_since: unmodified_since.as_deref().and_then(parse_http_date),
        };
        let outcome = conditions.evaluate("abc", last_modified_ms);
        if let Err(PreconditionFailure::NotModified) = outcome {
            prop_assert!(!copy, "a copy source is never answered 304");
        }
        if if_match.is_none() && if_none_match.is_none()
            && conditions.if_modified_since.is_none() && conditions.if_unmodified_since.is_none() {
            prop_assert!(outcome.is_ok());
        }
        match conditions.check("abc", last_modified_ms) {
            Ok(()) => prop_assert!(outcome.is_ok()),
            Err(e) => {
                let code = if copy { &[S3ErrorCode::PreconditionFailed][..] }
                    else { &[S3ErrorCode::PreconditionFailed, S3ErrorCode::NotModified][..] };
                prop_assert!(code.contains(&e.code), "{e}");
            }
        }
    }

    #[test]
    fn fuzz_http_dates(value in date_text(), secs in 0i64..253_402_300_799) {
        if let Some(t) = parse_http_date(&value) {
            prop_assert!(t >= 0);
        }
        let _ = strata_signing::parse_http_date(&value);
        let _ = strata_signing::parse_amz_date(&value);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64);
        let formatted = httpdate::fmt_http_date(at);
        prop_assert_eq!(parse_http_date(&formatted), Some(secs));
        let t = OffsetDateTime::from_unix_timestamp(secs).expect("in range");
        prop_assert_eq!(strata_signing::parse_amz_date(&format_amz_date(t)), Some(t));
    }

    #[test]
    fn fuzz_part_numbers_and_counts(
        value in prop_oneof![
            soup(COUNT_TOKENS, 5),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<String>(),
        ],
        cap in 0usize..5000,
    ) {
        match parse_part_number(Some(&value)) {
            Ok(n) => {
                prop_assert!((1..=10_000).contains(&n));
                prop_assert_eq!(parse_part_number(Some(&n.to_string())).ok(), Some(n));
            }
            Err(e) => one_of("part number", &e, &[S3ErrorCode::InvalidArgument])?,
        }
        match parse_capped(Some(&value), "max-parts", 1000, cap) {
            Ok(n) => prop_assert!(n <= cap),
            Err(e) => one_of("capped count", &e, &[S3ErrorCode::InvalidArgument])?,
        }
        match parse_max_keys(Some(&value), "max-keys") {
            Ok(n) => prop_assert!(n <= 1000),
            Err(e) => one_of("max-keys", &e, &[S3ErrorCode::InvalidArgument])?,
        }
        prop_assert_eq!(parse_capped(None, "max-parts", 7, cap).ok(), Some(7));
    }

    #[test]
    fn fuzz_query_strings(
        raw in prop_oneof![soup(AUTH_TOKENS, 16), any::<String>()],
        pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..4),
        method in select(&["GET", "PUT", "POST", "HEAD", "DELETE", "OPTIONS", "PATCH"][..]),
        bucket in prop::option::of(bucket_name()),
        key in prop::option::of(key_name()),
        copy in any::<bool>(),
    ) {
        let parsed = parse_query(&raw);
        prop_assert!(parsed.len() <= raw.len());
        let _ = crate::router::classify(
            method,
            bucket.as_deref(),
            key.as_deref(),
            |k| parsed.iter().any(|(n, _)| n == k),
            |k| parsed.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            copy,
        );
        if let Err(e) = tags_from_header(&raw) {
            one_of("x-amz-tagging", &e, &[S3ErrorCode::InvalidTag])?;
        }
        // What a client encodes comes back as it was.
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut expected = pairs.clone();
        expected.sort();
        let mut decoded = parse_query(&encode_query(&refs));
        decoded.sort();
        prop_assert_eq!(decoded, expected);
        // Continuation tokens: ours decode to what they stand for, others are refused.
        if let Some((k, _)) = pairs.first() {
            let token = encode_token(k);
            prop_assert_eq!(decode_token(&token).ok(), Some(k.clone()));
        }
        if let Err(e) = decode_token(&raw) {
            one_of("continuation token", &e, &[S3ErrorCode::InvalidArgument])?;
        }
    }

    #[test]
    fn fuzz_body_headers(
        headers in prop::collection::vec(
            (
                select(&[
                    "content-length", "x-amz-decoded-content-length", "content-md5",
                    "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
                    "x-amz-checksum-sha1", "x-amz-checksum-sha256", "x-amz-trailer",
                    "x-amz-checksum-algorithm", "x-amz-sdk-checksum-algorithm", "content-encoding",
                ][..]),
                prop_oneof![
                    soup(&["0", "5", "-1", "18446744073709551616", "AAAAAA==", "1B2M2Y8AsgTpgAmY7PhCfg==",
                           "=", "-3", "CRC32", "SHA256", "crc32", "x-amz-checksum-crc32", " ", ",",
                           "aws-chunked", "AWS-Chunked", "gzip"], 4).prop_map(String::into_bytes),
                    prop::collection::vec(any::<u8>(), 0..24),
                ],
            ),
            0..5,
        ),
        chunked in any::<bool>(),
        max_len in prop_oneof![Just(5u64 * 1024 * 1024 * 1024), 0u64..100],
    ) {
        let wire = Wire { method: "PUT".into(), path: "/b/k".into(), query: String::new(),
            headers: headers.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(), vhost: None };
        let map = wire.header_map();
        let check = if chunked {
            PayloadCheck::Chunked(ChunkedMode { signing: None, trailer: true, decoded_length: None })
        } else {
            PayloadCheck::Unverified
        };
        match crate::body::BodySpec::from_headers(&map, check, max_len) {
            Ok(spec) => prop_assert!(spec.declared_len.is_none_or(|l| l <= max_len)),
            Err(e) => client_error("body headers", &e)?,
        }
        if let Err(e) = crate::body::requested_object_checksum(&map) {
            client_error("object checksum headers", &e)?;
        }
        // The Content-Encoding a write stores: the value less its aws-chunked elements.
        for value in map.get_all("content-length").filter_map(|v| v.to_str().ok()) {
            if let Some(stored) = crate::request::stored_content_encoding(value) {
                prop_assert!(!stored.trim().is_empty());
            }
            let chunked = format!("aws-chunked,{value}");
            if let Some(stored) = crate::request::stored_content_encoding(&chunked) {
                prop_assert!(!stored.split(',').any(|e| e.trim().eq_ignore_ascii_case("aws-chunked")));
            }
        }
    }

    #[test]
    fn fuzz_key_names_and_addressing(
        bucket in bucket_name(),
        key in key_name(),
        edits in edits(&["/", "//", "%", "%2F", "%G1", "%4", "%FF", "%C3%A9", "%00", "+", "?", ".."]),
        host in prop::option::of(prop_oneof![
            Just("photos.s3.local:9000".to_owned()),
            Just("s3.local".to_owned()),
            Just("[::1]:9000".to_owned()),
            "[a-zA-Z0-9.:\\[\\]-]{0,20}",
        ]),
        domain in prop::option::of(prop_oneof![Just("s3.local".to_owned()), "[a-z.]{0,8}"]),
    ) {
        // Path style: what a client encodes is the key the handlers get.
        let path = format!("/{bucket}/{}", encode_path(&key));
        let resolved = resolve_address(Some(HOST), &path, None);
        prop_assert_eq!(
            resolved.ok(),
            Some((Some(bucket.clone()), Some(key.clone()), None)),
            "{}", path
        );
        let mutated = apply_str(&path, &edits);
        match resolve_address(host.as_deref(), &mutated, domain.as_deref()) {
            Ok((bucket, key, vhost)) => {
                let _ = vhost;
                if let Some(k) = &key {
                    prop_assert!(!k.is_empty());
                    if let Err(e) = validate_key(k) {
                        one_of("key", &e, &[S3ErrorCode::KeyTooLongError])?;
                        prop_assert!(k.len() > MAX_KEY_LEN);
                    }
                }
                if let Some(b) = &bucket {
                    if validate_bucket_name(b).is_ok() {
                        prop_assert!((3..=63).contains(&b.len()));
                        prop_assert!(b.bytes().all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-')));
                    }
                }
            }
            Err(e) => one_of("path", &e, &[S3ErrorCode::InvalidURI])?,
        }
    }
}

const ETAG_TOKENS: &[&str] = &[
    "\"abc\"",
    "W/\"abc\"",
    "*",
    ",",
    " ",
    "\"",
    "W/",
    "abc",
    "abd",
];

const COUNT_TOKENS: &[&str] = &[
    "0",
    "1",
    "9",
    "10000",
    "10001",
    "-",
    "+",
    " ",
    "4294967296",
    "9223372036854775808",
    "1e3",
    "0x10",
];

fn date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        soup(
            &[
                "Sun, ",
                "01 ",
                "Mar ",
                "2026 ",
                "12:00:00",
                " GMT",
                " +0000",
                " -2359",
                "Sunday, ",
                "01-Mar-26 ",
                "Sun Mar  1 12:00:00 2026",
                "20260301T120000Z",
                "9999",
                "0000",
                "99:99:99",
                "Feb 30 ",
                "-",
                "T",
                "Z",
                " "
            ],
            8
        ),
        any::<String>(),
    ]
}

// ---------------------------------------------------------------------------------------------
// POST policy.

/// A policy document and the form that carries it.
#[derive(Debug, Clone)]
struct Form {
    conditions: Vec<serde_json::Value>,
    v4: bool,
    key: String,
    extra: BTreeMap<String, String>,
}

fn condition() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        ("[a-z-]{1,12}", "\\PC{0,8}").prop_map(|(k, v)| json!({ k: v })),
        ("[a-z-]{1,12}", "\\PC{0,8}").prop_map(|(k, v)| json!(["eq", format!("${k}"), v])),
        ("[a-z-]{1,12}", "\\PC{0,8}").prop_map(|(k, v)| json!(["starts-with", format!("${k}"), v])),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| json!(["content-length-range", a, b])),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| json!([
            "content-length-range",
            a.to_string(),
            b.to_string()
        ])),
    ]
}

fn form() -> impl Strategy<Value = Form> {
    (
        prop::collection::vec(condition(), 0..5),
        any::<bool>(),
        key_name(),
        prop::collection::btree_map(
            "x-amz-meta-[a-z]{1,6}|x-ignore-[a-z]{1,4}|[a-z]{1,8}",
            "\\PC{0,8}",
            0..3,
        ),
    )
        .prop_map(|(conditions, v4, key, extra)| Form {
            conditions,
            v4,
            key,
            extra,
        })
}

impl Form {
    fn policy(&self) -> String {
        serde_json::json!({
            "expiration": "2026-03-02T00:00:00.000Z",
            "conditions": self.conditions,
        })
        .to_string()
    }

    /// The form fields with `policy_text` (base64-encoded) signed.
    fn fields(&self, policy_text: &[u8]) -> Vec<(String, String)> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(policy_text);
        let mut fields = vec![("key".to_owned(), self.key.clone())];
        if self.v4 {
            let key = strata_signing::signing_key(SK, DAY, REGION).expect("HMAC takes any key");
            let sig = hex::encode(hmac_sha256(&key, b64.as_bytes()).expect("HMAC takes any key"));
            fields.extend([
                ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
                (
                    "x-amz-credential".to_owned(),
                    format!("{AK}/{DAY}/{REGION}/s3/aws4_request"),
                ),
                ("x-amz-date".to_owned(), format_amz_date(NOW)),
                ("policy".to_owned(), b64),
                ("x-amz-signature".to_owned(), sig),
            ]);
        } else {
            let mac = sigv2::hmac_sha1(SK.as_bytes(), b64.as_bytes()).expect("HMAC takes any key");
            fields.extend([
                ("AWSAccessKeyId".to_owned(), AK.to_owned()),
                ("policy".to_owned(), b64),
                (
                    "signature".to_owned(),
                    base64::engine::general_purpose::STANDARD.encode(mac),
                ),
            ]);
        }
        fields.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        fields
    }
}

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "1e999",
    "-1",
    "18446744073709551616",
    "\"eq\"",
    "\"starts-with\"",
    "\"content-length-range\"",
    "\"$key\"",
    "\"expiration\"",
    "\"conditions\"",
    "\"2026-03-02T00:00:00Z\"",
    "\"2001-01-01T00:00:00Z\"",
    "[[[[[[[[",
    "{\"a\":{\"a\":",
];

const POLICY_ERRORS: &[S3ErrorCode] = &[
    S3ErrorCode::AccessDenied,
    S3ErrorCode::InvalidArgument,
    S3ErrorCode::InvalidAccessKeyId,
    S3ErrorCode::SignatureDoesNotMatch,
    S3ErrorCode::InvalidPolicyDocument,
];

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn fuzz_post_policies(
        form in form(),
        policy_edits in edits(JSON_TOKENS),
        field_edits in prop::collection::vec((any::<Index>(), edits(AUTH_TOKENS)), 0..3),
        len in prop_oneof![0u64..100, any::<u64>()],
    ) {
        let policy = form.policy();
        let fields = form.fields(policy.as_bytes());
        let verified = verify_post(&fields, &auth_config(false), NOW);
        prop_assert!(verified.is_ok(), "{}: {:?}", policy, verified.err());
        let verified = verified.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let count: usize = form.conditions.iter()
            .map(|c| c.as_object().map_or(1, |o| o.len()))
            .sum();
        prop_assert_eq!(verified.conditions.len(), count);

        // A signed but mangled policy document: its parser sees arbitrary text.
        let mangled = apply(policy.as_bytes(), &policy_edits);
        let fields = form.fields(&mangled);
        match verify_post(&fields, &auth_config(false), NOW) {
            Ok(p) => {
                if let Err(e) = p.check_fields(&fields, "bucket", &form.key) {
                    one_of("policy fields", &e, &[S3ErrorCode::AccessDenied])?;
                }
                if let Err(e) = p.check_length(len) {
                    let codes = [S3ErrorCode::EntityTooSmall, S3ErrorCode::EntityTooLarge];
                    one_of("policy length", &e, &codes)?;
                }
                for c in &p.conditions {
                    if let Condition::Eq(name, _) | Condition::StartsWith(name, _) = c {
                        prop_assert_eq!(name, &name.to_ascii_lowercase());
                    }
                }
            }
            Err(e) => one_of("mangled policy", &e, POLICY_ERRORS)?,
        }

        // Tampered fields: the signature, the credential, the date, the policy itself.
        let mut tampered = form.fields(policy.as_bytes());
        for (i, edits) in &field_edits {
            let n = tampered.len();
            let field = &mut tampered[i.index(n)];
            field.1 = apply_str(&field.1, edits);
        }
        if let Err(e) = verify_post(&tampered, &auth_config(false), NOW) {
            one_of("tampered form", &e, POLICY_ERRORS)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Large adversarial inputs: each is refused (or accepted) promptly, with bounded output.

/// Generous bound for one large input in a debug build: a hang or quadratic blow-up overshoots it
/// by orders of magnitude, a slow machine does not.
const PROMPT: Duration = Duration::from_secs(10);

fn prompt<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < PROMPT, "{what} took {took:?}");
    out
}

/// The largest body each document's handler reads (a larger one is refused unread).
fn body_limit(doc: Doc) -> usize {
    match doc {
        Doc::Delete => 2 << 20,
        Doc::Complete => 4 << 20,
        Doc::Lifecycle | Doc::Replication => 1 << 20,
        Doc::Cors => 256 << 10,
        Doc::Tagging | Doc::Versioning | Doc::Restore | Doc::CreateBucket => 64 << 10,
    }
}

#[test]
fn fuzz_hostile_xml_documents() {
    const MIB: usize = 1 << 20;
    // Unknown elements nested hundreds of thousands deep (unclosed, then closed), or side by
    // side, in every document up to its size limit (capped at 256 KiB: skipping unknown elements
    // is the same code for every document, and the megabyte cases follow).
    let deep_open = |n: usize| format!("<Delete>{}", "<a>".repeat(n / 3));
    let deep_closed = |n: usize| {
        format!(
            "<Delete>{}{}</Delete>",
            "<a>".repeat(n / 8),
            "</a>".repeat(n / 8)
        )
    };
    let wide = |n: usize| format!("<Delete>{}</Delete>", "<a/>".repeat(n / 4));
    // Entity expansion ("billion laughs"): a DTD's entities are not expanded.
    let laughs = format!(
        "<!DOCTYPE d [<!ENTITY a \"{}\">{}]><Delete><Object><Key>&j;</Key></Object></Delete>",
        "x".repeat(64),
        (b'b'..=b'j')
            .map(|c| format!(
                "<!ENTITY {} \"{}\">",
                c as char,
                format!("&{};", (c - 1) as char).repeat(16)
            ))
            .collect::<String>()
    );
    for &doc in DOCS {
        let n = body_limit(doc).min(256 << 10);
        for body in [deep_open(n), deep_closed(n), wide(n), laughs.clone()] {
            let what = format!("{doc:?} of {} bytes starting {:?}", body.len(), &body[..24]);
            let outcome = prompt(&what, || parse_doc(doc, body.as_bytes()));
            assert!(outcome.is_ok(), "{what}: {outcome:?}");
        }
    }
    let refused = |body: &str| {
        xml::parse::<xml::DeleteRequest>(body.as_bytes())
            .map(|_| ())
            .unwrap_err()
            .code
    };
    assert_eq!(
        prompt("deep", || refused(&deep_open(MIB))),
        S3ErrorCode::MalformedXML
    );
    assert_eq!(refused(&laughs), S3ErrorCode::MalformedXML);
    assert!(prompt("wide", || xml::parse::<xml::DeleteRequest>(
        wide(MIB).as_bytes()
    ))
    .is_ok());

    // Megabyte documents of what each handler accepts.
    let long_key = format!(
        "<Delete><Object><Key>{}</Key></Object></Delete>",
        "k".repeat(MIB)
    );
    let parsed: xml::DeleteRequest =
        prompt("long key", || xml::parse(long_key.as_bytes())).expect("parses");
    assert_eq!(parsed.objects[0].key.len(), MIB);
    let many_parts = format!(
        "<CompleteMultipartUpload>{}</CompleteMultipartUpload>",
        "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>".repeat(MIB / 52)
    );
    let parsed: xml::CompleteMultipartUpload =
        prompt("many parts", || xml::parse(many_parts.as_bytes())).expect("parses");
    assert_eq!(parsed.parts.len(), MIB / 52);
    // Over 1000 lifecycle rules and over 100 CORS rules are refused.
    let many_rules = format!(
        "<LifecycleConfiguration>{}</LifecycleConfiguration>",
        "<Rule><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
            .repeat(MIB / 76)
    );
    let e = prompt("many rules", || {
        lifecycle::parse_configuration(many_rules.as_bytes())
    })
    .unwrap_err();
    assert_ne!(e.code, S3ErrorCode::InternalError);
    let many_cors = format!(
        "<CORSConfiguration>{}</CORSConfiguration>",
        "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"
            .repeat((256 << 10) / 84)
    );
    let e = prompt("many CORS rules", || {
        cors::parse_config(many_cors.as_bytes())
    })
    .unwrap_err();
    assert_eq!(e.code, S3ErrorCode::MalformedXML);
}

#[test]
fn fuzz_hostile_chunked_bodies() {
    let unsigned = |decoded_length| ChunkedMode {
        signing: None,
        trailer: true,
        decoded_length,
    };
    let decode = |mode: ChunkedMode, body: &[u8], piece: usize| {
        prompt("aws-chunked body", || decode_pieces(mode, body, &[piece]))
    };
    // Declared sizes of 2^60 and 2^64 - 1, and one past 16 hex digits: refused at the header.
    for header in [
        "1000000000000000\r\n",
        "ffffffffffffffff\r\n",
        "10000000000000000\r\n",
    ] {
        let mut body = header.as_bytes().to_vec();
        body.extend(std::iter::repeat_n(b'a', 1 << 16));
        let (out, result) = decode(unsigned(None), &body, 4096);
        assert!(out.is_empty(), "{header:?}");
        assert_eq!(
            result.unwrap_err().code,
            S3ErrorCode::InvalidRequest,
            "{header:?}"
        );
    }
    // A chunk larger than the declared decoded length is refused before its data.
    let (out, result) = decode(unsigned(Some(10)), b"b\r\nhello world\r\n0\r\n\r\n", 64);
    assert!(out.is_empty());
    assert_eq!(result.unwrap_err().code, S3ErrorCode::InvalidRequest);
    // A declared length of 2^60 that never arrives is incomplete, not awaited.
    let (_, result) = decode(unsigned(Some(1 << 60)), b"5\r\nhello\r\n0\r\n\r\n", 64);
    assert_eq!(result.unwrap_err().code, S3ErrorCode::IncompleteBody);
    // A megabyte header line without a line end, one of chunk extensions, one of trailers.
    let mib = 1 << 20;
    let endless = vec![b'1'; mib];
    let extensions = format!("1{}\r\na\r\n0\r\n\r\n", ";x=y".repeat(mib / 4));
    let trailers = format!("0\r\n{}\r\n", "x-a:b\r\n".repeat(mib / 7));
    let trailer_line = format!("0\r\nx-a:{}\r\n\r\n", "v".repeat(mib));
    let after_end = format!("0\r\n\r\n{}", "\r\n".repeat(mib / 2));
    for body in [
        &endless[..],
        extensions.as_bytes(),
        trailers.as_bytes(),
        trailer_line.as_bytes(),
        after_end.as_bytes(),
    ] {
        let (out, result) = decode(unsigned(None), body, 1 << 16);
        assert!(out.len() <= 1);
        assert_eq!(result.unwrap_err().code, S3ErrorCode::InvalidRequest);
    }
    // Many tiny chunks decode in linear time, byte for byte.
    let tiny = format!("{}0\r\n\r\n", "1\r\nz\r\n".repeat(mib / 6));
    let (out, result) = decode(unsigned(None), tiny.as_bytes(), 1 << 16);
    assert!(result.is_ok());
    assert_eq!(out.len(), mib / 6);
    // Signed: a megabyte chunk whose signature is wrong is refused once its data has passed.
    let mut signed_body = format!("100000;chunk-signature={CHUNK_SEED}\r\n").into_bytes();
    signed_body.extend(std::iter::repeat_n(b'a', mib));
    signed_body.extend_from_slice(b"\r\n");
    let mode = ChunkedMode {
        signing: Some(chunk_signing()),
        trailer: false,
        decoded_length: None,
    };
    let (out, result) = decode(mode, &signed_body, 1 << 16);
    assert_eq!(out.len(), mib);
    assert_eq!(result.unwrap_err().code, S3ErrorCode::SignatureDoesNotMatch);
}

#[test]
fn fuzz_hostile_authentication() {
    let mib = 1 << 20;
    let intent = Intent {
        method: "GET",
        bucket: "bucket".to_owned(),
        key: "key".to_owned(),
        query: Vec::new(),
        meta: BTreeMap::new(),
        content_type: None,
        payload: Payload::Unsigned,
    };
    let signed = sign_v4_header(&intent);
    let with_authorization = |value: String| {
        let mut w = signed.clone();
        w.headers.retain(|(n, _)| n != "authorization");
        w.header("authorization", &value)
    };
    let cases = [
        with_authorization(format!("AWS4-HMAC-SHA256 {}", ",".repeat(mib))),
        with_authorization(format!(
            "AWS4-HMAC-SHA256 Credential={AK}/{DAY}/{REGION}/s3/aws4_request, SignedHeaders=host;{}x-amz-date, Signature={}",
            "host;".repeat(mib / 5),
            "0".repeat(64)
        )),
        with_authorization(format!("AWS4-HMAC-SHA256 Credential={}", "/".repeat(mib))),
        with_authorization(format!("AWS {}:{}", "A".repeat(mib / 2), "=".repeat(mib / 2))),
        Wire {
            query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&".repeat(mib / 34),
            ..signed.clone()
        },
        Wire {
            query: "a=%zz&".repeat(mib / 6),
            ..signed.clone()
        },
        Wire {
            path: format!("/bucket/{}", "%41".repeat(mib / 3)),
            ..signed.clone()
        },
    ];
    for wire in &cases {
        let result = prompt("large request head", || {
            wire.authenticate(&auth_config(false), NOW)
        });
        let e = result.expect_err("refused");
        assert_ne!(e.code, S3ErrorCode::InternalError, "{e}");
    }
}

#[test]
fn fuzz_hostile_post_policies() {
    let deep_array = format!(
        "{{\"expiration\":\"2026-03-02T00:00:00Z\",\"conditions\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_object = format!(
        "{{\"expiration\":\"2026-03-02T00:00:00Z\",\"conditions\":[{}1{}]}}",
        "{\"a\":".repeat(100_000),
        "}".repeat(100_000)
    );
    let many = format!(
        "{{\"expiration\":\"2026-03-02T00:00:00Z\",\"conditions\":[{}]}}",
        vec!["[\"starts-with\",\"$key\",\"\"]"; 30_000].join(",")
    );
    let form = Form {
        conditions: Vec::new(),
        v4: true,
        key: "k".to_owned(),
        extra: BTreeMap::new(),
    };
    for (policy, refused) in [(deep_array, true), (deep_object, true), (many, false)] {
        let fields = form.fields(policy.as_bytes());
        let result = prompt("large policy", || {
            verify_post(&fields, &auth_config(false), NOW)
        });
        match result {
            Ok(p) => {
                assert!(!refused);
                assert_eq!(p.conditions.len(), 30_000);
                // The signing fields are not named by the policy: refused, promptly.
                let e = prompt("policy check", || p.check_fields(&fields, "b", "k")).unwrap_err();
                assert_eq!(e.code, S3ErrorCode::AccessDenied);
            }
            Err(e) => {
                assert!(refused, "{e}");
                assert_eq!(e.code, S3ErrorCode::InvalidPolicyDocument);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions found by the properties above.

// Issue 14: a SigV2 request whose path starts with a multi-byte character panicked the verifier.
#[test]
fn sigv2_path_starting_with_a_multibyte_character_is_refused_not_a_panic() {
    for path in ["\u{fffd}a-a/_", "\u{e9}", "\u{e9}x"] {
        let wire = Wire {
            method: "GET".to_owned(),
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            vhost: None,
        }
        .header("host", HOST)
        .header("date", &httpdate::fmt_http_date(SystemTime::from(NOW)))
        .header("authorization", &format!("AWS {AK}:c2lnbmF0dXJl"));
        let e = wire.authenticate(&auth_config(false), NOW).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch, "{path:?}");
    }
}

// Issue 14: a document type declaration inside an element's text panicked the XML parser.
#[test]
fn doctype_inside_an_element_is_malformed_not_a_panic() {
    for body in [
        "<Delete><Object><Key>k<!DOCTYPE d>2</Key></Object></Delete>",
        "<Delete><Object><Key>k<!doctype d [<!ENTITY e \"x\">]><![CDATA[x]]></Key></Object></Delete>",
        "<Delete><Quiet>tr<!DOCTYPE d>ue</Quiet></Delete>",
        "<Tagging><TagSet><Tag><Key>k<!DOCTYPE d>2</Key><Value/></Tag></TagSet></Tagging>",
        "<Tagging><!DOCTYPE d><TagSet></TagSet></Tagging>",
    ] {
        let delete = xml::parse::<xml::DeleteRequest>(body.as_bytes()).map(|_| ());
        let tagging = xml::parse::<xml::Tagging>(body.as_bytes()).map(|_| ());
        for result in [delete, tagging] {
            assert_eq!(result.unwrap_err().code, S3ErrorCode::MalformedXML, "{body}");
        }
    }
    // A declaration before the root element is still allowed (and its entities not expanded).
    let d: xml::DeleteRequest =
        xml::parse(b"<!DOCTYPE Delete><Delete><Object><Key>k</Key></Object></Delete>").unwrap();
    assert_eq!(d.objects[0].key, "k");
}

// Issue 14: NEL and LINE SEPARATOR in a key or tag were read back as a line feed.
#[test]
fn xml_1_0_keeps_nel_and_line_separator() {
    let body = "<Delete><Object><Key>a\u{2028}b\u{85}c\r\u{85}d</Key></Object>\
                <Object><Key><![CDATA[e\u{2028}f]]>\u{2028}&amp;\u{85}</Key></Object></Delete>";
    let d: xml::DeleteRequest = xml::parse(body.as_bytes()).unwrap();
    let keys: Vec<&str> = d.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        ["a\u{2028}b\u{85}c\n\u{85}d", "e\u{2028}f\u{2028}&\u{85}"]
    );
    let tags = parse_tagging_body(
        "<Tagging><TagSet><Tag><Key>k\u{2028}</Key><Value>\u{85}v</Value></Tag></TagSet></Tagging>"
            .as_bytes(),
        MAX_OBJECT_TAGS,
    )
    .unwrap();
    assert_eq!(tags, [("k\u{2028}".to_owned(), "\u{85}v".to_owned())]);
    // An XML 1.1 document normalises them, as XML 1.1 says.
    let d: xml::DeleteRequest = xml::parse(
        "<?xml version=\"1.1\"?><Delete><Object><Key>a\u{2028}b</Key></Object></Delete>".as_bytes(),
    )
    .unwrap();
    assert_eq!(d.objects[0].key, "a\nb");
}

// Issue 14: a raw NUL in a request document was accepted, and rendered back as `&#x0;`.
#[test]
fn characters_xml_does_not_allow_are_malformed() {
    for bad in ["\u{0}", "\u{1}", "\u{1f}", "\u{fffe}", "\u{ffff}"] {
        let body = format!(
            "<Tagging><TagSet><Tag><Key>k</Key><Value>a{bad}b</Value></Tag></TagSet></Tagging>"
        );
        let e = parse_tagging_body(body.as_bytes(), MAX_OBJECT_TAGS).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MalformedXML, "{bad:?}");
    }
    // Tab, line feed and carriage return are text (a carriage return reads as a line feed, as
    // XML says); other control characters still arrive as references.
    let body =
        "<Tagging><TagSet><Tag><Key>k</Key><Value>a\tb\nc\rd&#x1;</Value></Tag></TagSet></Tagging>";
    let tags = parse_tagging_body(body.as_bytes(), MAX_OBJECT_TAGS).unwrap();
    assert_eq!(tags[0].1, "a\tb\nc\nd\u{1}");
}
