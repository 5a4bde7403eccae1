//! Object Lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention and
//! Put/GetObjectLegalHold. The rules (what may be weakened, by whom) are the engine's; this
//! module reads and writes S3's documents.

use actix_web::{web, HttpResponse};
use strata_storage::{DefaultRetention, LockMode, ObjectLockConfig, Retention};

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::handlers::{iso8601, parse_rfc3339_ms, require_integrity_header};
use crate::lock_request::{governance_override, wall_now_ms};
use crate::s3_error;
use crate::versions::load_addressed;
use crate::xml::{self, malformed, XmlWriter};

/// Longest default retention S3 accepts, in days (100 years).
const MAX_DEFAULT_DAYS: u32 = 36_500;
/// Longest default retention S3 accepts, in years.
const MAX_DEFAULT_YEARS: u32 = 100;

/// `<ObjectLockConfiguration>`.
#[derive(Debug, serde::Deserialize)]
struct LockConfigurationDoc {
    #[serde(rename = "ObjectLockEnabled", default)]
    enabled: Option<String>,
    #[serde(rename = "Rule", default)]
    rule: Option<RuleDoc>,
}

#[derive(Debug, serde::Deserialize)]
struct RuleDoc {
    #[serde(rename = "DefaultRetention", default)]
    default_retention: Option<DefaultRetentionDoc>,
}

#[derive(Debug, serde::Deserialize)]
struct DefaultRetentionDoc {
    #[serde(rename = "Mode", default)]
    mode: Option<String>,
    #[serde(rename = "Days", default)]
    days: Option<String>,
    #[serde(rename = "Years", default)]
    years: Option<String>,
}

/// `<Retention>`.
#[derive(Debug, serde::Deserialize)]
struct RetentionDoc {
    #[serde(rename = "Mode", default)]
    mode: Option<String>,
    #[serde(rename = "RetainUntilDate", default)]
    retain_until: Option<String>,
}

/// `<LegalHold>`.
#[derive(Debug, serde::Deserialize)]
struct LegalHoldDoc {
    #[serde(rename = "Status", default)]
    status: Option<String>,
}

/// The bucket's Object Lock configuration, as the authorization step loaded it.
fn bucket_lock(req: &S3Request) -> Option<ObjectLockConfig> {
    req.granted.bucket.as_ref().and_then(|b| b.lock)
}

/// A default retention period: a positive integer no larger than S3's limit.
fn period(text: &str, max: u32, name: &str) -> S3Result<u32> {
    let n: i64 = text.trim().parse().map_err(|_| malformed())?;
    if n <= 0 {
        return Err(s3_error!(
            InvalidArgument,
            "Default retention period must be a positive integer value."
        )
        .with_extra("ArgumentName", name));
    }
    if n > i64::from(max) {
        return Err(
            s3_error!(InvalidArgument, "Default retention period too large.")
                .with_extra("ArgumentName", name),
        );
    }
    Ok(n as u32)
}

/// Parses an ObjectLockConfiguration document.
fn parse_config(body: &[u8]) -> S3Result<ObjectLockConfig> {
    let doc: LockConfigurationDoc = xml::parse(body)?;
    if doc.enabled.as_deref() != Some("Enabled") {
        return Err(malformed());
    }
    let Some(rule) = doc.rule else {
        return Ok(ObjectLockConfig::default());
    };
    let d = rule.default_retention.ok_or_else(malformed)?;
    let mode = d
        .mode
        .as_deref()
        .and_then(LockMode::parse)
        .ok_or_else(malformed)?;
    let (days, years) = match (d.days.as_deref(), d.years.as_deref()) {
        (Some(days), None) => (Some(period(days, MAX_DEFAULT_DAYS, "Days")?), None),
        (None, Some(years)) => (None, Some(period(years, MAX_DEFAULT_YEARS, "Years")?)),
        _ => return Err(malformed()),
    };
    Ok(ObjectLockConfig {
        default_retention: Some(DefaultRetention { mode, days, years }),
    })
}

/// PutObjectLockConfiguration: enables Object Lock on a versioned bucket (it cannot be turned
/// off again) and sets or clears its default retention.
pub async fn put_lock_configuration(
    req: &mut S3Request,
    payload: web::Payload,
) -> S3Result<HttpResponse> {
    require_integrity_header(req)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let cfg = parse_config(&body)?;
    let bucket = req.bucket()?.to_owned();
    let store = req.store().clone();
    let b = bucket.clone();
    blocking(move || store.set_object_lock_config(&b, cfg).map_err(S3Error::from)).await?;
    crate::authz::forget(&req.state, &bucket);
    Ok(HttpResponse::Ok().finish())
}

/// GetObjectLockConfiguration.
pub async fn get_lock_configuration(req: &S3Request) -> S3Result<HttpResponse> {
    let cfg = bucket_lock(req).ok_or_else(|| {
        s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        )
        .with_extra("BucketName", req.bucket.clone().unwrap_or_default())
    })?;
    let mut w = XmlWriter::new("ObjectLockConfiguration");
    w.elem("ObjectLockEnabled", "Enabled");
    if let Some(d) = cfg.default_retention {
        w.open("Rule")
            .open("DefaultRetention")
            .elem("Mode", d.mode.as_str());
        if let Some(days) = d.days {
            w.elem("Days", &days.to_string());
        }
        if let Some(years) = d.years {
            w.elem("Years", &years.to_string());
        }
        w.close().close();
    }
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(w.finish()))
}

/// The version a lock operation acts on, resolved as GET resolves it, in a bucket that must have
/// Object Lock (`InvalidRequest` otherwise, before the version is looked up, as S3 answers).
async fn locked_target(req: &S3Request) -> S3Result<strata_storage::ObjectHandle> {
    if bucket_lock(req).is_none() {
        return Err(S3Error::from(strata_storage::Error::ObjectLockNotEnabled));
    }
    load_addressed(req).await
}

/// Changes the lock of version `vid` of the request's key with `change` (which runs in the
/// engine's commit, where the rules on weakening a lock are checked).
async fn change_lock(
    req: &S3Request,
    vid: String,
    change: impl FnOnce(&strata_storage::Store, &str, &str, &str) -> strata_storage::Result<String>
        + Send
        + 'static,
) -> S3Result<HttpResponse> {
    let (b, k) = (req.bucket()?.to_owned(), req.key()?.to_owned());
    let store = req.store().clone();
    blocking(move || change(&store, &b, &k, &vid).map_err(S3Error::from)).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Parses a Retention document: None removes the retention.
fn parse_retention(body: &[u8]) -> S3Result<Option<Retention>> {
    let doc: RetentionDoc = xml::parse(body)?;
    match (doc.mode.as_deref(), doc.retain_until.as_deref()) {
        (None, None) => Ok(None),
        (Some(mode), Some(until)) => {
            let mode = LockMode::parse(mode).ok_or_else(malformed)?;
            let until = parse_rfc3339_ms(until.trim()).ok_or_else(malformed)?;
            if until <= wall_now_ms() {
                return Err(s3_error!(
                    InvalidArgument,
                    "The retain until date must be in the future!"
                ));
            }
            Ok(Some(Retention {
                mode,
                retain_until_ms: until,
            }))
        }
        _ => Err(malformed()),
    }
}

/// PutObjectRetention.
pub async fn put_retention(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    require_integrity_header(req)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let retention = parse_retention(&body)?;
    let vid = locked_target(req).await?.version.version_id.clone();
    let over = governance_override(req, req.key()?, Some(&vid)).await?;
    change_lock(req, vid, move |store, b, k, vid| {
        store.set_object_retention(b, k, Some(vid), retention, over)
    })
    .await
}

/// GetObjectRetention.
pub async fn get_retention(req: &S3Request) -> S3Result<HttpResponse> {
    let handle = locked_target(req).await?;
    let r = handle.version.meta.retention.ok_or_else(|| {
        s3_error!(
            NoSuchObjectLockConfiguration,
            "The specified object does not have a ObjectLock configuration"
        )
    })?;
    let mut w = XmlWriter::new("Retention");
    w.elem("Mode", r.mode.as_str())
        .elem("RetainUntilDate", &iso8601(r.retain_until_ms));
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(w.finish()))
}

/// PutObjectLegalHold.
pub async fn put_legal_hold(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    require_integrity_header(req)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let doc: LegalHoldDoc = xml::parse(&body)?;
    let on = match doc.status.as_deref() {
        Some("ON") => true,
        Some("OFF") => false,
        _ => return Err(malformed()),
    };
    let vid = locked_target(req).await?.version.version_id.clone();
    change_lock(req, vid, move |store, b, k, vid| {
        store.set_object_legal_hold(b, k, Some(vid), on)
    })
    .await
}

/// GetObjectLegalHold. A version whose hold was never set answers OFF, as one turned off does
/// (the engine keeps one flag).
pub async fn get_legal_hold(req: &S3Request) -> S3Result<HttpResponse> {
    let handle = locked_target(req).await?;
    let mut w = XmlWriter::new("LegalHold");
    w.elem(
        "Status",
        if handle.version.meta.legal_hold {
            "ON"
        } else {
            "OFF"
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> String {
        parse_config(body.as_bytes())
            .unwrap_err()
            .code
            .as_str()
            .to_owned()
    }

    #[test]
    fn lock_configuration_documents() {
        let enabled = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
        assert_eq!(
            parse_config(enabled.as_bytes()).unwrap(),
            ObjectLockConfig::default()
        );
        let years = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>2</Years></DefaultRetention></Rule></ObjectLockConfiguration>";
        let d = parse_config(years.as_bytes())
            .unwrap()
            .default_retention
            .unwrap();
        assert_eq!(
            (d.mode, d.days, d.years),
            (LockMode::Compliance, None, Some(2))
        );
        assert_eq!(code("<ObjectLockConfiguration/>"), "MalformedXML");
        let rule = |inner: &str| {
            format!("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>")
        };
        assert_eq!(
            code(&rule(
                "<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"
            )),
            "MalformedXML"
        );
        assert_eq!(
            code(&rule("<Mode>governance</Mode><Days>1</Days>")),
            "MalformedXML"
        );
        assert_eq!(code(&rule("<Mode>GOVERNANCE</Mode>")), "MalformedXML");
        assert_eq!(
            code(&rule("<Mode>GOVERNANCE</Mode><Days>0</Days>")),
            "InvalidArgument"
        );
        assert_eq!(
            code(&rule("<Mode>GOVERNANCE</Mode><Days>36501</Days>")),
            "InvalidArgument"
        );
        assert_eq!(
            code(&rule("<Mode>GOVERNANCE</Mode><Years>101</Years>")),
            "InvalidArgument"
        );
    }

    #[test]
    fn retention_documents() {
        assert_eq!(parse_retention(b"<Retention/>").unwrap(), None);
        let r = parse_retention(
            b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.mode, LockMode::Governance);
        let err = |b: &str| parse_retention(b.as_bytes()).unwrap_err();
        assert_eq!(
            err("<Retention><Mode>GOVERNANCE</Mode></Retention>")
                .code
                .as_str(),
            "MalformedXML"
        );
        assert_eq!(
            err("<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2001-01-01T00:00:00Z</RetainUntilDate></Retention>").message,
            "The retain until date must be in the future!"
        );
    }
}
