//! Unit tests of `replication`.
use super::*;
use strata_storage::{Body, ObjectMeta};

fn rule(id: &str, priority: i64, prefix: &str, dest: &str) -> ReplicationRule {
    ReplicationRule {
        id: id.into(),
        priority: Some(priority),
        enabled: true,
        v2: true,
        filter: ReplicationFilter {
            prefix: prefix.into(),
            ..Default::default()
        },
        destination: Destination {
            bucket: dest.into(),
            ..Default::default()
        },
        delete_marker_replication: Some(false),
        existing_object_replication: None,
    }
}

fn version(key: &str, tags: &[(&str, &str)], marker: bool) -> ObjectVersion {
    ObjectVersion {
        id: 1,
        bucket: "src".into(),
        key: key.into(),
        version_id: "v".into(),
        is_latest: true,
        is_delete_marker: marker,
        size: 0,
        etag: String::new(),
        last_modified_ms: 0,
        storage_class: StorageClass::Standard,
        meta: ObjectMeta {
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
        body: Body::Inline(Vec::new()),
        noncurrent_since_ms: None,
        archived: false,
        restore: None,
        lifecycle_epoch: 0,
        replication_status: None,
    }
}

fn cfg(rules: Vec<ReplicationRule>) -> ReplicationConfiguration {
    ReplicationConfiguration {
        role: String::new(),
        rules,
    }
}

#[test]
fn targets() {
    assert_eq!(
        parse_target("arn:aws:s3:::dst"),
        Some(Target::Local("dst".into()))
    );
    assert_eq!(
        parse_target("arn:strata:replication::west:dst"),
        Some(Target::Remote {
            name: "west".into(),
            bucket: "dst".into()
        })
    );
    assert_eq!(parse_target("arn:aws:s3:::"), None);
    assert_eq!(parse_target("dst"), None);
    assert_eq!(parse_target("arn:strata:replication::west"), None);
}

#[test]
fn highest_priority_wins_per_destination() {
    let mut low = rule("low", 1, "", "arn:aws:s3:::a");
    low.destination.storage_class = Some(StorageClass::StandardIa);
    let high = rule("high", 5, "logs/", "arn:aws:s3:::a");
    let other = rule("other", 1, "", "arn:aws:s3:::b");
    let c = cfg(vec![low, high, other]);
    let t = c.targets(&version("logs/x", &[], false), ReplicationEvent::NewVersion);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].rule_id, "high");
    assert_eq!(t[0].storage_class, None);
    assert_eq!(t[1].rule_id, "other");
    let t = c.targets(&version("data/x", &[], false), ReplicationEvent::NewVersion);
    assert_eq!(
        t.iter().map(|t| t.rule_id.as_str()).collect::<Vec<_>>(),
        ["low", "other"]
    );
    assert_eq!(t[0].storage_class.map(|c| c.as_str()), Some("STANDARD_IA"));
}

#[test]
fn filters_markers_existing_and_disabled_rules() {
    let mut tagged = rule("tagged", 2, "", "arn:aws:s3:::a");
    tagged.filter.tags = vec![("team".into(), "red".into())];
    let mut disabled = rule("off", 9, "", "arn:aws:s3:::a");
    disabled.enabled = false;
    let c = cfg(vec![tagged, disabled]);
    assert!(c
        .targets(&version("k", &[], false), ReplicationEvent::NewVersion)
        .is_empty());
    assert_eq!(
        c.targets(
            &version("k", &[("team", "red"), ("x", "y")], false),
            ReplicationEvent::NewVersion
        )
        .len(),
        1
    );
    // Delete markers follow DeleteMarkerReplication; the legacy schema always carries them.
    let mut dm = rule("dm", 1, "", "arn:aws:s3:::a");
    assert!(cfg(vec![dm.clone()])
        .targets(&version("k", &[], true), ReplicationEvent::NewVersion)
        .is_empty());
    dm.delete_marker_replication = Some(true);
    assert_eq!(
        cfg(vec![dm.clone()])
            .targets(&version("k", &[], true), ReplicationEvent::NewVersion)
            .len(),
        1
    );
    let mut legacy = rule("legacy", 0, "", "arn:aws:s3:::a");
    legacy.v2 = false;
    legacy.priority = None;
    legacy.delete_marker_replication = None;
    assert_eq!(
        cfg(vec![legacy])
            .targets(&version("k", &[], true), ReplicationEvent::NewVersion)
            .len(),
        1
    );
    // Versions in an archive class are not replicated.
    let mut glacier = version("k", &[], false);
    glacier.storage_class = StorageClass::Glacier;
    assert!(cfg(vec![dm.clone()])
        .targets(&glacier, ReplicationEvent::NewVersion)
        .is_empty());
    // Existing versions only for rules that ask for them.
    assert!(cfg(vec![dm.clone()])
        .targets(&version("k", &[], false), ReplicationEvent::Existing)
        .is_empty());
    dm.existing_object_replication = Some(true);
    assert_eq!(
        cfg(vec![dm])
            .targets(&version("k", &[], false), ReplicationEvent::Existing)
            .len(),
        1
    );
}

#[test]
fn validation() {
    let known = |n: &str| n == "west";
    let ok = cfg(vec![rule("a", 1, "", "arn:aws:s3:::dst")]);
    assert_eq!(ok.validate("src", &known), Ok(()));
    assert!(cfg(vec![]).validate("src", &known).is_err());
    let dup = cfg(vec![
        rule("a", 1, "", "arn:aws:s3:::dst"),
        rule("a", 2, "", "arn:aws:s3:::dst"),
    ]);
    assert!(matches!(
        dup.validate("src", &known),
        Err(RuleError::InvalidArgument(_))
    ));
    let same_priority = cfg(vec![
        rule("a", 1, "", "arn:aws:s3:::dst"),
        rule("b", 1, "x", "arn:aws:s3:::other"),
    ]);
    assert!(matches!(
        same_priority.validate("src", &known),
        Err(RuleError::InvalidRequest(_))
    ));
    let mut no_priority = rule("a", 1, "", "arn:aws:s3:::dst");
    no_priority.priority = None;
    assert!(cfg(vec![no_priority]).validate("src", &known).is_err());
    let mut tag_dm = rule("a", 1, "", "arn:aws:s3:::dst");
    tag_dm.filter.tags = vec![("k".into(), "v".into())];
    tag_dm.delete_marker_replication = Some(true);
    assert!(cfg(vec![tag_dm]).validate("src", &known).is_err());
    assert!(
        cfg(vec![rule("a", 1, "", "arn:strata:replication::west:b")])
            .validate("src", &known)
            .is_ok()
    );
    assert!(matches!(
        cfg(vec![rule("a", 1, "", "arn:strata:replication::east:b")]).validate("src", &known),
        Err(RuleError::InvalidRequest(_))
    ));
    assert!(cfg(vec![rule("a", 1, "", "bucket")])
        .validate("src", &known)
        .is_err());
    assert!(matches!(
        cfg(vec![rule("a", 1, "", "arn:aws:s3:::src")]).validate("src", &known),
        Err(RuleError::InvalidRequest(_))
    ));
    let mut legacy_with_priority = rule("a", 1, "", "arn:aws:s3:::dst");
    legacy_with_priority.v2 = false;
    legacy_with_priority.delete_marker_replication = None;
    assert!(cfg(vec![legacy_with_priority])
        .validate("src", &known)
        .is_err());
    let mut no_dm = rule("a", 1, "", "arn:aws:s3:::dst");
    no_dm.delete_marker_replication = None;
    assert!(cfg(vec![no_dm]).validate("src", &known).is_err());
    assert!(cfg(vec![rule(&"x".repeat(256), 1, "", "arn:aws:s3:::dst")])
        .validate("src", &known)
        .is_err());
}

#[test]
fn failures_that_rest_the_whole_destination() {
    let status = |status: u16, code: &str| {
        CarryError::Remote(RemoteError::status(status, Some(code.to_owned())))
    };
    assert!(destination_wide(&CarryError::Remote(RemoteError::new(
        RemoteErrorKind::Transport,
        "connection refused"
    ))));
    assert!(destination_wide(&status(503, "SlowDown")));
    assert!(destination_wide(&status(403, "AccessDenied")));
    assert!(destination_wide(&status(404, "NoSuchBucket")));
    assert!(destination_wide(&CarryError::Local(
        "invalid input: Destination bucket must have versioning enabled.".into()
    )));
    assert!(!destination_wide(&status(400, "InvalidArgument")));
    assert!(!destination_wide(&status(412, "PreconditionFailed")));
}

#[test]
fn remote_errors_read_as_before_in_the_status_report() {
    assert_eq!(
        RemoteError::new(RemoteErrorKind::Transport, "connection refused").to_string(),
        "transport: connection refused"
    );
    assert_eq!(
        RemoteError::status(404, Some("NoSuchBucket".into())).to_string(),
        "HTTP 404 NoSuchBucket"
    );
    assert_eq!(RemoteError::status(502, None).to_string(), "HTTP 502");
}

#[test]
fn retry_delays_follow_the_clock() {
    let real = LifecycleClock::system();
    assert_eq!(retry_delay_ms(&real, 1), 60_000);
    assert_eq!(retry_delay_ms(&real, 2), 120_000);
    assert_eq!(retry_delay_ms(&real, 10), 300_000);
    let fast = LifecycleClock::scaled(1);
    assert_eq!(retry_delay_ms(&fast, 1), 50);
    assert_eq!(retry_delay_ms(&fast, 10), 50);
    let day_minute = LifecycleClock::scaled(1440);
    assert_eq!(retry_delay_ms(&day_minute, 3), 4_000);
}
