//! Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects.

use actix_web::http::header;
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use strata_storage::{Body, NewVersion, StorageClass, StoredChecksum};

use crate::app::{blocking, S3Request};
use crate::body::{self, BodySpec};
use crate::checksum::{ChecksumAlgorithmExt, ChecksumType};
use crate::error::{S3Error, S3Result};
use crate::handlers::http_date;
use crate::request::{
    object_meta_from_headers, replica_of, storage_class_from_headers, validate_key, version_param,
    write_condition, Preconditions, MAX_KEY_LEN, MAX_PUT_SIZE,
};
use crate::s3_error;
use crate::versions::{check_readable, load_readable, restore_header};
use crate::write;
use crate::xml::{self, XmlWriter};

/// Size of the pieces a GET streams.
const READ_PIECE: usize = 1024 * 1024;

/// Adds `x-amz-expiration` when a lifecycle rule of the bucket expires this (current) version.
async fn add_expiration_header(
    resp: &mut HttpResponseBuilder,
    req: &S3Request,
    v: &strata_storage::ObjectVersion,
) {
    if !v.is_latest {
        return;
    }
    if let Ok(Some(cfg)) = crate::lifecycle_cache::load(&req.state, &v.bucket).await {
        if let Some(h) = crate::lifecycle_cache::expiration_header(&cfg, &req.state.clock, v) {
            resp.insert_header(("x-amz-expiration", h));
        }
    }
}

/// PutObject.
pub async fn put_object(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    validate_key(&key)?;
    let mut meta = object_meta_from_headers(req)?;
    crate::lock_request::require_integrity(req, meta.retention, meta.legal_hold)?;
    let storage_class = storage_class_from_headers(req)?;
    let condition = write_condition(req)?;
    let replica_of = replica_of(req)?;
    let check = req.take_payload_check();
    let spec = BodySpec::from_headers(req.http.headers(), check, MAX_PUT_SIZE)?;
    if spec.declared_len.is_none() {
        return Err(s3_error!(
            MissingContentLength,
            "You must provide the Content-Length HTTP header."
        ));
    }
    // Fail fast on a missing bucket before reading a large body (a small one is cheaper to
    // read than to check for: the commit refuses it anyway).
    if spec.declared_len.is_some_and(|l| l > 1 << 20) {
        let store = req.store().clone();
        let b = bucket.clone();
        blocking(move || store.bucket(&b).map(|_| ()).map_err(S3Error::from)).await?;
    }

    let writer = req.store().body_writer();
    let (writer, digests) = body::ingest(payload, writer, spec, &req.state.body_limits).await?;
    let etag = hex::encode(digests.md5);
    meta.checksum = digests
        .checksum
        .as_ref()
        .map(|(alg, value)| StoredChecksum {
            algorithm: *alg,
            value: value.clone(),
            checksum_type: ChecksumType::FullObject,
        });
    let new = NewVersion {
        etag: etag.clone(),
        meta,
        storage_class,
        condition,
        replica_of,
    };
    let version = write::commit_body(req.store(), &bucket, &key, writer, new).await?;
    req.state.metrics.record_bytes_in(digests.len);
    let mut resp = HttpResponse::Ok();
    // The stored version's ETag: for a repeated replica delivery, the version already there.
    resp.insert_header((header::ETAG, format!("\"{}\"", version.etag)));
    add_expiration_header(&mut resp, req, &version).await;
    if version.version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", version.version_id.as_str()));
    }
    if let Some((alg, value)) = &digests.checksum {
        resp.insert_header((alg.header(), value.as_str()));
        resp.insert_header(("x-amz-checksum-type", ChecksumType::FullObject.as_str()));
    }
    Ok(resp.finish())
}

/// A parsed `Range: bytes=...` header.
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` or `bytes=a-`.
    From(u64, Option<u64>),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// Parses a Range header; None for anything S3 ignores (bad syntax, several ranges).
pub fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return Some(ByteRange::Suffix(range_number(b)?));
    }
    let start = range_number(a)?;
    if b.is_empty() {
        return Some(ByteRange::From(start, None));
    }
    let end = range_number(b)?;
    if end < start {
        return None;
    }
    Some(ByteRange::From(start, Some(end)))
}

/// A position in a byte range: decimal digits only. A number past 64 bits stands for "beyond any
/// object" (`u64::MAX`), so it is clamped like any other too-large position: S3 answers
/// `bytes=5-99999999999999999999` with 206 from byte 5 to the end (RFC 9110 §14.1.2: a last
/// position past the end means the end), where a parse failure would have ignored the header.
fn range_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Resolves a range against a size: Some((first, last_inclusive)), or Err for unsatisfiable.
pub fn resolve_range(range: &ByteRange, size: u64) -> Result<(u64, u64), ()> {
    match *range {
        ByteRange::From(start, end) => {
            if start >= size {
                return Err(());
            }
            Ok((start, end.unwrap_or(size - 1).min(size - 1)))
        }
        ByteRange::Suffix(n) => {
            if n == 0 || size == 0 {
                return Err(());
            }
            Ok((size.saturating_sub(n), size - 1))
        }
    }
}

/// GetObject and HeadObject.
pub async fn get_object(req: &S3Request, head_only: bool) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let version_id = version_param(req)?;
    let handle = load_readable(req.store(), &bucket, &key, version_id).await?;
    let v = &handle.version;
    Preconditions::of_read(req).check(&v.etag, v.last_modified_ms)?;
    if !head_only {
        check_readable(v, &req.state.clock)?;
    }

    let size = v.size;
    let part_number = req.q("partNumber");
    // A partNumber GET serves that part of a multipart object (206, like a range); an object
    // uploaded in one piece has exactly one part.
    let parts_count = v.meta.part_sizes.len().max(1);
    let part_span = match part_number {
        None => None,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 && n <= parts_count => {
                if v.meta.part_sizes.is_empty() {
                    None
                } else {
                    let first: u64 = v.meta.part_sizes[..n - 1].iter().sum();
                    let len = v.meta.part_sizes[n - 1];
                    (len > 0).then(|| (first, first + len - 1))
                }
            }
            Ok(n) if (1..=10_000).contains(&n) => {
                return Err(s3_error!(
                    InvalidPartNumber,
                    "The requested partnumber is not satisfiable"
                )
                .with_extra("PartNumberRequested", n.to_string())
                .with_extra("ActualPartCount", parts_count.to_string())
                .with_header("Content-Range", format!("bytes */{size}")))
            }
            _ => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive"
                )
                .with_extra("ArgumentName", "partNumber"))
            }
        },
    };
    if part_number.is_some() && req.header("range").is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        ));
    }
    let requested = match part_span {
        Some(span) => Some(Ok(span)),
        None => req
            .header("range")
            .and_then(parse_range)
            .map(|r| resolve_range(&r, size)),
    };
    let range = match requested {
        Some(r) => match r {
            Ok(span) => Some(span),
            Err(()) => {
                return Err(
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                        .with_extra("RangeRequested", req.header("range").unwrap_or(""))
                        .with_extra("ActualObjectSize", size.to_string())
                        .with_header("Content-Range", format!("bytes */{size}")),
                )
            }
        },
        None => None,
    };

    let mut resp = match range {
        Some(_) => HttpResponse::PartialContent(),
        None => HttpResponse::Ok(),
    };
    let shown = LockShown::of(req, v).await?;
    put_object_headers(&mut resp, req, v, handle.bucket_versioned, shown);
    add_expiration_header(&mut resp, req, v).await;
    if let Some(h) = restore_header(v, req.state.clock.now_ms()) {
        resp.insert_header(("x-amz-restore", h));
    }
    if let Some((first, last)) = range {
        resp.insert_header(("Content-Range", format!("bytes {first}-{last}/{size}")));
    } else if part_number.is_none()
        && req
            .header("x-amz-checksum-mode")
            .map(|m| m.eq_ignore_ascii_case("ENABLED"))
            == Some(true)
    {
        // Never on a range: the SDK would validate the full-object checksum against the part.
        if let Some(c) = &v.meta.checksum {
            resp.insert_header((c.algorithm.header(), c.value.as_str()));
            resp.insert_header(("x-amz-checksum-type", c.checksum_type.as_str()));
        }
    }
    if part_number.is_some() {
        resp.insert_header(("x-amz-mp-parts-count", parts_count.to_string()));
    }
    let (start, end) = range.map(|(f, l)| (f, l + 1)).unwrap_or((0, size));
    let len = end - start;
    if head_only {
        return Ok(resp.no_chunking(len).body(SizedEmpty(len)));
    }
    req.state.metrics.record_bytes_out(len);
    if let Body::Inline(data) = &v.body {
        let slice = Bytes::copy_from_slice(&data[start as usize..end as usize]);
        return Ok(resp.body(slice));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let result = handle.read_range(start, end, READ_PIECE, |piece| {
            tx.blocking_send(Ok(Bytes::from(piece))).is_ok()
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "read failed mid-stream");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(resp.no_chunking(len).streaming(stream))
}

/// A body that declares a length but sends nothing: HEAD responses report the object's size.
struct SizedEmpty(u64);

impl actix_web::body::MessageBody for SizedEmpty {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.0)
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        std::task::Poll::Ready(None)
    }
}

/// Which of a version's lock facts a read may show.
struct LockShown {
    retention: bool,
    legal_hold: bool,
}

impl LockShown {
    /// User Guide, "Object Lock considerations": GET and HEAD show a version's retention only to
    /// a requester allowed s3:GetObjectRetention, and its legal hold only with
    /// s3:GetObjectLegalHold (asked only of a version that has them).
    async fn of(req: &S3Request, v: &strata_storage::ObjectVersion) -> S3Result<Self> {
        let may = async |has: bool, action: &'static str| -> S3Result<bool> {
            Ok(has
                && crate::authz::check_object(
                    req,
                    req.auth.identity.as_deref(),
                    action,
                    &v.key,
                    Some(&v.version_id),
                )
                .await?)
        };
        Ok(Self {
            retention: may(v.meta.retention.is_some(), "s3:GetObjectRetention").await?,
            legal_hold: may(v.meta.legal_hold, "s3:GetObjectLegalHold").await?,
        })
    }
}

fn put_object_headers(
    resp: &mut HttpResponseBuilder,
    req: &S3Request,
    v: &strata_storage::ObjectVersion,
    bucket_versioned: bool,
    shown: LockShown,
) {
    let m = &v.meta;
    let over = |name: &str| req.q(name).map(str::to_owned);
    let pick = |override_name: &str, stored: &Option<String>| {
        over(override_name).or_else(|| stored.clone())
    };
    if let Some(ct) = pick("response-content-type", &m.content_type) {
        resp.insert_header((header::CONTENT_TYPE, ct));
    }
    for (name, value) in [
        (
            "Content-Encoding",
            pick("response-content-encoding", &m.content_encoding),
        ),
        (
            "Content-Disposition",
            pick("response-content-disposition", &m.content_disposition),
        ),
        (
            "Content-Language",
            pick("response-content-language", &m.content_language),
        ),
        (
            "Cache-Control",
            pick("response-cache-control", &m.cache_control),
        ),
        ("Expires", pick("response-expires", &m.expires)),
    ] {
        if let Some(value) = value {
            resp.insert_header((name, value));
        }
    }
    resp.insert_header((header::ETAG, format!("\"{}\"", v.etag)));
    resp.insert_header((header::LAST_MODIFIED, http_date(v.last_modified_ms)));
    resp.insert_header((header::ACCEPT_RANGES, "bytes"));
    if v.storage_class != StorageClass::Standard {
        resp.insert_header(("x-amz-storage-class", v.storage_class.as_str()));
    }
    if v.version_id != strata_storage::NULL_VERSION || bucket_versioned {
        resp.insert_header(("x-amz-version-id", v.version_id.as_str()));
    }
    if !m.tags.is_empty() {
        resp.insert_header(("x-amz-tagging-count", m.tags.len().to_string()));
    }
    if let Some(status) = &v.replication_status {
        resp.insert_header(("x-amz-replication-status", status.as_str()));
    }
    if let Some(r) = m.retention.as_ref().filter(|_| shown.retention) {
        resp.insert_header((crate::lock_request::MODE, r.mode.as_str()));
        resp.insert_header((
            crate::lock_request::RETAIN_UNTIL,
            crate::handlers::iso8601(r.retain_until_ms),
        ));
    }
    if m.legal_hold && shown.legal_hold {
        resp.insert_header((crate::lock_request::LEGAL_HOLD, "ON"));
    }
    for (name, value) in &m.user {
        if let Ok(hv) = header::HeaderValue::from_str(value) {
            resp.append_header((format!("x-amz-meta-{name}"), hv));
        }
    }
}

/// DeleteObject: 204 whether or not the key (or version) existed, as S3 answers.
pub async fn delete_object(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let version_id = version_param(req)?;
    let store = req.store().clone();
    // A delete marker replicated from another Strata server keeps its version id.
    if let (Some(source), None) = (replica_of(req)?, &version_id) {
        let vid = source.version_id.clone();
        blocking(move || {
            store
                .put_replica_marker(&bucket, &key, source)
                .map_err(S3Error::from)
        })
        .await?;
        return Ok(HttpResponse::NoContent()
            .insert_header(("x-amz-version-id", vid))
            .insert_header(("x-amz-delete-marker", "true"))
            .finish());
    }
    let over = crate::lock_request::governance_override(req, &key, version_id.as_deref()).await?;
    let outcome = blocking(move || {
        store
            .delete_object_with(&bucket, &key, version_id.as_deref(), over)
            .map_err(S3Error::from)
    })
    .await?;
    let mut resp = HttpResponse::NoContent();
    if let Some(v) = &outcome.version_id {
        resp.insert_header(("x-amz-version-id", v.as_str()));
    }
    if outcome.delete_marker {
        resp.insert_header(("x-amz-delete-marker", "true"));
    }
    Ok(resp.finish())
}

/// DeleteObjects (batch delete, with quiet mode).
pub async fn delete_objects(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    crate::handlers::require_integrity_header(req)?;
    let body = req.read_document(payload, 2 * 1024 * 1024).await?;
    let request: xml::DeleteRequest = xml::parse(&body)?;
    if request.objects.is_empty() || request.objects.len() > 1000 {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let quiet = request.quiet.unwrap_or(false);
    // S3 authorizes each key on its own (s3:DeleteObject, or s3:DeleteObjectVersion with a
    // version id) and reports a denied key as an AccessDenied error in the result.
    let mut allowed = Vec::with_capacity(request.objects.len());
    for o in &request.objects {
        let action = if o.version_id.is_some() {
            "s3:DeleteObjectVersion"
        } else {
            "s3:DeleteObject"
        };
        let identity = req.auth.identity.as_deref();
        let allowed_key =
            crate::authz::check_object(req, identity, action, &o.key, o.version_id.as_deref())
                .await?;
        let over = if allowed_key {
            crate::lock_request::governance_override(req, &o.key, o.version_id.as_deref()).await?
        } else {
            strata_storage::LockOverride::None
        };
        allowed.push((allowed_key, over));
    }
    let store = req.store().clone();
    let results = blocking(move || {
        store.bucket(&bucket).map_err(S3Error::from)?;
        Ok(request
            .objects
            .into_iter()
            .zip(allowed)
            .map(|(o, (allowed, over))| {
                let outcome = if !allowed {
                    Err(crate::authz::access_denied())
                } else if o.key.is_empty() || o.key.len() > MAX_KEY_LEN {
                    Err(s3_error!(InvalidArgument, "Invalid key"))
                } else if o
                    .version_id
                    .as_deref()
                    .is_some_and(|v| !strata_storage::is_valid_version_id(v))
                {
                    Err(s3_error!(
                        NoSuchVersion,
                        "The specified version does not exist."
                    ))
                } else {
                    store
                        .delete_object_with(&bucket, &o.key, o.version_id.as_deref(), over)
                        .map_err(S3Error::from)
                };
                (o.key, o.version_id, outcome)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    let mut w = XmlWriter::new("DeleteResult");
    for (key, version_id, outcome) in &results {
        match outcome {
            Ok(done) if !quiet => {
                w.open("Deleted").elem("Key", key);
                if version_id.is_some() {
                    w.opt("VersionId", version_id.as_deref());
                    if done.delete_marker {
                        w.elem("DeleteMarker", "true")
                            .opt("DeleteMarkerVersionId", version_id.as_deref());
                    }
                } else if done.delete_marker {
                    w.elem("DeleteMarker", "true")
                        .opt("DeleteMarkerVersionId", done.version_id.as_deref());
                }
                w.close();
            }
            Ok(_) => {}
            Err(e) => {
                w.open("Error")
                    .elem("Key", key)
                    .opt("VersionId", version_id.as_deref())
                    .elem("Code", e.code.as_str())
                    .elem("Message", &e.message)
                    .close();
            }
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9"), Some(ByteRange::From(0, Some(9))));
        assert_eq!(parse_range("bytes=5-"), Some(ByteRange::From(5, None)));
        assert_eq!(parse_range("bytes=-3"), Some(ByteRange::Suffix(3)));
        assert_eq!(parse_range("bytes=9-1"), None);
        assert_eq!(parse_range("bytes=0-1,4-5"), None);
        assert_eq!(parse_range("items=0-1"), None);
        // Issue 18: a position past 64 bits made the whole header be ignored (200, whole body).
        assert_eq!(
            parse_range("bytes=5-99999999999999999999"),
            Some(ByteRange::From(5, Some(u64::MAX)))
        );
        assert_eq!(
            parse_range("bytes=-99999999999999999999"),
            Some(ByteRange::Suffix(u64::MAX))
        );
        assert_eq!(
            parse_range("bytes=99999999999999999999-"),
            Some(ByteRange::From(u64::MAX, None))
        );
        assert_eq!(parse_range("bytes=+5-9"), None);
        assert_eq!(
            resolve_range(&ByteRange::From(5, Some(u64::MAX)), 10),
            Ok((5, 9))
        );
        assert_eq!(resolve_range(&ByteRange::Suffix(u64::MAX), 10), Ok((0, 9)));
        assert_eq!(resolve_range(&ByteRange::From(u64::MAX, None), 10), Err(()));
        assert_eq!(resolve_range(&ByteRange::From(0, Some(99)), 10), Ok((0, 9)));
        assert_eq!(resolve_range(&ByteRange::From(10, None), 10), Err(()));
        assert_eq!(resolve_range(&ByteRange::Suffix(3), 10), Ok((7, 9)));
        assert_eq!(resolve_range(&ByteRange::Suffix(30), 10), Ok((0, 9)));
        assert_eq!(resolve_range(&ByteRange::Suffix(0), 10), Err(()));
    }
}
