//! ListObjects (V1) and ListObjectsV2 over current versions, in byte order of keys.

use actix_web::HttpResponse;

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::handlers::iso8601;
use crate::request::{decode_token, encode_if, encode_token, parse_max_keys, url_encoding};
use crate::xml::XmlWriter;

/// ListObjects (V1) or ListObjectsV2.
pub async fn list_objects(req: &S3Request, v2: bool) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let url_encode = url_encoding(req)?;
    let enc = |s: &str| encode_if(url_encode, s);
    let prefix = req.q("prefix").unwrap_or("").to_owned();
    let delimiter = req
        .q("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let max_keys = parse_max_keys(req.q("max-keys"), "max-keys")?;
    let continuation = match req.q("continuation-token").filter(|_| v2) {
        Some(t) => Some(decode_token(t)?),
        None => None,
    };
    let start_after = if v2 {
        continuation
            .clone()
            .or_else(|| req.q("start-after").map(str::to_owned))
    } else {
        req.q("marker").map(str::to_owned)
    };
    let query = strata_storage::ListQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        start_after,
        max_keys,
    };
    let store = req.store().clone();
    let b = bucket.clone();
    let page = blocking(move || store.list_objects(&b, &query).map_err(S3Error::from)).await?;

    let mut w = XmlWriter::new("ListBucketResult");
    w.elem("Name", &bucket);
    w.elem("Prefix", &enc(&prefix));
    if v2 {
        if let Some(t) = req.q("continuation-token") {
            w.elem("ContinuationToken", t);
        }
        if let Some(sa) = req.q("start-after") {
            w.elem("StartAfter", &enc(sa));
        }
        w.elem(
            "KeyCount",
            &(page.objects.len() + page.common_prefixes.len()).to_string(),
        );
    } else {
        w.elem("Marker", &enc(req.q("marker").unwrap_or("")));
    }
    w.elem("MaxKeys", &max_keys.to_string());
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
    if page.is_truncated {
        if let Some(last) = &page.last {
            if v2 {
                w.elem("NextContinuationToken", &encode_token(last));
            } else if delimiter.is_some() {
                w.elem("NextMarker", &enc(last));
            }
        }
    }
    let fetch_owner = !v2 || req.q("fetch-owner") == Some("true");
    for o in &page.objects {
        w.open("Contents")
            .elem("Key", &enc(&o.key))
            .elem("LastModified", &iso8601(o.last_modified_ms))
            .elem("ETag", &format!("\"{}\"", o.etag))
            .elem("Size", &o.size.to_string())
            .elem("StorageClass", o.storage_class.as_str());
        if fetch_owner {
            crate::acl_request::bucket_owner_element(&mut w, req, "Owner");
        }
        w.close();
    }
    for p in &page.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", &enc(p)).close();
    }
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_keys_parsing() {
        assert_eq!(parse_max_keys(None, "max-keys").unwrap(), 1000);
        assert_eq!(parse_max_keys(Some("5"), "max-keys").unwrap(), 5);
        assert_eq!(parse_max_keys(Some("5000"), "max-keys").unwrap(), 1000);
        assert!(parse_max_keys(Some("-1"), "max-keys").is_err());
        assert!(parse_max_keys(Some("x"), "max-keys").is_err());
    }

    #[test]
    fn tokens_round_trip() {
        let t = encode_token("a/ü b");
        assert_eq!(decode_token(&t).unwrap(), "a/ü b");
        assert!(decode_token("%%%").is_err());
    }
}
