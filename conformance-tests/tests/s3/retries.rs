//! Writes that S3 makes safe to retry: an SDK that timed out waiting for an answer sends the
//! request again, and the second answer must be what the first would have been.
//!
//! CompleteMultipartUpload retried after it succeeded answers 200 with the same ETag, location,
//! checksum and version id, as S3 does (the API reference asks applications to be prepared to
//! retry a completion, and SDKs retry one that timed out), for as long as Strata remembers the
//! completion (24 hours). It writes nothing a second time.

use aws_sdk_s3::types::ChecksumAlgorithm;

use crate::common::{
    assert_sdk_error, completed_parts, create_bucket, create_upload, create_upload_with_checksum,
    get_bytes, random_bytes, upload_part, versioned_bucket, Server, MIN_PART,
};

// Issue 18: a CompleteMultipartUpload retried after it succeeded was refused with NoSuchUpload.
#[tokio::test]
async fn complete_multipart_upload_retried_after_success_gives_the_same_answer() {
    let server = Server::start();
    let client = server.client();
    for versioned in [false, true] {
        let bucket = if versioned {
            versioned_bucket(&client, "retry-v").await
        } else {
            create_bucket(&client, "retry").await
        };
        let key = "big/object.bin";
        let first = random_bytes(MIN_PART, 1);
        let second = random_bytes(1000, 2);
        let upload_id = create_upload(&client, &bucket, key).await;
        let e1 = upload_part(&client, &bucket, key, &upload_id, 1, &first).await;
        let e2 = upload_part(&client, &bucket, key, &upload_id, 2, &second).await;
        let parts = completed_parts(&[(1, e1.as_str()), (2, e2.as_str())]);
        let complete = || {
            client
                .complete_multipart_upload()
                .bucket(&bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(parts.clone())
                .send()
        };
        let done = complete().await.expect("CompleteMultipartUpload");
        let again = complete().await.expect("CompleteMultipartUpload, retried");
        assert_eq!(again.e_tag(), done.e_tag());
        assert_eq!(again.location(), done.location());
        assert_eq!(again.bucket(), done.bucket());
        assert_eq!(again.key(), done.key());
        assert_eq!(again.version_id(), done.version_id());
        assert_eq!(done.version_id().is_some(), versioned);

        // The retry wrote nothing: the object is the one the first completion made, and a
        // versioned bucket holds one version of it.
        let mut whole = first.clone();
        whole.extend_from_slice(&second);
        assert_eq!(get_bytes(&client, &bucket, key).await, whole);
        let versions = client
            .list_object_versions()
            .bucket(&bucket)
            .send()
            .await
            .expect("ListObjectVersions");
        assert_eq!(versions.versions().len(), 1);

        // The same upload id under another key is still unknown.
        let err = client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key("another-key")
            .upload_id(&upload_id)
            .multipart_upload(parts.clone())
            .send()
            .await
            .expect_err("another key");
        assert_sdk_error(&err, 404, "NoSuchUpload");
        // And an upload that was aborted is not a completed one.
        let aborted = create_upload(&client, &bucket, key).await;
        client
            .abort_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .upload_id(&aborted)
            .send()
            .await
            .expect("AbortMultipartUpload");
        let err = client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .upload_id(&aborted)
            .multipart_upload(parts.clone())
            .send()
            .await
            .expect_err("aborted upload");
        assert_sdk_error(&err, 404, "NoSuchUpload");
    }
}

// Issue 18: the retried completion's answer carries the checksum the first one reported.
#[tokio::test]
async fn retried_completion_reports_the_same_checksum() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "retry-sum").await;
    let key = "summed";
    let upload_id =
        create_upload_with_checksum(&client, &bucket, key, ChecksumAlgorithm::Crc32).await;
    let body = random_bytes(1000, 3);
    let part = client
        .upload_part()
        .bucket(&bucket)
        .key(key)
        .upload_id(&upload_id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(body.clone().into())
        .send()
        .await
        .expect("UploadPart");
    let done_part = aws_sdk_s3::types::CompletedPart::builder()
        .part_number(1)
        .e_tag(part.e_tag().expect("ETag"))
        .checksum_crc32(part.checksum_crc32().expect("part CRC32"))
        .build();
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(done_part)
        .build();
    let complete = || {
        client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(parts.clone())
            .send()
    };
    let done = complete().await.expect("CompleteMultipartUpload");
    let again = complete().await.expect("CompleteMultipartUpload, retried");
    assert!(done.checksum_crc32().is_some());
    assert_eq!(again.checksum_crc32(), done.checksum_crc32());
    assert_eq!(again.checksum_type(), done.checksum_type());
    assert_eq!(again.e_tag(), done.e_tag());
}
