//! The admin surface under `/_strata/` (a prefix no bucket name can take): health, metrics, and
//! the lifecycle endpoints behind `strata lifecycle`. Everything but health is authenticated
//! like an S3 request (SigV4), metrics optionally public.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::app::{blocking, parse_query, AppState};
use crate::auth::{self, RequestParts};
use crate::error::{S3Error, S3Result};
use crate::s3_error;
use crate::users::UserView;

/// Admits the administrator only (or anyone under `--allow-anonymous`, whose unsigned requests
/// act as the administrator); returns how to check the body.
fn authenticate(req: &HttpRequest, state: &AppState) -> S3Result<auth::PayloadCheck> {
    let parts = RequestParts {
        method: req.method().as_str(),
        raw_path: req.uri().path(),
        raw_query: req.uri().query().unwrap_or(""),
        headers: req.headers(),
        virtual_host_bucket: None,
    };
    let a = auth::authenticate(&parts, &state.auth, time::OffsetDateTime::now_utc())?;
    let admin = match &a.identity {
        Some(identity) => identity.admin,
        None => state.auth.allow_anonymous,
    };
    if !admin {
        return Err(crate::authz::access_denied());
    }
    Ok(a.payload)
}

fn json<T: Serialize>(value: &T) -> S3Result<HttpResponse> {
    let body = serde_json::to_string_pretty(value).map_err(S3Error::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// Parses `at` as RFC 3339 or as ms since the epoch.
fn parse_at(value: &str) -> S3Result<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    crate::handlers::parse_rfc3339_ms(value).ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "'at' must be RFC 3339 or milliseconds since the epoch"
        )
    })
}

#[derive(Serialize)]
struct ExplainDoc {
    bucket: String,
    at_ms: i64,
    at: String,
    day_seconds: u64,
    configuration: Option<strata_lifecycle::LifecycleConfiguration>,
    versions: Vec<strata_lifecycle::worker::ExplainRow>,
}

#[derive(Serialize)]
struct LogDoc {
    entries: Vec<LogEntry>,
}

#[derive(Serialize)]
struct LogEntry {
    time: String,
    time_ms: i64,
    bucket: String,
    key: String,
    version_id: String,
    action: String,
    rule_id: String,
}

#[derive(Serialize)]
struct ReplicationDoc {
    queue_length: u64,
    oldest_pending_age_seconds: Option<f64>,
    rules: Vec<strata_storage::RuleReplicationStats>,
    errors: Vec<DestinationErrorDoc>,
}

#[derive(Serialize)]
struct DestinationErrorDoc {
    destination: String,
    error: String,
    time: String,
}

/// Sets the replication gauges from a report.
fn export_replication(state: &AppState, r: &strata_storage::ReplicationReport) {
    metrics::gauge!("strata_replication_queue_length").set(r.queue_length as f64);
    let age = r
        .oldest_enqueued_ms
        .map(|t| (state.clock.now_ms() - t).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    metrics::gauge!("strata_replication_oldest_pending_seconds").set(age);
    let w = &state.replication.stats;
    metrics::counter!("strata_replication_failed_attempts_total")
        .absolute(w.failed_attempts.load(Ordering::Relaxed));
    metrics::counter!("strata_replication_replicated_total")
        .absolute(w.replicated.load(Ordering::Relaxed));
    for rule in &r.rules {
        let labels = [
            ("bucket", rule.bucket.clone()),
            ("rule", rule.rule_id.clone()),
            ("destination", rule.destination.clone()),
        ];
        metrics::gauge!("strata_replication_pending", &labels).set(rule.pending as f64);
        metrics::gauge!("strata_replication_completed", &labels).set(rule.completed as f64);
        metrics::gauge!("strata_replication_failed", &labels).set(rule.failed as f64);
    }
}

/// Replaces the server's users with the engine's after a change, and forgets the cached access
/// settings (they hold owners' account ids).
async fn reload_users(state: &Arc<AppState>) -> S3Result<()> {
    let store = state.store.clone();
    let records = blocking(move || store.users().map_err(S3Error::from)).await?;
    state.auth.users.reload(records);
    state.access.forget_all();
    Ok(())
}

/// `GET /_strata/policy/explain?bucket=B&(user=NAME|anonymous)&action=A[&key=K][&versionId=V]
/// [&context=KEY=VALUE...]`: the decision and its reasons.
async fn explain_access(
    state: &Arc<AppState>,
    query: &[(String, String)],
) -> S3Result<HttpResponse> {
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let bucket = q("bucket").ok_or_else(|| s3_error!(InvalidArgument, "explain needs ?bucket="))?;
    let action = q("action").ok_or_else(|| s3_error!(InvalidArgument, "explain needs ?action="))?;
    let requester = match (q("user"), q("anonymous")) {
        (Some(name), None) => {
            let identity = state
                .auth
                .users
                .by_name(name)
                .ok_or_else(|| s3_error!(InvalidArgument, "no user named {name}"))?;
            crate::users::requester(Some(&identity))
        }
        (None, Some(_)) => strata_access::Requester::Anonymous,
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "explain needs exactly one of ?user=NAME and ?anonymous"
            ))
        }
    };
    let mut context = strata_access::MapContext::new();
    for (_, pair) in query.iter().filter(|(k, _)| k == "context") {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| s3_error!(InvalidArgument, "context must be KEY=VALUE: {pair}"))?;
        context = context.with(key, value);
    }
    let decision = crate::authz::explain(
        state,
        bucket,
        &requester,
        action,
        q("key"),
        q("versionId"),
        &context,
    )
    .await?;
    json(&serde_json::json!({
        "bucket": bucket,
        "requester": match &requester {
            strata_access::Requester::Anonymous => "anonymous".to_owned(),
            strata_access::Requester::User(p) => p.arn(),
        },
        "action": action,
        "key": q("key"),
        "allowed": decision.allowed,
        "decided_by": decision.explanation.decided_by,
        "steps": decision.explanation.steps,
    }))
}

/// Routes `/_strata/<path>`.
pub async fn route(
    req: &HttpRequest,
    path: &str,
    state: &Arc<AppState>,
    payload: actix_web::web::Payload,
) -> S3Result<HttpResponse> {
    let query = parse_query(req.uri().query().unwrap_or(""));
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match (req.method().as_str(), path) {
        ("GET" | "HEAD", "health") => {
            Ok(HttpResponse::Ok().content_type("text/plain").body("ok\n"))
        }
        ("GET", "metrics") => {
            if !state.public_metrics {
                authenticate(req, state)?;
            }
            let store = state.store.clone();
            let stats = blocking(move || store.stats().map_err(S3Error::from)).await?;
            let lc = &state.lifecycle.stats;
            metrics::gauge!("strata_lifecycle_passes")
                .set(lc.passes.load(Ordering::Relaxed) as f64);
            metrics::gauge!("strata_lifecycle_actions_applied")
                .set(lc.actions_applied.load(Ordering::Relaxed) as f64);
            metrics::gauge!("strata_lifecycle_last_pass_seconds")
                .set(lc.last_pass_ms.load(Ordering::Relaxed) as f64 / 1000.0);
            metrics::gauge!("strata_lifecycle_backlog")
                .set(lc.backlog.load(Ordering::Relaxed) as f64);
            let store = state.store.clone();
            let repl =
                blocking(move || store.replication_report(None).map_err(S3Error::from)).await?;
            export_replication(state, &repl);
            Ok(HttpResponse::Ok()
                .content_type("text/plain; version=0.0.4")
                .body(state.metrics.render(&stats)))
        }
        ("GET", "replication/status") => {
            authenticate(req, state)?;
            let (store, bucket) = (state.store.clone(), q("bucket"));
            let report = blocking(move || {
                store
                    .replication_report(bucket.as_deref())
                    .map_err(S3Error::from)
            })
            .await?;
            let now = state.clock.now_ms();
            json(&ReplicationDoc {
                queue_length: report.queue_length,
                oldest_pending_age_seconds: report
                    .oldest_enqueued_ms
                    .map(|t| (now - t).max(0) as f64 / 1000.0),
                rules: report.rules,
                errors: report
                    .errors
                    .into_iter()
                    .map(|e| DestinationErrorDoc {
                        time: crate::handlers::iso8601(e.at_ms),
                        destination: e.destination,
                        error: e.error,
                    })
                    .collect(),
            })
        }
        ("POST", "lifecycle/run") => {
            authenticate(req, state)?;
            let (store, clock, bucket) = (state.store.clone(), state.clock, q("bucket"));
            if let Some(b) = &bucket {
                let (s, b) = (store.clone(), b.clone());
                blocking(move || s.bucket(&b).map(|_| ()).map_err(S3Error::from)).await?;
            }
            let report = blocking(move || {
                strata_lifecycle::worker::run_pass(&store, &clock, bucket.as_deref())
                    .map_err(S3Error::from)
            })
            .await?;
            state
                .lifecycle
                .stats
                .actions_applied
                .fetch_add(report.actions_applied, Ordering::Relaxed);
            json(&report)
        }
        ("GET", "lifecycle/explain") => {
            authenticate(req, state)?;
            let bucket =
                q("bucket").ok_or_else(|| s3_error!(InvalidArgument, "explain needs ?bucket="))?;
            let at_ms = match q("at") {
                Some(v) => parse_at(&v)?,
                None => state.clock.now_ms(),
            };
            let (store, clock, b) = (state.store.clone(), state.clock, bucket.clone());
            let (configuration, versions) = blocking(move || {
                strata_lifecycle::worker::explain(&store, &clock, &b, at_ms).map_err(S3Error::from)
            })
            .await?;
            json(&ExplainDoc {
                bucket,
                at_ms,
                at: crate::handlers::iso8601(at_ms),
                day_seconds: state.clock.day_seconds(),
                configuration,
                versions,
            })
        }
        ("GET", "lifecycle/log") => {
            authenticate(req, state)?;
            let limit = q("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(100)
                .min(10_000);
            let (store, bucket) = (state.store.clone(), q("bucket"));
            let entries = blocking(move || {
                store
                    .lifecycle_log(bucket.as_deref(), limit)
                    .map_err(S3Error::from)
            })
            .await?;
            json(&LogDoc {
                entries: entries
                    .into_iter()
                    .map(|e| LogEntry {
                        time: crate::handlers::iso8601(e.time_ms),
                        time_ms: e.time_ms,
                        bucket: e.bucket,
                        key: e.key,
                        version_id: e.version_id,
                        action: e.action,
                        rule_id: e.rule_id,
                    })
                    .collect(),
            })
        }
        ("GET", "users") => {
            authenticate(req, state)?;
            let users: Vec<UserView> = state
                .auth
                .users
                .list()
                .iter()
                .map(|i| UserView::from(i.as_ref()))
                .collect();
            json(&serde_json::json!({ "users": users }))
        }
        ("POST", "users") => {
            let check = authenticate(req, state)?;
            let (body, _) = crate::body::read_small(
                payload,
                req.headers(),
                check,
                64 * 1024,
                &state.body_limits,
            )
            .await?;
            let spec: crate::users::UserSpec = serde_json::from_slice(&body)
                .map_err(|e| s3_error!(InvalidArgument, "not a user: {e}"))?;
            let admin_key = state.auth.users.admin().access_key.clone();
            let record = crate::users::complete(spec)
                .and_then(|r| crate::users::not_the_administrators(r, &admin_key))
                .map_err(|e| s3_error!(InvalidArgument, "{e}"))?;
            let store = state.store.clone();
            let added = blocking(move || {
                store.add_user(record).map_err(|e| match e {
                    strata_storage::Error::Conflict(m) => s3_error!(InvalidArgument, "{m}"),
                    other => S3Error::from(other),
                })
            })
            .await?;
            reload_users(state).await?;
            // The one answer that carries the secret: the caller asked for the user's keys.
            json(&serde_json::json!({
                "name": added.name,
                "access_key": added.access_key,
                "secret_key": added.secret_key,
                "canonical_id": added.canonical_id,
                "account_id": added.account_id,
                "arn": format!("arn:aws:iam::{}:user/{}", added.account_id, added.name),
                "display_name": added.display_name,
                "email": added.email,
            }))
        }
        ("DELETE", "users") => {
            authenticate(req, state)?;
            let name =
                q("name").ok_or_else(|| s3_error!(InvalidArgument, "remove needs ?name="))?;
            let store = state.store.clone();
            let n = name.clone();
            let removed = blocking(move || store.remove_user(&n).map_err(S3Error::from)).await?;
            if !removed {
                return Err(s3_error!(InvalidArgument, "no user named {name}"));
            }
            reload_users(state).await?;
            json(&serde_json::json!({ "removed": name }))
        }
        ("GET", "policy/explain") => {
            authenticate(req, state)?;
            explain_access(state, &query).await
        }
        _ => Err(s3_error!(
            NotImplemented,
            "Unknown admin endpoint /_strata/{path}"
        )),
    }
}
