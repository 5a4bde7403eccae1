//! Stored versions as S3 presents them to a read: which version a request resolves to (delete
//! markers, unknown version ids) and whether an archived version's bytes may be read.
//!
//! Invariant: every operation that reads a version's bytes or reports its restore state goes
//! through these functions, so they answer the same errors and headers.

use strata_lifecycle::LifecycleClock;
use strata_storage::ObjectVersion;

use crate::app::blocking;
use crate::error::{S3Error, S3Result};
use crate::handlers::http_date;
use crate::s3_error;

/// Loads a version for reading as S3 resolves it: the latest being a delete marker is 404
/// `NoSuchKey` with `x-amz-delete-marker`; a delete marker asked for by id is 405; an unknown
/// version id is 404 `NoSuchVersion`.
pub async fn load_readable(
    store: &strata_storage::Store,
    bucket: &str,
    key: &str,
    version_id: Option<String>,
) -> S3Result<strata_storage::ObjectHandle> {
    let store = store.clone();
    let (b, k) = (bucket.to_owned(), key.to_owned());
    let by_version = version_id.is_some();
    let handle = blocking(move || {
        store
            .get_object(&b, &k, version_id.as_deref())
            .map_err(|e| match e {
                strata_storage::Error::NoSuchKey(_) if by_version => {
                    s3_error!(NoSuchVersion, "The specified version does not exist.")
                        .with_extra("Key", k.clone())
                        .with_extra("VersionId", version_id.clone().unwrap_or_default())
                }
                other => S3Error::from(other),
            })
    })
    .await?;
    let v = &handle.version;
    if v.is_delete_marker {
        let err = if by_version {
            s3_error!(
                MethodNotAllowed,
                "The specified method is not allowed against this resource."
            )
            .with_extra("Method", "GET")
            .with_extra("ResourceType", "DeleteMarker")
            .with_header("Last-Modified", http_date(v.last_modified_ms))
        } else {
            s3_error!(NoSuchKey, "The specified key does not exist.").with_extra("Key", key)
        };
        return Err(err
            .with_header("x-amz-delete-marker", "true")
            .with_header("x-amz-version-id", v.version_id.clone()));
    }
    Ok(handle)
}

/// The version a request addresses (its key, and `versionId` when given), resolved as GET
/// resolves it: for the operations on one version's settings (tagging, Object Lock).
pub async fn load_addressed(req: &crate::app::S3Request) -> S3Result<strata_storage::ObjectHandle> {
    let (b, k) = (req.bucket()?.to_owned(), req.key()?.to_owned());
    let vid = crate::request::version_param(req)?;
    load_readable(req.store(), &b, &k, vid).await
}

/// Where a restore of an archived version stands at `now_ms`.
#[derive(Debug, PartialEq, Eq)]
pub enum RestoreStatus {
    /// Not archived: always readable.
    NotArchived,
    /// Archived, no restore asked for (or the restored copy expired).
    Archived,
    /// A restore is in progress.
    Ongoing,
    /// Restored and readable until the given time.
    Restored(i64),
}

/// The restore status of a version.
pub fn status(v: &ObjectVersion, now_ms: i64) -> RestoreStatus {
    if !v.archived && !v.storage_class.is_archive() {
        return RestoreStatus::NotArchived;
    }
    match v.restore {
        Some((ready, _)) if now_ms < ready => RestoreStatus::Ongoing,
        Some((_, expiry)) if now_ms < expiry => RestoreStatus::Restored(expiry),
        _ => RestoreStatus::Archived,
    }
}

/// The `x-amz-restore` header value, if any.
pub fn restore_header(v: &ObjectVersion, now_ms: i64) -> Option<String> {
    match status(v, now_ms) {
        RestoreStatus::Ongoing => Some("ongoing-request=\"true\"".into()),
        RestoreStatus::Restored(expiry) => Some(format!(
            "ongoing-request=\"false\", expiry-date=\"{}\"",
            http_date(expiry)
        )),
        _ => None,
    }
}

/// Refuses reading the bytes of an archived version that is not restored.
pub fn check_readable(v: &ObjectVersion, clock: &LifecycleClock) -> S3Result<()> {
    match status(v, clock.now_ms()) {
        RestoreStatus::NotArchived | RestoreStatus::Restored(_) => Ok(()),
        RestoreStatus::Archived | RestoreStatus::Ongoing => Err(s3_error!(
            InvalidObjectState,
            "The operation is not valid for the object's storage class"
        )
        .with_extra("StorageClass", v.storage_class.as_str())),
    }
}
