//! `strata check`: an offline consistency check of a data directory, and its repair.
//!
//! What it verifies is the engine's invariants (stated in `chunks`, `meta::refs`, `meta::stats`):
//! - every chunk file holds the bytes its name hashes to, and is in the tier a row reads it from
//!   (hot while a hot row lists it, cold while an archived row does), and nothing else is there;
//! - every chunk's `refs` and `cold_refs` equal the occurrences of it in version and part rows;
//! - every version's and part's chunk list decodes and its lengths add up to the row's size, an
//!   inline body has the row's size, and each key has exactly one latest version;
//! - every bucket's statistics equal its current objects;
//! - every version, upload, part and replication queue entry belongs to something that exists;
//! - nothing is left in `tmp/` (nor in the cold tier's `.tmp/`).
//!
//! It runs on the data directory of a stopped server: it takes the directory's lock, which a
//! running server holds. With `repair`, what is wrong is moved aside, never deleted: corrupt,
//! unneeded and stray files go to `quarantine/`, a version or upload whose bytes are damaged is
//! recorded in `quarantine/versions.jsonl` / `quarantine/uploads.jsonl` and then removed as
//! DeleteObject with its version id (or AbortMultipartUpload) removes it, and counters are rewritten
//! to the counted values. A second pass then reports what is left.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;

use crate::chunks::{ChunkHash, ChunkRef, ChunkStore, Tier};
use crate::engine::Store;
use crate::error::{Error, Result};
use crate::meta::codec::{decode_chunks, version_from_row, VERSION_COLUMNS};
use crate::model::Body;
use crate::store::{DataDirLock, StoreConfig};

/// One thing `check` found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A chunk file whose bytes do not hash to its name.
    CorruptChunk { tier: Tier, hash: ChunkHash },
    /// A chunk a row reads whose file is missing from its tier.
    MissingChunk { tier: Tier, hash: ChunkHash },
    /// A chunk file no row needs in its tier (a leak).
    UnneededChunk { tier: Tier, hash: ChunkHash },
    /// A file that is not a chunk under `chunks/`, or anything in `tmp/`.
    StrayFile { path: PathBuf },
    /// A chunk's recorded reference counts (`refs`, `cold_refs`) differ from the rows.
    WrongRefCount {
        hash: ChunkHash,
        recorded: (i64, i64),
        counted: (i64, i64),
    },
    /// A version whose body cannot be read back exactly.
    DamagedVersion {
        version: VersionName,
        reason: String,
    },
    /// A part of an upload in progress whose body cannot be read back exactly.
    DamagedPart {
        upload_id: String,
        part_number: i64,
        reason: String,
    },
    /// A key whose versions do not have exactly one latest.
    WrongLatest {
        bucket: String,
        key: String,
        latest: i64,
    },
    /// A bucket's statistics (objects, bytes) differ from its current objects.
    WrongStats {
        bucket: String,
        recorded: (i64, i64),
        counted: (i64, i64),
    },
    /// A row that belongs to a bucket or upload that does not exist.
    Orphan { table: &'static str, row: String },
}

/// A version, as the report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionName {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its version id.
    pub version_id: String,
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Hot => "hot",
        Tier::Cold => "cold",
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CorruptChunk { tier, hash } => write!(
                f,
                "corrupt chunk: {} chunk {} does not hash to its name",
                tier_name(*tier),
                hash.to_hex()
            ),
            Self::MissingChunk { tier, hash } => write!(
                f,
                "missing chunk: {} chunk {} is referenced but has no file",
                tier_name(*tier),
                hash.to_hex()
            ),
            Self::UnneededChunk { tier, hash } => write!(
                f,
                "unreferenced chunk: {} chunk {} is needed by no row",
                tier_name(*tier),
                hash.to_hex()
            ),
            Self::StrayFile { path } => write!(f, "stray file: {}", path.display()),
            Self::WrongRefCount {
                hash,
                recorded,
                counted,
            } => write!(
                f,
                "wrong reference count: chunk {} records refs={} cold_refs={}, the rows hold {} and {}",
                hash.to_hex(),
                recorded.0,
                recorded.1,
                counted.0,
                counted.1
            ),
            Self::DamagedVersion { version, reason } => write!(
                f,
                "damaged version: {}/{} version {}: {reason}",
                version.bucket, version.key, version.version_id
            ),
            Self::DamagedPart {
                upload_id,
                part_number,
                reason,
            } => write!(
                f,
                "damaged part: upload {upload_id} part {part_number}: {reason}"
            ),
            Self::WrongLatest {
                bucket,
                key,
                latest,
            } => write!(
                f,
                "wrong latest flag: {bucket}/{key} has {latest} latest versions"
            ),
            Self::WrongStats {
                bucket,
                recorded,
                counted,
            } => write!(
                f,
                "wrong statistics: bucket {bucket} records {} objects / {} bytes, it holds {} / {}",
                recorded.0, recorded.1, counted.0, counted.1
            ),
            Self::Orphan { table, row } => write!(f, "orphan row in {table}: {row}"),
        }
    }
}

/// What `check` looked at and found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Chunk files read and hashed.
    pub chunk_files: u64,
    /// Their bytes.
    pub chunk_bytes: u64,
    /// Version rows checked.
    pub versions: u64,
    /// Part rows checked.
    pub parts: u64,
    /// What is wrong (after a repair: what is still wrong).
    pub problems: Vec<Problem>,
    /// What a repair did, one line each.
    pub repaired: Vec<String>,
}

/// Where `check` looks.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The data directory of a stopped server.
    pub data_dir: PathBuf,
    /// Its cold tier, when not `DATA/chunks/cold`.
    pub cold_dir: Option<PathBuf>,
    /// Move what is wrong aside and rewrite the counters.
    pub repair: bool,
}

/// What a chunk's users need of it.
#[derive(Default)]
struct Needs {
    len: u64,
    refs: i64,
    cold_refs: i64,
    /// The rows that read it, and from which tier.
    users: Vec<(User, Tier)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum User {
    Version(i64),
    Part(String, i64),
}

/// Checks the data directory; with `repair`, repairs it and checks it again.
pub fn check(opts: &CheckOptions) -> Result<CheckReport> {
    if !opts.data_dir.join("meta.db").is_file() {
        return Err(Error::Invalid(format!(
            "{} is not a Strata data directory (no meta.db)",
            opts.data_dir.display()
        )));
    }
    let first = {
        let _lock = DataDirLock::acquire(&opts.data_dir)?;
        Pass::run(opts)?
    };
    if !opts.repair || first.report.problems.is_empty() {
        return Ok(first.report);
    }
    let repaired = first.repair(opts)?;
    let _lock = DataDirLock::acquire(&opts.data_dir)?;
    let mut second = Pass::run(opts)?.report;
    second.repaired = repaired;
    Ok(second)
}

/// One pass over the directory: the report and what a repair needs to know.
struct Pass {
    report: CheckReport,
    /// Counted references per chunk.
    needs: HashMap<ChunkHash, Needs>,
    /// The names of the versions with chunks, by row id.
    names: HashMap<i64, VersionName>,
    /// The (bucket, key) of each upload with parts.
    owners: HashMap<String, (String, String)>,
    /// Damaged versions by row id.
    damaged_versions: BTreeMap<i64, VersionName>,
    /// Uploads with a damaged part: (bucket, key) by upload id.
    damaged_uploads: BTreeMap<String, (String, String)>,
}

impl Pass {
    fn run(opts: &CheckOptions) -> Result<Pass> {
        let conn = Connection::open_with_flags(
            opts.data_dir.join("meta.db"),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let chunks = ChunkStore::open(&opts.data_dir, opts.cold_dir.as_deref(), false)?;
        let mut pass = Pass {
            report: CheckReport::default(),
            needs: HashMap::new(),
            names: HashMap::new(),
            owners: HashMap::new(),
            damaged_versions: BTreeMap::new(),
            damaged_uploads: BTreeMap::new(),
        };
        pass.versions(&conn)?;
        pass.parts(&conn)?;
        pass.ref_counts(&conn)?;
        pass.files(&chunks)?;
        pass.latest_and_stats(&conn)?;
        pass.orphans(&conn)?;
        Ok(pass)
    }

    fn damaged_version(&mut self, id: i64, version: VersionName, reason: String) {
        self.damaged_versions.insert(id, version.clone());
        self.report
            .problems
            .push(Problem::DamagedVersion { version, reason });
    }

    fn versions(&mut self, conn: &Connection) -> Result<()> {
        let mut stmt = conn.prepare(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions ORDER BY id"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            self.report.versions += 1;
            let id: i64 = row.get(0)?;
            let name = VersionName {
                bucket: row.get(1)?,
                key: String::from_utf8_lossy(&row.get::<_, Vec<u8>>(2)?).into_owned(),
                version_id: row.get(3)?,
            };
            let v = match version_from_row(row) {
                Ok(v) => v,
                Err(e) => {
                    self.damaged_version(id, name, format!("the row does not decode ({e})"));
                    continue;
                }
            };
            let tier = if v.archived { Tier::Cold } else { Tier::Hot };
            match &v.body {
                Body::Inline(data) if data.len() as u64 != v.size => {
                    let reason = format!("inline body of {} bytes, size {}", data.len(), v.size);
                    self.damaged_version(id, name, reason);
                }
                Body::Inline(_) => {}
                Body::Chunks(list) => {
                    let total: u64 = list.iter().map(|c| c.len).sum();
                    if total != v.size {
                        let reason = format!("chunks of {total} bytes, size {}", v.size);
                        self.damaged_version(id, name.clone(), reason);
                    }
                    self.names.insert(id, name);
                    self.count(list, User::Version(id), tier);
                }
            }
        }
        Ok(())
    }

    fn count(&mut self, list: &[ChunkRef], user: User, tier: Tier) {
        for c in list {
            let n = self.needs.entry(c.hash).or_default();
            n.len = c.len;
            n.refs += 1;
            if tier == Tier::Cold {
                n.cold_refs += 1;
            }
            n.users.push((user.clone(), tier));
        }
    }

    fn parts(&mut self, conn: &Connection) -> Result<()> {
        let mut stmt = conn.prepare(
            "SELECT p.upload_id, p.part_number, p.size, p.chunks, u.bucket, u.key \
             FROM parts p LEFT JOIN uploads u ON u.upload_id = p.upload_id \
             ORDER BY p.upload_id, p.part_number",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            self.report.parts += 1;
            let upload_id: String = row.get(0)?;
            let part_number: i64 = row.get(1)?;
            let size: i64 = row.get(2)?;
            let blob: Vec<u8> = row.get(3)?;
            let owner: Option<(String, String)> = match row.get::<_, Option<String>>(4)? {
                Some(b) => Some((
                    b,
                    String::from_utf8_lossy(&row.get::<_, Vec<u8>>(5)?).into(),
                )),
                None => None,
            };
            if let Some(owner) = &owner {
                self.owners.insert(upload_id.clone(), owner.clone());
            }
            let reason = match decode_chunks(&blob) {
                Ok(list) => {
                    let total: u64 = list.iter().map(|c| c.len).sum();
                    self.count(&list, User::Part(upload_id.clone(), part_number), Tier::Hot);
                    (total != size as u64).then(|| format!("chunks of {total} bytes, size {size}"))
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(reason) = reason {
                self.report.problems.push(Problem::DamagedPart {
                    upload_id: upload_id.clone(),
                    part_number,
                    reason,
                });
                if let Some(owner) = owner {
                    self.damaged_uploads.insert(upload_id, owner);
                }
            }
        }
        Ok(())
    }

    fn ref_counts(&mut self, conn: &Connection) -> Result<()> {
        let mut recorded: HashMap<ChunkHash, (i64, i64)> = HashMap::new();
        let mut stmt = conn.prepare("SELECT hash, refs, cold_refs FROM chunks")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let blob: Vec<u8> = row.get(0)?;
            let Ok(hash) = <[u8; 32]>::try_from(blob.as_slice()) else {
                self.report.problems.push(Problem::Orphan {
                    table: "chunks",
                    row: format!("hash of {} bytes", blob.len()),
                });
                continue;
            };
            recorded.insert(ChunkHash(hash), (row.get(1)?, row.get(2)?));
        }
        let mut hashes: Vec<&ChunkHash> = recorded.keys().chain(self.needs.keys()).collect();
        hashes.sort();
        hashes.dedup();
        for hash in hashes {
            let r = recorded.get(hash).copied().unwrap_or((0, 0));
            let c = self
                .needs
                .get(hash)
                .map(|n| (n.refs, n.cold_refs))
                .unwrap_or((0, 0));
            if r != c {
                self.report.problems.push(Problem::WrongRefCount {
                    hash: *hash,
                    recorded: r,
                    counted: c,
                });
            }
        }
        Ok(())
    }

    fn files(&mut self, chunks: &ChunkStore) -> Result<()> {
        for tier in [Tier::Hot, Tier::Cold] {
            let (hashes, stray) = chunks.scan(tier)?;
            for path in stray {
                self.report.problems.push(Problem::StrayFile { path });
            }
            let mut present = std::collections::HashSet::new();
            for hash in hashes {
                let path = chunks.path(tier, &hash);
                let mut hasher = blake3::Hasher::new();
                hasher.update_reader(File::open(&path)?)?;
                self.report.chunk_files += 1;
                self.report.chunk_bytes += hasher.count();
                let needed = self.needs.get(&hash).is_some_and(|n| match tier {
                    Tier::Hot => n.refs > n.cold_refs,
                    Tier::Cold => n.cold_refs > 0,
                });
                if ChunkHash(*hasher.finalize().as_bytes()) != hash {
                    self.report
                        .problems
                        .push(Problem::CorruptChunk { tier, hash });
                    self.lost(tier, &hash, "a chunk is corrupt");
                } else if needed {
                    present.insert(hash);
                } else {
                    self.report
                        .problems
                        .push(Problem::UnneededChunk { tier, hash });
                }
            }
            let mut missing: Vec<ChunkHash> = self
                .needs
                .iter()
                .filter(|(h, n)| !present.contains(*h) && n.users.iter().any(|(_, t)| *t == tier))
                .map(|(h, _)| *h)
                .collect();
            missing.sort();
            for hash in missing {
                if !self
                    .report
                    .problems
                    .contains(&Problem::CorruptChunk { tier, hash })
                {
                    self.report
                        .problems
                        .push(Problem::MissingChunk { tier, hash });
                    self.lost(tier, &hash, "a chunk is missing");
                }
            }
        }
        for dir in chunks.tmp_dirs() {
            for entry in fs::read_dir(dir)? {
                self.report.problems.push(Problem::StrayFile {
                    path: entry?.path(),
                });
            }
        }
        Ok(())
    }

    /// Marks the rows that read `hash` from `tier` as damaged.
    fn lost(&mut self, tier: Tier, hash: &ChunkHash, why: &str) {
        let users: Vec<User> = match self.needs.get(hash) {
            Some(n) => n
                .users
                .iter()
                .filter(|(_, t)| *t == tier)
                .map(|(u, _)| u.clone())
                .collect(),
            None => return,
        };
        let reason = format!("{why} ({} chunk {})", tier_name(tier), hash.to_hex());
        for user in users {
            match user {
                User::Version(id) => {
                    if !self.damaged_versions.contains_key(&id) {
                        if let Some(version) = self.names.get(&id).cloned() {
                            self.damaged_version(id, version, reason.clone());
                        }
                    }
                }
                User::Part(upload_id, part_number) => {
                    self.report.problems.push(Problem::DamagedPart {
                        upload_id: upload_id.clone(),
                        part_number,
                        reason: reason.clone(),
                    });
                    if let Some(owner) = self.owners.get(&upload_id).cloned() {
                        self.damaged_uploads.insert(upload_id, owner);
                    }
                }
            }
        }
    }

    fn latest_and_stats(&mut self, conn: &Connection) -> Result<()> {
        let mut stmt = conn.prepare(
            "SELECT bucket, key, SUM(is_latest) FROM versions GROUP BY bucket, key \
             HAVING SUM(is_latest) != 1",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            self.report.problems.push(Problem::WrongLatest {
                bucket: row.get(0)?,
                key: String::from_utf8_lossy(&row.get::<_, Vec<u8>>(1)?).into_owned(),
                latest: row.get(2)?,
            });
        }
        let mut stmt = conn.prepare(concat!(
            "SELECT b.name, COALESCE(s.objects, 0), COALESCE(s.bytes, 0), ",
            counted_stats!(),
            " FROM buckets b LEFT JOIN stats s ON s.bucket = b.name ORDER BY b.name"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let recorded: (i64, i64) = (row.get(1)?, row.get(2)?);
            let counted: (i64, i64) = (row.get(3)?, row.get(4)?);
            if recorded != counted {
                self.report.problems.push(Problem::WrongStats {
                    bucket: row.get(0)?,
                    recorded,
                    counted,
                });
            }
        }
        Ok(())
    }

    fn orphans(&mut self, conn: &Connection) -> Result<()> {
        for o in ORPHANS {
            let mut stmt = conn.prepare(&format!(
                "SELECT {} FROM {} WHERE {}",
                o.describe, o.table, o.condition
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                self.report.problems.push(Problem::Orphan {
                    table: o.table,
                    row: row.get(0)?,
                });
            }
        }
        Ok(())
    }

    /// Moves what is wrong aside and rewrites the counters; returns what it did.
    fn repair(self, opts: &CheckOptions) -> Result<Vec<String>> {
        let mut done = Vec::new();
        let quarantine = opts.data_dir.join("quarantine");
        crate::chunks::private_dir_all(&quarantine)?;
        {
            let _lock = DataDirLock::acquire(&opts.data_dir)?;
            let chunks = ChunkStore::open(&opts.data_dir, opts.cold_dir.as_deref(), false)?;
            for p in &self.report.problems {
                let (from, name) = match p {
                    Problem::CorruptChunk { tier, hash }
                    | Problem::UnneededChunk { tier, hash } => (
                        chunks.path(*tier, hash),
                        format!("{}-{}", tier_name(*tier), hash.to_hex()),
                    ),
                    Problem::StrayFile { path } => (
                        path.clone(),
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "stray".into()),
                    ),
                    _ => continue,
                };
                let to = unused_name(&quarantine, &name);
                fs::rename(&from, &to)?;
                done.push(format!("moved {} to {}", from.display(), to.display()));
            }
            let mut conn = Connection::open(opts.data_dir.join("meta.db"))?;
            let tx = conn.transaction()?;
            for o in ORPHANS {
                let sql = format!("DELETE FROM {} WHERE {}", o.table, o.condition);
                let n = tx.execute(&sql, [])?;
                if n > 0 {
                    done.push(format!("deleted {n} orphan rows of {}", o.table));
                }
            }
            tx.commit()?;
        }
        // Recount after the orphan rows went, then write the counts.
        let recount = {
            let _lock = DataDirLock::acquire(&opts.data_dir)?;
            Pass::run(opts)?
        };
        {
            let _lock = DataDirLock::acquire(&opts.data_dir)?;
            let mut conn = Connection::open(opts.data_dir.join("meta.db"))?;
            let tx = conn.transaction()?;
            for p in &recount.report.problems {
                match p {
                    Problem::WrongRefCount { hash, counted, .. } => {
                        if counted.0 == 0 {
                            tx.execute("DELETE FROM chunks WHERE hash = ?1", [&hash.0[..]])?;
                        } else {
                            let size = recount.chunk_size(hash);
                            tx.execute(
                                "INSERT INTO chunks(hash, size, refs, cold_refs) \
                                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(hash) DO UPDATE \
                                 SET refs = ?3, cold_refs = ?4",
                                params![&hash.0[..], size, counted.0, counted.1],
                            )?;
                        }
                        done.push(format!(
                            "set the reference counts of chunk {} to {} and {}",
                            hash.to_hex(),
                            counted.0,
                            counted.1
                        ));
                    }
                    Problem::WrongLatest { bucket, key, .. } => {
                        tx.execute(
                            "UPDATE versions SET is_latest = (id = (SELECT MAX(id) FROM versions \
                             WHERE bucket = ?1 AND key = ?2)) WHERE bucket = ?1 AND key = ?2",
                            params![bucket, key.as_bytes()],
                        )?;
                        done.push(format!("made the newest version of {bucket}/{key} latest"));
                    }
                    _ => {}
                }
            }
            tx.commit()?;
        }
        // Damaged versions and uploads are removed through the engine, which keeps the latest
        // flag, the statistics, the references and the change feed right.
        let mut lines = Vec::new();
        let mut uploads = Vec::new();
        if !recount.damaged_versions.is_empty() || !recount.damaged_uploads.is_empty() {
            let mut config = StoreConfig::new(&opts.data_dir);
            config.cold_dir = opts.cold_dir.clone();
            let (store, _) = Store::open(config)?;
            for v in recount.damaged_versions.values() {
                match store.delete_object(&v.bucket, &v.key, Some(&v.version_id)) {
                    Ok(_) | Err(Error::NoSuchKey(_)) => {}
                    // A repair does not break Object Lock: the version is reported and kept.
                    Err(Error::ObjectLocked(why)) => {
                        done.push(format!(
                            "kept damaged version {}/{} {}: it is under Object Lock ({why})",
                            v.bucket, v.key, v.version_id
                        ));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                lines.push(serde_json::to_string(v).map_err(|e| Error::Invalid(e.to_string()))?);
                done.push(format!(
                    "removed damaged version {}/{} {}",
                    v.bucket, v.key, v.version_id
                ));
            }
            for (upload_id, (bucket, key)) in &recount.damaged_uploads {
                uploads.push(
                    serde_json::json!({"bucket": bucket, "key": key, "upload_id": upload_id})
                        .to_string(),
                );
                match store.abort_upload(bucket, key, upload_id) {
                    Ok(()) | Err(Error::NoSuchUpload(_)) | Err(Error::NoSuchBucket(_)) => {}
                    Err(e) => return Err(e),
                }
                done.push(format!("aborted upload {upload_id} with a damaged part"));
            }
            store.sync()?;
            drop(store);
        }
        append_lines(&quarantine.join("versions.jsonl"), &lines)?;
        append_lines(&quarantine.join("uploads.jsonl"), &uploads)?;
        // Statistics last: the removals above adjusted them from the recorded values.
        {
            let _lock = DataDirLock::acquire(&opts.data_dir)?;
            let conn = Connection::open(opts.data_dir.join("meta.db"))?;
            let n = conn.execute(
                concat!(
                    "INSERT OR REPLACE INTO stats(bucket, objects, bytes) SELECT b.name, ",
                    counted_stats!(),
                    " FROM buckets b"
                ),
                [],
            )?;
            if recount
                .report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::WrongStats { .. }))
            {
                done.push(format!("recounted the statistics of {n} buckets"));
            }
        }
        Ok(done)
    }

    /// A chunk's length, as its users record it.
    fn chunk_size(&self, hash: &ChunkHash) -> i64 {
        self.needs.get(hash).map_or(0, |n| n.len as i64)
    }
}

/// A bucket's current objects and their bytes, as its statistics must record them: the two
/// columns, for a query over `buckets b`.
macro_rules! counted_stats {
    () => {
        "(SELECT COUNT(*) FROM versions v WHERE v.bucket = b.name AND v.is_latest = 1 \
           AND v.is_delete_marker = 0), \
         (SELECT COALESCE(SUM(size), 0) FROM versions v WHERE v.bucket = b.name \
           AND v.is_latest = 1 AND v.is_delete_marker = 0)"
    };
}
use counted_stats;

/// Rows whose owner is gone: which table, how a row is named in the report, and the condition.
struct Orphans {
    table: &'static str,
    describe: &'static str,
    condition: &'static str,
}

const ORPHANS: [Orphans; 4] = [
    Orphans {
        table: "versions",
        describe: "bucket || '/' || CAST(key AS TEXT) || ' ' || version_id",
        condition: "bucket NOT IN (SELECT name FROM buckets)",
    },
    Orphans {
        table: "uploads",
        describe: "bucket || '/' || CAST(key AS TEXT) || ' upload ' || upload_id",
        condition: "bucket NOT IN (SELECT name FROM buckets)",
    },
    Orphans {
        table: "parts",
        describe: "upload_id || ' part ' || part_number",
        condition: "upload_id NOT IN (SELECT upload_id FROM uploads)",
    },
    Orphans {
        table: "replication_queue",
        describe:
            "bucket || '/' || CAST(key AS TEXT) || ' ' || version_id || ' to ' || destination",
        condition: "bucket NOT IN (SELECT name FROM buckets)",
    },
];

/// `dir/name`, or `dir/name.N` for the first N not taken.
fn unused_name(dir: &Path, name: &str) -> PathBuf {
    let mut path = dir.join(name);
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    path
}

fn append_lines(path: &Path, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    Ok(())
}
