//! The storage engine on its own: round trips, deduplication, reference counts, listings against a
//! model, and recovery after simulated crashes.

use std::collections::BTreeMap;

use proptest::prelude::*;
use strata_storage::{
    Body, Durability, ListQuery, NewVersion, ObjectMeta, StorageClass, Store, StoreConfig,
    NULL_VERSION,
};

fn open(dir: &std::path::Path) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.durability = Durability::Process;
    Store::open(cfg).expect("open").0
}

fn put(store: &Store, bucket: &str, key: &str, data: &[u8]) {
    put_with_meta(store, bucket, key, data, ObjectMeta::default());
}

fn put_with_meta(
    store: &Store,
    bucket: &str,
    key: &str,
    data: &[u8],
    meta: ObjectMeta,
) -> strata_storage::ObjectVersion {
    let mut w = store.body_writer();
    // Feed in uneven pieces: cut points must not depend on them.
    for piece in data.chunks(7919) {
        w.write(piece).expect("write");
    }
    let staged = w.finish().expect("finish");
    store
        .put_object(
            bucket,
            key,
            staged,
            NewVersion {
                etag: format!("{:x}", data.len()),
                meta,
                storage_class: StorageClass::Standard,
                condition: Default::default(),
                replica_of: None,
            },
        )
        .expect("put")
}

fn get(store: &Store, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match store.get_object(bucket, key, None) {
        Ok(h) => Some(h.read_all().expect("read")),
        Err(strata_storage::Error::NoSuchKey(_)) => None,
        Err(e) => panic!("get: {e}"),
    }
}

/// Deterministic pseudo-random bytes.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn put_get_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    assert!(matches!(
        store.create_bucket("b", "us-east-1"),
        Err(strata_storage::Error::BucketAlreadyExists(_))
    ));
    let small = b"hello".to_vec();
    let large = bytes(1, 9 * 1024 * 1024 + 123);
    put(&store, "b", "small", &small);
    put(&store, "b", "large", &large);
    let h = store.get_object("b", "small", None).unwrap();
    assert!(matches!(h.version.body, Body::Inline(_)));
    assert_eq!(h.version.version_id, NULL_VERSION);
    drop(h);
    let h = store.get_object("b", "large", None).unwrap();
    assert!(matches!(&h.version.body, Body::Chunks(c) if c.len() > 1));
    // A range spanning a chunk boundary.
    let mut got = Vec::new();
    h.read_range(1_000_000, 6_000_000, 65536, |b| {
        got.extend_from_slice(&b);
        true
    })
    .unwrap();
    assert_eq!(got, large[1_000_000..6_000_000]);
    drop(h);
    assert_eq!(get(&store, "b", "large").unwrap(), large);
    assert!(matches!(
        store.delete_bucket("b"),
        Err(strata_storage::Error::BucketNotEmpty(_))
    ));
    store.delete_object("b", "large", None).unwrap();
    assert_eq!(get(&store, "b", "large"), None);
    // Deleting a missing key is not an error.
    store.delete_object("b", "large", None).unwrap();
    store.delete_object("b", "small", None).unwrap();
    store.sync().unwrap();
    assert_eq!(store.chunk_files().unwrap(), vec![]);
    assert_eq!(store.chunk_usage().unwrap(), (0, 0));
    store.delete_bucket("b").unwrap();
    assert!(matches!(
        store.bucket("b"),
        Err(strata_storage::Error::NoSuchBucket(_))
    ));
}

#[test]
fn identical_content_is_stored_once_and_refcounted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    let data = bytes(2, 6 * 1024 * 1024);
    put(&store, "b", "one", &data);
    let (n1, bytes1) = store.chunk_usage().unwrap();
    put(&store, "b", "two", &data);
    assert_eq!(store.chunk_usage().unwrap(), (n1, bytes1));
    let first = match store.get_object("b", "one", None).unwrap().version.body {
        Body::Chunks(c) => c[0],
        Body::Inline(_) => panic!("expected chunks"),
    };
    assert_eq!(store.chunk_refs(&first.hash).unwrap(), 2);
    // A version differing in a few bytes near the end shares the leading chunks.
    let mut edited = data.clone();
    let n = edited.len();
    edited[n - 10] ^= 0xFF;
    put(&store, "b", "three", &edited);
    let (n3, bytes3) = store.chunk_usage().unwrap();
    assert!(
        bytes3 < bytes1 + 4 * 1024 * 1024 + 1,
        "{bytes3} vs {bytes1}"
    );
    assert!(n3 > n1);
    store.delete_object("b", "one", None).unwrap();
    assert_eq!(store.chunk_refs(&first.hash).unwrap(), 2);
    store.delete_object("b", "two", None).unwrap();
    store.delete_object("b", "three", None).unwrap();
    store.sync().unwrap();
    assert_eq!(store.chunk_refs(&first.hash).unwrap(), 0);
    assert!(!store.chunk_file_exists(&first.hash));
}

#[test]
fn overwrite_frees_the_old_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    put(&store, "b", "k", &bytes(3, 3 * 1024 * 1024));
    let old = store.chunk_files().unwrap();
    put(&store, "b", "k", &bytes(4, 3 * 1024 * 1024));
    store.sync().unwrap();
    let now = store.chunk_files().unwrap();
    assert!(old.iter().all(|h| !now.contains(h)));
    assert_eq!(get(&store, "b", "k").unwrap(), bytes(4, 3 * 1024 * 1024));
}

#[test]
fn a_read_keeps_its_chunks_while_the_key_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    let first = bytes(5, 2 * 1024 * 1024);
    put(&store, "b", "k", &first);
    let handle = store.get_object("b", "k", None).unwrap();
    put(&store, "b", "k", &bytes(6, 2 * 1024 * 1024));
    store.sync().unwrap();
    assert_eq!(handle.read_all().unwrap(), first);
    drop(handle);
    store.sync().unwrap();
    store.sync().unwrap();
    let files = store.chunk_files().unwrap();
    let (rows, _) = store.chunk_usage().unwrap();
    assert_eq!(
        files.len() as u64,
        rows,
        "chunks of the old version are collected"
    );
}

#[test]
fn abandoned_writes_leave_no_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    let mut w = store.body_writer();
    w.write(&bytes(7, 10 * 1024 * 1024)).unwrap();
    drop(w);
    let staged = {
        let mut w = store.body_writer();
        w.write(&bytes(8, 10 * 1024 * 1024)).unwrap();
        w.finish().unwrap()
    };
    drop(staged);
    // A put into a missing bucket fails and collects what it staged.
    let mut w = store.body_writer();
    w.write(&bytes(9, 10 * 1024 * 1024)).unwrap();
    let staged = w.finish().unwrap();
    let err = store.put_object(
        "missing",
        "k",
        staged,
        NewVersion {
            etag: "x".into(),
            meta: ObjectMeta::default(),
            storage_class: StorageClass::Standard,
            condition: Default::default(),
            replica_of: None,
        },
    );
    assert!(matches!(err, Err(strata_storage::Error::NoSuchBucket(_))));
    store.sync().unwrap();
    store.sync().unwrap();
    assert_eq!(store.chunk_files().unwrap(), vec![]);
}

#[test]
fn recovery_after_a_crash_between_chunk_write_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let kept = bytes(10, 5 * 1024 * 1024);
    {
        let store = open(dir.path());
        store.create_bucket("b", "us-east-1").unwrap();
        put(&store, "b", "kept", &kept);
        // Stage a body and "crash": the chunks are on disk but never committed, and no clean-up
        // path runs, as in a killed process.
        let mut w = store.body_writer();
        w.write(&bytes(11, 9 * 1024 * 1024)).unwrap();
        w.finish().unwrap().abandon_as_if_crashed();
        // And a half-written file in tmp/.
        std::fs::write(dir.path().join("tmp").join("partial"), b"junk").unwrap();
        let files = store.chunk_files().unwrap();
        let (rows, _) = store.chunk_usage().unwrap();
        assert!(files.len() as u64 > rows);
    }
    let mut cfg = StoreConfig::new(dir.path());
    cfg.durability = Durability::Process;
    let (store, report) = Store::open(cfg).unwrap();
    assert!(report.orphan_chunks_removed > 0);
    assert_eq!(report.tmp_removed, 1);
    let files = store.chunk_files().unwrap();
    let (rows, _) = store.chunk_usage().unwrap();
    assert_eq!(files.len() as u64, rows);
    assert_eq!(get(&store, "b", "kept").unwrap(), kept);
}

#[test]
fn listing_with_delimiter_and_pagination() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    for k in ["a/1", "a/2", "b", "c/x/y", "c/z", "d", "é", "~"] {
        put(&store, "b", k, k.as_bytes());
    }
    let page = store
        .list_objects(
            "b",
            &ListQuery {
                delimiter: Some("/".into()),
                max_keys: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, vec!["b", "d", "~", "é"]);
    assert_eq!(page.common_prefixes, vec!["a/", "c/"]);
    // Pages of one entry, resuming after the last one returned.
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..20 {
        let page = store
            .list_objects(
                "b",
                &ListQuery {
                    delimiter: Some("/".into()),
                    start_after: after.clone(),
                    max_keys: 1,
                    ..Default::default()
                },
            )
            .unwrap();
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        seen.extend(page.common_prefixes.iter().cloned());
        if !page.is_truncated {
            break;
        }
        after = page.last.clone();
    }
    // issue #2: a page that ended on a common prefix handed the same prefix out again.
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no entry is returned twice");
    assert_eq!(seen, vec!["a/", "b", "c/", "d", "~", "é"]);
    let page = store
        .list_objects(
            "b",
            &ListQuery {
                prefix: "c/".into(),
                delimiter: Some("/".into()),
                max_keys: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page.common_prefixes, vec!["c/x/"]);
    assert_eq!(page.objects[0].key, "c/z");
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16, u64),
    Delete(u8),
    List(u8, bool),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, 0u16..3000, any::<u64>()).prop_map(|(k, l, s)| Op::Put(k, l, s)),
        2 => (0u8..12).prop_map(Op::Delete),
        2 => (0u8..4, any::<bool>()).prop_map(|(p, d)| Op::List(p, d)),
        1 => Just(Op::Reopen),
    ]
}

fn key_name(k: u8) -> String {
    let dirs = ["", "x/", "x/y/", "z/"];
    format!("{}k{}", dirs[(k % 4) as usize], k)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Model-based: random operations applied to the engine and to a BTreeMap agree after every
    /// step, including across reopen (a clean restart with recovery).
    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StoreConfig::new(dir.path());
        cfg.durability = Durability::Process;
        // A tiny inline threshold so that both body kinds are exercised with small data.
        cfg.inline_threshold = 1024;
        let mut store = Store::open(cfg.clone()).unwrap().0;
        store.create_bucket("m", "us-east-1").unwrap();
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(k, len, seed) => {
                    let data = bytes(seed, len as usize);
                    put(&store, "m", &key_name(k), &data);
                    model.insert(key_name(k), data);
                }
                Op::Delete(k) => {
                    let outcome = store.delete_object("m", &key_name(k), None).unwrap();
                    prop_assert_eq!(outcome, strata_storage::DeleteOutcome::default());
                    model.remove(&key_name(k));
                }
                Op::List(p, delim) => {
                    let prefix = ["", "x/", "x/y/", "k"][p as usize].to_string();
                    let q = ListQuery {
                        prefix: prefix.clone(),
                        delimiter: delim.then(|| "/".to_string()),
                        max_keys: 1000,
                        ..Default::default()
                    };
                    let page = store.list_objects("m", &q).unwrap();
                    let mut want_keys = Vec::new();
                    let mut want_prefixes = Vec::new();
                    for k in model.keys().filter(|k| k.starts_with(&prefix)) {
                        let rest = &k[prefix.len()..];
                        match rest.find('/').filter(|_| delim) {
                            Some(i) => {
                                let cp = format!("{}{}", prefix, &rest[..=i]);
                                if want_prefixes.last() != Some(&cp) {
                                    want_prefixes.push(cp);
                                }
                            }
                            None => want_keys.push(k.clone()),
                        }
                    }
                    let got: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
                    prop_assert_eq!(got, want_keys);
                    prop_assert_eq!(page.common_prefixes, want_prefixes);
                }
                Op::Reopen => {
                    drop(store);
                    store = Store::open(cfg.clone()).unwrap().0;
                }
            }
            for (k, v) in &model {
                let got = get(&store, "m", k);
                prop_assert_eq!(got.as_ref(), Some(v));
            }
        }
        store.sync().unwrap();
        store.sync().unwrap();
        let (rows, _) = store.chunk_usage().unwrap();
        prop_assert_eq!(store.chunk_files().unwrap().len() as u64, rows);
    }

    /// Cut points depend only on content, never on how the body was split into writes.
    #[test]
    fn chunking_is_independent_of_write_sizes(seed in any::<u64>(), piece in 1usize..300_000) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let data = bytes(seed, 5 * 1024 * 1024 + 17);
        let mut a = store.body_writer();
        a.write(&data).unwrap();
        let mut b = store.body_writer();
        for p in data.chunks(piece) {
            b.write(p).unwrap();
        }
        let (a, b) = (a.finish().unwrap(), b.finish().unwrap());
        prop_assert_eq!(a.size(), b.size());
        prop_assert!(!a.is_inline());
        store.create_bucket("c", "us-east-1").ok();
        let meta = NewVersion { etag: "e".into(), meta: ObjectMeta::default(), storage_class: StorageClass::Standard, condition: Default::default(), replica_of: None };
        let va = store.put_object("c", "a", a, meta.clone()).unwrap();
        let vb = store.put_object("c", "b", b, meta).unwrap();
        prop_assert_eq!(va.body, vb.body);
    }
}

fn part(n: u32, etag: &str) -> strata_storage::NewPart {
    strata_storage::NewPart {
        part_number: n,
        etag: etag.into(),
        checksum: None,
    }
}

fn stage_part(store: &Store, data: &[u8]) -> strata_storage::StagedBody {
    let mut w = store.body_writer().always_chunked();
    w.write(data).unwrap();
    w.finish().unwrap()
}

#[test]
fn multipart_complete_reuses_part_chunks_and_frees_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    let up = store
        .create_upload(
            "b",
            "big",
            StorageClass::Standard,
            ObjectMeta::default(),
            None,
        )
        .unwrap();
    let p1 = bytes(20, 5 * 1024 * 1024);
    let p2_old = bytes(21, 5 * 1024 * 1024);
    let p2 = bytes(22, 5 * 1024 * 1024);
    let p3 = b"tail".to_vec();
    let p4 = bytes(23, 3 * 1024 * 1024);
    let u = &up.upload_id;
    store
        .put_part("b", "big", u, stage_part(&store, &p1), part(1, "e1"))
        .unwrap();
    store
        .put_part("b", "big", u, stage_part(&store, &p2_old), part(2, "old"))
        .unwrap();
    // Uploading a part twice keeps the last.
    store
        .put_part("b", "big", u, stage_part(&store, &p2), part(2, "e2"))
        .unwrap();
    store
        .put_part("b", "big", u, stage_part(&store, &p3), part(3, "e3"))
        .unwrap();
    store
        .put_part("b", "big", u, stage_part(&store, &p4), part(4, "e4"))
        .unwrap();
    let (_, parts, truncated) = store.list_parts("b", "big", u, 0, 2).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(truncated);
    assert_eq!(parts[1].etag, "e2");
    assert!(matches!(
        store.delete_bucket("b"),
        Err(strata_storage::Error::BucketNotEmpty(_))
    ));
    let new = NewVersion {
        etag: "final-3".into(),
        meta: ObjectMeta::default(),
        storage_class: StorageClass::Standard,
        condition: Default::default(),
        replica_of: None,
    };
    // A stale ETag is refused without changing anything.
    let refused = store
        .complete_upload(
            "b",
            "big",
            u,
            vec![(1, "e1".into()), (2, "old".into())],
            new.clone(),
        )
        .unwrap();
    assert_eq!(
        refused.unwrap_err(),
        strata_storage::CompleteProblem::InvalidPart(2)
    );
    let version = store
        .complete_upload(
            "b",
            "big",
            u,
            vec![(1, "e1".into()), (2, "e2".into()), (3, "e3".into())],
            new,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        version.meta.part_sizes,
        vec![p1.len() as u64, p2.len() as u64, 4]
    );
    let mut want = p1.clone();
    want.extend_from_slice(&p2);
    want.extend_from_slice(&p3);
    assert_eq!(get(&store, "b", "big").unwrap(), want);
    assert!(matches!(
        store.upload("b", "big", u),
        Err(strata_storage::Error::NoSuchUpload(_))
    ));
    store.sync().unwrap();
    store.sync().unwrap();
    // Part 4 and the replaced part 2 are gone: only the object's chunks remain.
    let files = store.chunk_files().unwrap();
    let (rows, stored) = store.chunk_usage().unwrap();
    assert_eq!(files.len() as u64, rows);
    assert_eq!(stored, want.len() as u64);
}

#[test]
fn multipart_abort_frees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    let up = store
        .create_upload(
            "b",
            "k",
            StorageClass::Standard,
            ObjectMeta::default(),
            None,
        )
        .unwrap();
    store
        .put_part(
            "b",
            "k",
            &up.upload_id,
            stage_part(&store, &bytes(30, 6 << 20)),
            part(1, "e"),
        )
        .unwrap();
    let page = store.list_uploads("b", "", None, None, None, 1000).unwrap();
    assert_eq!(page.uploads.len(), 1);
    store.abort_upload("b", "k", &up.upload_id).unwrap();
    assert!(matches!(
        store.abort_upload("b", "k", &up.upload_id),
        Err(strata_storage::Error::NoSuchUpload(_))
    ));
    store.sync().unwrap();
    store.sync().unwrap();
    assert_eq!(store.chunk_files().unwrap(), vec![]);
    store.delete_bucket("b").unwrap();
}

#[test]
fn conditional_writes_are_checked_in_the_commit() {
    use strata_storage::WriteCondition;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    let write = |cond: WriteCondition, etag: &str| {
        let mut w = store.body_writer();
        w.write(b"x").unwrap();
        store.put_object(
            "b",
            "k",
            w.finish().unwrap(),
            NewVersion {
                etag: etag.into(),
                meta: ObjectMeta::default(),
                storage_class: StorageClass::Standard,
                condition: cond,
                replica_of: None,
            },
        )
    };
    assert!(matches!(
        write(WriteCondition::IfMatch("e1".into()), "e0"),
        Err(strata_storage::Error::NoSuchKey(_))
    ));
    write(WriteCondition::IfNoneMatch, "e1").unwrap();
    assert!(matches!(
        write(WriteCondition::IfNoneMatch, "e2"),
        Err(strata_storage::Error::PreconditionFailed)
    ));
    assert!(matches!(
        write(WriteCondition::IfMatch("zz".into()), "e2"),
        Err(strata_storage::Error::PreconditionFailed)
    ));
    write(WriteCondition::IfMatch("e1".into()), "e2").unwrap();
    assert_eq!(store.get_object("b", "k", None).unwrap().version.etag, "e2");
}

fn put_v(store: &Store, bucket: &str, key: &str, data: &[u8]) -> String {
    let mut w = store.body_writer();
    w.write(data).unwrap();
    store
        .put_object(
            bucket,
            key,
            w.finish().unwrap(),
            NewVersion {
                etag: format!("{:x}", data.len()),
                meta: ObjectMeta::default(),
                storage_class: StorageClass::Standard,
                condition: Default::default(),
                replica_of: None,
            },
        )
        .unwrap()
        .version_id
}

fn versions_of(store: &Store, bucket: &str) -> Vec<(String, String, bool, bool)> {
    store
        .list_versions(bucket, "", None, None, None, 1000)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| (e.key, e.version_id, e.is_latest, e.is_delete_marker))
        .collect()
}

#[test]
fn versioning_keeps_every_version_and_markers() {
    use strata_storage::Versioning;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("v", "us-east-1").unwrap();
    let null_v = put_v(&store, "v", "k", b"zero");
    assert_eq!(null_v, NULL_VERSION);
    store.set_versioning("v", Versioning::Enabled).unwrap();
    let v1 = put_v(&store, "v", "k", b"one");
    let v2 = put_v(&store, "v", "k", &bytes(40, 3 << 20));
    assert_ne!(v1, v2);
    assert_eq!(
        store
            .get_object("v", "k", Some(&v1))
            .unwrap()
            .read_all()
            .unwrap(),
        b"one"
    );
    assert_eq!(
        store
            .get_object("v", "k", Some("null"))
            .unwrap()
            .read_all()
            .unwrap(),
        b"zero"
    );
    // A delete adds a marker; the key disappears from listings but every version stays.
    let del = store.delete_object("v", "k", None).unwrap();
    assert!(del.delete_marker);
    let marker = del.version_id.unwrap();
    let latest = store.get_object("v", "k", None).unwrap();
    assert!(latest.version.is_delete_marker);
    drop(latest);
    let page = store
        .list_objects(
            "v",
            &ListQuery {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(page.objects.is_empty());
    let vs = versions_of(&store, "v");
    assert_eq!(
        vs.iter()
            .map(|v| (v.1.as_str(), v.2, v.3))
            .collect::<Vec<_>>(),
        vec![
            (marker.as_str(), true, true),
            (v2.as_str(), false, false),
            (v1.as_str(), false, false),
            ("null", false, false)
        ]
    );
    // Removing the marker makes v2 current again.
    let out = store.delete_object("v", "k", Some(&marker)).unwrap();
    assert!(out.delete_marker);
    assert_eq!(
        store.get_object("v", "k", None).unwrap().version.version_id,
        v2
    );
    // Removing the current version promotes the next newest.
    store.delete_object("v", "k", Some(&v2)).unwrap();
    assert_eq!(
        store.get_object("v", "k", None).unwrap().version.version_id,
        v1
    );
    // Suspended: a PUT replaces the null version, earlier versions stay.
    store.set_versioning("v", Versioning::Suspended).unwrap();
    assert_eq!(put_v(&store, "v", "k", b"suspended"), NULL_VERSION);
    let vs = versions_of(&store, "v");
    assert_eq!(vs.len(), 2, "{vs:?}");
    assert_eq!(vs[0].1, "null");
    assert_eq!(
        store
            .get_object("v", "k", Some("null"))
            .unwrap()
            .read_all()
            .unwrap(),
        b"suspended"
    );
    // Suspended delete: a null delete marker replaces the null version.
    let d = store.delete_object("v", "k", None).unwrap();
    assert_eq!(d.version_id.as_deref(), Some("null"));
    let vs = versions_of(&store, "v");
    assert_eq!(vs.len(), 2);
    assert!(vs[0].3);
    assert!(matches!(
        store.set_versioning("v", Versioning::Unversioned),
        Err(strata_storage::Error::Invalid(_))
    ));
    // Deleting every version frees every chunk.
    for (_, vid, _, _) in versions_of(&store, "v") {
        store.delete_object("v", "k", Some(&vid)).unwrap();
    }
    store.sync().unwrap();
    store.sync().unwrap();
    assert_eq!(store.chunk_files().unwrap(), vec![]);
    store.delete_bucket("v").unwrap();
}

#[test]
fn version_listing_paginates_across_one_key_with_many_versions() {
    use strata_storage::Versioning;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("p", "us-east-1").unwrap();
    store.set_versioning("p", Versioning::Enabled).unwrap();
    let mut expected = Vec::new();
    for key in ["a", "b/x", "b/y", "c"] {
        let mut ids = Vec::new();
        for i in 0..(if key == "a" { 250 } else { 3 }) {
            ids.push(put_v(&store, "p", key, format!("{key}{i}").as_bytes()));
        }
        ids.reverse();
        expected.extend(ids.into_iter().map(|id| (key.to_string(), id)));
    }
    let mut got = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    for _ in 0..100 {
        let page = store
            .list_versions("p", "", None, km.as_deref(), vm.as_deref(), 7)
            .unwrap();
        got.extend(
            page.entries
                .iter()
                .map(|e| (e.key.clone(), e.version_id.clone())),
        );
        if !page.is_truncated {
            break;
        }
        let next = page.next.unwrap();
        km = Some(next.0);
        vm = next.1;
    }
    assert_eq!(got, expected);
    let page = store
        .list_versions("p", "", Some("/"), None, None, 1000)
        .unwrap();
    assert_eq!(page.common_prefixes, vec!["b/"]);
    assert_eq!(page.entries.len(), 253);
}

#[test]
fn upload_listing_pages_by_key_and_upload_id_with_common_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "us-east-1").unwrap();
    let mut want = Vec::new();
    for key in ["a", "a", "a", "d/1", "d/2", "e", "f/x"] {
        let up = store
            .create_upload(
                "b",
                key,
                StorageClass::Standard,
                ObjectMeta::default(),
                None,
            )
            .unwrap();
        want.push((up.key, up.initiated_ms, up.upload_id));
    }
    want.sort();
    // Pages of two, resuming after the last upload (or common prefix) of each page.
    let mut got = Vec::new();
    let mut prefixes = Vec::new();
    let (mut km, mut um): (Option<String>, Option<String>) = (None, None);
    for _ in 0..20 {
        let page = store
            .list_uploads("b", "", Some("/"), km.as_deref(), um.as_deref(), 2)
            .unwrap();
        assert!(page.uploads.len() + page.common_prefixes.len() <= 2);
        got.extend(page.uploads.iter().map(|u| u.upload_id.clone()));
        prefixes.extend(page.common_prefixes.iter().cloned());
        if !page.is_truncated {
            break;
        }
        // The next marker is the last entry in order: a prefix sorts after the uploads of keys
        // below it.
        let last_up = page
            .uploads
            .last()
            .map(|u| (u.key.clone(), u.upload_id.clone()));
        let last_cp = page.common_prefixes.last().cloned();
        match (last_up, last_cp) {
            (Some((k, _)), Some(cp)) if cp > k => (km, um) = (Some(cp), None),
            (Some((k, u)), _) => (km, um) = (Some(k), Some(u)),
            (None, Some(cp)) => (km, um) = (Some(cp), None),
            (None, None) => unreachable!(),
        }
    }
    let want_ids: Vec<String> = want
        .iter()
        .filter(|(k, _, _)| !k.contains('/'))
        .map(|(_, _, u)| u.clone())
        .collect();
    assert_eq!(got, want_ids);
    assert_eq!(prefixes, vec!["d/", "f/"]);
}

/// Operations of the versioned model test.
#[derive(Debug, Clone)]
enum VOp {
    Put(u8, u16, u64),
    Delete(u8),
    DeleteVersion(u8, u8),
    Copy(u8, u8),
    Multipart(u8, u16, u64),
    Expire(u8),
    Transition(u8),
    /// A put whose commit fails after this step of the commit entry point (0..5).
    Fault(u8, u8, u16, u64),
    /// Staged chunks never committed, then the process dies: reopen with recovery.
    Crash(u16, u64),
}

fn vop() -> impl Strategy<Value = VOp> {
    prop_oneof![
        4 => (0u8..6, 0u16..3000, any::<u64>()).prop_map(|(k, l, s)| VOp::Put(k, l, s)),
        2 => (0u8..6).prop_map(VOp::Delete),
        2 => (0u8..6, any::<u8>()).prop_map(|(k, i)| VOp::DeleteVersion(k, i)),
        1 => (0u8..6, 0u8..6).prop_map(|(a, b)| VOp::Copy(a, b)),
        1 => (0u8..6, 1u16..3000, any::<u64>()).prop_map(|(k, l, s)| VOp::Multipart(k, l, s)),
        1 => (0u8..6).prop_map(VOp::Expire),
        1 => (0u8..6).prop_map(VOp::Transition),
        2 => (0u8..5, 0u8..6, 1100u16..3000, any::<u64>())
            .prop_map(|(st, k, l, s)| VOp::Fault(st, k, l, s)),
        1 => (1100u16..3000, any::<u64>()).prop_map(|(l, s)| VOp::Crash(l, s)),
    ]
}

/// Each key's versions, newest first: (version id, bytes or None for a delete marker).
type VersionModel = BTreeMap<String, Vec<(String, Option<Vec<u8>>)>>;

fn put_new(store: &Store, key: &str, data: &[u8]) -> strata_storage::Result<String> {
    let mut w = store.body_writer();
    w.write(data).unwrap();
    let staged = w.finish().unwrap();
    store
        .put_object(
            "v",
            key,
            staged,
            NewVersion {
                etag: format!("{:x}", data.len()),
                meta: ObjectMeta::default(),
                storage_class: StorageClass::Standard,
                condition: Default::default(),
                replica_of: None,
            },
        )
        .map(|v| v.version_id)
}

/// The recovery invariant: every chunk file is referenced, every referenced chunk of a
/// committed version exists, and the engine shows exactly the acknowledged model.
fn check_versioned(store: &Store, model: &VersionModel) -> Result<(), TestCaseError> {
    let listed: Vec<(String, String, bool)> = store
        .list_versions("v", "", None, None, None, 10_000)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| (e.key, e.version_id, e.is_delete_marker))
        .collect();
    let want: Vec<(String, String, bool)> = model
        .iter()
        .flat_map(|(k, vs)| {
            vs.iter()
                .map(move |(id, d)| (k.clone(), id.clone(), d.is_none()))
        })
        .collect();
    prop_assert_eq!(listed, want);
    for (k, vs) in model {
        for (id, data) in vs {
            let h = store.get_object("v", k, Some(id)).unwrap();
            if let Body::Chunks(list) = &h.version.body {
                for c in list {
                    prop_assert!(store.chunk_file_exists(&c.hash), "dangling reference");
                }
            }
            if let Some(d) = data {
                prop_assert_eq!(&h.read_all().unwrap(), d);
            }
        }
        let current = vs.first().and_then(|(_, d)| d.clone());
        prop_assert_eq!(get(store, "v", k).filter(|_| current.is_some()), current);
    }
    store.sync().unwrap();
    store.sync().unwrap();
    let (rows, _) = store.chunk_usage().unwrap();
    prop_assert_eq!(
        store.chunk_files().unwrap().len() as u64,
        rows,
        "leaked chunk file"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// Model-based, versioned: puts, delete markers, version removals, copies, multipart
    /// completions and lifecycle actions agree with a model after every step; a commit failing at
    /// any step of the commit entry point, and a crash with staged but uncommitted chunks followed
    /// by recovery, leave no leaked chunk, no dangling reference and nothing unacknowledged.
    #[test]
    fn versioned_engine_matches_model(ops in proptest::collection::vec(vop(), 1..30)) {
        use strata_storage::{CommitStep, CopySource, Versioning};
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StoreConfig::new(dir.path());
        cfg.durability = Durability::Process;
        cfg.inline_threshold = 1024;
        let mut store = Store::open(cfg.clone()).unwrap().0;
        store.create_bucket("v", "us-east-1").unwrap();
        store.set_versioning("v", Versioning::Enabled).unwrap();
        let mut model: VersionModel = BTreeMap::new();
        let name = |k: u8| key_name(k);
        for op in ops {
            match op {
                VOp::Put(k, len, seed) => {
                    let data = bytes(seed, len as usize);
                    let id = put_new(&store, &name(k), &data).unwrap();
                    model.entry(name(k)).or_default().insert(0, (id, Some(data)));
                }
                VOp::Delete(k) => {
                    let out = store.delete_object("v", &name(k), None).unwrap();
                    model.entry(name(k)).or_default().insert(0, (out.version_id.unwrap(), None));
                }
                VOp::DeleteVersion(k, i) => {
                    let Some(vs) = model.get_mut(&name(k)).filter(|vs| !vs.is_empty()) else { continue };
                    let (id, _) = vs.remove(i as usize % vs.len());
                    store.delete_object("v", &name(k), Some(&id)).unwrap();
                    if vs.is_empty() {
                        model.remove(&name(k));
                    }
                }
                VOp::Copy(a, b) => {
                    let Some(data) = model.get(&name(a)).and_then(|vs| vs[0].1.clone()) else { continue };
                    let src = CopySource { bucket: "v".into(), key: name(a), version_id: None, expected_etag: None };
                    let (_, v) = store
                        .copy_object(src, "v", &name(b), |s| NewVersion {
                            etag: s.etag.clone(),
                            meta: s.meta.clone(),
                            storage_class: s.storage_class,
                            condition: Default::default(),
                            replica_of: None,
                        })
                        .unwrap();
                    model.entry(name(b)).or_default().insert(0, (v.version_id, Some(data)));
                }
                VOp::Multipart(k, len, seed) => {
                    let (p1, p2) = (bytes(seed, len as usize), bytes(seed ^ 1, 700));
                    let up = store.create_upload("v", &name(k), StorageClass::Standard, ObjectMeta::default(), None).unwrap();
                    store.put_part("v", &name(k), &up.upload_id, stage_part(&store, &p1), part(1, "a")).unwrap();
                    store.put_part("v", &name(k), &up.upload_id, stage_part(&store, &p2), part(2, "b")).unwrap();
                    let new = NewVersion {
                        etag: "mp-2".into(),
                        meta: ObjectMeta::default(),
                        storage_class: StorageClass::Standard,
                        condition: Default::default(),
                        replica_of: None,
                    };
                    let v = store
                        .complete_upload("v", &name(k), &up.upload_id, vec![(1, "a".into()), (2, "b".into())], new)
                        .unwrap()
                        .unwrap();
                    let mut data = p1;
                    data.extend_from_slice(&p2);
                    model.entry(name(k)).or_default().insert(0, (v.version_id, Some(data)));
                }
                VOp::Expire(k) => {
                    let Ok(h) = store.get_object("v", &name(k), None) else { continue };
                    let (id, marker) = (h.version.id, h.version.is_delete_marker);
                    drop(h);
                    let acted = store.lifecycle_expire_current("v", &name(k), id).unwrap();
                    prop_assert_eq!(acted, !marker);
                    if acted {
                        let m = store.get_object("v", &name(k), None).unwrap().version.version_id;
                        model.entry(name(k)).or_default().insert(0, (m, None));
                    }
                }
                VOp::Transition(k) => {
                    let Ok(h) = store.get_object("v", &name(k), None) else { continue };
                    let (id, marker) = (h.version.id, h.version.is_delete_marker);
                    drop(h);
                    prop_assert_eq!(store.lifecycle_set_class("v", id, StorageClass::StandardIa).unwrap(), !marker);
                }
                VOp::Fault(step, k, len, seed) => {
                    store.inject_commit_fault(CommitStep::ALL[step as usize]);
                    prop_assert!(put_new(&store, &name(k), &bytes(seed, len as usize)).is_err());
                    // The store dies right after the failed commit and recovers.
                    drop(store);
                    store = Store::open(cfg.clone()).unwrap().0;
                }
                VOp::Crash(len, seed) => {
                    let mut w = store.body_writer();
                    w.write(&bytes(seed, len as usize)).unwrap();
                    w.finish().unwrap().abandon_as_if_crashed();
                    drop(store);
                    store = Store::open(cfg.clone()).unwrap().0;
                }
            }
            check_versioned(&store, &model)?;
        }
        // And the offline check agrees: nothing leaked, nothing dangling, every count right.
        drop(store);
        let report = check(dir.path(), false);
        prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

// Issue 14: data files and directories were created with the umask's modes (0644/0755), readable
// by every user of the machine.
#[test]
fn data_files_are_0600_and_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = open(&data);
    store.create_bucket("b", "us-east-1").unwrap();
    put(&store, "b", "big", &bytes(7, 3 << 20));
    put(&store, "b", "small", b"tiny");
    let mut files = 0;
    let mut stack = vec![data.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
            files += 1;
        }
    }
    // The database, its WAL and shared memory, and at least one chunk file were checked.
    assert!(files >= 4, "{files} files");
    assert!(data.join("meta.db-wal").exists());
}

fn check(dir: &std::path::Path, repair: bool) -> strata_storage::CheckReport {
    strata_storage::check(&strata_storage::CheckOptions {
        data_dir: dir.to_path_buf(),
        cold_dir: None,
        repair,
    })
    .expect("check runs")
}

/// The chunk files of a tier, by walking the directory as an operator would.
fn chunk_paths(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("chunks").join("hot")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

// Issue 14: a flipped bit in a chunk file was served to clients as the object's bytes, and nothing
// could find it, nor a wrong reference count, a stray file or leftovers in tmp/.
#[test]
fn check_finds_and_repair_quarantines_what_is_wrong() {
    use strata_storage::Problem;
    let dir = tempfile::tempdir().unwrap();
    let damaged = bytes(20, 3 * 1024 * 1024);
    let intact = bytes(21, 2 * 1024 * 1024);
    let damaged_chunks: Vec<strata_storage::ChunkRef>;
    {
        let store = open(dir.path());
        store.create_bucket("b", "us-east-1").unwrap();
        put(&store, "b", "damaged", &damaged);
        put(&store, "b", "intact", &intact);
        put(&store, "b", "small", b"inline bytes");
        damaged_chunks = match &store.get_object("b", "damaged", None).unwrap().version.body {
            Body::Chunks(list) => list.clone(),
            Body::Inline(_) => panic!("a 3 MiB object is chunked"),
        };
        // A running store holds the directory: check refuses rather than race it.
        let busy = strata_storage::check(&strata_storage::CheckOptions {
            data_dir: dir.path().to_path_buf(),
            cold_dir: None,
            repair: false,
        });
        assert!(
            matches!(busy, Err(strata_storage::Error::InUse(_))),
            "{busy:?}"
        );
    }
    let clean = check(dir.path(), false);
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!(clean.versions, 3);
    assert_eq!(clean.chunk_files as usize, chunk_paths(dir.path()).len());
    assert_eq!(clean.chunk_bytes, (damaged.len() + intact.len()) as u64);

    // Flip one bit in the middle chunk of "damaged".
    let victim = damaged_chunks[damaged_chunks.len() / 2];
    let path = chunk_paths(dir.path())
        .into_iter()
        .find(|p| p.file_name().unwrap().to_str() == Some(victim.hash.to_hex().as_str()))
        .expect("the chunk's file");
    let mut data = std::fs::read(&path).unwrap();
    let at = data.len() / 3;
    data[at] ^= 0x10;
    std::fs::write(&path, &data).unwrap();

    // GET: the pieces before the damaged chunk come out right, then the read fails; no byte of
    // the damaged chunk is handed on.
    {
        let store = open(dir.path());
        let h = store.get_object("b", "damaged", None).unwrap();
        let mut got = Vec::new();
        let err = h
            .read_range(0, h.version.size, 1 << 20, |piece| {
                got.extend_from_slice(&piece);
                true
            })
            .unwrap_err();
        assert!(
            matches!(err, strata_storage::Error::CorruptChunk(ref c) if *c == victim.hash.to_hex()),
            "{err}"
        );
        assert!(damaged.starts_with(&got) && got.len() < damaged.len());
        assert_eq!(get(&store, "b", "intact").unwrap(), intact);
    }

    // Three more kinds of damage: a wrong count, a stray file, leftovers of a write.
    {
        let conn = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
        conn.execute(
            "UPDATE chunks SET refs = refs + 2 WHERE hash = (SELECT MIN(hash) FROM chunks)",
            [],
        )
        .unwrap();
    }
    let stray = path.parent().unwrap().join("not-a-chunk");
    std::fs::write(&stray, b"?").unwrap();
    std::fs::write(dir.path().join("tmp").join("partial"), b"junk").unwrap();

    let found = check(dir.path(), false);
    let has = |f: &dyn Fn(&Problem) -> bool| found.problems.iter().any(f);
    assert!(has(
        &|p| matches!(p, Problem::CorruptChunk { hash, .. } if *hash == victim.hash)
    ));
    assert!(has(
        &|p| matches!(p, Problem::DamagedVersion { version, .. } if version.key == "damaged")
    ));
    assert!(has(
        &|p| matches!(p, Problem::WrongRefCount { recorded, counted, .. } if recorded.0 == counted.0 + 2)
    ));
    assert!(has(
        &|p| matches!(p, Problem::StrayFile { path } if *path == stray)
    ));
    assert!(has(
        &|p| matches!(p, Problem::StrayFile { path } if path.ends_with("tmp/partial"))
    ));
    assert!(!has(
        &|p| matches!(p, Problem::DamagedVersion { version, .. } if version.key != "damaged")
    ));
    assert_eq!(found.problems.len(), 5, "{:?}", found.problems);
    assert!(found.problems.iter().all(|p| !p.to_string().is_empty()));

    let repaired = check(dir.path(), true);
    assert!(repaired.problems.is_empty(), "{:?}", repaired.problems);
    assert!(!repaired.repaired.is_empty());
    let quarantine = dir.path().join("quarantine");
    assert_eq!(
        std::fs::read(quarantine.join(format!("hot-{}", victim.hash.to_hex()))).unwrap(),
        data,
        "the damaged chunk is kept aside as it was found"
    );
    assert!(quarantine.join("not-a-chunk").is_file() && quarantine.join("partial").is_file());
    let record = std::fs::read_to_string(quarantine.join("versions.jsonl")).unwrap();
    assert!(record.contains("\"key\":\"damaged\""), "{record}");

    // The damaged version is gone, the others read back exactly, and the directory is clean.
    let store = open(dir.path());
    assert_eq!(get(&store, "b", "damaged"), None);
    assert_eq!(get(&store, "b", "intact").unwrap(), intact);
    assert_eq!(get(&store, "b", "small").unwrap(), b"inline bytes");
    assert_eq!(store.stats().unwrap().objects, 2);
    drop(store);
    let after = check(dir.path(), false);
    assert!(after.problems.is_empty(), "{:?}", after.problems);
}

#[test]
fn a_lock_is_committed_with_its_version_and_holds_after_a_restart() {
    use strata_storage::{
        Error, LockMode, LockOverride, ObjectLockConfig, Retention, Versioning, OBJECT_LOCK_SETTING,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let settings = vec![(
        OBJECT_LOCK_SETTING.to_owned(),
        ObjectLockConfig::default().to_setting().unwrap(),
    )];
    store
        .create_bucket_owned("b", "us-east-1", "", settings)
        .unwrap();
    assert_eq!(store.bucket("b").unwrap().versioning, Versioning::Enabled);
    assert!(matches!(
        store.set_versioning("b", Versioning::Suspended),
        Err(Error::ObjectLockEnabled)
    ));
    let far = 4_102_444_800_000;
    let governed = put_with_meta(
        &store,
        "b",
        "g",
        b"locked",
        ObjectMeta {
            retention: Some(Retention {
                mode: LockMode::Governance,
                retain_until_ms: far,
            }),
            ..Default::default()
        },
    );
    let held = put_with_meta(
        &store,
        "b",
        "h",
        b"locked",
        ObjectMeta {
            legal_hold: true,
            ..Default::default()
        },
    );
    drop(store);

    // After a restart the locks are there: nothing removes the versions but the bypass, which
    // lifts GOVERNANCE only.
    let store = open(dir.path());
    let refused =
        |r: Result<strata_storage::DeleteOutcome, Error>| matches!(r, Err(Error::ObjectLocked(_)));
    assert!(refused(store.delete_object(
        "b",
        "g",
        Some(&governed.version_id)
    )));
    assert!(refused(store.delete_object_with(
        "b",
        "h",
        Some(&held.version_id),
        LockOverride::Governance
    )));
    assert!(!store
        .lifecycle_delete_version("b", "g", &governed.version_id, governed.id)
        .unwrap());
    assert!(store
        .object_meta("b", "g", Some(&governed.version_id))
        .unwrap()
        .is_some());
    // Shortening GOVERNANCE needs the bypass; lengthening does not.
    let shorter = Some(Retention {
        mode: LockMode::Governance,
        retain_until_ms: far - 1,
    });
    assert!(matches!(
        store.set_object_retention(
            "b",
            "g",
            Some(&governed.version_id),
            shorter,
            LockOverride::None
        ),
        Err(Error::ObjectLocked(_))
    ));
    let compliance = Some(Retention {
        mode: LockMode::Compliance,
        retain_until_ms: far,
    });
    store
        .set_object_retention(
            "b",
            "g",
            Some(&governed.version_id),
            compliance,
            LockOverride::None,
        )
        .unwrap();
    // Now COMPLIANCE: not even the bypass removes it.
    assert!(refused(store.delete_object_with(
        "b",
        "g",
        Some(&governed.version_id),
        LockOverride::Governance
    )));
    // Lifting the hold frees the other version.
    store
        .set_object_legal_hold("b", "h", Some(&held.version_id), false)
        .unwrap();
    store
        .delete_object("b", "h", Some(&held.version_id))
        .unwrap();
    assert!(store
        .object_meta("b", "h", Some(&held.version_id))
        .unwrap()
        .is_none());
}
