//! Strata's storage engine: the only owner of bytes on disk and of the metadata database.
//!
//! Buckets and object versions live in SQLite (`meta.db`, WAL mode, one writer thread with group
//! commit, a pool of readers); object bytes live in a content-addressed chunk store
//! (`chunks/hot/ab/cd/HASH`), cut by FastCDC and named by BLAKE3. Small objects are kept inline in
//! their metadata row. Nothing here knows about HTTP or XML.

mod archive;
mod check;
mod chunks;
mod db;
mod engine;
mod error;
mod ingest;
mod lifecycle_support;
mod lock;
mod meta;
mod model;
mod multipart;
mod names;
mod replication;
mod store;
mod users;
mod versioning;

pub use check::{check, CheckOptions, CheckReport, Problem, VersionName};
pub use chunks::{ChunkHash, ChunkRef, Tier};
pub use db::Durability;
pub use engine::{ObjectHandle, StagedBody, Store};
pub use error::{Error, Result};
pub use ingest::BodyWriter;
pub use lifecycle_support::{ignore_missing_bucket, LifecycleLogEntry};
pub use lock::{
    blocking_hold, hold, DefaultRetention, Hold, LockMode, LockOverride, ObjectLockConfig,
    Retention, OBJECT_LOCK_SETTING,
};
pub use meta::commit::CommitStep;
pub use meta::feed::{ChangeEvent, ChangeKind, ChangeOrigin, FEED_RETAIN};
pub use meta::queue::{
    ReplicationEvent, ReplicationKind, ReplicationPolicy, ReplicationTarget, REPLICATION_SETTING,
};
pub use model::{
    Body, BucketInfo, ChunkingParams, NewVersion, ObjectMeta, ObjectVersion, ReplicaOf,
    StoredChecksum, Versioning, WriteCondition, NULL_VERSION,
};
pub use multipart::{
    CompleteProblem, CompletedUpload, CopySource, NewPart, PartInfo, UploadInfo, UploadPage,
    COMPLETED_UPLOAD_RETAIN_MS,
};
pub use names::{ChecksumAlgorithm, ChecksumType, ReplicationStatus, StorageClass, UnknownValue};
pub use replication::{
    DestinationError, QueueEntry, ReplicationFailure, ReplicationReport, RuleReplicationStats,
    ARCHIVED_REASON,
};
#[cfg(feature = "test-hooks")]
pub use store::open_for_tests;
pub use store::{
    ListPage, ListQuery, ObjectSummary, RecoveryReport, StoreConfig, StoreStats,
    DEFAULT_INLINE_THRESHOLD,
};
pub use users::UserRecord;
pub use versioning::{is_valid_version_id, DeleteOutcome, VersionEntry, VersionPage};
