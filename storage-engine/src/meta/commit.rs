//! The commit entry point: every change to a key (a new version, a delete marker, a removal, a
//! class change, archiving, a restore, new tags) is made inside `commit_key`.
//!
//! Invariant: a change that commits has, in its own transaction, (1) every version of its key
//! marked for lifecycle re-evaluation, (2) the bucket's statistics adjusted by the difference
//! between the key's current object before and after, (3) exactly one change-feed event, and
//! (4) the replication entries the feed's first consumer derives from that event. No write path
//! does any of these by hand, so none can forget one. A change that fails leaves none of them
//! (the writer rolls the job's savepoint back).

use std::sync::Arc;

use rusqlite::Connection;

use crate::error::Result;
use crate::meta::feed::{self, ChangeEvent, ChangeKind, ChangeOrigin};
use crate::meta::queue::{self, ReplicationPolicy};
use crate::meta::stats::adjust_stats;
use crate::meta::versions::{current_object_size, invalidate_key};
use crate::model::ObjectVersion;
use crate::names::ReplicationStatus;

/// What every commit needs besides the connection: the rules given to `Store::open`.
#[derive(Clone)]
pub(crate) struct CommitContext {
    /// Decides which destinations a change is queued for (None: nothing is replicated, and
    /// storing a replication configuration is refused).
    pub policy: Option<ReplicationPolicy>,
    /// Change-feed events kept (see `meta::feed`).
    pub feed_retain: u64,
    /// Test-only fault injection.
    pub faults: Arc<Faults>,
}

/// A version row a change removed.
pub(crate) struct RemovedRow {
    /// Its row id.
    pub id: i64,
    /// Its replication status when it was removed.
    pub replication_status: Option<ReplicationStatus>,
}

impl RemovedRow {
    /// The removed row `v`.
    pub(crate) fn of(v: &ObjectVersion) -> Self {
        Self {
            id: v.id,
            replication_status: v.replication_status,
        }
    }
}

/// A change to one key, as the function that made it describes it.
pub(crate) struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// Who changed it.
    pub origin: ChangeOrigin,
    /// The version the change is about, as it is after the change (for a removal: as it was).
    pub version: ObjectVersion,
    /// Version rows the change removed (the version itself, or a replaced `null` version).
    pub removed: Vec<RemovedRow>,
}

/// What the entry point did for a committed change.
pub(crate) struct Committed {
    /// The change's version (handed back from `Change::version`).
    pub version: ObjectVersion,
    /// The feed event's sequence number.
    #[allow(dead_code)]
    pub seq: i64,
    /// Replication entries queued.
    pub queued: usize,
}

/// Runs `change` (which changes rows of `bucket/key` and describes what it did, or returns None
/// when it changed nothing) with every side effect a change to a key needs.
pub(crate) fn commit_key<T>(
    conn: &Connection,
    ctx: &CommitContext,
    bucket: &str,
    key: &str,
    change: impl FnOnce() -> Result<(T, Option<Change>)>,
) -> Result<(T, Option<Committed>)> {
    let before = current_object_size(conn, bucket, key)?;
    commit_key_from(conn, ctx, bucket, key, before, change)
}

/// `commit_key` for a caller that has just read the key's current object in this transaction:
/// `before` is its size (None: the key has no current object, or its latest is a delete marker).
pub(crate) fn commit_key_from<T>(
    conn: &Connection,
    ctx: &CommitContext,
    bucket: &str,
    key: &str,
    before: Option<u64>,
    change: impl FnOnce() -> Result<(T, Option<Change>)>,
) -> Result<(T, Option<Committed>)> {
    invalidate_key(conn, bucket, key)?;
    ctx.faults.check(CommitStep::Invalidated)?;
    let (value, change) = change()?;
    let Some(change) = change else {
        return Ok((value, None));
    };
    ctx.faults.check(CommitStep::RowsChanged)?;
    let after = current_after(conn, bucket, key, before, &change)?;
    let objects = i64::from(after.is_some()) - i64::from(before.is_some());
    let bytes = after.unwrap_or(0) as i64 - before.unwrap_or(0) as i64;
    if objects != 0 || bytes != 0 {
        adjust_stats(conn, bucket, objects, bytes)?;
    }
    ctx.faults.check(CommitStep::StatsAdjusted)?;
    let v = &change.version;
    let seq = feed::append(
        conn,
        &ChangeEvent {
            seq: 0,
            time_ms: 0,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: v.version_id.clone(),
            version_row: v.id,
            kind: change.kind,
            origin: change.origin,
            size: v.size,
            etag: v.etag.clone(),
            storage_class: v.storage_class,
        },
        ctx.feed_retain,
    )?;
    ctx.faults.check(CommitStep::FeedWritten)?;
    let queued = queue::on_change(conn, ctx.policy.as_ref(), &change)?;
    ctx.faults.check(CommitStep::Queued)?;
    Ok((
        value,
        Some(Committed {
            version: change.version,
            seq,
            queued,
        }),
    ))
}

/// The size of the key's current object after `change`, derived from what the change is where
/// that decides it (this runs in the single writer on every commit, so a read it can spare is
/// spared): a new version is the key's latest, a delete marker leaves no current object, and a
/// class change, archiving, restore or new tags never change which version is current or its
/// size. Only a removal needs the table. Builds with test hooks check the derivation against the
/// table on every commit.
fn current_after(
    conn: &Connection,
    bucket: &str,
    key: &str,
    before: Option<u64>,
    change: &Change,
) -> Result<Option<u64>> {
    let derived = match change.kind {
        ChangeKind::ObjectCreated => Some(change.version.size),
        ChangeKind::DeleteMarkerCreated => None,
        ChangeKind::StorageClassChanged
        | ChangeKind::Archived
        | ChangeKind::RestoreChanged
        | ChangeKind::TagsChanged
        | ChangeKind::AclChanged
        | ChangeKind::LockChanged => before,
        ChangeKind::VersionRemoved => return current_object_size(conn, bucket, key),
    };
    #[cfg(any(test, feature = "test-hooks"))]
    {
        let read = current_object_size(conn, bucket, key)?;
        if read != derived {
            return Err(crate::Error::Corrupt(format!(
                "{:?} on {bucket}/{key}: current object derived as {derived:?}, table has {read:?}",
                change.kind
            )));
        }
    }
    #[cfg(not(any(test, feature = "test-hooks")))]
    let _ = conn;
    Ok(derived)
}

/// The steps of `commit_key`, after each of which a test can make the commit fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitStep {
    /// The key's versions were marked for re-evaluation.
    Invalidated,
    /// The rows were changed.
    RowsChanged,
    /// The bucket's statistics were adjusted.
    StatsAdjusted,
    /// The feed event was written.
    FeedWritten,
    /// Replication entries were queued.
    Queued,
}

impl CommitStep {
    /// Every step, in order.
    pub const ALL: [CommitStep; 5] = [
        CommitStep::Invalidated,
        CommitStep::RowsChanged,
        CommitStep::StatsAdjusted,
        CommitStep::FeedWritten,
        CommitStep::Queued,
    ];
}

/// Faults armed by tests (with the `test-hooks` feature); without it, never fails.
#[derive(Default)]
pub(crate) struct Faults {
    #[cfg(feature = "test-hooks")]
    armed: std::sync::Mutex<Option<CommitStep>>,
}

impl Faults {
    /// Fails once at `step` if a fault is armed there.
    #[cfg(feature = "test-hooks")]
    fn check(&self, step: CommitStep) -> Result<()> {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        if *armed == Some(step) {
            *armed = None;
            return Err(crate::Error::Io(std::io::Error::other(format!(
                "injected fault after {step:?}"
            ))));
        }
        Ok(())
    }

    #[cfg(not(feature = "test-hooks"))]
    #[inline(always)]
    fn check(&self, _step: CommitStep) -> Result<()> {
        Ok(())
    }

    /// Arms a one-shot fault at `step`.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn arm(&self, step: CommitStep) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some(step);
    }
}
