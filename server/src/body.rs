//! Request bodies: decoding (`aws-chunked`), hashing and verification, off the async executor.
//!
//! Invariant: a body is handed on as accepted only after every integrity check the request asked
//! for has passed (declared length, payload SHA-256 or chunk signatures, Content-MD5, the
//! `x-amz-checksum-*` value from a header or a trailer). The async side only forwards network
//! buffers into a bounded channel; decoding, hashing and writing run on a blocking thread.

use actix_web::http::header::HeaderMap;
use actix_web::web;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::auth::{ChunkedDecoder, PayloadCheck};
use crate::checksum::{self, ChecksumAlgorithm, ChecksumHasher};
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
            checksum: requested_checksum(headers)?,
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
    let mut found: Option<(ChecksumAlgorithm, Option<String>)> = None;
    for alg in ChecksumAlgorithm::ALL {
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
            checksum::validate_value(alg, v)?;
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
            let alg = ChecksumAlgorithm::from_name(name.trim()).ok_or_else(|| {
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

/// Pieces the async side forwards; `None` marks a broken connection.
type Piece = Option<Bytes>;

/// Streams the request body through decoding and verification into `sink` on a blocking thread.
pub async fn ingest<S, B, E>(mut payload: B, sink: S, spec: BodySpec) -> S3Result<(S, BodyDigests)>
where
    S: BodySink,
    B: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
{
    if spec.declared_len.is_some_and(|l| l <= SMALL_BODY) {
        // A small body is gathered first, so that decoding and hashing take one short blocking
        // task instead of a blocking thread waiting on the network.
        let mut pieces = Vec::new();
        let mut received = 0usize;
        while let Some(item) = payload.next().await {
            let piece = item.ok();
            let broken = piece.is_none();
            received += piece.as_ref().map_or(0, Bytes::len);
            pieces.push(piece);
            // An aws-chunked body is a little larger than its declared length; anything far
            // beyond it is refused by `process` without reading further.
            if broken || received as u64 > 2 * SMALL_BODY + 64 * 1024 {
                break;
            }
        }
        let mut pieces = pieces.into_iter();
        if received as u64 <= INLINE_PROCESS {
            // Hashing a few KiB costs less than the two thread switches of a blocking task.
            return process(move || pieces.next(), sink, spec);
        }
        return tokio::task::spawn_blocking(move || process(move || pieces.next(), sink, spec))
            .await
            .map_err(S3Error::internal)?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(16);
    let worker =
        tokio::task::spawn_blocking(move || process(move || rx.blocking_recv(), sink, spec));
    while let Some(item) = payload.next().await {
        let piece = item.ok();
        let broken = piece.is_none();
        if tx.send(piece).await.is_err() || broken {
            break;
        }
    }
    drop(tx);
    worker.await.map_err(S3Error::internal)?
}

/// The digests computed over a body's decoded bytes.
struct Hashers {
    md5: Md5,
    sha: Option<Sha256>,
    checksum: Option<ChecksumHasher>,
}

impl Hashers {
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(s) = self.sha.as_mut() {
            s.update(data);
        }
        if let Some(c) = self.checksum.as_mut() {
            c.update(data);
        }
    }
}

/// Bodies at least this large hash on a thread of their own, beside chunking and writing: MD5
/// (the ETag) alone runs at about 0.5 GB/s, so doing it in line would cap a PUT's throughput.
const PIPELINE_THRESHOLD: u64 = 1 << 20;

/// Bodies up to this size are decoded and hashed on the async worker itself; the sink must then
/// not block (a `BodyWriter` only buffers this much).
const INLINE_PROCESS: u64 = 64 * 1024;

/// Decodes, checks and hashes the pieces `next` yields (None: the body ended), feeding `sink`.
fn process<S: BodySink>(
    mut next: impl FnMut() -> Option<Piece>,
    mut sink: S,
    spec: BodySpec,
) -> S3Result<(S, BodyDigests)> {
    let (sha_expected, mut decoder) = match spec.payload {
        PayloadCheck::Sha256(expected) => (Some(expected), None),
        PayloadCheck::Chunked(mode) => (None, Some(ChunkedDecoder::new(mode))),
        PayloadCheck::Unverified => (None, None),
    };
    let hashers = Hashers {
        md5: Md5::new(),
        sha: sha_expected.map(|_| Sha256::new()),
        checksum: spec.checksum.as_ref().map(|(alg, _)| alg.hasher()),
    };
    let pipelined = spec.declared_len.is_some_and(|l| l >= PIPELINE_THRESHOLD);
    let mut len = 0u64;
    let (max_len, declared_len) = (spec.max_len, spec.declared_len);
    let check_len = |n: usize, len: &mut u64| -> S3Result<()> {
        *len += n as u64;
        if *len > max_len {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size"
            ));
        }
        if declared_len.is_some_and(|d| *len > d) {
            return Err(s3_error!(
                IncompleteBody,
                "The request body is longer than the declared length."
            ));
        }
        Ok(())
    };
    // Decoded pieces flow to `consume`, which hashes them (in line or on the hashing thread) and
    // hands them to the sink.
    let mut run = |consume: &mut dyn FnMut(Bytes) -> S3Result<()>| -> S3Result<()> {
        while let Some(piece) = next() {
            let Some(bytes) = piece else {
                return Err(incomplete());
            };
            let data = match decoder.as_mut() {
                Some(dec) => {
                    let mut out = Vec::with_capacity(bytes.len());
                    dec.feed(&bytes, &mut out)?;
                    Bytes::from(out)
                }
                None => bytes,
            };
            check_len(data.len(), &mut len)?;
            consume(data)?;
        }
        Ok(())
    };
    let hashers = if pipelined {
        std::thread::scope(|scope| -> S3Result<Hashers> {
            let (tx, hash_rx) = std::sync::mpsc::sync_channel::<Bytes>(8);
            let worker = scope.spawn(move || {
                let mut h = hashers;
                while let Ok(data) = hash_rx.recv() {
                    h.update(&data);
                }
                h
            });
            let result = run(&mut |data: Bytes| {
                sink.write(&data)?;
                tx.send(data)
                    .map_err(|_| S3Error::internal("hashing thread stopped"))
            });
            drop(tx);
            let h = worker
                .join()
                .map_err(|_| S3Error::internal("hashing thread panicked"))?;
            result.map(|()| h)
        })?
    } else {
        let mut h = hashers;
        run(&mut |data: Bytes| {
            h.update(&data);
            sink.write(&data)
        })?;
        h
    };
    let Hashers { md5, sha, checksum } = hashers;
    let trailers = match decoder {
        Some(dec) => dec.finish()?,
        None => Vec::new(),
    };
    if let Some(d) = spec.declared_len {
        if len != d {
            return Err(incomplete());
        }
    }
    if let (Some(expected), Some(s)) = (sha_expected, sha) {
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
    if let Some(expected) = spec.content_md5 {
        if md5 != expected {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let checksum = match (spec.checksum, checksum) {
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
                        alg.name()
                    ));
                }
            }
            Some((alg, computed))
        }
        _ => None,
    };
    Ok((sink, BodyDigests { md5, checksum, len }))
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
) -> S3Result<(Vec<u8>, BodyDigests)> {
    let spec = BodySpec::from_headers(headers, check, max_len)?;
    ingest(payload, Vec::new(), spec).await
}
