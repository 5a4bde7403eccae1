//! Test harness: starts the real `strata` binary on an ephemeral (or chosen) port with a
//! temporary data directory, and talks to it with aws-sdk-s3 (default configuration) or with raw
//! requests that are signed by the official `aws-sigv4` crate, so that what the SDK hides (status
//! lines, error bodies, headers) can be checked too.
//!
//! Every test starts its own server: tests stay independent, run concurrently, and a server's
//! log is printed when the test that owns it fails.

#![allow(dead_code)] // each test module uses a different part of the harness

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Once;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::types::{BucketVersioningStatus, Tag, Tagging, VersioningConfiguration};
use aws_sdk_s3::Client;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use md5::{Digest, Md5};

/// Access key the servers under test are started with.
pub const ACCESS_KEY: &str = "testkey";
/// Secret key the servers under test are started with.
pub const SECRET_KEY: &str = "testsecret-1234567890";
/// Region of the servers under test unless a test asks for another.
pub const REGION: &str = "us-east-1";

/// How long a server may take to print its `listening` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

static PROXY_ENV: Once = Once::new();

/// Recent SDK behaviour versions honour proxy variables: keep loopback traffic direct.
fn bypass_proxies() {
    PROXY_ENV.call_once(|| {
        std::env::set_var("NO_PROXY", "127.0.0.1,localhost,.localhost");
        std::env::set_var("no_proxy", "127.0.0.1,localhost,.localhost");
    });
}

/// Path of the binary under test: `STRATA_BIN`, else the workspace's `target/debug/strata`.
pub fn strata_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("STRATA_BIN") {
        return PathBuf::from(bin);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => manifest.join("..").join(dir),
        None => manifest.join("..").join("target"),
    };
    target.join("debug").join("strata")
}

/// Removes every `STRATA_*` variable of the test environment from what `cmd` inherits.
fn remove_strata_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STRATA_") {
            cmd.env_remove(name);
        }
    }
}

/// `strata ARGS --endpoint URL` against `server`, with the harness access key and `secret` in
/// the environment and no other `STRATA_*` setting of the test environment.
pub fn strata_command(server: &Server, args: &[&str], secret: &str) -> Command {
    let mut cmd = Command::new(strata_bin());
    cmd.args(args).arg("--endpoint").arg(server.endpoint());
    remove_strata_env(&mut cmd);
    cmd.env("STRATA_ACCESS_KEY", ACCESS_KEY)
        .env("STRATA_SECRET_KEY", secret)
        .env("NO_PROXY", "127.0.0.1,localhost");
    cmd
}

/// `strata ARGS` with no `STRATA_*` setting of the test environment, for the commands that work
/// on a data directory rather than an endpoint (`strata check`).
pub fn strata_offline(args: &[&str]) -> Command {
    let mut cmd = Command::new(strata_bin());
    cmd.args(args);
    remove_strata_env(&mut cmd);
    cmd
}

/// `strata check --data-dir DIR EXTRA...` on a stopped server's directory: its exit code and
/// what it printed (stdout, then stderr).
pub fn strata_check(data_dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "check",
        "--data-dir",
        data_dir.to_str().expect("UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    let out = strata_offline(&args).output().expect("run strata check");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Whether the tests run as root (mounting a tmpfs or a loop device needs it).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Options for `strata serve` beyond the address and data directory.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// `--domain`: enables virtual-hosted-style addressing under this domain.
    pub domain: Option<String>,
    /// `--allow-anonymous`.
    pub allow_anonymous: bool,
    /// `--region` (the server's default when `None`).
    pub region: Option<String>,
    /// Further `strata serve` arguments, passed as given after the others (e.g.
    /// `--lifecycle-day-seconds 1`).
    pub extra_args: Vec<String>,
    /// Environment variables for the server, set after the test environment's `STRATA_*`
    /// variables are removed (e.g. a replication remote's `STRATA_REMOTE_<NAME>_ACCESS_KEY`).
    pub extra_env: Vec<(String, String)>,
    /// Listen on this port instead of an ephemeral one (see [`free_port`]): for a server whose
    /// address other servers must be given before it starts, or that must come back on the same
    /// address after [`Server::stop`]. Every start of the server, restarts included, uses it.
    pub port: Option<u16>,
    /// Use this directory as `--data-dir` (it must exist) instead of a fresh one in the server's
    /// temporary root: for a data directory on a file system the test set up itself.
    pub data_dir: Option<PathBuf>,
    /// Users besides the administrator, given to the server as a `--users` file.
    pub users: Vec<TestUser>,
}

/// A user of a test server, with fixed keys and ids.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Name (its ARN is `arn:aws:iam::ACCOUNT:user/NAME`).
    pub name: &'static str,
    /// Access key id.
    pub access_key: &'static str,
    /// Secret key.
    pub secret_key: &'static str,
    /// Canonical user id.
    pub canonical_id: String,
    /// Account id.
    pub account_id: &'static str,
    /// Email address.
    pub email: String,
}

impl TestUser {
    /// A user whose keys and ids follow from its name and a digit (`n` in 1..=9).
    pub fn numbered(name: &'static str, n: u8, access_key: &'static str) -> TestUser {
        let digit = char::from(b'0' + n);
        TestUser {
            name,
            access_key,
            secret_key: "user-secret-0123456789",
            canonical_id: std::iter::repeat_n(digit, 64).collect(),
            account_id: ["", "111111111111", "222222222222", "333333333333"][usize::from(n).min(3)],
            email: format!("{name}@example.com"),
        }
    }

    /// The user's ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account_id, self.name)
    }

    /// A path-style aws-sdk-s3 client signing as this user.
    pub fn client(&self, server: &Server) -> Client {
        server.client_with_keys(self.access_key, self.secret_key)
    }
}

/// Alice, Bob and Carol: three users (three accounts) for access tests.
pub fn alice() -> TestUser {
    TestUser::numbered("alice", 1, "ALICEACCESSKEY000001")
}
/// See [`alice`].
pub fn bob() -> TestUser {
    TestUser::numbered("bob", 2, "BOBACCESSKEY00000002")
}
/// See [`alice`].
pub fn carol() -> TestUser {
    TestUser::numbered("carol", 3, "CAROLACCESSKEY000003")
}

impl Server {
    /// Starts a server with these users besides the administrator.
    pub fn start_with_users(users: &[TestUser]) -> Server {
        Server::start_with(ServerOptions {
            users: users.to_vec(),
            ..Default::default()
        })
    }
}

/// A loopback port that was free a moment ago (bound to port 0, read, released), for
/// [`ServerOptions::port`].
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A running `strata serve` child process, killed when dropped.
pub struct Server {
    child: Option<Child>,
    port: u16,
    options: ServerOptions,
    root: tempfile::TempDir,
    starts: u32,
}

impl Server {
    /// Starts a server with default options.
    pub fn start() -> Server {
        Server::start_with(ServerOptions::default())
    }

    /// Starts a server with the given options.
    pub fn start_with(options: ServerOptions) -> Server {
        bypass_proxies();
        let root = tempfile::Builder::new()
            .prefix("strata-conformance-")
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir_all(root.path().join("data")).expect("create data dir");
        let mut server = Server {
            child: None,
            port: 0,
            options,
            root,
            starts: 0,
        };
        server.spawn();
        server
    }

    /// The server's `--data-dir` (the same across restarts).
    pub fn data_dir(&self) -> PathBuf {
        match &self.options.data_dir {
            Some(dir) => dir.clone(),
            None => self.root.path().join("data"),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join(format!("server-{}.log", self.starts))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let bin = strata_bin();
        assert!(
            bin.exists(),
            "{} does not exist: run `cargo build -p strata-server` first (or set STRATA_BIN)",
            bin.display()
        );
        let log = std::fs::File::create(self.log_path()).expect("create server log");
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--address")
            .arg(format!("127.0.0.1:{}", self.options.port.unwrap_or(0)))
            .arg("--data-dir")
            .arg(self.data_dir());
        if let Some(domain) = &self.options.domain {
            cmd.arg("--domain").arg(domain);
        }
        if let Some(region) = &self.options.region {
            cmd.arg("--region").arg(region);
        }
        if self.options.allow_anonymous {
            cmd.arg("--allow-anonymous");
        }
        if !self.options.users.is_empty() {
            let users: Vec<serde_json::Value> = self
                .options
                .users
                .iter()
                .map(|u| {
                    serde_json::json!({
                        "name": u.name, "access_key": u.access_key, "secret_key": u.secret_key,
                        "canonical_id": u.canonical_id, "account_id": u.account_id,
                        "email": u.email,
                    })
                })
                .collect();
            let file = self.root.path().join("users.json");
            std::fs::write(&file, serde_json::json!({ "users": users }).to_string())
                .expect("write users file");
            cmd.arg("--users").arg(file);
        }
        cmd.args(&self.options.extra_args);
        // Only the options above configure the server: no STRATA_* setting leaks in from the
        // environment of whoever runs the tests.
        remove_strata_env(&mut cmd);
        cmd.envs(self.options.extra_env.iter().map(|(n, v)| (n, v)));
        // The server's own log filter applies unless the test run sets RUST_LOG.
        match std::env::var("RUST_LOG") {
            Ok(filter) => cmd.env("RUST_LOG", filter),
            Err(_) => cmd.env_remove("RUST_LOG"),
        };
        cmd.env("STRATA_ACCESS_KEY", ACCESS_KEY)
            .env("STRATA_SECRET_KEY", SECRET_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel();
        // The first line announces the port; the rest of stdout is drained so the child never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        self.child = Some(child);
        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(e) => panic!(
                "server printed no listening line ({e}):\n{}",
                self.log_tail()
            ),
        };
        let port = line
            .trim()
            .strip_prefix("strata listening on http://127.0.0.1:")
            .and_then(|port| port.parse::<u16>().ok())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first stdout line {line:?} (want `strata listening on http://127.0.0.1:PORT`):\n{}",
                    self.log_tail()
                )
            });
        self.port = port;
    }

    /// The last few KiB of the current server log.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.log_path()) {
            let _ = file.read_to_string(&mut text);
        }
        let cut = text.len().saturating_sub(8192);
        let cut = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[cut..].to_string()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` followed by `path_and_query`, which must already be encoded.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.endpoint(), path_and_query)
    }

    /// Region clients must sign for.
    pub fn region(&self) -> &str {
        self.options.region.as_deref().unwrap_or(REGION)
    }

    /// SIGKILLs the server (no chance to flush anything) and starts it again on the same data
    /// directory; the port may change unless [`ServerOptions::port`] fixed it.
    pub fn kill9_and_restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGKILLs the server and leaves it down (its data directory stays) until
    /// [`Server::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL server");
            child.wait().expect("reap server");
        }
    }

    /// Sends the server SIGTERM, as a service manager stops it, and waits up to `within` for it to
    /// exit; returns its exit status and leaves it down until [`Server::start_again`].
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self
            .child
            .take()
            .expect("terminate: the server is not running");
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the server") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not exit within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a stopped server again on the same data directory, with the same options (so on
    /// the same port if [`ServerOptions::port`] is set).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again: the server is running");
        self.spawn();
    }

    /// A path-style aws-sdk-s3 client with the server's credentials.
    pub fn client(&self) -> Client {
        self.client_with_keys(ACCESS_KEY, SECRET_KEY)
    }

    /// A path-style aws-sdk-s3 client with the given credentials.
    pub fn client_with_keys(&self, access_key: &str, secret_key: &str) -> Client {
        Client::from_conf(
            sdk_config(&self.endpoint(), self.region(), access_key, secret_key)
                .force_path_style(true)
                .build(),
        )
    }

    /// A virtual-hosted-style client on `http://localhost:PORT`: requests go to
    /// `bucket.localhost:PORT` (resolved to 127.0.0.1 by the connector, Host header kept).
    pub fn virtual_hosted_client(&self) -> Client {
        let config = sdk_config(
            &format!("http://localhost:{}", self.port),
            self.region(),
            ACCESS_KEY,
            SECRET_KEY,
        )
        .force_path_style(false)
        .http_client(LoopbackClient {
            inner: aws_smithy_http_client::Builder::new().build_http(),
        })
        .build();
        Client::from_conf(config)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- strata server log (tail) ----\n{}", self.log_tail());
        }
    }
}

/// SDK configuration as a user would write it: static credentials, an endpoint, plain HTTP.
pub fn sdk_config(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "conformance-tests",
        ))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(120))
                .build(),
        )
}

/// HTTP client for virtual-hosted tests: `*.localhost` does not resolve through the system
/// resolver here, so the connection goes to 127.0.0.1 while the Host header (which is what the
/// request was signed with and what the server routes on) keeps `bucket.localhost:PORT`.
#[derive(Clone, Debug)]
struct LoopbackClient {
    inner: SharedHttpClient,
}

impl HttpClient for LoopbackClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LoopbackConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct LoopbackConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for LoopbackConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let uri = request.uri().to_string();
        if let Some(rest) = uri.strip_prefix("http://") {
            let split = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(split);
            if let Some((host, port)) = authority.rsplit_once(':') {
                if host == "localhost" || host.ends_with(".localhost") {
                    request.headers_mut().insert("host", authority.to_string());
                    if let Err(e) = request.set_uri(format!("http://127.0.0.1:{port}{path}")) {
                        panic!("rewrite {uri}: {e}");
                    }
                }
            }
        }
        self.inner.call(request)
    }
}

/// A reqwest client that never uses a proxy.
pub fn http() -> reqwest::Client {
    bypass_proxies();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("reqwest client")
}

/// A unique, valid bucket name for one test.
pub fn bucket_name(tag: &str) -> String {
    let n: u32 = rand::random();
    format!("{tag}-{n:08x}")
}

/// Creates a bucket with the SDK and returns its name.
pub async fn create_bucket(client: &Client, tag: &str) -> String {
    let bucket = bucket_name(tag);
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e:?}"));
    bucket
}

/// PutBucketVersioning with the SDK, which must succeed.
pub async fn set_versioning(client: &Client, bucket: &str, status: BucketVersioningStatus) {
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutBucketVersioning {bucket}: {}", describe_error(&e)));
}

/// A tag set for PutObjectTagging / PutBucketTagging.
pub fn tagging(tags: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("Tag"))
                .collect(),
        ))
        .build()
        .expect("Tagging")
}

/// Tags as sorted (key, value) pairs, to compare with [`sorted_pairs`].
pub fn sorted_tags(tags: &[Tag]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = tags
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    out.sort();
    out
}

/// Expected tags as sorted owned pairs.
pub fn sorted_pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.sort();
    out
}

/// Creates a bucket with versioning enabled and returns its name.
pub async fn versioned_bucket(client: &Client, tag: &str) -> String {
    let bucket = create_bucket(client, tag).await;
    set_versioning(client, &bucket, BucketVersioningStatus::Enabled).await;
    bucket
}

/// Puts an in-memory object with the SDK.
pub async fn put(client: &Client, bucket: &str, key: &str, body: &[u8]) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
}

/// Gets a whole object with the SDK.
pub async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e:?}"));
    out.body
        .collect()
        .await
        .expect("read GetObject body")
        .into_bytes()
        .to_vec()
}

/// Gets one version of an object whole with the SDK.
pub async fn get_version_bytes(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "GetObject {bucket}/{key}?versionId={version_id}: {}",
                describe_error(&e)
            )
        });
    out.body
        .collect()
        .await
        .expect("read GetObject body")
        .into_bytes()
        .to_vec()
}

/// The S3 error code of an SDK error, panicking with the whole error if it is not an S3 error.
pub fn error_code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(service) => service
            .code()
            .unwrap_or_else(|| panic!("service error without a code: {err:?}"))
            .to_string(),
        None => panic!("expected an S3 error response, got {err:?}"),
    }
}

/// The HTTP status of an SDK error's response.
pub fn error_status<E: std::fmt::Debug>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> u16 {
    err.raw_response()
        .unwrap_or_else(|| panic!("error without a response: {err:?}"))
        .status()
        .as_u16()
}

/// The status and code of an SDK request that must fail.
pub fn refusal<T: std::fmt::Debug, E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> (u16, String) {
    let err = result.expect_err("the request must be refused");
    (error_status(&err), error_code(&err))
}

/// Creates a bucket with Object Lock enabled (and so versioning) and returns its name.
pub async fn lock_bucket(client: &Client, tag: &str) -> String {
    let bucket = bucket_name(tag);
    client
        .create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket {bucket} with Object Lock: {e:?}"));
    bucket
}

/// An ObjectLockConfiguration, enabled, with this default retention (mode, days; None: none).
pub fn lock_configuration(
    default: Option<(aws_sdk_s3::types::ObjectLockRetentionMode, i32)>,
) -> aws_sdk_s3::types::ObjectLockConfiguration {
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRule,
    };
    let mut cfg =
        ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
    if let Some((mode, days)) = default {
        cfg = cfg.rule(
            ObjectLockRule::builder()
                .default_retention(DefaultRetention::builder().mode(mode).days(days).build())
                .build(),
        );
    }
    cfg.build()
}

/// PutObjectLockConfiguration with the SDK, which must succeed.
pub async fn set_lock_configuration(
    client: &Client,
    bucket: &str,
    default: Option<(aws_sdk_s3::types::ObjectLockRetentionMode, i32)>,
) {
    client
        .put_object_lock_configuration()
        .bucket(bucket)
        .object_lock_configuration(lock_configuration(default))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PutObjectLockConfiguration {bucket}: {}",
                describe_error(&e)
            )
        });
}

/// Lowercase hex MD5.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Base64 MD5, as `Content-MD5` carries it.
pub fn md5_base64(data: &[u8]) -> String {
    b64(&Md5::digest(data))
}

/// Standard base64.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill_bytes(&mut data);
    data
}

/// Files and bytes under `dir`, recursively (zero when it does not exist).
pub fn dir_usage(dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// The checksum algorithms S3 verifies, with an independent implementation of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Checksum {
    /// All algorithms.
    pub const ALL: [Checksum; 5] = [
        Checksum::Crc32,
        Checksum::Crc32c,
        Checksum::Crc64Nvme,
        Checksum::Sha1,
        Checksum::Sha256,
    ];

    /// The header carrying this checksum, e.g. `x-amz-checksum-crc32`.
    pub fn header(self) -> &'static str {
        match self {
            Checksum::Crc32 => "x-amz-checksum-crc32",
            Checksum::Crc32c => "x-amz-checksum-crc32c",
            Checksum::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Checksum::Sha1 => "x-amz-checksum-sha1",
            Checksum::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Base64 of the big-endian digest of `data`.
    pub fn of(self, data: &[u8]) -> String {
        use crc_fast::CrcAlgorithm;
        match self {
            Checksum::Crc32 => {
                b64(&(crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, data) as u32).to_be_bytes())
            }
            Checksum::Crc32c => {
                b64(&(crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, data) as u32).to_be_bytes())
            }
            Checksum::Crc64Nvme => {
                b64(&crc_fast::checksum(CrcAlgorithm::Crc64Nvme, data).to_be_bytes())
            }
            Checksum::Sha1 => b64(&sha1::Sha1::digest(data)),
            Checksum::Sha256 => b64(&sha2::Sha256::digest(data)),
        }
    }
}

/// The `checksum_*` field of `algorithm` on an SDK output (PutObject, HeadObject, GetObject,
/// UploadPart, a listed part, CompleteMultipartUpload...): the outputs share the accessors but
/// no trait, so this is a macro. An `Option<&str>`.
macro_rules! checksum_field {
    ($out:expr, $algorithm:expr) => {
        match $algorithm {
            $crate::common::Checksum::Crc32 => $out.checksum_crc32(),
            $crate::common::Checksum::Crc32c => $out.checksum_crc32_c(),
            $crate::common::Checksum::Crc64Nvme => $out.checksum_crc64_nvme(),
            $crate::common::Checksum::Sha1 => $out.checksum_sha1(),
            $crate::common::Checksum::Sha256 => $out.checksum_sha256(),
        }
    };
}
pub(crate) use checksum_field;

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// How a raw request's payload is declared in `x-amz-content-sha256`.
#[derive(Clone, Debug)]
pub enum Payload {
    /// The hex SHA-256 of the body that is sent.
    Sha256,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Any literal value (a wrong hash, a streaming mode).
    Literal(String),
}

/// A raw request, signed with SigV4 by the `aws-sigv4` crate.
#[derive(Clone, Debug)]
pub struct RawRequest {
    /// HTTP method.
    pub method: String,
    /// Encoded path and query, e.g. `/bucket/key?uploads`.
    pub path_and_query: String,
    /// Extra headers (all of them are signed).
    pub headers: Vec<(String, String)>,
    /// Body bytes as sent on the wire.
    pub body: Vec<u8>,
    /// What `x-amz-content-sha256` declares.
    pub payload: Payload,
    /// Signing time (now unless a test wants skew).
    pub time: SystemTime,
    /// Access key to sign with.
    pub access_key: String,
    /// Secret key to sign with.
    pub secret_key: String,
}

impl RawRequest {
    /// A request with no body, signed with the server's credentials now.
    pub fn new(method: &str, path_and_query: &str) -> RawRequest {
        RawRequest {
            method: method.to_string(),
            path_and_query: path_and_query.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            payload: Payload::Sha256,
            time: SystemTime::now(),
            access_key: ACCESS_KEY.to_string(),
            secret_key: SECRET_KEY.to_string(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> RawRequest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> RawRequest {
        self.body = body.into();
        self
    }

    /// Sets the declared payload hash.
    pub fn payload(mut self, payload: Payload) -> RawRequest {
        self.payload = payload;
        self
    }

    /// Signs the request for `server` and returns the signed headers (including
    /// `authorization`, `x-amz-date`, `x-amz-content-sha256`) and the seed signature.
    pub fn sign(&self, server: &Server) -> (Vec<(String, String)>, String) {
        let identity = Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "conformance-tests",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(server.region())
            .name("s3")
            .time(self.time)
            .settings(s3_signing_settings())
            .build()
            .expect("signing params")
            .into();
        let url = server.url(&self.path_and_query);
        let body = match &self.payload {
            Payload::Sha256 => SignableBody::Bytes(&self.body),
            Payload::Unsigned => SignableBody::UnsignedPayload,
            Payload::Literal(value) => SignableBody::Precomputed(value.clone()),
        };
        let signable = SignableRequest::new(
            &self.method,
            &url,
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            body,
        )
        .expect("signable request");
        let (instructions, signature) = sign(signable, &params).expect("sign").into_parts();
        let mut headers = self.headers.clone();
        headers.extend(
            instructions
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_string())),
        );
        (headers, signature)
    }

    /// Signs and sends the request to `server` and reads the whole answer.
    pub async fn answer(self, server: &Server) -> Answer {
        Answer::read(self.send(server).await).await
    }

    /// Signs and sends the request to `server`.
    pub async fn send(self, server: &Server) -> reqwest::Response {
        let (headers, _) = self.sign(server);
        send_with_headers(
            server,
            &self.method,
            &self.path_and_query,
            &headers,
            self.body,
        )
        .await
    }
}

/// SigV4 settings S3 uses: single URI encoding, no path normalisation, `x-amz-content-sha256`.
pub fn s3_signing_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings
}

/// A SigV4 presigned URL made by `aws-sigv4` directly (for cases the SDK presigner refuses).
pub fn presign_url(server: &Server, method: &str, path: &str, expires_in: Duration) -> String {
    presign_url_with(server, (ACCESS_KEY, SECRET_KEY), method, path, expires_in)
}

/// [`presign_url`] signed with another key pair (access key, secret key).
pub fn presign_url_with(
    server: &Server,
    keys: (&str, &str),
    method: &str,
    path: &str,
    expires_in: Duration,
) -> String {
    let identity = Credentials::new(keys.0, keys.1, None, None, "conformance-tests").into();
    let mut settings = s3_signing_settings();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.expires_in = Some(expires_in);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(server.region())
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let url = server.url(path);
    let signable = SignableRequest::new(
        method,
        &url,
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("presign").into_parts();
    let query: Vec<String> = instructions
        .params()
        .iter()
        .map(|(name, value)| format!("{name}={}", uri_encode(value, true)))
        .collect();
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", query.join("&"))
}

/// Sends a request with exactly these headers (no signing).
pub async fn send_with_headers(
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http().request(method, server.url(path_and_query));
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("send {path_and_query}: {e}"))
}

/// S3's URI encoding: everything but the RFC 3986 unreserved set (and `/` in paths).
pub fn uri_encode(value: &str, encode_slash: bool) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The text of the first `<tag>...</tag>` in `xml`.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].to_string())
}

/// A response read whole, for assertions.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// Reads a response.
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("read body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the response is S3's XML error document with this status and code, a Message, a
    /// RequestId equal to the `x-amz-request-id` header; returns the body.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        let text = self.text();
        assert_eq!(
            (self.status, xml_value(&text, "Code").as_deref()),
            (status, Some(code)),
            "want {status} {code}, got {} with body {text:?}",
            self.status
        );
        self.assert_error_document();
        text
    }

    /// Asserts the response is a well-formed S3 XML error document (any code).
    pub fn assert_error_document(&self) {
        let text = self.text();
        let request_id = self
            .header("x-amz-request-id")
            .unwrap_or_else(|| panic!("error response without x-amz-request-id: {text:?}"));
        assert!(!request_id.is_empty(), "empty x-amz-request-id");
        assert!(
            text.trim_start().starts_with("<?xml"),
            "error body lacks the XML declaration: {text:?}"
        );
        assert!(
            text.contains("<Error>"),
            "error body is not <Error>: {text:?}"
        );
        assert!(
            xml_value(&text, "Code").is_some_and(|c| !c.is_empty()),
            "no Code: {text:?}"
        );
        assert!(
            xml_value(&text, "Message").is_some(),
            "no Message: {text:?}"
        );
        assert_eq!(
            xml_value(&text, "RequestId").as_deref(),
            Some(request_id.as_str()),
            "RequestId in the body must be the x-amz-request-id header: {text:?}"
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.contains("xml"),
            "error Content-Type {content_type:?} is not XML"
        );
    }
}

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;

/// The smallest size S3 allows for every part of a multipart upload but the last.
pub const MIN_PART: usize = 5 * MIB;

/// The text of every `<tag>...</tag>` in `xml`, in document order.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    out
}

/// Decodes standard base64.
pub fn b64_decode(value: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap_or_else(|e| panic!("{value:?} is not base64: {e}"))
}

/// The quoted ETag S3 gives a multipart object: the MD5 of the parts' binary MD5s, then `-N`.
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut all = Md5::new();
    for part in parts {
        all.update(Md5::digest(part));
    }
    format!("\"{}-{}\"", hex::encode(all.finalize()), parts.len())
}

/// Asserts that an SDK call failed with this HTTP status and S3 error code.
pub fn assert_sdk_error<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    status: u16,
    code: &str,
) where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    let got_code = err
        .as_service_error()
        .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e))
        .map(str::to_string);
    let got_status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(
        (got_status, got_code.as_deref()),
        (Some(status), Some(code)),
        "want {status} {code}, got {err:?}"
    );
}

/// CreateMultipartUpload with no options; returns the upload id.
pub async fn create_upload(client: &Client, bucket: &str, key: &str) -> String {
    client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateMultipartUpload {bucket}/{key}: {e:?}"))
        .upload_id()
        .expect("UploadId")
        .to_string()
}

/// UploadPart of an in-memory body; returns the part's ETag.
pub async fn upload_part(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: i32,
    body: &[u8],
) -> String {
    client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(part_number)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("UploadPart {part_number} of {bucket}/{key}: {e:?}"))
        .e_tag()
        .expect("part ETag")
        .to_string()
}

/// Starts a multipart upload whose parts carry `alg` checksums; returns its upload id.
pub async fn create_upload_with_checksum(
    client: &Client,
    bucket: &str,
    key: &str,
    alg: aws_sdk_s3::types::ChecksumAlgorithm,
) -> String {
    client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(alg)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateMultipartUpload of {bucket}/{key}: {e:?}"))
        .upload_id()
        .expect("upload id")
        .to_owned()
}

/// The CompleteMultipartUpload document listing these (part number, ETag) pairs in order.
pub fn completed_parts(parts: &[(i32, &str)]) -> aws_sdk_s3::types::CompletedMultipartUpload {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, etag)| {
                    CompletedPart::builder()
                        .part_number(*n)
                        .e_tag(*etag)
                        .build()
                })
                .collect(),
        ))
        .build()
}

/// Uploads `parts` (numbered from 1) and completes the upload; returns the object's ETag.
pub async fn multipart_put(client: &Client, bucket: &str, key: &str, parts: &[&[u8]]) -> String {
    let upload_id = create_upload(client, bucket, key).await;
    let mut etags = Vec::new();
    for (i, body) in parts.iter().enumerate() {
        etags.push(upload_part(client, bucket, key, &upload_id, i as i32 + 1, body).await);
    }
    let listed: Vec<(i32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i32 + 1, e.as_str()))
        .collect();
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(completed_parts(&listed))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CompleteMultipartUpload {bucket}/{key}: {e:?}"))
        .e_tag()
        .expect("ETag")
        .to_string()
}

/// A reqwest client that neither uses a proxy nor follows redirects.
pub fn http_no_redirect() -> reqwest::Client {
    bypass_proxies();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("reqwest client")
}

/// Sends an unsigned request (no `Authorization`), as a browser would.
pub async fn send_unsigned(
    server: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    Answer::read(send_with_headers(server, method, path_and_query, &headers, Vec::new()).await)
        .await
}

/// A one-line summary of an SDK error: status, code and message, or the whole error if it is
/// not an S3 error response.
pub fn describe_error<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match (err.raw_response(), err.as_service_error()) {
        (Some(raw), Some(service)) => format!(
            "{} {} ({})",
            raw.status().as_u16(),
            aws_sdk_s3::error::ProvideErrorMetadata::code(service).unwrap_or("no code"),
            aws_sdk_s3::error::ProvideErrorMetadata::message(service).unwrap_or("no message"),
        ),
        _ => format!("{err:?}"),
    }
}
