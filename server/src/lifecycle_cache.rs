//! Bucket lifecycle configurations as requests read them (the `x-amz-expiration` header, Get),
//! read through a [`BucketCache`] that only this process writes.

use std::sync::Arc;

use strata_lifecycle::{Action, LifecycleClock, LifecycleConfiguration, VersionFacts};

use crate::app::{blocking, AppState};
use crate::bucket_cache::BucketCache;
use crate::error::{S3Error, S3Result};
use crate::handlers::http_date;

type Cached = Option<Arc<LifecycleConfiguration>>;

/// Lifecycle configurations by bucket.
pub type LifecycleCache = BucketCache<Cached>;

/// The bucket's configuration, if any.
pub async fn load(state: &AppState, bucket: &str) -> S3Result<Cached> {
    state
        .lifecycle_configs
        .get(bucket, || {
            let store = state.store.clone();
            let b = bucket.to_owned();
            async move {
                Ok(blocking(move || {
                    strata_lifecycle::worker::load_config(&store, &b).map_err(S3Error::from)
                })
                .await?
                .map(Arc::new))
            }
        })
        .await
}

/// Forgets a bucket's cached configuration (it was replaced or removed).
pub fn forget(state: &AppState, bucket: &str) {
    state.lifecycle_configs.forget(bucket);
}

/// The `x-amz-expiration` value for a current version, if a rule expires it:
/// `expiry-date="<HTTP date>", rule-id="<id>"`.
pub fn expiration_header(
    cfg: &LifecycleConfiguration,
    clock: &LifecycleClock,
    v: &strata_storage::ObjectVersion,
) -> Option<String> {
    let facts = VersionFacts {
        key: &v.key,
        size: v.size,
        tags: &v.meta.tags,
        storage_class: v.storage_class,
        is_latest: true,
        is_delete_marker: false,
        created_ms: v.last_modified_ms,
        noncurrent_since_ms: None,
        newer_noncurrent: 0,
        only_version: true,
        versioned_bucket: false,
        retention: None,
        legal_hold: false,
    };
    // The earliest expiration any rule sets, due or not.
    let mut best: Option<(i64, String)> = None;
    for rule in cfg.rules.iter().filter(|r| r.enabled) {
        let single = LifecycleConfiguration {
            rules: vec![rule.clone()],
        };
        let e = strata_lifecycle::evaluate(&single, &facts, clock, i64::MIN);
        for due in [e.now, e.next].into_iter().flatten() {
            if due.action == Action::Expire && best.as_ref().is_none_or(|(t, _)| due.due_ms < *t) {
                best = Some((due.due_ms, due.rule_id));
            }
        }
    }
    best.map(|(t, id)| format!("expiry-date=\"{}\", rule-id=\"{}\"", http_date(t), id))
}
