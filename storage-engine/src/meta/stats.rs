//! Bucket statistics: per bucket, the number and bytes of current objects (latest versions that
//! are not delete markers).
//!
//! Invariant: only the commit entry point (`meta::commit`) adjusts these counters, by the
//! difference between the key's current object before and after the change, so every write
//! path keeps them exact.

use rusqlite::{params, Connection};

use crate::error::Result;

/// Adds `objects` and `bytes` (either may be negative) to a bucket's counters.
pub(crate) fn adjust_stats(
    conn: &Connection,
    bucket: &str,
    objects: i64,
    bytes: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO stats(bucket, objects, bytes) VALUES (?1, ?2, ?3) \
         ON CONFLICT(bucket) DO UPDATE SET objects = objects + ?2, bytes = bytes + ?3",
    )?
    .execute(params![bucket, objects, bytes])?;
    Ok(())
}
