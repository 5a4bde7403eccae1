//! The version table: reading, inserting and removing version rows, and the latest-version flag.
//!
//! Invariant: these are single-row operations with no side effect beyond the row and its chunk
//! references. They know nothing of statistics, the change feed or replication: a change to a
//! key is made of them inside `meta::commit::commit_key`, which adds those.

use rusqlite::{params, Connection, OptionalExtension};

use crate::chunks::{encode_chunk_list, ChunkHash};
use crate::error::{Error, Result};
use crate::meta::codec::{encode_meta, version_from_row, VERSION_COLUMNS};
use crate::meta::refs::{add_chunk_refs, drop_refs};
use crate::model::{Body, ObjectMeta, ObjectVersion, Versioning};
use crate::names::{ReplicationStatus, StorageClass};

/// Whether a bucket exists.
pub(crate) fn bucket_exists(conn: &Connection, bucket: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?
        .exists([bucket])?)
}

/// The bucket's versioning state; `NoSuchBucket` if it does not exist.
pub(crate) fn bucket_versioning(conn: &Connection, bucket: &str) -> Result<Versioning> {
    let state: Option<String> = conn
        .prepare_cached("SELECT versioning FROM buckets WHERE name = ?1")?
        .query_row([bucket], |r| r.get(0))
        .optional()?;
    match state {
        Some(s) => Versioning::from_db(&s),
        None => Err(Error::NoSuchBucket(bucket.to_owned())),
    }
}

/// A version of a key by id, or its latest version (which may be a delete marker).
pub(crate) fn load_version(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Option<ObjectVersion>> {
    match version_id {
        Some(vid) => conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
            ))?
            .query_and_then(params![bucket, key.as_bytes(), vid], version_from_row)?
            .next()
            .transpose(),
        None => conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 AND is_latest = 1"
            ))?
            .query_and_then(params![bucket, key.as_bytes()], version_from_row)?
            .next()
            .transpose(),
    }
}

/// A version by row id.
pub(crate) fn load_row(conn: &Connection, id: i64) -> Result<Option<ObjectVersion>> {
    conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE id = ?1"
    ))?
    .query_and_then([id], version_from_row)?
    .next()
    .transpose()
}

/// Every version of a key, newest first.
pub(crate) fn key_versions(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Vec<ObjectVersion>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 ORDER BY id DESC"
    ))?;
    let rows = stmt
        .query_and_then(params![bucket, key.as_bytes()], version_from_row)?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The size of the key's current object (its latest version, unless that is a delete marker).
pub(crate) fn current_object_size(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<u64>> {
    Ok(conn
        .prepare_cached(
            "SELECT size FROM versions WHERE bucket = ?1 AND key = ?2 AND is_latest = 1 \
             AND is_delete_marker = 0",
        )?
        .query_row(params![bucket, key.as_bytes()], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|s| s.max(0) as u64))
}

/// A new row, as `insert_row` writes it.
pub(crate) struct NewRow<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version_id: &'a str,
    pub delete_marker: bool,
    pub size: u64,
    pub etag: &'a str,
    pub last_modified_ms: i64,
    pub storage_class: StorageClass,
    pub meta: &'a ObjectMeta,
    pub body: &'a Body,
    pub replication_status: Option<ReplicationStatus>,
}

/// Inserts a row as the key's latest version and takes its chunk references; returns its id.
pub(crate) fn insert_row(conn: &Connection, row: &NewRow<'_>) -> Result<i64> {
    let (inline, chunk_blob) = match row.body {
        Body::Inline(data) => (Some(data.as_slice()), None),
        Body::Chunks(list) => {
            add_chunk_refs(conn, list)?;
            (None, Some(encode_chunk_list(list)))
        }
    };
    let meta_json = encode_meta(row.meta)?;
    conn.prepare_cached(
        "INSERT INTO versions(bucket, key, version_id, is_latest, is_delete_marker, size, etag, \
         last_modified_ms, storage_class, meta, inline_data, chunks, replication_status) \
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        row.bucket,
        row.key.as_bytes(),
        row.version_id,
        row.delete_marker,
        row.size as i64,
        row.etag,
        row.last_modified_ms,
        row.storage_class,
        meta_json,
        inline,
        chunk_blob,
        row.replication_status
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Removes a version row and drops its chunk references; returns the chunks to re-check.
pub(crate) fn remove_version_row(conn: &Connection, v: &ObjectVersion) -> Result<Vec<ChunkHash>> {
    conn.prepare_cached("DELETE FROM versions WHERE id = ?1")?
        .execute([v.id])?;
    match &v.body {
        Body::Chunks(list) => drop_refs(conn, list, v.archived),
        Body::Inline(_) => Ok(Vec::new()),
    }
}

/// Makes row `id` noncurrent as of `at_ms`.
pub(crate) fn demote(conn: &Connection, id: i64, at_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE versions SET is_latest = 0, noncurrent_since_ms = ?2 WHERE id = ?1",
    )?
    .execute(params![id, at_ms])?;
    Ok(())
}

/// After the latest version of a key was removed, makes the newest remaining one latest.
pub(crate) fn promote_newest(conn: &Connection, bucket: &str, key: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE versions SET is_latest = 1, noncurrent_since_ms = NULL WHERE id = \
         (SELECT id FROM versions WHERE bucket = ?1 AND key = ?2 ORDER BY id DESC LIMIT 1)",
    )?
    .execute(params![bucket, key.as_bytes()])?;
    Ok(())
}

/// Replaces a row's metadata.
pub(crate) fn set_meta(conn: &Connection, id: i64, meta: &ObjectMeta) -> Result<()> {
    let json = encode_meta(meta)?;
    conn.prepare_cached("UPDATE versions SET meta = ?1 WHERE id = ?2")?
        .execute(params![json, id])?;
    Ok(())
}

/// Marks every version of a key for lifecycle re-evaluation (see `lifecycle_support`).
pub(crate) fn invalidate_key(conn: &Connection, bucket: &str, key: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE versions SET lc_due_ms = 0, lc_epoch = lc_epoch + 1 WHERE bucket = ?1 AND key = ?2",
    )?
    .execute(params![bucket, key.as_bytes()])?;
    Ok(())
}
