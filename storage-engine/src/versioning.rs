//! S3 versioning over the version table: the bucket's state (unversioned, Enabled, Suspended),
//! new versions and delete markers, deleting a given version, and listing versions.
//!
//! Invariant: each key has at most one latest version (`is_latest = 1`), always its newest row;
//! at most one version with the id `null`; and every non-latest version records when it became
//! noncurrent. Writes to one key are serialised by the single metadata writer, so concurrent PUTs
//! each get a version and exactly one ends latest.

use rusqlite::{params, Connection, OptionalExtension};

use crate::chunks::ChunkHash;
use crate::engine::Store;
use crate::error::{Error, Result};
use crate::lock::{Hold, LockOverride, ObjectLockConfig, OBJECT_LOCK_SETTING};
use crate::meta::codec::now_ms;
use crate::meta::commit::{commit_key, commit_key_from, Change, CommitContext, RemovedRow};
use crate::meta::feed::{ChangeKind, ChangeOrigin};
use crate::meta::queue::REPLICATION_SETTING;
use crate::meta::versions::{
    bucket_versioning, demote, insert_row, load_version, promote_newest, remove_version_row, NewRow,
};
use crate::meta::walk::{walk, Entry, KeySource, Start};
use crate::model::{
    Body, NewVersion, ObjectMeta, ObjectVersion, ReplicaOf, Versioning, WriteCondition,
    NULL_VERSION,
};
use crate::names::{ReplicationStatus, StorageClass};

/// What a delete did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The version id the response reports (the marker's, or the deleted version's).
    pub version_id: Option<String>,
    /// Whether a delete marker was created, or the deleted version was one.
    pub delete_marker: bool,
}

/// One entry of a version listing.
#[derive(Clone, Debug)]
pub struct VersionEntry {
    /// Key.
    pub key: String,
    /// Version id.
    pub version_id: String,
    /// Whether it is the key's latest version.
    pub is_latest: bool,
    /// Whether it is a delete marker.
    pub is_delete_marker: bool,
    /// Size.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: String,
    /// Last-Modified, ms since the epoch.
    pub last_modified_ms: i64,
    /// Storage class.
    pub storage_class: StorageClass,
}

/// A page of a version listing.
#[derive(Clone, Debug, Default)]
pub struct VersionPage {
    /// Versions and delete markers: key ascending, newest first within a key.
    pub entries: Vec<VersionEntry>,
    /// Common prefixes when a delimiter was given.
    pub common_prefixes: Vec<String>,
    /// Whether more follow.
    pub is_truncated: bool,
    /// Where the next page starts: (key marker, version id marker).
    pub next: Option<(String, Option<String>)>,
}

/// Whether `id` has the form of a version id this server issues (or `null`).
pub fn is_valid_version_id(id: &str) -> bool {
    id == NULL_VERSION || (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new version id: time-ordered (ms since the epoch) with 80 random bits.
fn new_version_id() -> String {
    let r: u128 = rand::random();
    format!(
        "{:012x}{:020x}",
        now_ms() as u64 & 0xFFFF_FFFF_FFFF,
        r & ((1u128 << 80) - 1)
    )
}

/// Commits a version (an object or a delete marker) as the key's latest, following the bucket's
/// versioning state, through the commit entry point. Returns the version (PENDING when it was
/// queued for replication) and the chunks freed by a replaced `null` version.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_version(
    conn: &Connection,
    ctx: &CommitContext,
    origin: ChangeOrigin,
    bucket: String,
    key: String,
    body: Body,
    size: u64,
    new: NewVersion,
) -> Result<(ObjectVersion, Vec<ChunkHash>)> {
    insert_version(conn, ctx, origin, bucket, key, body, size, new, false)
}

/// `write_version` for an object or a delete marker.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_version(
    conn: &Connection,
    ctx: &CommitContext,
    origin: ChangeOrigin,
    bucket: String,
    key: String,
    body: Body,
    size: u64,
    new: NewVersion,
    delete_marker: bool,
) -> Result<(ObjectVersion, Vec<ChunkHash>)> {
    let versioning = bucket_versioning(conn, &bucket)?;
    if let Some(ReplicaOf {
        version_id: vid, ..
    }) = &new.replica_of
    {
        if versioning != Versioning::Enabled {
            return Err(Error::Invalid(
                "Destination bucket must have versioning enabled.".into(),
            ));
        }
        if !is_valid_version_id(vid) {
            return Err(Error::Invalid(format!(
                "invalid replica version id {vid:?}"
            )));
        }
        if let Some(existing) = load_version(conn, &bucket, &key, Some(vid))? {
            // A repeated delivery: nothing is written, and the body's chunks go back to the
            // collector (which keeps whatever a committed version references).
            let unused = match &body {
                Body::Chunks(list) => list.iter().map(|c| c.hash).collect(),
                Body::Inline(_) => Vec::new(),
            };
            return Ok((existing, unused));
        }
    }
    let current = load_version(conn, &bucket, &key, None)?;
    let live = current.as_ref().filter(|v| !v.is_delete_marker);
    match (&new.condition, live) {
        (WriteCondition::None, _) | (WriteCondition::IfNoneMatch, None) => {}
        (WriteCondition::IfNoneMatch, Some(_)) => return Err(Error::PreconditionFailed),
        (WriteCondition::IfMatch(_), None) => return Err(Error::NoSuchKey(key)),
        (WriteCondition::IfMatch(etag), Some(v)) if &v.etag == etag => {}
        (WriteCondition::IfMatch(_), Some(_)) => return Err(Error::PreconditionFailed),
    }
    let now = now_ms();
    let last_modified = new.replica_of.as_ref().map_or(now, |r| r.last_modified_ms);
    let version_id = match (&new.replica_of, versioning) {
        (Some(r), _) => r.version_id.clone(),
        (None, Versioning::Enabled) => new_version_id(),
        (None, Versioning::Unversioned | Versioning::Suspended) => NULL_VERSION.to_owned(),
    };
    let replication_status = new
        .replica_of
        .is_some()
        .then_some(ReplicationStatus::Replica);
    let before = live.map(|v| v.size);
    let (freed, committed) = commit_key_from(conn, ctx, &bucket, &key, before, || {
        let mut freed = Vec::new();
        let mut removed = Vec::new();
        let mut latest = current.as_ref().map(|v| v.id);
        if versioning != Versioning::Enabled || version_id == NULL_VERSION {
            // The `null` version is usually the latest one, read above; only an older one
            // needs a lookup.
            let fetched;
            let old = match &current {
                Some(cur) if cur.version_id == NULL_VERSION => Some(cur),
                _ => {
                    fetched = load_version(conn, &bucket, &key, Some(NULL_VERSION))?;
                    fetched.as_ref()
                }
            };
            if let Some(old) = old {
                check_unlocked(old, LockOverride::None)?;
                freed.extend(remove_version_row(conn, old)?);
                removed.push(RemovedRow::of(old));
                if latest == Some(old.id) {
                    latest = None;
                }
            }
        }
        if let Some(id) = latest {
            demote(conn, id, now)?;
        }
        let id = insert_row(
            conn,
            &NewRow {
                bucket: &bucket,
                key: &key,
                version_id: &version_id,
                delete_marker,
                size,
                etag: &new.etag,
                last_modified_ms: last_modified,
                storage_class: new.storage_class,
                meta: &new.meta,
                body: &body,
                replication_status,
            },
        )?;
        let version = ObjectVersion {
            id,
            bucket: bucket.clone(),
            key: key.clone(),
            version_id,
            is_latest: true,
            is_delete_marker: delete_marker,
            size,
            etag: new.etag,
            last_modified_ms: last_modified,
            storage_class: new.storage_class,
            meta: new.meta,
            body,
            noncurrent_since_ms: None,
            archived: false,
            restore: None,
            lifecycle_epoch: 0,
            replication_status,
        };
        let kind = if delete_marker {
            ChangeKind::DeleteMarkerCreated
        } else {
            ChangeKind::ObjectCreated
        };
        Ok((
            freed,
            Some(Change {
                kind,
                origin,
                version,
                removed,
            }),
        ))
    })?;
    let Some(committed) = committed else {
        return Err(Error::Corrupt("a new version committed no change".into()));
    };
    let mut version = committed.version;
    if committed.queued > 0 {
        version.replication_status = Some(ReplicationStatus::Pending);
    }
    Ok((version, freed))
}

/// The bucket's Object Lock configuration, read on `conn`.
pub(crate) fn lock_config_in(conn: &Connection, bucket: &str) -> Result<Option<ObjectLockConfig>> {
    conn.prepare_cached("SELECT value FROM bucket_settings WHERE bucket = ?1 AND name = ?2")?
        .query_row(params![bucket, OBJECT_LOCK_SETTING], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .map(|json| ObjectLockConfig::from_setting(&json))
        .transpose()
}

/// Refuses the removal of `v` while a lock holds it against `over`.
pub(crate) fn check_unlocked(v: &ObjectVersion, over: LockOverride) -> Result<()> {
    match crate::lock::blocking_hold(v.meta.retention, v.meta.legal_hold, now_ms(), over) {
        None => Ok(()),
        Some(Hold::LegalHold) => Err(Error::ObjectLocked("legal hold".into())),
        Some(Hold::Retention(r)) => Err(Error::ObjectLocked(format!(
            "{} retention until {} ms",
            r.mode.as_str(),
            r.retain_until_ms
        ))),
    }
}

/// Removes version `v` of its key for good (the next newest becomes latest) through the commit
/// entry point; returns the freed chunks.
pub(crate) fn remove_version(
    conn: &Connection,
    ctx: &CommitContext,
    origin: ChangeOrigin,
    v: ObjectVersion,
) -> Result<Vec<ChunkHash>> {
    let (bucket, key) = (v.bucket.clone(), v.key.clone());
    let (freed, _) = commit_key(conn, ctx, &bucket, &key, || {
        let freed = remove_version_row(conn, &v)?;
        if v.is_latest {
            promote_newest(conn, &bucket, &key)?;
        }
        let removed = vec![RemovedRow::of(&v)];
        let change = Change {
            kind: ChangeKind::VersionRemoved,
            origin,
            version: v,
            removed,
        };
        Ok((freed, Some(change)))
    })?;
    Ok(freed)
}

/// Deletes inside a transaction, as S3's DeleteObject does.
pub(crate) fn delete_in_tx(
    conn: &Connection,
    ctx: &CommitContext,
    origin: ChangeOrigin,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    over: LockOverride,
) -> Result<(DeleteOutcome, Vec<ChunkHash>)> {
    let versioning = bucket_versioning(conn, bucket)?;
    if let Some(vid) = version_id {
        // Deleting one version: permanent; a missing version is not an error, as in S3.
        return match load_version(conn, bucket, key, Some(vid))? {
            Some(v) => {
                check_unlocked(&v, over)?;
                let delete_marker = v.is_delete_marker;
                let freed = remove_version(conn, ctx, origin, v)?;
                Ok((
                    DeleteOutcome {
                        version_id: (versioning != Versioning::Unversioned || vid != NULL_VERSION)
                            .then(|| vid.to_owned()),
                        delete_marker,
                    },
                    freed,
                ))
            }
            None => Ok((
                DeleteOutcome {
                    version_id: Some(vid.to_owned()),
                    delete_marker: false,
                },
                Vec::new(),
            )),
        };
    }
    match versioning {
        Versioning::Unversioned => match load_version(conn, bucket, key, Some(NULL_VERSION))? {
            Some(v) => {
                check_unlocked(&v, over)?;
                Ok((
                    DeleteOutcome::default(),
                    remove_version(conn, ctx, origin, v)?,
                ))
            }
            None => Ok((DeleteOutcome::default(), Vec::new())),
        },
        Versioning::Enabled | Versioning::Suspended => {
            let new = NewVersion {
                etag: String::new(),
                meta: ObjectMeta::default(),
                storage_class: StorageClass::Standard,
                condition: WriteCondition::None,
                replica_of: None,
            };
            let (marker, freed) = insert_version(
                conn,
                ctx,
                origin,
                bucket.to_owned(),
                key.to_owned(),
                Body::Inline(Vec::new()),
                0,
                new,
                true,
            )?;
            Ok((
                DeleteOutcome {
                    version_id: Some(marker.version_id),
                    delete_marker: true,
                },
                freed,
            ))
        }
    }
}

impl Store {
    /// Sets a bucket's versioning state. A bucket never returns to unversioned.
    pub fn set_versioning(&self, bucket: &str, state: Versioning) -> Result<()> {
        if state == Versioning::Unversioned {
            return Err(Error::Invalid(
                "a bucket cannot return to the unversioned state".into(),
            ));
        }
        let b = bucket.to_owned();
        self.inner.writer.write(move |conn| {
            bucket_versioning(conn, &b)?;
            let replicated = conn
                .prepare_cached("SELECT 1 FROM bucket_settings WHERE bucket = ?1 AND name = ?2")?
                .exists(params![b, REPLICATION_SETTING])?;
            if replicated && state != Versioning::Enabled {
                return Err(Error::ReplicationConfigured);
            }
            if state != Versioning::Enabled && lock_config_in(conn, &b)?.is_some() {
                return Err(Error::ObjectLockEnabled);
            }
            conn.execute(
                "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
                params![b, state.to_db()],
            )?;
            Ok(((), Vec::new()))
        })
    }

    /// DeleteObject: with a version id, removes exactly that version (the next newest becomes
    /// latest); without, deletes the object (unversioned) or adds a delete marker.
    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<DeleteOutcome> {
        self.delete_object_with(bucket, key, version_id, LockOverride::None)
    }

    /// `delete_object`, removing a version that GOVERNANCE retention holds when `over` says
    /// the bypass was asked for and allowed. A locked version is refused with `ObjectLocked`.
    pub fn delete_object_with(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        over: LockOverride,
    ) -> Result<DeleteOutcome> {
        let (b, k, v) = (
            bucket.to_owned(),
            key.to_owned(),
            version_id.map(str::to_owned),
        );
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            // A new delete marker is a version a client wrote and is replicated; removing a
            // version by id is not (as in S3): the commit entry point queues accordingly.
            delete_in_tx(conn, &ctx, ChangeOrigin::Client, &b, &k, v.as_deref(), over)
        })
    }

    /// The bucket's Object Lock configuration; None when Object Lock is not enabled.
    pub fn object_lock_config(&self, bucket: &str) -> Result<Option<ObjectLockConfig>> {
        self.inner.readers.with(|conn| {
            if !crate::meta::versions::bucket_exists(conn, bucket)? {
                return Err(Error::NoSuchBucket(bucket.to_owned()));
            }
            lock_config_in(conn, bucket)
        })
    }

    /// Enables Object Lock on a bucket (for good) and sets its default retention. The bucket's
    /// versioning must be enabled (CreateBucket with Object Lock enables it first).
    pub fn set_object_lock_config(&self, bucket: &str, cfg: ObjectLockConfig) -> Result<()> {
        let b = bucket.to_owned();
        let text = cfg.to_setting()?;
        self.inner.writer.write(move |conn| {
            if bucket_versioning(conn, &b)? != Versioning::Enabled {
                return Err(Error::VersioningNotEnabled);
            }
            conn.execute(
                "INSERT OR REPLACE INTO bucket_settings(bucket, name, value) VALUES (?1, ?2, ?3)",
                params![b, OBJECT_LOCK_SETTING, text],
            )?;
            Ok(((), Vec::new()))
        })
    }

    /// Lists versions and delete markers: key ascending, newest first; resumes after
    /// (`key_marker`, `version_id_marker`).
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_id_marker: Option<&str>,
        max: usize,
    ) -> Result<VersionPage> {
        self.inner.readers.with(|conn| {
            bucket_versioning(conn, bucket)?;
            list_versions_in(
                conn,
                bucket,
                prefix,
                delimiter,
                key_marker,
                version_id_marker,
                max,
            )
        })
    }
}

/// Versions of a bucket in (key, newest first) order, for the key walker.
struct AllVersions<'c> {
    conn: &'c Connection,
    bucket: &'c str,
}

impl KeySource for AllVersions<'_> {
    type Row = (Vec<u8>, i64, VersionEntry);
    type Pos = i64;

    fn fetch(
        &mut self,
        start: &Start<i64>,
        upper: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Self::Row>> {
        // (key, skip every version of it, resume below this row id)
        let (key, skip_key, below) = match start {
            Start::From(k) => (k, false, None),
            Start::AfterKey(k) => (k, true, None),
            Start::Within(k, id) => (k, false, Some(*id)),
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, version_id, is_latest, is_delete_marker, size, etag, last_modified_ms, storage_class, id \
             FROM versions WHERE bucket = ?1 \
             AND ((key = ?2 AND ?3 = 0 AND (?4 IS NULL OR id < ?4)) OR key > ?2) \
             AND (?5 IS NULL OR key < ?5) \
             ORDER BY key, id DESC LIMIT ?6",
        )?;
        let rows = stmt
            .query_map(
                params![self.bucket, key, skip_key, below, upper, limit as i64],
                |r| {
                    let key: Vec<u8> = r.get(0)?;
                    let entry = VersionEntry {
                        key: String::from_utf8_lossy(&key).into_owned(),
                        version_id: r.get(1)?,
                        is_latest: r.get(2)?,
                        is_delete_marker: r.get(3)?,
                        size: r.get::<_, i64>(4)?.max(0) as u64,
                        etag: r.get(5)?,
                        last_modified_ms: r.get(6)?,
                        storage_class: r.get(7)?,
                    };
                    Ok((key, r.get(8)?, entry))
                },
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn key<'r>(&self, row: &'r Self::Row) -> &'r [u8] {
        &row.0
    }

    fn resume_after(&self, row: &Self::Row) -> Start<i64> {
        Start::Within(row.0.clone(), row.1)
    }
}

#[allow(clippy::too_many_arguments)]
fn list_versions_in(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: Option<&str>,
    version_id_marker: Option<&str>,
    max: usize,
) -> Result<VersionPage> {
    let start = match key_marker.filter(|k| !k.is_empty()) {
        None => Start::From(prefix.as_bytes().to_vec()),
        Some(km) => match version_id_marker.filter(|v| !v.is_empty()) {
            Some(vm) => {
                let id: Option<i64> = conn
                    .prepare_cached(
                        "SELECT id FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                    )?
                    .query_row(params![bucket, km.as_bytes(), vm], |r| r.get(0))
                    .optional()?;
                match id {
                    Some(id) => Start::Within(km.as_bytes().to_vec(), id),
                    None => Start::AfterKey(km.as_bytes().to_vec()),
                }
            }
            None => Start::AfterKey(km.as_bytes().to_vec()),
        },
    };
    let mut source = AllVersions { conn, bucket };
    let walked = walk(&mut source, prefix.as_bytes(), delimiter, start, max)?;
    let mut page = VersionPage {
        is_truncated: walked.truncated,
        ..Default::default()
    };
    for entry in walked.entries {
        match entry {
            Entry::Row((_, _, e)) => {
                page.next = Some((e.key.clone(), Some(e.version_id.clone())));
                page.entries.push(e);
            }
            Entry::Prefix(cp) => {
                page.next = Some((cp.clone(), None));
                page.common_prefixes.push(cp);
            }
        }
    }
    if !page.is_truncated {
        page.next = None;
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids() {
        let a = new_version_id();
        assert_eq!(a.len(), 32);
        assert!(is_valid_version_id(&a));
        assert!(is_valid_version_id("null"));
        assert!(!is_valid_version_id("xyz"));
        assert!(!is_valid_version_id(&"g".repeat(32)));
    }
}
