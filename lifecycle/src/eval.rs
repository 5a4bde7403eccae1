//! Rule evaluation: a pure function of (rules, facts about one version, now) giving the action
//! due now, if any, and the next action that will fall due.
//!
//! Invariant: evaluation reads nothing but its arguments, so `explain` shows exactly what the
//! worker will do, and the worker re-evaluating a version after a crash reaches the same decision.

use serde::Serialize;
use strata_storage::{Hold, Retention, StorageClass};

use crate::clock::LifecycleClock;
use crate::rules::{LifecycleConfiguration, Rule};

/// What the evaluator needs to know about one version.
#[derive(Clone, Debug)]
pub struct VersionFacts<'a> {
    /// Key.
    pub key: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// Object tags.
    pub tags: &'a [(String, String)],
    /// Current storage class.
    pub storage_class: StorageClass,
    /// Whether it is the key's latest version.
    pub is_latest: bool,
    /// Whether it is a delete marker.
    pub is_delete_marker: bool,
    /// Creation (Last-Modified), ms since the epoch.
    pub created_ms: i64,
    /// When it became noncurrent (noncurrent versions only).
    pub noncurrent_since_ms: Option<i64>,
    /// For a noncurrent version: how many noncurrent versions of the key are newer than it.
    pub newer_noncurrent: u32,
    /// Whether it is the only version of its key.
    pub only_version: bool,
    /// Whether the bucket has (or had) versioning: expiring a current version then adds a delete
    /// marker instead of deleting it.
    pub versioned_bucket: bool,
    /// Object Lock retention, if set.
    pub retention: Option<Retention>,
    /// Whether an Object Lock legal hold is on.
    pub legal_hold: bool,
}

/// An action the worker applies to a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "storage_class")]
pub enum Action {
    /// Expire the current version: delete it (unversioned) or add a delete marker (versioned).
    Expire,
    /// Permanently delete a noncurrent version.
    DeleteNoncurrent,
    /// Remove a delete marker that no longer hides any version.
    RemoveExpiredDeleteMarker,
    /// Move the current version to a storage class.
    Transition(StorageClass),
    /// Move a noncurrent version to a storage class.
    TransitionNoncurrent(StorageClass),
}

impl Action {
    /// A short name for logs and tables.
    pub fn name(&self) -> String {
        match self {
            Self::Expire => "Expire".into(),
            Self::DeleteNoncurrent => "DeleteNoncurrent".into(),
            Self::RemoveExpiredDeleteMarker => "RemoveExpiredDeleteMarker".into(),
            Self::Transition(c) => format!("Transition({c})"),
            Self::TransitionNoncurrent(c) => format!("TransitionNoncurrent({c})"),
        }
    }
}

/// An action with the rule that causes it and when it is (or was) due.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Due {
    /// The action.
    pub action: Action,
    /// The rule's id.
    pub rule_id: String,
    /// When it falls due, ms since the epoch.
    pub due_ms: i64,
}

/// A removal that is due but waits for a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Held {
    /// The removal.
    pub due: Due,
    /// The lock that holds the version.
    pub by: Hold,
}

/// The outcome of evaluating one version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The action to apply now.
    pub now: Option<Due>,
    /// The earliest action due later.
    pub next: Option<Due>,
    /// A removal that would be due now but that a lock holds off (it is also `next`, at the
    /// end of a retention period; a legal hold has no end, and its removal is evaluated again
    /// when the hold changes).
    pub held: Option<Held>,
}

/// When an action `days` after `from_ms` falls due. On the real clock S3 rounds up to the next
/// midnight UTC; on a scaled clock the day is exact (no rounding), so that a rule due after D
/// short days is applied right after D of them.
pub fn due_after_days(clock: &LifecycleClock, from_ms: i64, days: u32) -> i64 {
    let raw = clock.add_days(from_ms, days as u64);
    if clock.is_scaled() {
        return raw;
    }
    let day = 86_400_000i64;
    let rem = raw.rem_euclid(day);
    if rem == 0 {
        raw
    } else {
        raw + (day - rem)
    }
}

fn candidates(rule: &Rule, f: &VersionFacts<'_>, clock: &LifecycleClock) -> Vec<Due> {
    let mut out = Vec::new();
    let due = |action: Action, due_ms: i64| Due {
        action,
        rule_id: rule.id.clone(),
        due_ms,
    };
    if f.is_latest && f.is_delete_marker {
        if let Some(e) = &rule.expiration {
            if e.expired_object_delete_marker == Some(true) && f.only_version {
                out.push(due(Action::RemoveExpiredDeleteMarker, f.created_ms));
            }
        }
        return out;
    }
    if f.is_latest {
        if let Some(e) = &rule.expiration {
            if let Some(d) = e.days {
                out.push(due(Action::Expire, due_after_days(clock, f.created_ms, d)));
            }
            if let Some(date) = e.date_ms {
                out.push(due(Action::Expire, date));
            }
        }
        for t in &rule.transitions {
            if t.storage_class.transition_rank() <= f.storage_class.transition_rank() {
                continue;
            }
            let when = match (t.days, t.date_ms) {
                (Some(d), _) => due_after_days(clock, f.created_ms, d),
                (None, Some(date)) => date,
                (None, None) => continue,
            };
            out.push(due(Action::Transition(t.storage_class), when));
        }
        return out;
    }
    // Noncurrent versions (delete markers included).
    let since = f.noncurrent_since_ms.unwrap_or(f.created_ms);
    if let Some(n) = &rule.noncurrent_expiration {
        let kept = n
            .newer_noncurrent_versions
            .is_some_and(|keep| f.newer_noncurrent < keep);
        if !kept {
            let when = match n.noncurrent_days {
                Some(d) => due_after_days(clock, since, d),
                None => since,
            };
            out.push(due(Action::DeleteNoncurrent, when));
        }
    }
    if !f.is_delete_marker {
        for t in &rule.noncurrent_transitions {
            if t.storage_class.transition_rank() <= f.storage_class.transition_rank() {
                continue;
            }
            if t.newer_noncurrent_versions
                .is_some_and(|keep| f.newer_noncurrent < keep)
            {
                continue;
            }
            out.push(due(
                Action::TransitionNoncurrent(t.storage_class),
                due_after_days(clock, since, t.noncurrent_days),
            ));
        }
    }
    out
}

/// Precedence among actions due at the same time: deletion before transition, and the deepest
/// transition first (S3 applies the action that leaves the least behind).
fn precedence(a: &Action) -> u8 {
    match a {
        Action::Expire | Action::DeleteNoncurrent | Action::RemoveExpiredDeleteMarker => 10,
        Action::Transition(c) | Action::TransitionNoncurrent(c) => c.transition_rank(),
    }
}

/// Evaluates every enabled rule that selects the version.
pub fn evaluate(
    cfg: &LifecycleConfiguration,
    facts: &VersionFacts<'_>,
    clock: &LifecycleClock,
    now_ms: i64,
) -> Evaluation {
    // A removal (DeleteNoncurrent, or Expire in a bucket never versioned) is what a lock holds:
    // expiring a current version in a versioned bucket only adds a delete marker, which S3 does
    // whatever the lock, and transitions go ahead too.
    let removes = |a: &Action| match a {
        Action::DeleteNoncurrent => true,
        Action::Expire => !facts.versioned_bucket,
        Action::RemoveExpiredDeleteMarker
        | Action::Transition(_)
        | Action::TransitionNoncurrent(_) => false,
    };
    let mut due_now: Option<Due> = None;
    // The best action due now that is not a removal: what applies when a lock holds the removal.
    let mut due_kept: Option<Due> = None;
    let mut next: Option<Due> = None;
    for rule in cfg.rules.iter().filter(|r| r.enabled) {
        let size = if facts.is_delete_marker {
            0
        } else {
            facts.size
        };
        let selected = if facts.is_delete_marker {
            facts.key.starts_with(&rule.filter.prefix) && rule.filter.tags.is_empty()
        } else {
            rule.matches(facts.key, size, facts.tags)
        };
        if !selected {
            continue;
        }
        for c in candidates(rule, facts, clock) {
            if c.due_ms <= now_ms {
                if !removes(&c.action)
                    && due_kept
                        .as_ref()
                        .is_none_or(|cur| precedence(&c.action) > precedence(&cur.action))
                {
                    due_kept = Some(c.clone());
                }
                let better = match &due_now {
                    None => true,
                    Some(cur) => precedence(&c.action) > precedence(&cur.action),
                };
                if better {
                    due_now = Some(c);
                }
            } else {
                let sooner = match &next {
                    None => true,
                    Some(cur) => c.due_ms < cur.due_ms,
                };
                if sooner {
                    next = Some(c);
                }
            }
        }
    }
    // A removal waits for the version's lock (User Guide, "Managing Object Lock": lifecycle
    // expiration does not delete a locked version); an action it outranked then applies.
    let mut held = None;
    if let Some(d) = due_now.take_if(|d| removes(&d.action)) {
        match strata_storage::hold(facts.retention, facts.legal_hold, now_ms) {
            None => due_now = Some(d),
            Some(by) => {
                due_now = due_kept;
                if let Hold::Retention(r) = by {
                    let at_end = Due {
                        due_ms: r.retain_until_ms,
                        ..d.clone()
                    };
                    if next.as_ref().is_none_or(|n| at_end.due_ms < n.due_ms) {
                        next = Some(at_end);
                    }
                }
                held = Some(Held { due: d, by });
            }
        }
    }
    // Once the version goes, nothing else follows for it.
    if matches!(
        due_now.as_ref().map(|d| &d.action),
        Some(Action::Expire | Action::DeleteNoncurrent | Action::RemoveExpiredDeleteMarker)
    ) {
        next = None;
    }
    Evaluation {
        now: due_now,
        next,
        held,
    }
}

/// Whether an incomplete multipart upload started at `initiated_ms` is due for abort, and when.
pub fn upload_abort_due(
    cfg: &LifecycleConfiguration,
    key: &str,
    initiated_ms: i64,
    clock: &LifecycleClock,
) -> Option<Due> {
    cfg.rules
        .iter()
        .filter(|r| r.enabled && key.starts_with(&r.filter.prefix))
        .filter_map(|r| {
            r.abort_incomplete_multipart_days.map(|d| Due {
                action: Action::Expire,
                rule_id: r.id.clone(),
                due_ms: due_after_days(clock, initiated_ms, d),
            })
        })
        .min_by_key(|d| d.due_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Expiration, NoncurrentExpiration, Transition};
    use proptest::prelude::*;

    fn facts(key: &str) -> VersionFacts<'_> {
        VersionFacts {
            key,
            size: 100,
            tags: &[],
            storage_class: StorageClass::Standard,
            is_latest: true,
            is_delete_marker: false,
            created_ms: 0,
            noncurrent_since_ms: None,
            newer_noncurrent: 0,
            only_version: true,
            versioned_bucket: false,
            retention: None,
            legal_hold: false,
        }
    }

    fn cfg_with(rule: Rule) -> LifecycleConfiguration {
        LifecycleConfiguration { rules: vec![rule] }
    }

    fn expire_days(d: u32) -> Rule {
        Rule {
            id: "exp".into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(d),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn expiration_falls_due_after_the_days() {
        let clock = LifecycleClock::scaled(10);
        let cfg = cfg_with(expire_days(3));
        let e = evaluate(&cfg, &facts("a"), &clock, 29_999);
        assert_eq!(e.now, None);
        assert_eq!(e.next.as_ref().map(|d| d.due_ms), Some(30_000));
        let e = evaluate(&cfg, &facts("a"), &clock, 30_000);
        assert_eq!(e.now.map(|d| d.action), Some(Action::Expire));
    }

    #[test]
    fn real_clock_rounds_to_midnight() {
        let clock = LifecycleClock::system();
        let created = 86_400_000 * 10 + 5;
        assert_eq!(due_after_days(&clock, created, 1), 86_400_000 * 12);
    }

    #[test]
    fn transitions_waterfall_and_expiration_wins() {
        let clock = LifecycleClock::scaled(1);
        let mut r = expire_days(100);
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
        let cfg = cfg_with(r);
        let at = |s: i64| {
            evaluate(&cfg, &facts("a"), &clock, s * 1000)
                .now
                .map(|d| d.action)
        };
        assert_eq!(at(29), None);
        assert_eq!(at(30), Some(Action::Transition(StorageClass::StandardIa)));
        assert_eq!(at(61), Some(Action::Transition(StorageClass::Glacier)));
        assert_eq!(at(100), Some(Action::Expire));
        // Already in GLACIER: no transition back up.
        let mut f = facts("a");
        f.storage_class = StorageClass::Glacier;
        assert_eq!(evaluate(&cfg, &f, &clock, 70_000).now, None);
    }

    #[test]
    fn noncurrent_rules_keep_newer_versions() {
        let clock = LifecycleClock::scaled(1);
        let r = Rule {
            id: "nc".into(),
            enabled: true,
            noncurrent_expiration: Some(NoncurrentExpiration {
                noncurrent_days: Some(2),
                newer_noncurrent_versions: Some(2),
            }),
            ..Default::default()
        };
        let cfg = cfg_with(r);
        let mut f = facts("a");
        f.is_latest = false;
        f.noncurrent_since_ms = Some(10_000);
        f.newer_noncurrent = 1;
        assert_eq!(
            evaluate(&cfg, &f, &clock, 100_000).now,
            None,
            "kept: only one newer noncurrent"
        );
        f.newer_noncurrent = 2;
        assert_eq!(evaluate(&cfg, &f, &clock, 11_999).now, None);
        assert_eq!(
            evaluate(&cfg, &f, &clock, 12_000).now.map(|d| d.action),
            Some(Action::DeleteNoncurrent)
        );
    }

    #[test]
    fn expired_delete_markers_and_disabled_rules() {
        let clock = LifecycleClock::scaled(1);
        let r = Rule {
            id: "m".into(),
            enabled: true,
            expiration: Some(Expiration {
                expired_object_delete_marker: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut f = facts("a");
        f.is_delete_marker = true;
        assert_eq!(
            evaluate(&cfg_with(r.clone()), &f, &clock, 1)
                .now
                .map(|d| d.action),
            Some(Action::RemoveExpiredDeleteMarker)
        );
        f.only_version = false;
        assert_eq!(evaluate(&cfg_with(r.clone()), &f, &clock, 1).now, None);
        let mut off = expire_days(1);
        off.enabled = false;
        assert_eq!(
            evaluate(&cfg_with(off), &facts("a"), &clock, 1_000_000).now,
            None
        );
    }

    #[test]
    fn removals_wait_for_locks_and_transitions_do_not() {
        use strata_storage::LockMode;
        let clock = LifecycleClock::scaled(1);
        let retention = Retention {
            mode: LockMode::Governance,
            retain_until_ms: 50_000,
        };
        // An unversioned expiration removes the version: it waits for the retention's end.
        let mut f = facts("a");
        f.retention = Some(retention);
        let e = evaluate(&cfg_with(expire_days(3)), &f, &clock, 10_000);
        assert_eq!(e.now, None);
        let held = e.held.expect("held");
        assert_eq!(held.by, Hold::Retention(retention));
        assert_eq!(held.due.action, Action::Expire);
        assert_eq!(
            e.next.map(|d| (d.action, d.due_ms)),
            Some((Action::Expire, 50_000))
        );
        let e = evaluate(&cfg_with(expire_days(3)), &f, &clock, 50_001);
        assert_eq!(e.now.map(|d| d.action), Some(Action::Expire));
        assert_eq!(e.held, None);
        // A legal hold holds past any date, and reports no end.
        f.legal_hold = true;
        let e = evaluate(&cfg_with(expire_days(3)), &f, &clock, 90_000);
        assert_eq!((e.now, e.held.map(|h| h.by)), (None, Some(Hold::LegalHold)));
        // In a versioned bucket expiring the current version only adds a marker: not held.
        f.versioned_bucket = true;
        let e = evaluate(&cfg_with(expire_days(3)), &f, &clock, 10_000);
        assert_eq!(e.now.map(|d| d.action), Some(Action::Expire));
        // Transitions go ahead.
        let mut r = expire_days(100);
        r.transitions = vec![Transition {
            days: Some(1),
            date_ms: None,
            storage_class: StorageClass::Glacier,
        }];
        let e = evaluate(&cfg_with(r.clone()), &f, &clock, 2_000);
        assert_eq!(
            e.now.map(|d| d.action),
            Some(Action::Transition(StorageClass::Glacier))
        );
        // A transition due together with a held removal is not lost behind it.
        r.expiration = Some(Expiration {
            days: Some(2),
            ..Default::default()
        });
        f.versioned_bucket = false;
        let e = evaluate(&cfg_with(r), &f, &clock, 10_000);
        assert_eq!(
            e.now.map(|d| d.action),
            Some(Action::Transition(StorageClass::Glacier))
        );
        assert_eq!(e.held.map(|h| h.due.action), Some(Action::Expire));
    }

    proptest! {
        /// Due actions never come before their time, and the reported next action is in the future
        /// and becomes due exactly at its time.
        #[test]
        fn due_times_are_consistent(days in 1u32..50, created in 0i64..1_000_000, now in 0i64..200_000_000, day_s in 1u64..100) {
            let clock = LifecycleClock::scaled(day_s);
            let cfg = cfg_with(expire_days(days));
            let mut f = facts("k");
            f.created_ms = created;
            let e = evaluate(&cfg, &f, &clock, now);
            let due = created + days as i64 * day_s as i64 * 1000;
            match e.now {
                Some(d) => prop_assert!(d.due_ms <= now && d.due_ms == due),
                None => {
                    let next = e.next.expect("a pending expiration is reported");
                    prop_assert!(next.due_ms > now);
                    prop_assert_eq!(next.due_ms, due);
                    let later = evaluate(&cfg, &f, &clock, next.due_ms);
                    prop_assert!(later.now.is_some());
                }
            }
        }
    }
}
