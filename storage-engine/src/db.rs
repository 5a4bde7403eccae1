//! The metadata database: one writer thread with group commit, and a pool of read connections.
//!
//! Invariant: every change to metadata runs on the writer thread inside a transaction; a caller's
//! write returns only after the transaction holding it has committed (and, with the durable
//! setting, reached the disk). Several callers' writes may share one transaction (group commit);
//! each runs inside its own savepoint so that one failing write does not undo the others.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;

use crate::chunks::ChunkHash;
use crate::error::{Error, Result};
use crate::names::archive_classes_sql;

/// How hard commits try to reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every acknowledged write survives a power loss: SQLite `synchronous=FULL`, chunk files and
    /// their directories are fsynced before the commit. The default.
    Full,
    /// Acknowledged writes survive a crash of the process but not of the machine: SQLite
    /// `synchronous=NORMAL`, no fsync of chunk files.
    Process,
}

/// Versions whose class is an archive class but whose bytes are still hot
/// (`Store::versions_to_archive` repeats the condition so that SQLite uses the index).
const ARCHIVE_INDEX: &str = concat!(
    "CREATE INDEX IF NOT EXISTS versions_to_archive ON versions(id) \
     WHERE tier = 0 AND is_delete_marker = 0 AND storage_class IN ",
    archive_classes_sql!(),
    ";"
);

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    region TEXT NOT NULL,
    versioning TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    is_latest INTEGER NOT NULL,
    is_delete_marker INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    storage_class TEXT NOT NULL,
    meta TEXT NOT NULL,
    inline_data BLOB,
    chunks BLOB,
    noncurrent_since_ms INTEGER,
    tier INTEGER NOT NULL DEFAULT 0,
    restore_ready_ms INTEGER,
    restore_expiry_ms INTEGER,
    lc_due_ms INTEGER NOT NULL DEFAULT 0,
    lc_epoch INTEGER NOT NULL DEFAULT 0,
    replication_status TEXT
);
CREATE INDEX IF NOT EXISTS versions_lifecycle_due ON versions(bucket, lc_due_ms);
CREATE INDEX IF NOT EXISTS versions_history ON versions(bucket, key, id);
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_key ON versions(bucket, key, version_id);
CREATE INDEX IF NOT EXISTS versions_current ON versions(bucket, key)
    WHERE is_latest = 1 AND is_delete_marker = 0;
CREATE TABLE IF NOT EXISTS chunks (
    hash BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL,
    cold_refs INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    initiated_ms INTEGER NOT NULL,
    storage_class TEXT NOT NULL,
    meta TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT
);
CREATE INDEX IF NOT EXISTS uploads_page ON uploads(bucket, key, initiated_ms, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    checksum TEXT,
    chunks BLOB NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bucket_settings (
    bucket TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (bucket, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lifecycle_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    action TEXT NOT NULL,
    rule_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replication_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    version_row INTEGER NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    storage_class TEXT,
    enqueued_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS replication_queue_due ON replication_queue(next_attempt_ms, id);
CREATE INDEX IF NOT EXISTS replication_queue_order ON replication_queue(bucket, key, destination, id);
CREATE INDEX IF NOT EXISTS replication_queue_version ON replication_queue(version_row);
CREATE TABLE IF NOT EXISTS replication_stats (
    bucket TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, rule_id, destination)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replication_abandoned (
    version_row INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS replication_errors (
    destination TEXT PRIMARY KEY,
    error TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS change_feed (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    version_row INTEGER NOT NULL,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    storage_class TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT,
    completed_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS completed_uploads_age ON completed_uploads(completed_ms);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    access_key TEXT NOT NULL UNIQUE,
    secret_key TEXT NOT NULL,
    canonical_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats (
    bucket TEXT PRIMARY KEY,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
"#;

/// Brings a database created by an earlier release up to the current schema.
fn migrate(conn: &Connection) -> Result<()> {
    let has_status = conn
        .prepare("SELECT 1 FROM pragma_table_info('versions') WHERE name = 'replication_status'")?
        .exists([])?;
    if !has_status {
        conn.execute_batch("ALTER TABLE versions ADD COLUMN replication_status TEXT")?;
    }
    let has_owner = conn
        .prepare("SELECT 1 FROM pragma_table_info('buckets') WHERE name = 'owner'")?
        .exists([])?;
    if !has_owner {
        // Buckets created before there were several users belong to the administrator ('').
        conn.execute_batch("ALTER TABLE buckets ADD COLUMN owner TEXT NOT NULL DEFAULT ''")?;
    }
    // Replaced by `uploads_page`, which also orders by upload id (ListMultipartUploads pages in SQL).
    conn.execute_batch("DROP INDEX IF EXISTS uploads_by_key")?;
    Ok(())
}

/// Opens a connection with the pragmas every connection needs.
fn open_connection(path: &Path, durability: Durability, read_only: bool) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Process => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // 8 MiB of page cache per connection keeps five connections well inside the memory budget.
    conn.pragma_update(None, "cache_size", -8_000i64)?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    Ok(conn)
}

/// What a write job hands back to the writer loop: whether its savepoint should be kept, chunk
/// hashes whose reference count reached zero, and the reply to send once the outcome is known.
pub(crate) struct JobOutcome {
    ok: bool,
    freed: Vec<ChunkHash>,
    reply: Box<dyn FnOnce(Result<()>) + Send>,
}

type Job = Box<dyn FnOnce(&Connection) -> JobOutcome + Send>;

enum Message {
    Write(Job),
    /// Copy the WAL into the database and truncate it (outside any transaction); the reply says
    /// how it went.
    Checkpoint(std::sync::mpsc::SyncSender<Result<()>>),
    /// Re-check these chunks and delete their files if nothing references or pins them.
    Collect(Vec<ChunkHash>),
}

/// Called by the writer thread for chunks whose last reference went away in a committed
/// transaction; it deletes the files that nothing pins.
pub(crate) type CollectFn = Arc<dyn Fn(&Connection, &[ChunkHash]) + Send + Sync>;

/// The single writer.
pub(crate) struct Writer {
    tx: Option<Sender<Message>>,
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on its own connection.
    pub(crate) fn start(path: &Path, durability: Durability, collect: CollectFn) -> Result<Self> {
        let conn = open_connection(path, durability, false)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(ARCHIVE_INDEX)?;
        migrate(&conn)?;
        let (tx, rx) = crossbeam_channel::bounded::<Message>(4096);
        let handle = std::thread::Builder::new()
            .name("strata-db-writer".into())
            .spawn(move || writer_loop(conn, rx, collect))?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Runs `f` in a write transaction (possibly shared with other writes) and returns its result
    /// once the transaction has committed. `f` returns its value and the chunk hashes whose
    /// reference counts it brought to zero.
    pub(crate) fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Vec<ChunkHash>)> + Send + 'static,
    {
        let (reply_tx, reply_rx) = std::sync::mpsc::sync_channel::<Result<T>>(1);
        self.submit(f, move |r| {
            let _ = reply_tx.send(r);
        })?;
        reply_rx.recv().map_err(|_| Error::Unavailable)?
    }

    /// Like `write`, but returns a future of the result instead of blocking the caller (for an
    /// async caller whose write needs no other blocking work).
    pub(crate) fn write_async<T, F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Vec<ChunkHash>)> + Send + 'static,
    {
        let (reply_tx, reply_rx) = futures_channel::oneshot::channel::<Result<T>>();
        let submitted = self.submit_nonblocking(f, move |r| {
            let _ = reply_tx.send(r);
        });
        async move {
            submitted?;
            reply_rx.await.map_err(|_| Error::Unavailable)?
        }
    }

    /// Queues `f` for the writer thread; `reply` gets its outcome once the transaction is known.
    fn submit<T, F, R>(&self, f: F, reply: R) -> Result<()>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Vec<ChunkHash>)> + Send + 'static,
        R: FnOnce(Result<T>) + Send + 'static,
    {
        self.tx
            .as_ref()
            .ok_or(Error::Unavailable)?
            .send(Message::Write(Self::job(f, reply)))
            .map_err(|_| Error::Unavailable)
    }

    /// Like `submit`, but never blocks the caller (an async worker): when the writer's queue is
    /// full, a short-lived thread waits for room instead.
    fn submit_nonblocking<T, F, R>(&self, f: F, reply: R) -> Result<()>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Vec<ChunkHash>)> + Send + 'static,
        R: FnOnce(Result<T>) + Send + 'static,
    {
        let tx = self.tx.as_ref().ok_or(Error::Unavailable)?;
        match tx.try_send(Message::Write(Self::job(f, reply))) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::TrySendError::Full(msg)) => {
                let tx = tx.clone();
                std::thread::Builder::new()
                    .name("strata-db-wait".into())
                    .spawn(move || {
                        // If the writer is gone the job is dropped, and so is its reply: the
                        // caller sees `Unavailable`.
                        let _ = tx.send(msg);
                    })?;
                Ok(())
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(Error::Unavailable),
        }
    }

    /// Wraps `f` and `reply` as a job for the writer thread.
    fn job<T, F, R>(f: F, reply: R) -> Job
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Vec<ChunkHash>)> + Send + 'static,
        R: FnOnce(Result<T>) + Send + 'static,
    {
        Box::new(move |conn: &Connection| match f(conn) {
            Ok((value, freed)) => JobOutcome {
                ok: true,
                freed,
                reply: Box::new(move |commit: Result<()>| reply(commit.map(|()| value))),
            },
            Err(e) => JobOutcome {
                ok: false,
                freed: Vec::new(),
                reply: Box::new(move |_commit: Result<()>| reply(Err(e))),
            },
        })
    }

    /// Writes everything committed into the database file and empties the WAL, so that the next
    /// open has nothing to replay (a clean shutdown's last step).
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let (reply_tx, reply_rx) = std::sync::mpsc::sync_channel::<Result<()>>(1);
        self.tx
            .as_ref()
            .ok_or(Error::Unavailable)?
            .send(Message::Checkpoint(reply_tx))
            .map_err(|_| Error::Unavailable)?;
        reply_rx.recv().map_err(|_| Error::Unavailable)?
    }

    /// Asks the writer to re-check chunks whose deletion was deferred by a pin.
    pub(crate) fn collect(&self, hashes: Vec<ChunkHash>) {
        if hashes.is_empty() {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Collect(hashes));
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            // Dropped by a job on the writer thread itself (it held the engine's last reference):
            // the loop ends on its own once the channel is drained; joining would deadlock.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

/// Most writes one transaction takes: bounds the latency a large group adds to its first member.
const MAX_GROUP: usize = 512;

fn writer_loop(conn: Connection, rx: Receiver<Message>, collect: CollectFn) {
    while let Ok(first) = rx.recv() {
        let mut jobs = Vec::new();
        let mut to_check = Vec::new();
        let mut checkpoints = Vec::new();
        match first {
            Message::Write(job) => jobs.push(job),
            Message::Collect(h) => to_check.extend(h),
            Message::Checkpoint(reply) => checkpoints.push(reply),
        }
        while jobs.len() < MAX_GROUP && checkpoints.is_empty() {
            match rx.try_recv() {
                Ok(Message::Write(job)) => jobs.push(job),
                Ok(Message::Collect(h)) => to_check.extend(h),
                Ok(Message::Checkpoint(reply)) => checkpoints.push(reply),
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            run_group(&conn, jobs, &mut to_check);
        }
        if !to_check.is_empty() {
            to_check.sort();
            to_check.dedup();
            collect(&conn, &to_check);
        }
        for reply in checkpoints {
            let done = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(Error::from)
                .and_then(|busy| match busy {
                    0 => Ok(()),
                    _ => Err(Error::Io(std::io::Error::other(
                        "the WAL checkpoint was blocked by a reader",
                    ))),
                });
            let _ = reply.send(done);
        }
    }
}

fn run_group(conn: &Connection, jobs: Vec<Job>, freed_all: &mut Vec<ChunkHash>) {
    let mut replies = Vec::with_capacity(jobs.len());
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Dropping the jobs unanswered fails each caller with `Error::Unavailable`.
        tracing::error!(error = %e, "cannot begin metadata transaction");
        return;
    }
    let mut freed = Vec::new();
    for job in jobs {
        if let Err(e) = run_cached(conn, "SAVEPOINT job") {
            tracing::error!(error = %e, "savepoint failed");
        }
        let outcome = job(conn);
        let end = if outcome.ok {
            run_cached(conn, "RELEASE job")
        } else {
            run_cached(conn, "ROLLBACK TO job").and_then(|()| run_cached(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            tracing::error!(error = %e, "savepoint release failed");
        }
        if outcome.ok {
            freed.extend(outcome.freed);
        }
        replies.push(outcome.reply);
    }
    let commit = conn.execute_batch("COMMIT");
    match commit {
        Ok(()) => {
            freed_all.extend(freed);
            for reply in replies {
                reply(Ok(()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "metadata commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            let msg = e.to_string();
            for reply in replies {
                reply(Err(Error::Io(std::io::Error::other(msg.clone()))));
            }
        }
    }
}

/// Runs one parameterless statement from the connection's statement cache (the writer runs its
/// savepoint statements once per write; parsing them each time showed in profiles).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(|_| ())
}

/// A fixed pool of read-only connections.
pub(crate) struct ReadPool {
    conns: Mutex<Vec<Connection>>,
    available: Condvar,
}

impl ReadPool {
    /// Opens `n` read connections.
    pub(crate) fn open(path: &Path, durability: Durability, n: usize) -> Result<Self> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            conns.push(open_connection(path, durability, true)?);
        }
        Ok(Self {
            conns: Mutex::new(conns),
            available: Condvar::new(),
        })
    }

    /// Runs `f` on a pooled connection, waiting for one if all are busy.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = {
            let mut guard = self.conns.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(c) = guard.pop() {
                    break c;
                }
                guard = self
                    .available
                    .wait(guard)
                    .unwrap_or_else(|e| e.into_inner());
            }
        };
        let result = f(&conn);
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        self.available.notify_one();
        result
    }
}
