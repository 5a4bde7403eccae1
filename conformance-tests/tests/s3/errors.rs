//! Error responses: S3's XML error document with the right status, `x-amz-request-id` on every
//! response, and `501 NotImplemented` (never 404 or 500) for operations Strata does not support.

use std::collections::HashSet;

use crate::common::{create_bucket, put, Answer, RawRequest, Server};

#[tokio::test]
async fn unsupported_operations_are_not_implemented() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "unsupported").await;
    put(&client, &bucket, "k", b"v").await;

    let cases = [
        ("GET", format!("/{bucket}?website"), Vec::new()),
        ("GET", format!("/{bucket}?inventory"), Vec::new()),
        ("GET", format!("/{bucket}?accelerate"), Vec::new()),
        ("GET", format!("/{bucket}?logging"), Vec::new()),
        (
            "PUT",
            format!("/{bucket}?logging"),
            b"<BucketLoggingStatus/>".to_vec(),
        ),
        ("DELETE", format!("/{bucket}?website"), Vec::new()),
        ("GET", format!("/{bucket}/k?torrent"), Vec::new()),
    ];
    let mut wrong = Vec::new();
    for (method, path, body) in cases {
        let answer = Answer::read(
            RawRequest::new(method, &path)
                .body(body)
                .send(&server)
                .await,
        )
        .await;
        let code = crate::common::xml_value(&answer.text(), "Code");
        if answer.status != 501 || code.as_deref() != Some("NotImplemented") {
            wrong.push(format!(
                "{method} {path}: {} {}",
                answer.status,
                answer.text()
            ));
            continue;
        }
        answer.assert_error(501, "NotImplemented");
    }
    assert!(
        wrong.is_empty(),
        "want 501 NotImplemented:\n{}",
        wrong.join("\n")
    );

    // Nothing was changed by them.
    assert_eq!(crate::common::get_bytes(&client, &bucket, "k").await, b"v");
}

#[tokio::test]
async fn error_documents_are_complete() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "errdoc").await;
    put(&client, &bucket, "k", b"v").await;

    let cases = [
        ("GET", format!("/{bucket}/missing"), 404, "NoSuchKey"),
        (
            "GET",
            "/no-such-bucket-errdoc/k".to_string(),
            404,
            "NoSuchBucket",
        ),
        (
            "GET",
            "/no-such-bucket-errdoc".to_string(),
            404,
            "NoSuchBucket",
        ),
        (
            "DELETE",
            "/no-such-bucket-errdoc".to_string(),
            404,
            "NoSuchBucket",
        ),
        (
            "PUT",
            "/Invalid_Bucket".to_string(),
            400,
            "InvalidBucketName",
        ),
        (
            "PUT",
            format!("/{bucket}?acl"),
            400,
            "MissingSecurityHeader",
        ),
        ("DELETE", format!("/{bucket}"), 409, "BucketNotEmpty"),
    ];
    for (method, path, status, code) in cases {
        let answer = Answer::read(RawRequest::new(method, &path).send(&server).await).await;
        let text = answer.assert_error(status, code);
        // The resource named in the error, where S3 names one.
        if code == "NoSuchKey" {
            assert!(text.contains("missing"), "NoSuchKey names the key: {text}");
        }
    }
}

#[tokio::test]
async fn every_response_has_a_unique_request_id() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "reqid").await;
    put(&client, &bucket, "k", b"v").await;

    let mut ids = HashSet::new();
    let requests = [
        ("GET", "/".to_string()),
        ("HEAD", format!("/{bucket}")),
        ("GET", format!("/{bucket}?list-type=2")),
        ("GET", format!("/{bucket}/k")),
        ("HEAD", format!("/{bucket}/k")),
        ("HEAD", format!("/{bucket}/missing")),
        ("GET", format!("/{bucket}?location")),
        ("DELETE", format!("/{bucket}/missing")),
    ];
    for (method, path) in requests {
        let answer = Answer::read(RawRequest::new(method, &path).send(&server).await).await;
        assert!(answer.status < 500, "{method} {path}: {}", answer.status);
        let id = answer
            .header("x-amz-request-id")
            .unwrap_or_else(|| panic!("{method} {path}: no x-amz-request-id"));
        assert!(!id.is_empty());
        assert!(ids.insert(id.clone()), "request id {id} reused");
        if method == "HEAD" {
            assert!(answer.body.is_empty(), "{method} {path}: HEAD has no body");
        }
    }
    // Unauthenticated and health responses carry one too.
    let answer =
        Answer::read(crate::common::send_with_headers(&server, "GET", "/", &[], Vec::new()).await)
            .await;
    assert!(answer.header("x-amz-request-id").is_some());
}

#[tokio::test]
async fn head_errors_have_no_body() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "headerr").await;
    for path in [
        format!("/{bucket}/missing"),
        "/no-such-bucket-headerr/k".to_string(),
    ] {
        let answer = Answer::read(RawRequest::new("HEAD", &path).send(&server).await).await;
        assert_eq!(answer.status, 404, "{path}");
        assert!(answer.body.is_empty(), "{path}: HEAD error with a body");
        assert!(answer.header("x-amz-request-id").is_some(), "{path}");
    }
}
