//! The change feed: one event per committed change to a key, none for a write that fails, and
//! the event commits (or rolls back) with the change it describes.

use strata_storage::{
    ChangeKind, ChangeOrigin, CommitStep, Durability, NewVersion, ObjectMeta, StorageClass, Store,
    StoreConfig, Versioning, WriteCondition,
};

fn open(dir: &std::path::Path) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.durability = Durability::Process;
    cfg.inline_threshold = 1024;
    Store::open(cfg).unwrap().0
}

fn new_version(etag: &str, condition: WriteCondition) -> NewVersion {
    NewVersion {
        etag: etag.into(),
        meta: ObjectMeta::default(),
        storage_class: StorageClass::Standard,
        condition,
        replica_of: None,
    }
}

fn put(
    store: &Store,
    key: &str,
    data: &[u8],
    condition: WriteCondition,
) -> strata_storage::Result<String> {
    let mut w = store.body_writer();
    w.write(data).unwrap();
    let staged = w.finish().unwrap();
    store
        .put_object("b", key, staged, new_version("e", condition))
        .map(|v| v.version_id)
}

fn kinds(store: &Store) -> Vec<(String, ChangeKind, ChangeOrigin)> {
    store
        .read_changes(0, 1000)
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.kind, e.origin))
        .collect()
}

#[test]
fn one_event_per_committed_change_and_none_for_a_failed_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    store.set_versioning("b", Versioning::Enabled).unwrap();
    assert!(store.read_changes(0, 10).unwrap().is_empty());

    let v1 = put(&store, "k", b"one", WriteCondition::None).unwrap();
    // A refused conditional write commits nothing, so it has no event.
    assert!(put(&store, "k", b"two", WriteCondition::IfNoneMatch).is_err());
    let v2 = put(&store, "k", &vec![7u8; 5000], WriteCondition::None).unwrap();
    store
        .set_object_tags("b", "k", None, vec![("t".into(), "1".into())])
        .unwrap();
    let marker = store.delete_object("b", "k", None).unwrap();
    store
        .delete_object("b", "k", marker.version_id.as_deref())
        .unwrap();
    // Deleting a version that does not exist changes nothing.
    store.delete_object("b", "k", Some("null")).unwrap();

    let events = store.read_changes(0, 1000).unwrap();
    let k = |kind| ("k".to_string(), kind, ChangeOrigin::Client);
    assert_eq!(
        kinds(&store),
        vec![
            k(ChangeKind::ObjectCreated),
            k(ChangeKind::ObjectCreated),
            k(ChangeKind::TagsChanged),
            k(ChangeKind::DeleteMarkerCreated),
            k(ChangeKind::VersionRemoved),
        ]
    );
    assert_eq!(events[0].version_id, v1);
    assert_eq!(events[1].version_id, v2);
    assert_eq!(events[1].size, 5000);
    assert_eq!(events[2].version_id, v2);
    assert_eq!(events[4].version_id, marker.version_id.unwrap());
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));

    // Paging with a cursor.
    let first = store.read_changes(0, 2).unwrap();
    assert_eq!(first.len(), 2);
    let rest = store.read_changes(first[1].seq, 1000).unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(rest[0].seq, events[2].seq);
}

#[test]
fn a_commit_failing_at_any_step_leaves_no_event_and_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    put(&store, "k", b"first", WriteCondition::None).unwrap();
    let before_events = store.read_changes(0, 1000).unwrap();
    let before_stats = store.stats().unwrap();
    for step in CommitStep::ALL {
        store.inject_commit_fault(step);
        // A chunked body, so that the failed commit has staged chunk files to collect.
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        assert!(
            put(&store, "k", &data, WriteCondition::None).is_err(),
            "{step:?}"
        );
        assert_eq!(
            store.read_changes(0, 1000).unwrap(),
            before_events,
            "{step:?}"
        );
        assert_eq!(store.stats().unwrap(), before_stats, "{step:?}");
        let h = store.get_object("b", "k", None).unwrap();
        assert_eq!(h.read_all().unwrap(), b"first", "{step:?}");
        drop(h);
        store.sync().unwrap();
        store.sync().unwrap();
        let (rows, _) = store.chunk_usage().unwrap();
        assert_eq!(store.chunk_files().unwrap().len() as u64, rows, "{step:?}");
    }
    // With no fault armed the same write commits, with its event.
    put(&store, "k", b"second", WriteCondition::None).unwrap();
    assert_eq!(
        store.read_changes(0, 1000).unwrap().len(),
        before_events.len() + 1
    );
}

#[test]
fn lifecycle_changes_are_recorded_with_their_origin() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    put(&store, "k", b"x", WriteCondition::None).unwrap();
    let id = store.get_object("b", "k", None).unwrap().version.id;
    assert!(store
        .lifecycle_set_class("b", id, StorageClass::StandardIa)
        .unwrap());
    assert!(store.lifecycle_expire_current("b", "k", id).unwrap());
    let got: Vec<_> = kinds(&store).into_iter().skip(1).collect();
    assert_eq!(
        got,
        vec![
            (
                "k".to_string(),
                ChangeKind::StorageClassChanged,
                ChangeOrigin::Lifecycle
            ),
            (
                "k".to_string(),
                ChangeKind::VersionRemoved,
                ChangeOrigin::Lifecycle
            ),
        ]
    );
}

#[test]
fn the_feed_keeps_the_newest_events_and_prunes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.durability = Durability::Process;
    cfg.change_feed_retain = 10;
    let store = Store::open(cfg).unwrap().0;
    store.create_bucket("b", "us-east-1").unwrap();
    for i in 0..35 {
        put(&store, &format!("k{i}"), b"x", WriteCondition::None).unwrap();
    }
    let events = store.read_changes(0, 1000).unwrap();
    // Pruned at seq 30 down to the 10 newest, then 5 more: 15 events, seq 21..=35.
    assert_eq!(events.len(), 15);
    assert_eq!(events.first().unwrap().seq, 21);
    assert_eq!(events.last().unwrap().seq, 35);
    assert_eq!(events.last().unwrap().key, "k34");
}
