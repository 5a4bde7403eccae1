//! Request bodies: decoding (`aws-chunked`), hashing and verification, off the async executor.
//!
//! Invariant: a body is handed on as accepted only after every integrity check the request asked
//! for has passed (declared length, payload SHA-256 or chunk signatures, Content-MD5, the
//! `x-amz-checksum-*` value from a header or a trailer). The async side reads network buffers
//! (each wait bounded by the idle timeout); decoding, hashing and writing run as short blocking
//! tasks, one batch at a time, so a silent client holds no thread.

use actix_web::http::header::HeaderMap;
use actix_web::web;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::auth::{ChunkedDecoder, PayloadCheck};
use crate::checksum::{self, ChecksumAlgorithm, ChecksumAlgorithmExt, ChecksumHasher};
use crate::error::{S3Error, S3Result};
use crate::s3_error;

/// Where accepted body bytes go.
pub trait BodySink: Send + 'static {
    /// Takes the next piece of the body.
    fn write(&mut self, data: &[u8]) -> S3Result<()>;
}

impl BodySink for Vec<u8> {
    fn write(&mut self, data: &[u8]) -> S3Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
}

impl BodySink for strata_storage::BodyWriter {
    fn write(&mut self, data: &[u8]) -> S3Result<()> {
        strata_storage::BodyWriter::write(self, data).map_err(S3Error::from)
    }
}

/// What the request promised about its body.
pub struct BodySpec {
    /// The decoded length the client declared (Content-Length, or x-amz-decoded-content-length).
    pub declared_len: Option<u64>,
    /// Largest body accepted.
    pub max_len: u64,
    /// The Content-MD5 header, decoded.
    pub content_md5: Option<[u8; 16]>,
    /// The checksum to compute, and the value the client sent in a header (None: it comes in a
    /// trailer, or the client asked the server to compute it).
    pub checksum: Option<(ChecksumAlgorithm, Option<String>)>,
    /// How the payload is bound to the signature.
    pub payload: PayloadCheck,
}

/// What was computed over an accepted body.
pub struct BodyDigests {
    /// MD5 of the decoded body.
    pub md5: [u8; 16],
    /// The verified or computed checksum: (algorithm, base64 value).
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// Decoded length.
    pub len: u64,
}

impl BodySpec {
    /// Reads the body-related headers of a request.
    pub fn from_headers(
        headers: &HeaderMap,
        payload: PayloadCheck,
        max_len: u64,
    ) -> S3Result<Self> {
        let checksum = requested_checksum(headers)?;
        Self::with_checksum(headers, payload, max_len, checksum)
    }

    /// `from_headers` for a request whose `x-amz-checksum-*` headers describe something other
    /// than its body (CompleteMultipartUpload: the whole object's checksum).
    pub fn ignoring_checksum_headers(
        headers: &HeaderMap,
        payload: PayloadCheck,
        max_len: u64,
    ) -> S3Result<Self> {
        Self::with_checksum(headers, payload, max_len, None)
    }

    fn with_checksum(
        headers: &HeaderMap,
        payload: PayloadCheck,
        max_len: u64,
        checksum: Option<(ChecksumAlgorithm, Option<String>)>,
    ) -> S3Result<Self> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let chunked = matches!(payload, PayloadCheck::Chunked(_));
        let declared_len =
            if chunked {
                match header("x-amz-decoded-content-length") {
                    Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                        s3_error!(
                            InvalidArgument,
                            "x-amz-decoded-content-length is not a number"
                        )
                    })?),
                    None => {
                        return Err(s3_error!(
                            MissingContentLength,
                            "You must provide the Content-Length HTTP header."
                        ))
                    }
                }
            } else {
                match header("content-length") {
                    Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                        s3_error!(InvalidArgument, "Content-Length is not a number")
                    })?),
                    None => None,
                }
            };
        if let Some(len) = declared_len {
            if len > max_len {
                return Err(s3_error!(
                    EntityTooLarge,
                    "Your proposed upload exceeds the maximum allowed size"
                )
                .with_extra("ProposedSize", len.to_string())
                .with_extra("MaxSizeAllowed", max_len.to_string()));
            }
        }
        let content_md5 = match header("content-md5") {
            Some(v) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| {
                        s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid.")
                    })?;
                Some(bytes)
            }
            None => None,
        };
        Ok(Self {
            declared_len,
            max_len,
            content_md5,
            checksum,
            payload,
        })
    }
}

/// The checksum a request asks for: a value header (`x-amz-checksum-ALG`), a trailer named in
/// `x-amz-trailer`, or `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` alone (the
/// server computes and stores it).
pub fn requested_checksum(
    headers: &HeaderMap,
) -> S3Result<Option<(ChecksumAlgorithm, Option<String>)>> {
    requested_checksum_of(headers, false)
}

/// `requested_checksum` for CompleteMultipartUpload, where a value header is the whole object's
/// checksum and may be a composite one: the digest, then `-N` with N the number of parts.
pub fn requested_object_checksum(
    headers: &HeaderMap,
) -> S3Result<Option<(ChecksumAlgorithm, Option<String>)>> {
    requested_checksum_of(headers, true)
}

fn requested_checksum_of(
    headers: &HeaderMap,
    composite_ok: bool,
) -> S3Result<Option<(ChecksumAlgorithm, Option<String>)>> {
    let mut found: Option<(ChecksumAlgorithm, Option<String>)> = None;
    for &alg in ChecksumAlgorithm::ALL {
        if let Some(v) = headers.get(alg.header()) {
            if found.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            let v = v.to_str().map_err(|_| {
                s3_error!(
                    InvalidRequest,
                    "Value for {} header is invalid.",
                    alg.header()
                )
            })?;
            let digest = match v.trim().rsplit_once('-') {
                Some((digest, parts))
                    if composite_ok
                        && !parts.is_empty()
                        && parts.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    digest
                }
                _ => v,
            };
            checksum::validate_value(alg, digest)?;
            found = Some((alg, Some(v.trim().to_owned())));
        }
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        let name = trailer.trim();
        match ChecksumAlgorithm::from_header(name) {
            Some(alg) if found.is_none() => found = Some((alg, None)),
            Some(_) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ))
            }
            None => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The value specified in the x-amz-trailer header is not supported"
                ))
            }
        }
    }
    if found.is_none() {
        let alg_header = headers
            .get("x-amz-checksum-algorithm")
            .or_else(|| headers.get("x-amz-sdk-checksum-algorithm"))
            .and_then(|v| v.to_str().ok());
        if let Some(name) = alg_header {
            let alg = name.trim().parse::<ChecksumAlgorithm>().map_err(|_| {
                s3_error!(
                    InvalidRequest,
                    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
                )
            })?;
            found = Some((alg, None));
        }
    }
    Ok(found)
}

/// Bodies up to this size are gathered in memory before they are processed.
const SMALL_BODY: u64 = 256 * 1024;

/// A streaming body is processed in batches of about this many bytes.
const BATCH: usize = 1 << 20;

/// Bodies up to this size are decoded and hashed on the async worker itself; the sink must then
/// not block (a `BodyWriter` only buffers this much).
const INLINE_PROCESS: u64 = 64 * 1024;

/// Limits on reading request bodies, shared by every request of a server.
///
/// Invariant: no request body holds a blocking thread while it waits for the network, and no
/// body waits longer than `idle_timeout` for its next byte; streaming uploads beyond the cap are
/// refused before their body is read, so stalled or slow uploads cannot starve other requests.
pub struct BodyLimits {
    /// How long a body may go without a byte before the request fails with `RequestTimeout`.
    pub idle_timeout: std::time::Duration,
    uploads: std::sync::Arc<tokio::sync::Semaphore>,
}

impl BodyLimits {
    /// Limits with an idle timeout and a cap on streaming uploads read at once.
    pub fn new(idle_timeout: std::time::Duration, max_streaming_uploads: usize) -> Self {
        Self {
            idle_timeout,
            uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(max_streaming_uploads)),
        }
    }

    /// Waits for the body's next network buffer, at most `idle_timeout`. `Ok(None)`: the body
    /// ended.
    async fn next<B, E>(&self, payload: &mut B) -> S3Result<Option<Bytes>>
    where
        B: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    {
        match self.within(payload.next()).await? {
            Some(Ok(bytes)) => Ok(Some(bytes)),
            Some(Err(_)) => Err(incomplete()),
            None => Ok(None),
        }
    }

    /// Waits for one read from the client, at most `idle_timeout`.
    pub async fn within<T>(&self, read: impl std::future::Future<Output = T>) -> S3Result<T> {
        // S3 answers an upload that sends nothing for about 20 s with this error.
        tokio::time::timeout(self.idle_timeout, read)
            .await
            .map_err(|_| {
                s3_error!(
                    RequestTimeout,
                    "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
                )
            })
    }

    /// Reads up to about `limit` bytes; the flag says whether the body ended.
    async fn batch<B, E>(&self, payload: &mut B, limit: usize) -> S3Result<(Vec<Bytes>, bool)>
    where
        B: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let mut pieces = Vec::new();
        let mut received = 0usize;
        while received < limit {
            match self.next(payload).await? {
                Some(bytes) => {
                    received += bytes.len();
                    pieces.push(bytes);
                }
                None => return Ok((pieces, true)),
            }
        }
        Ok((pieces, false))
    }
}

/// Streams the request body through decoding and verification into `sink`.
///
/// A small body is gathered, then processed in one step. A larger one is read in batches: while
/// one batch is decoded and written (one blocking task) and hashed (another, since MD5 alone runs
/// at about 0.5 GB/s and would cap a PUT in line), the next is read from the network, and no
/// thread is held while the client is silent.
pub async fn ingest<S, B, E>(
    mut payload: B,
    sink: S,
    spec: BodySpec,
    limits: &BodyLimits,
) -> S3Result<(S, BodyDigests)>
where
    S: BodySink,
    B: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
{
    let (mut front, mut hashers) = Processor::new(sink, spec);
    if front.declared_len.is_some_and(|l| l <= SMALL_BODY) {
        // An aws-chunked body is a little larger than its declared length; anything far beyond
        // it is refused by the length check without reading further.
        let (pieces, _) = limits
            .batch(&mut payload, (2 * SMALL_BODY + 64 * 1024) as usize)
            .await?;
        let received: usize = pieces.iter().map(Bytes::len).sum();
        let work = move || {
            let data = front.decode(pieces)?;
            hashers.update(&data);
            front.write(&data)?;
            front.finish(hashers)
        };
        if received as u64 <= INLINE_PROCESS {
            // Hashing a few KiB costs less than the two thread switches of a blocking task.
            return work();
        }
        return tokio::task::spawn_blocking(work)
            .await
            .map_err(S3Error::internal)?;
    }
    let _permit = limits
        .uploads
        .clone()
        .try_acquire_owned()
        .map_err(|_| s3_error!(SlowDown, "Please reduce your request rate."))?;
    let (mut raw, mut ended) = limits.batch(&mut payload, BATCH).await?;
    let mut decoded: Vec<Bytes> = Vec::new();
    while !(raw.is_empty() && decoded.is_empty()) {
        let to_hash = decoded.clone();
        let hashing = tokio::task::spawn_blocking(move || {
            hashers.update(&to_hash);
            hashers
        });
        let writing = tokio::task::spawn_blocking(move || {
            let result = front.write(&decoded).and_then(|()| front.decode(raw));
            (front, result)
        });
        // The next batch arrives from the network while this one is worked on.
        let next = if ended {
            Ok((Vec::new(), true))
        } else {
            limits.batch(&mut payload, BATCH).await
        };
        let (f, result) = writing.await.map_err(S3Error::internal)?;
        hashers = hashing.await.map_err(S3Error::internal)?;
        front = f;
        decoded = result?;
        (raw, ended) = next?;
    }
    tokio::task::spawn_blocking(move || front.finish(hashers))
        .await
        .map_err(S3Error::internal)?
}

/// The digests computed over a body's decoded bytes.
struct Hashers {
    md5: Md5,
    sha: Option<Sha256>,
    checksum: Option<ChecksumHasher>,
}

impl Hashers {
    fn update(&mut self, data: &[Bytes]) {
        for piece in data {
            self.md5.update(piece);
            if let Some(s) = self.sha.as_mut() {
                s.update(piece);
            }
            if let Some(c) = self.checksum.as_mut() {
                c.update(piece);
            }
        }
    }
}

/// Decoding, length checks and the sink of one body; the digests are checked at `finish`.
struct Processor<S> {
    sink: S,
    decoder: Option<ChunkedDecoder>,
    sha_expected: Option<[u8; 32]>,
    len: u64,
    max_len: u64,
    declared_len: Option<u64>,
    content_md5: Option<[u8; 16]>,
    checksum: Option<(ChecksumAlgorithm, Option<String>)>,
}

impl<S: BodySink> Processor<S> {
    fn new(sink: S, spec: BodySpec) -> (Self, Hashers) {
        let (sha_expected, decoder) = match spec.payload {
            PayloadCheck::Sha256(expected) => (Some(expected), None),
            PayloadCheck::Chunked(mode) => (None, Some(ChunkedDecoder::new(mode))),
            PayloadCheck::Unverified => (None, None),
        };
        let hashers = Hashers {
            md5: Md5::new(),
            sha: sha_expected.map(|_| Sha256::new()),
            checksum: spec.checksum.as_ref().map(|(alg, _)| alg.hasher()),
        };
        let processor = Self {
            sink,
            decoder,
            sha_expected,
            len: 0,
            max_len: spec.max_len,
            declared_len: spec.declared_len,
            content_md5: spec.content_md5,
            checksum: spec.checksum,
        };
        (processor, hashers)
    }

    /// Decodes network buffers into body bytes, checking the length so far.
    fn decode(&mut self, raw: Vec<Bytes>) -> S3Result<Vec<Bytes>> {
        let mut out = Vec::with_capacity(raw.len());
        for bytes in raw {
            let data = match self.decoder.as_mut() {
                Some(dec) => {
                    let mut buf = Vec::with_capacity(bytes.len());
                    dec.feed(&bytes, &mut buf)?;
                    Bytes::from(buf)
                }
                None => bytes,
            };
            self.len += data.len() as u64;
            if self.len > self.max_len {
                return Err(s3_error!(
                    EntityTooLarge,
                    "Your proposed upload exceeds the maximum allowed size"
                ));
            }
            if self.declared_len.is_some_and(|d| self.len > d) {
                return Err(s3_error!(
                    IncompleteBody,
                    "The request body is longer than the declared length."
                ));
            }
            out.push(data);
        }
        Ok(out)
    }

    fn write(&mut self, data: &[Bytes]) -> S3Result<()> {
        data.iter().try_for_each(|piece| self.sink.write(piece))
    }

    /// Checks the length, the trailers and every digest the request asked for.
    fn finish(self, hashers: Hashers) -> S3Result<(S, BodyDigests)> {
        let Hashers { md5, sha, checksum } = hashers;
        let trailers = match self.decoder {
            Some(dec) => dec.finish()?,
            None => Vec::new(),
        };
        let len = self.len;
        if let Some(d) = self.declared_len {
            if len != d {
                return Err(incomplete());
            }
        }
        if let (Some(expected), Some(s)) = (self.sha_expected, sha) {
            let got: [u8; 32] = s.finalize().into();
            if got != expected {
                return Err(s3_error!(
                    XAmzContentSHA256Mismatch,
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                )
                .with_extra("ClientComputedContentSHA256", hex::encode(expected))
                .with_extra("S3ComputedContentSHA256", hex::encode(got)));
            }
        }
        let md5: [u8; 16] = md5.finalize().into();
        if let Some(expected) = self.content_md5 {
            if md5 != expected {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        let checksum = match (self.checksum, checksum) {
            (Some((alg, claimed)), Some(hasher)) => {
                let computed = hasher.finish_base64();
                let claimed = match claimed {
                    Some(v) => Some(v),
                    None => trailers
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(alg.header()))
                        .map(|(_, v)| v.clone()),
                };
                if let Some(claimed) = claimed {
                    checksum::validate_value(alg, &claimed)?;
                    if claimed.trim() != computed {
                        return Err(s3_error!(
                            BadDigest,
                            "The {} you specified did not match the calculated checksum.",
                            alg
                        ));
                    }
                }
                Some((alg, computed))
            }
            _ => None,
        };
        Ok((self.sink, BodyDigests { md5, checksum, len }))
    }
}

fn incomplete() -> S3Error {
    s3_error!(
        IncompleteBody,
        "You did not provide the number of bytes specified by the Content-Length HTTP header."
    )
}

/// Reads a small request body (an XML document) into memory, with the same checks.
pub async fn read_small(
    payload: web::Payload,
    headers: &HeaderMap,
    check: PayloadCheck,
    max_len: u64,
    limits: &BodyLimits,
) -> S3Result<(Vec<u8>, BodyDigests)> {
    let spec = BodySpec::from_headers(headers, check, max_len)?;
    ingest(payload, Vec::new(), spec, limits).await
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
        h
    }

    // Issue 18: a composite whole-object checksum (`...-N`) on CompleteMultipartUpload was called
    // invalid, for every algorithm.
    #[test]
    fn composite_values_are_whole_object_checksums_only() {
        for (name, value) in [
            ("x-amz-checksum-crc32", "AAAAAA==-3"),
            ("x-amz-checksum-sha1", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=-2"),
            (
                "x-amz-checksum-sha256",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=-12",
            ),
        ] {
            let h = headers(name, value);
            let (_, claimed) = requested_object_checksum(&h)
                .expect("composite accepted")
                .expect("a checksum");
            assert_eq!(claimed.as_deref(), Some(value));
            assert!(requested_checksum(&h).is_err(), "{name}: not on a PUT");
        }
        for bad in ["AAAAAA==-", "AAAAAA==-x", "AAAA-3"] {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::from_static("x-amz-checksum-crc32"),
                HeaderValue::from_str(bad).expect("header value"),
            );
            assert!(requested_object_checksum(&h).is_err(), "{bad}");
        }
    }
}
