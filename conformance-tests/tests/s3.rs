//! The conformance suite: the real `strata` binary driven by aws-sdk-s3 in its default
//! configuration (request checksums on) and by raw requests signed with `aws-sigv4`.
//!
//! Run `cargo build -p strata-server` first; the harness builds nothing (see `common`).

mod common;

mod s3 {
    mod access;
    mod admin;
    mod admission;
    mod attributes;
    mod auth;
    mod buckets;
    mod checksums;
    mod conditional;
    mod copy;
    mod cors;
    mod crash;
    mod disk_full;
    mod durability;
    mod errors;
    mod lifecycle;
    mod listing;
    mod multipart;
    mod object_lock;
    mod objects;
    mod post_object;
    mod ranges;
    mod replication;
    mod retries;
    mod soak;
    mod storage_class;
    mod tagging;
    mod versioning;
    mod virtual_hosted;
}
