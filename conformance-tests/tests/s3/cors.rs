//! Bucket CORS: Put/Get/DeleteBucketCors, CORS headers on responses to requests whose Origin a
//! rule matches, and `OPTIONS` preflight (no credentials needed), as a browser app uploading to
//! a bucket sees them.

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use aws_sdk_s3::Client;

use crate::common::{
    assert_sdk_error, create_bucket, put, send_unsigned, Answer, RawRequest, Server,
};

const APP: &str = "https://app.example.com";

fn rule(
    id: &str,
    origins: &[&str],
    methods: &[&str],
    headers: &[&str],
    expose: &[&str],
    max_age: Option<i32>,
) -> CorsRule {
    // Empty lists stay unset, as they come back from GetBucketCors.
    let some =
        |list: &[&str]| (!list.is_empty()).then(|| list.iter().map(|s| s.to_string()).collect());
    let mut builder = CorsRule::builder()
        .id(id)
        .set_allowed_origins(some(origins))
        .set_allowed_methods(some(methods))
        .set_allowed_headers(some(headers))
        .set_expose_headers(some(expose));
    if let Some(age) = max_age {
        builder = builder.max_age_seconds(age);
    }
    builder.build().expect("CORSRule")
}

/// rule 1: the app may GET/PUT/POST/HEAD with any header; rule 2: any origin may GET;
/// rule 3: any subdomain of wild.test may GET and DELETE.
fn app_rules() -> Vec<CorsRule> {
    vec![
        rule(
            "app",
            &[APP],
            &["GET", "PUT", "POST", "HEAD"],
            &["*"],
            &["ETag", "x-amz-request-id"],
            Some(600),
        ),
        rule("public-read", &["*"], &["GET"], &[], &[], None),
        rule(
            "wildcard",
            &["https://*.wild.test"],
            &["GET", "DELETE"],
            &["x-custom"],
            &[],
            None,
        ),
    ]
}

async fn put_cors(client: &Client, bucket: &str, rules: Vec<CorsRule>) {
    client
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .set_cors_rules(Some(rules))
                .build()
                .expect("CORSConfiguration"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutBucketCors {bucket}: {e:?}"));
}

/// A comma-separated header as a lowercase list.
fn list(answer: &Answer, name: &str) -> Vec<String> {
    answer
        .header(name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn assert_no_cors_headers(answer: &Answer, what: &str) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-credentials",
        "access-control-expose-headers",
    ] {
        assert_eq!(answer.header(name), None, "{what}: unexpected {name}");
    }
}

#[tokio::test]
async fn put_get_delete_bucket_cors() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "cors").await;

    let err = client
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("GetBucketCors with no configuration");
    assert_sdk_error(&err, 404, "NoSuchCORSConfiguration");

    put_cors(&client, &bucket, app_rules()).await;
    let got = client
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketCors");
    assert_eq!(got.cors_rules(), app_rules().as_slice());

    // A second PutBucketCors replaces the whole configuration.
    let only = vec![rule(
        "only",
        &["http://localhost:3000"],
        &["PUT"],
        &[],
        &[],
        Some(1),
    )];
    put_cors(&client, &bucket, only.clone()).await;
    let got = client
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketCors");
    assert_eq!(got.cors_rules(), only.as_slice());

    let answer = Answer::read(
        RawRequest::new("DELETE", &format!("/{bucket}?cors"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 204, "DeleteBucketCors: {}", answer.text());
    let err = client
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("GetBucketCors after delete");
    assert_sdk_error(&err, 404, "NoSuchCORSConfiguration");

    let err = client
        .put_bucket_cors()
        .bucket("no-such-bucket-cors")
        .cors_configuration(
            CorsConfiguration::builder()
                .set_cors_rules(Some(app_rules()))
                .build()
                .expect("CORSConfiguration"),
        )
        .send()
        .await
        .expect_err("PutBucketCors on a missing bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");
}

#[tokio::test]
async fn responses_carry_cors_headers_for_a_matching_origin() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "corsresp").await;
    put(&client, &bucket, "page.html", b"<html></html>").await;
    put_cors(&client, &bucket, app_rules()).await;
    let path = format!("/{bucket}/page.html");

    // The app's origin: echoed, with the rule's methods, exposed headers and credentials.
    let answer = Answer::read(
        RawRequest::new("GET", &path)
            .header("origin", APP)
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"<html></html>");
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(
        list(&answer, "access-control-allow-methods"),
        ["get", "put", "post", "head"]
    );
    assert_eq!(
        list(&answer, "access-control-expose-headers"),
        ["etag", "x-amz-request-id"]
    );
    assert_eq!(
        answer.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        answer.header("access-control-max-age").as_deref(),
        Some("600")
    );
    assert!(
        list(&answer, "vary").contains(&"origin".to_string()),
        "Vary: Origin"
    );

    // A PUT from the app.
    let answer = Answer::read(
        RawRequest::new("PUT", &format!("/{bucket}/upload.txt"))
            .header("origin", APP)
            .body(b"from the browser".to_vec())
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert!(list(&answer, "vary").contains(&"origin".to_string()));

    // Any other origin matches the public-read rule for GET: S3 answers `*`.
    let answer = Answer::read(
        RawRequest::new("GET", &path)
            .header("origin", "https://elsewhere.example")
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(list(&answer, "access-control-allow-methods"), ["get"]);
    assert_eq!(answer.header("access-control-allow-credentials"), None);

    // An origin with a wildcard: the request's origin is echoed.
    let answer = Answer::read(
        RawRequest::new("DELETE", &format!("/{bucket}/upload.txt"))
            .header("origin", "https://a.wild.test")
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 204);
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some("https://a.wild.test")
    );
    assert_eq!(
        list(&answer, "access-control-allow-methods"),
        ["get", "delete"]
    );

    // No rule allows PUT from another origin: the request itself still succeeds (CORS is
    // enforced by browsers), without CORS headers.
    let answer = Answer::read(
        RawRequest::new("PUT", &format!("/{bucket}/other.txt"))
            .header("origin", "https://elsewhere.example")
            .body(b"x".to_vec())
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_no_cors_headers(&answer, "PUT from an origin no rule allows");

    // Without Origin, no CORS headers at all.
    let answer = Answer::read(RawRequest::new("GET", &path).send(&server).await).await;
    assert_eq!(answer.status, 200);
    assert_no_cors_headers(&answer, "GET without Origin");
}

#[tokio::test]
async fn preflight_needs_no_credentials() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "preflight").await;
    put_cors(&client, &bucket, app_rules()).await;
    let object = format!("/{bucket}/uploads/photo.jpg");

    // The browser asks before a PUT with its own headers.
    let answer = send_unsigned(
        &server,
        "OPTIONS",
        &object,
        &[
            ("origin", APP),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "content-type, x-amz-meta-album, authorization",
            ),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "preflight: {}", answer.text());
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert!(
        list(&answer, "access-control-allow-methods").contains(&"put".to_string()),
        "Allow-Methods {:?}",
        answer.header("access-control-allow-methods")
    );
    let allowed = list(&answer, "access-control-allow-headers");
    for header in ["content-type", "x-amz-meta-album", "authorization"] {
        assert!(
            allowed.contains(&header.to_string()),
            "{header} not in {allowed:?}"
        );
    }
    assert_eq!(
        answer.header("access-control-max-age").as_deref(),
        Some("600")
    );
    assert_eq!(
        list(&answer, "access-control-expose-headers"),
        ["etag", "x-amz-request-id"]
    );
    assert!(
        list(&answer, "vary").contains(&"origin".to_string()),
        "Vary: Origin"
    );

    // The bucket itself (a browser form POSTs there).
    let answer = send_unsigned(
        &server,
        "OPTIONS",
        &format!("/{bucket}"),
        &[("origin", APP), ("access-control-request-method", "POST")],
    )
    .await;
    assert_eq!(answer.status, 200, "bucket preflight: {}", answer.text());
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some(APP)
    );

    // Wildcard origin and a listed header.
    let answer = send_unsigned(
        &server,
        "OPTIONS",
        &object,
        &[
            ("origin", "https://deep.sub.wild.test"),
            ("access-control-request-method", "DELETE"),
            ("access-control-request-headers", "X-Custom"),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some("https://deep.sub.wild.test")
    );

    // Refusals: 403 AccessForbidden, and no Allow-Origin.
    let refused: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "a method no rule allows for the origin",
            vec![("origin", APP), ("access-control-request-method", "DELETE")],
        ),
        (
            "an origin no rule names for PUT",
            vec![
                ("origin", "https://elsewhere.example"),
                ("access-control-request-method", "PUT"),
            ],
        ),
        (
            "a header the matching rule does not allow",
            vec![
                ("origin", "https://x.wild.test"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-other"),
            ],
        ),
        (
            "a wildcard that does not match the scheme",
            vec![
                ("origin", "http://x.wild.test"),
                ("access-control-request-method", "DELETE"),
            ],
        ),
    ];
    for (name, headers) in refused {
        let answer = send_unsigned(&server, "OPTIONS", &object, &headers).await;
        answer.assert_error(403, "AccessForbidden");
        assert_eq!(answer.header("access-control-allow-origin"), None, "{name}");
    }

    // A bucket without CORS configuration refuses every preflight.
    let plain = create_bucket(&client, "nocors").await;
    let answer = send_unsigned(
        &server,
        "OPTIONS",
        &format!("/{plain}/k"),
        &[("origin", APP), ("access-control-request-method", "GET")],
    )
    .await;
    answer.assert_error(403, "AccessForbidden");

    // After DeleteBucketCors the same holds.
    client
        .delete_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucketCors");
    let answer = send_unsigned(
        &server,
        "OPTIONS",
        &object,
        &[("origin", APP), ("access-control-request-method", "PUT")],
    )
    .await;
    answer.assert_error(403, "AccessForbidden");
}
