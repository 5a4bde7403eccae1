//! `strata user add|list|remove` and `strata policy explain`: the users and the access decisions
//! of a running server, through its admin endpoint (administrator's credentials from
//! STRATA_ACCESS_KEY / STRATA_SECRET_KEY, as the other subcommands read them).

use clap::Subcommand;
use serde_json::Value;
use strata_client::Method;

use crate::lifecycle_cli::{admin, admin_with_body, s, table, Connection};

/// `strata user` subcommands.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; keys left out are generated and printed (the only time the secret is shown).
    Add {
        /// User name (policies name it `arn:aws:iam::ACCOUNT:user/NAME`).
        name: String,
        /// Access key id (generated when left out).
        #[arg(long)]
        access_key: Option<String>,
        /// Secret key (generated when left out).
        #[arg(long)]
        secret_key: Option<String>,
        /// Canonical user id, 64 hex digits (generated when left out).
        #[arg(long)]
        canonical_id: Option<String>,
        /// Account id, 12 digits (generated when left out).
        #[arg(long)]
        account_id: Option<String>,
        /// Display name (the name when left out).
        #[arg(long)]
        display_name: Option<String>,
        /// Email address (for ACL grants by email).
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// List the administrator and the users, with their ids (no secrets).
    List {
        #[command(flatten)]
        conn: Connection,
    },
    /// Remove a user (its buckets keep it as their owner).
    Remove {
        /// User name.
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
}

/// `strata policy` subcommands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Say whether a user (or an anonymous request) may perform an action on a bucket or object,
    /// and which statement, ACL grant or setting decided it, and why the others did not apply.
    Explain {
        /// The bucket.
        #[arg(long)]
        bucket: String,
        /// The user making the request.
        #[arg(
            long,
            conflicts_with = "anonymous",
            required_unless_present = "anonymous"
        )]
        user: Option<String>,
        /// An anonymous request instead of a user's.
        #[arg(long)]
        anonymous: bool,
        /// S3's action name, e.g. s3:GetObject.
        #[arg(long)]
        action: String,
        /// The key, for object actions.
        #[arg(long)]
        key: Option<String>,
        /// The version, for versioned actions.
        #[arg(long)]
        version_id: Option<String>,
        /// A condition key's value the request would have, KEY=VALUE (repeatable), e.g.
        /// aws:SourceIp=10.1.2.3 or aws:SecureTransport=true.
        #[arg(long = "context", value_name = "KEY=VALUE")]
        context: Vec<String>,
        #[command(flatten)]
        conn: Connection,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Runs a `strata user` command.
pub fn run_user(cmd: UserCommand) -> Result<(), String> {
    runtime()?.block_on(async move {
        match cmd {
            UserCommand::Add {
                name,
                access_key,
                secret_key,
                canonical_id,
                account_id,
                display_name,
                email,
                conn,
            } => {
                let spec = serde_json::json!({
                    "name": name,
                    "access_key": access_key,
                    "secret_key": secret_key,
                    "canonical_id": canonical_id,
                    "account_id": account_id,
                    "display_name": display_name,
                    "email": email,
                });
                let body = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
                let v =
                    admin_with_body(&conn, Method::POST, "/_strata/users", &[], Some(body)).await?;
                if conn.json {
                    println!("{v:#}");
                    return Ok(());
                }
                for field in [
                    "name",
                    "access_key",
                    "secret_key",
                    "canonical_id",
                    "account_id",
                    "arn",
                    "display_name",
                    "email",
                ] {
                    println!("{field:<13} {}", s(&v, field));
                }
                Ok(())
            }
            UserCommand::List { conn } => {
                let v = admin(&conn, Method::GET, "/_strata/users", &[]).await?;
                if conn.json {
                    println!("{v:#}");
                    return Ok(());
                }
                let rows: Vec<Vec<String>> = v["users"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|u| {
                        vec![
                            s(u, "name"),
                            s(u, "access_key"),
                            s(u, "account_id"),
                            s(u, "canonical_id"),
                            s(u, "display_name"),
                            s(u, "email"),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "NAME",
                        "ACCESS KEY",
                        "ACCOUNT",
                        "CANONICAL ID",
                        "DISPLAY NAME",
                        "EMAIL",
                    ],
                    &rows,
                );
                Ok(())
            }
            UserCommand::Remove { name, conn } => {
                admin(
                    &conn,
                    Method::DELETE,
                    "/_strata/users",
                    &[("name", name.as_str())],
                )
                .await?;
                println!("removed {name}");
                Ok(())
            }
        }
    })
}

/// Runs a `strata policy` command.
pub fn run_policy(cmd: PolicyCommand) -> Result<(), String> {
    let PolicyCommand::Explain {
        bucket,
        user,
        anonymous,
        action,
        key,
        version_id,
        context,
        conn,
    } = cmd;
    runtime()?.block_on(async move {
        let mut query: Vec<(&str, &str)> = vec![("bucket", &bucket), ("action", &action)];
        match (&user, anonymous) {
            (Some(u), _) => query.push(("user", u)),
            (None, _) => query.push(("anonymous", "")),
        }
        if let Some(k) = &key {
            query.push(("key", k));
        }
        if let Some(v) = &version_id {
            query.push(("versionId", v));
        }
        for c in &context {
            query.push(("context", c));
        }
        let v = admin(&conn, Method::GET, "/_strata/policy/explain", &query).await?;
        if conn.json {
            println!("{v:#}");
            return Ok(());
        }
        print_explanation(&v);
        Ok(())
    })
}

fn print_explanation(v: &Value) {
    let verdict = if v["allowed"].as_bool() == Some(true) {
        "allowed"
    } else {
        "denied"
    };
    let target = match v["key"].as_str() {
        Some(k) => format!("{}/{k}", s(v, "bucket")),
        None => s(v, "bucket"),
    };
    println!(
        "{verdict}: {} {} on {target}",
        s(v, "requester"),
        s(v, "action")
    );
    println!("decided by {}", s(v, "decided_by"));
    for step in v["steps"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
    {
        println!("  - {}", step.as_str().unwrap_or_default());
    }
}
