//! Multipart uploads: an upload row, part rows that hold chunk references, and completion as one
//! metadata commit that concatenates the parts' chunk lists (no byte is copied).
//!
//! Invariant: a part's chunks are referenced by its part row until the upload is completed (the
//! version row takes the references of the parts it uses, the rest are dropped) or aborted (all are
//! dropped). A part uploaded twice keeps the last; the previous one's references are dropped.

use rusqlite::{params, Connection, OptionalExtension};

use crate::chunks::{encode_chunk_list, ChunkHash, ChunkRef};
use crate::engine::{StagedBody, Store};
use crate::error::{Error, Result};
use crate::meta::codec::{decode_chunks, decode_meta, encode_meta, now_ms};
use crate::meta::feed::ChangeOrigin;
use crate::meta::refs::{add_chunk_refs, drop_chunk_refs};
use crate::meta::versions::{bucket_exists, load_version};
use crate::meta::walk::{walk, Entry, KeySource, Start};
use crate::model::{Body, NewVersion, ObjectMeta, ObjectVersion, StoredChecksum};
use crate::names::{ChecksumAlgorithm, ChecksumType, StorageClass};
use crate::versioning::write_version;

/// How long a completed upload's answer is remembered, so that a CompleteMultipartUpload retried
/// after it succeeded (the client timed out waiting for the first answer) gets the same answer.
pub const COMPLETED_UPLOAD_RETAIN_MS: i64 = 24 * 3_600_000;

/// What a completed upload answered, as `Store::completed_upload` remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedUpload {
    /// The version the completion committed.
    pub version_id: String,
    /// The object's ETag, without quotes.
    pub etag: String,
    /// The object's checksum, if it had one.
    pub checksum: Option<StoredChecksum>,
}

/// An upload in progress.
#[derive(Clone, Debug)]
pub struct UploadInfo {
    /// Upload id.
    pub upload_id: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// When it was created, ms since the epoch.
    pub initiated_ms: i64,
    /// Storage class the object will have.
    pub storage_class: StorageClass,
    /// Metadata the object will have.
    pub meta: ObjectMeta,
    /// Checksum algorithm the client chose at creation, if any.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// Composite or whole object, when an algorithm was chosen.
    pub checksum_type: Option<ChecksumType>,
}

/// A stored part.
#[derive(Clone, Debug)]
pub struct PartInfo {
    /// Part number (1..=10000).
    pub part_number: u32,
    /// Size in bytes.
    pub size: u64,
    /// ETag (MD5 hex), without quotes.
    pub etag: String,
    /// Upload time, ms since the epoch.
    pub last_modified_ms: i64,
    /// The part's checksum (base64), if one was computed.
    pub checksum: Option<String>,
}

/// A part being stored: its number and what the caller computed over its bytes.
#[derive(Clone, Debug)]
pub struct NewPart {
    /// Part number (1..=10000).
    pub part_number: u32,
    /// ETag (MD5 hex), without quotes.
    pub etag: String,
    /// The part's checksum (base64), if one was computed.
    pub checksum: Option<String>,
}

/// A page of uploads.
#[derive(Clone, Debug, Default)]
pub struct UploadPage {
    /// Uploads in (key, initiation) order.
    pub uploads: Vec<UploadInfo>,
    /// Common prefixes when a delimiter was given.
    pub common_prefixes: Vec<String>,
    /// Whether more follow.
    pub is_truncated: bool,
}

/// Why a completion was refused (S3's rules are checked by the caller; these are the ones that
/// must be checked inside the commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompleteProblem {
    /// A listed part does not exist or its ETag differs.
    InvalidPart(u32),
}

fn upload_from_row(row: &rusqlite::Row<'_>) -> Result<UploadInfo> {
    let key: Vec<u8> = row.get(2)?;
    let meta: String = row.get(5)?;
    Ok(UploadInfo {
        upload_id: row.get(0)?,
        bucket: row.get(1)?,
        key: String::from_utf8_lossy(&key).into_owned(),
        initiated_ms: row.get(3)?,
        storage_class: row.get(4)?,
        meta: decode_meta(&meta)?,
        checksum_algorithm: row.get(6)?,
        checksum_type: row.get(7)?,
    })
}

const UPLOAD_COLUMNS: &str =
    "upload_id, bucket, key, initiated_ms, storage_class, meta, checksum_algorithm, checksum_type";

fn load_upload(conn: &Connection, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
    conn.prepare_cached(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3"
    ))?
    .query_and_then(params![upload_id, bucket, key.as_bytes()], upload_from_row)?
    .next()
    .unwrap_or_else(|| Err(Error::NoSuchUpload(upload_id.to_owned())))
}

fn part_chunks(conn: &Connection, upload_id: &str) -> Result<Vec<(u32, Vec<ChunkRef>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT part_number, chunks FROM parts WHERE upload_id = ?1")?;
    let rows = stmt.query_map([upload_id], |r| {
        Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (n, blob) = row?;
        let list = decode_chunks(&blob)?;
        out.push((n, list));
    }
    Ok(out)
}

fn new_upload_id() -> String {
    let a: u128 = rand::random();
    format!("{a:032x}")
}

impl Store {
    /// Starts a multipart upload.
    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        storage_class: StorageClass,
        meta: ObjectMeta,
        checksum: Option<(ChecksumAlgorithm, ChecksumType)>,
    ) -> Result<UploadInfo> {
        let info = UploadInfo {
            upload_id: new_upload_id(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiated_ms: now_ms(),
            storage_class,
            meta,
            checksum_algorithm: checksum.map(|c| c.0),
            checksum_type: checksum.map(|c| c.1),
        };
        let row = info.clone();
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &row.bucket)? {
                return Err(Error::NoSuchBucket(row.bucket));
            }
            let meta = encode_meta(&row.meta)?;
            conn.execute(
                &format!(
                    "INSERT INTO uploads({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    row.upload_id,
                    row.bucket,
                    row.key.as_bytes(),
                    row.initiated_ms,
                    row.storage_class,
                    meta,
                    row.checksum_algorithm,
                    row.checksum_type
                ],
            )?;
            Ok(((), Vec::new()))
        })?;
        Ok(info)
    }

    /// An upload's details.
    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        self.inner.readers.with(|conn| {
            if !bucket_exists(conn, bucket)? {
                return Err(Error::NoSuchBucket(bucket.to_owned()));
            }
            load_upload(conn, bucket, key, upload_id)
        })
    }

    /// Stores a part (staged with `body_writer().always_chunked()`), replacing an earlier part with
    /// the same number.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        mut staged: StagedBody,
        new: NewPart,
    ) -> Result<PartInfo> {
        let NewPart {
            part_number,
            etag,
            checksum,
        } = new;
        let list = match std::mem::replace(&mut staged.body, Body::Inline(Vec::new())) {
            Body::Chunks(list) => list,
            Body::Inline(data) if data.is_empty() => Vec::new(),
            Body::Inline(_) => return Err(Error::Invalid("parts must be staged as chunks".into())),
        };
        let size = staged.size;
        let new_chunks = std::mem::take(&mut staged.new_chunks);
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        let part = PartInfo {
            part_number,
            size,
            etag,
            last_modified_ms: now_ms(),
            checksum,
        };
        let row = part.clone();
        let result = self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &b)? {
                return Err(Error::NoSuchBucket(b));
            }
            load_upload(conn, &b, &k, &u)?;
            let mut freed = Vec::new();
            let old: Option<Vec<u8>> = conn
                .prepare_cached("SELECT chunks FROM parts WHERE upload_id = ?1 AND part_number = ?2")?
                .query_row(params![u, row.part_number], |r| r.get(0))
                .optional()?;
            if let Some(old) = old.as_deref() {
                freed.extend(drop_chunk_refs(conn, &decode_chunks(old)?)?);
            }
            add_chunk_refs(conn, &list)?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO parts(upload_id, part_number, size, etag, last_modified_ms, checksum, chunks) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                u,
                row.part_number,
                row.size as i64,
                row.etag,
                row.last_modified_ms,
                row.checksum,
                encode_chunk_list(&list)
            ])?;
            Ok(((), freed))
        });
        drop(staged);
        if result.is_err() {
            self.discard_chunks(new_chunks);
        }
        result.map(|()| part)
    }

    /// The parts of an upload in part-number order, after `marker`, at most `max`; and whether
    /// more follow.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max: usize,
    ) -> Result<(UploadInfo, Vec<PartInfo>, bool)> {
        self.inner.readers.with(|conn| {
            if !bucket_exists(conn, bucket)? {
                return Err(Error::NoSuchBucket(bucket.to_owned()));
            }
            let upload = load_upload(conn, bucket, key, upload_id)?;
            let mut stmt = conn.prepare_cached(
                "SELECT part_number, size, etag, last_modified_ms, checksum FROM parts \
                 WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
            )?;
            let mut parts = stmt
                .query_map(params![upload_id, marker, max as i64 + 1], |r| {
                    Ok(PartInfo {
                        part_number: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                        etag: r.get(2)?,
                        last_modified_ms: r.get(3)?,
                        checksum: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let truncated = parts.len() > max;
            parts.truncate(max);
            Ok((upload, parts, truncated))
        })
    }

    /// Completes an upload: the listed parts, in order, become the key's new current version in
    /// one commit. Each listed part must still exist with the given ETag; parts not listed are
    /// dropped. `new` carries the final ETag, metadata and storage class.
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
        new: NewVersion,
    ) -> Result<std::result::Result<ObjectVersion, CompleteProblem>> {
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &b)? {
                return Err(Error::NoSuchBucket(b));
            }
            load_upload(conn, &b, &k, &u)?;
            let stored: std::collections::HashMap<u32, (String, Vec<ChunkRef>)> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT part_number, etag, chunks FROM parts WHERE upload_id = ?1",
                )?;
                let rows = stmt.query_map([&u], |r| {
                    Ok((
                        r.get::<_, u32>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })?;
                let mut map = std::collections::HashMap::new();
                for row in rows {
                    let (n, etag, blob) = row?;
                    let list = decode_chunks(&blob)?;
                    map.insert(n, (etag, list));
                }
                map
            };
            let mut chunks = Vec::new();
            let mut size = 0u64;
            let mut part_sizes = Vec::with_capacity(parts.len());
            for (n, etag) in &parts {
                match stored.get(n) {
                    Some((stored_etag, list)) if stored_etag == etag => {
                        let part_size: u64 = list.iter().map(|c| c.len).sum();
                        size += part_size;
                        part_sizes.push(part_size);
                        chunks.extend_from_slice(list);
                    }
                    _ => return Ok((Err(CompleteProblem::InvalidPart(*n)), Vec::new())),
                }
            }
            let mut new = new;
            new.meta.part_sizes = part_sizes;
            let (version, mut freed) = write_version(
                conn,
                &ctx,
                ChangeOrigin::Client,
                b,
                k,
                Body::Chunks(chunks),
                size,
                new,
            )?;
            freed.extend(remove_upload_rows(conn, &u)?);
            remember_completion(conn, &u, &version)?;
            Ok((Ok(version), freed))
        })
    }

    /// The answer a completed upload gave, while it is remembered
    /// (`COMPLETED_UPLOAD_RETAIN_MS`), if `upload_id` was completed as `bucket/key`.
    pub fn completed_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<CompletedUpload>> {
        self.inner.readers.with(|conn| {
            let row = conn
                .prepare_cached(
                    "SELECT version_id, etag, checksum FROM completed_uploads \
                     WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3 AND completed_ms >= ?4",
                )?
                .query_row(
                    params![
                        upload_id,
                        bucket,
                        key.as_bytes(),
                        now_ms() - COMPLETED_UPLOAD_RETAIN_MS
                    ],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    },
                )
                .optional()?;
            let Some((version_id, etag, checksum)) = row else {
                return Ok(None);
            };
            let checksum = checksum.as_deref().map(decode_meta).transpose()?;
            Ok(Some(CompletedUpload {
                version_id,
                etag,
                checksum,
            }))
        })
    }

    /// Aborts an upload, dropping its parts.
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &b)? {
                return Err(Error::NoSuchBucket(b));
            }
            load_upload(conn, &b, &k, &u)?;
            let freed = remove_upload_rows(conn, &u)?;
            Ok(((), freed))
        })
    }

    /// Uploads in progress in a bucket, ordered by key then initiation, after the markers.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> Result<UploadPage> {
        self.inner.readers.with(|conn| {
            if !bucket_exists(conn, bucket)? {
                return Err(Error::NoSuchBucket(bucket.to_owned()));
            }
            let start = match key_marker.filter(|k| !k.is_empty()) {
                None => Start::From(prefix.as_bytes().to_vec()),
                Some(km) => {
                    // An upload id marker resumes after that upload of the key.
                    let at: Option<i64> = match upload_id_marker {
                        Some(um) => conn
                            .prepare_cached(
                                "SELECT initiated_ms FROM uploads \
                                 WHERE bucket = ?1 AND key = ?2 AND upload_id = ?3",
                            )?
                            .query_row(params![bucket, km.as_bytes(), um], |r| r.get(0))
                            .optional()?,
                        None => None,
                    };
                    match (at, upload_id_marker) {
                        (Some(ms), Some(um)) => {
                            Start::Within(km.as_bytes().to_vec(), (ms, um.to_owned()))
                        }
                        _ => Start::AfterKey(km.as_bytes().to_vec()),
                    }
                }
            };
            let mut source = Uploads { conn, bucket };
            let walked = walk(&mut source, prefix.as_bytes(), delimiter, start, max)?;
            let mut page = UploadPage {
                is_truncated: walked.truncated,
                ..Default::default()
            };
            for entry in walked.entries {
                match entry {
                    Entry::Row(up) => page.uploads.push(up),
                    Entry::Prefix(cp) => page.common_prefixes.push(cp),
                }
            }
            Ok(page)
        })
    }

    /// Whether a bucket has uploads in progress.
    pub(crate) fn has_uploads(conn: &Connection, bucket: &str) -> Result<bool> {
        Ok(conn
            .prepare_cached("SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1")?
            .exists([bucket])?)
    }
}

/// A bucket's uploads in (key, initiation, id) order, for the key walker: paged in SQL.
struct Uploads<'c> {
    conn: &'c Connection,
    bucket: &'c str,
}

impl KeySource for Uploads<'_> {
    type Row = UploadInfo;
    type Pos = (i64, String);

    fn fetch(
        &mut self,
        start: &Start<(i64, String)>,
        upper: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<UploadInfo>> {
        // mode 0: from the key; 1: after the key; 2: after (initiated, upload id) within it.
        let (key, mode, at, id) = match start {
            Start::From(k) => (k, 0, 0, ""),
            Start::AfterKey(k) => (k, 1, 0, ""),
            Start::Within(k, (ms, id)) => (k, 2, *ms, id.as_str()),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ?1 \
             AND (key > ?2 OR (key = ?2 AND (?3 = 0 OR (?3 = 2 AND \
             (initiated_ms > ?4 OR (initiated_ms = ?4 AND upload_id > ?5)))))) \
             AND (?6 IS NULL OR key < ?6) \
             ORDER BY key, initiated_ms, upload_id LIMIT ?7"
        ))?;
        let rows = stmt
            .query_and_then(
                params![self.bucket, key, mode, at, id, upper, limit as i64],
                upload_from_row,
            )?
            .collect::<Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn key<'r>(&self, row: &'r UploadInfo) -> &'r [u8] {
        row.key.as_bytes()
    }

    fn resume_after(&self, row: &UploadInfo) -> Start<(i64, String)> {
        Start::Within(
            row.key.as_bytes().to_vec(),
            (row.initiated_ms, row.upload_id.clone()),
        )
    }
}

/// Deletes an upload's rows and drops its parts' references; returns freed chunks.
/// Records what completing `upload_id` answered, and forgets completions older than
/// `COMPLETED_UPLOAD_RETAIN_MS`.
fn remember_completion(conn: &Connection, upload_id: &str, v: &ObjectVersion) -> Result<()> {
    let now = now_ms();
    let checksum = v.meta.checksum.as_ref().map(encode_meta).transpose()?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO completed_uploads(upload_id, bucket, key, version_id, etag, \
         checksum, completed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        upload_id,
        v.bucket,
        v.key.as_bytes(),
        v.version_id,
        v.etag,
        checksum,
        now
    ])?;
    conn.prepare_cached("DELETE FROM completed_uploads WHERE completed_ms < ?1")?
        .execute([now - COMPLETED_UPLOAD_RETAIN_MS])?;
    Ok(())
}

fn remove_upload_rows(conn: &Connection, upload_id: &str) -> Result<Vec<ChunkHash>> {
    let mut freed = Vec::new();
    for (_, list) in part_chunks(conn, upload_id)? {
        freed.extend(drop_chunk_refs(conn, &list)?);
    }
    conn.execute("DELETE FROM parts WHERE upload_id = ?1", [upload_id])?;
    conn.execute("DELETE FROM uploads WHERE upload_id = ?1", [upload_id])?;
    Ok(freed)
}

/// The source of a copy, and the condition it must still meet when the copy commits.
#[derive(Clone, Debug)]
pub struct CopySource {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Source version (None: the current one).
    pub version_id: Option<String>,
    /// The ETag the caller checked its conditions against; the copy fails with
    /// `PreconditionFailed` if the source changed since.
    pub expected_etag: Option<String>,
}

impl Store {
    /// Copies a version as a metadata operation: the destination references the source's chunks
    /// (or copies its inline bytes); no chunk is written. `make` builds the new version's
    /// description from the source version.
    pub fn copy_object(
        &self,
        src: CopySource,
        dst_bucket: &str,
        dst_key: &str,
        make: impl FnOnce(&ObjectVersion) -> NewVersion + Send + 'static,
    ) -> Result<(ObjectVersion, ObjectVersion)> {
        let (b, k) = (dst_bucket.to_owned(), dst_key.to_owned());
        let ctx = self.ctx();
        self.inner.writer.write(move |conn| {
            if !bucket_exists(conn, &src.bucket)? {
                return Err(Error::NoSuchBucket(src.bucket));
            }
            if !bucket_exists(conn, &b)? {
                return Err(Error::NoSuchBucket(b));
            }
            let source = load_version(conn, &src.bucket, &src.key, src.version_id.as_deref())?
                .filter(|v| !v.is_delete_marker)
                .ok_or_else(|| Error::NoSuchKey(src.key.clone()))?;
            if let Some(expected) = &src.expected_etag {
                if &source.etag != expected {
                    return Err(Error::PreconditionFailed);
                }
            }
            let new = make(&source);
            let (version, freed) = write_version(
                conn,
                &ctx,
                ChangeOrigin::Client,
                b,
                k,
                source.body.clone(),
                source.size,
                new,
            )?;
            Ok(((source, version), freed))
        })
    }
}
