//! Acknowledged writes survive `kill -9`.

use aws_sdk_s3::primitives::ByteStream;
use std::io::Write;

use crate::common::{create_bucket, error_code, get_bytes, md5_hex, put, random_bytes, Server};

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let mut server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "durable").await;
    let small = b"small inline object".to_vec();
    let medium = random_bytes(2 * 1024 * 1024 + 3, 77);
    let large = random_bytes(9 * 1024 * 1024, 78);

    put(&client, &bucket, "small", &small).await;
    put(&client, &bucket, "medium", &medium).await;
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&large).expect("write");
    client
        .put_object()
        .bucket(&bucket)
        .key("large")
        .content_type("application/x-large")
        .metadata("kept", "yes")
        .body(
            ByteStream::from_path(file.path())
                .await
                .expect("ByteStream"),
        )
        .send()
        .await
        .expect("streaming PutObject");
    put(&client, &bucket, "deleted", b"gone").await;
    client
        .delete_object()
        .bucket(&bucket)
        .key("deleted")
        .send()
        .await
        .expect("DeleteObject");
    put(&client, &bucket, "overwritten", b"old").await;
    put(&client, &bucket, "overwritten", b"new").await;

    server.kill9_and_restart();
    let client = server.client();

    let buckets = client
        .list_buckets()
        .send()
        .await
        .expect("ListBuckets after restart");
    assert!(buckets
        .buckets()
        .iter()
        .any(|b| b.name() == Some(bucket.as_str())));
    assert_eq!(get_bytes(&client, &bucket, "small").await, small);
    assert!(
        get_bytes(&client, &bucket, "medium").await == medium,
        "medium differs"
    );
    let got = get_bytes(&client, &bucket, "large").await;
    assert_eq!(md5_hex(&got), md5_hex(&large), "large differs");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("large")
        .send()
        .await
        .expect("HeadObject after restart");
    assert_eq!(head.content_type(), Some("application/x-large"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("kept"))
            .map(String::as_str),
        Some("yes")
    );
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", md5_hex(&large)).as_str())
    );
    assert_eq!(get_bytes(&client, &bucket, "overwritten").await, b"new");
    let err = client
        .get_object()
        .bucket(&bucket)
        .key("deleted")
        .send()
        .await
        .expect_err("a deleted object stays deleted");
    assert_eq!(error_code(&err), "NoSuchKey");
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2 after restart");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["large", "medium", "overwritten", "small"]);

    // The restarted server accepts writes, and a second crash keeps them too.
    put(&client, &bucket, "after", b"after restart").await;
    server.kill9_and_restart();
    let client = server.client();
    assert_eq!(get_bytes(&client, &bucket, "after").await, b"after restart");
    assert_eq!(get_bytes(&client, &bucket, "small").await, small);
}
