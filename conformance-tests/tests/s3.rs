//! The conformance suite: the real `strata` binary driven by aws-sdk-s3 in its default
//! configuration (request checksums on) and by raw requests signed with `aws-sigv4`.
//!
//! Run `cargo build -p strata-server` first; the harness builds nothing (see `common`).

mod common;

mod s3 {
    mod admin;
    mod auth;
    mod buckets;
    mod durability;
    mod errors;
    mod listing;
    mod objects;
    mod ranges;
    mod virtual_hosted;
}
