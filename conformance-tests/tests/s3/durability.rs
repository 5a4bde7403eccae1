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

// Issue 14: SIGTERM left the background workers running and the WAL unflushed, so every start
// after a clean stop had a WAL to replay.
#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_the_next_start_replays_nothing() {
    let mut server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "sigterm").await;
    let big = random_bytes(3 * 1024 * 1024, 41);
    put(&client, &bucket, "big", &big).await;
    put(&client, &bucket, "small", b"small").await;
    let status = server.terminate(std::time::Duration::from_secs(20));
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        server.log_tail()
    );
    assert!(
        server.log_tail().contains("shut down cleanly"),
        "{}",
        server.log_tail()
    );
    let wal = server.data_dir().join("meta.db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "WAL left after a clean stop");

    server.start_again();
    let client = server.client();
    assert_eq!(get_bytes(&client, &bucket, "big").await, big);
    assert_eq!(get_bytes(&client, &bucket, "small").await, b"small");
}
