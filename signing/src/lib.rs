//! AWS request signing for Strata: SigV4 signing of requests (for the load generator and remote
//! replication) and the primitives that the server's verification shares with it (canonical URI,
//! query and request, string to sign, the signing key and its cache, chunk and trailer signatures,
//! SigV2's string-to-sign pieces, constant-time comparison, the request date formats).
//!
//! Invariant: the signer and the verifier build canonical forms with the same functions, so what
//! one signs the other checks byte for byte. No HTTP framework types: plain strings and bytes.

pub mod chunk;
pub mod date;
pub mod encoding;
pub mod sigv2;
pub mod sigv4;

pub use date::{format_amz_date, format_iso8601, parse_amz_date, parse_http_date};
pub use encoding::{encode_path, encode_query, percent_decode, uri_encode_into, RawPair, RawQuery};
pub use sigv4::{signing_key, Signature, Signer, EMPTY_SHA256, UNSIGNED_PAYLOAD};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An HMAC key was refused (HMAC takes keys of any length, so this does not happen in practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyError;

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid HMAC key length")
    }
}

impl std::error::Error for KeyError {}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32], KeyError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| KeyError)?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}
