//! The one integration-test binary of `tote-asl` (one binary per crate keeps link time down).
//!
//! * `documents`: the conformance suite. Every `tests/conformance/NN-name.json` holds an ASL
//!   definition, an input, scripted task results and the expected output or error; many are
//!   the input/output examples of the Step Functions developer guide and the ASL spec, each
//!   citing its source.
//! * `retry_timing`: backoff, `MaxDelaySeconds` and full-jitter bounds under a virtual clock.
//! * `redrive`: failing executions, persisting them, and redriving them from disk.
//! * `persistence`: the on-disk history layout, listing and loading.
//! * `limits`: payload quota and execution timeout.
//! * `deployed`: the definition CDK deploys (`state-machine/definition.asl.json`) loads and
//!   runs against stub stages speaking the `lambda:invoke` envelope.
//!
//! Shared helpers (a scripted task handler, a JSON case loader) live in `support`.

#[path = "suite/deployed.rs"]
mod deployed;
#[path = "suite/documents.rs"]
mod documents;
#[path = "suite/limits.rs"]
mod limits;
#[path = "suite/persistence.rs"]
mod persistence;
#[path = "suite/redrive.rs"]
mod redrive;
#[path = "suite/retry_timing.rs"]
mod retry_timing;
#[path = "suite/support.rs"]
mod support;
