//! The benchmark's phases: preparation (untimed), the timed workers, and cleanup (untimed).
//!
//! Invariants: a run is bounded (each worker stops at the deadline, when the operation budget is
//! spent, or when a delete run has no object left); an object is never deleted while a read of
//! it is in flight (a reader holds a clone of its `Arc`, and only objects nobody else holds are
//! taken for deletion), so every failed read is the server's fault.

use super::client::{ObjectInfo, S3Client};
use super::content::{object_seed, Rng};
use super::mix::{Mix, Op};
use super::report::OpTable;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Errors printed as they happen; the rest are only counted.
const ERRORS_PRINTED: usize = 5;

/// What the timed phase does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// PUT new objects.
    Put,
    /// GET existing objects.
    Get,
    /// GET/PUT/HEAD/DELETE by weight.
    Mixed(Mix),
    /// LIST one page of the prefix.
    List {
        /// Keys per page.
        max_keys: u32,
        /// Start each page after a random existing key instead of at the first key.
        random_start: bool,
    },
    /// DELETE existing objects.
    Delete,
}

/// The objects that exist and may be read or deleted.
#[derive(Default)]
pub struct ObjectPool {
    objects: Mutex<Vec<Arc<ObjectInfo>>>,
}

impl ObjectPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<ObjectInfo>>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an object that was written.
    pub fn insert(&self, obj: ObjectInfo) {
        self.lock().push(Arc::new(obj));
    }

    /// A random object to read; it cannot be taken for deletion while the result is alive.
    pub fn pick_for_read(&self, rng: &mut Rng) -> Option<Arc<ObjectInfo>> {
        let objects = self.lock();
        let i = rng.below(objects.len() as u64) as usize;
        objects.get(i).cloned()
    }

    /// Removes and returns a random object nobody is reading.
    pub fn take_for_delete(&self, rng: &mut Rng) -> Option<Arc<ObjectInfo>> {
        let mut objects = self.lock();
        let n = objects.len();
        if n == 0 {
            return None;
        }
        // A few random tries, then a scan: with pools much larger than the concurrency the first
        // try nearly always succeeds. Clones are only made under this lock, so a count of 1 means
        // no reader holds it and none can start.
        let start = rng.below(n as u64) as usize;
        let found = (0..4)
            .map(|k| {
                if k == 0 {
                    start
                } else {
                    rng.below(n as u64) as usize
                }
            })
            .chain((0..n).map(|k| (start + k) % n))
            .find(|&i| objects.get(i).is_some_and(|o| Arc::strong_count(o) == 1))?;
        Some(objects.swap_remove(found))
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Keys of all objects, sorted.
    pub fn sorted_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().iter().map(|o| o.key.clone()).collect();
        keys.sort();
        keys
    }
}

/// Live counters for the progress line.
#[derive(Default)]
pub struct LiveCounters {
    /// Operations finished (ok or not).
    pub ops: AtomicU64,
    /// Object bytes moved.
    pub bytes: AtomicU64,
    /// Failed operations.
    pub errors: AtomicU64,
}

/// State shared by all workers of a run.
pub struct Shared {
    /// The client.
    pub client: S3Client,
    /// Bucket.
    pub bucket: String,
    /// Key prefix of this run.
    pub prefix: String,
    /// Seed of this run's object contents.
    pub run_seed: u64,
    /// Give every object the same content.
    pub shared_content: bool,
    /// Object sizes, chosen uniformly.
    pub sizes: Vec<u64>,
    /// Objects that exist.
    pub pool: ObjectPool,
    /// Next object number.
    pub next_index: AtomicU64,
    /// Progress counters.
    pub live: LiveCounters,
    /// The first error messages.
    pub first_errors: Mutex<Vec<String>>,
    /// The progress line (errors are printed above it).
    pub progress: Mutex<Option<ProgressBar>>,
    /// Set when a delete run has run out of objects.
    pub exhausted: AtomicBool,
}

impl Shared {
    /// The key of object number `index` (zero-padded so key order is creation order).
    pub fn key(&self, index: u64) -> String {
        format!("{}{index:010}", self.prefix)
    }

    /// A new object description (not yet written).
    pub fn new_object(&self, rng: &mut Rng) -> ObjectInfo {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let size = self
            .sizes
            .get(rng.below(self.sizes.len() as u64) as usize)
            .copied()
            .unwrap_or(0);
        ObjectInfo {
            key: self.key(index),
            seed: object_seed(self.run_seed, index, self.shared_content),
            size,
        }
    }

    /// Counts an error and prints the first few.
    pub fn record_error(&self, msg: String) {
        let n = self.live.errors.fetch_add(1, Ordering::Relaxed);
        if (n as usize) < ERRORS_PRINTED {
            let line = format!("error: {msg}");
            let pb = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            match pb.as_ref() {
                Some(pb) => pb.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
            self.first_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(msg);
        }
    }
}

/// When the timed phase stops.
pub struct Limits {
    /// Stop starting operations after this instant.
    pub deadline: Option<Instant>,
    /// Operations left to start (`--count`).
    pub budget: Option<AtomicU64>,
}

impl Limits {
    /// Claims the right to start one more operation.
    fn claim(&self) -> bool {
        if let Some(deadline) = self.deadline {
            if Instant::now() >= deadline {
                return false;
            }
        }
        match &self.budget {
            Some(b) => b
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                .is_ok(),
            None => true,
        }
    }
}

/// What one list request is expected to return, given the sorted keys of the prefix.
pub fn expected_list(
    keys: &[String],
    max_keys: u32,
    start: Option<usize>,
) -> (usize, Option<&str>) {
    let first = start.map_or(0, |s| s + 1);
    let remaining = keys.len().saturating_sub(first);
    let n = remaining.min(max_keys as usize);
    (n, keys.get(first).map(String::as_str).filter(|_| n > 0))
}

/// One timed worker; returns its statistics.
pub async fn worker(
    shared: Arc<Shared>,
    limits: Arc<Limits>,
    workload: Workload,
    list_keys: Arc<Vec<String>>,
    worker_seed: u64,
) -> OpTable {
    let mut rng = Rng::new(worker_seed);
    let mut stats = OpTable::default();
    while limits.claim() {
        let mut op = match workload {
            Workload::Put => Op::Put,
            Workload::Get => Op::Get,
            Workload::Mixed(mix) => mix.pick(&mut rng),
            Workload::List { .. } => Op::List,
            Workload::Delete => Op::Delete,
        };
        let mut target = None;
        match op {
            Op::Get | Op::Head => {
                target = shared.pool.pick_for_read(&mut rng);
                if target.is_none() {
                    if workload == Workload::Get {
                        shared.record_error("no object left to read".into());
                        break;
                    }
                    op = Op::Put;
                }
            }
            Op::Delete => {
                target = shared.pool.take_for_delete(&mut rng);
                if target.is_none() {
                    if workload == Workload::Delete {
                        shared.exhausted.store(true, Ordering::Relaxed);
                        break;
                    }
                    op = Op::Put;
                }
            }
            Op::Put | Op::List => {}
        }
        let started = Instant::now();
        let result: Result<(u64, u64), String> = match (op, target.as_deref()) {
            (Op::Get, Some(obj)) => shared
                .client
                .get_object(&shared.bucket, obj)
                .await
                .map(|b| (b, 0)),
            (Op::Head, Some(obj)) => shared
                .client
                .head_object(&shared.bucket, obj)
                .await
                .map(|()| (0, 0)),
            (Op::Delete, Some(obj)) => shared
                .client
                .delete_object(&shared.bucket, &obj.key)
                .await
                .map(|()| (0, 0)),
            (Op::List, _) => list_once(&shared, workload, &list_keys, &mut rng).await,
            _ => {
                let obj = shared.new_object(&mut rng);
                let r = shared.client.put_object(&shared.bucket, &obj).await;
                if r.is_ok() && matches!(workload, Workload::Mixed(_)) {
                    shared.pool.insert(obj);
                }
                r.map(|b| (b, 0))
            }
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        drop(target);
        let s = &mut stats[op.index()];
        shared.live.ops.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok((bytes, keys)) => {
                s.ok += 1;
                s.bytes += bytes;
                s.keys += keys;
                s.latency.record(micros);
                shared.live.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(e) => {
                s.errors += 1;
                shared.record_error(e);
            }
        }
    }
    stats
}

/// One ListObjectsV2 page, checked against the keys written; returns (response bytes, keys).
async fn list_once(
    shared: &Shared,
    workload: Workload,
    keys: &[String],
    rng: &mut Rng,
) -> Result<(u64, u64), String> {
    let (max_keys, random_start) = match workload {
        Workload::List {
            max_keys,
            random_start,
        } => (max_keys, random_start),
        _ => (1000, false),
    };
    let start = (random_start && !keys.is_empty()).then(|| rng.below(keys.len() as u64) as usize);
    let start_after = start.and_then(|i| keys.get(i)).map(String::as_str);
    let page = shared
        .client
        .list_page(&shared.bucket, &shared.prefix, max_keys, start_after, None)
        .await?;
    let (want, first) = expected_list(keys, max_keys, start);
    let more = keys.len().saturating_sub(start.map_or(0, |s| s + 1)) > want;
    if page.truncated != more {
        return Err(format!(
            "ListObjectsV2: IsTruncated {}, expected {more}",
            page.truncated
        ));
    }
    if page.keys.len() != want || page.keys.first().map(String::as_str) != first {
        return Err(format!(
            "ListObjectsV2: {} keys starting at {:?}, expected {want} starting at {first:?}",
            page.keys.len(),
            page.keys.first()
        ));
    }
    Ok((page.body_len, page.keys.len() as u64))
}

/// Writes `n` objects into the pool with `concurrency` requests in flight (not timed).
pub async fn prepare(shared: &Arc<Shared>, n: u64, concurrency: usize) -> Result<(), String> {
    let failures = Arc::new(AtomicU64::new(0));
    let claimed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let shared = shared.clone();
        let failures = failures.clone();
        let claimed = claimed.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(shared.run_seed ^ 0xA5A5_0000 ^ w as u64);
            while claimed.fetch_add(1, Ordering::Relaxed) < n {
                let obj = shared.new_object(&mut rng);
                match shared.client.put_object(&shared.bucket, &obj).await {
                    Ok(bytes) => {
                        shared.pool.insert(obj);
                        shared.live.ops.fetch_add(1, Ordering::Relaxed);
                        shared.live.bytes.fetch_add(bytes, Ordering::Relaxed);
                    }
                    Err(e) => {
                        // Stop early when the endpoint refuses everything.
                        if failures.fetch_add(1, Ordering::Relaxed) >= 20 {
                            return Err(format!("preparation failed repeatedly: {e}"));
                        }
                        shared.record_error(format!("preparation: {e}"));
                    }
                }
            }
            Ok(())
        }));
    }
    let mut result = Ok(());
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(e) => result = Err(format!("preparation task: {e}")),
        }
    }
    result
}

/// Deletes every object under the run's prefix (not timed); returns how many were deleted.
pub async fn cleanup(shared: &Shared, concurrency: usize, pb: &ProgressBar) -> Result<u64, String> {
    let mut deleted = 0u64;
    loop {
        // Always list from the start: the previous page's keys are gone.
        let page = shared
            .client
            .list_page(&shared.bucket, &shared.prefix, 1000, None, None)
            .await?;
        if page.keys.is_empty() {
            return Ok(deleted);
        }
        let results: Vec<Result<(), String>> = futures_util::stream::iter(page.keys.iter())
            .map(|k| shared.client.delete_object(&shared.bucket, k))
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
        deleted += ok;
        pb.set_position(deleted);
        if ok == 0 {
            let first = results
                .into_iter()
                .find_map(Result::err)
                .unwrap_or_default();
            return Err(format!("cannot delete objects: {first}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_of(n: u64) -> ObjectPool {
        let pool = ObjectPool::default();
        for i in 0..n {
            pool.insert(ObjectInfo {
                key: format!("k{i:03}"),
                seed: i,
                size: 1,
            });
        }
        pool
    }

    #[test]
    fn objects_being_read_are_not_deleted() {
        let pool = pool_of(3);
        let mut rng = Rng::new(5);
        let held: Vec<_> = (0..50)
            .filter_map(|_| pool.pick_for_read(&mut rng))
            .collect();
        let distinct: std::collections::BTreeSet<&str> =
            held.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(distinct.len(), 3, "all three objects are held");
        assert!(pool.take_for_delete(&mut rng).is_none());
        drop(held);
        let a = pool.take_for_delete(&mut rng).unwrap();
        let reading = pool.pick_for_read(&mut rng).unwrap();
        let b = pool.take_for_delete(&mut rng).unwrap();
        assert_ne!(a.key, b.key);
        assert_ne!(b.key, reading.key, "the object being read is never taken");
        assert_eq!(pool.len(), 1);
        assert!(pool.take_for_delete(&mut rng).is_none());
        drop(reading);
        assert!(pool.take_for_delete(&mut rng).is_some());
        assert!(pool.take_for_delete(&mut rng).is_none());
        assert!(pool.pick_for_read(&mut rng).is_none());
    }

    #[test]
    fn list_expectations() {
        let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
        assert_eq!(expected_list(&keys, 1000, None), (5, Some("k0")));
        assert_eq!(expected_list(&keys, 2, None), (2, Some("k0")));
        assert_eq!(expected_list(&keys, 1000, Some(1)), (3, Some("k2")));
        assert_eq!(expected_list(&keys, 1000, Some(4)), (0, None));
        assert_eq!(expected_list(&[], 1000, None), (0, None));
    }

    #[test]
    fn count_limit_is_exact() {
        let limits = Limits {
            deadline: None,
            budget: Some(AtomicU64::new(3)),
        };
        assert!(limits.claim() && limits.claim() && limits.claim());
        assert!(!limits.claim());
        let past = Limits {
            deadline: Some(Instant::now()),
            budget: None,
        };
        assert!(!past.claim());
    }
}
