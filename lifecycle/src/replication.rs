//! Bucket replication: the configuration as types with S3's validation, the policy that decides
//! which destinations a new version goes to (given to `Store::open`, which queues in
//! the committing transaction), and the worker that drains the queue.
//!
//! Invariants:
//! - A configuration that passed [`ReplicationConfiguration::validate`] is one S3 would accept
//!   (plus Strata's remote destinations); it is stored as canonical JSON and matched as is.
//! - For each destination, the matching enabled rule with the highest priority decides (document
//!   order breaks ties); a version goes at most once to each destination.
//! - The worker never gives up on an entry: after [`FAIL_AFTER`] failed attempts its source
//!   reports FAILED, and it is still retried, with backoff on the lifecycle clock, until the
//!   destination takes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_storage::{
    ObjectHandle, ObjectVersion, QueueEntry, ReplicationEvent, ReplicationPolicy,
    ReplicationTarget, StorageClass, Store,
};

use crate::clock::LifecycleClock;
use crate::rules::{RuleError, MAX_RULES};

/// Failed attempts after which a source version reports FAILED.
pub const FAIL_AFTER: u32 = 3;

/// Longest rule id S3 accepts.
pub const MAX_ID_LEN: usize = 255;

/// A bucket's replication configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationConfiguration {
    /// The IAM role S3 would assume (stored and returned; Strata assumes no roles).
    pub role: String,
    /// Rules, in document order.
    pub rules: Vec<ReplicationRule>,
}

/// One rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRule {
    /// Rule id (generated when the document has none).
    pub id: String,
    /// Priority (the V2 schema, with `Filter`); higher wins.
    pub priority: Option<i64>,
    /// Whether the rule is applied.
    pub enabled: bool,
    /// Whether the rule uses the V2 schema (`Filter`) rather than the legacy rule-level `Prefix`.
    pub v2: bool,
    /// Which versions it selects.
    pub filter: ReplicationFilter,
    /// Where they go.
    pub destination: Destination,
    /// `DeleteMarkerReplication` (None: absent). Absent in the legacy schema, which always
    /// replicates delete markers; required by the V2 schema.
    pub delete_marker_replication: Option<bool>,
    /// `ExistingObjectReplication` (None: absent): whether versions that were there before the
    /// rule are replicated too.
    pub existing_object_replication: Option<bool>,
}

/// The filter of a rule: every present condition must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationFilter {
    /// Key prefix (empty: every key).
    pub prefix: String,
    /// Tags the object must carry (all of them).
    pub tags: Vec<(String, String)>,
    /// Whether the document used `And` (kept so the configuration reads back as it was written).
    pub and: bool,
}

/// The destination of a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// The bucket ARN, as written.
    pub bucket: String,
    /// The storage class of replicas (None: the source's).
    pub storage_class: Option<StorageClass>,
    /// `Account`, stored and returned.
    pub account: Option<String>,
}

/// Where a destination ARN points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A bucket of this server: `arn:aws:s3:::BUCKET`.
    Local(String),
    /// A bucket on a remote named at start-up: `arn:strata:replication::NAME:BUCKET`.
    Remote {
        /// The remote's name.
        name: String,
        /// The bucket there.
        bucket: String,
    },
}

/// Parses a destination ARN.
pub fn parse_target(arn: &str) -> Option<Target> {
    if let Some(bucket) = arn.strip_prefix("arn:aws:s3:::") {
        return (!bucket.is_empty() && !bucket.contains(['/', ':']))
            .then(|| Target::Local(bucket.to_owned()));
    }
    let rest = arn.strip_prefix("arn:strata:replication::")?;
    let (name, bucket) = rest.split_once(':')?;
    (!name.is_empty() && !bucket.is_empty() && !bucket.contains(['/', ':'])).then(|| {
        Target::Remote {
            name: name.to_owned(),
            bucket: bucket.to_owned(),
        }
    })
}

impl ReplicationFilter {
    /// Whether a version with this key and these tags is selected.
    pub fn matches(&self, key: &str, tags: &[(String, String)]) -> bool {
        key.starts_with(self.prefix.as_str()) && self.tags.iter().all(|t| tags.contains(t))
    }
}

impl ReplicationConfiguration {
    /// Checks the configuration as S3 does. `remote_known` says whether a remote name was given
    /// at start-up. Checks that need the store (the destination bucket exists and is versioned)
    /// are the caller's.
    pub fn validate(
        &self,
        source_bucket: &str,
        remote_known: &dyn Fn(&str) -> bool,
    ) -> Result<(), RuleError> {
        use RuleError::*;
        const SCHEMA_HELP: &str = "Please refer to S3 Developer Guide for more information.";
        if self.rules.is_empty() {
            return Err(Malformed("The XML you provided was not well-formed or did not validate against our published schema".into()));
        }
        if self.rules.len() > MAX_RULES {
            return Err(InvalidRequest(
                "The number of replication rules must not exceed the allowed limit of 1000 rules."
                    .into(),
            ));
        }
        let mut ids = std::collections::HashSet::new();
        let mut priorities = std::collections::HashSet::new();
        for r in &self.rules {
            if r.id.len() > MAX_ID_LEN {
                return Err(InvalidArgument(
                    "The maximum value is 255 characters.".into(),
                ));
            }
            if !r.id.is_ascii() {
                return Err(InvalidArgument(
                    "Rule ID must not contain non-ASCII characters.".into(),
                ));
            }
            if !ids.insert(r.id.as_str()) {
                return Err(InvalidArgument("Rule Id must be unique".into()));
            }
            if r.filter.prefix.len() > 1024 {
                return Err(InvalidArgument(
                    "The maximum length of a prefix is 1024 characters.".into(),
                ));
            }
            if r.v2 {
                let Some(p) = r.priority else {
                    return Err(InvalidRequest(format!(
                        "Priority must be specified for this version of Cross Region Replication configuration schema. {SCHEMA_HELP}"
                    )));
                };
                if !(0..=i64::from(i32::MAX)).contains(&p) {
                    return Err(InvalidRequest(
                        "Priority must be between 0 and 2147483647.".into(),
                    ));
                }
                if !priorities.insert(p) {
                    return Err(InvalidRequest(format!("Found duplicate priority {p}.")));
                }
                match r.delete_marker_replication {
                    None => {
                        return Err(InvalidRequest(format!(
                            "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema. {SCHEMA_HELP}"
                        )))
                    }
                    Some(true) if !r.filter.tags.is_empty() => {
                        return Err(InvalidRequest(format!(
                            "Delete marker replication is not supported if any Tag filter is specified. {SCHEMA_HELP}"
                        )))
                    }
                    Some(_) => {}
                }
            } else {
                if r.priority.is_some() {
                    return Err(InvalidRequest(format!(
                        "Priority cannot be used for this version of Cross Region Replication configuration schema. {SCHEMA_HELP}"
                    )));
                }
                if r.delete_marker_replication.is_some() {
                    return Err(InvalidRequest(format!(
                        "DeleteMarkerReplication cannot be used for this version of Cross Region Replication configuration schema. {SCHEMA_HELP}"
                    )));
                }
            }
            let mut keys = std::collections::HashSet::new();
            for (k, _) in &r.filter.tags {
                if k.is_empty() || k.len() > 128 {
                    return Err(InvalidArgument(
                        "The TagKey you have provided is invalid".into(),
                    ));
                }
                if !keys.insert(k.as_str()) {
                    return Err(InvalidRequest("Duplicate Tag Keys are not allowed.".into()));
                }
            }
            match parse_target(&r.destination.bucket) {
                None => return Err(InvalidArgument("Invalid bucket ARN.".into())),
                Some(Target::Local(b)) if b == source_bucket => {
                    return Err(InvalidRequest(
                        "Destination bucket cannot be the same as the source bucket.".into(),
                    ))
                }
                Some(Target::Remote { name, .. }) if !remote_known(&name) => {
                    return Err(InvalidRequest(format!(
                        "Unknown replication remote {name:?}: name it with --replication-remote when the server starts."
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The destinations a version goes to, one per destination: for each, the matching enabled
    /// rule with the highest priority (document order breaks ties) decides.
    pub fn targets(&self, v: &ObjectVersion, event: ReplicationEvent) -> Vec<ReplicationTarget> {
        // As in S3, versions in an archive class are not replicated.
        if v.storage_class.is_archive() {
            return Vec::new();
        }
        let mut best: Vec<(&ReplicationRule, i64)> = Vec::new();
        for r in self.rules.iter().filter(|r| r.enabled) {
            if !r.filter.matches(&v.key, &v.meta.tags) {
                continue;
            }
            let p = r.priority.unwrap_or(0);
            match best
                .iter_mut()
                .find(|(b, _)| b.destination.bucket == r.destination.bucket)
            {
                Some(slot) if slot.1 < p => *slot = (r, p),
                Some(_) => {}
                None => best.push((r, p)),
            }
        }
        best.into_iter()
            .filter(|(r, _)| {
                event != ReplicationEvent::Existing || r.existing_object_replication == Some(true)
            })
            .filter(|(r, _)| !v.is_delete_marker || r.delete_marker_replication.unwrap_or(!r.v2))
            .map(|(r, _)| ReplicationTarget {
                rule_id: r.id.clone(),
                destination: r.destination.bucket.clone(),
                storage_class: r.destination.storage_class,
            })
            .collect()
    }
}

/// Reads a bucket's configuration.
pub fn load_config(
    store: &Store,
    bucket: &str,
) -> strata_storage::Result<Option<ReplicationConfiguration>> {
    Ok(store
        .bucket_setting(bucket, strata_storage::REPLICATION_SETTING)?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// Stores (or removes) a bucket's configuration; existing versions are queued when a rule asks
/// for them. Returns how many entries were queued.
pub fn store_config(
    store: &Store,
    bucket: &str,
    cfg: Option<&ReplicationConfiguration>,
) -> strata_storage::Result<u64> {
    let json = match cfg {
        Some(c) => Some(serde_json::to_string(c).map_err(|e| {
            strata_storage::Error::Invalid(format!("replication configuration: {e}"))
        })?),
        None => None,
    };
    let queue_existing = cfg.is_some_and(|c| {
        c.rules
            .iter()
            .any(|r| r.enabled && r.existing_object_replication == Some(true))
    });
    store.set_replication_config(bucket, json, queue_existing)
}

/// Parsed configurations the policy keeps, at most.
const PARSED_CONFIGS: usize = 64;

/// The policy the storage engine consults in each committing transaction. It parses each stored
/// configuration once (keyed by its canonical JSON, so a replaced configuration is parsed anew).
pub fn policy() -> ReplicationPolicy {
    let parsed: std::sync::Mutex<HashMap<String, Arc<ReplicationConfiguration>>> =
        Default::default();
    Arc::new(
        move |config: &str, v: &ObjectVersion, event: ReplicationEvent| {
            let mut cache = parsed.lock().unwrap_or_else(|e| e.into_inner());
            let cfg = match cache.get(config) {
                Some(cfg) => cfg.clone(),
                None => match serde_json::from_str::<ReplicationConfiguration>(config) {
                    Ok(cfg) => {
                        if cache.len() >= PARSED_CONFIGS {
                            cache.clear();
                        }
                        let cfg = Arc::new(cfg);
                        cache.insert(config.to_owned(), cfg.clone());
                        cfg
                    }
                    Err(e) => {
                        tracing::warn!(bucket = %v.bucket, error = %e, "unreadable replication configuration");
                        return Vec::new();
                    }
                },
            };
            drop(cache);
            cfg.targets(v, event)
        },
    )
}

/// What went wrong when carrying an entry to a remote endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteErrorKind {
    /// No usable answer: the connection failed, was reset or timed out.
    Transport,
    /// The remote answered an HTTP error status, with the S3 error code of its error document
    /// when it sent one.
    Status {
        /// The HTTP status.
        status: u16,
        /// The S3 error code (`NoSuchBucket`, ...), if the body carried one.
        code: Option<String>,
    },
    /// The remote answered, but not as S3 does (a missing UploadId or ETag, an error document
    /// inside a success).
    Protocol,
    /// The remote cannot be addressed from here (an unknown name, unusable credentials).
    Config,
}

/// A failure of a remote destination: what kind it is, and a short description for the status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// What kind of failure it is; the worker's retry behaviour follows from it.
    pub kind: RemoteErrorKind,
    /// What happened, in words (the transport error, the operation that was refused).
    pub detail: String,
}

impl RemoteError {
    /// A failure of the given kind.
    pub fn new(kind: RemoteErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// An HTTP error status, with the S3 error code when the remote sent one.
    pub fn status(status: u16, code: Option<String>) -> Self {
        Self::new(RemoteErrorKind::Status { status, code }, String::new())
    }

    /// Whether the failure says the destination as a whole cannot take anything now (it is down,
    /// gone, refuses the keys, or answers 5xx), rather than that this one entry was refused (any
    /// other 4xx).
    pub fn destination_wide(&self) -> bool {
        match &self.kind {
            RemoteErrorKind::Status { status, .. } => {
                !(400..500).contains(status) || matches!(status, 401 | 403 | 404)
            }
            RemoteErrorKind::Transport | RemoteErrorKind::Protocol | RemoteErrorKind::Config => {
                true
            }
        }
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            RemoteErrorKind::Transport => write!(f, "transport: {}", self.detail),
            RemoteErrorKind::Status { status, code } => match code.as_deref() {
                Some(code) if !code.is_empty() => write!(f, "HTTP {status} {code}"),
                _ => write!(f, "HTTP {status}"),
            },
            RemoteErrorKind::Protocol | RemoteErrorKind::Config => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for RemoteError {}

/// Carries versions to buckets of other endpoints (implemented by the server, which speaks HTTP).
pub trait RemoteReplicator: Send + Sync {
    /// Whether a remote of this name was configured.
    fn knows(&self, name: &str) -> bool;
    /// Writes what `entry` carries (the version `source`, or its tags) to `bucket` on remote
    /// `name`.
    fn replicate(
        &self,
        name: &str,
        bucket: &str,
        entry: &QueueEntry,
        source: &ObjectHandle,
    ) -> Result<(), RemoteError>;
}

/// Decides whether the owner of a source bucket may replicate into a local destination bucket
/// (implemented by the server, which knows the users and evaluates bucket policies).
pub trait ReplicationGrants: Send + Sync {
    /// `Err(reason)` when the destination's owner does not allow what `entry` carries
    /// (s3:ReplicateObject, s3:ReplicateDelete or s3:ReplicateTags) to the source's owner: the
    /// version then goes FAILED with that reason, as in S3.
    fn check(&self, entry: &QueueEntry, destination_bucket: &str) -> Result<(), String>;
}

/// The delay before retrying an entry that failed `attempts` times: one lifecycle minute,
/// doubling, at most five lifecycle minutes, and never under 50 ms of real time.
pub fn retry_delay_ms(clock: &LifecycleClock, attempts: u32) -> i64 {
    let minute_ms = clock.day_seconds() as f64 * 1000.0 / 1440.0;
    let factor = f64::from(1u32 << attempts.saturating_sub(1).min(8));
    ((minute_ms * factor).min(minute_ms * 5.0) as i64).max(50)
}

/// Counters the server exports as metrics.
#[derive(Default)]
pub struct ReplicationWorkerStats {
    /// Entries carried since start.
    pub replicated: AtomicU64,
    /// Failed attempts since start.
    pub failed_attempts: AtomicU64,
}

/// Entries read per dispatch round.
const BATCH: usize = 64;
/// Threads that carry entries.
const WORKERS: usize = 8;
/// Entries carried to one destination at once: a destination that hangs holds at most this many
/// workers, and two that hang still leave carriers for the others.
const PER_DESTINATION: usize = 3;

/// The background worker that drains the replication queue: a dispatcher thread hands due entries
/// to a pool of carrier threads, at most [`PER_DESTINATION`] at a time per destination.
pub struct ReplicationWorker {
    trigger: std::sync::mpsc::Sender<Msg>,
    carriers: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Counters.
    pub stats: Arc<ReplicationWorkerStats>,
}

struct Ctx {
    store: Store,
    clock: LifecycleClock,
    remotes: Option<Arc<dyn RemoteReplicator>>,
    grants: Option<Arc<dyn ReplicationGrants>>,
    stats: Arc<ReplicationWorkerStats>,
}

/// What the dispatcher hears.
enum Msg {
    /// Look for due entries now.
    Wake,
    /// A carrier finished an entry (carried, or failed and rescheduled).
    Done { id: i64, destination: String },
    /// Stop dispatching (the carriers end once they finish what they carry).
    Stop,
}

impl ReplicationWorker {
    /// Starts the dispatcher and the carriers; due entries are looked for every `poll`, when a
    /// carrier finishes, or when asked.
    pub fn start(
        store: Store,
        clock: LifecycleClock,
        remotes: Option<Arc<dyn RemoteReplicator>>,
        grants: Option<Arc<dyn ReplicationGrants>>,
        poll: Duration,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        let stats = Arc::new(ReplicationWorkerStats::default());
        let ctx = Arc::new(Ctx {
            store,
            clock,
            remotes,
            grants,
            stats: stats.clone(),
        });
        let (job_tx, job_rx) = std::sync::mpsc::channel::<QueueEntry>();
        let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
        let mut carriers = Vec::with_capacity(WORKERS + 1);
        for n in 0..WORKERS {
            let (ctx, job_rx, done) = (ctx.clone(), job_rx.clone(), tx.clone());
            let carrier = std::thread::Builder::new()
                .name(format!("strata-replication-{n}"))
                .spawn(move || loop {
                    let job = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(e) = job else { return };
                    carry(&ctx, &e);
                    let msg = Msg::Done {
                        id: e.id,
                        destination: e.destination,
                    };
                    if done.send(msg).is_err() {
                        return;
                    }
                })?;
            carriers.push(carrier);
        }
        let dispatcher = std::thread::Builder::new()
            .name("strata-replication".into())
            .spawn(move || {
                let mut d = Dispatcher::default();
                loop {
                    match rx.recv_timeout(poll) {
                        Ok(Msg::Stop) => return,
                        Ok(msg) => d.hear(msg),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    while let Ok(msg) = rx.try_recv() {
                        if matches!(msg, Msg::Stop) {
                            return;
                        }
                        d.hear(msg);
                    }
                    if let Err(e) = d.dispatch(&ctx, &job_tx) {
                        tracing::warn!(error = %e, "replication dispatch failed");
                    }
                }
            })?;
        carriers.push(dispatcher);
        Ok(Self {
            trigger: tx,
            carriers: std::sync::Mutex::new(carriers),
            stats,
        })
    }

    /// Stops the worker: nothing new is dispatched, entries being carried finish (a carrier
    /// waits at most its destination's timeouts); returns once every thread has ended. Entries
    /// not carried stay queued for the next start.
    pub fn stop(&self) {
        let _ = self.trigger.send(Msg::Stop);
        let threads = std::mem::take(&mut *self.carriers.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Asks for a round now.
    pub fn trigger(&self) {
        let _ = self.trigger.send(Msg::Wake);
    }
}

/// The dispatcher's view of what is being carried. (A destination that failed rests through
/// its entries' next attempt times, which `replication_failed` pushes back.)
#[derive(Default)]
struct Dispatcher {
    /// Entries handed to a carrier.
    in_flight: std::collections::HashSet<i64>,
    /// Entries in flight per destination.
    per_destination: HashMap<String, usize>,
}

impl Dispatcher {
    fn hear(&mut self, msg: Msg) {
        let Msg::Done { id, destination } = msg else {
            return;
        };
        self.in_flight.remove(&id);
        if let Some(n) = self.per_destination.get_mut(&destination) {
            *n -= 1;
            if *n == 0 {
                self.per_destination.remove(&destination);
            }
        }
    }

    /// Hands due entries to free carriers.
    fn dispatch(
        &mut self,
        ctx: &Ctx,
        jobs: &std::sync::mpsc::Sender<QueueEntry>,
    ) -> strata_storage::Result<()> {
        if self.in_flight.len() >= WORKERS {
            return Ok(());
        }
        let busy: Vec<String> = self
            .per_destination
            .iter()
            .filter(|(_, n)| **n >= PER_DESTINATION)
            .map(|(d, _)| d.clone())
            .collect();
        for e in ctx
            .store
            .replication_due(ctx.clock.now_ms(), BATCH, &busy)?
        {
            if self.in_flight.len() >= WORKERS {
                break;
            }
            if self.in_flight.contains(&e.id) {
                continue;
            }
            let n = self
                .per_destination
                .entry(e.destination.clone())
                .or_default();
            if *n >= PER_DESTINATION {
                continue;
            }
            *n += 1;
            self.in_flight.insert(e.id);
            if jobs.send(e).is_err() {
                return Err(strata_storage::Error::Unavailable);
            }
        }
        Ok(())
    }
}

/// Why carrying an entry failed.
#[derive(Debug)]
enum CarryError {
    /// This side: the store, the destination as configured, the local destination bucket.
    Local(String),
    /// The remote destination.
    Remote(RemoteError),
}

impl std::fmt::Display for CarryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(msg) => f.write_str(msg),
            Self::Remote(e) => e.fmt(f),
        }
    }
}

/// Whether a failure says the destination as a whole cannot take anything now (it is down, gone,
/// refuses the keys, or answers 5xx), rather than that this one entry was refused. A local
/// failure rests the destination: it is the destination bucket (or the store) that refuses.
fn destination_wide(error: &CarryError) -> bool {
    match error {
        CarryError::Local(_) => true,
        CarryError::Remote(e) => e.destination_wide(),
    }
}

/// Carries one entry; a failure is recorded with its next attempt (and, when the whole
/// destination failed, the destination's other entries wait as long).
fn carry(ctx: &Ctx, e: &QueueEntry) {
    let result = match parse_target(&e.destination) {
        Some(Target::Local(bucket)) => match ctx.grants.as_ref().map(|g| g.check(e, &bucket)) {
            Some(Err(reason)) => ctx
                .store
                .replication_abandon(e, &reason)
                .map_err(|err| CarryError::Local(err.to_string())),
            _ => ctx
                .store
                .replicate_local(e, &bucket)
                .map_err(|err| CarryError::Local(err.to_string())),
        },
        Some(Target::Remote { name, bucket }) => carry_remote(ctx, e, &name, &bucket),
        None => Err(CarryError::Local(format!(
            "invalid destination {:?}",
            e.destination
        ))),
    };
    match result {
        Ok(()) => {
            ctx.stats.replicated.fetch_add(1, Ordering::Relaxed);
        }
        Err(failure) => {
            let rest_destination = destination_wide(&failure);
            let msg = failure.to_string();
            ctx.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let retry_at = ctx.clock.now_ms() + retry_delay_ms(&ctx.clock, e.attempts + 1);
            tracing::debug!(destination = %e.destination, key = %e.key, error = %msg, "replication attempt failed");
            let failure = strata_storage::ReplicationFailure {
                error: &msg,
                next_attempt_ms: retry_at,
                fail_after: FAIL_AFTER,
                rest_destination,
            };
            if let Err(err) = ctx.store.replication_failed(e, failure) {
                tracing::warn!(error = %err, "cannot record a replication failure");
            }
        }
    }
}

fn carry_remote(ctx: &Ctx, e: &QueueEntry, name: &str, bucket: &str) -> Result<(), CarryError> {
    let remotes = ctx
        .remotes
        .as_ref()
        .filter(|r| r.knows(name))
        .ok_or_else(|| CarryError::Local(format!("unknown replication remote {name:?}")))?;
    let Some(source) = ctx
        .store
        .replication_source(e)
        .map_err(|err| CarryError::Local(err.to_string()))?
    else {
        // The source version was deleted before it could be carried.
        return ctx
            .store
            .replication_drop(e)
            .map_err(|err| CarryError::Local(err.to_string()));
    };
    // Tags need no bytes; a version moved to the archive tier before its bytes went is given up.
    if source.version.archived && e.kind == strata_storage::ReplicationKind::Version {
        return ctx
            .store
            .replication_abandon(e, strata_storage::ARCHIVED_REASON)
            .map_err(|err| CarryError::Local(err.to_string()));
    }
    remotes
        .replicate(name, bucket, e, &source)
        .map_err(CarryError::Remote)?;
    ctx.store
        .replication_done(e)
        .map_err(|err| CarryError::Local(err.to_string()))
}

#[cfg(test)]
#[path = "replication_tests.rs"]
mod tests;
