//! Incremental decoder for `aws-chunked` request bodies (AWS docs "sigv4-streaming" and
//! "sigv4-streaming-trailers"):
//!
//! ```text
//! <hex-size>[;chunk-signature=<64 hex>]\r\n<bytes>\r\n ... 0[;chunk-signature=<64 hex>]\r\n
//! [name:value\r\n ... [x-amz-trailer-signature:<64 hex>\r\n]]\r\n
//! ```
//!
//! Invariant: every length read from the wire is bounded before it is used (chunk header line,
//! chunk size, trailer section and its line count), so hostile input costs bounded memory and
//! yields an S3 error, never a panic. In signed modes every chunk's signature, the final empty
//! chunk's included, is checked against the chain seeded by the request signature, and a signed
//! trailer section against `x-amz-trailer-signature`. Payload bytes are handed out as they arrive,
//! before their chunk's signature is checked (a chunk can be gigabytes): the caller must discard
//! everything it received if `feed` or `finish` ever fails.

use super::key_error;
use crate::error::{S3Error, S3Result};
use crate::s3_error;
use sha2::{Digest, Sha256};
use strata_signing::chunk;

/// Longest chunk header line (`<hex>;chunk-signature=<64 hex>` is 87 bytes).
const MAX_CHUNK_HEADER: usize = 4 * 1024;
/// Most hex digits a chunk size may have.
const MAX_SIZE_DIGITS: usize = 16;
/// Largest chunk accepted: S3's largest single PUT.
const MAX_CHUNK_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Largest trailer section, counting every byte of its lines.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Most trailer lines, the signature line included.
const MAX_TRAILER_LINES: usize = 16;
/// Stray line ends tolerated after the terminating empty line.
const MAX_TRAILING_NEWLINES: usize = 4;
/// The trailer that carries the trailer signature instead of data.
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// How an aws-chunked body is framed and authenticated.
#[derive(Debug, Clone)]
pub struct ChunkedMode {
    /// Present when every chunk carries a `chunk-signature` (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]).
    pub signing: Option<ChunkSigning>,
    /// Whether a trailer section follows the final chunk (the `-TRAILER` variants).
    pub trailer: bool,
    /// `x-amz-decoded-content-length` when sent: the decoded payload must be exactly this long.
    pub decoded_length: Option<u64>,
}

/// What verifying chunk signatures takes, from the request's own SigV4 signature.
#[derive(Clone)]
pub struct ChunkSigning {
    /// The SigV4 signing key of the request's credential scope.
    pub signing_key: [u8; 32],
    /// The request timestamp as signed (`20130524T000000Z`).
    pub amz_date: String,
    /// The credential scope (`20130524/us-east-1/s3/aws4_request`).
    pub scope: String,
    /// The request's signature (hex), which seeds the chunk signature chain.
    pub seed_signature: String,
}

impl std::fmt::Debug for ChunkSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("signing_key", &"<redacted>")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature)
            .finish()
    }
}

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line into `line`.
    Header,
    /// Passing through chunk data; `remaining` bytes are left in the chunk.
    Data { remaining: u64 },
    /// Expecting the line end after chunk data.
    DataEnd { seen_cr: bool },
    /// After the final chunk: reading trailer lines into `line` until an empty one.
    Trailer,
    /// The body is complete; only stray line ends may follow.
    Done { newlines: usize },
    /// An error was returned; every later call fails.
    Failed,
}

/// Incremental decoder for aws-chunked bodies (push based: the body arrives in arbitrary pieces).
#[derive(Debug)]
pub struct ChunkedDecoder {
    mode: ChunkedMode,
    state: State,
    /// The partial header or trailer line.
    line: Vec<u8>,
    /// The signature the current chunk claims (signed modes).
    chunk_signature: Option<[u8; 32]>,
    /// Hash of the current chunk's data (signed modes).
    chunk_hash: Sha256,
    /// The previous signature of the chain (hex), starting with the seed.
    previous_signature: String,
    /// Payload bytes decoded so far.
    decoded: u64,
    /// Trailer bytes read so far.
    trailer_bytes: usize,
    /// Trailer lines read so far.
    trailer_lines: usize,
    /// Trailers received (name lower-cased, value trimmed), the signature excluded.
    trailers: Vec<(String, String)>,
    /// The `x-amz-trailer-signature` value, if received.
    trailer_signature: Option<String>,
    /// Data chunks seen so far, and the size of the last one.
    data_chunks: u64,
    last_chunk_size: u64,
}

/// Smallest chunk of a signed aws-chunked body, the last data chunk excepted.
const MIN_SIGNED_CHUNK: u64 = 8 * 1024;

impl ChunkedDecoder {
    /// A decoder for a body framed and signed as `mode` says.
    pub fn new(mode: ChunkedMode) -> Self {
        let previous_signature = mode
            .signing
            .as_ref()
            .map(|s| s.seed_signature.clone())
            .unwrap_or_default();
        Self {
            mode,
            state: State::Header,
            line: Vec::new(),
            chunk_signature: None,
            chunk_hash: Sha256::new(),
            previous_signature,
            decoded: 0,
            trailer_bytes: 0,
            trailer_lines: 0,
            trailers: Vec::new(),
            trailer_signature: None,
            data_chunks: 0,
            last_chunk_size: 0,
        }
    }

    /// Decodes as much of `input` as possible, appending payload bytes to `out`. Keeps partial state across calls.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> S3Result<()> {
        if self.state == State::Failed {
            return Err(malformed("the body was already rejected"));
        }
        let result = self.feed_inner(input, out);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// Called at end of body: errors with IncompleteBody if the final 0-chunk / trailer section was not complete.
    /// Returns the trailers (name lower-cased, value trimmed), e.g. [("x-amz-checksum-crc32", "base64...")].
    pub fn finish(self) -> S3Result<Vec<(String, String)>> {
        let complete = match self.state {
            State::Done { .. } => true,
            // Tolerated: a body without trailers that stops right after the (verified) final
            // chunk's header line, omitting only the empty line that closes the trailer section.
            State::Trailer => !self.mode.trailer && self.line.is_empty() && self.trailer_lines == 0,
            _ => false,
        };
        if !complete {
            return Err(s3_error!(
                IncompleteBody,
                "The request body terminated unexpectedly"
            ));
        }
        if let Some(expected) = self.mode.decoded_length {
            if self.decoded != expected {
                return Err(s3_error!(
                    IncompleteBody,
                    "You did not provide the number of bytes specified by the x-amz-decoded-content-length HTTP header"
                ));
            }
        }
        Ok(self.trailers)
    }

    fn feed_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> S3Result<()> {
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line(&mut input, MAX_CHUNK_HEADER)? else {
                        return Ok(());
                    };
                    self.start_chunk(&line)?;
                }
                State::Data { remaining } => {
                    let available = u64::try_from(input.len()).unwrap_or(u64::MAX);
                    let take = remaining.min(available);
                    // `take <= input.len()`, so this conversion cannot fail.
                    let take_len = usize::try_from(take).unwrap_or(input.len());
                    let (data, rest) = input.split_at(take_len);
                    if self.mode.signing.is_some() {
                        self.chunk_hash.update(data);
                    }
                    out.extend_from_slice(data);
                    self.decoded = self.decoded.saturating_add(take);
                    input = rest;
                    let remaining = remaining - take;
                    if remaining == 0 {
                        self.end_chunk_data()?;
                        self.state = State::DataEnd { seen_cr: false };
                    } else {
                        self.state = State::Data { remaining };
                    }
                }
                State::DataEnd { seen_cr } => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'\r' if !seen_cr => self.state = State::DataEnd { seen_cr: true },
                        b'\n' => self.state = State::Header,
                        _ => return Err(malformed("chunk data is not followed by CRLF")),
                    }
                }
                State::Trailer => {
                    let budget = MAX_TRAILER_BYTES.saturating_sub(self.trailer_bytes);
                    let Some(line) = self.take_line(&mut input, budget)? else {
                        return Ok(());
                    };
                    self.trailer_line(&line)?;
                }
                State::Done { newlines } => {
                    let b = input[0];
                    input = &input[1..];
                    if !matches!(b, b'\r' | b'\n') || newlines >= MAX_TRAILING_NEWLINES {
                        return Err(malformed("data follows the end of the aws-chunked body"));
                    }
                    self.state = State::Done {
                        newlines: newlines + 1,
                    };
                }
                State::Failed => return Err(malformed("the body was already rejected")),
            }
        }
        Ok(())
    }

    /// Takes bytes up to and including the next `\n` into `self.line`. Returns the completed line
    /// without its line end (`\r\n` or `\n`), or `None` when `input` ran out first. Errors once
    /// the line, line end included, would exceed `limit` bytes.
    fn take_line(&mut self, input: &mut &[u8], limit: usize) -> S3Result<Option<Vec<u8>>> {
        match input.iter().position(|&b| b == b'\n') {
            None => {
                if self.line.len() + input.len() > limit {
                    return Err(self.line_too_long());
                }
                self.line.extend_from_slice(input);
                *input = &[];
                Ok(None)
            }
            Some(pos) => {
                if self.line.len() + pos + 1 > limit {
                    return Err(self.line_too_long());
                }
                self.line.extend_from_slice(&input[..pos]);
                *input = &input[pos + 1..];
                if self.state == State::Trailer {
                    self.trailer_bytes += self.line.len() + 1;
                }
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(line))
            }
        }
    }

    /// The error for an over-long header line or trailer section.
    fn line_too_long(&self) -> S3Error {
        if self.state == State::Trailer {
            malformed("the trailer section is too large")
        } else {
            malformed("a chunk header line is too long")
        }
    }

    /// Parses `<hex-size>[;chunk-signature=<hex>]` and enters the chunk.
    fn start_chunk(&mut self, line: &[u8]) -> S3Result<()> {
        let line =
            std::str::from_utf8(line).map_err(|_| malformed("a chunk header is not ASCII"))?;
        let mut fields = line.split(';');
        let size_hex = fields.next().unwrap_or_default().trim();
        if size_hex.is_empty()
            || size_hex.len() > MAX_SIZE_DIGITS
            || !size_hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(malformed("a chunk size is not a hex number"));
        }
        let size = u64::from_str_radix(size_hex, 16)
            .map_err(|_| malformed("a chunk size is not a hex number"))?;
        if size > MAX_CHUNK_SIZE {
            return Err(malformed("a chunk is larger than 5 GiB"));
        }

        let mut signature = None;
        for extension in fields {
            let (name, value) = extension.split_once('=').unwrap_or((extension, ""));
            if name.trim() == "chunk-signature" {
                if signature.is_some() {
                    return Err(malformed("a chunk has two signatures"));
                }
                let mut bytes = [0u8; 32];
                let value = value.trim();
                if value.len() != 64 || hex::decode_to_slice(value, &mut bytes).is_err() {
                    return Err(malformed("a chunk-signature is not 64 hex digits"));
                }
                signature = Some(bytes);
            }
            // Other chunk extensions are ignored, as HTTP/1.1 chunked coding allows.
        }
        if self.mode.signing.is_some() && signature.is_none() {
            return Err(s3_error!(
                SignatureDoesNotMatch,
                "A chunk of a signed aws-chunked body has no chunk-signature"
            ));
        }

        if let Some(expected) = self.mode.decoded_length {
            if self.decoded.saturating_add(size) > expected {
                return Err(s3_error!(
                    InvalidRequest,
                    "The aws-chunked body holds more data than x-amz-decoded-content-length declares"
                ));
            }
        }

        // S3 refuses a signed body whose chunks other than the last are under 8 KiB (AWS's SigV4
        // streaming documentation: every chunk but the last is at least 8 KB), naming the chunk
        // that followed the short one and the short one's size; unsigned streaming bodies have no
        // such rule.
        if self.mode.signing.is_some()
            && size > 0
            && self.data_chunks > 0
            && self.last_chunk_size < MIN_SIGNED_CHUNK
        {
            return Err(s3_error!(
                InvalidChunkSizeError,
                "Only the last chunk is allowed to have a size less than 8192 bytes"
            )
            .with_extra("Chunk", (self.data_chunks + 1).to_string())
            .with_extra("BadChunkSize", self.last_chunk_size.to_string()));
        }
        if size > 0 {
            self.data_chunks += 1;
            self.last_chunk_size = size;
        }
        self.chunk_signature = signature;
        self.chunk_hash = Sha256::new();
        if size == 0 {
            // The final chunk: its (empty) data is signed too.
            self.end_chunk_data()?;
            self.state = State::Trailer;
        } else {
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    /// Verifies the signature of the chunk whose data just ended (signed modes).
    fn end_chunk_data(&mut self) -> S3Result<()> {
        let Some(signing) = &self.mode.signing else {
            return Ok(());
        };
        let data_hash = std::mem::replace(&mut self.chunk_hash, Sha256::new()).finalize();
        let string_to_sign = chunk::chunk_string_to_sign(
            &signing.amz_date,
            &signing.scope,
            &self.previous_signature,
            &data_hash,
        );
        let expected = chunk::sign(&signing.signing_key, &string_to_sign).map_err(key_error)?;
        let provided = self.chunk_signature.take().unwrap_or_default();
        if !strata_signing::constant_time_eq(&expected, &provided) {
            return Err(s3_error!(
                SignatureDoesNotMatch,
                "The chunk signature we calculated does not match the signature you provided"
            )
            .with_extra("StringToSign", string_to_sign)
            .with_extra("SignatureProvided", hex::encode(provided)));
        }
        self.previous_signature = hex::encode(expected);
        Ok(())
    }

    /// Handles one trailer line; the empty line ends the section.
    fn trailer_line(&mut self, line: &[u8]) -> S3Result<()> {
        if line.is_empty() {
            self.verify_trailer_signature()?;
            self.state = State::Done { newlines: 0 };
            return Ok(());
        }
        self.trailer_lines += 1;
        if self.trailer_lines > MAX_TRAILER_LINES {
            return Err(malformed("the trailer section has too many lines"));
        }
        let line =
            std::str::from_utf8(line).map_err(|_| malformed("a trailer is not valid UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("a trailer line is not name:value"))?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(malformed("a trailer name is not a valid header name"));
        }
        let value = value.trim().to_owned();
        if !self.mode.trailer {
            return Err(s3_error!(
                InvalidRequest,
                "The aws-chunked body carries trailers but x-amz-content-sha256 declares none"
            ));
        }
        if name == TRAILER_SIGNATURE {
            if self.trailer_signature.replace(value).is_some() {
                return Err(malformed("x-amz-trailer-signature appears twice"));
            }
        } else {
            self.trailers.push((name, value));
        }
        Ok(())
    }

    /// In the signed trailer mode, checks `x-amz-trailer-signature` over the canonical trailers
    /// (`name:value\n` each, sorted by name), chained to the final chunk's signature.
    fn verify_trailer_signature(&self) -> S3Result<()> {
        let Some(signing) = &self.mode.signing else {
            return Ok(());
        };
        if !self.mode.trailer {
            return Ok(());
        }
        let Some(provided_hex) = &self.trailer_signature else {
            return Err(s3_error!(
                SignatureDoesNotMatch,
                "The trailer section of a signed aws-chunked body has no x-amz-trailer-signature"
            ));
        };
        let canonical = chunk::canonical_trailers(&self.trailers);
        let string_to_sign = chunk::trailer_string_to_sign(
            &signing.amz_date,
            &signing.scope,
            &self.previous_signature,
            &canonical,
        );
        let expected = chunk::sign(&signing.signing_key, &string_to_sign).map_err(key_error)?;
        let mut provided = [0u8; 32];
        let well_formed =
            provided_hex.len() == 64 && hex::decode_to_slice(provided_hex, &mut provided).is_ok();
        if !well_formed || !strata_signing::constant_time_eq(&expected, &provided) {
            return Err(s3_error!(
                SignatureDoesNotMatch,
                "The trailer signature we calculated does not match the signature you provided"
            )
            .with_extra("StringToSign", string_to_sign)
            .with_extra("SignatureProvided", provided_hex.clone()));
        }
        Ok(())
    }
}

/// Whether `b` may appear in an HTTP header name (RFC 9110 `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The error for a body that does not follow the aws-chunked framing.
fn malformed(detail: &str) -> S3Error {
    s3_error!(
        InvalidRequest,
        "The aws-chunked request body is malformed: {detail}"
    )
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
