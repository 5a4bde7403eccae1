//! Bucket policies: parsing and validation as PutBucketPolicy does, public-ness as Block Public
//! Access sees it, and matching a statement against one request.
//! Invariant: a `Policy` has passed every check of `Policy::parse` for its bucket, so evaluation
//! never meets an unknown field, operator, key, action or malformed principal.
//!
//! MalformedPolicy messages confirmed from S3 responses quoted in public reports (aws-cli #2779,
//! AWS re:Post "Invalid principal in policy", client reports of "Missing required field
//! Principal") or in the issue tracker of a gateway tested against S3 (versitygw #645-#650,
//! #1176, #1536): the first-byte rule, "Could not parse the policy: Statement is empty!",
//! "Missing required field Statement", "Invalid effect: X", "Policy has invalid action",
//! "Policy has invalid resource", "Invalid principal in policy", "Missing required field
//! Principal", "Action does not apply to any resource(s) in statement" and "The policy must
//! contain a valid version string". The others are our best reading of S3's wording.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::actions::{self, Scope};
use crate::condition::{self, Condition, ConditionContext};
use crate::wildcard;
use crate::Requester;

/// S3's limit on a bucket policy ("The maximum size of a policy is 20 KB"), counted on the
/// document without insignificant whitespace, as AWS does.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Why PutBucketPolicy rejects a document; the server renders it as 400 MalformedPolicy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    /// S3's message.
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError {
        message: message.into(),
    })
}

/// A statement's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Grants the actions.
    Allow,
    /// Denies the actions, overriding every grant.
    Deny,
}

impl Effect {
    /// "Allow" or "Deny".
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// A parsed, validated bucket policy.
#[derive(Clone, Debug)]
pub struct Policy {
    version: String,
    statements: Vec<Statement>,
}

#[derive(Clone, Debug)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    principal: Principals,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// `Principal` or (negated) `NotPrincipal`.
#[derive(Clone, Debug)]
struct Principals {
    negated: bool,
    entries: Vec<PrincipalEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrincipalKind {
    Aws,
    CanonicalUser,
    /// `Service` and `Federated`: valid, but never a Strata user.
    Other,
}

#[derive(Clone, Debug)]
struct PrincipalEntry {
    kind: PrincipalKind,
    value: String,
}

/// `Action`/`Resource` or their `Not` forms.
#[derive(Clone, Debug)]
struct Patterns {
    negated: bool,
    values: Vec<String>,
}

/// How one statement met one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementOutcome {
    /// 1-based position in the policy.
    pub index: usize,
    /// The statement's Sid, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// Whether principal, action, resource and conditions all match.
    pub applies: bool,
    /// A readable line saying why it applies or not.
    pub step: String,
}

impl StatementOutcome {
    /// `statement "Sid" (Allow)` or `statement 2 (Allow)`.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(sid) => format!("statement {sid:?} ({})", self.effect.as_str()),
            None => format!("statement {} ({})", self.index, self.effect.as_str()),
        }
    }
}

const TOP_FIELDS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// Parses and validates a bucket policy for `bucket`, as PutBucketPolicy does.
    pub fn parse(json: &str, bucket: &str) -> Result<Policy, PolicyError> {
        if !json.trim_start().starts_with('{') {
            return err("Policies must be valid JSON and the first byte must be '{'");
        }
        let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(json) else {
            return err("This policy contains invalid Json");
        };
        let compact = serde_json::to_string(&doc).map_or(usize::MAX, |s| s.len());
        if compact > MAX_POLICY_BYTES {
            return err("Policy exceeds the maximum allowed document size.");
        }
        check_fields(&doc, TOP_FIELDS)?;
        let version = match doc.get("Version") {
            None => "2008-10-17".to_string(),
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => v.clone(),
            Some(_) => return err("The policy must contain a valid version string"),
        };
        if doc.get("Id").is_some_and(|id| !id.is_string()) {
            return err("Policy Id must be a string");
        }
        let raw = match doc.get("Statement") {
            None => return err("Missing required field Statement"),
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(single) => vec![single],
        };
        if raw.is_empty() {
            return err("Could not parse the policy: Statement is empty!");
        }
        let statements = raw
            .into_iter()
            .map(|s| parse_statement(s, bucket))
            .collect::<Result<Vec<_>, _>>()?;
        let mut sids = BTreeSet::new();
        if !statements
            .iter()
            .filter_map(|s| s.sid.as_deref())
            .all(|sid| sids.insert(sid))
        {
            return err("Statement IDs (SID) in a single policy must be unique");
        }
        Ok(Policy {
            version,
            statements,
        })
    }

    /// The policy language version ("2012-10-17" or the default "2008-10-17").
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the policy is public in S3's sense (GetBucketPolicyStatus IsPublic; BlockPublicPolicy).
    pub fn is_public(&self) -> bool {
        // "The meaning of public" (S3 User Guide): an Allow to a wildcard principal is public
        // unless a condition pins a fixed value of a restricting key.
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principal.is_wildcard()
                && !s.conditions.iter().any(Condition::restricts_public_access)
        })
    }

    /// Whether any statement of the policy names a condition key starting with `prefix` (lower-case).
    pub fn uses_condition_key_prefix(&self, prefix: &str) -> bool {
        self.statements.iter().any(|s| {
            s.conditions
                .iter()
                .any(|c| c.lookup_key().to_ascii_lowercase().starts_with(prefix))
        })
    }

    /// Whether `${...}` in the policy are variables (version 2012-10-17) rather than text.
    fn has_variables(&self) -> bool {
        self.version() == "2012-10-17"
    }

    /// Matches every statement against one request (`resource` is the full ARN).
    pub fn evaluate(
        &self,
        requester: &Requester,
        action: &str,
        resource: &str,
        ctx: &dyn ConditionContext,
    ) -> Vec<StatementOutcome> {
        self.statements
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let verdict = s.applies(requester, action, resource, ctx, self.has_variables());
                let head = match &s.sid {
                    Some(sid) => format!("statement {} ({sid:?}, {})", i + 1, s.effect.as_str()),
                    None => format!("statement {} ({})", i + 1, s.effect.as_str()),
                };
                StatementOutcome {
                    index: i + 1,
                    sid: s.sid.clone(),
                    effect: s.effect,
                    applies: verdict.is_ok(),
                    step: match verdict {
                        Ok(()) => format!("{head}: applies"),
                        Err(why) => format!("{head}: {why}"),
                    },
                }
            })
            .collect()
    }
}

fn check_fields(obj: &Map<String, Value>, known: &[&str]) -> Result<(), PolicyError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => err(format!("Unknown field {unknown}")),
        None => Ok(()),
    }
}

/// Exactly one of `name` / `Not{name}`; `(negated, value)`.
fn one_of<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    conflict: &str,
) -> Result<Option<(bool, &'a Value)>, PolicyError> {
    match (obj.get(name), obj.get(&format!("Not{name}"))) {
        (Some(_), Some(_)) => err(conflict),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

/// A string or a non-empty array of strings.
fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn parse_statement(value: &Value, bucket: &str) -> Result<Statement, PolicyError> {
    let Value::Object(obj) = value else {
        return err("This policy contains invalid Json");
    };
    check_fields(obj, STATEMENT_FIELDS)?;
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return err("Statement Sid must be a string"),
    };
    let effect = match obj.get("Effect") {
        None => return err("Missing required field Effect"),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(Value::String(e)) => return err(format!("Invalid effect: {e}")),
        Some(other) => return err(format!("Invalid effect: {other}")),
    };
    let principal = match one_of(obj, "Principal", "Invalid principal in policy")? {
        None => return err("Missing required field Principal"),
        Some((negated, v)) => Principals {
            negated,
            entries: parse_principal(v)?,
        },
    };
    let actions = match one_of(obj, "Action", "Policy has invalid action")? {
        None => return err("Missing required field Action"),
        Some((negated, v)) => Patterns {
            negated,
            values: strings(v).ok_or_else(|| PolicyError {
                message: "Policy has invalid action".into(),
            })?,
        },
    };
    actions.values.iter().try_for_each(|a| check_action(a))?;
    let resources = match one_of(obj, "Resource", "Policy has invalid resource")? {
        None => return err("Missing required field Resource"),
        Some((negated, v)) => Patterns {
            negated,
            values: strings(v).ok_or_else(|| PolicyError {
                message: "Policy has invalid resource".into(),
            })?,
        },
    };
    if !resources.values.iter().all(|r| names_bucket(r, bucket)) {
        return err("Policy has invalid resource");
    }
    if !actions.negated && !resources.negated {
        check_actions_fit_resources(&actions.values, &resources.values, bucket)?;
    }
    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => condition::parse(c)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        actions,
        resources,
        conditions,
    })
}

fn parse_principal(value: &Value) -> Result<Vec<PrincipalEntry>, PolicyError> {
    let invalid = || PolicyError {
        message: "Invalid principal in policy".into(),
    };
    let map = match value {
        Value::String(s) if s == "*" => {
            return Ok(vec![PrincipalEntry {
                kind: PrincipalKind::Aws,
                value: "*".into(),
            }])
        }
        Value::Object(map) if !map.is_empty() => map,
        _ => return Err(invalid()),
    };
    let mut entries = Vec::new();
    for (kind, raw) in map {
        let kind = match kind.as_str() {
            "AWS" => PrincipalKind::Aws,
            "CanonicalUser" => PrincipalKind::CanonicalUser,
            "Service" | "Federated" => PrincipalKind::Other,
            _ => return Err(invalid()),
        };
        for value in strings(raw).ok_or_else(invalid)? {
            let valid = match kind {
                PrincipalKind::Aws => is_valid_aws_principal(&value),
                PrincipalKind::CanonicalUser => value == "*" || is_canonical_id(&value),
                PrincipalKind::Other => !value.is_empty(),
            };
            if !valid {
                return Err(invalid());
            }
            entries.push(PrincipalEntry { kind, value });
        }
    }
    Ok(entries)
}

fn is_canonical_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// "*", an account id, a canonical id, or an IAM/STS ARN naming a root, user or role. IAM does
/// not allow wildcards inside a principal ARN ("Principal" in the IAM JSON policy reference),
/// and IAM groups are not principals.
fn is_valid_aws_principal(s: &str) -> bool {
    if s == "*" || is_account_id(s) || is_canonical_id(s) {
        return true;
    }
    if wildcard::has_wildcard(s) {
        return false;
    }
    let (service, rest) = if let Some(rest) = s.strip_prefix("arn:aws:iam::") {
        ("iam", rest)
    } else if let Some(rest) = s.strip_prefix("arn:aws:sts::") {
        ("sts", rest)
    } else {
        return false;
    };
    let Some((account, resource)) = rest.split_once(':') else {
        return false;
    };
    let named = |p: &str| resource.strip_prefix(p).is_some_and(|n| !n.is_empty());
    is_account_id(account)
        && match service {
            "iam" => resource == "root" || named("user/") || named("role/"),
            _ => named("assumed-role/"),
        }
}

/// An action must be `*` or `s3:...`; without wildcards it must be a known S3 action.
fn check_action(action: &str) -> Result<(), PolicyError> {
    let known = action == "*"
        || (action.len() > 3
            && action
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case("s3:"))
            && (wildcard::has_wildcard(action) || actions::scope(action).is_some()));
    if known {
        Ok(())
    } else {
        err("Policy has invalid action")
    }
}

/// Whether a resource refers to `bucket`: `arn:aws:s3:::bucket`, `.../bucket/...`, or a
/// pattern that continues the bucket name with a wildcard (S3: "must be prefixed with the
/// bucket name"; "each policy must cover only a single bucket").
fn names_bucket(resource: &str, bucket: &str) -> bool {
    let Some(rest) = resource.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    match rest.strip_prefix(bucket) {
        Some(tail) => tail.is_empty() || tail.starts_with('/') || tail.starts_with('*'),
        None => false,
    }
}

/// S3 rejects a statement whose action (e.g. s3:GetObject) fits none of its resources (e.g.
/// only the bucket ARN). A wildcard action is checked through the known actions it covers.
fn check_actions_fit_resources(
    actions: &[String],
    resources: &[String],
    bucket: &str,
) -> Result<(), PolicyError> {
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let has_bucket = resources.iter().any(|r| wildcard::matches(r, &bucket_arn));
    let has_object = resources.iter().any(|r| {
        let tail = r.get(bucket_arn.len()..).unwrap_or_default();
        tail.starts_with('/') || tail.starts_with('*')
    });
    for action in actions {
        let pattern = action.to_ascii_lowercase();
        let mut covered = actions::all()
            .filter(|(a, _)| wildcard::matches(&pattern, &a.to_ascii_lowercase()))
            .peekable();
        // A wildcard covering no known action cannot be checked; S3 accepts it too.
        if covered.peek().is_none() {
            continue;
        }
        let fits = covered.any(|(_, scope)| match scope {
            Scope::Bucket => has_bucket,
            Scope::Object => has_object,
            Scope::Account => false,
        });
        if !fits {
            return err("Action does not apply to any resource(s) in statement");
        }
    }
    Ok(())
}

impl Principals {
    /// Whether the statement reaches everyone (a wildcard principal, or any NotPrincipal).
    fn is_wildcard(&self) -> bool {
        self.negated || self.entries.iter().any(|e| e.value == "*")
    }

    fn names(&self) -> String {
        self.entries
            .iter()
            .map(|e| match e.kind {
                PrincipalKind::CanonicalUser if e.value != "*" => {
                    format!("canonical user {}", e.value)
                }
                _ => e.value.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl PrincipalEntry {
    /// Whether this entry names the requester. Anonymous requests match only "*".
    fn matches(&self, requester: &Requester) -> bool {
        if self.kind == PrincipalKind::Other {
            return false;
        }
        if self.value == "*" {
            return true;
        }
        let Requester::User(p) = requester else {
            return false;
        };
        let v = self.value.as_str();
        v == p.canonical_id
            || (self.kind == PrincipalKind::Aws
                && (v == p.account_id
                    || v == p.arn()
                    || v == format!("arn:aws:iam::{}:root", p.account_id)))
    }
}

impl Statement {
    fn applies(
        &self,
        requester: &Requester,
        action: &str,
        resource: &str,
        ctx: &dyn ConditionContext,
        variables: bool,
    ) -> Result<(), String> {
        let named = self.principal.entries.iter().any(|e| e.matches(requester));
        match (self.principal.negated, named) {
            (false, false) => {
                return Err(format!(
                    "principal does not match (names {})",
                    self.principal.names()
                ))
            }
            (true, true) => {
                return Err(format!(
                    "principal is excluded by NotPrincipal ({})",
                    self.principal.names()
                ))
            }
            _ => {}
        }
        let action_lower = action.to_ascii_lowercase();
        let action_hit = self
            .actions
            .values
            .iter()
            .any(|a| wildcard::matches(&a.to_ascii_lowercase(), &action_lower));
        let listed = self.actions.values.join(", ");
        match (self.actions.negated, action_hit) {
            (false, false) => return Err(format!("action {action} not in [{listed}]")),
            (true, true) => {
                return Err(format!(
                    "action {action} is excluded by NotAction [{listed}]"
                ))
            }
            _ => {}
        }
        let resource_hit = self.resources.values.iter().any(|r| {
            if !variables {
                return wildcard::matches(r, resource);
            }
            crate::variables::substitute(r, ctx).is_some_and(|r| wildcard::matches(&r, resource))
        });
        let listed = match self.resources.values.as_slice() {
            [one] => one.clone(),
            many => format!("any of [{}]", many.join(", ")),
        };
        match (self.resources.negated, resource_hit) {
            (false, false) => return Err(format!("resource {resource} does not match {listed}")),
            (true, true) => {
                return Err(format!(
                    "resource {resource} is excluded by NotResource {listed}"
                ))
            }
            _ => {}
        }
        self.conditions
            .iter()
            .try_for_each(|c| c.evaluate(ctx, variables))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::MapContext;
    use crate::Principal;

    fn parse_err(json: &str) -> String {
        match Policy::parse(json, "b") {
            Ok(_) => "accepted".into(),
            Err(e) => e.message,
        }
    }

    /// A one-statement policy with `fields` spliced into an otherwise valid statement.
    fn with(fields: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{{{fields}}}]}}"#)
    }

    const OK: &str =
        r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#;

    /// The statement `OK` with `from` replaced by `to`.
    fn swap(from: &str, to: &str) -> String {
        with(&OK.replace(from, to))
    }

    #[track_caller]
    fn rejects(json: &str, message: &str) {
        assert_eq!(parse_err(json), message, "{json}");
    }

    #[test]
    fn malformed_policy_messages() {
        rejects(
            "[]",
            "Policies must be valid JSON and the first byte must be '{'",
        );
        rejects("{\"Statement\": ", "This policy contains invalid Json");
        rejects(
            &format!("{{\"Statement\":[{{{OK}}}],\"X\":1}}"),
            "Unknown field X",
        );
        let version = format!("{{\"Version\":\"2020-01-01\",\"Statement\":[{{{OK}}}]}}");
        rejects(&version, "The policy must contain a valid version string");
        rejects(
            "{\"Version\":\"2012-10-17\"}",
            "Missing required field Statement",
        );
        rejects(
            "{\"Statement\":[]}",
            "Could not parse the policy: Statement is empty!",
        );
        rejects(&with(&format!("{OK},\"Foo\":1")), "Unknown field Foo");
        rejects(
            &swap(r#""Effect":"Allow","#, ""),
            "Missing required field Effect",
        );
        rejects(&swap("Allow", "hello"), "Invalid effect: hello");
        rejects(
            &swap(r#""Principal":"*","#, ""),
            "Missing required field Principal",
        );
        for bad in [
            r#""bob""#,
            r#"{"AWS":"arn:aws:iam::*:root"}"#,
            r#"{"AWS":"arn:aws:iam::111122223333:user/*"}"#,
            r#"{"AWS":"arn:aws:iam::111122223333:group/admins"}"#,
            r#"{"AWS":[]}"#,
            r#"{"Users":"x"}"#,
        ] {
            rejects(&swap(r#""*""#, bad), "Invalid principal in policy");
        }
        for bad in ["iam:PassRole", "s3:GetObjekt", "invalid_action"] {
            rejects(&swap("s3:GetObject", bad), "Policy has invalid action");
        }
        rejects(
            &swap(r#""Action":"s3:GetObject","#, ""),
            "Missing required field Action",
        );
        rejects(
            &swap(r#","Resource":"arn:aws:s3:::b/*""#, ""),
            "Missing required field Resource",
        );
        for bad in [
            "arn:aws:s3:::other/*",
            "arn:aws:s3:::*",
            "arn:aws:s3:::bb/*",
            "*",
        ] {
            rejects(
                &swap("arn:aws:s3:::b/*", bad),
                "Policy has invalid resource",
            );
        }
        let misfit = "Action does not apply to any resource(s) in statement";
        rejects(&swap("arn:aws:s3:::b/*", "arn:aws:s3:::b"), misfit);
        rejects(&swap("s3:GetObject", "s3:ListBucket"), misfit);
        rejects(&swap("s3:GetObject", "s3:ListAllMyBuckets"), misfit);
        let condition = |c: &str| with(&format!(r#"{OK},"Condition":{c}"#));
        let bad_key = condition(r#"{"StringEquals":{"s3:nope":"x"}}"#);
        rejects(&bad_key, "Policy has an invalid condition key");
        let bad_type = condition(r#"{"StringMatches":{"s3:prefix":"x"}}"#);
        rejects(&bad_type, "Invalid Condition type : StringMatches");
        let twice = format!(r#"{{"Statement":[{{"Sid":"A",{OK}}},{{"Sid":"A",{OK}}}]}}"#);
        rejects(
            &twice,
            "Statement IDs (SID) in a single policy must be unique",
        );
        let padding = "x".repeat(MAX_POLICY_BYTES);
        let big = format!(r#"{{"Id":"{padding}","Statement":[{{{OK}}}]}}"#);
        rejects(&big, "Policy exceeds the maximum allowed document size.");
        // Whitespace does not count towards the limit.
        let spaced = format!(
            "{{\"Statement\":[{{{OK}}}]{}}}",
            " ".repeat(MAX_POLICY_BYTES)
        );
        rejects(&spaced, "accepted");
    }

    #[test]
    fn accepted_forms() {
        for json in [
            format!("{{\"Statement\":{{{OK}}}}}"),
            format!("  \n{{\"Version\":\"2008-10-17\",\"Id\":\"p1\",\"Statement\":[{{{OK}}}]}}"),
            with(
                r#""Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/r"]},"NotAction":"s3:Get*","NotResource":"arn:aws:s3:::b/x""#,
            ),
            with(
                r#""Effect":"Allow","Principal":{"Service":["logging.s3.amazonaws.com"]},"Action":["s3:*"],"Resource":"arn:aws:s3:::b""#,
            ),
            with(
                r#""Effect":"Allow","Principal":{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"S3:getobject","Resource":"arn:aws:s3:::b*""#,
            ),
            with(
                r#""Effect":"Allow","Principal":"*","Action":["s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]"#,
            ),
        ] {
            assert_eq!(parse_err(&json), "accepted", "{json}");
        }
        let p = Policy::parse(&format!("{{\"Statement\":{{{OK}}}}}"), "b");
        assert_eq!(
            p.map(|p| p.version().to_string()),
            Ok("2008-10-17".to_string())
        );
    }

    #[test]
    fn action_wildcards_are_case_insensitive_and_resources_are_not() {
        let docs = r#""Effect":"Allow","Principal":"*","Action":"s3:get*","Resource":"arn:aws:s3:::b/Docs/*.txt""#;
        let qmark = r#""Effect":"Allow","Principal":"*","Action":"s3:GetObjec?","Resource":"arn:aws:s3:::b/l-??.gz""#;
        let not = r#""Effect":"Allow","Principal":"*","NotAction":"s3:Delete*","NotResource":"arn:aws:s3:::b/p/*""#;
        let all = r#""Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::b""#;
        let cases = [
            (docs, "s3:GetObject", "b/Docs/a.txt", true),
            (docs, "S3:GETOBJECTACL", "b/Docs/x/y.txt", true),
            (docs, "s3:PutObject", "b/Docs/a.txt", false),
            (docs, "s3:GetObject", "b/docs/a.txt", false),
            (qmark, "s3:getobject", "b/l-24.gz", true),
            (qmark, "s3:GetObject", "b/l-2024.gz", false),
            (not, "s3:GetObject", "b/a", true),
            (not, "s3:DeleteObject", "b/a", false),
            (not, "s3:GetObject", "b/p/a", false),
            (all, "s3:ListBucket", "b", true),
        ];
        for (statement, action, resource, expected) in cases {
            let resource = format!("arn:aws:s3:::{resource}");
            let outcome = Policy::parse(&with(statement), "b")
                .map(|p| p.evaluate(&Requester::Anonymous, action, &resource, &MapContext::new()));
            let applies = outcome.map(|o| o.iter().all(|o| o.applies));
            assert_eq!(applies, Ok(expected), "{statement} {action} {resource}");
        }
    }

    #[test]
    fn public_policies() {
        let public = |statement: &str| Policy::parse(&with(statement), "b").map(|p| p.is_public());
        let cond = |c: &str| format!(r#"{OK},"Condition":{c}"#);
        assert_eq!(public(OK), Ok(true));
        assert_eq!(public(&OK.replace("Allow", "Deny")), Ok(false));
        let cases = [
            (OK.replace(r#""*""#, r#"{"AWS":"111122223333"}"#), false),
            (
                OK.replace(r#""*""#, r#"{"AWS":["111122223333","*"]}"#),
                true,
            ),
            (OK.replace(r#""Principal""#, r#""NotPrincipal""#), true),
            (
                cond(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
                false,
            ),
            (cond(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#), true),
            (
                cond(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
                true,
            ),
            (cond(r#"{"StringEquals":{"s3:prefix":"fixed"}}"#), true),
            (cond(r#"{"Bool":{"aws:SecureTransport":"true"}}"#), true),
        ];
        for (statement, expected) in cases {
            assert_eq!(public(&statement), Ok(expected), "{statement}");
        }
        for key in [
            "aws:SourceArn",
            "aws:SourceVpc",
            "aws:SourceVpce",
            "aws:SourceAccount",
            "aws:SourceOwner",
            "aws:PrincipalAccount",
            "aws:PrincipalOrgID",
            "aws:userid",
            "s3:DataAccessPointArn",
            "s3:DataAccessPointAccount",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
        ] {
            for (operator, value, expected) in [
                ("StringEquals", "fixed-1", false),
                ("StringLike", "fixed-*", true),
                ("StringEqualsIfExists", "fixed", true),
                ("ForAllValues:StringEquals", "fixed", true),
            ] {
                let statement = cond(&format!(r#"{{"{operator}":{{"{key}":"{value}"}}}}"#));
                assert_eq!(public(&statement), Ok(expected), "{statement}");
            }
        }
    }

    #[test]
    fn condition_key_prefixes() {
        let json = with(&format!(
            r#"{OK},"Condition":{{"StringEquals":{{"s3:ExistingObjectTag/Team":"x"}}}}"#
        ));
        let p = Policy::parse(&json, "b").map_err(|e| e.message);
        assert_eq!(
            p.as_ref()
                .map(|p| p.uses_condition_key_prefix("s3:existingobjecttag/")),
            Ok(true)
        );
        assert_eq!(p.map(|p| p.uses_condition_key_prefix("aws:")), Ok(false));
    }

    #[test]
    fn not_principal_step_text() {
        let (name, account_id, canonical_id) =
            ("alice".into(), "111122223333".into(), "a".repeat(64));
        let alice = Requester::User(Principal {
            name,
            account_id,
            canonical_id,
        });
        let json = OK.replace(
            r#""Principal":"*""#,
            r#""Sid":"X","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
        );
        let ctx = MapContext::new();
        let steps = Policy::parse(&with(&json.replace("Allow", "Deny")), "b")
            .map(|p| p.evaluate(&alice, "s3:GetObject", "arn:aws:s3:::b/k", &ctx))
            .map(|o| o.into_iter().map(|o| o.step).collect::<Vec<_>>());
        assert_eq!(
            steps,
            Ok(vec![r#"statement 1 ("X", Deny): principal is excluded by NotPrincipal (arn:aws:iam::111122223333:user/alice)"#.to_string()])
        );
    }

    #[test]
    fn variables_in_resources_and_conditions_take_the_request_values() {
        let doc = |version: &str| {
            format!(
                r#"{{"Version":"{version}","Statement":[{{"Effect":"Allow","Principal":"*",
                "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/home/${{aws:username}}/*",
                "Condition":{{"StringEquals":{{"aws:PrincipalAccount":"${{aws:PrincipalAccount}}"}}}}}}]}}"#
            )
        };
        let ctx = MapContext::new()
            .with("aws:username", "alice")
            .with("aws:PrincipalAccount", "111122223333");
        let applies = |version: &str, resource: &str| {
            let policy = Policy::parse(&doc(version), "b").unwrap();
            policy.evaluate(&Requester::Anonymous, "s3:GetObject", resource, &ctx)[0].applies
        };
        assert!(applies("2012-10-17", "arn:aws:s3:::b/home/alice/notes"));
        assert!(!applies("2012-10-17", "arn:aws:s3:::b/home/bob/notes"));
        // In a 2008-10-17 policy the text is literal.
        assert!(!applies("2008-10-17", "arn:aws:s3:::b/home/alice/notes"));
        // An absent key matches nothing.
        let policy = Policy::parse(&doc("2012-10-17"), "b").unwrap();
        let outcome = policy.evaluate(
            &Requester::Anonymous,
            "s3:GetObject",
            "arn:aws:s3:::b/home/alice/notes",
            &MapContext::new(),
        );
        assert!(!outcome[0].applies);
    }
}
