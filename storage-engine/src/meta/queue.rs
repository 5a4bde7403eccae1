//! The replication queue's intake: which destinations a committed change must reach, decided
//! by the replication policy given to `Store::open`, and each source version's status derived
//! from its queue entries. The replication worker's side (handing entries out, recording
//! outcomes) is `crate::replication`.
//!
//! Invariants:
//! - Entries are derived from a change event by the commit entry point, in the transaction that
//!   commits the change, so a committed version is never missing from the queue. Only a
//!   client's changes are queued: a replica (REPLICA) or a lifecycle action never is, so a
//!   two-way pair does not loop.
//! - A source version's `replication_status` is derived from its queue entries: PENDING while
//!   any is queued, FAILED while any has failed past the retry threshold or for good once an
//!   entry was given up (`replication_abandoned`), COMPLETED when none is left.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::meta::codec::now_ms;
use crate::meta::commit::Change;
use crate::meta::feed::{ChangeKind, ChangeOrigin};
use crate::model::ObjectVersion;
use crate::names::{ReplicationStatus, StorageClass};

/// The bucket setting that holds a replication configuration (canonical JSON).
pub const REPLICATION_SETTING: &str = "replication";

/// Why the policy is asked about a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationEvent {
    /// A client committed this version (an object or a delete marker).
    NewVersion,
    /// A client changed this version's tags.
    Tags,
    /// A configuration asking for existing objects was stored; this version was already there.
    Existing,
}

/// One destination a version must reach, as the policy chose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationTarget {
    /// The rule that chose it.
    pub rule_id: String,
    /// The destination as configured (a bucket ARN).
    pub destination: String,
    /// The storage class the replica gets (None: the source's).
    pub storage_class: Option<StorageClass>,
}

/// Decides, from a bucket's stored configuration, where a version goes.
pub type ReplicationPolicy =
    Arc<dyn Fn(&str, &ObjectVersion, ReplicationEvent) -> Vec<ReplicationTarget> + Send + Sync>;

/// What a queue entry carries to its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicationKind {
    /// The version itself (an object or a delete marker).
    Version,
    /// The version's current tags.
    Tags,
}

impl ReplicationKind {
    pub(crate) fn to_db(self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Tags => "tags",
        }
    }

    pub(crate) fn from_db(s: &str) -> Result<Self> {
        match s {
            "tags" => Ok(Self::Tags),
            "version" => Ok(Self::Version),
            other => Err(Error::Corrupt(format!("replication entry kind {other:?}"))),
        }
    }
}

/// Queues a committed change for the destinations the bucket's rules choose; forgets given-up
/// entries of the version rows it removed. Returns how many entries were queued.
pub(crate) fn on_change(
    conn: &Connection,
    policy: Option<&ReplicationPolicy>,
    change: &Change,
) -> Result<usize> {
    for removed in &change.removed {
        if removed.replication_status == Some(ReplicationStatus::Failed) {
            conn.prepare_cached("DELETE FROM replication_abandoned WHERE version_row = ?1")?
                .execute([removed.id])?;
        }
    }
    if change.origin != ChangeOrigin::Client {
        return Ok(0);
    }
    let event = match change.kind {
        ChangeKind::ObjectCreated | ChangeKind::DeleteMarkerCreated => ReplicationEvent::NewVersion,
        ChangeKind::TagsChanged => ReplicationEvent::Tags,
        _ => return Ok(0),
    };
    enqueue(conn, policy, &change.version, event)
}

/// Queues `v` (just committed, or just re-tagged) for the destinations the bucket's rules choose,
/// inside the caller's transaction. Returns how many entries were queued.
pub(crate) fn enqueue(
    conn: &Connection,
    policy: Option<&ReplicationPolicy>,
    v: &ObjectVersion,
    event: ReplicationEvent,
) -> Result<usize> {
    let Some(policy) = policy else { return Ok(0) };
    match (event, v.replication_status) {
        (_, Some(ReplicationStatus::Replica)) => return Ok(0),
        // Tag changes follow a version that replication already carries.
        (ReplicationEvent::Tags, None) => return Ok(0),
        (ReplicationEvent::Existing, Some(_)) => return Ok(0),
        _ => {}
    }
    let config: Option<String> = conn
        .prepare_cached("SELECT value FROM bucket_settings WHERE bucket = ?1 AND name = ?2")?
        .query_row(params![v.bucket, REPLICATION_SETTING], |r| r.get(0))
        .optional()?;
    let Some(config) = config else { return Ok(0) };
    let targets = policy(&config, v, event);
    if targets.is_empty() {
        return Ok(0);
    }
    let kind = match event {
        ReplicationEvent::Tags => ReplicationKind::Tags,
        _ => ReplicationKind::Version,
    };
    let now = now_ms();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO replication_queue(bucket, key, version_id, version_row, kind, rule_id, \
         destination, storage_class, enqueued_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for t in &targets {
        stmt.execute(params![
            v.bucket,
            v.key.as_bytes(),
            v.version_id,
            v.id,
            kind.to_db(),
            t.rule_id,
            t.destination,
            t.storage_class,
            now
        ])?;
    }
    refresh_status(conn, v.id)?;
    Ok(targets.len())
}

/// Re-derives a source version's status from its queue entries.
pub(crate) fn refresh_status(conn: &Connection, version_row: i64) -> Result<()> {
    let (queued, failed): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(failed), 0) FROM replication_queue WHERE version_row = ?1",
        )?
        .query_row([version_row], |r| Ok((r.get(0)?, r.get(1)?)))?;
    // An entry given up for good keeps its version FAILED whatever its siblings do.
    let abandoned = conn
        .prepare_cached("SELECT 1 FROM replication_abandoned WHERE version_row = ?1")?
        .exists([version_row])?;
    let status = match (queued, failed) {
        _ if abandoned => ReplicationStatus::Failed,
        (0, _) => ReplicationStatus::Completed,
        (_, f) if f > 0 => ReplicationStatus::Failed,
        _ => ReplicationStatus::Pending,
    };
    conn.prepare_cached(
        "UPDATE versions SET replication_status = ?2 WHERE id = ?1 AND \
         (replication_status IS NULL OR replication_status != ?3)",
    )?
    .execute(params![version_row, status, ReplicationStatus::Replica])?;
    Ok(())
}
