//! A local executor for Amazon States Language (ASL) definitions.
//!
//! Runs the very definition CDK deploys (`state-machine/definition.asl.json`) on a laptop, with
//! Lambda tasks dispatched to in-process stage functions (issue 7). Built bottom-up: the modules
//! below are the pieces the interpreter stands on.

pub mod base64;
pub mod choice;
pub mod digest;
pub mod errors;
pub mod intrinsics;
pub mod paths;
pub mod template;
pub mod value;
