//! Composite checksums of multipart uploads with the SHA algorithms: the object's checksum is the
//! hash of the concatenated binary part checksums, base64, then `-N` (S3 user guide, "Checking
//! object integrity": checksums of multipart objects). CompleteMultipartUpload accepts it,
//! HEAD and GET (with `x-amz-checksum-mode: ENABLED`) return it.

use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use sha1::Digest as _;

use crate::common::{
    assert_sdk_error, create_bucket, create_upload_with_checksum, random_bytes, Server, MIN_PART,
};

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The part's digest with `alg`, raw.
fn digest(alg: &ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    match alg {
        ChecksumAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        ChecksumAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
        other => panic!("not a SHA algorithm: {other:?}"),
    }
}

// Issue 18: CompleteMultipartUpload called a composite SHA1/SHA256 checksum invalid.
#[tokio::test]
async fn composite_sha_checksums_of_multipart_uploads() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "sha-mpu").await;
    for alg in [ChecksumAlgorithm::Sha1, ChecksumAlgorithm::Sha256] {
        let key = format!("composite-{}", alg.as_str());
        let bodies = [random_bytes(MIN_PART, 11), random_bytes(777, 12)];
        let upload_id = create_upload_with_checksum(&client, &bucket, &key, alg.clone()).await;
        let mut done = Vec::new();
        let mut raw_concat = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let n = i as i32 + 1;
            let raw = digest(&alg, body);
            raw_concat.extend_from_slice(&raw);
            let out = client
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(n)
                .checksum_algorithm(alg.clone())
                .body(body.clone().into())
                .send()
                .await
                .expect("UploadPart");
            let part = CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("ETag"));
            let part = match alg {
                ChecksumAlgorithm::Sha1 => {
                    assert_eq!(out.checksum_sha1(), Some(b64(&raw).as_str()));
                    part.checksum_sha1(b64(&raw))
                }
                _ => {
                    assert_eq!(out.checksum_sha256(), Some(b64(&raw).as_str()));
                    part.checksum_sha256(b64(&raw))
                }
            };
            done.push(part.build());
        }
        let composite = format!("{}-2", b64(&digest(&alg, &raw_concat)));
        let complete = client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            );
        let complete = match alg {
            ChecksumAlgorithm::Sha1 => complete.checksum_sha1(&composite),
            _ => complete.checksum_sha256(&composite),
        };
        let out = complete.send().await.expect("CompleteMultipartUpload");
        let answered = match alg {
            ChecksumAlgorithm::Sha1 => out.checksum_sha1(),
            _ => out.checksum_sha256(),
        };
        assert_eq!(answered, Some(composite.as_str()), "{alg:?}");

        let head = client
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("HeadObject");
        let headed = match alg {
            ChecksumAlgorithm::Sha1 => head.checksum_sha1(),
            _ => head.checksum_sha256(),
        };
        assert_eq!(headed, Some(composite.as_str()), "{alg:?}");
        let got = client
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("GetObject");
        let gotten = match alg {
            ChecksumAlgorithm::Sha1 => got.checksum_sha1().map(str::to_owned),
            _ => got.checksum_sha256().map(str::to_owned),
        };
        assert_eq!(gotten.as_deref(), Some(composite.as_str()), "{alg:?}");
        let body = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(body.len(), bodies[0].len() + bodies[1].len());
    }

    // A wrong composite value is BadDigest.
    let key = "wrong-composite";
    let body = random_bytes(100, 13);
    let upload_id =
        create_upload_with_checksum(&client, &bucket, key, ChecksumAlgorithm::Sha256).await;
    let raw = digest(&ChecksumAlgorithm::Sha256, &body);
    let out = client
        .upload_part()
        .bucket(&bucket)
        .key(key)
        .upload_id(&upload_id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(body.into())
        .send()
        .await
        .expect("UploadPart");
    let part = CompletedPart::builder()
        .part_number(1)
        .e_tag(out.e_tag().expect("ETag"))
        .checksum_sha256(b64(&raw))
        .build();
    let wrong = format!("{}-1", b64(&digest(&ChecksumAlgorithm::Sha256, b"other")));
    let err = client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
        .checksum_sha256(wrong)
        .send()
        .await
        .expect_err("wrong composite");
    assert_sdk_error(&err, 400, "BadDigest");
}
