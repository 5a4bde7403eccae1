//! One handler per S3 operation. Handlers are thin: parse the request, call the engine, render.

mod access;
mod attributes;
mod bucket;
pub(crate) mod copy;
pub mod cors;
pub mod lifecycle;
mod list;
mod lock;
pub(crate) mod multipart;
pub mod object;
mod post_object;
pub(crate) mod replication;
mod restore;
pub(crate) mod tagging;
mod versioning;

use actix_web::{web, HttpResponse};

use crate::app::S3Request;
use crate::error::S3Result;
use crate::router::Operation;
use crate::s3_error;

/// Runs the handler of `op`.
pub async fn dispatch(
    op: Operation,
    mut req: S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    match op {
        Operation::ListBuckets => bucket::list_buckets(&req).await,
        Operation::CreateBucket => bucket::create_bucket(&mut req, payload).await,
        Operation::HeadBucket => bucket::head_bucket(&req).await,
        Operation::DeleteBucket => bucket::delete_bucket(&req).await,
        Operation::GetBucketLocation => bucket::get_bucket_location(&req).await,
        Operation::ListObjects => list::list_objects(&req, false).await,
        Operation::ListObjectsV2 => list::list_objects(&req, true).await,
        Operation::DeleteObjects => object::delete_objects(&mut req, payload).await,
        Operation::PutObject => object::put_object(&mut req, payload).await,
        Operation::GetObject => object::get_object(&req, false).await,
        Operation::HeadObject => object::get_object(&req, true).await,
        Operation::DeleteObject => object::delete_object(&req).await,
        Operation::CreateMultipartUpload => multipart::create(&req).await,
        Operation::UploadPart => multipart::upload_part(&mut req, payload).await,
        Operation::CompleteMultipartUpload => multipart::complete(&mut req, payload).await,
        Operation::AbortMultipartUpload => multipart::abort(&req).await,
        Operation::ListParts => multipart::list_parts(&req).await,
        Operation::ListMultipartUploads => multipart::list_uploads(&req).await,
        Operation::PutObjectTagging => tagging::put_object_tagging(&mut req, payload).await,
        Operation::GetObjectTagging => tagging::get_object_tagging(&req).await,
        Operation::GetObjectAttributes => attributes::get_object_attributes(&req).await,
        Operation::DeleteObjectTagging => tagging::delete_object_tagging(&req).await,
        Operation::PutBucketTagging => tagging::put_bucket_tagging(&mut req, payload).await,
        Operation::GetBucketTagging => tagging::get_bucket_tagging(&req).await,
        Operation::DeleteBucketTagging => tagging::delete_bucket_tagging(&req).await,
        Operation::CopyObject => copy::copy_object(&req).await,
        Operation::UploadPartCopy => copy::upload_part_copy(&req).await,
        Operation::PutBucketCors => cors::put_bucket_cors(&mut req, payload).await,
        Operation::GetBucketCors => cors::get_bucket_cors(&req).await,
        Operation::DeleteBucketCors => cors::delete_bucket_cors(&req).await,
        Operation::PreflightCors => {
            cors::preflight(req.store(), req.bucket.as_deref(), &req.http).await
        }
        Operation::PutBucketVersioning => {
            versioning::put_bucket_versioning(&mut req, payload).await
        }
        Operation::GetBucketVersioning => versioning::get_bucket_versioning(&req).await,
        Operation::ListObjectVersions => versioning::list_object_versions(&req).await,
        Operation::PutBucketLifecycleConfiguration => {
            lifecycle::put_lifecycle(&mut req, payload).await
        }
        Operation::GetBucketLifecycleConfiguration => lifecycle::get_lifecycle(&req).await,
        Operation::DeleteBucketLifecycle => lifecycle::delete_lifecycle(&req).await,
        Operation::PutBucketReplication => replication::put_replication(&mut req, payload).await,
        Operation::GetBucketReplication => replication::get_replication(&req).await,
        Operation::DeleteBucketReplication => replication::delete_replication(&req).await,
        Operation::RestoreObject => restore::restore_object(&mut req, payload).await,
        Operation::PostObject => post_object::post_object(&mut req, payload).await,
        Operation::PutBucketPolicy => access::put_bucket_policy(&mut req, payload).await,
        Operation::GetBucketPolicy => access::get_bucket_policy(&req).await,
        Operation::DeleteBucketPolicy => access::delete_bucket_policy(&req).await,
        Operation::GetBucketPolicyStatus => access::get_bucket_policy_status(&req).await,
        Operation::PutBucketAcl => access::put_bucket_acl(&mut req, payload).await,
        Operation::GetBucketAcl => access::get_bucket_acl(&req).await,
        Operation::PutObjectAcl => access::put_object_acl(&mut req, payload).await,
        Operation::GetObjectAcl => access::get_object_acl(&req).await,
        Operation::PutBucketOwnershipControls => {
            access::put_ownership_controls(&mut req, payload).await
        }
        Operation::GetBucketOwnershipControls => access::get_ownership_controls(&req).await,
        Operation::DeleteBucketOwnershipControls => access::delete_ownership_controls(&req).await,
        Operation::PutPublicAccessBlock => access::put_public_access_block(&mut req, payload).await,
        Operation::GetPublicAccessBlock => access::get_public_access_block(&req).await,
        Operation::DeletePublicAccessBlock => access::delete_public_access_block(&req).await,
        Operation::PutObjectLockConfiguration => {
            lock::put_lock_configuration(&mut req, payload).await
        }
        Operation::GetObjectLockConfiguration => lock::get_lock_configuration(&req).await,
        Operation::PutObjectRetention => lock::put_retention(&mut req, payload).await,
        Operation::GetObjectRetention => lock::get_retention(&req).await,
        Operation::PutObjectLegalHold => lock::put_legal_hold(&mut req, payload).await,
        Operation::GetObjectLegalHold => lock::get_legal_hold(&req).await,
        Operation::Unsupported(name) => Err(s3_error!(
            NotImplemented,
            "{name} is not implemented by this server"
        )),
        Operation::MethodNotAllowed => Err(s3_error!(
            MethodNotAllowed,
            "The specified method is not allowed against this resource."
        )
        .with_extra("Method", req.http.method().as_str())
        .with_extra(
            "ResourceType",
            if req.key.is_some() {
                "OBJECT"
            } else if req.bucket.is_some() {
                "BUCKET"
            } else {
                "SERVICE"
            },
        )),
    }
}

/// Whether a request carries an integrity check of its body: a Content-MD5, an
/// `x-amz-checksum-*` header or a trailing checksum.
pub fn has_integrity_header(req: &S3Request) -> bool {
    req.header("content-md5").is_some()
        || crate::checksum::ChecksumAlgorithm::ALL.iter().any(|a| {
            req.header(crate::checksum::ChecksumAlgorithmExt::header(*a))
                .is_some()
        })
        || req.header("x-amz-trailer").is_some()
}

/// Operations whose body S3 requires an integrity check for (DeleteObjects,
/// PutBucketReplication, the Object Lock documents): see [`has_integrity_header`].
pub fn require_integrity_header(req: &S3Request) -> S3Result<()> {
    if has_integrity_header(req) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidRequest,
            "Missing required header for this request: Content-MD5"
        ))
    }
}

/// Stores (Some) or removes (None) a bucket configuration document kept as a bucket setting.
pub async fn store_setting(
    req: &S3Request,
    name: &'static str,
    doc: Option<String>,
) -> S3Result<()> {
    let b = req.bucket()?.to_owned();
    let store = req.store().clone();
    crate::app::blocking(move || {
        store
            .set_bucket_setting(&b, name, doc)
            .map_err(crate::error::S3Error::from)
    })
    .await
}

/// A bucket configuration document as stored, or `missing` when there is none.
pub async fn setting_document(
    req: &S3Request,
    name: &'static str,
    missing: crate::error::S3Error,
) -> S3Result<HttpResponse> {
    let b = req.bucket()?.to_owned();
    let store = req.store().clone();
    let doc = crate::app::blocking(move || {
        store
            .bucket_setting(&b, name)
            .map_err(crate::error::S3Error::from)
    })
    .await?;
    match doc {
        Some(doc) => Ok(HttpResponse::Ok().content_type("application/xml").body(doc)),
        None => Err(missing),
    }
}

/// Milliseconds since the epoch as S3's ISO 8601 form in XML (`2009-10-12T17:50:30.000Z`).
pub fn iso8601(ms: i64) -> String {
    let ms = ms.clamp(0, MAX_TIME_MS);
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An RFC 3339 date (`2030-01-01T00:00:00Z`, with or without a fraction) in ms since the epoch.
pub fn parse_rfc3339_ms(value: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The last millisecond of year 9999: the latest time an HTTP or ISO 8601 date can show.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Milliseconds since the epoch as an HTTP date (`Last-Modified`).
pub fn http_date(ms: i64) -> String {
    let secs = (ms.clamp(0, MAX_TIME_MS) / 1000) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_formats() {
        assert_eq!(iso8601(1_255_369_830_123), "2009-10-12T17:50:30.123Z");
        assert_eq!(
            http_date(1_255_369_830_123),
            "Mon, 12 Oct 2009 17:50:30 GMT"
        );
        assert_eq!(
            parse_rfc3339_ms("2030-01-01T00:00:00Z"),
            Some(1_893_456_000_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2030-01-01T00:00:00.250Z"),
            Some(1_893_456_000_250)
        );
        assert_eq!(parse_rfc3339_ms("2030-01-01"), None);
        // Times past year 9999 (a replica header can carry any number) show as its last second.
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }
}
