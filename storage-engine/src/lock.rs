//! Object Lock: a version's retention and legal hold (kept in its metadata, so a lock is
//! committed in the same row as the version it protects), a bucket's Object Lock configuration,
//! and the one rule that says whether a lock holds a version now.
//!
//! Invariant: every permanent removal of a version (DeleteObject with a version id, an
//! overwrite of the `null` version, a lifecycle expiration) asks `hold` inside the commit that
//! would remove it, so a lock set by a concurrent request cannot be missed.

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The bucket setting that holds a bucket's Object Lock configuration (canonical JSON of
/// `ObjectLockConfig`). Its presence means Object Lock is enabled: it is never removed.
pub const OBJECT_LOCK_SETTING: &str = "object-lock";

/// A retention mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    /// Removable or shortenable by a user allowed `s3:BypassGovernanceRetention` who asks for
    /// the bypass.
    #[serde(rename = "GOVERNANCE")]
    Governance,
    /// Neither removable nor shortenable by anyone until it ends.
    #[serde(rename = "COMPLIANCE")]
    Compliance,
}

impl LockMode {
    /// S3's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }

    /// Parses S3's spelling (exactly, as S3 does).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: it may not be removed before `retain_until_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The mode.
    pub mode: LockMode,
    /// RetainUntilDate, ms since the epoch.
    pub retain_until_ms: i64,
}

/// A bucket's default retention (applied to new versions that name none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// The mode.
    pub mode: LockMode,
    /// Days, or (exclusive with it) years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
}

/// A bucket's Object Lock configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    /// The default retention, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

impl ObjectLockConfig {
    /// Decodes the stored setting.
    pub fn from_setting(json: &str) -> Result<Self> {
        crate::meta::codec::decode_meta(json)
    }

    /// The stored setting.
    pub fn to_setting(&self) -> Result<String> {
        crate::meta::codec::encode_meta(self)
    }
}

/// What holds a version now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "lock", rename_all = "kebab-case")]
pub enum Hold {
    /// A legal hold (until it is turned off).
    LegalHold,
    /// A retention period, until its date.
    Retention(Retention),
}

/// Who asks to remove a locked version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockOverride {
    /// An ordinary request: every lock holds.
    #[default]
    None,
    /// `x-amz-bypass-governance-retention: true` from a user allowed
    /// `s3:BypassGovernanceRetention`: GOVERNANCE retention does not hold (a legal hold and
    /// COMPLIANCE still do).
    Governance,
}

/// What holds a version with this retention and legal hold at `now_ms`, if anything. A legal
/// hold is reported first: it holds whatever the retention.
pub fn hold(retention: Option<Retention>, legal_hold: bool, now_ms: i64) -> Option<Hold> {
    if legal_hold {
        return Some(Hold::LegalHold);
    }
    retention
        .filter(|r| r.retain_until_ms > now_ms)
        .map(Hold::Retention)
}

/// What stops `over` from removing a version now, if anything.
pub fn blocking_hold(
    retention: Option<Retention>,
    legal_hold: bool,
    now_ms: i64,
    over: LockOverride,
) -> Option<Hold> {
    match hold(retention, legal_hold, now_ms) {
        Some(Hold::Retention(Retention {
            mode: LockMode::Governance,
            ..
        })) if over == LockOverride::Governance => None,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(mode: LockMode, until: i64) -> Option<Retention> {
        Some(Retention {
            mode,
            retain_until_ms: until,
        })
    }

    #[test]
    fn holds() {
        assert_eq!(hold(None, false, 10), None);
        assert_eq!(hold(r(LockMode::Compliance, 10), false, 10), None);
        assert_eq!(
            hold(r(LockMode::Compliance, 11), false, 10),
            Some(Hold::Retention(Retention {
                mode: LockMode::Compliance,
                retain_until_ms: 11
            }))
        );
        // A legal hold holds whatever the retention, also an expired one.
        assert_eq!(
            hold(r(LockMode::Governance, 1), true, 10),
            Some(Hold::LegalHold)
        );
        // The bypass lifts GOVERNANCE only.
        let g = r(LockMode::Governance, 20);
        assert_eq!(blocking_hold(g, false, 10, LockOverride::Governance), None);
        assert!(blocking_hold(g, false, 10, LockOverride::None).is_some());
        assert!(blocking_hold(g, true, 10, LockOverride::Governance).is_some());
        let c = r(LockMode::Compliance, 20);
        assert!(blocking_hold(c, false, 10, LockOverride::Governance).is_some());
    }

    #[test]
    fn config_round_trip() {
        let cfg = ObjectLockConfig {
            default_retention: Some(DefaultRetention {
                mode: LockMode::Governance,
                days: Some(3),
                years: None,
            }),
        };
        let text = cfg.to_setting().unwrap();
        assert_eq!(
            text,
            r#"{"default_retention":{"mode":"GOVERNANCE","days":3}}"#
        );
        assert_eq!(ObjectLockConfig::from_setting(&text).unwrap(), cfg);
        assert!(
            ObjectLockConfig::from_setting("{\"default_retention\":{\"mode\":\"x\"}}").is_err()
        );
    }
}
