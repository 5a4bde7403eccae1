//! The lifecycle worker: passes over every bucket that has a lifecycle configuration, evaluating
//! each version and applying what is due through the storage engine; and `explain`, the same
//! evaluation without applying anything.
//!
//! Invariant: a pass only reads through the engine and applies guarded actions (each re-checks
//! that the version is the one evaluated), so an interrupted pass is simply run again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use strata_storage::{LifecycleLogEntry, ObjectVersion, StorageClass, Store, Versioning};

use crate::clock::LifecycleClock;
use crate::eval::{evaluate, upload_abort_due, Action, Due, Held, VersionFacts};
use crate::rules::LifecycleConfiguration;

/// The bucket setting that holds a lifecycle configuration (canonical JSON).
pub const LIFECYCLE_SETTING: &str = "lifecycle";

/// Rows read per scan batch.
const SCAN_BATCH: usize = 1000;

/// What one pass did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PassReport {
    /// Buckets with a configuration that were visited.
    pub buckets: usize,
    /// Versions evaluated.
    pub versions_scanned: u64,
    /// Actions found due (the backlog the pass started with).
    pub actions_due: u64,
    /// Actions applied.
    pub actions_applied: u64,
    /// Incomplete uploads aborted.
    pub uploads_aborted: u64,
    /// Errors met (the pass goes on).
    pub errors: u64,
    /// How long the pass took, ms.
    pub duration_ms: u64,
}

/// One row of `explain`.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainRow {
    /// Key.
    pub key: String,
    /// Version id.
    pub version_id: String,
    /// Storage class.
    pub storage_class: StorageClass,
    /// Whether latest.
    pub is_latest: bool,
    /// Whether a delete marker.
    pub is_delete_marker: bool,
    /// The action due at the explained time, if any.
    pub due_now: Option<Due>,
    /// The next action after that time, if any.
    pub next: Option<Due>,
    /// A removal due at that time that an Object Lock holds off, and the lock.
    pub held: Option<Held>,
}

/// Counters the server exports as metrics.
#[derive(Default)]
pub struct WorkerStats {
    /// Passes completed.
    pub passes: AtomicU64,
    /// Actions applied since start.
    pub actions_applied: AtomicU64,
    /// Duration of the last pass, ms.
    pub last_pass_ms: AtomicU64,
    /// Actions found due at the start of the last pass.
    pub backlog: AtomicU64,
}

/// Reads a bucket's configuration.
pub fn load_config(
    store: &Store,
    bucket: &str,
) -> strata_storage::Result<Option<LifecycleConfiguration>> {
    Ok(store
        .bucket_setting(bucket, LIFECYCLE_SETTING)?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// Stores (or removes) a bucket's configuration and marks its versions for re-evaluation.
pub fn store_config(
    store: &Store,
    bucket: &str,
    cfg: Option<&LifecycleConfiguration>,
) -> strata_storage::Result<()> {
    let json = match cfg {
        Some(c) => Some(serde_json::to_string(c).map_err(|e| {
            strata_storage::Error::Invalid(format!("lifecycle configuration: {e}"))
        })?),
        None => None,
    };
    store.set_bucket_setting(bucket, LIFECYCLE_SETTING, json)?;
    store.reset_lifecycle_due(bucket)
}

/// The distinct prefixes to scan: a prefix covered by a shorter one is dropped.
fn scan_prefixes(cfg: &LifecycleConfiguration) -> Vec<String> {
    let mut prefixes: Vec<String> = cfg
        .rules
        .iter()
        .filter(|r| r.enabled)
        .map(|r| r.filter.prefix.clone())
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let mut out: Vec<String> = Vec::new();
    for p in prefixes {
        if !out.iter().any(|q| p.starts_with(q.as_str())) {
            out.push(p);
        }
    }
    out
}

/// Evaluates the versions of one key (newest first) under `cfg`.
fn evaluate_group<'g>(
    group: &'g [ObjectVersion],
    cfg: &LifecycleConfiguration,
    clock: &LifecycleClock,
    now_ms: i64,
    versioned: bool,
) -> Vec<(&'g ObjectVersion, crate::eval::Evaluation)> {
    let only = group.len() == 1;
    let mut newer_noncurrent = 0u32;
    let mut out = Vec::with_capacity(group.len());
    for v in group {
        let facts = VersionFacts {
            key: &v.key,
            size: v.size,
            tags: &v.meta.tags,
            storage_class: v.storage_class,
            is_latest: v.is_latest,
            is_delete_marker: v.is_delete_marker,
            created_ms: v.last_modified_ms,
            noncurrent_since_ms: v.noncurrent_since_ms,
            newer_noncurrent,
            only_version: only,
            versioned_bucket: versioned,
            retention: v.meta.retention,
            legal_hold: v.meta.legal_hold,
        };
        out.push((v, evaluate(cfg, &facts, clock, now_ms)));
        if !v.is_latest {
            newer_noncurrent += 1;
        }
    }
    out
}

/// Most keys one pass evaluates per bucket; the rest wait for the next pass.
const MAX_KEYS_PER_PASS: usize = 100_000;

/// Evaluates every version of a bucket under `cfg`, calling `visit` with the facts' outcome.
fn for_each_version(
    store: &Store,
    bucket: &str,
    cfg: &LifecycleConfiguration,
    clock: &LifecycleClock,
    now_ms: i64,
    mut visit: impl FnMut(&ObjectVersion, crate::eval::Evaluation),
) -> strata_storage::Result<u64> {
    let versioned = store.versioning(bucket)? != Versioning::Unversioned;
    let mut scanned = 0u64;
    for prefix in scan_prefixes(cfg) {
        let mut cursor: Option<(String, i64)> = None;
        // Versions of the key being read (newest first), carried across batches.
        let mut group: Vec<ObjectVersion> = Vec::new();
        let mut flush = |group: &mut Vec<ObjectVersion>, scanned: &mut u64| {
            for (v, e) in evaluate_group(group, cfg, clock, now_ms, versioned) {
                visit(v, e);
                *scanned += 1;
            }
            group.clear();
        };
        loop {
            let batch = store.scan_versions(
                bucket,
                &prefix,
                cursor.as_ref().map(|(k, id)| (k.as_str(), *id)),
                SCAN_BATCH,
            )?;
            let done = batch.len() < SCAN_BATCH;
            for v in batch {
                if group.first().is_some_and(|g| g.key != v.key) {
                    flush(&mut group, &mut scanned);
                }
                cursor = Some((v.key.clone(), v.id));
                group.push(v);
            }
            if done {
                break;
            }
        }
        flush(&mut group, &mut scanned);
    }
    Ok(scanned)
}

/// The lifecycle log's words for a removal a lock holds off.
fn deferral(held: &Held) -> String {
    let by = match held.by {
        strata_storage::Hold::LegalHold => "a legal hold".to_owned(),
        strata_storage::Hold::Retention(r) => format!(
            "{} retention until {}",
            r.mode.as_str(),
            time::OffsetDateTime::from_unix_timestamp_nanos(r.retain_until_ms as i128 * 1_000_000)
                .ok()
                .and_then(|t| t
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok())
                .unwrap_or_else(|| format!("{} ms", r.retain_until_ms))
        ),
    };
    format!("{} deferred: held by {by}", held.due.action.name())
}

/// Applies one due action; returns whether it changed anything.
fn apply(store: &Store, v: &ObjectVersion, due: &Due) -> strata_storage::Result<bool> {
    match &due.action {
        Action::Expire => store.lifecycle_expire_current(&v.bucket, &v.key, v.id),
        Action::DeleteNoncurrent | Action::RemoveExpiredDeleteMarker => {
            store.lifecycle_delete_version(&v.bucket, &v.key, &v.version_id, v.id)
        }
        Action::Transition(class) | Action::TransitionNoncurrent(class) => {
            let changed = store.lifecycle_set_class(&v.bucket, v.id, *class)?;
            if changed && class.is_archive() {
                store.archive_version(v.id)?;
            }
            Ok(changed)
        }
    }
}

/// Runs one pass now, over one bucket or all buckets with a configuration.
pub fn run_pass(
    store: &Store,
    clock: &LifecycleClock,
    only_bucket: Option<&str>,
) -> strata_storage::Result<PassReport> {
    let started = Instant::now();
    let now_ms = clock.now_ms();
    let mut report = PassReport::default();
    // Finish moves to the archive tier that a crash interrupted (or a PUT straight into an
    // archive class left for later).
    for id in store.versions_to_archive(1000)? {
        if let Err(e) = store.archive_version(id) {
            tracing::warn!(version = id, error = %e, "archiving failed");
            report.errors += 1;
        }
    }
    for (bucket, json) in store.buckets_with_setting(LIFECYCLE_SETTING)? {
        if only_bucket.is_some_and(|b| b != bucket) {
            continue;
        }
        let Ok(cfg) = serde_json::from_str::<LifecycleConfiguration>(&json) else {
            report.errors += 1;
            continue;
        };
        report.buckets += 1;
        let mut log = Vec::new();
        let mut errors = 0u64;
        let mut due_found = 0u64;
        let mut scanned = 0u64;
        let mut due_times = Vec::new();
        let versioned = match store.versioning(&bucket) {
            Ok(v) => v != Versioning::Unversioned,
            Err(strata_storage::Error::NoSuchBucket(_)) => continue,
            Err(e) => return Err(e),
        };
        // Only keys with a version due now, or changed since it was last evaluated.
        for key in store.lifecycle_due_keys(&bucket, now_ms, MAX_KEYS_PER_PASS)? {
            let group = store.key_versions(&bucket, &key)?;
            for (v, eval) in evaluate_group(&group, &cfg, clock, now_ms, versioned) {
                scanned += 1;
                if let Some(held) = &eval.held {
                    // Logged once per deferral: the version is evaluated again when the lock
                    // ends (its next due time) or changes (which re-marks the key).
                    log.push(LifecycleLogEntry {
                        time_ms: clock.now_ms(),
                        bucket: v.bucket.clone(),
                        key: v.key.clone(),
                        version_id: v.version_id.clone(),
                        action: deferral(held),
                        rule_id: held.due.rule_id.clone(),
                    });
                }
                let Some(due) = eval.now else {
                    let next = eval.next.map(|d| d.due_ms).unwrap_or(i64::MAX);
                    due_times.push((v.id, v.lifecycle_epoch, next));
                    continue;
                };
                due_found += 1;
                match apply(store, v, &due) {
                    // The write re-marked the key; the next pass evaluates it afresh.
                    Ok(true) => log.push(LifecycleLogEntry {
                        time_ms: clock.now_ms(),
                        bucket: v.bucket.clone(),
                        key: v.key.clone(),
                        version_id: v.version_id.clone(),
                        action: due.action.name(),
                        rule_id: due.rule_id.clone(),
                    }),
                    // The version changed under the pass (and was re-marked) or is gone.
                    Ok(false) => due_times.push((v.id, v.lifecycle_epoch, i64::MAX)),
                    Err(e) => {
                        tracing::warn!(bucket = %v.bucket, key = %v.key, error = %e, "lifecycle action failed");
                        errors += 1;
                    }
                }
            }
        }
        store.lifecycle_set_due(due_times)?;
        report.versions_scanned += scanned;
        report.errors += errors;
        report.actions_due += due_found;
        // Incomplete multipart uploads.
        let uploads = strata_storage::ignore_missing_bucket(store.list_uploads(
            &bucket,
            "",
            None,
            None,
            None,
            usize::MAX,
        ))?;
        for up in uploads.uploads {
            if let Some(due) = upload_abort_due(&cfg, &up.key, up.initiated_ms, clock) {
                if due.due_ms <= now_ms {
                    match store.abort_upload(&bucket, &up.key, &up.upload_id) {
                        Ok(()) => {
                            report.uploads_aborted += 1;
                            log.push(LifecycleLogEntry {
                                time_ms: clock.now_ms(),
                                bucket: bucket.clone(),
                                key: up.key.clone(),
                                version_id: up.upload_id.clone(),
                                action: "AbortIncompleteMultipartUpload".into(),
                                rule_id: due.rule_id.clone(),
                            });
                        }
                        Err(strata_storage::Error::NoSuchUpload(_)) => {}
                        Err(e) => {
                            tracing::warn!(bucket = %bucket, upload = %up.upload_id, error = %e, "abort failed");
                            report.errors += 1;
                        }
                    }
                }
            }
        }
        report.actions_applied += log.len() as u64;
        store.append_lifecycle_log(log)?;
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Evaluates a bucket at `at_ms` without applying anything: for each version, what is due and
/// what comes next.
pub fn explain(
    store: &Store,
    clock: &LifecycleClock,
    bucket: &str,
    at_ms: i64,
) -> strata_storage::Result<(Option<LifecycleConfiguration>, Vec<ExplainRow>)> {
    let Some(cfg) = load_config(store, bucket)? else {
        store.bucket(bucket)?;
        return Ok((None, Vec::new()));
    };
    let mut rows = Vec::new();
    // Every version is shown, also those no rule selects.
    let all = LifecycleConfiguration {
        rules: vec![crate::rules::Rule {
            enabled: true,
            ..Default::default()
        }],
    };
    let mut evaluated: std::collections::HashMap<i64, crate::eval::Evaluation> = Default::default();
    for_each_version(store, bucket, &cfg, clock, at_ms, |v, e| {
        evaluated.insert(v.id, e);
    })?;
    for_each_version(store, bucket, &all, clock, at_ms, |v, _| {
        let e = evaluated.remove(&v.id).unwrap_or_default();
        rows.push(ExplainRow {
            key: v.key.clone(),
            version_id: v.version_id.clone(),
            storage_class: v.storage_class,
            is_latest: v.is_latest,
            is_delete_marker: v.is_delete_marker,
            due_now: e.now,
            next: e.next,
            held: e.held,
        });
    })?;
    Ok((Some(cfg), rows))
}

/// The background worker: a thread that runs a pass every `interval`, or at once when asked.
pub struct LifecycleWorker {
    trigger: std::sync::mpsc::Sender<Option<String>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    last: Arc<Mutex<Option<PassReport>>>,
    /// Counters.
    pub stats: Arc<WorkerStats>,
}

impl LifecycleWorker {
    /// Starts the worker thread.
    pub fn start(store: Store, clock: LifecycleClock, interval: Duration) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
        let stats = Arc::new(WorkerStats::default());
        let last = Arc::new(Mutex::new(None));
        let (stats2, last2) = (stats.clone(), last.clone());
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("strata-lifecycle".into())
            .spawn(move || loop {
                let bucket = match rx.recv_timeout(interval) {
                    Ok(b) => b,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                };
                if stop2.load(Ordering::Acquire) {
                    return;
                }
                match run_pass(&store, &clock, bucket.as_deref()) {
                    Ok(report) => {
                        stats2.passes.fetch_add(1, Ordering::Relaxed);
                        stats2
                            .actions_applied
                            .fetch_add(report.actions_applied, Ordering::Relaxed);
                        stats2
                            .last_pass_ms
                            .store(report.duration_ms, Ordering::Relaxed);
                        if report.actions_applied > 0 {
                            tracing::info!(?report, "lifecycle pass");
                        }
                        *last2.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
                    }
                    Err(e) => tracing::warn!(error = %e, "lifecycle pass failed"),
                }
            })?;
        Ok(Self {
            trigger: tx,
            stopping,
            thread: Mutex::new(Some(thread)),
            last,
            stats,
        })
    }

    /// Stops the worker: a pass in progress finishes, no other starts; returns once the thread
    /// has ended.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _ = self.trigger.send(None);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Asks for a pass now (over one bucket, or all).
    pub fn trigger(&self, bucket: Option<String>) {
        let _ = self.trigger.send(bucket);
    }

    /// The report of the last completed pass.
    pub fn last_report(&self) -> Option<PassReport> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Filter, Rule};

    #[test]
    fn prefixes_covered_by_shorter_ones_are_dropped() {
        let rule = |p: &str| Rule {
            id: p.into(),
            enabled: true,
            filter: Filter {
                prefix: p.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let cfg = LifecycleConfiguration {
            rules: vec![rule("logs/a"), rule("logs/"), rule("tmp/"), rule("logs/b")],
        };
        assert_eq!(
            scan_prefixes(&cfg),
            vec!["logs/".to_string(), "tmp/".to_string()]
        );
    }
}
