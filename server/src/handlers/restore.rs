//! The archive tier over the wire: RestoreObject, the `x-amz-restore` header, and moving versions
//! whose class is GLACIER or DEEP_ARCHIVE into the cold tier.

use actix_web::{web, HttpResponse};
use strata_lifecycle::eval::due_after_days;
use strata_storage::StorageClass;

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::request::version_param;
use crate::s3_error;
use crate::versions::{load_readable, status, RestoreStatus};
use crate::xml;

/// Retrieval delay of a restore tier, in real-time hours (S3's upper bounds).
fn retrieval_hours(class: StorageClass, tier: &str) -> S3Result<f64> {
    match (class, tier) {
        (StorageClass::Glacier, "Expedited") => Ok(5.0 / 60.0),
        (StorageClass::Glacier, "Standard") => Ok(5.0),
        (StorageClass::Glacier, "Bulk") => Ok(12.0),
        (StorageClass::DeepArchive, "Standard") => Ok(12.0),
        (StorageClass::DeepArchive, "Bulk") => Ok(48.0),
        (StorageClass::DeepArchive, "Expedited") => Err(s3_error!(
            InvalidArgument,
            "Expedited retrievals are not available for the DEEP_ARCHIVE storage class"
        )),
        _ => Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )),
    }
}

/// RestoreObject (`POST ?restore`).
pub async fn restore_object(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let key = req.key()?.to_owned();
    let version_id = version_param(req)?;
    let body = req.read_document(payload, 64 * 1024).await?;
    let doc: xml::RestoreRequest = if body.iter().all(u8::is_ascii_whitespace) {
        xml::RestoreRequest::default()
    } else {
        xml::parse(&body)?
    };
    if doc.restore_type.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "SELECT restores are not supported"
        ));
    }
    let days: u32 = match doc.days.as_deref().map(str::trim) {
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| *d >= 1)
            .ok_or_else(|| s3_error!(InvalidArgument, "Restoration days should be at least 1"))?,
        None => {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ))
        }
    };
    let tier = doc
        .glacier_job_parameters
        .and_then(|p| p.tier)
        .unwrap_or_else(|| "Standard".to_owned());
    let handle = load_readable(req.store(), &bucket, &key, version_id).await?;
    let v = handle.version.clone();
    drop(handle);
    let clock = req.state.clock;
    let now = clock.now_ms();
    let hours = match status(&v, now) {
        RestoreStatus::NotArchived => {
            return Err(s3_error!(
                InvalidObjectState,
                "Restore is not allowed for the object's current storage class"
            )
            .with_extra("StorageClass", v.storage_class.as_str()))
        }
        RestoreStatus::Ongoing => {
            return Err(s3_error!(
                RestoreAlreadyInProgress,
                "Object restore is already in progress"
            ))
        }
        RestoreStatus::Restored(_) => None,
        RestoreStatus::Archived => Some(retrieval_hours(v.storage_class, &tier)?),
    };
    // Retrieval delays follow the lifecycle clock: an hour is a 24th of a lifecycle day.
    let ready = match hours {
        Some(h) => now + (h * clock.day_seconds() as f64 * 1000.0 / 24.0) as i64,
        None => now,
    };
    let expiry = due_after_days(&clock, ready, days);
    let store = req.store().clone();
    let id = v.id;
    if !v.archived {
        // Class recorded but the move to the cold tier has not run yet: do it now.
        let s = store.clone();
        blocking(move || s.archive_version(id).map(|_| ()).map_err(S3Error::from)).await?;
    }
    blocking(move || store.set_restore(id, ready, expiry).map_err(S3Error::from)).await?;
    Ok(match hours {
        Some(_) => HttpResponse::Accepted().finish(),
        None => HttpResponse::Ok().finish(),
    })
}
