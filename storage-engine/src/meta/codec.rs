//! The version row codec: the columns a version is read with and their decoding, the metadata
//! JSON, and the byte-string helpers key ranges need.
//!
//! Invariant: a row that cannot be decoded is reported as `Error::Corrupt`, never replaced by a
//! default: what the database holds is either read exactly or refused.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::chunks::decode_chunk_list;
use crate::error::{Error, Result};
use crate::model::{Body, ObjectMeta, ObjectVersion};

/// Now, ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The columns `version_from_row` decodes, in order.
pub(crate) const VERSION_COLUMNS: &str =
    "id, bucket, key, version_id, is_latest, is_delete_marker, size, etag, \
     last_modified_ms, storage_class, meta, inline_data, chunks, noncurrent_since_ms, tier, \
     restore_ready_ms, restore_expiry_ms, lc_epoch, replication_status";

/// Encodes a version's metadata for the `meta` column.
pub(crate) fn encode_meta<T: serde::Serialize>(meta: &T) -> Result<String> {
    serde_json::to_string(meta).map_err(|e| Error::Invalid(format!("metadata: {e}")))
}

/// Decodes a `meta` column.
pub(crate) fn decode_meta<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("metadata JSON: {e}")))
}

/// Decodes a stored chunk list.
pub(crate) fn decode_chunks(blob: &[u8]) -> Result<Vec<crate::chunks::ChunkRef>> {
    decode_chunk_list(blob).ok_or_else(|| Error::Corrupt("malformed chunk list".into()))
}

/// Decodes a row selected with `VERSION_COLUMNS`.
pub(crate) fn version_from_row(row: &rusqlite::Row<'_>) -> Result<ObjectVersion> {
    let key: Vec<u8> = row.get(2)?;
    let meta: String = row.get(10)?;
    let inline: Option<Vec<u8>> = row.get(11)?;
    let chunks: Option<Vec<u8>> = row.get(12)?;
    let body = match (inline, chunks) {
        (Some(data), _) => Body::Inline(data),
        (None, Some(list)) => Body::Chunks(decode_chunks(&list)?),
        (None, None) => Body::Inline(Vec::new()),
    };
    let meta: ObjectMeta = decode_meta(&meta)?;
    Ok(ObjectVersion {
        id: row.get(0)?,
        bucket: row.get(1)?,
        key: String::from_utf8_lossy(&key).into_owned(),
        version_id: row.get(3)?,
        is_latest: row.get(4)?,
        is_delete_marker: row.get(5)?,
        size: row.get::<_, i64>(6)? as u64,
        etag: row.get(7)?,
        last_modified_ms: row.get(8)?,
        storage_class: row.get(9)?,
        meta,
        body,
        noncurrent_since_ms: row.get(13)?,
        archived: row.get::<_, i64>(14)? != 0,
        restore: match (
            row.get::<_, Option<i64>>(15)?,
            row.get::<_, Option<i64>>(16)?,
        ) {
            (Some(ready), Some(expiry)) => Some((ready, expiry)),
            _ => None,
        },
        lifecycle_epoch: row.get(17)?,
        replication_status: row.get(18)?,
    })
}

/// Smallest byte string greater than every string that starts with `prefix`, or None when there is
/// none (the prefix is all 0xFF bytes).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// Where `needle` first occurs in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
