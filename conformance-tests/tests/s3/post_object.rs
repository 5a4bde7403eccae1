//! POST Object: a browser form upload (multipart/form-data) authorised by a SigV4-signed policy
//! document, as AWS's "Browser-Based Uploads Using POST" describes: the policy's conditions are
//! enforced, `${filename}` is substituted in the key, and `success_action_status` /
//! `success_action_redirect` choose the answer.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use time::macros::format_description;
use time::OffsetDateTime;

use crate::common::{
    b64, create_bucket, error_status, get_bytes, http_no_redirect, md5_hex, xml_value, Answer,
    Server, ACCESS_KEY, SECRET_KEY,
};

/// One browser upload: the policy's conditions, the form fields, the file.
struct Upload {
    bucket: String,
    expiration: OffsetDateTime,
    conditions: Vec<Value>,
    fields: Vec<(String, String)>,
    file_name: String,
    file: Vec<u8>,
    access_key: String,
    secret_key: String,
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn format_utc(
    t: OffsetDateTime,
    format: &[time::format_description::BorrowedFormatItem<'_>],
) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format)
        .expect("format time")
}

impl Upload {
    /// A policy for `bucket` valid for ten minutes with only the bucket condition, and a form
    /// with a key; callers add conditions and fields.
    fn new(bucket: &str, key: &str, file: &[u8]) -> Upload {
        Upload {
            bucket: bucket.to_string(),
            expiration: OffsetDateTime::now_utc() + Duration::from_secs(600),
            conditions: vec![json!({ "bucket": bucket }), json!(["eq", "$key", key])],
            fields: vec![("key".to_string(), key.to_string())],
            file_name: "upload.bin".to_string(),
            file: file.to_vec(),
            access_key: ACCESS_KEY.to_string(),
            secret_key: SECRET_KEY.to_string(),
        }
    }

    fn condition(mut self, condition: Value) -> Upload {
        self.conditions.push(condition);
        self
    }

    fn field(mut self, name: &str, value: &str) -> Upload {
        self.fields.push((name.to_string(), value.to_string()));
        self
    }

    /// Signs the policy as AWS documents it (SigV4 signing key over the base64 policy) and
    /// posts the form to the bucket, without any Authorization header.
    async fn send(self, server: &Server) -> Answer {
        let now = OffsetDateTime::now_utc();
        let date = format_utc(now, format_description!("[year][month][day]"));
        let amz_date = format_utc(
            now,
            format_description!("[year][month][day]T[hour][minute][second]Z"),
        );
        let credential = format!(
            "{}/{date}/{}/s3/aws4_request",
            self.access_key,
            server.region()
        );
        let mut conditions = self.conditions.clone();
        conditions.push(json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }));
        conditions.push(json!({ "x-amz-credential": credential }));
        conditions.push(json!({ "x-amz-date": amz_date }));
        let policy = json!({
            "expiration": format_utc(
                self.expiration,
                format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z")
            ),
            "conditions": conditions,
        });
        let policy_b64 = b64(policy.to_string().as_bytes());
        let signing_key = [server.region(), "s3", "aws4_request"].iter().fold(
            hmac_sha256(
                format!("AWS4{}", self.secret_key).as_bytes(),
                date.as_bytes(),
            ),
            |key, part| hmac_sha256(&key, part.as_bytes()),
        );
        let signature = hex::encode(hmac_sha256(&signing_key, policy_b64.as_bytes()));

        let mut form = reqwest::multipart::Form::new();
        for (name, value) in &self.fields {
            form = form.text(name.clone(), value.clone());
        }
        form = form
            .text("x-amz-algorithm", "AWS4-HMAC-SHA256")
            .text("x-amz-credential", credential)
            .text("x-amz-date", amz_date)
            .text("policy", policy_b64)
            .text("x-amz-signature", signature);
        // The file must be the last field.
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(self.file.clone())
                .file_name(self.file_name.clone())
                .mime_str("application/octet-stream")
                .expect("mime"),
        );
        let response = http_no_redirect()
            .post(server.url(&format!("/{}", self.bucket)))
            .multipart(form)
            .send()
            .await
            .expect("POST form");
        Answer::read(response).await
    }
}

async fn assert_absent(server: &Server, bucket: &str, key: &str) {
    let err = server
        .client()
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect_err("nothing stored");
    assert_eq!(error_status(&err), 404, "{key} must not exist");
}

#[tokio::test]
async fn browser_upload_with_signed_policy() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "post").await;
    let file = b"\x89PNG pretend image bytes".to_vec();

    let mut upload = Upload::new(&bucket, "uploads/${filename}", &file)
        .condition(json!({ "success_action_status": "201" }))
        .condition(json!(["starts-with", "$Content-Type", "image/"]))
        .condition(json!({ "x-amz-meta-owner": "alice" }))
        .condition(json!(["content-length-range", 1, 1_048_576]))
        .field("success_action_status", "201")
        .field("Content-Type", "image/png")
        .field("x-amz-meta-owner", "alice");
    upload.conditions[1] = json!(["starts-with", "$key", "uploads/"]);
    upload.file_name = "photo.png".to_string();
    let answer = upload.send(&server).await;

    assert_eq!(answer.status, 201, "{}", answer.text());
    let text = answer.text();
    assert!(
        text.contains("<PostResponse"),
        "PostResponse document: {text}"
    );
    assert_eq!(xml_value(&text, "Bucket"), Some(bucket.clone()));
    assert_eq!(
        xml_value(&text, "Key").as_deref(),
        Some("uploads/photo.png")
    );
    let etag = format!("\"{}\"", md5_hex(&file));
    let body_etag = xml_value(&text, "ETag")
        .expect("ETag")
        .replace("&quot;", "\"");
    assert_eq!(body_etag, etag);
    assert!(
        xml_value(&text, "Location").is_some_and(|l| l.contains("photo.png")),
        "Location: {text}"
    );
    assert_eq!(answer.header("etag"), Some(etag.clone()));

    assert_eq!(get_bytes(&client, &bucket, "uploads/photo.png").await, file);
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("uploads/photo.png")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_type(), Some("image/png"));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("alice")
    );
}

#[tokio::test]
async fn success_action_status_and_redirect() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "poststatus").await;
    let etag = format!("\"{}\"", md5_hex(b"form data"));

    // No success_action_status: 204 No Content.
    let answer = Upload::new(&bucket, "default", b"form data")
        .send(&server)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text());
    assert!(answer.body.is_empty());
    assert_eq!(answer.header("etag"), Some(etag.clone()));
    assert_eq!(get_bytes(&client, &bucket, "default").await, b"form data");

    // 200: an empty 200.
    let answer = Upload::new(&bucket, "two-hundred", b"form data")
        .condition(json!(["starts-with", "$success_action_status", ""]))
        .field("success_action_status", "200")
        .send(&server)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.body.is_empty(), "{}", answer.text());
    assert_eq!(
        get_bytes(&client, &bucket, "two-hundred").await,
        b"form data"
    );

    // Any other value is treated as 204.
    let answer = Upload::new(&bucket, "other", b"form data")
        .condition(json!(["starts-with", "$success_action_status", ""]))
        .field("success_action_status", "302")
        .send(&server)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text());

    // A redirect: 303 to the URL with bucket, key and etag appended.
    let target = "https://app.example.com/uploaded";
    let answer = Upload::new(&bucket, "redirected/file.txt", b"form data")
        .condition(json!({ "success_action_redirect": target }))
        .field("success_action_redirect", target)
        .send(&server)
        .await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    let location = answer.header("location").expect("Location");
    let query = location
        .strip_prefix(&format!("{target}?"))
        .unwrap_or_else(|| panic!("Location {location:?} is the redirect URL with a query"));
    let params: Vec<(String, String)> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8()
                .expect("utf-8")
                .into_owned();
            (name.to_string(), value)
        })
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("bucket"), Some(bucket.clone()), "{location}");
    assert_eq!(
        param("key").as_deref(),
        Some("redirected/file.txt"),
        "{location}"
    );
    assert_eq!(param("etag"), Some(etag.clone()), "{location}");
    assert_eq!(
        get_bytes(&client, &bucket, "redirected/file.txt").await,
        b"form data"
    );
}

#[tokio::test]
async fn policy_conditions_are_enforced() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "postpolicy").await;

    // content-length-range: above the maximum is EntityTooLarge, below the minimum
    // EntityTooSmall.
    let answer = Upload::new(&bucket, "big", &[b'x'; 11])
        .condition(json!(["content-length-range", 1, 10]))
        .send(&server)
        .await;
    answer.assert_error(400, "EntityTooLarge");
    assert_absent(&server, &bucket, "big").await;
    let answer = Upload::new(&bucket, "small", b"ab")
        .condition(json!(["content-length-range", 5, 10]))
        .send(&server)
        .await;
    answer.assert_error(400, "EntityTooSmall");
    assert_absent(&server, &bucket, "small").await;
    let answer = Upload::new(&bucket, "fits", &[b'x'; 10])
        .condition(json!(["content-length-range", 10, 10]))
        .send(&server)
        .await;
    assert_eq!(
        answer.status,
        204,
        "exactly at the bounds: {}",
        answer.text()
    );

    // starts-with on the key.
    let mut upload = Upload::new(&bucket, "elsewhere/file", b"data");
    upload.conditions[1] = json!(["starts-with", "$key", "uploads/"]);
    upload.send(&server).await.assert_error(403, "AccessDenied");
    assert_absent(&server, &bucket, "elsewhere/file").await;

    // An exact match that does not hold.
    let answer = Upload::new(&bucket, "meta", b"data")
        .condition(json!({ "x-amz-meta-owner": "alice" }))
        .field("x-amz-meta-owner", "mallory")
        .send(&server)
        .await;
    answer.assert_error(403, "AccessDenied");
    assert_absent(&server, &bucket, "meta").await;

    // A form field the policy does not mention.
    let answer = Upload::new(&bucket, "extra", b"data")
        .field("x-amz-meta-extra", "not in the policy")
        .send(&server)
        .await;
    answer.assert_error(403, "AccessDenied");
    assert_absent(&server, &bucket, "extra").await;

    // x-ignore- fields need no condition.
    let answer = Upload::new(&bucket, "ignored", b"data")
        .field("x-ignore-tracking", "anything")
        .send(&server)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text());

    // A policy for another bucket.
    let other = create_bucket(&client, "postother").await;
    let mut upload = Upload::new(&bucket, "wrong-bucket", b"data");
    upload.conditions[0] = json!({ "bucket": other });
    upload.send(&server).await.assert_error(403, "AccessDenied");
    assert_absent(&server, &bucket, "wrong-bucket").await;
}

#[tokio::test]
async fn expired_policy_and_bad_signatures() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "postauth").await;

    let mut upload = Upload::new(&bucket, "expired", b"data");
    upload.expiration = OffsetDateTime::now_utc() - Duration::from_secs(60);
    upload.send(&server).await.assert_error(403, "AccessDenied");
    assert_absent(&server, &bucket, "expired").await;

    let mut upload = Upload::new(&bucket, "forged", b"data");
    upload.secret_key = "not-the-secret".to_string();
    upload
        .send(&server)
        .await
        .assert_error(403, "SignatureDoesNotMatch");
    assert_absent(&server, &bucket, "forged").await;

    let mut upload = Upload::new(&bucket, "stranger", b"data");
    upload.access_key = "NOSUCHACCESSKEY".to_string();
    upload
        .send(&server)
        .await
        .assert_error(403, "InvalidAccessKeyId");
    assert_absent(&server, &bucket, "stranger").await;

    // The same form, signed with the right key, is accepted.
    let answer = Upload::new(&bucket, "fine", b"data").send(&server).await;
    assert_eq!(answer.status, 204, "{}", answer.text());
}

/// Posts an unsigned form (no policy, no signature) with `key` and `file`.
async fn anonymous_post(server: &Server, bucket: &str, key: &str, file: &[u8]) -> Answer {
    let form = reqwest::multipart::Form::new()
        .text("key", key.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.to_vec()).file_name("f.bin"),
        );
    let response = http_no_redirect()
        .post(server.url(&format!("/{bucket}")))
        .multipart(form)
        .send()
        .await
        .expect("POST form");
    Answer::read(response).await
}

// issue #15: an unsigned form is an anonymous upload: refused unless the bucket's policy lets
// anyone s3:PutObject, and then stored under the policy's prefix only; a signed form is made
// with its signer's permissions.
#[tokio::test]
async fn anonymous_and_other_users_forms_follow_the_bucket_policy() {
    let (a, b) = (crate::common::alice(), crate::common::bob());
    let server = Server::start_with_users(&[a.clone(), b.clone()]);
    let alice_c = a.client(&server);
    let bucket = create_bucket(&alice_c, "anonpost").await;
    anonymous_post(&server, &bucket, "drop/a", b"x")
        .await
        .assert_error(403, "AccessDenied");
    let mut by_bob = Upload::new(&bucket, "drop/bob", b"from bob");
    (by_bob.access_key, by_bob.secret_key) = (b.access_key.into(), b.secret_key.into());
    by_bob.send(&server).await.assert_error(403, "AccessDenied");

    alice_c
        .delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:PutObject",
            "Resource":"arn:aws:s3:::{bucket}/drop/*"}}]}}"#
    );
    alice_c
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous_post(&server, &bucket, "drop/a", b"x")
            .await
            .status,
        204
    );
    assert_eq!(get_bytes(&alice_c, &bucket, "drop/a").await, b"x");
    anonymous_post(&server, &bucket, "elsewhere", b"x")
        .await
        .assert_error(403, "AccessDenied");
    let mut by_bob = Upload::new(&bucket, "drop/bob", b"from bob");
    (by_bob.access_key, by_bob.secret_key) = (b.access_key.into(), b.secret_key.into());
    assert_eq!(by_bob.send(&server).await.status, 204);
    assert_eq!(get_bytes(&alice_c, &bucket, "drop/bob").await, b"from bob");
}

#[tokio::test]
async fn form_fields_set_the_object_lock_of_the_upload() {
    let server = Server::start();
    let client = server.client();
    let bucket = crate::common::lock_bucket(&client, "postlock").await;
    let until = "2100-01-01T00:00:00.000Z";
    let locked = |bucket: &str| {
        Upload::new(bucket, "audit.log", b"entry")
            .condition(json!({ "x-amz-object-lock-mode": "COMPLIANCE" }))
            .condition(json!({ "x-amz-object-lock-retain-until-date": until }))
            .condition(json!({ "x-amz-object-lock-legal-hold": "ON" }))
            .field("x-amz-object-lock-mode", "COMPLIANCE")
            .field("x-amz-object-lock-retain-until-date", until)
            .field("x-amz-object-lock-legal-hold", "ON")
    };
    let answer = locked(&bucket).send(&server).await;
    assert_eq!(answer.status, 204, "{}", answer.text());
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("audit.log")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(
        head.object_lock_mode(),
        Some(&aws_sdk_s3::types::ObjectLockMode::Compliance)
    );
    assert_eq!(
        head.object_lock_retain_until_date(),
        Some(&aws_smithy_types::DateTime::from_secs(4_102_444_800))
    );
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
    );
    // The same form to a bucket without Object Lock is refused, and stores nothing.
    let plain = create_bucket(&client, "postnolock").await;
    let answer = locked(&plain).send(&server).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(
        xml_value(&answer.text(), "Code").as_deref(),
        Some("InvalidRequest")
    );
    assert_absent(&server, &plain, "audit.log").await;
}
