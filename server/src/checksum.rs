//! Object checksums as S3 defines them: CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 of the whole
//! object, carried as base64 of the big-endian digest in `x-amz-checksum-*` headers or trailers.

use base64::Engine as _;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha1::Digest as _;

use crate::error::{S3Error, S3Result};
use crate::s3_error;

pub use strata_storage::{ChecksumAlgorithm, ChecksumType};

/// What the protocol layer adds to the engine's [`ChecksumAlgorithm`]: its header and its hasher.
pub trait ChecksumAlgorithmExt: Sized {
    /// The header carrying this checksum.
    fn header(self) -> &'static str;

    /// Parses a header name such as `x-amz-checksum-crc32` (case-insensitive).
    fn from_header(name: &str) -> Option<Self>;

    /// A fresh hasher.
    fn hasher(self) -> ChecksumHasher;
}

impl ChecksumAlgorithmExt for ChecksumAlgorithm {
    fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn from_header(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|a| a.header().eq_ignore_ascii_case(name))
    }

    fn hasher(self) -> ChecksumHasher {
        match self {
            Self::Crc32 => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            Self::Crc32c => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            Self::Crc64Nvme => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            Self::Sha1 => ChecksumHasher::Sha1(sha1::Sha1::new()),
            Self::Sha256 => ChecksumHasher::Sha256(sha2::Sha256::new()),
        }
    }
}

/// The checksum type a multipart upload gets when CreateMultipartUpload names none: CRC64NVME
/// can only be a full-object checksum, the others default to composite (as S3 does).
pub fn default_multipart_type(alg: ChecksumAlgorithm) -> ChecksumType {
    if alg == ChecksumAlgorithm::Crc64Nvme {
        ChecksumType::FullObject
    } else {
        ChecksumType::Composite
    }
}

/// Whether S3 allows a multipart upload's checksum of this algorithm and type: CRC64NVME is
/// never composite, and the SHAs cannot be combined into a full-object checksum.
pub fn multipart_type_allowed(alg: ChecksumAlgorithm, t: ChecksumType) -> bool {
    match t {
        ChecksumType::Composite => alg != ChecksumAlgorithm::Crc64Nvme,
        ChecksumType::FullObject => alg.combines(),
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
    fn headers_name_each_algorithm_once() {
        for &alg in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::from_header(alg.header()), Some(alg));
            assert_eq!(
                alg.header(),
                format!("x-amz-checksum-{}", alg.as_str().to_ascii_lowercase())
            );
        }
        assert_eq!(ChecksumAlgorithm::from_header("x-amz-checksum-md5"), None);
    }

    #[test]
    fn multipart_checksum_types() {
        use ChecksumAlgorithm::*;
        assert_eq!(default_multipart_type(Crc64Nvme), ChecksumType::FullObject);
        assert_eq!(default_multipart_type(Sha256), ChecksumType::Composite);
        assert!(!multipart_type_allowed(Crc64Nvme, ChecksumType::Composite));
        assert!(!multipart_type_allowed(Sha1, ChecksumType::FullObject));
        assert!(multipart_type_allowed(Crc32c, ChecksumType::FullObject));
        assert!(multipart_type_allowed(Crc32, ChecksumType::Composite));
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
