//! Users, bucket ownership, bucket policies, ACLs, Object Ownership and Block Public Access, as
//! two and three users and anonymous clients see them: each denial with its status and code, and
//! a check that it changed nothing.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Delete, ObjectCannedAcl, ObjectIdentifier, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration,
};
use aws_sdk_s3::Client;

use crate::common::{
    alice, bob, bucket_name, carol, create_bucket, error_code, error_status, get_bytes,
    presign_url_with, put, refusal, send_unsigned, strata_command, xml_value, Server, TestUser,
    SECRET_KEY,
};

async fn set_policy(client: &Client, bucket: &str, policy: &str) {
    client
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
        .expect("put bucket policy");
}

/// Turns Block Public Access off (new buckets have it on, as on AWS).
async fn allow_public(client: &Client, bucket: &str) {
    client
        .delete_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .expect("delete public access block");
}

async fn put_err(client: &Client, bucket: &str, key: &str) -> (u16, String) {
    let err = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("put must be refused");
    (error_status(&err), error_code(&err))
}

async fn get_err(client: &Client, bucket: &str, key: &str) -> (u16, String) {
    let err = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect_err("get must be refused");
    (error_status(&err), error_code(&err))
}

fn denied() -> (u16, String) {
    (403, "AccessDenied".to_owned())
}

#[tokio::test]
async fn buckets_belong_to_their_creators() {
    let (a, b) = (alice(), bob());
    let server = Server::start_with_users(&[a.clone(), b.clone()]);
    let (alice_c, bob_c) = (a.client(&server), b.client(&server));
    let bucket = create_bucket(&alice_c, "owned").await;
    put(&alice_c, &bucket, "k", b"alice's").await;

    // Each sees its own buckets, with its canonical id and display name as Owner.
    let listed = alice_c.list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, [bucket.as_str()]);
    let owner = listed.owner().expect("owner");
    assert_eq!(owner.id(), Some(a.canonical_id.as_str()));
    assert_eq!(owner.display_name(), Some("alice"));
    assert!(bob_c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .is_empty());
    assert!(!server
        .client()
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .any(|b| b.name() == Some(&bucket)));

    // Another owner cannot take the name, read, write or delete.
    let err = bob_c
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (error_status(&err), error_code(&err).as_str()),
        (409, "BucketAlreadyExists")
    );
    assert_eq!(get_err(&bob_c, &bucket, "k").await, denied());
    assert_eq!(put_err(&bob_c, &bucket, "k").await, denied());
    assert_eq!(
        refusal(bob_c.delete_object().bucket(&bucket).key("k").send().await),
        denied()
    );
    assert_eq!(
        refusal(bob_c.list_objects_v2().bucket(&bucket).send().await),
        denied()
    );
    assert_eq!(
        refusal(bob_c.delete_bucket().bucket(&bucket).send().await),
        denied()
    );
    // Nothing changed.
    assert_eq!(get_bytes(&alice_c, &bucket, "k").await, b"alice's");
    // A missing bucket is NoSuchBucket for anyone.
    let err = bob_c
        .get_object()
        .bucket("no-such-bucket-owned")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn a_policy_lets_one_user_only_put_into_a_prefix() {
    let (a, b) = (alice(), bob());
    let server = Server::start_with_users(&[a.clone(), b.clone()]);
    let (alice_c, bob_c) = (a.client(&server), b.client(&server));
    let bucket = create_bucket(&alice_c, "uploads").await;
    put(&alice_c, &bucket, "uploads/seed", b"seed").await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"BobUploads","Effect":"Allow","Principal":{{"AWS":"{}"}},
              "Action":"s3:PutObject","Resource":"arn:aws:s3:::{bucket}/uploads/*"}},
            {{"Sid":"NoDeletes","Effect":"Deny","Principal":"*",
              "Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#,
        b.arn()
    );
    set_policy(&alice_c, &bucket, &policy).await;

    put(&bob_c, &bucket, "uploads/report.csv", b"from bob").await;
    assert_eq!(
        get_bytes(&alice_c, &bucket, "uploads/report.csv").await,
        b"from bob"
    );
    assert_eq!(put_err(&bob_c, &bucket, "other/report.csv").await, denied());
    assert_eq!(
        get_err(&bob_c, &bucket, "uploads/report.csv").await,
        denied()
    );
    // The owner's own allow does not beat an explicit Deny.
    assert_eq!(
        refusal(
            alice_c
                .delete_object()
                .bucket(&bucket)
                .key("uploads/seed")
                .send()
                .await
        ),
        denied()
    );
    assert_eq!(get_bytes(&alice_c, &bucket, "uploads/seed").await, b"seed");
    // ... but the owner may always read, replace and delete the policy itself.
    let got = alice_c
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(got.policy().unwrap().contains("BobUploads"));
    // Someone else allowed nothing on the policy is denied; the owner deletes it.
    assert_eq!(
        refusal(bob_c.get_bucket_policy().bucket(&bucket).send().await),
        denied()
    );
    alice_c
        .delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(put_err(&bob_c, &bucket, "uploads/again").await, denied());
}

#[tokio::test]
async fn a_second_account_may_read_but_not_write() {
    let (a, b, c) = (alice(), bob(), carol());
    let server = Server::start_with_users(&[a.clone(), b.clone(), c.clone()]);
    let (alice_c, bob_c, carol_c) = (a.client(&server), b.client(&server), c.client(&server));
    let bucket = create_bucket(&alice_c, "readonly").await;
    put(&alice_c, &bucket, "data.json", b"{}").await;
    // Bob named by account id, the list permission on the bucket, the read on its objects.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
            "Principal":{{"AWS":["{}"]}},"Action":["s3:GetObject","s3:ListBucket"],
            "Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#,
        b.account_id
    );
    set_policy(&alice_c, &bucket, &policy).await;

    assert_eq!(get_bytes(&bob_c, &bucket, "data.json").await, b"{}");
    let listed = bob_c
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 1);
    assert_eq!(put_err(&bob_c, &bucket, "data.json").await, denied());
    assert_eq!(
        refusal(
            bob_c
                .delete_object()
                .bucket(&bucket)
                .key("data.json")
                .send()
                .await
        ),
        denied()
    );
    // With s3:ListBucket a missing key is 404; Carol, allowed nothing, gets 403 for both.
    assert_eq!(
        get_err(&bob_c, &bucket, "missing").await,
        (404, "NoSuchKey".to_owned())
    );
    assert_eq!(get_err(&carol_c, &bucket, "data.json").await, denied());
    assert_eq!(get_err(&carol_c, &bucket, "missing").await, denied());
    assert_eq!(get_bytes(&alice_c, &bucket, "data.json").await, b"{}");

    // A presigned URL carries its signer's permissions.
    let path = format!("/{bucket}/data.json");
    let ttl = std::time::Duration::from_secs(300);
    let url = presign_url_with(&server, (b.access_key, b.secret_key), "GET", &path, ttl);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    let url = presign_url_with(&server, (c.access_key, c.secret_key), "GET", &path, ttl);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 403);
    let url = presign_url_with(&server, (b.access_key, b.secret_key), "PUT", &path, ttl);
    let put = reqwest::Client::new()
        .put(&url)
        .body("overwrite")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 403);
    assert_eq!(get_bytes(&alice_c, &bucket, "data.json").await, b"{}");
}

#[tokio::test]
async fn a_public_read_prefix_serves_anonymous_clients() {
    let a = alice();
    let server = Server::start_with_users(std::slice::from_ref(&a));
    let alice_c = a.client(&server);
    let bucket = create_bucket(&alice_c, "site").await;
    put(&alice_c, &bucket, "public/index.html", b"<h1>hi</h1>").await;
    put(&alice_c, &bucket, "private/notes", b"secret").await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow",
            "Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/public/*"}}]}}"#
    );
    // Block Public Access is on for new buckets: a public policy is refused until it is off.
    let err = alice_c
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(&policy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (error_status(&err), error_code(&err).as_str()),
        (403, "AccessDenied")
    );
    let err = alice_c
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NoSuchBucketPolicy");
    allow_public(&alice_c, &bucket).await;
    set_policy(&alice_c, &bucket, &policy).await;
    let status = alice_c
        .get_bucket_policy_status()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(true)
    );

    let get = |key: &str| {
        let path = format!("/{bucket}/{key}");
        let server = &server;
        async move { send_unsigned(server, "GET", &path, &[]).await }
    };
    let page = get("public/index.html").await;
    assert_eq!(
        (page.status, page.body.as_slice()),
        (200, b"<h1>hi</h1>".as_slice())
    );
    get("private/notes").await.assert_error(403, "AccessDenied");
    // Without a public s3:ListBucket, a missing public key is 403 too (AWS hides which exist).
    get("public/missing")
        .await
        .assert_error(403, "AccessDenied");
    send_unsigned(&server, "GET", &format!("/{bucket}"), &[])
        .await
        .assert_error(403, "AccessDenied");
    send_unsigned(&server, "PUT", &format!("/{bucket}/public/x"), &[])
        .await
        .assert_error(403, "AccessDenied");
    send_unsigned(&server, "GET", "/no-such-bucket-site/k", &[])
        .await
        .assert_error(404, "NoSuchBucket");
    send_unsigned(&server, "GET", "/", &[])
        .await
        .assert_error(403, "AccessDenied");

    // A public listing makes the missing key 404, and lists anonymously.
    let listing = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*",
            "Action":["s3:GetObject","s3:ListBucket"],
            "Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/public/*"]}}]}}"#
    );
    set_policy(&alice_c, &bucket, &listing).await;
    get("public/missing").await.assert_error(404, "NoSuchKey");
    let list = send_unsigned(
        &server,
        "GET",
        &format!("/{bucket}?list-type=2&prefix=public/"),
        &[],
    )
    .await;
    assert_eq!(list.status, 200);
    assert_eq!(
        xml_value(&list.text(), "Key").as_deref(),
        Some("public/index.html")
    );
    assert_eq!(
        get_bytes(&alice_c, &bucket, "private/notes").await,
        b"secret"
    );
}

#[tokio::test]
async fn restrict_public_buckets_keeps_a_public_policy_to_the_owner() {
    let a = alice();
    let server = Server::start_with_users(&[a.clone(), bob()]);
    let alice_c = a.client(&server);
    let bucket = create_bucket(&alice_c, "restrict").await;
    put(&alice_c, &bucket, "k", b"v").await;
    allow_public(&alice_c, &bucket).await;
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    set_policy(&alice_c, &bucket, &policy).await;
    assert_eq!(
        send_unsigned(&server, "GET", &format!("/{bucket}/k"), &[])
            .await
            .status,
        200
    );
    let restrict = PublicAccessBlockConfiguration::builder()
        .restrict_public_buckets(true)
        .build();
    alice_c
        .put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(restrict)
        .send()
        .await
        .unwrap();
    send_unsigned(&server, "GET", &format!("/{bucket}/k"), &[])
        .await
        .assert_error(403, "AccessDenied");
    assert_eq!(
        get_err(&bob().client(&server), &bucket, "k").await,
        denied()
    );
    assert_eq!(get_bytes(&alice_c, &bucket, "k").await, b"v");
    let got = alice_c
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let cfg = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (cfg.restrict_public_buckets(), cfg.block_public_acls()),
        (Some(true), Some(false))
    );
}

#[tokio::test]
async fn malformed_policies_are_refused_with_s3_messages() {
    let a = alice();
    let server = Server::start_with_users(std::slice::from_ref(&a));
    let alice_c = a.client(&server);
    let bucket = create_bucket(&alice_c, "malformed").await;
    let other = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::some-other-bucket/*"}]}"#
        .to_string();
    let action = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:Fly",
            "Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    let effect = format!(
        r#"{{"Statement":[{{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    for (doc, message) in [
        (
            "not json",
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        (other.as_str(), "Policy has invalid resource"),
        (action.as_str(), "Policy has invalid action"),
        (effect.as_str(), "Invalid effect: Maybe"),
    ] {
        let err = alice_c
            .put_bucket_policy()
            .bucket(&bucket)
            .policy(doc)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            (error_status(&err), error_code(&err).as_str()),
            (400, "MalformedPolicy"),
            "{doc}"
        );
        let got = aws_sdk_s3::error::ProvideErrorMetadata::message(err.as_service_error().unwrap());
        assert_eq!(got, Some(message), "{doc}");
    }
    let err = alice_c
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (error_status(&err), error_code(&err).as_str()),
        (404, "NoSuchBucketPolicy")
    );
}

/// Lets a bucket take ACLs (new buckets are BucketOwnerEnforced) and public ones.
async fn allow_acls(client: &Client, bucket: &str) {
    let controls = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::ObjectWriter)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    client
        .put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(controls)
        .send()
        .await
        .expect("put ownership controls");
    allow_public(client, bucket).await;
}

#[tokio::test]
async fn acls_are_refused_while_the_bucket_owner_enforces_ownership() {
    let a = alice();
    let server = Server::start_with_users(std::slice::from_ref(&a));
    let alice_c = a.client(&server);
    let bucket = create_bucket(&alice_c, "enforced").await;
    let got = alice_c
        .get_bucket_ownership_controls()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rule = &got.ownership_controls().unwrap().rules()[0];
    assert_eq!(
        rule.object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
    let err = alice_c
        .put_object()
        .bucket(&bucket)
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (error_status(&err), error_code(&err).as_str()),
        (400, "AccessControlListNotSupported")
    );
    // bucket-owner-full-control is still accepted, and reading ACLs still works.
    alice_c
        .put_object()
        .bucket(&bucket)
        .key("k")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let acl = alice_c
        .get_object_acl()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(
        acl.owner().and_then(|o| o.id()),
        Some(a.canonical_id.as_str())
    );
    // A bucket created with a non-private ACL under the default ownership is refused.
    let err = alice_c
        .create_bucket()
        .bucket(bucket_name("enforced-acl"))
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidBucketAclWithObjectOwnership");
    let mut raw = crate::common::RawRequest::new("PUT", &format!("/{bucket}/k?acl"))
        .header("x-amz-acl", "public-reed");
    (raw.access_key, raw.secret_key) = (a.access_key.into(), a.secret_key.into());
    let raw = raw.answer(&server).await;
    raw.assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn object_and_bucket_acls_grant_and_block_public_acls_refuses() {
    let (a, b) = (alice(), bob());
    let server = Server::start_with_users(&[a.clone(), b.clone()]);
    let (alice_c, bob_c) = (a.client(&server), b.client(&server));
    let bucket = create_bucket(&alice_c, "acls").await;
    allow_acls(&alice_c, &bucket).await;
    alice_c
        .put_object()
        .bucket(&bucket)
        .key("open")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"for all"))
        .send()
        .await
        .unwrap();
    put(&alice_c, &bucket, "closed", b"mine").await;
    assert_eq!(
        send_unsigned(&server, "GET", &format!("/{bucket}/open"), &[])
            .await
            .status,
        200
    );
    send_unsigned(&server, "GET", &format!("/{bucket}/closed"), &[])
        .await
        .assert_error(403, "AccessDenied");
    let acl = alice_c
        .get_object_acl()
        .bucket(&bucket)
        .key("open")
        .send()
        .await
        .unwrap();
    let uris: Vec<_> = acl
        .grants()
        .iter()
        .filter_map(|g| g.grantee()?.uri())
        .collect();
    assert_eq!(uris, ["http://acs.amazonaws.com/groups/global/AllUsers"]);

    // A grant by email on the bucket lets Bob list; by canonical id on an object, read it.
    alice_c
        .put_bucket_acl()
        .bucket(&bucket)
        .grant_read(format!("emailAddress=\"{}\"", b.email))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bob_c
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .contents()
            .len(),
        2
    );
    assert_eq!(get_err(&bob_c, &bucket, "closed").await, denied());
    alice_c
        .put_object_acl()
        .bucket(&bucket)
        .key("closed")
        .grant_read(format!("id={}", b.canonical_id))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&bob_c, &bucket, "closed").await, b"mine");
    let err = alice_c
        .put_bucket_acl()
        .bucket(&bucket)
        .grant_read("emailAddress=\"nobody@example.com\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "UnresolvableGrantByEmailAddress");

    // BlockPublicAcls refuses new public ACLs; IgnorePublicAcls stops the old one counting.
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .build();
    alice_c
        .put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(block)
        .send()
        .await
        .unwrap();
    let err = alice_c
        .put_object_acl()
        .bucket(&bucket)
        .key("closed")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (error_status(&err), error_code(&err).as_str()),
        (403, "AccessDenied")
    );
    send_unsigned(&server, "GET", &format!("/{bucket}/open"), &[])
        .await
        .assert_error(403, "AccessDenied");
    assert_eq!(get_bytes(&bob_c, &bucket, "closed").await, b"mine");
}

#[tokio::test]
async fn copies_need_read_on_the_source_and_deletes_are_judged_per_key() {
    let (a, b) = (alice(), bob());
    let server = Server::start_with_users(&[a.clone(), b.clone()]);
    let (alice_c, bob_c) = (a.client(&server), b.client(&server));
    let source = create_bucket(&alice_c, "copysrc").await;
    put(&alice_c, &source, "doc", b"alice's doc").await;
    put(&alice_c, &source, "tmp/a", b"a").await;
    put(&alice_c, &source, "keep/b", b"b").await;
    let target = create_bucket(&bob_c, "copydst").await;
    let copy = || {
        bob_c
            .copy_object()
            .bucket(&target)
            .key("copy")
            .copy_source(format!("{source}/doc"))
    };
    assert_eq!(refusal(copy().send().await), denied());
    let policy = format!(
        r#"{{"Statement":[
            {{"Effect":"Allow","Principal":{{"CanonicalUser":"{}"}},"Action":"s3:GetObject",
              "Resource":"arn:aws:s3:::{source}/doc"}},
            {{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"s3:DeleteObject",
              "Resource":"arn:aws:s3:::{source}/tmp/*"}}]}}"#,
        b.canonical_id,
        b.arn()
    );
    set_policy(&alice_c, &source, &policy).await;
    copy()
        .send()
        .await
        .expect("copy with s3:GetObject on the source");
    assert_eq!(get_bytes(&bob_c, &target, "copy").await, b"alice's doc");

    let ids = ["tmp/a", "keep/b"].map(|k| ObjectIdentifier::builder().key(k).build().unwrap());
    let delete = Delete::builder()
        .set_objects(Some(ids.to_vec()))
        .build()
        .unwrap();
    let out = bob_c
        .delete_objects()
        .bucket(&source)
        .delete(delete)
        .send()
        .await
        .unwrap();
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["tmp/a"]);
    let errors: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    assert_eq!(errors, [("keep/b", "AccessDenied")]);
    assert_eq!(get_bytes(&alice_c, &source, "keep/b").await, b"b");
}

#[tokio::test]
async fn conditions_on_the_source_address_and_transport() {
    let (a, b) = (alice(), bob());
    let server = Server::start_with_users(&[a.clone(), b.clone()]);
    let (alice_c, bob_c) = (a.client(&server), b.client(&server));
    let bucket = create_bucket(&alice_c, "conds").await;
    put(&alice_c, &bucket, "k", b"v").await;
    let policy = |cidr: &str| {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"s3:GetObject",
                "Resource":"arn:aws:s3:::{bucket}/*","Condition":{{"IpAddress":{{"aws:SourceIp":"{cidr}"}}}}}}]}}"#,
            b.arn()
        )
    };
    set_policy(&alice_c, &bucket, &policy("127.0.0.0/8")).await;
    assert_eq!(get_bytes(&bob_c, &bucket, "k").await, b"v");
    set_policy(&alice_c, &bucket, &policy("10.0.0.0/8")).await;
    assert_eq!(get_err(&bob_c, &bucket, "k").await, denied());
    // The usual "TLS only" Deny refuses every plain-HTTP request, the owner's included.
    let tls_only = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:*",
            "Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"],
            "Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
    );
    set_policy(&alice_c, &bucket, &tls_only).await;
    assert_eq!(get_err(&alice_c, &bucket, "k").await, denied());
    // Review of issue 15: a client's own X-Forwarded-Proto made plain HTTP count as secure.
    let err = alice_c
        .get_object()
        .bucket(&bucket)
        .key("k")
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-forwarded-proto", "https");
            r.headers_mut().insert("forwarded", "proto=https");
        })
        .send()
        .await
        .expect_err("a forged X-Forwarded-Proto is not TLS");
    assert_eq!(error_status(&err), 403);
    alice_c
        .delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&alice_c, &bucket, "k").await, b"v");
}

fn run_cli(server: &Server, args: &[&str]) -> (bool, String) {
    let out = strata_command(server, args, SECRET_KEY)
        .output()
        .expect("run strata");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn users_are_managed_on_a_running_server() {
    let server = Server::start();
    let (ok, out) = run_cli(
        &server,
        &[
            "user",
            "add",
            "dave",
            "--access-key",
            "DAVEACCESSKEY0000004",
            "--secret-key",
            "dave-secret-123",
            "--email",
            "dave@example.com",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("dave-secret-123") && out.contains("arn:aws:iam::"),
        "{out}"
    );
    let dave = TestUser {
        name: "dave",
        access_key: "DAVEACCESSKEY0000004",
        secret_key: "dave-secret-123",
        canonical_id: String::new(),
        account_id: "",
        email: String::new(),
    };
    let bucket = create_bucket(&dave.client(&server), "dave").await;
    let (ok, out) = run_cli(&server, &["user", "list"]);
    assert!(ok && out.contains("dave") && out.contains("admin"), "{out}");
    assert!(
        !out.contains("dave-secret-123"),
        "a listing shows no secret: {out}"
    );
    // Only the administrator may use the admin endpoint.
    let mut cmd = strata_command(&server, &["user", "list"], dave.secret_key);
    let out = cmd
        .env("STRATA_ACCESS_KEY", dave.access_key)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("403"));
    let (ok, out) = run_cli(&server, &["user", "add", "dave"]);
    assert!(!ok && out.contains("exists"), "{out}");
    let (ok, out) = run_cli(&server, &["user", "remove", "dave"]);
    assert!(ok, "{out}");
    let err = dave
        .client(&server)
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_status(&err), 403);
    let err = dave
        .client(&server)
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidAccessKeyId");
}

#[tokio::test]
async fn policy_explain_names_the_deciding_statement() {
    let (a, b) = (alice(), bob());
    let server = Server::start_with_users(&[a.clone(), b.clone()]);
    let alice_c = a.client(&server);
    let bucket = create_bucket(&alice_c, "explain").await;
    let policy = format!(
        r#"{{"Statement":[{{"Sid":"BobReadsReports","Effect":"Allow","Principal":{{"AWS":"{}"}},
            "Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/reports/*"}}]}}"#,
        b.arn()
    );
    set_policy(&alice_c, &bucket, &policy).await;
    let explain = |user: &str, key: &str| {
        run_cli(
            &server,
            &[
                "policy",
                "explain",
                "--bucket",
                &bucket,
                "--user",
                user,
                "--action",
                "s3:GetObject",
                "--key",
                key,
            ],
        )
    };
    let (ok, out) = explain("bob", "reports/q1.csv");
    assert!(ok, "{out}");
    assert!(out.starts_with("allowed:"), "{out}");
    assert!(out.contains("BobReadsReports"), "{out}");
    let (ok, out) = explain("bob", "secret.txt");
    assert!(ok && out.starts_with("denied:"), "{out}");
    assert!(out.contains("implicit deny"), "{out}");
    assert!(
        out.contains("does not match"),
        "the statement's reason is given: {out}"
    );
    let (ok, out) = explain("alice", "secret.txt");
    assert!(
        ok && out.starts_with("allowed:") && out.contains("owner"),
        "{out}"
    );
    let (ok, out) = run_cli(
        &server,
        &[
            "policy",
            "explain",
            "--bucket",
            &bucket,
            "--anonymous",
            "--action",
            "s3:GetObject",
            "--key",
            "reports/q1.csv",
        ],
    );
    assert!(ok && out.starts_with("denied:"), "{out}");
}

#[tokio::test]
async fn policy_variables_give_each_user_a_home_prefix() {
    let (a, b, c) = (alice(), bob(), carol());
    let server = Server::start_with_users(&[a.clone(), b.clone(), c.clone()]);
    let (alice_c, bob_c, carol_c) = (a.client(&server), b.client(&server), c.client(&server));
    let bucket = create_bucket(&alice_c, "homes").await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
            "Principal":{{"AWS":["{}","{}"]}},"Action":["s3:GetObject","s3:PutObject"],
            "Resource":"arn:aws:s3:::{bucket}/home/${{aws:username}}/*"}}]}}"#,
        b.arn(),
        c.arn()
    );
    set_policy(&alice_c, &bucket, &policy).await;
    put(&bob_c, &bucket, "home/bob/todo", b"bob's").await;
    put(&carol_c, &bucket, "home/carol/todo", b"carol's").await;
    assert_eq!(get_bytes(&bob_c, &bucket, "home/bob/todo").await, b"bob's");
    assert_eq!(get_err(&bob_c, &bucket, "home/carol/todo").await, denied());
    assert_eq!(put_err(&carol_c, &bucket, "home/bob/todo").await, denied());
    assert_eq!(
        get_bytes(&alice_c, &bucket, "home/bob/todo").await,
        b"bob's"
    );
}
