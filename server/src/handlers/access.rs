//! Access configuration: bucket policies (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus),
//! ACLs (Put/GetBucketAcl, Put/GetObjectAcl), Object Ownership (Put/Get/
//! DeleteBucketOwnershipControls) and Block Public Access (Put/Get/DeletePublicAccessBlock).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use strata_access::{Acl, ObjectOwnership, Owner, Policy, PublicAccessBlock};

use crate::acl_request::{self, Requested};
use crate::app::{blocking, S3Request};
use crate::authz::{
    self, access_denied, BucketAccessInfo, ACL_SETTING, OWNERSHIP_SETTING, POLICY_SETTING,
    PUBLIC_ACCESS_BLOCK_SETTING,
};
use crate::error::{S3Error, S3Result};
use crate::handlers::{require_integrity_header, store_setting};
use crate::s3_error;
use crate::xml::XmlWriter;

/// Largest policy body read: S3's 20 KB limit counts the document without its insignificant
/// whitespace (`Policy::parse` applies it, with S3's message), so a pretty-printed policy
/// within the limit may be larger on the wire.
const MAX_POLICY_BODY: u64 = 4 * strata_access::MAX_POLICY_BYTES as u64;

fn xml_ok(doc: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml").body(doc)
}

/// The bucket's access settings, as the authorization step loaded them.
fn info(req: &S3Request) -> S3Result<&BucketAccessInfo> {
    req.granted
        .bucket
        .as_deref()
        .ok_or_else(|| S3Error::internal("access settings not loaded"))
}

/// Stores a setting and forgets the cached access settings.
async fn save(req: &S3Request, name: &'static str, value: Option<String>) -> S3Result<()> {
    store_setting(req, name, value).await?;
    authz::forget(&req.state, req.bucket()?);
    Ok(())
}

/// PutBucketPolicy.
pub async fn put_bucket_policy(
    req: &mut S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    let body = req.read_document(payload, MAX_POLICY_BODY).await?;
    let text = String::from_utf8(body).map_err(|_| {
        s3_error!(
            MalformedPolicy,
            "Policies must be valid JSON and the first byte must be '{{'"
        )
    })?;
    let policy = Policy::parse(&text, req.bucket()?)
        .map_err(|e| s3_error!(MalformedPolicy, "{}", e.message))?;
    let info = info(req)?;
    if info.block.is_some_and(|b| b.block_public_policy) && policy.is_public() {
        return Err(access_denied());
    }
    save(req, POLICY_SETTING, Some(text)).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn no_policy() -> S3Error {
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
}

/// GetBucketPolicy: the policy as it was put.
pub async fn get_bucket_policy(req: &S3Request) -> S3Result<HttpResponse> {
    let (_, text) = info(req)?.policy.as_ref().ok_or_else(no_policy)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(text.clone()))
}

/// DeleteBucketPolicy.
pub async fn delete_bucket_policy(req: &S3Request) -> S3Result<HttpResponse> {
    save(req, POLICY_SETTING, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// GetBucketPolicyStatus.
pub async fn get_bucket_policy_status(req: &S3Request) -> S3Result<HttpResponse> {
    let (policy, _) = info(req)?.policy.as_ref().ok_or_else(no_policy)?;
    let mut w = XmlWriter::new("PolicyStatus");
    w.elem(
        "IsPublic",
        if policy.is_public() { "true" } else { "false" },
    );
    Ok(xml_ok(w.finish()))
}

/// The ACL a PutBucketAcl or PutObjectAcl asks for: headers or a document, not both.
async fn requested_acl(
    req: &mut S3Request,
    payload: web::Payload,
    owner: &Owner,
) -> S3Result<Requested> {
    let from_headers = acl_request::from_headers(req, owner)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    match (from_headers, has_body) {
        (Some(_), true) => Err(s3_error!(
            UnexpectedContent,
            "This request does not support content"
        )),
        (Some(r), false) => Ok(r),
        (None, true) => acl_request::from_document(&body, owner, &req.state.auth.users),
        (None, false) => Err(s3_error!(
            MissingSecurityHeader,
            "Your request was missing a required header"
        )
        .with_extra("MissingHeaderName", "x-amz-acl")),
    }
}

/// The ACL S3 reports when ACLs are disabled: the bucket owner's full control.
fn enforced_acl(owner: &Owner) -> Acl {
    Acl::private(owner)
}

/// GetBucketAcl.
pub async fn get_bucket_acl(req: &S3Request) -> S3Result<HttpResponse> {
    let info = info(req)?;
    let acl = if info.acls_enabled() {
        info.acl.clone()
    } else {
        enforced_acl(&info.owner)
    };
    Ok(xml_ok(acl_request::render(&acl, &req.state.auth.users)))
}

/// PutBucketAcl.
pub async fn put_bucket_acl(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let owner = info(req)?.owner.clone();
    let requested = requested_acl(req, payload, &owner).await?;
    let info = info(req)?;
    let acl = requested.acl(&owner, &owner);
    acl_request::check_settable(info, &requested, &acl)?;
    let text = serde_json::to_string(&acl).map_err(S3Error::internal)?;
    save(req, ACL_SETTING, Some(text)).await?;
    Ok(HttpResponse::Ok().finish())
}

/// The owner and ACL of the addressed object version.
async fn object_acl(req: &S3Request) -> S3Result<(Owner, Acl, String)> {
    let info = info(req)?;
    let version = crate::request::version_param(req)?;
    let handle =
        crate::versions::load_readable(req.store(), req.bucket()?, req.key()?, version).await?;
    let v = &handle.version;
    // With ACLs disabled the bucket owner owns every object, whoever wrote it.
    let owner = match &v.meta.owner {
        Some(id) if info.acls_enabled() => req.state.auth.users.owner_of(id),
        _ => info.owner.clone(),
    };
    let acl = match (&v.meta.acl, info.acls_enabled()) {
        (Some(text), true) => serde_json::from_str(text).map_err(S3Error::internal)?,
        _ => Acl::private(&owner),
    };
    Ok((owner, acl, v.version_id.clone()))
}

/// GetObjectAcl.
pub async fn get_object_acl(req: &S3Request) -> S3Result<HttpResponse> {
    let (_, acl, version_id) = object_acl(req).await?;
    let mut resp = HttpResponse::Ok();
    if version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", version_id));
    }
    Ok(resp
        .content_type("application/xml")
        .body(acl_request::render(&acl, &req.state.auth.users)))
}

/// PutObjectAcl.
pub async fn put_object_acl(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let (owner, _, version_id) = object_acl(req).await?;
    let requested = requested_acl(req, payload, &owner).await?;
    let info = info(req)?;
    let acl = requested.acl(&owner, &info.owner);
    acl_request::check_settable(info, &requested, &acl)?;
    let stored = (acl != Acl::private(&owner))
        .then(|| serde_json::to_string(&acl))
        .transpose()
        .map_err(S3Error::internal)?;
    let (store, b, k, v) = (
        req.store().clone(),
        req.bucket()?.to_owned(),
        req.key()?.to_owned(),
        version_id.clone(),
    );
    blocking(move || {
        store
            .set_object_acl(&b, &k, Some(&v), stored)
            .map_err(S3Error::from)
    })
    .await?;
    let mut resp = HttpResponse::Ok();
    if version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", version_id));
    }
    Ok(resp.finish())
}

#[derive(Debug, Deserialize)]
#[serde(rename = "OwnershipControls")]
struct OwnershipControlsDoc {
    #[serde(rename = "Rule", default)]
    rules: Vec<OwnershipRuleDoc>,
}

#[derive(Debug, Deserialize)]
struct OwnershipRuleDoc {
    #[serde(rename = "ObjectOwnership")]
    object_ownership: String,
}

/// PutBucketOwnershipControls: exactly one rule. Turning ACLs off is refused while the bucket
/// ACL grants anyone but the owner (User Guide, "Prerequisites for disabling ACLs").
pub async fn put_ownership_controls(
    req: &mut S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    require_integrity_header(req)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let doc: OwnershipControlsDoc = crate::xml::parse(&body)?;
    let [rule] = doc.rules.as_slice() else {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    };
    let ownership = ObjectOwnership::parse(rule.object_ownership.trim()).ok_or_else(|| {
        s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    })?;
    let info = info(req)?;
    if ownership == ObjectOwnership::BucketOwnerEnforced
        && !info.acl.is_bucket_owner_full_control(&info.owner)
    {
        return Err(s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ));
    }
    save(req, OWNERSHIP_SETTING, Some(ownership.as_str().to_owned())).await?;
    Ok(HttpResponse::Ok().finish())
}

/// GetBucketOwnershipControls.
pub async fn get_ownership_controls(req: &S3Request) -> S3Result<HttpResponse> {
    let ownership = info(req)?.ownership.ok_or_else(|| {
        s3_error!(
            OwnershipControlsNotFoundError,
            "The bucket ownership controls were not found"
        )
    })?;
    let mut w = XmlWriter::new("OwnershipControls");
    w.open("Rule")
        .elem("ObjectOwnership", ownership.as_str())
        .close();
    Ok(xml_ok(w.finish()))
}

/// DeleteBucketOwnershipControls: objects then belong to their writers again.
pub async fn delete_ownership_controls(req: &S3Request) -> S3Result<HttpResponse> {
    save(req, OWNERSHIP_SETTING, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(rename = "PublicAccessBlockConfiguration")]
struct PublicAccessBlockDoc {
    #[serde(rename = "BlockPublicAcls")]
    block_public_acls: Option<bool>,
    #[serde(rename = "IgnorePublicAcls")]
    ignore_public_acls: Option<bool>,
    #[serde(rename = "BlockPublicPolicy")]
    block_public_policy: Option<bool>,
    #[serde(rename = "RestrictPublicBuckets")]
    restrict_public_buckets: Option<bool>,
}

/// PutPublicAccessBlock: an element left out is false.
pub async fn put_public_access_block(
    req: &mut S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    require_integrity_header(req)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let doc: PublicAccessBlockDoc = crate::xml::parse(&body)?;
    let block = PublicAccessBlock {
        block_public_acls: doc.block_public_acls.unwrap_or(false),
        ignore_public_acls: doc.ignore_public_acls.unwrap_or(false),
        block_public_policy: doc.block_public_policy.unwrap_or(false),
        restrict_public_buckets: doc.restrict_public_buckets.unwrap_or(false),
    };
    let text = serde_json::to_string(&block).map_err(S3Error::internal)?;
    save(req, PUBLIC_ACCESS_BLOCK_SETTING, Some(text)).await?;
    Ok(HttpResponse::Ok().finish())
}

/// GetPublicAccessBlock.
pub async fn get_public_access_block(req: &S3Request) -> S3Result<HttpResponse> {
    let block = info(req)?.block.ok_or_else(|| {
        s3_error!(
            NoSuchPublicAccessBlockConfiguration,
            "The public access block configuration was not found"
        )
    })?;
    let flag = |b: bool| if b { "true" } else { "false" };
    let mut w = XmlWriter::new("PublicAccessBlockConfiguration");
    w.elem("BlockPublicAcls", flag(block.block_public_acls))
        .elem("IgnorePublicAcls", flag(block.ignore_public_acls))
        .elem("BlockPublicPolicy", flag(block.block_public_policy))
        .elem("RestrictPublicBuckets", flag(block.restrict_public_buckets));
    Ok(xml_ok(w.finish()))
}

/// DeletePublicAccessBlock.
pub async fn delete_public_access_block(req: &S3Request) -> S3Result<HttpResponse> {
    save(req, PUBLIC_ACCESS_BLOCK_SETTING, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
