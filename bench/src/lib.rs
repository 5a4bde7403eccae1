//! `strata bench`: an S3 load generator whose figures can be trusted.
//!
//! Invariants: every request is SigV4-signed and sent path-style over a keep-alive HTTP/1.1 pool
//! with TCP_NODELAY; every object body is unique unless `--shared-content` is given; every GET
//! is checked byte for byte, so a server that answers wrongly cannot look fast; every run stops by
//! itself (duration or count); preparation and cleanup are never timed.

mod client;
mod content;
mod histogram;
mod mix;
mod procstat;
mod report;
mod units;
mod workload;

use client::{parse_endpoint, S3Client};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mix::Mix;
use report::{ClientReport, Report, ServerReport};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::{Limits, LiveCounters, ObjectPool, Shared, Workload};

/// What the timed phase does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// PutObject of new keys.
    Put,
    /// GetObject of pre-created objects, every byte verified.
    Get,
    /// GET/PUT/HEAD/DELETE by weight (default 45/15/30/10) over pre-created objects.
    Mixed,
    /// ListObjectsV2 pages over a prefix of pre-created objects.
    List,
    /// DeleteObject of pre-created objects.
    Delete,
}

/// Options of `strata bench`.
#[derive(clap::Args)]
#[command(after_help = "\
Requests are signed with SigV4 (header authentication). PUT bodies are sent with
x-amz-content-sha256: UNSIGNED-PAYLOAD, so the load generator spends no CPU hashing what it
sends; every other request signs the empty-body hash. Buckets are addressed path-style
(http://host:port/bucket/key), which every S3 implementation accepts. Plain http:// only.

Credentials come from STRATA_ACCESS_KEY / STRATA_SECRET_KEY (default: the server's development
credentials). Object contents are generated from a per-object seed, so readers verify every byte
without keeping a copy; --shared-content gives every object the same bytes (deduplicating servers
then look faster: use it only on purpose).

When the endpoint is on this machine, the server's CPU time and peak memory are reported: the
process is the one listening on the endpoint's port (or --server-pid).

Examples:
  strata bench put --endpoint http://127.0.0.1:9000 --size 4KiB --concurrency 16 --duration 20s
  strata bench get --endpoint http://127.0.0.1:9000 --size 64MiB --concurrency 4 --duration 20s
  strata bench mixed --endpoint http://127.0.0.1:9000 --size 1MiB --duration 30s --json mixed.json")]
pub struct BenchArgs {
    /// Workload.
    #[arg(value_enum)]
    mode: Mode,
    /// S3 endpoint, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "STRATA_BENCH_ENDPOINT")]
    endpoint: String,
    /// Bucket (created if missing; deleted afterwards if this run created it, unless --keep).
    #[arg(long, default_value = "strata-bench")]
    bucket: String,
    /// Object size, or several separated by commas (chosen uniformly): 4KiB, 1MiB, 64MiB, 10MB.
    #[arg(long, default_value = "4KiB", value_delimiter = ',', value_parser = units::parse_size)]
    size: Vec<u64>,
    /// Requests in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Length of the timed phase: 30s, 2m, 500ms (default 10s when --count is not given).
    #[arg(long, value_parser = units::parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,
    /// Number of operations in the timed phase, instead of a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Objects created before the timed phase (get, mixed, list, delete). Default: list 1000;
    /// get and mixed as many as fit in 1 GiB, between 4 x concurrency and 1000; delete --count,
    /// else up to 10000.
    #[arg(long)]
    objects: Option<u64>,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Region of the signing scope.
    #[arg(long, default_value = "us-east-1", env = "STRATA_REGION")]
    region: String,
    /// Mixed mode: weight of GET.
    #[arg(long, default_value_t = 45)]
    get_weight: u32,
    /// Mixed mode: weight of PUT.
    #[arg(long, default_value_t = 15)]
    put_weight: u32,
    /// Mixed mode: weight of HEAD.
    #[arg(long, default_value_t = 30)]
    head_weight: u32,
    /// Mixed mode: weight of DELETE.
    #[arg(long, default_value_t = 10)]
    delete_weight: u32,
    /// List mode: keys per ListObjectsV2 page.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    list_max_keys: u32,
    /// List mode: start each page after a random key (tests seeks) instead of at the first key.
    #[arg(long)]
    list_random_start: bool,
    /// Keep the objects and the bucket afterwards.
    #[arg(long)]
    keep: bool,
    /// Give every object the same content (shows what deduplication does; not the default).
    #[arg(long)]
    shared_content: bool,
    /// Key prefix of this run's objects (default: bench-<random>/).
    #[arg(long)]
    prefix: Option<String>,
    /// Server process to report CPU and memory of (default: the process listening on the
    /// endpoint's port, when the endpoint is on loopback).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Timeout of one request.
    #[arg(long, default_value = "120s", value_parser = units::parse_duration)]
    timeout: Duration,
    /// Threads of the load generator (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
}

/// Runs a benchmark.
pub fn run(args: BenchArgs) -> Result<(), String> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(run_async(args))
}

fn credentials() -> Result<(String, String), String> {
    strata_client::env_credentials().map(|(a, s, _)| (a, s))
}

/// Objects to create before the timed phase.
fn default_objects(args: &BenchArgs) -> u64 {
    let mean = (args.size.iter().sum::<u64>() / args.size.len().max(1) as u64).max(1);
    let fit = (1u64 << 30) / mean;
    let floor = u64::from(args.concurrency) * 4;
    match args.mode {
        Mode::Put => 0,
        Mode::List => 1000,
        Mode::Get | Mode::Mixed => fit.max(floor).min(1000),
        Mode::Delete => args.count.unwrap_or_else(|| fit.max(floor).min(10_000)),
    }
}

fn new_bar(hidden: bool, len: u64, prefix: &str, template: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(5)
        },
    );
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(prefix.to_owned());
    pb
}

/// The server process to watch, and how it was found.
fn find_server(args: &BenchArgs, hostname: &str, port: u16) -> Option<(u32, &'static str)> {
    if let Some(pid) = args.server_pid {
        return Some((pid, "--server-pid"));
    }
    if !client::is_loopback(hostname) {
        return None;
    }
    procstat::find_listener(port)
        .map(|p| (p, "listening port"))
        .or_else(|| procstat::find_strata_server().map(|p| (p, "process name")))
}

async fn run_async(args: BenchArgs) -> Result<(), String> {
    if args.size.is_empty() {
        return Err("--size needs at least one size".into());
    }
    let workload = match args.mode {
        Mode::Put => Workload::Put,
        Mode::Get => Workload::Get,
        Mode::Delete => Workload::Delete,
        Mode::List => Workload::List {
            max_keys: args.list_max_keys,
            random_start: args.list_random_start,
        },
        Mode::Mixed => Workload::Mixed(Mix::new(
            args.get_weight,
            args.put_weight,
            args.head_weight,
            args.delete_weight,
        )?),
    };
    let endpoint = parse_endpoint(&args.endpoint)?;
    let (access_key, secret_key) = credentials()?;
    let concurrency = args.concurrency as usize;
    let client = S3Client::new(
        &endpoint,
        strata_client::Signer::new(&access_key, &secret_key, &args.region),
        concurrency.max(8),
        args.timeout,
    )?;
    let run_seed = {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        content::Rng::new(nanos ^ (u64::from(std::process::id()) << 32)).next_u64()
    };
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{:08x}/", run_seed >> 32));
    let shared = Arc::new(Shared {
        client,
        bucket: args.bucket.clone(),
        prefix,
        run_seed,
        shared_content: args.shared_content,
        sizes: args.size.clone(),
        pool: ObjectPool::default(),
        next_index: AtomicU64::new(0),
        live: LiveCounters::default(),
        first_errors: Mutex::new(Vec::new()),
        progress: Mutex::new(None),
        exhausted: AtomicBool::new(false),
    });

    let created_bucket = if shared.client.bucket_exists(&args.bucket).await? {
        false
    } else {
        shared.client.create_bucket(&args.bucket).await?;
        true
    };
    let sizes: Vec<String> = args.size.iter().map(|&s| units::format_size(s)).collect();
    eprintln!(
        "strata bench {:?}: {} bucket {} prefix {} size {} concurrency {}",
        args.mode,
        endpoint.base,
        args.bucket,
        shared.prefix,
        sizes.join(","),
        concurrency
    );

    // Preparation (not timed).
    let objects = args.objects.unwrap_or_else(|| default_objects(&args));
    let prep_concurrency = concurrency.max(8);
    if args.mode != Mode::Put && objects > 0 {
        let pb = new_bar(
            args.no_progress,
            objects,
            "prepare",
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} objects",
        );
        set_progress(&shared, Some(pb.clone()));
        let ticker = spawn_ticker(shared.clone(), pb.clone(), None);
        let result = workload::prepare(&shared, objects, prep_concurrency).await;
        ticker.abort();
        pb.finish_and_clear();
        result?;
        eprintln!(
            "prepared {} objects ({} failed)",
            shared.pool.len(),
            shared.live.errors.load(Ordering::Relaxed)
        );
        reset_live(&shared.live);
    }
    let list_keys = Arc::new(if args.mode == Mode::List {
        shared.pool.sorted_keys()
    } else {
        Vec::new()
    });

    // The timed phase.
    let duration = match (args.duration, args.count) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let server = find_server(&args, &endpoint.hostname, endpoint.port);
    let hz = procstat::clock_ticks_per_second();
    let server_before = server.and_then(|(pid, _)| procstat::sample(pid));
    let client_before = procstat::sample(std::process::id());
    let peak_rss = Arc::new(AtomicU64::new(server_before.map_or(0, |s| s.rss_kib)));

    let (len, template) = match duration {
        Some(d) => (
            d.as_millis() as u64,
            "{prefix} [{elapsed_precise}] {wide_bar} {msg}",
        ),
        None => (
            args.count.unwrap_or(0),
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        ),
    };
    let pb = new_bar(args.no_progress, len, &format!("{:?}", args.mode), template);
    set_progress(&shared, Some(pb.clone()));
    let started = Instant::now();
    let limits = Arc::new(Limits {
        deadline: duration.map(|d| started + d),
        budget: args.count.map(AtomicU64::new),
    });
    let ticker = spawn_ticker(
        shared.clone(),
        pb.clone(),
        Some(TickerExtras {
            started,
            by_time: duration.is_some(),
            server_pid: server.map(|(p, _)| p),
            peak_rss: peak_rss.clone(),
        }),
    );
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        tasks.push(tokio::spawn(workload::worker(
            shared.clone(),
            limits.clone(),
            workload,
            list_keys.clone(),
            run_seed ^ content::object_seed(run_seed, w as u64 + 1_000_000_007, false),
        )));
    }
    let mut tables = Vec::new();
    for t in tasks {
        tables.push(t.await.map_err(|e| format!("worker: {e}"))?);
    }
    let elapsed = started.elapsed();
    ticker.abort();
    pb.finish_and_clear();
    set_progress(&shared, None);
    let server_after = server.and_then(|(pid, _)| procstat::sample(pid));
    let client_after = procstat::sample(std::process::id());

    // Report.
    let elapsed_s = elapsed.as_secs_f64();
    let table = report::merge_tables(&tables);
    let (operations, total) = report::rows(&table, elapsed_s);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let server_report = match (server, server_before, server_after) {
        (Some((pid, found_by)), Some(before), Some(after)) => {
            let cpu = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / hz as f64;
            Some(ServerReport {
                pid,
                found_by: found_by.into(),
                cpu_seconds: cpu,
                cpu_percent: cpu * 100.0 / elapsed_s.max(1e-9),
                peak_rss_mib: mib(peak_rss.load(Ordering::Relaxed).max(after.rss_kib)),
                vm_hwm_mib: mib(after.hwm_kib),
            })
        }
        _ => None,
    };
    let client_report = match (client_before, client_after) {
        (Some(b), Some(a)) => {
            let cpu = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / hz as f64;
            Some(ClientReport {
                cpu_seconds: cpu,
                cpu_percent: cpu * 100.0 / elapsed_s.max(1e-9),
            })
        }
        _ => None,
    };
    let stopped_early = shared.exhausted.load(Ordering::Relaxed).then(|| {
        format!(
            "no object left to delete after {} deletes (raise --objects)",
            total.count + total.errors
        )
    });
    let report = Report {
        mode: format!("{:?}", args.mode).to_lowercase(),
        endpoint: endpoint.base.clone(),
        bucket: args.bucket.clone(),
        prefix: shared.prefix.clone(),
        sizes: args.size.clone(),
        concurrency,
        duration_s: duration.map(|d| d.as_secs_f64()),
        count: args.count,
        objects: if args.mode == Mode::Put { 0 } else { objects },
        shared_content: args.shared_content,
        mix_percent: match workload {
            Workload::Mixed(m) => Some(m.percentages()),
            _ => None,
        },
        elapsed_s,
        stopped_early,
        operations,
        total,
        first_errors: shared
            .first_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        server: server_report,
        client: client_report,
    };
    print_report(&report);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| format!("JSON: {e}"))?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }

    // Cleanup (not timed).
    if !args.keep {
        let pb = new_bar(
            args.no_progress,
            0,
            "cleanup",
            "{prefix} [{elapsed_precise}] {pos} objects deleted",
        );
        let deleted = workload::cleanup(&shared, prep_concurrency, &pb).await;
        pb.finish_and_clear();
        match deleted {
            Ok(_) if created_bucket => {
                if let Err(e) = shared.client.delete_bucket(&args.bucket).await {
                    eprintln!("warning: bucket {} not deleted: {e}", args.bucket);
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: cleanup incomplete: {e}"),
        }
    }
    if report.total.errors > 0 {
        return Err(format!(
            "{} operations failed (figures above count successes only)",
            report.total.errors
        ));
    }
    Ok(())
}

fn set_progress(shared: &Shared, pb: Option<ProgressBar>) {
    *shared.progress.lock().unwrap_or_else(|e| e.into_inner()) = pb;
}

fn reset_live(live: &LiveCounters) {
    live.ops.store(0, Ordering::Relaxed);
    live.bytes.store(0, Ordering::Relaxed);
    live.errors.store(0, Ordering::Relaxed);
}

/// What the progress ticker of the timed phase also tracks.
struct TickerExtras {
    started: Instant,
    by_time: bool,
    server_pid: Option<u32>,
    peak_rss: Arc<AtomicU64>,
}

/// Updates the progress line every 200 ms (and samples the server's RSS) until aborted.
fn spawn_ticker(
    shared: Arc<Shared>,
    pb: ProgressBar,
    extras: Option<TickerExtras>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(200));
        loop {
            interval.tick().await;
            let ops = shared.live.ops.load(Ordering::Relaxed);
            let Some(x) = &extras else {
                pb.set_position(ops);
                continue;
            };
            let secs = x.started.elapsed().as_secs_f64().max(1e-3);
            let bytes = shared.live.bytes.load(Ordering::Relaxed);
            let errors = shared.live.errors.load(Ordering::Relaxed);
            if x.by_time {
                pb.set_position(x.started.elapsed().as_millis() as u64);
            } else {
                pb.set_position(ops);
            }
            let mut msg = format!(
                "{ops} ops {:.0} ops/s {:.1} MiB/s {errors} errors",
                ops as f64 / secs,
                bytes as f64 / secs / (1u64 << 20) as f64
            );
            if let Some(s) = x.server_pid.and_then(procstat::sample) {
                x.peak_rss.fetch_max(s.rss_kib, Ordering::Relaxed);
                msg.push_str(&format!(" server RSS {:.0} MiB", s.rss_kib as f64 / 1024.0));
            }
            pb.set_message(msg);
        }
    })
}

fn print_report(r: &Report) {
    let sizes: Vec<String> = r.sizes.iter().map(|&s| units::format_size(s)).collect();
    println!(
        "\n{} against {} ({} bucket {}), size {}, concurrency {}, {:.2} s{}",
        r.mode,
        r.endpoint,
        if r.shared_content {
            "shared content"
        } else {
            "unique content"
        },
        r.bucket,
        sizes.join(","),
        r.concurrency,
        r.elapsed_s,
        if r.objects > 0 {
            format!(", {} objects prepared", r.objects)
        } else {
            String::new()
        }
    );
    if let Some(m) = r.mix_percent {
        println!(
            "mix: GET {:.0}% PUT {:.0}% HEAD {:.0}% DELETE {:.0}%",
            m[0], m[1], m[2], m[3]
        );
    }
    print!("{}", r.table());
    if let Some(s) = &r.server {
        println!(
            "server pid {} ({}): CPU {:.2} s ({:.0}% of one core), peak RSS {:.1} MiB during the run, VmHWM {:.1} MiB",
            s.pid, s.found_by, s.cpu_seconds, s.cpu_percent, s.peak_rss_mib, s.vm_hwm_mib
        );
    }
    if let Some(c) = &r.client {
        println!(
            "load generator: CPU {:.2} s ({:.0}% of one core)",
            c.cpu_seconds, c.cpu_percent
        );
    }
    if let Some(s) = &r.stopped_early {
        println!("stopped early: {s}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(line: &str) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(line.split_whitespace())).map(|c| c.args)
    }

    #[test]
    fn command_line() {
        let a = parse(
            "get --endpoint http://127.0.0.1:9000 --size 4KiB,1MiB --concurrency 4 --duration 20s",
        )
        .unwrap();
        assert_eq!(a.mode, Mode::Get);
        assert_eq!(a.size, vec![4096, 1 << 20]);
        assert_eq!(a.concurrency, 4);
        assert_eq!(a.duration, Some(Duration::from_secs(20)));
        assert_eq!(a.bucket, "strata-bench");
        assert_eq!(default_objects(&a), 1000);

        let a = parse("get --endpoint http://x:1 --size 64MiB --concurrency 4").unwrap();
        assert_eq!(default_objects(&a), 16);
        let a = parse("delete --endpoint http://x:1 --count 50").unwrap();
        assert_eq!(default_objects(&a), 50);
        let a = parse("list --endpoint http://x:1").unwrap();
        assert_eq!(default_objects(&a), 1000);

        assert!(parse("put --endpoint http://x:1 --duration 10s --count 5").is_err());
        assert!(parse("put --endpoint http://x:1 --size 4XB").is_err());
        assert!(parse("put --endpoint http://x:1 --concurrency 0").is_err());
        assert!(parse("frobnicate --endpoint http://x:1").is_err());
    }
}
