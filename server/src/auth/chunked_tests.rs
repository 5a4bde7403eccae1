//! Unit tests of `chunked`.
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
const DOC_FIRST_CHUNK: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";

fn doc_signing() -> ChunkSigning {
    ChunkSigning {
        signing_key: super::super::sigv4::signing_key(DOC_SECRET, "20130524", "us-east-1").unwrap(),
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
    let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
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

// Issue 14: a signed aws-chunked body with chunks under 8 KiB before its last was accepted.
#[test]
fn signed_chunks_before_the_last_are_at_least_8_kib() {
    let small = vec![b'a'; 8191];
    let (body, _) = oracle_body(&[&small, b"tail"], None);
    let err = decode_whole(signed_mode(false, None), &body).unwrap_err();
    assert_eq!(err.code, S3ErrorCode::InvalidChunkSizeError);
    assert_eq!(
        code(decode_bytewise(signed_mode(false, None), &body)),
        S3ErrorCode::InvalidChunkSizeError
    );
    // 8 KiB chunks and a short last one are fine, and so is a body of one short chunk.
    let exact = vec![b'a'; 8192];
    let (body, _) = oracle_body(&[&exact, &exact, b"tail"], None);
    let (out, _) = decode_whole(signed_mode(false, None), &body).unwrap();
    assert_eq!(out.len(), 2 * 8192 + 4);
    let (body, _) = oracle_body(&[b"hello"], None);
    assert!(decode_whole(signed_mode(false, None), &body).is_ok());
    // Unsigned streaming bodies may have chunks of any size.
    let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    assert!(decode_whole(unsigned_trailer_mode(), body).is_ok());
}
