//! Browser-form uploads (POST Object): verifying the policy signature (SigV4 or SigV2) and
//! evaluating the policy document's expiration and conditions against the form fields.
//!
//! Invariant: an upload is accepted only if the signature covers the exact base64 policy text,
//! the policy has not expired, every condition holds, and every form field (other than the
//! signature, the policy, the file and `x-ignore-*`) is named by some condition.

use base64::Engine as _;
use time::OffsetDateTime;

use super::{hmac_sha256, parse_amz_date, sigv2, sigv4, AuthConfig};
use crate::error::S3Result;
use crate::s3_error;

/// A condition of the policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `{"field": "value"}` or `["eq", "$field", "value"]`.
    Eq(String, String),
    /// `["starts-with", "$field", "prefix"]`.
    StartsWith(String, String),
    /// `["content-length-range", min, max]`.
    ContentLengthRange(u64, u64),
}

/// A verified, parsed policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The conditions, field names lower-cased.
    pub conditions: Vec<Condition>,
    /// Who signed it: the upload is made with this identity's permissions; None for an
    /// anonymous form (no policy, no signature), which only a bucket open to anonymous writes
    /// accepts.
    pub signer: Option<std::sync::Arc<crate::users::Identity>>,
}

fn denied(msg: impl Into<String>) -> crate::error::S3Error {
    s3_error!(AccessDenied, "{}", msg.into())
}

/// Fields are compared case-insensitively by name, as S3 does.
fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Verifies the form's signature over its policy and parses the policy. `fields` are the form
/// fields before the file, in order.
pub fn verify_post(
    fields: &[(String, String)],
    cfg: &AuthConfig,
    now: OffsetDateTime,
) -> S3Result<Policy> {
    let signed = field(fields, "x-amz-signature").is_some() || field(fields, "signature").is_some();
    if !signed && field(fields, "policy").is_none() {
        // S3 User Guide, "Browser-based uploads using POST": a form without a policy and a
        // signature is an anonymous upload, allowed where the bucket grants anonymous writes.
        return Ok(Policy {
            conditions: Vec::new(),
            signer: None,
        });
    }
    let policy_b64 = field(fields, "policy")
        .ok_or_else(|| denied("Bucket POST must contain a field named 'policy'. If it is specified, please check the order of the fields."))?;
    let signer;
    if let Some(sig) = field(fields, "x-amz-signature") {
        let algorithm = field(fields, "x-amz-algorithm").unwrap_or("");
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(s3_error!(
                InvalidArgument,
                "Only the AWS4-HMAC-SHA256 algorithm is supported for POST with SigV4"
            ));
        }
        let credential = field(fields, "x-amz-credential").ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Bucket POST must contain a field named 'x-amz-credential'."
            )
        })?;
        let date = field(fields, "x-amz-date")
            .and_then(parse_amz_date)
            .ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "Bucket POST must contain a valid field named 'x-amz-date'."
                )
            })?;
        let parts: Vec<&str> = credential.split('/').collect();
        if parts.len() != 5 || parts[3] != "s3" || parts[4] != "aws4_request" {
            return Err(s3_error!(
                InvalidArgument,
                "Invalid credential: {credential}"
            ));
        }
        let identity = cfg.identity(parts[0])?;
        let day = format!(
            "{:04}{:02}{:02}",
            date.year(),
            date.month() as u8,
            date.day()
        );
        if parts[1] != day || parts[2] != cfg.region {
            return Err(s3_error!(
                InvalidArgument,
                "Invalid credential scope: {credential}"
            ));
        }
        let key = sigv4::signing_key(&identity.secret_key, parts[1], parts[2])?;
        let expected = hex::encode(hmac_sha256(&key, policy_b64.as_bytes())?);
        if !strata_signing::constant_time_eq(
            expected.as_bytes(),
            sig.trim().to_ascii_lowercase().as_bytes(),
        ) {
            return Err(s3_error!(SignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method."));
        }
        signer = identity;
    } else if let Some(sig) = field(fields, "signature") {
        let access = field(fields, "awsaccesskeyid").unwrap_or("");
        let identity = cfg.identity(access)?;
        let mac = sigv2::hmac_sha1(identity.secret_key.as_bytes(), policy_b64.as_bytes())?;
        let expected = base64::engine::general_purpose::STANDARD.encode(mac);
        if !strata_signing::constant_time_eq(expected.as_bytes(), sig.trim().as_bytes()) {
            return Err(s3_error!(SignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method."));
        }
        signer = identity;
    } else {
        return Err(denied(
            "Bucket POST must be signed: no x-amz-signature or signature field.",
        ));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(policy_b64.trim())
        .map_err(|_| {
            s3_error!(
                InvalidPolicyDocument,
                "Invalid Policy: Invalid Base64 Encoding."
            )
        })?;
    let doc: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|_| s3_error!(InvalidPolicyDocument, "Invalid Policy: Invalid JSON."))?;
    let expiration = doc
        .get("expiration")
        .and_then(|v| v.as_str())
        .and_then(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidPolicyDocument,
                "Invalid Policy: Policy missing expiration."
            )
        })?;
    if expiration <= now {
        return Err(denied("Invalid according to Policy: Policy expired."));
    }
    let mut conditions = Vec::new();
    let list = doc
        .get("conditions")
        .and_then(|v| v.as_array())
        .ok_or_else(|| {
            s3_error!(
                InvalidPolicyDocument,
                "Invalid Policy: Policy missing conditions."
            )
        })?;
    let bad = || {
        s3_error!(
            InvalidPolicyDocument,
            "Invalid Policy: Invalid Simple-Condition: value must be a string."
        )
    };
    for c in list {
        match c {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let v = v.as_str().ok_or_else(bad)?;
                    conditions.push(Condition::Eq(k.to_ascii_lowercase(), v.to_owned()));
                }
            }
            serde_json::Value::Array(items) => {
                let op = items
                    .first()
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match op.as_str() {
                    "eq" | "starts-with" => {
                        let name = items.get(1).and_then(|v| v.as_str()).ok_or_else(bad)?;
                        let value = items.get(2).and_then(|v| v.as_str()).ok_or_else(bad)?;
                        let name = name.strip_prefix('$').unwrap_or(name).to_ascii_lowercase();
                        conditions.push(if op == "eq" {
                            Condition::Eq(name, value.to_owned())
                        } else {
                            Condition::StartsWith(name, value.to_owned())
                        });
                    }
                    "content-length-range" => {
                        let num = |i: usize| {
                            items.get(i).and_then(|v| {
                                v.as_u64()
                                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                            })
                        };
                        let (min, max) = (num(1).ok_or_else(bad)?, num(2).ok_or_else(bad)?);
                        conditions.push(Condition::ContentLengthRange(min, max));
                    }
                    _ => {
                        return Err(s3_error!(
                            InvalidPolicyDocument,
                            "Invalid Policy: Invalid condition: {op}"
                        ))
                    }
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(Policy {
        conditions,
        signer: Some(signer),
    })
}

/// Fields S3 does not require the policy to name.
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid" | "file"
    ) || name.starts_with("x-ignore-")
}

impl Policy {
    /// Checks every field condition against the form (with `key` as finally resolved, and the
    /// bucket) and that no field is unaccounted for.
    pub fn check_fields(
        &self,
        fields: &[(String, String)],
        bucket: &str,
        key: &str,
    ) -> S3Result<()> {
        let value_of = |name: &str| -> Option<String> {
            match name {
                "bucket" => Some(bucket.to_owned()),
                "key" => Some(key.to_owned()),
                _ => field(fields, name).map(str::to_owned),
            }
        };
        for c in &self.conditions {
            let ok = match c {
                Condition::Eq(name, want) => value_of(name).as_deref() == Some(want.as_str()),
                Condition::StartsWith(name, prefix) => {
                    let v = value_of(name).unwrap_or_default();
                    if name == "content-type" {
                        v.split(',')
                            .all(|part| part.trim().starts_with(prefix.as_str()))
                    } else {
                        v.starts_with(prefix.as_str())
                    }
                }
                Condition::ContentLengthRange(..) => true,
            };
            if !ok {
                return Err(denied(format!(
                    "Invalid according to Policy: Policy Condition failed: {c:?}"
                )));
            }
        }
        for (name, _) in fields {
            let lower = name.to_ascii_lowercase();
            if exempt(&lower) {
                continue;
            }
            let named = self.conditions.iter().any(|c| match c {
                Condition::Eq(n, _) | Condition::StartsWith(n, _) => *n == lower,
                Condition::ContentLengthRange(..) => false,
            });
            if !named {
                return Err(denied(format!(
                    "Invalid according to Policy: Extra input fields: {name}"
                )));
            }
        }
        Ok(())
    }

    /// Checks the uploaded size against `content-length-range`.
    pub fn check_length(&self, len: u64) -> S3Result<()> {
        for c in &self.conditions {
            if let Condition::ContentLengthRange(min, max) = c {
                if len < *min {
                    return Err(s3_error!(
                        EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed size"
                    ));
                }
                if len > *max {
                    return Err(s3_error!(
                        EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AuthConfig {
        AuthConfig::single("AK", "SECRET", "us-east-1", false)
    }

    fn signed_fields(policy_json: &str, now: OffsetDateTime) -> Vec<(String, String)> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(policy_json);
        let day = format!("{:04}{:02}{:02}", now.year(), now.month() as u8, now.day());
        let key = sigv4::signing_key("SECRET", &day, "us-east-1").unwrap();
        let sig = hex::encode(hmac_sha256(&key, b64.as_bytes()).unwrap());
        vec![
            ("key".into(), "uploads/${filename}".into()),
            ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
            (
                "x-amz-credential".into(),
                format!("AK/{day}/us-east-1/s3/aws4_request"),
            ),
            ("x-amz-date".into(), format!("{day}T000000Z")),
            ("policy".into(), b64),
            ("x-amz-signature".into(), sig),
        ]
    }

    #[test]
    fn verifies_and_evaluates_a_policy() {
        let now = OffsetDateTime::now_utc();
        let policy = r#"{"expiration":"2999-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","uploads/"],["content-length-range",1,10],{"x-amz-algorithm":"AWS4-HMAC-SHA256"},{"x-amz-credential":"x"},{"x-amz-date":"x"}]}"#;
        let fields = signed_fields(policy, now);
        let p = verify_post(&fields, &cfg(), now).unwrap();
        // The credential and date fields differ from the policy's exact values.
        assert!(p.check_fields(&fields, "b", "uploads/a.txt").is_err());
        let loose = r#"{"expiration":"2999-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","uploads/"],["content-length-range",1,10],["starts-with","$x-amz-algorithm",""],["starts-with","$x-amz-credential",""],["starts-with","$x-amz-date",""]]}"#;
        let fields = signed_fields(loose, now);
        let p = verify_post(&fields, &cfg(), now).unwrap();
        p.check_fields(&fields, "b", "uploads/a.txt").unwrap();
        assert!(p.check_fields(&fields, "other", "uploads/a.txt").is_err());
        assert!(p.check_fields(&fields, "b", "elsewhere/a.txt").is_err());
        let mut extra = fields.clone();
        extra.push(("x-amz-meta-a".into(), "1".into()));
        assert!(p.check_fields(&extra, "b", "uploads/a.txt").is_err());
        assert!(p.check_length(5).is_ok());
        assert!(p.check_length(11).is_err());
        assert!(p.check_length(0).is_err());
        let mut tampered = fields.clone();
        let first = if tampered[5].1.starts_with('0') {
            "1"
        } else {
            "0"
        };
        tampered[5].1.replace_range(0..1, first);
        assert!(verify_post(&tampered, &cfg(), now).is_err());
    }

    #[test]
    fn expired_policies_are_refused() {
        let now = OffsetDateTime::now_utc();
        let fields = signed_fields(
            r#"{"expiration":"2001-01-01T00:00:00Z","conditions":[]}"#,
            now,
        );
        let err = verify_post(&fields, &cfg(), now).unwrap_err();
        assert_eq!(err.code.as_str(), "AccessDenied");
    }
}
