//! The one S3 error type. Every failure a client can see goes through [`S3Error`], which
//! carries the S3 error code, message and resource and renders S3's XML error document.
//! The code -> HTTP status table is one exhaustive `match`, so a new code cannot go unmapped.

use actix_web::http::StatusCode;

/// S3 error codes Strata returns, named exactly as S3 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorCode {
    AccessDenied,
    InvalidBucketAclWithBlockPublicAccessError,
    MissingSecurityHeader,
    UnexpectedContent,
    AccessForbidden,
    BucketAlreadyExists,
    MalformedPolicy,
    NoSuchBucketPolicy,
    ObjectLockConfigurationNotFoundError,
    NoSuchObjectLockConfiguration,
    AccessControlListNotSupported,
    InvalidBucketAclWithObjectOwnership,
    OwnershipControlsNotFoundError,
    NoSuchPublicAccessBlockConfiguration,
    MalformedACLError,
    UnresolvableGrantByEmailAddress,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    EntityTooSmall,
    IllegalLocationConstraintException,
    IncompleteBody,
    InternalError,
    InvalidAccessKeyId,
    InvalidObjectState,
    InvalidArgument,
    InvalidBucketName,
    InvalidBucketState,
    InvalidDigest,
    InvalidPart,
    InvalidPolicyDocument,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    InvalidStorageClass,
    InvalidTag,
    InvalidURI,
    KeyTooLongError,
    MalformedXML,
    MaxPostPreDataLengthExceededError,
    MalformedPOSTRequest,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchCORSConfiguration,
    NoSuchKey,
    NoSuchLifecycleConfiguration,
    NoSuchTagSet,
    NoSuchUpload,
    NoSuchVersion,
    NotImplemented,
    NotModified,
    PreconditionFailed,
    ReplicationConfigurationNotFoundError,
    RequestHeaderSectionTooLarge,
    RequestTimeout,
    RequestTimeTooSkewed,
    RestoreAlreadyInProgress,
    SignatureDoesNotMatch,
    SlowDown,
    ServiceUnavailable,
    XAmzContentSHA256Mismatch,
    /// A chunk of a signed aws-chunked body other than the last is under 8 KiB.
    InvalidChunkSizeError,
}

impl S3ErrorCode {
    /// The code as it appears in `<Code>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BucketAlreadyExists => "BucketAlreadyExists",
            Self::MalformedPolicy => "MalformedPolicy",
            Self::NoSuchBucketPolicy => "NoSuchBucketPolicy",
            Self::ObjectLockConfigurationNotFoundError => "ObjectLockConfigurationNotFoundError",
            Self::NoSuchObjectLockConfiguration => "NoSuchObjectLockConfiguration",
            Self::AccessControlListNotSupported => "AccessControlListNotSupported",
            Self::InvalidBucketAclWithObjectOwnership => "InvalidBucketAclWithObjectOwnership",
            Self::OwnershipControlsNotFoundError => "OwnershipControlsNotFoundError",
            Self::NoSuchPublicAccessBlockConfiguration => "NoSuchPublicAccessBlockConfiguration",
            Self::MalformedACLError => "MalformedACLError",
            Self::UnresolvableGrantByEmailAddress => "UnresolvableGrantByEmailAddress",
            Self::UnexpectedContent => "UnexpectedContent",
            Self::MissingSecurityHeader => "MissingSecurityHeader",
            Self::InvalidBucketAclWithBlockPublicAccessError => {
                "InvalidBucketAclWithBlockPublicAccessError"
            }
            Self::AccessDenied => "AccessDenied",
            Self::AccessForbidden => "AccessForbidden",
            Self::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            Self::AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            Self::BadDigest => "BadDigest",
            Self::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            Self::BucketNotEmpty => "BucketNotEmpty",
            Self::EntityTooLarge => "EntityTooLarge",
            Self::EntityTooSmall => "EntityTooSmall",
            Self::IllegalLocationConstraintException => "IllegalLocationConstraintException",
            Self::IncompleteBody => "IncompleteBody",
            Self::InternalError => "InternalError",
            Self::InvalidAccessKeyId => "InvalidAccessKeyId",
            Self::InvalidObjectState => "InvalidObjectState",
            Self::InvalidArgument => "InvalidArgument",
            Self::InvalidBucketName => "InvalidBucketName",
            Self::InvalidBucketState => "InvalidBucketState",
            Self::InvalidDigest => "InvalidDigest",
            Self::InvalidPart => "InvalidPart",
            Self::InvalidPolicyDocument => "InvalidPolicyDocument",
            Self::InvalidPartNumber => "InvalidPartNumber",
            Self::InvalidPartOrder => "InvalidPartOrder",
            Self::InvalidRange => "InvalidRange",
            Self::InvalidRequest => "InvalidRequest",
            Self::InvalidStorageClass => "InvalidStorageClass",
            Self::InvalidTag => "InvalidTag",
            Self::InvalidURI => "InvalidURI",
            Self::KeyTooLongError => "KeyTooLongError",
            Self::MalformedXML => "MalformedXML",
            Self::MaxPostPreDataLengthExceededError => "MaxPostPreDataLengthExceededError",
            Self::MalformedPOSTRequest => "MalformedPOSTRequest",
            Self::MetadataTooLarge => "MetadataTooLarge",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::MissingContentLength => "MissingContentLength",
            Self::NoSuchBucket => "NoSuchBucket",
            Self::NoSuchCORSConfiguration => "NoSuchCORSConfiguration",
            Self::NoSuchKey => "NoSuchKey",
            Self::NoSuchLifecycleConfiguration => "NoSuchLifecycleConfiguration",
            Self::NoSuchTagSet => "NoSuchTagSet",
            Self::NoSuchUpload => "NoSuchUpload",
            Self::NoSuchVersion => "NoSuchVersion",
            Self::NotImplemented => "NotImplemented",
            Self::NotModified => "NotModified",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::ReplicationConfigurationNotFoundError => "ReplicationConfigurationNotFoundError",
            Self::RequestHeaderSectionTooLarge => "RequestHeaderSectionTooLarge",
            Self::RequestTimeout => "RequestTimeout",
            Self::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Self::RestoreAlreadyInProgress => "RestoreAlreadyInProgress",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::SlowDown => "SlowDown",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Self::InvalidChunkSizeError => "InvalidChunkSizeError",
        }
    }

    /// The HTTP status S3 answers with for this code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::NotModified => StatusCode::NOT_MODIFIED,
            Self::InvalidBucketAclWithBlockPublicAccessError => StatusCode::BAD_REQUEST,
            Self::MissingSecurityHeader => StatusCode::BAD_REQUEST,
            Self::UnexpectedContent => StatusCode::BAD_REQUEST,
            Self::BucketAlreadyExists => StatusCode::CONFLICT,
            Self::MalformedPolicy => StatusCode::BAD_REQUEST,
            Self::NoSuchBucketPolicy => StatusCode::NOT_FOUND,
            Self::ObjectLockConfigurationNotFoundError => StatusCode::NOT_FOUND,
            Self::NoSuchObjectLockConfiguration => StatusCode::NOT_FOUND,
            Self::AccessControlListNotSupported => StatusCode::BAD_REQUEST,
            Self::InvalidBucketAclWithObjectOwnership => StatusCode::BAD_REQUEST,
            Self::OwnershipControlsNotFoundError => StatusCode::NOT_FOUND,
            Self::NoSuchPublicAccessBlockConfiguration => StatusCode::NOT_FOUND,
            Self::MalformedACLError => StatusCode::BAD_REQUEST,
            Self::UnresolvableGrantByEmailAddress => StatusCode::BAD_REQUEST,
            Self::AuthorizationHeaderMalformed
            | Self::AuthorizationQueryParametersError
            | Self::BadDigest
            | Self::EntityTooLarge
            | Self::EntityTooSmall
            | Self::IllegalLocationConstraintException
            | Self::IncompleteBody
            | Self::InvalidArgument
            | Self::InvalidBucketName
            | Self::InvalidDigest
            | Self::InvalidPart
            | Self::InvalidPolicyDocument
            | Self::InvalidPartOrder
            | Self::InvalidRequest
            | Self::InvalidStorageClass
            | Self::InvalidTag
            | Self::InvalidURI
            | Self::KeyTooLongError
            | Self::MalformedXML
            | Self::MaxPostPreDataLengthExceededError
            | Self::MalformedPOSTRequest
            | Self::MetadataTooLarge
            | Self::RequestHeaderSectionTooLarge
            | Self::RequestTimeout
            | Self::XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
            Self::AccessDenied
            | Self::AccessForbidden
            | Self::InvalidAccessKeyId
            | Self::InvalidChunkSizeError
            | Self::InvalidObjectState
            | Self::RequestTimeTooSkewed
            | Self::SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            Self::NoSuchBucket
            | Self::NoSuchCORSConfiguration
            | Self::NoSuchKey
            | Self::NoSuchLifecycleConfiguration
            | Self::NoSuchTagSet
            | Self::NoSuchUpload
            | Self::NoSuchVersion
            | Self::ReplicationConfigurationNotFoundError => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BucketAlreadyOwnedByYou
            | Self::BucketNotEmpty
            | Self::InvalidBucketState
            | Self::RestoreAlreadyInProgress => StatusCode::CONFLICT,
            Self::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::InvalidRange | Self::InvalidPartNumber => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::SlowDown | Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An S3 error as the client will see it.
#[derive(Debug, Clone)]
pub struct S3Error {
    /// The S3 error code.
    pub code: S3ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// The resource (`/bucket/key`) the error is about, if known.
    pub resource: Option<String>,
    /// Extra elements rendered inside `<Error>` (e.g. `StringToSign` for signature errors).
    pub extra: Vec<(&'static str, String)>,
    /// Extra response headers (e.g. `Content-Range` on 416, `x-amz-delete-marker`).
    pub headers: Vec<(&'static str, String)>,
    /// What went wrong inside the server: logged with the request id when the response is
    /// rendered, never sent to the client.
    pub detail: Option<Box<str>>,
}

impl S3Error {
    /// A new error with a message.
    pub fn new(code: S3ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            resource: None,
            extra: Vec::new(),
            headers: Vec::new(),
            detail: None,
        }
    }

    /// Adds an element to the XML document.
    pub fn with_extra(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// An internal error: the detail is logged, the client sees a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let mut err = Self::new(
            S3ErrorCode::InternalError,
            "We encountered an internal error. Please try again.",
        );
        err.detail = Some(detail.to_string().into_boxed_str());
        err
    }

    /// The S3 XML error document.
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut s = String::with_capacity(256);
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        s.push_str(self.code.as_str());
        s.push_str("</Code><Message>");
        s.push_str(&xml_escape(&self.message));
        s.push_str("</Message>");
        for (name, value) in &self.extra {
            s.push('<');
            s.push_str(name);
            s.push('>');
            s.push_str(&xml_escape(value));
            s.push_str("</");
            s.push_str(name);
            s.push('>');
        }
        if let Some(resource) = &self.resource {
            s.push_str("<Resource>");
            s.push_str(&xml_escape(resource));
            s.push_str("</Resource>");
        }
        s.push_str("<RequestId>");
        s.push_str(request_id);
        s.push_str("</RequestId></Error>");
        s
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}

/// Builds an [`S3Error`] in one short line: `s3_error!(NoSuchKey, "The specified key does not exist.")`.
#[macro_export]
macro_rules! s3_error {
    ($code:ident) => {
        $crate::error::S3Error::new($crate::error::S3ErrorCode::$code, stringify!($code))
    };
    ($code:ident, $($arg:tt)+) => {
        $crate::error::S3Error::new($crate::error::S3ErrorCode::$code, format!($($arg)+))
    };
}

/// Escapes text for an XML element body or attribute.
pub fn xml_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['<', '>', '&', '"', '\'']) && !s.chars().any(|c| c.is_control()) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl From<strata_storage::Error> for S3Error {
    /// The one place where storage-engine errors become S3 error codes.
    fn from(e: strata_storage::Error) -> Self {
        use strata_storage::Error as E;
        match e {
            E::NoSuchBucket(b) => Self::new(
                S3ErrorCode::NoSuchBucket,
                "The specified bucket does not exist",
            )
            .with_extra("BucketName", b),
            E::BucketAlreadyExists(b) => Self::new(
                S3ErrorCode::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
            .with_extra("BucketName", b),
            E::BucketNotEmpty(b) => Self::new(
                S3ErrorCode::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            )
            .with_extra("BucketName", b),
            E::NoSuchKey(k) => Self::new(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
                .with_extra("Key", k),
            E::NoSuchUpload(u) => Self::new(
                S3ErrorCode::NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            )
            .with_extra("UploadId", u),
            E::PreconditionFailed => Self::new(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ),
            E::ReplicationConfigured => Self::new(
                S3ErrorCode::InvalidBucketState,
                "A replication configuration is present on this bucket, so you cannot change the versioning state. To change the versioning state, first delete the replication configuration.",
            ),
            E::ObjectLockEnabled => Self::new(
                S3ErrorCode::InvalidBucketState,
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
            ),
            E::VersioningNotEnabled => Self::new(
                S3ErrorCode::InvalidBucketState,
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
            ),
            E::ObjectLockNotEnabled => Self::new(
                S3ErrorCode::InvalidRequest,
                "Bucket is missing Object Lock Configuration",
            ),
            // The lock itself (mode, date) is the engine's detail; S3 says only this.
            E::ObjectLocked(_) => Self::new(
                S3ErrorCode::AccessDenied,
                "Access Denied because object protected by object lock.",
            ),
            E::Invalid(m) => Self::new(S3ErrorCode::InvalidArgument, m),
            // S3 has no "disk full" (its capacity never runs out); a write it cannot take now is
            // 503, which every SDK retries with backoff, so a client resumes once space is freed.
            // The response says why; the path and OS error stay in the log.
            E::StorageFull(detail) => {
                tracing::warn!(%detail, "a write failed: the data file system is full");
                Self::new(
                    S3ErrorCode::ServiceUnavailable,
                    "The server has no space left to store this write; nothing of it was stored. Reads go on; retry once space is freed.",
                )
            }
            // Internal failures (corruption, I/O, a write that kept conflicting): logged, and
            // the client sees only InternalError's generic message.
            other @ (E::Conflict(_)
            | E::Corrupt(_)
            | E::CorruptChunk(_)
            | E::Io(_)
            | E::Db(_)
            | E::InUse(_)
            | E::Unavailable) => Self::internal(other),
        }
    }
}

/// Result alias for request handling.
pub type S3Result<T> = Result<T, S3Error>;

#[cfg(test)]
mod tests {
    use super::*;

    // issue #13: corruption and conflicts reached the client as their internal message.
    #[test]
    fn internal_details_are_kept_for_the_log_only() {
        let corrupt: S3Error = strata_storage::Error::Corrupt("malformed chunk list".into()).into();
        assert_eq!(corrupt.code, S3ErrorCode::InternalError);
        assert_eq!(corrupt.code.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(corrupt
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("malformed")));
        let xml = corrupt.to_xml("REQ");
        assert!(!xml.contains("malformed"), "{xml}");
        assert!(xml.contains("<Code>InternalError</Code>"), "{xml}");
    }

    #[test]
    fn renders_error_document() {
        let mut e = S3Error::new(S3ErrorCode::NoSuchKey, "The specified key does not exist.");
        e.resource = Some("/b/a<b".into());
        let xml = e.to_xml("REQ1");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(xml.contains("<Code>NoSuchKey</Code>"));
        assert!(xml.contains("<Resource>/b/a&lt;b</Resource>"));
        assert!(xml.contains("<RequestId>REQ1</RequestId>"));
        assert_eq!(e.code.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn statuses_follow_s3() {
        assert_eq!(S3ErrorCode::InvalidRange.status().as_u16(), 416);
        assert_eq!(S3ErrorCode::MissingContentLength.status().as_u16(), 411);
        assert_eq!(S3ErrorCode::BucketNotEmpty.status().as_u16(), 409);
        assert_eq!(S3ErrorCode::SignatureDoesNotMatch.status().as_u16(), 403);
        assert_eq!(S3ErrorCode::NotImplemented.status().as_u16(), 501);
    }
}
