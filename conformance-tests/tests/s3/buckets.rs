//! ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::common::{
    bucket_name, create_bucket, error_code, error_status, put, Answer, RawRequest, Server,
    ServerOptions,
};

// Issue 18: ListBuckets ignored max-buckets, continuation-token, prefix and bucket-region and
// returned every bucket in one page without a token.
#[tokio::test]
async fn list_buckets_pages_with_max_buckets_prefix_and_region() {
    let server = Server::start();
    let client = server.client();
    let mut names: Vec<String> = (0..5)
        .map(|i| format!("page-{i}-{}", bucket_name("b")))
        .collect();
    names.push(bucket_name("other"));
    for name in &names {
        client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("CreateBucket");
    }
    names.sort();
    let paged: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("page-"))
        .cloned()
        .collect();

    // Pages of two, by hand: each page but the last carries a ContinuationToken and echoes Prefix.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = client
            .list_buckets()
            .max_buckets(2)
            .prefix("page-")
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("ListBuckets page");
        pages += 1;
        assert_eq!(out.prefix(), Some("page-"));
        assert!(out.buckets().len() <= 2, "{:?}", out.buckets());
        seen.extend(
            out.buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_owned)),
        );
        match out.continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, paged);
    assert_eq!(pages, 3);

    // The SDK's paginator walks the same pages.
    let mut all = Vec::new();
    let mut stream = client.list_buckets().max_buckets(4).into_paginator().send();
    while let Some(page) = stream.next().await {
        let page = page.expect("ListBuckets paginated");
        all.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_owned)),
        );
    }
    assert_eq!(all, names);

    // bucket-region: every bucket is in the server's region.
    let out = client
        .list_buckets()
        .bucket_region(server.region())
        .send()
        .await
        .expect("region");
    assert_eq!(out.buckets().len(), names.len());
    assert!(out.continuation_token().is_none());
    let out = client
        .list_buckets()
        .bucket_region("eu-west-3")
        .send()
        .await
        .expect("region");
    assert!(out.buckets().is_empty());

    for bad in ["0", "10001", "x"] {
        let answer = Answer::read(
            RawRequest::new("GET", &format!("/?max-buckets={bad}"))
                .send(&server)
                .await,
        )
        .await;
        answer.assert_error(400, "InvalidArgument");
    }
    let answer = Answer::read(
        RawRequest::new("GET", "/?continuation-token=%21%21")
            .send(&server)
            .await,
    )
    .await;
    answer.assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn list_buckets_returns_created_buckets_in_order() {
    let server = Server::start();
    let client = server.client();

    let empty = client.list_buckets().send().await.expect("ListBuckets");
    assert!(
        empty.buckets().is_empty(),
        "fresh server lists {:?}",
        empty.buckets()
    );

    let mut names = vec![
        bucket_name("zeta"),
        bucket_name("alpha"),
        bucket_name("mid"),
    ];
    for name in &names {
        client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("CreateBucket");
    }
    names.sort();

    let out = client.list_buckets().send().await.expect("ListBuckets");
    let listed: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(listed, names, "ListBuckets is sorted by name");
    for bucket in out.buckets() {
        let created = bucket.creation_date().expect("CreationDate");
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        assert!(
            (now.secs() - created.secs()).abs() < 300,
            "CreationDate {created} is not about now"
        );
    }
    assert!(out.owner().and_then(|o| o.id()).is_some(), "Owner/ID");
}

#[tokio::test]
async fn create_bucket_then_head_bucket() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket_name("head");

    let err = client
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("HeadBucket on a missing bucket");
    assert_eq!(error_status(&err), 404);
    assert!(
        err.as_service_error().is_some_and(|e| e.is_not_found()),
        "HeadBucket 404 surfaces as NotFound: {err:?}"
    );

    let out = client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket");
    assert_eq!(out.location(), Some(format!("/{bucket}").as_str()));

    client
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("HeadBucket on an existing bucket");
}

#[tokio::test]
async fn head_bucket_404_has_no_body() {
    let server = Server::start();
    let answer = Answer::read(
        RawRequest::new("HEAD", "/no-such-bucket-here")
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 404);
    assert!(answer.body.is_empty(), "HEAD responses carry no body");
    assert!(answer.header("x-amz-request-id").is_some());
}

// issue #15: re-creating one's own bucket answers as AWS does: 200 in us-east-1 (legacy
// behaviour, API reference CreateBucket), 409 BucketAlreadyOwnedByYou in any other region.
#[tokio::test]
async fn create_bucket_twice_is_ok_in_us_east_1_and_owned_by_you_elsewhere() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "twice").await;
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("re-creating one's own bucket in us-east-1");

    let server = Server::start_with(ServerOptions {
        region: Some("eu-west-1".into()),
        ..Default::default()
    });
    let client = server.client();
    let bucket = create_bucket(&client, "twice").await;
    let err = client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("second CreateBucket");
    assert_eq!(error_code(&err), "BucketAlreadyOwnedByYou");
    assert_eq!(error_status(&err), 409);
}

#[tokio::test]
async fn create_bucket_rejects_invalid_names() {
    let server = Server::start();
    let client = server.client();
    // S3 bucket naming rules (general purpose buckets).
    let long = "a".repeat(64);
    let invalid = [
        "ab",                  // fewer than 3 characters
        long.as_str(),         // more than 63 characters
        "UpperCase-bucket",    // uppercase letters
        "under_score-bucket",  // underscore
        "-leading-hyphen",     // must begin with a letter or digit
        "trailing-hyphen-",    // must end with a letter or digit
        ".leading-dot",        // must begin with a letter or digit
        "double..dots",        // two adjacent periods
        "192.168.5.4",         // formatted as an IP address
        "xn--punycode-bucket", // reserved prefix
        "bucket-s3alias",      // reserved suffix
        "sthree-bucket",       // reserved prefix
    ];
    let mut wrong = Vec::new();
    for name in invalid {
        match client.create_bucket().bucket(name).send().await {
            Ok(_) => wrong.push(format!("{name:?}: created")),
            Err(err) => match err
                .as_service_error()
                .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e).map(str::to_string))
            {
                Some(code) if code == "InvalidBucketName" && error_status(&err) == 400 => {}
                other => wrong.push(format!("{name:?}: {other:?} {err:?}")),
            },
        }
    }
    assert!(
        wrong.is_empty(),
        "want 400 InvalidBucketName for each:\n{}",
        wrong.join("\n")
    );

    // Boundary names that are valid.
    for name in ["abc", &"b".repeat(63), "with.dots.ok", "0-digits-9"] {
        client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateBucket {name:?} is valid: {e:?}"));
    }
}

#[tokio::test]
async fn delete_bucket() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "del").await;

    put(&client, &bucket, "k", b"v").await;
    let err = client
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("DeleteBucket on a non-empty bucket");
    assert_eq!(error_code(&err), "BucketNotEmpty");
    assert_eq!(error_status(&err), 409);

    client
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("DeleteObject");
    let answer = Answer::read(
        RawRequest::new("DELETE", &format!("/{bucket}"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(
        answer.status,
        204,
        "DeleteBucket answers 204: {}",
        answer.text()
    );

    let err = client
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("bucket is gone");
    assert_eq!(error_status(&err), 404);
    let listed = client.list_buckets().send().await.expect("ListBuckets");
    assert!(listed.buckets().iter().all(|b| b.name() != Some(&bucket)));

    let err = client
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("DeleteBucket on a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");
    assert_eq!(error_status(&err), 404);

    // The name is free again.
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("re-create a deleted bucket");
    let err = client
        .get_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect_err("a re-created bucket is empty");
    assert_eq!(error_code(&err), "NoSuchKey");
}

#[tokio::test]
async fn get_bucket_location_us_east_1_is_empty() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "loc").await;

    let out = client
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketLocation");
    // S3 answers an empty LocationConstraint for us-east-1.
    let location = out
        .location_constraint()
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    assert_eq!(location, "");

    let err = client
        .get_bucket_location()
        .bucket("no-such-bucket-loc")
        .send()
        .await
        .expect_err("GetBucketLocation on a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn get_bucket_location_other_region() {
    let server = Server::start_with(ServerOptions {
        region: Some("eu-west-1".into()),
        ..ServerOptions::default()
    });
    let client = server.client();
    let bucket = bucket_name("euloc");
    client
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("CreateBucket in eu-west-1");
    let out = client
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketLocation");
    assert_eq!(
        out.location_constraint(),
        Some(&BucketLocationConstraint::EuWest1)
    );
}
