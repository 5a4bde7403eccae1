//! Strata's lifecycle engine: the lifecycle clock (the only source of "now" for lifecycle,
//! restore and replication), rules as types with S3's validation, a pure evaluator, and the
//! background worker that applies due actions through the storage engine.

pub mod clock;
pub mod eval;
pub mod replication;
pub mod rules;
pub mod worker;

pub use clock::LifecycleClock;
pub use eval::{evaluate, Action, Due, Evaluation, Held, VersionFacts};
pub use rules::{LifecycleConfiguration, Rule, RuleError};
