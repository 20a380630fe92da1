//! The library side of the `tote` command: the deployed state machine run locally
//! ([`pipeline`]), the same verbs against the deployed one ([`aws`]), and the
//! source-versus-warehouse reconciliation ([`verify`]), where the pipeline stands ([`status`]), and the
//! HTML picture of an execution ([`report`]). The command-line interface in `main.rs` is a thin layer over it, and the
//! tests drive it directly (with a virtual clock, so retries never sleep).

pub mod aws;
pub mod pipeline;
pub mod report;
pub mod status;
pub mod verify;
