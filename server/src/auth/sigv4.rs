//! AWS Signature Version 4 as S3 verifies it: header authentication
//! (`Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`) and
//! presigned query authentication (`X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...`).
//!
//! Invariant: a request passes only if a canonical request built from its wire form (method, raw
//! path, raw query, the headers it names as signed, the declared payload hash) signs, under the
//! configured secret, region and the `s3` service, to exactly the signature it carries, compared
//! in constant time. Scope, date, skew and expiry are checked before any signature is computed.

use super::{
    format_amz_date, format_iso8601, hmac_sha256, key_error, missing_date, parse_amz_date,
    parse_http_date, time_too_skewed, AuthConfig, Authenticated, ChunkSigning, ChunkedMode,
    DeclaredPayload, PayloadCheck, RawQuery, RequestParts, MAX_SKEW, UNSIGNED_PAYLOAD,
};
use crate::error::{S3Error, S3Result};
use crate::s3_error;
pub(super) use strata_signing::sigv4::ALGORITHM;
use strata_signing::sigv4::{
    canonical_query, canonical_request as build_canonical_request, canonical_uri,
    push_trimmed_collapsed, string_to_sign, SERVICE, TERMINATOR,
};
use time::OffsetDateTime;
/// Longest validity of a presigned URL S3 accepts: seven days.
const MAX_PRESIGN_EXPIRES: i64 = 604_800;

/// Verifies `Authorization: AWS4-HMAC-SHA256 <rest>`.
pub(super) fn verify_header(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    cfg: &AuthConfig,
    now: OffsetDateTime,
    rest: &str,
) -> S3Result<Authenticated> {
    let fields = parse_authorization_fields(rest)?;
    let credential = Credential::parse(fields.credential)
        .ok_or_else(|| Location::Header.malformed_credential())?;

    // The request time: x-amz-date, else Date (converted to the basic ISO 8601 form).
    let (timestamp, raw_time) = match super::header_str(parts.headers, "x-amz-date")? {
        Some(value) => (
            parse_amz_date(value.trim()).ok_or_else(missing_date)?,
            value,
        ),
        None => match super::header_str(parts.headers, "date")? {
            Some(value) => (parse_http_date(value).ok_or_else(missing_date)?, value),
            None => return Err(missing_date()),
        },
    };
    if (timestamp - now).abs() > MAX_SKEW {
        return Err(time_too_skewed(raw_time, now));
    }
    let amz_date = format_amz_date(timestamp);
    let identity = credential.check(&amz_date, cfg, Location::Header)?;

    let signed_headers = SignedHeaders::parse(fields.signed_headers, Location::Header)?;
    signed_headers.check_covers(parts, &["x-amz-content-sha256", "x-amz-date"])?;

    // S3 requires x-amz-content-sha256 on every header-signed SigV4 request.
    let payload_value =
        super::header_str(parts.headers, "x-amz-content-sha256")?.ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256"
            )
        })?;
    let declared = DeclaredPayload::parse(payload_value)?;

    let verified = verify_signature(&SignatureInput {
        parts,
        query,
        secret: &identity.secret_key,
        credential: &credential,
        amz_date: &amz_date,
        signed_headers: &signed_headers,
        payload_line: payload_value,
        presigned: false,
        provided: fields.signature,
    })?;
    Ok(Authenticated {
        identity: Some(identity),
        query_plus_is_literal: verified.plus_is_literal,
        payload: payload_check(parts, declared, verified)?,
    })
}

/// Verifies a presigned URL (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders`, `X-Amz-Signature`).
pub(super) fn verify_presigned(
    parts: &RequestParts<'_>,
    query: &RawQuery<'_>,
    cfg: &AuthConfig,
    now: OffsetDateTime,
) -> S3Result<Authenticated> {
    let algorithm = required_param(query, "X-Amz-Algorithm")?;
    let credential_param = required_param(query, "X-Amz-Credential")?;
    let date_param = required_param(query, "X-Amz-Date")?;
    let expires_param = required_param(query, "X-Amz-Expires")?;
    let signed_headers_param = required_param(query, "X-Amz-SignedHeaders")?;
    let signature = required_param(query, "X-Amz-Signature")?;

    if algorithm != ALGORITHM {
        return Err(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        ));
    }
    let timestamp = parse_amz_date(&date_param).ok_or_else(|| {
        s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    })?;
    let expires: i64 = expires_param.parse().map_err(|_| {
        s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires should be a number"
        )
    })?;
    if expires < 0 {
        return Err(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires must be non-negative"
        ));
    }
    if expires == 0 {
        return Err(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires must be at least 1 second"
        ));
    }
    if expires > MAX_PRESIGN_EXPIRES {
        return Err(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires must be less than a week (in seconds) that's 7 days or 604800 seconds"
        ));
    }

    let credential = Credential::parse(&credential_param)
        .ok_or_else(|| Location::Query.malformed_credential())?;
    let identity = credential.check(&date_param, cfg, Location::Query)?;

    // S3 answers AccessDenied, not RequestTimeTooSkewed, for presigned URLs outside their window.
    if timestamp - now > MAX_SKEW {
        return Err(s3_error!(AccessDenied, "Request is not yet valid")
            .with_extra("X-Amz-Date", date_param.clone())
            .with_extra("ServerTime", format_iso8601(now)));
    }
    let expiry = timestamp + time::Duration::seconds(expires);
    if now > expiry {
        return Err(s3_error!(AccessDenied, "Request has expired")
            .with_extra("X-Amz-Expires", expires.to_string())
            .with_extra("Expires", format_iso8601(expiry))
            .with_extra("ServerTime", format_iso8601(now)));
    }

    let signed_headers = SignedHeaders::parse(&signed_headers_param, Location::Query)?;
    // The AWS SDKs deliberately leave these out of presigned signatures.
    signed_headers.check_covers(
        parts,
        &[
            "x-amz-content-sha256",
            "x-amz-user-agent",
            "x-amz-checksum-mode",
        ],
    )?;

    // A presigned request's payload is UNSIGNED-PAYLOAD unless the client declared a hash.
    let payload_value =
        super::header_str(parts.headers, "x-amz-content-sha256")?.unwrap_or(UNSIGNED_PAYLOAD);
    let declared = DeclaredPayload::parse(payload_value)?;

    let verified = verify_signature(&SignatureInput {
        parts,
        query,
        secret: &identity.secret_key,
        credential: &credential,
        amz_date: &date_param,
        signed_headers: &signed_headers,
        payload_line: payload_value,
        presigned: true,
        provided: &signature,
    })?;
    Ok(Authenticated {
        identity: Some(identity),
        query_plus_is_literal: verified.plus_is_literal,
        payload: payload_check(parts, declared, verified)?,
    })
}

/// The payload check that follows from the declared payload of a verified request.
fn payload_check(
    parts: &RequestParts<'_>,
    declared: DeclaredPayload,
    verified: VerifiedSignature,
) -> S3Result<PayloadCheck> {
    Ok(match declared {
        DeclaredPayload::Unsigned => PayloadCheck::Unverified,
        DeclaredPayload::Sha256(hash) => PayloadCheck::Sha256(hash),
        DeclaredPayload::StreamingUnsignedTrailer => PayloadCheck::Chunked(ChunkedMode {
            signing: None,
            trailer: true,
            decoded_length: super::decoded_content_length(parts.headers)?,
        }),
        DeclaredPayload::StreamingSigned { trailer } => PayloadCheck::Chunked(ChunkedMode {
            signing: Some(ChunkSigning {
                signing_key: verified.signing_key,
                amz_date: verified.amz_date,
                scope: verified.scope,
                seed_signature: verified.signature,
            }),
            trailer,
            decoded_length: super::decoded_content_length(parts.headers)?,
        }),
    })
}

/// One required presigned-URL parameter, decoded; absent or repeated is an error.
fn required_param(query: &RawQuery<'_>, name: &str) -> S3Result<String> {
    let mut values = query.values(name, true);
    if values.len() > 1 {
        return Err(s3_error!(
            AuthorizationQueryParametersError,
            "{name} must appear only once"
        ));
    }
    let value = values.pop().ok_or_else(|| {
        s3_error!(
            AuthorizationQueryParametersError,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, \
             X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    })?;
    String::from_utf8(value).map_err(|_| {
        s3_error!(
            AuthorizationQueryParametersError,
            "{name} is not valid UTF-8"
        )
    })
}

/// Where the signature came from, which decides the error codes and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Header,
    Query,
}

impl Location {
    /// An error about the credential or signed headers, worded as S3 words it.
    fn error(self, detail: impl std::fmt::Display) -> S3Error {
        match self {
            Self::Header => s3_error!(
                AuthorizationHeaderMalformed,
                "The authorization header is malformed; {detail}"
            ),
            Self::Query => s3_error!(
                AuthorizationQueryParametersError,
                "Error parsing the X-Amz-Credential parameter; {detail}"
            ),
        }
    }

    /// The error for a credential that is not `AKID/YYYYMMDD/REGION/SERVICE/aws4_request`.
    fn malformed_credential(self) -> S3Error {
        self.error(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        )
    }
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 ...`.
struct AuthorizationFields<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Parses `Credential=..., SignedHeaders=..., Signature=...` (comma separated, spaces optional).
fn parse_authorization_fields(rest: &str) -> S3Result<AuthorizationFields<'_>> {
    let malformed = |detail: &str| {
        s3_error!(
            AuthorizationHeaderMalformed,
            "The authorization header is malformed; {detail}"
        )
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in rest.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (name, value) = field
            .split_once('=')
            .ok_or_else(|| malformed("each component must be of the form name=value."))?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed("it contains an unknown component.")),
        };
        if slot.replace(value.trim()).is_some() {
            return Err(malformed("a component appears more than once."));
        }
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => Ok(AuthorizationFields {
            credential,
            signed_headers,
            signature,
        }),
        (None, _, _) => Err(Location::Header.malformed_credential()),
        (_, None, _) => Err(malformed("the SignedHeaders component is missing.")),
        (_, _, None) => Err(malformed("the Signature component is missing.")),
    }
}

/// `AKID/YYYYMMDD/REGION/SERVICE/aws4_request`.
struct Credential<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
}

impl<'a> Credential<'a> {
    /// Splits from the right, so only the access key could hold a stray `/`.
    fn parse(value: &'a str) -> Option<Self> {
        let mut it = value.rsplitn(5, '/');
        let terminator = it.next()?;
        let service = it.next()?;
        let region = it.next()?;
        let date = it.next()?;
        let access_key = it.next()?;
        if access_key.is_empty() {
            return None;
        }
        Some(Self {
            access_key,
            date,
            region,
            service,
            terminator,
        })
    }

    /// The scope string that enters the string to sign.
    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }

    /// Checks the scope against the request date and the server's region, then the access key.
    fn check(
        &self,
        amz_date: &str,
        cfg: &AuthConfig,
        location: Location,
    ) -> S3Result<std::sync::Arc<crate::users::Identity>> {
        let request_day = amz_date.get(..8).unwrap_or(amz_date);
        if self.date != request_day {
            return Err(location.error(format_args!(
                "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
                self.date, request_day
            )));
        }
        if self.region != cfg.region {
            return Err(location
                .error(format_args!(
                    "the region '{}' is wrong; expecting '{}'",
                    self.region, cfg.region
                ))
                .with_extra("Region", cfg.region.clone()));
        }
        if self.service != SERVICE {
            return Err(location.error(format_args!(
                "incorrect service \"{}\". This endpoint belongs to \"{SERVICE}\".",
                self.service
            )));
        }
        if self.terminator != TERMINATOR {
            return Err(location.error(format_args!(
                "incorrect terminal \"{}\". This endpoint uses \"{TERMINATOR}\".",
                self.terminator
            )));
        }
        cfg.identity(self.access_key)
    }
}

/// The `SignedHeaders` list, kept in the client's order and spelling.
struct SignedHeaders<'a> {
    raw: &'a str,
    names: Vec<&'a str>,
}

impl<'a> SignedHeaders<'a> {
    /// Parses `a;b;c`; `host` must be among them.
    fn parse(raw: &'a str, location: Location) -> S3Result<Self> {
        let names: Vec<&str> = raw.split(';').collect();
        if names.iter().any(|n| n.is_empty()) {
            return Err(match location {
                Location::Header => s3_error!(
                    AuthorizationHeaderMalformed,
                    "The authorization header is malformed; the SignedHeaders list is malformed."
                ),
                Location::Query => s3_error!(
                    AuthorizationQueryParametersError,
                    "X-Amz-SignedHeaders is malformed"
                ),
            });
        }
        if !names.contains(&"host") {
            return Err(match location {
                Location::Header => s3_error!(
                    AuthorizationHeaderMalformed,
                    "The authorization header is malformed; 'host' must be a signed header."
                ),
                Location::Query => s3_error!(
                    AuthorizationQueryParametersError,
                    "X-Amz-SignedHeaders must include 'host'"
                ),
            });
        }
        Ok(Self { raw, names })
    }

    /// S3 rejects requests carrying `x-amz-*` headers the signature does not cover, so that
    /// nothing can add e.g. `x-amz-copy-source` to a signed request. `exempt` lists headers that
    /// are bound some other way or that SDKs deliberately leave unsigned.
    fn check_covers(&self, parts: &RequestParts<'_>, exempt: &[&str]) -> S3Result<()> {
        let mut unsigned: Vec<&str> = parts
            .headers
            .keys()
            .map(|name| name.as_str())
            .filter(|name| {
                name.starts_with("x-amz-") && !exempt.contains(name) && !self.names.contains(name)
            })
            .collect();
        if unsigned.is_empty() {
            return Ok(());
        }
        unsigned.sort_unstable();
        unsigned.dedup();
        Err(s3_error!(
            AccessDenied,
            "There were headers present in the request which were not signed"
        )
        .with_extra("HeadersNotSigned", unsigned.join(", ")))
    }
}

/// Everything the signature computation needs.
struct SignatureInput<'a> {
    parts: &'a RequestParts<'a>,
    query: &'a RawQuery<'a>,
    /// The signer's secret key.
    secret: &'a str,
    credential: &'a Credential<'a>,
    amz_date: &'a str,
    signed_headers: &'a SignedHeaders<'a>,
    payload_line: &'a str,
    presigned: bool,
    provided: &'a str,
}

/// What a verified signature hands on to the aws-chunked decoder.
struct VerifiedSignature {
    /// Verified only with a literal `+` in the query read as a plus.
    plus_is_literal: bool,
    signing_key: [u8; 32],
    amz_date: String,
    scope: String,
    signature: String,
}

/// How the path and query are canonicalised; see [`verify_signature`].
#[derive(Debug, Clone, Copy)]
struct Canonicalisation {
    /// Re-encode the decoded path (S3's rule) rather than use the wire path verbatim.
    reencode_path: bool,
    /// Decode `+` in the query as a space (form encoding, as the AWS SDKs parse queries).
    plus_as_space: bool,
}

/// Computes the expected signature and compares it with the provided one.
///
/// The primary canonical request follows S3: the path decoded then re-encoded with the
/// unreserved set, `+` in the query taken as a space (the AWS SDK signers' reading). Only if that
/// fails, the other readings of the same wire bytes are tried (the path exactly as sent, which is
/// what `aws-sigv4` signs for a path holding e.g. `%2F`; a literal `+`), so that clients whose
/// encoders differ in these corners still verify. A request that verifies only with `+` read as
/// a plus is then executed with that reading too (`Authenticated::query_plus_is_literal`), so no
/// reading lets a request mean what its signer did not sign.
fn verify_signature(input: &SignatureInput<'_>) -> S3Result<VerifiedSignature> {
    let scope = input.credential.scope();
    let signing_key = signing_key(input.secret, input.credential.date, input.credential.region)?;
    let headers_block = canonical_headers(input.parts, input.signed_headers);

    let mut readings = vec![Canonicalisation {
        reencode_path: true,
        plus_as_space: true,
    }];
    let path_differs =
        canonical_uri(input.parts.raw_path, true) != canonical_uri(input.parts.raw_path, false);
    let has_plus = input.parts.raw_query.contains('+');
    if path_differs {
        readings.push(Canonicalisation {
            reencode_path: false,
            plus_as_space: true,
        });
    }
    if has_plus {
        readings.push(Canonicalisation {
            reencode_path: true,
            plus_as_space: false,
        });
        if path_differs {
            readings.push(Canonicalisation {
                reencode_path: false,
                plus_as_space: false,
            });
        }
    }

    let mut first_failure: Option<(Vec<u8>, String)> = None;
    for reading in readings {
        let creq = canonical_request(input, &headers_block, reading);
        let string_to_sign = string_to_sign(input.amz_date, &scope, &creq);
        let expected = hex::encode(hmac_sha256(&signing_key, string_to_sign.as_bytes())?);
        if strata_signing::constant_time_eq(expected.as_bytes(), input.provided.as_bytes()) {
            return Ok(VerifiedSignature {
                plus_is_literal: !reading.plus_as_space,
                signing_key,
                amz_date: input.amz_date.to_owned(),
                scope,
                signature: expected,
            });
        }
        if first_failure.is_none() {
            first_failure = Some((creq, string_to_sign));
        }
    }
    let (creq, string_to_sign) = first_failure.unwrap_or_default();
    Err(s3_error!(
        SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    )
    .with_extra("AWSAccessKeyId", input.credential.access_key)
    .with_extra("StringToSign", string_to_sign)
    .with_extra("SignatureProvided", input.provided)
    .with_extra(
        "CanonicalRequest",
        String::from_utf8_lossy(&creq).into_owned(),
    ))
}

/// `METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED_HEADERS\nPAYLOAD`, as bytes (header values need not be UTF-8).
fn canonical_request(
    input: &SignatureInput<'_>,
    headers_block: &[u8],
    reading: Canonicalisation,
) -> Vec<u8> {
    let uri = canonical_uri(input.parts.raw_path, reading.reencode_path);
    let query = canonical_query(input.query, input.presigned, reading.plus_as_space);
    build_canonical_request(
        input.parts.method,
        &uri,
        &query,
        headers_block,
        input.signed_headers.raw,
        input.payload_line,
    )
}

/// `name:value\n` for each signed header, in the signed order; repeated headers are joined with
/// `,`; each value is trimmed of spaces and inner runs of spaces collapse to one.
fn canonical_headers(parts: &RequestParts<'_>, signed: &SignedHeaders<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for name in &signed.names {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in parts.headers.get_all(*name).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed_collapsed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out
}

/// The SigV4 signing key of a credential scope (derived once per day and region, then cached).
pub(super) fn signing_key(secret: &str, date: &str, region: &str) -> S3Result<[u8; 32]> {
    strata_signing::signing_key(secret, date, region).map_err(key_error)
}
