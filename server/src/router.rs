//! Classifies a request into one S3 operation, once, from its method, bucket, key, query keys and
//! the one header that changes the operation (`x-amz-copy-source`).
//!
//! Invariant: every request maps to exactly one [`Operation`]; operations Strata does not implement
//! map to [`Operation::Unsupported`] naming the S3 operation, answered `501 NotImplemented`.

/// One S3 operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `GET /`.
    ListBuckets,
    /// `PUT /bucket`.
    CreateBucket,
    /// `HEAD /bucket`.
    HeadBucket,
    /// `DELETE /bucket`.
    DeleteBucket,
    /// `GET /bucket?location`.
    GetBucketLocation,
    /// `GET /bucket`.
    ListObjects,
    /// `GET /bucket?list-type=2`.
    ListObjectsV2,
    /// `POST /bucket?delete`.
    DeleteObjects,
    /// `PUT /bucket/key`.
    PutObject,
    /// `GET /bucket/key`.
    GetObject,
    /// `HEAD /bucket/key`.
    HeadObject,
    /// `DELETE /bucket/key`.
    DeleteObject,
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload,
    /// `PUT /bucket/key?partNumber&uploadId`.
    UploadPart,
    /// `POST /bucket/key?uploadId`.
    CompleteMultipartUpload,
    /// `DELETE /bucket/key?uploadId`.
    AbortMultipartUpload,
    /// `GET /bucket/key?uploadId`.
    ListParts,
    /// `GET /bucket?uploads`.
    ListMultipartUploads,
    /// PutObjectTagging.
    PutObjectTagging,
    /// GetObjectTagging.
    GetObjectTagging,
    /// GetObjectAttributes.
    GetObjectAttributes,
    /// DeleteObjectTagging.
    DeleteObjectTagging,
    /// PutBucketTagging.
    PutBucketTagging,
    /// GetBucketTagging.
    GetBucketTagging,
    /// DeleteBucketTagging.
    DeleteBucketTagging,
    /// CopyObject.
    CopyObject,
    /// UploadPartCopy.
    UploadPartCopy,
    /// PutBucketCors.
    PutBucketCors,
    /// GetBucketCors.
    GetBucketCors,
    /// DeleteBucketCors.
    DeleteBucketCors,
    /// PutBucketVersioning.
    PutBucketVersioning,
    /// GetBucketVersioning.
    GetBucketVersioning,
    /// ListObjectVersions.
    ListObjectVersions,
    /// PutBucketLifecycleConfiguration.
    PutBucketLifecycleConfiguration,
    /// GetBucketLifecycleConfiguration.
    GetBucketLifecycleConfiguration,
    /// DeleteBucketLifecycle.
    DeleteBucketLifecycle,
    /// PutBucketReplication.
    PutBucketReplication,
    /// GetBucketReplication.
    GetBucketReplication,
    /// DeleteBucketReplication.
    DeleteBucketReplication,
    /// RestoreObject.
    RestoreObject,
    /// PutBucketPolicy.
    PutBucketPolicy,
    /// GetBucketPolicy.
    GetBucketPolicy,
    /// DeleteBucketPolicy.
    DeleteBucketPolicy,
    /// GetBucketPolicyStatus.
    GetBucketPolicyStatus,
    /// PutBucketAcl.
    PutBucketAcl,
    /// GetBucketAcl.
    GetBucketAcl,
    /// PutObjectAcl.
    PutObjectAcl,
    /// GetObjectAcl.
    GetObjectAcl,
    /// PutBucketOwnershipControls.
    PutBucketOwnershipControls,
    /// GetBucketOwnershipControls.
    GetBucketOwnershipControls,
    /// DeleteBucketOwnershipControls.
    DeleteBucketOwnershipControls,
    /// PutPublicAccessBlock.
    PutPublicAccessBlock,
    /// GetPublicAccessBlock.
    GetPublicAccessBlock,
    /// DeletePublicAccessBlock.
    DeletePublicAccessBlock,
    /// PutObjectLockConfiguration.
    PutObjectLockConfiguration,
    /// GetObjectLockConfiguration.
    GetObjectLockConfiguration,
    /// PutObjectRetention.
    PutObjectRetention,
    /// GetObjectRetention.
    GetObjectRetention,
    /// PutObjectLegalHold.
    PutObjectLegalHold,
    /// GetObjectLegalHold.
    GetObjectLegalHold,
    /// `POST /bucket` with a form: a browser upload authorised by a policy.
    PostObject,
    /// `OPTIONS`: a CORS preflight.
    PreflightCors,
    /// A known S3 operation Strata does not implement (yet).
    Unsupported(&'static str),
    /// A method S3 does not accept on this resource.
    MethodNotAllowed,
}

impl Operation {
    /// The implemented operation with this S3 name, or `Unsupported(name)`.
    fn from_table(name: &'static str) -> Self {
        match name {
            "PutObjectTagging" => Self::PutObjectTagging,
            "GetObjectTagging" => Self::GetObjectTagging,
            "GetObjectAttributes" => Self::GetObjectAttributes,
            "DeleteObjectTagging" => Self::DeleteObjectTagging,
            "PutBucketTagging" => Self::PutBucketTagging,
            "GetBucketTagging" => Self::GetBucketTagging,
            "DeleteBucketTagging" => Self::DeleteBucketTagging,
            "CopyObject" => Self::CopyObject,
            "UploadPartCopy" => Self::UploadPartCopy,
            "PutBucketCors" => Self::PutBucketCors,
            "GetBucketCors" => Self::GetBucketCors,
            "DeleteBucketCors" => Self::DeleteBucketCors,
            "PutBucketVersioning" => Self::PutBucketVersioning,
            "GetBucketVersioning" => Self::GetBucketVersioning,
            "ListObjectVersions" => Self::ListObjectVersions,
            "PutBucketLifecycleConfiguration" => Self::PutBucketLifecycleConfiguration,
            "GetBucketLifecycleConfiguration" => Self::GetBucketLifecycleConfiguration,
            "DeleteBucketLifecycle" => Self::DeleteBucketLifecycle,
            "PutBucketReplication" => Self::PutBucketReplication,
            "GetBucketReplication" => Self::GetBucketReplication,
            "DeleteBucketReplication" => Self::DeleteBucketReplication,
            "RestoreObject" => Self::RestoreObject,
            "PutBucketPolicy" => Self::PutBucketPolicy,
            "GetBucketPolicy" => Self::GetBucketPolicy,
            "DeleteBucketPolicy" => Self::DeleteBucketPolicy,
            "GetBucketPolicyStatus" => Self::GetBucketPolicyStatus,
            "PutBucketAcl" => Self::PutBucketAcl,
            "GetBucketAcl" => Self::GetBucketAcl,
            "PutObjectAcl" => Self::PutObjectAcl,
            "GetObjectAcl" => Self::GetObjectAcl,
            "PutBucketOwnershipControls" => Self::PutBucketOwnershipControls,
            "GetBucketOwnershipControls" => Self::GetBucketOwnershipControls,
            "DeleteBucketOwnershipControls" => Self::DeleteBucketOwnershipControls,
            "PutPublicAccessBlock" => Self::PutPublicAccessBlock,
            "GetPublicAccessBlock" => Self::GetPublicAccessBlock,
            "DeletePublicAccessBlock" => Self::DeletePublicAccessBlock,
            "PutObjectLockConfiguration" => Self::PutObjectLockConfiguration,
            "GetObjectLockConfiguration" => Self::GetObjectLockConfiguration,
            "PutObjectRetention" => Self::PutObjectRetention,
            "GetObjectRetention" => Self::GetObjectRetention,
            "PutObjectLegalHold" => Self::PutObjectLegalHold,
            "GetObjectLegalHold" => Self::GetObjectLegalHold,
            other => Self::Unsupported(other),
        }
    }

    /// The S3 name of the operation, used in metrics and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::ListBuckets => "ListBuckets",
            Self::CreateBucket => "CreateBucket",
            Self::HeadBucket => "HeadBucket",
            Self::DeleteBucket => "DeleteBucket",
            Self::GetBucketLocation => "GetBucketLocation",
            Self::ListObjects => "ListObjects",
            Self::ListObjectsV2 => "ListObjectsV2",
            Self::DeleteObjects => "DeleteObjects",
            Self::PutObject => "PutObject",
            Self::GetObject => "GetObject",
            Self::HeadObject => "HeadObject",
            Self::DeleteObject => "DeleteObject",
            Self::CreateMultipartUpload => "CreateMultipartUpload",
            Self::UploadPart => "UploadPart",
            Self::CompleteMultipartUpload => "CompleteMultipartUpload",
            Self::AbortMultipartUpload => "AbortMultipartUpload",
            Self::ListParts => "ListParts",
            Self::ListMultipartUploads => "ListMultipartUploads",
            Self::PutObjectTagging => "PutObjectTagging",
            Self::GetObjectTagging => "GetObjectTagging",
            Self::GetObjectAttributes => "GetObjectAttributes",
            Self::DeleteObjectTagging => "DeleteObjectTagging",
            Self::PutBucketTagging => "PutBucketTagging",
            Self::GetBucketTagging => "GetBucketTagging",
            Self::DeleteBucketTagging => "DeleteBucketTagging",
            Self::CopyObject => "CopyObject",
            Self::UploadPartCopy => "UploadPartCopy",
            Self::PutBucketCors => "PutBucketCors",
            Self::GetBucketCors => "GetBucketCors",
            Self::DeleteBucketCors => "DeleteBucketCors",
            Self::PreflightCors => "PreflightCors",
            Self::PutBucketVersioning => "PutBucketVersioning",
            Self::GetBucketVersioning => "GetBucketVersioning",
            Self::ListObjectVersions => "ListObjectVersions",
            Self::PutBucketLifecycleConfiguration => "PutBucketLifecycleConfiguration",
            Self::GetBucketLifecycleConfiguration => "GetBucketLifecycleConfiguration",
            Self::DeleteBucketLifecycle => "DeleteBucketLifecycle",
            Self::PutBucketReplication => "PutBucketReplication",
            Self::GetBucketReplication => "GetBucketReplication",
            Self::DeleteBucketReplication => "DeleteBucketReplication",
            Self::RestoreObject => "RestoreObject",
            Self::PutBucketPolicy => "PutBucketPolicy",
            Self::GetBucketPolicy => "GetBucketPolicy",
            Self::DeleteBucketPolicy => "DeleteBucketPolicy",
            Self::GetBucketPolicyStatus => "GetBucketPolicyStatus",
            Self::PutBucketAcl => "PutBucketAcl",
            Self::GetBucketAcl => "GetBucketAcl",
            Self::PutObjectAcl => "PutObjectAcl",
            Self::GetObjectAcl => "GetObjectAcl",
            Self::PutBucketOwnershipControls => "PutBucketOwnershipControls",
            Self::GetBucketOwnershipControls => "GetBucketOwnershipControls",
            Self::DeleteBucketOwnershipControls => "DeleteBucketOwnershipControls",
            Self::PutPublicAccessBlock => "PutPublicAccessBlock",
            Self::GetPublicAccessBlock => "GetPublicAccessBlock",
            Self::DeletePublicAccessBlock => "DeletePublicAccessBlock",
            Self::PutObjectLockConfiguration => "PutObjectLockConfiguration",
            Self::GetObjectLockConfiguration => "GetObjectLockConfiguration",
            Self::PutObjectRetention => "PutObjectRetention",
            Self::GetObjectRetention => "GetObjectRetention",
            Self::PutObjectLegalHold => "PutObjectLegalHold",
            Self::GetObjectLegalHold => "GetObjectLegalHold",
            Self::PostObject => "PostObject",
            Self::Unsupported(name) => name,
            Self::MethodNotAllowed => "MethodNotAllowed",
        }
    }
}

/// Bucket sub-resources and the operation names they select, per method.
/// (query key, GET, PUT, DELETE, POST)
/// A sub-resource row: (query key, GET/HEAD, PUT, DELETE, POST operation names; empty: not served).
type SubresourceRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const BUCKET_SUBRESOURCES: &[SubresourceRow] = &[
    (
        "accelerate",
        "GetBucketAccelerateConfiguration",
        "PutBucketAccelerateConfiguration",
        "",
        "",
    ),
    ("acl", "GetBucketAcl", "PutBucketAcl", "", ""),
    (
        "analytics",
        "GetBucketAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration",
        "DeleteBucketAnalyticsConfiguration",
        "",
    ),
    (
        "cors",
        "GetBucketCors",
        "PutBucketCors",
        "DeleteBucketCors",
        "",
    ),
    (
        "encryption",
        "GetBucketEncryption",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
        "",
    ),
    (
        "intelligent-tiering",
        "GetBucketIntelligentTieringConfiguration",
        "PutBucketIntelligentTieringConfiguration",
        "DeleteBucketIntelligentTieringConfiguration",
        "",
    ),
    (
        "inventory",
        "GetBucketInventoryConfiguration",
        "PutBucketInventoryConfiguration",
        "DeleteBucketInventoryConfiguration",
        "",
    ),
    (
        "lifecycle",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
        "",
    ),
    ("logging", "GetBucketLogging", "PutBucketLogging", "", ""),
    (
        "metrics",
        "GetBucketMetricsConfiguration",
        "PutBucketMetricsConfiguration",
        "DeleteBucketMetricsConfiguration",
        "",
    ),
    (
        "notification",
        "GetBucketNotificationConfiguration",
        "PutBucketNotificationConfiguration",
        "",
        "",
    ),
    (
        "object-lock",
        "GetObjectLockConfiguration",
        "PutObjectLockConfiguration",
        "",
        "",
    ),
    (
        "ownershipControls",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
        "",
    ),
    (
        "policy",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "",
    ),
    ("policyStatus", "GetBucketPolicyStatus", "", "", ""),
    (
        "publicAccessBlock",
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
        "",
    ),
    (
        "replication",
        "GetBucketReplication",
        "PutBucketReplication",
        "DeleteBucketReplication",
        "",
    ),
    (
        "requestPayment",
        "GetBucketRequestPayment",
        "PutBucketRequestPayment",
        "",
        "",
    ),
    (
        "tagging",
        "GetBucketTagging",
        "PutBucketTagging",
        "DeleteBucketTagging",
        "",
    ),
    ("uploads", "ListMultipartUploads", "", "", ""),
    (
        "versioning",
        "GetBucketVersioning",
        "PutBucketVersioning",
        "",
        "",
    ),
    ("versions", "ListObjectVersions", "", "", ""),
    (
        "website",
        "GetBucketWebsite",
        "PutBucketWebsite",
        "DeleteBucketWebsite",
        "",
    ),
    (
        "metadataTable",
        "GetBucketMetadataTableConfiguration",
        "",
        "DeleteBucketMetadataTableConfiguration",
        "CreateBucketMetadataTableConfiguration",
    ),
];

/// Object sub-resources: (query key, GET, PUT, DELETE, POST).
const OBJECT_SUBRESOURCES: &[SubresourceRow] = &[
    ("acl", "GetObjectAcl", "PutObjectAcl", "", ""),
    ("attributes", "GetObjectAttributes", "", "", ""),
    (
        "legal-hold",
        "GetObjectLegalHold",
        "PutObjectLegalHold",
        "",
        "",
    ),
    ("restore", "", "", "", "RestoreObject"),
    (
        "retention",
        "GetObjectRetention",
        "PutObjectRetention",
        "",
        "",
    ),
    ("select", "", "", "", "SelectObjectContent"),
    (
        "tagging",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "",
    ),
    ("torrent", "GetObjectTorrent", "", "", ""),
    ("uploads", "", "", "", "CreateMultipartUpload"),
];

fn pick(entry: &SubresourceRow, method: &str) -> Option<&'static str> {
    let name = match method {
        "GET" | "HEAD" => entry.1,
        "PUT" => entry.2,
        "DELETE" => entry.3,
        "POST" => entry.4,
        _ => "",
    };
    (!name.is_empty()).then_some(name)
}

/// Classifies a request. `has` tells whether a query parameter is present; `query` gives its value.
pub fn classify(
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    has: impl Fn(&str) -> bool,
    query: impl Fn(&str) -> Option<String>,
    copy_source: bool,
) -> Operation {
    use Operation::*;
    if method == "OPTIONS" {
        return PreflightCors;
    }
    let Some(_bucket) = bucket else {
        return match method {
            "GET" | "HEAD" => ListBuckets,
            _ => MethodNotAllowed,
        };
    };
    match key {
        None => {
            if has("uploads") && matches!(method, "GET" | "HEAD") {
                return ListMultipartUploads;
            }
            for entry in BUCKET_SUBRESOURCES {
                if has(entry.0) {
                    return match pick(entry, method) {
                        Some(name) => Operation::from_table(name),
                        None => MethodNotAllowed,
                    };
                }
            }
            match method {
                "GET" if has("location") => GetBucketLocation,
                "GET" if query("list-type").as_deref() == Some("2") => ListObjectsV2,
                "GET" => ListObjects,
                "HEAD" => HeadBucket,
                "PUT" => CreateBucket,
                "DELETE" => DeleteBucket,
                "POST" if has("delete") => DeleteObjects,
                "POST" => PostObject,
                _ => MethodNotAllowed,
            }
        }
        Some(_) => {
            if has("uploadId") {
                return match method {
                    "PUT" if copy_source => UploadPartCopy,
                    "PUT" => UploadPart,
                    "GET" | "HEAD" => ListParts,
                    "POST" => CompleteMultipartUpload,
                    "DELETE" => AbortMultipartUpload,
                    _ => MethodNotAllowed,
                };
            }
            if has("uploads") && method == "POST" {
                return CreateMultipartUpload;
            }
            for entry in OBJECT_SUBRESOURCES {
                if has(entry.0) {
                    return match pick(entry, method) {
                        Some(name) => Operation::from_table(name),
                        None => MethodNotAllowed,
                    };
                }
            }
            match method {
                "PUT" if copy_source => CopyObject,
                "PUT" => PutObject,
                "GET" => GetObject,
                "HEAD" => HeadObject,
                "DELETE" => DeleteObject,
                _ => MethodNotAllowed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        method: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        q: &[(&str, &str)],
        copy: bool,
    ) -> Operation {
        let q: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        classify(
            method,
            bucket,
            key,
            |k| q.iter().any(|(n, _)| n == k),
            |k| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            copy,
        )
    }

    #[test]
    fn service_and_bucket_rows() {
        use Operation::*;
        assert_eq!(op("GET", None, None, &[], false), ListBuckets);
        assert_eq!(op("PUT", None, None, &[], false), MethodNotAllowed);
        assert_eq!(op("PUT", Some("b"), None, &[], false), CreateBucket);
        assert_eq!(op("HEAD", Some("b"), None, &[], false), HeadBucket);
        assert_eq!(op("DELETE", Some("b"), None, &[], false), DeleteBucket);
        assert_eq!(
            op("GET", Some("b"), None, &[("location", "")], false),
            GetBucketLocation
        );
        assert_eq!(op("GET", Some("b"), None, &[], false), ListObjects);
        assert_eq!(
            op("GET", Some("b"), None, &[("list-type", "2")], false),
            ListObjectsV2
        );
        assert_eq!(
            op("POST", Some("b"), None, &[("delete", "")], false),
            DeleteObjects
        );
        assert_eq!(
            op("GET", Some("b"), None, &[("versioning", "")], false),
            GetBucketVersioning
        );
        assert_eq!(
            op("DELETE", Some("b"), None, &[("lifecycle", "")], false),
            DeleteBucketLifecycle
        );
        assert_eq!(
            op("GET", Some("b"), None, &[("uploads", "")], false),
            ListMultipartUploads
        );
        assert_eq!(
            op("PUT", Some("b"), None, &[("replication", "")], false),
            PutBucketReplication
        );
        assert_eq!(op("POST", Some("b"), None, &[], false), PostObject);
        assert_eq!(op("PATCH", Some("b"), None, &[], false), MethodNotAllowed);
    }

    #[test]
    fn object_rows() {
        use Operation::*;
        assert_eq!(op("PUT", Some("b"), Some("k"), &[], false), PutObject);
        assert_eq!(op("PUT", Some("b"), Some("k"), &[], true), CopyObject);
        assert_eq!(op("GET", Some("b"), Some("k"), &[], false), GetObject);
        assert_eq!(op("HEAD", Some("b"), Some("k"), &[], false), HeadObject);
        assert_eq!(op("DELETE", Some("b"), Some("k"), &[], false), DeleteObject);
        assert_eq!(
            op("GET", Some("b"), Some("k"), &[("tagging", "")], false),
            GetObjectTagging
        );
        assert_eq!(
            op("GET", Some("b"), Some("k"), &[("attributes", "")], false),
            GetObjectAttributes
        );
        assert_eq!(
            op("POST", Some("b"), Some("k"), &[("uploads", "")], false),
            CreateMultipartUpload
        );
        assert_eq!(
            op(
                "PUT",
                Some("b"),
                Some("k"),
                &[("partNumber", "1"), ("uploadId", "u")],
                false
            ),
            UploadPart
        );
        assert_eq!(
            op(
                "PUT",
                Some("b"),
                Some("k"),
                &[("partNumber", "1"), ("uploadId", "u")],
                true
            ),
            UploadPartCopy
        );
        assert_eq!(
            op("POST", Some("b"), Some("k"), &[("uploadId", "u")], false),
            CompleteMultipartUpload
        );
        assert_eq!(
            op("DELETE", Some("b"), Some("k"), &[("uploadId", "u")], false),
            AbortMultipartUpload
        );
        assert_eq!(
            op("POST", Some("b"), Some("k"), &[("restore", "")], false),
            RestoreObject
        );
        // Response overrides are not sub-resources.
        assert_eq!(
            op(
                "GET",
                Some("b"),
                Some("k"),
                &[("response-content-type", "x")],
                false
            ),
            GetObject
        );
        assert_eq!(
            op("POST", Some("b"), Some("k"), &[], false),
            MethodNotAllowed
        );
    }

    // issue #13: every row of the sub-resource tables is classified to the operation it names,
    // for each method the row serves, and a method it does not serve is MethodNotAllowed.
    #[test]
    fn every_subresource_row() {
        let tables: [(&[SubresourceRow], Option<&str>); 2] = [
            (BUCKET_SUBRESOURCES, None),
            (OBJECT_SUBRESOURCES, Some("k")),
        ];
        for (table, key) in tables {
            for row in table {
                for method in ["GET", "HEAD", "PUT", "DELETE", "POST"] {
                    let got = op(method, Some("b"), key, &[(row.0, "")], false);
                    match pick(row, method) {
                        // A HEAD with a sub-resource is its GET row (S3 answers HEAD like GET).
                        Some(name) => {
                            assert_eq!(got.name(), name, "{method} ?{} on {key:?}", row.0)
                        }
                        None if row.0 == "uploads" && key.is_none() && method == "HEAD" => {}
                        None => assert_eq!(got, Operation::MethodNotAllowed, "{method} ?{}", row.0),
                    }
                }
            }
        }
    }
}
