//! The shared contract of tote's three stages.
//!
//! Everything two stages must agree on lives here, so that it is written once:
//!
//! - [`tables`]: the allow-lists of source and warehouse tables and identifier quoting;
//! - [`error`]: errors with stable names (`Tote.SourceUnavailable`, …) that the state machine matches;
//! - [`pg`]: connecting to Postgres without leaking credentials into messages;
//! - [`private_pg`]: a private, throw-away Postgres cluster for the demo and for tests.

pub mod error;
pub mod pg;
pub mod private_pg;
pub mod tables;

pub use error::{Error, ErrorKind, Result};
