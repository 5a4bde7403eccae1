//! Object checksums as S3 defines them: CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 of the whole
//! object, carried as base64 of the big-endian digest in `x-amz-checksum-*` headers or trailers.

use base64::Engine as _;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha1::Digest as _;

use crate::error::{S3Error, S3Result};
use crate::s3_error;

/// A checksum algorithm S3 supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC), as zlib.
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in header-lookup order.
    pub const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The name S3 uses (`x-amz-checksum-algorithm`, `ChecksumAlgorithm`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The header carrying this checksum.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Parses an algorithm name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Parses a header name such as `x-amz-checksum-crc32`.
    pub fn from_header(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(name))
    }

    /// Length in bytes of the digest.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// A fresh hasher.
    pub fn hasher(self) -> ChecksumHasher {
        match self {
            Self::Crc32 => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            Self::Crc32c => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            Self::Crc64Nvme => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            Self::Sha1 => ChecksumHasher::Sha1(sha1::Sha1::new()),
            Self::Sha256 => ChecksumHasher::Sha256(sha2::Sha256::new()),
        }
    }
}

/// An in-progress checksum.
pub enum ChecksumHasher {
    /// One of the CRCs.
    Crc(ChecksumAlgorithm, CrcDigest),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl ChecksumHasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc(_, d) => d.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    /// The base64 of the big-endian digest.
    pub fn finish_base64(self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        match self {
            Self::Crc(a, d) => {
                let v = d.finalize();
                if a == ChecksumAlgorithm::Crc64Nvme {
                    b64.encode(v.to_be_bytes())
                } else {
                    b64.encode((v as u32).to_be_bytes())
                }
            }
            Self::Sha1(h) => b64.encode(h.finalize()),
            Self::Sha256(h) => b64.encode(h.finalize()),
        }
    }
}

/// The composite checksum of a multipart object: the checksum of the concatenated binary part
/// checksums, then `-N`.
pub fn composite(alg: ChecksumAlgorithm, part_values: &[String]) -> S3Result<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut h = alg.hasher();
    for v in part_values {
        let raw = b64.decode(v.trim()).map_err(|_| invalid_checksum(alg))?;
        h.update(&raw);
    }
    Ok(format!("{}-{}", h.finish_base64(), part_values.len()))
}

/// The full-object CRC of a multipart object, combined from its parts' CRCs and sizes. None for
/// the SHA algorithms, which cannot be combined.
pub fn combine_full_object(
    alg: ChecksumAlgorithm,
    parts: &[(String, u64)],
) -> S3Result<Option<String>> {
    let crc = match alg {
        ChecksumAlgorithm::Crc32 => CrcAlgorithm::Crc32IsoHdlc,
        ChecksumAlgorithm::Crc32c => CrcAlgorithm::Crc32Iscsi,
        ChecksumAlgorithm::Crc64Nvme => CrcAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return Ok(None),
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut acc: Option<u64> = None;
    for (value, len) in parts {
        let raw = b64
            .decode(value.trim())
            .map_err(|_| invalid_checksum(alg))?;
        let v = match raw.len() {
            4 => u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as u64,
            8 => u64::from_be_bytes([
                raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
            ]),
            _ => return Err(invalid_checksum(alg)),
        };
        acc = Some(match acc {
            None => v,
            Some(a) => crc_fast::checksum_combine(crc, a, v, *len),
        });
    }
    Ok(acc.map(|v| {
        if alg == ChecksumAlgorithm::Crc64Nvme {
            b64.encode(v.to_be_bytes())
        } else {
            b64.encode((v as u32).to_be_bytes())
        }
    }))
}

/// Checks that a client-supplied checksum value is well-formed base64 of the right length.
pub fn validate_value(alg: ChecksumAlgorithm, value: &str) -> S3Result<()> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| invalid_checksum(alg))?;
    if decoded.len() != alg.digest_len() {
        return Err(invalid_checksum(alg));
    }
    Ok(())
}

fn invalid_checksum(alg: ChecksumAlgorithm) -> S3Error {
    s3_error!(
        InvalidRequest,
        "Value for {} header is invalid.",
        alg.header()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(alg: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = alg.hasher();
        h.update(data);
        h.finish_base64()
    }

    #[test]
    fn known_vectors() {
        // Values the AWS SDKs compute for "Hello world".
        assert_eq!(digest(ChecksumAlgorithm::Crc32, b"Hello world"), "i9aeUg==");
        assert_eq!(
            digest(ChecksumAlgorithm::Crc32c, b"Hello world"),
            "crUfeA=="
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Crc64Nvme, b"Hello world"),
            "OOJZ0D8xKts="
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Sha1, b"Hello world"),
            "e1AsOh9IyGCa4hLN+2Od7jlnP14="
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Sha256, b"Hello world"),
            "ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw="
        );
    }

    #[test]
    fn multipart_checksums() {
        let parts = [b"Hello ".as_slice(), b"world".as_slice()];
        let values: Vec<String> = parts
            .iter()
            .map(|p| digest(ChecksumAlgorithm::Crc32, p))
            .collect();
        let with_len: Vec<(String, u64)> = values
            .iter()
            .cloned()
            .zip(parts.iter().map(|p| p.len() as u64))
            .collect();
        assert_eq!(
            combine_full_object(ChecksumAlgorithm::Crc32, &with_len).unwrap(),
            Some(digest(ChecksumAlgorithm::Crc32, b"Hello world"))
        );
        let c64: Vec<(String, u64)> = parts
            .iter()
            .map(|p| (digest(ChecksumAlgorithm::Crc64Nvme, p), p.len() as u64))
            .collect();
        assert_eq!(
            combine_full_object(ChecksumAlgorithm::Crc64Nvme, &c64).unwrap(),
            Some(digest(ChecksumAlgorithm::Crc64Nvme, b"Hello world"))
        );
        let comp = composite(
            ChecksumAlgorithm::Sha256,
            &[digest(ChecksumAlgorithm::Sha256, b"a")],
        )
        .unwrap();
        assert!(comp.ends_with("-1"));
        assert_eq!(
            combine_full_object(ChecksumAlgorithm::Sha1, &c64).unwrap(),
            None
        );
    }

    #[test]
    fn validates_encoded_values() {
        assert!(validate_value(ChecksumAlgorithm::Crc32, "i9aeUg==").is_ok());
        assert!(validate_value(ChecksumAlgorithm::Crc32, "not base64!").is_err());
        assert!(validate_value(ChecksumAlgorithm::Sha256, "i9aeUg==").is_err());
        assert_eq!(
            ChecksumAlgorithm::from_header("X-Amz-Checksum-Crc64nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
    }
}
