//! Virtual-hosted-style addressing (`bucket.DOMAIN`) with `--domain localhost`.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::common::{
    bucket_name, error_code, get_bytes, Answer, RawRequest, Server, ServerOptions,
};

#[tokio::test]
async fn virtual_hosted_style_client() {
    let server = Server::start_with(ServerOptions {
        domain: Some("localhost".into()),
        ..ServerOptions::default()
    });
    let client = server.virtual_hosted_client();
    let bucket = bucket_name("vhost");

    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket (virtual-hosted)");
    client
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("HeadBucket (virtual-hosted)");
    let listed = client
        .list_buckets()
        .send()
        .await
        .expect("ListBuckets on the bare domain");
    assert!(listed
        .buckets()
        .iter()
        .any(|b| b.name() == Some(bucket.as_str())));

    for key in ["one.txt", "dir/two.txt", "with space.txt"] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(key.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject {key} (virtual-hosted): {e:?}"));
        assert_eq!(get_bytes(&client, &bucket, key).await, key.as_bytes());
    }
    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .expect("ListObjectsV2 (virtual-hosted)");
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["one.txt", "with space.txt"]);
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["dir/"]);

    let location = client
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketLocation (virtual-hosted)");
    assert_eq!(
        location
            .location_constraint()
            .map(|c| c.as_str())
            .unwrap_or(""),
        ""
    );

    // Path-style keeps working on the same server, and sees the same data.
    let path_client = server.client();
    assert_eq!(
        get_bytes(&path_client, &bucket, "dir/two.txt").await,
        b"dir/two.txt"
    );

    let err = client
        .get_object()
        .bucket(&bucket)
        .key("missing")
        .send()
        .await
        .expect_err("missing key");
    assert_eq!(error_code(&err), "NoSuchKey");

    let out = client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(
                    ["one.txt", "dir/two.txt", "with space.txt"]
                        .iter()
                        .map(|k| ObjectIdentifier::builder().key(*k).build().expect("id"))
                        .collect(),
                ))
                .build()
                .expect("Delete"),
        )
        .send()
        .await
        .expect("DeleteObjects (virtual-hosted)");
    assert_eq!(out.deleted().len(), 3);
    client
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucket (virtual-hosted)");
    let err = client
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("deleted bucket");
    assert!(
        err.as_service_error().is_some_and(|e| e.is_not_found()),
        "{err:?}"
    );
}

/// A request whose Host is `bucket.localhost` addresses that bucket even on the path `/`.
#[tokio::test]
async fn host_header_selects_the_bucket() {
    let server = Server::start_with(ServerOptions {
        domain: Some("localhost".into()),
        ..ServerOptions::default()
    });
    let bucket = crate::common::create_bucket(&server.client(), "vhraw").await;
    crate::common::put(&server.client(), &bucket, "k", b"by host").await;

    // Raw request to 127.0.0.1 with the Host header set; it is what was signed.
    let host = format!("{bucket}.localhost:{}", server.port());
    let request = RawRequest::new("GET", "/k").header("host", &host);
    let (headers, _) = request.sign(&server);
    let answer = Answer::read(
        crate::common::send_with_headers(&server, "GET", "/k", &headers, Vec::new()).await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.body, b"by host");
}
