//! The S3 request model: what a request asks for, read once from its headers and query, the same
//! way for every operation that takes it (user metadata, storage class, tags, write conditions,
//! preconditions, version ids, listing parameters).
//!
//! Invariant: handlers read these inputs only through this module, so two operations cannot
//! disagree on how a header is read.

use std::collections::BTreeMap;

use base64::Engine as _;

use strata_storage::{ObjectMeta, ReplicaOf, StorageClass, WriteCondition};

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::app::{parse_query, S3Request};
use crate::error::{S3Error, S3Result};
use crate::handlers::http_date;
use crate::s3_error;

use strata_lifecycle::rules::RuleError;

/// Most tags on an object.
pub const MAX_OBJECT_TAGS: usize = 10;

/// Most tags on a bucket.
pub const MAX_BUCKET_TAGS: usize = 50;

/// Checks a tag set against S3's rules: count, key and value lengths, unique keys, no `aws:` keys.
pub fn validate_tags(tags: &[(String, String)], max: usize) -> S3Result<()> {
    if tags.len() > max {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than {max}"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
        if v.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is invalid"
            ));
        }
        if k.starts_with("aws:") {
            return Err(s3_error!(
                InvalidTag,
                "Your TagKey cannot be prefixed with aws:"
            ));
        }
        if !seen.insert(k.as_str()) {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(())
}

/// Parses the `x-amz-tagging` header (URL query form: `k1=v1&k2=v2`).
pub fn tags_from_header(value: &str) -> S3Result<Vec<(String, String)>> {
    let tags = parse_query(value);
    validate_tags(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

/// Parses `max-keys`: 0..=1000 kept, larger values capped at 1000 as S3 does.
pub fn parse_max_keys(value: Option<&str>, name: &str) -> S3Result<usize> {
    parse_capped(value, name, 1000, 1000)
}

/// Parses a non-negative count parameter or header (`default` when absent), capping it at `cap`
/// as S3 caps `max-keys`, `max-parts` and `x-amz-max-parts`; anything else is `InvalidArgument`.
pub fn parse_capped(
    value: Option<&str>,
    name: &str,
    default: usize,
    cap: usize,
) -> S3Result<usize> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok((n as u64).min(cap as u64) as usize),
            _ => Err(s3_error!(
                InvalidArgument,
                "Provided {name} not an integer or within integer range"
            )
            .with_extra("ArgumentName", name)
            .with_extra("ArgumentValue", v)),
        },
    }
}

/// A listing's continuation token for a page that ended at `last` (opaque to clients).
pub fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes())
}

/// The position a continuation token stands for; a token this server did not issue is
/// `InvalidArgument`.
pub fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
            .with_extra("ArgumentName", "continuation-token")
        })
}

/// The `encoding-type` parameter: only `url` is valid.
pub fn url_encoding(req: &S3Request) -> S3Result<bool> {
    match req.q("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )
        .with_extra("ArgumentName", "encoding-type")),
    }
}

/// `s` URL-encoded as S3 does for `encoding-type=url`, or unchanged.
pub fn encode_if(url_encode: bool, s: &str) -> String {
    if url_encode {
        utf8_percent_encode(s, URL_ENCODE).to_string()
    } else {
        s.to_owned()
    }
}

/// Checks a bucket name against S3's naming rules for general purpose buckets.
pub fn validate_bucket_name(name: &str) -> S3Result<()> {
    let invalid = || {
        s3_error!(InvalidBucketName, "The specified bucket is not valid.")
            .with_extra("BucketName", name)
    };
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Err(invalid());
    }
    if !bytes
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return Err(invalid());
    }
    let edge_ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !edge_ok(bytes[0]) || !edge_ok(bytes[bytes.len() - 1]) {
        return Err(invalid());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(invalid());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid());
    }
    const PREFIXES: [&str; 4] = ["xn--", "sthree-", "amzn-s3-demo-", "sthree-configurator"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if PREFIXES.iter().any(|p| name.starts_with(p)) || SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Err(invalid());
    }
    Ok(())
}

/// A rule validation error as S3's error.
pub fn rule_error(e: RuleError) -> S3Error {
    match e {
        RuleError::Malformed(m) => s3_error!(MalformedXML, "{m}"),
        RuleError::InvalidArgument(m) => s3_error!(InvalidArgument, "{m}"),
        RuleError::InvalidRequest(m) => s3_error!(InvalidRequest, "{m}"),
    }
}

/// Largest object a single PUT accepts (S3's limit).
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Most user-metadata bytes (names and values) per object.
pub const MAX_USER_METADATA: usize = 2 * 1024;

pub fn validate_key(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError, "Your key is too long")
            .with_extra("Size", key.len().to_string())
            .with_extra("MaxSizeAllowed", MAX_KEY_LEN.to_string()));
    }
    Ok(())
}

/// Reads the metadata headers a PUT stores, with the new object's owner and ACL.
pub fn object_meta_from_headers(req: &S3Request) -> S3Result<ObjectMeta> {
    let (owner, acl) = new_object_access(req)?;
    let h = |name: &str| req.header(name).map(str::to_owned);
    let content_encoding = h("content-encoding").and_then(|v| stored_content_encoding(&v));
    let user = user_metadata(req.http.headers().iter().filter_map(|(name, value)| {
        let name = name.as_str().strip_prefix("x-amz-meta-")?;
        Some((name, String::from_utf8_lossy(value.as_bytes()).into_owned()))
    }))?;
    let (retention, legal_hold) = crate::lock_request::from_headers(req)?;
    Ok(ObjectMeta {
        content_type: Some(h("content-type").unwrap_or_else(|| "binary/octet-stream".to_owned())),
        content_encoding,
        content_disposition: h("content-disposition"),
        content_language: h("content-language"),
        cache_control: h("cache-control"),
        expires: h("expires"),
        user,
        checksum: None,
        tags: match req.header("x-amz-tagging") {
            Some(v) => tags_from_header(v)?,
            None => Vec::new(),
        },
        owner,
        acl,
        part_sizes: Vec::new(),
        part_checksums: Vec::new(),
        retention,
        legal_hold,
    })
}

/// The owner and ACL (as stored) of the object a write creates, from its ACL headers and the
/// bucket's Object Ownership.
pub fn new_object_access(req: &S3Request) -> S3Result<(Option<String>, Option<String>)> {
    let writer = req
        .auth
        .identity
        .as_deref()
        .map(|i| i.owner())
        .unwrap_or_else(|| req.state.auth.users.admin().owner());
    let requested = crate::acl_request::from_headers(req, &writer)?;
    crate::acl_request::new_object(req, requested)
}

/// The storage class a PUT asks for (`x-amz-storage-class`, STANDARD by default).
pub fn storage_class_from_headers(req: &S3Request) -> S3Result<StorageClass> {
    storage_class(req.header("x-amz-storage-class"))
}

/// The storage class a write asks for (`STANDARD` when none is named). S3 spells classes
/// exactly: `standard` is refused.
pub fn storage_class(value: Option<&str>) -> S3Result<StorageClass> {
    match value {
        None => Ok(StorageClass::Standard),
        Some(c) => c.parse().map_err(|_| {
            s3_error!(
                InvalidStorageClass,
                "The storage class you specified is not valid"
            )
        }),
    }
}

/// The Content-Encoding a write stores: the value as sent, less `aws-chunked`, which describes
/// the transfer and not the object (S3 strips it and keeps the rest as it was written).
pub fn stored_content_encoding(value: &str) -> Option<String> {
    let chunked = |e: &str| e.trim().eq_ignore_ascii_case("aws-chunked");
    if !value.split(',').any(chunked) {
        return (!value.trim().is_empty()).then(|| value.to_owned());
    }
    let rest: Vec<&str> = value
        .split(',')
        .filter(|e| !chunked(e) && !e.trim().is_empty())
        .collect();
    let rest = rest.join(",");
    let rest = rest.trim();
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// User metadata from `x-amz-meta-*` headers or form fields: names lower-cased, a repeated name's
/// values joined with `,` as HTTP joins repeated headers, at most 2 KiB in all.
pub fn user_metadata<'a>(
    pairs: impl Iterator<Item = (&'a str, String)>,
) -> S3Result<BTreeMap<String, String>> {
    let mut user = BTreeMap::new();
    let mut user_size = 0usize;
    for (name, value) in pairs {
        let name = name.to_ascii_lowercase();
        user_size += name.len() + value.len();
        user.entry(name)
            .and_modify(|v: &mut String| {
                v.push(',');
                v.push_str(&value)
            })
            .or_insert(value);
    }
    if user_size > MAX_USER_METADATA {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size"
        )
        .with_extra("Size", user_size.to_string())
        .with_extra("MaxSizeAllowed", MAX_USER_METADATA.to_string()));
    }
    Ok(user)
}

/// The `versionId` query parameter, checked for form: a malformed id is `InvalidArgument`.
pub fn version_param(req: &S3Request) -> S3Result<Option<String>> {
    match req.q("versionId") {
        None => Ok(None),
        Some(v) if strata_storage::is_valid_version_id(v) => Ok(Some(v.to_owned())),
        Some(v) => Err(s3_error!(InvalidArgument, "Invalid version id specified")
            .with_extra("ArgumentName", "versionId")
            .with_extra("ArgumentValue", v)),
    }
}

/// The write condition of a PutObject or CompleteMultipartUpload (`If-None-Match: *`, `If-Match`).
pub fn write_condition(req: &S3Request) -> S3Result<WriteCondition> {
    match (req.header("if-none-match"), req.header("if-match")) {
        (Some(_), Some(_)) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )),
        (Some(v), None) if v.trim() == "*" => Ok(WriteCondition::IfNoneMatch),
        (Some(_), None) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )
        .with_extra("Header", "If-None-Match")),
        (None, Some(v)) => Ok(WriteCondition::IfMatch(
            v.trim().trim_matches('"').to_owned(),
        )),
        (None, None) => Ok(WriteCondition::None),
    }
}

/// The source version a write replicates, from the `x-strata-replica-*` headers another Strata
/// server's replication worker sends (the version keeps its id and Last-Modified).
pub fn replica_of(req: &S3Request) -> S3Result<Option<ReplicaOf>> {
    use crate::replication_remote::{REPLICA_MODIFIED_HEADER, REPLICA_VERSION_HEADER};
    let Some(version_id) = req.header(REPLICA_VERSION_HEADER) else {
        return Ok(None);
    };
    if !strata_storage::is_valid_version_id(version_id) {
        return Err(s3_error!(InvalidArgument, "Invalid version id specified")
            .with_extra("ArgumentName", REPLICA_VERSION_HEADER));
    }
    let last_modified_ms = match req.header(REPLICA_MODIFIED_HEADER) {
        None => req.state.clock.now_ms(),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|ms| (0..=crate::handlers::MAX_TIME_MS).contains(ms))
            .ok_or_else(|| {
                s3_error!(InvalidArgument, "Invalid {REPLICA_MODIFIED_HEADER} header")
                    .with_extra("ArgumentName", REPLICA_MODIFIED_HEADER)
            })?,
    };
    Ok(Some(ReplicaOf {
        version_id: version_id.to_owned(),
        last_modified_ms,
    }))
}

pub fn parse_http_date(value: &str) -> Option<i64> {
    httpdate::parse_http_date(value.trim())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

/// The conditional headers of a read (`If-*`) or of a copy's source (`x-amz-copy-source-if-*`).
pub struct Preconditions<'a> {
    pub(crate) prefix: &'static str,
    pub(crate) if_match: Option<&'a str>,
    pub(crate) if_none_match: Option<&'a str>,
    pub(crate) if_modified_since: Option<i64>,
    pub(crate) if_unmodified_since: Option<i64>,
}

/// Whether an `If-Match`/`If-None-Match` value names `etag` (or is `*`).
fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == etag
    })
}

/// Why a precondition stopped a request.
pub enum PreconditionFailure {
    /// `412 PreconditionFailed`, naming the condition as S3 does.
    Failed(String),
    /// The object was not modified (`304` on a read).
    NotModified,
}

impl<'a> Preconditions<'a> {
    /// The `If-*` headers of a GET or HEAD.
    pub fn of_read(req: &'a S3Request) -> Self {
        Self::read(req, "")
    }

    /// The `x-amz-copy-source-if-*` headers of a copy.
    pub fn of_copy_source(req: &'a S3Request) -> Self {
        Self::read(req, "x-amz-copy-source-")
    }

    fn read(req: &'a S3Request, prefix: &'static str) -> Self {
        let [if_match, if_none_match, if_modified_since, if_unmodified_since] = if prefix.is_empty()
        {
            [
                "if-match",
                "if-none-match",
                "if-modified-since",
                "if-unmodified-since",
            ]
        } else {
            [
                "x-amz-copy-source-if-match",
                "x-amz-copy-source-if-none-match",
                "x-amz-copy-source-if-modified-since",
                "x-amz-copy-source-if-unmodified-since",
            ]
        };
        Self {
            prefix,
            if_match: req.header(if_match),
            if_none_match: req.header(if_none_match),
            if_modified_since: req.header(if_modified_since).and_then(parse_http_date),
            if_unmodified_since: req.header(if_unmodified_since).and_then(parse_http_date),
        }
    }

    /// Evaluates the conditions with S3's precedence (RFC 7232 order: a passing If-Match
    /// overrides If-Unmodified-Since; an If-None-Match overrides If-Modified-Since). Weak ETags
    /// (`W/"..."`) compare by their value.
    pub fn evaluate(&self, etag: &str, last_modified_ms: i64) -> Result<(), PreconditionFailure> {
        let modified_s = last_modified_ms / 1000;
        let matches = |v: &str| etag_matches(v, etag);
        let failed = |name: &str| PreconditionFailure::Failed(format!("{}{name}", self.prefix));
        if let Some(v) = self.if_match {
            if !matches(v) {
                return Err(failed("If-Match"));
            }
        } else if self.if_unmodified_since.is_some_and(|t| modified_s > t) {
            return Err(failed("If-Unmodified-Since"));
        }
        if let Some(v) = self.if_none_match {
            if matches(v) {
                return Err(if self.prefix.is_empty() {
                    PreconditionFailure::NotModified
                } else {
                    failed("If-None-Match")
                });
            }
        } else if self.if_modified_since.is_some_and(|t| modified_s <= t) {
            return Err(if self.prefix.is_empty() {
                PreconditionFailure::NotModified
            } else {
                failed("If-Modified-Since")
            });
        }
        Ok(())
    }

    /// Evaluates the conditions into S3's errors: `412 PreconditionFailed`, or `304` with the
    /// version's ETag and Last-Modified.
    pub fn check(&self, etag: &str, last_modified_ms: i64) -> S3Result<()> {
        self.evaluate(etag, last_modified_ms).map_err(|f| match f {
            PreconditionFailure::Failed(condition) => s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
            .with_extra("Condition", condition),
            PreconditionFailure::NotModified => s3_error!(NotModified, "Not Modified")
                .with_header("ETag", format!("\"{etag}\""))
                .with_header("Last-Modified", http_date(last_modified_ms)),
        })
    }
}

/// What `encoding-type=url` leaves as is: RFC 3986 unreserved characters and `/`.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_are_spelled_as_s3_spells_them() {
        assert_eq!(storage_class(None).unwrap(), StorageClass::Standard);
        for &c in StorageClass::ALL {
            assert_eq!(storage_class(Some(c.as_str())).unwrap(), c);
        }
        for bad in ["standard", "GLACIER ", "", "TAPE"] {
            let e = storage_class(Some(bad)).unwrap_err();
            assert_eq!(
                e.code,
                crate::error::S3ErrorCode::InvalidStorageClass,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn etag_conditions() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }

    // issue #13: the copy-source evaluator did not strip `W/`, the read evaluator did.
    #[test]
    fn one_evaluator_for_reads_and_copy_sources() {
        let conditions = |prefix, if_match: Option<&'static str>, if_none_match| Preconditions {
            prefix,
            if_match,
            if_none_match,
            if_modified_since: None,
            // Passed (ignored) when If-Match matches or If-None-Match decides first.
            if_unmodified_since: if_none_match.is_none().then_some(0),
        };
        for prefix in ["", "x-amz-copy-source-"] {
            assert!(conditions(prefix, Some("W/\"abc\""), None)
                .evaluate("abc", 5_000)
                .is_ok());
            match conditions(prefix, None, Some("W/\"abc\"")).evaluate("abc", 5_000) {
                Err(PreconditionFailure::NotModified) => assert_eq!(prefix, ""),
                Err(PreconditionFailure::Failed(c)) => {
                    assert_eq!(c, "x-amz-copy-source-If-None-Match")
                }
                Ok(()) => panic!("a matching If-None-Match must stop the request"),
            }
            // A failing If-Unmodified-Since without If-Match is 412.
            match conditions(prefix, None, None).evaluate("abc", 5_000) {
                Err(PreconditionFailure::Failed(c)) => {
                    assert_eq!(c, format!("{prefix}If-Unmodified-Since"))
                }
                _ => panic!("If-Unmodified-Since must fail"),
            }
        }
    }

    // issue #13: POST Object overwrote a repeated x-amz-meta-* field, PutObject joined it.
    #[test]
    fn repeated_metadata_is_joined() {
        let pairs = [
            ("Colour", "red".to_string()),
            ("colour", "blue".to_string()),
        ];
        let user = user_metadata(pairs.iter().map(|(n, v)| (*n, v.clone()))).unwrap();
        assert_eq!(user.get("colour").map(String::as_str), Some("red,blue"));
        let big = [("k", "v".repeat(2048))];
        assert!(user_metadata(big.iter().map(|(n, v)| (*n, v.clone()))).is_err());
    }

    // issue #18: `aws-chunked` was stripped and the rest rejoined without its spaces.
    #[test]
    fn content_encoding_kept_as_sent() {
        assert_eq!(
            stored_content_encoding("deflate, gzip").as_deref(),
            Some("deflate, gzip")
        );
        assert_eq!(
            stored_content_encoding("aws-chunked, deflate, gzip").as_deref(),
            Some("deflate, gzip")
        );
        assert_eq!(
            stored_content_encoding("aws-chunked,gzip").as_deref(),
            Some("gzip")
        );
        assert_eq!(stored_content_encoding("aws-chunked"), None);
    }
}

/// A parsed `x-amz-copy-source`: `[/]bucket/key[?versionId=ID]`, URL-encoded.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceRef {
    /// Bucket.
    pub bucket: String,
    /// Key (decoded).
    pub key: String,
    /// Version id, if given.
    pub version_id: Option<String>,
}

/// Parses `x-amz-copy-source`.
pub fn parse_copy_source(value: &str) -> S3Result<SourceRef> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )
        .with_extra("ArgumentName", "x-amz-copy-source")
    };
    let (path, query) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| invalid())?
        .into_owned();
    let (bucket, key) = decoded.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    let mut version_id = None;
    if let Some(q) = query {
        for (k, v) in crate::app::parse_query(q) {
            if k == "versionId" {
                version_id = Some(v);
            } else {
                return Err(invalid());
            }
        }
    }
    Ok(SourceRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id,
    })
}
