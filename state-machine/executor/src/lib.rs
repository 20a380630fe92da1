//! A local executor for Amazon States Language (ASL) definitions.
//!
//! tote's pipeline is a Step Functions state machine defined in CDK. This crate runs the
//! very same definition on a laptop: the `tote` CLI loads `state-machine/definition.asl.json`,
//! maps its task resources to in-process stage calls, and executes it here, with a history
//! like the console's and redrive like the service's.
//!
//! # Using it
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::json;
//! use tote_asl::{handler_fn, Executor, ExecutionStatus, StateMachine};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let machine = StateMachine::new("demo", json!({
//!     "StartAt": "Greet",
//!     "States": {
//!         "Greet": {
//!             "Type": "Task",
//!             "Resource": "greeter",
//!             "Parameters": {"who.$": "$.name"},
//!             "ResultPath": "$.greeting",
//!             "End": true
//!         }
//!     }
//! }))?;
//! let handler = handler_fn(|_resource, params, _ctx| {
//!     Box::pin(async move { Ok(json!(format!("Hello, {}!", params["who"].as_str().unwrap_or("?")))) })
//! });
//! let record = Executor::new(Arc::new(handler)).start(&machine, None, json!({"name": "tote"})).await?;
//! assert_eq!(record.status, ExecutionStatus::Succeeded);
//! assert_eq!(record.output, Some(json!({"name": "tote", "greeting": "Hello, tote!"})));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # How it is organised
//!
//! One concern per module, lowest first:
//!
//! * `value` (private): JSON comparisons (numbers by value), sizes, timestamps.
//! * [`paths`]: JSONPath and reference paths.
//! * [`intrinsics`], with the private `base64` and `digest` (MD5, SHA-1, SHA-2, written
//!   out to need no dependency): `States.Format` and friends.
//! * [`template`]: payload templates (`Parameters`, `ResultSelector`, `ItemSelector`).
//! * [`choice`]: Choice rules.
//! * [`errors`]: error names, [`Failure`], and what `ErrorEquals` matches.
//! * [`retry`]: `Retry` and `Catch`, backoff and jitter.
//! * [`definition`]: loading and validating a definition into a [`StateMachine`].
//! * [`clock`]: injectable time ([`SystemClock`], [`VirtualClock`]).
//! * `arn` (private): the local ids of state machines and executions.
//! * [`task`]: the [`TaskHandler`] the caller implements.
//! * [`history`]: events, execution records and the on-disk [`ExecutionStore`].
//! * [`redrive`]: resume points, and the exact redrive semantics.
//! * [`executor`]: the interpreter.
//!
//! # Scope
//!
//! JSONPath definitions with every state type (Task, Pass, Choice, Wait, Succeed, Fail,
//! Parallel, Map incl. `ItemProcessor`/`Iterator`, `ItemSelector`/`Parameters`,
//! `MaxConcurrency`), `Retry` (incl. `MaxDelaySeconds`, `JitterStrategy`), `Catch`, the
//! five input/output fields, the context object, and all 18 intrinsic functions. Not
//! supported, and rejected when a definition loads: JSONata, variables (`Assign`), and the
//! Distributed Map's `ItemReader`, `ItemBatcher` and `ResultWriter`. Where behaviour
//! follows the Step Functions service rather than the ASL spec, or differs from both, the
//! module docs of [`executor`], [`template`], [`errors`] and [`redrive`] say so.

mod arn;
mod base64;
pub mod choice;
pub mod clock;
pub mod definition;
mod digest;
pub mod errors;
pub mod executor;
pub mod history;
pub mod intrinsics;
pub mod paths;
pub mod redrive;
pub mod retry;
pub mod task;
pub mod template;
mod value;

pub use clock::{BoxFuture, Clock, SystemClock, VirtualClock};
pub use definition::{DefinitionError, StateMachine};
pub use errors::Failure;
pub use executor::{EventListener, Executor, ExecutorError, DEFAULT_PAYLOAD_LIMIT};
pub use history::{
    EventDetails, EventType, ExecutionRecord, ExecutionStatus, ExecutionStore, ExecutionSummary,
    HistoryEvent, ScopeFrame, StoreError,
};
pub use redrive::{Nested, Progress, ResumePoint};
pub use task::{handler_fn, FnHandler, TaskContext, TaskFuture, TaskHandler};
