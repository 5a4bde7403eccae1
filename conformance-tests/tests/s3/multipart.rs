//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts, ListMultipartUploads, and GetObject by part number, with the
//! rules and error codes of AWS's S3 API reference.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_multipart_uploads::builders::ListMultipartUploadsFluentBuilder;
use aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput;
use aws_sdk_s3::operation::list_parts::{ListPartsError, ListPartsOutput};
use aws_sdk_s3::operation::upload_part::{UploadPartError, UploadPartOutput};
use aws_sdk_s3::operation::upload_part_copy::{UploadPartCopyError, UploadPartCopyOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    StorageClass,
};
use aws_sdk_s3::Client;

use crate::common::{
    assert_sdk_error, b64_decode, checksum_field, completed_parts, create_bucket, create_upload,
    error_status, get_bytes, md5_hex, multipart_etag, multipart_put, put, random_bytes,
    upload_part, xml_value, xml_values, Checksum, RawRequest, Server, MIB, MIN_PART,
};

async fn complete(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[(i32, &str)],
) -> Result<
    aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError,
        aws_sdk_s3::config::http::HttpResponse,
    >,
> {
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(completed_parts(parts))
        .send()
        .await
}

/// One server with one bucket `TAG`: (server, a client of it, the bucket).
struct MpuBucket(Server, Client, String);

impl MpuBucket {
    /// Starts the server and creates the bucket.
    async fn new(tag: &str) -> MpuBucket {
        let server = Server::start();
        let client = server.client();
        let bucket = create_bucket(&client, tag).await;
        MpuBucket(server, client, bucket)
    }
}

/// ListParts of `upload_id` under `key`.
async fn list_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<ListPartsOutput, SdkError<ListPartsError, HttpResponse>> {
    client
        .list_parts()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
}

/// UploadPart of `body` as part `n` of `upload_id` under `key`, for tests that look at the error.
async fn try_upload_part(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    n: i32,
    body: &[u8],
) -> Result<UploadPartOutput, SdkError<UploadPartError, HttpResponse>> {
    client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(n)
        .body(body.to_vec().into())
        .send()
        .await
}

/// UploadPartCopy of `source` (`bucket/key`), or of `range` of it, as part `n` of `upload_id`
/// under `key`.
async fn upload_part_copy(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    n: i32,
    source: String,
    range: Option<String>,
) -> Result<UploadPartCopyOutput, SdkError<UploadPartCopyError, HttpResponse>> {
    client
        .upload_part_copy()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(n)
        .copy_source(source)
        .set_copy_source_range(range)
        .send()
        .await
}

/// ListMultipartUploads of `bucket` with the parameters `with` sets; `what` names the request
/// in a failure.
async fn list_uploads(
    client: &Client,
    bucket: &str,
    with: impl FnOnce(ListMultipartUploadsFluentBuilder) -> ListMultipartUploadsFluentBuilder,
    what: &str,
) -> ListMultipartUploadsOutput {
    with(client.list_multipart_uploads().bucket(bucket))
        .send()
        .await
        .expect(what)
}

/// The keys of a ListMultipartUploads page, in order.
fn upload_keys(page: &ListMultipartUploadsOutput) -> Vec<&str> {
    page.uploads().iter().filter_map(|u| u.key()).collect()
}

/// The (key, upload id) pairs of a ListMultipartUploads page, in order.
fn upload_keys_and_ids(page: &ListMultipartUploadsOutput) -> Vec<(&str, &str)> {
    page.uploads()
        .iter()
        .map(|u| (u.key().unwrap_or(""), u.upload_id().unwrap_or("")))
        .collect()
}

/// The common prefixes of a ListMultipartUploads page, in order.
fn upload_prefixes(page: &ListMultipartUploadsOutput) -> Vec<&str> {
    page.common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect()
}

/// Uploads `parts` as parts 1, 2, ... of `upload_id`, checking that each part's ETag is its
/// MD5; the ETags.
async fn upload_parts_checking_etags(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[Vec<u8>],
) -> Vec<String> {
    let mut etags = Vec::new();
    for (i, body) in parts.iter().enumerate() {
        let etag = upload_part(client, bucket, key, upload_id, i as i32 + 1, body).await;
        assert_eq!(
            etag,
            format!("\"{}\"", md5_hex(body)),
            "part ETag is its MD5"
        );
        etags.push(etag);
    }
    etags
}

/// After the upload ended (`after`: "completion", "abort"), ListParts and an UploadPart of `body`
/// as part `n` both answer 404 NoSuchUpload.
async fn assert_upload_is_gone(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    after: &str,
    n: i32,
    body: &[u8],
) {
    match list_parts(client, bucket, key, upload_id).await {
        Ok(out) => panic!("ListParts after {after}: {out:?}"),
        Err(err) => assert_sdk_error(&err, 404, "NoSuchUpload"),
    }
    match try_upload_part(client, bucket, key, upload_id, n, body).await {
        Ok(out) => panic!("UploadPart after {after}: {out:?}"),
        Err(err) => assert_sdk_error(&err, 404, "NoSuchUpload"),
    }
}

#[tokio::test]
async fn multipart_upload_round_trip() {
    let MpuBucket(_server, client, bucket) = MpuBucket::new("mpu").await;
    let parts = [
        random_bytes(MIN_PART, 1),
        random_bytes(MIN_PART + 17, 2),
        random_bytes(1000, 3),
    ];

    let created = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("dir/big.bin")
        .content_type("application/x-big")
        .content_disposition("attachment")
        .metadata("origin", "multipart")
        .send()
        .await
        .expect("CreateMultipartUpload");
    assert_eq!(created.bucket(), Some(bucket.as_str()));
    assert_eq!(created.key(), Some("dir/big.bin"));
    let upload_id = created.upload_id().expect("UploadId").to_string();
    assert!(!upload_id.is_empty());

    let etags =
        upload_parts_checking_etags(&client, &bucket, "dir/big.bin", &upload_id, &parts).await;

    // The upload is listed until it completes.
    let listed = list_uploads(&client, &bucket, |r| r, "ListMultipartUploads").await;
    let ids: Vec<&str> = listed
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id())
        .collect();
    assert_eq!(ids, [upload_id.as_str()]);

    let want_etag = multipart_etag(&[&parts[0], &parts[1], &parts[2]]);
    let done = complete(
        &client,
        &bucket,
        "dir/big.bin",
        &upload_id,
        &[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])],
    )
    .await
    .expect("CompleteMultipartUpload");
    assert_eq!(done.e_tag(), Some(want_etag.as_str()), "md5-of-part-md5s-N");
    assert_eq!(done.bucket(), Some(bucket.as_str()));
    assert_eq!(done.key(), Some("dir/big.bin"));
    assert!(
        done.location().is_some_and(|l| l.contains("big.bin")),
        "Location names the object: {:?}",
        done.location()
    );

    let head = client
        .head_object()
        .bucket(&bucket)
        .key("dir/big.bin")
        .send()
        .await
        .expect("HeadObject");
    let total: usize = parts.iter().map(Vec::len).sum();
    assert_eq!(head.content_length(), Some(total as i64));
    assert_eq!(head.e_tag(), Some(want_etag.as_str()));
    assert_eq!(head.content_type(), Some("application/x-big"));
    assert_eq!(head.content_disposition(), Some("attachment"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("multipart")
    );
    assert_eq!(
        head.parts_count(),
        None,
        "no x-amz-mp-parts-count without partNumber"
    );
    assert!(get_bytes(&client, &bucket, "dir/big.bin").await == parts.concat());

    // A completed upload is gone: no listing, no parts.
    let listed = list_uploads(&client, &bucket, |r| r, "ListMultipartUploads").await;
    assert!(listed.uploads().is_empty(), "{:?}", listed.uploads());
    assert_upload_is_gone(
        &client,
        &bucket,
        "dir/big.bin",
        &upload_id,
        "completion",
        4,
        b"late",
    )
    .await;
}

/// The raw CompleteMultipartUploadResult document and the ETag S3 computes, with parts numbered
/// 1 and 10000 (the bounds): numbers need not be contiguous.
#[tokio::test]
async fn part_numbers_are_1_to_10000() {
    let MpuBucket(server, client, bucket) = MpuBucket::new("partnum").await;
    let upload_id = create_upload(&client, &bucket, "k").await;

    for bad in ["0", "10001", "-1", "abc"] {
        let answer = RawRequest::new(
            "PUT",
            &format!("/{bucket}/k?partNumber={bad}&uploadId={upload_id}"),
        )
        .body(b"data".to_vec())
        .answer(&server)
        .await;
        answer.assert_error(400, "InvalidArgument");
    }

    let first = random_bytes(MIN_PART, 5);
    let last = b"the last part may be small".to_vec();
    let e1 = upload_part(&client, &bucket, "k", &upload_id, 1, &first).await;
    let e2 = upload_part(&client, &bucket, "k", &upload_id, 10000, &last).await;

    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{e1}</ETag></Part>\
         <Part><PartNumber>10000</PartNumber><ETag>{e2}</ETag></Part></CompleteMultipartUpload>"
    );
    let answer = RawRequest::new("POST", &format!("/{bucket}/k?uploadId={upload_id}"))
        .body(body)
        .answer(&server)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    assert!(
        text.contains("<CompleteMultipartUploadResult"),
        "CompleteMultipartUploadResult document: {text}"
    );
    assert_eq!(xml_value(&text, "Bucket"), Some(bucket.clone()));
    assert_eq!(xml_value(&text, "Key").as_deref(), Some("k"));
    assert!(xml_value(&text, "Location").is_some(), "Location: {text}");
    let want = multipart_etag(&[&first, &last]);
    let etag = xml_value(&text, "ETag").expect("ETag");
    assert!(
        etag == want || etag == want.replace('"', "&quot;"),
        "ETag {etag}, want {want}"
    );
    assert!(get_bytes(&client, &bucket, "k").await == [first, last].concat());
}

#[tokio::test]
async fn parts_before_the_last_must_be_5_mib() {
    let MpuBucket(_server, client, bucket) = MpuBucket::new("toosmall").await;
    let upload_id = create_upload(&client, &bucket, "k").await;
    let small = random_bytes(MIN_PART - 1, 1);
    let e1 = upload_part(&client, &bucket, "k", &upload_id, 1, &small).await;
    let e2 = upload_part(&client, &bucket, "k", &upload_id, 2, b"tail").await;
    let err = complete(&client, &bucket, "k", &upload_id, &[(1, &e1), (2, &e2)])
        .await
        .expect_err("a 5 MiB - 1 first part");
    assert_sdk_error(&err, 400, "EntityTooSmall");
    let err = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect_err("nothing completed");
    assert_eq!(error_status(&err), 404);

    // A single small part is fine: it is the last one.
    let only = create_upload(&client, &bucket, "single").await;
    let e = upload_part(&client, &bucket, "single", &only, 1, b"tiny").await;
    let done = complete(&client, &bucket, "single", &only, &[(1, &e)])
        .await
        .expect("one small part");
    assert_eq!(done.e_tag(), Some(multipart_etag(&[b"tiny"]).as_str()));
    assert_eq!(get_bytes(&client, &bucket, "single").await, b"tiny");
}

#[tokio::test]
async fn invalid_part_and_invalid_part_order() {
    let MpuBucket(_server, client, bucket) = MpuBucket::new("badparts").await;
    let upload_id = create_upload(&client, &bucket, "k").await;
    let p1 = random_bytes(MIN_PART, 1);
    let p2 = random_bytes(MIN_PART, 2);
    let e1 = upload_part(&client, &bucket, "k", &upload_id, 1, &p1).await;
    let e2 = upload_part(&client, &bucket, "k", &upload_id, 2, &p2).await;
    let e3 = upload_part(&client, &bucket, "k", &upload_id, 3, b"end").await;

    let wrong = format!("\"{}\"", md5_hex(b"not a part"));
    let err = complete(
        &client,
        &bucket,
        "k",
        &upload_id,
        &[(1, &e1), (2, &wrong), (3, &e3)],
    )
    .await
    .expect_err("wrong ETag");
    assert_sdk_error(&err, 400, "InvalidPart");

    let err = complete(
        &client,
        &bucket,
        "k",
        &upload_id,
        &[(1, &e1), (2, &e2), (4, &e3)],
    )
    .await
    .expect_err("part 4 was never uploaded");
    assert_sdk_error(&err, 400, "InvalidPart");

    let err = complete(
        &client,
        &bucket,
        "k",
        &upload_id,
        &[(2, &e2), (1, &e1), (3, &e3)],
    )
    .await
    .expect_err("descending part numbers");
    assert_sdk_error(&err, 400, "InvalidPartOrder");

    // The failed attempts left the upload intact.
    let done = complete(
        &client,
        &bucket,
        "k",
        &upload_id,
        &[(1, &e1), (2, &e2), (3, &e3)],
    )
    .await
    .expect("the right list completes");
    assert_eq!(
        done.e_tag(),
        Some(multipart_etag(&[&p1, &p2, b"end"]).as_str())
    );
}

#[tokio::test]
async fn no_such_upload_for_unknown_and_aborted_uploads() {
    let MpuBucket(server, client, bucket) = MpuBucket::new("nosuch").await;
    let bogus = "this-upload-id-does-not-exist";

    let err = try_upload_part(&client, &bucket, "k", bogus, 1, b"x")
        .await
        .expect_err("UploadPart");
    assert_sdk_error(&err, 404, "NoSuchUpload");
    let err = list_parts(&client, &bucket, "k", bogus)
        .await
        .expect_err("ListParts");
    assert_sdk_error(&err, 404, "NoSuchUpload");
    let err = complete(&client, &bucket, "k", bogus, &[(1, "\"00\"")])
        .await
        .expect_err("Complete");
    assert_sdk_error(&err, 404, "NoSuchUpload");
    let err = client
        .abort_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(bogus)
        .send()
        .await
        .expect_err("Abort");
    assert_sdk_error(&err, 404, "NoSuchUpload");

    // An upload id is bound to its key.
    let upload_id = create_upload(&client, &bucket, "k").await;
    let err = list_parts(&client, &bucket, "other-key", &upload_id)
        .await
        .expect_err("ListParts under another key");
    assert_sdk_error(&err, 404, "NoSuchUpload");

    // Abort answers 204 and removes the upload and its parts.
    let e1 = upload_part(&client, &bucket, "k", &upload_id, 1, b"part").await;
    let answer = RawRequest::new("DELETE", &format!("/{bucket}/k?uploadId={upload_id}"))
        .answer(&server)
        .await;
    assert_eq!(
        answer.status,
        204,
        "AbortMultipartUpload: {}",
        answer.text()
    );
    assert_upload_is_gone(&client, &bucket, "k", &upload_id, "abort", 2, b"x").await;
    let err = complete(&client, &bucket, "k", &upload_id, &[(1, &e1)])
        .await
        .expect_err("Complete after abort");
    assert_sdk_error(&err, 404, "NoSuchUpload");
    let listed = list_uploads(&client, &bucket, |r| r, "ListMultipartUploads").await;
    assert!(listed.uploads().is_empty(), "{:?}", listed.uploads());
    let err = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect_err("no object from an aborted upload");
    assert_eq!(error_status(&err), 404);

    let err = client
        .create_multipart_upload()
        .bucket("no-such-bucket-mpu")
        .key("k")
        .send()
        .await
        .expect_err("CreateMultipartUpload in a missing bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");
}

#[tokio::test]
async fn a_part_uploaded_twice_keeps_the_last() {
    let MpuBucket(_server, client, bucket) = MpuBucket::new("twice").await;
    let upload_id = create_upload(&client, &bucket, "k").await;
    let first = random_bytes(MIN_PART, 1);
    let second = random_bytes(MIN_PART + 100, 2);
    let old = upload_part(&client, &bucket, "k", &upload_id, 1, &first).await;
    let new = upload_part(&client, &bucket, "k", &upload_id, 1, &second).await;
    let tail = upload_part(&client, &bucket, "k", &upload_id, 2, b"tail").await;
    assert_ne!(old, new);

    let parts = list_parts(&client, &bucket, "k", &upload_id)
        .await
        .expect("ListParts");
    let listed: Vec<(Option<i32>, Option<&str>, Option<i64>)> = parts
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.e_tag(), p.size()))
        .collect();
    assert_eq!(
        listed,
        [
            (Some(1), Some(new.as_str()), Some(second.len() as i64)),
            (Some(2), Some(tail.as_str()), Some(4)),
        ]
    );

    let err = complete(&client, &bucket, "k", &upload_id, &[(1, &old), (2, &tail)])
        .await
        .expect_err("the replaced part's ETag");
    assert_sdk_error(&err, 400, "InvalidPart");
    complete(&client, &bucket, "k", &upload_id, &[(1, &new), (2, &tail)])
        .await
        .expect("Complete with the last upload of part 1");
    assert!(get_bytes(&client, &bucket, "k").await == [second, b"tail".to_vec()].concat());
}

#[tokio::test]
async fn delete_bucket_fails_while_an_upload_is_in_progress() {
    let MpuBucket(_server, client, bucket) = MpuBucket::new("busy").await;
    let upload_id = create_upload(&client, &bucket, "pending").await;
    let err = client
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("DeleteBucket with an upload in progress");
    assert_sdk_error(&err, 409, "BucketNotEmpty");
    client
        .abort_multipart_upload()
        .bucket(&bucket)
        .key("pending")
        .upload_id(&upload_id)
        .send()
        .await
        .expect("AbortMultipartUpload");
    client
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucket once the upload is aborted");
}

#[tokio::test]
async fn get_and_head_by_part_number() {
    let MpuBucket(server, client, bucket) = MpuBucket::new("partget").await;
    let parts = [
        random_bytes(MIN_PART, 1),
        random_bytes(MIN_PART + 3, 2),
        random_bytes(777, 3),
    ];
    let etag = multipart_put(&client, &bucket, "k", &[&parts[0], &parts[1], &parts[2]]).await;
    let total: usize = parts.iter().map(Vec::len).sum();

    let mut start = 0usize;
    for (i, part) in parts.iter().enumerate() {
        let n = i + 1;
        let end = start + part.len() - 1;
        let answer = RawRequest::new("GET", &format!("/{bucket}/k?partNumber={n}"))
            .answer(&server)
            .await;
        assert_eq!(answer.status, 206, "GET partNumber={n}: {}", answer.text());
        assert_eq!(
            answer.header("content-range"),
            Some(format!("bytes {start}-{end}/{total}")),
            "part {n}"
        );
        assert_eq!(
            answer.header("content-length"),
            Some(part.len().to_string())
        );
        assert_eq!(answer.header("x-amz-mp-parts-count").as_deref(), Some("3"));
        assert_eq!(
            answer.header("etag"),
            Some(etag.clone()),
            "the object's ETag"
        );
        assert!(answer.body == *part, "part {n} bytes");
        start = end + 1;
    }

    let head = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .part_number(2)
        .send()
        .await
        .expect("HeadObject partNumber=2");
    assert_eq!(head.content_length(), Some(parts[1].len() as i64));
    assert_eq!(head.parts_count(), Some(3));
    let raw = RawRequest::new("HEAD", &format!("/{bucket}/k?partNumber=2"))
        .answer(&server)
        .await;
    assert_eq!(raw.status, 206);

    // With checksum mode on, the SDK validates whatever checksum comes back: a part must not
    // carry the whole object's checksum.
    let got = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .part_number(1)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("GetObject partNumber=1");
    assert_eq!(got.parts_count(), Some(3));
    let bytes = got
        .body
        .collect()
        .await
        .expect("validated part body")
        .into_bytes();
    assert!(bytes[..] == parts[0][..]);

    let answer = RawRequest::new("GET", &format!("/{bucket}/k?partNumber=4"))
        .answer(&server)
        .await;
    answer.assert_error(416, "InvalidPartNumber");
}

#[tokio::test]
async fn list_parts_paginates() {
    let MpuBucket(_server, client, bucket) = MpuBucket::new("lparts").await;
    let upload_id = create_upload(&client, &bucket, "k").await;
    let mut etags = Vec::new();
    for n in 1..=5 {
        let body = vec![n as u8; 100 * n];
        etags.push(upload_part(&client, &bucket, "k", &upload_id, n as i32, &body).await);
    }

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = client
            .list_parts()
            .bucket(&bucket)
            .key("k")
            .upload_id(&upload_id)
            .max_parts(2);
        if let Some(m) = &marker {
            request = request.part_number_marker(m);
        }
        let page = request.send().await.expect("ListParts");
        pages += 1;
        assert_eq!(page.bucket(), Some(bucket.as_str()));
        assert_eq!(page.key(), Some("k"));
        assert_eq!(page.upload_id(), Some(upload_id.as_str()));
        assert_eq!(page.max_parts(), Some(2));
        assert_eq!(page.storage_class(), Some(&StorageClass::Standard));
        assert!(page.parts().len() <= 2);
        for part in page.parts() {
            let n = part.part_number().expect("PartNumber");
            assert_eq!(part.size(), Some(100 * n as i64));
            assert_eq!(part.e_tag(), Some(etags[n as usize - 1].as_str()));
            assert!(part.last_modified().is_some(), "LastModified");
            seen.push(n);
        }
        if page.is_truncated() == Some(true) {
            let next = page
                .next_part_number_marker()
                .expect("NextPartNumberMarker");
            assert_eq!(
                next,
                seen.last().expect("a truncated page has parts").to_string()
            );
            marker = Some(next.to_string());
        } else {
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    assert_eq!(pages, 3);

    // A marker skips the parts up to and including it.
    let page = client
        .list_parts()
        .bucket(&bucket)
        .key("k")
        .upload_id(&upload_id)
        .part_number_marker("3")
        .send()
        .await
        .expect("ListParts with a marker");
    let numbers: Vec<i32> = page
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, [4, 5]);
    assert_eq!(page.is_truncated(), Some(false));
}

/// Pages through the uploads of `bucket` two at a time, following NextKeyMarker and
/// NextUploadIdMarker and checking each page: the (key, upload id) pairs seen, and the number of
/// pages.
async fn page_uploads_by_two(client: &Client, bucket: &str) -> (Vec<(String, String)>, usize) {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut markers: Option<(String, String)> = None;
    let mut pages = 0;
    loop {
        let mut request = client
            .list_multipart_uploads()
            .bucket(bucket)
            .max_uploads(2);
        if let Some((key, id)) = &markers {
            request = request.key_marker(key).upload_id_marker(id);
        }
        let page = request.send().await.expect("ListMultipartUploads page");
        pages += 1;
        assert_eq!(page.max_uploads(), Some(2));
        assert!(page.uploads().len() <= 2);
        for u in page.uploads() {
            seen.push((
                u.key().unwrap_or("").to_string(),
                u.upload_id().unwrap_or("").to_string(),
            ));
        }
        if page.is_truncated() == Some(true) {
            let last = seen.last().expect("a truncated page has uploads").clone();
            assert_eq!(page.next_key_marker(), Some(last.0.as_str()));
            assert_eq!(page.next_upload_id_marker(), Some(last.1.as_str()));
            markers = Some(last);
        } else {
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    (seen, pages)
}

#[tokio::test]
async fn list_multipart_uploads_prefix_delimiter_markers() {
    let MpuBucket(_server, client, bucket) = MpuBucket::new("luploads").await;
    let mut ids = Vec::new();
    // Two uploads of "b": S3 lists uploads of one key in the order they were initiated.
    for key in ["a/1", "a/2", "b", "b", "c/x/1", "d"] {
        ids.push((key, create_upload(&client, &bucket, key).await));
    }

    let all = list_uploads(&client, &bucket, |r| r, "ListMultipartUploads").await;
    let listed = upload_keys_and_ids(&all);
    let want: Vec<(&str, &str)> = ids.iter().map(|(k, id)| (*k, id.as_str())).collect();
    assert_eq!(listed, want);
    assert_eq!(all.bucket(), Some(bucket.as_str()));
    assert_eq!(all.is_truncated(), Some(false));
    for upload in all.uploads() {
        assert!(upload.initiated().is_some(), "Initiated");
        assert_eq!(upload.storage_class(), Some(&StorageClass::Standard));
    }

    let page = list_uploads(&client, &bucket, |r| r.prefix("a/"), "prefix").await;
    let keys = upload_keys(&page);
    assert_eq!(keys, ["a/1", "a/2"]);
    assert_eq!(page.prefix(), Some("a/"));

    let page = list_uploads(&client, &bucket, |r| r.delimiter("/"), "delimiter").await;
    let keys = upload_keys(&page);
    let prefixes = upload_prefixes(&page);
    assert_eq!(keys, ["b", "b", "d"]);
    assert_eq!(prefixes, ["a/", "c/"]);
    assert_eq!(page.delimiter(), Some("/"));

    let page = list_uploads(
        &client,
        &bucket,
        |r| r.prefix("c/").delimiter("/"),
        "prefix and delimiter",
    )
    .await;
    assert!(page.uploads().is_empty());
    let prefixes = upload_prefixes(&page);
    assert_eq!(prefixes, ["c/x/"]);

    // key-marker alone: only keys after the marker.
    let page = list_uploads(&client, &bucket, |r| r.key_marker("b"), "key-marker").await;
    let keys = upload_keys(&page);
    assert_eq!(keys, ["c/x/1", "d"]);
    assert_eq!(page.key_marker(), Some("b"));

    // max-uploads pages with NextKeyMarker / NextUploadIdMarker and ends where the full list does.
    let (seen, pages) = page_uploads_by_two(&client, &bucket).await;
    let seen: Vec<(&str, &str)> = seen.iter().map(|(k, i)| (k.as_str(), i.as_str())).collect();
    assert_eq!(seen, want);
    assert_eq!(pages, 3);

    // The page boundary between the two uploads of "b".
    let page = list_uploads(
        &client,
        &bucket,
        |r| r.key_marker("b").upload_id_marker(&ids[2].1),
        "key-marker and upload-id-marker",
    )
    .await;
    let listed = upload_keys_and_ids(&page);
    assert_eq!(
        listed,
        [
            ("b", ids[3].1.as_str()),
            ("c/x/1", ids[4].1.as_str()),
            ("d", ids[5].1.as_str())
        ]
    );
    assert_eq!(page.upload_id_marker(), Some(ids[2].1.as_str()));
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let server = Server::start();
    let client = server.client();
    let source_bucket = create_bucket(&client, "copysrc").await;
    let bucket = create_bucket(&client, "copydst").await;
    let source = random_bytes(12 * MIB, 9);
    put(&client, &source_bucket, "source.bin", &source).await;
    put(&client, &bucket, "small", b"a small whole object").await;

    let upload_id = create_upload(&client, &bucket, "assembled").await;
    let copied = upload_part_copy(
        &client,
        &bucket,
        "assembled",
        &upload_id,
        1,
        format!("{source_bucket}/source.bin"),
        Some(format!("bytes=0-{}", MIN_PART - 1)),
    )
    .await
    .expect("UploadPartCopy part 1");
    let result = copied.copy_part_result().expect("CopyPartResult");
    let e1 = result.e_tag().expect("ETag").to_string();
    assert_eq!(
        e1,
        format!("\"{}\"", md5_hex(&source[..MIN_PART])),
        "MD5 of the range"
    );
    assert!(result.last_modified().is_some(), "LastModified");

    let middle = random_bytes(MIN_PART, 10);
    let e2 = upload_part(&client, &bucket, "assembled", &upload_id, 2, &middle).await;

    // The raw CopyPartResult document, with a range up to the last byte.
    let from = 6 * MIB;
    let answer = RawRequest::new(
        "PUT",
        &format!("/{bucket}/assembled?partNumber=3&uploadId={upload_id}"),
    )
    .header("x-amz-copy-source", &format!("/{source_bucket}/source.bin"))
    .header(
        "x-amz-copy-source-range",
        &format!("bytes={from}-{}", source.len() - 1),
    )
    .answer(&server)
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    assert!(text.contains("<CopyPartResult"), "{text}");
    assert!(xml_value(&text, "LastModified").is_some(), "{text}");
    let e3 = xml_value(&text, "ETag")
        .expect("ETag")
        .replace("&quot;", "\"");
    assert_eq!(e3, format!("\"{}\"", md5_hex(&source[from..])));

    // Without a range, the whole source object is the part.
    let small = format!("{bucket}/small");
    let e4 = upload_part_copy(&client, &bucket, "assembled", &upload_id, 4, small, None)
        .await
        .expect("UploadPartCopy without range")
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .expect("ETag")
        .to_string();
    assert_eq!(e4, format!("\"{}\"", md5_hex(b"a small whole object")));

    // Part 3 is 6 MiB, so it may precede part 4.
    let done = complete(
        &client,
        &bucket,
        "assembled",
        &upload_id,
        &[(1, &e1), (2, &e2), (3, &e3), (4, &e4)],
    )
    .await
    .expect("Complete");
    let want = [
        &source[..MIN_PART],
        &middle[..],
        &source[from..],
        b"a small whole object",
    ];
    assert_eq!(done.e_tag(), Some(multipart_etag(&want).as_str()));
    assert!(get_bytes(&client, &bucket, "assembled").await == want.concat());
}

#[tokio::test]
async fn upload_part_copy_errors() {
    let MpuBucket(server, client, bucket) = MpuBucket::new("copyerr").await;
    put(&client, &bucket, "src", &[7u8; 1000]).await;
    let upload_id = create_upload(&client, &bucket, "dst").await;
    let path = format!("/{bucket}/dst?partNumber=1&uploadId={upload_id}");

    // AWS: "Range specified is not valid for source object of size: 1000".
    let answer = RawRequest::new("PUT", &path)
        .header("x-amz-copy-source", &format!("{bucket}/src"))
        .header("x-amz-copy-source-range", "bytes=0-1000")
        .answer(&server)
        .await;
    answer.assert_error(400, "InvalidArgument");

    // AWS: "The x-amz-copy-source-range value must be of the form bytes=first-last ...".
    for malformed in ["bytes=10-", "bytes=-10", "0-10", "bytes=0-10,20-30"] {
        let answer = RawRequest::new("PUT", &path)
            .header("x-amz-copy-source", &format!("{bucket}/src"))
            .header("x-amz-copy-source-range", malformed)
            .answer(&server)
            .await;
        answer.assert_error(400, "InvalidArgument");
    }

    let missing = format!("{bucket}/missing");
    let err = upload_part_copy(&client, &bucket, "dst", &upload_id, 1, missing, None)
        .await
        .expect_err("missing source");
    assert_sdk_error(&err, 404, "NoSuchKey");

    let src = format!("{bucket}/src");
    let err = upload_part_copy(&client, &bucket, "dst", "no-such-upload", 1, src, None)
        .await
        .expect_err("unknown upload");
    assert_sdk_error(&err, 404, "NoSuchUpload");
}

fn completed_with_checksums(
    etags: &[String],
    checksums: &[String],
    algorithm: Checksum,
) -> CompletedMultipartUpload {
    let parts = etags
        .iter()
        .zip(checksums)
        .enumerate()
        .map(|(i, (etag, sum))| {
            let part = CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(etag);
            match algorithm {
                Checksum::Crc32 => part.checksum_crc32(sum),
                Checksum::Crc32c => part.checksum_crc32_c(sum),
                Checksum::Crc64Nvme => part.checksum_crc64_nvme(sum),
                Checksum::Sha1 => part.checksum_sha1(sum),
                Checksum::Sha256 => part.checksum_sha256(sum),
            }
            .build()
        })
        .collect();
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build()
}

fn sdk_algorithm(algorithm: Checksum) -> ChecksumAlgorithm {
    match algorithm {
        Checksum::Crc32 => ChecksumAlgorithm::Crc32,
        Checksum::Crc32c => ChecksumAlgorithm::Crc32C,
        Checksum::Crc64Nvme => ChecksumAlgorithm::Crc64Nvme,
        Checksum::Sha1 => ChecksumAlgorithm::Sha1,
        Checksum::Sha256 => ChecksumAlgorithm::Sha256,
    }
}

/// One multipart upload with a checksum algorithm and type; returns the object-level checksum
/// and type that CompleteMultipartUpload, HeadObject and GetObject report.
async fn checksummed_upload(
    server: &Server,
    algorithm: Checksum,
    checksum_type: Option<ChecksumType>,
    full_object_header: bool,
) -> (String, ChecksumType, Vec<u8>) {
    let client = server.client();
    let bucket = create_bucket(&client, "sums").await;
    let parts = [
        random_bytes(MIN_PART, 21),
        random_bytes(MIN_PART, 22),
        random_bytes(12_345, 23),
    ];
    let whole = parts.concat();
    let created = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .checksum_algorithm(sdk_algorithm(algorithm))
        .set_checksum_type(checksum_type.clone())
        .send()
        .await
        .expect("CreateMultipartUpload with a checksum algorithm");
    assert_eq!(
        created.checksum_algorithm(),
        Some(&sdk_algorithm(algorithm))
    );
    let upload_id = created.upload_id().expect("UploadId").to_string();

    let mut etags = Vec::new();
    let mut sums = Vec::new();
    for (i, body) in parts.iter().enumerate() {
        let out = client
            .upload_part()
            .bucket(&bucket)
            .key("k")
            .upload_id(&upload_id)
            .part_number(i as i32 + 1)
            .checksum_algorithm(sdk_algorithm(algorithm))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("UploadPart with a checksum");
        let echoed = checksum_field!(out, algorithm);
        assert_eq!(
            echoed,
            Some(algorithm.of(body).as_str()),
            "part checksum echoed"
        );
        etags.push(out.e_tag().expect("ETag").to_string());
        sums.push(algorithm.of(body));
    }

    let listed = list_parts(&client, &bucket, "k", &upload_id)
        .await
        .expect("ListParts");
    assert_eq!(listed.checksum_algorithm(), Some(&sdk_algorithm(algorithm)));
    for (part, sum) in listed.parts().iter().zip(&sums) {
        let got = checksum_field!(part, algorithm);
        assert_eq!(got, Some(sum.as_str()), "ListParts part checksum");
    }

    let mut request = client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(&upload_id)
        .multipart_upload(completed_with_checksums(&etags, &sums, algorithm));
    if full_object_header {
        // The full-object checksum the client computed; S3 verifies it.
        request = match algorithm {
            Checksum::Crc32 => request.checksum_crc32(algorithm.of(&whole)),
            Checksum::Crc64Nvme => request.checksum_crc64_nvme(algorithm.of(&whole)),
            other => panic!("no full-object checksum for {other:?}"),
        };
    }
    let done = request.send().await.expect("CompleteMultipartUpload");
    let value = checksum_field!(done, algorithm)
        .unwrap_or_else(|| panic!("CompleteMultipartUpload returns the {algorithm:?} checksum"))
        .to_string();
    let kind = done.checksum_type().expect("ChecksumType").clone();
    assert_eq!(
        created.checksum_type(),
        Some(&kind),
        "CreateMultipartUpload announces the type the object gets"
    );

    let head = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("HeadObject");
    let from_head = checksum_field!(head, algorithm);
    assert_eq!(from_head, Some(value.as_str()), "HeadObject checksum");
    assert_eq!(
        head.checksum_type(),
        Some(&kind),
        "HeadObject checksum type"
    );

    // The SDK validates a full-object checksum while reading and skips a composite one.
    let get = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("GetObject");
    assert_eq!(get.checksum_type(), Some(&kind), "GetObject checksum type");
    let bytes = get.body.collect().await.expect("body").into_bytes();
    assert!(bytes[..] == whole[..]);

    let raw_parts: Vec<u8> = sums.iter().flat_map(|s| b64_decode(s)).collect();
    (value, kind, raw_parts)
}

#[tokio::test]
async fn composite_checksums_crc32_and_sha256() {
    let server = Server::start();
    for (algorithm, checksum_type) in [
        (Checksum::Crc32, Some(ChecksumType::Composite)),
        // SHA-256 has only the composite type, which is the default.
        (Checksum::Sha256, None),
    ] {
        let (value, kind, raw_parts) =
            checksummed_upload(&server, algorithm, checksum_type, false).await;
        assert_eq!(kind, ChecksumType::Composite, "{algorithm:?}");
        // base64(H(raw part checksums)) followed by -N.
        let want = format!("{}-3", algorithm.of(&raw_parts));
        assert_eq!(value, want, "{algorithm:?} composite checksum");
    }
}

#[tokio::test]
async fn full_object_checksums_crc64nvme_and_crc32() {
    let server = Server::start();
    let whole = [
        random_bytes(MIN_PART, 21),
        random_bytes(MIN_PART, 22),
        random_bytes(12_345, 23),
    ]
    .concat();
    // CRC64NVME is FULL_OBJECT only, and its default.
    let (value, kind, _) = checksummed_upload(&server, Checksum::Crc64Nvme, None, false).await;
    assert_eq!(kind, ChecksumType::FullObject);
    assert_eq!(
        value,
        Checksum::Crc64Nvme.of(&whole),
        "CRC64NVME of the whole object"
    );

    let (value, kind, _) = checksummed_upload(
        &server,
        Checksum::Crc32,
        Some(ChecksumType::FullObject),
        true,
    )
    .await;
    assert_eq!(kind, ChecksumType::FullObject);
    assert_eq!(
        value,
        Checksum::Crc32.of(&whole),
        "CRC32 of the whole object"
    );
}

/// The multipart ETag covers the parts that were completed, in completion order, and not the
/// parts that were uploaded but left out.
#[tokio::test]
async fn parts_left_out_of_complete_are_not_in_the_object() {
    let MpuBucket(server, client, bucket) = MpuBucket::new("leftout").await;
    let upload_id = create_upload(&client, &bucket, "k").await;
    let p1 = random_bytes(MIN_PART, 31);
    let p2 = random_bytes(MIN_PART, 32);
    let p3 = b"last".to_vec();
    let e1 = upload_part(&client, &bucket, "k", &upload_id, 1, &p1).await;
    upload_part(&client, &bucket, "k", &upload_id, 2, &p2).await;
    let e3 = upload_part(&client, &bucket, "k", &upload_id, 3, &p3).await;
    let done = complete(&client, &bucket, "k", &upload_id, &[(1, &e1), (3, &e3)])
        .await
        .expect("Complete without part 2");
    assert_eq!(done.e_tag(), Some(multipart_etag(&[&p1, &p3]).as_str()));
    let got = get_bytes(&client, &bucket, "k").await;
    assert_eq!(got.len(), p1.len() + p3.len());
    assert!(got == [p1, p3].concat());
    let listed = xml_values(
        &RawRequest::new("GET", &format!("/{bucket}?uploads"))
            .answer(&server)
            .await
            .text(),
        "UploadId",
    );
    assert!(listed.is_empty(), "no upload left: {listed:?}");
}
