//! Bucket replication: Put/Get/DeleteBucketReplication and their validation errors, and the
//! replication itself as a user sees it: what a replica keeps (bytes, version id, ETag, metadata,
//! tags, Last-Modified, storage class), `x-amz-replication-status` (PENDING, COMPLETED, FAILED on
//! the source, REPLICA on the replica), filters and priorities, delete markers, multipart
//! uploads and copies, tag changes, two-way pairs, existing objects, destinations on another
//! server (`arn:strata:replication::NAME:BUCKET`), a destination that goes down and comes back, a
//! queue that survives `kill -9`, and the admin surface (`/_strata/replication/status`, metrics,
//! `strata replication status`).
//!
//! Expected answers follow AWS's S3 API reference (PutBucketReplication, GetBucketReplication,
//! DeleteBucketReplication, ReplicationRule, HeadObject) and the S3 user guide on replication
//! (what is and is not replicated, replication status, delete marker replication, metadata
//! changes); the validation messages are the ones AWS answers as quoted in client issue trackers
//! (Terraform, the AWS CLI), or, where AWS's text is not known, the ones other S3
//! implementations use.
//!
//! The replication worker runs in the background, so every "it got there" is a poll with a
//! deadline. Every "it did not get there" is checked without waiting: a version is queued in the
//! transaction that commits it, so once the source reports COMPLETED (or the admin report shows
//! an empty queue) anything that was going to be replicated has been. Servers run on one-second
//! lifecycle days, so a failed attempt is retried after 50 ms.

use std::collections::BTreeMap;
use std::ops::AsyncFnMut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::types::builders::{LifecycleRuleBuilder, ReplicationRuleBuilder};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketVersioningStatus, ChecksumMode, Delete,
    DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, ExistingObjectReplication,
    ExistingObjectReplicationStatus, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, ObjectIdentifier, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetentionMode, ReplicationConfiguration, ReplicationRule, ReplicationRuleAndOperator,
    ReplicationRuleFilter, ReplicationRuleStatus, StorageClass, Tag, Transition,
    TransitionStorageClass, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use serde_json::Value;

use crate::common::{
    assert_sdk_error, create_bucket, describe_error, dir_usage, error_code, error_status,
    free_port, get_bytes, get_version_bytes, lock_bucket, md5_base64, multipart_etag,
    multipart_put, random_bytes, send_unsigned, set_lock_configuration, set_versioning,
    strata_command, versioned_bucket, xml_value, Answer, RawRequest, Server, ServerOptions,
    ACCESS_KEY, MIN_PART, SECRET_KEY,
};

/// How long a background replication may take before a test gives up.
const DEADLINE: Duration = Duration::from_secs(20);
/// How often a test looks again.
const POLL: Duration = Duration::from_millis(50);
/// The role every configuration names (Strata stores it and assumes no role).
const ROLE: &str = "arn:aws:iam::123456789012:role/replication";

// ---------------------------------------------------------------------------------------------
// Servers

/// Arguments every server of this module gets: one-second lifecycle days, so that a failed
/// replication attempt is retried after 50 ms.
fn fast_retries() -> Vec<String> {
    vec!["--lifecycle-day-seconds".into(), "1".into()]
}

/// A server on one-second lifecycle days.
fn replication_server() -> Server {
    Server::start_with(ServerOptions {
        extra_args: fast_retries(),
        ..ServerOptions::default()
    })
}

/// A server on one-second lifecycle days whose port is fixed, so that after [`Server::stop`]
/// and [`Server::start_again`] it is back where the servers that know it as a remote look.
fn restartable_server() -> Server {
    server_with_remotes(&[], Some(free_port()))
}

/// The environment variable prefix of a remote's keys: `STRATA_REMOTE_<NAME>`, upper-cased,
/// `-` read as `_`.
fn remote_env_prefix(name: &str) -> String {
    format!(
        "STRATA_REMOTE_{}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// A server on one-second lifecycle days that knows these replication remotes (name,
/// endpoint), each with the harness keys; on `port` when given.
fn server_with_remotes(remotes: &[(&str, &str)], port: Option<u16>) -> Server {
    let mut extra_args = fast_retries();
    let mut extra_env = Vec::new();
    for (name, endpoint) in remotes {
        extra_args.push("--replication-remote".into());
        extra_args.push(format!("{name}={endpoint}"));
        let prefix = remote_env_prefix(name);
        extra_env.push((format!("{prefix}_ACCESS_KEY"), ACCESS_KEY.to_string()));
        extra_env.push((format!("{prefix}_SECRET_KEY"), SECRET_KEY.to_string()));
    }
    Server::start_with(ServerOptions {
        extra_args,
        extra_env,
        port,
        ..ServerOptions::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Fixtures
//
// A test binds every server of a fixture to a name (`_server` where it has no other use): a
// server stops when its value is dropped.

/// One server with two versioned buckets: (server, a client of it, `TAG-src`, `TAG-dst`).
struct LocalPair(Server, Client, String, String);

impl LocalPair {
    /// The server and its buckets, without a replication configuration.
    async fn new(tag: &str) -> LocalPair {
        let server = replication_server();
        let client = server.client();
        let src = versioned_bucket(&client, &format!("{tag}-src")).await;
        let dst = versioned_bucket(&client, &format!("{tag}-dst")).await;
        LocalPair(server, client, src, dst)
    }

    /// The server and its buckets, the source replicating by the rules `rules` makes of the ARN
    /// of the destination.
    async fn replicating(
        tag: &str,
        rules: impl FnOnce(&str) -> Vec<ReplicationRuleBuilder>,
    ) -> LocalPair {
        let LocalPair(server, client, src, dst) = LocalPair::new(tag).await;
        set_replication(&client, &src, rules(&local_arn(&dst))).await;
        LocalPair(server, client, src, dst)
    }
}

/// Server A with a versioned bucket `TAG-src` and server B with a versioned bucket `TAG-dst`,
/// which A knows as a replication remote: (A, a client of A, `TAG-src`, B, a client of B,
/// `TAG-dst`).
struct RemotePair(Server, Client, String, Server, Client, String);

impl RemotePair {
    /// Starts A, which knows `b` as the remote `remote` and reaches it directly, or through
    /// `gate` when given; creates the buckets. No replication configuration yet.
    async fn new(tag: &str, remote: &str, b: Server, gate: Option<&Gate>) -> RemotePair {
        let b_client = b.client();
        let dst = versioned_bucket(&b_client, &format!("{tag}-dst")).await;
        let endpoint = gate.map_or_else(|| b.endpoint(), Gate::endpoint);
        let a = server_with_remotes(&[(remote, &endpoint)], None);
        let a_client = a.client();
        let src = versioned_bucket(&a_client, &format!("{tag}-src")).await;
        RemotePair(a, a_client, src, b, b_client, dst)
    }

    /// As [`RemotePair::new`], the source replicating by the rules `rules` makes of the ARN of
    /// the destination on the remote.
    async fn replicating(
        tag: &str,
        remote: &str,
        b: Server,
        gate: Option<&Gate>,
        rules: impl FnOnce(&str) -> Vec<ReplicationRuleBuilder>,
    ) -> RemotePair {
        let RemotePair(a, a_client, src, b, b_client, dst) =
            RemotePair::new(tag, remote, b, gate).await;
        set_replication(&a_client, &src, rules(&remote_arn(remote, &dst))).await;
        RemotePair(a, a_client, src, b, b_client, dst)
    }
}

/// A loopback port in front of another one. While closed it accepts connections, reads what
/// the client sends and answers nothing; once opened it passes what it read, and everything after,
/// to the port behind (also for a client that has gone away meanwhile), and relays later
/// connections. A replication remote behind a closed gate is one that has not answered yet.
struct Gate {
    port: u16,
    open: tokio::sync::watch::Sender<bool>,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
}

impl Gate {
    /// A closed gate in front of `127.0.0.1:behind` (runs on the test's runtime).
    async fn new(behind: u16) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gate");
        let port = listener.local_addr().expect("gate address").port();
        let (open, opened) = tokio::sync::watch::channel(false);
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (connections.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(relay(inbound, behind, opened.clone(), log.clone()));
            }
        });
        Gate {
            port,
            open,
            connections,
            received,
        }
    }

    /// `http://127.0.0.1:PORT` of the gate.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until a connection is held (the replication worker has sent its request).
    async fn wait_for_connection(&self) {
        eventually("the worker connects to the gate", async || {
            match self.connections.load(Ordering::SeqCst) {
                0 => Err("no connection yet".to_string()),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Waits until the bytes held so far end with `tail` (e.g. a request's whole body).
    async fn wait_for_bytes(&self, tail: &[u8]) {
        eventually("the gate holds the whole request", async || {
            let received = self.received.lock().expect("gate log").clone();
            match received.ends_with(tail) {
                true => Ok(()),
                false => Err(format!("{} bytes", received.len())),
            }
        })
        .await
    }

    /// Lets held and later connections through.
    fn open(&self) {
        self.open.send_replace(true);
    }
}

/// One connection through a [`Gate`].
async fn relay(
    mut inbound: tokio::net::TcpStream,
    behind: u16,
    mut opened: tokio::sync::watch::Receiver<bool>,
    log: Arc<Mutex<Vec<u8>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut held, mut client_gone) = (Vec::new(), false);
    let mut piece = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            open = opened.wait_for(|open| *open) => match open {
                Ok(_) => break,
                Err(_) => return,
            },
            read = inbound.read(&mut piece), if !client_gone => match read {
                Ok(0) | Err(_) => client_gone = true,
                Ok(n) => {
                    held.extend_from_slice(&piece[..n]);
                    log.lock().expect("gate log").extend_from_slice(&piece[..n]);
                }
            },
        }
    }
    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", behind)).await else {
        return;
    };
    if outbound.write_all(&held).await.is_err() {
        return;
    }
    if client_gone {
        // Nobody is left to read the answer: read it to the end and drop it.
        let _ = outbound.shutdown().await;
        let _ = tokio::io::copy(&mut outbound, &mut tokio::io::sink()).await;
    } else {
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Polling

/// Runs `probe` every [`POLL`] until it answers `Ok`, for at most [`DEADLINE`]; panics naming
/// `what` and the probe's last answer otherwise.
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(
                Instant::now() < deadline,
                "{what}: not within {DEADLINE:?} (last seen: {last})"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Buckets, objects and configurations

/// The ARN of a bucket of the same server.
fn local_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// The ARN of a bucket on a remote named at start-up.
fn remote_arn(remote: &str, bucket: &str) -> String {
    format!("arn:strata:replication::{remote}:{bucket}")
}

fn destination(arn: &str, class: Option<StorageClass>) -> Destination {
    Destination::builder()
        .bucket(arn)
        .set_storage_class(class)
        .build()
        .expect("Destination")
}

fn delete_markers(enabled: bool) -> DeleteMarkerReplication {
    DeleteMarkerReplication::builder()
        .status(if enabled {
            DeleteMarkerReplicationStatus::Enabled
        } else {
            DeleteMarkerReplicationStatus::Disabled
        })
        .build()
}

fn prefix_filter(prefix: &str) -> ReplicationRuleFilter {
    ReplicationRuleFilter::builder().prefix(prefix).build()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("Tag")
}

/// An enabled V2 rule selecting every key for `arn`, delete markers not replicated; tests
/// change what they need with the builder's setters.
fn rule(id: &str, priority: i32, arn: &str) -> ReplicationRuleBuilder {
    ReplicationRule::builder()
        .id(id)
        .priority(priority)
        .status(ReplicationRuleStatus::Enabled)
        .filter(prefix_filter(""))
        .delete_marker_replication(delete_markers(false))
        .destination(destination(arn, None))
}

fn configuration(rules: Vec<ReplicationRuleBuilder>) -> ReplicationConfiguration {
    ReplicationConfiguration::builder()
        .role(ROLE)
        .set_rules(Some(
            rules
                .into_iter()
                .map(|r| r.build().expect("ReplicationRule"))
                .collect(),
        ))
        .build()
        .expect("ReplicationConfiguration")
}

/// PutBucketReplication of a whole configuration with the SDK, which must succeed.
async fn put_replication(client: &Client, bucket: &str, config: ReplicationConfiguration) {
    client
        .put_bucket_replication()
        .bucket(bucket)
        .replication_configuration(config)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutBucketReplication {bucket}: {}", describe_error(&e)));
}

/// PutBucketReplication of these rules with the SDK, which must succeed.
async fn set_replication(client: &Client, bucket: &str, rules: Vec<ReplicationRuleBuilder>) {
    put_replication(client, bucket, configuration(rules)).await;
}

/// GetBucketReplication with the SDK, which must succeed with a configuration.
async fn get_replication(client: &Client, bucket: &str) -> ReplicationConfiguration {
    client
        .get_bucket_replication()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetBucketReplication {bucket}: {}", describe_error(&e)))
        .replication_configuration()
        .unwrap_or_else(|| panic!("GetBucketReplication {bucket}: no ReplicationConfiguration"))
        .clone()
}

/// DeleteBucketReplication with the SDK, which must succeed.
async fn delete_replication(client: &Client, bucket: &str) {
    client
        .delete_bucket_replication()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteBucketReplication {bucket}: {}", describe_error(&e)));
}

/// An enabled lifecycle rule for the keys under `prefix`; tests add its action.
fn lifecycle_rule(id: &str, prefix: &str) -> LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .status(ExpirationStatus::Enabled)
}

/// PutBucketLifecycleConfiguration with this one rule, which must succeed.
async fn set_lifecycle(client: &Client, bucket: &str, rule: LifecycleRuleBuilder) {
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule.build().expect("LifecycleRule"))
                .build()
                .expect("BucketLifecycleConfiguration"),
        )
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PutBucketLifecycleConfiguration {bucket}: {}",
                describe_error(&e)
            )
        });
}

/// Sends a PutObject, which must succeed; returns the version id.
async fn send_put(request: PutObjectFluentBuilder) -> String {
    let what = format!(
        "PutObject {}/{}",
        request.get_bucket().as_deref().unwrap_or_default(),
        request.get_key().as_deref().unwrap_or_default()
    );
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: {}", describe_error(&e)))
        .version_id()
        .unwrap_or_else(|| panic!("{what}: no version id"))
        .to_string()
}

/// PutObject with these tags (`k=v&...`, may be empty); returns the version id.
async fn put_tagged(client: &Client, bucket: &str, key: &str, body: &[u8], tags: &str) -> String {
    let mut request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into());
    if !tags.is_empty() {
        request = request.tagging(tags);
    }
    send_put(request).await
}

/// PutObject; returns the version id.
async fn put_version(client: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    put_tagged(client, bucket, key, body, "").await
}

/// Puts `k0`, `k1`, ... with these bodies; returns (key, version id, body) of each.
async fn put_numbered(
    client: &Client,
    bucket: &str,
    bodies: Vec<Vec<u8>>,
) -> Vec<(String, String, Vec<u8>)> {
    let mut written = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let key = format!("k{i}");
        let version = put_version(client, bucket, &key, &body).await;
        written.push((key, version, body));
    }
    written
}

/// `count` random parts of the smallest size S3 allows, seeded `seed`, `seed + 1`, ...
fn min_parts(count: u64, seed: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| random_bytes(MIN_PART, seed + i))
        .collect()
}

/// The parts as the slices the multipart helpers take.
fn slices(parts: &[Vec<u8>]) -> Vec<&[u8]> {
    parts.iter().map(Vec::as_slice).collect()
}

/// Uploads `parts` as one multipart upload; returns the new version's id and the ETag.
async fn put_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    parts: &[Vec<u8>],
) -> (String, String) {
    let etag = multipart_put(client, bucket, key, &slices(parts)).await;
    let version = versions_of(client, bucket, key).await[0].0.clone();
    (version, etag)
}

/// DeleteObject without a version id; returns the delete marker's version id.
async fn delete_marker(client: &Client, bucket: &str, key: &str) -> String {
    let out = client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObject {bucket}/{key}: {}", describe_error(&e)));
    assert_eq!(out.delete_marker(), Some(true), "DELETE {bucket}/{key}");
    out.version_id().expect("marker version id").to_string()
}

/// DeleteObject of one version by its id, which must succeed.
async fn delete_version(client: &Client, bucket: &str, key: &str, version_id: &str) {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "DeleteObject {bucket}/{key}?versionId={version_id}: {}",
                describe_error(&e)
            )
        });
}

/// DeleteObjects naming one key (and version id, when given), which must succeed.
async fn delete_one(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> DeleteObjectsOutput {
    let object = ObjectIdentifier::builder()
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .build()
        .expect("ObjectIdentifier");
    client
        .delete_objects()
        .bucket(bucket)
        .delete(Delete::builder().objects(object).build().expect("Delete"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObjects {bucket}/{key}: {}", describe_error(&e)))
}

/// PutObjectTagging of a version (the current one: no id), which must succeed.
async fn put_tags(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    tags: &[(&str, &str)],
) {
    client
        .put_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .tagging(crate::common::tagging(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObjectTagging {bucket}/{key}: {}", describe_error(&e)));
}

/// DeleteObjectTagging of one version, which must succeed.
async fn delete_tags(client: &Client, bucket: &str, key: &str, version_id: &str) {
    client
        .delete_object_tagging()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObjectTagging {bucket}/{key}: {}", describe_error(&e)));
}

/// HEAD of one version (checksums asked for).
async fn head_version(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<HeadObjectOutput, String> {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| describe_error(&e))
}

/// The `x-amz-replication-status` HEAD answers for one version (None: no header).
async fn status_of(client: &Client, bucket: &str, key: &str, version_id: &str) -> Option<String> {
    head_version(client, bucket, key, version_id)
        .await
        .unwrap_or_else(|e| panic!("HEAD {bucket}/{key}?versionId={version_id}: {e}"))
        .replication_status()
        .map(|s| s.as_str().to_string())
}

/// Polls HEAD of a source version until it reports `want`.
async fn wait_for_status(client: &Client, bucket: &str, key: &str, version_id: &str, want: &str) {
    eventually(
        &format!("{bucket}/{key}?versionId={version_id} reports x-amz-replication-status {want}"),
        async || {
            let got = status_of(client, bucket, key, version_id).await;
            match got.as_deref() == Some(want) {
                true => Ok(()),
                false => Err(format!("{got:?}")),
            }
        },
    )
    .await
}

/// Polls HEAD of a version at a destination until it is there; returns the HEAD.
async fn wait_for_version(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> HeadObjectOutput {
    eventually(
        &format!("replica {bucket}/{key}?versionId={version_id} exists"),
        async || head_version(client, bucket, key, version_id).await,
    )
    .await
}

/// Tags as the sorted map [`tags_of`] returns.
fn tag_map(tags: &[(&str, &str)]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The tags of one version, sorted.
async fn tags_of(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> BTreeMap<String, String> {
    client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "GetObjectTagging {bucket}/{key}?versionId={version_id}: {}",
                describe_error(&e)
            )
        })
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Polls the tags of one version until they are exactly `want`.
async fn wait_for_tags(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
    want: &[(&str, &str)],
    what: &str,
) {
    let want = tag_map(want);
    eventually(what, async || {
        let got = tags_of(client, bucket, key, version_id).await;
        match got == want {
            true => Ok(()),
            false => Err(format!("{got:?}, want {want:?}")),
        }
    })
    .await
}

/// The versions and delete markers of `key`: (version id, is a delete marker), the latest first,
/// then newest first (ListObjectVersions lists markers apart from versions, and Last-Modified
/// has whole seconds, so the latest is put first by its IsLatest flag).
async fn versions_of(client: &Client, bucket: &str, key: &str) -> Vec<(String, bool)> {
    let out = client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListObjectVersions {bucket}: {}", describe_error(&e)));
    let mut all: Vec<(String, bool, bool, i64)> = Vec::new();
    for v in out.versions().iter().filter(|v| v.key() == Some(key)) {
        all.push((
            v.version_id().unwrap_or_default().to_string(),
            false,
            v.is_latest() == Some(true),
            v.last_modified().expect("LastModified").secs(),
        ));
    }
    for m in out.delete_markers().iter().filter(|m| m.key() == Some(key)) {
        all.push((
            m.version_id().unwrap_or_default().to_string(),
            true,
            m.is_latest() == Some(true),
            m.last_modified().expect("LastModified").secs(),
        ));
    }
    all.sort_by_key(|(_, _, latest, secs)| std::cmp::Reverse((*latest, *secs)));
    all.into_iter()
        .map(|(id, marker, _, _)| (id, marker))
        .collect()
}

/// What [`versions_of`] lists for a key with this one version.
fn lone_version(version_id: &str) -> Vec<(String, bool)> {
    vec![(version_id.to_string(), false)]
}

/// What [`versions_of`] lists for a key with one version under a delete marker.
fn marker_over(marker_id: &str, version_id: &str) -> Vec<(String, bool)> {
    vec![
        (marker_id.to_string(), true),
        (version_id.to_string(), false),
    ]
}

/// Polls [`versions_of`] until it lists exactly `want`.
async fn wait_for_versions(
    client: &Client,
    bucket: &str,
    key: &str,
    want: &[(String, bool)],
    what: &str,
) {
    eventually(what, async || {
        let versions = versions_of(client, bucket, key).await;
        match versions == want {
            true => Ok(()),
            false => Err(format!("{versions:?}")),
        }
    })
    .await
}

/// Whether `key` has a current (non-deleted) version.
async fn is_current(client: &Client, bucket: &str, key: &str) -> bool {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

/// Asserts that `replica` (HEAD at the destination) is a replica of `source` (HEAD of the same
/// version at the source), with this storage class (None: STANDARD, which HEAD does not name).
fn assert_same_version(
    source: &HeadObjectOutput,
    replica: &HeadObjectOutput,
    storage_class: Option<&str>,
    what: &str,
) {
    assert_eq!(
        replica.version_id(),
        source.version_id(),
        "{what}: version id"
    );
    assert_eq!(replica.e_tag(), source.e_tag(), "{what}: ETag");
    assert_eq!(
        replica.content_length(),
        source.content_length(),
        "{what}: Content-Length"
    );
    assert_eq!(
        replica.content_type(),
        source.content_type(),
        "{what}: Content-Type"
    );
    assert_eq!(
        replica.cache_control(),
        source.cache_control(),
        "{what}: Cache-Control"
    );
    assert_eq!(
        replica.content_disposition(),
        source.content_disposition(),
        "{what}: Content-Disposition"
    );
    assert_eq!(
        replica.content_language(),
        source.content_language(),
        "{what}: Content-Language"
    );
    assert_eq!(
        replica.content_encoding(),
        source.content_encoding(),
        "{what}: Content-Encoding"
    );
    assert_eq!(
        replica.expires_string(),
        source.expires_string(),
        "{what}: Expires"
    );
    assert_eq!(
        replica.metadata(),
        source.metadata(),
        "{what}: user metadata"
    );
    assert_eq!(
        replica.last_modified(),
        source.last_modified(),
        "{what}: a replica keeps the source's Last-Modified"
    );
    assert_eq!(
        replica.storage_class().map(|c| c.as_str()),
        storage_class,
        "{what}: storage class"
    );
    assert_eq!(
        replica.replication_status().map(|s| s.as_str()),
        Some("REPLICA"),
        "{what}: a replica reports x-amz-replication-status REPLICA"
    );
}

/// Where a test looks for replicas: (a client of the source's server, the source bucket, a client
/// of the destination's server, the destination bucket).
#[derive(Clone, Copy)]
struct Route<'a>(&'a Client, &'a str, &'a Client, &'a str);

impl Route<'_> {
    /// Waits until the source reports `version_id` of `key` COMPLETED, then asserts that the
    /// destination holds a replica of it (see [`assert_same_version`]) and, when `body` is
    /// given, that the replica reads back as `body`. Returns the HEADs (source, replica).
    async fn assert_replicated(
        self,
        key: &str,
        version_id: &str,
        storage_class: Option<&str>,
        body: Option<&[u8]>,
        what: &str,
    ) -> (HeadObjectOutput, HeadObjectOutput) {
        let Route(source_client, src, replica_client, dst) = self;
        wait_for_status(source_client, src, key, version_id, "COMPLETED").await;
        let source = head_version(source_client, src, key, version_id)
            .await
            .unwrap_or_else(|e| panic!("{what}: HEAD {src}/{key}?versionId={version_id}: {e}"));
        let replica = head_version(replica_client, dst, key, version_id)
            .await
            .unwrap_or_else(|e| panic!("{what}: the replica has the source's version id: {e}"));
        assert_same_version(&source, &replica, storage_class, what);
        if let Some(body) = body {
            let got = get_version_bytes(replica_client, dst, key, version_id).await;
            assert_eq!(got, body, "{what}: bytes");
        }
        (source, replica)
    }

    /// Asserts, without waiting, that each written (key, version id, body) reports COMPLETED at
    /// the source (`note` says why) and is at the destination exactly once, with its bytes.
    async fn assert_each_replicated_once(self, written: &[(String, String, Vec<u8>)], note: &str) {
        let Route(source_client, src, replica_client, dst) = self;
        for (key, version, body) in written {
            assert_eq!(
                status_of(source_client, src, key, version).await.as_deref(),
                Some("COMPLETED"),
                "{key}{note}"
            );
            assert_eq!(
                &get_version_bytes(replica_client, dst, key, version).await,
                body
            );
            assert_eq!(
                versions_of(replica_client, dst, key).await,
                lone_version(version),
                "{key} is replicated once"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Admin surface

/// Sends a raw request signed with the server's credentials; returns the answer read whole.
async fn answer_to(server: &Server, request: RawRequest) -> Answer {
    Answer::read(request.send(server).await).await
}

/// `GET /_strata/replication/status[?bucket=B]`, which must answer 200 with JSON.
async fn status_report(server: &Server, bucket: Option<&str>) -> Value {
    let path = match bucket {
        Some(b) => format!("/_strata/replication/status?bucket={b}"),
        None => "/_strata/replication/status".to_string(),
    };
    let answer = answer_to(server, RawRequest::new("GET", &path)).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.text());
    serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {}", answer.text()))
}

/// The status report of `bucket` (of every bucket: None), asserting that `queued` entries wait
/// in the queue (`what` says why); returns the report.
async fn report_with_queue(
    server: &Server,
    bucket: Option<&str>,
    queued: u64,
    what: &str,
) -> Value {
    let report = status_report(server, bucket).await;
    assert_eq!(report["queue_length"], queued, "{what}: {report}");
    report
}

/// The counters of one rule in a status report (all zero when the rule has none yet).
fn rule_counts(report: &Value, bucket: &str, rule_id: &str) -> (u64, u64, u64) {
    let rules = report["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("status report without rules: {report}"));
    match rules
        .iter()
        .find(|r| r["bucket"] == bucket && r["rule_id"] == rule_id)
    {
        None => (0, 0, 0),
        Some(r) => {
            let count = |field: &str| {
                r[field]
                    .as_u64()
                    .unwrap_or_else(|| panic!("rule field {field} is not a count: {report}"))
            };
            (count("pending"), count("completed"), count("failed"))
        }
    }
}

/// Polls the status report of `bucket` until its queue is empty; returns the report.
async fn wait_for_empty_queue(server: &Server, bucket: &str) -> Value {
    eventually(
        &format!("the replication queue of {bucket} drains"),
        async || {
            let report = status_report(server, Some(bucket)).await;
            match report["queue_length"].as_u64() {
                Some(0) => Ok(report),
                _ => Err(report.to_string()),
            }
        },
    )
    .await
}

/// Runs `strata replication status ARGS --endpoint URL` with these credentials (and no other
/// STRATA_* setting); returns (success, stdout, stderr).
async fn replication_cli(server: &Server, args: &[&str], secret: &str) -> (bool, String, String) {
    let args = [&["replication", "status"], args].concat();
    let out = tokio::process::Command::from(strata_command(server, &args, secret))
        .output()
        .await
        .expect("run strata replication status");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `strata replication status --bucket BUCKET --json`, which must succeed and print JSON.
async fn replication_cli_json(server: &Server, bucket: &str) -> Value {
    let (ok, stdout, stderr) =
        replication_cli(server, &["--bucket", bucket, "--json"], SECRET_KEY).await;
    assert!(ok, "strata replication status --json failed: {stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("status --json prints JSON ({e}): {stdout}"))
}

/// `GET /_strata/metrics` as text.
async fn metrics_text(server: &Server) -> String {
    let answer = answer_to(server, RawRequest::new("GET", "/_strata/metrics")).await;
    assert_eq!(
        answer.status,
        200,
        "GET /_strata/metrics: {}",
        answer.text()
    );
    answer.text()
}

/// The value of the sample of `name` whose labels include every `label="value"` of `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} with labels {labels:?} in metrics:\n{text}"))
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[tokio::test]
async fn replication_configuration_round_trip_and_delete() {
    let LocalPair(server, client, src, dst) = LocalPair::new("rcfg").await;
    let other = versioned_bucket(&client, "rcfg-oth").await;

    let err = client
        .get_bucket_replication()
        .bucket(&src)
        .send()
        .await
        .expect_err("GetBucketReplication before any configuration");
    assert_sdk_error(&err, 404, "ReplicationConfigurationNotFoundError");

    let config = configuration(vec![
        rule("logs", 3, &local_arn(&dst))
            .filter(prefix_filter("logs/"))
            .delete_marker_replication(delete_markers(true))
            .destination(destination(
                &local_arn(&dst),
                Some(StorageClass::StandardIa),
            )),
        rule("docs", 2, &local_arn(&other)).filter(
            ReplicationRuleFilter::builder()
                .and(
                    ReplicationRuleAndOperator::builder()
                        .prefix("docs/")
                        .tags(tag("team", "red"))
                        .tags(tag("tier", "1"))
                        .build(),
                )
                .build(),
        ),
        rule("off", 1, &local_arn(&other))
            .status(ReplicationRuleStatus::Disabled)
            .filter(ReplicationRuleFilter::builder().tag(tag("k", "v")).build()),
    ]);
    put_replication(&client, &src, config.clone()).await;
    assert_eq!(
        get_replication(&client, &src).await,
        config,
        "GetBucketReplication returns what was stored"
    );

    // The raw answer is S3's XML document.
    let answer = answer_to(
        &server,
        RawRequest::new("GET", &format!("/{src}?replication")),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer
            .header("content-type")
            .unwrap_or_default()
            .contains("xml"),
        "GetBucketReplication Content-Type: {:?}",
        answer.header("content-type")
    );
    assert!(
        answer.text().contains("<ReplicationConfiguration"),
        "{}",
        answer.text()
    );

    // A new configuration replaces the old one; a rule without an ID is given one.
    let second = configuration(vec![rule("", 1, &local_arn(&dst)).set_id(None)]);
    put_replication(&client, &src, second).await;
    let got = get_replication(&client, &src).await;
    let rules = got.rules();
    assert_eq!(
        rules.len(),
        1,
        "the second Put replaced the rules: {rules:?}"
    );
    assert!(
        rules[0].id().is_some_and(|id| !id.is_empty()),
        "a rule stored without an ID reads back with a generated one: {rules:?}"
    );
    assert_eq!(
        rules[0].destination().map(|d| d.bucket()),
        Some(local_arn(&dst).as_str())
    );

    // DeleteBucketReplication answers 204; afterwards there is no configuration (and deleting
    // again is still 204).
    for round in ["first", "second"] {
        let answer = answer_to(
            &server,
            RawRequest::new("DELETE", &format!("/{src}?replication")),
        )
        .await;
        assert_eq!(
            answer.status,
            204,
            "{round} DeleteBucketReplication: {}",
            answer.text()
        );
    }
    delete_replication(&client, &src).await;
    let answer = answer_to(
        &server,
        RawRequest::new("GET", &format!("/{src}?replication")),
    )
    .await;
    let body = answer.assert_error(404, "ReplicationConfigurationNotFoundError");
    assert!(
        body.contains("The replication configuration was not found"),
        "{body}"
    );

    // A missing bucket comes first.
    let err = client
        .get_bucket_replication()
        .bucket("no-such-bucket-repl")
        .send()
        .await
        .expect_err("GetBucketReplication of a missing bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");
}

/// PutBucketReplication of `config` on `bucket` must fail with this status, code and a message
/// that starts with `message` (empty: any message).
async fn assert_refused(
    client: &Client,
    bucket: &str,
    config: ReplicationConfiguration,
    status: u16,
    code: &str,
    message: &str,
    case: &str,
) {
    let err = client
        .put_bucket_replication()
        .bucket(bucket)
        .replication_configuration(config)
        .send()
        .await
        .expect_err(case);
    assert_eq!(
        (error_status(&err), error_code(&err).as_str()),
        (status, code),
        "{case}: want {status} {code}, got {}",
        describe_error(&err)
    );
    let got_message = err
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default();
    assert!(
        got_message.starts_with(message),
        "{case}: message {got_message:?} does not start with {message:?}"
    );
}

#[tokio::test]
async fn replication_configuration_errors() {
    let LocalPair(server, client, src, dst) = LocalPair::new("rerr").await;
    let unversioned = create_bucket(&client, "rerr-plain").await;
    let suspended = versioned_bucket(&client, "rerr-susp").await;
    set_versioning(&client, &suspended, BucketVersioningStatus::Suspended).await;
    let to_dst = || rule("r", 1, &local_arn(&dst));

    for source in [&unversioned, &suspended] {
        assert_refused(
            &client,
            source,
            configuration(vec![to_dst()]),
            400,
            "InvalidRequest",
            "Versioning must be 'Enabled' on the bucket to apply a replication configuration",
            &format!("source {source} not versioning-enabled"),
        )
        .await;
    }
    let cases: Vec<(ReplicationConfiguration, &str, &str, &str)> = vec![
        (
            configuration(vec![rule("r", 1, &local_arn("no-such-bucket-repl"))]),
            "InvalidRequest",
            "Destination bucket must exist.",
            "missing local destination",
        ),
        (
            configuration(vec![rule("r", 1, &local_arn(&unversioned))]),
            "InvalidRequest",
            "Destination bucket must have versioning enabled.",
            "unversioned destination",
        ),
        (
            configuration(vec![rule("r", 1, &local_arn(&suspended))]),
            "InvalidRequest",
            "Destination bucket must have versioning enabled.",
            "versioning-suspended destination",
        ),
        (
            configuration(vec![rule("r", 1, &remote_arn("nope", "b"))]),
            "InvalidRequest",
            "",
            "remote the server was not started with",
        ),
        (
            configuration(vec![to_dst().set_priority(None)]),
            "InvalidRequest",
            "Priority must be specified for this version of Cross Region Replication configuration schema.",
            "V2 rule without Priority",
        ),
        (
            configuration(vec![to_dst().set_delete_marker_replication(None)]),
            "InvalidRequest",
            "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.",
            "V2 rule without DeleteMarkerReplication",
        ),
        (
            configuration(vec![
                rule("same", 1, &local_arn(&dst)).filter(prefix_filter("a/")),
                rule("same", 2, &local_arn(&dst)).filter(prefix_filter("b/")),
            ]),
            "InvalidArgument",
            "",
            "duplicate rule IDs",
        ),
        (
            configuration(vec![to_dst()
                .delete_marker_replication(delete_markers(true))
                .filter(ReplicationRuleFilter::builder().tag(tag("k", "v")).build())]),
            "InvalidRequest",
            "Delete marker replication is not supported if any Tag filter is specified.",
            "delete marker replication with a Tag filter",
        ),
        (
            configuration(vec![to_dst()
                .delete_marker_replication(delete_markers(true))
                .filter(
                    ReplicationRuleFilter::builder()
                        .and(
                            ReplicationRuleAndOperator::builder()
                                .prefix("p/")
                                .tags(tag("k", "v"))
                                .build(),
                        )
                        .build(),
                )]),
            "InvalidRequest",
            "Delete marker replication is not supported if any Tag filter is specified.",
            "delete marker replication with an And filter holding a Tag",
        ),
        (
            configuration(vec![rule("r", 1, &local_arn(&src))]),
            "InvalidRequest",
            "",
            "destination is the source",
        ),
        (
            configuration(vec![rule("r", 1, &dst)]),
            "InvalidArgument",
            "",
            "destination is a bucket name, not an ARN",
        ),
        (
            configuration(vec![rule("r", 1, "arn:aws:s3:::")]),
            "InvalidArgument",
            "",
            "destination ARN without a bucket",
        ),
    ];
    for (config, code, message, case) in cases {
        assert_refused(&client, &src, config, 400, code, message, case).await;
    }
    let err = client
        .put_bucket_replication()
        .bucket("no-such-bucket-repl")
        .replication_configuration(configuration(vec![to_dst()]))
        .send()
        .await
        .expect_err("PutBucketReplication on a missing bucket");
    assert_sdk_error(&err, 404, "NoSuchBucket");

    // Raw documents: an integrity header is required, and the schema is checked.
    let document = format!(
        r#"<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Role>{ROLE}</Role><Rule><ID>r</ID><Priority>1</Priority><Status>Enabled</Status><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication><Filter><Prefix></Prefix></Filter><Destination><Bucket>{}</Bucket></Destination></Rule></ReplicationConfiguration>"#,
        local_arn(&dst)
    );
    let put_document = |body: &str, content_md5: Option<String>| {
        let mut request =
            RawRequest::new("PUT", &format!("/{src}?replication")).body(body.as_bytes().to_vec());
        if let Some(md5) = content_md5 {
            request = request.header("content-md5", &md5);
        }
        answer_to(&server, request)
    };
    let answer = put_document(&document, None).await;
    let body = answer.assert_error(400, "InvalidRequest");
    assert!(
        body.contains("Missing required header for this request: Content-MD5"),
        "PutBucketReplication without an integrity header: {body}"
    );
    for (bad, case) in [
        (
            "<ReplicationConfiguration><Role>r</Role>".to_string(),
            "not XML",
        ),
        (
            document.replace("<Status>Enabled</Status>", "<Status>On</Status>"),
            "Status neither Enabled nor Disabled",
        ),
        (
            document.replace(&format!("<Role>{ROLE}</Role>"), ""),
            "no Role",
        ),
    ] {
        let answer = put_document(&bad, Some(md5_base64(bad.as_bytes()))).await;
        assert_eq!(
            (answer.status, xml_value(&answer.text(), "Code").as_deref()),
            (400, Some("MalformedXML")),
            "{case}: {}",
            answer.text()
        );
        answer.assert_error_document();
    }
    // The same document with Content-MD5 is accepted, so the refusals above were about what
    // they changed.
    let answer = put_document(&document, Some(md5_base64(document.as_bytes()))).await;
    assert_eq!(answer.status, 200, "valid document: {}", answer.text());
}

#[tokio::test]
async fn replication_configuration_blocks_suspending_source_versioning() {
    let LocalPair(_server, client, src, dst) =
        LocalPair::replicating("rsusp", |dst| vec![rule("r", 1, dst)]).await;

    let err = client
        .put_bucket_versioning()
        .bucket(&src)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect_err("suspending versioning on a bucket with a replication configuration");
    assert_sdk_error(&err, 409, "InvalidBucketState");
    let versioning = client
        .get_bucket_versioning()
        .bucket(&src)
        .send()
        .await
        .expect("GetBucketVersioning");
    assert_eq!(
        versioning.status(),
        Some(&BucketVersioningStatus::Enabled),
        "versioning stays Enabled"
    );
    // Enabling again is no change, and is accepted.
    set_versioning(&client, &src, BucketVersioningStatus::Enabled).await;
    // The destination's versioning is its owner's business.
    set_versioning(&client, &dst, BucketVersioningStatus::Suspended).await;
    // Without the configuration, the source may be suspended.
    delete_replication(&client, &src).await;
    set_versioning(&client, &src, BucketVersioningStatus::Suspended).await;
}

// ---------------------------------------------------------------------------------------------
// Same-server pairs

#[tokio::test]
async fn replication_local_pair_copies_the_version_with_everything_it_carries() {
    let LocalPair(_server, client, src, dst) =
        LocalPair::replicating("rloc", |dst| vec![rule("all", 1, dst)]).await;

    let key = "docs/report 1.txt";
    let body = random_bytes(3000, 1);
    let version = send_put(
        client
            .put_object()
            .bucket(&src)
            .key(key)
            .body(body.clone().into())
            .content_type("text/plain; charset=utf-8")
            .cache_control("max-age=60")
            .content_disposition("attachment; filename=\"report.txt\"")
            .content_language("en")
            .content_encoding("identity")
            .expires(aws_smithy_types::DateTime::from_secs(4_102_444_800))
            .metadata("author", "ada")
            .metadata("project", "strata")
            .tagging("team=red&stage=final%20draft"),
    )
    .await;

    // The version is queued in the PUT's own transaction: the very next HEAD names a status. The
    // worker may already have carried it (it looks every 100 ms), so both are right here; the
    // remote tests hold the destination to see PENDING for sure.
    let first = status_of(&client, &src, key, &version).await;
    assert!(
        matches!(first.as_deref(), Some("PENDING" | "COMPLETED")),
        "HEAD right after the PUT reports PENDING (or COMPLETED already), got {first:?}"
    );
    let (source, replica) = Route(&client, &src, &client, &dst)
        .assert_replicated(key, &version, None, Some(&body), "local replica")
        .await;
    let get = client
        .get_object()
        .bucket(&src)
        .key(key)
        .send()
        .await
        .expect("GET source");
    assert_eq!(
        get.replication_status().map(|s| s.as_str()),
        Some("COMPLETED"),
        "GET reports the status too"
    );
    assert_eq!(
        replica.checksum_crc32(),
        source.checksum_crc32(),
        "the replica keeps the source's checksum"
    );
    assert_eq!(
        tags_of(&client, &dst, key, &version).await,
        tags_of(&client, &src, key, &version).await,
        "the replica has the source's tags"
    );
    let replica_get = client
        .get_object()
        .bucket(&dst)
        .key(key)
        .send()
        .await
        .expect("GET replica (latest)");
    assert_eq!(replica_get.version_id(), Some(version.as_str()));
    assert_eq!(replica_get.tag_count(), Some(2));
    assert_eq!(
        replica_get.replication_status().map(|s| s.as_str()),
        Some("REPLICA")
    );
    assert_eq!(
        versions_of(&client, &dst, key).await,
        lone_version(&version),
        "exactly one replica"
    );

    // Versions of one key arrive in the order they were written: the newest stays the latest.
    let mut written = Vec::new();
    for body in ["v1", "v2", "v3"] {
        written.push(put_version(&client, &src, "again", body.as_bytes()).await);
    }
    wait_for_status(&client, &src, "again", &written[2], "COMPLETED").await;
    for version in &written {
        wait_for_status(&client, &src, "again", version, "COMPLETED").await;
    }
    assert_eq!(
        versions_of(&client, &dst, "again").await,
        versions_of(&client, &src, "again").await,
        "the destination has the versions in the source's order"
    );
    assert_eq!(get_bytes(&client, &dst, "again").await, b"v3");
}

#[tokio::test]
async fn replication_storage_class_and_shared_chunks() {
    let LocalPair(server, client, src, ia) = LocalPair::new("rcls").await;
    let same = versioned_bucket(&client, "rcls-same").await;
    set_replication(
        &client,
        &src,
        vec![
            rule("to-ia", 2, &local_arn(&ia))
                .filter(prefix_filter("ia/"))
                .destination(destination(&local_arn(&ia), Some(StorageClass::StandardIa))),
            rule("keep-class", 1, &local_arn(&same)).filter(prefix_filter("keep/")),
        ],
    )
    .await;
    let chunks = server.data_dir().join("chunks").join("hot");

    // Above the inline threshold, so the bodies live in chunk files.
    let big = random_bytes(1024 * 1024, 2);
    let v_ia = put_version(&client, &src, "ia/big", &big).await;
    let v_keep = send_put(
        client
            .put_object()
            .bucket(&src)
            .key("keep/big")
            .body(random_bytes(1024 * 1024, 3).into())
            .storage_class(StorageClass::OnezoneIa),
    )
    .await;
    let before = dir_usage(&chunks);
    assert!(before.0 > 0, "chunk files under {}", chunks.display());

    let (source, _) = Route(&client, &src, &client, &ia)
        .assert_replicated(
            "ia/big",
            &v_ia,
            Some("STANDARD_IA"),
            Some(&big),
            "Destination/StorageClass",
        )
        .await;
    assert_eq!(source.storage_class(), None, "the source stays STANDARD");
    Route(&client, &src, &client, &same)
        .assert_replicated(
            "keep/big",
            &v_keep,
            Some("ONEZONE_IA"),
            None,
            "no Destination/StorageClass: the source's class",
        )
        .await;

    assert_eq!(
        dir_usage(&chunks),
        before,
        "replicas between buckets of one server share the source's chunks (files, bytes)"
    );
}

#[tokio::test]
async fn replication_prefix_and_tag_filters_select_versions() {
    let LocalPair(server, client, src, logs) = LocalPair::new("rflt").await;
    let red = versioned_bucket(&client, "rflt-red").await;
    let photos = versioned_bucket(&client, "rflt-img").await;
    set_replication(
        &client,
        &src,
        vec![
            rule("logs", 1, &local_arn(&logs)).filter(prefix_filter("logs/")),
            rule("red", 2, &local_arn(&red)).filter(
                ReplicationRuleFilter::builder()
                    .tag(tag("team", "red"))
                    .build(),
            ),
            rule("photos", 3, &local_arn(&photos)).filter(
                ReplicationRuleFilter::builder()
                    .and(
                        ReplicationRuleAndOperator::builder()
                            .prefix("img/")
                            .tags(tag("kind", "photo"))
                            .tags(tag("size", "big"))
                            .build(),
                    )
                    .build(),
            ),
        ],
    )
    .await;

    // (key, tags, destinations it must reach)
    let cases: [(&str, &str, &[&String]); 7] = [
        ("logs/a", "", &[&logs]),
        ("notes", "team=red", &[&red]),
        ("logs/red", "team=red&x=y", &[&logs, &red]),
        ("img/p", "kind=photo&size=big", &[&photos]),
        ("img/half", "kind=photo", &[]),
        ("other/blue", "team=blue", &[]),
        ("Logs/case", "", &[]),
    ];
    let mut versions = Vec::new();
    for (key, tags, _) in &cases {
        versions.push(put_tagged(&client, &src, key, b"body", tags).await);
    }
    for ((key, _, dests), version) in cases.iter().zip(&versions) {
        if dests.is_empty() {
            assert_eq!(
                status_of(&client, &src, key, version).await,
                None,
                "{key} matches no rule: no x-amz-replication-status"
            );
        } else {
            wait_for_status(&client, &src, key, version, "COMPLETED").await;
        }
    }
    // Every replication is over: each version is exactly where its rules sent it.
    for ((key, _, dests), version) in cases.iter().zip(&versions) {
        for bucket in [&logs, &red, &photos] {
            let there = head_version(&client, bucket, key, version).await.is_ok();
            assert_eq!(
                there,
                dests.contains(&bucket),
                "{key} in {bucket}: there = {there}, want {}",
                dests.contains(&bucket)
            );
        }
    }
    let report = status_report(&server, Some(&src)).await;
    assert_eq!(rule_counts(&report, &src, "logs"), (0, 2, 0), "{report}");
    assert_eq!(rule_counts(&report, &src, "red"), (0, 2, 0), "{report}");
    assert_eq!(rule_counts(&report, &src, "photos"), (0, 1, 0), "{report}");
}

#[tokio::test]
async fn replication_highest_priority_rule_decides_per_destination() {
    let LocalPair(server, client, src, dst) = LocalPair::replicating("rpri", |arn| {
        vec![
            rule("low", 1, arn)
                .delete_marker_replication(delete_markers(true))
                .destination(destination(arn, Some(StorageClass::StandardIa))),
            rule("high", 5, arn)
                .filter(prefix_filter("hot/"))
                .destination(destination(arn, Some(StorageClass::OnezoneIa))),
            // Disabled rules take no part, whatever their priority.
            rule("off", 9, arn)
                .status(ReplicationRuleStatus::Disabled)
                .filter(prefix_filter("hot/"))
                .destination(destination(arn, Some(StorageClass::GlacierIr))),
        ]
    })
    .await;

    let hot = put_version(&client, &src, "hot/a", b"hot").await;
    let cold = put_version(&client, &src, "cold/b", b"cold").await;
    wait_for_status(&client, &src, "hot/a", &hot, "COMPLETED").await;
    wait_for_status(&client, &src, "cold/b", &cold, "COMPLETED").await;
    let replica = head_version(&client, &dst, "hot/a", &hot).await.unwrap();
    assert_eq!(
        replica.storage_class().map(|c| c.as_str()),
        Some("ONEZONE_IA"),
        "hot/a matches both enabled rules: the higher priority's StorageClass wins"
    );
    let replica = head_version(&client, &dst, "cold/b", &cold).await.unwrap();
    assert_eq!(
        replica.storage_class().map(|c| c.as_str()),
        Some("STANDARD_IA"),
        "cold/b matches only the low rule"
    );
    assert_eq!(
        versions_of(&client, &dst, "hot/a").await,
        lone_version(&hot),
        "one copy per destination"
    );
    let report = status_report(&server, Some(&src)).await;
    assert_eq!(rule_counts(&report, &src, "high"), (0, 1, 0), "{report}");
    assert_eq!(rule_counts(&report, &src, "low"), (0, 1, 0), "{report}");
    assert_eq!(rule_counts(&report, &src, "off"), (0, 0, 0), "{report}");

    // The deciding rule's DeleteMarkerReplication applies too: the high rule (Disabled) keeps
    // hot/a's marker home, the low rule (Enabled) sends cold/b's.
    let hot_marker = delete_marker(&client, &src, "hot/a").await;
    let cold_marker = delete_marker(&client, &src, "cold/b").await;
    eventually(
        "cold/b's delete marker reaches the destination",
        async || {
            let versions = versions_of(&client, &dst, "cold/b").await;
            match versions.contains(&(cold_marker.clone(), true)) {
                true => Ok(()),
                false => Err(format!("{versions:?}")),
            }
        },
    )
    .await;
    wait_for_empty_queue(&server, &src).await;
    assert_eq!(
        versions_of(&client, &dst, "hot/a").await,
        lone_version(&hot),
        "hot/a's marker {hot_marker} is not replicated"
    );
    assert!(is_current(&client, &dst, "hot/a").await);
}

#[tokio::test]
async fn replication_to_two_destinations_and_disabled_rules() {
    let LocalPair(server, client, src, first) = LocalPair::new("rtwo").await;
    let second = versioned_bucket(&client, "rtwo-2").await;
    let never = versioned_bucket(&client, "rtwo-off").await;
    set_replication(
        &client,
        &src,
        vec![
            rule("one", 1, &local_arn(&first)),
            rule("two", 2, &local_arn(&second)),
            rule("off", 3, &local_arn(&never)).status(ReplicationRuleStatus::Disabled),
        ],
    )
    .await;
    let body = random_bytes(10_000, 4);
    let version = put_version(&client, &src, "k", &body).await;
    for bucket in [&first, &second] {
        Route(&client, &src, &client, bucket)
            .assert_replicated("k", &version, None, Some(&body), bucket)
            .await;
    }
    assert!(
        versions_of(&client, &never, "k").await.is_empty(),
        "a Disabled rule replicates nothing"
    );

    // A bucket whose only rule is Disabled: nothing is queued, no status is reported.
    let quiet = versioned_bucket(&client, "rtwo-quiet").await;
    set_replication(
        &client,
        &quiet,
        vec![rule("off", 1, &local_arn(&never)).status(ReplicationRuleStatus::Disabled)],
    )
    .await;
    let version = put_version(&client, &quiet, "k", b"x").await;
    assert_eq!(status_of(&client, &quiet, "k", &version).await, None);
    report_with_queue(&server, Some(&quiet), 0, "nothing is queued").await;
    assert!(versions_of(&client, &never, "k").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Delete markers, deletes by version id, lifecycle

#[tokio::test]
async fn replication_delete_markers_follow_delete_marker_replication() {
    let LocalPair(server, client, src, dst) = LocalPair::replicating("rdm", |dst| {
        vec![
            rule("markers", 2, dst)
                .filter(prefix_filter("on/"))
                .delete_marker_replication(delete_markers(true)),
            rule("no-markers", 1, dst).filter(prefix_filter("off/")),
        ]
    })
    .await;
    let mut puts = Vec::new();
    for key in ["on/a", "on/b", "off/a"] {
        let version = put_version(&client, &src, key, key.as_bytes()).await;
        wait_for_status(&client, &src, key, &version, "COMPLETED").await;
        puts.push(version);
    }

    let marker_a = delete_marker(&client, &src, "on/a").await;
    // DeleteObjects without version ids adds markers the same way.
    let marker_b = delete_one(&client, &src, "on/b", None).await.deleted()[0]
        .delete_marker_version_id()
        .expect("DeleteObjects names the marker")
        .to_string();
    let marker_off = delete_marker(&client, &src, "off/a").await;

    for (key, marker, version) in [("on/a", &marker_a, &puts[0]), ("on/b", &marker_b, &puts[1])] {
        wait_for_versions(
            &client,
            &dst,
            key,
            &marker_over(marker, version),
            &format!("{key}'s delete marker {marker} reaches {dst}"),
        )
        .await;
        assert!(
            !is_current(&client, &dst, key).await,
            "{key} is deleted at the destination too"
        );
    }
    let report = wait_for_empty_queue(&server, &src).await;
    assert_eq!(rule_counts(&report, &src, "markers"), (0, 4, 0), "{report}");
    assert_eq!(
        rule_counts(&report, &src, "no-markers"),
        (0, 1, 0),
        "off/a's marker {marker_off} was not queued: {report}"
    );
    assert_eq!(
        versions_of(&client, &dst, "off/a").await,
        lone_version(&puts[2]),
        "with DeleteMarkerReplication Disabled the destination keeps its current version"
    );
    assert!(is_current(&client, &dst, "off/a").await);
}

#[tokio::test]
async fn replication_ignores_deletes_of_a_version_id() {
    let LocalPair(server, client, src, dst) = LocalPair::replicating("rdv", |dst| {
        vec![rule("all", 1, dst).delete_marker_replication(delete_markers(true))]
    })
    .await;
    let one = put_version(&client, &src, "one", b"1").await;
    let two = put_version(&client, &src, "two", b"2").await;
    wait_for_status(&client, &src, "one", &one, "COMPLETED").await;
    wait_for_status(&client, &src, "two", &two, "COMPLETED").await;

    delete_version(&client, &src, "one", &one).await;
    delete_one(&client, &src, "two", Some(&two)).await;
    assert!(versions_of(&client, &src, "one").await.is_empty());
    assert!(versions_of(&client, &src, "two").await.is_empty());

    let what = "deleting a version by id queues nothing";
    let report = report_with_queue(&server, Some(&src), 0, what).await;
    assert_eq!(
        rule_counts(&report, &src, "all"),
        (0, 2, 0),
        "{what}: {report}"
    );
    assert_eq!(get_version_bytes(&client, &dst, "one", &one).await, b"1");
    assert_eq!(get_version_bytes(&client, &dst, "two", &two).await, b"2");
}

#[tokio::test]
async fn replication_ignores_lifecycle_expirations() {
    let LocalPair(server, client, src, dst) = LocalPair::replicating("rlc", |dst| {
        vec![rule("all", 1, dst).delete_marker_replication(delete_markers(true))]
    })
    .await;
    let version = put_version(&client, &src, "short-lived", b"x").await;
    wait_for_status(&client, &src, "short-lived", &version, "COMPLETED").await;

    // Expire current versions after one (one-second) day: lifecycle adds a delete marker.
    set_lifecycle(
        &client,
        &src,
        lifecycle_rule("expire", "").expiration(LifecycleExpiration::builder().days(1).build()),
    )
    .await;
    let marker = eventually("lifecycle expires short-lived", async || {
        let versions = versions_of(&client, &src, "short-lived").await;
        match versions.first() {
            Some((id, true)) => Ok(id.clone()),
            _ => Err(format!("{versions:?}")),
        }
    })
    .await;

    let what = format!("the lifecycle marker {marker} is not queued");
    let report = report_with_queue(&server, Some(&src), 0, &what).await;
    assert_eq!(
        rule_counts(&report, &src, "all"),
        (0, 1, 0),
        "{what}: {report}"
    );
    assert_eq!(
        versions_of(&client, &dst, "short-lived").await,
        lone_version(&version),
        "the destination keeps its current version"
    );
}

#[tokio::test]
async fn replication_leaves_versions_in_an_archive_class_out() {
    let LocalPair(server, client, src, dst) =
        LocalPair::replicating("rarc", |dst| vec![rule("all", 1, dst)]).await;

    // Written straight into an archive class: not replicated, so no status.
    for class in [StorageClass::Glacier, StorageClass::DeepArchive] {
        let version = send_put(
            client
                .put_object()
                .bucket(&src)
                .key(class.as_str())
                .body(b"cold".to_vec().into())
                .storage_class(class.clone()),
        )
        .await;
        assert_eq!(
            status_of(&client, &src, class.as_str(), &version).await,
            None,
            "a version written in {class:?} is not replicated"
        );
    }
    report_with_queue(&server, Some(&src), 0, "nothing is queued").await;
    assert!(versions_of(&client, &dst, "GLACIER").await.is_empty());
}

#[tokio::test]
async fn replication_gives_up_a_version_archived_before_it_was_carried() {
    let LocalPair(server, client, src, dst) =
        LocalPair::replicating("rabn", |dst| vec![rule("all", 1, dst)]).await;
    let arn = local_arn(&dst);

    // A version archived by lifecycle while it waits for its destination is given up: FAILED,
    // counted once, with the reason as the destination's last error.
    set_versioning(&client, &dst, BucketVersioningStatus::Suspended).await;
    let version = put_version(&client, &src, "warm", &random_bytes(200 * 1024, 90)).await;
    wait_for_status(&client, &src, "warm", &version, "FAILED").await;
    set_lifecycle(
        &client,
        &src,
        lifecycle_rule("archive", "warm").transitions(
            Transition::builder()
                .days(1)
                .storage_class(TransitionStorageClass::Glacier)
                .build(),
        ),
    )
    .await;
    let report = wait_for_empty_queue(&server, &src).await;
    assert_eq!(
        head_version(&client, &src, "warm", &version)
            .await
            .expect("HEAD warm")
            .storage_class(),
        Some(&StorageClass::Glacier),
        "lifecycle archived warm"
    );
    assert_eq!(
        status_of(&client, &src, "warm", &version).await.as_deref(),
        Some("FAILED")
    );
    assert!(
        report["errors"].as_array().is_some_and(|errors| errors
            .iter()
            .any(|e| e["destination"] == arn.as_str()
                && e["error"].as_str().is_some_and(|t| t.contains("archive")))),
        "the reason is the destination's last error: {report}"
    );
    set_versioning(&client, &dst, BucketVersioningStatus::Enabled).await;
    assert!(versions_of(&client, &dst, "warm").await.is_empty());
    // It failed three times before it was given up: still one failed entry.
    assert_eq!(
        rule_counts(&report, &src, "all"),
        (0, 0, 1),
        "one entry failed, counted once: {report}"
    );
}

// ---------------------------------------------------------------------------------------------
// Multipart uploads, copies, tag changes

#[tokio::test]
async fn replication_of_multipart_uploads_and_copies() {
    let LocalPair(_server, client, src, dst) =
        LocalPair::replicating("rmpu", |dst| vec![rule("all", 1, dst)]).await;

    let parts = min_parts(3, 10);
    let (version, etag) = put_parts(&client, &src, "big", &parts).await;
    assert_eq!(etag, multipart_etag(&slices(&parts)));
    let (_, replica) = Route(&client, &src, &client, &dst)
        .assert_replicated(
            "big",
            &version,
            None,
            Some(&parts.concat()),
            "multipart replica",
        )
        .await;
    assert_eq!(replica.e_tag(), Some(etag.as_str()), "the -3 ETag is kept");

    // CopyObject writes a new version, which is replicated like any other.
    let copy = client
        .copy_object()
        .bucket(&src)
        .key("copy")
        .copy_source(format!("{src}/big"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CopyObject: {}", describe_error(&e)));
    let copy_version = copy.version_id().expect("copy version id").to_string();
    Route(&client, &src, &client, &dst)
        .assert_replicated(
            "copy",
            &copy_version,
            None,
            Some(&parts.concat()),
            "replica of a copy",
        )
        .await;
}

#[tokio::test]
async fn replication_carries_tag_changes_to_the_replica() {
    let LocalPair(_server, client, src, dst) =
        LocalPair::replicating("rtag", |dst| vec![rule("all", 1, dst)]).await;
    let version = put_tagged(&client, &src, "k", b"x", "a=1").await;
    wait_for_status(&client, &src, "k", &version, "COMPLETED").await;
    assert_eq!(
        tags_of(&client, &dst, "k", &version).await,
        tag_map(&[("a", "1")])
    );

    let tags_follow = async |want: &[(&str, &str)], step: &str| {
        let what = format!("{step}: the replica's tags follow");
        wait_for_tags(&client, &dst, "k", &version, want, &what).await;
        wait_for_status(&client, &src, "k", &version, "COMPLETED").await;
    };

    // PutObjectTagging of the version by id.
    let tags = [("a", "2"), ("b", "3")];
    put_tags(&client, &src, "k", Some(&version), &tags).await;
    tags_follow(&tags, "PutObjectTagging").await;

    // PutObjectTagging of the current version (no id).
    put_tags(&client, &src, "k", None, &[("c", "4")]).await;
    tags_follow(&[("c", "4")], "PutObjectTagging without versionId").await;

    // DeleteObjectTagging.
    delete_tags(&client, &src, "k", &version).await;
    tags_follow(&[], "DeleteObjectTagging").await;
    assert_eq!(
        versions_of(&client, &dst, "k").await,
        lone_version(&version),
        "tag changes update the replica in place, they add no version"
    );
}

// ---------------------------------------------------------------------------------------------
// Two-way pairs and existing objects

#[tokio::test]
async fn replication_two_way_pair_on_one_server_does_not_loop() {
    let LocalPair(server, client, a, b) = LocalPair::new("rway").await;
    set_replication(&client, &a, vec![rule("a-to-b", 1, &local_arn(&b))]).await;
    set_replication(&client, &b, vec![rule("b-to-a", 1, &local_arn(&a))]).await;

    let from_a = put_version(&client, &a, "from-a", b"a").await;
    let from_b = put_version(&client, &b, "from-b", b"b").await;
    wait_for_status(&client, &a, "from-a", &from_a, "COMPLETED").await;
    wait_for_status(&client, &b, "from-b", &from_b, "COMPLETED").await;

    for (home, other, key, version) in [(&a, &b, "from-a", &from_a), (&b, &a, "from-b", &from_b)] {
        assert_eq!(
            status_of(&client, other, key, version).await.as_deref(),
            Some("REPLICA"),
            "{key} in {other}"
        );
        assert_eq!(
            versions_of(&client, other, key).await,
            lone_version(version),
            "{key} appears once in {other}"
        );
        assert_eq!(
            versions_of(&client, home, key).await,
            lone_version(version),
            "{key} is not copied back to {home}"
        );
        assert_eq!(
            status_of(&client, home, key, version).await.as_deref(),
            Some("COMPLETED"),
            "{key} in {home}"
        );
    }
    let report = report_with_queue(&server, None, 0, "nothing is queued").await;
    assert_eq!(rule_counts(&report, &a, "a-to-b"), (0, 1, 0), "{report}");
    assert_eq!(rule_counts(&report, &b, "b-to-a"), (0, 1, 0), "{report}");
}

#[tokio::test]
async fn replication_existing_object_replication() {
    let LocalPair(server, client, with, dst) = LocalPair::new("reor").await;
    let without = versioned_bucket(&client, "reor-wout").await;
    let dst2 = versioned_bucket(&client, "reor-dst2").await;

    let old_1 = put_version(&client, &with, "k", b"old 1").await;
    let old_2 = put_version(&client, &with, "k", b"old 2").await;
    let other = put_version(&client, &with, "other", b"other").await;
    let before = put_version(&client, &without, "k", b"before").await;

    set_replication(
        &client,
        &with,
        vec![
            rule("existing", 1, &local_arn(&dst)).existing_object_replication(
                ExistingObjectReplication::builder()
                    .status(ExistingObjectReplicationStatus::Enabled)
                    .build()
                    .unwrap(),
            ),
        ],
    )
    .await;
    set_replication(
        &client,
        &without,
        vec![rule("new-only", 1, &local_arn(&dst2))],
    )
    .await;

    // Every version that was there is queued, noncurrent ones included.
    for (key, version, body) in [
        ("k", &old_1, &b"old 1"[..]),
        ("k", &old_2, b"old 2"),
        ("other", &other, b"other"),
    ] {
        wait_for_status(&client, &with, key, version, "COMPLETED").await;
        assert_eq!(get_version_bytes(&client, &dst, key, version).await, body);
    }
    assert_eq!(
        versions_of(&client, &dst, "k").await,
        vec![(old_2.clone(), false), (old_1.clone(), false)]
    );

    // Without ExistingObjectReplication what was there stays out of it...
    assert_eq!(status_of(&client, &without, "k", &before).await, None);
    report_with_queue(&server, Some(&without), 0, "nothing is queued").await;
    // ...and new versions are replicated.
    let after = put_version(&client, &without, "k", b"after").await;
    wait_for_status(&client, &without, "k", &after, "COMPLETED").await;
    assert_eq!(
        versions_of(&client, &dst2, "k").await,
        lone_version(&after),
        "only the version written after the configuration"
    );
}

// ---------------------------------------------------------------------------------------------
// Remote destinations

#[tokio::test]
async fn replication_to_a_remote_server_keeps_the_version() {
    let RemotePair(_a, a_client, src, _b, b_client, dst) =
        RemotePair::replicating("rrem", "site-b", replication_server(), None, |arn| {
            vec![
                rule("small", 2, arn).filter(prefix_filter("small/")),
                rule("big", 1, arn)
                    .filter(prefix_filter("big/"))
                    .destination(destination(arn, Some(StorageClass::StandardIa))),
            ]
        })
        .await;

    let key = "small/a b+c.txt";
    let body = random_bytes(5000, 20);
    let small = send_put(
        a_client
            .put_object()
            .bucket(&src)
            .key(key)
            .body(body.clone().into())
            .content_type("text/plain")
            .cache_control("no-cache")
            .content_disposition("inline")
            .content_language("fr")
            .content_encoding("identity")
            .expires(aws_smithy_types::DateTime::from_secs(4_102_444_800))
            .metadata("origin", "site-a")
            .tagging("team=red&k%2F1=v%201"),
    )
    .await;
    let parts = min_parts(3, 30);
    let (big, etag) = put_parts(&a_client, &src, "big/mp", &parts).await;

    let (source, replica) = Route(&a_client, &src, &b_client, &dst)
        .assert_replicated(key, &small, None, Some(&body), "remote replica")
        .await;
    assert_eq!(
        replica.checksum_crc32(),
        source.checksum_crc32(),
        "the remote replica keeps the source's checksum"
    );
    assert_eq!(
        tags_of(&b_client, &dst, key, &small).await,
        tags_of(&a_client, &src, key, &small).await
    );

    let (_, replica) = Route(&a_client, &src, &b_client, &dst)
        .assert_replicated(
            "big/mp",
            &big,
            Some("STANDARD_IA"),
            Some(&parts.concat()),
            "remote multipart replica",
        )
        .await;
    assert_eq!(replica.e_tag(), Some(etag.as_str()), "the -3 ETag is kept");
    // Nothing is left behind on B: one version per key, no upload in progress.
    assert_eq!(
        versions_of(&b_client, &dst, "big/mp").await,
        lone_version(&big)
    );
    let uploads = b_client
        .list_multipart_uploads()
        .bucket(&dst)
        .send()
        .await
        .expect("ListMultipartUploads");
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
}

#[tokio::test]
async fn replication_to_a_remote_server_carries_tags_and_delete_markers() {
    let RemotePair(_a, a_client, src, _b, b_client, dst) =
        RemotePair::replicating("rremt", "west", replication_server(), None, |arn| {
            vec![rule("all", 1, arn).delete_marker_replication(delete_markers(true))]
        })
        .await;
    let version = put_tagged(&a_client, &src, "k", b"x", "a=1").await;
    wait_for_status(&a_client, &src, "k", &version, "COMPLETED").await;

    put_tags(&a_client, &src, "k", Some(&version), &[("b", "2")]).await;
    let what = "the remote replica's tags follow";
    wait_for_tags(&b_client, &dst, "k", &version, &[("b", "2")], what).await;
    wait_for_status(&a_client, &src, "k", &version, "COMPLETED").await;
    delete_tags(&a_client, &src, "k", &version).await;
    let what = "the remote replica's tags are removed";
    wait_for_tags(&b_client, &dst, "k", &version, &[], what).await;

    let marker = delete_marker(&a_client, &src, "k").await;
    let what = "the delete marker reaches the remote";
    wait_for_versions(&b_client, &dst, "k", &marker_over(&marker, &version), what).await;
    assert!(!is_current(&b_client, &dst, "k").await);
}

#[tokio::test]
async fn replication_two_way_pair_between_two_servers_does_not_loop() {
    let a_port = free_port();
    let b = server_with_remotes(&[("a", &format!("http://127.0.0.1:{a_port}"))], None);
    let a = server_with_remotes(&[("b", &b.endpoint())], Some(a_port));
    let (a_client, b_client) = (a.client(), b.client());
    let x = versioned_bucket(&a_client, "rpair-x").await;
    let y = versioned_bucket(&b_client, "rpair-y").await;
    for (client, bucket, rule_id, arn) in [
        (&a_client, &x, "to-b", remote_arn("b", &y)),
        (&b_client, &y, "to-a", remote_arn("a", &x)),
    ] {
        let rules = vec![rule(rule_id, 1, &arn).delete_marker_replication(delete_markers(true))];
        set_replication(client, bucket, rules).await;
    }

    let from_a = put_version(&a_client, &x, "from-a", b"a").await;
    let (from_b, _) = put_parts(&b_client, &y, "from-b", &min_parts(2, 40)).await;
    wait_for_status(&a_client, &x, "from-a", &from_a, "COMPLETED").await;
    wait_for_status(&b_client, &y, "from-b", &from_b, "COMPLETED").await;

    for (home, home_bucket, other, other_bucket, key, version) in [
        (&a_client, &x, &b_client, &y, "from-a", &from_a),
        (&b_client, &y, &a_client, &x, "from-b", &from_b),
    ] {
        assert_eq!(
            status_of(other, other_bucket, key, version)
                .await
                .as_deref(),
            Some("REPLICA"),
            "{key} on the other server"
        );
        assert_eq!(
            versions_of(other, other_bucket, key).await,
            lone_version(version),
            "{key} appears once on the other server"
        );
        assert_eq!(
            versions_of(home, home_bucket, key).await,
            lone_version(version),
            "{key} is not copied back"
        );
    }
    // A delete marker goes over once, and its replica does not come back either.
    let marker = delete_marker(&a_client, &x, "from-a").await;
    let marked = marker_over(&marker, &from_a);
    let what = "A's delete marker reaches B";
    wait_for_versions(&b_client, &y, "from-a", &marked, what).await;
    wait_for_empty_queue(&a, &x).await;
    assert_eq!(
        versions_of(&a_client, &x, "from-a").await,
        marked,
        "the marker is not copied back"
    );
    for (server, bucket, rule_id, sent) in [(&a, &x, "to-b", 2), (&b, &y, "to-a", 1)] {
        let report = report_with_queue(server, Some(bucket), 0, "nothing is queued").await;
        assert_eq!(
            rule_counts(&report, bucket, rule_id),
            (0, sent, 0),
            "{bucket} sent its own versions only: {report}"
        );
    }
}

#[tokio::test]
async fn replication_to_a_remote_server_handles_odd_keys_empty_bodies_and_part_layouts() {
    let RemotePair(_a, a_client, src, _b, b_client, dst) =
        RemotePair::replicating("rodd", "b", replication_server(), None, |arn| {
            vec![rule("all", 1, arn)]
        })
        .await;

    let mut written: Vec<(&str, String, Vec<u8>)> = Vec::new();
    for (key, body) in [
        ("empty", Vec::new()),
        ("dir/ü ?&=%+~!'()*;,.txt", b"odd".to_vec()),
        ("same", b"v1".to_vec()),
        ("same", b"v2".to_vec()),
        ("same", b"v3".to_vec()),
    ] {
        let version = put_version(&a_client, &src, key, &body).await;
        written.push((key, version, body));
    }
    // A last part shorter than the others, and an upload of a single part ("-1").
    for (key, parts) in [
        (
            "two-parts",
            vec![random_bytes(MIN_PART, 80), random_bytes(1000, 81)],
        ),
        ("one-part", vec![random_bytes(1000, 82)]),
    ] {
        let (version, etag) = put_parts(&a_client, &src, key, &parts).await;
        assert_eq!(etag, multipart_etag(&slices(&parts)));
        written.push((key, version, parts.concat()));
    }
    for (key, version, body) in &written {
        Route(&a_client, &src, &b_client, &dst)
            .assert_replicated(key, version, None, Some(body), key)
            .await;
    }
    assert_eq!(
        versions_of(&b_client, &dst, "same").await,
        versions_of(&a_client, &src, "same").await,
        "the remote has the versions in the source's order"
    );
    assert_eq!(get_bytes(&b_client, &dst, "same").await, b"v3");
}

#[tokio::test]
#[allow(deprecated)] // the SDK deprecates the rule-level Prefix this test is about
async fn replication_legacy_rule_with_a_prefix_replicates_delete_markers() {
    let LocalPair(_server, client, src, dst) = LocalPair::new("rv1").await;
    // The first schema: a rule-level Prefix, no Filter, Priority or DeleteMarkerReplication.
    let legacy = || {
        ReplicationRule::builder()
            .id("legacy")
            .prefix("logs/")
            .status(ReplicationRuleStatus::Enabled)
            .destination(destination(&local_arn(&dst), None))
    };
    let config = configuration(vec![legacy()]);
    put_replication(&client, &src, config.clone()).await;
    assert_eq!(
        get_replication(&client, &src).await,
        config,
        "a legacy rule reads back as written"
    );
    assert_refused(
        &client,
        &src,
        configuration(vec![legacy().priority(1)]),
        400,
        "InvalidRequest",
        "Priority cannot be used for this version of Cross Region Replication configuration schema.",
        "legacy rule with a Priority",
    )
    .await;

    let version = put_version(&client, &src, "logs/a", b"a").await;
    let outside = put_version(&client, &src, "data/a", b"a").await;
    assert_eq!(status_of(&client, &src, "data/a", &outside).await, None);
    wait_for_status(&client, &src, "logs/a", &version, "COMPLETED").await;
    // The legacy schema always replicates delete markers.
    let marker = delete_marker(&client, &src, "logs/a").await;
    let what = "the marker reaches the destination";
    wait_for_versions(
        &client,
        &dst,
        "logs/a",
        &marker_over(&marker, &version),
        what,
    )
    .await;
}

#[tokio::test]
async fn replication_queue_outlives_deleted_versions_and_configurations() {
    let LocalPair(server, client, src, dst) =
        LocalPair::replicating("rdrop", |dst| vec![rule("r", 1, dst)]).await;
    // The destination refuses replicas for now: the entries stay queued.
    set_versioning(&client, &dst, BucketVersioningStatus::Suspended).await;
    let gone = put_version(&client, &src, "gone", b"gone").await;
    let kept = put_version(&client, &src, "kept", b"kept").await;
    report_with_queue(&server, Some(&src), 2, "both versions are queued").await;

    // A version deleted before it was carried is dropped from the queue; a configuration deleted
    // while entries are queued leaves them to be carried.
    delete_version(&client, &src, "gone", &gone).await;
    delete_replication(&client, &src).await;
    set_versioning(&client, &dst, BucketVersioningStatus::Enabled).await;

    let report = wait_for_empty_queue(&server, &src).await;
    assert_eq!(rule_counts(&report, &src, "r"), (0, 1, 0), "{report}");
    assert_eq!(
        status_of(&client, &src, "kept", &kept).await.as_deref(),
        Some("COMPLETED")
    );
    assert_eq!(
        get_version_bytes(&client, &dst, "kept", &kept).await,
        b"kept"
    );
    assert!(versions_of(&client, &dst, "gone").await.is_empty());
}

#[tokio::test]
async fn replication_status_is_pending_until_every_destination_has_the_version() {
    let b = replication_server();
    let gate = Gate::new(b.port()).await;
    let RemotePair(a, a_client, src, _b, b_client, remote_dst) =
        RemotePair::new("rgate", "gated", b, Some(&gate)).await;
    let local_dst = versioned_bucket(&a_client, "rgate-loc").await;
    set_replication(
        &a_client,
        &src,
        vec![
            rule("local", 1, &local_arn(&local_dst)),
            rule("remote", 2, &remote_arn("gated", &remote_dst)),
        ],
    )
    .await;

    let version = put_version(&a_client, &src, "k", b"held").await;
    // The local copy is made; the remote one waits on a request the gate holds unanswered.
    wait_for_version(&a_client, &local_dst, "k", &version).await;
    gate.wait_for_connection().await;
    assert_eq!(
        status_of(&a_client, &src, "k", &version).await.as_deref(),
        Some("PENDING"),
        "one destination has the version, the other not yet: PENDING"
    );
    let report = status_report(&a, Some(&src)).await;
    assert_eq!(rule_counts(&report, &src, "local"), (0, 1, 0), "{report}");
    assert_eq!(rule_counts(&report, &src, "remote"), (1, 0, 0), "{report}");
    assert!(
        head_version(&b_client, &remote_dst, "k", &version)
            .await
            .is_err(),
        "nothing reached the remote"
    );

    gate.open();
    wait_for_status(&a_client, &src, "k", &version, "COMPLETED").await;
    let replica = head_version(&b_client, &remote_dst, "k", &version)
        .await
        .unwrap_or_else(|e| panic!("remote replica after the gate opened: {e}"));
    assert_eq!(
        replica.replication_status().map(|s| s.as_str()),
        Some("REPLICA")
    );
}

/// A remote that accepts a connection and never answers (an overloaded server, a stuck proxy)
/// must not stop replication to other destinations while the worker waits for it.
#[tokio::test]
async fn replication_a_destination_that_does_not_answer_does_not_hold_up_the_others() {
    let b = replication_server();
    let gate = Gate::new(b.port()).await;
    let RemotePair(_a, a_client, to_remote, _b, ..) =
        RemotePair::replicating("rhung", "gated", b, Some(&gate), |arn| {
            vec![rule("remote", 1, arn)]
        })
        .await;
    let to_local = versioned_bucket(&a_client, "rhung-s2").await;
    let local_dst = versioned_bucket(&a_client, "rhung-loc").await;
    set_replication(
        &a_client,
        &to_local,
        vec![rule("local", 1, &local_arn(&local_dst))],
    )
    .await;

    let held = put_version(&a_client, &to_remote, "k", b"held").await;
    gate.wait_for_connection().await;
    // The remote has not answered (and will not until the gate opens); a version for a bucket of
    // the same server must not wait for it.
    let local = put_version(&a_client, &to_local, "k", b"local").await;
    wait_for_version(&a_client, &local_dst, "k", &local).await;
    gate.open();
    wait_for_status(&a_client, &to_remote, "k", &held, "COMPLETED").await;
}

#[tokio::test]
async fn replication_delivered_again_after_a_crash_adds_no_version() {
    let b = replication_server();
    let gate = Gate::new(b.port()).await;
    let RemotePair(mut a, a_client, src, _b, b_client, dst) =
        RemotePair::replicating("ragain", "gated", b, Some(&gate), |arn| {
            vec![rule("r", 1, arn)]
        })
        .await;

    // A sends the version; B gets it only after A was killed, so A never hears B's answer and
    // still has the entry when it starts again.
    let body = b"delivered twice, stored once".to_vec();
    let version = put_version(&a_client, &src, "k", &body).await;
    gate.wait_for_bytes(&body).await;
    a.stop();
    gate.open();
    let first = wait_for_version(&b_client, &dst, "k", &version).await;
    a.start_again();
    let a_client = a.client();
    wait_for_status(&a_client, &src, "k", &version, "COMPLETED").await;

    let report = wait_for_empty_queue(&a, &src).await;
    assert_eq!(rule_counts(&report, &src, "r"), (0, 1, 0), "{report}");
    assert_eq!(
        versions_of(&b_client, &dst, "k").await,
        lone_version(&version),
        "the second delivery of a version id the destination has adds nothing"
    );
    let (_, replica) = Route(&a_client, &src, &b_client, &dst)
        .assert_replicated("k", &version, None, Some(&body), "replica delivered twice")
        .await;
    assert_eq!(replica.last_modified(), first.last_modified());
}

#[tokio::test]
async fn replication_to_a_destination_that_is_down_fails_then_completes() {
    let RemotePair(a, a_client, src, mut b, _, dst) =
        RemotePair::replicating("rdown", "b", restartable_server(), None, |arn| {
            vec![rule("to-b", 1, arn).delete_marker_replication(delete_markers(true))]
        })
        .await;
    let arn = remote_arn("b", &dst);

    b.stop();
    let body = random_bytes(200_000, 50);
    let version = put_version(&a_client, &src, "k", &body).await;
    wait_for_status(&a_client, &src, "k", &version, "FAILED").await;

    let report = replication_cli_json(&a, &src).await;
    assert!(report["queue_length"].as_u64() >= Some(1), "{report}");
    assert!(
        report["oldest_pending_age_seconds"].is_number(),
        "a queued entry has an age: {report}"
    );
    let (pending, completed, failed) = rule_counts(&report, &src, "to-b");
    assert!(
        pending >= 1 && completed == 0 && failed >= 1,
        "pending {pending}, completed {completed}, failed {failed}: {report}"
    );
    let error = report["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["destination"] == arn.as_str()))
        .unwrap_or_else(|| panic!("no last error for {arn}: {report}"));
    assert!(
        error["error"].as_str().is_some_and(|e| !e.is_empty()) && error["time"].is_string(),
        "{report}"
    );
    let metrics = metrics_text(&a).await;
    let labels = [("bucket", src.as_str()), ("rule", "to-b")];
    assert!(
        metric(&metrics, "strata_replication_failed", &labels) >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "strata_replication_pending", &labels) >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "strata_replication_queue_length", &[]) >= 1.0,
        "{metrics}"
    );

    // A delete marker written meanwhile waits behind the version it covers.
    let marker = delete_marker(&a_client, &src, "k").await;

    // B comes back on the same address: the entries are retried until B takes them.
    b.start_again();
    let b_client = b.client();
    Route(&a_client, &src, &b_client, &dst)
        .assert_replicated("k", &version, None, Some(&body), "replica after the outage")
        .await;
    let report = wait_for_empty_queue(&a, &src).await;
    let (pending, completed, _) = rule_counts(&report, &src, "to-b");
    assert_eq!((pending, completed), (0, 2), "{report}");
    assert_eq!(
        versions_of(&b_client, &dst, "k").await,
        marker_over(&marker, &version),
        "the version, then its delete marker, in the source's order"
    );
    assert!(!is_current(&b_client, &dst, "k").await);
}

// ---------------------------------------------------------------------------------------------
// kill -9

#[tokio::test]
async fn replication_queue_to_a_remote_survives_kill9() {
    let RemotePair(mut a, a_client, src, mut b, _, dst) =
        RemotePair::replicating("rk9r", "b", restartable_server(), None, |arn| {
            vec![rule("to-b", 1, arn)]
        })
        .await;

    b.stop();
    let bodies = (0..5)
        .map(|i| random_bytes(1000 + i * 70_000, 60 + i as u64))
        .collect();
    let written = put_numbered(&a_client, &src, bodies).await;
    report_with_queue(&a, Some(&src), 5, "every PUT is queued").await;

    a.kill9_and_restart();
    let a_client = a.client();
    report_with_queue(&a, Some(&src), 5, "the queue survives kill -9").await;

    b.start_again();
    let b_client = b.client();
    wait_for_empty_queue(&a, &src).await;
    Route(&a_client, &src, &b_client, &dst)
        .assert_each_replicated_once(&written, "")
        .await;
}

#[tokio::test]
async fn replication_queue_to_a_local_bucket_survives_kill9() {
    let LocalPair(mut server, client, src, dst) =
        LocalPair::replicating("rk9l", |dst| vec![rule("local", 1, dst)]).await;
    // A destination whose versioning is suspended refuses replicas: entries stay queued.
    set_versioning(&client, &dst, BucketVersioningStatus::Suspended).await;

    let bodies = (0..5)
        .map(|i| random_bytes(500 + i * 60_000, 70 + i as u64))
        .collect();
    let written = put_numbered(&client, &src, bodies).await;
    wait_for_status(&client, &src, "k0", &written[0].1, "FAILED").await;
    let report = report_with_queue(&server, Some(&src), 5, "every PUT is queued").await;
    assert!(
        report["errors"].as_array().is_some_and(|e| e
            .iter()
            .any(|e| e["destination"] == local_arn(&dst).as_str())),
        "the refusal is reported: {report}"
    );

    server.kill9_and_restart();
    let client = server.client();
    report_with_queue(&server, Some(&src), 5, "the queue survives kill -9").await;

    set_versioning(&client, &dst, BucketVersioningStatus::Enabled).await;
    wait_for_empty_queue(&server, &src).await;
    let note = ": FAILED turns COMPLETED once the destination accepts it";
    Route(&client, &src, &client, &dst)
        .assert_each_replicated_once(&written, note)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Admin surface

#[tokio::test]
async fn replication_metrics_and_status_cli() {
    let LocalPair(server, client, src, dst) =
        LocalPair::replicating("rmet", |dst| vec![rule("metered", 1, dst)]).await;
    let arn = local_arn(&dst);
    for key in ["a", "b"] {
        let version = put_version(&client, &src, key, key.as_bytes()).await;
        wait_for_status(&client, &src, key, &version, "COMPLETED").await;
    }

    let metrics = metrics_text(&server).await;
    let labels = [
        ("bucket", src.as_str()),
        ("rule", "metered"),
        ("destination", arn.as_str()),
    ];
    assert_eq!(
        metric(&metrics, "strata_replication_completed", &labels),
        2.0
    );
    assert_eq!(metric(&metrics, "strata_replication_pending", &labels), 0.0);
    assert_eq!(metric(&metrics, "strata_replication_failed", &labels), 0.0);
    assert_eq!(
        metric(&metrics, "strata_replication_queue_length", &[]),
        0.0
    );
    assert_eq!(
        metric(&metrics, "strata_replication_oldest_pending_seconds", &[]),
        0.0
    );

    let endpoint = status_report(&server, Some(&src)).await;
    let cli = replication_cli_json(&server, &src).await;
    assert_eq!(cli, endpoint, "--json prints the endpoint's document");
    assert_eq!(cli["queue_length"], 0, "{cli}");
    assert!(cli["oldest_pending_age_seconds"].is_null(), "{cli}");
    assert_eq!(rule_counts(&cli, &src, "metered"), (0, 2, 0), "{cli}");
    assert_eq!(cli["errors"], Value::Array(Vec::new()), "{cli}");

    let (ok, stdout, stderr) = replication_cli(&server, &[], SECRET_KEY).await;
    assert!(ok, "strata replication status failed: {stderr}");
    let row = stdout
        .lines()
        .find(|l| l.contains(&src) && l.contains("metered"))
        .unwrap_or_else(|| panic!("the table has a row for {src}/metered:\n{stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(
        cells.contains(&arn.as_str()) && cells.ends_with(&["0", "2", "0"]),
        "row: bucket, rule, destination, pending 0, completed 2, failed 0:\n{stdout}"
    );
    assert!(stdout.contains("queue: 0 pending"), "{stdout}");

    // The admin endpoint is authenticated, and knows which buckets exist.
    let (ok, stdout, _) = replication_cli(&server, &["--json"], "not-the-secret").await;
    assert!(!ok, "a wrong secret must fail, printed:\n{stdout}");
    let answer = send_unsigned(&server, "GET", "/_strata/replication/status", &[]).await;
    assert_eq!(
        answer.status,
        403,
        "unsigned status request: {}",
        answer.text()
    );
    let status_of_missing = "/_strata/replication/status?bucket=no-such-bucket-repl";
    answer_to(&server, RawRequest::new("GET", status_of_missing))
        .await
        .assert_error(404, "NoSuchBucket");
}

// issue #15: replication into a bucket of another owner needs that owner's grant
// (s3:ReplicateObject in the destination's policy); without it the version goes FAILED.
#[tokio::test]
async fn replication_to_another_owners_bucket_needs_its_grant() {
    let (a, b) = (crate::common::alice(), crate::common::bob());
    let server = Server::start_with(ServerOptions {
        extra_args: fast_retries(),
        users: vec![a.clone(), b.clone()],
        ..ServerOptions::default()
    });
    let (alice_c, bob_c) = (a.client(&server), b.client(&server));
    let src = versioned_bucket(&alice_c, "grant-src").await;
    let dst = versioned_bucket(&bob_c, "grant-dst").await;
    set_replication(&alice_c, &src, vec![rule("to-bob", 1, &local_arn(&dst))]).await;

    let refused = put_version(&alice_c, &src, "refused", b"1").await;
    wait_for_status(&alice_c, &src, "refused", &refused, "FAILED").await;
    let (ok, out, err) = replication_cli(&server, &["--bucket", &src], SECRET_KEY).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("does not grant s3:ReplicateObject") && out.contains(&a.arn()),
        "the reason is shown: {out}"
    );
    assert!(bob_c
        .head_object()
        .bucket(&dst)
        .key("refused")
        .send()
        .await
        .is_err());

    let grant = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},
            "Action":["s3:ReplicateObject","s3:ReplicateDelete","s3:ReplicateTags"],
            "Resource":"arn:aws:s3:::{dst}/*"}}]}}"#,
        a.arn()
    );
    bob_c
        .put_bucket_policy()
        .bucket(&dst)
        .policy(grant)
        .send()
        .await
        .expect("put the destination's policy");
    let granted = put_version(&alice_c, &src, "granted", b"2").await;
    wait_for_status(&alice_c, &src, "granted", &granted, "COMPLETED").await;
    assert_eq!(get_bytes(&bob_c, &dst, "granted").await, b"2");
}

/// The retention mode, retain-until date and legal hold HEAD shows for a version.
fn lock_of(
    head: &HeadObjectOutput,
) -> (
    Option<ObjectLockMode>,
    Option<aws_smithy_types::DateTime>,
    Option<ObjectLockLegalHoldStatus>,
) {
    (
        head.object_lock_mode().cloned(),
        head.object_lock_retain_until_date().cloned(),
        head.object_lock_legal_hold_status().cloned(),
    )
}

#[tokio::test]
async fn replication_carries_object_lock_and_needs_it_at_the_destination() {
    let b = replication_server();
    let b_client = b.client();
    let remote_locked = lock_bucket(&b_client, "rlk-rdst").await;
    let remote_plain = versioned_bucket(&b_client, "rlk-rplain").await;
    let a = server_with_remotes(&[("site-b", &b.endpoint())], None);
    let client = a.client();
    let src = lock_bucket(&client, "rlk-src").await;
    let local_plain = versioned_bucket(&client, "rlk-plain").await;
    let local_locked = lock_bucket(&client, "rlk-dst").await;

    // User Guide, "Using Object Lock with S3 Replication": a local destination without Object
    // Lock is refused when the configuration is put.
    let refused = client
        .put_bucket_replication()
        .bucket(&src)
        .replication_configuration(configuration(vec![rule("r", 1, &local_arn(&local_plain))]))
        .send()
        .await
        .expect_err("a destination without Object Lock");
    assert_eq!(
        (error_status(&refused), error_code(&refused).as_str()),
        (400, "InvalidRequest")
    );
    set_replication(
        &client,
        &src,
        vec![
            rule("local", 1, &local_arn(&local_locked)).filter(prefix_filter("l/")),
            rule("remote", 2, &remote_arn("site-b", &remote_locked)).filter(prefix_filter("r/")),
            rule("plain", 3, &remote_arn("site-b", &remote_plain)).filter(prefix_filter("p/")),
        ],
    )
    .await;

    let until = aws_smithy_types::DateTime::from_secs(4_102_444_800);
    let put_locked = async |key: &str| {
        send_put(
            client
                .put_object()
                .bucket(&src)
                .key(key)
                .body(b"kept for the auditors".to_vec().into())
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(until)
                .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On),
        )
        .await
    };
    let want = (
        Some(ObjectLockMode::Compliance),
        Some(until),
        Some(ObjectLockLegalHoldStatus::On),
    );
    let local = put_locked("l/doc").await;
    let head = wait_for_version(&client, &local_locked, "l/doc", &local).await;
    assert_eq!(lock_of(&head), want, "the local replica's lock");
    let remote = put_locked("r/doc").await;
    let head = wait_for_version(&b_client, &remote_locked, "r/doc", &remote).await;
    assert_eq!(lock_of(&head), want, "the remote replica's lock");

    // A multipart object under the bucket's default retention: each part goes with its MD5,
    // which a destination with Object Lock requires.
    set_lock_configuration(
        &client,
        &src,
        Some((ObjectLockRetentionMode::Governance, 3650)),
    )
    .await;
    let (p1, p2) = (random_bytes(MIN_PART, 3), random_bytes(1000, 4));
    multipart_put(&client, &src, "r/big", &[&p1, &p2]).await;
    let big = client
        .head_object()
        .bucket(&src)
        .key("r/big")
        .send()
        .await
        .expect("HEAD r/big");
    let big_version = big.version_id().expect("a version id").to_string();
    let head = wait_for_version(&b_client, &remote_locked, "r/big", &big_version).await;
    assert_eq!(
        lock_of(&head),
        lock_of(&big),
        "the multipart replica's lock"
    );
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));

    // A remote destination without Object Lock refuses the replica: the version goes FAILED
    // (S3's DstBucketObjectLockConfigMissing).
    let plain = put_locked("p/doc").await;
    wait_for_status(&client, &src, "p/doc", &plain, "FAILED").await;
}

// Issue 16: replicas of unlocked versions went FAILED at a remote destination with a default
// retention (no integrity header), a lapsed retention was sent as a past date and refused for
// good, and a local destination without Object Lock took locked replicas it could never unlock.
#[tokio::test]
async fn replication_into_and_out_of_object_lock_edge_cases() {
    let b = replication_server();
    let b_client = b.client();
    let worm = lock_bucket(&b_client, "rle-worm").await;
    set_lock_configuration(
        &b_client,
        &worm,
        Some((ObjectLockRetentionMode::Governance, 3650)),
    )
    .await;
    let a = server_with_remotes(&[("worm", &b.endpoint())], None);
    let client = a.client();

    // An unlocked source into a WORM backup: single-part and multipart versions arrive, locked by
    // the destination's default.
    let plain_src = versioned_bucket(&client, "rle-plain").await;
    set_replication(
        &client,
        &plain_src,
        vec![rule("all", 1, &remote_arn("worm", &worm))],
    )
    .await;
    let single = put_version(&client, &plain_src, "one", b"single part").await;
    let (p1, p2) = (random_bytes(MIN_PART, 5), random_bytes(100, 6));
    multipart_put(&client, &plain_src, "many", &[&p1, &p2]).await;
    let many = client
        .head_object()
        .bucket(&plain_src)
        .key("many")
        .send()
        .await
        .expect("HEAD many")
        .version_id()
        .expect("a version id")
        .to_string();
    for (key, version) in [("one", &single), ("many", &many)] {
        let head = wait_for_version(&b_client, &worm, key, version).await;
        assert_eq!(
            head.object_lock_mode(),
            Some(&ObjectLockMode::Governance),
            "{key}"
        );
        wait_for_status(&client, &plain_src, key, version, "COMPLETED").await;
    }

    // A retention that ended before the version was carried is not sent as a past date.
    let locked_src = lock_bucket(&client, "rle-lapsed").await;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    let soon = aws_smithy_types::DateTime::from_secs(now_s + 2);
    let lapsed = send_put(
        client
            .put_object()
            .bucket(&locked_src)
            .key("old")
            .body(b"retained briefly".to_vec().into())
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(soon),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    set_replication(
        &client,
        &locked_src,
        vec![
            rule("existing", 1, &remote_arn("worm", &worm)).existing_object_replication(
                ExistingObjectReplication::builder()
                    .status(ExistingObjectReplicationStatus::Enabled)
                    .build()
                    .unwrap(),
            ),
        ],
    )
    .await;
    wait_for_version(&b_client, &worm, "old", &lapsed).await;

    // A local destination that lacks Object Lock, set up before the source had it: the locked
    // version goes FAILED and nothing is stored there.
    let src = versioned_bucket(&client, "rle-src").await;
    let dst = versioned_bucket(&client, "rle-dst").await;
    set_replication(&client, &src, vec![rule("all", 1, &local_arn(&dst))]).await;
    set_lock_configuration(&client, &src, None).await;
    let held = send_put(
        client
            .put_object()
            .bucket(&src)
            .key("held")
            .body(b"on hold".to_vec().into())
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On),
    )
    .await;
    wait_for_status(&client, &src, "held", &held, "FAILED").await;
    assert!(
        head_version(&client, &dst, "held", &held).await.is_err(),
        "no locked replica in a bucket without Object Lock"
    );
}
