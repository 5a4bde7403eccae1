//! The archive tier: moving a version's chunks to the cold directory (GLACIER, DEEP_ARCHIVE), and
//! the restore window of an archived version.
//!
//! Invariant: a chunk's cold file exists while any archived version references it
//! (`cold_refs > 0`), and its hot file while any hot version does (`refs > cold_refs`). Archiving
//! copies each chunk to the cold tier *before* the commit that counts the cold reference, and the
//! hot copy is removed only after that commit (and only when no hot version still uses it), so a
//! crash at any point leaves every committed version readable from its tier.

use rusqlite::params;

use crate::chunks::{ChunkHash, ChunkRef, Tier};
use crate::engine::{PinGuard, Store};
use crate::error::{Error, Result};
use crate::meta::commit::{commit_key, Change};
use crate::meta::feed::{ChangeKind, ChangeOrigin};
use crate::meta::versions::load_row;
use crate::model::Body;
use crate::names::archive_classes_sql;

impl Store {
    /// Moves version row `id` to the archive tier. Idempotent: an archived or vanished version
    /// is left alone. Returns whether it moved.
    pub fn archive_version(&self, id: i64) -> Result<bool> {
        let version = self.inner.readers.with(|conn| load_row(conn, id))?;
        let Some(v) = version else { return Ok(false) };
        if v.archived || v.is_delete_marker {
            return Ok(false);
        }
        let chunks: Vec<ChunkRef> = match &v.body {
            Body::Chunks(list) => list.clone(),
            Body::Inline(_) => Vec::new(),
        };
        let hashes: Vec<ChunkHash> = chunks.iter().map(|c| c.hash).collect();
        let pins = PinGuard::new(self.inner.clone(), hashes.clone());
        for c in &chunks {
            if self.inner.chunks.exists(Tier::Cold, &c.hash) {
                continue;
            }
            // Verified as a GET reads it: a damaged hot copy is never archived under its name.
            let data = self.inner.chunks.read_verified(Tier::Hot, c)?;
            self.inner.chunks.write(Tier::Cold, &c.hash, &data)?;
        }
        let ctx = self.ctx();
        let moved = self.inner.writer.write(move |conn| {
            let (bucket, key) = (v.bucket.clone(), v.key.clone());
            let (moved, _) = commit_key(conn, &ctx, &bucket, &key, || {
                let n = conn.execute(
                    "UPDATE versions SET tier = 1 WHERE id = ?1 AND tier = 0 AND is_delete_marker = 0",
                    [id],
                )?;
                if n == 0 {
                    return Ok((false, None));
                }
                let mut stmt = conn
                    .prepare_cached("UPDATE chunks SET cold_refs = cold_refs + 1 WHERE hash = ?1")?;
                for h in &hashes {
                    stmt.execute([&h.0[..]])?;
                }
                let mut version = v;
                version.archived = true;
                let change = Change {
                    kind: ChangeKind::Archived,
                    origin: ChangeOrigin::Lifecycle,
                    version,
                    removed: Vec::new(),
                };
                Ok((true, Some(change)))
            })?;
            // The collector drops hot copies that no hot version uses any more.
            Ok((moved, if moved { hashes } else { Vec::new() }))
        })?;
        drop(pins);
        Ok(moved)
    }

    /// Versions whose class is an archive class but whose bytes are still hot (a PUT straight into
    /// GLACIER, or an archive interrupted by a crash), oldest first.
    pub fn versions_to_archive(&self, limit: usize) -> Result<Vec<i64>> {
        self.inner.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT id FROM versions WHERE tier = 0 AND is_delete_marker = 0 \
                 AND storage_class IN ",
                archive_classes_sql!(),
                " ORDER BY id LIMIT ?1"
            ))?;
            let ids = stmt
                .query_map([limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(ids)
        })
    }

    /// Records a restore of archived version row `id`: readable from `ready_ms` until
    /// `expiry_ms`.
    pub fn set_restore(&self, id: i64, ready_ms: i64, expiry_ms: i64) -> Result<()> {
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            let Some(mut v) = load_row(conn, id)?.filter(|v| v.archived) else {
                return Err(Error::Conflict("the version is not archived".into()));
            };
            let (bucket, key) = (v.bucket.clone(), v.key.clone());
            commit_key(conn, &ctx, &bucket, &key, || {
                conn.execute(
                    "UPDATE versions SET restore_ready_ms = ?2, restore_expiry_ms = ?3 WHERE id = ?1",
                    params![id, ready_ms, expiry_ms],
                )?;
                v.restore = Some((ready_ms, expiry_ms));
                let change = Change {
                    kind: ChangeKind::RestoreChanged,
                    origin: ChangeOrigin::Client,
                    version: v,
                    removed: Vec::new(),
                };
                Ok(((), Some(change)))
            })?;
            Ok(((), Vec::new()))
        })
    }

    /// Whether a chunk file exists in the cold tier (tests and diagnostics).
    pub fn cold_chunk_exists(&self, hash: &ChunkHash) -> bool {
        self.inner.chunks.exists(Tier::Cold, hash)
    }
}
