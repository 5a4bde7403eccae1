//! Acknowledged writes survive `kill -9`; a clean stop leaves nothing to recover; damaged chunks
//! are never served and `strata check` finds and quarantines them.

use std::io::Write;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::{
    create_bucket, error_code, get_bytes, md5_hex, put, random_bytes, strata_check, Server,
};

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

/// `strata check` on the stopped server's data directory.
fn check(server: &Server, args: &[&str]) -> (i32, String) {
    strata_check(&server.data_dir(), args)
}

/// The chunk files under `chunks/hot`.
fn hot_chunk_files(server: &Server) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![server.data_dir().join("chunks").join("hot")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read chunk directory") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

// Issue 14: a flipped bit in a chunk file was served to clients as the object's bytes, and nothing
// could find it.
#[tokio::test]
async fn a_flipped_bit_cuts_the_get_and_check_finds_and_quarantines_it() {
    let mut server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "bitflip").await;
    let victim = random_bytes(3 * 1024 * 1024, 90);
    put(&client, &bucket, "victim", &victim).await;
    // Small enough to be kept inline: every chunk file is the victim's.
    put(&client, &bucket, "bystander", b"kept inline, untouched").await;
    assert!(server.terminate(Duration::from_secs(20)).success());

    let (code, out) = check(&server, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 versions") && out.contains("no problems"),
        "{out}"
    );

    let files = hot_chunk_files(&server);
    assert!(files.len() > 1, "a 3 MiB object has several chunks");
    let path = &files[0];
    let mut bytes = std::fs::read(path).expect("read chunk");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(path, &bytes).expect("flip a bit");
    let hash = path.file_name().and_then(|n| n.to_str()).expect("name");

    let (code, out) = check(&server, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("corrupt chunk: hot chunk {hash}")),
        "{out}"
    );
    assert!(
        out.contains("damaged version: ") && out.contains("/victim version null"),
        "{out}"
    );

    // The GET fails rather than hand out the damaged bytes: the response is cut.
    server.start_again();
    let client = server.client();
    match client
        .get_object()
        .bucket(&bucket)
        .key("victim")
        .send()
        .await
    {
        Err(_) => {}
        Ok(out) => {
            let body = out.body.collect().await;
            assert!(body.is_err(), "a damaged object was served in full");
        }
    }
    assert_eq!(
        get_bytes(&client, &bucket, "bystander").await,
        b"kept inline, untouched"
    );
    assert!(server.terminate(Duration::from_secs(20)).success());

    let (code, out) = check(&server, &["--repair"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("repaired: moved ") && out.contains("no problems left"),
        "{out}"
    );
    let quarantined = server
        .data_dir()
        .join("quarantine")
        .join(format!("hot-{hash}"));
    assert_eq!(
        std::fs::read(&quarantined).expect("quarantined chunk"),
        bytes
    );
    let (code, out) = check(&server, &[]);
    assert_eq!(code, 0, "{out}");

    server.start_again();
    let client = server.client();
    let err = client
        .get_object()
        .bucket(&bucket)
        .key("victim")
        .send()
        .await
        .expect_err("the damaged version was removed");
    assert_eq!(error_code(&err), "NoSuchKey");
    assert_eq!(
        get_bytes(&client, &bucket, "bystander").await,
        b"kept inline, untouched"
    );
}

// Issue 16: `strata check --repair` stopped at a damaged version under Object Lock (the engine
// refused the removal) and repaired nothing after it; it now keeps the locked version and says so.
#[tokio::test]
async fn repair_keeps_a_damaged_version_under_object_lock() {
    let mut server = Server::start();
    let client = server.client();
    let bucket = crate::common::lock_bucket(&client, "bitlock").await;
    let victim = random_bytes(3 * 1024 * 1024, 91);
    let version = client
        .put_object()
        .bucket(&bucket)
        .key("victim")
        .body(victim.into())
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("PutObject with a legal hold")
        .version_id()
        .expect("a version id")
        .to_string();
    assert!(server.terminate(Duration::from_secs(20)).success());
    let files = hot_chunk_files(&server);
    let mut bytes = std::fs::read(&files[0]).expect("read chunk");
    bytes[0] ^= 0x01;
    std::fs::write(&files[0], &bytes).expect("flip a bit");

    let (_, out) = check(&server, &["--repair"]);
    assert!(
        out.contains(&format!(
            "kept damaged version {bucket}/victim {version}: it is under Object Lock"
        )),
        "{out}"
    );
    server.start_again();
    let client = server.client();
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("victim")
        .version_id(&version)
        .send()
        .await;
    assert!(head.is_ok(), "the locked version is still there: {head:?}");
}
