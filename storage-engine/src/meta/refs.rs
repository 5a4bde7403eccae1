//! Chunk references: the `chunks` table counts, per chunk, how many version and part rows list
//! it (`refs`) and how many of those are archived (`cold_refs`).
//!
//! Invariant: a chunk's `refs` equals the number of occurrences of it in committed version and
//! part rows; a row whose count reaches zero is deleted in the same transaction and its hash
//! handed to the collector, which deletes the file unless something pins it.

use rusqlite::{params, Connection, OptionalExtension};

use crate::chunks::{ChunkHash, ChunkRef};
use crate::error::Result;

/// Adds one reference per occurrence to each chunk.
pub(crate) fn add_chunk_refs(conn: &Connection, chunks: &[ChunkRef]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO chunks(hash, size, refs) VALUES (?1, ?2, 1) \
         ON CONFLICT(hash) DO UPDATE SET refs = refs + 1",
    )?;
    for c in chunks {
        stmt.execute(params![&c.hash.0[..], c.len as i64])?;
    }
    Ok(())
}

/// Drops one reference per occurrence; returns the chunks no longer referenced (rows deleted).
pub(crate) fn drop_chunk_refs(conn: &Connection, chunks: &[ChunkRef]) -> Result<Vec<ChunkHash>> {
    drop_refs(conn, chunks, false)
}

/// Drops one reference per occurrence (also a cold one for an archived version). Returns the
/// chunks whose files may now be unneeded in some tier: no references left (row deleted), no hot
/// user left, or no cold user left. The collector re-checks each against the table.
pub(crate) fn drop_refs(
    conn: &Connection,
    chunks: &[ChunkRef],
    cold: bool,
) -> Result<Vec<ChunkHash>> {
    let mut dec = conn.prepare_cached(
        "UPDATE chunks SET refs = refs - 1, cold_refs = cold_refs - ?2 WHERE hash = ?1 \
         RETURNING refs, cold_refs",
    )?;
    let mut del = conn.prepare_cached("DELETE FROM chunks WHERE hash = ?1 AND refs <= 0")?;
    let mut check = Vec::new();
    for c in chunks {
        let counts: Option<(i64, i64)> = dec
            .query_row(params![&c.hash.0[..], i64::from(cold)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match counts {
            Some((refs, _)) if refs <= 0 => {
                del.execute([&c.hash.0[..]])?;
                check.push(c.hash);
            }
            Some((refs, cold_refs)) if refs == cold_refs || (cold && cold_refs == 0) => {
                check.push(c.hash)
            }
            _ => {}
        }
    }
    Ok(check)
}
