//! Replication to buckets on other S3 endpoints, named at start-up with
//! `--replication-remote NAME=URL` (keys in `STRATA_REMOTE_<NAME>_ACCESS_KEY` / `_SECRET_KEY`).
//!
//! Requests are SigV4-signed (every `x-amz-*` header included) and bodies are streamed from the
//! pinned source version in 1 MiB pieces through a bounded channel, so memory stays flat whatever
//! the object's size. An object uploaded in parts is replicated as a multipart upload with the
//! same part sizes, so its ETag is the same on the remote. A remote that is Strata also keeps the
//! version id and Last-Modified (the `x-strata-replica-*` headers) and reports REPLICA.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};
use strata_client::{
    encode_path, parse_endpoint, BlockingRuntime, Body, Method, PoolOptions, Request, S3Client,
    SendError, Signer, StatusCode, EMPTY_SHA256, UNSIGNED_PAYLOAD,
};
use strata_lifecycle::replication::{RemoteError, RemoteErrorKind, RemoteReplicator};
use strata_storage::{
    ChecksumType, ObjectHandle, ObjectVersion, QueueEntry, ReplicationKind, StorageClass,
};

use crate::checksum::ChecksumAlgorithmExt;

/// Header that makes a write a replica of this version id (Strata destinations).
pub const REPLICA_VERSION_HEADER: &str = "x-strata-replica-version-id";
/// The source version's Last-Modified, ms since the epoch (with the header above).
pub const REPLICA_MODIFIED_HEADER: &str = "x-strata-replica-last-modified";

/// Bytes per streamed piece.
const PIECE: usize = 1 << 20;

struct Remote {
    client: S3Client,
}

/// The remotes named at start-up.
pub struct Remotes {
    remotes: HashMap<String, Remote>,
    /// The worker threads block on this runtime's futures; it goes with the last owner.
    runtime: BlockingRuntime,
}

/// The environment variable prefix of a remote's keys.
fn env_prefix(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("STRATA_REMOTE_{upper}")
}

impl Remotes {
    /// Parses `NAME=URL` specifications and reads each remote's keys from the environment.
    pub fn from_args(specs: &[String], region: &str) -> Result<Self, String> {
        let mut remotes = HashMap::new();
        for spec in specs {
            let (name, url) = spec
                .split_once('=')
                .ok_or_else(|| format!("--replication-remote {spec:?}: expected NAME=URL"))?;
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "--replication-remote {spec:?}: the name may hold letters, digits, '-' and '_'"
                ));
            }
            let endpoint = parse_endpoint(url).map_err(|e| format!("remote {name:?}: {e}"))?;
            let prefix = env_prefix(name);
            if let Some(other) = remotes.keys().find(|n: &&String| env_prefix(n) == prefix) {
                return Err(format!(
                    "remotes {other:?} and {name:?} would both read their keys from {prefix}_*"
                ));
            }
            let var = |suffix: &str| {
                std::env::var(format!("{prefix}_{suffix}"))
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("remote {name:?}: set {prefix}_{suffix}"))
            };
            let signer = Signer::new(&var("ACCESS_KEY")?, &var("SECRET_KEY")?, region);
            let pool = PoolOptions {
                connect_timeout: Some(Duration::from_secs(10)),
                read_timeout: Some(Duration::from_secs(120)),
                ..PoolOptions::default()
            };
            let client = S3Client::new(&endpoint, signer, &pool)?;
            if remotes.insert(name.to_owned(), Remote { client }).is_some() {
                return Err(format!("remote {name:?} is named twice"));
            }
        }
        let runtime = BlockingRuntime::new("strata-replication-io", 1)
            .map_err(|e| format!("replication runtime: {e}"))?;
        Ok(Self { remotes, runtime })
    }

    /// Names of the configured remotes with their endpoints (for the start-up log).
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out: Vec<_> = self
            .remotes
            .iter()
            .map(|(n, r)| (n.clone(), r.client.base().to_owned()))
            .collect();
        out.sort();
        out
    }
}

/// One request to a remote.
struct Call<'a> {
    method: Method,
    bucket: &'a str,
    key: &'a str,
    query: Vec<(&'a str, String)>,
    headers: Vec<(String, String)>,
    body: Option<(Body, u64, Option<String>)>,
}

impl Remote {
    async fn send(
        &self,
        call: Call<'_>,
    ) -> Result<(StatusCode, strata_client::header::HeaderMap, String), RemoteError> {
        let path = format!("/{}/{}", call.bucket, encode_path(call.key));
        let pairs: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let payload_hash = match &call.body {
            None => EMPTY_SHA256.to_owned(),
            Some((_, _, Some(sha))) => sha.clone(),
            Some((_, _, None)) => UNSIGNED_PAYLOAD.to_owned(),
        };
        let mut headers = call.headers;
        for (n, _) in headers.iter_mut() {
            n.make_ascii_lowercase();
        }
        // A deadline for the whole request: two minutes, plus a second per MiB of body.
        let body_len = call.body.as_ref().map_or(0, |(_, len, _)| *len);
        let request = Request {
            query: &pairs,
            headers: &headers,
            body: call.body.map(|(body, len, _)| (body, len)),
            payload_hash: &payload_hash,
            empty_length: true,
            timeout: Some(Duration::from_secs(120 + body_len / (1 << 20))),
            ..Request::new(call.method, &path)
        };
        let transport = |e: strata_client::HttpError| {
            RemoteError::new(RemoteErrorKind::Transport, e.to_string())
        };
        let resp = self.client.send(request).await.map_err(|e| match e {
            SendError::Sign(e) => {
                RemoteError::new(RemoteErrorKind::Config, format!("HMAC key: {e}"))
            }
            SendError::Http(e) => transport(e),
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(transport)?;
        if !status.is_success() {
            let code = strata_client::error_code(&text);
            return Err(RemoteError::status(status.as_u16(), code));
        }
        Ok((status, headers, text))
    }
}

/// The headers that carry a version's metadata, tags and class.
fn metadata_headers(v: &ObjectVersion, storage_class: StorageClass) -> Vec<(String, String)> {
    let m = &v.meta;
    let mut h: Vec<(String, String)> = Vec::new();
    for (name, value) in [
        ("content-type", &m.content_type),
        ("content-encoding", &m.content_encoding),
        ("content-disposition", &m.content_disposition),
        ("content-language", &m.content_language),
        ("cache-control", &m.cache_control),
        ("expires", &m.expires),
    ] {
        if let Some(value) = value {
            h.push((name.to_owned(), value.clone()));
        }
    }
    for (k, val) in &m.user {
        h.push((format!("x-amz-meta-{k}"), val.clone()));
    }
    if !m.tags.is_empty() {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let tagging = m
            .tags
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        h.push(("x-amz-tagging".into(), tagging));
    }
    h.push(("x-amz-storage-class".into(), storage_class.to_string()));
    // User Guide, "Using Object Lock with S3 Replication": a replica keeps its source's
    // retention and legal hold. A destination without Object Lock refuses these headers, and the
    // version goes FAILED with its answer (S3's DstBucketObjectLockConfigMissing).
    // A retention that has ended holds nothing, and a destination refuses a past date.
    if let Some(r) = m
        .retention
        .as_ref()
        .filter(|r| r.retain_until_ms > crate::lock_request::wall_now_ms())
    {
        h.push((crate::lock_request::MODE.into(), r.mode.as_str().into()));
        h.push((
            crate::lock_request::RETAIN_UNTIL.into(),
            crate::handlers::iso8601(r.retain_until_ms),
        ));
    }
    if m.legal_hold {
        h.push((crate::lock_request::LEGAL_HOLD.into(), "ON".into()));
    }
    h
}

/// The Content-MD5 of bytes `[start, end)` of `source` (read once more before they are sent).
fn range_md5(source: &ObjectHandle, start: u64, end: u64) -> Result<String, RemoteError> {
    let mut hasher = Md5::new();
    source
        .read_range(start, end, PIECE, |piece| {
            hasher.update(&piece);
            true
        })
        .map_err(|e| {
            RemoteError::new(
                RemoteErrorKind::Transport,
                format!("reading the source: {e}"),
            )
        })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

fn replica_headers(v: &ObjectVersion) -> Vec<(String, String)> {
    vec![
        (REPLICA_VERSION_HEADER.into(), v.version_id.clone()),
        (
            REPLICA_MODIFIED_HEADER.into(),
            v.last_modified_ms.to_string(),
        ),
    ]
}

fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let (_, rest) = xml.split_once(&format!("<{tag}>"))?;
    let (text, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(
        quick_xml::escape::unescape(text)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| text.to_owned()),
    )
}

impl Remotes {
    /// Streams bytes `[start, end)` of `source` as the body of `call`, reading on a scoped thread.
    fn send_range(
        &self,
        remote: &Remote,
        source: &ObjectHandle,
        start: u64,
        end: u64,
        mut call: Call<'_>,
    ) -> Result<(StatusCode, strata_client::header::HeaderMap, String), RemoteError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let body = Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        call.body = Some((body, end - start, None));
        std::thread::scope(|s| {
            s.spawn(move || {
                let r = source.read_range(start, end, PIECE, |piece| {
                    tx.blocking_send(Ok(Bytes::from(piece))).is_ok()
                });
                if let Err(e) = r {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                }
            });
            self.runtime.block_on(remote.send(call))
        })
    }

    fn put_version(
        &self,
        remote: &Remote,
        bucket: &str,
        entry: &QueueEntry,
        source: &ObjectHandle,
    ) -> Result<(), RemoteError> {
        let v = &source.version;
        let class = entry.storage_class.unwrap_or(v.storage_class);
        if v.is_delete_marker {
            let call = Call {
                method: Method::DELETE,
                bucket,
                key: &v.key,
                query: Vec::new(),
                headers: replica_headers(v),
                body: None,
            };
            self.runtime.block_on(remote.send(call))?;
            return Ok(());
        }
        let mut headers = metadata_headers(v, class);
        headers.extend(replica_headers(v));
        let etag = if v.meta.part_sizes.len() > 1 || v.etag.contains('-') {
            self.put_multipart(remote, bucket, source, headers)?
        } else {
            if let Some(c) = v
                .meta
                .checksum
                .as_ref()
                .filter(|c| c.checksum_type == ChecksumType::FullObject)
            {
                headers.push((c.algorithm.header().to_owned(), c.value.clone()));
            } else {
                // Always an integrity header: a destination with Object Lock requires one on a
                // locked write, and its default retention may lock a version that is not locked
                // here. A single-part ETag is the body's MD5.
                let md5 = match hex::decode(&v.etag) {
                    Ok(d) if d.len() == 16 => base64::engine::general_purpose::STANDARD.encode(d),
                    _ => range_md5(source, 0, v.size)?,
                };
                headers.push(("content-md5".into(), md5));
            }
            let call = Call {
                method: Method::PUT,
                bucket,
                key: &v.key,
                query: Vec::new(),
                headers,
                body: None,
            };
            let (_, h, _) = self.send_range(remote, source, 0, v.size, call)?;
            h.get("etag")
                .and_then(|e| e.to_str().ok())
                .map(|e| unquote(e).to_owned())
                .unwrap_or_default()
        };
        if etag != v.etag {
            // The bytes were stored; an endpoint whose ETag is not the MD5 (one that encrypts,
            // say) would otherwise be sent the same version again and again.
            tracing::warn!(key = %v.key, remote_etag = %etag, source_etag = %v.etag, "the replica's ETag differs from the source's");
        }
        Ok(())
    }

    /// Uploads in the source's part layout; returns the remote's ETag.
    fn put_multipart(
        &self,
        remote: &Remote,
        bucket: &str,
        source: &ObjectHandle,
        headers: Vec<(String, String)>,
    ) -> Result<String, RemoteError> {
        let v = &source.version;
        let (create_headers, complete_headers): (Vec<_>, Vec<_>) = headers
            .into_iter()
            .partition(|(n, _)| !n.starts_with("x-strata-replica-"));
        let call = Call {
            method: Method::POST,
            bucket,
            key: &v.key,
            query: vec![("uploads", String::new())],
            headers: create_headers,
            body: None,
        };
        let (_, _, text) = self.runtime.block_on(remote.send(call))?;
        let upload_id = xml_text(&text, "UploadId").ok_or_else(|| {
            RemoteError::new(
                RemoteErrorKind::Protocol,
                "CreateMultipartUpload answered no UploadId",
            )
        })?;
        let sizes: Vec<u64> = if v.meta.part_sizes.is_empty() {
            vec![v.size]
        } else {
            v.meta.part_sizes.clone()
        };
        let result = (|| {
            let mut parts = String::new();
            let mut offset = 0u64;
            for (i, size) in sizes.iter().enumerate() {
                let n = i + 1;
                // Each part's MD5 (read once more), for the same reason as a single PUT's.
                let headers = vec![(
                    "content-md5".into(),
                    range_md5(source, offset, offset + size)?,
                )];
                let call = Call {
                    method: Method::PUT,
                    bucket,
                    key: &v.key,
                    query: vec![
                        ("partNumber", n.to_string()),
                        ("uploadId", upload_id.clone()),
                    ],
                    headers,
                    body: None,
                };
                let (_, h, _) = self.send_range(remote, source, offset, offset + size, call)?;
                offset += size;
                let etag = h.get("etag").and_then(|e| e.to_str().ok()).ok_or_else(|| {
                    RemoteError::new(RemoteErrorKind::Protocol, "UploadPart answered no ETag")
                })?;
                parts.push_str(&format!(
                    "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                    quick_xml::escape::escape(etag)
                ));
            }
            let doc = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
            let sha = hex::encode(sha2::Sha256::digest(doc.as_bytes()));
            let len = doc.len() as u64;
            let call = Call {
                method: Method::POST,
                bucket,
                key: &v.key,
                query: vec![("uploadId", upload_id.clone())],
                headers: complete_headers,
                body: Some((Body::from(doc), len, Some(sha))),
            };
            let (_, _, text) = self.runtime.block_on(remote.send(call))?;
            if text.contains("<Error>") {
                return Err(RemoteError::new(
                    RemoteErrorKind::Protocol,
                    format!(
                        "CompleteMultipartUpload failed: {}",
                        xml_text(&text, "Code").unwrap_or_default()
                    ),
                ));
            }
            Ok(xml_text(&text, "ETag")
                .map(|e| unquote(&e).to_owned())
                .unwrap_or_default())
        })();
        if result.is_err() {
            let call = Call {
                method: Method::DELETE,
                bucket,
                key: &v.key,
                query: vec![("uploadId", upload_id)],
                headers: Vec::new(),
                body: None,
            };
            let _ = self.runtime.block_on(remote.send(call));
        }
        result
    }

    fn put_tags(
        &self,
        remote: &Remote,
        bucket: &str,
        source: &ObjectHandle,
    ) -> Result<(), RemoteError> {
        let v = &source.version;
        let query = vec![
            ("tagging", String::new()),
            ("versionId", v.version_id.clone()),
        ];
        let call = if v.meta.tags.is_empty() {
            Call {
                method: Method::DELETE,
                bucket,
                key: &v.key,
                query,
                headers: Vec::new(),
                body: None,
            }
        } else {
            let mut doc = String::from("<Tagging><TagSet>");
            for (k, val) in &v.meta.tags {
                doc.push_str(&format!(
                    "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                    quick_xml::escape::escape(k),
                    quick_xml::escape::escape(val)
                ));
            }
            doc.push_str("</TagSet></Tagging>");
            let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(doc.as_bytes()));
            let sha = hex::encode(sha2::Sha256::digest(doc.as_bytes()));
            let len = doc.len() as u64;
            Call {
                method: Method::PUT,
                bucket,
                key: &v.key,
                query,
                headers: vec![("content-md5".into(), md5)],
                body: Some((Body::from(doc), len, Some(sha))),
            }
        };
        match self.runtime.block_on(remote.send(call)) {
            // The replica is gone at the destination (or was never kept under this version id,
            // as on an endpoint that is not Strata): there are no tags to update, as for a local
            // destination.
            Err(RemoteError {
                kind: RemoteErrorKind::Status { status: 404, .. },
                ..
            }) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

impl RemoteReplicator for Remotes {
    fn knows(&self, name: &str) -> bool {
        self.remotes.contains_key(name)
    }

    fn replicate(
        &self,
        name: &str,
        bucket: &str,
        entry: &QueueEntry,
        source: &ObjectHandle,
    ) -> Result<(), RemoteError> {
        let remote = self.remotes.get(name).ok_or_else(|| {
            RemoteError::new(
                RemoteErrorKind::Config,
                format!("unknown replication remote {name:?}"),
            )
        })?;
        match entry.kind {
            ReplicationKind::Version => self.put_version(remote, bucket, entry, source),
            ReplicationKind::Tags => self.put_tags(remote, bucket, source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_specs() {
        assert_eq!(env_prefix("west-1"), "STRATA_REMOTE_WEST_1");
        assert!(Remotes::from_args(&["nourl".into()], "us-east-1").is_err());
        assert!(Remotes::from_args(&["bad name=http://127.0.0.1:1".into()], "us-east-1").is_err());
        // Keys missing from the environment.
        let missing = Remotes::from_args(&["nokeys=http://127.0.0.1:1".into()], "us-east-1");
        assert!(matches!(missing, Err(e) if e.contains("STRATA_REMOTE_NOKEYS_ACCESS_KEY")));
    }
}
