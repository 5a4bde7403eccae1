//! GetObjectAttributes (`GET /bucket/key?attributes`): a version's ETag, checksum, parts, storage
//! class and size without its bytes, as the S3 API reference (GetObjectAttributes) describes it.

use actix_web::HttpResponse;

use crate::app::S3Request;
use crate::error::S3Result;
use crate::handlers::http_date;
use crate::request::{parse_capped, version_param};
use crate::s3_error;
use crate::versions::load_readable;
use crate::xml::XmlWriter;

/// The attributes a request can name in `x-amz-object-attributes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Wanted {
    etag: bool,
    checksum: bool,
    parts: bool,
    storage_class: bool,
    size: bool,
}

/// Parses `x-amz-object-attributes` (comma-separated, possibly repeated): at least one name, and
/// only names S3 knows (they are case-sensitive, as the SDKs send them).
fn wanted(req: &S3Request) -> S3Result<Wanted> {
    let mut w = Wanted::default();
    let mut any = false;
    for value in req.http.headers().get_all("x-amz-object-attributes") {
        let value = value
            .to_str()
            .map_err(|_| s3_error!(InvalidArgument, "Invalid attribute name specified."))?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "ETag" => w.etag = true,
                "Checksum" => w.checksum = true,
                "ObjectParts" => w.parts = true,
                "StorageClass" => w.storage_class = true,
                "ObjectSize" => w.size = true,
                _ => {
                    return Err(
                        s3_error!(InvalidArgument, "Invalid attribute name specified.")
                            .with_extra("ArgumentName", "x-amz-object-attributes")
                            .with_extra("ArgumentValue", name),
                    )
                }
            }
            any = true;
        }
    }
    if !any {
        return Err(s3_error!(
            InvalidArgument,
            "x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty"
        )
        .with_extra("ArgumentName", "x-amz-object-attributes"));
    }
    Ok(w)
}

/// GetObjectAttributes.
pub async fn get_object_attributes(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let version_id = version_param(req)?;
    let wanted = wanted(req)?;
    let max_parts = parse_capped(req.header("x-amz-max-parts"), "x-amz-max-parts", 1000, 1000)?;
    let marker = parse_capped(
        req.header("x-amz-part-number-marker"),
        "x-amz-part-number-marker",
        0,
        10_000,
    )?;
    let handle = load_readable(req.store(), &bucket, &key, version_id).await?;
    let v = &handle.version;

    let mut w = XmlWriter::new("GetObjectAttributesResponse");
    if wanted.etag {
        // Unquoted here, unlike every other operation's ETag (as S3 answers it).
        w.elem("ETag", &v.etag);
    }
    if wanted.checksum {
        if let Some(c) = &v.meta.checksum {
            w.open("Checksum")
                .elem(&format!("Checksum{}", c.algorithm), &c.value)
                .elem("ChecksumType", c.checksum_type.as_str())
                .close();
        }
    }
    // ObjectParts describes an object completed from a multipart upload; an object uploaded in
    // one piece has none.
    if wanted.parts && !v.meta.part_sizes.is_empty() {
        let sizes = &v.meta.part_sizes;
        let sums = &v.meta.part_checksums;
        let algorithm = v.meta.checksum.as_ref().map(|c| c.algorithm.as_str());
        let first = marker.min(sizes.len());
        let last = (first + max_parts).min(sizes.len());
        let truncated = last < sizes.len();
        w.open("ObjectParts")
            .elem("PartsCount", &sizes.len().to_string())
            .elem("PartNumberMarker", &marker.to_string())
            .elem("NextPartNumberMarker", &last.to_string())
            .elem("MaxParts", &max_parts.to_string())
            .elem("IsTruncated", if truncated { "true" } else { "false" });
        for (i, size) in sizes.iter().enumerate().take(last).skip(first) {
            w.open("Part").elem("PartNumber", &(i + 1).to_string());
            if let (Some(alg), Some(sum)) = (algorithm, sums.get(i)) {
                w.elem(&format!("Checksum{alg}"), sum);
            }
            w.elem("Size", &size.to_string()).close();
        }
        w.close();
    }
    if wanted.storage_class {
        w.elem("StorageClass", v.storage_class.as_str());
    }
    if wanted.size {
        w.elem("ObjectSize", &v.size.to_string());
    }
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("Last-Modified", http_date(v.last_modified_ms)));
    if v.version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", v.version_id.as_str()));
    }
    Ok(resp.content_type("application/xml").body(w.finish()))
}
