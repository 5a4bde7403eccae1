//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

use actix_web::{web, HttpResponse};

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::handlers::iso8601;
use crate::request::{decode_token, encode_token, validate_bucket_name};
use crate::s3_error;
use crate::xml::{self, XmlWriter};

fn xml_response(doc: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml").body(doc)
}

/// ListBuckets, with the paging AWS added in 2024: `max-buckets` (1 to 10,000), `continuation-token`
/// (the next page's token is `ContinuationToken` in the response), `prefix` and `bucket-region`
/// (API reference, ListBuckets). Without `max-buckets` every matching bucket comes back in one
/// page, as AWS answers an unpaginated request.
pub async fn list_buckets(req: &S3Request) -> S3Result<HttpResponse> {
    let max = match req.q("max-buckets") {
        None => None,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => Some(n),
            _ => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Argument max-buckets must be an integer between 1 and 10000"
                )
                .with_extra("ArgumentName", "max-buckets")
                .with_extra("ArgumentValue", v))
            }
        },
    };
    let after = match req.q("continuation-token") {
        Some(t) if t.len() > 1024 => {
            return Err(s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
            .with_extra("ArgumentName", "continuation-token"))
        }
        Some(t) => Some(decode_token(t)?),
        None => None,
    };
    let prefix = req.q("prefix").unwrap_or("").to_owned();
    let region = req.q("bucket-region").map(str::to_owned);
    let identity = req
        .auth
        .identity
        .clone()
        .ok_or_else(crate::authz::access_denied)?;
    let store = req.store().clone();
    let buckets = blocking(move || store.list_buckets().map_err(S3Error::from)).await?;
    let owner = identity.stored_owner();
    let mut matching = buckets
        .iter()
        .filter(|b| b.owner == owner)
        .filter(|b| b.name.starts_with(&prefix))
        .filter(|b| region.as_ref().is_none_or(|r| &b.region == r))
        .filter(|b| after.as_ref().is_none_or(|a| b.name.as_str() > a.as_str()));
    let page: Vec<_> = matching.by_ref().take(max.unwrap_or(usize::MAX)).collect();
    let more = matching.next().is_some();

    let mut w = XmlWriter::new("ListAllMyBucketsResult");
    crate::acl_request::owner_element(&mut w, &req.state.auth.users, &identity.owner());
    w.open("Buckets");
    for b in &page {
        w.open("Bucket")
            .elem("Name", &b.name)
            .elem("CreationDate", &iso8601(b.created_ms))
            .elem("BucketRegion", &b.region)
            .close();
    }
    w.close();
    if more {
        if let Some(last) = page.last() {
            w.elem("ContinuationToken", &encode_token(&last.name));
        }
    }
    if req.q("prefix").is_some() {
        w.elem("Prefix", &prefix);
    }
    Ok(xml_response(w.finish()))
}

/// CreateBucket.
pub async fn create_bucket(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    validate_bucket_name(&bucket)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let mut region = req.state.region.clone();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let cfg: xml::CreateBucketConfiguration = xml::parse(&body)?;
        if let Some(loc) = cfg.location_constraint.filter(|l| !l.is_empty()) {
            if loc != req.state.region {
                return Err(s3_error!(
                    IllegalLocationConstraintException,
                    "The {loc} location constraint is incompatible for the region specific endpoint this request was sent to."
                ));
            }
            region = loc;
        }
    }
    let identity = req
        .auth
        .identity
        .clone()
        .ok_or_else(crate::authz::access_denied)?;
    let settings = new_bucket_settings(req, &identity.owner())?;
    let store = req.store().clone();
    let (name, owner) = (bucket.clone(), identity.stored_owner());
    let created =
        blocking(
            move || match store.create_bucket_owned(&name, &region, &owner, settings) {
                Ok(()) => Ok(None),
                Err(strata_storage::Error::BucketAlreadyExists(_)) => {
                    Ok(Some(store.bucket(&name)?))
                }
                Err(e) => Err(S3Error::from(e)),
            },
        )
        .await?;
    crate::authz::forget(&req.state, &bucket);
    if let Some(existing) = created {
        // API reference, CreateBucket: re-creating a bucket you own answers 200 in us-east-1
        // (legacy behaviour) and BucketAlreadyOwnedByYou elsewhere; another owner's name is
        // BucketAlreadyExists.
        if existing.owner != identity.stored_owner() {
            return Err(s3_error!(
                BucketAlreadyExists,
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
            )
            .with_extra("BucketName", bucket));
        }
        if existing.region != "us-east-1" {
            return Err(S3Error::from(strata_storage::Error::BucketAlreadyExists(
                bucket,
            )));
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Location", format!("/{bucket}")))
        .finish())
}

/// The access settings a new bucket starts with: the Object Ownership asked for
/// (`x-amz-object-ownership`, BucketOwnerEnforced by default), all four Block Public Access
/// settings on, and the ACL asked for. Both defaults are AWS's for new buckets since April 2023
/// (User Guide, "Default settings for new S3 buckets"), so an ACL other than the owner's full
/// control is refused unless the request also chooses an ownership that allows ACLs, and a
/// public ACL is refused in any case.
fn new_bucket_settings(
    req: &S3Request,
    owner: &strata_access::Owner,
) -> S3Result<Vec<(String, String)>> {
    use strata_access::{CannedAcl, ObjectOwnership, PublicAccessBlock};
    let ownership = match req.header("x-amz-object-ownership") {
        None => ObjectOwnership::BucketOwnerEnforced,
        Some(v) => ObjectOwnership::parse(v).ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Invalid x-amz-object-ownership header: {v}"
            )
            .with_extra("ArgumentName", "x-amz-object-ownership")
            .with_extra("ArgumentValue", v)
        })?,
    };
    let block = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
    let mut settings = vec![
        (
            crate::authz::OWNERSHIP_SETTING.to_owned(),
            ownership.as_str().to_owned(),
        ),
        (
            crate::authz::PUBLIC_ACCESS_BLOCK_SETTING.to_owned(),
            serde_json::to_string(&block).map_err(S3Error::internal)?,
        ),
    ];
    // API reference, CreateBucket: `x-amz-bucket-object-lock-enabled: true` enables Object
    // Lock (and with it versioning) on the new bucket. Any other value leaves it off.
    if req
        .header("x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        settings.push((
            strata_storage::OBJECT_LOCK_SETTING.to_owned(),
            strata_storage::ObjectLockConfig::default()
                .to_setting()
                .map_err(S3Error::from)?,
        ));
    }
    if let Some(requested) = crate::acl_request::from_headers(req, owner)? {
        let acl = requested.acl(owner, owner);
        let owner_only = matches!(
            requested,
            crate::acl_request::Requested::Canned(
                CannedAcl::Private | CannedAcl::BucketOwnerFullControl
            )
        ) || acl.is_bucket_owner_full_control(owner);
        if ownership == ObjectOwnership::BucketOwnerEnforced && !owner_only {
            return Err(s3_error!(
                InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            ));
        }
        if acl.is_public() {
            return Err(s3_error!(
                InvalidBucketAclWithBlockPublicAccessError,
                "Bucket cannot have public ACLs set with BlockPublicAccess enabled"
            ));
        }
        if !owner_only {
            settings.push((
                crate::authz::ACL_SETTING.to_owned(),
                serde_json::to_string(&acl).map_err(S3Error::internal)?,
            ));
        }
    }
    Ok(settings)
}

/// HeadBucket.
pub async fn head_bucket(req: &S3Request) -> S3Result<HttpResponse> {
    let store = req.store().clone();
    let name = req.bucket()?.to_owned();
    let info = blocking(move || store.bucket(&name).map_err(S3Error::from)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("x-amz-bucket-region", info.region))
        .finish())
}

/// DeleteBucket.
pub async fn delete_bucket(req: &S3Request) -> S3Result<HttpResponse> {
    let store = req.store().clone();
    let name = req.bucket()?.to_owned();
    blocking(move || store.delete_bucket(&name).map_err(S3Error::from)).await?;
    crate::lifecycle_cache::forget(&req.state, req.bucket()?);
    crate::authz::forget(&req.state, req.bucket()?);
    Ok(HttpResponse::NoContent().finish())
}

/// GetBucketLocation: S3 answers an empty constraint for us-east-1.
pub async fn get_bucket_location(req: &S3Request) -> S3Result<HttpResponse> {
    let store = req.store().clone();
    let name = req.bucket()?.to_owned();
    let info = blocking(move || store.bucket(&name).map_err(S3Error::from)).await?;
    let doc = if info.region == "us-east-1" {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\"/>",
            xml::S3_NS
        )
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\">{}</LocationConstraint>",
            xml::S3_NS,
            crate::error::xml_escape(&info.region)
        )
    };
    Ok(xml_response(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_name_rules() {
        for ok in [
            "abc",
            "my-bucket.data",
            "a1b",
            "0-bucket-9",
            &"a".repeat(63),
        ] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a.-b",
            "_strata",
            "sthree-x",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
