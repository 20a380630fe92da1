//! tote's input and output: the object stores, the commit log, checked object reads, the
//! formats batches are written in, and Postgres and Secrets Manager access.
//!
//! What is read and written (tables, manifests, checkpoints, where each object lives) is the
//! contract's, in `tote-core`; this crate is how:
//!
//! - [`store`]: the landing and processed object stores (local directory or S3);
//! - [`commit_log`]: the create-if-absent commit log that makes a batch visible, and its manifests;
//! - [`objects`]: a committed batch's objects, checked against the manifest and decoded in bounded
//!   record batches;
//! - [`checkpoint`]: the transform's checkpoints, read and committed;
//! - [`sink`]: streaming a batch's rows to a Parquet or CSV object, hashed for its manifest;
//! - [`csv_format`]: the CSV landing format, written and read back exactly ('' vs NULL);
//! - [`pg`]: connecting to Postgres without leaking credentials into messages;
//! - [`tls`]: rustls for Postgres connections, honouring libpq's `sslmode`;
//! - [`secrets`]: database URLs from the configuration or AWS Secrets Manager (RDS JSON shape).

pub mod checkpoint;
pub mod commit_log;
pub mod csv_format;
pub mod objects;
pub mod pg;
pub mod secrets;
pub mod sink;
pub mod store;
pub mod tls;
