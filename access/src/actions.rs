//! The S3 action names a bucket policy may use, and whether each is about a bucket or an object.
//! Invariant: `S3_ACTIONS` is the one list both validation ("Policy has invalid action") and
//! the object/bucket split read; names are compared case-insensitively, as IAM does.

/// Which resource an action's ARN names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `arn:aws:s3:::bucket`.
    Bucket,
    /// `arn:aws:s3:::bucket/key`.
    Object,
    /// Account-level (resource `*`): never applies to a bucket policy's resources.
    Account,
}

/// Every S3 action name Strata knows, in the AWS spelling (bucket, object and account level).
#[rustfmt::skip]
pub const S3_ACTIONS: &[&str] = &[
    "s3:AbortMultipartUpload", "s3:BypassGovernanceRetention", "s3:CreateBucket",
    "s3:DeleteBucket", "s3:DeleteBucketOwnershipControls", "s3:DeleteBucketPolicy",
    "s3:DeleteBucketWebsite", "s3:DeleteObject", "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion", "s3:DeleteObjectVersionTagging", "s3:GetAccelerateConfiguration",
    "s3:GetAccountPublicAccessBlock", "s3:GetAnalyticsConfiguration", "s3:GetBucketAcl",
    "s3:GetBucketCORS", "s3:GetBucketLocation", "s3:GetBucketLogging",
    "s3:GetBucketNotification", "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock", "s3:GetBucketRequestPayment", "s3:GetBucketTagging",
    "s3:GetBucketVersioning", "s3:GetBucketWebsite", "s3:GetEncryptionConfiguration",
    "s3:GetIntelligentTieringConfiguration", "s3:GetInventoryConfiguration",
    "s3:GetLifecycleConfiguration", "s3:GetMetricsConfiguration", "s3:GetObject",
    "s3:GetObjectAcl", "s3:GetObjectAttributes", "s3:GetObjectLegalHold",
    "s3:GetObjectRetention", "s3:GetObjectTagging", "s3:GetObjectTorrent",
    "s3:GetObjectVersion", "s3:GetObjectVersionAcl", "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging",
    "s3:GetObjectVersionTorrent", "s3:GetReplicationConfiguration", "s3:InitiateReplication",
    "s3:ListAllMyBuckets", "s3:ListBucket", "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions", "s3:ListMultipartUploadParts",
    "s3:ObjectOwnerOverrideToBucketOwner", "s3:PutAccelerateConfiguration",
    "s3:PutAccountPublicAccessBlock", "s3:PutAnalyticsConfiguration", "s3:PutBucketAcl",
    "s3:PutBucketCORS", "s3:PutBucketLogging", "s3:PutBucketNotification",
    "s3:PutBucketObjectLockConfiguration", "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock", "s3:PutBucketRequestPayment",
    "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutBucketWebsite",
    "s3:PutEncryptionConfiguration", "s3:PutIntelligentTieringConfiguration",
    "s3:PutInventoryConfiguration", "s3:PutLifecycleConfiguration",
    "s3:PutMetricsConfiguration", "s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectLegalHold",
    "s3:PutObjectRetention", "s3:PutObjectTagging", "s3:PutObjectVersionAcl",
    "s3:PutObjectVersionTagging", "s3:PutReplicationConfiguration", "s3:ReplicateDelete",
    "s3:ReplicateObject", "s3:ReplicateTags", "s3:RestoreObject",
];

/// The object-level subset of `S3_ACTIONS` (resource `arn:aws:s3:::bucket/key`).
#[rustfmt::skip]
const OBJECT_ACTIONS: &[&str] = &[
    "s3:AbortMultipartUpload", "s3:BypassGovernanceRetention", "s3:DeleteObject",
    "s3:DeleteObjectTagging", "s3:DeleteObjectVersion", "s3:DeleteObjectVersionTagging",
    "s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectAttributes", "s3:GetObjectLegalHold",
    "s3:GetObjectRetention", "s3:GetObjectTagging", "s3:GetObjectTorrent",
    "s3:GetObjectVersion", "s3:GetObjectVersionAcl", "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging",
    "s3:GetObjectVersionTorrent", "s3:InitiateReplication", "s3:ListMultipartUploadParts",
    "s3:ObjectOwnerOverrideToBucketOwner", "s3:PutObject", "s3:PutObjectAcl",
    "s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl", "s3:PutObjectVersionTagging", "s3:ReplicateDelete",
    "s3:ReplicateObject", "s3:ReplicateTags", "s3:RestoreObject",
];

/// The account-level subset of `S3_ACTIONS`: valid names, but no bucket-policy resource fits them.
#[rustfmt::skip]
const ACCOUNT_ACTIONS: &[&str] = &[
    "s3:GetAccountPublicAccessBlock", "s3:ListAllMyBuckets", "s3:PutAccountPublicAccessBlock",
];

/// All known actions with their scope.
pub(crate) fn all() -> impl Iterator<Item = (&'static str, Scope)> {
    S3_ACTIONS.iter().map(|a| {
        let scope = if OBJECT_ACTIONS.contains(a) {
            Scope::Object
        } else if ACCOUNT_ACTIONS.contains(a) {
            Scope::Account
        } else {
            Scope::Bucket
        };
        (*a, scope)
    })
}

/// The scope of a known action (case-insensitive), or None for an unknown name.
pub(crate) fn scope(action: &str) -> Option<Scope> {
    all()
        .find(|(a, _)| a.eq_ignore_ascii_case(action))
        .map(|(_, s)| s)
}

/// Whether `action` (e.g. "s3:GetObject") is an object-level action (resource is bucket/key) rather than a bucket-level one.
pub fn is_object_action(action: &str) -> bool {
    scope(action) == Some(Scope::Object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_and_bucket_actions() {
        assert!(is_object_action("s3:GetObject"));
        assert!(is_object_action("S3:putobjectacl"));
        assert!(!is_object_action("s3:ListBucket"));
        assert!(!is_object_action("s3:NoSuchThing"));
        assert_eq!(scope("s3:listallmybuckets"), Some(Scope::Account));
        // The subsets name only listed actions, so no scope is decided by a typo.
        for a in OBJECT_ACTIONS.iter().chain(ACCOUNT_ACTIONS) {
            assert!(S3_ACTIONS.contains(a), "{a}");
        }
    }
}
