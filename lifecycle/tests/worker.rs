//! The lifecycle worker against a real store, with the clock shifted instead of waited for.

use strata_lifecycle::rules::{Expiration, Filter, NoncurrentExpiration, Rule, Transition};
use strata_lifecycle::worker::{explain, run_pass};
use strata_lifecycle::{Action, LifecycleClock, LifecycleConfiguration};
use strata_storage::{NewVersion, ObjectMeta, StorageClass, Store, Versioning};

const DAY: i64 = 1_000; // one lifecycle day = 1 s

fn put(store: &Store, bucket: &str, key: &str, data: &[u8]) -> String {
    let mut w = store.body_writer();
    w.write(data).unwrap();
    store
        .put_object(
            bucket,
            key,
            w.finish().unwrap(),
            NewVersion {
                etag: "e".into(),
                meta: ObjectMeta::default(),
                storage_class: StorageClass::Standard,
                condition: Default::default(),
                replica_of: None,
            },
        )
        .unwrap()
        .version_id
}

fn configure(store: &Store, bucket: &str, rules: Vec<Rule>) {
    let cfg = LifecycleConfiguration { rules };
    cfg.validate().unwrap();
    strata_lifecycle::worker::store_config(store, bucket, Some(&cfg)).unwrap();
}

/// A store opened with the replication policy, as the server opens it.
fn open_replicating() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = strata_storage::StoreConfig::new(dir.path());
    cfg.durability = strata_storage::Durability::Process;
    cfg.replication_policy = Some(strata_lifecycle::replication::policy());
    let store = Store::open(cfg).unwrap().0;
    (dir, store)
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = strata_storage::open_for_tests(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn expiration_in_an_unversioned_bucket_deletes() {
    let (_dir, store) = open();
    store.create_bucket("u", "us-east-1").unwrap();
    put(&store, "u", "logs/a", b"a");
    put(&store, "u", "keep/b", b"b");
    configure(
        &store,
        "u",
        vec![Rule {
            id: "logs".into(),
            enabled: true,
            filter: Filter {
                prefix: "logs/".into(),
                ..Default::default()
            },
            expiration: Some(Expiration {
                days: Some(2),
                ..Default::default()
            }),
            ..Default::default()
        }],
    );
    let clock = LifecycleClock::scaled(1);
    let report = run_pass(&store, &clock.shifted(DAY), None).unwrap();
    assert_eq!(report.actions_applied, 0);
    let (_, rows) = explain(&store, &clock, "u", clock.now_ms()).unwrap();
    let logs = rows.iter().find(|r| r.key == "logs/a").unwrap();
    assert_eq!(
        logs.next.as_ref().map(|d| d.action.clone()),
        Some(Action::Expire)
    );
    assert!(rows
        .iter()
        .find(|r| r.key == "keep/b")
        .unwrap()
        .next
        .is_none());
    let report = run_pass(&store, &clock.shifted(3 * DAY), None).unwrap();
    assert_eq!(report.actions_applied, 1);
    assert!(store.get_object("u", "logs/a", None).is_err());
    assert!(store.get_object("u", "keep/b", None).is_ok());
    // A second pass finds nothing more to do.
    assert_eq!(
        run_pass(&store, &clock.shifted(3 * DAY), None)
            .unwrap()
            .actions_applied,
        0
    );
    let log = store.lifecycle_log(Some("u"), 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].key.as_str(),
            log[0].action.as_str(),
            log[0].rule_id.as_str()
        ),
        ("logs/a", "Expire", "logs")
    );
}

#[test]
fn versioned_bucket_markers_noncurrent_versions_and_transitions() {
    let (_dir, store) = open();
    store.create_bucket("v", "us-east-1").unwrap();
    store.set_versioning("v", Versioning::Enabled).unwrap();
    for i in 0..4 {
        put(&store, "v", "k", format!("v{i}").as_bytes());
    }
    configure(
        &store,
        "v",
        vec![Rule {
            id: "all".into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(5),
                ..Default::default()
            }),
            transitions: vec![Transition {
                days: Some(1),
                date_ms: None,
                storage_class: StorageClass::GlacierIr,
            }],
            noncurrent_expiration: Some(NoncurrentExpiration {
                noncurrent_days: Some(1),
                newer_noncurrent_versions: Some(1),
            }),
            ..Default::default()
        }],
    );
    let clock = LifecycleClock::scaled(1);
    // Day 2: the current version moves to GLACIER_IR; of three noncurrent versions the newest is
    // kept, the two older ones go.
    run_pass(&store, &clock.shifted(2 * DAY), None).unwrap();
    let versions = store
        .list_versions("v", "", None, None, None, 100)
        .unwrap()
        .entries;
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0].storage_class, "GLACIER_IR");
    // Day 6: the current version expires into a delete marker.
    run_pass(&store, &clock.shifted(6 * DAY), None).unwrap();
    let versions = store
        .list_versions("v", "", None, None, None, 100)
        .unwrap()
        .entries;
    assert!(versions[0].is_delete_marker && versions[0].is_latest);
    // Later the now-noncurrent versions beyond the newest one go too.
    run_pass(&store, &clock.shifted(20 * DAY), None).unwrap();
    let versions = store
        .list_versions("v", "", None, None, None, 100)
        .unwrap()
        .entries;
    assert_eq!(
        versions.len(),
        2,
        "marker plus one kept noncurrent version: {versions:?}"
    );
}

#[test]
fn expired_delete_markers_are_removed_and_uploads_aborted() {
    let (_dir, store) = open();
    store.create_bucket("m", "us-east-1").unwrap();
    store.set_versioning("m", Versioning::Enabled).unwrap();
    let v = put(&store, "m", "gone", b"x");
    store.delete_object("m", "gone", None).unwrap();
    store.delete_object("m", "gone", Some(&v)).unwrap();
    let up = store
        .create_upload(
            "m",
            "big",
            StorageClass::Standard,
            ObjectMeta::default(),
            None,
        )
        .unwrap();
    configure(
        &store,
        "m",
        vec![Rule {
            id: "clean".into(),
            enabled: true,
            expiration: Some(Expiration {
                expired_object_delete_marker: Some(true),
                ..Default::default()
            }),
            abort_incomplete_multipart_days: Some(1),
            ..Default::default()
        }],
    );
    let clock = LifecycleClock::scaled(1);
    let report = run_pass(&store, &clock.shifted(2 * DAY), None).unwrap();
    assert_eq!(report.uploads_aborted, 1);
    assert!(store
        .list_versions("m", "", None, None, None, 10)
        .unwrap()
        .entries
        .is_empty());
    assert!(store.upload("m", "big", &up.upload_id).is_err());
    store.delete_bucket("m").unwrap();
}

#[test]
fn transitions_to_glacier_move_chunks_to_the_cold_tier() {
    let (_dir, store) = open();
    store.create_bucket("g", "us-east-1").unwrap();
    let mut data = vec![0u8; 3 << 20];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    put(&store, "g", "cold", &data);
    // A second key shares the same chunks but stays hot.
    put(&store, "g", "hot", &data);
    configure(
        &store,
        "g",
        vec![Rule {
            id: "archive".into(),
            enabled: true,
            filter: Filter {
                prefix: "cold".into(),
                ..Default::default()
            },
            transitions: vec![Transition {
                days: Some(1),
                date_ms: None,
                storage_class: StorageClass::Glacier,
            }],
            ..Default::default()
        }],
    );
    let clock = LifecycleClock::scaled(1);
    let report = run_pass(&store, &clock.shifted(2 * DAY), None).unwrap();
    assert_eq!(report.actions_applied, 1);
    store.sync().unwrap();
    let cold = store.get_object("g", "cold", None).unwrap();
    assert!(cold.version.archived);
    assert_eq!(cold.version.storage_class, "GLACIER");
    let hashes: Vec<_> = match &cold.version.body {
        strata_storage::Body::Chunks(c) => c.iter().map(|c| c.hash).collect(),
        strata_storage::Body::Inline(_) => panic!("chunked"),
    };
    assert!(hashes.iter().all(|h| store.cold_chunk_exists(h)));
    // The shared chunks stay readable for the hot version.
    assert!(hashes.iter().all(|h| store.chunk_file_exists(h)));
    assert_eq!(
        cold.read_all().unwrap(),
        data,
        "an archived version reads from the cold tier"
    );
    drop(cold);
    assert_eq!(
        store
            .get_object("g", "hot", None)
            .unwrap()
            .read_all()
            .unwrap(),
        data
    );
    // Once the hot key goes, the hot copies go; the cold ones stay.
    store.delete_object("g", "hot", None).unwrap();
    store.sync().unwrap();
    store.sync().unwrap();
    assert!(hashes.iter().all(|h| !store.chunk_file_exists(h)));
    assert!(hashes.iter().all(|h| store.cold_chunk_exists(h)));
    store.delete_object("g", "cold", None).unwrap();
    store.sync().unwrap();
    store.sync().unwrap();
    assert!(hashes.iter().all(|h| !store.cold_chunk_exists(h)));
}

#[test]
fn passes_read_only_due_or_changed_keys() {
    let (_dir, store) = open();
    store.create_bucket("i", "us-east-1").unwrap();
    for i in 0..50 {
        put(&store, "i", &format!("k{i}"), b"x");
    }
    configure(
        &store,
        "i",
        vec![Rule {
            id: "exp".into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        }],
    );
    let clock = LifecycleClock::scaled(1);
    // The first pass evaluates every version and records when each falls due.
    assert_eq!(run_pass(&store, &clock, None).unwrap().versions_scanned, 50);
    // Nothing is due yet and nothing changed: the next pass reads no version at all.
    assert_eq!(
        run_pass(&store, &clock.shifted(DAY), None)
            .unwrap()
            .versions_scanned,
        0
    );
    // A new write is evaluated on the next pass, and only it.
    put(&store, "i", "k0", b"y");
    assert_eq!(
        run_pass(&store, &clock.shifted(DAY), None)
            .unwrap()
            .versions_scanned,
        1
    );
    // Once due, the versions are read again and expire.
    let report = run_pass(&store, &clock.shifted(11 * DAY), None).unwrap();
    assert_eq!(report.actions_applied, 50);
    // A new configuration marks every version for re-evaluation.
    put(&store, "i", "later", b"z");
    assert_eq!(run_pass(&store, &clock, None).unwrap().versions_scanned, 1);
    assert_eq!(run_pass(&store, &clock, None).unwrap().versions_scanned, 0);
    configure(
        &store,
        "i",
        vec![Rule {
            id: "exp2".into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(100),
                ..Default::default()
            }),
            ..Default::default()
        }],
    );
    assert_eq!(run_pass(&store, &clock, None).unwrap().versions_scanned, 1);
}

mod replication {
    use super::*;
    use strata_lifecycle::replication::{
        store_config, Destination, ReplicationConfiguration, ReplicationFilter, ReplicationRule,
    };
    use strata_storage::{Body, QueueEntry, ReplicationFailure};

    fn rule(id: &str, dest: &str) -> ReplicationRule {
        ReplicationRule {
            id: id.into(),
            priority: Some(1),
            enabled: true,
            v2: true,
            filter: ReplicationFilter::default(),
            destination: Destination {
                bucket: format!("arn:aws:s3:::{dest}"),
                ..Default::default()
            },
            delete_marker_replication: Some(true),
            existing_object_replication: None,
        }
    }

    /// A store with the replication policy, versioned buckets `src` and `dst`, and a rule
    /// src -> dst.
    fn setup() -> (tempfile::TempDir, Store) {
        let (dir, store) = open_replicating();
        for b in ["src", "dst"] {
            store.create_bucket(b, "us-east-1").unwrap();
            store.set_versioning(b, Versioning::Enabled).unwrap();
        }
        let cfg = ReplicationConfiguration {
            role: String::new(),
            rules: vec![rule("r", "dst")],
        };
        cfg.validate("src", &|_| false).unwrap();
        store_config(&store, "src", Some(&cfg)).unwrap();
        (dir, store)
    }

    fn status(store: &Store, bucket: &str, key: &str, vid: &str) -> Option<String> {
        store
            .get_object(bucket, key, Some(vid))
            .unwrap()
            .version
            .replication_status
            .map(|s| s.as_str().to_owned())
    }

    fn due(store: &Store) -> Vec<QueueEntry> {
        store.replication_due(i64::MAX, 100, &[]).unwrap()
    }

    #[test]
    fn versions_of_a_key_are_carried_in_order_and_exactly_once() {
        let (_dir, store) = setup();
        let v1 = put(&store, "src", "k", b"one");
        let v2 = put(&store, "src", "k", b"two");
        put(&store, "src", "other", b"x");
        assert_eq!(status(&store, "src", "k", &v1).as_deref(), Some("PENDING"));
        // Only the oldest entry of each key is handed out.
        let first = due(&store);
        assert_eq!(
            first
                .iter()
                .map(|e| (e.key.as_str(), e.version_id.as_str()))
                .collect::<Vec<_>>(),
            [("k", v1.as_str()), ("other", first[1].version_id.as_str())]
        );
        for e in &first {
            store.replicate_local(e, "dst").unwrap();
            // Carrying an entry twice (a retry after a crash) changes nothing.
            store.replicate_local(e, "dst").unwrap();
        }
        let second = due(&store);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].version_id, v2);
        store.replicate_local(&second[0], "dst").unwrap();
        assert!(due(&store).is_empty());
        assert_eq!(
            status(&store, "src", "k", &v1).as_deref(),
            Some("COMPLETED")
        );
        let replica = store.get_object("dst", "k", None).unwrap();
        assert_eq!(replica.version.version_id, v2);
        assert_eq!(
            replica.version.replication_status.map(|s| s.as_str()),
            Some("REPLICA")
        );
        assert_eq!(replica.read_all().unwrap(), b"two");
        let versions = store
            .list_versions("dst", "", None, None, None, 100)
            .unwrap();
        assert_eq!(versions.entries.len(), 3);
        let report = store.replication_report(Some("src")).unwrap();
        assert_eq!(report.queue_length, 0);
        assert_eq!(report.rules[0].completed, 3);
    }

    #[test]
    fn failures_mark_the_source_failed_and_a_later_success_completes_it() {
        let (_dir, store) = setup();
        let v = put(&store, "src", "k", b"data");
        let e = due(&store).remove(0);
        store.set_versioning("dst", Versioning::Suspended).unwrap();
        for attempt in 1..=3 {
            let err = store.replicate_local(&e, "dst").unwrap_err();
            assert!(err.to_string().contains("versioning"), "{err}");
            let failure = ReplicationFailure {
                error: &err.to_string(),
                next_attempt_ms: 0,
                fail_after: 3,
                rest_destination: false,
            };
            store.replication_failed(&e, failure).unwrap();
            let want = if attempt < 3 { "PENDING" } else { "FAILED" };
            assert_eq!(status(&store, "src", "k", &v).as_deref(), Some(want));
        }
        let report = store.replication_report(None).unwrap();
        assert_eq!((report.queue_length, report.rules[0].failed), (1, 1));
        assert_eq!(report.errors.len(), 1);
        // A destination skipped by the caller (all its carriers busy) yields nothing.
        assert!(store
            .replication_due(i64::MAX, 10, &["arn:aws:s3:::dst".to_owned()])
            .unwrap()
            .is_empty());
        // A failure of the whole destination makes its other entries wait as long.
        put(&store, "src", "other", b"x");
        assert_eq!(due(&store).len(), 2);
        let failure = ReplicationFailure {
            error: "transport: connection refused",
            next_attempt_ms: 5_000,
            fail_after: 3,
            rest_destination: true,
        };
        store.replication_failed(&e, failure).unwrap();
        assert!(store.replication_due(4_999, 10, &[]).unwrap().is_empty());
        assert_eq!(store.replication_due(5_000, 10, &[]).unwrap().len(), 2);
        store.set_versioning("dst", Versioning::Enabled).unwrap();
        let e = due(&store).remove(0);
        assert_eq!(e.attempts, 4);
        store.replicate_local(&e, "dst").unwrap();
        assert_eq!(status(&store, "src", "k", &v).as_deref(), Some("COMPLETED"));
    }

    #[test]
    fn local_replicas_share_chunks_and_replicas_are_not_requeued() {
        let (_dir, store) = setup();
        // dst replicates back to src: a two-way pair.
        let back = ReplicationConfiguration {
            role: String::new(),
            rules: vec![rule("back", "src")],
        };
        store_config(&store, "dst", Some(&back)).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        put(&store, "src", "big", &data);
        let files_before = store.chunk_files().unwrap().len();
        let e = due(&store).remove(0);
        store.replicate_local(&e, "dst").unwrap();
        assert_eq!(store.chunk_files().unwrap().len(), files_before);
        let replica = store.get_object("dst", "big", None).unwrap();
        if let Body::Chunks(list) = &replica.version.body {
            assert_eq!(store.chunk_refs(&list[0].hash).unwrap(), 2);
        } else {
            panic!("a 3 MB object is chunked");
        }
        assert_eq!(replica.read_all().unwrap(), data);
        // The replica is not queued back to src.
        assert!(due(&store).is_empty());
    }

    #[test]
    fn lifecycle_markers_and_version_deletes_are_not_replicated() {
        let (_dir, store) = setup();
        let v = put(&store, "src", "k", b"x");
        let e = due(&store).remove(0);
        store.replicate_local(&e, "dst").unwrap();
        // A delete by version id is not replicated.
        store.delete_object("src", "k", Some(&v)).unwrap();
        assert!(due(&store).is_empty());
        // A delete marker a client makes is; one the lifecycle engine makes is not.
        put(&store, "src", "k", b"y");
        store
            .replicate_local(&due(&store).remove(0), "dst")
            .unwrap();
        store.delete_object("src", "k", None).unwrap();
        assert_eq!(due(&store).len(), 1);
        store
            .replicate_local(&due(&store).remove(0), "dst")
            .unwrap();
        let cur = put(&store, "src", "k", b"z");
        store
            .replicate_local(&due(&store).remove(0), "dst")
            .unwrap();
        let row = store.version_row_id("src", "k", &cur).unwrap().unwrap();
        assert!(store.lifecycle_expire_current("src", "k", row).unwrap());
        assert!(due(&store).is_empty());
    }

    #[test]
    fn a_given_up_entry_keeps_its_version_failed() {
        let (_dir, store) = setup();
        store.create_bucket("dst2", "us-east-1").unwrap();
        store.set_versioning("dst2", Versioning::Enabled).unwrap();
        let mut second = rule("second", "dst2");
        second.priority = Some(2);
        let cfg = ReplicationConfiguration {
            role: String::new(),
            rules: vec![rule("r", "dst"), second],
        };
        store_config(&store, "src", Some(&cfg)).unwrap();
        let v = put(&store, "src", "k", b"x");
        let entries = due(&store);
        assert_eq!(entries.len(), 2);
        let (to_dst, to_dst2): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|e| e.destination == "arn:aws:s3:::dst");
        store
            .replication_abandon(&to_dst[0], strata_storage::ARCHIVED_REASON)
            .unwrap();
        assert_eq!(status(&store, "src", "k", &v).as_deref(), Some("FAILED"));
        // The other destination's success does not turn it back into COMPLETED.
        store.replicate_local(&to_dst2[0], "dst2").unwrap();
        assert_eq!(status(&store, "src", "k", &v).as_deref(), Some("FAILED"));
        let report = store.replication_report(None).unwrap();
        assert_eq!(report.queue_length, 0);
        assert_eq!(
            report
                .rules
                .iter()
                .map(|r| (r.rule_id.as_str(), r.completed, r.failed))
                .collect::<Vec<_>>(),
            [("r", 0, 1), ("second", 1, 0)]
        );
    }

    #[test]
    fn existing_versions_are_queued_when_a_rule_asks() {
        let (_dir, store) = open_replicating();
        for b in ["src", "dst"] {
            store.create_bucket(b, "us-east-1").unwrap();
            store.set_versioning(b, Versioning::Enabled).unwrap();
        }
        put(&store, "src", "a", b"1");
        put(&store, "src", "b", b"2");
        let mut r = rule("r", "dst");
        let cfg = |r: ReplicationRule| ReplicationConfiguration {
            role: String::new(),
            rules: vec![r],
        };
        assert_eq!(
            store_config(&store, "src", Some(&cfg(r.clone()))).unwrap(),
            0
        );
        r.existing_object_replication = Some(true);
        assert_eq!(store_config(&store, "src", Some(&cfg(r))).unwrap(), 2);
        assert_eq!(due(&store).len(), 2);
    }
}
