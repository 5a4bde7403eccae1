//! Bucket lifecycle configurations as requests read them (the `x-amz-expiration` header, Get),
//! read through a cache that only this process writes.
//!
//! Invariant: a configuration loaded before a Put or Delete of the bucket's configuration is
//! never cached after it: each change bumps the bucket's generation, and a load stores its result
//! only when the generation it started from is still current.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use strata_lifecycle::{Action, LifecycleClock, LifecycleConfiguration, VersionFacts};

use crate::app::{blocking, AppState};
use crate::error::{S3Error, S3Result};
use crate::handlers::http_date;

type Cached = Option<Arc<LifecycleConfiguration>>;

/// Lifecycle configurations by bucket.
#[derive(Default)]
pub struct LifecycleCache {
    inner: RwLock<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// Bumped by every change of any bucket's configuration.
    generation: u64,
    entries: HashMap<String, Cached>,
}

impl LifecycleCache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CacheState> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a bucket's cached configuration (it was replaced or removed).
    pub fn forget(&self, bucket: &str) {
        let mut state = self.write();
        state.generation += 1;
        state.entries.remove(bucket);
    }
}

/// The bucket's configuration, if any.
pub async fn load(state: &AppState, bucket: &str) -> S3Result<Cached> {
    let generation = {
        let cache = state.lifecycle_configs.read();
        if let Some(cached) = cache.entries.get(bucket) {
            return Ok(cached.clone());
        }
        cache.generation
    };
    let store = state.store.clone();
    let b = bucket.to_owned();
    let cfg =
        blocking(move || strata_lifecycle::worker::load_config(&store, &b).map_err(S3Error::from))
            .await?
            .map(Arc::new);
    let mut cache = state.lifecycle_configs.write();
    // A configuration changed while this one was read: it may be stale, so it is not kept.
    if cache.generation == generation {
        cache.entries.insert(bucket.to_owned(), cfg.clone());
    }
    Ok(cfg)
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
