//! The shared contract of tote's three stages.
//!
//! Everything two stages must agree on lives here, so that it is written once; how it is read
//! and written (stores, the commit log, Postgres) is the `tote-io` crate's:
//!
//! - [`tables`]: the allow-list of source tables and their keys, and identifier quoting;
//! - [`models`]: the star schema, declared once by the models in `tasks/transform/models`;
//! - [`error`]: errors with stable names (`Tote.SourceUnavailable`, …) that the state machine matches;
//! - [`event`]: the typed events a stage's Lambda takes and answers, and the names of the stage
//!   contract (actions, errors) declared once in `stages.json`, shared with CDK;
//! - [`config`]: the `TOTE_*` settings, validated once, shared by the CLI, Lambdas and tests;
//! - [`batch`]: batches, their manifests and commit log entries;
//! - [`layout`]: where every object lives in the landing and processed stores;
//! - [`checkpoint`]: the transform's checkpoint (what it consumed), read by the load and `tote status`;
//! - [`credentials`]: what may be shown of a database URL (never its password);
//! - [`metrics`]: CloudWatch embedded-metric lines, declared once in `metrics.json` (shared with CDK);
//! - [`progress`]: how far long work has got, drawn by the `tote` command, silent in a Lambda;
//! - [`fault`]: fault points at commit boundaries for crash tests (inert in normal builds);
//! - `lambda` (feature `lambda`): the shared shape of the three Lambda binaries.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod credentials;
pub mod error;
pub mod event;
pub mod fault;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod layout;
pub mod logging;
pub mod metrics;
pub mod models;
pub mod progress;
pub mod tables;

pub use error::{Error, ErrorKind, Result};
