//! The change feed: an outbox of one typed event per committed change to a key, written by the
//! commit entry point in the transaction that makes the change.
//!
//! Invariants:
//! - An event exists if and only if its change committed: a write that fails or is rolled back
//!   leaves no event, and a committed change always has one.
//! - Sequence numbers increase with commit order and are never reused, so a consumer's cursor
//!   (the last `seq` it handled) is a complete description of its progress. `seq` is the rowid
//!   without `AUTOINCREMENT` (which would cost every commit a `sqlite_sequence` update): SQLite
//!   gives a new row the largest rowid plus one, and pruning only ever deletes the oldest events
//!   and always keeps at least one, so the largest is never deleted and never handed out again.
//! - Pruning: the feed keeps the newest `retain` events (`StoreConfig::change_feed_retain`,
//!   `FEED_RETAIN` by default). When an event's `seq` is a multiple of `min(retain, 1024)`, the
//!   events more than `retain` behind it are deleted in the same transaction, so the feed holds
//!   between `retain` and `retain + 1024` events. A consumer that falls further behind than that
//!   sees a gap in the sequence numbers it reads.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::meta::codec::now_ms;
use crate::names::StorageClass;

/// Events the change feed keeps by default.
pub const FEED_RETAIN: u64 = 100_000;

/// At most how many events apart old events are pruned.
const PRUNE_EVERY: i64 = 1024;

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// A new object version was committed (PUT, copy, multipart completion, replica).
    ObjectCreated,
    /// A delete marker was committed.
    DeleteMarkerCreated,
    /// A version was removed for good (it is the event's version).
    VersionRemoved,
    /// A version's storage class changed (lifecycle transition to a warm class).
    StorageClassChanged,
    /// A version's bytes moved to the archive tier.
    Archived,
    /// A restore of an archived version was recorded.
    RestoreChanged,
    /// A version's tags were replaced.
    TagsChanged,
    /// A version's access control list was replaced (PutObjectAcl).
    AclChanged,
    /// A version's Object Lock retention or legal hold was set or changed.
    LockChanged,
}

/// Who made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeOrigin {
    /// A client request.
    Client,
    /// A lifecycle action (expiration, transition, archiving).
    Lifecycle,
    /// Replication writing a replica.
    Replication,
}

impl ChangeKind {
    fn to_db(self) -> &'static str {
        match self {
            Self::ObjectCreated => "object-created",
            Self::DeleteMarkerCreated => "delete-marker-created",
            Self::VersionRemoved => "version-removed",
            Self::StorageClassChanged => "storage-class-changed",
            Self::Archived => "archived",
            Self::RestoreChanged => "restore-changed",
            Self::TagsChanged => "tags-changed",
            Self::AclChanged => "acl-changed",
            Self::LockChanged => "lock-changed",
        }
    }

    fn from_db(s: &str) -> Result<Self> {
        Ok(match s {
            "object-created" => Self::ObjectCreated,
            "delete-marker-created" => Self::DeleteMarkerCreated,
            "version-removed" => Self::VersionRemoved,
            "storage-class-changed" => Self::StorageClassChanged,
            "archived" => Self::Archived,
            "restore-changed" => Self::RestoreChanged,
            "tags-changed" => Self::TagsChanged,
            "acl-changed" => Self::AclChanged,
            "lock-changed" => Self::LockChanged,
            other => return Err(Error::Corrupt(format!("change kind {other:?}"))),
        })
    }
}

impl ChangeOrigin {
    fn to_db(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Lifecycle => "lifecycle",
            Self::Replication => "replication",
        }
    }

    fn from_db(s: &str) -> Result<Self> {
        Ok(match s {
            "client" => Self::Client,
            "lifecycle" => Self::Lifecycle,
            "replication" => Self::Replication,
            other => return Err(Error::Corrupt(format!("change origin {other:?}"))),
        })
    }
}

/// One committed change, as the feed holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeEvent {
    /// Position in the feed (increases with commit order, never reused).
    pub seq: i64,
    /// When it was committed, ms since the epoch.
    pub time_ms: i64,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The version the change is about.
    pub version_id: String,
    /// That version's row id.
    pub version_row: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// Who changed it.
    pub origin: ChangeOrigin,
    /// The version's size in bytes.
    pub size: u64,
    /// The version's ETag, without quotes.
    pub etag: String,
    /// The version's storage class.
    pub storage_class: StorageClass,
}

/// Appends an event (seq and time are assigned here); returns its seq.
pub(crate) fn append(conn: &Connection, e: &ChangeEvent, retain: u64) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO change_feed(time_ms, bucket, key, version_id, version_row, kind, origin, \
         size, etag, storage_class) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        now_ms(),
        e.bucket,
        e.key.as_bytes(),
        e.version_id,
        e.version_row,
        e.kind.to_db(),
        e.origin.to_db(),
        e.size as i64,
        e.etag,
        e.storage_class
    ])?;
    let seq = conn.last_insert_rowid();
    let retain = i64::try_from(retain).unwrap_or(i64::MAX).max(1);
    if seq % retain.min(PRUNE_EVERY) == 0 && seq > retain {
        conn.prepare_cached("DELETE FROM change_feed WHERE seq <= ?1")?
            .execute([seq - retain])?;
    }
    Ok(seq)
}

/// Up to `limit` events after `after_seq`, oldest first.
pub(crate) fn read(conn: &Connection, after_seq: i64, limit: usize) -> Result<Vec<ChangeEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time_ms, bucket, key, version_id, version_row, kind, origin, size, etag, \
         storage_class FROM change_feed WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt
        .query_and_then(params![after_seq, limit as i64], |r| {
            let key: Vec<u8> = r.get(3)?;
            Ok(ChangeEvent {
                seq: r.get(0)?,
                time_ms: r.get(1)?,
                bucket: r.get(2)?,
                key: String::from_utf8_lossy(&key).into_owned(),
                version_id: r.get(4)?,
                version_row: r.get(5)?,
                kind: ChangeKind::from_db(&r.get::<_, String>(6)?)?,
                origin: ChangeOrigin::from_db(&r.get::<_, String>(7)?)?,
                size: r.get::<_, i64>(8)?.max(0) as u64,
                etag: r.get(9)?,
                storage_class: r.get(10)?,
            })
        })?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}
