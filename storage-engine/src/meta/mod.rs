//! The metadata layer: everything the engine keeps in SQLite about keys, below every feature.
//!
//! - `codec`: the version row codec (columns, decoding, metadata JSON);
//! - `versions`: the version table's single-row operations;
//! - `refs`: chunk reference counts;
//! - `stats`: per-bucket object and byte counters;
//! - `feed`: the change feed (an outbox of typed events);
//! - `queue`: the replication queue's intake, derived from change events;
//! - `commit`: the one entry point through which every change to a key commits;
//! - `walk`: the paged key walker that serves every delimiter listing.
//!
//! Invariant: this layer depends only on the database, the chunk store's types, the data model
//! and the error type, never on a feature module (versioning, multipart, lifecycle support,
//! replication, archive) or on the `Store` facade; those call down into it.

pub(crate) mod codec;
pub(crate) mod commit;
pub(crate) mod feed;
pub(crate) mod queue;
pub(crate) mod refs;
pub(crate) mod stats;
pub(crate) mod versions;
pub(crate) mod walk;
