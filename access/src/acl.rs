//! The S3 ACL model: grants, canned ACLs, the x-amz-grant-* headers, and which policy actions
//! each ACL permission grants.
//! Invariant: an `Acl` only grants; nothing here denies. Email grantees are kept as written and
//! never match a requester until the server resolves them to canonical users.

use serde::{Deserialize, Serialize};

use crate::Owner;

/// An ACL permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// READ.
    #[serde(rename = "READ")]
    Read,
    /// WRITE.
    #[serde(rename = "WRITE")]
    Write,
    /// READ_ACP.
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    /// WRITE_ACP.
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
    /// FULL_CONTROL.
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
}

/// Whether an ACL belongs to a bucket or an object (the same permission grants different actions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclTarget {
    /// A bucket's ACL.
    Bucket,
    /// An object's ACL.
    Object,
}

// "Mapping of ACL permissions and access policy permissions" (S3 User Guide, ACL overview).
const BUCKET_READ: &[&str] = &[
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
];
// The table lists s3:PutObject; the permission's description adds deleting objects, and
// aborting an upload is part of writing one. (Its s3:DeleteObjectVersion applies only when the
// grantee is the bucket owner, who `decide` allows anyway.)
const BUCKET_WRITE: &[&str] = &["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"];
const BUCKET_READ_ACP: &[&str] = &["s3:GetBucketAcl"];
const BUCKET_WRITE_ACP: &[&str] = &["s3:PutBucketAcl"];
const OBJECT_READ: &[&str] = &["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent"];
const OBJECT_READ_ACP: &[&str] = &["s3:GetObjectAcl", "s3:GetObjectVersionAcl"];
const OBJECT_WRITE_ACP: &[&str] = &["s3:PutObjectAcl", "s3:PutObjectVersionAcl"];

impl Permission {
    /// S3's spelling, e.g. "READ_ACP".
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    /// Parses S3's spelling.
    pub fn parse(s: &str) -> Option<Permission> {
        [
            Permission::Read,
            Permission::Write,
            Permission::ReadAcp,
            Permission::WriteAcp,
            Permission::FullControl,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// The policy actions this permission grants on a bucket's or an object's ACL.
    pub fn actions(self, target: AclTarget) -> Vec<&'static str> {
        let parts: &[&[&str]] = match (self, target) {
            (Permission::Read, AclTarget::Bucket) => &[BUCKET_READ],
            (Permission::Write, AclTarget::Bucket) => &[BUCKET_WRITE],
            (Permission::ReadAcp, AclTarget::Bucket) => &[BUCKET_READ_ACP],
            (Permission::WriteAcp, AclTarget::Bucket) => &[BUCKET_WRITE_ACP],
            (Permission::FullControl, AclTarget::Bucket) => {
                &[BUCKET_READ, BUCKET_WRITE, BUCKET_READ_ACP, BUCKET_WRITE_ACP]
            }
            (Permission::Read, AclTarget::Object) => &[OBJECT_READ],
            // WRITE is "not applicable" to objects.
            (Permission::Write, AclTarget::Object) => &[],
            (Permission::ReadAcp, AclTarget::Object) => &[OBJECT_READ_ACP],
            (Permission::WriteAcp, AclTarget::Object) => &[OBJECT_WRITE_ACP],
            (Permission::FullControl, AclTarget::Object) => {
                &[OBJECT_READ, OBJECT_READ_ACP, OBJECT_WRITE_ACP]
            }
        };
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    /// Whether this permission grants `action` (case-insensitive) on the given ACL.
    pub fn grants(self, action: &str, target: AclTarget) -> bool {
        self.actions(target)
            .iter()
            .any(|a| a.eq_ignore_ascii_case(action))
    }
}

/// A predefined S3 group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Group {
    /// Everyone, including anonymous requests.
    AllUsers,
    /// Any authenticated user.
    AuthenticatedUsers,
    /// S3 server access log delivery.
    LogDelivery,
}

impl Group {
    /// The group's URI.
    pub fn uri(self) -> &'static str {
        match self {
            Group::AllUsers => "http://acs.amazonaws.com/groups/global/AllUsers",
            Group::AuthenticatedUsers => {
                "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
            }
            Group::LogDelivery => "http://acs.amazonaws.com/groups/s3/LogDelivery",
        }
    }

    /// The group a URI names.
    pub fn from_uri(uri: &str) -> Option<Group> {
        [
            Group::AllUsers,
            Group::AuthenticatedUsers,
            Group::LogDelivery,
        ]
        .into_iter()
        .find(|g| g.uri() == uri)
    }

    /// The group's short name, e.g. "AllUsers".
    pub fn name(self) -> &'static str {
        match self {
            Group::AllUsers => "AllUsers",
            Group::AuthenticatedUsers => "AuthenticatedUsers",
            Group::LogDelivery => "LogDelivery",
        }
    }
}

/// Who a grant is to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantee {
    /// A user by canonical id.
    CanonicalUser {
        /// The canonical user id.
        id: String,
    },
    /// A user by e-mail address (resolved by the server before evaluation).
    Email(String),
    /// A predefined group.
    Group(Group),
}

impl std::fmt::Display for Grantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grantee::CanonicalUser { id } => write!(f, "canonical user {id}"),
            Grantee::Email(email) => write!(f, "e-mail {email} (unresolved)"),
            Grantee::Group(g) => f.write_str(g.name()),
        }
    }
}

/// One grantee-permission pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    pub grantee: Grantee,
    /// What.
    pub permission: Permission,
}

/// A bucket's or object's access control list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The resource owner.
    pub owner: Owner,
    /// The grants, in order.
    pub grants: Vec<Grant>,
}

/// A rejected ACL, with S3's error code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AclError {
    /// S3 error code, e.g. "InvalidArgument".
    pub code: &'static str,
    /// S3's message.
    pub message: String,
}

impl AclError {
    fn invalid_argument(message: &str) -> AclError {
        AclError {
            code: "InvalidArgument",
            message: message.to_string(),
        }
    }

    /// S3's error for an e-mail grantee that names no account.
    pub fn unresolvable_email() -> AclError {
        AclError {
            code: "UnresolvableGrantByEmailAddress",
            message: "The e-mail address you provided does not match any account on record.".into(),
        }
    }
}

/// A canned ACL (the x-amz-acl header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CannedAcl {
    /// private.
    Private,
    /// public-read.
    PublicRead,
    /// public-read-write.
    PublicReadWrite,
    /// authenticated-read.
    AuthenticatedRead,
    /// aws-exec-read.
    AwsExecRead,
    /// bucket-owner-read.
    BucketOwnerRead,
    /// bucket-owner-full-control.
    BucketOwnerFullControl,
    /// log-delivery-write.
    LogDeliveryWrite,
}

const CANNED: &[(&str, CannedAcl)] = &[
    ("private", CannedAcl::Private),
    ("public-read", CannedAcl::PublicRead),
    ("public-read-write", CannedAcl::PublicReadWrite),
    ("authenticated-read", CannedAcl::AuthenticatedRead),
    ("aws-exec-read", CannedAcl::AwsExecRead),
    ("bucket-owner-read", CannedAcl::BucketOwnerRead),
    (
        "bucket-owner-full-control",
        CannedAcl::BucketOwnerFullControl,
    ),
    ("log-delivery-write", CannedAcl::LogDeliveryWrite),
];

impl CannedAcl {
    /// Parses an x-amz-acl value.
    pub fn parse(s: &str) -> Option<CannedAcl> {
        CANNED.iter().find(|(n, _)| *n == s).map(|(_, c)| *c)
    }

    /// The x-amz-acl spelling.
    pub fn as_str(self) -> &'static str {
        CANNED
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("private", |(n, _)| n)
    }

    /// The grants S3 expands the canned ACL to (see "Canned ACL" in the S3 User Guide's ACL overview):
    /// `owner` is the resource owner, `bucket_owner` the bucket's owner (for bucket-owner-read/full-control on objects).
    pub fn expand(self, owner: &Owner, bucket_owner: &Owner) -> Acl {
        let user = |o: &Owner, permission| Grant {
            grantee: Grantee::CanonicalUser {
                id: o.canonical_id.clone(),
            },
            permission,
        };
        let group = |g, permission| Grant {
            grantee: Grantee::Group(g),
            permission,
        };
        let mut grants = vec![user(owner, Permission::FullControl)];
        match self {
            // aws-exec-read also grants READ to Amazon EC2's own account, which Strata has
            // no counterpart for; it expands like private here.
            CannedAcl::Private | CannedAcl::AwsExecRead => {}
            CannedAcl::PublicRead => grants.push(group(Group::AllUsers, Permission::Read)),
            CannedAcl::PublicReadWrite => {
                grants.push(group(Group::AllUsers, Permission::Read));
                grants.push(group(Group::AllUsers, Permission::Write));
            }
            CannedAcl::AuthenticatedRead => {
                grants.push(group(Group::AuthenticatedUsers, Permission::Read))
            }
            // Uploading your own object to your own bucket needs no second grant.
            CannedAcl::BucketOwnerRead if bucket_owner != owner => {
                grants.push(user(bucket_owner, Permission::Read))
            }
            CannedAcl::BucketOwnerFullControl if bucket_owner != owner => {
                grants.push(user(bucket_owner, Permission::FullControl))
            }
            CannedAcl::BucketOwnerRead | CannedAcl::BucketOwnerFullControl => {}
            CannedAcl::LogDeliveryWrite => {
                grants.push(group(Group::LogDelivery, Permission::Write));
                grants.push(group(Group::LogDelivery, Permission::ReadAcp));
            }
        }
        Acl {
            owner: owner.clone(),
            grants,
        }
    }
}

impl Acl {
    /// The ACL of a new resource: owner FULL_CONTROL only (the "private" canned ACL).
    pub fn private(owner: &Owner) -> Acl {
        CannedAcl::Private.expand(owner, owner)
    }

    /// Parses the x-amz-grant-* headers (header permission, value like `id="abc", emailAddress="a@b", uri="http://acs..."`)
    /// into grants; an unknown grantee type or malformed value is an error with S3's message (InvalidArgument).
    pub fn from_grant_headers(
        owner: &Owner,
        headers: &[(Permission, &str)],
    ) -> Result<Acl, AclError> {
        // Messages as S3 returns them ("Argument format not recognized", "Invalid id",
        // "Invalid group uri"), quoted in aws-cli #2651, aws-sdk-ruby #826, versitygw #1384.
        let mut grants = Vec::new();
        for (permission, value) in headers {
            for item in value.split(',') {
                let (kind, raw) = item
                    .trim()
                    .split_once('=')
                    .ok_or_else(|| AclError::invalid_argument("Argument format not recognized"))?;
                let raw = raw.trim();
                let value = raw
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(raw);
                if value.is_empty() {
                    return Err(AclError::invalid_argument("Argument format not recognized"));
                }
                let grantee = match kind.trim().to_ascii_lowercase().as_str() {
                    "id" if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        Grantee::CanonicalUser {
                            id: value.to_ascii_lowercase(),
                        }
                    }
                    "id" => return Err(AclError::invalid_argument("Invalid id")),
                    "emailaddress" if value.contains('@') => Grantee::Email(value.to_string()),
                    "emailaddress" => return Err(AclError::unresolvable_email()),
                    "uri" => Grantee::Group(
                        Group::from_uri(value)
                            .ok_or_else(|| AclError::invalid_argument("Invalid group uri"))?,
                    ),
                    _ => return Err(AclError::invalid_argument("Argument format not recognized")),
                };
                grants.push(Grant {
                    grantee,
                    permission: *permission,
                });
            }
        }
        Ok(Acl {
            owner: owner.clone(),
            grants,
        })
    }

    /// Whether any grant is to AllUsers or AuthenticatedUsers (a "public" ACL for Block Public Access).
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| is_public_grantee(&g.grantee))
    }

    /// Whether the ACL is equivalent to bucket-owner-full-control / private for BucketOwnerEnforced purposes
    /// (only the bucket owner has grants, FULL_CONTROL). Look up what S3 accepts here.
    pub fn is_bucket_owner_full_control(&self, bucket_owner: &Owner) -> bool {
        // BucketOwnerEnforced accepts "bucket owner full control ACLs, such as the
        // bucket-owner-full-control canned ACL or an equivalent form of this ACL expressed in
        // the XML format" (PutObject API reference); the bucket ACL for the setting "must give
        // full control only to the bucket owner" (Object Ownership troubleshooting).
        !self.grants.is_empty()
            && self.grants.iter().all(|g| {
                g.permission == Permission::FullControl
                    && g.grantee
                        == Grantee::CanonicalUser {
                            id: bucket_owner.canonical_id.clone(),
                        }
            })
    }
}

/// AllUsers or AuthenticatedUsers.
pub(crate) fn is_public_grantee(grantee: &Grantee) -> bool {
    matches!(
        grantee,
        Grantee::Group(Group::AllUsers) | Grantee::Group(Group::AuthenticatedUsers)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(n: u8) -> Owner {
        Owner {
            canonical_id: format!("{n:x}").repeat(64),
            account_id: format!("{n}").repeat(12),
        }
    }

    #[test]
    fn permissions_map_to_actions() {
        use AclTarget::{Bucket, Object};
        assert!(Permission::Read.grants("s3:ListBucket", Bucket));
        assert!(Permission::Read.grants("s3:listbucketversions", Bucket));
        assert!(!Permission::Read.grants("s3:GetObject", Bucket));
        assert!(Permission::Read.grants("s3:GetObject", Object));
        assert!(Permission::Read.grants("s3:GetObjectVersion", Object));
        assert!(!Permission::Read.grants("s3:GetObjectAcl", Object));
        assert!(Permission::Write.grants("s3:PutObject", Bucket));
        assert!(Permission::Write.grants("s3:DeleteObject", Bucket));
        assert!(!Permission::Write.grants("s3:DeleteObjectVersion", Bucket));
        assert!(Permission::Write.actions(Object).is_empty());
        assert!(Permission::ReadAcp.grants("s3:GetBucketAcl", Bucket));
        assert!(Permission::ReadAcp.grants("s3:GetObjectVersionAcl", Object));
        assert!(Permission::WriteAcp.grants("s3:PutBucketAcl", Bucket));
        assert!(Permission::WriteAcp.grants("s3:PutObjectAcl", Object));
        assert_eq!(Permission::FullControl.actions(Bucket).len(), 8);
        assert_eq!(Permission::FullControl.actions(Object).len(), 7);
        assert!(!Permission::FullControl.grants("s3:PutBucketPolicy", Bucket));
        assert_eq!(Permission::parse("READ_ACP"), Some(Permission::ReadAcp));
        assert_eq!(Permission::parse("read"), None);
    }

    #[test]
    fn canned_acls_expand() {
        let (o, b) = (owner(1), owner(2));
        let grants = |c: CannedAcl| c.expand(&o, &b).grants;
        let user = |x: &Owner, p| Grant {
            grantee: Grantee::CanonicalUser {
                id: x.canonical_id.clone(),
            },
            permission: p,
        };
        let group = |g, p| Grant {
            grantee: Grantee::Group(g),
            permission: p,
        };
        let full = user(&o, Permission::FullControl);
        assert_eq!(grants(CannedAcl::Private), vec![full.clone()]);
        assert_eq!(
            grants(CannedAcl::PublicRead),
            vec![full.clone(), group(Group::AllUsers, Permission::Read)]
        );
        assert_eq!(
            grants(CannedAcl::PublicReadWrite),
            vec![
                full.clone(),
                group(Group::AllUsers, Permission::Read),
                group(Group::AllUsers, Permission::Write)
            ]
        );
        assert_eq!(
            grants(CannedAcl::AuthenticatedRead),
            vec![
                full.clone(),
                group(Group::AuthenticatedUsers, Permission::Read)
            ]
        );
        assert_eq!(
            grants(CannedAcl::BucketOwnerRead),
            vec![full.clone(), user(&b, Permission::Read)]
        );
        assert_eq!(
            grants(CannedAcl::BucketOwnerFullControl),
            vec![full.clone(), user(&b, Permission::FullControl)]
        );
        assert_eq!(
            CannedAcl::BucketOwnerFullControl.expand(&o, &o).grants,
            vec![full.clone()]
        );
        assert_eq!(
            grants(CannedAcl::LogDeliveryWrite),
            vec![
                full.clone(),
                group(Group::LogDelivery, Permission::Write),
                group(Group::LogDelivery, Permission::ReadAcp)
            ]
        );
        assert_eq!(grants(CannedAcl::AwsExecRead), vec![full]);
        for (name, c) in CANNED {
            assert_eq!(CannedAcl::parse(name), Some(*c));
            assert_eq!(c.as_str(), *name);
        }
        assert_eq!(CannedAcl::parse("Private"), None);
    }

    #[test]
    fn grant_headers_parse() {
        let o = owner(1);
        let id = "a".repeat(64);
        let read = format!(r#"id="{id}", uri="http://acs.amazonaws.com/groups/global/AllUsers""#);
        let acl = Acl::from_grant_headers(
            &o,
            &[
                (Permission::Read, &read),
                (Permission::WriteAcp, "emailAddress=\"x@example.com\""),
            ],
        );
        assert_eq!(
            acl.map(|a| a.grants),
            Ok(vec![
                Grant {
                    grantee: Grantee::CanonicalUser { id: id.clone() },
                    permission: Permission::Read
                },
                Grant {
                    grantee: Grantee::Group(Group::AllUsers),
                    permission: Permission::Read
                },
                Grant {
                    grantee: Grantee::Email("x@example.com".into()),
                    permission: Permission::WriteAcp
                },
            ])
        );
        // Unquoted values are accepted, as the AWS CLI sends them.
        assert!(Acl::from_grant_headers(&o, &[(Permission::Read, &format!("id={id}"))]).is_ok());
        let error = |v: &str| {
            Acl::from_grant_headers(&o, &[(Permission::Read, v)])
                .err()
                .map(|e| (e.code, e.message))
        };
        let bad = |m: &str| Some(("InvalidArgument", m.to_string()));
        assert_eq!(error("fdjklasaj"), bad("Argument format not recognized"));
        assert_eq!(error("id=\"\""), bad("Argument format not recognized"));
        assert_eq!(error("user=\"bob\""), bad("Argument format not recognized"));
        assert_eq!(error("id=\"0123\""), bad("Invalid id"));
        assert_eq!(
            error("uri=\"http://acs.amazonaws.com/groups/global/Authenticated\""),
            bad("Invalid group uri")
        );
        assert_eq!(
            error("emailAddress=\"nobody\"").map(|e| e.0),
            Some("UnresolvableGrantByEmailAddress")
        );
    }

    #[test]
    fn public_and_owner_full_control() {
        let (o, b) = (owner(1), owner(2));
        assert!(!Acl::private(&o).is_public());
        assert!(CannedAcl::PublicRead.expand(&o, &o).is_public());
        assert!(CannedAcl::AuthenticatedRead.expand(&o, &o).is_public());
        assert!(!CannedAcl::LogDeliveryWrite.expand(&o, &o).is_public());
        assert!(Acl::private(&b).is_bucket_owner_full_control(&b));
        assert!(CannedAcl::BucketOwnerFullControl
            .expand(&b, &b)
            .is_bucket_owner_full_control(&b));
        assert!(!CannedAcl::BucketOwnerFullControl
            .expand(&o, &b)
            .is_bucket_owner_full_control(&b));
        assert!(!CannedAcl::PublicRead
            .expand(&b, &b)
            .is_bucket_owner_full_control(&b));
        assert!(!CannedAcl::BucketOwnerRead
            .expand(&o, &b)
            .is_bucket_owner_full_control(&b));
    }

    #[test]
    fn acl_round_trips_through_json() {
        let o = owner(3);
        let acl = CannedAcl::PublicRead.expand(&o, &o);
        let text = serde_json::to_string(&acl).unwrap_or_default();
        assert!(text.contains("\"READ\""), "{text}");
        assert_eq!(serde_json::from_str::<Acl>(&text).ok(), Some(acl));
        assert_eq!(
            Group::from_uri(Group::LogDelivery.uri()),
            Some(Group::LogDelivery)
        );
    }
}
