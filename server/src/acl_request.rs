//! The ACL a request asks for (a canned `x-amz-acl`, `x-amz-grant-*` headers, or an
//! AccessControlPolicy document), S3's rules for when a bucket accepts one (Object Ownership,
//! Block Public Access), and the AccessControlPolicy XML S3 answers with.
//!
//! Invariant: a new object's owner and ACL are decided here, once, for every write that creates
//! one (PutObject, CopyObject, CreateMultipartUpload, POST Object); email grantees are resolved to
//! canonical users before an ACL is stored, so a stored ACL names users by canonical id only.

use serde::Deserialize;
use strata_access::{Acl, CannedAcl, Grant, Grantee, Group, ObjectOwnership, Owner, Permission};

use crate::app::S3Request;
use crate::authz::{access_denied, BucketAccessInfo};
use crate::error::{S3Error, S3Result};
use crate::s3_error;
use crate::users::UserDirectory;
use crate::xml::XmlWriter;

/// The grant headers and the permission each grants.
const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// Whether the request carries `x-amz-acl` or any `x-amz-grant-*` header.
pub fn has_acl_headers(req: &S3Request) -> bool {
    req.header("x-amz-acl").is_some() || GRANT_HEADERS.iter().any(|(h, _)| req.header(h).is_some())
}

/// An ACL as asked for: canned (kept, since some rules look at the canned name) or explicit.
#[derive(Debug, Clone)]
pub enum Requested {
    /// `x-amz-acl`.
    Canned(CannedAcl),
    /// Grant headers or a document, resolved.
    Explicit(Acl),
}

impl Requested {
    /// The ACL it stands for on a resource owned by `owner` in a bucket owned by `bucket_owner`.
    pub fn acl(&self, owner: &Owner, bucket_owner: &Owner) -> Acl {
        match self {
            Self::Canned(c) => c.expand(owner, bucket_owner),
            Self::Explicit(acl) => Acl {
                owner: owner.clone(),
                grants: acl.grants.clone(),
            },
        }
    }
}

/// The ACL the request's headers ask for; None when it carries none.
pub fn from_headers(req: &S3Request, owner: &Owner) -> S3Result<Option<Requested>> {
    let canned_value = req.header("x-amz-acl");
    let grants: Vec<(Permission, &str)> = GRANT_HEADERS
        .iter()
        .filter_map(|(h, p)| req.header(h).map(|v| (*p, v)))
        .collect();
    match (canned_value, grants.is_empty()) {
        (None, true) => Ok(None),
        (Some(_), false) => Err(s3_error!(
            InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed"
        )),
        (Some(value), true) => canned(value).map(Some),
        (None, false) => {
            let acl = Acl::from_grant_headers(owner, &grants).map_err(acl_error)?;
            Ok(Some(Requested::Explicit(resolve(
                acl,
                &req.state.auth.users,
            )?)))
        }
    }
}

/// A canned ACL by its `x-amz-acl` name; an unknown one is S3's InvalidArgument.
pub fn canned(value: &str) -> S3Result<Requested> {
    CannedAcl::parse(value.trim())
        .map(Requested::Canned)
        .ok_or_else(|| {
            s3_error!(InvalidArgument, "")
                .with_extra("ArgumentName", "x-amz-acl")
                .with_extra("ArgumentValue", value)
        })
}

fn acl_error(e: strata_access::AclError) -> S3Error {
    use crate::error::S3ErrorCode as C;
    let code = match e.code {
        "MalformedACLError" => C::MalformedACLError,
        "UnresolvableGrantByEmailAddress" => C::UnresolvableGrantByEmailAddress,
        "InvalidRequest" => C::InvalidRequest,
        _ => C::InvalidArgument,
    };
    S3Error::new(code, e.message)
}

/// Replaces email grantees by the canonical users they name; an unknown email (or canonical id)
/// is refused as S3 refuses it.
fn resolve(mut acl: Acl, users: &UserDirectory) -> S3Result<Acl> {
    for grant in &mut acl.grants {
        match &grant.grantee {
            Grantee::Email(email) => {
                let user = users.by_email(email).ok_or_else(|| {
                    s3_error!(
                        UnresolvableGrantByEmailAddress,
                        "The e-mail address you provided does not match any account on record."
                    )
                    .with_extra("EmailAddressProvided", email.clone())
                })?;
                grant.grantee = Grantee::CanonicalUser {
                    id: user.canonical_id.clone(),
                };
            }
            Grantee::CanonicalUser { id } => {
                if users.by_stored_owner(id).is_none() && id != crate::users::ADMIN_CANONICAL_ID {
                    return Err(s3_error!(InvalidArgument, "Invalid id")
                        .with_extra("ArgumentName", "CanonicalUser/ID")
                        .with_extra("ArgumentValue", id.clone()));
                }
            }
            Grantee::Group(_) => {}
        }
    }
    Ok(acl)
}

/// Checks an ACL about to be set on a bucket or object against the bucket's Object Ownership
/// and Block Public Access (User Guide, "Controlling ownership of objects", "Blocking public
/// access"): with ACLs disabled only the bucket-owner-full-control ACL or its equivalent is
/// accepted; with BlockPublicAcls a public ACL is refused.
pub fn check_settable(info: &BucketAccessInfo, requested: &Requested, acl: &Acl) -> S3Result<()> {
    if !info.acls_enabled() {
        let equivalent = matches!(
            requested,
            Requested::Canned(CannedAcl::BucketOwnerFullControl | CannedAcl::Private)
        ) || acl.is_bucket_owner_full_control(&info.owner);
        if !equivalent {
            return Err(s3_error!(
                AccessControlListNotSupported,
                "The bucket does not allow ACLs"
            ));
        }
    }
    if info.block.is_some_and(|b| b.block_public_acls) && acl.is_public() {
        return Err(access_denied());
    }
    Ok(())
}

/// The owner and ACL a new object gets, as the engine stores them in its metadata: the owner
/// when it is not the bucket owner, the ACL when one was asked for and ACLs are enabled.
pub fn new_object(
    req: &S3Request,
    requested: Option<Requested>,
) -> S3Result<(Option<String>, Option<String>)> {
    let Some(info) = req.granted.bucket.as_deref() else {
        return Ok((None, None));
    };
    let writer = req.auth.identity.as_deref();
    let writer_owner = writer
        .map(|w| w.owner())
        .unwrap_or_else(|| info.owner.clone());
    // Who owns the new object (User Guide, "Object Ownership"): the bucket owner when ACLs are
    // disabled, or under BucketOwnerPreferred with bucket-owner-full-control; else its writer.
    let bucket_owns = match info.ownership() {
        ObjectOwnership::BucketOwnerEnforced => true,
        ObjectOwnership::BucketOwnerPreferred => matches!(
            requested,
            Some(Requested::Canned(CannedAcl::BucketOwnerFullControl))
        ),
        ObjectOwnership::ObjectWriter => false,
    } || writer_owner == info.owner
        || writer.is_none();
    let owner = if bucket_owns {
        info.owner.clone()
    } else {
        writer_owner
    };
    let Some(requested) = requested else {
        return Ok(((!bucket_owns).then(|| owner.canonical_id.clone()), None));
    };
    let acl = requested.acl(&owner, &info.owner);
    check_settable(info, &requested, &acl)?;
    let stored_acl = if info.acls_enabled() && acl != Acl::private(&owner) {
        Some(serde_json::to_string(&acl).map_err(S3Error::internal)?)
    } else {
        None
    };
    Ok((
        (!bucket_owns).then(|| owner.canonical_id.clone()),
        stored_acl,
    ))
}

/// The `<AccessControlPolicy>` document.
#[derive(Debug, Deserialize)]
#[serde(rename = "AccessControlPolicy")]
struct AccessControlPolicyDoc {
    #[serde(rename = "Owner")]
    owner: Option<OwnerDoc>,
    #[serde(rename = "AccessControlList")]
    list: Option<GrantListDoc>,
}

#[derive(Debug, Deserialize)]
struct OwnerDoc {
    #[serde(rename = "ID")]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GrantListDoc {
    #[serde(rename = "Grant", default)]
    grants: Vec<GrantDoc>,
}

#[derive(Debug, Deserialize)]
struct GrantDoc {
    #[serde(rename = "Grantee")]
    grantee: GranteeDoc,
    #[serde(rename = "Permission")]
    permission: String,
}

#[derive(Debug, Deserialize)]
struct GranteeDoc {
    #[serde(rename = "@xsi:type", alias = "@type")]
    kind: Option<String>,
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "EmailAddress")]
    email: Option<String>,
    #[serde(rename = "URI")]
    uri: Option<String>,
}

fn malformed_acl() -> S3Error {
    s3_error!(
        MalformedACLError,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// Parses an AccessControlPolicy body for a resource owned by `owner`.
pub fn from_document(body: &[u8], owner: &Owner, users: &UserDirectory) -> S3Result<Requested> {
    let doc: AccessControlPolicyDoc = crate::xml::parse(body).map_err(|_| malformed_acl())?;
    if let Some(id) = doc.owner.and_then(|o| o.id) {
        if id != owner.canonical_id {
            return Err(access_denied());
        }
    }
    let mut grants = Vec::new();
    for g in doc.list.map(|l| l.grants).unwrap_or_default() {
        let permission = Permission::parse(g.permission.trim()).ok_or_else(malformed_acl)?;
        let kind = g.grantee.kind.clone();
        let grantee = match (kind.as_deref(), g.grantee) {
            (Some("CanonicalUser"), GranteeDoc { id: Some(id), .. }) => Grantee::CanonicalUser {
                id: id.trim().to_owned(),
            },
            (Some("AmazonCustomerByEmail"), GranteeDoc { email: Some(e), .. }) => {
                Grantee::Email(e.trim().to_owned())
            }
            (Some("Group"), GranteeDoc { uri: Some(uri), .. }) => {
                Grantee::Group(Group::from_uri(uri.trim()).ok_or_else(|| {
                    s3_error!(InvalidArgument, "Invalid group uri")
                        .with_extra("ArgumentName", "Group/URI")
                        .with_extra("ArgumentValue", uri.clone())
                })?)
            }
            _ => return Err(malformed_acl()),
        };
        grants.push(Grant {
            grantee,
            permission,
        });
    }
    let acl = Acl {
        owner: owner.clone(),
        grants,
    };
    Ok(Requested::Explicit(resolve(acl, users)?))
}

/// Writes an `<Owner>` element.
pub fn owner_element(w: &mut XmlWriter, users: &UserDirectory, owner: &Owner) {
    w.open("Owner")
        .elem("ID", &owner.canonical_id)
        .elem("DisplayName", &users.display_name(&owner.canonical_id))
        .close();
}

/// Writes the `<Owner>` (or `name`) element of the addressed bucket's owner, as listings show it.
pub fn bucket_owner_element(w: &mut XmlWriter, req: &S3Request, name: &'static str) {
    let users = &req.state.auth.users;
    let owner = req
        .granted
        .bucket
        .as_ref()
        .map(|b| b.owner.clone())
        .unwrap_or_else(|| users.admin().owner());
    w.open(name)
        .elem("ID", &owner.canonical_id)
        .elem("DisplayName", &users.display_name(&owner.canonical_id))
        .close();
}

/// The AccessControlPolicy document of an ACL.
pub fn render(acl: &Acl, users: &UserDirectory) -> String {
    let mut w = XmlWriter::new("AccessControlPolicy");
    owner_element(&mut w, users, &acl.owner);
    w.open("AccessControlList");
    for grant in &acl.grants {
        w.open("Grant");
        match &grant.grantee {
            Grantee::CanonicalUser { id } => {
                w.open_with("Grantee", XSI_CANONICAL)
                    .elem("ID", id)
                    .elem("DisplayName", &users.display_name(id))
                    .close();
            }
            Grantee::Email(email) => {
                w.open_with("Grantee", XSI_EMAIL)
                    .elem("EmailAddress", email)
                    .close();
            }
            Grantee::Group(group) => {
                w.open_with("Grantee", XSI_GROUP)
                    .elem("URI", group.uri())
                    .close();
            }
        }
        w.elem("Permission", grant.permission.as_str()).close();
    }
    w.finish()
}

const XSI_CANONICAL: &str =
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser""#;
const XSI_EMAIL: &str =
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail""#;
const XSI_GROUP: &str = r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group""#;
