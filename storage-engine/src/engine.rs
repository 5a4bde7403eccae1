//! The shared state behind every `Store` handle (chunk store, pins, the metadata writer and
//! readers, the rules given at open), the pins that keep chunks alive while a write stages them
//! or a read streams them, and reading a version's bytes.
//!
//! Invariant: a chunk is pinned from before its version is looked up (or staged) until the read
//! (or commit) is over, and a version is returned for reading only after it was confirmed to
//! still exist once its chunks were pinned, so collection can never pull a chunk out from
//! under a reader or a writer.

use std::sync::Arc;

use crate::chunks::{ChunkHash, ChunkStore, Pins, Tier};
use crate::db::{ReadPool, Writer};
use crate::error::{Error, Result};
use crate::meta::commit::CommitContext;
use crate::meta::versions::{bucket_versioning, load_version};
use crate::model::{Body, ChunkingParams, ObjectVersion, Versioning};

pub(crate) struct Inner {
    // Shared with the writer's collector, which must never hold the engine itself: the last
    // reference to `Inner` released on the writer thread would make it join itself.
    pub(crate) chunks: Arc<ChunkStore>,
    pub(crate) pins: Arc<Pins>,
    pub(crate) params: ChunkingParams,
    pub(crate) inline_threshold: usize,
    pub(crate) readers: ReadPool,
    pub(crate) commit: CommitContext,
    // Dropped after the others: joining the writer thread flushes queued writes.
    pub(crate) writer: Writer,
    // Dropped last: the directory stays locked until the writer has flushed.
    pub(crate) _lock: crate::store::DataDirLock,
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

impl StagedBody {
    /// Test hook: ends the body as a killed process would, with its chunk files on disk,
    /// uncommitted and never collected (start-up recovery must remove them).
    #[cfg(feature = "test-hooks")]
    pub fn abandon_as_if_crashed(mut self) {
        self.new_chunks.clear();
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

impl Store {
    /// The rules every commit needs (cheap to clone into a writer job).
    pub(crate) fn ctx(&self) -> CommitContext {
        self.inner.commit.clone()
    }

    /// Removes chunks a failed write staged, unless something else references or pins them.
    pub(crate) fn discard_chunks(&self, hashes: Vec<ChunkHash>) {
        self.inner.writer.collect(hashes);
    }

    /// The metadata of the current version of a key, or of a given version, without pinning its
    /// chunks (what authorization needs: owner, ACL, tags); None when there is no such version
    /// (or the current one is a delete marker).
    pub fn object_meta(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<crate::model::ObjectMeta>> {
        self.inner.readers.with(|conn| {
            Ok(load_version(conn, bucket, key, version_id)?
                .filter(|v| !v.is_delete_marker)
                .map(|v| v.meta))
        })
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
                let versioning = bucket_versioning(conn, bucket)?;
                let v = load_version(conn, bucket, key, version_id)?
                    .ok_or_else(|| Error::NoSuchKey(key.to_owned()))?;
                Ok((v, versioning != Versioning::Unversioned))
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
}

impl ObjectHandle {
    /// Reads bytes `[start, end)` of the version in pieces of at most `piece` bytes, passing each to
    /// `sink` in order; stops early when `sink` returns false. Each chunk is read whole and checked
    /// against its hash before any of its bytes are passed on: a damaged chunk ends the read with
    /// `Error::CorruptChunk` (the pieces before it were right).
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
                    let data = store.read_verified(tier, c)?;
                    let (from, to) = (from as usize, to as usize);
                    if from == 0 && to == data.len() && data.len() <= piece.max(1) {
                        // The usual case: a whole chunk is one piece, handed on without a copy.
                        if !sink(data) {
                            return Ok(());
                        }
                        continue;
                    }
                    for part in data[from..to].chunks(piece.max(1)) {
                        if !sink(part.to_vec()) {
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
