//! The shared contract of tote's three stages.
//!
//! Everything two stages must agree on lives here, so that it is written once:
//!
//! - [`tables`]: the allow-list of source tables and their keys, and identifier quoting;
//! - [`models`]: the star schema, declared once by the models in `tasks/transform/models`;
//! - [`error`]: errors with stable names (`Tote.SourceUnavailable`, …) that the state machine matches;
//! - [`event`]: the typed events a stage's Lambda takes and answers, and the names of the stage
//!   contract (actions, errors) declared once in `stages.json`, shared with CDK;
//! - [`config`]: the `TOTE_*` settings, validated once, shared by the CLI, Lambdas and tests;
//! - [`store`]: the landing and processed object stores (local directory or S3);
//! - [`batch`]: batch manifests and the create-if-absent commit log that makes them visible;
//! - [`checkpoint`]: the transform's checkpoint (what it consumed), read by the load and `tote status`;
//! - [`csv_format`]: the CSV landing format, written and read back exactly ('' vs NULL);
//! - [`sink`]: streaming a batch's rows to a Parquet or CSV object, hashed for its manifest;
//! - [`credentials`]: what may be shown of a database URL (never its password);
//! - [`pg`]: connecting to Postgres without leaking credentials into messages;
//! - [`tls`]: rustls for Postgres connections, honouring libpq's `sslmode`;
//! - [`secrets`]: database credentials from AWS Secrets Manager (RDS JSON shape);
//! - [`metrics`]: CloudWatch embedded-metric lines, declared once in `metrics.json` (shared with CDK);
//! - [`progress`]: how far long work has got, drawn by the `tote` command, silent in a Lambda;
//! - [`fault`]: fault points at commit boundaries for crash tests (inert in normal builds);
//! - `lambda` (feature `lambda`): the shared shape of the three Lambda binaries.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod credentials;
pub mod csv_format;
pub mod error;
pub mod event;
pub mod fault;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod models;
pub mod pg;
pub mod progress;
pub mod secrets;
pub mod sink;
pub mod store;
pub mod tables;
pub mod tls;

pub use error::{Error, ErrorKind, Result};
