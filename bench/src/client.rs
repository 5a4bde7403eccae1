//! The benchmark's S3 operations over [`strata_client::S3Client`] (path-style, SigV4-signed
//! requests over a keep-alive HTTP/1.1 pool).
//!
//! Invariant: an operation returns `Ok` only when the server answered with the status S3 specifies
//! for success and, for reads, with exactly the bytes the object was written with; anything else is
//! an `Err` carrying a short description (HTTP status, S3 error code, or what did not match).

use super::content::{self, Verifier};
use bytes::Bytes;
use std::time::Duration;
use strata_client::header::CONTENT_LENGTH;
use strata_client::{
    encode_path, Body, Endpoint, Method, PoolOptions, Request, Response, Signer, StatusCode,
    EMPTY_SHA256, UNSIGNED_PAYLOAD,
};
pub use strata_client::{is_loopback, parse_endpoint};

/// Bodies up to this size are generated in one piece; larger ones stream in pieces of this size.
const BODY_PIECE: u64 = 1 << 20;

/// An object the benchmark wrote: its key and what its content is.
#[derive(Debug)]
pub struct ObjectInfo {
    /// Object key.
    pub key: String,
    /// Seed of its content (see `content`).
    pub seed: u64,
    /// Length in bytes.
    pub size: u64,
}

/// One page of ListObjectsV2.
pub struct ListPage {
    /// Keys in the page.
    pub keys: Vec<String>,
    /// Whether more keys follow (IsTruncated).
    pub truncated: bool,
    /// Bytes of the response body.
    pub body_len: u64,
}

/// A path-style S3 client for one endpoint.
pub struct S3Client {
    client: strata_client::S3Client,
}

/// First part of an error response: the S3 error code when there is one.
async fn status_error(resp: Response, what: &str) -> String {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let code = strata_client::error_code(&body);
    match code {
        Some(code) => format!("{what}: HTTP {} {code}", status.as_u16()),
        None => format!("{what}: HTTP {}", status.as_u16()),
    }
}

/// The text of the first `<tag>` element in `xml`, unescaped.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let (_, rest) = xml.split_once(&open)?;
    let (text, _) = rest.split_once(&close)?;
    Some(unescape(text))
}

fn unescape(s: &str) -> String {
    quick_xml::escape::unescape(s)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| s.to_owned())
}

impl S3Client {
    /// A client for `endpoint` with a pool sized for `concurrency` connections.
    pub fn new(
        endpoint: &Endpoint,
        signer: Signer,
        concurrency: usize,
        timeout: Duration,
    ) -> Result<Self, String> {
        let pool = PoolOptions {
            max_idle_per_host: Some(concurrency.max(1) * 2),
            // Shorter than servers keep an idle connection (Strata and actix: 5 s), so a request
            // never goes out on a connection the server is closing at that moment, which fails
            // as a transport error no S3 client would report (SDKs retry it).
            idle_timeout: Some(Duration::from_secs(3)),
            connect_timeout: Some(Duration::from_secs(10)),
            timeout: Some(timeout),
            read_timeout: None,
            http1_nodelay: true,
        };
        Ok(S3Client {
            client: strata_client::S3Client::new(endpoint, signer, &pool)?,
        })
    }

    /// Sends one signed request. `path` is already encoded; `body` comes with its length.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<(Body, u64)>,
    ) -> Result<Response, String> {
        let payload_hash = if body.is_some() {
            UNSIGNED_PAYLOAD
        } else {
            EMPTY_SHA256
        };
        let request = Request {
            query,
            body,
            payload_hash,
            ..Request::new(method, path)
        };
        self.client.send(request).await.map_err(|e| {
            if e.is_timeout() {
                "request timed out".to_owned()
            } else {
                format!("transport: {e}")
            }
        })
    }

    fn object_path(bucket: &str, key: &str) -> String {
        format!("/{bucket}/{}", encode_path(key))
    }

    /// Whether the bucket exists (HeadBucket).
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, String> {
        let resp = self
            .send(Method::HEAD, &format!("/{bucket}"), &[], None)
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(format!("HeadBucket {bucket}: HTTP {}", s.as_u16())),
        }
    }

    /// CreateBucket (in the default region: no location constraint).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), String> {
        let resp = self
            .send(Method::PUT, &format!("/{bucket}"), &[], None)
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let err = status_error(resp, "CreateBucket").await;
        if err.contains("BucketAlreadyOwnedByYou") {
            return Ok(());
        }
        Err(err)
    }

    /// DeleteBucket.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), String> {
        let resp = self
            .send(Method::DELETE, &format!("/{bucket}"), &[], None)
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(resp, "DeleteBucket").await)
        }
    }

    /// PutObject of `obj`'s content (generated on the fly); returns the bytes sent.
    pub async fn put_object(&self, bucket: &str, obj: &ObjectInfo) -> Result<u64, String> {
        let (seed, size) = (obj.seed, obj.size);
        let body = if size <= BODY_PIECE {
            Body::from(content::generate(seed, size as usize))
        } else {
            let pieces = futures_util::stream::unfold(0u64, move |offset| async move {
                if offset >= size {
                    return None;
                }
                let n = BODY_PIECE.min(size - offset);
                let mut piece = vec![0u8; n as usize];
                content::fill(seed, offset, &mut piece);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(piece)), offset + n))
            });
            Body::wrap_stream(pieces)
        };
        let resp = self
            .send(
                Method::PUT,
                &Self::object_path(bucket, &obj.key),
                &[],
                Some((body, size)),
            )
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, "PutObject").await);
        }
        Ok(size)
    }

    /// GetObject, verifying length and every byte; returns the bytes received.
    pub async fn get_object(&self, bucket: &str, obj: &ObjectInfo) -> Result<u64, String> {
        let mut resp = self
            .send(Method::GET, &Self::object_path(bucket, &obj.key), &[], None)
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, "GetObject").await);
        }
        check_content_length(&resp, obj.size, "GetObject")?;
        let mut verifier = Verifier::new(obj.seed, obj.size);
        while let Some(piece) = resp
            .chunk()
            .await
            .map_err(|e| format!("GetObject body: {e}"))?
        {
            verifier
                .feed(&piece)
                .map_err(|e| format!("GetObject {}: {e}", obj.key))?;
        }
        verifier
            .finish()
            .map_err(|e| format!("GetObject {}: {e}", obj.key))?;
        Ok(obj.size)
    }

    /// HeadObject, verifying the length.
    pub async fn head_object(&self, bucket: &str, obj: &ObjectInfo) -> Result<(), String> {
        let resp = self
            .send(
                Method::HEAD,
                &Self::object_path(bucket, &obj.key),
                &[],
                None,
            )
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(format!("HeadObject: HTTP {}", resp.status().as_u16()));
        }
        check_content_length(&resp, obj.size, "HeadObject")
    }

    /// DeleteObject.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), String> {
        let resp = self
            .send(Method::DELETE, &Self::object_path(bucket, key), &[], None)
            .await?;
        if resp.status() != StatusCode::NO_CONTENT && resp.status() != StatusCode::OK {
            return Err(status_error(resp, "DeleteObject").await);
        }
        Ok(())
    }

    /// One page of ListObjectsV2.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        max_keys: u32,
        start_after: Option<&str>,
        token: Option<&str>,
    ) -> Result<ListPage, String> {
        let max = max_keys.to_string();
        let mut query = vec![("list-type", "2"), ("prefix", prefix), ("max-keys", &max)];
        if let Some(s) = start_after {
            query.push(("start-after", s));
        }
        if let Some(t) = token {
            query.push(("continuation-token", t));
        }
        let resp = self
            .send(Method::GET, &format!("/{bucket}"), &query, None)
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, "ListObjectsV2").await);
        }
        let body = resp
            .text()
            .await
            .map_err(|e| format!("ListObjectsV2 body: {e}"))?;
        let mut keys = Vec::new();
        let mut rest = body.as_str();
        while let Some((_, after)) = rest.split_once("<Key>") {
            let Some((key, after)) = after.split_once("</Key>") else {
                return Err("ListObjectsV2: malformed XML".into());
            };
            keys.push(unescape(key));
            rest = after;
        }
        let truncated = xml_text(&body, "IsTruncated").as_deref() == Some("true");
        if truncated && xml_text(&body, "NextContinuationToken").is_none() {
            return Err("ListObjectsV2: truncated page without NextContinuationToken".into());
        }
        Ok(ListPage {
            keys,
            truncated,
            body_len: body.len() as u64,
        })
    }
}

fn check_content_length(resp: &Response, expected: u64, what: &str) -> Result<(), String> {
    let declared = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n == expected => Ok(()),
        Some(n) => Err(format!("{what}: Content-Length {n}, expected {expected}")),
        None => Err(format!("{what}: no Content-Length")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_fields() {
        let xml = "<R><IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b</NextContinuationToken></R>";
        assert_eq!(xml_text(xml, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(
            xml_text(xml, "NextContinuationToken").as_deref(),
            Some("a&b")
        );
        assert_eq!(xml_text(xml, "Missing"), None);
    }
}
