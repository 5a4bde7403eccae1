//! Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts, ListMultipartUploads.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use md5::{Digest as _, Md5};
use strata_storage::{CompleteProblem, NewVersion, StoredChecksum};

use crate::app::{blocking, S3Request};
use crate::body::{self, BodySpec};
use crate::checksum::{self, ChecksumAlgorithm, ChecksumAlgorithmExt, ChecksumType};
use crate::error::{S3Error, S3ErrorCode, S3Result};
use crate::handlers::iso8601;
use crate::request::{
    self, encode_if, object_meta_from_headers, parse_max_keys, storage_class_from_headers,
    url_encoding, validate_key, write_condition, MAX_PUT_SIZE,
};
use crate::s3_error;
use crate::write;
use crate::xml::{self, XmlWriter};

/// Smallest part (all but the last), as S3 enforces it.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

fn xml_ok(doc: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml").body(doc)
}

fn upload_id(req: &S3Request) -> S3Result<String> {
    req.q("uploadId")
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            s3_error!(InvalidArgument, "This operation requires an upload id")
                .with_extra("ArgumentName", "uploadId")
        })
}

/// CreateMultipartUpload.
pub async fn create(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    validate_key(&key)?;
    let meta = object_meta_from_headers(req)?;
    let storage_class = storage_class_from_headers(req)?;
    let algorithm = match req.header("x-amz-checksum-algorithm") {
        Some(name) => Some(name.trim().parse::<ChecksumAlgorithm>().map_err(|_| {
            s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
        })?),
        None => None,
    };
    let checksum = match (algorithm, req.header("x-amz-checksum-type").map(str::to_ascii_uppercase)) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            ))
        }
        (Some(alg), t) => {
            let t = t.unwrap_or_else(|| checksum::default_multipart_type(alg).to_string());
            match t.parse::<ChecksumType>() {
                Ok(ct) if checksum::multipart_type_allowed(alg, ct) => Some((alg, ct)),
                _ => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "The {} checksum type cannot be used with the {} checksum algorithm.",
                        t,
                        alg
                    ))
                }
            }
        }
    };
    let store = req.store().clone();
    let (b, k) = (bucket.clone(), key.clone());
    let info = blocking(move || {
        store
            .create_upload(&b, &k, storage_class, meta, checksum)
            .map_err(S3Error::from)
    })
    .await?;
    let mut w = XmlWriter::new("InitiateMultipartUploadResult");
    w.elem("Bucket", &bucket)
        .elem("Key", &key)
        .elem("UploadId", &info.upload_id);
    let mut resp = HttpResponse::Ok();
    if let (Some(alg), Some(t)) = (&info.checksum_algorithm, &info.checksum_type) {
        resp.insert_header(("x-amz-checksum-algorithm", alg.as_str()));
        resp.insert_header(("x-amz-checksum-type", t.as_str()));
    }
    Ok(resp.content_type("application/xml").body(w.finish()))
}

pub(crate) fn parse_part_number(value: Option<&str>) -> S3Result<u32> {
    value
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
            .with_extra("ArgumentName", "partNumber")
            .with_extra("ArgumentValue", value.unwrap_or(""))
        })
}

/// UploadPart.
pub async fn upload_part(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let upload = upload_id(req)?;
    let part_number = parse_part_number(req.q("partNumber"))?;
    let store = req.store().clone();
    let (b, k, u) = (bucket.clone(), key.clone(), upload.clone());
    let info = blocking(move || store.upload(&b, &k, &u).map_err(S3Error::from)).await?;
    // The parts of an upload whose object will be locked need an integrity header, as a
    // PutObject with a lock does.
    crate::lock_request::require_integrity(req, info.meta.retention, info.meta.legal_hold)?;
    let check = req.take_payload_check();
    let mut spec = BodySpec::from_headers(req.http.headers(), check, MAX_PUT_SIZE)?;
    if spec.declared_len.is_none() {
        return Err(s3_error!(
            MissingContentLength,
            "You must provide the Content-Length HTTP header."
        ));
    }
    let upload_alg = info.checksum_algorithm;
    match (&spec.checksum, upload_alg) {
        (Some((alg, _)), Some(want)) if *alg != want => {
            return Err(s3_error!(
            InvalidRequest,
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            want.as_str().to_ascii_lowercase(),
            alg.as_str().to_ascii_lowercase()
        ))
        }
        (None, Some(want)) => spec.checksum = Some((want, None)),
        _ => {}
    }
    let writer = req.store().body_writer().always_chunked();
    let (writer, digests) = body::ingest(payload, writer, spec, &req.state.body_limits).await?;
    let etag = hex::encode(digests.md5);
    let part_checksum = digests.checksum.as_ref().map(|(_, v)| v.clone());
    let store = req.store().clone();
    let e = etag.clone();
    blocking(move || {
        {
            let staged = writer.finish()?;
            store.put_part(
                &bucket,
                &key,
                &upload,
                staged,
                strata_storage::NewPart {
                    part_number,
                    etag: e,
                    checksum: part_checksum,
                },
            )
        }
        .map_err(S3Error::from)
    })
    .await?;
    req.state.metrics.record_bytes_in(digests.len);
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::ETAG, format!("\"{etag}\"")));
    if let Some((alg, value)) = &digests.checksum {
        resp.insert_header((alg.header(), value.as_str()));
    }
    Ok(resp.finish())
}

fn invalid_part(n: u32) -> S3Error {
    s3_error!(
        InvalidPart,
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )
    .with_extra("PartNumber", n.to_string())
}

/// CompleteMultipartUpload.
pub async fn complete(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let upload = upload_id(req)?;
    let condition = write_condition(req)?;
    let check = req.take_payload_check();
    // On this request an `x-amz-checksum-*` header is the whole object's checksum (checked
    // below against the parts), not the checksum of the XML body.
    let claimed_object_checksum = body::requested_object_checksum(req.http.headers())?;
    let spec = BodySpec::ignoring_checksum_headers(req.http.headers(), check, 4 * 1024 * 1024)?;
    let (body, _) = body::ingest(payload, Vec::new(), spec, &req.state.body_limits).await?;
    let doc: xml::CompleteMultipartUpload = xml::parse(&body)?;
    if doc.parts.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let mut requested = Vec::with_capacity(doc.parts.len());
    for p in &doc.parts {
        let n = parse_part_number(Some(p.part_number.trim()))?;
        let etag = p
            .etag
            .as_deref()
            .map(|e| e.trim().trim_matches('"').to_owned())
            .ok_or_else(|| s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema"))?;
        requested.push((n, etag));
    }
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(s3_error!(
            InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        ));
    }
    let store = req.store().clone();
    let (b, k, u) = (bucket.clone(), key.clone(), upload.clone());
    let listed = blocking(move || {
        store
            .list_parts(&b, &k, &u, 0, MAX_PART_NUMBER as usize)
            .map_err(S3Error::from)
    })
    .await;
    let (info, stored, _) = match listed {
        Ok(listed) => listed,
        Err(e) => return retried_completion(req, &bucket, &key, &upload, e).await,
    };
    let by_number: std::collections::HashMap<u32, &strata_storage::PartInfo> =
        stored.iter().map(|p| (p.part_number, p)).collect();
    let mut md5_concat = Md5::new();
    let mut used = Vec::with_capacity(requested.len());
    for (i, (n, etag)) in requested.iter().enumerate() {
        let part = by_number
            .get(n)
            .filter(|p| &p.etag == etag)
            .ok_or_else(|| invalid_part(*n))?;
        if i + 1 < requested.len() && part.size < MIN_PART_SIZE {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size."
            )
            .with_extra("ProposedSize", part.size.to_string())
            .with_extra("MinSizeAllowed", MIN_PART_SIZE.to_string())
            .with_extra("PartNumber", n.to_string())
            .with_extra("ETag", format!("\"{etag}\"")));
        }
        let raw = hex::decode(&part.etag).map_err(|_| invalid_part(*n))?;
        md5_concat.update(&raw);
        used.push(*part);
    }
    let final_etag = format!("{}-{}", hex::encode(md5_concat.finalize()), requested.len());
    let checksum = match (info.checksum_algorithm, info.checksum_type) {
        (Some(alg), Some(t)) => {
            let values: Option<Vec<String>> = used.iter().map(|p| p.checksum.clone()).collect();
            match values {
                None => None,
                Some(values) if t == ChecksumType::FullObject => {
                    let with_len: Vec<(String, u64)> = values
                        .into_iter()
                        .zip(used.iter().map(|p| p.size))
                        .collect();
                    checksum::combine_full_object(alg, &with_len)?.map(|v| StoredChecksum {
                        algorithm: alg,
                        value: v,
                        checksum_type: ChecksumType::FullObject,
                    })
                }
                Some(values) => Some(StoredChecksum {
                    algorithm: alg,
                    value: checksum::composite(alg, &values)?,
                    checksum_type: ChecksumType::Composite,
                }),
            }
        }
        _ => None,
    };
    if let Some((alg, Some(claimed))) = &claimed_object_checksum {
        let matches = checksum.as_ref().is_some_and(|c| {
            c.algorithm == *alg
                && c.value.split('-').next() == Some(claimed.split('-').next().unwrap_or(""))
        });
        if !matches {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                alg
            ));
        }
    }
    let mut meta = info.meta.clone();
    meta.checksum = checksum.clone();
    if checksum.is_some() {
        // GetObjectAttributes reports each part's checksum.
        meta.part_checksums = used.iter().filter_map(|p| p.checksum.clone()).collect();
    }
    let new = NewVersion {
        etag: final_etag.clone(),
        meta,
        storage_class: info.storage_class,
        condition,
        replica_of: request::replica_of(req)?,
    };
    let store = req.store().clone();
    let (b, k, u) = (bucket.clone(), key.clone(), upload.clone());
    let outcome = blocking(move || {
        store
            .complete_upload(&b, &k, &u, requested, new)
            .map_err(S3Error::from)
    })
    .await;
    let version = match outcome {
        Ok(Ok(v)) => v,
        Ok(Err(CompleteProblem::InvalidPart(n))) => return Err(invalid_part(n)),
        // A concurrent retry of this completion committed first.
        Err(e) => return retried_completion(req, &bucket, &key, &upload, e).await,
    };
    write::committed(req.store(), &version).await?;
    Ok(completion_answer(
        req,
        &bucket,
        &key,
        &final_etag,
        checksum.as_ref(),
        &version.version_id,
    ))
}

/// The answer to a CompleteMultipartUpload whose upload is gone (`e` is why): when the upload
/// was completed as this key (within `COMPLETED_UPLOAD_RETAIN_MS`), the same 200 the completion
/// gave, as S3 answers a completion an SDK retried after the first answer timed out; else `e`.
async fn retried_completion(
    req: &S3Request,
    bucket: &str,
    key: &str,
    upload: &str,
    e: S3Error,
) -> S3Result<HttpResponse> {
    if e.code != S3ErrorCode::NoSuchUpload {
        return Err(e);
    }
    let store = req.store().clone();
    let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload.to_owned());
    let done = blocking(move || store.completed_upload(&b, &k, &u).map_err(S3Error::from)).await?;
    match done {
        Some(c) => Ok(completion_answer(
            req,
            bucket,
            key,
            &c.etag,
            c.checksum.as_ref(),
            &c.version_id,
        )),
        None => Err(e),
    }
}

/// CompleteMultipartUploadResult, with the version header of a versioned bucket.
fn completion_answer(
    req: &S3Request,
    bucket: &str,
    key: &str,
    etag: &str,
    checksum: Option<&StoredChecksum>,
    version_id: &str,
) -> HttpResponse {
    let host = req.header("host").unwrap_or("localhost");
    let mut w = XmlWriter::new("CompleteMultipartUploadResult");
    w.elem("Location", &format!("http://{host}/{bucket}/{key}"))
        .elem("Bucket", bucket)
        .elem("Key", key)
        .elem("ETag", &format!("\"{etag}\""));
    if let Some(c) = checksum {
        w.elem(&format!("Checksum{}", c.algorithm), &c.value)
            .elem("ChecksumType", c.checksum_type.as_str());
    }
    let mut resp = HttpResponse::Ok();
    if version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", version_id));
    }
    resp.content_type("application/xml").body(w.finish())
}

/// AbortMultipartUpload.
pub async fn abort(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let upload = upload_id(req)?;
    let store = req.store().clone();
    blocking(move || {
        store
            .abort_upload(&bucket, &key, &upload)
            .map_err(S3Error::from)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// ListParts.
pub async fn list_parts(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let upload = upload_id(req)?;
    let marker = match req.q("part-number-marker") {
        Some(m) => m.parse::<u32>().map_err(|_| {
            s3_error!(
                InvalidArgument,
                "Provided part-number-marker not an integer or within integer range"
            )
            .with_extra("ArgumentName", "part-number-marker")
        })?,
        None => 0,
    };
    let max = parse_max_keys(req.q("max-parts"), "max-parts")?;
    let store = req.store().clone();
    let (b, k, u) = (bucket.clone(), key.clone(), upload.clone());
    let (info, parts, truncated) = blocking(move || {
        store
            .list_parts(&b, &k, &u, marker, max)
            .map_err(S3Error::from)
    })
    .await?;
    let mut w = XmlWriter::new("ListPartsResult");
    w.elem("Bucket", &bucket)
        .elem("Key", &key)
        .elem("UploadId", &upload);
    w.elem("PartNumberMarker", &marker.to_string());
    if let Some(last) = parts.last() {
        w.elem("NextPartNumberMarker", &last.part_number.to_string());
    }
    w.elem("MaxParts", &max.to_string())
        .elem("IsTruncated", if truncated { "true" } else { "false" });
    let alg = info.checksum_algorithm;
    for p in &parts {
        w.open("Part")
            .elem("PartNumber", &p.part_number.to_string())
            .elem("LastModified", &iso8601(p.last_modified_ms))
            .elem("ETag", &format!("\"{}\"", p.etag))
            .elem("Size", &p.size.to_string());
        if let (Some(a), Some(c)) = (&alg, &p.checksum) {
            w.elem(&format!("Checksum{a}"), c);
        }
        w.close();
    }
    crate::acl_request::bucket_owner_element(&mut w, req, "Initiator");
    crate::acl_request::bucket_owner_element(&mut w, req, "Owner");
    w.elem("StorageClass", info.storage_class.as_str());
    if let (Some(a), Some(t)) = (info.checksum_algorithm, info.checksum_type) {
        w.elem("ChecksumAlgorithm", a.as_str())
            .elem("ChecksumType", t.as_str());
    }
    Ok(xml_ok(w.finish()))
}

/// ListMultipartUploads.
pub async fn list_uploads(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let url_encode = url_encoding(req)?;
    let enc = |s: &str| encode_if(url_encode, s);
    let prefix = req.q("prefix").unwrap_or("").to_owned();
    let delimiter = req
        .q("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let key_marker = req
        .q("key-marker")
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let upload_id_marker = req
        .q("upload-id-marker")
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let max = parse_max_keys(req.q("max-uploads"), "max-uploads")?;
    let store = req.store().clone();
    let (b, p, d, km, um) = (
        bucket.clone(),
        prefix.clone(),
        delimiter.clone(),
        key_marker.clone(),
        upload_id_marker.clone(),
    );
    let page = blocking(move || {
        store
            .list_uploads(&b, &p, d.as_deref(), km.as_deref(), um.as_deref(), max)
            .map_err(S3Error::from)
    })
    .await?;
    let mut w = XmlWriter::new("ListMultipartUploadsResult");
    w.elem("Bucket", &bucket)
        .elem("KeyMarker", &enc(key_marker.as_deref().unwrap_or("")))
        .elem("UploadIdMarker", upload_id_marker.as_deref().unwrap_or(""));
    if page.is_truncated {
        if let Some(last) = page.uploads.last() {
            w.elem("NextKeyMarker", &enc(&last.key))
                .elem("NextUploadIdMarker", &last.upload_id);
        }
    }
    w.elem("Prefix", &enc(&prefix));
    if let Some(d) = &delimiter {
        w.elem("Delimiter", &enc(d));
    }
    if url_encode {
        w.elem("EncodingType", "url");
    }
    w.elem("MaxUploads", &max.to_string()).elem(
        "IsTruncated",
        if page.is_truncated { "true" } else { "false" },
    );
    for u in &page.uploads {
        w.open("Upload")
            .elem("Key", &enc(&u.key))
            .elem("UploadId", &u.upload_id);
        crate::acl_request::bucket_owner_element(&mut w, req, "Initiator");
        crate::acl_request::bucket_owner_element(&mut w, req, "Owner");
        w.elem("StorageClass", u.storage_class.as_str())
            .elem("Initiated", &iso8601(u.initiated_ms));
        if let Some(a) = u.checksum_algorithm {
            w.elem("ChecksumAlgorithm", a.as_str());
        }
        w.close();
    }
    for p in &page.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", &enc(p)).close();
    }
    Ok(xml_ok(w.finish()))
}
