//! Authorization: the one step every request passes after authentication. It names the
//! permissions the operation needs with S3's action names, loads what the bucket's access depends
//! on (owner, bucket policy, ACL, Object Ownership, Block Public Access; cached), and lets
//! `strata_access::decide` answer for each.
//!
//! Invariant: a handler runs only after every permission its operation needs was allowed for the
//! requester; the operations whose permissions depend on their body (DeleteObjects' keys, a POST
//! Object form) ask this module from the handler, once the body names them, with the same
//! decision function.

use std::sync::Arc;

use strata_access::{
    decide, AccessRequest, Acl, BucketAccess, ConditionContext, Decision, ObjectOwnership, Owner,
    Policy, PublicAccessBlock, Requester,
};
use time::OffsetDateTime;

use crate::app::{blocking, AppState, S3Request};
use crate::bucket_cache::BucketCache;
use crate::error::{S3Error, S3Result};
use crate::router::Operation;
use crate::s3_error;
use crate::users::Identity;

/// Bucket setting: the bucket policy, as the client sent it (validated).
pub const POLICY_SETTING: &str = "policy";
/// Bucket setting: the bucket ACL (JSON of `strata_access::Acl`).
pub const ACL_SETTING: &str = "acl";
/// Bucket setting: the Object Ownership rule (`BucketOwnerEnforced`, ...).
pub const OWNERSHIP_SETTING: &str = "ownership";
/// Bucket setting: the Block Public Access configuration (JSON).
pub const PUBLIC_ACCESS_BLOCK_SETTING: &str = "public-access-block";

/// What a bucket's access depends on.
#[derive(Debug)]
pub struct BucketAccessInfo {
    /// The owner.
    pub owner: Owner,
    /// The bucket policy, parsed, and its text.
    pub policy: Option<(Policy, String)>,
    /// The bucket ACL.
    pub acl: Acl,
    /// Object Ownership; None when the bucket has no ownership controls (then objects belong
    /// to their writers, as ObjectWriter: S3's rule for buckets without the setting).
    pub ownership: Option<ObjectOwnership>,
    /// Block Public Access; None when not configured.
    pub block: Option<PublicAccessBlock>,
    /// The Object Lock configuration; None when Object Lock is not enabled. Kept here so that
    /// writes apply the default retention without another read of the catalogue.
    pub lock: Option<strata_storage::ObjectLockConfig>,
}

impl BucketAccessInfo {
    /// The Object Ownership rule in force.
    pub fn ownership(&self) -> ObjectOwnership {
        self.ownership.unwrap_or(ObjectOwnership::ObjectWriter)
    }

    /// Whether ACLs take part in access decisions (they do unless BucketOwnerEnforced).
    pub fn acls_enabled(&self) -> bool {
        self.ownership() != ObjectOwnership::BucketOwnerEnforced
    }

    fn access(&self) -> BucketAccess<'_> {
        BucketAccess {
            owner: &self.owner,
            policy: self.policy.as_ref().map(|(p, _)| p),
            acl: &self.acl,
            ownership: self.ownership(),
            block: self.block.unwrap_or_default(),
        }
    }

    /// Whether `identity` is (in) the bucket owner's account.
    pub fn owned_by(&self, identity: Option<&Identity>) -> bool {
        identity.is_some_and(|i| i.account_id == self.owner.account_id)
    }
}

/// Access settings by bucket.
pub type AccessCache = BucketCache<Arc<BucketAccessInfo>>;

/// The bucket's access settings; `NoSuchBucket` when it does not exist.
pub async fn bucket_access(state: &AppState, bucket: &str) -> S3Result<Arc<BucketAccessInfo>> {
    state
        .access
        .get(bucket, || {
            let store = state.store.clone();
            let users = state.auth.users.clone();
            let b = bucket.to_owned();
            async move { blocking(move || load_access(&store, &users, &b).map(Arc::new)).await }
        })
        .await
}

pub fn load_access(
    store: &strata_storage::Store,
    users: &crate::users::UserDirectory,
    bucket: &str,
) -> S3Result<BucketAccessInfo> {
    let info = store.bucket(bucket)?;
    let owner = users.owner_of(&info.owner);
    let setting = |name| store.bucket_setting(bucket, name).map_err(S3Error::from);
    let policy = match setting(POLICY_SETTING)? {
        Some(text) => Some((
            Policy::parse(&text, bucket).map_err(|e| {
                S3Error::internal(format!("stored policy of {bucket}: {}", e.message))
            })?,
            text,
        )),
        None => None,
    };
    let acl = match setting(ACL_SETTING)? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| S3Error::internal(format!("stored ACL of {bucket}: {e}")))?,
        None => Acl::private(&owner),
    };
    let ownership =
        match setting(OWNERSHIP_SETTING)? {
            Some(text) => Some(ObjectOwnership::parse(&text).ok_or_else(|| {
                S3Error::internal(format!("stored ownership of {bucket}: {text:?}"))
            })?),
            None => None,
        };
    let block = match setting(PUBLIC_ACCESS_BLOCK_SETTING)? {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            S3Error::internal(format!("stored public access block of {bucket}: {e}"))
        })?),
        None => None,
    };
    let lock = store.object_lock_config(bucket)?;
    Ok(BucketAccessInfo {
        owner,
        policy,
        acl,
        ownership,
        block,
        lock,
    })
}

/// The replication worker's check that a destination bucket's owner grants the source bucket's
/// owner the replication actions (User Guide, "Configuring replication when the source and
/// destination buckets are owned by different accounts"). Read from the engine on each entry:
/// the worker runs outside any request, and a destination's policy may change at any time.
pub struct ReplicationGrants {
    /// The store.
    pub store: strata_storage::Store,
    /// The users (owners' account ids).
    pub users: Arc<crate::users::UserDirectory>,
}

impl strata_lifecycle::replication::ReplicationGrants for ReplicationGrants {
    fn check(
        &self,
        entry: &strata_storage::QueueEntry,
        destination_bucket: &str,
    ) -> Result<(), String> {
        let source = self
            .store
            .bucket(&entry.bucket)
            .map_err(|e| e.to_string())?;
        let dest = match load_access(&self.store, &self.users, destination_bucket) {
            Ok(dest) => dest,
            // A missing destination is the engine's to report (and to retry).
            Err(_) => return Ok(()),
        };
        let source_owner = self.users.owner_of(&source.owner);
        if source_owner.account_id == dest.owner.account_id {
            return Ok(());
        }
        let action = match entry.kind {
            strata_storage::ReplicationKind::Tags => "s3:ReplicateTags",
            strata_storage::ReplicationKind::Version => {
                let live = self
                    .store
                    .object_meta(&entry.bucket, &entry.key, Some(&entry.version_id))
                    .map_err(|e| e.to_string())?;
                if live.is_some() {
                    "s3:ReplicateObject"
                } else {
                    "s3:ReplicateDelete"
                }
            }
        };
        let requester = match self.users.by_stored_owner(&source.owner) {
            Some(identity) => crate::users::requester(Some(&identity)),
            None => Requester::Anonymous,
        };
        let req = AccessRequest {
            requester: &requester,
            action,
            bucket: destination_bucket,
            key: Some(&entry.key),
            object: None,
        };
        let decision = decide(&req, &dest.access(), &strata_access::MapContext::new());
        if decision.allowed {
            return Ok(());
        }
        Err(format!(
            "AccessDenied: the owner of destination bucket {destination_bucket} does not grant \
             {action} to the source bucket's owner ({}): {}",
            match &requester {
                Requester::User(p) => p.arn(),
                Requester::Anonymous => "a removed user".to_owned(),
            },
            decision.explanation.decided_by
        ))
    }
}

/// Forgets a bucket's cached access settings (changed, created or deleted).
pub fn forget(state: &AppState, bucket: &str) {
    state.access.forget(bucket);
}

/// One permission a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// S3's action name.
    pub action: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The key, for object actions.
    pub key: Option<String>,
    /// The version the action reads or changes, when one is named.
    pub version_id: Option<String>,
}

/// `base` or, when the request names a version, `versioned` (S3's separate action names).
fn by_version(
    version: &Option<String>,
    base: &'static str,
    versioned: &'static str,
) -> &'static str {
    if version.is_some() {
        versioned
    } else {
        base
    }
}

/// The permissions `op` needs (S3 User Guide, "Required permissions for Amazon S3 API
/// operations"). Empty: the operation needs none beyond being signed, or its handler asks.
pub fn needs(op: Operation, req: &S3Request) -> S3Result<Vec<Need>> {
    use Operation as O;
    let Some(bucket) = req.bucket.clone() else {
        return Ok(Vec::new());
    };
    let key = req.key.clone();
    let version = req.q("versionId").map(str::to_owned);
    let bucket_need = |action| Need {
        action,
        bucket: bucket.clone(),
        key: None,
        version_id: None,
    };
    let object_need = |action, version_id: Option<String>| Need {
        action,
        bucket: bucket.clone(),
        key: key.clone(),
        version_id,
    };
    let bucket_action = match op {
        O::HeadBucket | O::ListObjects | O::ListObjectsV2 => Some("s3:ListBucket"),
        O::DeleteBucket => Some("s3:DeleteBucket"),
        O::GetBucketLocation => Some("s3:GetBucketLocation"),
        O::ListObjectVersions => Some("s3:ListBucketVersions"),
        O::ListMultipartUploads => Some("s3:ListBucketMultipartUploads"),
        // DeleteBucketTagging, DeleteBucketCors, DeleteBucketLifecycle and
        // DeleteBucketReplication are authorized by the Put action (S3 has no Delete action).
        O::PutBucketTagging | O::DeleteBucketTagging => Some("s3:PutBucketTagging"),
        O::GetBucketTagging => Some("s3:GetBucketTagging"),
        O::PutBucketCors | O::DeleteBucketCors => Some("s3:PutBucketCORS"),
        O::GetBucketCors => Some("s3:GetBucketCORS"),
        O::PutBucketVersioning => Some("s3:PutBucketVersioning"),
        O::GetBucketVersioning => Some("s3:GetBucketVersioning"),
        O::PutBucketLifecycleConfiguration | O::DeleteBucketLifecycle => {
            Some("s3:PutLifecycleConfiguration")
        }
        O::GetBucketLifecycleConfiguration => Some("s3:GetLifecycleConfiguration"),
        O::PutBucketReplication | O::DeleteBucketReplication => {
            Some("s3:PutReplicationConfiguration")
        }
        O::GetBucketReplication => Some("s3:GetReplicationConfiguration"),
        O::PutBucketPolicy => Some("s3:PutBucketPolicy"),
        O::GetBucketPolicy => Some("s3:GetBucketPolicy"),
        O::DeleteBucketPolicy => Some("s3:DeleteBucketPolicy"),
        O::GetBucketPolicyStatus => Some("s3:GetBucketPolicyStatus"),
        O::PutBucketAcl => Some("s3:PutBucketAcl"),
        O::GetBucketAcl => Some("s3:GetBucketAcl"),
        O::PutBucketOwnershipControls | O::DeleteBucketOwnershipControls => {
            Some("s3:PutBucketOwnershipControls")
        }
        O::GetBucketOwnershipControls => Some("s3:GetBucketOwnershipControls"),
        O::PutPublicAccessBlock | O::DeletePublicAccessBlock => {
            Some("s3:PutBucketPublicAccessBlock")
        }
        O::GetPublicAccessBlock => Some("s3:GetBucketPublicAccessBlock"),
        O::PutObjectLockConfiguration => Some("s3:PutBucketObjectLockConfiguration"),
        O::GetObjectLockConfiguration => Some("s3:GetBucketObjectLockConfiguration"),
        _ => None,
    };
    if let Some(action) = bucket_action {
        return Ok(vec![bucket_need(action)]);
    }
    let mut needs = match op {
        O::GetObject | O::HeadObject => vec![object_need(
            by_version(&version, "s3:GetObject", "s3:GetObjectVersion"),
            version.clone(),
        )],
        O::DeleteObject => vec![object_need(
            by_version(&version, "s3:DeleteObject", "s3:DeleteObjectVersion"),
            version.clone(),
        )],
        O::PutObject
        | O::CreateMultipartUpload
        | O::UploadPart
        | O::CompleteMultipartUpload
        | O::CopyObject
        | O::UploadPartCopy => vec![object_need("s3:PutObject", None)],
        O::AbortMultipartUpload => vec![object_need("s3:AbortMultipartUpload", None)],
        O::ListParts => vec![object_need("s3:ListMultipartUploadParts", None)],
        O::PutObjectTagging => vec![object_need(
            by_version(
                &version,
                "s3:PutObjectTagging",
                "s3:PutObjectVersionTagging",
            ),
            version.clone(),
        )],
        O::GetObjectTagging => vec![object_need(
            by_version(
                &version,
                "s3:GetObjectTagging",
                "s3:GetObjectVersionTagging",
            ),
            version.clone(),
        )],
        O::DeleteObjectTagging => vec![object_need(
            by_version(
                &version,
                "s3:DeleteObjectTagging",
                "s3:DeleteObjectVersionTagging",
            ),
            version.clone(),
        )],
        // API reference, GetObjectAttributes: it needs both the read and the attributes action.
        O::GetObjectAttributes => vec![
            object_need(
                by_version(&version, "s3:GetObject", "s3:GetObjectVersion"),
                version.clone(),
            ),
            object_need(
                by_version(
                    &version,
                    "s3:GetObjectAttributes",
                    "s3:GetObjectVersionAttributes",
                ),
                version.clone(),
            ),
        ],
        O::PutObjectAcl => vec![object_need(
            by_version(&version, "s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
            version.clone(),
        )],
        O::GetObjectAcl => vec![object_need(
            by_version(&version, "s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
            version.clone(),
        )],
        O::RestoreObject => vec![object_need("s3:RestoreObject", version.clone())],
        // Object Lock has no versioned action names: the version is the resource's.
        O::PutObjectRetention => vec![object_need("s3:PutObjectRetention", version.clone())],
        O::GetObjectRetention => vec![object_need("s3:GetObjectRetention", version.clone())],
        O::PutObjectLegalHold => vec![object_need("s3:PutObjectLegalHold", version.clone())],
        O::GetObjectLegalHold => vec![object_need("s3:GetObjectLegalHold", version.clone())],
        _ => Vec::new(),
    };
    // A PUT that sets an ACL or tags needs those permissions too (API reference, PutObject:
    // "To use tagging you must have s3:PutObjectTagging"; ACL headers need s3:PutObjectAcl).
    if matches!(op, O::PutObject | O::CopyObject | O::CreateMultipartUpload) {
        if crate::acl_request::has_acl_headers(req) {
            needs.push(object_need("s3:PutObjectAcl", None));
        }
        if req.header("x-amz-tagging").is_some() {
            needs.push(object_need("s3:PutObjectTagging", None));
        }
        // API reference, PutObject: the lock headers need the permissions of the lock
        // operations they stand for.
        if req.header(crate::lock_request::MODE).is_some()
            || req.header(crate::lock_request::RETAIN_UNTIL).is_some()
        {
            needs.push(object_need("s3:PutObjectRetention", None));
        }
        if req.header(crate::lock_request::LEGAL_HOLD).is_some() {
            needs.push(object_need("s3:PutObjectLegalHold", None));
        }
    }
    // A replica write chooses its version id and Last-Modified: the writer must be allowed to
    // replicate into the bucket (its owner is; anyone else needs s3:ReplicateObject).
    if matches!(
        op,
        O::PutObject | O::CreateMultipartUpload | O::CompleteMultipartUpload
    ) && req
        .header(crate::replication_remote::REPLICA_VERSION_HEADER)
        .is_some()
    {
        needs.push(object_need("s3:ReplicateObject", None));
    }
    if matches!(op, O::CopyObject | O::UploadPartCopy) {
        let src = crate::request::parse_copy_source(req.header("x-amz-copy-source").unwrap_or(""))?;
        needs.push(Need {
            action: by_version(&src.version_id, "s3:GetObject", "s3:GetObjectVersion"),
            bucket: src.bucket,
            key: Some(src.key),
            version_id: src.version_id,
        });
    }
    Ok(needs)
}

/// What the authorization step hands to the handler.
#[derive(Debug, Clone, Default)]
pub struct Granted {
    /// The addressed bucket's settings (None for requests without a bucket, or CreateBucket).
    pub bucket: Option<Arc<BucketAccessInfo>>,
    /// For GetObject/HeadObject: whether the requester may also list the bucket. S3 answers a
    /// missing key with 404 only then, and with 403 otherwise (API reference, GetObject,
    /// "Permissions").
    pub may_list: bool,
}

/// The condition keys of a request, computed on demand.
pub struct RequestContext<'a> {
    req: &'a S3Request,
    bucket_owner: &'a Owner,
    existing_tags: Option<&'a [(String, String)]>,
    now: OffsetDateTime,
}

impl ConditionContext for RequestContext<'_> {
    fn values(&self, key: &str) -> Option<Vec<String>> {
        let one = |v: String| Some(vec![v]);
        let identity = self.req.auth.identity.as_deref();
        if let Some(tag) = key.strip_prefix("s3:existingobjecttag/") {
            let tags = self.existing_tags?;
            let values: Vec<String> = tags
                .iter()
                .filter(|(k, _)| k == tag)
                .map(|(_, v)| v.clone())
                .collect();
            return (!values.is_empty()).then_some(values);
        }
        if let Some(tag) = key.strip_prefix("s3:requestobjecttag/") {
            let tags = crate::request::tags_from_header(self.req.header("x-amz-tagging")?).ok()?;
            let values: Vec<String> = tags
                .into_iter()
                .filter(|(k, _)| k == tag)
                .map(|(_, v)| v)
                .collect();
            return (!values.is_empty()).then_some(values);
        }
        if let Some(header) = key.strip_prefix("s3:").filter(|h| h.starts_with("x-amz-")) {
            return one(self.req.header(header)?.to_owned());
        }
        match key {
            "aws:sourceip" => one(self.req.http.peer_addr()?.ip().to_string()),
            // Whether this server's own listener speaks TLS: a client's X-Forwarded-Proto or
            // Forwarded header (which `connection_info()` believes) must not make HTTP look secure.
            "aws:securetransport" => one(self.req.http.app_config().secure().to_string()),
            "aws:currenttime" => one(crate::handlers::iso8601(
                (self.now.unix_timestamp_nanos() / 1_000_000) as i64,
            )),
            "aws:epochtime" => one(self.now.unix_timestamp().to_string()),
            "aws:referer" => one(self.req.header("referer")?.to_owned()),
            "aws:useragent" => one(self.req.header("user-agent")?.to_owned()),
            "aws:username" => one(identity?.name.clone()),
            "aws:userid" => one(identity?.canonical_id.clone()),
            "aws:principalaccount" => one(identity?.account_id.clone()),
            "aws:principalarn" => one(identity?.principal().arn()),
            "aws:principaltype" => one(if identity.is_some() {
                "User"
            } else {
                "Anonymous"
            }
            .into()),
            "aws:resourceaccount" | "s3:resourceaccount" => {
                one(self.bucket_owner.account_id.clone())
            }
            "s3:prefix" => one(self.req.q("prefix")?.to_owned()),
            "s3:delimiter" => one(self.req.q("delimiter")?.to_owned()),
            "s3:max-keys" => one(self.req.q("max-keys")?.to_owned()),
            "s3:versionid" => one(self.req.q("versionId")?.to_owned()),
            // The lock a write asks for, from its headers (PutObjectRetention's body is not
            // read by then: these keys are absent for it).
            "s3:object-lock-mode" => one(self.req.header(crate::lock_request::MODE)?.to_owned()),
            "s3:object-lock-retain-until-date" => one(self
                .req
                .header(crate::lock_request::RETAIN_UNTIL)?
                .to_owned()),
            "s3:object-lock-legal-hold" => {
                one(self.req.header(crate::lock_request::LEGAL_HOLD)?.to_owned())
            }
            "s3:requestobjecttagkeys" => {
                let tags =
                    crate::request::tags_from_header(self.req.header("x-amz-tagging")?).ok()?;
                Some(tags.into_iter().map(|(k, _)| k).collect())
            }
            "s3:signatureversion" if identity.is_none() => None,
            "s3:signatureversion" => one(match self.req.header("authorization") {
                Some(a) if a.starts_with("AWS ") => "AWS",
                _ if self.req.q("Signature").is_some() => "AWS",
                _ => "AWS4-HMAC-SHA256",
            }
            .into()),
            "s3:authtype" => {
                identity?;
                // A POST Object form is a POST to the bucket with a multipart/form-data body
                // (DeleteObjects is a POST to the bucket too, signed in its header).
                let form = self.req.http.method() == actix_web::http::Method::POST
                    && self.req.key.is_none()
                    && self
                        .req
                        .header("content-type")
                        .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"));
                one(if form {
                    "POST"
                } else if self.req.header("authorization").is_some() {
                    "REST-HEADER"
                } else {
                    "REST-QUERY-STRING"
                }
                .into())
            }
            _ => None,
        }
    }
}

/// The owner and ACL of an existing object, when they can matter to the decision.
struct ObjectFacts {
    owner: Owner,
    acl: Acl,
    tags: Vec<(String, String)>,
}

/// Whether deciding `need` needs the object's own facts (its owner and ACL when ACLs are on, its
/// tags when the policy reads them).
fn needs_object_facts(info: &BucketAccessInfo, need: &Need) -> bool {
    if need.key.is_none() || WRITES_NEW_OBJECT.contains(&need.action) {
        return false;
    }
    info.acls_enabled()
        || info
            .policy
            .as_ref()
            .is_some_and(|(p, _)| p.uses_condition_key_prefix("s3:existingobjecttag/"))
}

/// Actions whose object is the one being written (its ACL is not yet there).
const WRITES_NEW_OBJECT: &[&str] = &["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging"];

async fn object_facts(
    state: &AppState,
    info: &BucketAccessInfo,
    need: &Need,
) -> S3Result<Option<ObjectFacts>> {
    let (store, b, k, v) = (
        state.store.clone(),
        need.bucket.clone(),
        need.key.clone().unwrap_or_default(),
        need.version_id.clone(),
    );
    let meta = blocking(move || {
        match store.object_meta(&b, &k, v.as_deref()) {
            Ok(m) => Ok(m),
            // A malformed or unknown version id is the handler's to answer.
            Err(strata_storage::Error::Invalid(_)) | Err(strata_storage::Error::NoSuchKey(_)) => {
                Ok(None)
            }
            Err(e) => Err(S3Error::from(e)),
        }
    })
    .await?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let owner = match &meta.owner {
        Some(id) => state.auth.users.owner_of(id),
        None => info.owner.clone(),
    };
    let acl = match &meta.acl {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| S3Error::internal(format!("stored object ACL: {e}")))?,
        None => Acl::private(&owner),
    };
    Ok(Some(ObjectFacts {
        owner,
        acl,
        tags: meta.tags,
    }))
}

/// Decides one need for the request's requester.
async fn decide_need(
    req: &S3Request,
    info: &BucketAccessInfo,
    need: &Need,
    requester: &Requester,
) -> S3Result<Decision> {
    let facts = if needs_object_facts(info, need) {
        object_facts(&req.state, info, need).await?
    } else {
        None
    };
    let ctx = RequestContext {
        req,
        bucket_owner: &info.owner,
        existing_tags: facts.as_ref().map(|f| f.tags.as_slice()),
        now: OffsetDateTime::now_utc(),
    };
    let access_req = AccessRequest {
        requester,
        action: need.action,
        bucket: &need.bucket,
        key: need.key.as_deref(),
        object: facts.as_ref().map(|f| (&f.owner, &f.acl)),
    };
    Ok(decide(&access_req, &info.access(), &ctx))
}

/// S3's answer to a request no permission allows.
pub fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The authorization step: every permission `op` needs must be allowed.
pub async fn authorize(op: Operation, req: &S3Request) -> S3Result<Granted> {
    use Operation as O;
    let identity = req.auth.identity.as_deref();
    match op {
        O::Unsupported(_) | O::MethodNotAllowed | O::PreflightCors | O::PostObject => {
            return Ok(Granted::default())
        }
        // Any signed user may list its own buckets and create buckets; anonymous requests may not.
        O::ListBuckets | O::CreateBucket => {
            return match identity {
                Some(_) => Ok(Granted::default()),
                None => Err(access_denied()),
            }
        }
        _ => {}
    }
    let Some(bucket) = req.bucket.as_deref() else {
        return Ok(Granted::default());
    };
    let info = bucket_access(&req.state, bucket).await?;
    let requester = crate::users::requester(identity);
    for need in needs(op, req)? {
        let need_info = if need.bucket == bucket {
            info.clone()
        } else {
            match bucket_access(&req.state, &need.bucket).await {
                Ok(i) => i,
                // A copy from a missing bucket is the handler's NoSuchBucket.
                Err(e) if e.code == crate::error::S3ErrorCode::NoSuchBucket => continue,
                Err(e) => return Err(e),
            }
        };
        // API reference, PutBucketPolicy: "the root principal in a bucket owner's account can
        // perform the GetBucketPolicy, PutBucketPolicy, and DeleteBucketPolicy API actions, even
        // if their bucket policy explicitly denies" it; anyone else allowed them gets 405.
        if matches!(
            need.action,
            "s3:PutBucketPolicy" | "s3:GetBucketPolicy" | "s3:DeleteBucketPolicy"
        ) {
            if need_info.owned_by(identity) {
                continue;
            }
            return Err(
                if decide_need(req, &need_info, &need, &requester)
                    .await?
                    .allowed
                {
                    s3_error!(
                        MethodNotAllowed,
                        "The specified method is not allowed against this resource."
                    )
                } else {
                    access_denied()
                },
            );
        }
        let decision = decide_need(req, &need_info, &need, &requester).await?;
        tracing::debug!(
            action = need.action,
            allowed = decision.allowed,
            decided_by = %decision.explanation.decided_by,
            "authorization"
        );
        if !decision.allowed {
            return Err(access_denied());
        }
    }
    let may_list = if matches!(op, O::GetObject | O::HeadObject) && !info.owned_by(identity) {
        let list = Need {
            action: "s3:ListBucket",
            bucket: bucket.to_owned(),
            key: None,
            version_id: None,
        };
        decide_need(req, &info, &list, &requester).await?.allowed
    } else {
        true
    };
    Ok(Granted {
        bucket: Some(info),
        may_list,
    })
}

/// Decides one object permission named by a request's body (DeleteObjects' keys, a POST form's
/// key), for `identity` (None: anonymous).
pub async fn check_object(
    req: &S3Request,
    identity: Option<&Identity>,
    action: &'static str,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<bool> {
    let bucket = req.bucket()?;
    let info = bucket_access(&req.state, bucket).await?;
    let need = Need {
        action,
        bucket: bucket.to_owned(),
        key: Some(key.to_owned()),
        version_id: version_id.map(str::to_owned),
    };
    let requester = crate::users::requester(identity);
    Ok(decide_need(req, &info, &need, &requester).await?.allowed)
}

/// The authorization of a POST Object form, once its fields name the signer and the key: the
/// request then carries the signer (None: anonymous, or the administrator under
/// `--allow-anonymous`) and the bucket's settings, as the authorization step leaves them.
pub async fn authorize_form(
    req: &mut S3Request,
    signer: Option<Arc<Identity>>,
    key: &str,
    actions: &[&'static str],
) -> S3Result<()> {
    req.auth.identity = signer.or_else(|| {
        req.state
            .auth
            .allow_anonymous
            .then(|| req.state.auth.users.admin())
    });
    let bucket = req.bucket()?.to_owned();
    let info = bucket_access(&req.state, &bucket).await?;
    for action in actions {
        let allowed = check_object(req, req.auth.identity.as_deref(), action, key, None).await?;
        if !allowed {
            return Err(access_denied());
        }
    }
    req.granted = Granted {
        bucket: Some(info),
        may_list: true,
    };
    Ok(())
}

/// A decision for `strata policy explain`: the bucket's settings, a requester, an action and a
/// key, with the condition keys given (the request's own keys are not there to read).
pub async fn explain(
    state: &AppState,
    bucket: &str,
    requester: &Requester,
    action: &str,
    key: Option<&str>,
    version_id: Option<&str>,
    context: &strata_access::MapContext,
) -> S3Result<Decision> {
    let info = bucket_access(state, bucket).await?;
    let known = strata_access::S3_ACTIONS
        .iter()
        .find(|a| a.eq_ignore_ascii_case(action))
        .copied()
        .ok_or_else(|| s3_error!(InvalidArgument, "Unknown action {action}"))?;
    let need = Need {
        action: known,
        bucket: bucket.to_owned(),
        key: key.map(str::to_owned),
        version_id: version_id.map(str::to_owned),
    };
    let facts = if needs_object_facts(&info, &need) {
        object_facts(state, &info, &need).await?
    } else {
        None
    };
    let mut ctx = context.clone();
    if let Some(f) = &facts {
        for (k, v) in &f.tags {
            ctx.0
                .entry(format!("s3:existingobjecttag/{k}"))
                .or_default()
                .push(v.clone());
        }
    }
    let access_req = AccessRequest {
        requester,
        action: known,
        bucket,
        key,
        object: facts.as_ref().map(|f| (&f.owner, &f.acl)),
    };
    Ok(decide(&access_req, &info.access(), &ctx))
}
