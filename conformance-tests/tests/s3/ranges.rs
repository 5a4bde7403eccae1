//! Range GETs: 206 with Content-Range, suffix and open-ended ranges, 416 InvalidRange.

use crate::common::{
    create_bucket, error_code, error_status, put, random_bytes, Answer, RawRequest, Server,
};

#[tokio::test]
async fn range_gets() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "range").await;
    let data = random_bytes(1000, 9);
    put(&client, &bucket, "obj", &data).await;

    // (Range header, first byte, last byte)
    let cases = [
        ("bytes=0-9", 0usize, 9usize),
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=990-", 990, 999),
        ("bytes=-7", 993, 999),
        ("bytes=995-2000", 995, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=999-999", 999, 999),
    ];
    for (range, first, last) in cases {
        // The SDK's default response-checksum validation is on: a full-object checksum on a 206
        // would make this fail.
        let out = client
            .get_object()
            .bucket(&bucket)
            .key("obj")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetObject {range}: {e:?}"));
        assert_eq!(
            out.content_range(),
            Some(format!("bytes {first}-{last}/1000").as_str()),
            "{range}"
        );
        assert_eq!(
            out.content_length(),
            Some((last - first + 1) as i64),
            "{range}"
        );
        let body = out.body.collect().await.expect("body").into_bytes();
        assert_eq!(&body[..], &data[first..=last], "{range}");

        let raw = Answer::read(
            RawRequest::new("GET", &format!("/{bucket}/obj"))
                .header("range", range)
                .header("x-amz-checksum-mode", "ENABLED")
                .send(&server)
                .await,
        )
        .await;
        assert_eq!(raw.status, 206, "{range}");
        assert_eq!(
            raw.header("content-range"),
            Some(format!("bytes {first}-{last}/1000")),
            "{range}"
        );
        assert_eq!(raw.header("accept-ranges").as_deref(), Some("bytes"));
        assert!(
            raw.headers
                .keys()
                .all(|name| !name.as_str().starts_with("x-amz-checksum-")),
            "{range}: a 206 must not carry the full object's checksum: {:?}",
            raw.headers
        );
        assert_eq!(raw.body, &data[first..=last], "{range}");
    }
}

// Issue 18: a Range position past 64 bits made Strata ignore the header (200, whole object).
#[tokio::test]
async fn range_positions_past_64_bits_are_clamped() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "bigrange").await;
    let data = random_bytes(1000, 10);
    put(&client, &bucket, "obj", &data).await;
    for (range, first) in [
        ("bytes=5-99999999999999999999", 5usize),
        ("bytes=0-18446744073709551616", 0),
        ("bytes=-99999999999999999999", 0),
    ] {
        let raw = Answer::read(
            RawRequest::new("GET", &format!("/{bucket}/obj"))
                .header("range", range)
                .send(&server)
                .await,
        )
        .await;
        assert_eq!(raw.status, 206, "{range}: {}", raw.text());
        assert_eq!(
            raw.header("content-range"),
            Some(format!("bytes {first}-999/1000")),
            "{range}"
        );
        assert_eq!(raw.body, &data[first..], "{range}");
    }
    // A first position past 64 bits is past the end of any object.
    let raw = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}/obj"))
            .header("range", "bytes=99999999999999999999-")
            .send(&server)
            .await,
    )
    .await;
    raw.assert_error(416, "InvalidRange");
}

#[tokio::test]
async fn unsatisfiable_range_is_416_invalid_range() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "badrange").await;
    let data = random_bytes(1000, 10);
    put(&client, &bucket, "obj", &data).await;

    for range in ["bytes=1000-", "bytes=5000-6000"] {
        let err = client
            .get_object()
            .bucket(&bucket)
            .key("obj")
            .range(range)
            .send()
            .await
            .expect_err("unsatisfiable range");
        assert_eq!(error_code(&err), "InvalidRange", "{range}");
        assert_eq!(error_status(&err), 416, "{range}");

        let raw = Answer::read(
            RawRequest::new("GET", &format!("/{bucket}/obj"))
                .header("range", range)
                .send(&server)
                .await,
        )
        .await;
        raw.assert_error(416, "InvalidRange");
        assert_eq!(
            raw.header("content-range").as_deref(),
            Some("bytes */1000"),
            "416 carries Content-Range: bytes */SIZE"
        );
    }
}

#[tokio::test]
async fn whole_get_advertises_accept_ranges() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "accept").await;
    put(&client, &bucket, "obj", b"0123456789").await;
    let raw = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}/obj"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(raw.header("content-range"), None);
    assert_eq!(raw.body, b"0123456789");
}
