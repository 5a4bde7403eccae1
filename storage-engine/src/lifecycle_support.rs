//! What the lifecycle worker needs of the engine: scanning a bucket's versions in (key, newest
//! first) order by prefix, applying an action only if the version is still the one evaluated,
//! and the log of applied actions.
//!
//! Invariant: every guarded action re-reads the version inside the commit and does nothing if it
//! changed, so applying an action twice (after a crash, or from two passes) is harmless.
//!
//! Due-time index: each version row carries `lc_due_ms`, the time its next lifecycle action falls
//! due as last evaluated (0: not evaluated since something changed; `i64::MAX`: nothing will ever
//! be due), and `lc_epoch`. Every change to a key (made through the commit entry point,
//! `meta::commit`) and every new configuration sets the key's rows back to 0 and bumps
//! their epoch; a due time is stored only if the epoch it was computed from is still current. A
//! pass therefore reads only the keys that have a due or unevaluated row, through the
//! `(bucket, lc_due_ms)` index.

use rusqlite::{params, OptionalExtension};

use crate::engine::Store;
use crate::error::{Error, Result};
use crate::lock::LockOverride;
use crate::meta::codec::{prefix_successor, version_from_row, VERSION_COLUMNS};
use crate::meta::commit::{commit_key, Change};
use crate::meta::feed::{ChangeKind, ChangeOrigin};
use crate::meta::versions::{bucket_versioning, key_versions, load_row, load_version};
use crate::model::{ObjectVersion, Versioning};
use crate::names::StorageClass;
use crate::versioning::{check_unlocked, delete_in_tx};

/// One applied lifecycle action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleLogEntry {
    /// When it was applied, ms since the epoch.
    pub time_ms: i64,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version id acted on.
    pub version_id: String,
    /// Action name.
    pub action: String,
    /// Rule id.
    pub rule_id: String,
}

impl Store {
    /// Marks every version of a bucket for re-evaluation (its lifecycle rules changed).
    pub fn reset_lifecycle_due(&self, bucket: &str) -> Result<()> {
        let b = bucket.to_owned();
        self.inner.writer.write(move |conn| {
            conn.execute(
                "UPDATE versions SET lc_due_ms = 0, lc_epoch = lc_epoch + 1 WHERE bucket = ?1",
                [&b],
            )?;
            Ok(((), Vec::new()))
        })
    }

    /// Keys of a bucket with a version due at `now_ms` or not evaluated since it changed.
    pub fn lifecycle_due_keys(
        &self,
        bucket: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.inner.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT key FROM versions WHERE bucket = ?1 AND lc_due_ms <= ?2 LIMIT ?3",
            )?;
            let keys = stmt
                .query_map(params![bucket, now_ms, limit as i64], |r| {
                    r.get::<_, Vec<u8>>(0)
                })?
                .map(|k| k.map(|k| String::from_utf8_lossy(&k).into_owned()))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(keys)
        })
    }

    /// Every version of a key, newest first.
    pub fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        self.inner
            .readers
            .with(|conn| key_versions(conn, bucket, key))
    }

    /// Stores evaluated due times: (row id, epoch it was computed from, due ms). A row whose
    /// epoch moved on since is left for the next evaluation.
    pub fn lifecycle_set_due(&self, entries: Vec<(i64, i64, i64)>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.inner.writer.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE versions SET lc_due_ms = ?3 WHERE id = ?1 AND lc_epoch = ?2",
            )?;
            for (id, epoch, due) in &entries {
                stmt.execute(params![id, epoch, due])?;
            }
            Ok(((), Vec::new()))
        })
    }

    /// Versions of a bucket whose keys start with `prefix`, ordered by key then newest first,
    /// strictly after the `(key, row id)` cursor; at most `limit`.
    pub fn scan_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, i64)>,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>> {
        self.inner.readers.with(|conn| {
            let upper = prefix_successor(prefix.as_bytes());
            let (ck, cid) = match after {
                Some((k, id)) => (k.as_bytes().to_vec(), Some(id)),
                None => (prefix.as_bytes().to_vec(), None),
            };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 \
                 AND ((key = ?2 AND (?3 IS NULL OR id < ?3)) OR key > ?2) \
                 AND (?4 IS NULL OR key < ?4) ORDER BY key, id DESC LIMIT ?5"
            ))?;
            let rows = stmt
                .query_and_then(
                    params![bucket, ck, cid, upper.as_deref(), limit as i64],
                    version_from_row,
                )?
                .collect::<Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Whether the bucket has ever had versioning enabled.
    pub fn versioning(&self, bucket: &str) -> Result<Versioning> {
        self.inner
            .readers
            .with(|conn| bucket_versioning(conn, bucket))
    }

    /// Buckets that have a given setting, with its value.
    pub fn buckets_with_setting(&self, name: &str) -> Result<Vec<(String, String)>> {
        self.inner.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT bucket, value FROM bucket_settings WHERE name = ?1 ORDER BY bucket",
            )?;
            let rows = stmt
                .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Expires the current version `expected_id` of a key (delete, or a delete marker in a
    /// versioned bucket), if it is still current. Returns whether it acted.
    pub fn lifecycle_expire_current(
        &self,
        bucket: &str,
        key: &str,
        expected_id: i64,
    ) -> Result<bool> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let ctx = self.ctx();
        self.inner
            .writer
            .write(move |conn| match load_version(conn, &b, &k, None)? {
                Some(v) if v.id == expected_id && !v.is_delete_marker => {
                    let (_, freed) = delete_in_tx(
                        conn,
                        &ctx,
                        ChangeOrigin::Lifecycle,
                        &b,
                        &k,
                        None,
                        LockOverride::None,
                    )?;
                    Ok((true, freed))
                }
                _ => Ok((false, Vec::new())),
            })
    }

    /// Permanently removes version `version_id` if its row is still `expected_id` and no lock
    /// holds it now (a lock set after the pass evaluated the version wins: nothing is done).
    pub fn lifecycle_delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected_id: i64,
    ) -> Result<bool> {
        let (b, k, v) = (bucket.to_owned(), key.to_owned(), version_id.to_owned());
        let ctx = self.ctx();
        self.inner
            .writer
            .write(move |conn| match load_version(conn, &b, &k, Some(&v))? {
                Some(found)
                    if found.id == expected_id
                        && check_unlocked(&found, LockOverride::None).is_ok() =>
                {
                    let (_, freed) = delete_in_tx(
                        conn,
                        &ctx,
                        ChangeOrigin::Lifecycle,
                        &b,
                        &k,
                        Some(&v),
                        LockOverride::None,
                    )?;
                    Ok((true, freed))
                }
                _ => Ok((false, Vec::new())),
            })
    }

    /// Changes the storage class of version row `expected_id` (a warm class: the bytes stay in
    /// the hot tier).
    pub fn lifecycle_set_class(
        &self,
        bucket: &str,
        expected_id: i64,
        class: StorageClass,
    ) -> Result<bool> {
        let (b, c) = (bucket.to_owned(), class);
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            let Some(mut v) = load_row(conn, expected_id)?.filter(|v| v.bucket == b) else {
                return Ok((false, Vec::new()));
            };
            let key = v.key.clone();
            let (changed, _) = commit_key(conn, &ctx, &b, &key, || {
                if v.is_delete_marker {
                    return Ok((false, None));
                }
                conn.prepare_cached("UPDATE versions SET storage_class = ?2 WHERE id = ?1")?
                    .execute(params![expected_id, c])?;
                v.storage_class = c;
                let change = Change {
                    kind: ChangeKind::StorageClassChanged,
                    origin: ChangeOrigin::Lifecycle,
                    version: v,
                    removed: Vec::new(),
                };
                Ok((true, Some(change)))
            })?;
            Ok((changed, Vec::new()))
        })
    }

    /// Appends to the lifecycle log.
    pub fn append_lifecycle_log(&self, entries: Vec<LifecycleLogEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.inner.writer.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO lifecycle_log(time_ms, bucket, key, version_id, action, rule_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in &entries {
                stmt.execute(params![
                    e.time_ms,
                    e.bucket,
                    e.key.as_bytes(),
                    e.version_id,
                    e.action,
                    e.rule_id
                ])?;
            }
            // Keep the log bounded.
            conn.execute(
                "DELETE FROM lifecycle_log WHERE seq <= (SELECT max(seq) FROM lifecycle_log) - 100000",
                [],
            )?;
            Ok(((), Vec::new()))
        })
    }

    /// The most recent lifecycle log entries (oldest first), optionally for one bucket.
    pub fn lifecycle_log(
        &self,
        bucket: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LifecycleLogEntry>> {
        self.inner.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT time_ms, bucket, key, version_id, action, rule_id FROM lifecycle_log \
                 WHERE ?1 IS NULL OR bucket = ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let mut rows = stmt
                .query_map(params![bucket, limit as i64], |r| {
                    let key: Vec<u8> = r.get(2)?;
                    Ok(LifecycleLogEntry {
                        time_ms: r.get(0)?,
                        bucket: r.get(1)?,
                        key: String::from_utf8_lossy(&key).into_owned(),
                        version_id: r.get(3)?,
                        action: r.get(4)?,
                        rule_id: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.reverse();
            Ok(rows)
        })
    }

    /// The row id of a version (for guarded actions), if it exists.
    pub fn version_row_id(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<i64>> {
        self.inner.readers.with(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT id FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                )?
                .query_row(params![bucket, key.as_bytes(), version_id], |r| r.get(0))
                .optional()?)
        })
    }
}

/// Maps a missing bucket in the middle of a pass to "nothing to do".
pub fn ignore_missing_bucket<T: Default>(r: Result<T>) -> Result<T> {
    match r {
        Err(Error::NoSuchBucket(_)) => Ok(T::default()),
        other => other,
    }
}
