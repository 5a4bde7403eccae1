//! The engine's data model: what a bucket and an object version are, and what a caller supplies
//! to write one. Plain data, no behaviour: every layer above may use it.
//!
//! Invariant: these types describe rows as committed; they carry no database handle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chunks::ChunkRef;
use crate::error::{Error, Result};
use crate::names::{ChecksumAlgorithm, ChecksumType, ReplicationStatus, StorageClass};

/// The version id of the single version a key has in a bucket that never had versioning.
pub const NULL_VERSION: &str = "null";

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
    pub versioning: Versioning,
    /// The owner's canonical user id; empty for the administrator.
    pub owner: String,
}

/// Checksum recorded with an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    /// Algorithm (stored as S3 spells it).
    pub algorithm: ChecksumAlgorithm,
    /// Base64 of the digest (`-N` suffixed for a composite multipart checksum).
    pub value: String,
    /// Whole object or composite (metadata stored before the field existed reads as whole
    /// object).
    #[serde(default)]
    pub checksum_type: ChecksumType,
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
    /// The object's owner (canonical user id) when it is not the bucket's owner: an object
    /// written by another user into a bucket whose Object Ownership is ObjectWriter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The object's access control list as the server encodes it; None: private to its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    /// For an object completed from a multipart upload: each part's size, in part order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sizes: Vec<u64>,
    /// For a multipart object with a checksum: each part's checksum (base64, the object's
    /// algorithm), in part order; empty when the parts had none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// Object Lock retention (mode and retain-until date), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::lock::Retention>,
    /// Object Lock legal hold: on or off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
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
    pub storage_class: StorageClass,
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
    /// `x-amz-replication-status`: pending, completed or failed on a replicated source version,
    /// replica on a replica, None otherwise.
    pub replication_status: Option<ReplicationStatus>,
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
    pub storage_class: StorageClass,
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

/// A bucket's versioning state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: every key has only the `null` version.
    Unversioned,
    /// Every write creates a new version.
    Enabled,
    /// Writes replace the `null` version; earlier versions stay.
    Suspended,
}

impl Versioning {
    /// Decodes the `buckets.versioning` column; anything else is corruption.
    pub(crate) fn from_db(s: &str) -> Result<Self> {
        match s {
            "" => Ok(Self::Unversioned),
            "Enabled" => Ok(Self::Enabled),
            "Suspended" => Ok(Self::Suspended),
            other => Err(Error::Corrupt(format!("bucket versioning state {other:?}"))),
        }
    }

    /// The `buckets.versioning` column's value.
    pub(crate) fn to_db(self) -> &'static str {
        match self {
            Self::Unversioned => "",
            Self::Enabled => "Enabled",
            Self::Suspended => "Suspended",
        }
    }
}

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
