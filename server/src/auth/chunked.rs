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
}

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
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;
    use aws_credential_types::Credentials;
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    use aws_smithy_runtime_api::http::Headers;
    use proptest::prelude::*;

    // The AWS example ("sigv4-streaming", Example: PUT Object).
    const DOC_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const DOC_DATE: &str = "20130524T000000Z";
    const DOC_SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
    const DOC_SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const DOC_FIRST_CHUNK: &str =
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";

    fn doc_signing() -> ChunkSigning {
        ChunkSigning {
            signing_key: super::super::sigv4::signing_key(DOC_SECRET, "20130524", "us-east-1")
                .unwrap(),
            amz_date: DOC_DATE.to_owned(),
            scope: DOC_SCOPE.to_owned(),
            seed_signature: DOC_SEED.to_owned(),
        }
    }

    fn signed_mode(trailer: bool, decoded_length: Option<u64>) -> ChunkedMode {
        ChunkedMode {
            signing: Some(doc_signing()),
            trailer,
            decoded_length,
        }
    }

    fn unsigned_trailer_mode() -> ChunkedMode {
        ChunkedMode {
            signing: None,
            trailer: true,
            decoded_length: None,
        }
    }

    /// Signs chunks and trailers with the official signer (the oracle) into an aws-chunked body.
    fn oracle_body(chunks: &[&[u8]], trailers: Option<&[(&str, &str)]>) -> (Vec<u8>, Vec<String>) {
        let identity: Identity =
            Credentials::new("AKIAIOSFODNN7EXAMPLE", DOC_SECRET, None, None, "test").into();
        let time =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
        let params = v4::SigningParams::<()>::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(time)
            .settings(())
            .build()
            .unwrap();
        let mut previous = DOC_SEED.to_owned();
        let mut signatures = Vec::new();
        let mut body = Vec::new();
        for chunk in chunks.iter().copied().chain(std::iter::once(&b""[..])) {
            let bytes = bytes::Bytes::copy_from_slice(chunk);
            let (_, signature) = v4::sign_chunk(&bytes, &previous, &params)
                .unwrap()
                .into_parts();
            body.extend_from_slice(
                format!("{:x};chunk-signature={signature}\r\n", chunk.len()).as_bytes(),
            );
            if !chunk.is_empty() {
                body.extend_from_slice(chunk);
                body.extend_from_slice(b"\r\n");
            }
            signatures.push(signature.clone());
            previous = signature;
        }
        if let Some(trailers) = trailers {
            let mut headers = Headers::new();
            for (name, value) in trailers {
                body.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
                headers.insert(name.to_string(), value.to_string());
            }
            let (_, signature) = v4::sign_trailer(&headers, &previous, &params)
                .unwrap()
                .into_parts();
            body.extend_from_slice(format!("x-amz-trailer-signature:{signature}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        (body, signatures)
    }

    /// Decoded payload and trailers.
    type Decoded = (Vec<u8>, Vec<(String, String)>);

    fn decode_whole(mode: ChunkedMode, body: &[u8]) -> S3Result<Decoded> {
        let mut decoder = ChunkedDecoder::new(mode);
        let mut out = Vec::new();
        decoder.feed(body, &mut out)?;
        Ok((out, decoder.finish()?))
    }

    fn decode_bytewise(mode: ChunkedMode, body: &[u8]) -> S3Result<Decoded> {
        let mut decoder = ChunkedDecoder::new(mode);
        let mut out = Vec::new();
        for b in body {
            decoder.feed(std::slice::from_ref(b), &mut out)?;
        }
        Ok((out, decoder.finish()?))
    }

    fn code(result: S3Result<Decoded>) -> S3ErrorCode {
        result.expect_err("must fail").code
    }

    #[test]
    fn aws_documented_signed_upload_decodes() {
        let first = vec![b'a'; 65536];
        let second = vec![b'a'; 1024];
        let (body, signatures) = oracle_body(&[&first, &second], None);
        // The signatures the AWS documentation lists for this upload.
        assert_eq!(signatures[0], DOC_FIRST_CHUNK);
        assert_eq!(
            signatures[1],
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        assert_eq!(
            signatures[2],
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
        // The documented Content-Length of the encoded body.
        assert_eq!(body.len(), 66824);

        let (out, trailers) = decode_whole(signed_mode(false, Some(66560)), &body).unwrap();
        assert_eq!(out, vec![b'a'; 66560]);
        assert!(trailers.is_empty());

        let (out, _) = decode_bytewise(signed_mode(false, Some(66560)), &body).unwrap();
        assert_eq!(out, vec![b'a'; 66560]);
    }

    #[test]
    fn documented_first_chunk_signature_verifies_without_the_oracle() {
        let mut body = format!("10000;chunk-signature={DOC_FIRST_CHUNK}\r\n").into_bytes();
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(b"\r\n");
        let mut decoder = ChunkedDecoder::new(signed_mode(false, None));
        let mut out = Vec::new();
        decoder.feed(&body, &mut out).unwrap();
        assert_eq!(out.len(), 65536);
        // The body is incomplete: no final chunk yet.
        assert_eq!(
            decoder.finish().unwrap_err().code,
            S3ErrorCode::IncompleteBody
        );
    }

    #[test]
    fn every_chunk_signature_is_checked_including_the_final_one() {
        let (body, signatures) = oracle_body(&[b"hello world"], None);
        for signature in &signatures {
            let position = body
                .windows(64)
                .position(|w| w == signature.as_bytes())
                .unwrap();
            let mut tampered = body.clone();
            tampered[position] = if tampered[position] == b'0' {
                b'1'
            } else {
                b'0'
            };
            assert_eq!(
                code(decode_whole(signed_mode(false, None), &tampered)),
                S3ErrorCode::SignatureDoesNotMatch
            );
        }
        // A changed data byte breaks its chunk's signature.
        let mut tampered = body.clone();
        let position = body.windows(5).position(|w| w == b"hello").unwrap();
        tampered[position] = b'j';
        assert_eq!(
            code(decode_whole(signed_mode(false, None), &tampered)),
            S3ErrorCode::SignatureDoesNotMatch
        );
        // A different seed (another request's signature) breaks the chain.
        let mut mode = signed_mode(false, None);
        if let Some(signing) = mode.signing.as_mut() {
            signing.seed_signature = "0".repeat(64);
        }
        assert_eq!(
            code(decode_whole(mode, &body)),
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn signed_chunks_need_a_signature() {
        let body = b"5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(
            code(decode_whole(signed_mode(false, None), body)),
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn signed_trailer_verifies_and_is_returned() {
        let trailers = [("x-amz-checksum-crc32", "DUoRhQ==")];
        let (body, _) = oracle_body(&[b"hello world"], Some(&trailers));
        let (out, got) = decode_whole(signed_mode(true, Some(11)), &body).unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(
            got,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
        let (_, got) = decode_bytewise(signed_mode(true, Some(11)), &body).unwrap();
        assert_eq!(got.len(), 1);

        // A changed trailer value no longer matches the trailer signature.
        let text = String::from_utf8(body.clone()).unwrap();
        let tampered = text.replace("DUoRhQ==", "DUoRhA==");
        assert_eq!(
            code(decode_whole(signed_mode(true, None), tampered.as_bytes())),
            S3ErrorCode::SignatureDoesNotMatch
        );
        // So does a missing trailer signature.
        let start = text.find("x-amz-trailer-signature").unwrap();
        let stripped = format!("{}\r\n", &text[..start]);
        assert_eq!(
            code(decode_whole(signed_mode(true, None), stripped.as_bytes())),
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn unsigned_trailer_bodies_decode() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (out, trailers) = decode_whole(unsigned_trailer_mode(), body).unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
        let (out, again) = decode_bytewise(unsigned_trailer_mode(), body).unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(again, trailers);
    }

    #[test]
    fn trailer_lines_may_end_with_a_bare_newline() {
        for body in [
            &b"5\r\nhello\r\n0\r\nX-Amz-Checksum-CRC32 :  DUoRhQ== \n\n"[..],
            &b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\n\r\n"[..],
            &b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n\r\n"[..],
        ] {
            let (out, trailers) = decode_whole(unsigned_trailer_mode(), body).unwrap();
            assert_eq!(out, b"hello");
            assert_eq!(
                trailers,
                vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
            );
        }
    }

    #[test]
    fn truncated_bodies_are_incomplete() {
        let body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for cut in 0..body.len() - 1 {
            let result = decode_whole(unsigned_trailer_mode(), &body[..cut]);
            assert_eq!(code(result), S3ErrorCode::IncompleteBody, "cut at {cut}");
        }
        let (signed, _) = oracle_body(&[b"hello"], None);
        // Only the final empty line may be missing (nothing of the payload is lost then).
        for cut in 0..signed.len() - 2 {
            let result = decode_whole(signed_mode(false, None), &signed[..cut]);
            assert_eq!(code(result), S3ErrorCode::IncompleteBody, "cut at {cut}");
        }
        assert!(decode_whole(signed_mode(false, None), &signed[..signed.len() - 2]).is_ok());
    }

    #[test]
    fn decoded_length_must_match() {
        let body = b"5\r\nhello\r\n0\r\n\r\n";
        let mode = |n| ChunkedMode {
            signing: None,
            trailer: true,
            decoded_length: Some(n),
        };
        assert!(decode_whole(mode(5), body).is_ok());
        assert_eq!(
            code(decode_whole(mode(6), body)),
            S3ErrorCode::IncompleteBody
        );
        assert_eq!(
            code(decode_whole(mode(4), body)),
            S3ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn hostile_inputs_are_rejected() {
        let long_header = vec![b'1'; MAX_CHUNK_HEADER + 1];
        let many_trailers = format!("0\r\n{}\r\n", "a:b\r\n".repeat(MAX_TRAILER_LINES + 1));
        let big_trailer = format!("0\r\nx:{}\r\n\r\n", "v".repeat(MAX_TRAILER_BYTES));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("header line without end", long_header),
            ("17 hex digits", b"10000000000000000\r\n".to_vec()),
            ("chunk over 5 GiB", b"140000001\r\n".to_vec()),
            ("size not hex", b"xyz\r\n".to_vec()),
            ("negative size", b"-5\r\nhello\r\n".to_vec()),
            ("empty header", b"\r\n".to_vec()),
            ("no CRLF after data", b"5\r\nhelloXX0\r\n\r\n".to_vec()),
            ("too many trailer lines", many_trailers.into_bytes()),
            ("trailer section too large", big_trailer.into_bytes()),
            ("trailer without colon", b"0\r\nnocolon\r\n\r\n".to_vec()),
            ("bad trailer name", b"0\r\nbad name:v\r\n\r\n".to_vec()),
            ("data after the end", b"0\r\n\r\ngarbage".to_vec()),
            ("non-UTF-8 header", b"5\xff\r\nhello\r\n".to_vec()),
        ];
        for (what, body) in cases {
            let result = decode_whole(unsigned_trailer_mode(), &body);
            let err = result.expect_err(what);
            assert!(
                matches!(
                    err.code,
                    S3ErrorCode::InvalidRequest | S3ErrorCode::IncompleteBody
                ),
                "{what}: {err}"
            );
        }
        // Trailers in a mode that declares none.
        let (signed, _) = oracle_body(&[b"hello"], None);
        let text = String::from_utf8(signed).unwrap();
        let with_trailer = format!(
            "{}x-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            &text[..text.len() - 2]
        );
        assert_eq!(
            code(decode_whole(
                signed_mode(false, None),
                with_trailer.as_bytes()
            )),
            S3ErrorCode::InvalidRequest
        );
        // Malformed chunk-signature.
        assert_eq!(
            code(decode_whole(
                signed_mode(false, None),
                b"5;chunk-signature=zz\r\nhello\r\n"
            )),
            S3ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_rejected_body_stays_rejected() {
        let mut decoder = ChunkedDecoder::new(unsigned_trailer_mode());
        let mut out = Vec::new();
        assert!(decoder.feed(b"zz\r\n", &mut out).is_err());
        assert!(decoder.feed(b"0\r\n\r\n", &mut out).is_err());
        assert!(decoder.finish().is_err());
    }

    /// A valid unsigned-trailer body of `data` cut into chunks of `sizes`.
    fn unsigned_body(data: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut rest = data;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).clamp(1, rest.len());
            body.extend_from_slice(format!("{n:X}\r\n").as_bytes());
            body.extend_from_slice(&rest[..n]);
            body.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        body.extend_from_slice(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        body
    }

    proptest! {
        #[test]
        fn random_input_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            pieces in proptest::collection::vec(1usize..50, 1..20),
            signed in any::<bool>(),
        ) {
            let mode = if signed { signed_mode(true, None) } else { unsigned_trailer_mode() };
            let mut decoder = ChunkedDecoder::new(mode);
            let mut out = Vec::new();
            let mut rest = &body[..];
            let mut pieces = pieces.iter().cycle();
            while !rest.is_empty() {
                let n = (*pieces.next().unwrap()).min(rest.len());
                let _ = decoder.feed(&rest[..n], &mut out);
                rest = &rest[n..];
            }
            let _ = decoder.finish();
        }

        #[test]
        fn random_framing_looking_input_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b"0"[..]), Just(&b"5"[..]),
                    Just(&b"ffffffff"[..]), Just(&b";chunk-signature="[..]), Just(&b"x-amz-trailer-signature:"[..]),
                    Just(&b"hello"[..]), Just(&b":"[..]), Just(&b"a"[..]),
                ],
                0..60,
            ),
            signed in any::<bool>(),
        ) {
            let body: Vec<u8> = parts.concat();
            let mode = if signed { signed_mode(false, None) } else { unsigned_trailer_mode() };
            let _ = decode_whole(mode.clone(), &body);
            let _ = decode_bytewise(mode, &body);
        }

        #[test]
        fn split_points_do_not_change_the_result(
            data in proptest::collection::vec(any::<u8>(), 1..400),
            sizes in proptest::collection::vec(1usize..100, 1..5),
            pieces in proptest::collection::vec(1usize..64, 1..10),
        ) {
            let body = unsigned_body(&data, &sizes);
            let mut decoder = ChunkedDecoder::new(unsigned_trailer_mode());
            let mut out = Vec::new();
            let mut rest = &body[..];
            let mut pieces = pieces.iter().cycle();
            while !rest.is_empty() {
                let n = (*pieces.next().unwrap()).min(rest.len());
                decoder.feed(&rest[..n], &mut out).unwrap();
                rest = &rest[n..];
            }
            let trailers = decoder.finish().unwrap();
            prop_assert_eq!(out, data);
            prop_assert_eq!(trailers.len(), 1);
        }
    }
}
