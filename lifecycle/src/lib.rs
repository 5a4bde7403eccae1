//! Lifecycle crate.
