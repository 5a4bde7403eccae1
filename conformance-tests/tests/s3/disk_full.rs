//! A full disk (issue #14): the data directory, or the cold tier, on a small tmpfs the test mounts.
//! Writes fail with a retryable `503 ServiceUnavailable` and store nothing, reads go on, nothing
//! committed is damaged, no temporary file is left behind, and writes resume once space is freed;
//! a transition to a full cold tier waits and completes when the tier has room.
//!
//! Mounting needs root (CI runs as root); elsewhere these tests say so and pass without running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::types::StorageClass;

use crate::common::{
    create_bucket, dir_usage, get_bytes, put, random_bytes, running_as_root, strata_check,
    RawRequest, Server, ServerOptions, MIB,
};

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it); None, after saying so, when the
    /// tests do not run as root.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs { dir }),
            other if running_as_root() => panic!("mount -t tmpfs failed as root: {other:?}"),
            _ => {
                eprintln!("not run: mounting a tmpfs needs root");
                None
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Grows (or shrinks) the file system in place.
    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The entries of a directory (the temporary files a failed write could leave).
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect()
}

// Issue 14: what a full disk does to writes, reads and stored data was unknown.
#[tokio::test]
async fn a_full_data_disk_refuses_writes_keeps_reads_and_resumes_when_space_returns() {
    let Some(fs) = Tmpfs::mount("24m") else {
        return;
    };
    let mut server = Server::start_with(ServerOptions {
        data_dir: Some(fs.path()),
        ..ServerOptions::default()
    });
    let client = server.client();
    let bucket = create_bucket(&client, "full").await;
    let kept = random_bytes(2 * MIB, 1);
    put(&client, &bucket, "kept", &kept).await;
    put(&client, &bucket, "small", b"inline").await;

    // Fill the disk with 1 MiB objects until a write is refused.
    let mut stored = Vec::new();
    let refused = loop {
        assert!(stored.len() < 64, "a 24 MiB file system never filled up");
        let key = format!("fill/{}", stored.len());
        let body = random_bytes(MIB, 100 + stored.len() as u64);
        let answer = RawRequest::new("PUT", &format!("/{bucket}/{key}"))
            .body(body.clone())
            .answer(&server)
            .await;
        if answer.status != 200 {
            break answer;
        }
        stored.push((key, body));
    };
    // Not InternalError: a retryable 503 that says what happened, as an SDK can act on it.
    refused.assert_error(503, "ServiceUnavailable");
    assert!(
        refused.text().contains("no space left"),
        "{}",
        refused.text()
    );
    assert!(stored.len() >= 4, "only {} objects fit", stored.len());
    assert!(
        entries(&fs.path().join("tmp")).is_empty(),
        "a refused write left temporary files"
    );

    // Reads, listings and the objects stored before go on.
    assert!(get_bytes(&client, &bucket, "kept").await == kept);
    assert_eq!(get_bytes(&client, &bucket, "small").await, b"inline");
    let (key, body) = &stored[stored.len() - 1];
    assert!(get_bytes(&client, &bucket, key).await == *body);
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("fill/")
        .send()
        .await
        .expect("ListObjectsV2 on a full disk");
    assert_eq!(listed.key_count(), Some(stored.len() as i32));
    let refused_key = format!("fill/{}", stored.len());
    let err = client
        .head_object()
        .bucket(&bucket)
        .key(&refused_key)
        .send()
        .await
        .expect_err("the refused write stored nothing");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));

    // Deleting frees space, and writes resume.
    for (key, _) in stored.drain(..4) {
        client
            .delete_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .expect("DeleteObject on a full disk");
    }
    let again = random_bytes(MIB, 999);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = RawRequest::new("PUT", &format!("/{bucket}/again"))
            .body(again.clone())
            .answer(&server)
            .await;
        if answer.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not resume: {}",
            answer.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(get_bytes(&client, &bucket, "again").await == again);

    // Nothing committed was damaged and nothing leaked.
    assert!(server.terminate(Duration::from_secs(20)).success());
    let (code, out) = strata_check(&fs.path(), &[]);
    assert_eq!(code, 0, "{out}");
    server.start_again();
    let client = server.client();
    assert!(get_bytes(&client, &bucket, "kept").await == kept);
    for (key, body) in &stored {
        assert!(get_bytes(&client, &bucket, key).await == *body, "{key}");
    }
}

// Issue 14: a write straight into GLACIER failed with 500 after it was committed when the cold
// tier was full, and a cold tier on its own file system could not be written at all (chunks were
// renamed into it from the data directory's tmp/).
#[tokio::test]
async fn a_full_cold_tier_delays_archiving_until_it_has_room() {
    let Some(cold) = Tmpfs::mount("1m") else {
        return;
    };
    let cold_dir = cold.path();
    let mut server = Server::start_with(ServerOptions {
        extra_args: vec![
            "--cold-dir".into(),
            cold_dir.to_str().expect("UTF-8 path").into(),
            "--lifecycle-interval-ms".into(),
            "100".into(),
        ],
        ..ServerOptions::default()
    });
    let client = server.client();
    let bucket = create_bucket(&client, "coldfull").await;
    let body = random_bytes(3 * MIB, 7);
    client
        .put_object()
        .bucket(&bucket)
        .key("archived")
        .storage_class(StorageClass::Glacier)
        .body(body.clone().into())
        .send()
        .await
        .expect("a PUT into GLACIER is stored although the cold tier is full");
    put(&client, &bucket, "hot", b"still readable").await;

    // The bytes stay in the hot tier while the cold one is full; nothing half-written is left.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hot = server.data_dir().join("chunks").join("hot");
    assert!(dir_usage(&hot).1 >= body.len() as u64);
    assert!(entries(&cold_dir.join(".tmp")).is_empty());
    assert!(dir_usage(&cold_dir).1 < body.len() as u64);
    assert_eq!(get_bytes(&client, &bucket, "hot").await, b"still readable");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("archived")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.storage_class(), Some(&StorageClass::Glacier));

    // Room in the cold tier: the worker archives the version and the hot tier gives its bytes up.
    cold.resize("16m");
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir_usage(&hot).1 >= body.len() as u64 {
        assert!(Instant::now() < deadline, "the version was never archived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dir_usage(&cold_dir).1 >= body.len() as u64);
    assert!(server.terminate(Duration::from_secs(20)).success());
    let (code, out) = strata_check(
        &server.data_dir(),
        &["--cold-dir", cold_dir.to_str().expect("UTF-8 path")],
    );
    assert_eq!(code, 0, "{out}");
}
