//! Strata's lifecycle engine. For now it holds the lifecycle clock, the only source of "now" for
//! lifecycle, restore and replication; rules and workers build on it.

pub mod clock;

pub use clock::LifecycleClock;
