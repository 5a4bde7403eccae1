//! The storage engine's error type: domain errors a caller can act on, plus I/O and database failures.
//!
//! Invariant: each variant says what happened, not how to render it: a caller's mistake is
//! `Invalid`, what the database holds but cannot be decoded is `Corrupt`, a damaged chunk is
//! `CorruptChunk`; the messages of internal failures (`Conflict`, `Corrupt`, `Io`, `Db`) are for
//! logs, never for clients.

/// Errors from the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bucket does not exist.
    #[error("no such bucket: {0}")]
    NoSuchBucket(String),
    /// The bucket exists already.
    #[error("bucket already exists: {0}")]
    BucketAlreadyExists(String),
    /// The bucket still holds objects (or uploads).
    #[error("bucket not empty: {0}")]
    BucketNotEmpty(String),
    /// The key has no current version.
    #[error("no such key: {0}")]
    NoSuchKey(String),
    /// The multipart upload does not exist (or belongs to another key).
    #[error("no such upload: {0}")]
    NoSuchUpload(String),
    /// A conditional write's condition did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A write could not be applied because of a conflicting state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller passed something the engine cannot accept.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A chunk that a committed version references is missing or damaged on disk.
    #[error("corrupt chunk {0}")]
    CorruptChunk(String),
    /// Metadata read back from the database cannot be decoded (a damaged or foreign database):
    /// an internal failure, never the caller's fault.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// The file system holding the data (or the cold tier) has no space left: nothing of the
    /// write was committed.
    #[error("no space left on the data file system: {0}")]
    StorageFull(String),
    /// File-system failure.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
    /// Metadata database failure.
    #[error("database error: {0}")]
    Db(#[source] rusqlite::Error),
    /// The bucket has a replication configuration, so its versioning cannot be suspended.
    #[error("a replication configuration is present on this bucket")]
    ReplicationConfigured,
    /// Object Lock is enabled on the bucket, so its versioning cannot be suspended.
    #[error("object lock is enabled on this bucket")]
    ObjectLockEnabled,
    /// Object Lock needs the bucket's versioning enabled.
    #[error("versioning is not enabled on this bucket")]
    VersioningNotEnabled,
    /// Object Lock is not enabled on the bucket (a lock was asked for).
    #[error("object lock is not enabled on this bucket")]
    ObjectLockNotEnabled,
    /// A retention period or legal hold protects the version from this change.
    #[error("object version is locked ({0})")]
    ObjectLocked(String),
    /// Another process (a running server, `strata check`) holds the data directory's lock.
    #[error("data directory {} is in use by another process", .0.display())]
    InUse(std::path::PathBuf),
    /// The engine is shutting down or its writer thread is gone.
    #[error("storage engine unavailable")]
    Unavailable,
}

/// Result alias for the storage engine.
pub type Result<T> = std::result::Result<T, Error>;

impl From<std::io::Error> for Error {
    /// A full file system (or quota) is `StorageFull`; every other failure stays `Io`.
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Self::StorageFull(e.to_string())
            }
            _ => Self::Io(e),
        }
    }
}

impl From<rusqlite::Error> for Error {
    /// A column that holds a value none of the engine's enums knows (see `names`) is
    /// corruption; every other database failure stays `Db`.
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::FromSqlConversionFailure(column, _, source)
                if source.is::<crate::names::UnknownValue>() =>
            {
                Self::Corrupt(format!("column {column}: {source}"))
            }
            rusqlite::Error::SqliteFailure(ref f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                Self::StorageFull(e.to_string())
            }
            other => Self::Db(other),
        }
    }
}
