//! Signatures of aws-chunked bodies: each chunk's, chained from the request's signature, and the
//! trailer section's (AWS "Signature Calculations for the Authorization Header: Transferring
//! Payload in Multiple Chunks").

use crate::{hmac_sha256, sha256, KeyError};

/// Hex SHA-256 of the empty string (the hash of "no chunk headers" in a chunk's string to sign).
const EMPTY_SHA256_HEX: &str = crate::sigv4::EMPTY_SHA256;

/// The string to sign of one chunk, given the previous signature (hex) and the chunk data's SHA-256.
pub fn chunk_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    data_hash: &[u8],
) -> String {
    format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous_signature}\n{EMPTY_SHA256_HEX}\n{}",
        hex::encode(data_hash)
    )
}

/// The canonical trailers: `name:value\n` each, sorted by name (names lower case, values trimmed).
pub fn canonical_trailers(trailers: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = trailers.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical = String::new();
    for (name, value) in sorted {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical
}

/// The string to sign of the trailer section, chained to the final chunk's signature (hex).
pub fn trailer_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    canonical_trailers: &str,
) -> String {
    format!(
        "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous_signature}\n{}",
        hex::encode(sha256(canonical_trailers.as_bytes()))
    )
}

/// The signature of a chunk or trailer string to sign under the request's signing key.
pub fn sign(signing_key: &[u8; 32], string_to_sign: &str) -> Result<[u8; 32], KeyError> {
    hmac_sha256(signing_key, string_to_sign.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // AWS's example ("sigv4-streaming", Example: PUT Object): the first 64 KiB chunk of 'a's.
    #[test]
    fn documented_first_chunk_signature() {
        let key = crate::signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
        )
        .unwrap();
        let sts = chunk_string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            &crate::sha256(&[b'a'; 65536]),
        );
        assert_eq!(
            hex::encode(sign(&key, &sts).unwrap()),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
    }

    #[test]
    fn trailers_are_sorted() {
        let trailers = vec![
            ("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ];
        assert_eq!(
            canonical_trailers(&trailers),
            "a:1\nx-amz-checksum-crc32:AAAAAA==\n"
        );
    }
}
