//! Object and bucket tagging: the `x-amz-tagging` header, the Tagging document, S3's limits.

use actix_web::{web, HttpResponse};

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::handlers::{setting_document, store_setting};
use crate::request::{validate_tags, MAX_BUCKET_TAGS, MAX_OBJECT_TAGS};
use crate::s3_error;
use crate::versions::load_addressed;
use crate::xml::{self, XmlWriter};

const BUCKET_TAGS_SETTING: &str = "tagging";

pub(crate) fn parse_tagging_body(body: &[u8], max: usize) -> S3Result<Vec<(String, String)>> {
    let doc: xml::Tagging = xml::parse(body)?;
    let tags: Vec<(String, String)> = doc
        .tag_set
        .tags
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    validate_tags(&tags, max)?;
    Ok(tags)
}

fn render_tagging(tags: &[(String, String)]) -> String {
    let mut w = XmlWriter::new("Tagging");
    w.open("TagSet");
    for (k, v) in tags {
        w.open("Tag").elem("Key", k).elem("Value", v).close();
    }
    w.finish()
}

fn with_version(resp: &mut actix_web::HttpResponseBuilder, version_id: &str, versioned: bool) {
    if version_id != strata_storage::NULL_VERSION || versioned {
        resp.insert_header(("x-amz-version-id", version_id));
    }
}

/// PutObjectTagging.
pub async fn put_object_tagging(
    req: &mut S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    let body = req.read_document(payload, 64 * 1024).await?;
    let tags = parse_tagging_body(&body, MAX_OBJECT_TAGS)?;
    set_tags(req, tags, HttpResponse::Ok()).await
}

/// Replaces the tags of the version GET would resolve.
async fn set_tags(
    req: &S3Request,
    tags: Vec<(String, String)>,
    mut resp: actix_web::HttpResponseBuilder,
) -> S3Result<HttpResponse> {
    let handle = load_addressed(req).await?;
    let (b, k) = (req.bucket()?.to_owned(), req.key()?.to_owned());
    let (vid, versioned) = (handle.version.version_id.clone(), handle.bucket_versioned);
    drop(handle);
    let store = req.store().clone();
    let version = blocking(move || {
        store
            .set_object_tags(&b, &k, Some(&vid), tags)
            .map_err(S3Error::from)
    })
    .await?;
    with_version(&mut resp, &version, versioned);
    Ok(resp.finish())
}

/// GetObjectTagging.
pub async fn get_object_tagging(req: &S3Request) -> S3Result<HttpResponse> {
    let handle = load_addressed(req).await?;
    let mut resp = HttpResponse::Ok();
    with_version(
        &mut resp,
        &handle.version.version_id,
        handle.bucket_versioned,
    );
    Ok(resp
        .content_type("application/xml")
        .body(render_tagging(&handle.version.meta.tags)))
}

/// DeleteObjectTagging.
pub async fn delete_object_tagging(req: &S3Request) -> S3Result<HttpResponse> {
    set_tags(req, Vec::new(), HttpResponse::NoContent()).await
}

/// PutBucketTagging.
pub async fn put_bucket_tagging(
    req: &mut S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    let body = req.read_document(payload, 64 * 1024).await?;
    let tags = parse_tagging_body(&body, MAX_BUCKET_TAGS)?;
    store_setting(req, BUCKET_TAGS_SETTING, Some(render_tagging(&tags))).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// GetBucketTagging.
pub async fn get_bucket_tagging(req: &S3Request) -> S3Result<HttpResponse> {
    let missing = s3_error!(NoSuchTagSet, "The TagSet does not exist");
    setting_document(req, BUCKET_TAGS_SETTING, missing).await
}

/// DeleteBucketTagging.
pub async fn delete_bucket_tagging(req: &S3Request) -> S3Result<HttpResponse> {
    store_setting(req, BUCKET_TAGS_SETTING, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tags_from_header;

    #[test]
    fn header_tags() {
        assert_eq!(
            tags_from_header("a=1&b=x%20y").unwrap(),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y".to_string())
            ]
        );
        assert!(tags_from_header("a=1&a=2").is_err());
        assert!(tags_from_header("aws:x=1").is_err());
        let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(tags_from_header(&many.join("&")).is_err());
        assert!(tags_from_header(&format!("{}=v", "k".repeat(129))).is_err());
    }

    #[test]
    fn tagging_document_round_trip() {
        let doc = render_tagging(&[("a".into(), "1".into())]);
        assert_eq!(
            parse_tagging_body(doc.as_bytes(), 10).unwrap(),
            vec![("a".to_string(), "1".to_string())]
        );
    }
}
