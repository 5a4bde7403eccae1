//! The content-addressed chunk store.
//!
//! Invariant: a file `chunks/<tier>/ab/cd/<hash>` always holds exactly the bytes whose BLAKE3 hash is
//! `<hash>`: chunks are written to `tmp/` (the cold tier's to its own `.tmp/`, on its file system) and
//! renamed into place, so a crash never leaves a partial
//! chunk under its final name. With durability on, a chunk is durable before any commit references
//! it: either it was synced when written (`write`), or it was written without a sync
//! (`write_deferred`) and the referencing writer passes a [`ChunkStore::barrier`] (one `syncfs` of
//! the chunk file system, shared by concurrent writers) before it commits. A deferred chunk that a
//! crash cut short is referenced by no commit, and start-up recovery removes it. A chunk file is
//! deleted only by the metadata writer thread, and only while no in-flight write or read has
//! pinned it (see [`Pins`]).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use crate::error::Result;

/// A chunk's address: the BLAKE3 hash of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkHash(pub [u8; 32]);

impl ChunkHash {
    /// Hashes `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// Lower-case hex form, as used for file names.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl std::fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

/// One chunk of an object: its hash and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    /// The chunk's address.
    pub hash: ChunkHash,
    /// The chunk's length in bytes.
    pub len: u64,
}

/// Serialises a chunk list to the compact form stored in a version row (hash || len as u64 LE).
pub fn encode_chunk_list(chunks: &[ChunkRef]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunks.len() * 40);
    for c in chunks {
        out.extend_from_slice(&c.hash.0);
        out.extend_from_slice(&c.len.to_le_bytes());
    }
    out
}

/// Parses a chunk list stored by [`encode_chunk_list`].
pub fn decode_chunk_list(data: &[u8]) -> Option<Vec<ChunkRef>> {
    if !data.len().is_multiple_of(40) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 40);
    for rec in data.chunks_exact(40) {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&rec[..32]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&rec[32..]);
        out.push(ChunkRef {
            hash: ChunkHash(hash),
            len: u64::from_le_bytes(len),
        });
    }
    Some(out)
}

/// Chunks that in-flight operations rely on. A pinned chunk is never deleted; a deletion that was
/// skipped because of a pin is remembered and retried when the last pin goes.
#[derive(Default)]
pub struct Pins {
    inner: Mutex<HashMap<ChunkHash, PinState>>,
}

#[derive(Default)]
struct PinState {
    count: u32,
    deferred_delete: bool,
}

impl Pins {
    /// Pins each hash once.
    pub fn pin(&self, hashes: &[ChunkHash]) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for h in hashes {
            map.entry(*h).or_default().count += 1;
        }
    }

    /// Unpins each hash once; returns the hashes whose deletion was deferred and are now unpinned.
    pub fn unpin(&self, hashes: &[ChunkHash]) -> Vec<ChunkHash> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut released = Vec::new();
        for h in hashes {
            if let Some(state) = map.get_mut(h) {
                state.count = state.count.saturating_sub(1);
                if state.count == 0 {
                    if state.deferred_delete {
                        released.push(*h);
                    }
                    map.remove(h);
                }
            }
        }
        released
    }

    /// Runs `delete` for each hash that is not pinned, atomically with respect to `pin`; pinned
    /// hashes are marked so that their last unpin reports them.
    pub fn delete_unpinned(&self, hashes: &[ChunkHash], mut delete: impl FnMut(&ChunkHash)) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for h in hashes {
            match map.get_mut(h) {
                Some(state) if state.count > 0 => state.deferred_delete = true,
                _ => delete(h),
            }
        }
    }
}

/// The storage tier a chunk lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Readable at once.
    Hot,
    /// The archive tier (GLACIER, DEEP_ARCHIVE).
    Cold,
}

/// Files of the chunk store.
pub struct ChunkStore {
    hot: PathBuf,
    cold: PathBuf,
    tmp: PathBuf,
    /// The cold tier's own `tmp`: a chunk is renamed into place within one file system, and the
    /// cold tier may be on another (`--cold-dir`).
    cold_tmp: PathBuf,
    sync: bool,
    tmp_seq: AtomicU64,
    gate: SyncGate,
}

/// Group `syncfs`: each caller is covered by a sync that started after it asked.
#[derive(Default)]
struct SyncGate {
    state: Mutex<GateState>,
    done: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Tickets handed out.
    requested: u64,
    /// Every ticket up to this one is covered by a completed sync.
    synced: u64,
    /// A sync is running.
    running: bool,
    /// A sync failed: deferred chunks may be lost, so no barrier succeeds any more.
    failed: Option<io::Error>,
}

/// Data directories are created 0700: only the server's user can list or enter them.
pub(crate) fn private_dir_all(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Data files are created 0600 (truncating one that exists): only the server's user reads them.
pub(crate) fn private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Opens a data file for reading and writing, creating it 0600 and keeping its contents.
pub(crate) fn private_open_rw(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

/// The cold tier's directory of in-flight writes, inside the tier.
const COLD_TMP: &str = ".tmp";

impl ChunkStore {
    /// Opens (creating if needed) the chunk directories. `sync` makes every chunk durable before
    /// `write` returns (file and directory fsync).
    pub fn open(data_dir: &Path, cold_dir: Option<&Path>, sync: bool) -> Result<Self> {
        let hot = data_dir.join("chunks").join("hot");
        let cold = cold_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.join("chunks").join("cold"));
        let tmp = data_dir.join("tmp");
        let cold_tmp = cold.join(COLD_TMP);
        private_dir_all(&hot)?;
        private_dir_all(&cold)?;
        private_dir_all(&tmp)?;
        private_dir_all(&cold_tmp)?;
        Ok(Self {
            hot,
            cold,
            tmp,
            cold_tmp,
            sync,
            tmp_seq: AtomicU64::new(0),
            gate: SyncGate::default(),
        })
    }

    /// Removes everything in `tmp/` and the cold tier's `.tmp/` (in-flight writes of a previous
    /// run).
    pub fn clear_tmp(&self) -> Result<usize> {
        let mut n = 0;
        for entry in fs::read_dir(&self.tmp)?.chain(fs::read_dir(&self.cold_tmp)?) {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
            n += 1;
        }
        Ok(n)
    }

    /// The directories of in-flight writes (the data directory's and the cold tier's).
    pub fn tmp_dirs(&self) -> [&Path; 2] {
        [&self.tmp, &self.cold_tmp]
    }

    /// The directory of a tier.
    fn tier_root(&self, tier: Tier) -> &Path {
        match tier {
            Tier::Hot => &self.hot,
            Tier::Cold => &self.cold,
        }
    }

    /// The path of a chunk in a tier.
    pub fn path(&self, tier: Tier, hash: &ChunkHash) -> PathBuf {
        let hex = hash.to_hex();
        self.tier_root(tier)
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(hex)
    }

    /// Whether the chunk's file exists in the tier.
    pub fn exists(&self, tier: Tier, hash: &ChunkHash) -> bool {
        self.path(tier, hash).is_file()
    }

    /// Writes a chunk unless it is already present, durably (when the store syncs) before it
    /// returns. Returns true if it wrote the file. The caller must hold a pin on `hash`.
    pub fn write(&self, tier: Tier, hash: &ChunkHash, data: &[u8]) -> Result<bool> {
        self.write_inner(tier, hash, data, self.sync)
    }

    /// Writes a hot chunk unless it is already present, without syncing it: the caller must
    /// pass [`ChunkStore::barrier`] before committing anything that references it (or any chunk
    /// it found already present). Returns true if it wrote the file.
    pub fn write_deferred(&self, hash: &ChunkHash, data: &[u8]) -> Result<bool> {
        self.write_inner(Tier::Hot, hash, data, self.sync && !SYNCFS)
    }

    /// Makes every chunk written so far (by anyone) durable, with one `syncfs` of the hot tier's
    /// file system shared by the callers that arrive while one runs.
    ///
    /// A failed `syncfs` may have lost the pages of any deferred chunk written before it, and the
    /// kernel reports the error to one caller only: from then on every barrier fails (every
    /// chunked write is refused) until the process restarts and recovery drops what no commit
    /// references.
    pub fn barrier(&self) -> Result<()> {
        if !self.sync || !SYNCFS {
            return Ok(());
        }
        let mut st = self.gate.state.lock().unwrap_or_else(|e| e.into_inner());
        st.requested += 1;
        let ticket = st.requested;
        loop {
            if let Some(e) = &st.failed {
                return Err(io::Error::new(e.kind(), e.to_string()).into());
            }
            if st.synced >= ticket {
                return Ok(());
            }
            if !st.running {
                st.running = true;
                let covers = st.requested;
                drop(st);
                let result = syncfs(&self.hot);
                st = self.gate.state.lock().unwrap_or_else(|e| e.into_inner());
                st.running = false;
                match &result {
                    Ok(()) => st.synced = st.synced.max(covers),
                    Err(e) => {
                        tracing::error!(error = %e, "syncfs of the chunk store failed: chunked writes are refused until restart");
                        st.failed = Some(io::Error::new(e.kind(), e.to_string()));
                    }
                }
                self.gate.done.notify_all();
                return result.map_err(Into::into);
            }
            st = self.gate.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn write_inner(&self, tier: Tier, hash: &ChunkHash, data: &[u8], sync: bool) -> Result<bool> {
        let path = self.path(tier, hash);
        if path.is_file() {
            return Ok(false);
        }
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp_dir = match tier {
            Tier::Hot => &self.tmp,
            Tier::Cold => &self.cold_tmp,
        };
        let tmp_path = tmp_dir.join(format!("{}.{}.{}", hash.to_hex(), std::process::id(), seq));
        let result = (|| -> io::Result<()> {
            let mut f = private_file(&tmp_path)?;
            f.write_all(data)?;
            if sync {
                f.sync_data()?;
            } else if self.sync {
                start_writeback(&f);
            }
            drop(f);
            let parent = path
                .parent()
                .ok_or_else(|| io::Error::other("chunk path"))?;
            if !parent.is_dir() {
                private_dir_all(parent)?;
                if sync {
                    // Make the new directory entries durable too.
                    if let Some(grand) = parent.parent() {
                        sync_dir(grand)?;
                        if let Some(g2) = grand.parent() {
                            sync_dir(g2)?;
                        }
                    }
                }
            }
            fs::rename(&tmp_path, &path)?;
            if sync {
                sync_dir(parent)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp_path);
            return Err(e.into());
        }
        Ok(true)
    }

    /// Opens a chunk for reading.
    pub fn open_chunk(&self, tier: Tier, hash: &ChunkHash) -> Result<File> {
        Ok(File::open(self.path(tier, hash))?)
    }

    /// Reads a whole chunk and checks it against its hash: a missing, short, long or altered file
    /// is `Error::CorruptChunk`, so damaged bytes are never handed on.
    pub fn read_verified(&self, tier: Tier, chunk: &ChunkRef) -> Result<Vec<u8>> {
        use std::io::Read;
        let corrupt = || crate::error::Error::CorruptChunk(chunk.hash.to_hex());
        let f = match self.open_chunk(tier, &chunk.hash) {
            Ok(f) => f,
            Err(crate::error::Error::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Err(corrupt())
            }
            Err(e) => return Err(e),
        };
        // Read into spare capacity (not zeroed first); one byte more shows a file too long.
        let mut data = Vec::with_capacity(chunk.len as usize + 1);
        f.take(chunk.len + 1).read_to_end(&mut data)?;
        if data.len() as u64 != chunk.len || ChunkHash::of(&data) != chunk.hash {
            return Err(corrupt());
        }
        data.truncate(chunk.len as usize);
        Ok(data)
    }

    /// Reads `len` bytes at `offset` of a chunk into a new buffer.
    #[cfg(test)]
    pub fn read_range(
        &self,
        tier: Tier,
        hash: &ChunkHash,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = self.open_chunk(tier, hash)?;
        if offset > 0 {
            f.seek(SeekFrom::Start(offset))?;
        }
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Deletes a chunk file; a missing file is not an error.
    pub fn delete(&self, tier: Tier, hash: &ChunkHash) -> Result<()> {
        match fs::remove_file(self.path(tier, hash)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every chunk file in a tier (for start-up recovery). Files whose names are not hashes are
    /// reported separately so recovery can remove them.
    pub fn scan(&self, tier: Tier) -> Result<(Vec<ChunkHash>, Vec<PathBuf>)> {
        let mut hashes = Vec::new();
        let mut stray = Vec::new();
        for l1 in fs::read_dir(self.tier_root(tier))? {
            let l1 = l1?.path();
            if tier == Tier::Cold && l1 == self.cold_tmp {
                continue;
            }
            if !l1.is_dir() {
                stray.push(l1);
                continue;
            }
            for l2 in fs::read_dir(&l1)? {
                let l2 = l2?.path();
                if !l2.is_dir() {
                    stray.push(l2);
                    continue;
                }
                for f in fs::read_dir(&l2)? {
                    let f = f?.path();
                    match f
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(ChunkHash::from_hex)
                    {
                        Some(h) => hashes.push(h),
                        None => stray.push(f),
                    }
                }
            }
        }
        Ok((hashes, stray))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Starts writing a deferred chunk's pages to the disk without waiting, so that the barrier's
/// `syncfs` finds little left to do. On Linux `POSIX_FADV_DONTNEED` starts writeback of dirty
/// pages (and drops only pages that are already clean). A failure only loses the head start.
fn start_writeback(f: &File) {
    #[cfg(target_os = "linux")]
    let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed);
    #[cfg(not(target_os = "linux"))]
    let _ = f;
}

/// Whether `syncfs` is available (Linux); elsewhere deferred writes are synced one by one.
const SYNCFS: bool = cfg!(target_os = "linux");

/// Flushes the file system holding `dir`: data, inodes and directory entries.
#[cfg(target_os = "linux")]
fn syncfs(dir: &Path) -> io::Result<()> {
    let f = File::open(dir)?;
    rustix::fs::syncfs(&f).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_list_round_trip() {
        let list = vec![
            ChunkRef {
                hash: ChunkHash::of(b"a"),
                len: 1,
            },
            ChunkRef {
                hash: ChunkHash::of(b"bb"),
                len: 2,
            },
        ];
        assert_eq!(decode_chunk_list(&encode_chunk_list(&list)), Some(list));
        assert_eq!(decode_chunk_list(&[0u8; 39]), None);
    }

    #[test]
    fn pins_defer_deletion() {
        let pins = Pins::default();
        let h = ChunkHash::of(b"x");
        pins.pin(&[h]);
        let mut deleted = Vec::new();
        pins.delete_unpinned(&[h], |h| deleted.push(*h));
        assert!(deleted.is_empty());
        assert_eq!(pins.unpin(&[h]), vec![h]);
        pins.delete_unpinned(&[h], |h| deleted.push(*h));
        assert_eq!(deleted, vec![h]);
    }

    #[test]
    fn concurrent_barriers_share_syncs_and_cover_every_caller() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), None, true).unwrap();
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let store = &store;
                s.spawn(move || {
                    for i in 0..5u8 {
                        let data = [t, i, 42];
                        let h = ChunkHash::of(&data);
                        assert!(store.write_deferred(&h, &data).unwrap());
                        store.barrier().unwrap();
                        assert_eq!(store.read_range(Tier::Hot, &h, 0, 3).unwrap(), data);
                    }
                });
            }
        });
        let st = store.gate.state.lock().unwrap();
        assert!(!st.running);
        if SYNCFS {
            assert_eq!(st.requested, 40);
            // Every ticket was covered by a sync that started after it was taken.
            assert_eq!(st.synced, 40);
        }
        assert!(fs::read_dir(dir.path().join("tmp"))
            .unwrap()
            .next()
            .is_none());
    }

    #[test]
    fn write_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), None, true).unwrap();
        let h = ChunkHash::of(b"hello");
        assert!(store.write(Tier::Hot, &h, b"hello").unwrap());
        assert!(!store.write(Tier::Hot, &h, b"hello").unwrap());
        assert_eq!(store.read_range(Tier::Hot, &h, 1, 3).unwrap(), b"ell");
        assert_eq!(store.scan(Tier::Hot).unwrap().0, vec![h]);
        store.delete(Tier::Hot, &h).unwrap();
        store.delete(Tier::Hot, &h).unwrap();
        assert!(!store.exists(Tier::Hot, &h));
    }
}
