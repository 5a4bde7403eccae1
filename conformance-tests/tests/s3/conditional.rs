//! Conditional requests: If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since on
//! GET and HEAD with S3's precedence, conditional writes (PutObject and CompleteMultipartUpload
//! with `If-None-Match: *` and `If-Match`), and the `response-*` overrides of GetObject.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::DateTime;

use crate::common::{
    assert_sdk_error, completed_parts, create_bucket, create_upload, error_status, get_bytes,
    md5_hex, put, upload_part, Answer, RawRequest, Server,
};

/// Request headers of one case.
type Headers<'a> = Vec<(&'a str, String)>;

fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// The object's ETag and Last-Modified, as a raw GET reports them.
async fn etag_and_last_modified(server: &Server, path: &str) -> (String, SystemTime) {
    let answer = Answer::read(RawRequest::new("HEAD", path).send(server).await).await;
    assert_eq!(answer.status, 200);
    let etag = answer.header("etag").expect("ETag");
    let last_modified =
        httpdate::parse_http_date(&answer.header("last-modified").expect("Last-Modified"))
            .expect("HTTP date");
    (etag, last_modified)
}

/// One conditional GET and HEAD; returns both statuses after checking the bodies S3 gives.
async fn conditional(server: &Server, path: &str, headers: &[(&str, String)]) -> (u16, u16) {
    let mut statuses = Vec::new();
    for method in ["GET", "HEAD"] {
        let mut request = RawRequest::new(method, path);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = Answer::read(request.send(server).await).await;
        match (method, answer.status) {
            ("GET", 412) => {
                answer.assert_error(412, "PreconditionFailed");
            }
            (_, 304) => assert!(answer.body.is_empty(), "304 has no body"),
            ("HEAD", _) => assert!(answer.body.is_empty(), "HEAD has no body"),
            _ => {}
        }
        statuses.push(answer.status);
    }
    (statuses[0], statuses[1])
}

#[tokio::test]
async fn get_and_head_conditions_with_s3_precedence() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "cond").await;
    put(&client, &bucket, "k", b"conditional body").await;
    let path = format!("/{bucket}/k");
    let (etag, last_modified) = etag_and_last_modified(&server, &path).await;
    assert_eq!(etag, format!("\"{}\"", md5_hex(b"conditional body")));
    let before = http_date(last_modified - Duration::from_secs(3600));
    let at = http_date(last_modified);
    let other = "\"00000000000000000000000000000000\"".to_string();

    let cases: Vec<(&str, Headers, u16)> = vec![
        ("If-Match equal", vec![("if-match", etag.clone())], 200),
        ("If-Match other", vec![("if-match", other.clone())], 412),
        (
            "If-None-Match equal",
            vec![("if-none-match", etag.clone())],
            304,
        ),
        (
            "If-None-Match other",
            vec![("if-none-match", other.clone())],
            200,
        ),
        (
            "If-Modified-Since before",
            vec![("if-modified-since", before.clone())],
            200,
        ),
        (
            "If-Modified-Since at",
            vec![("if-modified-since", at.clone())],
            304,
        ),
        (
            "If-Unmodified-Since before",
            vec![("if-unmodified-since", before.clone())],
            412,
        ),
        (
            "If-Unmodified-Since at",
            vec![("if-unmodified-since", at.clone())],
            200,
        ),
        // S3: If-Match true and If-Unmodified-Since false -> 200.
        (
            "If-Match true, If-Unmodified-Since false",
            vec![
                ("if-match", etag.clone()),
                ("if-unmodified-since", before.clone()),
            ],
            200,
        ),
        (
            "If-Match false, If-Unmodified-Since true",
            vec![
                ("if-match", other.clone()),
                ("if-unmodified-since", at.clone()),
            ],
            412,
        ),
        // S3: If-None-Match false and If-Modified-Since true -> 304.
        (
            "If-None-Match false, If-Modified-Since true",
            vec![
                ("if-none-match", etag.clone()),
                ("if-modified-since", before.clone()),
            ],
            304,
        ),
        (
            "If-Match false, If-None-Match true",
            vec![
                ("if-match", other.clone()),
                ("if-none-match", other.clone()),
            ],
            412,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, headers, want) in cases {
        let (get, head) = conditional(&server, &path, &headers).await;
        if (get, head) != (want, want) {
            wrong.push(format!("{name}: GET {get}, HEAD {head}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The SDK surfaces the same answers.
    let err = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .if_match(other.clone())
        .send()
        .await
        .expect_err("If-Match other");
    assert_sdk_error(&err, 412, "PreconditionFailed");
    let err = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .if_none_match(etag.clone())
        .send()
        .await
        .expect_err("If-None-Match equal");
    assert_eq!(error_status(&err), 304);
    let ok = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .if_modified_since(DateTime::from(last_modified - Duration::from_secs(60)))
        .send()
        .await
        .expect("If-Modified-Since before");
    assert_eq!(ok.e_tag(), Some(etag.as_str()));
    let err = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .if_unmodified_since(DateTime::from(last_modified - Duration::from_secs(60)))
        .send()
        .await
        .expect_err("HEAD If-Unmodified-Since before");
    assert_eq!(error_status(&err), 412);
}

#[tokio::test]
async fn put_if_none_match_star_creates_only_if_absent() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "ifnone").await;

    client
        .put_object()
        .bucket(&bucket)
        .key("once")
        .if_none_match("*")
        .body(b"first".to_vec().into())
        .send()
        .await
        .expect("If-None-Match: * on an absent key");
    let err = client
        .put_object()
        .bucket(&bucket)
        .key("once")
        .if_none_match("*")
        .body(b"second".to_vec().into())
        .send()
        .await
        .expect_err("If-None-Match: * on an existing key");
    assert_sdk_error(&err, 412, "PreconditionFailed");
    assert_eq!(get_bytes(&client, &bucket, "once").await, b"first");

    // The raw answer is S3's XML error document.
    let answer = Answer::read(
        RawRequest::new("PUT", &format!("/{bucket}/once"))
            .header("if-none-match", "*")
            .body(b"third".to_vec())
            .send(&server)
            .await,
    )
    .await;
    answer.assert_error(412, "PreconditionFailed");
    assert_eq!(get_bytes(&client, &bucket, "once").await, b"first");

    // Once deleted, the key is absent again.
    client
        .delete_object()
        .bucket(&bucket)
        .key("once")
        .send()
        .await
        .expect("DeleteObject");
    client
        .put_object()
        .bucket(&bucket)
        .key("once")
        .if_none_match("*")
        .body(b"again".to_vec().into())
        .send()
        .await
        .expect("If-None-Match: * after delete");
    assert_eq!(get_bytes(&client, &bucket, "once").await, b"again");
}

#[tokio::test]
async fn put_if_match_replaces_only_the_expected_version() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "ifmatch").await;
    put(&client, &bucket, "k", b"v1").await;
    let v1 = format!("\"{}\"", md5_hex(b"v1"));

    let out = client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .if_match(&v1)
        .body(b"v2".to_vec().into())
        .send()
        .await
        .expect("If-Match with the current ETag");
    assert_eq!(
        out.e_tag(),
        Some(format!("\"{}\"", md5_hex(b"v2")).as_str())
    );

    let err = client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .if_match(&v1)
        .body(b"v3".to_vec().into())
        .send()
        .await
        .expect_err("If-Match with a stale ETag");
    assert_sdk_error(&err, 412, "PreconditionFailed");
    assert_eq!(get_bytes(&client, &bucket, "k").await, b"v2");

    let err = client
        .put_object()
        .bucket(&bucket)
        .key("missing")
        .if_match(&v1)
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("If-Match on a missing key");
    assert_sdk_error(&err, 404, "NoSuchKey");
    let err = client
        .head_object()
        .bucket(&bucket)
        .key("missing")
        .send()
        .await
        .expect_err("nothing created");
    assert_eq!(error_status(&err), 404);
}

async fn complete_with(
    server: &Server,
    bucket: &str,
    key: &str,
    header: (&str, &str),
) -> Result<String, (u16, String)> {
    let client = server.client();
    let upload_id = create_upload(&client, bucket, key).await;
    let body = format!("multipart body of {key} under {}: {}", header.0, header.1);
    let etag = upload_part(&client, bucket, key, &upload_id, 1, body.as_bytes()).await;
    let mut request = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(completed_parts(&[(1, &etag)]));
    request = match header.0 {
        "if-none-match" => request.if_none_match(header.1),
        "if-match" => request.if_match(header.1),
        other => panic!("unexpected header {other}"),
    };
    match request.send().await {
        Ok(out) => Ok(out.e_tag().expect("ETag").to_string()),
        Err(err) => {
            let code = err
                .as_service_error()
                .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e))
                .unwrap_or("")
                .to_string();
            Err((error_status(&err), code))
        }
    }
}

#[tokio::test]
async fn complete_multipart_upload_conditional_writes() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "condmpu").await;
    put(&client, &bucket, "existing", b"already here").await;
    let existing = format!("\"{}\"", md5_hex(b"already here"));
    let precondition_failed = Err((412, "PreconditionFailed".to_string()));

    assert_eq!(
        complete_with(&server, &bucket, "existing", ("if-none-match", "*")).await,
        precondition_failed,
        "If-None-Match: * on an existing key"
    );
    assert_eq!(
        get_bytes(&client, &bucket, "existing").await,
        b"already here"
    );

    assert!(
        complete_with(&server, &bucket, "fresh", ("if-none-match", "*"))
            .await
            .is_ok(),
        "If-None-Match: * on an absent key"
    );

    assert_eq!(
        complete_with(
            &server,
            &bucket,
            "existing",
            ("if-match", "\"0123456789abcdef0123456789abcdef\"")
        )
        .await,
        precondition_failed,
        "If-Match with another ETag"
    );
    assert_eq!(
        get_bytes(&client, &bucket, "existing").await,
        b"already here"
    );

    assert_eq!(
        complete_with(&server, &bucket, "missing", ("if-match", &existing)).await,
        Err((404, "NoSuchKey".to_string())),
        "If-Match on a missing key"
    );

    let replaced = complete_with(&server, &bucket, "existing", ("if-match", &existing))
        .await
        .expect("If-Match with the current ETag");
    assert!(replaced.ends_with("-1\""), "a multipart ETag: {replaced}");
    assert!(get_bytes(&client, &bucket, "existing")
        .await
        .starts_with(b"multipart body"));
}

/// Of N concurrent create-if-absent writers of one key exactly one wins; the others get
/// 412 PreconditionFailed (or 409 ConditionalRequestConflict, which S3 answers to a write that
/// raced another) and the object holds the winner's bytes.
#[tokio::test]
async fn concurrent_create_if_absent_has_exactly_one_winner() {
    const WRITERS: usize = 8;
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "race").await;

    for round in 0..5 {
        let key = format!("contended-{round}");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let client = client.clone();
            let bucket = bucket.clone();
            let key = key.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!("written by {writer} in round {round}").into_bytes();
                barrier.wait().await;
                let result = client
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .if_none_match("*")
                    .body(body.clone().into())
                    .send()
                    .await;
                (body, result)
            }));
        }
        let mut winners = Vec::new();
        let mut losers = Vec::new();
        for task in tasks {
            let (body, result) = task.await.expect("writer task");
            match result {
                Ok(_) => winners.push(body),
                Err(err) => {
                    let code = err
                        .as_service_error()
                        .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e))
                        .map(str::to_string);
                    losers.push((error_status(&err), code));
                }
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: losers {losers:?}");
        for loser in &losers {
            assert!(
                matches!(
                    loser,
                    (412, Some(code)) if code == "PreconditionFailed"
                ) || matches!(
                    loser,
                    (409, Some(code)) if code == "ConditionalRequestConflict"
                ),
                "round {round}: a losing writer got {loser:?}"
            );
        }
        assert_eq!(get_bytes(&client, &bucket, &key).await, winners[0]);
    }
}

#[tokio::test]
async fn get_response_header_overrides() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "overrides").await;
    client
        .put_object()
        .bucket(&bucket)
        .key("doc")
        .content_type("text/plain")
        .cache_control("no-cache")
        .body(b"override me".to_vec().into())
        .send()
        .await
        .expect("PutObject");
    let expires = UNIX_EPOCH + Duration::from_secs(2_000_000_000);

    let out = client
        .get_object()
        .bucket(&bucket)
        .key("doc")
        .response_content_type("application/json")
        .response_content_language("fr-CA")
        .response_expires(DateTime::from(expires))
        .response_cache_control("max-age=60")
        .response_content_disposition("attachment; filename=\"x.json\"")
        .response_content_encoding("identity")
        .send()
        .await
        .expect("GetObject with response-* overrides");
    assert_eq!(out.content_type(), Some("application/json"));
    assert_eq!(out.content_language(), Some("fr-CA"));
    assert_eq!(out.expires_string(), Some(http_date(expires).as_str()));
    assert_eq!(out.cache_control(), Some("max-age=60"));
    assert_eq!(
        out.content_disposition(),
        Some("attachment; filename=\"x.json\"")
    );
    assert_eq!(out.content_encoding(), Some("identity"));
    let body = out.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"override me");

    // The overrides change only that response, not the stored object.
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("doc")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.cache_control(), Some("no-cache"));
    assert_eq!(head.content_language(), None);

    // Raw, with the query encoded as a browser link would carry it.
    let answer = Answer::read(
        RawRequest::new(
            "GET",
            &format!(
                "/{bucket}/doc?response-content-type=image%2Fpng&response-content-disposition=inline"
            ),
        )
        .send(&server)
        .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(
        answer.header("content-disposition").as_deref(),
        Some("inline")
    );
}
