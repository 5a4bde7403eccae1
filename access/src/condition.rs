//! The `Condition` element: operators, keys and IAM's evaluation rules.
//! Invariant: a parsed `Condition` names a known operator and a valid key, so evaluation is
//! total; values the operator cannot read (a bad date or address) simply fail to match.
//!
//! Semantics follow the IAM User Guide ("Condition operators" and "Conditions with multiple
//! context keys or values"): operators and keys are ANDed, the values of one key ORed (NOR for
//! negated operators); a missing key makes a condition false, except that negated operators and
//! `...IfExists` are then true, `Null` tests presence, `ForAllValues` is true and `ForAnyValue`
//! false.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::policy::PolicyError;
use crate::wildcard;

/// The values a condition key has for the request being decided; None = key absent.
pub trait ConditionContext {
    /// `key` is given lower-cased, except the tag name after `s3:existingobjecttag/` or `s3:requestobjecttag/`.
    fn values(&self, key: &str) -> Option<Vec<String>>;
}

/// A condition context backed by a map from normalized key to values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapContext(pub BTreeMap<String, Vec<String>>);

impl MapContext {
    /// An empty context (every key absent).
    pub fn new() -> MapContext {
        MapContext::default()
    }

    /// Adds one value for `key` (normalized with `normalize_condition_key`).
    pub fn with(mut self, key: &str, value: &str) -> MapContext {
        self.0
            .entry(normalize_condition_key(key))
            .or_default()
            .push(value.to_string());
        self
    }
}

impl ConditionContext for MapContext {
    fn values(&self, key: &str) -> Option<Vec<String>> {
        self.0.get(key).cloned()
    }
}

/// Tag-key prefixes whose suffix (the tag name) keeps its case.
const TAG_PREFIXES: &[&str] = &["s3:existingobjecttag/", "s3:requestobjecttag/"];

/// A condition key as `ConditionContext::values` receives it: lower-cased, except a tag name.
pub fn normalize_condition_key(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    for prefix in TAG_PREFIXES {
        if lower.starts_with(prefix) {
            return format!("{prefix}{}", &key[prefix.len()..]);
        }
    }
    lower
}

/// The `s3:` condition keys S3 accepts in a bucket policy (lower-case; tag keys by prefix).
#[rustfmt::skip]
const S3_KEYS: &[&str] = &[
    "s3:accesspointnetworkorigin", "s3:authtype", "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn", "s3:delimiter", "s3:if-match", "s3:if-none-match",
    "s3:locationconstraint", "s3:max-keys", "s3:object-lock-legal-hold", "s3:object-lock-mode",
    "s3:object-lock-remaining-retention-days", "s3:object-lock-retain-until-date",
    "s3:objectcreationoperation", "s3:prefix", "s3:requestobjecttagkeys", "s3:resourceaccount",
    "s3:signatureage", "s3:signatureversion", "s3:tlsversion", "s3:versionid", "s3:x-amz-acl",
    "s3:x-amz-content-sha256", "s3:x-amz-copy-source", "s3:x-amz-grant-full-control",
    "s3:x-amz-grant-read", "s3:x-amz-grant-read-acp", "s3:x-amz-grant-write",
    "s3:x-amz-grant-write-acp", "s3:x-amz-metadata-directive", "s3:x-amz-object-ownership",
    "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-storage-class",
    "s3:x-amz-website-redirect-location",
];

/// Whether S3 accepts `key` (already normalized) in a bucket policy.
fn is_valid_key(key: &str) -> bool {
    // Every `aws:` global key is accepted; we do not keep IAM's full list of them.
    if let Some(rest) = key.strip_prefix("aws:") {
        return !rest.is_empty();
    }
    if TAG_PREFIXES
        .iter()
        .any(|p| key.len() > p.len() && key.to_ascii_lowercase().starts_with(p))
    {
        return true;
    }
    S3_KEYS.contains(&key)
}

/// How an operator compares a policy value with a request value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Str,
    StrIgnoreCase,
    Like,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Ip,
    Arn,
    Binary,
    Null,
}

/// An ordering test for numbers and dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// Base operators: (name, family, negated).
const OPERATORS: &[(&str, Family, bool)] = &[
    ("StringEquals", Family::Str, false),
    ("StringNotEquals", Family::Str, true),
    ("StringEqualsIgnoreCase", Family::StrIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Family::StrIgnoreCase, true),
    ("StringLike", Family::Like, false),
    ("StringNotLike", Family::Like, true),
    ("NumericEquals", Family::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Family::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Family::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Family::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Family::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Family::Numeric(Cmp::Ge), false),
    ("DateEquals", Family::Date(Cmp::Eq), false),
    ("DateNotEquals", Family::Date(Cmp::Eq), true),
    ("DateLessThan", Family::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Family::Date(Cmp::Le), false),
    ("DateGreaterThan", Family::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Family::Date(Cmp::Ge), false),
    ("Bool", Family::Bool, false),
    ("IpAddress", Family::Ip, false),
    ("NotIpAddress", Family::Ip, true),
    ("ArnEquals", Family::Arn, false),
    ("ArnLike", Family::Arn, false),
    ("ArnNotEquals", Family::Arn, true),
    ("ArnNotLike", Family::Arn, true),
    ("BinaryEquals", Family::Binary, false),
    ("Null", Family::Null, false),
];

/// A set operator prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// One (operator, key, values) triple of a statement's `Condition` element.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    /// The operator as written, e.g. `ForAnyValue:StringLikeIfExists`.
    operator: String,
    /// The key as written, e.g. `aws:SourceIp`.
    key: String,
    /// The key as looked up in the context.
    lookup: String,
    values: Vec<String>,
    family: Family,
    negated: bool,
    if_exists: bool,
    set: SetOp,
}

fn invalid(message: impl Into<String>) -> PolicyError {
    PolicyError {
        message: message.into(),
    }
}

/// Parses a statement's `Condition` element.
pub(crate) fn parse(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return Err(invalid("Policy has an invalid condition value"));
    };
    let mut out = Vec::new();
    for (operator, block) in operators {
        let (family, negated, if_exists, set) = parse_operator(operator)
            .ok_or_else(|| invalid(format!("Invalid Condition type : {operator}")))?;
        let Value::Object(keys) = block else {
            return Err(invalid("Policy has an invalid condition value"));
        };
        for (key, raw) in keys {
            let lookup = normalize_condition_key(key);
            if !is_valid_key(&lookup) {
                return Err(invalid("Policy has an invalid condition key"));
            }
            let values = condition_values(raw)
                .ok_or_else(|| invalid("Policy has an invalid condition value"))?;
            out.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                lookup,
                values,
                family,
                negated,
                if_exists,
                set,
            });
        }
    }
    Ok(out)
}

/// Splits `ForAnyValue:StringLikeIfExists` into its parts; None for an unknown operator.
fn parse_operator(op: &str) -> Option<(Family, bool, bool, SetOp)> {
    let (set, rest) = match op.split_once(':') {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("ForAnyValue") => {
            (SetOp::ForAnyValue, rest)
        }
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("ForAllValues") => {
            (SetOp::ForAllValues, rest)
        }
        Some(_) => return None,
        None => (SetOp::Single, op),
    };
    let lookup = |name: &str| {
        OPERATORS
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, f, neg)| (f, neg))
    };
    if let Some((family, negated)) = lookup(rest) {
        return Some((family, negated, false, set));
    }
    let base = rest
        .len()
        .checked_sub("IfExists".len())
        .filter(|&i| rest.is_char_boundary(i) && rest[i..].eq_ignore_ascii_case("IfExists"))
        .map(|i| &rest[..i])?;
    // `Null` already tests presence, so IAM has no `NullIfExists`.
    match lookup(base)? {
        (Family::Null, _) => None,
        (family, negated) => Some((family, negated, true, set)),
    }
}

/// A condition value: a string, number or boolean, or an array of them.
fn condition_values(raw: &Value) -> Option<Vec<String>> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match raw {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => None,
        other => scalar(other).map(|s| vec![s]),
    }
}

impl Condition {
    /// The normalized key this condition reads.
    pub(crate) fn lookup_key(&self) -> &str {
        &self.lookup
    }

    /// Whether this condition restricts a wildcard principal in S3's sense of "not public":
    /// a fixed value for one of the keys listed in "The meaning of public" (S3 User Guide).
    pub(crate) fn restricts_public_access(&self) -> bool {
        // Missing keys pass IfExists and ForAllValues, and negations allow everything else.
        if self.if_exists || self.negated || self.set == SetOp::ForAllValues {
            return false;
        }
        const FIXED_VALUE_KEYS: &[&str] = &[
            "aws:sourcearn",
            "aws:sourcevpc",
            "aws:sourcevpce",
            "aws:sourceowner",
            "aws:sourceaccount",
            "aws:principalaccount",
            "aws:principalarn",
            "aws:principalorgid",
            "aws:userid",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
            "s3:dataaccesspointarn",
            "s3:dataaccesspointaccount",
        ];
        let fixed = |v: &String| !wildcard::has_wildcard(v) && !v.contains("${");
        match self.family {
            Family::Ip => {
                self.lookup == "aws:sourceip"
                    && self.values.iter().all(|v| {
                        v.parse::<IpNet>()
                            .map(|n| n.prefix_len() > 0)
                            .unwrap_or_else(|_| v.parse::<IpAddr>().is_ok())
                    })
            }
            Family::Str | Family::StrIgnoreCase | Family::Like | Family::Arn => {
                FIXED_VALUE_KEYS.contains(&self.lookup.as_str()) && self.values.iter().all(fixed)
            }
            _ => false,
        }
    }

    /// Evaluates the condition; `Err` says why it is false.
    pub(crate) fn evaluate(
        &self,
        ctx: &dyn ConditionContext,
        variables: bool,
    ) -> Result<(), String> {
        let present = ctx.values(&self.lookup).filter(|v| !v.is_empty());
        // Policy variables in the values take the request's values; one that cannot be
        // replaced matches nothing.
        let substituted: Vec<String>;
        let policy_values: &[String] = if variables && self.values.iter().any(|v| v.contains("${"))
        {
            substituted = self
                .values
                .iter()
                .filter_map(|v| crate::variables::substitute(v, ctx).map(|c| c.into_owned()))
                .collect();
            &substituted
        } else {
            &self.values
        };
        let holds = match (&present, self.family) {
            (_, Family::Null) => {
                // "true" asks for an absent key, "false" for a present one; values are ORed.
                self.values
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case("true") == present.is_none())
            }
            (None, _) => match self.set {
                _ if self.if_exists => true,
                SetOp::ForAllValues => true,
                SetOp::ForAnyValue => false,
                SetOp::Single => self.negated,
            },
            (Some(request), _) => {
                let one = |r: &String| {
                    let any = policy_values.iter().any(|p| self.matches(p, r));
                    any != self.negated
                };
                match self.set {
                    SetOp::ForAllValues => request.iter().all(one),
                    SetOp::ForAnyValue => request.iter().any(one),
                    // Without a set operator IAM compares the request's values as a whole.
                    SetOp::Single => {
                        request
                            .iter()
                            .any(|r| policy_values.iter().any(|p| self.matches(p, r)))
                            != self.negated
                    }
                }
            }
        };
        if holds {
            return Ok(());
        }
        let listed = self
            .values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let head = format!(
            "condition {} {} [{listed}] is false",
            self.operator, self.key
        );
        Err(match present {
            None => format!("{head} (key absent)"),
            Some(values) => format!("{head} for {}", values.join(", ")),
        })
    }

    /// Whether one policy value matches one request value (the positive form of the operator).
    fn matches(&self, policy: &str, request: &str) -> bool {
        match self.family {
            Family::Str | Family::Binary => policy == request,
            Family::StrIgnoreCase => policy.to_lowercase() == request.to_lowercase(),
            Family::Like => wildcard::matches(policy, request),
            Family::Numeric(cmp) => match (policy.trim().parse::<f64>(), request.trim().parse()) {
                (Ok(p), Ok(r)) => cmp.holds(r, p),
                _ => false,
            },
            Family::Date(cmp) => match (parse_date(policy), parse_date(request)) {
                (Some(p), Some(r)) => cmp.holds(r, p),
                _ => false,
            },
            Family::Bool => policy.eq_ignore_ascii_case(request),
            Family::Ip => ip_matches(policy, request),
            Family::Arn => arn_matches(policy, request),
            Family::Null => false,
        }
    }
}

/// A date as Unix nanoseconds: ISO 8601 (RFC 3339, a date-time without offset as UTC, or a
/// plain date) or epoch seconds, the forms the IAM date operators accept.
fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let naive = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][optional [Z]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(s, naive) {
        return Some(t.assume_utc().unix_timestamp_nanos());
    }
    let date = format_description!("[year]-[month]-[day]");
    Date::parse(s, date)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp_nanos())
}

/// Whether the request address lies in the policy's CIDR (or equals its plain address).
fn ip_matches(policy: &str, request: &str) -> bool {
    let Ok(addr) = request.trim().parse::<IpAddr>() else {
        return false;
    };
    let policy = policy.trim();
    match policy.parse::<IpNet>() {
        Ok(net) => net.contains(&addr),
        Err(_) => policy.parse::<IpAddr>() == Ok(addr),
    }
}

/// IAM's ARN comparison: each of the six colon-separated parts matched with wildcards.
fn arn_matches(policy: &str, request: &str) -> bool {
    let p: Vec<&str> = policy.splitn(6, ':').collect();
    let r: Vec<&str> = request.splitn(6, ':').collect();
    p.len() == 6 && r.len() == 6 && p.iter().zip(&r).all(|(p, r)| wildcard::matches(p, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(condition: &Value, ctx: &MapContext) -> Result<(), String> {
        let conditions = parse(condition).map_err(|e| e.message)?;
        conditions.iter().try_for_each(|c| c.evaluate(ctx, true))
    }

    /// Asserts on a context that each condition holds, or fails.
    trait Check {
        fn holds(&self, conditions: &[Value]);
        fn fails(&self, conditions: &[Value]);
    }

    impl Check for MapContext {
        #[track_caller]
        fn holds(&self, conditions: &[Value]) {
            conditions
                .iter()
                .for_each(|c| assert_eq!(eval(c, self), Ok(()), "{c}"));
        }

        #[track_caller]
        fn fails(&self, conditions: &[Value]) {
            conditions
                .iter()
                .for_each(|c| assert!(eval(c, self).is_err(), "{c}"));
        }
    }

    #[test]
    fn string_operators() {
        let ctx = MapContext::new().with("s3:prefix", "home/Alice/");
        ctx.holds(&[
            json!({"StringEquals": {"s3:prefix": "home/Alice/"}}),
            json!({"StringEqualsIgnoreCase": {"s3:prefix": "HOME/alice/"}}),
            json!({"StringLike": {"s3:prefix": ["x/*", "home/*/"]}}),
            json!({"StringLike": {"s3:prefix": "home/?lice/"}}),
            json!({"StringNotEquals": {"s3:prefix": ["a", "b"]}}),
        ]);
        ctx.fails(&[
            json!({"StringEquals": {"s3:prefix": "home/alice/"}}),
            json!({"StringNotEqualsIgnoreCase": {"s3:prefix": "HOME/alice/"}}),
            json!({"StringNotLike": {"s3:prefix": "home/*"}}),
            // Negated operators with several values are a NOR.
            json!({"StringNotEquals": {"s3:prefix": ["a", "home/Alice/"]}}),
        ]);
    }

    #[test]
    fn keys_are_case_insensitive_but_tag_names_are_not() {
        let ctx = MapContext::new()
            .with("AWS:SourceIp", "10.1.2.3")
            .with("s3:ExistingObjectTag/Project", "blue");
        ctx.holds(&[
            json!({"IpAddress": {"aws:sourceip": "10.0.0.0/8"}}),
            json!({"StringEquals": {"S3:EXISTINGOBJECTTAG/Project": "blue"}}),
        ]);
        ctx.fails(&[json!({"StringEquals": {"s3:ExistingObjectTag/project": "blue"}})]);
        let key = normalize_condition_key("S3:RequestObjectTag/Env");
        assert_eq!(key, "s3:requestobjecttag/Env");
    }

    #[test]
    fn numeric_and_bool() {
        let ctx = MapContext::new()
            .with("s3:max-keys", "50")
            .with("aws:SecureTransport", "false");
        ctx.holds(&[
            json!({"NumericEquals": {"s3:max-keys": 50}}),
            json!({"NumericNotEquals": {"s3:max-keys": "10"}}),
            json!({"NumericLessThan": {"s3:max-keys": "51"}}),
            json!({"NumericLessThanEquals": {"s3:max-keys": "50"}}),
            json!({"NumericGreaterThan": {"s3:max-keys": "49.5"}}),
            json!({"NumericGreaterThanEquals": {"s3:max-keys": "50"}}),
            json!({"Bool": {"aws:SecureTransport": false}}),
        ]);
        ctx.fails(&[
            json!({"NumericLessThan": {"s3:max-keys": "50"}}),
            json!({"NumericEquals": {"s3:max-keys": "fifty"}}),
            json!({"Bool": {"aws:SecureTransport": "true"}}),
        ]);
    }

    #[test]
    fn dates_in_iso_8601_and_epoch_seconds() {
        let ctx = MapContext::new()
            .with("aws:CurrentTime", "2024-06-01T12:00:00Z")
            .with("aws:EpochTime", "1717243200");
        ctx.holds(&[
            json!({"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}),
            json!({"DateLessThan": {"aws:CurrentTime": "2024-06-02"}}),
            json!({"DateEquals": {"aws:CurrentTime": "2024-06-01T14:00:00+02:00"}}),
            json!({"DateEquals": {"aws:CurrentTime": "2024-06-01T12:00:00"}}),
            json!({"DateEquals": {"aws:CurrentTime": 1717243200}}),
            json!({"DateNotEquals": {"aws:CurrentTime": "2024-06-01T12:00:01Z"}}),
            json!({"DateLessThanEquals": {"aws:CurrentTime": "1717243200"}}),
            json!({"DateGreaterThanEquals": {"aws:CurrentTime": "2024-06-01T12:00:00.000Z"}}),
            json!({"DateLessThan": {"aws:EpochTime": "2024-06-01T12:00:01Z"}}),
        ]);
        ctx.fails(&[
            json!({"DateGreaterThan": {"aws:CurrentTime": "not a date"}}),
            json!({"DateLessThan": {"aws:EpochTime": "2024-06-01T12:00:00Z"}}),
        ]);
    }

    #[test]
    fn ip_addresses_v4_and_v6() {
        let v4 = MapContext::new().with("aws:SourceIp", "192.0.2.10");
        let v6 = MapContext::new().with("aws:SourceIp", "2001:db8::1");
        let both = json!({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}});
        v4.holds(&[
            both.clone(),
            json!({"IpAddress": {"aws:SourceIp": "192.0.2.10"}}),
            json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        ]);
        v4.fails(&[json!({"IpAddress": {"aws:SourceIp": "192.0.3.0/24"}})]);
        v6.holds(&[both, json!({"IpAddress": {"aws:SourceIp": "2001:db8::1"}})]);
        v6.fails(&[
            json!({"NotIpAddress": {"aws:SourceIp": "2001:db8::/48"}}),
            json!({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}),
        ]);
        let why = eval(&json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), &v4);
        let text = r#"condition IpAddress aws:SourceIp ["10.0.0.0/8"] is false for 192.0.2.10"#;
        assert_eq!(why, Err(text.to_string()));
    }

    #[test]
    fn arn_and_binary() {
        let ctx = MapContext::new()
            .with(
                "aws:SourceArn",
                "arn:aws:cloudfront::111122223333:distribution/EDF",
            )
            .with("aws:x-blob", "QUJD");
        ctx.holds(&[
                json!({"ArnLike": {"aws:SourceArn": "arn:aws:cloudfront::*:distribution/*"}}),
                json!({"ArnEquals": {"aws:SourceArn": "arn:aws:cloudfront::111122223333:distribution/EDF"}}),
                json!({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::*"}}),
                json!({"BinaryEquals": {"aws:x-blob": "QUJD"}}),
            ],
        );
        ctx.fails(&[
            json!({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b"}}),
            json!({"ArnNotEquals": {"aws:SourceArn": "arn:aws:cloudfront::*:*"}}),
            json!({"BinaryEqualsIfExists": {"aws:x-blob": "QUJE"}}),
        ]);
    }

    #[test]
    fn missing_keys() {
        let vpc = |op: &str| json!({ op: {"aws:SourceVpc": "vpc-1"} });
        let empty = MapContext::new();
        empty.holds(&[
            vpc("StringNotEquals"),
            vpc("StringNotLike"),
            vpc("ArnNotEquals"),
            vpc("NotIpAddress"),
            vpc("StringEqualsIfExists"),
            vpc("NumericLessThanIfExists"),
            vpc("ForAllValues:StringEquals"),
            vpc("ForAnyValue:StringEqualsIfExists"),
            json!({"Null": {"aws:SourceVpc": "true"}}),
        ]);
        empty.fails(&[
            vpc("StringEquals"),
            vpc("ForAnyValue:StringEquals"),
            json!({"Null": {"aws:SourceVpc": "false"}}),
        ]);
        // IfExists still checks a present key; Null sees it.
        let present = MapContext::new().with("aws:SourceVpc", "vpc-2");
        present.holds(&[json!({"Null": {"aws:SourceVpc": false}})]);
        present.fails(&[
            vpc("StringEqualsIfExists"),
            json!({"Null": {"aws:SourceVpc": "true"}}),
        ]);
        let why = eval(
            &json!({"Bool": {"aws:SecureTransport": "true"}}),
            &MapContext::new(),
        );
        let text = r#"condition Bool aws:SecureTransport ["true"] is false (key absent)"#;
        assert_eq!(why, Err(text.to_string()));
    }

    #[test]
    fn set_operators() {
        let ctx = MapContext::new()
            .with("s3:RequestObjectTagKeys", "env")
            .with("s3:RequestObjectTagKeys", "team");
        ctx.holds(&[
            json!({"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["env", "team", "x"]}}),
            json!({"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": "team"}}),
            json!({"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": "env"}}),
        ]);
        ctx.fails(&[
            json!({"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": "env"}}),
            json!({"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": "cost"}}),
            json!({"ForAllValues:StringNotEquals": {"s3:RequestObjectTagKeys": "env"}}),
        ]);
    }

    #[test]
    fn multiple_keys_and_operators_are_anded() {
        let ctx = MapContext::new()
            .with("aws:SourceIp", "10.0.0.1")
            .with("s3:prefix", "a/");
        ctx.holds(&[
                json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"s3:prefix": "a/"}}),
            ],
        );
        ctx.fails(&[
                json!({"IpAddress": {"aws:SourceIp": "11.0.0.0/8"}, "StringEquals": {"s3:prefix": "a/"}}),
                json!({"StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"}}),
            ],
        );
    }

    #[test]
    fn invalid_operators_and_keys() {
        let cases = [
            (
                json!({"StringEqualz": {"s3:prefix": "a"}}),
                "Invalid Condition type : StringEqualz",
            ),
            (
                json!({"NullIfExists": {"s3:prefix": "a"}}),
                "Invalid Condition type : NullIfExists",
            ),
            (
                json!({"ForSomeValues:StringEquals": {"s3:prefix": "a"}}),
                "Invalid Condition type : ForSomeValues:StringEquals",
            ),
            (
                json!({"StringEquals": {"s3:no-such-key": "a"}}),
                "Policy has an invalid condition key",
            ),
            (
                json!({"StringEquals": {"ec2:Region": "a"}}),
                "Policy has an invalid condition key",
            ),
            (
                json!({"StringEquals": {"s3:prefix": {"a": 1}}}),
                "Policy has an invalid condition value",
            ),
        ];
        for (condition, message) in cases {
            assert_eq!(
                parse(&condition).err().map(|e| e.message),
                Some(message.into())
            );
        }
        let fine = json!({"StringEquals": {"aws:PrincipalTag/x": "a", "s3:x-amz-grant-read": "b"},
            "DateLessThanIfExists": {"s3:object-lock-retain-until-date": "2030-01-01"}});
        assert_eq!(parse(&fine).map(|c| c.len()).map_err(|e| e.message), Ok(3));
    }
}
