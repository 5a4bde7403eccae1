//! `x-amz-storage-class` on PutObject, CopyObject and CreateMultipartUpload for every storage
//! class name of the S3 API (the `StorageClass` enum of the S3 model, which the SDK is generated
//! from), reported by HEAD/GET (never for STANDARD) and by ListObjectsV2, ListParts and
//! ListMultipartUploads; `InvalidStorageClass` for any other name.

use aws_sdk_s3::types::{MetadataDirective, StorageClass};
use aws_sdk_s3::Client;

use crate::common::{
    assert_sdk_error, completed_parts, create_bucket, describe_error, get_bytes, put, upload_part,
    RawRequest, Server,
};

/// Every storage class name in the S3 API model.
fn all_classes() -> Vec<StorageClass> {
    StorageClass::values()
        .iter()
        .map(|name| StorageClass::from(*name))
        .collect()
}

/// S3 answers GetObject on an archived object (GLACIER, DEEP_ARCHIVE) with 403
/// InvalidObjectState until it is restored; what the archive classes do physically belongs to
/// the lifecycle work, so GET is only checked for the classes S3 serves directly.
fn readable_without_restore(class: &StorageClass) -> bool {
    !matches!(class, StorageClass::Glacier | StorageClass::DeepArchive)
}

/// The `x-amz-storage-class` HEAD and GET must carry: none for STANDARD.
fn header_for(class: &StorageClass) -> Option<&StorageClass> {
    (class != &StorageClass::Standard).then_some(class)
}

/// One server with one bucket `TAG`: (server, a client of it, the bucket).
struct ClassBucket(Server, Client, String);

impl ClassBucket {
    /// Starts the server and creates the bucket.
    async fn new(tag: &str) -> ClassBucket {
        let server = Server::start();
        let client = server.client();
        let bucket = create_bucket(&client, tag).await;
        ClassBucket(server, client, bucket)
    }
}

/// HEADs `key`: a discrepancy unless it carries the `x-amz-storage-class` `class` must. `mismatch`
/// words a wrong header from the class name and the header HEAD returned.
async fn head_class_mismatch(
    client: &Client,
    bucket: &str,
    key: &str,
    class: &StorageClass,
    mismatch: fn(&str, Option<&StorageClass>) -> String,
) -> Option<String> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(head) if head.storage_class() == header_for(class) => None,
        Ok(head) => Some(mismatch(class.as_str(), head.storage_class())),
        Err(err) => Some(format!(
            "HeadObject {}: {}",
            class.as_str(),
            describe_error(&err)
        )),
    }
}

/// Copies `key` onto itself in `class` (replacing its metadata when `directive` says so) and
/// returns the storage class HEAD then reports.
async fn copy_onto_itself(
    client: &Client,
    bucket: &str,
    key: &str,
    class: StorageClass,
    directive: Option<MetadataDirective>,
    what: &str,
) -> Option<StorageClass> {
    client
        .copy_object()
        .bucket(bucket)
        .key(key)
        .copy_source(format!("{bucket}/{key}"))
        .storage_class(class)
        .set_metadata_directive(directive)
        .send()
        .await
        .expect(what);
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("HeadObject");
    head.storage_class().cloned()
}

#[tokio::test]
async fn every_class_on_put_is_reported_by_head_get_and_list() {
    let ClassBucket(_server, client, bucket) = ClassBucket::new("classes").await;
    let mut wrong = Vec::new();

    for class in all_classes() {
        let key = format!("obj-{}", class.as_str());
        if let Err(err) = client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .storage_class(class.clone())
            .body(key.clone().into_bytes().into())
            .send()
            .await
        {
            wrong.push(format!(
                "PutObject {}: {}",
                class.as_str(),
                describe_error(&err)
            ));
            continue;
        }
        wrong.extend(
            head_class_mismatch(&client, &bucket, &key, &class, |class, got| {
                format!("HeadObject {class}: x-amz-storage-class {got:?}")
            })
            .await,
        );
        if readable_without_restore(&class) {
            match client.get_object().bucket(&bucket).key(&key).send().await {
                Ok(get) if get.storage_class() == header_for(&class) => {}
                Ok(get) => wrong.push(format!(
                    "GetObject {}: x-amz-storage-class {:?}",
                    class.as_str(),
                    get.storage_class()
                )),
                Err(err) => wrong.push(format!(
                    "GetObject {}: {}",
                    class.as_str(),
                    describe_error(&err)
                )),
            }
        }
    }
    put(&client, &bucket, "obj-default", b"no class given").await;

    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    for object in listed.contents() {
        let key = object.key().unwrap_or("");
        let want = key.strip_prefix("obj-").unwrap_or("");
        let want = if want == "default" { "STANDARD" } else { want };
        let got = object.storage_class().map(|c| c.as_str());
        if got != Some(want) {
            wrong.push(format!(
                "ListObjectsV2 {key}: StorageClass {got:?}, want {want}"
            ));
        }
    }
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("obj-default")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.storage_class(), None, "STANDARD is not announced");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_class_on_copy() {
    let ClassBucket(_server, client, bucket) = ClassBucket::new("copyclass").await;
    put(&client, &bucket, "src", b"standard source").await;
    let mut wrong = Vec::new();

    for class in all_classes() {
        let key = format!("copy-{}", class.as_str());
        if let Err(err) = client
            .copy_object()
            .bucket(&bucket)
            .key(&key)
            .copy_source(format!("{bucket}/src"))
            .storage_class(class.clone())
            .send()
            .await
        {
            wrong.push(format!(
                "CopyObject {}: {}",
                class.as_str(),
                describe_error(&err)
            ));
            continue;
        }
        wrong.extend(
            head_class_mismatch(&client, &bucket, &key, &class, |class, got| {
                format!("HeadObject of a {class} copy: {got:?}")
            })
            .await,
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Changing only the storage class makes a copy onto itself legal (AWS: the copy must change
    // the metadata, storage class, website redirect location or encryption attributes).
    let class = copy_onto_itself(
        &client,
        &bucket,
        "src",
        StorageClass::StandardIa,
        None,
        "copy onto itself with a new storage class",
    )
    .await;
    assert_eq!(class.as_ref(), Some(&StorageClass::StandardIa));
    assert_eq!(get_bytes(&client, &bucket, "src").await, b"standard source");

    // And back to STANDARD, with metadata replaced at the same time.
    let class = copy_onto_itself(
        &client,
        &bucket,
        "src",
        StorageClass::Standard,
        Some(MetadataDirective::Replace),
        "copy back to STANDARD",
    )
    .await;
    assert_eq!(class.as_ref(), None);
}

#[tokio::test]
async fn every_class_on_multipart() {
    let ClassBucket(_server, client, bucket) = ClassBucket::new("mpuclass").await;
    let mut wrong = Vec::new();
    let mut uploads = Vec::new();

    for class in all_classes() {
        let key = format!("mpu-{}", class.as_str());
        match client
            .create_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .storage_class(class.clone())
            .send()
            .await
        {
            Ok(out) => uploads.push((class, key, out.upload_id().expect("UploadId").to_string())),
            Err(err) => wrong.push(format!(
                "CreateMultipartUpload {}: {}",
                class.as_str(),
                describe_error(&err)
            )),
        }
    }

    let listed = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListMultipartUploads");
    for upload in listed.uploads() {
        let key = upload.key().unwrap_or("");
        let want = key.strip_prefix("mpu-").unwrap_or("");
        let got = upload.storage_class().map(|c| c.as_str());
        if got != Some(want) {
            wrong.push(format!("ListMultipartUploads {key}: StorageClass {got:?}"));
        }
    }

    for (class, key, upload_id) in &uploads {
        let etag = upload_part(&client, &bucket, key, upload_id, 1, key.as_bytes()).await;
        match client
            .list_parts()
            .bucket(&bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(parts) if parts.storage_class() == Some(class) => {}
            Ok(parts) => wrong.push(format!(
                "ListParts {}: StorageClass {:?}",
                class.as_str(),
                parts.storage_class()
            )),
            Err(err) => wrong.push(format!(
                "ListParts {}: {}",
                class.as_str(),
                describe_error(&err)
            )),
        }
        client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed_parts(&[(1, &etag)]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Complete {}: {e:?}", class.as_str()));
        wrong.extend(
            head_class_mismatch(&client, &bucket, key, class, |class, got| {
                format!("HeadObject of a {class} multipart object: {got:?}")
            })
            .await,
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn unknown_storage_class_is_invalid_storage_class() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "badclass").await;
    put(&client, &bucket, "src", b"x").await;

    for bad in ["NOT_A_CLASS", "GLACIER_DEEP"] {
        let answer = RawRequest::new("PUT", &format!("/{bucket}/put"))
            .header("x-amz-storage-class", bad)
            .body(b"data".to_vec())
            .answer(&server)
            .await;
        answer.assert_error(400, "InvalidStorageClass");

        let answer = RawRequest::new("POST", &format!("/{bucket}/mpu?uploads"))
            .header("x-amz-storage-class", bad)
            .answer(&server)
            .await;
        answer.assert_error(400, "InvalidStorageClass");

        let answer = RawRequest::new("PUT", &format!("/{bucket}/copy"))
            .header("x-amz-copy-source", &format!("/{bucket}/src"))
            .header("x-amz-storage-class", bad)
            .answer(&server)
            .await;
        answer.assert_error(400, "InvalidStorageClass");
    }
    for key in ["put", "copy"] {
        let err = client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect_err("nothing stored");
        assert_eq!(crate::common::error_status(&err), 404);
    }
    let listed = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListMultipartUploads");
    assert!(listed.uploads().is_empty());

    let err = client
        .put_object()
        .bucket(&bucket)
        .key("sdk")
        .storage_class(StorageClass::from("FROZEN"))
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("SDK with an unknown class");
    assert_sdk_error(&err, 400, "InvalidStorageClass");
}
