//! CopyObject (a metadata operation: the destination references the source's chunks) and
//! UploadPartCopy (a byte range of the source becomes a part).

use actix_web::HttpResponse;
use md5::{Digest as _, Md5};
use strata_storage::{CopySource, NewPart, NewVersion};

use crate::app::{blocking, S3Request};
use crate::checksum::{ChecksumAlgorithm, ChecksumAlgorithmExt};
use crate::error::{S3Error, S3Result};
use crate::handlers::iso8601;
use crate::request::{
    object_meta_from_headers, parse_copy_source, storage_class_from_headers, tags_from_header,
    validate_key, write_condition, Preconditions, SourceRef,
};
use crate::s3_error;
use crate::versions::{check_readable, load_readable};
use crate::write;
use crate::xml::XmlWriter;

fn check_version_form(src: &SourceRef) -> S3Result<()> {
    match &src.version_id {
        Some(v) if !strata_storage::is_valid_version_id(v) => {
            Err(s3_error!(InvalidArgument, "Invalid version id specified")
                .with_extra("ArgumentName", "x-amz-copy-source"))
        }
        _ => Ok(()),
    }
}

/// Loads a copy source: a delete marker named by version id is `InvalidRequest` for a copy, and
/// an archived source must be restored.
async fn load_source(req: &S3Request, src: &SourceRef) -> S3Result<strata_storage::ObjectHandle> {
    let handle = load_readable(req.store(), &src.bucket, &src.key, src.version_id.clone())
        .await
        .map_err(|e| {
            if e.code == crate::error::S3ErrorCode::MethodNotAllowed {
                s3_error!(
                    InvalidRequest,
                    "The source of a copy request may not specifically refer to a delete marker by version id."
                )
            } else {
                e
            }
        })?;
    check_readable(&handle.version, &req.state.clock)?;
    Ok(handle)
}

/// Reads `[first, end)` of a version into newly staged chunks (chunks the range shares with
/// stored content are not written again), computing the MD5 and an optional checksum.
fn restage(
    store: &strata_storage::Store,
    source: &strata_storage::ObjectHandle,
    first: u64,
    end: u64,
    always_chunked: bool,
    algorithm: Option<ChecksumAlgorithm>,
) -> strata_storage::Result<(strata_storage::StagedBody, String, Option<String>)> {
    let mut writer = store.body_writer();
    if always_chunked {
        writer = writer.always_chunked();
    }
    let mut md5 = Md5::new();
    let mut hasher = algorithm.map(ChecksumAlgorithm::hasher);
    let mut failure = None;
    source.read_range(first, end, 1 << 20, |piece| {
        md5.update(&piece);
        if let Some(h) = hasher.as_mut() {
            h.update(&piece);
        }
        match writer.write(&piece) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let etag = hex::encode(md5.finalize());
    let checksum = hasher.map(|h| h.finish_base64());
    Ok((writer.finish()?, etag, checksum))
}

fn directive(req: &S3Request, name: &str) -> S3Result<bool> {
    match req.header(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(_) => {
            Err(s3_error!(InvalidArgument, "Unknown {name}.").with_extra("ArgumentName", name))
        }
    }
}

/// CopyObject.
pub async fn copy_object(req: &S3Request) -> S3Result<HttpResponse> {
    let dst_bucket = req.bucket()?.to_owned();
    let dst_key = req.key()?.to_owned();
    validate_key(&dst_key)?;
    let src = parse_copy_source(req.header("x-amz-copy-source").unwrap_or(""))?;
    let replace_meta = directive(req, "x-amz-metadata-directive")?;
    let replace_tags = directive(req, "x-amz-tagging-directive")?;
    let storage_class_given = req.header("x-amz-storage-class").is_some();
    let storage_class = storage_class_from_headers(req)?;
    let condition = write_condition(req)?;
    let new_meta = if replace_meta {
        Some(object_meta_from_headers(req)?)
    } else {
        None
    };
    // The copy's owner and ACL come from this request, never from the source.
    let (new_owner, new_acl) = crate::request::new_object_access(req)?;
    // So does its Object Lock (User Guide, "Object Lock": a copy does not keep the source's
    // retention or legal hold; it gets the request's, or the destination bucket's default).
    let (retention, legal_hold) = crate::lock_request::from_headers(req)?;
    let new_tags = match (replace_tags, req.header("x-amz-tagging")) {
        (true, Some(v)) => Some(tags_from_header(v)?),
        (true, None) => Some(Vec::new()),
        (false, _) => None,
    };
    if src.bucket == dst_bucket && src.key == dst_key && !replace_meta && !storage_class_given {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    check_version_form(&src)?;
    // Evaluate the source conditions on a snapshot; the commit re-checks that the source's ETag
    // is still the one the conditions were evaluated against.
    let source = load_source(req, &src).await?;
    Preconditions::of_copy_source(req)
        .check(&source.version.etag, source.version.last_modified_ms)?;
    let make = move |s: &strata_storage::ObjectVersion| {
        let mut meta = new_meta.unwrap_or_else(|| s.meta.clone());
        // The checksum and part layout describe the bytes, which are the source's.
        meta.checksum = s.meta.checksum.clone();
        meta.part_sizes = s.meta.part_sizes.clone();
        meta.part_checksums = s.meta.part_checksums.clone();
        meta.tags = new_tags.unwrap_or_else(|| s.meta.tags.clone());
        meta.owner = new_owner;
        meta.acl = new_acl;
        meta.retention = retention;
        meta.legal_hold = legal_hold;
        NewVersion {
            etag: s.etag.clone(),
            meta,
            storage_class,
            condition,
            replica_of: None,
        }
    };
    let store = req.store().clone();
    let (source, version) = if source.version.archived {
        // A restored archived source: its bytes are only in the cold tier, so they are copied
        // into new hot chunks rather than referenced.
        blocking(move || {
            {
                let size = source.version.size;
                let (staged, _, _) = restage(&store, &source, 0, size, false, None)?;
                let new = make(&source.version);
                let version = store.put_object(&dst_bucket, &dst_key, staged, new)?;
                Ok((source.version.clone(), version))
            }
            .map_err(|e: strata_storage::Error| S3Error::from(e))
        })
        .await?
    } else {
        let expected_etag = source.version.etag.clone();
        drop(source);
        let copy_src = CopySource {
            bucket: src.bucket.clone(),
            key: src.key.clone(),
            version_id: src.version_id.clone(),
            expected_etag: Some(expected_etag),
        };
        blocking(move || {
            store
                .copy_object(copy_src, &dst_bucket, &dst_key, make)
                .map_err(S3Error::from)
        })
        .await?
    };
    write::committed(req.store(), &version).await?;
    let mut w = XmlWriter::new("CopyObjectResult");
    w.elem("ETag", &format!("\"{}\"", version.etag))
        .elem("LastModified", &iso8601(version.last_modified_ms));
    if let Some(c) = &version.meta.checksum {
        w.elem(&format!("Checksum{}", c.algorithm), &c.value)
            .elem("ChecksumType", c.checksum_type.as_str());
    }
    let mut resp = HttpResponse::Ok();
    if source.version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-copy-source-version-id", source.version_id.as_str()));
    }
    if version.version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", version.version_id.as_str()));
    }
    Ok(resp.content_type("application/xml").body(w.finish()))
}

/// Parses `x-amz-copy-source-range: bytes=first-last` against the source size.
pub(crate) fn parse_source_range(value: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "Range specified is not valid for source object of size: {size}"
        )
        .with_extra("ArgumentName", "x-amz-copy-source-range")
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = a.trim().parse().map_err(|_| invalid())?;
    let last: u64 = b.trim().parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(invalid());
    }
    Ok((first, last))
}

/// UploadPartCopy: reads the source range and stores it as a part. Chunks that the range shares
/// with the source (content-defined cut points realign within a chunk or two) are not written
/// again.
pub async fn upload_part_copy(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let upload_id = req
        .q("uploadId")
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| s3_error!(InvalidArgument, "This operation requires an upload id"))?;
    let part_number = req
        .q("partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
            .with_extra("ArgumentName", "partNumber")
        })?;
    let src = parse_copy_source(req.header("x-amz-copy-source").unwrap_or(""))?;
    check_version_form(&src)?;
    let store = req.store().clone();
    let (b, k, u) = (bucket.clone(), key.clone(), upload_id.clone());
    let upload = blocking(move || store.upload(&b, &k, &u).map_err(S3Error::from)).await?;
    let source = load_source(req, &src).await?;
    Preconditions::of_copy_source(req)
        .check(&source.version.etag, source.version.last_modified_ms)?;
    let source_version = source.version.version_id.clone();
    let size = source.version.size;
    let (first, last) = match req.header("x-amz-copy-source-range") {
        Some(r) => parse_source_range(r, size)?,
        None if size == 0 => (0, 0),
        None => (0, size - 1),
    };
    let end = if size == 0 { 0 } else { last + 1 };
    let algorithm = upload.checksum_algorithm;
    let store = req.store().clone();
    let (etag, checksum, last_modified) = blocking(move || {
        {
            let (staged, etag, checksum) = restage(&store, &source, first, end, true, algorithm)?;
            let part = store.put_part(
                &bucket,
                &key,
                &upload_id,
                staged,
                NewPart {
                    part_number,
                    etag: etag.clone(),
                    checksum: checksum.clone(),
                },
            )?;
            Ok((etag, checksum, part.last_modified_ms))
        }
        .map_err(|e: strata_storage::Error| S3Error::from(e))
    })
    .await?;
    let mut w = XmlWriter::new("CopyPartResult");
    w.elem("ETag", &format!("\"{etag}\""))
        .elem("LastModified", &iso8601(last_modified));
    if let (Some(alg), Some(c)) = (algorithm, &checksum) {
        w.elem(&format!("Checksum{alg}"), c);
    }
    let mut resp = HttpResponse::Ok();
    if source_version != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-copy-source-version-id", source_version));
    }
    Ok(resp.content_type("application/xml").body(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_copy_source("/b/a%20b/c.txt").unwrap(),
            SourceRef {
                bucket: "b".into(),
                key: "a b/c.txt".into(),
                version_id: None
            }
        );
        assert_eq!(
            parse_copy_source("b/k?versionId=null")
                .unwrap()
                .version_id
                .as_deref(),
            Some("null")
        );
        assert!(parse_copy_source("b").is_err());
        assert!(parse_copy_source("/b/").is_err());
        assert!(parse_copy_source("b/k?foo=1").is_err());
    }

    #[test]
    fn source_ranges() {
        assert_eq!(parse_source_range("bytes=0-9", 10).unwrap(), (0, 9));
        assert!(parse_source_range("bytes=0-10", 10).is_err());
        assert!(parse_source_range("bytes=5-1", 10).is_err());
        assert!(parse_source_range("0-1", 10).is_err());
    }
}
