//! Bucket versioning (issue #4): Put/GetBucketVersioning, version ids on every write, `versionId`
//! on GET/HEAD/DELETE/CopyObject/tagging/UploadPartCopy, delete markers, the `null` version of
//! suspended buckets, ListObjectVersions (order, filters, markers, pagination), DeleteObjects with
//! version ids, concurrent writers, and chunks shared between versions.
//!
//! Expected answers follow AWS's S3 API reference (GetObject, HeadObject, DeleteObject,
//! DeleteObjects, CopyObject, UploadPartCopy, ListObjectVersions) and the user guide pages on
//! delete markers and versioning-suspended buckets; where the reference is silent, responses
//! captured from AWS by other S3 implementations' test suites (named beside each case).
//!
//! The chunk-sharing tests read the server's data directory (`chunks/hot`) directly.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::delete_object::{DeleteObjectError, DeleteObjectOutput};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
use aws_sdk_s3::operation::list_object_versions::builders::ListObjectVersionsFluentBuilder;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, ObjectIdentifier, VersioningConfiguration,
};
use aws_sdk_s3::Client;

use crate::common::{
    assert_sdk_error, completed_parts, create_bucket, create_upload, describe_error, dir_usage,
    get_bytes, md5_hex, put, random_bytes, set_versioning, sorted_pairs, sorted_tags, tagging,
    upload_part, uri_encode, versioned_bucket, xml_value, Answer, RawRequest, Server, MIB,
};

/// A version id of the form S3 rejects as malformed (it decodes to no version id at all).
const MALFORMED_VERSION_ID: &str = "not-a-version-id";

/// One server with one versioning-enabled bucket `TAG`: (server, a client of it, the bucket).
struct Versioned(Server, Client, String);

impl Versioned {
    /// Starts the server and creates the bucket with versioning enabled.
    async fn new(tag: &str) -> Versioned {
        let server = Server::start();
        let client = server.client();
        let bucket = versioned_bucket(&client, tag).await;
        Versioned(server, client, bucket)
    }
}

/// What an SDK operation answers.
type Sdk<T, E> = Result<T, SdkError<E, HttpResponse>>;

/// GetObject of the latest version of `key`.
async fn get_latest(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Sdk<GetObjectOutput, GetObjectError> {
    client.get_object().bucket(bucket).key(key).send().await
}

/// GetObject of one version of `key`.
async fn get_by_id(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Sdk<GetObjectOutput, GetObjectError> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
}

/// HeadObject of the latest version of `key`.
async fn head_latest(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Sdk<HeadObjectOutput, HeadObjectError> {
    client.head_object().bucket(bucket).key(key).send().await
}

/// HeadObject of one version of `key`.
async fn head_by_id(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Sdk<HeadObjectOutput, HeadObjectError> {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
}

/// DeleteObject of `key` without a version id.
async fn delete_latest(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Sdk<DeleteObjectOutput, DeleteObjectError> {
    client.delete_object().bucket(bucket).key(key).send().await
}

/// DeleteObject of one version of `key`.
async fn delete_by_id(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Sdk<DeleteObjectOutput, DeleteObjectError> {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
}

/// GET of `key` answers 404 NoSuchKey with `x-amz-delete-marker: true`: its latest version is a
/// delete marker. `what` names the GET in a failure; `why` is the header check's message, where
/// the test gives one.
async fn assert_deleted(client: &Client, bucket: &str, key: &str, what: &str, why: Option<&str>) {
    let err = match get_latest(client, bucket, key).await {
        Ok(out) => panic!("{what}: {out:?}"),
        Err(err) => err,
    };
    assert_sdk_error(&err, 404, "NoSuchKey");
    let header = error_header(&err, "x-amz-delete-marker");
    match why {
        Some(why) => assert_eq!(header.as_deref(), Some("true"), "{why}"),
        None => assert_eq!(header.as_deref(), Some("true")),
    }
}

/// CopyObject of the latest version of `from` to `to` in the same bucket (`what` names it in a
/// failure).
async fn copy_object(
    client: &Client,
    bucket: &str,
    from: &str,
    to: &str,
    what: &str,
) -> aws_sdk_s3::operation::copy_object::CopyObjectOutput {
    client
        .copy_object()
        .bucket(bucket)
        .key(to)
        .copy_source(format!("{bucket}/{from}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

/// PutObject in a versioning-enabled bucket; returns the new version id.
async fn put_version(client: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
    let id = out
        .version_id()
        .unwrap_or_else(|| panic!("PutObject {bucket}/{key} returned no x-amz-version-id"))
        .to_string();
    assert!(
        !id.is_empty() && id != "null",
        "a versioning-enabled PUT gets a real version id, got {id:?}"
    );
    id
}

/// DeleteObject without a version id in a versioning-enabled bucket; returns the marker's id.
async fn add_delete_marker(client: &Client, bucket: &str, key: &str) -> String {
    let out = client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObject {bucket}/{key}: {e:?}"));
    assert_eq!(
        out.delete_marker(),
        Some(true),
        "DELETE without a version id in a versioned bucket answers x-amz-delete-marker: true"
    );
    let id = out
        .version_id()
        .expect("DELETE that adds a marker returns the marker's x-amz-version-id")
        .to_string();
    assert!(!id.is_empty() && id != "null", "marker id {id:?}");
    id
}

/// GetObject of one version; returns the body after checking the echoed version id.
async fn get_version(client: &Client, bucket: &str, key: &str, version_id: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}?versionId={version_id}: {e:?}"));
    assert_eq!(out.version_id(), Some(version_id), "x-amz-version-id");
    out.body
        .collect()
        .await
        .expect("read GetObject body")
        .into_bytes()
        .to_vec()
}

/// The body of a key's `null` version (GET `?versionId=null`); the echoed version id is checked
/// by `null_version_answers_version_id_null`.
async fn null_version_body(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id("null")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}?versionId=null: {e:?}"))
        .body
        .collect()
        .await
        .expect("read GetObject body")
        .into_bytes()
        .to_vec()
}

/// A raw signed request, read whole.
async fn raw(server: &Server, method: &str, path_and_query: &str) -> Answer {
    RawRequest::new(method, path_and_query).answer(server).await
}

/// One `<Version>` or `<DeleteMarker>` of a ListVersionsResult, in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key: String,
    version_id: String,
    delete_marker: bool,
    is_latest: bool,
}

/// The Version and DeleteMarker entries of a ListVersionsResult document, in document order (the
/// SDK splits them into two lists, which hides how they interleave).
fn listed_entries(xml: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut rest = xml;
    loop {
        let version = rest.find("<Version>");
        let marker = rest.find("<DeleteMarker>");
        let (start, delete_marker) = match (version, marker) {
            (Some(v), Some(m)) if m < v => (m, true),
            (Some(v), _) => (v, false),
            (None, Some(m)) => (m, true),
            (None, None) => break,
        };
        let (open, close) = if delete_marker {
            ("<DeleteMarker>", "</DeleteMarker>")
        } else {
            ("<Version>", "</Version>")
        };
        let inner_start = start + open.len();
        let inner_end = inner_start
            + rest[inner_start..]
                .find(close)
                .unwrap_or_else(|| panic!("unclosed {open} in {xml}"));
        let inner = &rest[inner_start..inner_end];
        out.push(Entry {
            key: xml_value(inner, "Key").unwrap_or_else(|| panic!("no Key in {inner}")),
            version_id: xml_value(inner, "VersionId")
                .unwrap_or_else(|| panic!("no VersionId in {inner}")),
            delete_marker,
            is_latest: match xml_value(inner, "IsLatest").as_deref() {
                Some("true") => true,
                Some("false") => false,
                other => panic!("IsLatest {other:?} in {inner}"),
            },
        });
        rest = &rest[inner_end + close.len()..];
    }
    out
}

/// Raw ListObjectVersions (`GET /bucket?versions` + `extra_query`); returns the document and its
/// entries in order.
async fn list_versions_raw(
    server: &Server,
    bucket: &str,
    extra_query: &str,
) -> (String, Vec<Entry>) {
    let answer = raw(server, "GET", &format!("/{bucket}?versions{extra_query}")).await;
    let text = answer.text();
    assert_eq!(
        answer.status, 200,
        "ListObjectVersions {extra_query}: {text}"
    );
    assert!(
        text.contains("<ListVersionsResult"),
        "not a ListVersionsResult: {text}"
    );
    let entries = listed_entries(&text);
    (text, entries)
}

/// What happened to each key, in order: (is a delete marker, version id).
type History = BTreeMap<String, Vec<(bool, String)>>;

/// The listing S3 gives for `history`: keys ascending (byte order), newest version first, the
/// newest one latest.
fn expected_listing(history: &History) -> Vec<Entry> {
    let mut out = Vec::new();
    for (key, writes) in history {
        for (i, (delete_marker, version_id)) in writes.iter().rev().enumerate() {
            out.push(Entry {
                key: key.clone(),
                version_id: version_id.clone(),
                delete_marker: *delete_marker,
                is_latest: i == 0,
            });
        }
    }
    out
}

/// Asserts that ListObjectVersions of `bucket` lists `history` as S3 would (`why` says what the
/// listing shows, where the test says it).
async fn assert_versions(server: &Server, bucket: &str, history: &History, why: Option<&str>) {
    let (_, entries) = list_versions_raw(server, bucket, "").await;
    match why {
        Some(why) => assert_eq!(entries, expected_listing(history), "{why}"),
        None => assert_eq!(entries, expected_listing(history)),
    }
}

/// Appends one write of `key` to `history`.
fn record(history: &mut History, key: &str, delete_marker: bool, version_id: &str) {
    history
        .entry(key.to_string())
        .or_default()
        .push((delete_marker, version_id.to_string()));
}

/// The value of a response header of an SDK error, if any.
fn error_header<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    name: &str,
) -> Option<String> {
    err.raw_response()
        .and_then(|r| r.headers().get(name))
        .map(str::to_string)
}

#[tokio::test]
async fn bucket_versioning_configuration_states() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "vconf").await;

    // A bucket that never had versioning: a VersioningConfiguration without Status.
    let out = client
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketVersioning");
    assert_eq!(out.status(), None, "never-versioned bucket has no Status");
    let answer = raw(&server, "GET", &format!("/{bucket}?versioning")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer.text().contains("<VersioningConfiguration") && !answer.text().contains("<Status>"),
        "{}",
        answer.text()
    );

    for status in [
        BucketVersioningStatus::Enabled,
        BucketVersioningStatus::Suspended,
        BucketVersioningStatus::Enabled,
        BucketVersioningStatus::Suspended,
    ] {
        set_versioning(&client, &bucket, status.clone()).await;
        let out = client
            .get_bucket_versioning()
            .bucket(&bucket)
            .send()
            .await
            .expect("GetBucketVersioning");
        assert_eq!(out.status(), Some(&status));
    }
    let answer = raw(&server, "GET", &format!("/{bucket}?versioning")).await;
    assert_eq!(
        xml_value(&answer.text(), "Status").as_deref(),
        Some("Suspended"),
        "{}",
        answer.text()
    );

    // A status other than Enabled/Suspended is MalformedXML and changes nothing.
    let err = client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::from("Disabled"))
                .build(),
        )
        .send()
        .await
        .expect_err("Status Disabled");
    assert_sdk_error(&err, 400, "MalformedXML");
    let out = client
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketVersioning");
    assert_eq!(out.status(), Some(&BucketVersioningStatus::Suspended));

    // A body that is not XML at all.
    let answer = raw_with_body(
        &server,
        "PUT",
        &format!("/{bucket}?versioning"),
        b"Status=Enabled".to_vec(),
    )
    .await;
    answer.assert_error(400, "MalformedXML");

    let err = client
        .get_bucket_versioning()
        .bucket("no-such-bucket-vconf")
        .send()
        .await
        .expect_err("GetBucketVersioning of a missing bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");
}

async fn raw_with_body(server: &Server, method: &str, path: &str, body: Vec<u8>) -> Answer {
    RawRequest::new(method, path)
        .header("content-md5", &crate::common::md5_base64(&body))
        .body(body)
        .answer(server)
        .await
}

#[tokio::test]
async fn enabled_writes_return_unique_version_ids() {
    let Versioned(server, client, bucket) = Versioned::new("vids").await;
    let mut history = History::new();

    // PUT, twice with identical bytes: each write is a new version.
    let mut ids = Vec::new();
    for body in [&b"same bytes"[..], b"same bytes", b"other bytes"] {
        let id = put_version(&client, &bucket, "k", body).await;
        record(&mut history, "k", false, &id);
        ids.push(id);
    }

    // GET and HEAD without a version id answer the latest version's id.
    let out = get_latest(&client, &bucket, "k").await.expect("GetObject");
    assert_eq!(out.version_id(), Some(ids[2].as_str()));
    let head = head_latest(&client, &bucket, "k")
        .await
        .expect("HeadObject");
    assert_eq!(head.version_id(), Some(ids[2].as_str()));

    // CopyObject creates a version of the target.
    let copied = copy_object(&client, &bucket, "k", "copy", "CopyObject").await;
    let copy_id = copied
        .version_id()
        .expect("CopyObject into a versioned bucket returns x-amz-version-id")
        .to_string();
    assert_eq!(
        copied.copy_source_version_id(),
        Some(ids[2].as_str()),
        "x-amz-copy-source-version-id names the version copied (the latest)"
    );
    record(&mut history, "copy", false, &copy_id);
    ids.push(copy_id.clone());
    let again = copy_object(&client, &bucket, "k", "copy", "CopyObject again").await;
    let copy_id2 = again.version_id().expect("x-amz-version-id").to_string();
    record(&mut history, "copy", false, &copy_id2);
    ids.push(copy_id2);

    // CompleteMultipartUpload creates a version.
    let upload_id = create_upload(&client, &bucket, "mpu").await;
    let etag = upload_part(&client, &bucket, "mpu", &upload_id, 1, b"one small part").await;
    let completed = client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("mpu")
        .upload_id(&upload_id)
        .multipart_upload(completed_parts(&[(1, etag.as_str())]))
        .send()
        .await
        .expect("CompleteMultipartUpload");
    let mpu_id = completed
        .version_id()
        .expect("CompleteMultipartUpload in a versioned bucket returns x-amz-version-id")
        .to_string();
    assert!(!mpu_id.is_empty() && mpu_id != "null");
    record(&mut history, "mpu", false, &mpu_id);
    ids.push(mpu_id.clone());

    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "version ids are unique: {ids:?}");

    // Every version is kept and readable by id.
    assert_eq!(
        get_version(&client, &bucket, "k", &ids[0]).await,
        b"same bytes"
    );
    assert_eq!(
        get_version(&client, &bucket, "k", &ids[1]).await,
        b"same bytes"
    );
    assert_eq!(
        get_version(&client, &bucket, "k", &ids[2]).await,
        b"other bytes"
    );
    assert_eq!(
        get_version(&client, &bucket, "copy", &copy_id).await,
        b"other bytes"
    );
    assert_eq!(
        get_version(&client, &bucket, "mpu", &mpu_id).await,
        b"one small part"
    );
    assert_versions(&server, &bucket, &history, None).await;
}

#[tokio::test]
async fn version_id_selects_version_for_get_head_and_copy() {
    let Versioned(server, client, bucket) = Versioned::new("vsel").await;
    let first = b"the first version".to_vec();
    let second = b"the second version, which is longer".to_vec();
    let v1 = put_version(&client, &bucket, "k", &first).await;
    let v2 = put_version(&client, &bucket, "k", &second).await;

    assert_eq!(get_bytes(&client, &bucket, "k").await, second, "latest");
    assert_eq!(get_version(&client, &bucket, "k", &v1).await, first);
    assert_eq!(get_version(&client, &bucket, "k", &v2).await, second);

    let head = head_by_id(&client, &bucket, "k", &v1)
        .await
        .expect("HeadObject v1");
    assert_eq!(head.version_id(), Some(v1.as_str()));
    assert_eq!(head.content_length(), Some(first.len() as i64));
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", md5_hex(&first)).as_str())
    );

    // The raw headers of a GET by version id.
    let answer = raw(
        &server,
        "GET",
        &format!("/{bucket}/k?versionId={}", uri_encode(&v1, true)),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.body, first);
    assert_eq!(
        answer.header("x-amz-version-id").as_deref(),
        Some(v1.as_str())
    );
    assert_eq!(
        answer.header("etag"),
        Some(format!("\"{}\"", md5_hex(&first)))
    );

    // CopyObject from a given source version.
    let copied = client
        .copy_object()
        .bucket(&bucket)
        .key("copied")
        .copy_source(format!("{bucket}/k?versionId={}", uri_encode(&v1, true)))
        .send()
        .await
        .expect("CopyObject from v1");
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    let copy_id = copied.version_id().expect("x-amz-version-id").to_string();
    assert!(copy_id != v1 && copy_id != v2);
    assert_eq!(get_bytes(&client, &bucket, "copied").await, first);

    // Into another versioned bucket.
    let other = versioned_bucket(&client, "vselto").await;
    let copied = client
        .copy_object()
        .bucket(&other)
        .key("from-v1")
        .copy_source(format!("/{bucket}/k?versionId={}", uri_encode(&v1, true)))
        .send()
        .await
        .expect("CopyObject from v1 across buckets");
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    assert!(copied.version_id().is_some(), "x-amz-version-id");
    assert_eq!(get_bytes(&client, &other, "from-v1").await, first);
}

#[tokio::test]
async fn upload_part_copy_takes_source_version_id() {
    let Versioned(_server, client, bucket) = Versioned::new("vupc").await;
    let first = b"the first version".to_vec();
    let v1 = put_version(&client, &bucket, "k", &first).await;
    put_version(&client, &bucket, "k", b"the second version").await;

    // UploadPartCopy from a given source version.
    let upload_id = create_upload(&client, &bucket, "assembled").await;
    let part = client
        .upload_part_copy()
        .bucket(&bucket)
        .key("assembled")
        .upload_id(&upload_id)
        .part_number(1)
        .copy_source(format!("{bucket}/k?versionId={}", uri_encode(&v1, true)))
        .send()
        .await
        .expect("UploadPartCopy from v1");
    let part_etag = part
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .expect("CopyPartResult ETag")
        .to_string();
    assert_eq!(part_etag, format!("\"{}\"", md5_hex(&first)));
    let completed = client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("assembled")
        .upload_id(&upload_id)
        .multipart_upload(completed_parts(&[(1, part_etag.as_str())]))
        .send()
        .await
        .expect("CompleteMultipartUpload");
    assert!(completed.version_id().is_some(), "x-amz-version-id");
    assert_eq!(get_bytes(&client, &bucket, "assembled").await, first);
    assert_eq!(
        part.copy_source_version_id(),
        Some(v1.as_str()),
        "UploadPartCopy answers x-amz-copy-source-version-id"
    );
}

#[tokio::test]
async fn delete_without_version_id_adds_delete_marker() {
    let Versioned(server, client, bucket) = Versioned::new("vmark").await;
    let body = b"still here underneath".to_vec();
    let v1 = put_version(&client, &bucket, "k", &body).await;

    let m1 = add_delete_marker(&client, &bucket, "k").await;
    assert_ne!(m1, v1);

    // GET/HEAD of a key whose latest version is a marker: 404 NoSuchKey, x-amz-delete-marker.
    assert_deleted(
        &client,
        &bucket,
        "k",
        "GET of a deleted key",
        Some("GetObject: the current version is a delete marker"),
    )
    .await;
    let answer = raw(&server, "HEAD", &format!("/{bucket}/k")).await;
    assert_eq!(answer.status, 404);
    assert!(answer.body.is_empty());
    assert_eq!(
        answer.header("x-amz-delete-marker").as_deref(),
        Some("true")
    );

    // The object is gone from ListObjects, but its versions are all listed.
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    assert!(listed.contents().is_empty(), "{:?}", listed.contents());
    let (_, entries) = list_versions_raw(&server, &bucket, "").await;
    let mut history = History::new();
    record(&mut history, "k", false, &v1);
    record(&mut history, "k", true, &m1);
    assert_eq!(entries, expected_listing(&history));

    // The older version is still readable by id.
    assert_eq!(get_version(&client, &bucket, "k", &v1).await, body);

    // A second simple DELETE adds a second marker.
    let m2 = add_delete_marker(&client, &bucket, "k").await;
    assert!(m2 != m1 && m2 != v1);
    record(&mut history, "k", true, &m2);
    assert_versions(&server, &bucket, &history, None).await;

    // Deleting the newest marker by id: x-amz-delete-marker: true and its id; the older marker is
    // now latest, so the key still reads as deleted.
    let out = delete_by_id(&client, &bucket, "k", &m2)
        .await
        .expect("DELETE marker m2 by id");
    assert_eq!(out.delete_marker(), Some(true));
    assert_eq!(out.version_id(), Some(m2.as_str()));
    assert_deleted(&client, &bucket, "k", "still deleted", None).await;

    // Deleting the remaining marker makes v1 current again.
    let answer = raw(
        &server,
        "DELETE",
        &format!("/{bucket}/k?versionId={}", uri_encode(&m1, true)),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.text());
    assert_eq!(
        answer.header("x-amz-delete-marker").as_deref(),
        Some("true")
    );
    assert_eq!(
        answer.header("x-amz-version-id").as_deref(),
        Some(m1.as_str())
    );
    let out = get_latest(&client, &bucket, "k")
        .await
        .expect("GET after removing the markers");
    assert_eq!(out.version_id(), Some(v1.as_str()));
    let got = out
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec();
    assert_eq!(got, body);
    let (_, entries) = list_versions_raw(&server, &bucket, "").await;
    assert_eq!(
        entries,
        [Entry {
            key: "k".into(),
            version_id: v1,
            delete_marker: false,
            is_latest: true
        }]
    );
}

#[tokio::test]
async fn delete_marker_by_version_id_is_method_not_allowed() {
    let Versioned(server, client, bucket) = Versioned::new("vm405").await;
    put_version(&client, &bucket, "k", b"body").await;
    let marker = add_delete_marker(&client, &bucket, "k").await;
    let query = format!("versionId={}", uri_encode(&marker, true));

    // GetObject/HeadObject: "If the specified version in the request is a delete marker, the
    // response returns a 405 Method Not Allowed error and the Last-Modified: timestamp header."
    let err = get_by_id(&client, &bucket, "k", &marker)
        .await
        .expect_err("GET of a marker by id");
    assert_sdk_error(&err, 405, "MethodNotAllowed");
    assert_eq!(
        error_header(&err, "x-amz-delete-marker").as_deref(),
        Some("true")
    );
    assert!(
        error_header(&err, "last-modified").is_some(),
        "405 on a delete marker carries Last-Modified"
    );
    let answer = raw(&server, "GET", &format!("/{bucket}/k?{query}")).await;
    answer.assert_error(405, "MethodNotAllowed");

    let answer = raw(&server, "HEAD", &format!("/{bucket}/k?{query}")).await;
    assert_eq!(answer.status, 405);
    assert!(answer.body.is_empty(), "HEAD errors have no body");
    assert_eq!(
        answer.header("x-amz-delete-marker").as_deref(),
        Some("true")
    );
    assert!(answer.header("last-modified").is_some(), "Last-Modified");
}

#[tokio::test]
async fn tagging_of_delete_marker() {
    let Versioned(_server, client, bucket) = Versioned::new("vm405tag").await;
    put_version(&client, &bucket, "k", b"body").await;
    let marker = add_delete_marker(&client, &bucket, "k").await;

    // The current version is a marker: 404 NoSuchKey; the marker by id: 405 MethodNotAllowed
    // (as GetObject; scality/cloudserver's versioned-tagging tests, run against AWS, expect both).
    let latest = client
        .get_object_tagging()
        .bucket(&bucket)
        .key("k")
        .send()
        .await;
    let by_id = client
        .get_object_tagging()
        .bucket(&bucket)
        .key("k")
        .version_id(&marker)
        .send()
        .await;
    let outcome = |result: Result<_, _>| match result {
        Ok(out) => format!("200 {out:?}"),
        Err(err) => describe_error(&err),
    };
    let (latest, by_id) = (outcome(latest), outcome(by_id));
    assert!(
        latest.starts_with("404 NoSuchKey") && by_id.starts_with("405 MethodNotAllowed"),
        "GetObjectTagging of a deleted key: {latest}; of its marker by id: {by_id}"
    );
}

#[tokio::test]
async fn copy_from_delete_marker() {
    let Versioned(_server, client, bucket) = Versioned::new("vm405cp").await;
    put_version(&client, &bucket, "k", b"body").await;
    let marker = add_delete_marker(&client, &bucket, "k").await;
    let query = format!("versionId={}", uri_encode(&marker, true));

    // CopyObject: a source whose current version is a marker is NoSuchKey; naming a marker as the
    // source version is a 400 (CopyObject reference), InvalidRequest ("The source of a copy
    // request may not specifically refer to a delete marker by version id"; versitygw#2417).
    let err = client
        .copy_object()
        .bucket(&bucket)
        .key("target")
        .copy_source(format!("{bucket}/k"))
        .send()
        .await
        .expect_err("copy of a deleted key");
    assert_sdk_error(&err, 404, "NoSuchKey");
    let err = client
        .copy_object()
        .bucket(&bucket)
        .key("target")
        .copy_source(format!("{bucket}/k?{query}"))
        .send()
        .await
        .expect_err("copy of a marker by id");
    assert_sdk_error(&err, 400, "InvalidRequest");
}

#[tokio::test]
async fn delete_with_version_id_removes_exactly_that_version() {
    let Versioned(server, client, bucket) = Versioned::new("vdel").await;
    let v1 = put_version(&client, &bucket, "k", b"one").await;
    let v2 = put_version(&client, &bucket, "k", b"two").await;
    let v3 = put_version(&client, &bucket, "k", b"three").await;
    let keep = put_version(&client, &bucket, "other", b"untouched").await;

    // A noncurrent version: 204, its id echoed, no delete marker.
    let answer = raw(
        &server,
        "DELETE",
        &format!("/{bucket}/k?versionId={}", uri_encode(&v2, true)),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.text());
    assert_eq!(
        answer.header("x-amz-version-id").as_deref(),
        Some(v2.as_str())
    );
    assert_ne!(
        answer.header("x-amz-delete-marker").as_deref(),
        Some("true"),
        "the deleted version was not a marker"
    );
    let mut history = History::new();
    record(&mut history, "k", false, &v1);
    record(&mut history, "k", false, &v3);
    record(&mut history, "other", false, &keep);
    let (_, entries) = list_versions_raw(&server, &bucket, "").await;
    assert_eq!(entries, expected_listing(&history), "only v2 is gone");
    assert_eq!(get_bytes(&client, &bucket, "k").await, b"three");
    let err = get_by_id(&client, &bucket, "k", &v2)
        .await
        .expect_err("GET of a deleted version");
    assert_sdk_error(&err, 404, "NoSuchVersion");

    // The current version: the previous one becomes current (no marker is added).
    let out = delete_by_id(&client, &bucket, "k", &v3)
        .await
        .expect("DELETE v3");
    assert_eq!(out.version_id(), Some(v3.as_str()));
    assert_ne!(out.delete_marker(), Some(true));
    let got = get_latest(&client, &bucket, "k")
        .await
        .expect("GET after deleting the current version");
    assert_eq!(got.version_id(), Some(v1.as_str()));
    assert_eq!(
        got.body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .as_ref(),
        b"one"
    );
    let mut history = History::new();
    record(&mut history, "k", false, &v1);
    record(&mut history, "other", false, &keep);
    assert_versions(&server, &bucket, &history, None).await;

    // The last version: the key is gone for good, with no delete marker.
    delete_by_id(&client, &bucket, "k", &v1)
        .await
        .expect("DELETE v1");
    let err = get_latest(&client, &bucket, "k")
        .await
        .expect_err("GET of a key with no versions");
    assert_sdk_error(&err, 404, "NoSuchKey");
    assert_eq!(
        error_header(&err, "x-amz-delete-marker"),
        None,
        "no marker: the key has no versions at all"
    );
    let (_, entries) = list_versions_raw(&server, &bucket, "").await;
    assert_eq!(
        entries,
        [Entry {
            key: "other".into(),
            version_id: keep,
            delete_marker: false,
            is_latest: true
        }]
    );

    // A well-formed id that names no version: S3 answers 204 (DELETE is idempotent).
    let answer = raw(
        &server,
        "DELETE",
        &format!("/{bucket}/k?versionId={}", uri_encode(&v2, true)),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.text());
}

#[tokio::test]
async fn unknown_version_is_no_such_version_and_malformed_is_invalid_argument() {
    let Versioned(server, client, bucket) = Versioned::new("vunk").await;
    let other_bucket = versioned_bucket(&client, "vunk2").await;
    let v1 = put_version(&client, &bucket, "k", b"mine").await;
    let other_key_id = put_version(&client, &bucket, "other", b"other key").await;
    let other_bucket_id = put_version(&client, &other_bucket, "k", b"other bucket").await;

    // Real ids, but not of this key: 404 NoSuchVersion.
    for id in [&other_key_id, &other_bucket_id] {
        let err = get_by_id(&client, &bucket, "k", id)
            .await
            .expect_err("GET of an unknown version");
        assert_sdk_error(&err, 404, "NoSuchVersion");
        let path = format!("/{bucket}/k?versionId={}", uri_encode(id, true));
        let answer = raw(&server, "GET", &path).await;
        let text = answer.assert_error(404, "NoSuchVersion");
        assert_eq!(
            xml_value(&text, "VersionId").as_deref(),
            Some(id.as_str()),
            "NoSuchVersion names the version: {text}"
        );
        let answer = raw(&server, "HEAD", &path).await;
        assert_eq!(answer.status, 404);
        assert!(answer.body.is_empty());
        // DELETE of an unknown version is 204 and deletes nothing.
        let answer = raw(&server, "DELETE", &path).await;
        assert_eq!(answer.status, 204, "{}", answer.text());
    }
    assert_eq!(get_version(&client, &bucket, "k", &v1).await, b"mine");
    assert_eq!(
        get_version(&client, &bucket, "other", &other_key_id).await,
        b"other key"
    );
    assert_eq!(
        get_version(&client, &other_bucket, "k", &other_bucket_id).await,
        b"other bucket"
    );

    // Ids S3 cannot parse: 400 InvalidArgument.
    let path = format!("/{bucket}/k?versionId={MALFORMED_VERSION_ID}");
    raw(&server, "GET", &path)
        .await
        .assert_error(400, "InvalidArgument");
    let answer = raw(&server, "HEAD", &path).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.is_empty());
    raw(&server, "DELETE", &path)
        .await
        .assert_error(400, "InvalidArgument");
    let err = get_by_id(&client, &bucket, "k", MALFORMED_VERSION_ID)
        .await
        .expect_err("GET of a malformed version id");
    assert_sdk_error(&err, 400, "InvalidArgument");
    let err = client
        .get_object_tagging()
        .bucket(&bucket)
        .key("k")
        .version_id(MALFORMED_VERSION_ID)
        .send()
        .await
        .expect_err("GetObjectTagging of a malformed version id");
    assert_sdk_error(&err, 400, "InvalidArgument");
    // An empty versionId: "Version id cannot be the empty string".
    raw(&server, "GET", &format!("/{bucket}/k?versionId="))
        .await
        .assert_error(400, "InvalidArgument");
    // Nothing was deleted.
    assert_eq!(get_bytes(&client, &bucket, "k").await, b"mine");
}

#[tokio::test]
async fn null_version_answers_version_id_null() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "vnullid").await;
    put(&client, &bucket, "k", b"written before versioning").await;
    set_versioning(&client, &bucket, BucketVersioningStatus::Enabled).await;

    // Once the bucket has a versioning configuration, the null version is reported as `null`
    // (GET/HEAD x-amz-version-id, GetObjectTagging's version id), as scality/cloudserver's
    // AWS-backed tests expect.
    let by_id = get_by_id(&client, &bucket, "k", "null")
        .await
        .expect("GetObject ?versionId=null");
    let by_id_version = by_id.version_id().map(str::to_string);
    let got = by_id
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec();
    assert_eq!(got, b"written before versioning");
    let latest = get_latest(&client, &bucket, "k")
        .await
        .expect("GetObject of the current null version");
    let head = head_by_id(&client, &bucket, "k", "null")
        .await
        .expect("HeadObject ?versionId=null");
    let tags = client
        .get_object_tagging()
        .bucket(&bucket)
        .key("k")
        .version_id("null")
        .send()
        .await
        .expect("GetObjectTagging ?versionId=null");
    assert_eq!(
        (
            by_id_version.as_deref(),
            latest.version_id(),
            head.version_id(),
            tags.version_id()
        ),
        (Some("null"), Some("null"), Some("null"), Some("null")),
        "(GET ?versionId=null, GET, HEAD ?versionId=null, GetObjectTagging ?versionId=null)"
    );
}

/// (`suspended_versioning_null_version_semantics`) An object written before versioning was ever
/// enabled is the `null` version, and stays one once versioning is enabled and versions are
/// added; the ids of the new versions of `pre` and `k`.
async fn null_version_outlives_enabling(
    server: &Server,
    client: &Client,
    bucket: &str,
) -> (String, String) {
    // Before versioning was ever enabled: no x-amz-version-id, and the version id is `null`.
    let out = client
        .put_object()
        .bucket(bucket)
        .key("pre")
        .body(b"written before versioning".to_vec().into())
        .send()
        .await
        .expect("PutObject");
    assert_eq!(out.version_id(), None, "unversioned bucket: no version id");
    let (_, entries) = list_versions_raw(server, bucket, "").await;
    assert_eq!(
        entries,
        [Entry {
            key: "pre".into(),
            version_id: "null".into(),
            delete_marker: false,
            is_latest: true
        }]
    );

    set_versioning(client, bucket, BucketVersioningStatus::Enabled).await;
    let (_, entries) = list_versions_raw(server, bucket, "").await;
    assert_eq!(entries[0].version_id, "null", "still the null version");
    assert_eq!(
        null_version_body(client, bucket, "pre").await,
        b"written before versioning"
    );
    let pre_v1 = put_version(client, bucket, "pre", b"pre, enabled").await;
    let k_v1 = put_version(client, bucket, "k", b"k, enabled").await;
    let mut history = History::new();
    record(&mut history, "pre", false, "null");
    record(&mut history, "pre", false, &pre_v1);
    record(&mut history, "k", false, &k_v1);
    assert_versions(server, bucket, &history, None).await;
    assert_eq!(
        null_version_body(client, bucket, "pre").await,
        b"written before versioning",
        "the null version stays when a new version is added"
    );

    (pre_v1, k_v1)
}

/// The versions `suspended_versioning_null_version_semantics` leaves once both keys have a null
/// entry on top of their Enabled-era versions (`pre_v1`, `k_v1`); `k`'s null entry is a delete
/// marker when `k_marker` says so.
fn suspended_history(pre_v1: &str, k_v1: &str, k_marker: bool) -> History {
    let mut history = History::new();
    record(&mut history, "pre", false, pre_v1);
    record(&mut history, "pre", false, "null");
    record(&mut history, "k", false, k_v1);
    record(&mut history, "k", k_marker, "null");
    history
}

/// (`suspended_versioning_null_version_semantics`) In a suspended bucket a PUT writes the null
/// version, replacing any, and the Enabled-era versions stay.
async fn suspended_put_replaces_the_null_version(
    server: &Server,
    client: &Client,
    bucket: &str,
    pre_v1: &str,
    k_v1: &str,
) {
    // Suspended PUT: writes the null version (replacing any), older versions stay.
    put(client, bucket, "pre", b"pre, suspended").await;
    put(client, bucket, "k", b"k, suspended 1").await;
    put(client, bucket, "k", b"k, suspended 2").await;
    let history = suspended_history(pre_v1, k_v1, false);
    assert_versions(
        server,
        bucket,
        &history,
        Some("one null version per key, latest; the Enabled-era versions stay"),
    )
    .await;
    assert_eq!(get_bytes(client, bucket, "k").await, b"k, suspended 2");
    assert_eq!(
        null_version_body(client, bucket, "k").await,
        b"k, suspended 2"
    );
    assert_eq!(
        null_version_body(client, bucket, "pre").await,
        b"pre, suspended",
        "the pre-versioning null version was replaced"
    );
    assert_eq!(get_version(client, bucket, "k", k_v1).await, b"k, enabled");
    assert_eq!(
        get_version(client, bucket, "pre", pre_v1).await,
        b"pre, enabled"
    );
}

/// (`suspended_versioning_null_version_semantics`) In a suspended bucket a DELETE replaces the
/// null version with a null delete marker, and a second one leaves exactly one null entry.
async fn suspended_delete_leaves_one_null_marker(
    server: &Server,
    client: &Client,
    bucket: &str,
    pre_v1: &str,
    k_v1: &str,
) {
    // Suspended DELETE: removes the null version and adds a null delete marker.
    let out = delete_latest(client, bucket, "k")
        .await
        .expect("DELETE in a suspended bucket");
    assert_eq!(out.delete_marker(), Some(true));
    let history = suspended_history(pre_v1, k_v1, true);
    assert_versions(
        server,
        bucket,
        &history,
        Some("the null version became a null delete marker"),
    )
    .await;
    assert_deleted(
        client,
        bucket,
        "k",
        "GET of a key whose latest is the null marker",
        None,
    )
    .await;
    let err = get_by_id(client, bucket, "k", "null")
        .await
        .expect_err("GET of the null marker by id");
    assert_sdk_error(&err, 405, "MethodNotAllowed");
    assert_eq!(get_version(client, bucket, "k", k_v1).await, b"k, enabled");

    // A second suspended DELETE replaces the null marker: still exactly one null entry.
    delete_latest(client, bucket, "k")
        .await
        .expect("DELETE again");
    assert_versions(server, bucket, &history, None).await;
}

#[tokio::test]
async fn suspended_versioning_null_version_semantics() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "vnull").await;

    let (pre_v1, k_v1) = null_version_outlives_enabling(&server, &client, &bucket).await;
    set_versioning(&client, &bucket, BucketVersioningStatus::Suspended).await;
    suspended_put_replaces_the_null_version(&server, &client, &bucket, &pre_v1, &k_v1).await;
    suspended_delete_leaves_one_null_marker(&server, &client, &bucket, &pre_v1, &k_v1).await;

    // A suspended PUT over the null marker replaces it with a null version.
    put(&client, &bucket, "k", b"k, back").await;
    let history = suspended_history(&pre_v1, &k_v1, false);
    assert_versions(&server, &bucket, &history, None).await;
    assert_eq!(get_bytes(&client, &bucket, "k").await, b"k, back");

    // Deleting a version by id works while suspended.
    delete_by_id(&client, &bucket, "pre", &pre_v1)
        .await
        .expect("DELETE pre v1 by id");
    let mut history = History::new();
    record(&mut history, "pre", false, "null");
    record(&mut history, "k", false, &k_v1);
    record(&mut history, "k", false, "null");
    assert_versions(&server, &bucket, &history, None).await;

    // Enabled again: new ids, the null version stays as an older version.
    set_versioning(&client, &bucket, BucketVersioningStatus::Enabled).await;
    let k_v2 = put_version(&client, &bucket, "k", b"k, enabled again").await;
    record(&mut history, "k", false, &k_v2);
    assert_versions(&server, &bucket, &history, None).await;
    assert_eq!(null_version_body(&client, &bucket, "k").await, b"k, back");
}

/// ListObjectVersions of `bucket` through the SDK, with the parameters `with` sets; `what` names
/// the request in a failure.
async fn list_versions(
    client: &Client,
    bucket: &str,
    with: impl FnOnce(ListObjectVersionsFluentBuilder) -> ListObjectVersionsFluentBuilder,
    what: &str,
) -> ListObjectVersionsOutput {
    with(client.list_object_versions().bucket(bucket))
        .send()
        .await
        .expect(what)
}

/// The entries of `all` that `keep` keeps, in order.
fn entries_where(all: &[Entry], keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
    all.iter().filter(|e| keep(e)).cloned().collect()
}

/// Checks each version and delete marker of an SDK listing of [`listing_fixture`] against what
/// was written (`all`): size, ETag and storage class of the bodies, IsLatest, LastModified.
fn assert_listed_fields(out: &ListObjectVersionsOutput, all: &[Entry]) {
    for version in out.versions() {
        let key = version.key().expect("Key");
        let body = format!("body of {key}");
        assert_eq!(version.size(), Some(body.len() as i64), "{key}");
        assert_eq!(
            version.e_tag(),
            Some(format!("\"{}\"", md5_hex(body.as_bytes())).as_str())
        );
        assert!(version.last_modified().is_some(), "LastModified");
        assert_eq!(
            version.storage_class().map(|s| s.as_str()),
            Some("STANDARD")
        );
        let entry = all
            .iter()
            .find(|e| e.version_id == version.version_id().expect("VersionId"))
            .expect("listed version was written");
        assert_eq!(version.is_latest(), Some(entry.is_latest));
    }
    for marker in out.delete_markers() {
        let entry = all
            .iter()
            .find(|e| e.version_id == marker.version_id().expect("VersionId"))
            .expect("listed marker was written");
        assert!(entry.delete_marker);
        assert_eq!(marker.key(), Some(entry.key.as_str()));
        assert_eq!(marker.is_latest(), Some(entry.is_latest));
        assert!(marker.last_modified().is_some(), "LastModified");
    }
}

/// Keys and versions for the listing tests: versions and markers interleave within keys.
async fn listing_fixture(client: &Client, bucket: &str) -> History {
    let mut history = History::new();
    for (key, delete) in [
        ("c", false),
        ("a", false),
        ("b/1", false),
        ("c", true),
        ("a", false),
        ("b/2", false),
        ("b/1", true),
        ("c", false),
    ] {
        if delete {
            let id = add_delete_marker(client, bucket, key).await;
            record(&mut history, key, true, &id);
        } else {
            let id = put_version(client, bucket, key, format!("body of {key}").as_bytes()).await;
            record(&mut history, key, false, &id);
        }
    }
    history
}

#[tokio::test]
async fn list_object_versions_order_fields_and_filters() {
    let Versioned(server, client, bucket) = Versioned::new("vlist").await;
    let history = listing_fixture(&client, &bucket).await;
    let all = expected_listing(&history);

    // Document order: key ascending, newest first; versions and markers interleaved.
    let (text, entries) = list_versions_raw(&server, &bucket, "").await;
    assert_eq!(entries, all, "{text}");
    assert_eq!(xml_value(&text, "IsTruncated").as_deref(), Some("false"));
    assert_eq!(xml_value(&text, "MaxKeys").as_deref(), Some("1000"));
    assert_eq!(xml_value(&text, "Name").as_deref(), Some(bucket.as_str()));
    assert_eq!(xml_value(&text, "NextKeyMarker"), None, "not truncated");
    assert_eq!(xml_value(&text, "NextVersionIdMarker"), None);

    // The fields of each entry, through the SDK.
    let out = list_versions(&client, &bucket, |r| r, "ListObjectVersions").await;
    assert_eq!(out.name(), Some(bucket.as_str()));
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(
        out.versions().len(),
        all.iter().filter(|e| !e.delete_marker).count()
    );
    assert_eq!(
        out.delete_markers().len(),
        all.iter().filter(|e| e.delete_marker).count()
    );
    assert_listed_fields(&out, &all);

    // prefix
    let (text, entries) = list_versions_raw(&server, &bucket, "&prefix=b%2F").await;
    let want = entries_where(&all, |e| e.key.starts_with("b/"));
    assert_eq!(entries, want, "{text}");
    let out = list_versions(&client, &bucket, |r| r.prefix("b/"), "prefix").await;
    assert_eq!(out.prefix(), Some("b/"));

    // delimiter: b/1 and b/2 roll up into one CommonPrefix.
    let out = list_versions(&client, &bucket, |r| r.delimiter("/"), "delimiter").await;
    assert_eq!(out.delimiter(), Some("/"));
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["b/"]);
    let (text, entries) = list_versions_raw(&server, &bucket, "&delimiter=%2F").await;
    let want = entries_where(&all, |e| !e.key.contains('/'));
    assert_eq!(entries, want, "{text}");

    // prefix + delimiter: nothing below b/ has another slash.
    let out = list_versions(
        &client,
        &bucket,
        |r| r.prefix("b/").delimiter("/"),
        "prefix + delimiter",
    )
    .await;
    assert!(out.common_prefixes().is_empty());
    assert_eq!(out.versions().len() + out.delete_markers().len(), 3);

    // An unversioned bucket lists its objects as `null` versions.
    let plain = create_bucket(&client, "vlistplain").await;
    put(&client, &plain, "x", b"x").await;
    put(&client, &plain, "y", b"y").await;
    let (_, entries) = list_versions_raw(&server, &plain, "").await;
    let want: Vec<Entry> = ["x", "y"]
        .iter()
        .map(|k| Entry {
            key: k.to_string(),
            version_id: "null".into(),
            delete_marker: false,
            is_latest: true,
        })
        .collect();
    assert_eq!(entries, want);
}

#[tokio::test]
async fn list_object_versions_markers_and_max_keys() {
    let Versioned(server, client, bucket) = Versioned::new("vmarkers").await;
    let history = listing_fixture(&client, &bucket).await;
    let all = expected_listing(&history);
    let position = |key: &str, version_id: &str| {
        all.iter()
            .position(|e| e.key == key && e.version_id == version_id)
            .expect("entry")
    };

    // max-keys: a truncated page whose Next* markers name its last entry.
    let (text, entries) = list_versions_raw(&server, &bucket, "&max-keys=3").await;
    assert_eq!(entries, all[..3], "{text}");
    assert_eq!(xml_value(&text, "IsTruncated").as_deref(), Some("true"));
    assert_eq!(xml_value(&text, "MaxKeys").as_deref(), Some("3"));
    assert_eq!(
        xml_value(&text, "NextKeyMarker").as_deref(),
        Some(all[2].key.as_str())
    );
    assert_eq!(
        xml_value(&text, "NextVersionIdMarker").as_deref(),
        Some(all[2].version_id.as_str())
    );

    // key-marker alone: listing starts after every version of that key.
    let (text, entries) = list_versions_raw(&server, &bucket, "&key-marker=b%2F1").await;
    let want = entries_where(&all, |e| e.key.as_str() > "b/1");
    assert_eq!(entries, want, "{text}");
    assert_eq!(xml_value(&text, "KeyMarker").as_deref(), Some("b/1"));

    // key-marker + version-id-marker: listing starts after that version.
    for entry in &all {
        let query = format!(
            "&key-marker={}&version-id-marker={}",
            uri_encode(&entry.key, true),
            uri_encode(&entry.version_id, true)
        );
        let (text, entries) = list_versions_raw(&server, &bucket, &query).await;
        let from = position(&entry.key, &entry.version_id) + 1;
        assert_eq!(entries, all[from..], "after {entry:?}: {text}");
        assert_eq!(
            xml_value(&text, "VersionIdMarker").as_deref(),
            Some(entry.version_id.as_str())
        );
    }

    // Every page size walks the whole listing once, in order, following the Next* markers.
    for max_keys in 1..=all.len() + 1 {
        let mut seen: Vec<Entry> = Vec::new();
        let mut markers: Option<(String, String)> = None;
        for _page in 0..=all.len() {
            let mut query = format!("&max-keys={max_keys}");
            if let Some((key, version_id)) = &markers {
                query.push_str(&format!(
                    "&key-marker={}&version-id-marker={}",
                    uri_encode(key, true),
                    uri_encode(version_id, true)
                ));
            }
            let (text, entries) = list_versions_raw(&server, &bucket, &query).await;
            assert!(entries.len() <= max_keys, "max-keys {max_keys}: {text}");
            seen.extend(entries);
            if xml_value(&text, "IsTruncated").as_deref() != Some("true") {
                markers = None;
                break;
            }
            let last = seen.last().expect("a truncated page lists something");
            assert_eq!(xml_value(&text, "NextKeyMarker").as_ref(), Some(&last.key));
            assert_eq!(
                xml_value(&text, "NextVersionIdMarker").as_ref(),
                Some(&last.version_id)
            );
            markers = Some((last.key.clone(), last.version_id.clone()));
        }
        assert!(
            markers.is_none(),
            "max-keys {max_keys}: listing never ended"
        );
        assert_eq!(seen, all, "max-keys {max_keys}");
    }
}

/// Writes the versions of `list_object_versions_paginates_1500_versions`: three of `alpha`,
/// 1500 of `big` (one in 300 a delete marker), a version and a marker of `zulu`.
async fn write_1505_versions(client: &Client, bucket: &str) -> History {
    let mut history = History::new();
    for key in ["alpha", "alpha", "alpha"] {
        let id = put_version(client, bucket, key, b"a").await;
        record(&mut history, key, false, &id);
    }
    // 1500 versions of one key, one in 300 of them a delete marker.
    for i in 0..1500 {
        if i % 300 == 299 {
            let id = add_delete_marker(client, bucket, "big").await;
            record(&mut history, "big", true, &id);
        } else {
            let id = put_version(client, bucket, "big", format!("{i}").as_bytes()).await;
            record(&mut history, "big", false, &id);
        }
    }
    let id = put_version(client, bucket, "zulu", b"z").await;
    record(&mut history, "zulu", false, &id);
    let id = add_delete_marker(client, bucket, "zulu").await;
    record(&mut history, "zulu", true, &id);
    history
}

/// Pages through ListObjectVersions of `bucket` (raw, `max-keys` when given, else the default
/// 1000), following NextKeyMarker and NextVersionIdMarker and checking each page; `total` is the
/// number of entries there are. The entries seen, and the number of pages.
async fn page_versions_raw(
    server: &Server,
    bucket: &str,
    max_keys: Option<usize>,
    total: usize,
) -> (Vec<Entry>, usize) {
    let page_size = max_keys.unwrap_or(1000);
    let mut seen: Vec<Entry> = Vec::new();
    let mut markers: Option<(String, String)> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= total, "listing never ends");
        let mut query = max_keys
            .map(|n| format!("&max-keys={n}"))
            .unwrap_or_default();
        if let Some((key, version_id)) = &markers {
            query.push_str(&format!(
                "&key-marker={}&version-id-marker={}",
                uri_encode(key, true),
                uri_encode(version_id, true)
            ));
        }
        let (text, entries) = list_versions_raw(server, bucket, &query).await;
        let truncated = xml_value(&text, "IsTruncated").as_deref() == Some("true");
        if truncated {
            assert_eq!(entries.len(), page_size, "a truncated page is full");
        } else {
            assert!(entries.len() <= page_size);
        }
        seen.extend(entries);
        if !truncated {
            break;
        }
        let last = seen.last().expect("entries");
        assert_eq!(xml_value(&text, "NextKeyMarker").as_ref(), Some(&last.key));
        assert_eq!(
            xml_value(&text, "NextVersionIdMarker").as_ref(),
            Some(&last.version_id)
        );
        markers = Some((last.key.clone(), last.version_id.clone()));
    }
    (seen, pages)
}

/// An SDK-listed version or delete marker: (key, version id, IsLatest).
type Listed = (String, String, bool);

/// Pages through ListObjectVersions of `bucket` with the SDK, 100 at a time, following the
/// markers as a client does (aws-sdk-s3 has no paginator for it) and checking each page. The
/// versions and the delete markers, each in listed order, and the number of pages.
async fn page_versions_sdk(client: &Client, bucket: &str) -> (Vec<Listed>, Vec<Listed>, usize) {
    let mut versions: Vec<(String, String, bool)> = Vec::new();
    let mut markers: Vec<(String, String, bool)> = Vec::new();
    let mut next: Option<(String, String)> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 100, "listing never ends");
        let mut request = client.list_object_versions().bucket(bucket).max_keys(100);
        if let Some((key, version_id)) = &next {
            request = request.key_marker(key).version_id_marker(version_id);
        }
        let out = request.send().await.expect("ListObjectVersions page");
        assert_eq!(out.max_keys(), Some(100));
        assert!(out.versions().len() + out.delete_markers().len() <= 100);
        for v in out.versions() {
            versions.push((
                v.key().expect("Key").to_string(),
                v.version_id().expect("VersionId").to_string(),
                v.is_latest().expect("IsLatest"),
            ));
        }
        for m in out.delete_markers() {
            markers.push((
                m.key().expect("Key").to_string(),
                m.version_id().expect("VersionId").to_string(),
                m.is_latest().expect("IsLatest"),
            ));
        }
        if out.is_truncated() != Some(true) {
            assert_eq!(out.next_key_marker(), None);
            break;
        }
        next = Some((
            out.next_key_marker().expect("NextKeyMarker").to_string(),
            out.next_version_id_marker()
                .expect("NextVersionIdMarker")
                .to_string(),
        ));
    }
    (versions, markers, pages)
}

#[tokio::test]
async fn list_object_versions_paginates_1500_versions() {
    let Versioned(server, client, bucket) = Versioned::new("vmany").await;
    let history = write_1505_versions(&client, &bucket).await;
    let all = expected_listing(&history);
    assert_eq!(all.len(), 1505);

    // Raw pages of 7 and of the default 1000, following NextKeyMarker/NextVersionIdMarker.
    for max_keys in [Some(7usize), None] {
        let page_size = max_keys.unwrap_or(1000);
        let (seen, pages) = page_versions_raw(&server, &bucket, max_keys, all.len()).await;
        assert_eq!(pages, all.len().div_ceil(page_size), "page count");
        assert_eq!(seen.len(), all.len(), "max-keys {max_keys:?}");
        assert!(
            seen == all,
            "max-keys {max_keys:?}: pages differ from the full order"
        );
    }

    // The SDK, pages of 100 (aws-sdk-s3 has no paginator for ListObjectVersions: follow the
    // markers as a client does). Versions and markers each keep their relative order.
    let (versions, markers, pages) = page_versions_sdk(&client, &bucket).await;
    assert_eq!(pages, 16);
    let want = |marker: bool| -> Vec<(String, String, bool)> {
        all.iter()
            .filter(|e| e.delete_marker == marker)
            .map(|e| (e.key.clone(), e.version_id.clone(), e.is_latest))
            .collect()
    };
    assert!(versions == want(false), "SDK pages: versions differ");
    assert!(markers == want(true), "SDK pages: delete markers differ");
}

/// Writes the keys of `list_objects_show_only_current_versions`: k0..k9, the odd ones ending
/// deleted (a marker is latest), the even ones with two versions; and `restored`, deleted and
/// restored by removing its marker.
async fn write_current_and_deleted_keys(client: &Client, bucket: &str) {
    // k0..k9: odd keys end deleted (a marker is latest), even keys have two versions.
    for i in 0..10 {
        let key = format!("k{i}");
        put_version(client, bucket, &key, format!("{key} old").as_bytes()).await;
        if i % 2 == 1 {
            add_delete_marker(client, bucket, &key).await;
        } else {
            put_version(client, bucket, &key, format!("{key} current").as_bytes()).await;
        }
    }
    // A key deleted and then restored by removing its marker.
    put_version(client, bucket, "restored", b"restored").await;
    let marker = add_delete_marker(client, bucket, "restored").await;
    delete_by_id(client, bucket, "restored", &marker)
        .await
        .expect("DELETE marker");
}

/// The keys of `bucket` through the ListObjectsV2 paginator, two a page.
async fn page_keys_v2_by_two(client: &Client, bucket: &str) -> Vec<String> {
    let mut paginated = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .max_keys(2)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListObjectsV2 page");
        assert!(page.contents().len() <= 2);
        paginated.extend(
            page.contents()
                .iter()
                .map(|o| o.key().expect("Key").to_string()),
        );
    }
    paginated
}

/// The keys of `bucket` through ListObjects (V1), two a page, following NextMarker (or the last
/// key) for at most 20 pages; and the marker left when the listing did not end.
async fn page_keys_v1_by_two(client: &Client, bucket: &str) -> (Vec<String>, Option<String>) {
    let mut v1_keys: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..20 {
        let mut request = client.list_objects().bucket(bucket).max_keys(2);
        if let Some(m) = &marker {
            request = request.marker(m);
        }
        let out = request.send().await.expect("ListObjects page");
        v1_keys.extend(
            out.contents()
                .iter()
                .map(|o| o.key().expect("Key").to_string()),
        );
        if out.is_truncated() != Some(true) {
            marker = None;
            break;
        }
        marker = out
            .next_marker()
            .map(str::to_string)
            .or_else(|| v1_keys.last().cloned());
    }
    (v1_keys, marker)
}

#[tokio::test]
async fn list_objects_show_only_current_versions() {
    let Versioned(_server, client, bucket) = Versioned::new("vcur").await;
    write_current_and_deleted_keys(&client, &bucket).await;
    let want: Vec<String> = ["k0", "k2", "k4", "k6", "k8", "restored"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let body_of = |key: &str| {
        if key == "restored" {
            b"restored".to_vec()
        } else {
            format!("{key} current").into_bytes()
        }
    };

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<String> = out
        .contents()
        .iter()
        .map(|o| o.key().expect("Key").to_string())
        .collect();
    assert_eq!(keys, want);
    assert_eq!(out.key_count(), Some(want.len() as i32));
    for object in out.contents() {
        let key = object.key().expect("Key");
        let body = body_of(key);
        assert_eq!(
            object.size(),
            Some(body.len() as i64),
            "{key}: current size"
        );
        assert_eq!(
            object.e_tag(),
            Some(format!("\"{}\"", md5_hex(&body)).as_str()),
            "{key}: current ETag"
        );
    }

    let out = client
        .list_objects()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjects");
    let keys: Vec<String> = out
        .contents()
        .iter()
        .map(|o| o.key().expect("Key").to_string())
        .collect();
    assert_eq!(keys, want, "ListObjects V1");

    // Pages of two: deleted keys never show, nor break the pagination.
    let paginated = page_keys_v2_by_two(&client, &bucket).await;
    assert_eq!(paginated, want, "ListObjectsV2 paginator");

    let (v1_keys, marker) = page_keys_v1_by_two(&client, &bucket).await;
    assert!(marker.is_none(), "ListObjects V1 never ended");
    assert_eq!(v1_keys, want, "ListObjects V1 pages");
}

#[tokio::test]
async fn delete_objects_with_version_ids() {
    let Versioned(server, client, bucket) = Versioned::new("vmulti").await;
    let other = versioned_bucket(&client, "vmulti2").await;
    let k1_v1 = put_version(&client, &bucket, "k1", b"k1 one").await;
    let k1_v2 = put_version(&client, &bucket, "k1", b"k1 two").await;
    let k2_v1 = put_version(&client, &bucket, "k2", b"k2 one").await;
    let k3_v1 = put_version(&client, &bucket, "k3", b"k3 one").await;
    let k3_marker = add_delete_marker(&client, &bucket, "k3").await;
    let foreign = put_version(&client, &other, "k4", b"elsewhere").await;

    let object = |key: &str, version_id: Option<&str>| {
        ObjectIdentifier::builder()
            .key(key)
            .set_version_id(version_id.map(str::to_string))
            .build()
            .expect("ObjectIdentifier")
    };
    let out = client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(vec![
                    object("k1", Some(&k1_v1)),
                    object("k3", Some(&k3_marker)),
                    object("k2", None),
                    object("k4", Some(&foreign)),
                ]))
                .build()
                .expect("Delete"),
        )
        .send()
        .await
        .expect("DeleteObjects");
    assert!(out.errors().is_empty(), "errors: {:?}", out.errors());
    let deleted = |key: &str| {
        out.deleted()
            .iter()
            .find(|d| d.key() == Some(key))
            .unwrap_or_else(|| panic!("no Deleted entry for {key}: {:?}", out.deleted()))
    };
    assert_eq!(out.deleted().len(), 4, "{:?}", out.deleted());

    // A version: Deleted carries its VersionId, and it was no delete marker.
    let d = deleted("k1");
    assert_eq!(d.version_id(), Some(k1_v1.as_str()));
    assert_ne!(d.delete_marker(), Some(true));

    // A delete marker by id: DeleteMarker true; DeleteMarkerVersionId is the version deleted.
    // (DeleteMarkerVersionId is checked last, so that the rest of the test still runs.)
    let d = deleted("k3");
    assert_eq!(d.version_id(), Some(k3_marker.as_str()));
    assert_eq!(d.delete_marker(), Some(true));
    let k3_marker_version_id = d.delete_marker_version_id().map(str::to_string);

    // No version id in a versioned bucket: a marker is created and reported.
    let d = deleted("k2");
    assert_eq!(d.delete_marker(), Some(true));
    let k2_marker = d
        .delete_marker_version_id()
        .expect("DeleteMarkerVersionId of the new marker")
        .to_string();
    assert!(k2_marker != k2_v1 && !k2_marker.is_empty() && k2_marker != "null");

    // A version id that names no version of this key (it is another bucket's): reported deleted.
    assert_eq!(deleted("k4").version_id(), Some(foreign.as_str()));

    let mut history = History::new();
    record(&mut history, "k1", false, &k1_v2);
    record(&mut history, "k2", false, &k2_v1);
    record(&mut history, "k2", true, &k2_marker);
    record(&mut history, "k3", false, &k3_v1);
    assert_versions(&server, &bucket, &history, None).await;
    assert_eq!(get_bytes(&client, &bucket, "k1").await, b"k1 two");
    assert_eq!(
        get_bytes(&client, &bucket, "k3").await,
        b"k3 one",
        "removing the marker restored k3"
    );
    let err = get_latest(&client, &bucket, "k2")
        .await
        .expect_err("k2 is deleted");
    assert_sdk_error(&err, 404, "NoSuchKey");
    assert_eq!(
        get_version(&client, &other, "k4", &foreign).await,
        b"elsewhere"
    );

    assert_eq!(
        k3_marker_version_id.as_deref(),
        Some(k3_marker.as_str()),
        "deleting a marker by id: DeleteMarkerVersionId is the id of the marker deleted"
    );
}

#[tokio::test]
async fn delete_objects_with_malformed_version_id() {
    let Versioned(_server, client, bucket) = Versioned::new("vmultibad").await;
    put_version(&client, &bucket, "k1", b"k1 one").await;
    let k1_v2 = put_version(&client, &bucket, "k1", b"k1 two").await;
    let object = |key: &str, version_id: &str| {
        ObjectIdentifier::builder()
            .key(key)
            .version_id(version_id)
            .build()
            .expect("ObjectIdentifier")
    };
    let out = client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(vec![
                    object("k1", MALFORMED_VERSION_ID),
                    object("k1", &k1_v2),
                ]))
                .build()
                .expect("Delete"),
        )
        .send()
        .await
        .expect("DeleteObjects with a malformed id");
    // The well-formed entry is deleted whatever happens to the other one.
    assert_eq!(out.deleted().len(), 1, "{:?}", out.deleted());
    assert_eq!(out.deleted()[0].version_id(), Some(k1_v2.as_str()));
    assert_eq!(get_bytes(&client, &bucket, "k1").await, b"k1 one");
    // A version id S3 cannot parse is a per-key Error; S3 reports it as NoSuchVersion with the
    // VersionId echoed (a captured S3 answer: versity/versitygw#2119).
    assert_eq!(out.errors().len(), 1, "{:?}", out.errors());
    let error = &out.errors()[0];
    assert_eq!(
        (error.key(), error.version_id(), error.code()),
        (
            Some("k1"),
            Some(MALFORMED_VERSION_ID),
            Some("NoSuchVersion")
        )
    );
}

#[tokio::test]
async fn conditional_get_per_version() {
    let Versioned(server, client, bucket) = Versioned::new("vcond").await;
    let first = b"first version".to_vec();
    let second = b"second version".to_vec();
    let v1 = put_version(&client, &bucket, "k", &first).await;
    put_version(&client, &bucket, "k", &second).await;
    let etag1 = format!("\"{}\"", md5_hex(&first));
    let etag2 = format!("\"{}\"", md5_hex(&second));
    let path = format!("/{bucket}/k?versionId={}", uri_encode(&v1, true));

    // Conditions are evaluated against the version asked for, not the latest.
    for (header, value, want) in [
        ("if-match", &etag1, 200),
        ("if-match", &etag2, 412),
        ("if-none-match", &etag1, 304),
        ("if-none-match", &etag2, 200),
    ] {
        for method in ["GET", "HEAD"] {
            let answer = RawRequest::new(method, &path)
                .header(header, value)
                .answer(&server)
                .await;
            assert_eq!(
                answer.status,
                want,
                "{method} v1 with {header}: {value}: {}",
                answer.text()
            );
            match (method, want) {
                ("GET", 200) => assert_eq!(answer.body, first),
                ("GET", 412) => {
                    answer.assert_error(412, "PreconditionFailed");
                }
                _ => assert!(answer.body.is_empty()),
            }
            if want != 412 {
                // A 304 carries the ETag it would have sent with a 200 (RFC 7232 section 4.1).
                assert_eq!(answer.header("etag").as_ref(), Some(&etag1));
            }
            if want == 200 {
                assert_eq!(
                    answer.header("x-amz-version-id").as_deref(),
                    Some(v1.as_str())
                );
            }
        }
    }

    // The same through the SDK.
    let out = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v1)
        .if_match(&etag1)
        .send()
        .await
        .expect("If-Match of v1's ETag");
    assert_eq!(out.version_id(), Some(v1.as_str()));
    let err = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v1)
        .if_match(&etag2)
        .send()
        .await
        .expect_err("If-Match of the latest ETag on v1");
    assert_sdk_error(&err, 412, "PreconditionFailed");
    // Without a version id the latest is compared.
    let out = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .if_match(&etag2)
        .send()
        .await
        .expect("If-Match of the latest ETag");
    let got = out
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec();
    assert_eq!(got, second);
}

/// PutObjectTagging of version `version_id` of `k` (`what` names it in a failure); the version
/// id S3 echoes.
async fn tag_version(
    client: &Client,
    bucket: &str,
    version_id: &str,
    tags: &[(&str, &str)],
    what: &str,
) -> Option<String> {
    let out = client
        .put_object_tagging()
        .bucket(bucket)
        .key("k")
        .version_id(version_id)
        .tagging(tagging(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObjectTagging {what}: {e:?}"));
    out.version_id().map(str::to_string)
}

/// GetObjectTagging of `k` (the latest version, or `version_id`): the version id S3 echoes and
/// the tags, sorted.
async fn version_tags(
    client: &Client,
    bucket: &str,
    version_id: Option<String>,
) -> (Option<String>, Vec<(String, String)>) {
    let out = client
        .get_object_tagging()
        .bucket(bucket)
        .key("k")
        .set_version_id(version_id)
        .send()
        .await
        .expect("GetObjectTagging");
    (
        out.version_id().map(str::to_string),
        sorted_tags(out.tag_set()),
    )
}

#[tokio::test]
async fn tagging_per_version() {
    let Versioned(server, client, bucket) = Versioned::new("vtag").await;
    let v1 = client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .tagging("gen=1")
        .body(b"one".to_vec().into())
        .send()
        .await
        .expect("PutObject with tags")
        .version_id()
        .expect("x-amz-version-id")
        .to_string();
    let v2 = put_version(&client, &bucket, "k", b"two").await;

    let tags_of = |version_id: Option<String>| version_tags(&client, &bucket, version_id);

    // Current version (v2) has no tags; v1 keeps its own.
    assert_eq!(tags_of(None).await, (Some(v2.clone()), vec![]));
    assert_eq!(
        tags_of(Some(v1.clone())).await,
        (Some(v1.clone()), sorted_pairs(&[("gen", "1")]))
    );

    // PutObjectTagging on one version leaves the other alone.
    let echoed = tag_version(&client, &bucket, &v2, &[("gen", "2"), ("extra", "x")], "v2").await;
    assert_eq!(echoed.as_deref(), Some(v2.as_str()));
    let echoed = tag_version(&client, &bucket, &v1, &[("color", "blue")], "v1").await;
    assert_eq!(echoed.as_deref(), Some(v1.as_str()));
    assert_eq!(
        tags_of(Some(v1.clone())).await,
        (Some(v1.clone()), sorted_pairs(&[("color", "blue")]))
    );
    assert_eq!(
        tags_of(None).await,
        (
            Some(v2.clone()),
            sorted_pairs(&[("gen", "2"), ("extra", "x")])
        )
    );

    // x-amz-tagging-count follows the version read.
    let answer = raw(
        &server,
        "GET",
        &format!("/{bucket}/k?versionId={}", uri_encode(&v1, true)),
    )
    .await;
    assert_eq!(answer.header("x-amz-tagging-count").as_deref(), Some("1"));
    let answer = raw(&server, "GET", &format!("/{bucket}/k")).await;
    assert_eq!(answer.header("x-amz-tagging-count").as_deref(), Some("2"));

    // DeleteObjectTagging of one version.
    let out = client
        .delete_object_tagging()
        .bucket(&bucket)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .expect("DeleteObjectTagging v1");
    assert_eq!(out.version_id(), Some(v1.as_str()));
    assert_eq!(tags_of(Some(v1.clone())).await, (Some(v1.clone()), vec![]));
    assert_eq!(
        tags_of(None).await,
        (
            Some(v2.clone()),
            sorted_pairs(&[("gen", "2"), ("extra", "x")])
        )
    );

    // Tags of a version stay with it when a newer version is added and removed.
    let v3 = put_version(&client, &bucket, "k", b"three").await;
    assert_eq!(tags_of(None).await, (Some(v3.clone()), vec![]));
    delete_by_id(&client, &bucket, "k", &v3)
        .await
        .expect("DELETE v3");
    assert_eq!(
        tags_of(None).await,
        (Some(v2), sorted_pairs(&[("gen", "2"), ("extra", "x")]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_keep_every_version() {
    let Versioned(_server, client, bucket) = Versioned::new("vconc").await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = client.clone();
        let bucket = bucket.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("writer {i} ").repeat(1000 + i).into_bytes();
            start.wait().await;
            let id = put_version(&client, &bucket, "contended", &body).await;
            (id, body)
        }));
    }
    let mut written: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for task in tasks {
        let (id, body) = task.await.expect("writer task");
        assert!(
            written.insert(id.clone(), body).is_none(),
            "duplicate id {id}"
        );
    }
    assert_eq!(written.len(), 16);

    let out = list_versions(&client, &bucket, |r| r, "ListObjectVersions").await;
    assert!(out.delete_markers().is_empty());
    let listed: Vec<(String, bool)> = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.version_id().expect("VersionId").to_string(),
                v.is_latest().expect("IsLatest"),
            )
        })
        .collect();
    assert_eq!(listed.len(), 16, "every version is kept: {listed:?}");
    let ids: HashSet<&String> = listed.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 16, "16 distinct ids");
    assert!(
        listed.iter().all(|(id, _)| written.contains_key(id)),
        "listed ids are the ids the PUTs returned"
    );
    let latest: Vec<&String> = listed
        .iter()
        .filter(|(_, is_latest)| *is_latest)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(latest.len(), 1, "exactly one latest: {listed:?}");
    assert_eq!(latest[0], &listed[0].0, "the latest is listed first");

    // GET answers the latest version's content and id.
    let out = get_latest(&client, &bucket, "contended")
        .await
        .expect("GetObject");
    assert_eq!(out.version_id(), Some(latest[0].as_str()));
    let got = out
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec();
    assert!(
        got == written[latest[0]],
        "GET returns the latest version's bytes"
    );
    for (id, body) in &written {
        assert!(
            get_version(&client, &bucket, "contended", id).await == *body,
            "version {id} reads back"
        );
    }
}

/// The listening socket's inode for `port` (from /proc/net/tcp{,6}).
fn listening_socket_inode(port: u16) -> Option<String> {
    let suffix = format!(":{port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ... uid timeout inode; st 0A is LISTEN.
            if fields.len() > 9 && fields[1].ends_with(&suffix) && fields[3] == "0A" {
                return Some(fields[9].to_string());
            }
        }
    }
    None
}

/// The `--data-dir` of the server under test. The harness keeps it private, so it is read from
/// the command line of the child process that holds the server's listening socket (Linux).
fn server_data_dir(server: &Server) -> PathBuf {
    let inode = listening_socket_inode(server.port())
        .unwrap_or_else(|| panic!("no listening socket on port {}", server.port()));
    let socket = format!("socket:[{inode}]");
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let proc_dir = entry.path();
        let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
            continue;
        };
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if parent != Some(me.as_str()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
            continue;
        };
        let holds_socket = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy() == socket)
        });
        if !holds_socket {
            continue;
        }
        let cmdline = std::fs::read(proc_dir.join("cmdline")).expect("read cmdline");
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let at = args
            .iter()
            .position(|a| a == "--data-dir")
            .unwrap_or_else(|| panic!("no --data-dir in {args:?}"));
        return PathBuf::from(&args[at + 1]);
    }
    panic!("no child process holds {socket}");
}

/// Polls `dir_usage(dir)` for up to ~2 s until `done` holds; returns the last reading.
async fn wait_for_usage(dir: &Path, done: impl Fn((u64, u64)) -> bool) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let usage = dir_usage(dir);
        if done(usage) || Instant::now() >= deadline {
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Size of each version in the chunk-sharing tests.
const NEAR_IDENTICAL_SIZE: usize = 8 * MIB;

/// Puts 10 versions of `key`: version 0 is a random base, version i flips 4 bytes of it at its
/// own offset. Returns the version ids and bodies.
async fn put_near_identical_versions(
    client: &Client,
    bucket: &str,
    key: &str,
) -> (Vec<String>, Vec<Vec<u8>>) {
    let base = random_bytes(NEAR_IDENTICAL_SIZE, 44);
    let mut bodies = vec![base.clone()];
    for i in 1..10 {
        let mut body = base.clone();
        let at = i * 850_000;
        for byte in &mut body[at..at + 4] {
            *byte ^= 0xA5;
        }
        bodies.push(body);
    }
    let mut ids = Vec::new();
    for body in &bodies {
        ids.push(put_version(client, bucket, key, body).await);
    }
    (ids, bodies)
}

#[tokio::test]
async fn versions_share_chunks() {
    let Versioned(server, client, bucket) = Versioned::new("vchunks").await;
    let chunks = server_data_dir(&server).join("chunks").join("hot");
    let size = NEAR_IDENTICAL_SIZE;
    let (ids, bodies) = put_near_identical_versions(&client, &bucket, "big").await;
    for (id, body) in ids.iter().zip(&bodies) {
        assert!(
            get_version(&client, &bucket, "big", id).await == *body,
            "version {id}"
        );
    }
    let (files, stored) = dir_usage(&chunks);
    assert!(
        stored >= size as u64,
        "the chunk store holds at least one version: {stored} bytes in {files} files under {}",
        chunks.display()
    );
    assert!(
        stored < 2 * size as u64,
        "10 versions of {size} bytes differing by 4 bytes each take {stored} bytes \
         ({files} chunk files): want under twice one version ({})",
        2 * size
    );
}

#[tokio::test]
async fn deleting_versions_frees_exactly_unreferenced_chunks() {
    let Versioned(server, client, bucket) = Versioned::new("vfree").await;
    let chunks = server_data_dir(&server).join("chunks").join("hot");
    let (ids, bodies) = put_near_identical_versions(&client, &bucket, "big").await;
    let (files, stored) = dir_usage(&chunks);
    assert!(files > 0, "chunk files under {}", chunks.display());

    // Deleting the base frees nothing: every one of its chunks is used by other versions.
    delete_by_id(&client, &bucket, "big", &ids[0])
        .await
        .expect("DELETE base version");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        dir_usage(&chunks),
        (files, stored),
        "chunks still referenced by other versions stay"
    );
    for (id, body) in ids.iter().zip(&bodies).skip(1) {
        assert!(
            get_version(&client, &bucket, "big", id).await == *body,
            "version {id} after deleting the base"
        );
    }

    // Deleting version 5 frees the chunk only it references.
    delete_by_id(&client, &bucket, "big", &ids[5])
        .await
        .expect("DELETE version 5");
    let (files_after, stored_after) = wait_for_usage(&chunks, |(_, b)| b < stored).await;
    assert!(
        stored_after < stored && files_after < files,
        "deleting a version frees its own chunks: {stored} -> {stored_after} bytes, \
         {files} -> {files_after} files"
    );
    for (i, (id, body)) in ids.iter().zip(&bodies).enumerate().skip(1) {
        if i != 5 {
            assert!(
                get_version(&client, &bucket, "big", id).await == *body,
                "version {id} after deleting version 5"
            );
        }
    }

    // Deleting every version leaves no chunk.
    for (i, id) in ids.iter().enumerate().skip(1) {
        if i != 5 {
            delete_by_id(&client, &bucket, "big", id)
                .await
                .expect("DELETE version");
        }
    }
    let (_, entries) = list_versions_raw(&server, &bucket, "").await;
    assert!(entries.is_empty(), "{entries:?}");
    let (files_left, bytes_left) = wait_for_usage(&chunks, |(f, _)| f == 0).await;
    assert_eq!(
        (files_left, bytes_left),
        (0, 0),
        "no chunk file is left once no version references it"
    );
}
