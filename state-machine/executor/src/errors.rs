//! Error names and the rule that decides whether an `ErrorEquals` entry matches an error.
//!
//! The States Language names errors with case-sensitive strings; the predefined ones start
//! with `States.`. Matching follows the Step Functions service, which is stricter than the
//! spec in two places (see the developer guide, "Handling errors in Step Functions
//! workflows"):
//!
//! * `States.Runtime` is never retried or caught, not even by `States.ALL`.
//! * `States.DataLimitExceeded` is not matched by `States.ALL` (or `States.TaskFailed`),
//!   only by naming it.
//! * `States.TaskFailed` acts as a wildcard for every error except `States.Timeout`.
//!
//! [`Failure`] is the error a task, a state or a whole execution reports: a name and an
//! optional human-readable cause, rendered as the `{"Error", "Cause"}` error output.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Wildcard matching any error name (except the terminal ones, see the module docs).
pub const ALL: &str = "States.ALL";
/// A Task ran longer than `TimeoutSeconds` (or the execution longer than its `TimeoutSeconds`).
pub const TIMEOUT: &str = "States.Timeout";
/// A Task failed to heartbeat in time. Never raised here: no task sends heartbeats.
pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
/// A Task failed; in `ErrorEquals` it matches every error except `States.Timeout`.
pub const TASK_FAILED: &str = "States.TaskFailed";
/// A Task had insufficient privileges. Never raised here.
pub const PERMISSIONS: &str = "States.Permissions";
/// A state's `ResultPath` cannot be applied to its input.
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
/// The spec's name for a failed `.$` path in a payload template. The service (and this
/// executor) report `States.Runtime` instead; the name is accepted in `ErrorEquals`.
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
/// A branch of a Parallel state failed.
pub const BRANCH_FAILED: &str = "States.BranchFailed";
/// A Choice state matched no rule and has no `Default`.
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// An intrinsic function failed during evaluation.
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
/// More Map items failed than `ToleratedFailureCount`/`ToleratedFailurePercentage` allow.
pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
/// A Map state could not read its items through `ItemReader`. Never raised here.
pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
/// A Map state could not write its results through `ResultWriter`. Never raised here.
pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
/// A state's input or output exceeded the payload quota (256 KiB by default).
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
/// The execution hit an error it cannot process (a path that matches nothing, an
/// invalid value for a field). Never retried or caught.
pub const RUNTIME: &str = "States.Runtime";

/// Every predefined error name, for validating `ErrorEquals`.
pub const PREDEFINED: &[&str] = &[
    ALL,
    TIMEOUT,
    HEARTBEAT_TIMEOUT,
    TASK_FAILED,
    PERMISSIONS,
    RESULT_PATH_MATCH_FAILURE,
    PARAMETER_PATH_FAILURE,
    BRANCH_FAILED,
    NO_CHOICE_MATCHED,
    INTRINSIC_FAILURE,
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    ITEM_READER_FAILED,
    RESULT_WRITER_FAILED,
    DATA_LIMIT_EXCEEDED,
    RUNTIME,
    "States.QueryEvaluationError",
    "States.Http.Socket",
];

/// An error as the States Language reports it: an error name and an optional cause.
///
/// Task handlers return it for a failed invocation (`error` is what `ErrorEquals`
/// matches, e.g. the Lambda `errorType`); the executor uses it for every state and
/// execution failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error name, e.g. `Tote.SourceUnavailable` or `States.Timeout`.
    pub error: String,
    /// Human-readable detail; Lambda puts the JSON error body here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl Failure {
    /// A failure with a name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// A failure with a name and no cause.
    pub fn named(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            cause: None,
        }
    }

    /// A `States.Runtime` failure.
    pub fn runtime(cause: impl Into<String>) -> Failure {
        Failure::new(RUNTIME, cause)
    }

    /// The error output a `Catch` passes on: `{"Error": ..., "Cause": ...}`, with both keys
    /// always, as Step Functions renders it (`Cause` is `""` when the error has none).
    pub fn to_error_output(&self) -> Value {
        json!({"Error": self.error, "Cause": self.cause.as_deref().unwrap_or("")})
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {}", self.error, cause),
            None => f.write_str(&self.error),
        }
    }
}

impl std::error::Error for Failure {}

/// Whether an error with this name may be retried or caught at all.
pub fn is_recoverable(error: &str) -> bool {
    error != RUNTIME
}

/// Whether the `ErrorEquals` entry `pattern` matches the error named `error`.
pub fn error_matches(pattern: &str, error: &str) -> bool {
    if !is_recoverable(error) {
        return false;
    }
    if pattern == error {
        return true;
    }
    match pattern {
        ALL => error != DATA_LIMIT_EXCEEDED,
        TASK_FAILED => error != DATA_LIMIT_EXCEEDED && error != TIMEOUT,
        _ => false,
    }
}

/// Whether any entry of an `ErrorEquals` list matches `error`.
pub fn any_matches(patterns: &[String], error: &str) -> bool {
    patterns.iter().any(|p| error_matches(p, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(error_matches(ALL, "Tote.SchemaDrift"));
        assert!(error_matches(ALL, TIMEOUT));
        assert!(!error_matches(ALL, RUNTIME));
        assert!(!error_matches(ALL, DATA_LIMIT_EXCEEDED));
        assert!(error_matches(DATA_LIMIT_EXCEEDED, DATA_LIMIT_EXCEEDED));
        assert!(!error_matches(RUNTIME, RUNTIME));
        assert!(error_matches(TASK_FAILED, "Lambda.Unknown"));
        assert!(!error_matches(TASK_FAILED, TIMEOUT));
        assert!(!error_matches("Tote.A", "Tote.B"));
    }
}
