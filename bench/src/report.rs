//! Figures of a benchmark run: per-operation statistics, the final table and the JSON report.
//!
//! Invariant: the table and the JSON are rendered from the same `Report`, so they always agree;
//! rates divide by the wall time of the timed phase only (preparation and cleanup excluded).

use super::histogram::Histogram;
use super::mix::Op;
use super::units::format_ms;
use serde::Serialize;

/// Counters of one kind of operation (successful operations only feed the latency histogram).
#[derive(Clone, Default)]
pub struct OpStats {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Object bytes moved by successful operations (or response bytes for LIST).
    pub bytes: u64,
    /// Keys returned (LIST).
    pub keys: u64,
    /// Latency of successful operations, microseconds.
    pub latency: Histogram,
}

impl OpStats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &OpStats) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.keys += other.keys;
        self.latency.merge(&other.latency);
    }
}

/// Statistics per operation, indexed by [`Op::index`].
pub type OpTable = [OpStats; 5];

/// Latency percentiles in milliseconds.
#[derive(Serialize)]
pub struct LatencyReport {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// One row of the table.
#[derive(Serialize)]
pub struct OpReport {
    /// Operation name (or `TOTAL`).
    pub op: String,
    /// Successful operations.
    pub count: u64,
    /// Failed operations.
    pub errors: u64,
    /// Successful operations per second.
    pub ops_per_s: f64,
    /// Object data per second, MiB (2^20 bytes).
    pub mib_per_s: f64,
    /// Object bytes moved.
    pub bytes: u64,
    /// Keys listed (LIST only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// Latency of successful operations.
    pub latency_ms: LatencyReport,
}

impl OpReport {
    /// The row of `stats` over `elapsed_s` seconds.
    pub fn new(name: &str, stats: &OpStats, elapsed_s: f64, list: bool) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let per_s = |n: f64| if elapsed_s > 0.0 { n / elapsed_s } else { 0.0 };
        OpReport {
            op: name.to_owned(),
            count: stats.ok,
            errors: stats.errors,
            ops_per_s: per_s(stats.ok as f64),
            mib_per_s: per_s(stats.bytes as f64 / (1u64 << 20) as f64),
            bytes: stats.bytes,
            keys: list.then_some(stats.keys),
            latency_ms: LatencyReport {
                p50: ms(stats.latency.percentile(50.0)),
                p90: ms(stats.latency.percentile(90.0)),
                p99: ms(stats.latency.percentile(99.0)),
                max: ms(stats.latency.max()),
                mean: stats.latency.mean() / 1000.0,
            },
        }
    }
}

/// CPU and memory of the server during the timed phase.
#[derive(Serialize)]
pub struct ServerReport {
    /// Process id read.
    pub pid: u32,
    /// How the process was found: `--server-pid`, `listening port` or `process name`.
    pub found_by: String,
    /// CPU time (user + system, all threads) used during the timed phase.
    pub cpu_seconds: f64,
    /// `cpu_seconds` / elapsed, in percent of one core.
    pub cpu_percent: f64,
    /// Largest resident set sampled during the timed phase (every 200 ms), MiB.
    pub peak_rss_mib: f64,
    /// VmHWM at the end: the peak resident set since the server started, MiB.
    pub vm_hwm_mib: f64,
}

/// CPU of the load generator itself (it shares the machine with a local server).
#[derive(Serialize)]
pub struct ClientReport {
    /// CPU time used during the timed phase.
    pub cpu_seconds: f64,
    /// In percent of one core.
    pub cpu_percent: f64,
}

/// Everything a run measured.
#[derive(Serialize)]
pub struct Report {
    /// Workload name.
    pub mode: String,
    /// Endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Key prefix of this run's objects.
    pub prefix: String,
    /// Object sizes (uniformly chosen), bytes.
    pub sizes: Vec<u64>,
    /// Concurrent requests.
    pub concurrency: usize,
    /// Requested duration, seconds.
    pub duration_s: Option<f64>,
    /// Requested operation count.
    pub count: Option<u64>,
    /// Objects created before the timed phase.
    pub objects: u64,
    /// Whether all objects had the same content.
    pub shared_content: bool,
    /// Mixed mode shares in percent: GET, PUT, HEAD, DELETE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mix_percent: Option<[f64; 4]>,
    /// Wall time of the timed phase, seconds.
    pub elapsed_s: f64,
    /// Why the run ended before its duration or count, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// One row per operation that ran.
    pub operations: Vec<OpReport>,
    /// All operations together.
    pub total: OpReport,
    /// The first error messages (at most a few).
    pub first_errors: Vec<String>,
    /// Server process figures, when it runs on this machine and was found.
    pub server: Option<ServerReport>,
    /// Load generator figures.
    pub client: Option<ClientReport>,
}

impl Report {
    /// The final table, as printed.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let header = format!(
            "{:<7} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n",
            "op", "count", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        out.push_str(&header);
        let mut rows: Vec<&OpReport> = self.operations.iter().collect();
        if self.operations.len() > 1 {
            rows.push(&self.total);
        }
        for r in rows {
            let l = &r.latency_ms;
            let us = |ms: f64| (ms * 1000.0).round() as u64;
            out.push_str(&format!(
                "{:<7} {:>9} {:>10.1} {:>9.2} {:>9} {:>9} {:>9} {:>9} {:>7}\n",
                r.op,
                r.count,
                r.ops_per_s,
                r.mib_per_s,
                format_ms(us(l.p50)),
                format_ms(us(l.p90)),
                format_ms(us(l.p99)),
                format_ms(us(l.max)),
                r.errors
            ));
            if let Some(keys) = r.keys {
                let rate = if self.elapsed_s > 0.0 {
                    keys as f64 / self.elapsed_s
                } else {
                    0.0
                };
                out.push_str(&format!("        {keys} keys listed, {rate:.0} keys/s\n"));
            }
        }
        out
    }
}

/// Merges the tables of all workers.
pub fn merge_tables(tables: &[OpTable]) -> OpTable {
    let mut total = OpTable::default();
    for t in tables {
        for (a, b) in total.iter_mut().zip(t) {
            a.merge(b);
        }
    }
    total
}

/// Rows for the operations that ran, and the total.
pub fn rows(table: &OpTable, elapsed_s: f64) -> (Vec<OpReport>, OpReport) {
    let mut rows = Vec::new();
    let mut all = OpStats::default();
    for op in Op::ALL {
        let s = &table[op.index()];
        if s.ok + s.errors > 0 {
            rows.push(OpReport::new(op.name(), s, elapsed_s, op == Op::List));
        }
        all.merge(s);
    }
    let total = OpReport::new("TOTAL", &all, elapsed_s, false);
    (rows, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_rates() {
        let mut t = OpTable::default();
        let get = &mut t[Op::Get.index()];
        get.ok = 100;
        get.bytes = 100 << 20;
        for v in 1..=100 {
            get.latency.record(v * 10);
        }
        t[Op::Put.index()].errors = 3;
        let (rows, total) = rows(&t, 2.0);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].op, "PUT");
        assert_eq!(rows[0].errors, 3);
        let g = &rows[1];
        assert_eq!(g.ops_per_s, 50.0);
        assert_eq!(g.mib_per_s, 50.0);
        assert!((g.latency_ms.p50 - 0.5).abs() < 0.01);
        assert!((g.latency_ms.p99 - 0.99).abs() < 0.01);
        assert_eq!(g.latency_ms.max, 1.0);
        assert_eq!(total.count, 100);
        assert_eq!(total.errors, 3);
    }
}
