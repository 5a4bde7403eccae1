//! Per-bucket values that requests read on every call (a lifecycle configuration, the access
//! settings), read through a cache that only this process writes.
//!
//! Invariant: a value loaded before a change of the bucket's settings is never cached after it:
//! each change bumps the generation, and a load stores its result only when the generation it
//! started from is still current.

use std::collections::HashMap;
use std::future::Future;
use std::sync::RwLock;

use crate::error::S3Result;

/// Values of type `T` by bucket name.
pub struct BucketCache<T> {
    inner: RwLock<CacheState<T>>,
}

impl<T> Default for BucketCache<T> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(CacheState {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

struct CacheState<T> {
    /// Bumped by every change of any bucket's value.
    generation: u64,
    entries: HashMap<String, T>,
}

impl<T: Clone> BucketCache<T> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState<T>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CacheState<T>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a bucket's cached value (it was replaced or removed).
    pub fn forget(&self, bucket: &str) {
        let mut state = self.write();
        state.generation += 1;
        state.entries.remove(bucket);
    }

    /// Forgets every bucket's cached value.
    pub fn forget_all(&self) {
        let mut state = self.write();
        state.generation += 1;
        state.entries.clear();
    }

    /// The bucket's value: cached, or loaded by `load` and kept unless a change raced it.
    pub async fn get<F, Fut>(&self, bucket: &str, load: F) -> S3Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = S3Result<T>>,
    {
        let generation = {
            let cache = self.read();
            if let Some(cached) = cache.entries.get(bucket) {
                return Ok(cached.clone());
            }
            cache.generation
        };
        let value = load().await?;
        let mut cache = self.write();
        // A value changed while this one was read: it may be stale, so it is not kept.
        if cache.generation == generation {
            cache.entries.insert(bucket.to_owned(), value.clone());
        }
        Ok(value)
    }
}
