//! Stage events: the JSON a stage's Lambda receives and answers.
//!
//! Each stage crate has one `handle(config, event)` function that takes the event exactly as the
//! state machine's `lambda:invoke` sends it and answers the JSON the state machine reads. The
//! Lambda binaries and the local executor (`tote run`) both call it, so the two paths cannot
//! drift apart. These are the helpers those functions share.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The `action` an event names (`default` when it names none).
pub fn action<'a>(event: &'a Value, default: &'a str) -> &'a str {
    event.get("action").and_then(Value::as_str).unwrap_or(default)
}

/// The execution an event names, for log spans (empty when none).
pub fn execution(event: &Value) -> String {
    event
        .get("execution")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Parses an event into a stage's request; a malformed one is `Tote.BadRequest`, naming `what`.
pub fn parse<T: DeserializeOwned>(event: Value, what: &str) -> Result<T> {
    serde_json::from_value(event).map_err(|e| Error::bad_request(format!("invalid {what} request: {e}")))
}

/// A stage's response as the JSON answer.
pub fn answer<T: Serialize>(response: &T) -> Result<Value> {
    serde_json::to_value(response).map_err(|e| Error::internal(format!("cannot encode a response: {e}")))
}

/// The error for an action a stage does not know.
pub fn unknown_action(stage: &str, action: &str, known: &str) -> Error {
    Error::bad_request(format!(
        "unknown action `{action}` for the {stage} function; use {known}"
    ))
}
