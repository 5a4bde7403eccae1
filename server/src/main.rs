//! The `strata` binary: an S3-compatible object store with a lifecycle engine.

mod access_cli;
mod acl_request;
mod admin;
mod app;
mod auth;
mod authz;
mod body;
mod bucket_cache;
mod checksum;
mod error;
mod handlers;
mod lifecycle_cache;
mod lifecycle_cli;
mod lock_request;
mod metrics;
mod replication_cli;
mod replication_remote;
mod request;
mod router;
mod tls;
mod users;
mod versions;
mod write;
mod xml;

#[cfg(test)]
mod fuzz_tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use actix_web::{web, App, HttpServer};
use clap::{Parser, Subcommand, ValueEnum};

use strata_client::{env_credentials, DEV_ACCESS_KEY, DEV_SECRET_KEY};

/// Strata: an S3-compatible object storage server with a lifecycle engine.
#[derive(Parser)]
#[command(name = "strata", version, about, long_about = None)]
struct Cli {
    /// Log lines as plain text (coloured only on a terminal) or as one JSON object a line.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "STRATA_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the S3 server.
    Serve(ServeArgs),
    /// Run, explain and audit lifecycle rules on a running server.
    #[command(subcommand)]
    Lifecycle(lifecycle_cli::LifecycleCommand),
    /// Show the replication queue and counters of a running server.
    #[command(subcommand)]
    Replication(replication_cli::ReplicationCommand),
    /// Add, list and remove the users of a running server (administrator only).
    #[command(subcommand)]
    User(access_cli::UserCommand),
    /// Explain an access decision of a running server: which policy statement, ACL grant or
    /// setting allows or denies an action.
    #[command(subcommand)]
    Policy(access_cli::PolicyCommand),
    /// Measure an S3 endpoint's throughput and latency (any S3 endpoint, not only Strata).
    Bench(strata_bench::BenchArgs),
    /// Verify a stopped server's data directory: every chunk against its hash, every reference
    /// count, every version's and part's chunk list, the statistics and the queues. Exit status:
    /// 0 nothing wrong, 1 problems found and all repaired (--repair), 2 problems left, 3 the
    /// check could not run.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Data directory of a stopped server.
    #[arg(long, default_value = "./data", env = "STRATA_DATA_DIR")]
    data_dir: PathBuf,
    /// Directory of the cold tier, when the server was given one.
    #[arg(long, env = "STRATA_COLD_DIR")]
    cold_dir: Option<PathBuf>,
    /// Move what is wrong to DATA_DIR/quarantine (files, and the names of removed versions and
    /// uploads) and rewrite wrong counters; then check again.
    #[arg(long)]
    repair: bool,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// Human-readable text; ANSI colours only when standard error is a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The log filter unless `RUST_LOG` says otherwise. actix logs every malformed request a client
/// sends (a bad header, a head too large) at ERROR level; a client's mistake is answered with
/// 400/431 and is not the server's error, so those lines are off (`RUST_LOG=info` shows them).
const DEFAULT_LOG_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Commit durability (see docs/configuration.md).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum DurabilityArg {
    /// Every acknowledged write survives a power loss (fsync of chunks, directories and the
    /// SQLite WAL before the response).
    Full,
    /// Acknowledged writes survive a crash of the process, not of the machine (no fsync).
    Process,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (host:port; port 0 picks a free port and prints it).
    #[arg(long, default_value = "127.0.0.1:9000", env = "STRATA_ADDRESS")]
    address: SocketAddr,
    /// Data directory: metadata database, chunk store and temporary files.
    #[arg(long, default_value = "./data", env = "STRATA_DATA_DIR")]
    data_dir: PathBuf,
    /// Directory of the cold tier (GLACIER, DEEP_ARCHIVE); defaults to DATA_DIR/chunks/cold.
    #[arg(long, env = "STRATA_COLD_DIR")]
    cold_dir: Option<PathBuf>,
    /// Region this server answers for (the SigV4 credential scope region).
    #[arg(long, default_value = "us-east-1", env = "STRATA_REGION")]
    region: String,
    /// Domain for virtual-hosted-style requests: `BUCKET.DOMAIN` addresses BUCKET.
    #[arg(long, env = "STRATA_DOMAIN")]
    domain: Option<String>,
    /// Commit durability.
    #[arg(long, value_enum, default_value = "full", env = "STRATA_DURABILITY")]
    durability: DurabilityArg,
    /// Treat requests that carry no credentials as the administrator's: the quick single-user
    /// set-up, where no policy or ACL applies to them (signed requests are still verified).
    /// Without it, an unsigned request is anonymous: served only where a bucket policy or ACL
    /// grants anonymous access.
    #[arg(long, env = "STRATA_ALLOW_ANONYMOUS")]
    allow_anonymous: bool,
    /// A JSON file of users to create at start-up (replacing users of the same name):
    /// `{"users": [{"name": "alice", "access_key": "...", "secret_key": "...",
    /// "canonical_id": "...", "account_id": "...", "display_name": "...", "email": "..."}]}`;
    /// every field but the name is optional and generated when left out.
    #[arg(long, env = "STRATA_USERS", value_name = "FILE")]
    users: Option<PathBuf>,
    /// Serve /_strata/metrics without authentication (for Prometheus scrapers).
    #[arg(long, env = "STRATA_PUBLIC_METRICS")]
    public_metrics: bool,
    /// Length of one lifecycle day in seconds (86400 = real time). Every lifecycle, restore and
    /// replication duration follows this clock, so `10` runs a 30-day rule in 300 seconds.
    #[arg(long, default_value_t = 86_400, env = "STRATA_LIFECYCLE_DAY_SECONDS")]
    lifecycle_day_seconds: u64,
    /// How often the lifecycle worker runs a pass, in milliseconds (default: a twentieth of a
    /// lifecycle day, between 100 ms and 60 s).
    #[arg(long, env = "STRATA_LIFECYCLE_INTERVAL_MS")]
    lifecycle_interval_ms: Option<u64>,
    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "STRATA_WORKERS")]
    workers: Option<usize>,
    /// A replication destination on another S3 endpoint, NAME=URL (repeatable). Rules address
    /// it as `arn:strata:replication::NAME:BUCKET`; its keys are read from
    /// STRATA_REMOTE_<NAME>_ACCESS_KEY and STRATA_REMOTE_<NAME>_SECRET_KEY.
    #[arg(long = "replication-remote", value_name = "NAME=URL")]
    replication_remotes: Vec<String>,
    /// Seconds a request body may go without a byte before the request fails with
    /// `400 RequestTimeout` (S3 waits about 20 s).
    #[arg(long, default_value_t = 20, env = "STRATA_BODY_IDLE_TIMEOUT")]
    body_idle_timeout: u64,
    /// Uploads over 256 KiB whose bodies may be read at once; more are refused with
    /// `503 SlowDown` before their body is read.
    #[arg(long, default_value_t = 256, env = "STRATA_MAX_STREAMING_UPLOADS")]
    max_streaming_uploads: usize,
    /// Open client connections at most; beyond it new connections wait to be accepted.
    #[arg(long, default_value_t = 4096, env = "STRATA_MAX_CONNECTIONS")]
    max_connections: usize,
    /// PEM certificate chain: with --tls-key, the server speaks HTTPS only.
    #[arg(
        long,
        env = "STRATA_TLS_CERT",
        requires = "tls_key",
        value_name = "PEM"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(
        long,
        env = "STRATA_TLS_KEY",
        requires = "tls_cert",
        value_name = "PEM"
    )]
    tls_key: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    let result = match cli.command {
        Command::Check(args) => return check(args),
        Command::Serve(args) => serve(args),
        Command::Bench(args) => strata_bench::run(args),
        Command::Lifecycle(cmd) => lifecycle_cli::run(cmd),
        Command::Replication(cmd) => replication_cli::run(cmd),
        Command::User(cmd) => access_cli::run_user(cmd),
        Command::Policy(cmd) => access_cli::run_policy(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("strata: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `strata check`: prints each problem and what a repair did, then a summary line.
fn check(args: CheckArgs) -> ExitCode {
    let opts = strata_storage::CheckOptions {
        data_dir: args.data_dir,
        cold_dir: args.cold_dir,
        repair: args.repair,
    };
    let report = match strata_storage::check(&opts) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("strata: cannot check {}: {e}", opts.data_dir.display());
            return ExitCode::from(3);
        }
    };
    for line in &report.repaired {
        println!("repaired: {line}");
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    let left = report.problems.len();
    println!(
        "checked {} chunk files ({} bytes), {} versions, {} parts: {}",
        report.chunk_files,
        report.chunk_bytes,
        report.versions,
        report.parts,
        match (left, report.repaired.len()) {
            (0, 0) => "no problems".to_owned(),
            (0, n) => format!("{n} repairs, no problems left"),
            (left, n) => format!("{n} repairs, {left} problems"),
        }
    );
    match (left, report.repaired.is_empty()) {
        (0, true) => ExitCode::SUCCESS,
        (0, false) => ExitCode::from(1),
        _ => ExitCode::from(2),
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let (access_key, secret_key, defaults) = env_credentials()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    if defaults && !args.address.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {} with the development credentials: set STRATA_ACCESS_KEY and STRATA_SECRET_KEY",
            args.address
        ));
    }
    let mut cfg = strata_storage::StoreConfig::new(&args.data_dir);
    cfg.cold_dir = args.cold_dir.clone();
    cfg.replication_policy = Some(strata_lifecycle::replication::policy());
    cfg.durability = match args.durability {
        DurabilityArg::Full => strata_storage::Durability::Full,
        DurabilityArg::Process => strata_storage::Durability::Process,
    };
    let (store, report) = strata_storage::Store::open(cfg).map_err(|e| {
        format!(
            "cannot open data directory {}: {e}",
            args.data_dir.display()
        )
    })?;
    tracing::info!(
        data_dir = %args.data_dir.display(),
        tmp_removed = report.tmp_removed,
        orphan_chunks_removed = report.orphan_chunks_removed,
        "storage opened"
    );
    if let Some(file) = &args.users {
        seed_users(&store, file, &access_key)?;
    }
    let users = std::sync::Arc::new(users::UserDirectory::new(
        users::admin_identity(&access_key, &secret_key),
        store
            .users()
            .map_err(|e| format!("cannot read the users: {e}"))?,
    ));
    let metrics = metrics::Metrics::install()?;
    let clock = if args.lifecycle_day_seconds == strata_lifecycle::clock::SECONDS_PER_DAY {
        strata_lifecycle::LifecycleClock::system()
    } else {
        strata_lifecycle::LifecycleClock::scaled(args.lifecycle_day_seconds)
    };
    let interval = std::time::Duration::from_millis(
        args.lifecycle_interval_ms
            .unwrap_or(args.lifecycle_day_seconds.saturating_mul(1000) / 20)
            .clamp(100, 60_000),
    );
    let lifecycle =
        strata_lifecycle::worker::LifecycleWorker::start(store.clone(), clock, interval)
            .map_err(|e| format!("cannot start the lifecycle worker: {e}"))?;
    tracing::info!(
        day_seconds = clock.day_seconds(),
        interval_ms = interval.as_millis() as u64,
        "lifecycle worker started"
    );
    let remotes = std::sync::Arc::new(replication_remote::Remotes::from_args(
        &args.replication_remotes,
        &args.region,
    )?);
    for (name, url) in remotes.describe() {
        tracing::info!(%name, %url, "replication remote");
    }
    let replication = strata_lifecycle::replication::ReplicationWorker::start(
        store.clone(),
        clock,
        Some(remotes.clone()),
        Some(std::sync::Arc::new(authz::ReplicationGrants {
            store: store.clone(),
            users: users.clone(),
        })),
        std::time::Duration::from_millis(100),
    )
    .map_err(|e| format!("cannot start the replication worker: {e}"))?;
    let state = web::Data::new(app::AppState {
        store,
        auth: auth::AuthConfig {
            users,
            region: args.region.clone(),
            allow_anonymous: args.allow_anonymous,
        },
        region: args.region.clone(),
        domain: args.domain.clone().map(|d| d.to_ascii_lowercase()),
        public_metrics: args.public_metrics,
        metrics,
        clock,
        lifecycle,
        lifecycle_configs: Default::default(),
        access: Default::default(),
        remotes,
        replication,
        body_limits: body::BodyLimits::new(
            std::time::Duration::from_secs(args.body_idle_timeout.max(1)),
            args.max_streaming_uploads.max(1),
        ),
    });
    if defaults {
        eprintln!(
            "strata: using development credentials: access key {DEV_ACCESS_KEY}, secret key {DEV_SECRET_KEY}"
        );
    } else {
        eprintln!("strata: access key {access_key}");
    }
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let app_state = state.clone();
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(app::handle))
        })
        .workers(workers)
        // actix counts connections per worker.
        .max_connections(args.max_connections.div_ceil(workers).max(1))
        .on_connect(|conn, _| {
            // Small responses must not wait for Nagle's algorithm.
            type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
            let tcp = conn
                .downcast_ref::<actix_web::rt::net::TcpStream>()
                .or_else(|| conn.downcast_ref::<Tls>().map(|tls| tls.get_ref().0));
            if let Some(tcp) = tcp {
                let _ = tcp.set_nodelay(true);
            }
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = match tls {
            Some(config) => server.bind_rustls_0_23(args.address, config),
            None => server.bind(args.address),
        }
        .map_err(|e| format!("cannot listen on {}: {e}", args.address))?;
        for addr in server.addrs() {
            println!("strata listening on {scheme}://{addr}");
        }
        server.run().await.map_err(|e| e.to_string())
    })?;
    shut_down(&app_state)
}

/// Creates the users of a `--users` file, replacing users of the same name.
fn seed_users(
    store: &strata_storage::Store,
    file: &std::path::Path,
    admin_access_key: &str,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let doc: users::UsersFile = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a users file: {e}", file.display()))?;
    let existing = store
        .users()
        .map_err(|e| format!("cannot read the users: {e}"))?;
    for mut spec in doc.users {
        // A field the file leaves out keeps the value the user has: a restart must not give a
        // user new keys or a new canonical id (its buckets are owned by that id).
        if let Some(old) = existing.iter().find(|u| u.name == spec.name) {
            spec.access_key
                .get_or_insert_with(|| old.access_key.clone());
            spec.secret_key
                .get_or_insert_with(|| old.secret_key.clone());
            spec.canonical_id
                .get_or_insert_with(|| old.canonical_id.clone());
            spec.account_id
                .get_or_insert_with(|| old.account_id.clone());
            spec.display_name
                .get_or_insert_with(|| old.display_name.clone());
            spec.email.get_or_insert_with(|| old.email.clone());
        }
        let record = users::complete(spec)
            .and_then(|r| users::not_the_administrators(r, admin_access_key))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let name = record.name.clone();
        store
            .replace_user(record)
            .map_err(|e| format!("{}: cannot add user {name}: {e}", file.display()))?;
    }
    Ok(())
}

/// After the HTTP server stopped (SIGTERM or SIGINT: actix stops accepting, lets in-flight
/// requests finish for up to 30 s, then returns): stops the background workers and empties the
/// WAL into the database, so the next start replays nothing.
fn shut_down(state: &app::AppState) -> Result<(), String> {
    state.lifecycle.stop();
    state.replication.stop();
    state
        .store
        .checkpoint()
        .map_err(|e| format!("cannot flush the metadata database: {e}"))?;
    tracing::info!("shut down cleanly");
    Ok(())
}
