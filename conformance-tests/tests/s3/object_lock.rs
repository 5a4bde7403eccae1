//! Object Lock (issue #16): buckets created with Object Lock, Put/GetObjectLockConfiguration,
//! retention and legal hold per version (by their operations and by the `x-amz-object-lock-*`
//! headers of PutObject, CopyObject and CreateMultipartUpload), the validation errors, the
//! deletes a lock refuses (DeleteObject, per key in DeleteObjects), the governance bypass and
//! its permission, and the lifecycle worker waiting for locks on a fast clock.
//!
//! Expected answers follow AWS's S3 API reference (PutObjectLockConfiguration,
//! PutObjectRetention, PutObjectLegalHold, PutObject, DeleteObject) and the User Guide's "Locking
//! objects with Object Lock" and "Object Lock considerations".

use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
    ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetention, ObjectLockRetentionMode, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use aws_smithy_types::DateTime;

use super::lifecycle::{
    explain, log_entries, manual_server, now_ms, rows_for, rule, run_pass, set_rules, sleep_until,
};
use crate::common::{
    bob, create_bucket, lock_bucket, lock_configuration, md5_base64, refusal,
    set_lock_configuration, versioned_bucket, xml_value, RawRequest, Server,
};

/// A date `secs` seconds from now.
fn in_secs(secs: i64) -> DateTime {
    DateTime::from_millis(now_ms() + secs * 1000)
}

fn retention(mode: ObjectLockRetentionMode, until: DateTime) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(until)
        .build()
}

fn legal_hold(on: bool) -> ObjectLockLegalHold {
    ObjectLockLegalHold::builder()
        .status(if on {
            ObjectLockLegalHoldStatus::On
        } else {
            ObjectLockLegalHoldStatus::Off
        })
        .build()
}

/// PutObjectLegalHold of a version (the current one when None), which must succeed.
async fn set_legal_hold(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    on: bool,
) {
    client
        .put_object_legal_hold()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .legal_hold(legal_hold(on))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObjectLegalHold {bucket}/{key}: {e:?}"));
}

/// A PutObject of a small body with the SDK (which sends a checksum).
fn put_request(client: &Client, bucket: &str, key: &str) -> PutObjectFluentBuilder {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"locked bytes"))
}

/// Sends a PutObject, which must succeed; returns the version id.
async fn send_version(put: PutObjectFluentBuilder) -> String {
    put.send()
        .await
        .unwrap_or_else(|e| panic!("PutObject: {e:?}"))
        .version_id()
        .expect("a version id")
        .to_string()
}

/// PutObject without a lock of its own; returns the version id.
async fn put_version(client: &Client, bucket: &str, key: &str) -> String {
    send_version(put_request(client, bucket, key)).await
}

/// PutObject with a retention and, if asked, a legal hold; returns the version id.
async fn put_locked(
    client: &Client,
    bucket: &str,
    key: &str,
    mode: ObjectLockMode,
    until: DateTime,
    hold: bool,
) -> String {
    send_version(
        put_request(client, bucket, key)
            .object_lock_mode(mode)
            .object_lock_retain_until_date(until)
            .set_object_lock_legal_hold_status(hold.then_some(ObjectLockLegalHoldStatus::On)),
    )
    .await
}

/// DeleteObject of one version, with or without the governance bypass.
async fn delete_version(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
    bypass: bool,
) -> Result<(), (u16, String)> {
    let result = client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .set_bypass_governance_retention(bypass.then_some(true))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(refusal::<(), _>(Err(e))),
    }
}

/// The retention and legal hold HEAD shows for a version.
async fn head_lock(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> (
    Option<ObjectLockMode>,
    Option<DateTime>,
    Option<ObjectLockLegalHoldStatus>,
) {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("HeadObject {bucket}/{key}: {e:?}"));
    (
        head.object_lock_mode().cloned(),
        head.object_lock_retain_until_date().cloned(),
        head.object_lock_legal_hold_status().cloned(),
    )
}

#[tokio::test]
async fn lock_configuration_enables_versioning_for_good_and_validates_its_document() {
    let server = Server::start();
    let client = server.client();
    let bucket = lock_bucket(&client, "lockcfg").await;

    // Object Lock turns versioning on, and versioning can no longer be suspended.
    let versioning = client
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let suspend = client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    assert_eq!(refusal(suspend), (409, "InvalidBucketState".to_string()));

    // Enabled, without a default retention, then with one.
    let got = client
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let cfg = got.object_lock_configuration().expect("a configuration");
    assert_eq!(cfg.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(cfg.rule().is_none(), "no default retention yet: {cfg:?}");
    set_lock_configuration(
        &client,
        &bucket,
        Some((ObjectLockRetentionMode::Compliance, 7)),
    )
    .await;
    let got = client
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let d = got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .expect("a default retention");
    assert_eq!(
        (d.mode(), d.days(), d.years()),
        (Some(&ObjectLockRetentionMode::Compliance), Some(7), None)
    );

    // A bucket without Object Lock has no configuration; one without versioning cannot get one,
    // and a versioned one can (enabling Object Lock on an existing bucket).
    let plain = create_bucket(&client, "lockplain").await;
    let missing = client
        .get_object_lock_configuration()
        .bucket(&plain)
        .send()
        .await;
    assert_eq!(
        refusal(missing),
        (404, "ObjectLockConfigurationNotFoundError".to_string())
    );
    let unversioned = client
        .put_object_lock_configuration()
        .bucket(&plain)
        .object_lock_configuration(lock_configuration(None))
        .send()
        .await;
    assert_eq!(
        refusal(unversioned),
        (409, "InvalidBucketState".to_string())
    );
    let versioned = versioned_bucket(&client, "lockversioned").await;
    set_lock_configuration(&client, &versioned, None).await;
    put_locked(
        &client,
        &versioned,
        "k",
        ObjectLockMode::Governance,
        in_secs(3600),
        false,
    )
    .await;

    // The document's errors.
    let put_raw = |body: String, md5: bool| {
        let mut r = RawRequest::new("PUT", &format!("/{bucket}?object-lock"))
            .body(body.as_bytes().to_vec());
        if md5 {
            r = r.header("content-md5", &md5_base64(body.as_bytes()));
        }
        r.answer(&server)
    };
    let wrap = |rule: &str| {
        format!("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>{rule}</DefaultRetention></Rule></ObjectLockConfiguration>")
    };
    let cases: Vec<(String, u16, &str)> = vec![
        (
            wrap("<Mode>GOVERNANCE</Mode><Days>0</Days>"),
            400,
            "InvalidArgument",
        ),
        (
            wrap("<Mode>GOVERNANCE</Mode><Days>36501</Days>"),
            400,
            "InvalidArgument",
        ),
        (
            wrap("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"),
            400,
            "MalformedXML",
        ),
        (
            wrap("<Mode>FOREVER</Mode><Days>1</Days>"),
            400,
            "MalformedXML",
        ),
        (wrap("<Mode>GOVERNANCE</Mode>"), 400, "MalformedXML"),
        (
            "<ObjectLockConfiguration><Rule/></ObjectLockConfiguration>".to_string(),
            400,
            "MalformedXML",
        ),
    ];
    for (doc, status, code) in cases {
        let answer = put_raw(doc.clone(), true).await;
        let text = answer.text();
        assert_eq!(
            (answer.status, xml_value(&text, "Code")),
            (status, Some(code.to_string())),
            "{doc}: {text}"
        );
    }
    let enabled = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
    let answer = put_raw(enabled.to_string(), false).await;
    assert_eq!(answer.status, 400, "no Content-MD5: {}", answer.text());
    assert_eq!(
        xml_value(&answer.text(), "Code").as_deref(),
        Some("InvalidRequest")
    );
    // The refused documents left the configuration as it was.
    let got = client
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let days = got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .and_then(|d| d.days());
    assert_eq!(days, Some(7));
}

#[tokio::test]
async fn retention_and_legal_hold_are_set_read_and_shown_on_every_write_path() {
    let server = Server::start();
    let client = server.client();
    let bucket = lock_bucket(&client, "lockrw").await;
    let until = DateTime::from_secs(4_102_444_800); // 2100-01-01T00:00:00Z

    // PutObject with the headers; HEAD and GET show them.
    let v1 = put_locked(
        &client,
        &bucket,
        "doc",
        ObjectLockMode::Governance,
        until,
        true,
    )
    .await;
    let (mode, date, hold) = head_lock(&client, &bucket, "doc", &v1).await;
    assert_eq!(mode, Some(ObjectLockMode::Governance));
    assert_eq!(date, Some(until));
    assert_eq!(hold, Some(ObjectLockLegalHoldStatus::On));
    let got = client
        .get_object()
        .bucket(&bucket)
        .key("doc")
        .send()
        .await
        .unwrap();
    assert_eq!(got.object_lock_mode(), Some(&ObjectLockMode::Governance));

    // The operations read the same, and change it.
    let r = client
        .get_object_retention()
        .bucket(&bucket)
        .key("doc")
        .send()
        .await
        .unwrap();
    let r = r.retention().expect("a retention");
    assert_eq!(
        (r.mode(), r.retain_until_date()),
        (Some(&ObjectLockRetentionMode::Governance), Some(&until))
    );
    let later = DateTime::from_secs(4_133_980_800); // 2101-01-01
    client
        .put_object_retention()
        .bucket(&bucket)
        .key("doc")
        .version_id(&v1)
        .retention(retention(ObjectLockRetentionMode::Compliance, later))
        .send()
        .await
        .expect("extending and strengthening a retention is always allowed");
    set_legal_hold(&client, &bucket, "doc", None, false).await;
    let h = client
        .get_object_legal_hold()
        .bucket(&bucket)
        .key("doc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::Off)
    );
    let (mode, date, hold) = head_lock(&client, &bucket, "doc", &v1).await;
    assert_eq!(
        (mode, date, hold),
        (Some(ObjectLockMode::Compliance), Some(later), None)
    );

    // A version without a retention has none to get.
    let plain = put_version(&client, &bucket, "plain").await;
    let none = client
        .get_object_retention()
        .bucket(&bucket)
        .key("plain")
        .version_id(&plain)
        .send()
        .await;
    assert_eq!(
        refusal(none),
        (404, "NoSuchObjectLockConfiguration".to_string())
    );

    // CopyObject takes the request's lock, not the source's.
    let copied = client
        .copy_object()
        .bucket(&bucket)
        .key("copy")
        .copy_source(format!("{bucket}/doc"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("CopyObject with a legal hold");
    let cv = copied.version_id().expect("a version id");
    assert_eq!(
        head_lock(&client, &bucket, "copy", cv).await,
        (None, None, Some(ObjectLockLegalHoldStatus::On))
    );

    // CreateMultipartUpload's headers lock the completed object.
    let upload = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .expect("CreateMultipartUpload with a lock");
    let id = upload.upload_id().expect("an upload id");
    let part = client
        .upload_part()
        .bucket(&bucket)
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part one"))
        .send()
        .await
        .expect("UploadPart (the SDK sends a checksum)");
    let done = client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CompleteMultipartUpload");
    let mv = done.version_id().expect("a version id");
    assert_eq!(
        head_lock(&client, &bucket, "mp", mv).await,
        (Some(ObjectLockMode::Compliance), Some(until), None)
    );

    // The default retention applies to a write that names none.
    set_lock_configuration(
        &client,
        &bucket,
        Some((ObjectLockRetentionMode::Governance, 1)),
    )
    .await;
    let before = now_ms();
    let dv = put_version(&client, &bucket, "defaulted").await;
    let (mode, date, _) = head_lock(&client, &bucket, "defaulted", &dv).await;
    assert_eq!(mode, Some(ObjectLockMode::Governance));
    let until_ms = date
        .expect("a default retain-until date")
        .to_millis()
        .unwrap();
    let day = 86_400_000;
    assert!(
        until_ms >= before + day - 1000 && until_ms <= now_ms() + day,
        "one day from the write: {until_ms}"
    );

    // On a bucket without Object Lock the operations are refused.
    let plain_bucket = versioned_bucket(&client, "locknone").await;
    put_version(&client, &plain_bucket, "k").await;
    let refused = client
        .put_object_retention()
        .bucket(&plain_bucket)
        .key("k")
        .retention(retention(ObjectLockRetentionMode::Governance, until))
        .send()
        .await;
    assert_eq!(refusal(refused), (400, "InvalidRequest".to_string()));
    let refused = client
        .get_object_legal_hold()
        .bucket(&plain_bucket)
        .key("k")
        .send()
        .await;
    assert_eq!(refusal(refused), (400, "InvalidRequest".to_string()));
}

/// A PUT's bucket and lock headers, and the status, code and message S3 answers.
type HeaderCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, &'a str);

#[tokio::test]
async fn lock_headers_are_validated_as_s3_validates_them() {
    let server = Server::start();
    let client = server.client();
    let bucket = lock_bucket(&client, "lockhdr").await;
    let plain = versioned_bucket(&client, "lockhdrplain").await;
    let future = "2100-01-01T00:00:00Z";
    let put = |bucket: &str, headers: &[(&str, &str)], md5: bool| {
        let body = b"bytes".to_vec();
        let mut r = RawRequest::new("PUT", &format!("/{bucket}/k")).body(body.clone());
        for (n, v) in headers {
            r = r.header(n, v);
        }
        if md5 {
            r = r.header("content-md5", &md5_base64(&body));
        }
        r.answer(&server)
    };
    let cases: Vec<HeaderCase> = vec![
        (
            plain.as_str(),
            vec![("x-amz-object-lock-legal-hold", "ON")],
            400,
            "InvalidRequest",
            "Bucket is missing ObjectLockConfiguration",
        ),
        (
            bucket.as_str(),
            vec![("x-amz-object-lock-mode", "GOVERNANCE")],
            400,
            "InvalidArgument",
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        ),
        (
            bucket.as_str(),
            vec![("x-amz-object-lock-retain-until-date", future)],
            400,
            "InvalidArgument",
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        ),
        (
            bucket.as_str(),
            vec![
                ("x-amz-object-lock-mode", "LOCKED"),
                ("x-amz-object-lock-retain-until-date", future),
            ],
            400,
            "InvalidArgument",
            "Unknown wormMode directive.",
        ),
        (
            bucket.as_str(),
            vec![
                ("x-amz-object-lock-mode", "GOVERNANCE"),
                (
                    "x-amz-object-lock-retain-until-date",
                    "2001-01-01T00:00:00Z",
                ),
            ],
            400,
            "InvalidArgument",
            "The retain until date must be in the future!",
        ),
        (
            bucket.as_str(),
            vec![("x-amz-object-lock-legal-hold", "maybe")],
            400,
            "InvalidArgument",
            "Legal Hold must be either of 'ON' or 'OFF'",
        ),
    ];
    for (b, headers, status, code, message) in cases {
        let answer = put(b, &headers, true).await;
        let text = answer.text();
        assert_eq!(answer.status, status, "{headers:?}: {text}");
        assert_eq!(
            xml_value(&text, "Code").as_deref(),
            Some(code),
            "{headers:?}: {text}"
        );
        // The message is XML text: S3 escapes its quotes.
        let got = xml_value(&text, "Message").map(|m| m.replace("&apos;", "'"));
        assert_eq!(got.as_deref(), Some(message), "{headers:?}: {text}");
    }
    // A locked write needs Content-MD5 or a checksum.
    let lock = [
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        ("x-amz-object-lock-retain-until-date", future),
    ];
    let answer = put(&bucket, &lock, false).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(
        xml_value(&answer.text(), "Message").as_deref(),
        Some("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
    );
    let answer = put(&bucket, &lock, true).await;
    assert_eq!(answer.status, 200, "with Content-MD5: {}", answer.text());
    assert!(answer.header("x-amz-version-id").is_some());
    // An unlocked write to a lock-enabled bucket without a default retention needs neither.
    let answer = put(&bucket, &[], false).await;
    assert_eq!(
        answer.status,
        200,
        "no lock, no checksum: {}",
        answer.text()
    );
    // With a default retention every write is locked, so every write needs one.
    set_lock_configuration(
        &client,
        &bucket,
        Some((ObjectLockRetentionMode::Governance, 1)),
    )
    .await;
    let answer = put(&bucket, &[], false).await;
    assert_eq!(
        answer.status,
        400,
        "default retention, no checksum: {}",
        answer.text()
    );
    // A Retention document whose date has passed, or with a mode and no date.
    let put_retention = |doc: &'static str| {
        RawRequest::new("PUT", &format!("/{bucket}/k?retention"))
            .header("content-md5", &md5_base64(doc.as_bytes()))
            .body(doc.as_bytes().to_vec())
            .answer(&server)
    };
    let answer = put_retention("<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2001-01-01T00:00:00Z</RetainUntilDate></Retention>").await;
    assert_eq!(
        (answer.status, xml_value(&answer.text(), "Code")),
        (400, Some("InvalidArgument".into()))
    );
    let answer = put_retention("<Retention><Mode>GOVERNANCE</Mode></Retention>").await;
    assert_eq!(
        (answer.status, xml_value(&answer.text(), "Code")),
        (400, Some("MalformedXML".into()))
    );
    let answer = put_retention("<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2100-01-01T00:00:00Z</RetainUntilDate></Retention>").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test]
async fn locked_versions_refuse_deletion_but_a_delete_marker_is_still_added() {
    let server = Server::start();
    let client = server.client();
    let bucket = lock_bucket(&client, "lockdel").await;
    let v = put_locked(
        &client,
        &bucket,
        "k",
        ObjectLockMode::Compliance,
        in_secs(3600),
        false,
    )
    .await;
    let other = put_version(&client, &bucket, "free").await;

    // The version itself may not go; a DELETE without a version id adds a marker over it.
    assert_eq!(
        delete_version(&client, &bucket, "k", &v, false).await,
        Err((403, "AccessDenied".into()))
    );
    assert_eq!(
        delete_version(&client, &bucket, "k", &v, true).await,
        Err((403, "AccessDenied".into())),
        "COMPLIANCE is not bypassed"
    );
    let marker = client
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("a delete marker");
    assert_eq!(marker.delete_marker(), Some(true));
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v)
        .send()
        .await;
    assert!(
        head.is_ok(),
        "the locked version is still there behind the marker"
    );

    // DeleteObjects answers per key.
    let objects = [("k", v.as_str()), ("free", other.as_str())]
        .iter()
        .map(|(k, id)| {
            ObjectIdentifier::builder()
                .key(*k)
                .version_id(*id)
                .build()
                .unwrap()
        })
        .collect::<Vec<_>>();
    let result = client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("DeleteObjects");
    let deleted: Vec<&str> = result.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, vec!["free"]);
    let errors: Vec<(Option<&str>, Option<&str>)> = result
        .errors()
        .iter()
        .map(|e| (e.key(), e.code()))
        .collect();
    assert_eq!(errors, vec![(Some("k"), Some("AccessDenied"))]);

    // COMPLIANCE can be neither shortened, nor weakened to GOVERNANCE, nor removed.
    for (mode, until) in [
        (ObjectLockRetentionMode::Compliance, in_secs(60)),
        (ObjectLockRetentionMode::Governance, in_secs(7200)),
    ] {
        let shorter = client
            .put_object_retention()
            .bucket(&bucket)
            .key("k")
            .version_id(&v)
            .retention(retention(mode, until))
            .bypass_governance_retention(true)
            .send()
            .await;
        assert_eq!(refusal(shorter), (403, "AccessDenied".to_string()));
    }
    let doc = "<Retention/>";
    let removed = RawRequest::new("PUT", &format!("/{bucket}/k?retention&versionId={v}"))
        .header("content-md5", &md5_base64(doc.as_bytes()))
        .header("x-amz-bypass-governance-retention", "true")
        .body(doc.as_bytes().to_vec())
        .answer(&server)
        .await;
    assert_eq!(
        removed.status,
        403,
        "removing COMPLIANCE: {}",
        removed.text()
    );

    // A legal hold blocks deletion whatever the retention, until it is turned off.
    let held = put_version(&client, &bucket, "held").await;
    set_legal_hold(&client, &bucket, "held", Some(&held), true).await;
    assert_eq!(
        delete_version(&client, &bucket, "held", &held, true).await,
        Err((403, "AccessDenied".into()))
    );
    set_legal_hold(&client, &bucket, "held", Some(&held), false).await;
    assert_eq!(
        delete_version(&client, &bucket, "held", &held, false).await,
        Ok(())
    );
}

#[tokio::test]
async fn governance_is_bypassed_only_with_the_header_and_the_permission() {
    let b = bob();
    let server = Server::start_with_users(std::slice::from_ref(&b));
    let (owner, bob_c) = (server.client(), b.client(&server));
    let bucket = lock_bucket(&owner, "lockgov").await;
    let policy = |bypass: bool| {
        let mut actions = vec![
            "s3:GetObject",
            "s3:DeleteObjectVersion",
            "s3:PutObjectRetention",
        ];
        if bypass {
            actions.push("s3:BypassGovernanceRetention");
        }
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":{},"Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#,
            b.arn(),
            serde_json::to_string(&actions).unwrap()
        )
    };
    owner
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(policy(false))
        .send()
        .await
        .unwrap();
    let v1 = put_locked(
        &owner,
        &bucket,
        "a",
        ObjectLockMode::Governance,
        in_secs(3600),
        false,
    )
    .await;
    let v2 = put_locked(
        &owner,
        &bucket,
        "b",
        ObjectLockMode::Governance,
        in_secs(3600),
        false,
    )
    .await;

    // Without the header nobody gets through, the owner included.
    assert_eq!(
        delete_version(&owner, &bucket, "a", &v1, false).await,
        Err((403, "AccessDenied".into()))
    );
    // Bob asks for the bypass without the permission.
    assert_eq!(
        delete_version(&bob_c, &bucket, "a", &v1, true).await,
        Err((403, "AccessDenied".into()))
    );
    let shorten = |client: Client, key: &'static str, id: String| {
        let bucket = bucket.clone();
        async move {
            client
                .put_object_retention()
                .bucket(&bucket)
                .key(key)
                .version_id(id)
                .retention(retention(ObjectLockRetentionMode::Governance, in_secs(120)))
                .bypass_governance_retention(true)
                .send()
                .await
                .map(|_| ())
        }
    };
    assert_eq!(
        refusal(shorten(bob_c.clone(), "b", v2.clone()).await),
        (403, "AccessDenied".to_string())
    );

    // With the permission, the header lets Bob shorten and delete.
    owner
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(policy(true))
        .send()
        .await
        .unwrap();
    shorten(bob_c.clone(), "b", v2.clone())
        .await
        .expect("shortening GOVERNANCE with the bypass");
    assert_eq!(
        delete_version(&bob_c, &bucket, "a", &v1, false).await,
        Err((403, "AccessDenied".into())),
        "the header is still needed"
    );
    assert_eq!(
        delete_version(&bob_c, &bucket, "a", &v1, true).await,
        Ok(())
    );
    // The owner may bypass too.
    assert_eq!(
        delete_version(&owner, &bucket, "b", &v2, true).await,
        Ok(())
    );
}

#[tokio::test]
async fn lifecycle_expiration_waits_for_the_lock_and_says_so() {
    // One lifecycle day is one second.
    let server = manual_server(1);
    let client = server.client();
    let bucket = lock_bucket(&client, "locklc").await;
    set_rules(
        &server,
        &bucket,
        &rule(
            "noncurrent-1d",
            "<Prefix></Prefix>",
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>",
        ),
    )
    .await;
    // A whole second, as a date header may carry no fraction.
    let until_ms = (now_ms() / 1000 + 5) * 1000;
    let retained = put_locked(
        &client,
        &bucket,
        "r",
        ObjectLockMode::Compliance,
        DateTime::from_millis(until_ms),
        false,
    )
    .await;
    let held = put_version(&client, &bucket, "h").await;
    set_legal_hold(&client, &bucket, "h", Some(&held), true).await;
    let free = put_version(&client, &bucket, "f").await;
    for key in ["r", "h", "f"] {
        put_version(&client, &bucket, key).await;
    }
    let exists = async |key: &str, id: &str| {
        client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .version_id(id)
            .send()
            .await
            .is_ok()
    };

    // Past the noncurrent day: the free version goes, the locked ones wait.
    sleep_until(now_ms() + 1500).await;
    run_pass(&server, &bucket).await;
    assert!(
        !exists("f", &free).await,
        "the unlocked noncurrent version is expired"
    );
    assert!(exists("r", &retained).await, "the retained version waits");
    assert!(exists("h", &held).await, "the held version waits");

    // explain shows both as held, by which lock and until when.
    let doc = explain(&server, &bucket, None).await;
    let row = |key: &str, id: &str| {
        rows_for(&doc, key)
            .into_iter()
            .find(|r| r["version_id"] == id)
            .unwrap_or_else(|| panic!("no explain row for {key} {id}: {doc}"))
            .clone()
    };
    let r = row("r", &retained);
    assert_eq!(r["held"]["by"]["lock"], "retention", "{r}");
    assert_eq!(r["held"]["by"]["mode"], "COMPLIANCE", "{r}");
    assert_eq!(
        r["held"]["by"]["retain_until_ms"].as_i64(),
        Some(until_ms),
        "{r}"
    );
    assert_eq!(
        r["next"]["due_ms"].as_i64(),
        Some(until_ms),
        "due again when the retention ends: {r}"
    );
    let h = row("h", &held);
    assert_eq!(h["held"]["by"]["lock"], "legal-hold", "{h}");

    // The log recorded the deferrals.
    let log = log_entries(&server, Some(&bucket), None).await;
    let deferral = |id: &str| {
        log.iter()
            .find(|e| e["version_id"] == id)
            .and_then(|e| e["action"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        deferral(&retained).contains("deferred: held by COMPLIANCE retention until"),
        "{log:?}"
    );
    assert!(
        deferral(&held).contains("deferred: held by a legal hold"),
        "{log:?}"
    );

    // When the retention ends the version goes; the legal hold holds until it is lifted.
    sleep_until(until_ms + 300).await;
    run_pass(&server, &bucket).await;
    assert!(
        !exists("r", &retained).await,
        "expired once its retention ended"
    );
    assert!(exists("h", &held).await, "a legal hold has no end");
    set_legal_hold(&client, &bucket, "h", Some(&held), false).await;
    run_pass(&server, &bucket).await;
    assert!(
        !exists("h", &held).await,
        "expired once the hold was lifted"
    );

    // A default retention counts lifecycle days: on one-second days, two days are two seconds.
    set_lock_configuration(
        &client,
        &bucket,
        Some((ObjectLockRetentionMode::Governance, 2)),
    )
    .await;
    let before = now_ms();
    let d = put_version(&client, &bucket, "d").await;
    let (_, date, _) = head_lock(&client, &bucket, "d", &d).await;
    let until = date.expect("a default retention").to_millis().unwrap();
    assert!(
        until >= before + 2000 - 1000 && until <= now_ms() + 2000,
        "two one-second days: {until} from {before}"
    );
}
