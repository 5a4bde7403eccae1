//! Strata's access decisions as pure data and functions: bucket policies (IAM JSON), the S3 ACL
//! model, Object Ownership and Block Public Access, and one `decide` that combines them and
//! explains itself. Invariant: nothing here does I/O; every answer depends only on the arguments.

pub mod acl;
pub mod actions;
pub mod condition;
pub mod decide;
pub mod policy;
pub mod settings;
mod variables;
mod wildcard;

pub use acl::{Acl, AclError, AclTarget, CannedAcl, Grant, Grantee, Group, Permission};
pub use actions::{is_object_action, S3_ACTIONS};
pub use condition::{normalize_condition_key, ConditionContext, MapContext};
pub use decide::{decide, AccessRequest, BucketAccess, Decision, Explanation};
pub use policy::{Effect, Policy, PolicyError, StatementOutcome, MAX_POLICY_BYTES};
pub use settings::{ObjectOwnership, PublicAccessBlock};

use serde::{Deserialize, Serialize};

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requester {
    /// An unsigned request.
    Anonymous,
    /// An authenticated Strata user.
    User(Principal),
}

impl Requester {
    /// The requester's account id, if any.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Requester::Anonymous => None,
            Requester::User(p) => Some(&p.account_id),
        }
    }
}

/// An authenticated user; every Strata user is its own account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// User name, e.g. "alice".
    pub name: String,
    /// 12-digit account id, e.g. "111122223333".
    pub account_id: String,
    /// S3's canonical user id (64 hex characters).
    pub canonical_id: String,
}

impl Principal {
    /// The user's IAM ARN, `arn:aws:iam::ACCOUNT:user/NAME`.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account_id, self.name)
    }
}

/// The owner of a bucket or object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// S3's canonical user id.
    pub canonical_id: String,
    /// The owning account's id.
    pub account_id: String,
}
