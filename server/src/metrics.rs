//! Prometheus metrics: requests by operation and status, latency, bytes in and out, and the
//! objects and bytes stored (read from the engine at scrape time).

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::router::Operation;

/// The metrics registry of this process.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the process-wide recorder.
    pub fn install() -> Result<Self, String> {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .map_err(|e| e.to_string())?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
        metrics::describe_counter!(
            "strata_requests_total",
            "S3 requests by operation and HTTP status"
        );
        metrics::describe_histogram!(
            "strata_request_duration_seconds",
            "Time to the response head, by operation"
        );
        metrics::describe_counter!("strata_bytes_in_total", "Object bytes received");
        metrics::describe_counter!("strata_bytes_out_total", "Object bytes sent");
        metrics::describe_gauge!("strata_objects", "Current objects stored");
        metrics::describe_gauge!("strata_stored_bytes", "Logical bytes of current objects");
        metrics::describe_gauge!("strata_buckets", "Buckets");
        Ok(Self { handle })
    }

    /// Counts one request.
    pub fn record_request(&self, op: Operation, status: u16, elapsed: Duration) {
        let name = op.name();
        metrics::counter!("strata_requests_total", "operation" => name, "status" => status.to_string())
            .increment(1);
        metrics::histogram!("strata_request_duration_seconds", "operation" => name)
            .record(elapsed.as_secs_f64());
    }

    /// Counts object bytes received.
    pub fn record_bytes_in(&self, n: u64) {
        metrics::counter!("strata_bytes_in_total").increment(n);
    }

    /// Counts object bytes sent.
    pub fn record_bytes_out(&self, n: u64) {
        metrics::counter!("strata_bytes_out_total").increment(n);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, stats: &strata_storage::StoreStats) -> String {
        metrics::gauge!("strata_objects").set(stats.objects as f64);
        metrics::gauge!("strata_stored_bytes").set(stats.bytes as f64);
        metrics::gauge!("strata_buckets").set(stats.buckets as f64);
        self.handle.render()
    }
}
