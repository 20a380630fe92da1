//! Test helpers: a task handler that replays scripted results and records its calls.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tote_asl::{Executor, Failure, StateMachine, TaskContext, TaskFuture, TaskHandler, VirtualClock};

/// One scripted reply of a resource.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Return this result.
    Result(Value),
    /// Return the parameters unchanged.
    Echo,
    /// Fail with this error and cause.
    Error(String, Option<String>),
    /// Sleep on the execution's clock, then reply.
    Sleep(Duration, Box<Reply>),
}

impl Reply {
    /// Parses `{"result": v}`, `{"echo": true}`, `{"error": "E", "cause": "c"}`, each
    /// optionally with `"sleep": seconds`.
    pub fn from_json(value: &Value) -> Reply {
        let base = if let Some(result) = value.get("result") {
            Reply::Result(result.clone())
        } else if let Some(error) = value.get("error") {
            Reply::Error(
                error.as_str().expect("error is a string").to_owned(),
                value.get("cause").and_then(Value::as_str).map(str::to_owned),
            )
        } else {
            Reply::Echo
        };
        match value.get("sleep").and_then(Value::as_f64) {
            Some(seconds) => Reply::Sleep(Duration::from_secs_f64(seconds), Box::new(base)),
            None => base,
        }
    }
}

/// A call the handler received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub resource: String,
    pub parameters: Value,
    pub retry_count: u64,
}

/// Picks a reply from the parameters.
pub type ReplyFn = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

/// Replies to each resource from a queue (the last reply repeats; an unscripted resource
/// echoes its parameters), or by a function of the parameters, and records every call.
/// Every call yields to the scheduler once before replying, as a handler doing I/O would,
/// so concurrent Map iterations and Parallel branches really interleave.
#[derive(Default)]
pub struct Scripted {
    replies: Mutex<HashMap<String, VecDeque<Reply>>>,
    functions: Mutex<HashMap<String, ReplyFn>>,
    calls: Mutex<Vec<Call>>,
}

impl Scripted {
    pub fn new() -> Arc<Scripted> {
        Arc::new(Scripted::default())
    }

    /// From a case's `task_results`: `{"resource": [reply, ...]}`.
    pub fn from_json(value: Option<&Value>) -> Arc<Scripted> {
        let scripted = Scripted::new();
        if let Some(map) = value.and_then(Value::as_object) {
            for (resource, replies) in map {
                let replies = replies.as_array().expect("task_results entries are arrays");
                scripted.script(resource, replies.iter().map(Reply::from_json).collect());
            }
        }
        scripted
    }

    pub fn script(&self, resource: &str, replies: Vec<Reply>) {
        self.replies
            .lock()
            .unwrap()
            .insert(resource.to_owned(), replies.into());
    }

    pub fn script_fn(&self, resource: &str, reply: ReplyFn) {
        self.functions.lock().unwrap().insert(resource.to_owned(), reply);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_to(&self, resource: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.resource == resource)
            .collect()
    }

    fn next_reply(&self, resource: &str, parameters: &Value) -> Reply {
        if let Some(f) = self.functions.lock().unwrap().get(resource) {
            return f(parameters);
        }
        let mut replies = self.replies.lock().unwrap();
        match replies.get_mut(resource) {
            Some(queue) if queue.len() > 1 => queue.pop_front().expect("non-empty"),
            Some(queue) => queue.front().cloned().unwrap_or(Reply::Echo),
            None => Reply::Echo,
        }
    }
}

impl TaskHandler for Scripted {
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        parameters: Value,
        context: &'a TaskContext,
    ) -> TaskFuture<'a> {
        self.calls.lock().unwrap().push(Call {
            resource: resource.to_owned(),
            parameters: parameters.clone(),
            retry_count: context.retry_count,
        });
        let reply = self.next_reply(resource, &parameters);
        Box::pin(async move {
            tokio::task::yield_now().await;
            let mut reply = reply;
            loop {
                return match reply {
                    Reply::Sleep(duration, then) => {
                        context.clock.sleep(duration).await;
                        reply = *then;
                        continue;
                    }
                    Reply::Result(v) => Ok(v),
                    Reply::Echo => Ok(parameters),
                    Reply::Error(error, cause) => Err(Failure { error, cause }),
                };
            }
        })
    }
}

/// An executor over a scripted handler and a fresh virtual clock, seeded.
pub fn executor(handler: Arc<Scripted>) -> (Executor, VirtualClock) {
    let clock = VirtualClock::default();
    let executor = Executor::new(handler)
        .with_clock(Arc::new(clock.clone()))
        .with_seed(7);
    (executor, clock)
}

/// Loads a definition, panicking with its problems if it is invalid.
pub fn machine(definition: Value) -> StateMachine {
    StateMachine::new("conformance", definition).unwrap_or_else(|e| panic!("{e}"))
}

/// Seconds of each recorded sleep.
pub fn seconds(clock: &VirtualClock) -> Vec<f64> {
    clock.sleeps().iter().map(Duration::as_secs_f64).collect()
}
