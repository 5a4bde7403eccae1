//! Strata's storage engine: the only owner of bytes on disk and of the metadata database.
//!
//! Buckets and object versions live in SQLite (`meta.db`, WAL mode, one writer thread with group
//! commit, a pool of readers); object bytes live in a content-addressed chunk store
//! (`chunks/hot/ab/cd/HASH`), cut by FastCDC and named by BLAKE3. Small objects are kept inline in
//! their metadata row. Nothing here knows about HTTP or XML.

mod archive;
mod chunks;
mod db;
mod error;
mod ingest;
mod lifecycle_support;
mod multipart;
mod replication;
mod store;
mod versioning;

pub use chunks::{ChunkHash, ChunkRef};
pub use db::Durability;
pub use error::{Error, Result};
pub use ingest::BodyWriter;
pub use lifecycle_support::{ignore_missing_bucket, LifecycleLogEntry};
pub use multipart::{CompleteProblem, CopySource, NewPart, PartInfo, UploadInfo, UploadPage};
pub use replication::{
    DestinationError, QueueEntry, ReplicationEvent, ReplicationFailure, ReplicationKind,
    ReplicationPolicy, ReplicationReport, ReplicationTarget, RuleReplicationStats, ARCHIVED_REASON,
    REPLICA, REPLICATION_SETTING,
};
pub use store::{
    open_for_tests, Body, BucketInfo, ChunkingParams, ListPage, ListQuery, NewVersion,
    ObjectHandle, ObjectMeta, ObjectSummary, ObjectVersion, RecoveryReport, ReplicaOf, StagedBody,
    Store, StoreConfig, StoreStats, StoredChecksum, WriteCondition, DEFAULT_INLINE_THRESHOLD,
    NULL_VERSION,
};
pub use versioning::{is_valid_version_id, DeleteOutcome, VersionEntry, VersionPage, Versioning};
