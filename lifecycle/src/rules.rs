//! Lifecycle rules as types, and their validation with the errors S3 gives.
//!
//! Invariant: a [`LifecycleConfiguration`] that passed [`LifecycleConfiguration::validate`] is
//! one S3 would accept; it is stored in this canonical (serde JSON) form and evaluated as is.

use serde::{Deserialize, Serialize};
use strata_storage::StorageClass;

/// Most rules in one configuration.
pub const MAX_RULES: usize = 1000;

/// A bucket's lifecycle configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfiguration {
    /// The rules, in document order.
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Rule id (S3 generates one when absent; so does the parser).
    pub id: String,
    /// Whether the rule is applied.
    pub enabled: bool,
    /// Which versions the rule applies to.
    pub filter: Filter,
    /// Expiration of current versions.
    pub expiration: Option<Expiration>,
    /// Transitions of current versions.
    pub transitions: Vec<Transition>,
    /// Expiration of noncurrent versions.
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// Transitions of noncurrent versions.
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
    /// Days after initiation after which incomplete multipart uploads are aborted.
    pub abort_incomplete_multipart_days: Option<u32>,
    /// The rule was written with the legacy top-level `<Prefix>` instead of a `<Filter>`, and is
    /// read back that way (configurations stored before this field existed read as false).
    #[serde(default)]
    pub legacy_prefix: bool,
}

/// The filter of a rule: every present condition must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Key prefix (empty: every key).
    pub prefix: String,
    /// Tags the object must carry (all of them).
    pub tags: Vec<(String, String)>,
    /// Only objects strictly larger than this.
    pub object_size_greater_than: Option<u64>,
    /// Only objects strictly smaller than this.
    pub object_size_less_than: Option<u64>,
}

/// When current versions expire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiration {
    /// Days after creation.
    pub days: Option<u32>,
    /// A date (midnight UTC, ms since the epoch).
    pub date_ms: Option<i64>,
    /// Remove delete markers that have no noncurrent versions left.
    pub expired_object_delete_marker: Option<bool>,
}

/// A transition of current versions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Days after creation.
    pub days: Option<u32>,
    /// A date (midnight UTC, ms since the epoch).
    pub date_ms: Option<i64>,
    /// Target class.
    pub storage_class: StorageClass,
}

/// Expiration of noncurrent versions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after becoming noncurrent.
    pub noncurrent_days: Option<u32>,
    /// Keep this many newer noncurrent versions.
    pub newer_noncurrent_versions: Option<u32>,
}

/// A transition of noncurrent versions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentTransition {
    /// Days after becoming noncurrent.
    pub noncurrent_days: u32,
    /// Keep this many newer noncurrent versions out of the transition.
    pub newer_noncurrent_versions: Option<u32>,
    /// Target class.
    pub storage_class: StorageClass,
}

/// Why S3 refuses a configuration; each maps to S3's error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// `MalformedXML`.
    #[error("{0}")]
    Malformed(String),
    /// `InvalidArgument`.
    #[error("{0}")]
    InvalidArgument(String),
    /// `InvalidRequest`.
    #[error("{0}")]
    InvalidRequest(String),
}

const DAY_MS: i64 = 86_400_000;

impl LifecycleConfiguration {
    /// Checks the configuration as S3 does.
    pub fn validate(&self) -> Result<(), RuleError> {
        use RuleError::*;
        if self.rules.is_empty() {
            return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into()));
        }
        // AWS answers more than 1000 rules with MalformedXML, as it does a schema failure
        // (https://github.com/flightstats/hub/issues/529: 1127 rules, Java SDK).
        if self.rules.len() > MAX_RULES {
            return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into()));
        }
        let mut ids = std::collections::HashSet::new();
        for rule in &self.rules {
            if rule.id.len() > 255 {
                return Err(InvalidArgument(
                    "ID length should not exceed allowed limit of 255".into(),
                ));
            }
            if !ids.insert(rule.id.as_str()) {
                return Err(InvalidArgument(
                    "Rule ID must be unique. Found same ID for more than one rule".into(),
                ));
            }
            rule.validate()?;
        }
        Ok(())
    }
}

fn check_date(ms: i64) -> Result<(), RuleError> {
    if ms.rem_euclid(DAY_MS) != 0 {
        return Err(RuleError::InvalidArgument(
            "'Date' must be at midnight GMT".into(),
        ));
    }
    Ok(())
}

impl Rule {
    fn validate(&self) -> Result<(), RuleError> {
        use RuleError::*;
        let has_action = self.expiration.is_some()
            || !self.transitions.is_empty()
            || self.noncurrent_expiration.is_some()
            || !self.noncurrent_transitions.is_empty()
            || self.abort_incomplete_multipart_days.is_some();
        if !has_action {
            return Err(InvalidRequest(
                "At least one action needs to be specified in a rule".into(),
            ));
        }
        if let (Some(gt), Some(lt)) = (
            self.filter.object_size_greater_than,
            self.filter.object_size_less_than,
        ) {
            // AWS rejects out-of-range size bounds with InvalidRequest
            // (https://github.com/hashicorp/terraform-provider-aws/issues/41521); an empty
            // range is taken to be the same class of error.
            if gt >= lt {
                return Err(InvalidRequest(
                    "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
                ));
            }
        }
        let mut tag_keys = std::collections::HashSet::new();
        for (k, _) in &self.filter.tags {
            if !tag_keys.insert(k.as_str()) {
                return Err(InvalidRequest("Duplicate Tag Keys are not allowed.".into()));
            }
        }
        if self.abort_incomplete_multipart_days.is_some() && !self.filter.tags.is_empty() {
            return Err(InvalidRequest(
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into(),
            ));
        }
        if self.abort_incomplete_multipart_days == Some(0) {
            return Err(InvalidArgument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer".into()));
        }
        if let Some(e) = &self.expiration {
            let set = [
                e.days.is_some(),
                e.date_ms.is_some(),
                e.expired_object_delete_marker.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if set != 1 {
                return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into()));
            }
            if e.days == Some(0) {
                return Err(InvalidArgument(
                    "'Days' for Expiration action must be a positive integer".into(),
                ));
            }
            if let Some(d) = e.date_ms {
                check_date(d)?;
            }
            if e.expired_object_delete_marker == Some(true) && !self.filter.tags.is_empty() {
                return Err(InvalidRequest(
                    "ExpiredObjectDeleteMarker cannot be specified with tags.".into(),
                ));
            }
        }
        let mut uses_days = None;
        let mut last: Option<(i64, u8)> = None;
        let mut seen_classes = std::collections::HashSet::new();
        for t in &self.transitions {
            if !t.storage_class.is_transition_target() {
                return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into()));
            }
            if !seen_classes.insert(t.storage_class) {
                return Err(InvalidRequest(format!("'StorageClass' must be different for 'Transition' actions in same 'Rule' with ID '{}'", self.id)));
            }
            let when = match (t.days, t.date_ms) {
                (Some(d), None) => {
                    if uses_days == Some(false) {
                        return Err(InvalidRequest("Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule".into()));
                    }
                    uses_days = Some(true);
                    if t.storage_class.needs_30_days() && d < 30 {
                        return Err(InvalidArgument(format!("'Days' in Transition action must be greater than or equal to 30 for storageClass '{}'", t.storage_class)));
                    }
                    d as i64
                }
                (None, Some(ms)) => {
                    if uses_days == Some(true) {
                        return Err(InvalidRequest("Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule".into()));
                    }
                    uses_days = Some(false);
                    check_date(ms)?;
                    ms
                }
                _ => return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into())),
            };
            last = Some(match last {
                None => (when, t.storage_class.transition_rank()),
                Some((prev_when, prev_rank)) => {
                    let rank = t.storage_class.transition_rank();
                    if rank <= prev_rank && when > prev_when
                        || rank >= prev_rank && when < prev_when
                    {
                        return Err(InvalidArgument(format!("'Days' in the Transition action for StorageClass '{}' must be greater than 'Days' in the Transition action for the previous StorageClass", t.storage_class)));
                    }
                    (when.max(prev_when), rank.max(prev_rank))
                }
            });
            if let (Some(e), Some(d)) = (&self.expiration, t.days) {
                if let Some(ed) = e.days {
                    if ed <= d {
                        return Err(InvalidArgument(format!("'Days' in the Expiration action for filter '{}' must be greater than 'Days' in the Transition action", self.filter.prefix)));
                    }
                }
            }
        }
        if let Some(n) = &self.noncurrent_expiration {
            match n.noncurrent_days {
                Some(0) => return Err(InvalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer".into())),
                None if n.newer_noncurrent_versions.is_none() => {
                    return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into()))
                }
                _ => {}
            }
            if let Some(v) = n.newer_noncurrent_versions {
                if !(1..=100).contains(&v) {
                    return Err(InvalidArgument(
                        "'NewerNoncurrentVersions' must be between 1 and 100".into(),
                    ));
                }
            }
        }
        let mut nc_classes = std::collections::HashSet::new();
        for t in &self.noncurrent_transitions {
            if !t.storage_class.is_transition_target() {
                return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into()));
            }
            if !nc_classes.insert(t.storage_class) {
                return Err(InvalidRequest(format!("'StorageClass' must be different for 'NoncurrentVersionTransition' actions in same 'Rule' with ID '{}'", self.id)));
            }
            if t.storage_class.needs_30_days() && t.noncurrent_days < 30 {
                return Err(InvalidArgument(format!("'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to 30 for storageClass '{}'", t.storage_class)));
            }
            if let Some(v) = t.newer_noncurrent_versions {
                if !(1..=100).contains(&v) {
                    return Err(InvalidArgument(
                        "'NewerNoncurrentVersions' must be between 1 and 100".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the filter selects a version with these properties.
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        let f = &self.filter;
        key.starts_with(&f.prefix)
            && f.tags.iter().all(|t| tags.contains(t))
            && f.object_size_greater_than.is_none_or(|gt| size > gt)
            && f.object_size_less_than.is_none_or(|lt| size < lt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(30),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn cfg(rules: Vec<Rule>) -> LifecycleConfiguration {
        LifecycleConfiguration { rules }
    }

    #[test]
    fn accepts_a_sensible_configuration() {
        let mut r = rule("a");
        r.transitions = vec![
            Transition {
                days: Some(30),
                date_ms: None,
                storage_class: StorageClass::StandardIa,
            },
            Transition {
                days: Some(60),
                date_ms: None,
                storage_class: StorageClass::Glacier,
            },
        ];
        r.expiration = Some(Expiration {
            days: Some(365),
            ..Default::default()
        });
        r.noncurrent_expiration = Some(NoncurrentExpiration {
            noncurrent_days: Some(10),
            newer_noncurrent_versions: Some(2),
        });
        r.abort_incomplete_multipart_days = Some(7);
        cfg(vec![r, rule("b")]).validate().unwrap();
    }

    #[test]
    fn refuses_what_s3_refuses() {
        assert!(matches!(
            cfg(vec![]).validate(),
            Err(RuleError::Malformed(_))
        ));
        assert!(matches!(
            cfg(vec![rule("a"), rule("a")]).validate(),
            Err(RuleError::InvalidArgument(_))
        ));
        let mut r = rule("a");
        r.expiration = Some(Expiration {
            days: Some(0),
            ..Default::default()
        });
        assert!(matches!(
            cfg(vec![r]).validate(),
            Err(RuleError::InvalidArgument(_))
        ));
        let mut r = rule("a");
        r.transitions = vec![Transition {
            days: Some(10),
            date_ms: None,
            storage_class: StorageClass::StandardIa,
        }];
        assert!(matches!(
            cfg(vec![r]).validate(),
            Err(RuleError::InvalidArgument(_))
        ));
        let mut r = rule("a");
        r.expiration = Some(Expiration {
            date_ms: Some(DAY_MS + 5),
            ..Default::default()
        });
        assert!(matches!(
            cfg(vec![r]).validate(),
            Err(RuleError::InvalidArgument(_))
        ));
        let mut r = rule("a");
        r.transitions = vec![
            Transition {
                days: Some(90),
                date_ms: None,
                storage_class: StorageClass::Glacier,
            },
            Transition {
                days: Some(100),
                date_ms: None,
                storage_class: StorageClass::StandardIa,
            },
        ];
        r.expiration = None;
        assert!(cfg(vec![r]).validate().is_err());
        let mut r = rule("a");
        r.expiration = None;
        assert!(matches!(
            cfg(vec![r]).validate(),
            Err(RuleError::InvalidRequest(_))
        ));
        let mut r = rule("a");
        r.abort_incomplete_multipart_days = Some(1);
        r.filter.tags = vec![("k".into(), "v".into())];
        assert!(matches!(
            cfg(vec![r]).validate(),
            Err(RuleError::InvalidRequest(_))
        ));
        let mut r = rule("a");
        r.filter.object_size_greater_than = Some(10);
        r.filter.object_size_less_than = Some(5);
        assert!(matches!(
            cfg(vec![r]).validate(),
            Err(RuleError::InvalidRequest(_))
        ));
        let many: Vec<Rule> = (0..1001).map(|i| rule(&i.to_string())).collect();
        assert!(matches!(cfg(many).validate(), Err(RuleError::Malformed(_))));
    }

    #[test]
    fn filters_match() {
        let mut r = rule("a");
        r.filter = Filter {
            prefix: "logs/".into(),
            tags: vec![("t".into(), "1".into())],
            object_size_greater_than: Some(10),
            object_size_less_than: Some(100),
        };
        let tags = vec![
            ("t".to_string(), "1".to_string()),
            ("u".to_string(), "2".to_string()),
        ];
        assert!(r.matches("logs/a", 50, &tags));
        assert!(!r.matches("log/a", 50, &tags));
        assert!(!r.matches("logs/a", 10, &tags));
        assert!(!r.matches("logs/a", 100, &tags));
        assert!(!r.matches("logs/a", 50, &[]));
    }
}
