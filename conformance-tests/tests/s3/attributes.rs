//! GetObjectAttributes: ETag, Checksum, ObjectParts (paged by MaxParts / PartNumberMarker, with
//! each part's size and checksum), StorageClass and ObjectSize, for the current version or a
//! given one, with the headers S3 sends (S3 API reference, GetObjectAttributes).

use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes, StorageClass,
};

use crate::common::{
    assert_sdk_error, create_bucket, create_upload_with_checksum, put, random_bytes,
    versioned_bucket, Answer, RawRequest, Server, MIN_PART,
};

const ALL: [ObjectAttributes; 5] = [
    ObjectAttributes::Etag,
    ObjectAttributes::Checksum,
    ObjectAttributes::ObjectParts,
    ObjectAttributes::StorageClass,
    ObjectAttributes::ObjectSize,
];

// Issue 18: GetObjectAttributes was answered 501 NotImplemented.
#[tokio::test]
async fn attributes_of_a_single_part_object() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "attrs").await;
    let body = random_bytes(3000, 21);
    let put_out = client
        .put_object()
        .bucket(&bucket)
        .key("one")
        .storage_class(StorageClass::StandardIa)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(body.clone().into())
        .send()
        .await
        .expect("PutObject");
    let out = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("one")
        .set_object_attributes(Some(ALL.to_vec()))
        .send()
        .await
        .expect("GetObjectAttributes");
    // The ETag comes without quotes in this operation.
    assert_eq!(out.e_tag(), put_out.e_tag().map(|e| e.trim_matches('"')));
    assert_eq!(out.object_size(), Some(3000));
    assert_eq!(out.storage_class(), Some(&StorageClass::StandardIa));
    let checksum = out.checksum().expect("Checksum");
    assert_eq!(checksum.checksum_sha256(), put_out.checksum_sha256());
    assert!(
        out.object_parts().is_none(),
        "one-piece object has no parts"
    );
    assert!(out.last_modified().is_some());
    assert!(out.version_id().is_none());

    // Only what was asked for comes back.
    let out = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("one")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("GetObjectAttributes ObjectSize");
    assert_eq!(out.object_size(), Some(3000));
    assert!(out.e_tag().is_none() && out.checksum().is_none() && out.storage_class().is_none());

    // No attributes named, an unknown name, a missing key.
    let path = format!("/{bucket}/one?attributes");
    let answer = Answer::read(RawRequest::new("GET", &path).send(&server).await).await;
    answer.assert_error(400, "InvalidArgument");
    let answer = Answer::read(
        RawRequest::new("GET", &path)
            .header("x-amz-object-attributes", "ETag,Colour")
            .send(&server)
            .await,
    )
    .await;
    answer.assert_error(400, "InvalidArgument");
    let err = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("missing")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect_err("missing key");
    assert_sdk_error(&err, 404, "NoSuchKey");
}

// Issue 18: GetObjectAttributes was answered 501 NotImplemented.
#[tokio::test]
async fn attributes_page_the_parts_of_a_multipart_object() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "attrs-mpu").await;
    let key = "parts";
    let sizes = [MIN_PART, MIN_PART, 1234];
    let upload_id =
        create_upload_with_checksum(&client, &bucket, key, ChecksumAlgorithm::Crc32).await;
    let mut done = Vec::new();
    let mut part_sums = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let n = i as i32 + 1;
        let out = client
            .upload_part()
            .bucket(&bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(random_bytes(*size, 30 + i as u64).into())
            .send()
            .await
            .expect("UploadPart");
        let sum = out.checksum_crc32().expect("part CRC32").to_owned();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("ETag"))
                .checksum_crc32(&sum)
                .build(),
        );
        part_sums.push(sum);
    }
    let completed = client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("CompleteMultipartUpload");

    let page = |max: i32, marker: Option<&str>| {
        client
            .get_object_attributes()
            .bucket(&bucket)
            .key(key)
            .set_object_attributes(Some(ALL.to_vec()))
            .max_parts(max)
            .set_part_number_marker(marker.map(str::to_owned))
            .send()
    };
    let first = page(2, None).await.expect("first page");
    assert_eq!(
        first.e_tag(),
        completed.e_tag().map(|e| e.trim_matches('"'))
    );
    assert_eq!(
        first.object_size(),
        Some(sizes.iter().sum::<usize>() as i64)
    );
    assert_eq!(
        first.checksum().and_then(|c| c.checksum_crc32()),
        completed.checksum_crc32()
    );
    let parts = first.object_parts().expect("ObjectParts");
    assert_eq!(parts.total_parts_count(), Some(3));
    assert_eq!(parts.max_parts(), Some(2));
    assert_eq!(parts.is_truncated(), Some(true));
    assert_eq!(parts.next_part_number_marker(), Some("2"));
    let listed: Vec<(Option<i32>, Option<i64>, Option<&str>)> = parts
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size(), p.checksum_crc32()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (Some(1), Some(MIN_PART as i64), Some(part_sums[0].as_str())),
            (Some(2), Some(MIN_PART as i64), Some(part_sums[1].as_str())),
        ]
    );
    let second = page(2, Some("2")).await.expect("second page");
    let parts = second.object_parts().expect("ObjectParts");
    assert_eq!(parts.is_truncated(), Some(false));
    assert_eq!(parts.part_number_marker(), Some("2"));
    let listed: Vec<(Option<i32>, Option<i64>, Option<&str>)> = parts
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size(), p.checksum_crc32()))
        .collect();
    assert_eq!(
        listed,
        vec![(Some(3), Some(1234), Some(part_sums[2].as_str()))]
    );
}

// Issue 18: GetObjectAttributes was answered 501 NotImplemented.
#[tokio::test]
async fn attributes_of_versions_and_delete_markers() {
    let server = Server::start();
    let client = server.client();
    let bucket = versioned_bucket(&client, "attrs-ver").await;
    put(&client, &bucket, "k", b"first version").await;
    let old = client
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectVersions")
        .versions()[0]
        .version_id()
        .expect("version id")
        .to_owned();
    put(&client, &bucket, "k", b"second").await;
    let out = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("k")
        .version_id(&old)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("GetObjectAttributes of a version");
    assert_eq!(out.object_size(), Some(13));
    assert_eq!(out.version_id(), Some(old.as_str()));
    let current = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("k")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("GetObjectAttributes");
    assert_eq!(current.object_size(), Some(6));
    assert_ne!(current.version_id(), Some(old.as_str()));

    // Under a delete marker: 404 with x-amz-delete-marker, as GET answers.
    client
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("DeleteObject");
    let answer = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}/k?attributes"))
            .header("x-amz-object-attributes", "ETag")
            .send(&server)
            .await,
    )
    .await;
    answer.assert_error(404, "NoSuchKey");
    assert_eq!(
        answer.header("x-amz-delete-marker").as_deref(),
        Some("true")
    );
}
