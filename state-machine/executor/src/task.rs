//! How Task states reach the outside world: the [`TaskHandler`] the caller implements.
//!
//! The executor knows nothing about Lambda, SNS or any other service. For each Task
//! attempt it hands the handler the state's `Resource` string and its effective
//! parameters (after `InputPath` and `Parameters`), and expects back the task's result
//! (before `ResultSelector`) or a [`Failure`] whose `error` is what `Retry`/`Catch`
//! match. A caller emulating `arn:aws:states:::lambda:invoke` therefore builds the
//! `{"StatusCode": 200, "Payload": ...}` envelope itself, so `ResultSelector` and
//! `OutputPath` behave as they do in AWS.
//!
//! Handlers are polled on the executor's task, concurrently with other Map iterations
//! and Parallel branches; a handler with heavy CPU work should move it to
//! `tokio::task::spawn_blocking`.

use std::sync::Arc;

use serde_json::Value;

use crate::clock::{BoxFuture, Clock};
use crate::errors::Failure;

/// What a handler returns: the task's result, or why it failed.
pub type TaskFuture<'a> = BoxFuture<'a, Result<Value, Failure>>;

/// Runs Task states. Implemented by the caller; see the module docs.
pub trait TaskHandler: Send + Sync {
    /// Runs one attempt of a Task state.
    ///
    /// `resource` is the state's `Resource` field verbatim; `parameters` its effective
    /// input. Retries call this again with the same parameters and an incremented
    /// [`TaskContext::retry_count`].
    fn invoke<'a>(&'a self, resource: &'a str, parameters: Value, context: &'a TaskContext)
        -> TaskFuture<'a>;
}

/// What a handler knows about the attempt it runs.
#[derive(Clone)]
#[non_exhaustive]
pub struct TaskContext {
    /// The execution's name.
    pub execution_name: String,
    /// The execution's id (a local ARN, `$$.Execution.Id`).
    pub execution_id: String,
    /// The name of the Task state.
    pub state_name: String,
    /// How many times this state has been retried before this attempt.
    pub retry_count: u64,
    /// How many times the execution has been redriven.
    pub redrive_count: u64,
    /// The context object (`$$`) as the state sees it.
    pub context_object: Value,
    /// The executor's clock: a handler that wants to simulate slowness under a
    /// [`crate::VirtualClock`] sleeps on this, and its sleeps count against the state's
    /// `TimeoutSeconds`.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("execution_name", &self.execution_name)
            .field("execution_id", &self.execution_id)
            .field("state_name", &self.state_name)
            .field("retry_count", &self.retry_count)
            .field("redrive_count", &self.redrive_count)
            .finish_non_exhaustive()
    }
}

impl TaskContext {
    /// A context for calling a handler outside an execution, e.g. in a handler's own tests.
    pub fn detached(state_name: impl Into<String>, clock: Arc<dyn Clock>) -> TaskContext {
        TaskContext {
            execution_name: "detached".to_owned(),
            execution_id: crate::arn::execution_arn("detached", "detached"),
            state_name: state_name.into(),
            retry_count: 0,
            redrive_count: 0,
            context_object: Value::Null,
            clock,
        }
    }
}

/// A [`TaskHandler`] made from a closure returning a `'static` future; handy in tests.
///
/// ```
/// use tote_asl::{handler_fn, Failure};
/// use serde_json::json;
///
/// let handler = handler_fn(|resource, params, _ctx| {
///     let resource = resource.to_owned();
///     Box::pin(async move {
///         match resource.as_str() {
///             "echo" => Ok(params),
///             _ => Err(Failure::new("Unknown.Resource", resource)),
///         }
///     })
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F>(f: F) -> FnHandler<F>
where
    F: Fn(&str, Value, &TaskContext) -> TaskFuture<'static> + Send + Sync,
{
    FnHandler(f)
}

/// The handler [`handler_fn`] builds.
pub struct FnHandler<F>(F);

impl<F> TaskHandler for FnHandler<F>
where
    F: Fn(&str, Value, &TaskContext) -> TaskFuture<'static> + Send + Sync,
{
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        parameters: Value,
        context: &'a TaskContext,
    ) -> TaskFuture<'a> {
        (self.0)(resource, parameters, context)
    }
}
