//! `strata bench`: an S3 load generator (being written).

/// Options of `strata bench`.
#[derive(clap::Args)]
pub struct BenchArgs {}

/// Runs a benchmark.
pub fn run(_args: BenchArgs) -> Result<(), String> {
    Err("strata bench is not available in this build".into())
}
