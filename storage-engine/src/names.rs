//! The S3 values the engine stores as text: storage classes, replication statuses, checksum
//! algorithms and checksum types.
//!
//! Invariant: each enum's `as_str` and `FromStr` are inverse, and the database (TEXT columns,
//! the metadata JSON) holds exactly the `as_str` spellings; a stored value that does not parse
//! is `Error::Corrupt` (through `impl From<rusqlite::Error> for Error` or the metadata decoder),
//! never a default.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name that is not one of an enum's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// What kind of value was expected (`storage class`, ...).
    pub what: &'static str,
    /// The value given.
    pub value: String,
}

/// Implements `as_str`, `ALL`, `FromStr`, `Display`, serde and SQLite conversions from one
/// table of (variant, spelling), so the spellings exist in one place per enum.
macro_rules! named_enum {
    ($ty:ident, $what:literal, $parse:ident, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The name S3 uses.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| $parse(v.as_str(), s))
                    .ok_or_else(|| UnknownValue { what: $what, value: s.to_owned() })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

fn exact(a: &str, b: &str) -> bool {
    a == b
}

fn ignoring_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A storage class S3 accepts for an object (`x-amz-storage-class`, `StorageClass`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StorageClass {
    /// STANDARD, the default.
    #[default]
    Standard,
    /// REDUCED_REDUNDANCY.
    ReducedRedundancy,
    /// STANDARD_IA.
    StandardIa,
    /// ONEZONE_IA.
    OnezoneIa,
    /// INTELLIGENT_TIERING.
    IntelligentTiering,
    /// GLACIER (Flexible Retrieval): archived.
    Glacier,
    /// DEEP_ARCHIVE: archived.
    DeepArchive,
    /// OUTPOSTS.
    Outposts,
    /// GLACIER_IR (Instant Retrieval).
    GlacierIr,
    /// SNOW.
    Snow,
    /// EXPRESS_ONEZONE.
    ExpressOnezone,
    /// FSX_OPENZFS.
    FsxOpenzfs,
    /// FSX_ONTAP.
    FsxOntap,
    /// AWS_BACKUP_WARM.
    AwsBackupWarm,
    /// AWS_BACKUP_LOW_COST_WARM.
    AwsBackupLowCostWarm,
}

named_enum!(StorageClass, "storage class", exact, {
    Standard => "STANDARD",
    ReducedRedundancy => "REDUCED_REDUNDANCY",
    StandardIa => "STANDARD_IA",
    OnezoneIa => "ONEZONE_IA",
    IntelligentTiering => "INTELLIGENT_TIERING",
    Glacier => "GLACIER",
    DeepArchive => "DEEP_ARCHIVE",
    Outposts => "OUTPOSTS",
    GlacierIr => "GLACIER_IR",
    Snow => "SNOW",
    ExpressOnezone => "EXPRESS_ONEZONE",
    FsxOpenzfs => "FSX_OPENZFS",
    FsxOntap => "FSX_ONTAP",
    AwsBackupWarm => "AWS_BACKUP_WARM",
    AwsBackupLowCostWarm => "AWS_BACKUP_LOW_COST_WARM",
});

/// The archive classes (those `StorageClass::is_archive` names) as an SQL list literal. The
/// schema's partial index on versions still to archive and the query that reads it both spell
/// the condition with it: SQLite uses a partial index only when the query repeats its condition
/// word for word, so it has to be a literal (`concat!`), and a unit test holds it to `is_archive`.
macro_rules! archive_classes_sql {
    () => {
        "('GLACIER', 'DEEP_ARCHIVE')"
    };
}
pub(crate) use archive_classes_sql;

impl StorageClass {
    /// Whether the class keeps its bytes in the archive tier (unreadable until restored).
    pub fn is_archive(self) -> bool {
        matches!(self, Self::Glacier | Self::DeepArchive)
    }

    /// Whether a lifecycle transition may target the class.
    pub fn is_transition_target(self) -> bool {
        matches!(
            self,
            Self::StandardIa
                | Self::OnezoneIa
                | Self::IntelligentTiering
                | Self::GlacierIr
                | Self::Glacier
                | Self::DeepArchive
        )
    }

    /// Whether S3 requires an object to be at least 30 days old before a transition to it
    /// (the infrequent-access classes).
    pub fn needs_30_days(self) -> bool {
        matches!(self, Self::StandardIa | Self::OnezoneIa)
    }

    /// Rank in the transition waterfall: a transition may only go down it. Classes outside
    /// the waterfall rank with STANDARD.
    pub fn transition_rank(self) -> u8 {
        match self {
            Self::StandardIa | Self::IntelligentTiering => 1,
            Self::OnezoneIa => 2,
            Self::GlacierIr => 3,
            Self::Glacier => 4,
            Self::DeepArchive => 5,
            _ => 0,
        }
    }
}

/// `x-amz-replication-status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicationStatus {
    /// A source version some destination has not received yet.
    Pending,
    /// A source version every destination has.
    Completed,
    /// A source version some destination failed to receive.
    Failed,
    /// A replica.
    Replica,
}

named_enum!(ReplicationStatus, "replication status", exact, {
    Pending => "PENDING",
    Completed => "COMPLETED",
    Failed => "FAILED",
    Replica => "REPLICA",
});

/// A checksum algorithm S3 supports. Parsing ignores case, as S3 does for
/// `x-amz-checksum-algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC), as zlib.
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

named_enum!(ChecksumAlgorithm, "checksum algorithm", ignoring_case, {
    Crc32 => "CRC32",
    Crc32c => "CRC32C",
    Crc64Nvme => "CRC64NVME",
    Sha1 => "SHA1",
    Sha256 => "SHA256",
});

impl ChecksumAlgorithm {
    /// Length in bytes of the digest.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// Whether the checksum of a whole object can be combined from its parts' checksums
    /// (the CRCs can, the SHAs cannot).
    pub fn combines(self) -> bool {
        !matches!(self, Self::Sha1 | Self::Sha256)
    }
}

/// How a checksum covers an object (`x-amz-checksum-type`, `ChecksumType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChecksumType {
    /// The checksum of the whole object's bytes.
    #[default]
    FullObject,
    /// The checksum of a multipart object's part checksums, suffixed `-N`.
    Composite,
}

named_enum!(ChecksumType, "checksum type", exact, {
    FullObject => "FULL_OBJECT",
    Composite => "COMPOSITE",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_list_of_archive_classes_is_what_is_archive_names() {
        let list = archive_classes_sql!();
        let mut in_sql: Vec<StorageClass> = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .expect("a parenthesised list")
            .split(',')
            .map(|name| {
                let name = name
                    .trim()
                    .strip_prefix('\'')
                    .and_then(|n| n.strip_suffix('\''));
                name.expect("a quoted name")
                    .parse()
                    .expect("a storage class")
            })
            .collect();
        let mut archive: Vec<StorageClass> = StorageClass::ALL
            .iter()
            .copied()
            .filter(|c| c.is_archive())
            .collect();
        in_sql.sort_by_key(|c| c.as_str());
        archive.sort_by_key(|c| c.as_str());
        assert_eq!(in_sql, archive);
    }

    fn round_trip<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = UnknownValue> + Serialize,
    {
        for v in all {
            assert_eq!(v.to_string().parse::<T>(), Ok(*v));
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{v}\""));
        }
        assert!("".parse::<T>().is_err());
        assert!("NOT_A_VALUE".parse::<T>().is_err());
    }

    #[test]
    fn every_value_round_trips_and_unknown_ones_are_refused() {
        round_trip(StorageClass::ALL);
        round_trip(ReplicationStatus::ALL);
        round_trip(ChecksumAlgorithm::ALL);
        round_trip(ChecksumType::ALL);
        assert_eq!(StorageClass::ALL.len(), 15);
        // Storage classes and statuses are spelled exactly; checksum algorithms ignore case.
        assert!("standard".parse::<StorageClass>().is_err());
        assert!("pending".parse::<ReplicationStatus>().is_err());
        assert_eq!(
            "crc64nvme".parse::<ChecksumAlgorithm>(),
            Ok(ChecksumAlgorithm::Crc64Nvme)
        );
        assert_eq!(
            "GLACIER ".parse::<StorageClass>(),
            Err(UnknownValue {
                what: "storage class",
                value: "GLACIER ".into()
            })
        );
    }

    #[test]
    fn serde_and_sql_use_the_s3_spelling() {
        let v: StorageClass = serde_json::from_str("\"DEEP_ARCHIVE\"").unwrap();
        assert_eq!(v, StorageClass::DeepArchive);
        assert_eq!(
            serde_json::to_string(&ChecksumType::Composite).unwrap(),
            "\"COMPOSITE\""
        );
        assert!(serde_json::from_str::<ChecksumAlgorithm>("\"MD5\"").is_err());

        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let s: String = conn
            .query_row("SELECT ?1", [ReplicationStatus::Replica], |r| r.get(0))
            .unwrap();
        assert_eq!(s, "REPLICA");
        let c: StorageClass = conn
            .query_row("SELECT 'GLACIER_IR'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(c, StorageClass::GlacierIr);
        let bad = conn.query_row("SELECT 'TAPE'", [], |r| r.get::<_, StorageClass>(0));
        let err = crate::Error::from(bad.unwrap_err());
        assert!(matches!(err, crate::Error::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn archive_classes_and_the_waterfall() {
        let archive: Vec<_> = StorageClass::ALL
            .iter()
            .filter(|c| c.is_archive())
            .collect();
        assert_eq!(
            archive,
            [&StorageClass::Glacier, &StorageClass::DeepArchive]
        );
        assert!(
            StorageClass::Glacier.transition_rank() > StorageClass::GlacierIr.transition_rank()
        );
        assert_eq!(StorageClass::ReducedRedundancy.transition_rank(), 0);
    }
}
