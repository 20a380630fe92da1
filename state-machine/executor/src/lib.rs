//! A local executor for Amazon States Language (ASL) definitions.
//!
//! Runs the very definition CDK deploys (`state-machine/definition.asl.json`) on a laptop, with
//! Lambda tasks dispatched to in-process stage functions. Not yet implemented: see issue
//! "Local executor and the tote CLI".
