//! The write pipeline: how a new version is committed once its body has been read and checked
//! (`body::ingest`), for PutObject and POST Object, and what follows every commit of a new version
//! (those two, CopyObject and CompleteMultipartUpload): a version of an archive class moves to
//! the cold tier.
//!
//! Invariant: a handler never commits a new version itself; a step every write needs is added
//! here once.

use strata_storage::{BodyWriter, NewVersion, ObjectVersion, Store};

use crate::app::blocking;
use crate::error::{S3Error, S3Result};

/// Commits the version whose body `writer` staged, then runs [`committed`].
pub async fn commit_body(
    store: &Store,
    bucket: &str,
    key: &str,
    writer: BodyWriter,
    new: NewVersion,
) -> S3Result<ObjectVersion> {
    let version = if writer.is_inline() {
        // Nothing to write but the row: await the commit without a blocking thread.
        let staged = writer.finish()?;
        store.put_object_async(bucket, key, staged, new).await?
    } else {
        let (s, b, k) = (store.clone(), bucket.to_owned(), key.to_owned());
        blocking(move || {
            let staged = writer.finish()?;
            s.put_object(&b, &k, staged, new).map_err(S3Error::from)
        })
        .await?
    };
    committed(store, &version).await?;
    Ok(version)
}

/// What follows the commit of any new version: one of an archive class moves to the cold tier.
/// The version is committed (and durable in the hot tier) whatever happens here, so a move that
/// fails (a full cold tier) does not fail the write: it is logged and the lifecycle worker, which
/// archives every archive-class version still hot on each pass, retries it.
pub async fn committed(store: &Store, v: &ObjectVersion) -> S3Result<()> {
    if v.is_delete_marker || !v.storage_class.is_archive() {
        return Ok(());
    }
    let (s, id) = (store.clone(), v.id);
    // The engine's error is logged as it is (not turned into an S3 error: none is answered).
    if let Err(e) = blocking(move || Ok(s.archive_version(id))).await? {
        tracing::warn!(
            version = id,
            error = %e,
            "archiving after the write failed; the lifecycle worker retries it"
        );
    }
    Ok(())
}
