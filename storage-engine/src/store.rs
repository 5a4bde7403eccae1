//! The storage engine's public face: buckets, object versions, reads and listings.
//!
//! Invariant: a version becomes visible only through the metadata commit that also takes its chunk
//! references; every chunk a committed version lists exists in the chunk store for as long as some
//! version references it. Chunks are pinned while a write stages them or a read streams them, so
//! collection can never pull a chunk out from under either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::chunks::{decode_chunk_list, ChunkHash, ChunkRef, ChunkStore, Pins, Tier};
use crate::db::{CollectFn, Durability, ReadPool, Writer};
use crate::error::{Error, Result};
use crate::ingest::BodyWriter;
use crate::replication::ReplicationEvent;

/// The version id of the single version a key has in a bucket that never had versioning.
pub const NULL_VERSION: &str = "null";

/// Content-defined chunking parameters. They are recorded in the database on creation, because
/// deduplication depends on every writer cutting at the same points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkingParams {
    /// Smallest chunk.
    pub min: usize,
    /// Target average chunk.
    pub avg: usize,
    /// Largest chunk.
    pub max: usize,
}

impl Default for ChunkingParams {
    fn default() -> Self {
        Self {
            min: 64 * 1024,
            avg: 256 * 1024,
            max: 1024 * 1024,
        }
    }
}

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The data directory (`meta.db`, `chunks/`, `tmp/`).
    pub data_dir: PathBuf,
    /// The cold tier's directory; `DATA/chunks/cold` when unset.
    pub cold_dir: Option<PathBuf>,
    /// Commit durability.
    pub durability: Durability,
    /// Objects smaller than this many bytes are stored inline in their metadata row.
    pub inline_threshold: usize,
    /// Number of read connections.
    pub read_connections: usize,
}

impl StoreConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            cold_dir: None,
            durability: Durability::Full,
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            read_connections: 4,
        }
    }
}

/// Objects below this size live in their metadata row. Measured in docs/benchmarks.md: up to
/// 256 KiB an inline PUT is 1.5-4x faster than a chunked one at no GET cost; 128 KiB takes the gain
/// for the small sizes while bounding the database's growth.
pub const DEFAULT_INLINE_THRESHOLD: usize = 128 * 1024;

/// A bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketInfo {
    /// Name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Region it was created in.
    pub region: String,
    /// Versioning state.
    pub versioning: crate::versioning::Versioning,
}

/// Checksum recorded with an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    /// Algorithm name as S3 spells it (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).
    pub algorithm: String,
    /// Base64 of the digest (`-N` suffixed for a composite multipart checksum).
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    #[serde(default = "full_object")]
    pub checksum_type: String,
}

fn full_object() -> String {
    "FULL_OBJECT".to_owned()
}

/// Metadata kept with an object version and returned with it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Content-Encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// Content-Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Expires, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// User metadata (`x-amz-meta-NAME`), names lower-cased without the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// The checksum the client asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    /// Tags (`x-amz-tagging`), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// For an object completed from a multipart upload: each part's size, in part order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sizes: Vec<u64>,
}

/// Where a version's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// In the metadata row.
    Inline(Vec<u8>),
    /// In the chunk store, in this order.
    Chunks(Vec<ChunkRef>),
}

/// An object version as stored.
#[derive(Clone, Debug)]
pub struct ObjectVersion {
    /// Row id (unique, increases with each write).
    pub id: i64,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version id (`null` in an unversioned bucket).
    pub version_id: String,
    /// Whether this is the key's current version.
    pub is_latest: bool,
    /// Whether this version is a delete marker.
    pub is_delete_marker: bool,
    /// Size in bytes.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: String,
    /// Last-Modified, ms since the epoch.
    pub last_modified_ms: i64,
    /// Storage class.
    pub storage_class: String,
    /// Metadata.
    pub meta: ObjectMeta,
    /// Where the bytes are.
    pub body: Body,
    /// When it stopped being the latest version (noncurrent versions only), ms since the epoch.
    pub noncurrent_since_ms: Option<i64>,
    /// Whether its bytes are in the archive tier (GLACIER, DEEP_ARCHIVE).
    pub archived: bool,
    /// A restore of an archived version: (ready at, expires at), ms since the epoch.
    pub restore: Option<(i64, i64)>,
    /// Bumped whenever anything lifecycle rules look at changes for this key (see
    /// `lifecycle_support`): a due time computed from an older epoch is discarded.
    pub lifecycle_epoch: i64,
    /// `x-amz-replication-status`: PENDING, COMPLETED or FAILED on a replicated source version,
    /// REPLICA on a replica, None otherwise.
    pub replication_status: Option<String>,
}

/// A condition on the key's current version, checked inside the commit (so that of several
/// concurrent conditional writers exactly one can win).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WriteCondition {
    /// Unconditional.
    #[default]
    None,
    /// `If-None-Match: *`: only if the key has no current object.
    IfNoneMatch,
    /// `If-Match: ETAG`: only if the current object has this ETag (without quotes).
    IfMatch(String),
}

/// What a caller supplies with a new version besides its bytes.
#[derive(Clone, Debug)]
pub struct NewVersion {
    /// ETag, without quotes.
    pub etag: String,
    /// Metadata.
    pub meta: ObjectMeta,
    /// Storage class.
    pub storage_class: String,
    /// Condition on the current version.
    pub condition: WriteCondition,
    /// Makes this version a replica of another bucket's version: it gets the same version id
    /// and Last-Modified (the destination bucket must be versioned) and reports REPLICA. A
    /// version with that id already there is kept as it is (a repeated replication is a no-op).
    pub replica_of: Option<ReplicaOf>,
}

/// The source version a replica copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaOf {
    /// Its version id.
    pub version_id: String,
    /// Its Last-Modified, ms since the epoch.
    pub last_modified_ms: i64,
}

/// A listing request over current versions.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to CommonPrefixes at the first occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Start after this key (exclusive).
    pub start_after: Option<String>,
    /// Most entries (keys plus common prefixes) to return.
    pub max_keys: usize,
}

/// One current object in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Key.
    pub key: String,
    /// Size.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: String,
    /// Last-Modified, ms since the epoch.
    pub last_modified_ms: i64,
    /// Storage class.
    pub storage_class: String,
}

/// A page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects, in byte order of keys.
    pub objects: Vec<ObjectSummary>,
    /// Common prefixes, in byte order.
    pub common_prefixes: Vec<String>,
    /// Whether more entries follow.
    pub is_truncated: bool,
    /// The last key or common prefix returned (where the next page starts after).
    pub last: Option<String>,
}

/// Figures for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Buckets.
    pub buckets: u64,
    /// Current, non-marker objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What start-up recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Entries removed from `tmp/`.
    pub tmp_removed: usize,
    /// Chunk files no committed row referenced, removed.
    pub orphan_chunks_removed: usize,
}

pub(crate) struct Inner {
    pub(crate) chunks: ChunkStore,
    pub(crate) pins: Pins,
    pub(crate) params: ChunkingParams,
    pub(crate) inline_threshold: usize,
    pub(crate) readers: ReadPool,
    pub(crate) replication_policy: std::sync::OnceLock<crate::replication::ReplicationPolicy>,
    // Dropped last: joining the writer thread flushes queued writes.
    pub(crate) writer: Writer,
}

/// The storage engine. Cheap to clone; all methods block and belong off the async executor.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// Chunks pinned for the life of this guard.
pub struct PinGuard {
    inner: Arc<Inner>,
    hashes: Vec<ChunkHash>,
}

impl PinGuard {
    pub(crate) fn new(inner: Arc<Inner>, hashes: Vec<ChunkHash>) -> Self {
        inner.pins.pin(&hashes);
        Self { inner, hashes }
    }

    pub(crate) fn add(&mut self, hash: ChunkHash) {
        self.inner.pins.pin(&[hash]);
        self.hashes.push(hash);
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let released = self.inner.pins.unpin(&self.hashes);
        self.inner.writer.collect(released);
    }
}

/// A version's bytes, staged in the chunk store and pinned, ready to be committed.
pub struct StagedBody {
    pub(crate) body: Body,
    pub(crate) size: u64,
    pub(crate) new_chunks: Vec<ChunkHash>,
    pub(crate) pins: PinGuard,
}

impl StagedBody {
    /// The body's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the bytes are stored inline.
    pub fn is_inline(&self) -> bool {
        matches!(self.body, Body::Inline(_))
    }
}

impl Drop for StagedBody {
    fn drop(&mut self) {
        // Dropped without a commit: its freshly written chunks are collected unless something
        // else references or pins them.
        if !self.new_chunks.is_empty() {
            let hashes = std::mem::take(&mut self.new_chunks);
            self.pins.inner.writer.collect(hashes);
        }
    }
}

/// A readable version: its metadata, with its chunks pinned until dropped.
pub struct ObjectHandle {
    /// The version.
    pub version: ObjectVersion,
    /// Whether the bucket has a versioning state (Enabled or Suspended): S3 then reports the
    /// `null` version id explicitly.
    pub bucket_versioned: bool,
    _pins: Option<PinGuard>,
    store: Store,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) const VERSION_COLUMNS: &str =
    "id, bucket, key, version_id, is_latest, is_delete_marker, size, etag, \
     last_modified_ms, storage_class, meta, inline_data, chunks, noncurrent_since_ms, tier, \
     restore_ready_ms, restore_expiry_ms, lc_epoch, replication_status";

pub(crate) fn version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectVersion> {
    let key: Vec<u8> = row.get(2)?;
    let meta: String = row.get(10)?;
    let inline: Option<Vec<u8>> = row.get(11)?;
    let chunks: Option<Vec<u8>> = row.get(12)?;
    let body = match (inline, chunks) {
        (Some(data), _) => Body::Inline(data),
        (None, Some(list)) => Body::Chunks(decode_chunk_list(&list).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                12,
                rusqlite::types::Type::Blob,
                "malformed chunk list".into(),
            )
        })?),
        (None, None) => Body::Inline(Vec::new()),
    };
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
        meta: serde_json::from_str(&meta).unwrap_or_default(),
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

pub(crate) fn bucket_exists(conn: &Connection, bucket: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM buckets WHERE name = ?1",
            [bucket],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

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

/// Removes a version row and its references; returns freed chunks.
pub(crate) fn remove_version_row(conn: &Connection, v: &ObjectVersion) -> Result<Vec<ChunkHash>> {
    conn.prepare_cached("DELETE FROM versions WHERE id = ?1")?
        .execute([v.id])?;
    if v.replication_status.as_deref() == Some("FAILED") {
        conn.prepare_cached("DELETE FROM replication_abandoned WHERE version_row = ?1")?
            .execute([v.id])?;
    }
    if v.is_latest && !v.is_delete_marker {
        adjust_stats(conn, &v.bucket, -1, -(v.size as i64))?;
    }
    match &v.body {
        Body::Chunks(list) => drop_refs(conn, list, v.archived),
        Body::Inline(_) => Ok(Vec::new()),
    }
}

pub(crate) fn load_version(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Option<ObjectVersion>> {
    let v = match version_id {
        Some(vid) => conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
            ))?
            .query_row(params![bucket, key.as_bytes(), vid], version_from_row)
            .optional()?,
        None => conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 AND is_latest = 1"
            ))?
            .query_row(params![bucket, key.as_bytes()], version_from_row)
            .optional()?,
    };
    Ok(v)
}

/// Inserts a committed body as the key's new current version (unversioned semantics: it replaces
/// the `null` version) and takes its chunk references. Returns the version and freed chunks.
/// A new version a client wrote is queued for replication as the bucket's rules say.
pub(crate) fn insert_current_version(
    conn: &Connection,
    policy: Option<&crate::replication::ReplicationPolicy>,
    bucket_s: String,
    key_s: String,
    body: Body,
    size: u64,
    new: NewVersion,
) -> Result<(ObjectVersion, Vec<ChunkHash>)> {
    let (mut v, freed) =
        crate::versioning::insert_version(conn, bucket_s, key_s, body, size, new, false)?;
    if crate::replication::enqueue(conn, policy, &v, ReplicationEvent::NewVersion)? > 0 {
        v.replication_status = Some("PENDING".to_owned());
    }
    Ok((v, freed))
}

impl Store {
    /// Opens the store at `config.data_dir`, creating it if needed, and runs start-up recovery.
    pub fn open(config: StoreConfig) -> Result<(Self, RecoveryReport)> {
        std::fs::create_dir_all(&config.data_dir)?;
        let sync = config.durability == Durability::Full;
        let chunks = ChunkStore::open(&config.data_dir, config.cold_dir.as_deref(), sync)?;
        let db_path = config.data_dir.join("meta.db");
        // The collector closes over a late-bound handle to the chunk store and pins, so it is
        // wired after `Inner` exists.
        let slot: Arc<std::sync::OnceLock<std::sync::Weak<Inner>>> = Arc::default();
        let slot2 = slot.clone();
        let collect: CollectFn = Arc::new(move |conn: &Connection, hashes: &[ChunkHash]| {
            if let Some(inner) = slot2.get().and_then(std::sync::Weak::upgrade) {
                collect_chunks(&inner, conn, hashes);
            }
        });
        let writer = Writer::start(&db_path, config.durability, collect)?;
        let readers = ReadPool::open(&db_path, config.durability, config.read_connections)?;
        let params = ChunkingParams::default();
        let inner = Arc::new(Inner {
            chunks,
            pins: Pins::default(),
            params,
            inline_threshold: config.inline_threshold,
            readers,
            replication_policy: Default::default(),
            writer,
        });
        let _ = slot.set(Arc::downgrade(&inner));
        let store = Self { inner };
        store.check_chunking_params()?;
        let report = store.recover()?;
        Ok((store, report))
    }

    /// Records the chunking parameters on first open; refuses a store cut with other parameters.
    fn check_chunking_params(&self) -> Result<()> {
        let p = self.inner.params;
        let wanted = format!("fastcdc-v2020:{}:{}:{}", p.min, p.avg, p.max);
        let w2 = wanted.clone();
        let stored: String = self.inner.writer.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO meta(name, value) VALUES ('chunking', ?1)",
                [&w2],
            )?;
            let v: String =
                conn.query_row("SELECT value FROM meta WHERE name = 'chunking'", [], |r| {
                    r.get(0)
                })?;
            Ok((v, Vec::new()))
        })?;
        if stored != wanted {
            return Err(Error::Invalid(format!(
                "data directory was chunked with {stored}, this build uses {wanted}"
            )));
        }
        Ok(())
    }

    /// Start-up recovery: empties `tmp/` and removes chunk files that no committed row references.
    fn recover(&self) -> Result<RecoveryReport> {
        let tmp_removed = self.inner.chunks.clear_tmp()?;
        let mut orphan_chunks_removed = 0;
        for tier in [Tier::Hot, Tier::Cold] {
            let (hashes, stray) = self.inner.chunks.scan(tier)?;
            for path in stray {
                if path.is_file() {
                    let _ = std::fs::remove_file(&path);
                }
            }
            let keep_sql = match tier {
                Tier::Hot => "SELECT 1 FROM chunks WHERE hash = ?1 AND refs > cold_refs",
                Tier::Cold => "SELECT 1 FROM chunks WHERE hash = ?1 AND cold_refs > 0",
            };
            let referenced: Vec<bool> = self.inner.readers.with(|conn| {
                let mut stmt = conn.prepare_cached(keep_sql)?;
                hashes
                    .iter()
                    .map(|h| Ok(stmt.exists([&h.0[..]])?))
                    .collect::<Result<Vec<bool>>>()
            })?;
            for (h, keep) in hashes.iter().zip(referenced) {
                if !keep {
                    self.inner.chunks.delete(tier, h)?;
                    orphan_chunks_removed += 1;
                }
            }
        }
        self.inner.writer.write(|conn| {
            conn.execute("DELETE FROM chunks WHERE refs <= 0", [])?;
            Ok(((), Vec::new()))
        })?;
        Ok(RecoveryReport {
            tmp_removed,
            orphan_chunks_removed,
        })
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, name: &str, region: &str) -> Result<()> {
        let (name, region) = (name.to_owned(), region.to_owned());
        self.inner.writer.write(move |conn| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO buckets(name, created_ms, region) VALUES (?1, ?2, ?3)",
                params![name, now_ms(), region],
            )?;
            if n == 0 {
                return Err(Error::BucketAlreadyExists(name));
            }
            Ok(((), Vec::new()))
        })
    }

    /// Deletes an empty bucket.
    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &name)? {
                return Err(Error::NoSuchBucket(name));
            }
            let has_versions = conn
                .prepare_cached("SELECT 1 FROM versions WHERE bucket = ?1 LIMIT 1")?
                .exists([&name])?;
            if has_versions || Store::has_uploads(conn, &name)? {
                return Err(Error::BucketNotEmpty(name));
            }
            conn.execute("DELETE FROM buckets WHERE name = ?1", [&name])?;
            conn.execute("DELETE FROM stats WHERE bucket = ?1", [&name])?;
            conn.execute("DELETE FROM bucket_settings WHERE bucket = ?1", [&name])?;
            Ok(((), Vec::new()))
        })
    }

    /// A bucket's details.
    pub fn bucket(&self, name: &str) -> Result<BucketInfo> {
        self.inner.readers.with(|conn| {
            conn.prepare_cached(
                "SELECT name, created_ms, region, versioning FROM buckets WHERE name = ?1",
            )?
            .query_row([name], |r| {
                Ok(BucketInfo {
                    name: r.get(0)?,
                    created_ms: r.get(1)?,
                    region: r.get(2)?,
                    versioning: crate::versioning::Versioning::from_db(&r.get::<_, String>(3)?),
                })
            })
            .optional()?
            .ok_or_else(|| Error::NoSuchBucket(name.to_owned()))
        })
    }

    /// All buckets, by name.
    pub fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.inner.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, created_ms, region, versioning FROM buckets ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(BucketInfo {
                    name: r.get(0)?,
                    created_ms: r.get(1)?,
                    region: r.get(2)?,
                    versioning: crate::versioning::Versioning::from_db(&r.get::<_, String>(3)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Starts staging a new body: feed it bytes, then `finish` and commit with `put_object`.
    pub fn body_writer(&self) -> BodyWriter {
        BodyWriter::new(self.clone())
    }

    /// Commits a staged body as the new current version of `bucket/key` (unversioned semantics:
    /// it replaces the `null` version). Returns the committed version.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        mut staged: StagedBody,
        new: NewVersion,
    ) -> Result<ObjectVersion> {
        let body = std::mem::replace(&mut staged.body, Body::Inline(Vec::new()));
        let size = staged.size;
        let new_chunks = std::mem::take(&mut staged.new_chunks);
        let bucket_s = bucket.to_owned();
        let key_s = key.to_owned();
        let policy = self.replication_policy();
        let result = self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &bucket_s)? {
                return Err(Error::NoSuchBucket(bucket_s));
            }
            insert_current_version(conn, policy.as_ref(), bucket_s, key_s, body, size, new)
        });
        drop(staged);
        if result.is_err() {
            self.discard_chunks(new_chunks);
        }
        result
    }

    /// `put_object` for a body kept inline: the commit is awaited instead of blocking a thread
    /// (an inline body has no chunks to write or collect). A chunked body is refused.
    pub fn put_object_async(
        &self,
        bucket: &str,
        key: &str,
        mut staged: StagedBody,
        new: NewVersion,
    ) -> impl std::future::Future<Output = Result<ObjectVersion>> + Send + 'static {
        let inline = matches!(staged.body, Body::Inline(_)) && staged.new_chunks.is_empty();
        let body = std::mem::replace(&mut staged.body, Body::Inline(Vec::new()));
        let size = staged.size;
        drop(staged);
        let (bucket_s, key_s) = (bucket.to_owned(), key.to_owned());
        let policy = self.replication_policy();
        let commit = inline.then(|| {
            self.inner.writer.write_async(move |conn| {
                if !bucket_exists(conn, &bucket_s)? {
                    return Err(Error::NoSuchBucket(bucket_s));
                }
                insert_current_version(conn, policy.as_ref(), bucket_s, key_s, body, size, new)
            })
        });
        async move {
            match commit {
                Some(commit) => commit.await,
                None => Err(Error::Invalid(
                    "put_object_async takes inline bodies only".into(),
                )),
            }
        }
    }

    /// Removes chunks a failed write staged, unless something else references or pins them.
    pub(crate) fn discard_chunks(&self, hashes: Vec<ChunkHash>) {
        self.inner.writer.collect(hashes);
    }

    /// Looks up the current version of a key, or a given version, with its chunks pinned for reading.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectHandle> {
        // A concurrent overwrite may free the chunks between the lookup and the pin; look again
        // after pinning until the version is confirmed to still exist.
        for _ in 0..8 {
            let (version, bucket_versioned) = self.inner.readers.with(|conn| {
                let versioning = crate::versioning::bucket_versioning(conn, bucket)?;
                let v = load_version(conn, bucket, key, version_id)?
                    .ok_or_else(|| Error::NoSuchKey(key.to_owned()))?;
                Ok((v, versioning != crate::versioning::Versioning::Unversioned))
            })?;
            let hashes: Vec<ChunkHash> = match &version.body {
                Body::Chunks(list) => list.iter().map(|c| c.hash).collect(),
                Body::Inline(_) => {
                    return Ok(ObjectHandle {
                        version,
                        bucket_versioned,
                        _pins: None,
                        store: self.clone(),
                    })
                }
            };
            let pins = PinGuard::new(self.inner.clone(), hashes);
            let still_there = self.inner.readers.with(|conn| {
                Ok(conn
                    .prepare_cached("SELECT 1 FROM versions WHERE id = ?1")?
                    .exists([version.id])?)
            })?;
            if still_there {
                return Ok(ObjectHandle {
                    version,
                    bucket_versioned,
                    _pins: Some(pins),
                    store: self.clone(),
                });
            }
        }
        Err(Error::Conflict(format!(
            "{bucket}/{key} kept changing while being read"
        )))
    }

    /// Lists current versions in byte order of keys.
    pub fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        self.inner.readers.with(|conn| {
            if !bucket_exists(conn, bucket)? {
                return Err(Error::NoSuchBucket(bucket.to_owned()));
            }
            list_current(conn, bucket, q)
        })
    }

    /// Stores (Some) or removes (None) a named bucket setting (a configuration document in
    /// canonical form, such as the bucket's tags or CORS rules).
    pub fn set_bucket_setting(
        &self,
        bucket: &str,
        name: &str,
        value: Option<String>,
    ) -> Result<()> {
        let (b, n) = (bucket.to_owned(), name.to_owned());
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &b)? {
                return Err(Error::NoSuchBucket(b));
            }
            match value {
                Some(v) => conn.execute(
                    "INSERT OR REPLACE INTO bucket_settings(bucket, name, value) VALUES (?1, ?2, ?3)",
                    params![b, n, v],
                )?,
                None => conn.execute(
                    "DELETE FROM bucket_settings WHERE bucket = ?1 AND name = ?2",
                    params![b, n],
                )?,
            };
            Ok(((), Vec::new()))
        })
    }

    /// A named bucket setting, if set.
    pub fn bucket_setting(&self, bucket: &str, name: &str) -> Result<Option<String>> {
        self.inner.readers.with(|conn| {
            if !bucket_exists(conn, bucket)? {
                return Err(Error::NoSuchBucket(bucket.to_owned()));
            }
            Ok(conn
                .prepare_cached(
                    "SELECT value FROM bucket_settings WHERE bucket = ?1 AND name = ?2",
                )?
                .query_row(params![bucket, name], |r| r.get(0))
                .optional()?)
        })
    }

    /// Replaces the tags of a version (the current one when `version_id` is None). Returns the
    /// version id.
    pub fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<String> {
        let (b, k, vid) = (
            bucket.to_owned(),
            key.to_owned(),
            version_id.map(str::to_owned),
        );
        let policy = self.replication_policy();
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &b)? {
                return Err(Error::NoSuchBucket(b));
            }
            let mut v = load_version(conn, &b, &k, vid.as_deref())?
                .filter(|v| !v.is_delete_marker || vid.is_some())
                .ok_or_else(|| Error::NoSuchKey(k.clone()))?;
            v.meta.tags = tags;
            crate::lifecycle_support::invalidate_key(conn, &b, &k)?;
            let meta = serde_json::to_string(&v.meta)
                .map_err(|e| Error::Invalid(format!("metadata: {e}")))?;
            conn.prepare_cached("UPDATE versions SET meta = ?1 WHERE id = ?2")?
                .execute(params![meta, v.id])?;
            crate::replication::enqueue(conn, policy.as_ref(), &v, ReplicationEvent::Tags)?;
            Ok((v.version_id, Vec::new()))
        })
    }

    /// Counts for metrics.
    pub fn stats(&self) -> Result<StoreStats> {
        self.inner.readers.with(|conn| {
            let buckets: i64 = conn.query_row("SELECT count(*) FROM buckets", [], |r| r.get(0))?;
            let (objects, bytes): (i64, i64) = conn.query_row(
                "SELECT coalesce(sum(objects), 0), coalesce(sum(bytes), 0) FROM stats",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(StoreStats {
                buckets: buckets as u64,
                objects: objects.max(0) as u64,
                bytes: bytes.max(0) as u64,
            })
        })
    }

    /// Number of chunk rows and the sum of their sizes (distinct stored bytes).
    pub fn chunk_usage(&self) -> Result<(u64, u64)> {
        self.inner.readers.with(|conn| {
            let (n, bytes): (i64, i64) = conn.query_row(
                "SELECT count(*), coalesce(sum(size), 0) FROM chunks",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((n as u64, bytes as u64))
        })
    }

    /// The reference count of a chunk (0 when it has no row).
    pub fn chunk_refs(&self, hash: &ChunkHash) -> Result<u64> {
        self.inner.readers.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT refs FROM chunks WHERE hash = ?1",
                    [&hash.0[..]],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
                .unwrap_or(0)
                .max(0) as u64)
        })
    }

    /// Whether a chunk file exists in the hot tier.
    pub fn chunk_file_exists(&self, hash: &ChunkHash) -> bool {
        self.inner.chunks.exists(Tier::Hot, hash)
    }

    /// The data directory's chunk files (hot tier), for tests and diagnostics.
    pub fn chunk_files(&self) -> Result<Vec<ChunkHash>> {
        Ok(self.inner.chunks.scan(Tier::Hot)?.0)
    }

    /// Waits until every queued metadata job, including deferred chunk collection, has run.
    pub fn sync(&self) -> Result<()> {
        self.inner.writer.write(|_| Ok(((), Vec::new())))
    }
}

/// Deletes the files of chunks that have no references and no pins (runs on the writer thread).
fn collect_chunks(inner: &Inner, conn: &Connection, hashes: &[ChunkHash]) {
    inner.pins.delete_unpinned(hashes, |h| {
        let counts = conn
            .prepare_cached("SELECT refs, cold_refs FROM chunks WHERE hash = ?1")
            .and_then(|mut s| {
                s.query_row([&h.0[..]], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
            });
        let (refs, cold_refs) = match counts {
            Ok(Some(c)) => c,
            Ok(None) => (0, 0),
            Err(e) => {
                tracing::warn!(chunk = ?h, error = %e, "cannot check chunk references");
                return;
            }
        };
        // The hot copy serves versions in the hot tier; the cold copy archived ones.
        let mut unneeded = Vec::new();
        if refs - cold_refs <= 0 {
            unneeded.push(Tier::Hot);
        }
        if cold_refs <= 0 {
            unneeded.push(Tier::Cold);
        }
        for tier in unneeded {
            if let Err(e) = inner.chunks.delete(tier, h) {
                tracing::warn!(chunk = ?h, error = %e, "cannot delete chunk file");
            }
        }
    });
}

fn list_current(conn: &Connection, bucket: &str, q: &ListQuery) -> Result<ListPage> {
    let prefix = q.prefix.as_bytes();
    let upper = prefix_successor(prefix);
    let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut page = ListPage::default();
    if q.max_keys == 0 {
        return Ok(page);
    }
    // Cursor: keys strictly greater than `after` and not below the prefix.
    let mut after: Vec<u8> = q.start_after.clone().unwrap_or_default().into_bytes();
    let mut inclusive_prefix = after.as_slice() < prefix;
    if inclusive_prefix {
        after = prefix.to_vec();
    }
    // A marker inside a common prefix (as a page that ended on that prefix hands out) resumes
    // after everything the prefix rolled up, so the prefix is not reported twice.
    if let (Some(d), false) = (delimiter, inclusive_prefix) {
        if after.starts_with(prefix) {
            if let Some(pos) = find(&after[prefix.len()..], d.as_bytes()) {
                let cp = after[..prefix.len() + pos + d.len()].to_vec();
                match prefix_successor(&cp) {
                    Some(next) => {
                        after = next;
                        inclusive_prefix = true;
                    }
                    None => return Ok(page),
                }
            }
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT key, size, etag, last_modified_ms, storage_class FROM versions \
         WHERE bucket = ?1 AND is_latest = 1 AND is_delete_marker = 0 \
         AND (key > ?2 OR (?3 AND key = ?2)) AND (?4 IS NULL OR key < ?4) \
         ORDER BY key LIMIT ?5",
    )?;
    let batch = (q.max_keys + 1).min(1001) as i64;
    let mut count = 0usize;
    'outer: loop {
        let rows: Vec<(Vec<u8>, i64, String, i64, String)> = stmt
            .query_map(
                params![bucket, &after, inclusive_prefix, upper.as_deref(), batch],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        inclusive_prefix = false;
        if rows.is_empty() {
            break;
        }
        for (key, size, etag, modified, class) in rows {
            if let Some(d) = delimiter {
                let rest = &key[prefix.len()..];
                if let Some(pos) = find(rest, d.as_bytes()) {
                    let cp = key[..prefix.len() + pos + d.len()].to_vec();
                    if count == q.max_keys {
                        page.is_truncated = true;
                        break 'outer;
                    }
                    let cp_s = String::from_utf8_lossy(&cp).into_owned();
                    page.last = Some(cp_s.clone());
                    page.common_prefixes.push(cp_s);
                    count += 1;
                    // Skip every other key under this common prefix.
                    match prefix_successor(&cp) {
                        Some(next) => {
                            after = next;
                            inclusive_prefix = true;
                            continue 'outer;
                        }
                        None => break 'outer,
                    }
                }
            }
            if count == q.max_keys {
                page.is_truncated = true;
                break 'outer;
            }
            let key_s = String::from_utf8_lossy(&key).into_owned();
            page.last = Some(key_s.clone());
            page.objects.push(ObjectSummary {
                key: key_s,
                size: size.max(0) as u64,
                etag,
                last_modified_ms: modified,
                storage_class: class,
            });
            count += 1;
            after = key;
        }
    }
    Ok(page)
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl ObjectHandle {
    /// Reads bytes `[start, end)` of the version in pieces of at most `piece` bytes, passing each to
    /// `sink` in order; stops early when `sink` returns false.
    pub fn read_range(
        &self,
        start: u64,
        end: u64,
        piece: usize,
        mut sink: impl FnMut(Vec<u8>) -> bool,
    ) -> Result<()> {
        let end = end.min(self.version.size);
        if start >= end {
            return Ok(());
        }
        match &self.version.body {
            Body::Inline(data) => {
                let s = start as usize;
                let e = (end as usize).min(data.len());
                for part in data[s..e].chunks(piece.max(1)) {
                    if !sink(part.to_vec()) {
                        break;
                    }
                }
                Ok(())
            }
            Body::Chunks(list) => {
                let store = &self.store.inner.chunks;
                let mut offset = 0u64;
                for c in list {
                    let c_start = offset;
                    let c_end = offset + c.len;
                    offset = c_end;
                    if c_end <= start {
                        continue;
                    }
                    if c_start >= end {
                        break;
                    }
                    let from = start.max(c_start) - c_start;
                    let to = end.min(c_end) - c_start;
                    let tier = if self.version.archived {
                        Tier::Cold
                    } else {
                        Tier::Hot
                    };
                    let mut f = store.open_chunk(tier, &c.hash).map_err(|e| match e {
                        Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                            Error::CorruptChunk(c.hash.to_hex())
                        }
                        other => other,
                    })?;
                    use std::io::{Read, Seek, SeekFrom};
                    if from > 0 {
                        f.seek(SeekFrom::Start(from))?;
                    }
                    let mut remaining = (to - from) as usize;
                    while remaining > 0 {
                        let n = remaining.min(piece.max(1));
                        // Read into spare capacity: the buffer is not zeroed first.
                        let mut buf = Vec::with_capacity(n);
                        (&mut f).take(n as u64).read_to_end(&mut buf)?;
                        if buf.len() != n {
                            return Err(Error::CorruptChunk(c.hash.to_hex()));
                        }
                        remaining -= n;
                        if !sink(buf) {
                            return Ok(());
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads the whole version into memory (tests and small objects).
    pub fn read_all(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.version.size as usize);
        self.read_range(0, self.version.size, 1 << 20, |b| {
            out.extend_from_slice(&b);
            true
        })?;
        Ok(out)
    }
}

/// Opens a store in `dir` with test-friendly defaults.
pub fn open_for_tests(dir: &Path) -> Result<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.durability = Durability::Process;
    Ok(Store::open(cfg)?.0)
}
