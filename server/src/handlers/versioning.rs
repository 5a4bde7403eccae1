//! Bucket versioning: Put/GetBucketVersioning and ListObjectVersions.

use actix_web::{web, HttpResponse};
use strata_storage::Versioning;

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::handlers::iso8601;
use crate::request::{encode_if, parse_max_keys, url_encoding};
use crate::s3_error;
use crate::xml::{self, XmlWriter};

/// PutBucketVersioning.
pub async fn put_bucket_versioning(
    req: &mut S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    let body = req.read_document(payload, 64 * 1024).await?;
    let cfg: xml::VersioningConfiguration = xml::parse(&body)?;
    let state = match cfg.status.as_deref() {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ))
        }
    };
    if cfg.mfa_delete.as_deref() == Some("Enabled") {
        return Err(s3_error!(
            NotImplemented,
            "MFA Delete is not supported by this server"
        ));
    }
    let b = req.bucket()?.to_owned();
    let store = req.store().clone();
    blocking(move || store.set_versioning(&b, state).map_err(S3Error::from)).await?;
    Ok(HttpResponse::Ok().finish())
}

/// GetBucketVersioning: no Status element while the bucket has never been versioned.
pub async fn get_bucket_versioning(req: &S3Request) -> S3Result<HttpResponse> {
    let b = req.bucket()?.to_owned();
    let store = req.store().clone();
    let info = blocking(move || store.bucket(&b).map_err(S3Error::from)).await?;
    let mut w = XmlWriter::new("VersioningConfiguration");
    match info.versioning {
        Versioning::Enabled => {
            w.elem("Status", "Enabled");
        }
        Versioning::Suspended => {
            w.elem("Status", "Suspended");
        }
        Versioning::Unversioned => {}
    }
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(w.finish()))
}

/// ListObjectVersions.
pub async fn list_object_versions(req: &S3Request) -> S3Result<HttpResponse> {
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
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let version_id_marker = req
        .q("version-id-marker")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if version_id_marker.is_some() && key_marker.is_none() {
        return Err(s3_error!(
            InvalidArgument,
            "A version-id marker cannot be specified without a key marker."
        )
        .with_extra("ArgumentName", "version-id-marker"));
    }
    if let Some(v) = &version_id_marker {
        if !strata_storage::is_valid_version_id(v) {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified")
                .with_extra("ArgumentName", "version-id-marker"));
        }
    }
    let max = parse_max_keys(req.q("max-keys"), "max-keys")?;
    let store = req.store().clone();
    let (b, p, d, km, vm) = (
        bucket.clone(),
        prefix.clone(),
        delimiter.clone(),
        key_marker.clone(),
        version_id_marker.clone(),
    );
    let page = blocking(move || {
        store
            .list_versions(&b, &p, d.as_deref(), km.as_deref(), vm.as_deref(), max)
            .map_err(S3Error::from)
    })
    .await?;
    let mut w = XmlWriter::new("ListVersionsResult");
    w.elem("Name", &bucket)
        .elem("Prefix", &enc(&prefix))
        .elem("KeyMarker", &enc(key_marker.as_deref().unwrap_or("")))
        .elem(
            "VersionIdMarker",
            version_id_marker.as_deref().unwrap_or(""),
        );
    if let Some((k, v)) = &page.next {
        w.elem("NextKeyMarker", &enc(k));
        w.opt("NextVersionIdMarker", v.as_deref());
    }
    w.elem("MaxKeys", &max.to_string());
    if let Some(d) = &delimiter {
        w.elem("Delimiter", &enc(d));
    }
    if url_encode {
        w.elem("EncodingType", "url");
    }
    w.elem(
        "IsTruncated",
        if page.is_truncated { "true" } else { "false" },
    );
    for e in &page.entries {
        if e.is_delete_marker {
            w.open("DeleteMarker");
        } else {
            w.open("Version");
        }
        w.elem("Key", &enc(&e.key))
            .elem("VersionId", &e.version_id)
            .elem("IsLatest", if e.is_latest { "true" } else { "false" })
            .elem("LastModified", &iso8601(e.last_modified_ms));
        if !e.is_delete_marker {
            w.elem("ETag", &format!("\"{}\"", e.etag))
                .elem("Size", &e.size.to_string())
                .elem("StorageClass", e.storage_class.as_str());
        }
        crate::acl_request::bucket_owner_element(&mut w, req, "Owner");
        w.close();
    }
    for p in &page.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", &enc(p)).close();
    }
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(w.finish()))
}
