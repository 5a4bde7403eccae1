//! Object Lock in requests: the lock a write gives its new version (from the
//! `x-amz-object-lock-*` headers or POST form fields, or else the bucket's default retention),
//! the integrity header S3 requires on such writes, and the governance bypass.
//!
//! Invariant: every write that creates a version (PutObject, CopyObject, CreateMultipartUpload,
//! POST Object) takes its lock from `new_version_lock`, so the validation and the default are
//! the same for all of them; the lock then travels in the version's metadata and is committed
//! with it.

use strata_lifecycle::LifecycleClock;
use strata_storage::{LockMode, LockOverride, ObjectLockConfig, Retention};

use crate::app::S3Request;
use crate::error::S3Result;
use crate::s3_error;

/// The retention mode header (and POST form field).
pub const MODE: &str = "x-amz-object-lock-mode";
/// The retain-until date header (and POST form field).
pub const RETAIN_UNTIL: &str = "x-amz-object-lock-retain-until-date";
/// The legal hold header (and POST form field).
pub const LEGAL_HOLD: &str = "x-amz-object-lock-legal-hold";
/// The governance bypass header of DeleteObject(s) and PutObjectRetention.
pub const BYPASS_GOVERNANCE: &str = "x-amz-bypass-governance-retention";

/// Lifecycle days in a default retention year: S3 counts a year as 365 days.
const DAYS_PER_YEAR: u64 = 365;

/// The current wall time, in ms (a retain-until date is a calendar date, never scaled).
pub fn wall_now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The retain-until date a default retention gives a version written at `now_ms`. Days are
/// lifecycle days, so on a scaled clock ("one day = N seconds") a default of 1 day locks a
/// version for N seconds, as the lifecycle rules that wait for it count them.
pub fn default_until(
    cfg: &ObjectLockConfig,
    clock: &LifecycleClock,
    now_ms: i64,
) -> Option<Retention> {
    let d = cfg.default_retention?;
    let days = match (d.days, d.years) {
        (Some(days), _) => u64::from(days),
        (None, Some(years)) => u64::from(years) * DAYS_PER_YEAR,
        (None, None) => return None,
    };
    Some(Retention {
        mode: d.mode,
        // No later than the last date S3's formats can show (a long period on a slow clock).
        retain_until_ms: clock
            .add_days(now_ms, days)
            .min(crate::handlers::MAX_TIME_MS),
    })
}

/// The retention and legal hold of a version a write creates, from the write's lock fields
/// (`field` reads a header or a form field by its lower-case name) and the bucket's Object Lock
/// configuration (None: Object Lock is off). The error messages are S3's.
pub fn new_version_lock<'a>(
    field: impl Fn(&str) -> Option<&'a str>,
    lock: Option<&ObjectLockConfig>,
    clock: &LifecycleClock,
) -> S3Result<(Option<Retention>, bool)> {
    let (mode, until, hold) = (field(MODE), field(RETAIN_UNTIL), field(LEGAL_HOLD));
    let Some(lock) = lock else {
        if mode.is_some() || until.is_some() || hold.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Bucket is missing ObjectLockConfiguration"
            ));
        }
        return Ok((None, false));
    };
    let legal_hold = match hold {
        None => false,
        Some("ON") => true,
        Some("OFF") => false,
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "Legal Hold must be either of 'ON' or 'OFF'"
            ))
        }
    };
    let now = wall_now_ms();
    let retention = match (mode, until) {
        (None, None) => default_until(lock, clock, now),
        (Some(_), None) | (None, Some(_)) => {
            return Err(s3_error!(
            InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        ))
        }
        (Some(mode), Some(until)) => {
            let mode = LockMode::parse(mode)
                .ok_or_else(|| s3_error!(InvalidArgument, "Unknown wormMode directive."))?;
            let until = crate::handlers::parse_rfc3339_ms(until.trim()).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "The retain until date must be provided in ISO 8601 format"
                )
            })?;
            if until <= now {
                return Err(s3_error!(
                    InvalidArgument,
                    "The retain until date must be in the future!"
                ));
            }
            Some(Retention {
                mode,
                retain_until_ms: until,
            })
        }
    };
    Ok((retention, legal_hold))
}

/// The lock of the version a request's headers create, with the bucket's configuration as the
/// authorization step loaded it.
pub fn from_headers(req: &S3Request) -> S3Result<(Option<Retention>, bool)> {
    let lock = req.granted.bucket.as_ref().and_then(|b| b.lock.as_ref());
    new_version_lock(|name| req.header(name), lock, &req.state.clock)
}

/// API reference, PutObject: "The Content-MD5 or x-amz-sdk-checksum-algorithm header is
/// required for any request to upload an object with a retention period configured using
/// Amazon S3 Object Lock." A legal hold counts as such a lock here too; an `x-amz-checksum-*`
/// value or a trailing checksum satisfies it as well.
pub fn require_integrity(
    req: &S3Request,
    retention: Option<Retention>,
    legal_hold: bool,
) -> S3Result<()> {
    if retention.is_none() && !legal_hold {
        return Ok(());
    }
    if crate::handlers::has_integrity_header(req)
        || req.header("x-amz-sdk-checksum-algorithm").is_some()
    {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidRequest,
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
        ))
    }
}

/// Whether the request asks for the governance bypass and its requester may use it on `key`
/// (`s3:BypassGovernanceRetention`): the override a delete or a retention change runs under.
pub async fn governance_override(
    req: &S3Request,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<LockOverride> {
    let asked = req
        .header(BYPASS_GOVERNANCE)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !asked {
        return Ok(LockOverride::None);
    }
    let allowed = crate::authz::check_object(
        req,
        req.auth.identity.as_deref(),
        "s3:BypassGovernanceRetention",
        key,
        version_id,
    )
    .await?;
    Ok(if allowed {
        LockOverride::Governance
    } else {
        LockOverride::None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_storage::DefaultRetention;

    fn lock(days: Option<u32>, years: Option<u32>) -> ObjectLockConfig {
        ObjectLockConfig {
            default_retention: Some(DefaultRetention {
                mode: LockMode::Governance,
                days,
                years,
            }),
        }
    }

    fn fields<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn defaults_and_validation() {
        let clock = LifecycleClock::scaled(10);
        let cfg = lock(Some(2), None);
        let (r, hold) = new_version_lock(fields(&[]), Some(&cfg), &clock).unwrap();
        let r = r.unwrap();
        assert!(!hold);
        let left = r.retain_until_ms - wall_now_ms();
        assert!((19_000..=20_000).contains(&left), "{left}");
        let (r, _) = new_version_lock(fields(&[]), Some(&lock(None, Some(1))), &clock).unwrap();
        let left = r.unwrap().retain_until_ms - wall_now_ms();
        assert!((3_649_000..=3_650_000).contains(&left), "{left}");
        // Headers win over the default.
        let given = [
            (MODE, "COMPLIANCE"),
            (RETAIN_UNTIL, "2099-01-01T00:00:00Z"),
            (LEGAL_HOLD, "ON"),
        ];
        let (r, hold) = new_version_lock(fields(&given), Some(&cfg), &clock).unwrap();
        assert_eq!(r.unwrap().mode, LockMode::Compliance);
        assert!(hold);
        let err = |pairs: &[(&str, &str)], lock: Option<&ObjectLockConfig>| {
            new_version_lock(fields(pairs), lock, &clock).unwrap_err()
        };
        let none = ObjectLockConfig::default();
        assert_eq!(
            err(&[(LEGAL_HOLD, "ON")], None).message,
            "Bucket is missing ObjectLockConfiguration"
        );
        assert_eq!(
            err(&[(MODE, "GOVERNANCE")], Some(&none)).code.as_str(),
            "InvalidArgument"
        );
        assert_eq!(
            err(
                &[(MODE, "governance"), (RETAIN_UNTIL, "2099-01-01T00:00:00Z")],
                Some(&none)
            )
            .message,
            "Unknown wormMode directive."
        );
        assert_eq!(
            err(
                &[(MODE, "GOVERNANCE"), (RETAIN_UNTIL, "2001-01-01T00:00:00Z")],
                Some(&none)
            )
            .message,
            "The retain until date must be in the future!"
        );
        assert_eq!(
            err(&[(LEGAL_HOLD, "on")], Some(&none)).code.as_str(),
            "InvalidArgument"
        );
        assert_eq!(
            new_version_lock(fields(&[]), Some(&none), &clock).unwrap(),
            (None, false)
        );
    }
}
