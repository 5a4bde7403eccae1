//! Object tagging (Put/Get/DeleteObjectTagging, `x-amz-tagging` on PutObject and
//! CreateMultipartUpload, `x-amz-tagging-count`), S3's tag limits, and bucket tagging.

use aws_sdk_s3::Client;

use crate::common::{
    assert_sdk_error, completed_parts, create_bucket, md5_base64, put, sorted_pairs, sorted_tags,
    tagging, upload_part, Answer, RawRequest, Server,
};

async fn object_tags(client: &Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObjectTagging {bucket}/{key}: {e:?}"));
    sorted_tags(out.tag_set())
}

async fn tag_count(client: &Client, bucket: &str, key: &str) -> Option<i32> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e:?}"))
        .tag_count()
}

#[tokio::test]
async fn put_get_delete_object_tagging() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "tags").await;
    put(&client, &bucket, "k", b"tag me").await;

    assert!(object_tags(&client, &bucket, "k").await.is_empty());
    assert_eq!(
        tag_count(&client, &bucket, "k").await,
        None,
        "no tags, no header"
    );

    let want = [("project", "strata"), ("owner", "ops team"), ("empty", "")];
    client
        .put_object_tagging()
        .bucket(&bucket)
        .key("k")
        .tagging(tagging(&want))
        .send()
        .await
        .expect("PutObjectTagging");
    assert_eq!(
        object_tags(&client, &bucket, "k").await,
        sorted_pairs(&want)
    );
    assert_eq!(tag_count(&client, &bucket, "k").await, Some(3));
    let raw = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}/k"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(raw.header("x-amz-tagging-count").as_deref(), Some("3"));

    // PutObjectTagging replaces the whole set.
    client
        .put_object_tagging()
        .bucket(&bucket)
        .key("k")
        .tagging(tagging(&[("only", "one")]))
        .send()
        .await
        .expect("PutObjectTagging again");
    assert_eq!(
        object_tags(&client, &bucket, "k").await,
        sorted_pairs(&[("only", "one")])
    );

    // Tags survive neither an overwrite of the object...
    put(&client, &bucket, "k", b"new content").await;
    assert!(
        object_tags(&client, &bucket, "k").await.is_empty(),
        "an overwrite drops the tags"
    );

    // ...nor DeleteObjectTagging, which answers 204.
    client
        .put_object_tagging()
        .bucket(&bucket)
        .key("k")
        .tagging(tagging(&[("a", "1")]))
        .send()
        .await
        .expect("PutObjectTagging");
    let answer = Answer::read(
        RawRequest::new("DELETE", &format!("/{bucket}/k?tagging"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 204, "DeleteObjectTagging: {}", answer.text());
    assert!(object_tags(&client, &bucket, "k").await.is_empty());
    assert_eq!(tag_count(&client, &bucket, "k").await, None);

    // The raw Tagging document.
    let answer = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}/k?tagging"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200);
    let text = answer.text();
    assert!(
        text.contains("<Tagging") && text.contains("TagSet"),
        "{text}"
    );

    let err = client
        .get_object_tagging()
        .bucket(&bucket)
        .key("missing")
        .send()
        .await
        .expect_err("GetObjectTagging on a missing key");
    assert_sdk_error(&err, 404, "NoSuchKey");
    let err = client
        .put_object_tagging()
        .bucket(&bucket)
        .key("missing")
        .tagging(tagging(&[("a", "1")]))
        .send()
        .await
        .expect_err("PutObjectTagging on a missing key");
    assert_sdk_error(&err, 404, "NoSuchKey");
    let err = client
        .delete_object_tagging()
        .bucket(&bucket)
        .key("missing")
        .send()
        .await
        .expect_err("DeleteObjectTagging on a missing key");
    assert_sdk_error(&err, 404, "NoSuchKey");
}

#[tokio::test]
async fn tagging_header_on_put_and_multipart() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "taghdr").await;

    client
        .put_object()
        .bucket(&bucket)
        .key("put")
        .tagging("k1=v1&k2=two%20words&k3=a%2Bb%3Dc")
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("PutObject with x-amz-tagging");
    assert_eq!(
        object_tags(&client, &bucket, "put").await,
        sorted_pairs(&[("k1", "v1"), ("k2", "two words"), ("k3", "a+b=c")])
    );
    assert_eq!(tag_count(&client, &bucket, "put").await, Some(3));

    let upload_id = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("mpu")
        .tagging("from=multipart&n=2")
        .send()
        .await
        .expect("CreateMultipartUpload with x-amz-tagging")
        .upload_id()
        .expect("UploadId")
        .to_string();
    let etag = upload_part(&client, &bucket, "mpu", &upload_id, 1, b"part").await;
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("mpu")
        .upload_id(&upload_id)
        .multipart_upload(completed_parts(&[(1, &etag)]))
        .send()
        .await
        .expect("CompleteMultipartUpload");
    assert_eq!(
        object_tags(&client, &bucket, "mpu").await,
        sorted_pairs(&[("from", "multipart"), ("n", "2")])
    );
    assert_eq!(tag_count(&client, &bucket, "mpu").await, Some(2));
}

#[tokio::test]
async fn object_tag_limits() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "taglimit").await;
    put(&client, &bucket, "k", b"x").await;

    // At the limits: 10 tags, 128-character keys, 256-character values.
    let long_key = "k".repeat(128);
    let long_value = "v".repeat(256);
    let mut ten: Vec<(String, String)> =
        (0..9).map(|i| (format!("t{i}"), format!("{i}"))).collect();
    ten.push((long_key.clone(), long_value.clone()));
    let ten_refs: Vec<(&str, &str)> = ten.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    client
        .put_object_tagging()
        .bucket(&bucket)
        .key("k")
        .tagging(tagging(&ten_refs))
        .send()
        .await
        .expect("10 tags at the length limits");
    assert_eq!(object_tags(&client, &bucket, "k").await.len(), 10);

    let eleven: Vec<(String, String)> = (0..11)
        .map(|i| (format!("t{i}"), "v".to_string()))
        .collect();
    let eleven_refs: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let too_long_key = "k".repeat(129);
    let too_long_value = "v".repeat(257);
    let invalid: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("11 tags", eleven_refs),
        ("a 129-character key", vec![(too_long_key.as_str(), "v")]),
        (
            "a 257-character value",
            vec![("k", too_long_value.as_str())],
        ),
        ("duplicate keys", vec![("dup", "1"), ("dup", "2")]),
        ("an aws: key", vec![("aws:reserved", "v")]),
    ];
    for (name, tags) in invalid {
        let err = client
            .put_object_tagging()
            .bucket(&bucket)
            .key("k")
            .tagging(tagging(&tags))
            .send()
            .await
            .expect_err(name);
        let code = err
            .as_service_error()
            .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e))
            .map(str::to_string);
        assert_eq!(
            (crate::common::error_status(&err), code.as_deref()),
            (400, Some("InvalidTag")),
            "{name}: {err:?}"
        );
    }
    // The refused sets changed nothing.
    assert_eq!(object_tags(&client, &bucket, "k").await.len(), 10);

    // The same limits apply to x-amz-tagging on PutObject, which then stores nothing.
    let eleven_query: Vec<String> = (0..11).map(|i| format!("t{i}=v")).collect();
    for (name, header) in [
        ("11 tags", eleven_query.join("&")),
        ("a 129-character key", format!("{too_long_key}=v")),
        ("an aws: key", "aws%3Areserved=v".to_string()),
    ] {
        let err = client
            .put_object()
            .bucket(&bucket)
            .key("with-header")
            .tagging(header)
            .body(b"x".to_vec().into())
            .send()
            .await
            .expect_err(name);
        assert_sdk_error(&err, 400, "InvalidTag");
        let err = client
            .head_object()
            .bucket(&bucket)
            .key("with-header")
            .send()
            .await
            .expect_err("nothing stored");
        assert_eq!(crate::common::error_status(&err), 404, "{name}");
    }
}

#[tokio::test]
async fn bucket_tagging() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "btags").await;

    let err = client
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("GetBucketTagging with no tags");
    assert_sdk_error(&err, 404, "NoSuchTagSet");

    let want = [
        ("cost-center", "42"),
        ("env", "test"),
        ("note", "with spaces"),
    ];
    client
        .put_bucket_tagging()
        .bucket(&bucket)
        .tagging(tagging(&want))
        .send()
        .await
        .expect("PutBucketTagging");
    let got = client
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketTagging");
    assert_eq!(sorted_tags(got.tag_set()), sorted_pairs(&want));

    // PutBucketTagging replaces the set and answers 204 No Content.
    let body = "<Tagging><TagSet><Tag><Key>only</Key><Value>one</Value></Tag></TagSet></Tagging>";
    let answer = Answer::read(
        RawRequest::new("PUT", &format!("/{bucket}?tagging"))
            .header("content-md5", &md5_base64(body.as_bytes()))
            .body(body)
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 204, "PutBucketTagging: {}", answer.text());
    let got = client
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketTagging");
    assert_eq!(sorted_tags(got.tag_set()), sorted_pairs(&[("only", "one")]));

    for (name, tags) in [
        ("duplicate keys", vec![("dup", "1"), ("dup", "2")]),
        ("an aws: key", vec![("aws:cloudformation:stack-name", "x")]),
    ] {
        let err = client
            .put_bucket_tagging()
            .bucket(&bucket)
            .tagging(tagging(&tags))
            .send()
            .await
            .expect_err(name);
        assert_sdk_error(&err, 400, "InvalidTag");
    }

    let answer = Answer::read(
        RawRequest::new("DELETE", &format!("/{bucket}?tagging"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 204, "DeleteBucketTagging: {}", answer.text());
    let err = client
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("GetBucketTagging after delete");
    assert_sdk_error(&err, 404, "NoSuchTagSet");

    let err = client
        .get_bucket_tagging()
        .bucket("no-such-bucket-tagging")
        .send()
        .await
        .expect_err("missing bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");
}
