//! CopyObject: within and across buckets, metadata and tagging directives, the
//! `x-amz-copy-source-if-*` conditions, copying onto itself, the CopyObjectResult document, and
//! how `x-amz-copy-source` is encoded.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{MetadataDirective, TaggingDirective};
use aws_sdk_s3::Client;

use crate::common::{
    assert_sdk_error, create_bucket, get_bytes, md5_hex, put, uri_encode, xml_value, Answer,
    RawRequest, Server,
};

/// Request headers of one case.
type Headers<'a> = Vec<(&'a str, String)>;

async fn tags_of(client: &Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObjectTagging {bucket}/{key}: {e:?}"));
    let mut tags: Vec<(String, String)> = out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    tags
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn put_source(client: &Client, bucket: &str, key: &str, body: &[u8]) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .content_type("text/x-source")
        .cache_control("max-age=5")
        .content_disposition("inline")
        .metadata("color", "red")
        .metadata("size", "small")
        .tagging("team=storage&stage=test")
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
}

#[tokio::test]
async fn copy_within_and_across_buckets_keeps_metadata_and_tags() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "copy").await;
    let other = create_bucket(&client, "copyto").await;
    let body = b"the source object".to_vec();
    put_source(&client, &bucket, "src", &body).await;
    let etag = format!("\"{}\"", md5_hex(&body));

    for (target_bucket, target_key) in [(&bucket, "same-bucket"), (&other, "dir/across")] {
        let out = client
            .copy_object()
            .bucket(target_bucket)
            .key(target_key)
            .copy_source(format!("{bucket}/src"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CopyObject to {target_bucket}/{target_key}: {e:?}"));
        let result = out.copy_object_result().expect("CopyObjectResult");
        assert_eq!(
            result.e_tag(),
            Some(etag.as_str()),
            "a copy has the source's MD5"
        );
        let copied_at = result.last_modified().expect("LastModified");
        let now = DateTime::from(SystemTime::now());
        assert!(
            (now.secs() - copied_at.secs()).abs() < 300,
            "LastModified is now"
        );

        assert_eq!(get_bytes(&client, target_bucket, target_key).await, body);
        let head = client
            .head_object()
            .bucket(target_bucket)
            .key(target_key)
            .send()
            .await
            .expect("HeadObject of the copy");
        assert_eq!(head.e_tag(), Some(etag.as_str()));
        assert_eq!(head.content_type(), Some("text/x-source"));
        assert_eq!(head.cache_control(), Some("max-age=5"));
        assert_eq!(head.content_disposition(), Some("inline"));
        let meta = head.metadata().expect("metadata copied");
        assert_eq!(meta.get("color").map(String::as_str), Some("red"));
        assert_eq!(meta.get("size").map(String::as_str), Some("small"));
        assert_eq!(
            tags_of(&client, target_bucket, target_key).await,
            pairs(&[("stage", "test"), ("team", "storage")]),
            "tags are copied by default (x-amz-tagging-directive COPY)"
        );
    }
    // The source is untouched.
    assert_eq!(get_bytes(&client, &bucket, "src").await, body);
}

#[tokio::test]
async fn copy_object_result_document() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "copydoc").await;
    put(&client, &bucket, "src", b"document").await;
    let answer = RawRequest::new("PUT", &format!("/{bucket}/dst"))
        .header("x-amz-copy-source", &format!("/{bucket}/src"))
        .answer(&server)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    assert!(
        text.trim_start().starts_with("<?xml"),
        "XML declaration: {text}"
    );
    assert!(text.contains("<CopyObjectResult"), "{text}");
    let etag = xml_value(&text, "ETag")
        .expect("ETag")
        .replace("&quot;", "\"");
    assert_eq!(etag, format!("\"{}\"", md5_hex(b"document")));
    let last_modified = xml_value(&text, "LastModified").expect("LastModified");
    // ISO 8601 as S3 writes it, e.g. 2009-10-28T22:32:00.000Z.
    assert!(
        time::OffsetDateTime::parse(
            &last_modified,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
            && last_modified.ends_with('Z'),
        "LastModified {last_modified:?} is ISO 8601 in UTC"
    );
}

#[tokio::test]
async fn metadata_directive_copy_and_replace() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "metadir").await;
    put_source(&client, &bucket, "src", b"body").await;

    // COPY (explicit): metadata in the request is ignored, the source's is kept.
    client
        .copy_object()
        .bucket(&bucket)
        .key("copied")
        .copy_source(format!("{bucket}/src"))
        .metadata_directive(MetadataDirective::Copy)
        .metadata("color", "blue")
        .content_type("text/x-ignored")
        .send()
        .await
        .expect("CopyObject COPY");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("copied")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_type(), Some("text/x-source"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("red")
    );

    // REPLACE: exactly the request's metadata and headers.
    client
        .copy_object()
        .bucket(&bucket)
        .key("replaced")
        .copy_source(format!("{bucket}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("shape", "round")
        .content_type("application/x-new")
        .send()
        .await
        .expect("CopyObject REPLACE");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("replaced")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_type(), Some("application/x-new"));
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.len(), 1, "only the new metadata: {meta:?}");
    assert_eq!(meta.get("shape").map(String::as_str), Some("round"));
    assert_eq!(
        head.cache_control(),
        None,
        "REPLACE drops the source's Cache-Control"
    );
    assert_eq!(head.content_disposition(), None);
    assert_eq!(get_bytes(&client, &bucket, "replaced").await, b"body");

    // Any other directive is refused.
    let answer = RawRequest::new("PUT", &format!("/{bucket}/bad"))
        .header("x-amz-copy-source", &format!("/{bucket}/src"))
        .header("x-amz-metadata-directive", "MERGE")
        .answer(&server)
        .await;
    answer.assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn tagging_directive_copy_and_replace() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "tagdir").await;
    put_source(&client, &bucket, "src", b"tagged").await;

    client
        .copy_object()
        .bucket(&bucket)
        .key("kept")
        .copy_source(format!("{bucket}/src"))
        .tagging_directive(TaggingDirective::Copy)
        .tagging("ignored=yes")
        .send()
        .await
        .expect("CopyObject tagging COPY");
    assert_eq!(
        tags_of(&client, &bucket, "kept").await,
        pairs(&[("stage", "test"), ("team", "storage")])
    );

    client
        .copy_object()
        .bucket(&bucket)
        .key("retagged")
        .copy_source(format!("{bucket}/src"))
        .tagging_directive(TaggingDirective::Replace)
        .tagging("new=1&other=two%20words")
        .send()
        .await
        .expect("CopyObject tagging REPLACE");
    assert_eq!(
        tags_of(&client, &bucket, "retagged").await,
        pairs(&[("new", "1"), ("other", "two words")])
    );

    client
        .copy_object()
        .bucket(&bucket)
        .key("untagged")
        .copy_source(format!("{bucket}/src"))
        .tagging_directive(TaggingDirective::Replace)
        .send()
        .await
        .expect("CopyObject tagging REPLACE without tags");
    assert!(tags_of(&client, &bucket, "untagged").await.is_empty());
    // The tagging directive leaves the metadata alone.
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("untagged")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("red")
    );
}

/// The `x-amz-copy-source-if-*` cases of a source whose ETag is `etag` and whose Last-Modified
/// is `at`, `other` being another ETag and `before` a date before `at`: (case, headers, whether
/// the copy is made).
fn copy_condition_cases(
    etag: &str,
    other: &str,
    before: &str,
    at: &str,
) -> Vec<(&'static str, Headers<'static>, bool)> {
    vec![
        (
            "if-match equal",
            vec![("x-amz-copy-source-if-match", etag.to_string())],
            true,
        ),
        (
            "if-match other",
            vec![("x-amz-copy-source-if-match", other.to_string())],
            false,
        ),
        (
            "if-none-match equal",
            vec![("x-amz-copy-source-if-none-match", etag.to_string())],
            false,
        ),
        (
            "if-none-match other",
            vec![("x-amz-copy-source-if-none-match", other.to_string())],
            true,
        ),
        (
            "if-modified-since before",
            vec![("x-amz-copy-source-if-modified-since", before.to_string())],
            true,
        ),
        (
            "if-modified-since at",
            vec![("x-amz-copy-source-if-modified-since", at.to_string())],
            false,
        ),
        (
            "if-unmodified-since before",
            vec![("x-amz-copy-source-if-unmodified-since", before.to_string())],
            false,
        ),
        (
            "if-unmodified-since at",
            vec![("x-amz-copy-source-if-unmodified-since", at.to_string())],
            true,
        ),
        // AWS: if-match true and if-unmodified-since false -> the copy is made.
        (
            "if-match true, if-unmodified-since false",
            vec![
                ("x-amz-copy-source-if-match", etag.to_string()),
                ("x-amz-copy-source-if-unmodified-since", before.to_string()),
            ],
            true,
        ),
        // AWS: if-none-match false and if-modified-since true -> 412.
        (
            "if-none-match false, if-modified-since true",
            vec![
                ("x-amz-copy-source-if-none-match", etag.to_string()),
                ("x-amz-copy-source-if-modified-since", before.to_string()),
            ],
            false,
        ),
    ]
}

/// Copies `src` of `bucket` to `target` with these request headers: the answer, and whether
/// `target` exists afterwards.
async fn copy_src_with(
    server: &Server,
    client: &Client,
    bucket: &str,
    target: &str,
    headers: &Headers<'_>,
) -> (Answer, bool) {
    let mut request = RawRequest::new("PUT", &format!("/{bucket}/{target}"))
        .header("x-amz-copy-source", &format!("/{bucket}/src"));
    for (header, value) in headers {
        request = request.header(header, value);
    }
    let answer = request.answer(server).await;
    let exists = client
        .head_object()
        .bucket(bucket)
        .key(target)
        .send()
        .await
        .is_ok();
    (answer, exists)
}

#[tokio::test]
async fn copy_source_conditions() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "copycond").await;
    put(&client, &bucket, "src", b"conditional source").await;
    let etag = format!("\"{}\"", md5_hex(b"conditional source"));
    let other = "\"0123456789abcdef0123456789abcdef\"".to_string();
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("src")
        .send()
        .await
        .expect("HeadObject");
    let last_modified: SystemTime = (*head.last_modified().expect("Last-Modified"))
        .try_into()
        .expect("SystemTime");
    let before = httpdate::fmt_http_date(last_modified - Duration::from_secs(3600));
    let at = httpdate::fmt_http_date(last_modified);

    let cases = copy_condition_cases(&etag, &other, &before, &at);
    let mut wrong = Vec::new();
    for (i, (name, headers, copies)) in cases.into_iter().enumerate() {
        let target = format!("dst-{i}");
        let (answer, exists) = copy_src_with(&server, &client, &bucket, &target, &headers).await;
        if copies {
            if answer.status != 200 || !exists {
                wrong.push(format!(
                    "{name}: want a copy, got {} {}",
                    answer.status,
                    answer.text()
                ));
            }
        } else {
            let code = xml_value(&answer.text(), "Code");
            if answer.status != 412 || code.as_deref() != Some("PreconditionFailed") || exists {
                wrong.push(format!(
                    "{name}: want 412 PreconditionFailed and no copy, got {} {code:?} (copy exists: {exists})",
                    answer.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The SDK's fields map to the same headers.
    let err = client
        .copy_object()
        .bucket(&bucket)
        .key("sdk")
        .copy_source(format!("{bucket}/src"))
        .copy_source_if_match(other)
        .send()
        .await
        .expect_err("copy-source-if-match other");
    assert_sdk_error(&err, 412, "PreconditionFailed");
    client
        .copy_object()
        .bucket(&bucket)
        .key("sdk")
        .copy_source(format!("{bucket}/src"))
        .copy_source_if_unmodified_since(DateTime::from(last_modified + Duration::from_secs(60)))
        .send()
        .await
        .expect("copy-source-if-unmodified-since after the last modification");
}

#[tokio::test]
async fn copy_onto_itself_needs_replace() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "selfcopy").await;
    put_source(&client, &bucket, "k", b"self").await;

    let err = client
        .copy_object()
        .bucket(&bucket)
        .key("k")
        .copy_source(format!("{bucket}/k"))
        .send()
        .await
        .expect_err("copy onto itself without changes");
    assert_sdk_error(&err, 400, "InvalidRequest");
    let err = client
        .copy_object()
        .bucket(&bucket)
        .key("k")
        .copy_source(format!("{bucket}/k"))
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await
        .expect_err("copy onto itself with COPY");
    assert_sdk_error(&err, 400, "InvalidRequest");

    let out = client
        .copy_object()
        .bucket(&bucket)
        .key("k")
        .copy_source(format!("{bucket}/k"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("color", "green")
        .content_type("text/x-updated")
        .send()
        .await
        .expect("copy onto itself with REPLACE");
    assert_eq!(
        out.copy_object_result().and_then(|r| r.e_tag()),
        Some(format!("\"{}\"", md5_hex(b"self")).as_str())
    );
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_type(), Some("text/x-updated"));
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("color").map(String::as_str), Some("green"));
    assert_eq!(meta.get("size"), None);
    assert_eq!(get_bytes(&client, &bucket, "k").await, b"self");
}

#[tokio::test]
async fn copy_from_missing_sources() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "copymiss").await;

    let err = client
        .copy_object()
        .bucket(&bucket)
        .key("dst")
        .copy_source(format!("{bucket}/does-not-exist"))
        .send()
        .await
        .expect_err("missing source key");
    assert_sdk_error(&err, 404, "NoSuchKey");
    let err = client
        .copy_object()
        .bucket(&bucket)
        .key("dst")
        .copy_source("no-such-source-bucket-copy/k")
        .send()
        .await
        .expect_err("missing source bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");

    put(&client, &bucket, "src", b"x").await;
    let err = client
        .copy_object()
        .bucket("no-such-target-bucket-copy")
        .key("dst")
        .copy_source(format!("{bucket}/src"))
        .send()
        .await
        .expect_err("missing target bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");
    let err = client
        .head_object()
        .bucket(&bucket)
        .key("dst")
        .send()
        .await
        .expect_err("nothing copied");
    assert_eq!(crate::common::error_status(&err), 404);
}

#[tokio::test]
async fn copy_source_is_url_encoded_and_accepts_version_id_null() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "copyenc").await;
    let key = "dir/a b+c%d&e=f ü?.txt";
    put(&client, &bucket, key, b"awkward key").await;
    let encoded = uri_encode(key, false);

    // With and without the leading slash, and with ?versionId=null (the only version of an
    // object in an unversioned bucket).
    for (i, source) in [
        format!("{bucket}/{encoded}"),
        format!("/{bucket}/{encoded}"),
        format!("{bucket}/{encoded}?versionId=null"),
    ]
    .into_iter()
    .enumerate()
    {
        let target = format!("copy {i}/ü");
        let out = client
            .copy_object()
            .bucket(&bucket)
            .key(&target)
            .copy_source(&source)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CopyObject from {source}: {e:?}"));
        assert_eq!(
            out.copy_object_result().and_then(|r| r.e_tag()),
            Some(format!("\"{}\"", md5_hex(b"awkward key")).as_str())
        );
        assert_eq!(get_bytes(&client, &bucket, &target).await, b"awkward key");
    }
}
