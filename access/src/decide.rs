//! The one access decision: bucket policy, ownership, Block Public Access and ACLs combined as
//! in "How Amazon S3 authorizes a request" (S3 User Guide), with a readable explanation.
//! Invariant: `decide` is total and pure; every path that returns says in `decided_by` what
//! decided, and `steps` records every statement and grant it looked at.
//!
//! Simplified from S3: every user is its own account, so there are no identity policies, no
//! account-level Block Public Access, no access points, sessions or service principals; the
//! bucket owner's account has full access to its bucket (S3 grants the root account that, and
//! IAM users of the account have no policies here). Order: explicit Deny, bucket owner, object
//! owner, policy Allow, ACLs, implicit deny. RestrictPublicBuckets with a public policy voids
//! every grant (policy or ACL) to requesters outside the bucket owner's account.

use crate::acl::{self, Acl, AclTarget, Grantee, Group, Permission};
use crate::condition::ConditionContext;
use crate::policy::{Effect, Policy};
use crate::settings::{ObjectOwnership, PublicAccessBlock};
use crate::{Owner, Requester};

/// Everything about a bucket that access depends on.
#[derive(Clone, Copy, Debug)]
pub struct BucketAccess<'a> {
    /// The bucket's owner.
    pub owner: &'a Owner,
    /// The bucket policy, if any.
    pub policy: Option<&'a Policy>,
    /// The bucket's ACL.
    pub acl: &'a Acl,
    /// The bucket's Object Ownership setting.
    pub ownership: ObjectOwnership,
    /// The bucket's Block Public Access settings.
    pub block: PublicAccessBlock,
}

/// One permission a request needs.
#[derive(Clone, Copy, Debug)]
pub struct AccessRequest<'a> {
    /// Who is asking.
    pub requester: &'a Requester,
    /// The policy action, e.g. "s3:GetObject".
    pub action: &'a str,
    /// The bucket name.
    pub bucket: &'a str,
    /// The key, for object actions (resource `arn:aws:s3:::bucket/key`).
    pub key: Option<&'a str>,
    /// For object actions: the object's owner and ACL when the object exists and ACLs matter (None = bucket owner owns it, private).
    pub object: Option<(&'a Owner, &'a Acl)>,
}

/// The outcome of `decide`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Why.
    pub explanation: Explanation,
}

/// A human-readable account of a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// What decided, e.g. `bucket owner`.
    pub decided_by: String,
    /// Every statement, grant and setting considered, in order.
    pub steps: Vec<String>,
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "decided by {}", self.decided_by)?;
        self.steps.iter().try_for_each(|s| writeln!(f, "  - {s}"))
    }
}

fn finish(allowed: bool, decided_by: impl Into<String>, steps: Vec<String>) -> Decision {
    Decision {
        allowed,
        explanation: Explanation {
            decided_by: decided_by.into(),
            steps,
        },
    }
}

/// Decides one permission for one request and explains the decision.
pub fn decide(
    req: &AccessRequest<'_>,
    bucket: &BucketAccess<'_>,
    ctx: &dyn ConditionContext,
) -> Decision {
    let mut steps = vec![
        match req.requester {
            Requester::Anonymous => "requester: anonymous".to_string(),
            Requester::User(p) => format!("requester: user {} (account {})", p.name, p.account_id),
        },
        format!(
            "bucket {}: owner account {}, Object Ownership {}, Block Public Access: {}",
            req.bucket,
            bucket.owner.account_id,
            bucket.ownership.as_str(),
            bucket.block
        ),
    ];
    let resource = match req.key {
        Some(key) => format!("arn:aws:s3:::{}/{key}", req.bucket),
        None => format!("arn:aws:s3:::{}", req.bucket),
    };
    let outcomes = match bucket.policy {
        Some(p) => p.evaluate(req.requester, req.action, &resource, ctx),
        None => {
            steps.push("no bucket policy".to_string());
            Vec::new()
        }
    };
    steps.extend(outcomes.iter().map(|o| o.step.clone()));

    // 1. An explicit Deny wins over everything, the owner included.
    if let Some(deny) = outcomes
        .iter()
        .find(|o| o.applies && o.effect == Effect::Deny)
    {
        let sid = deny
            .sid
            .as_ref()
            .map(|s| format!(" ({s:?})"))
            .unwrap_or_default();
        let by = format!(
            "explicit Deny in statement {}{sid} of the bucket policy",
            deny.index
        );
        return finish(false, by, steps);
    }

    // Under BucketOwnerEnforced the bucket owner owns every object, whoever wrote it.
    let object_owner = match req.object {
        Some((owner, _)) if bucket.ownership.acls_enabled() => owner,
        _ => bucket.owner,
    };
    let is_delete = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(req.action));
    let requester_account = req.requester.account_id();
    let in_owner_account = requester_account == Some(bucket.owner.account_id.as_str());

    // 2. The bucket owner's account.
    if in_owner_account {
        if req.key.is_none() || object_owner.account_id == bucket.owner.account_id {
            return finish(true, "bucket owner", steps);
        }
        if is_delete {
            return finish(
                true,
                "bucket owner (may delete any object in its bucket)",
                steps,
            );
        }
        steps.push(format!(
            "the requester owns the bucket, but the object belongs to account {}",
            object_owner.account_id
        ));
    }

    // 3. The object's owner has FULL_CONTROL of it: it may read it and its ACL and change its
    // ACL, but deleting (or overwriting) it is the bucket's WRITE permission (User Guide, "ACL
    // overview", WRITE: "for the bucket and object owners of existing objects, also allows
    // deletions and overwrites of those objects"), so a delete goes on to the policy and ACLs.
    if req.key.is_some() && requester_account == Some(object_owner.account_id.as_str()) {
        if !is_delete {
            return finish(true, "object owner", steps);
        }
        steps.push(
            "the requester owns the object, but deleting it needs the bucket's permission".into(),
        );
    }

    let restricted = bucket.block.restrict_public_buckets
        && bucket.policy.is_some_and(Policy::is_public)
        && !in_owner_account;
    let restrict = |what: String, mut steps: Vec<String>| {
        steps.push(format!(
            "Block Public Access: RestrictPublicBuckets is on and the bucket policy is public, \
             so {what} does not count for a requester outside the bucket owner's account"
        ));
        finish(false, "Block Public Access: RestrictPublicBuckets", steps)
    };

    // 4. An Allow statement.
    if let Some(allow) = outcomes
        .iter()
        .find(|o| o.applies && o.effect == Effect::Allow)
    {
        let by = format!("{} of the bucket policy", allow.label());
        if restricted {
            return restrict(by, steps);
        }
        return finish(true, by, steps);
    }

    // 5. ACLs.
    if let Some(grant) = acl_grant(req, bucket, &mut steps) {
        if restricted {
            return restrict(grant, steps);
        }
        return finish(true, grant, steps);
    }

    // 6. Nothing allows it.
    finish(
        false,
        "no statement or grant allows it (implicit deny)",
        steps,
    )
}

/// The ACL grant that allows the request, if any; records every grant considered.
fn acl_grant(
    req: &AccessRequest<'_>,
    bucket: &BucketAccess<'_>,
    steps: &mut Vec<String>,
) -> Option<String> {
    if !bucket.ownership.acls_enabled() {
        steps.push(
            "Object Ownership is BucketOwnerEnforced: ACLs are disabled and neither grant nor deny"
                .into(),
        );
        return None;
    }
    // Object writes are granted by the bucket's ACL (WRITE); object reads and ACP by the object's.
    let bucket_write = Permission::Write.grants(req.action, AclTarget::Bucket)
        || req.action.eq_ignore_ascii_case("s3:DeleteObjectVersion");
    let private;
    let (acl, target, on) = match (req.key, req.object) {
        (None, _) => (bucket.acl, AclTarget::Bucket, "bucket"),
        _ if bucket_write => (bucket.acl, AclTarget::Bucket, "bucket"),
        (Some(_), Some((_, acl))) => (acl, AclTarget::Object, "object"),
        (Some(_), None) => {
            private = Acl::private(bucket.owner);
            (&private, AclTarget::Object, "object")
        }
    };
    for grant in &acl.grants {
        let label = format!(
            "ACL grant {} to {} on the {on}",
            grant.permission.as_str(),
            grant.grantee
        );
        if bucket.block.ignore_public_acls && acl::is_public_grantee(&grant.grantee) {
            steps.push(format!(
                "{label}: ignored (Block Public Access: IgnorePublicAcls)"
            ));
            continue;
        }
        let named = match (&grant.grantee, req.requester) {
            (Grantee::Group(Group::AllUsers), _) => true,
            (Grantee::Group(Group::AuthenticatedUsers), Requester::User(_)) => true,
            (Grantee::CanonicalUser { id }, Requester::User(p)) => {
                id.eq_ignore_ascii_case(&p.canonical_id)
            }
            _ => false,
        };
        if !named {
            steps.push(format!("{label}: grantee is not the requester"));
        } else if !grant.permission.grants(req.action, target) {
            steps.push(format!("{label}: does not grant {}", req.action));
        } else {
            steps.push(format!("{label}: grants {}", req.action));
            return Some(label);
        }
    }
    if acl.grants.is_empty() {
        steps.push(format!("the {on} ACL has no grants"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::CannedAcl;
    use crate::condition::MapContext;
    use crate::Principal;

    fn user(name: &str, n: u8) -> Principal {
        let (account_id, canonical_id) = (format!("{n}").repeat(12), format!("{n:x}").repeat(64));
        Principal {
            name: name.into(),
            account_id,
            canonical_id,
        }
    }

    fn owner_of(p: &Principal) -> Owner {
        Owner {
            canonical_id: p.canonical_id.clone(),
            account_id: p.account_id.clone(),
        }
    }

    fn alice() -> Requester {
        Requester::User(user("alice", 1))
    }

    fn bob() -> Requester {
        Requester::User(user("bob", 2))
    }

    fn carol() -> Requester {
        Requester::User(user("carol", 3))
    }

    /// A bucket "b" owned by alice.
    struct World {
        owner: Owner,
        acl: Acl,
        policy: Option<Policy>,
        ownership: ObjectOwnership,
        block: PublicAccessBlock,
    }

    impl World {
        fn new(policy: Option<&str>) -> World {
            let owner = owner_of(&user("alice", 1));
            let policy = policy.map(|p| Policy::parse(p, "b").unwrap_or_else(|e| panic!("{e}")));
            let (ownership, block) = (
                ObjectOwnership::BucketOwnerEnforced,
                PublicAccessBlock::default(),
            );
            World {
                acl: Acl::private(&owner),
                owner,
                policy,
                ownership,
                block,
            }
        }

        fn ask_full(
            &self,
            who: &Requester,
            action: &str,
            key: Option<&str>,
            object: Option<(&Owner, &Acl)>,
            ctx: &MapContext,
        ) -> Decision {
            let bucket = BucketAccess {
                owner: &self.owner,
                policy: self.policy.as_ref(),
                acl: &self.acl,
                ownership: self.ownership,
                block: self.block,
            };
            let req = AccessRequest {
                requester: who,
                action,
                bucket: "b",
                key,
                object,
            };
            decide(&req, &bucket, ctx)
        }

        fn ask(&self, who: &Requester, action: &str, key: Option<&str>) -> Decision {
            self.ask_full(who, action, key, None, &MapContext::new())
        }
    }

    #[track_caller]
    fn assert_decision(d: &Decision, allowed: bool, decided_by: &str) {
        assert_eq!(
            (d.allowed, d.explanation.decided_by.as_str()),
            (allowed, decided_by),
            "{:?}",
            d.explanation
        );
    }

    #[track_caller]
    fn assert_step(d: &Decision, step: &str) {
        assert!(
            d.explanation.steps.iter().any(|s| s == step),
            "{step:?} not in {:#?}",
            d.explanation.steps
        );
    }

    const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowRead","Effect":"Allow",
        "Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"}]}"#;
    const IMPLICIT: &str = "no statement or grant allows it (implicit deny)";

    #[test]
    fn owner_allowed_and_others_implicitly_denied() {
        let w = World::new(None);
        assert_decision(
            &w.ask(&alice(), "s3:PutBucketPolicy", None),
            true,
            "bucket owner",
        );
        let d = w.ask(&bob(), "s3:GetObject", Some("k"));
        assert_decision(&d, false, IMPLICIT);
        let steps = [
            "requester: user bob (account 222222222222)",
            "bucket b: owner account 111111111111, Object Ownership BucketOwnerEnforced, Block Public \
             Access: BlockPublicAcls off, IgnorePublicAcls off, BlockPublicPolicy off, RestrictPublicBuckets off",
            "no bucket policy",
            "Object Ownership is BucketOwnerEnforced: ACLs are disabled and neither grant nor deny",
        ];
        assert_eq!(d.explanation.steps, steps);
    }

    #[test]
    fn allow_statement_and_its_explanation() {
        let w = World::new(Some(PUBLIC_READ));
        let d = w.ask(&Requester::Anonymous, "s3:GetObject", Some("public/a.txt"));
        assert_decision(
            &d,
            true,
            r#"statement "AllowRead" (Allow) of the bucket policy"#,
        );
        let d = w.ask(&bob(), "s3:GetObject", Some("secret.txt"));
        assert_decision(&d, false, IMPLICIT);
        assert_step(
            &d,
            r#"statement 1 ("AllowRead", Allow): resource arn:aws:s3:::b/secret.txt does not match arn:aws:s3:::b/public/*"#,
        );
        let d = w.ask(&bob(), "s3:PutObject", Some("public/x"));
        assert_step(
            &d,
            r#"statement 1 ("AllowRead", Allow): action s3:PutObject not in [s3:GetObject]"#,
        );
    }

    #[test]
    fn explicit_deny_beats_owner_and_allow() {
        let policy = r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"DenyHttp","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],
             "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        let w = World::new(Some(policy));
        let http = MapContext::new().with("aws:SecureTransport", "false");
        for who in [alice(), bob()] {
            let d = w.ask_full(&who, "s3:GetObject", Some("k"), None, &http);
            assert_decision(
                &d,
                false,
                r#"explicit Deny in statement 2 ("DenyHttp") of the bucket policy"#,
            );
        }
        let https = MapContext::new().with("aws:SecureTransport", "true");
        let d = w.ask_full(&bob(), "s3:GetObject", Some("k"), None, &https);
        assert_decision(&d, true, "statement 1 (Allow) of the bucket policy");
        assert_step(
            &d,
            r#"statement 2 ("DenyHttp", Deny): condition Bool aws:SecureTransport ["false"] is false for true"#,
        );
        let d = w.ask(&bob(), "s3:GetObject", Some("k"));
        assert_step(
            &d,
            r#"statement 2 ("DenyHttp", Deny): condition Bool aws:SecureTransport ["false"] is false (key absent)"#,
        );
    }

    #[test]
    fn principals_match_by_arn_root_account_and_canonical_id() {
        let b = user("bob", 2);
        let forms = [
            format!(r#"{{"AWS":"{}"}}"#, b.arn()),
            format!(r#"{{"AWS":"arn:aws:iam::{}:root"}}"#, b.account_id),
            format!(r#"{{"AWS":["{}"]}}"#, b.account_id),
            format!(r#"{{"AWS":"{}"}}"#, b.canonical_id),
            format!(r#"{{"CanonicalUser":"{}"}}"#, b.canonical_id),
            r#"{"AWS":"*"}"#.to_string(),
            r#""*""#.to_string(),
            r#"{"Service":"logging.s3.amazonaws.com"}"#.to_string(),
        ];
        for principal in forms {
            let policy = format!(
                r#"{{"Statement":{{"Sid":"S","Effect":"Allow","Principal":{principal},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}}}}"#
            );
            let w = World::new(Some(&policy));
            let (everyone, service) = (principal.contains('*'), principal.contains("Service"));
            assert_eq!(
                w.ask(&bob(), "s3:ListBucket", None).allowed,
                !service,
                "{principal}"
            );
            assert_eq!(
                w.ask(&carol(), "s3:ListBucket", None).allowed,
                everyone,
                "{principal}"
            );
            assert_eq!(
                w.ask(&Requester::Anonymous, "s3:ListBucket", None).allowed,
                everyone
            );
        }
        let policy = format!(
            r#"{{"Statement":{{"Sid":"OnlyBob","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}}}}"#,
            b.arn()
        );
        let d = World::new(Some(&policy)).ask(&carol(), "s3:ListBucket", None);
        assert_step(
            &d,
            r#"statement 1 ("OnlyBob", Allow): principal does not match (names arn:aws:iam::222222222222:user/bob)"#,
        );
    }

    #[test]
    fn not_principal_deny_spares_only_the_named() {
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::222222222222:user/bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let w = World::new(Some(policy));
        assert!(w.ask(&bob(), "s3:GetObject", Some("k")).allowed);
        // The owner is not named, so the Deny reaches it too.
        for who in [carol(), Requester::Anonymous, alice()] {
            let d = w.ask(&who, "s3:GetObject", Some("k"));
            assert_decision(
                &d,
                false,
                "explicit Deny in statement 2 of the bucket policy",
            );
        }
    }

    #[test]
    fn restrict_public_buckets() {
        let mut w = World::new(Some(PUBLIC_READ));
        w.block.restrict_public_buckets = true;
        for who in [Requester::Anonymous, bob()] {
            let d = w.ask(&who, "s3:GetObject", Some("public/a"));
            assert_decision(&d, false, "Block Public Access: RestrictPublicBuckets");
        }
        assert!(w.ask(&alice(), "s3:GetObject", Some("public/a")).allowed);
        // A non-public policy is unaffected.
        let fixed = PUBLIC_READ.replace(
            r#""Principal":"*""#,
            r#""Principal":{"AWS":"222222222222"}"#,
        );
        let mut w = World::new(Some(&fixed));
        w.block.restrict_public_buckets = true;
        assert!(w.ask(&bob(), "s3:GetObject", Some("public/a")).allowed);
    }

    #[test]
    fn acls_grant_only_when_enabled() {
        let mut w = World::new(None);
        w.acl = CannedAcl::PublicReadWrite.expand(&w.owner, &w.owner);
        assert_decision(
            &w.ask(&Requester::Anonymous, "s3:ListBucket", None),
            false,
            IMPLICIT,
        );
        w.ownership = ObjectOwnership::ObjectWriter;
        let d = w.ask(&Requester::Anonymous, "s3:ListBucket", None);
        assert_decision(&d, true, "ACL grant READ to AllUsers on the bucket");
        assert_step(&d, "ACL grant FULL_CONTROL to canonical user 1111111111111111111111111111111111111111111111111111111111111111 on the bucket: grantee is not the requester");
        assert_decision(
            &w.ask(&bob(), "s3:PutObject", Some("new")),
            true,
            "ACL grant WRITE to AllUsers on the bucket",
        );
        assert!(!w.ask(&bob(), "s3:PutBucketAcl", None).allowed);
        // Bucket READ does not read objects: that is the object ACL's READ.
        assert!(!w.ask(&bob(), "s3:GetObject", Some("k")).allowed);
        w.block.ignore_public_acls = true;
        let d = w.ask(&Requester::Anonymous, "s3:ListBucket", None);
        assert_decision(&d, false, IMPLICIT);
        assert_step(&d, "ACL grant READ to AllUsers on the bucket: ignored (Block Public Access: IgnorePublicAcls)");
    }

    #[test]
    fn object_acls_and_object_owners() {
        let mut w = World::new(None);
        w.ownership = ObjectOwnership::ObjectWriter;
        let bob_owner = owner_of(&user("bob", 2));
        let acl = CannedAcl::AuthenticatedRead.expand(&bob_owner, &w.owner);
        let ctx = MapContext::new();
        let ask = |w: &World, who: &Requester, action: &str| {
            w.ask_full(who, action, Some("k"), Some((&bob_owner, &acl)), &ctx)
        };
        assert_decision(&ask(&w, &bob(), "s3:PutObjectAcl"), true, "object owner");
        // Review of issue 15: the object's owner deleted its object in another owner's bucket
        // without any bucket permission; deleting is the bucket's WRITE.
        let d = ask(&w, &bob(), "s3:DeleteObject");
        assert_decision(&d, false, IMPLICIT);
        assert_step(
            &d,
            "the requester owns the object, but deleting it needs the bucket's permission",
        );
        let d = ask(&w, &carol(), "s3:GetObject");
        assert_decision(
            &d,
            true,
            "ACL grant READ to AuthenticatedUsers on the object",
        );
        assert!(!ask(&w, &Requester::Anonymous, "s3:GetObject").allowed);
        assert!(!ask(&w, &carol(), "s3:GetObjectAcl").allowed);
        // The bucket owner may delete a foreign object but needs a grant for the rest.
        let d = ask(&w, &alice(), "s3:DeleteObject");
        assert_decision(
            &d,
            true,
            "bucket owner (may delete any object in its bucket)",
        );
        let d = ask(&w, &alice(), "s3:GetObjectAcl");
        assert_decision(&d, false, IMPLICIT);
        assert_step(
            &d,
            "the requester owns the bucket, but the object belongs to account 222222222222",
        );
        assert!(
            ask(&w, &alice(), "s3:GetObject").allowed,
            "AuthenticatedUsers READ covers the bucket owner"
        );
        // Under BucketOwnerEnforced the bucket owner owns every object, whoever wrote it.
        w.ownership = ObjectOwnership::BucketOwnerEnforced;
        assert_decision(&ask(&w, &alice(), "s3:GetObjectAcl"), true, "bucket owner");
        assert!(!ask(&w, &bob(), "s3:GetObject").allowed);
    }

    #[test]
    fn explanation_displays_as_lines() {
        let text = World::new(None)
            .ask(&alice(), "s3:ListBucket", None)
            .explanation
            .to_string();
        assert!(
            text.starts_with(
                "decided by bucket owner\n  - requester: user alice (account 111111111111)\n"
            ),
            "{text}"
        );
    }
}
