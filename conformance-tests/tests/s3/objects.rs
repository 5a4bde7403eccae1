//! PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects: persisted headers, ETags,
//! Content-MD5 and x-amz-checksum-* verification, streaming (aws-chunked) uploads.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Delete, ObjectIdentifier};
use md5::{Digest, Md5};

use crate::common::{
    checksum_field, create_bucket, error_code, error_status, get_bytes, md5_base64, md5_hex, put,
    random_bytes, Checksum, Payload, RawRequest, Server,
};

fn assert_recent(last_modified: &DateTime) {
    let now = DateTime::from(SystemTime::now());
    assert!(
        (now.secs() - last_modified.secs()).abs() < 300,
        "Last-Modified {last_modified} is not about now"
    );
}

/// PUTs `doc.txt` with every header S3 stores (and two metadata entries), expiring at
/// `expires_secs`.
async fn put_doc_with_every_header(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    body: &[u8],
    expires_secs: u64,
) -> aws_sdk_s3::operation::put_object::PutObjectOutput {
    client
        .put_object()
        .bucket(bucket)
        .key("doc.txt")
        .body(body.to_vec().into())
        .content_type("text/plain; charset=utf-8")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"doc.txt\"")
        .cache_control("max-age=3600, must-revalidate")
        .content_language("en-GB")
        .expires(DateTime::from_secs(expires_secs as i64))
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value With Spaces")
        .send()
        .await
        .expect("PutObject")
}

/// Asserts on a GetObject or HeadObject output the headers
/// `put_get_head_round_trip_with_persisted_headers` stored (the two outputs share the accessors
/// but no trait, so this is a macro).
macro_rules! assert_persisted_headers {
    ($out:expr, $etag:expr, $len:expr, $expires_http:expr, $want_meta:expr) => {{
        let out = &$out;
        assert_eq!(out.e_tag(), Some($etag));
        assert_eq!(out.content_length(), Some($len));
        assert_eq!(out.content_type(), Some("text/plain; charset=utf-8"));
        assert_eq!(out.content_encoding(), Some("identity"));
        assert_eq!(
            out.content_disposition(),
            Some("attachment; filename=\"doc.txt\"")
        );
        assert_eq!(out.cache_control(), Some("max-age=3600, must-revalidate"));
        assert_eq!(out.content_language(), Some("en-GB"));
        assert_eq!(out.expires_string(), Some($expires_http));
        assert_eq!(out.metadata(), Some($want_meta));
    }};
}

#[tokio::test]
async fn put_get_head_round_trip_with_persisted_headers() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "headers").await;
    let body = b"hello, strata".to_vec();
    let expires_secs = 1_900_000_000;
    let expires_http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(expires_secs));

    let put_out = put_doc_with_every_header(&client, &bucket, &body, expires_secs).await;
    let etag = format!("\"{}\"", md5_hex(&body));
    assert_eq!(
        put_out.e_tag(),
        Some(etag.as_str()),
        "ETag is the quoted MD5"
    );

    let want_meta: HashMap<String, String> = [
        ("color".to_string(), "blue".to_string()),
        ("mixed-case".to_string(), "Value With Spaces".to_string()),
    ]
    .into();

    let get = client
        .get_object()
        .bucket(&bucket)
        .key("doc.txt")
        .send()
        .await
        .expect("GetObject");
    let len = body.len() as i64;
    assert_persisted_headers!(get, etag.as_str(), len, expires_http.as_str(), &want_meta);
    let get_last_modified = *get.last_modified().expect("Last-Modified");
    assert_recent(&get_last_modified);
    let got = get.body.collect().await.expect("body").into_bytes();
    assert_eq!(&got[..], &body[..]);

    let head = client
        .head_object()
        .bucket(&bucket)
        .key("doc.txt")
        .send()
        .await
        .expect("HeadObject");
    assert_persisted_headers!(head, etag.as_str(), len, expires_http.as_str(), &want_meta);
    assert_eq!(head.last_modified(), Some(&get_last_modified));

    // The raw headers, as any HTTP client sees them.
    let raw = RawRequest::new("GET", &format!("/{bucket}/doc.txt"))
        .answer(&server)
        .await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("etag"), Some(etag.clone()));
    assert_eq!(raw.header("x-amz-meta-color").as_deref(), Some("blue"));
    assert_eq!(
        raw.header("x-amz-meta-mixed-case").as_deref(),
        Some("Value With Spaces")
    );
    assert_eq!(raw.header("content-length"), Some(body.len().to_string()));
    let last_modified = raw.header("last-modified").expect("Last-Modified header");
    assert!(
        httpdate::parse_http_date(&last_modified).is_ok(),
        "Last-Modified {last_modified:?} is an HTTP date"
    );
    assert!(raw.header("x-amz-request-id").is_some());
    assert_eq!(raw.body, body);
}

#[tokio::test]
async fn put_without_content_type_defaults_and_empty_object() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "empty").await;

    put(&client, &bucket, "empty", b"").await;
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("empty")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_length(), Some(0));
    assert_eq!(head.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));
    assert!(get_bytes(&client, &bucket, "empty").await.is_empty());

    // An object stored without Content-Type still answers one (S3 uses binary/octet-stream).
    let raw = RawRequest::new("GET", &format!("/{bucket}/empty"))
        .answer(&server)
        .await;
    assert_eq!(raw.status, 200);
    assert!(
        raw.header("content-type").is_some_and(|t| !t.is_empty()),
        "GetObject answers a Content-Type"
    );
}

#[tokio::test]
async fn overwrite_replaces_content_and_metadata() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "overwrite").await;

    client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(b"first version".to_vec().into())
        .metadata("gen", "1")
        .send()
        .await
        .expect("first PutObject");
    client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(b"second".to_vec().into())
        .send()
        .await
        .expect("second PutObject");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_length(), Some(6));
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", md5_hex(b"second")).as_str())
    );
    assert!(
        head.metadata().is_none_or(|m| m.is_empty()),
        "metadata of the overwritten version is gone: {:?}",
        head.metadata()
    );
    assert_eq!(get_bytes(&client, &bucket, "k").await, b"second");
}

#[tokio::test]
async fn keys_with_awkward_characters_round_trip() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "awkward").await;
    let keys = [
        "plain",
        "with space",
        "plus+sign",
        "percent%41literal",
        "dir/sub/file.txt",
        "query?x=1&y=2",
        "hash#fragment",
        "semi;colon,comma=equals",
        "quote\"apostrophe'",
        "unicode-日本語-ü-🚀",
        "tilde~star*paren()",
        "trailing/",
        "brackets[]{}<>",
        "dollar$at@colon:",
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = format!("body of {i}");
        put(&client, &bucket, key, body.as_bytes()).await;
        assert_eq!(
            get_bytes(&client, &bucket, key).await,
            body.as_bytes(),
            "key {key:?}"
        );
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(*key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("HeadObject {key:?}: {e:?}"));
        assert_eq!(head.content_length(), Some(body.len() as i64));
    }
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let mut want: Vec<&str> = keys.to_vec();
    want.sort();
    let got: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn get_and_head_missing_objects() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "missing").await;

    let err = client
        .get_object()
        .bucket(&bucket)
        .key("nope")
        .send()
        .await
        .expect_err("GetObject on a missing key");
    assert_eq!(error_code(&err), "NoSuchKey");
    assert_eq!(error_status(&err), 404);

    let err = client
        .head_object()
        .bucket(&bucket)
        .key("nope")
        .send()
        .await
        .expect_err("HeadObject on a missing key");
    assert_eq!(error_status(&err), 404);
    assert!(
        err.as_service_error().is_some_and(|e| e.is_not_found()),
        "HeadObject 404 surfaces as NotFound: {err:?}"
    );

    let err = client
        .get_object()
        .bucket("no-such-bucket-get")
        .key("nope")
        .send()
        .await
        .expect_err("GetObject on a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");

    let err = client
        .put_object()
        .bucket("no-such-bucket-put")
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("PutObject into a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");
    assert_eq!(error_status(&err), 404);
}

#[tokio::test]
async fn content_md5_is_verified() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "md5").await;
    let body = b"content md5 checked".to_vec();

    client
        .put_object()
        .bucket(&bucket)
        .key("good")
        .body(body.clone().into())
        .content_md5(md5_base64(&body))
        .send()
        .await
        .expect("PutObject with a correct Content-MD5");
    assert_eq!(get_bytes(&client, &bucket, "good").await, body);

    let err = client
        .put_object()
        .bucket(&bucket)
        .key("bad")
        .body(body.clone().into())
        .content_md5(md5_base64(b"something else"))
        .send()
        .await
        .expect_err("PutObject with a wrong Content-MD5");
    assert_eq!(error_code(&err), "BadDigest");
    assert_eq!(error_status(&err), 400);
    let err = client
        .head_object()
        .bucket(&bucket)
        .key("bad")
        .send()
        .await
        .expect_err("nothing stored after BadDigest");
    assert_eq!(error_status(&err), 404);

    // Not the base64 of 16 bytes at all.
    let answer = RawRequest::new("PUT", &format!("/{bucket}/invalid"))
        .header("content-md5", "not-an-md5")
        .body(body.clone())
        .answer(&server)
        .await;
    answer.assert_error(400, "InvalidDigest");
}

#[tokio::test]
async fn wrong_checksum_headers_are_bad_digest_and_store_nothing() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "badsum").await;
    let body = b"the body that is really sent".to_vec();
    let other = b"a different body".to_vec();

    let mut wrong = Vec::new();
    for algorithm in Checksum::ALL {
        let key = format!("bad-{algorithm:?}");
        let value = algorithm.of(&other);
        let request = client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(body.clone().into());
        let request = match algorithm {
            Checksum::Crc32 => request.checksum_crc32(value),
            Checksum::Crc32c => request.checksum_crc32_c(value),
            Checksum::Crc64Nvme => request.checksum_crc64_nvme(value),
            Checksum::Sha1 => request.checksum_sha1(value),
            Checksum::Sha256 => request.checksum_sha256(value),
        };
        match request.send().await {
            Ok(_) => wrong.push(format!("{algorithm:?}: wrong checksum accepted")),
            Err(err) => {
                let code = err
                    .as_service_error()
                    .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e))
                    .map(str::to_string);
                if code.as_deref() != Some("BadDigest") || error_status(&err) != 400 {
                    wrong.push(format!("{algorithm:?}: {code:?} {err:?}"));
                }
            }
        }
        if client
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .is_ok()
        {
            wrong.push(format!("{algorithm:?}: object stored despite the mismatch"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn raw_wrong_checksum_header_is_bad_digest() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "rawsum").await;
    let body = b"raw body".to_vec();
    for algorithm in Checksum::ALL {
        let key = format!("raw-{algorithm:?}");
        let answer = RawRequest::new("PUT", &format!("/{bucket}/{key}"))
            .header(algorithm.header(), &algorithm.of(b"not the body"))
            .body(body.clone())
            .answer(&server)
            .await;
        answer.assert_error(400, "BadDigest");

        // The right value is accepted and returned.
        let answer = RawRequest::new("PUT", &format!("/{bucket}/{key}"))
            .header(algorithm.header(), &algorithm.of(&body))
            .body(body.clone())
            .answer(&server)
            .await;
        assert_eq!(answer.status, 200, "{algorithm:?}: {}", answer.text());
        let head = RawRequest::new("HEAD", &format!("/{bucket}/{key}"))
            .header("x-amz-checksum-mode", "ENABLED")
            .answer(&server)
            .await;
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header(algorithm.header()),
            Some(algorithm.of(&body)),
            "{algorithm:?} returned by HEAD with x-amz-checksum-mode: ENABLED"
        );
    }

    // Two checksum headers at once are refused.
    let answer = RawRequest::new("PUT", &format!("/{bucket}/two"))
        .header("x-amz-checksum-crc32", &Checksum::Crc32.of(&body))
        .header("x-amz-checksum-sha256", &Checksum::Sha256.of(&body))
        .body(body.clone())
        .answer(&server)
        .await;
    answer.assert_error(400, "InvalidRequest");
}

#[tokio::test]
async fn checksums_are_stored_and_returned_with_checksum_mode() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "sums").await;
    let body = random_bytes(70_000, 7);

    for (algorithm, sdk_algorithm) in [
        (Checksum::Crc32, ChecksumAlgorithm::Crc32),
        (Checksum::Crc32c, ChecksumAlgorithm::Crc32C),
        (Checksum::Crc64Nvme, ChecksumAlgorithm::Crc64Nvme),
        (Checksum::Sha1, ChecksumAlgorithm::Sha1),
        (Checksum::Sha256, ChecksumAlgorithm::Sha256),
    ] {
        let key = format!("sum-{algorithm:?}");
        let want = algorithm.of(&body);
        let put = client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(body.clone().into())
            .checksum_algorithm(sdk_algorithm)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject {algorithm:?}: {e:?}"));
        let from_put = checksum_field!(put, algorithm);
        assert_eq!(
            from_put,
            Some(want.as_str()),
            "PutObject echoes {algorithm:?}"
        );

        let head = client
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("HeadObject");
        let from_head = checksum_field!(head, algorithm);
        assert_eq!(from_head, Some(want.as_str()), "HeadObject {algorithm:?}");

        let get = client
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("GetObject");
        let from_get = checksum_field!(get, algorithm).map(str::to_string);
        assert_eq!(
            from_get.as_deref(),
            Some(want.as_str()),
            "GetObject {algorithm:?}"
        );
        // The SDK validates the returned checksum while the body is read.
        let got = get
            .body
            .collect()
            .await
            .expect("validated body")
            .into_bytes();
        assert_eq!(&got[..], &body[..]);
    }
}

#[tokio::test]
async fn default_sdk_put_sends_crc32_which_is_returned() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "default").await;
    let body = random_bytes(12_345, 3);
    put(&client, &bucket, "k", &body).await;
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(
        head.checksum_crc32(),
        Some(Checksum::Crc32.of(&body).as_str())
    );
}

/// A file-backed body is streamed as `aws-chunked` with the CRC32 in a trailer
/// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), which is what the SDK sends by default.
#[tokio::test]
async fn streaming_upload_with_trailer_checksum() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "stream").await;
    let body = random_bytes(3 * 1024 * 1024 + 17, 11);
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&body).expect("write temp file");

    let out = client
        .put_object()
        .bucket(&bucket)
        .key("streamed.bin")
        .content_type("application/x-test")
        .content_encoding("gzip")
        .body(
            ByteStream::from_path(file.path())
                .await
                .expect("ByteStream"),
        )
        .send()
        .await
        .expect("streaming PutObject");
    assert_eq!(
        out.e_tag(),
        Some(format!("\"{}\"", md5_hex(&body)).as_str())
    );

    let head = client
        .head_object()
        .bucket(&bucket)
        .key("streamed.bin")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(
        head.content_encoding(),
        Some("gzip"),
        "aws-chunked is stripped from the stored Content-Encoding"
    );
    assert_eq!(head.content_type(), Some("application/x-test"));
    assert_eq!(
        head.checksum_crc32(),
        Some(Checksum::Crc32.of(&body).as_str()),
        "the trailer checksum is stored"
    );
    assert!(get_bytes(&client, &bucket, "streamed.bin").await == body);
}

fn unsigned_trailer_body(data: &[u8], trailer: &str, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    out.extend_from_slice(trailer.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out
}

#[tokio::test]
async fn raw_unsigned_trailer_checksum_is_verified() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "trailer").await;
    let data = random_bytes(200_000, 5);

    for (key, checksum, want_ok) in [
        ("good", Checksum::Crc32c.of(&data), true),
        ("bad", Checksum::Crc32c.of(b"other"), false),
    ] {
        let body =
            unsigned_trailer_body(&data, &format!("x-amz-checksum-crc32c:{checksum}"), 65_536);
        let answer = RawRequest::new("PUT", &format!("/{bucket}/{key}"))
            .header("content-encoding", "aws-chunked")
            .header("x-amz-decoded-content-length", &data.len().to_string())
            .header("x-amz-trailer", "x-amz-checksum-crc32c")
            .payload(Payload::Literal(
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ))
            .body(body)
            .answer(&server)
            .await;
        if want_ok {
            assert_eq!(answer.status, 200, "{}", answer.text());
            assert_eq!(
                answer.header("etag"),
                Some(format!("\"{}\"", md5_hex(&data)))
            );
            assert!(get_bytes(&client, &bucket, key).await == data);
        } else {
            answer.assert_error(400, "BadDigest");
            let err = client
                .head_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .expect_err("nothing stored after a bad trailer checksum");
            assert_eq!(error_status(&err), 404);
        }
    }
}

#[tokio::test]
async fn delete_object() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "delobj").await;
    put(&client, &bucket, "k", b"v").await;
    put(&client, &bucket, "keep", b"v").await;

    let answer = RawRequest::new("DELETE", &format!("/{bucket}/k"))
        .answer(&server)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text());
    let err = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(error_code(&err), "NoSuchKey");
    assert_eq!(get_bytes(&client, &bucket, "keep").await, b"v");

    // Deleting a key that does not exist succeeds (S3 answers 204).
    client
        .delete_object()
        .bucket(&bucket)
        .key("never-existed")
        .send()
        .await
        .expect("DeleteObject on a missing key");

    let err = client
        .delete_object()
        .bucket("no-such-bucket-del")
        .key("k")
        .send()
        .await
        .expect_err("DeleteObject in a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");
}

fn identifiers(keys: &[&str]) -> Vec<ObjectIdentifier> {
    keys.iter()
        .map(|k| {
            ObjectIdentifier::builder()
                .key(*k)
                .build()
                .expect("identifier")
        })
        .collect()
}

#[tokio::test]
async fn delete_objects_verbose() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "multidel").await;
    for key in ["a", "b", "c/d", "keep"] {
        put(&client, &bucket, key, key.as_bytes()).await;
    }

    let out = client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(identifiers(&["a", "b", "c/d", "never-existed"])))
                .build()
                .expect("Delete"),
        )
        .send()
        .await
        .expect("DeleteObjects");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    // S3 reports a key that did not exist as deleted too.
    assert_eq!(deleted, ["a", "b", "c/d", "never-existed"]);
    assert!(out.errors().is_empty(), "errors: {:?}", out.errors());

    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["keep"]);
}

#[tokio::test]
async fn delete_objects_quiet() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "quietdel").await;
    for key in ["x", "y", "z"] {
        put(&client, &bucket, key, b"1").await;
    }
    let out = client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(identifiers(&["x", "y"])))
                .quiet(true)
                .build()
                .expect("Delete"),
        )
        .send()
        .await
        .expect("DeleteObjects quiet");
    assert!(
        out.deleted().is_empty(),
        "quiet mode lists no successful deletions: {:?}",
        out.deleted()
    );
    assert!(out.errors().is_empty());
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["z"]);

    let err = client
        .delete_objects()
        .bucket("no-such-bucket-multidel")
        .delete(
            Delete::builder()
                .set_objects(Some(identifiers(&["x"])))
                .build()
                .expect("Delete"),
        )
        .send()
        .await
        .expect_err("DeleteObjects on a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn delete_objects_malformed_xml() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "badxml").await;
    let body = b"<Delete><Object><Key>unterminated".to_vec();
    let answer = RawRequest::new("POST", &format!("/{bucket}?delete"))
        .header("content-md5", &md5_base64(&body))
        .body(body)
        .answer(&server)
        .await;
    answer.assert_error(400, "MalformedXML");
}

/// 100 MiB streamed up (aws-chunked with a trailer) and down, compared by MD5.
#[tokio::test]
async fn large_object_100_mib_round_trip() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "large").await;
    const SIZE: usize = 100 * 1024 * 1024;

    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let mut md5 = Md5::new();
    // Mostly random data, with one repeated block so that deduplicating stores are exercised.
    let block = random_bytes(1024 * 1024, 42);
    for i in 0..100u64 {
        let piece = if i % 10 == 3 {
            block.clone()
        } else {
            random_bytes(1024 * 1024, 1000 + i)
        };
        md5.update(&piece);
        file.write_all(&piece).expect("write temp file");
    }
    file.flush().expect("flush");
    let want_md5 = hex::encode(md5.finalize());

    let out = client
        .put_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .body(
            ByteStream::from_path(file.path())
                .await
                .expect("ByteStream"),
        )
        .send()
        .await
        .expect("PutObject 100 MiB");
    assert_eq!(out.e_tag(), Some(format!("\"{want_md5}\"").as_str()));

    let head = client
        .head_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_length(), Some(SIZE as i64));

    let mut get = client
        .get_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .send()
        .await
        .expect("GetObject 100 MiB");
    assert_eq!(get.content_length(), Some(SIZE as i64));
    let mut md5 = Md5::new();
    let mut total = 0usize;
    while let Some(bytes) = get.body.try_next().await.expect("read body") {
        total += bytes.len();
        md5.update(&bytes);
    }
    assert_eq!(total, SIZE);
    assert_eq!(hex::encode(md5.finalize()), want_md5, "bytes differ");
}

#[tokio::test]
async fn unsigned_payload_and_sha256_mismatch() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "payload").await;

    let answer = RawRequest::new("PUT", &format!("/{bucket}/unsigned"))
        .payload(Payload::Unsigned)
        .body(b"unsigned payload".to_vec())
        .answer(&server)
        .await;
    assert_eq!(answer.status, 200, "UNSIGNED-PAYLOAD: {}", answer.text());
    assert_eq!(
        get_bytes(&client, &bucket, "unsigned").await,
        b"unsigned payload"
    );

    // The declared hash is of another body.
    let answer = RawRequest::new("PUT", &format!("/{bucket}/mismatch"))
        .payload(Payload::Literal(crate::common::sha256_hex(b"declared")))
        .body(b"actually sent".to_vec())
        .answer(&server)
        .await;
    answer.assert_error(400, "XAmzContentSHA256Mismatch");
    let err = client
        .head_object()
        .bucket(&bucket)
        .key("mismatch")
        .send()
        .await
        .expect_err("nothing stored");
    assert_eq!(error_status(&err), 404);
}

// issue #18: with aws-chunked removed, the rest of Content-Encoding was rejoined without its
// spaces (`deflate,gzip` for `deflate, gzip`).
#[tokio::test]
async fn content_encoding_is_stored_as_sent() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "encoding").await;
    let data = b"encoded bytes".to_vec();
    let checksum = Checksum::Crc32c.of(&data);
    for (key, sent, stored) in [
        ("chunked", "aws-chunked, deflate, gzip", "deflate, gzip"),
        ("plain", "deflate, gzip", "deflate, gzip"),
    ] {
        let request =
            RawRequest::new("PUT", &format!("/{bucket}/{key}")).header("content-encoding", sent);
        let request = if sent.starts_with("aws-chunked") {
            request
                .header("x-amz-decoded-content-length", &data.len().to_string())
                .header("x-amz-trailer", "x-amz-checksum-crc32c")
                .payload(Payload::Literal(
                    "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
                ))
                .body(unsigned_trailer_body(
                    &data,
                    &format!("x-amz-checksum-crc32c:{checksum}"),
                    65_536,
                ))
        } else {
            request.body(data.clone())
        };
        let answer = request.answer(&server).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("HeadObject");
        assert_eq!(head.content_encoding(), Some(stored), "{key}");
    }
}
