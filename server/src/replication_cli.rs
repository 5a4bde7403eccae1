//! `strata replication status`: the replication queue and counters of a running server, from its
//! authenticated admin endpoint, as a table (or JSON with `--json`).

use clap::Subcommand;
use strata_storage::ReplicationStatus;

use crate::lifecycle_cli::{admin, s, table, Connection};

/// `strata replication` subcommands.
#[derive(Subcommand)]
pub enum ReplicationCommand {
    /// Queue length, oldest pending entry, completed and failed counts per rule, and the last
    /// error per destination.
    Status {
        /// Only this source bucket.
        #[arg(long)]
        bucket: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
}

/// Runs a `strata replication` command.
pub fn run(cmd: ReplicationCommand) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let ReplicationCommand::Status { bucket, conn } = cmd;
        let query: Vec<(&str, &str)> = bucket
            .as_deref()
            .map(|b| vec![("bucket", b)])
            .unwrap_or_default();
        let v = admin(
            &conn,
            strata_client::Method::GET,
            "/_strata/replication/status",
            &query,
        )
        .await?;
        if conn.json {
            println!("{v:#}");
            return Ok(());
        }
        let age = v["oldest_pending_age_seconds"]
            .as_f64()
            .map(|a| format!("{a:.1} s"))
            .unwrap_or_else(|| "-".into());
        println!(
            "queue: {} pending, oldest pending for {age}",
            s(&v, "queue_length")
        );
        let rows: Vec<Vec<String>> = v["rules"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                vec![
                    s(r, "bucket"),
                    s(r, "rule_id"),
                    s(r, "destination"),
                    s(r, "pending"),
                    s(r, "completed"),
                    s(r, "failed"),
                ]
            })
            .collect();
        table(
            &[
                "BUCKET",
                "RULE",
                "DESTINATION",
                // Entries counted by the status they give their source version.
                ReplicationStatus::Pending.as_str(),
                ReplicationStatus::Completed.as_str(),
                ReplicationStatus::Failed.as_str(),
            ],
            &rows,
        );
        let errors: Vec<Vec<String>> = v["errors"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|e| vec![s(e, "destination"), s(e, "time"), s(e, "error")])
            .collect();
        if !errors.is_empty() {
            println!();
            table(&["DESTINATION", "LAST ERROR AT", "ERROR"], &errors);
        }
        Ok(())
    })
}
