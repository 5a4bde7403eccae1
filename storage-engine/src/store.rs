//! The storage engine's public facade: opening a store (and start-up recovery), buckets,
//! committing staged bodies, listings of current objects, bucket settings and tags.
//!
//! Invariant: a version becomes visible only through the metadata commit that also takes its chunk
//! references; every chunk a committed version lists exists in the chunk store for as long as some
//! version references it. Every change to a key goes through `meta::commit::commit_key`.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use crate::chunks::{ChunkHash, ChunkStore, Pins, Tier};
use crate::db::{CollectFn, Durability, ReadPool, Writer};
use crate::engine::{Inner, StagedBody, Store};
use crate::error::{Error, Result};
use crate::ingest::BodyWriter;
use crate::meta::codec::now_ms;
use crate::meta::commit::{commit_key, Change, CommitContext};
use crate::meta::feed::{ChangeKind, ChangeOrigin};
use crate::meta::queue::ReplicationPolicy;
use crate::meta::versions::{bucket_exists, load_version, set_meta};
use crate::meta::walk::{walk, Entry, KeySource, Start};
use crate::model::{Body, BucketInfo, ChunkingParams, NewVersion, ObjectVersion, Versioning};
use crate::names::StorageClass;
use crate::versioning::write_version;

/// How to open a store.
#[derive(Clone)]
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
    /// Change-feed events kept for consumers (`FEED_RETAIN` by default; see `read_changes`).
    pub change_feed_retain: u64,
    /// Decides which committed changes are queued for which replication destinations (the
    /// lifecycle crate's `replication::policy()`). None: nothing is replicated, and storing a
    /// replication configuration is refused.
    pub replication_policy: Option<ReplicationPolicy>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("data_dir", &self.data_dir)
            .field("cold_dir", &self.cold_dir)
            .field("durability", &self.durability)
            .field("inline_threshold", &self.inline_threshold)
            .field("read_connections", &self.read_connections)
            .field("change_feed_retain", &self.change_feed_retain)
            .field("replication_policy", &self.replication_policy.is_some())
            .finish()
    }
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
            change_feed_retain: crate::meta::feed::FEED_RETAIN,
            replication_policy: None,
        }
    }
}

/// Objects below this size live in their metadata row. Measured in docs/benchmarks.md: up to
/// 256 KiB an inline PUT is 1.5-4x faster than a chunked one at no GET cost; 128 KiB takes the gain
/// for the small sizes while bounding the database's growth.
pub const DEFAULT_INLINE_THRESHOLD: usize = 128 * 1024;

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
    pub storage_class: StorageClass,
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

/// The data directory's lock (`DATA/lock`, an exclusive `flock`): a store holds it while open, so
/// a second server, or `strata check`, cannot open a directory that is in use. The kernel drops
/// it when the process ends, however it ends.
pub(crate) struct DataDirLock(#[allow(dead_code)] std::fs::File);

impl DataDirLock {
    /// Takes the lock, or fails with `Error::InUse` at once if another process holds it.
    pub(crate) fn acquire(data_dir: &std::path::Path) -> Result<Self> {
        let path = data_dir.join("lock");
        let file = crate::chunks::private_open_rw(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::InUse(data_dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// What start-up recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Entries removed from `tmp/`.
    pub tmp_removed: usize,
    /// Chunk files no committed row referenced, removed.
    pub orphan_chunks_removed: usize,
}
impl Store {
    /// Opens the store at `config.data_dir`, creating it if needed, and runs start-up recovery.
    pub fn open(config: StoreConfig) -> Result<(Self, RecoveryReport)> {
        // The data directory is the server's alone (0700, also when it existed), and so is the
        // metadata database (0600; SQLite gives its WAL and shared-memory files the database's
        // mode).
        crate::chunks::private_dir_all(&config.data_dir)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let db_file = config.data_dir.join("meta.db");
        if !db_file.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&db_file)?;
        }
        for name in ["meta.db", "meta.db-wal", "meta.db-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let path = config.data_dir.join(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        let lock = DataDirLock::acquire(&config.data_dir)?;
        let sync = config.durability == Durability::Full;
        let chunks = ChunkStore::open(&config.data_dir, config.cold_dir.as_deref(), sync)?;
        let db_path = config.data_dir.join("meta.db");
        let chunks = Arc::new(chunks);
        let pins = Arc::new(Pins::default());
        let collect: CollectFn = {
            let (chunks, pins) = (chunks.clone(), pins.clone());
            Arc::new(move |conn: &Connection, hashes: &[ChunkHash]| {
                collect_chunks(&chunks, &pins, conn, hashes);
            })
        };
        let writer = Writer::start(&db_path, config.durability, collect)?;
        let readers = ReadPool::open(&db_path, config.durability, config.read_connections)?;
        let params = ChunkingParams::default();
        let inner = Arc::new(Inner {
            chunks,
            pins,
            params,
            inline_threshold: config.inline_threshold,
            readers,
            commit: CommitContext {
                policy: config.replication_policy.clone(),
                feed_retain: config.change_feed_retain,
                faults: Default::default(),
            },
            writer,
            _lock: lock,
        });
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

    /// Creates a bucket owned by the administrator.
    pub fn create_bucket(&self, name: &str, region: &str) -> Result<()> {
        self.create_bucket_owned(name, region, "", Vec::new())
    }

    /// Creates a bucket owned by `owner` (a canonical user id; empty for the administrator)
    /// with its first settings (name, value), in one transaction: no one sees the bucket
    /// without them. With the Object Lock setting among them, versioning starts enabled.
    pub fn create_bucket_owned(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        settings: Vec<(String, String)>,
    ) -> Result<()> {
        let (name, region, owner) = (name.to_owned(), region.to_owned(), owner.to_owned());
        // A bucket created with Object Lock has versioning enabled from the start.
        let versioning = if settings
            .iter()
            .any(|(n, _)| n == crate::lock::OBJECT_LOCK_SETTING)
        {
            Versioning::Enabled
        } else {
            Versioning::Unversioned
        };
        self.inner.writer.write(move |conn| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO buckets(name, created_ms, region, owner, versioning) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, now_ms(), region, owner, versioning.to_db()],
            )?;
            if n == 0 {
                return Err(Error::BucketAlreadyExists(name));
            }
            for (setting, value) in settings {
                conn.execute(
                    "INSERT OR REPLACE INTO bucket_settings(bucket, name, value) VALUES (?1, ?2, ?3)",
                    params![name, setting, value],
                )?;
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
            let mut stmt = conn.prepare_cached(
                "SELECT name, created_ms, region, versioning, owner FROM buckets WHERE name = ?1",
            )?;
            let mut rows = stmt.query_and_then([name], bucket_from_row)?;
            rows.next()
                .unwrap_or_else(|| Err(Error::NoSuchBucket(name.to_owned())))
        })
    }

    /// All buckets, by name.
    pub fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.inner.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, created_ms, region, versioning, owner FROM buckets ORDER BY name",
            )?;
            let rows = stmt.query_and_then([], bucket_from_row)?;
            rows.collect()
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
        let ctx = self.ctx();
        let result = self
            .inner
            .writer
            .write(move |conn| commit_client_write(conn, &ctx, bucket_s, key_s, body, size, new));
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
        let ctx = self.ctx();
        let commit = inline.then(|| {
            self.inner.writer.write_async(move |conn| {
                commit_client_write(conn, &ctx, bucket_s, key_s, body, size, new)
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
        self.update_meta(bucket, key, version_id, ChangeKind::TagsChanged, |m| {
            m.tags = tags;
            Ok(())
        })
    }

    /// Replaces the access control list of a version (the current one when `version_id` is
    /// None; `acl` as the server encodes it, None for private). Returns the version id.
    pub fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> Result<String> {
        self.update_meta(bucket, key, version_id, ChangeKind::AclChanged, |m| {
            m.acl = acl;
            Ok(())
        })
    }

    /// PutObjectRetention: sets, changes or (None) removes a version's retention (the current
    /// version when `version_id` is None). Extending is always allowed; while the old
    /// retention runs, weakening it (removing it, an earlier date, COMPLIANCE to GOVERNANCE)
    /// is refused with `ObjectLocked`, except GOVERNANCE under `LockOverride::Governance`.
    /// The bucket must have Object Lock enabled. Returns the version id.
    pub fn set_object_retention(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        retention: Option<crate::lock::Retention>,
        over: crate::lock::LockOverride,
    ) -> Result<String> {
        use crate::lock::{LockMode, LockOverride};
        self.update_meta(bucket, key, version_id, ChangeKind::LockChanged, move |m| {
            if let Some(old) = m.retention.filter(|r| r.retain_until_ms > now_ms()) {
                let weaker = match retention {
                    None => true,
                    Some(new) => {
                        new.retain_until_ms < old.retain_until_ms
                            || (old.mode == LockMode::Compliance
                                && new.mode == LockMode::Governance)
                    }
                };
                let allowed = old.mode == LockMode::Governance && over == LockOverride::Governance;
                if weaker && !allowed {
                    return Err(Error::ObjectLocked(format!(
                        "{} retention until {} ms",
                        old.mode.as_str(),
                        old.retain_until_ms
                    )));
                }
            }
            m.retention = retention;
            Ok(())
        })
    }

    /// PutObjectLegalHold: turns a version's legal hold on or off (the current version when
    /// `version_id` is None). The bucket must have Object Lock enabled. Returns the version id.
    pub fn set_object_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        on: bool,
    ) -> Result<String> {
        self.update_meta(bucket, key, version_id, ChangeKind::LockChanged, move |m| {
            m.legal_hold = on;
            Ok(())
        })
    }

    /// Changes one version's metadata in place and records `kind` in the change feed. A lock
    /// change (`LockChanged`) needs a bucket with Object Lock and a version that is not a delete
    /// marker.
    fn update_meta(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        kind: ChangeKind,
        update: impl FnOnce(&mut crate::model::ObjectMeta) -> Result<()> + Send + 'static,
    ) -> Result<String> {
        let (b, k, vid) = (
            bucket.to_owned(),
            key.to_owned(),
            version_id.map(str::to_owned),
        );
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &b)? {
                return Err(Error::NoSuchBucket(b));
            }
            if kind == ChangeKind::LockChanged
                && crate::versioning::lock_config_in(conn, &b)?.is_none()
            {
                return Err(Error::ObjectLockNotEnabled);
            }
            let mut v = load_version(conn, &b, &k, vid.as_deref())?
                .filter(|v| !v.is_delete_marker || vid.is_some())
                .ok_or_else(|| Error::NoSuchKey(k.clone()))?;
            if v.is_delete_marker && kind == ChangeKind::LockChanged {
                return Err(Error::Invalid("A delete marker cannot be locked".into()));
            }
            let version_id = v.version_id.clone();
            commit_key(conn, &ctx, &b, &k, || {
                update(&mut v.meta)?;
                set_meta(conn, v.id, &v.meta)?;
                let change = Change {
                    kind,
                    origin: ChangeOrigin::Client,
                    version: v,
                    removed: Vec::new(),
                };
                Ok(((), Some(change)))
            })?;
            Ok((version_id, Vec::new()))
        })
    }

    /// Copies everything committed into the database file and empties its WAL, so the next
    /// open replays nothing (the last step of a clean shutdown).
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.writer.checkpoint()
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
    #[cfg(feature = "test-hooks")]
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
    #[cfg(feature = "test-hooks")]
    pub fn chunk_files(&self) -> Result<Vec<ChunkHash>> {
        Ok(self.inner.chunks.scan(Tier::Hot)?.0)
    }

    /// Makes the next commit that reaches `step` of the commit entry point fail there (its
    /// transaction savepoint is rolled back, as a crash before the commit would).
    #[cfg(feature = "test-hooks")]
    pub fn inject_commit_fault(&self, step: crate::CommitStep) {
        self.inner.commit.faults.arm(step);
    }

    /// Up to `limit` change-feed events after `after_seq` (0: from the oldest kept), oldest
    /// first. A consumer keeps the last `seq` it handled as its cursor; see `meta::feed` for
    /// how long events are kept.
    pub fn read_changes(&self, after_seq: i64, limit: usize) -> Result<Vec<crate::ChangeEvent>> {
        self.inner
            .readers
            .with(|conn| crate::meta::feed::read(conn, after_seq, limit))
    }

    /// Waits until every queued metadata job, including deferred chunk collection, has run.
    pub fn sync(&self) -> Result<()> {
        self.inner.writer.write(|_| Ok(((), Vec::new())))
    }
}

fn bucket_from_row(r: &rusqlite::Row<'_>) -> Result<BucketInfo> {
    Ok(BucketInfo {
        name: r.get(0)?,
        created_ms: r.get(1)?,
        region: r.get(2)?,
        versioning: Versioning::from_db(&r.get::<_, String>(3)?)?,
        owner: r.get(4)?,
    })
}

/// Deletes the files of chunks that have no references and no pins (runs on the writer thread).
fn collect_chunks(chunks: &ChunkStore, pins: &Pins, conn: &Connection, hashes: &[ChunkHash]) {
    pins.delete_unpinned(hashes, |h| {
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
            if let Err(e) = chunks.delete(tier, h) {
                tracing::warn!(chunk = ?h, error = %e, "cannot delete chunk file");
            }
        }
    });
}

/// Current objects of a bucket, for the key walker.
struct CurrentObjects<'c> {
    conn: &'c Connection,
    bucket: &'c str,
}

impl KeySource for CurrentObjects<'_> {
    type Row = (Vec<u8>, ObjectSummary);
    type Pos = ();

    fn fetch(
        &mut self,
        start: &Start<()>,
        upper: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Self::Row>> {
        let (after, inclusive) = match start {
            Start::From(k) => (k, true),
            Start::AfterKey(k) | Start::Within(k, ()) => (k, false),
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, size, etag, last_modified_ms, storage_class FROM versions \
             WHERE bucket = ?1 AND is_latest = 1 AND is_delete_marker = 0 \
             AND (key > ?2 OR (?3 AND key = ?2)) AND (?4 IS NULL OR key < ?4) \
             ORDER BY key LIMIT ?5",
        )?;
        let rows = stmt
            .query_map(
                params![self.bucket, after, inclusive, upper, limit as i64],
                |r| {
                    let key: Vec<u8> = r.get(0)?;
                    let summary = ObjectSummary {
                        key: String::from_utf8_lossy(&key).into_owned(),
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                        etag: r.get(2)?,
                        last_modified_ms: r.get(3)?,
                        storage_class: r.get(4)?,
                    };
                    Ok((key, summary))
                },
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn key<'r>(&self, row: &'r Self::Row) -> &'r [u8] {
        &row.0
    }

    fn resume_after(&self, row: &Self::Row) -> Start<()> {
        Start::AfterKey(row.0.clone())
    }
}

fn list_current(conn: &Connection, bucket: &str, q: &ListQuery) -> Result<ListPage> {
    let start = Start::AfterKey(q.start_after.clone().unwrap_or_default().into_bytes());
    let mut source = CurrentObjects { conn, bucket };
    let walked = walk(
        &mut source,
        q.prefix.as_bytes(),
        q.delimiter.as_deref(),
        start,
        q.max_keys,
    )?;
    let mut page = ListPage {
        is_truncated: walked.truncated,
        ..Default::default()
    };
    for entry in walked.entries {
        match entry {
            Entry::Row((_, summary)) => {
                page.last = Some(summary.key.clone());
                page.objects.push(summary);
            }
            Entry::Prefix(cp) => {
                page.last = Some(cp.clone());
                page.common_prefixes.push(cp);
            }
        }
    }
    Ok(page)
}

/// Opens a store in `dir` with test-friendly defaults.
#[cfg(feature = "test-hooks")]
pub fn open_for_tests(dir: &std::path::Path) -> Result<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.durability = Durability::Process;
    Ok(Store::open(cfg)?.0)
}

/// Commits a client's new version of `key` (PutObject, POST Object). A missing bucket is
/// `NoSuchBucket`, found by `write_version`'s read of the bucket's versioning state.
fn commit_client_write(
    conn: &rusqlite::Connection,
    ctx: &CommitContext,
    bucket: String,
    key: String,
    body: Body,
    size: u64,
    new: NewVersion,
) -> Result<(ObjectVersion, Vec<ChunkHash>)> {
    write_version(
        conn,
        ctx,
        ChangeOrigin::Client,
        bucket,
        key,
        body,
        size,
        new,
    )
}
