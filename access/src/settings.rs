//! Bucket settings access depends on: Object Ownership and Block Public Access.
//! Invariant: both are plain values with S3's defaults for a new bucket; enforcing them is
//! `decide`'s job (and the server's, for the PUT-time checks of BlockPublicAcls/Policy).

use serde::{Deserialize, Serialize};

/// S3 Object Ownership.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs disabled; the bucket owner owns every object (AWS default for new buckets since April 2023).
    #[default]
    BucketOwnerEnforced,
    /// ACLs enabled; objects written with bucket-owner-full-control belong to the bucket owner.
    BucketOwnerPreferred,
    /// ACLs enabled; the writing account owns the object.
    ObjectWriter,
}

impl ObjectOwnership {
    /// S3's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    /// Parses S3's spelling.
    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// Whether ACLs take part in access decisions.
    pub fn acls_enabled(self) -> bool {
        self != ObjectOwnership::BucketOwnerEnforced
    }
}

/// A bucket's Block Public Access configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicAccessBlock {
    /// Reject PUTs that carry a public ACL.
    pub block_public_acls: bool,
    /// Ignore grants to AllUsers and AuthenticatedUsers.
    pub ignore_public_acls: bool,
    /// Reject PutBucketPolicy with a public policy.
    pub block_public_policy: bool,
    /// With a public policy, only the bucket owner's account gets access.
    pub restrict_public_buckets: bool,
}

impl std::fmt::Display for PublicAccessBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = |b: bool| if b { "on" } else { "off" };
        write!(
            f,
            "BlockPublicAcls {}, IgnorePublicAcls {}, BlockPublicPolicy {}, RestrictPublicBuckets {}",
            on(self.block_public_acls),
            on(self.ignore_public_acls),
            on(self.block_public_policy),
            on(self.restrict_public_buckets)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_and_defaults() {
        assert_eq!(
            ObjectOwnership::default(),
            ObjectOwnership::BucketOwnerEnforced
        );
        for o in [
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ] {
            assert_eq!(ObjectOwnership::parse(o.as_str()), Some(o));
            assert!(o.acls_enabled());
        }
        assert!(!ObjectOwnership::BucketOwnerEnforced.acls_enabled());
        assert_eq!(ObjectOwnership::parse("objectwriter"), None);
        let block = PublicAccessBlock::default();
        assert!(!block.block_public_acls && !block.restrict_public_buckets);
        let parsed: Result<PublicAccessBlock, _> =
            serde_json::from_str(r#"{"ignore_public_acls":true}"#);
        assert_eq!(parsed.ok().map(|b| b.ignore_public_acls), Some(true));
    }
}
