//! `strata lifecycle run|explain|log`: talks to a running server's authenticated admin endpoints
//! and prints what the lifecycle engine did, or will do, as a table (or JSON with `--json`).

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use strata_client::{Endpoint, Method, PoolOptions, Request, S3Client, SendError, Signer};

/// Options shared by every `strata lifecycle` and `strata replication` command.
#[derive(Args, Clone)]
pub struct Connection {
    /// The server's endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9000", env = "STRATA_ENDPOINT")]
    pub endpoint: String,
    /// Region of the credential scope.
    #[arg(long, default_value = "us-east-1", env = "STRATA_REGION")]
    pub region: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `strata lifecycle` subcommands.
#[derive(Subcommand)]
pub enum LifecycleCommand {
    /// Run a lifecycle pass now (over one bucket, or all) and print what it did.
    Run {
        /// Only this bucket.
        #[arg(long)]
        bucket: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show, for every version of a bucket, the action due and the next one, with the rule and
    /// the time.
    Explain {
        /// The bucket.
        #[arg(long)]
        bucket: String,
        /// Evaluate at this time instead of now (RFC 3339, e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show the actions the lifecycle engine applied, oldest first.
    Log {
        /// Only this bucket.
        #[arg(long)]
        bucket: Option<String>,
        /// How many of the most recent entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        conn: Connection,
    },
}

/// Sends one signed admin request and returns the parsed JSON.
pub async fn admin(
    conn: &Connection,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Value, String> {
    admin_with_body(conn, method, path, query, None).await
}

/// [`admin`] with a JSON request body.
pub async fn admin_with_body(
    conn: &Connection,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Value, String> {
    let base = conn.endpoint.trim_end_matches('/');
    let host = base
        .strip_prefix("http://")
        .ok_or("only http:// endpoints are supported")?
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let (access, secret, _) = strata_client::env_credentials()?;
    let endpoint = Endpoint {
        base: base.to_owned(),
        hostname: host.clone(),
        host,
        port: 0,
    };
    let pool = PoolOptions {
        timeout: Some(Duration::from_secs(300)),
        http1_nodelay: false,
        ..PoolOptions::default()
    };
    let client = S3Client::new(
        &endpoint,
        Signer::new(&access, &secret, &conn.region),
        &pool,
    )?;
    let payload_hash = body
        .as_deref()
        .map(|b| hex::encode(strata_signing::sha256(b)));
    let headers: Vec<(String, String)> = if body.is_some() {
        vec![("content-type".into(), "application/json".into())]
    } else {
        Vec::new()
    };
    let request = Request {
        query,
        headers: &headers,
        empty_length: body.is_none(),
        payload_hash: payload_hash
            .as_deref()
            .unwrap_or(strata_client::EMPTY_SHA256),
        body: body.map(|b| {
            let len = b.len() as u64;
            (strata_client::Body::from(b), len)
        }),
        ..Request::new(method, path)
    };
    let resp = client.send(request).await.map_err(|e| match e {
        SendError::Sign(e) => format!("HMAC key: {e}"),
        SendError::Http(e) => format!("cannot reach {base}: {e}"),
    })?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("server answered {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("unexpected answer: {e}"))
}

/// A field as text (`-` when absent).
pub fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A time in ms since the epoch as ISO 8601 (`-` when absent).
pub fn when(ms: &Value) -> String {
    ms.as_i64()
        .map(crate::handlers::iso8601)
        .unwrap_or_else(|| "-".into())
}

fn describe(due: &Value) -> (String, String, String) {
    if due.is_null() {
        return ("-".into(), "-".into(), "-".into());
    }
    let action = match (&due["action"]["type"], &due["action"]["storage_class"]) {
        (Value::String(t), Value::String(c)) => format!("{t} -> {c}"),
        (Value::String(t), _) => t.clone(),
        _ => "-".into(),
    };
    (action, s(due, "rule_id"), when(&due["due_ms"]))
}

/// Prints rows under headers in aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", c, w = widths[i]));
        }
        println!("{}", out.trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// Runs a `strata lifecycle` command.
pub fn run(cmd: LifecycleCommand) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        match cmd {
            LifecycleCommand::Run { bucket, conn } => {
                let query: Vec<(&str, &str)> = bucket.as_deref().map(|b| vec![("bucket", b)]).unwrap_or_default();
                let v = admin(&conn, Method::POST, "/_strata/lifecycle/run", &query).await?;
                if conn.json {
                    println!("{v:#}");
                } else {
                    println!(
                        "pass over {} bucket(s): {} version(s) scanned, {} action(s) due, {} applied, {} upload(s) aborted, {} error(s), {} ms",
                        s(&v, "buckets"), s(&v, "versions_scanned"), s(&v, "actions_due"),
                        s(&v, "actions_applied"), s(&v, "uploads_aborted"), s(&v, "errors"), s(&v, "duration_ms")
                    );
                }
            }
            LifecycleCommand::Explain { bucket, at, conn } => {
                let mut query = vec![("bucket", bucket.as_str())];
                if let Some(at) = &at {
                    query.push(("at", at.as_str()));
                }
                let v = admin(&conn, Method::GET, "/_strata/lifecycle/explain", &query).await?;
                if conn.json {
                    println!("{v:#}");
                    return Ok(());
                }
                println!(
                    "bucket {} at {} (one lifecycle day = {} s)",
                    s(&v, "bucket"), s(&v, "at"), s(&v, "day_seconds")
                );
                if v["configuration"].is_null() {
                    println!("no lifecycle configuration");
                    return Ok(());
                }
                let rows: Vec<Vec<String>> = v["versions"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|r| {
                        let (now_action, now_rule, _) = describe(&r["due_now"]);
                        let (next_action, next_rule, next_when) = describe(&r["next"]);
                        let state = match (r["is_latest"].as_bool(), r["is_delete_marker"].as_bool()) {
                            (Some(true), Some(true)) => "latest, marker",
                            (Some(true), _) => "latest",
                            (_, Some(true)) => "marker",
                            _ => "noncurrent",
                        };
                        let (action, rule, due) = if now_action != "-" {
                            (format!("{now_action} (due now)"), now_rule, "now".to_string())
                        } else {
                            (next_action, next_rule, next_when)
                        };
                        vec![s(r, "key"), s(r, "version_id"), state.into(), s(r, "storage_class"), action, rule, due]
                    })
                    .collect();
                table(&["KEY", "VERSION", "STATE", "CLASS", "NEXT ACTION", "RULE", "WHEN"], &rows);
            }
            LifecycleCommand::Log { bucket, limit, conn } => {
                let limit_s = limit.to_string();
                let mut query = vec![("limit", limit_s.as_str())];
                if let Some(b) = &bucket {
                    query.push(("bucket", b.as_str()));
                }
                let v = admin(&conn, Method::GET, "/_strata/lifecycle/log", &query).await?;
                if conn.json {
                    println!("{v:#}");
                    return Ok(());
                }
                let rows: Vec<Vec<String>> = v["entries"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|e| vec![s(e, "time"), s(e, "bucket"), s(e, "key"), s(e, "version_id"), s(e, "action"), s(e, "rule_id")])
                    .collect();
                table(&["TIME", "BUCKET", "KEY", "VERSION", "ACTION", "RULE"], &rows);
            }
        }
        Ok(())
    })
}
