//! The replication worker's side of the queue: handing entries out in order, recording
//! outcomes and counters, and the local (same-store) replica writes. Entries are queued by the
//! commit entry point (`meta::queue`).
//!
//! Invariants:
//! - A client write that a bucket's replication rules select is queued in the transaction that
//!   commits it (see `meta::queue`); which rules select it is decided by the policy given to
//!   `Store::open`, over the configuration stored in the same transaction.
//! - Entries for one (bucket, key, destination) are handed out strictly in commit order: a
//!   version never overtakes an older one on its way to a destination.
//! - A local replica is written in the same transaction that removes its queue entry, so it is
//!   applied exactly once.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::chunks::ChunkHash;
use crate::engine::{ObjectHandle, Store};
use crate::error::{Error, Result};
use crate::meta::codec::{now_ms, version_from_row, VERSION_COLUMNS};
use crate::meta::commit::{commit_key, Change};
use crate::meta::feed::{ChangeKind, ChangeOrigin};
use crate::meta::queue::{
    enqueue, refresh_status, ReplicationEvent, ReplicationKind, REPLICATION_SETTING,
};
use crate::meta::versions::{bucket_exists, bucket_versioning, load_row, load_version, set_meta};
use crate::model::{Body, NewVersion, ObjectVersion, ReplicaOf, Versioning};
use crate::names::StorageClass;
use crate::versioning::insert_version;

/// A queued replication.
#[derive(Clone, Debug, Serialize)]
pub struct QueueEntry {
    /// Queue id.
    pub id: i64,
    /// Source bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Source version id.
    pub version_id: String,
    /// Source version row.
    pub version_row: i64,
    /// What to carry.
    pub kind: ReplicationKind,
    /// The rule that queued it.
    pub rule_id: String,
    /// Destination ARN.
    pub destination: String,
    /// Storage class for the replica (None: the source's).
    pub storage_class: Option<StorageClass>,
    /// When it was queued, ms since the epoch.
    pub enqueued_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// A failed attempt, as `Store::replication_failed` records it.
#[derive(Clone, Copy, Debug)]
pub struct ReplicationFailure<'a> {
    /// What went wrong (kept as the destination's last error).
    pub error: &'a str,
    /// When to try the entry again, ms since the epoch.
    pub next_attempt_ms: i64,
    /// Failed attempts after which the source reports FAILED.
    pub fail_after: u32,
    /// Whether the whole destination failed: its other entries wait until `next_attempt_ms`.
    pub rest_destination: bool,
}

/// Counters of one rule toward one destination.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RuleReplicationStats {
    /// Source bucket.
    pub bucket: String,
    /// Rule id.
    pub rule_id: String,
    /// Destination ARN.
    pub destination: String,
    /// Entries queued now.
    pub pending: u64,
    /// Entries replicated.
    pub completed: u64,
    /// Entries that failed past the retry threshold (each counted once; they are still retried).
    pub failed: u64,
}

/// The last error met on the way to a destination.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DestinationError {
    /// Destination ARN.
    pub destination: String,
    /// The error.
    pub error: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// The state of replication, for `strata replication status` and metrics.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplicationReport {
    /// Entries queued.
    pub queue_length: u64,
    /// When the oldest queued entry was queued, ms since the epoch.
    pub oldest_enqueued_ms: Option<i64>,
    /// Per rule and destination.
    pub rules: Vec<RuleReplicationStats>,
    /// Last error per destination.
    pub errors: Vec<DestinationError>,
}

const ENTRY_COLUMNS: &str =
    "id, bucket, key, version_id, version_row, kind, rule_id, destination, \
                             storage_class, enqueued_ms, attempts";

fn entry_from_row(r: &rusqlite::Row<'_>) -> Result<QueueEntry> {
    let key: Vec<u8> = r.get(2)?;
    Ok(QueueEntry {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: String::from_utf8_lossy(&key).into_owned(),
        version_id: r.get(3)?,
        version_row: r.get(4)?,
        kind: ReplicationKind::from_db(&r.get::<_, String>(5)?)?,
        rule_id: r.get(6)?,
        destination: r.get(7)?,
        storage_class: r.get(8)?,
        enqueued_ms: r.get(9)?,
        attempts: r.get::<_, i64>(10)? as u32,
    })
}

fn bump_stats(conn: &Connection, e: &QueueEntry, completed: i64, failed: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO replication_stats(bucket, rule_id, destination, completed, failed) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(bucket, rule_id, destination) DO UPDATE SET \
         completed = completed + excluded.completed, failed = failed + excluded.failed",
    )?
    .execute(params![
        e.bucket,
        e.rule_id,
        e.destination,
        completed,
        failed
    ])?;
    Ok(())
}

/// Removes a finished entry and updates its source's status (and, when it was `carried`, its
/// rule's counters).
fn finish(conn: &Connection, e: &QueueEntry, carried: bool) -> Result<()> {
    let n = conn
        .prepare_cached("DELETE FROM replication_queue WHERE id = ?1")?
        .execute([e.id])?;
    if n > 0 {
        if carried {
            bump_stats(conn, e, 1, 0)?;
        }
        refresh_status(conn, e.version_row)?;
    }
    Ok(())
}

/// Why an entry whose source was archived before it was carried is given up (S3 does not
/// replicate archived objects).
pub const ARCHIVED_REASON: &str =
    "the source version moved to an archive storage class before it was replicated";

/// Gives an entry up for good: its source reports FAILED and the reason is kept as the
/// destination's last error.
fn abandon(conn: &Connection, e: &QueueEntry, reason: &str) -> Result<()> {
    let counted: Option<i64> = conn
        .prepare_cached("DELETE FROM replication_queue WHERE id = ?1 RETURNING failed")?
        .query_row([e.id], |r| r.get(0))
        .optional()?;
    let Some(counted) = counted else {
        return Ok(());
    };
    // An entry that already failed past the threshold was counted then.
    if counted == 0 {
        bump_stats(conn, e, 0, 1)?;
    }
    conn.prepare_cached("INSERT OR IGNORE INTO replication_abandoned(version_row) VALUES (?1)")?
        .execute([e.version_row])?;
    refresh_status(conn, e.version_row)?;
    record_error(conn, &e.destination, reason)
}

fn record_error(conn: &Connection, destination: &str, error: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO replication_errors(destination, error, at_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![destination, error, now_ms()])?;
    Ok(())
}

/// Inserts a replica of `src` into `dest_bucket` (same key and version id), unless that version
/// is there already. Returns chunks freed by a replaced `null` version.
pub(crate) fn insert_replica(
    conn: &Connection,
    ctx: &crate::meta::commit::CommitContext,
    src: &ObjectVersion,
    dest_bucket: &str,
    storage_class: Option<StorageClass>,
) -> Result<Vec<ChunkHash>> {
    if bucket_versioning(conn, dest_bucket)? != Versioning::Enabled {
        return Err(Error::Invalid(
            "Destination bucket must have versioning enabled.".into(),
        ));
    }
    // User Guide, "Using Object Lock with S3 Replication": a locked version needs a destination
    // with Object Lock (S3's failure reason DstBucketObjectLockConfigMissing). Without it the
    // replica's lock could never be changed there, and would block its removal for good.
    if (src.meta.retention.is_some() || src.meta.legal_hold)
        && crate::versioning::lock_config_in(conn, dest_bucket)?.is_none()
    {
        return Err(Error::Invalid(format!(
            "DstBucketObjectLockConfigMissing: destination bucket {dest_bucket} has no Object Lock configuration"
        )));
    }
    let new = NewVersion {
        etag: src.etag.clone(),
        meta: src.meta.clone(),
        storage_class: storage_class.unwrap_or(src.storage_class),
        condition: Default::default(),
        replica_of: Some(ReplicaOf {
            version_id: src.version_id.clone(),
            last_modified_ms: src.last_modified_ms,
        }),
    };
    let (_, freed) = insert_version(
        conn,
        ctx,
        ChangeOrigin::Replication,
        dest_bucket.to_owned(),
        src.key.clone(),
        src.body.clone(),
        src.size,
        new,
        src.is_delete_marker,
    )?;
    Ok(freed)
}

impl Store {
    /// Stores (Some) or removes (None) a bucket's replication configuration. With
    /// `queue_existing` (a rule asks for existing objects), the versions already in the bucket that
    /// no replication has touched are queued in the same transaction, as the policy decides for
    /// `ReplicationEvent::Existing`. Returns how many entries were queued.
    pub fn set_replication_config(
        &self,
        bucket: &str,
        config: Option<String>,
        queue_existing: bool,
    ) -> Result<u64> {
        let b = bucket.to_owned();
        let policy = self.ctx().policy;
        self.inner.writer.write(move |conn| {
            let versioning = bucket_versioning(conn, &b)?;
            let Some(json) = config else {
                conn.execute(
                    "DELETE FROM bucket_settings WHERE bucket = ?1 AND name = ?2",
                    params![b, REPLICATION_SETTING],
                )?;
                return Ok((0, Vec::new()));
            };
            if versioning != Versioning::Enabled {
                return Err(Error::Invalid(
                    "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
                        .into(),
                ));
            }
            if policy.is_none() {
                // Without a policy nothing would ever be queued: refuse rather than accept a
                // configuration that silently does nothing.
                return Err(Error::Invalid(
                    "this store was opened without a replication policy".into(),
                ));
            }
            conn.execute(
                "INSERT OR REPLACE INTO bucket_settings(bucket, name, value) VALUES (?1, ?2, ?3)",
                params![b, REPLICATION_SETTING, json],
            )?;
            let mut queued = 0u64;
            if !queue_existing {
                return Ok((queued, Vec::new()));
            }
            // In batches, without the inline bytes the policy does not look at.
            let columns = VERSION_COLUMNS.replace("inline_data", "NULL");
            let mut after = 0i64;
            loop {
                let batch = conn
                    .prepare_cached(&format!(
                        "SELECT {columns} FROM versions WHERE id > ?2 AND bucket = ?1 \
                         AND replication_status IS NULL ORDER BY id LIMIT 1000"
                    ))?
                    .query_and_then(params![b, after], version_from_row)?
                    .collect::<Result<Vec<_>>>()?;
                let Some(last) = batch.last() else { break };
                after = last.id;
                for v in &batch {
                    queued += enqueue(conn, policy.as_ref(), v, ReplicationEvent::Existing)? as u64;
                }
            }
            Ok((queued, Vec::new()))
        })
    }

    /// Up to `limit` entries whose next attempt is due at `now_ms`, none of them behind an older
    /// entry for the same key and destination, and none for the destinations in `resting`
    /// (destinations that just failed, so that their backlog does not crowd out the others).
    pub fn replication_due(
        &self,
        now_ms: i64,
        limit: usize,
        resting: &[String],
    ) -> Result<Vec<QueueEntry>> {
        self.inner.readers.with(|conn| {
            let placeholders = vec!["?"; resting.len()].join(", ");
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM replication_queue q WHERE next_attempt_ms <= ? \
                 AND destination NOT IN ({placeholders}) \
                 AND NOT EXISTS (SELECT 1 FROM replication_queue p WHERE p.bucket = q.bucket \
                 AND p.key = q.key AND p.destination = q.destination AND p.id < q.id) \
                 ORDER BY next_attempt_ms, id LIMIT ?"
            ))?;
            let mut values: Vec<rusqlite::types::Value> = vec![now_ms.into()];
            values.extend(resting.iter().map(|d| d.clone().into()));
            values.push((limit as i64).into());
            let rows = stmt
                .query_and_then(rusqlite::params_from_iter(values), entry_from_row)?
                .collect::<Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// The source version of an entry, with its chunks pinned for reading; None when it is gone
    /// (a version deleted before it was replicated).
    pub fn replication_source(&self, entry: &QueueEntry) -> Result<Option<ObjectHandle>> {
        match self.get_object(&entry.bucket, &entry.key, Some(&entry.version_id)) {
            Ok(h) if h.version.id == entry.version_row => Ok(Some(h)),
            Ok(_) | Err(Error::NoSuchKey(_)) | Err(Error::NoSuchBucket(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Carries `entry` to a bucket of this store: the replica shares the source's chunks, and is
    /// written in the transaction that removes the entry. A destination that is missing or not
    /// versioned is an error (the entry stays queued).
    pub fn replicate_local(&self, entry: &QueueEntry, dest_bucket: &str) -> Result<()> {
        let (e, dest) = (entry.clone(), dest_bucket.to_owned());
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            let still_queued = conn
                .prepare_cached("SELECT 1 FROM replication_queue WHERE id = ?1")?
                .exists([e.id])?;
            if !still_queued {
                return Ok(((), Vec::new()));
            }
            let Some(src) = load_row(conn, e.version_row)? else {
                // The source version was deleted before it could be carried.
                finish(conn, &e, false)?;
                return Ok(((), Vec::new()));
            };
            let mut freed = Vec::new();
            match e.kind {
                ReplicationKind::Version if src.archived => {
                    abandon(conn, &e, ARCHIVED_REASON)?;
                    return Ok(((), Vec::new()));
                }
                ReplicationKind::Version => {
                    freed = insert_replica(conn, &ctx, &src, &dest, e.storage_class)?;
                }
                ReplicationKind::Tags => {
                    if !bucket_exists(conn, &dest)? {
                        return Err(Error::NoSuchBucket(dest));
                    }
                    // A replica removed at the destination has no tags to update.
                    if let Some(mut replica) =
                        load_version(conn, &dest, &src.key, Some(&src.version_id))?
                    {
                        commit_key(conn, &ctx, &dest, &src.key, || {
                            replica.meta.tags = src.meta.tags.clone();
                            set_meta(conn, replica.id, &replica.meta)?;
                            let change = Change {
                                kind: ChangeKind::TagsChanged,
                                origin: ChangeOrigin::Replication,
                                version: replica,
                                removed: Vec::new(),
                            };
                            Ok(((), Some(change)))
                        })?;
                    }
                }
            }
            finish(conn, &e, true)?;
            Ok(((), freed))
        })
    }

    /// Records that `entry` reached its destination.
    pub fn replication_done(&self, entry: &QueueEntry) -> Result<()> {
        let e = entry.clone();
        self.inner.writer.write(move |conn| {
            finish(conn, &e, true)?;
            Ok(((), Vec::new()))
        })
    }

    /// Gives an entry up for good (its source reports FAILED), with the reason.
    pub fn replication_abandon(&self, entry: &QueueEntry, reason: &str) -> Result<()> {
        let (e, r) = (entry.clone(), reason.to_owned());
        self.inner.writer.write(move |conn| {
            abandon(conn, &e, &r)?;
            Ok(((), Vec::new()))
        })
    }

    /// Drops an entry whose source version is gone (deleted before it could be carried).
    pub fn replication_drop(&self, entry: &QueueEntry) -> Result<()> {
        let e = entry.clone();
        self.inner.writer.write(move |conn| {
            finish(conn, &e, false)?;
            Ok(((), Vec::new()))
        })
    }

    /// Records a failed attempt: the entry is retried at `next_attempt_ms`; once it has failed
    /// `fail_after` times its source reports FAILED (and its rule counts one failure). With
    /// `rest_destination`, the destination's other entries wait until then too.
    pub fn replication_failed(&self, entry: &QueueEntry, f: ReplicationFailure<'_>) -> Result<()> {
        let (e, err) = (entry.clone(), f.error.to_owned());
        let (next, fail_after, rest) = (f.next_attempt_ms, f.fail_after, f.rest_destination);
        self.inner.writer.write(move |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE replication_queue SET attempts = attempts + 1, next_attempt_ms = ?2, \
                     last_error = ?3 WHERE id = ?1",
                )?
                .execute(params![e.id, next, err])?;
            if n == 0 {
                return Ok(((), Vec::new()));
            }
            if rest {
                conn.prepare_cached(
                    "UPDATE replication_queue SET next_attempt_ms = ?2 \
                     WHERE destination = ?1 AND next_attempt_ms < ?2",
                )?
                .execute(params![e.destination, next])?;
            }
            let newly_failed = conn
                .prepare_cached(
                    "UPDATE replication_queue SET failed = 1 WHERE id = ?1 AND failed = 0 \
                     AND attempts >= ?2",
                )?
                .execute(params![e.id, fail_after])?;
            if newly_failed > 0 {
                bump_stats(conn, &e, 0, 1)?;
                refresh_status(conn, e.version_row)?;
            }
            record_error(conn, &e.destination, &err)?;
            Ok(((), Vec::new()))
        })
    }

    /// Queue length, oldest entry, counters per rule and last errors (of one bucket, or all).
    pub fn replication_report(&self, bucket: Option<&str>) -> Result<ReplicationReport> {
        self.inner.readers.with(|conn| {
            if let Some(b) = bucket {
                if !bucket_exists(conn, b)? {
                    return Err(Error::NoSuchBucket(b.to_owned()));
                }
            }
            let (queue_length, oldest): (i64, Option<i64>) = conn
                .prepare_cached(
                    "SELECT count(*), min(enqueued_ms) FROM replication_queue \
                     WHERE ?1 IS NULL OR bucket = ?1",
                )?
                .query_row([bucket], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let mut rules: Vec<RuleReplicationStats> = conn
                .prepare_cached(
                    "SELECT bucket, rule_id, destination, completed, failed FROM replication_stats \
                     WHERE ?1 IS NULL OR bucket = ?1 ORDER BY bucket, rule_id, destination",
                )?
                .query_map([bucket], |r| {
                    Ok(RuleReplicationStats {
                        bucket: r.get(0)?,
                        rule_id: r.get(1)?,
                        destination: r.get(2)?,
                        pending: 0,
                        completed: r.get::<_, i64>(3)? as u64,
                        failed: r.get::<_, i64>(4)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let pending: Vec<(String, String, String, i64)> = conn
                .prepare_cached(
                    "SELECT bucket, rule_id, destination, count(*) FROM replication_queue \
                     WHERE ?1 IS NULL OR bucket = ?1 GROUP BY bucket, rule_id, destination",
                )?
                .query_map([bucket], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (b, rule, dest, n) in pending {
                match rules
                    .iter_mut()
                    .find(|s| s.bucket == b && s.rule_id == rule && s.destination == dest)
                {
                    Some(s) => s.pending = n as u64,
                    None => rules.push(RuleReplicationStats {
                        bucket: b,
                        rule_id: rule,
                        destination: dest,
                        pending: n as u64,
                        ..Default::default()
                    }),
                }
            }
            rules.sort_by(|a, b| {
                (&a.bucket, &a.rule_id, &a.destination).cmp(&(
                    &b.bucket,
                    &b.rule_id,
                    &b.destination,
                ))
            });
            let destinations: Vec<&str> = rules.iter().map(|r| r.destination.as_str()).collect();
            let errors = conn
                .prepare_cached(
                    "SELECT destination, error, at_ms FROM replication_errors ORDER BY destination",
                )?
                .query_map([], |r| {
                    Ok(DestinationError {
                        destination: r.get(0)?,
                        error: r.get(1)?,
                        at_ms: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|e| bucket.is_none() || destinations.contains(&e.destination.as_str()))
                .collect();
            Ok(ReplicationReport {
                queue_length: queue_length as u64,
                oldest_enqueued_ms: oldest,
                rules,
                errors,
            })
        })
    }

    /// Writes a delete marker that replicates `version_id` of another server's bucket (a replica:
    /// it is never queued again). An existing version with that id is left as it is.
    pub fn put_replica_marker(&self, bucket: &str, key: &str, source: ReplicaOf) -> Result<()> {
        let marker = ObjectVersion {
            id: 0,
            bucket: String::new(),
            key: key.to_owned(),
            version_id: source.version_id,
            is_latest: true,
            is_delete_marker: true,
            size: 0,
            etag: String::new(),
            last_modified_ms: source.last_modified_ms,
            storage_class: StorageClass::Standard,
            meta: Default::default(),
            body: Body::Inline(Vec::new()),
            noncurrent_since_ms: None,
            archived: false,
            restore: None,
            lifecycle_epoch: 0,
            replication_status: None,
        };
        let b = bucket.to_owned();
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            let freed = insert_replica(conn, &ctx, &marker, &b, None)?;
            Ok(((), freed))
        })
    }
}
