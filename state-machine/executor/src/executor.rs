//! The interpreter: runs a [`StateMachine`] from its input to its output, recording history.
//!
//! An [`Executor`] bundles what an execution needs from outside: the [`TaskHandler`]
//! that runs Task states, the [`Clock`], an optional [`ExecutionStore`] to persist to, a
//! seed for everything random (retry jitter, `States.UUID`, `States.MathRandom`,
//! generated execution names) and an optional listener that sees every event as it
//! happens (for progress displays). [`Executor::start`] runs an execution to its end;
//! [`Executor::redrive`] continues a failed one (see [`crate::redrive`]).
//!
//! Each state follows the ASL processing order: `InputPath` → `Parameters` (or
//! `ItemSelector` per Map item) → the work → `ResultSelector` → `ResultPath` (into the
//! *raw* input) → `OutputPath`. Task, Parallel and Map states then apply `Retry` (first
//! matching retrier; waits through the clock) and `Catch` (error output placed with the
//! catcher's `ResultPath`, default `$`).
//!
//! Map iterations and Parallel branches are futures polled concurrently on the caller's
//! task (Map bounded by `MaxConcurrency`, 0 meaning unbounded), results in input order.
//! When one fails, no further iteration starts, those in flight finish, and the state
//! fails with the error of the lowest-indexed failure (Step Functions reports the
//! iteration's or branch's own error, not `States.BranchFailed`, which lets `Catch` on a
//! Map or Parallel match the error a task inside raised). A Distributed-mode Map runs
//! the same way, with `ToleratedFailureCount`/`ToleratedFailurePercentage` honoured: while
//! within tolerance a failed item's result is its error output, beyond it the state fails
//! with `States.ExceedToleratedFailureThreshold`.
//!
//! Step Functions behaviour followed where the spec says otherwise or nothing:
//! * Unresolvable paths (`InputPath`, `Parameters`, `ItemsPath`, Choice `Variable`, ...)
//!   fail with `States.Runtime`, which no `Retry` or `Catch` handles.
//! * A state's output, a task's parameters and a task's result larger than the payload
//!   limit (256 KiB by default) fail with `States.DataLimitExceeded`.
//! * A Task has no timeout unless `TimeoutSeconds`/`TimeoutSecondsPath` is given.
//!
//! Local simplifications, documented rather than hidden:
//! * The state machine's `TimeoutSeconds` is checked between top-level states: an
//!   execution that has run longer ends `TIMED_OUT` before entering the next state.
//! * `HeartbeatSeconds` and `Credentials` are accepted and ignored.
//! * A timed-out task's future is dropped (cancelled at its next `.await`); in AWS the
//!   Lambda would run on. Stages are idempotent, so a retry is safe either way.
//! * A task handler that panics fails its attempt with `States.TaskFailed` and the
//!   panic message as the cause, so the execution ends `FAILED` and can be redriven.
//! * Dropping the future of [`Executor::start`] or [`Executor::redrive`] (Ctrl-C) leaves
//!   the persisted execution `RUNNING`, without a resume point.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::future::{join_all, FutureExt};
use futures_util::stream::{self, StreamExt};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};

use crate::clock::{BoxFuture, Clock, SystemClock};
use crate::definition::{
    ChoiceState, DefinitionError, FailState, Flow, Kind, MapState, Number, Outcome, ParallelState, PassState,
    Percentage, State, StateMachine, TaskState, Text, WaitFor, WaitState,
};
use crate::errors::{
    any_matches, is_recoverable, Failure, DATA_LIMIT_EXCEEDED, EXCEED_TOLERATED_FAILURE_THRESHOLD,
    NO_CHOICE_MATCHED, RESULT_PATH_MATCH_FAILURE, TASK_FAILED, TIMEOUT,
};
use crate::history::{
    validate_execution_name, EventDetails, EventSink, EventType, ExecutionRecord, ExecutionStatus,
    ExecutionStore, HistoryEvent, ScopeFrame, StoreError,
};
use crate::intrinsics::Env;
use crate::paths::Path;
use crate::redrive::{Nested, Progress, ResumePoint};
use crate::retry::RetryCounters;
use crate::task::{TaskContext, TaskHandler};
use crate::template::Template;
use crate::value::{exact_unsigned, json_size, parse_timestamp, to_compact, type_name};

pub use crate::arn::{execution_arn, state_machine_arn};

/// The payload quota Step Functions applies to state input and output: 256 KiB.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 256 * 1024;

/// A callback that sees every history event as it is recorded.
pub type EventListener = Arc<dyn Fn(&HistoryEvent) + Send + Sync>;

/// Why an execution could not be started or redriven. (An execution that runs and
/// fails is not an error: it returns a record with status `FAILED`.)
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The execution store failed, or the name is taken or invalid.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The execution is not in a state that can be redriven.
    #[error("execution '{name}' cannot be redriven: {reason}")]
    NotRedrivable {
        /// The execution.
        name: String,
        /// Why not.
        reason: String,
    },
    /// The definition stored with the execution does not load.
    #[error("the definition stored with execution '{name}' is invalid: {source}")]
    Definition {
        /// The execution.
        name: String,
        /// The problems.
        #[source]
        source: DefinitionError,
    },
    /// Redrive by name needs a store.
    #[error("redriving an execution by name needs an execution store (Executor::with_store)")]
    NoStore,
}

/// Runs state machines. See the module docs.
#[derive(Clone)]
pub struct Executor {
    handler: Arc<dyn TaskHandler>,
    clock: Arc<dyn Clock>,
    store: Option<ExecutionStore>,
    seed: Option<u64>,
    payload_limit: Option<usize>,
    listener: Option<EventListener>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("store", &self.store)
            .field("seed", &self.seed)
            .field("payload_limit", &self.payload_limit)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor that runs tasks with `handler`, in real time, persisting nothing, with
    /// an unpredictable seed and the 256 KiB payload limit.
    pub fn new(handler: Arc<dyn TaskHandler>) -> Executor {
        Executor {
            handler,
            clock: Arc::new(SystemClock),
            store: None,
            seed: None,
            payload_limit: Some(DEFAULT_PAYLOAD_LIMIT),
            listener: None,
        }
    }

    /// Uses `clock` for timestamps, waits and timeouts.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Executor {
        self.clock = clock;
        self
    }

    /// Persists executions in `store` (needed for [`Executor::redrive`]).
    pub fn with_store(mut self, store: ExecutionStore) -> Executor {
        self.store = Some(store);
        self
    }

    /// Seeds everything random, making runs reproducible.
    pub fn with_seed(mut self, seed: u64) -> Executor {
        self.seed = Some(seed);
        self
    }

    /// Changes the payload limit; `None` disables the check.
    pub fn with_payload_limit(mut self, limit: Option<usize>) -> Executor {
        self.payload_limit = limit;
        self
    }

    /// Calls `listener` with every event as it is recorded.
    pub fn with_listener(mut self, listener: EventListener) -> Executor {
        self.listener = Some(listener);
        self
    }

    /// The store, if any.
    pub fn store(&self) -> Option<&ExecutionStore> {
        self.store.as_ref()
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Runs a new execution of `machine` to its end. `name` defaults to a UUID.
    ///
    /// Returns the finished record (status `SUCCEEDED`, `FAILED` or `TIMED_OUT`);
    /// fails only if the execution cannot be recorded.
    pub async fn start(
        &self,
        machine: &StateMachine,
        name: Option<&str>,
        input: Value,
    ) -> Result<ExecutionRecord, ExecutorError> {
        let mut rng = self.rng(0);
        let name = match name {
            Some(name) => name.to_owned(),
            None => {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
            }
        };
        validate_execution_name(&name)?;
        let record = ExecutionRecord {
            execution_arn: execution_arn(machine.name(), &name),
            name,
            state_machine_name: machine.name().to_owned(),
            status: ExecutionStatus::Running,
            start_date: self.clock.now(),
            stop_date: None,
            redrive_count: 0,
            redrive_date: None,
            output: None,
            error: None,
            cause: None,
            resume: None,
            input,
            definition: machine.definition().clone(),
            events: Vec::new(),
        };
        let sink = match &self.store {
            Some(store) => Some(store.create(&record)?),
            None => None,
        };
        let run = Run::new(self, machine, &record, sink, rng);
        let first = run.emit(
            &[],
            &run.top,
            EventType::ExecutionStarted,
            EventDetails {
                input: Some(record.input.clone()),
                ..EventDetails::default()
            },
        );
        let result = run
            .run_flow(
                &machine.root,
                Vec::new(),
                first,
                Start::Fresh(record.input.clone()),
            )
            .await;
        self.finish(run, record, result)
    }

    /// Redrives the failed execution called `name` from the store.
    pub async fn redrive(&self, name: &str) -> Result<ExecutionRecord, ExecutorError> {
        let store = self.store.as_ref().ok_or(ExecutorError::NoStore)?;
        let record = store.load(name)?;
        self.redrive_record(record).await
    }

    /// Redrives a failed execution given its record (as [`Executor::start`] returned it,
    /// or as [`ExecutionStore::load`] read it). With a store, the redrive is persisted.
    pub async fn redrive_record(
        &self,
        mut record: ExecutionRecord,
    ) -> Result<ExecutionRecord, ExecutorError> {
        let not_redrivable = |record: &ExecutionRecord, reason: String| {
            Err(ExecutorError::NotRedrivable {
                name: record.name.clone(),
                reason,
            })
        };
        if !record.status.is_redrivable() {
            return not_redrivable(&record, format!("its status is {}", record.status));
        }
        let Some(resume) = record.resume.take() else {
            return not_redrivable(&record, "it has no resume point".to_owned());
        };
        let machine = StateMachine::new(record.state_machine_name.clone(), record.definition.clone())
            .map_err(|source| ExecutorError::Definition {
                name: record.name.clone(),
                source,
            })?;
        record.redrive_count += 1;
        record.redrive_date = Some(self.clock.now());
        record.status = ExecutionStatus::Running;
        record.stop_date = None;
        record.error = None;
        record.cause = None;
        let sink = match &self.store {
            Some(store) => {
                store.save(&record)?;
                Some(store.open_events(&record.name)?)
            }
            None => None,
        };
        let rng = self.rng(record.redrive_count);
        let run = Run::new(self, &machine, &record, sink, rng);
        let last_top_level = record
            .events
            .iter()
            .rev()
            .find(|e| e.scope.is_empty())
            .map_or(0, |e| e.id);
        run.top.0.store(last_top_level, Ordering::Relaxed);
        run.lock_log().events = std::mem::take(&mut record.events);
        let redriven = run.emit(
            &[],
            &run.top,
            EventType::ExecutionRedriven,
            EventDetails {
                redrive_count: Some(record.redrive_count),
                ..EventDetails::default()
            },
        );
        let result = run
            .run_flow(&machine.root, Vec::new(), redriven, Start::Resume(resume))
            .await;
        self.finish(run, record, result)
    }

    fn rng(&self, salt: u64) -> StdRng {
        match self.seed {
            Some(seed) => StdRng::seed_from_u64(seed.wrapping_add(salt)),
            None => StdRng::from_os_rng(),
        }
    }

    fn finish(
        &self,
        run: Run<'_>,
        mut record: ExecutionRecord,
        result: Result<Value, FlowFailure>,
    ) -> Result<ExecutionRecord, ExecutorError> {
        match result {
            Ok(output) => {
                run.emit(
                    &[],
                    &run.top,
                    EventType::ExecutionSucceeded,
                    EventDetails {
                        output: Some(output.clone()),
                        ..EventDetails::default()
                    },
                );
                record.status = ExecutionStatus::Succeeded;
                record.output = Some(output);
                record.resume = None;
            }
            Err(failure) => {
                let (event, status) = if failure.timed_out {
                    (EventType::ExecutionTimedOut, ExecutionStatus::TimedOut)
                } else {
                    (EventType::ExecutionFailed, ExecutionStatus::Failed)
                };
                let error = Some(failure.failure.error.clone()).filter(|e| !e.is_empty());
                run.emit(
                    &[],
                    &run.top,
                    event,
                    EventDetails {
                        error: error.clone(),
                        cause: failure.failure.cause.clone(),
                        ..EventDetails::default()
                    },
                );
                record.status = status;
                record.output = None;
                record.error = error;
                record.cause = failure.failure.cause;
                record.resume = failure.resume;
            }
        }
        record.stop_date = Some(self.clock.now());
        let log = run.into_log();
        record.events = log.events;
        if let Some(store) = &self.store {
            store.save(&record)?;
        }
        if let Some(error) = log.sink_error {
            return Err(error.into());
        }
        Ok(record)
    }
}

/// How a flow begins: fresh with an input, or at a resume point.
enum Start {
    Fresh(Value),
    Resume(ResumePoint),
}

/// A flow that failed, and where it would resume.
struct FlowFailure {
    failure: Failure,
    resume: Option<ResumePoint>,
    timed_out: bool,
}

/// Where a state sends the execution next.
enum Step {
    Next(String, Value),
    End(Value),
}

impl Step {
    /// The state's output.
    fn output(&self) -> &Value {
        match self {
            Step::Next(_, output) | Step::End(output) => output,
        }
    }
}

/// A state that failed, with the progress of its iterations or branches if it has any.
struct StateFailure {
    failure: Failure,
    nested: Option<Nested>,
}

impl From<Failure> for StateFailure {
    fn from(failure: Failure) -> Self {
        StateFailure {
            failure,
            nested: None,
        }
    }
}

/// One attempt of a Task, Parallel or Map state, as its `Retry` loop starts it.
struct Attempt {
    /// How many retries came before it (`$$.State.RetryCount`).
    retries: u64,
    /// The context object the attempt sees.
    context: Value,
    /// Where a redrive resumes a Parallel's branches or a Map's iterations.
    resume: Option<Nested>,
}

/// The last event id in one iteration, branch or the top level (for `previousEventId`).
struct Cursor(AtomicU64);

/// One state being run, as every attempt of it (under its `Retry` and `Catch`) sees it.
#[derive(Clone, Copy)]
struct Running<'a> {
    /// The state's name.
    name: &'a str,
    /// Its definition.
    state: &'a State,
    /// Its raw input, before `InputPath`.
    raw: &'a Value,
    /// Where it runs: the Map iterations and Parallel branches around it.
    scope: &'a [ScopeFrame],
    /// The history position its events follow.
    cursor: &'a Cursor,
    /// When it was entered (the context object's `State.EnteredTime`).
    entered: DateTime<Utc>,
}

impl Cursor {
    fn new(previous: u64) -> Cursor {
        Cursor(AtomicU64::new(previous))
    }
}

struct Log {
    events: Vec<HistoryEvent>,
    sink: Option<EventSink>,
    sink_error: Option<StoreError>,
}

/// One execution (or redrive) in progress.
struct Run<'e> {
    executor: &'e Executor,
    name: String,
    arn: String,
    redrive_count: u64,
    execution_context: Value,
    state_machine_context: Value,
    deadline: Option<DateTime<Utc>>,
    top: Cursor,
    log: Mutex<Log>,
    rng: Mutex<StdRng>,
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<'e> Run<'e> {
    fn new(
        executor: &'e Executor,
        machine: &StateMachine,
        record: &ExecutionRecord,
        sink: Option<EventSink>,
        rng: StdRng,
    ) -> Run<'e> {
        let mut execution_context = json!({
            "Id": record.execution_arn,
            "Input": record.input,
            "Name": record.name,
            "RoleArn": "arn:aws:iam::000000000000:role/local",
            "StartTime": timestamp(record.start_date),
            "RedriveCount": record.redrive_count,
        });
        if let Some(t) = record.redrive_date {
            execution_context["RedriveTime"] = Value::String(timestamp(t));
        }
        let now = executor.clock.now();
        Run {
            executor,
            name: record.name.clone(),
            arn: record.execution_arn.clone(),
            redrive_count: record.redrive_count,
            execution_context,
            state_machine_context: json!({
                "Id": state_machine_arn(machine.name()),
                "Name": machine.name(),
            }),
            deadline: machine
                .timeout_seconds
                .map(|s| now + chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))),
            top: Cursor::new(0),
            log: Mutex::new(Log {
                events: Vec::new(),
                sink,
                sink_error: None,
            }),
            rng: Mutex::new(rng),
        }
    }

    fn lock_log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_rng(&self) -> MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn into_log(self) -> Log {
        self.log.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event; returns its id.
    fn emit(
        &self,
        scope: &[ScopeFrame],
        cursor: &Cursor,
        event_type: EventType,
        details: EventDetails,
    ) -> u64 {
        let timestamp = self.executor.clock.now();
        let event = {
            let mut log = self.lock_log();
            let id = log.events.last().map_or(1, |e| e.id + 1);
            let event = HistoryEvent {
                id,
                previous_event_id: cursor.0.swap(id, Ordering::Relaxed),
                timestamp,
                event_type,
                scope: scope.to_vec(),
                details,
            };
            if let Some(sink) = log.sink.as_mut() {
                if let Err(e) = sink.append(&event) {
                    tracing::error!("cannot record history: {e}");
                    log.sink = None;
                    log.sink_error = Some(e);
                }
            }
            log.events.push(event.clone());
            event
        };
        if let Some(listener) = &self.executor.listener {
            listener(&event);
        }
        event.id
    }

    fn context(
        &self,
        state: &str,
        entered: DateTime<Utc>,
        retry_count: u64,
        item: Option<(usize, &Value)>,
    ) -> Value {
        let mut context = json!({
            "Execution": self.execution_context,
            "StateMachine": self.state_machine_context,
            "State": {"Name": state, "EnteredTime": timestamp(entered), "RetryCount": retry_count},
        });
        if let Some((index, value)) = item {
            // `Source` is "STATE_DATA" for items read from the state input, the only
            // source an inline Map has.
            context["Map"] = json!({"Item": {"Index": index, "Value": value, "Source": "STATE_DATA"}});
        }
        context
    }

    fn template(&self, template: &Template, input: &Value, context: &Value) -> Result<Value, Failure> {
        let mut rng = self.lock_rng();
        template.evaluate(&mut Env {
            input,
            context,
            rng: &mut rng,
        })
    }

    fn check_size(&self, state: &str, what: &str, value: &Value) -> Result<(), Failure> {
        match self.executor.payload_limit {
            Some(limit) if json_size(value) > limit => Err(Failure::new(
                DATA_LIMIT_EXCEEDED,
                format!(
                    "The {what} of state '{state}' has a size exceeding the maximum number of bytes service limit ({limit} bytes)."
                ),
            )),
            _ => Ok(()),
        }
    }

    fn run_flow<'a>(
        &'a self,
        flow: &'a Flow,
        scope: Vec<ScopeFrame>,
        previous_event: u64,
        start: Start,
    ) -> BoxFuture<'a, Result<Value, FlowFailure>> {
        Box::pin(async move {
            let cursor = Cursor::new(previous_event);
            let (mut name, mut input, mut nested) = match start {
                Start::Fresh(input) => (flow.start_at.clone(), input, None),
                Start::Resume(point) => (point.state, point.input, point.nested),
            };
            loop {
                if scope.is_empty() {
                    if let Some(deadline) = self.deadline {
                        if self.executor.clock.now() > deadline {
                            return Err(FlowFailure {
                                failure: Failure::new(
                                    TIMEOUT,
                                    "The execution ran longer than the state machine's TimeoutSeconds.",
                                ),
                                resume: Some(ResumePoint {
                                    state: name,
                                    input,
                                    nested,
                                }),
                                timed_out: true,
                            });
                        }
                    }
                }
                let Some(state) = flow.states.get(&name) else {
                    return Err(FlowFailure {
                        failure: Failure::runtime(format!("no state named '{name}'")),
                        resume: None,
                        timed_out: false,
                    });
                };
                match self
                    .run_state(&name, state, &input, &scope, &cursor, nested.take())
                    .await
                {
                    Ok(Step::Next(next, output)) => {
                        name = next;
                        input = output;
                    }
                    Ok(Step::End(output)) => return Ok(output),
                    Err(failed) => {
                        return Err(FlowFailure {
                            failure: failed.failure,
                            resume: Some(ResumePoint {
                                state: name,
                                input,
                                nested: failed.nested,
                            }),
                            timed_out: false,
                        })
                    }
                }
            }
        })
    }

    fn input_path(&self, state: &State, raw: &Value, context: &Value) -> Result<Value, Failure> {
        select(state.input_path.as_ref(), raw, context, "InputPath")
    }

    fn output_path(
        &self,
        name: &str,
        state: &State,
        value: &Value,
        context: &Value,
    ) -> Result<Value, Failure> {
        let output = select(state.output_path.as_ref(), value, context, "OutputPath")?;
        self.check_size(name, "output", &output)?;
        Ok(output)
    }

    fn run_state<'a>(
        &'a self,
        name: &'a str,
        state: &'a State,
        raw: &'a Value,
        scope: &'a [ScopeFrame],
        cursor: &'a Cursor,
        resume: Option<Nested>,
    ) -> BoxFuture<'a, Result<Step, StateFailure>> {
        Box::pin(async move {
            let entered = self.executor.clock.now();
            self.emit(
                scope,
                cursor,
                EventType::entered(state.kind.type_name()),
                EventDetails {
                    name: Some(name.to_owned()),
                    input: Some(raw.clone()),
                    ..EventDetails::default()
                },
            );
            let running = Running {
                name,
                state,
                raw,
                scope,
                cursor,
                entered,
            };
            let step = match &state.kind {
                Kind::Task(task) => {
                    return self
                        .with_retries(running, &task.outcome, None, |attempt| {
                            Box::pin(self.task_attempt(running, task, attempt))
                        })
                        .await
                }
                Kind::Parallel(parallel) => {
                    return self
                        .with_retries(running, &parallel.outcome, resume, |attempt| {
                            Box::pin(self.parallel_attempt(running, parallel, attempt))
                        })
                        .await
                }
                Kind::Map(map) => {
                    return self
                        .with_retries(running, &map.outcome, resume, |attempt| {
                            Box::pin(self.map_attempt(running, map, attempt))
                        })
                        .await
                }
                Kind::Pass(pass) => self.pass(running, pass)?,
                Kind::Choice(choice) => self.choice(running, choice)?,
                Kind::Wait(wait) => self.wait(running, wait).await?,
                Kind::Succeed => {
                    let (context, effective) = self.effective_input(running)?;
                    Step::End(self.output_path(name, state, &effective, &context)?)
                }
                Kind::Fail(fail) => return Err(self.raised(running, fail).into()),
            };
            self.exited(running, step.output());
            Ok(step)
        })
    }

    /// Records that a state exited with `output` (a Fail state, which never exits, has no
    /// such event).
    fn exited(&self, running: Running<'_>, output: &Value) {
        if let Some(exited) = EventType::exited(running.state.kind.type_name()) {
            self.emit(
                running.scope,
                running.cursor,
                exited,
                EventDetails {
                    name: Some(running.name.to_owned()),
                    output: Some(output.clone()),
                    ..EventDetails::default()
                },
            );
        }
    }

    /// The context object and the effective input (after `InputPath`) of a state that has
    /// no `Retry` (its `$$.State.RetryCount` is 0).
    fn effective_input(&self, running: Running<'_>) -> Result<(Value, Value), Failure> {
        let context = self.context(running.name, running.entered, 0, None);
        let effective = self.input_path(running.state, running.raw, &context)?;
        Ok((context, effective))
    }

    /// A Pass state: its `Result`, else its `Parameters` applied to the effective input,
    /// else the effective input, placed into the raw input by `ResultPath`.
    fn pass(&self, running: Running<'_>, pass: &PassState) -> Result<Step, Failure> {
        let (context, effective) = self.effective_input(running)?;
        let result = match (&pass.result, &pass.parameters) {
            (Some(result), _) => result.clone(),
            (None, Some(parameters)) => self.template(parameters, &effective, &context)?,
            (None, None) => effective,
        };
        let combined = place_result(pass.result_path.as_ref(), running.raw, result)?;
        let output = self.output_path(running.name, running.state, &combined, &context)?;
        Ok(step(pass.next.as_deref(), output))
    }

    /// A Choice state: the `Next` of the first rule that matches, else its `Default`, else
    /// `States.NoChoiceMatched`.
    fn choice(&self, running: Running<'_>, choice: &ChoiceState) -> Result<Step, Failure> {
        let (context, effective) = self.effective_input(running)?;
        let mut next = None;
        for rule in &choice.choices {
            if rule.condition.evaluate(&effective, &context)? {
                next = Some(rule.next.clone());
                break;
            }
        }
        let Some(next) = next.or_else(|| choice.default.clone()) else {
            return Err(Failure::new(
                NO_CHOICE_MATCHED,
                format!(
                    "No Choice Rules matched and no Default was specified in state '{}'.",
                    running.name
                ),
            ));
        };
        Ok(Step::Next(
            next,
            self.output_path(running.name, running.state, &effective, &context)?,
        ))
    }

    /// A Wait state: sleeps on the clock for its duration, then passes its input on.
    async fn wait(&self, running: Running<'_>, wait: &WaitState) -> Result<Step, Failure> {
        let (context, effective) = self.effective_input(running)?;
        let duration = self.wait_duration(&wait.wait, &effective)?;
        self.executor.clock.sleep(duration).await;
        Ok(step(
            wait.next.as_deref(),
            self.output_path(running.name, running.state, &effective, &context)?,
        ))
    }

    /// The failure a Fail state raises: its `Error` and `Cause` (each literal, by path or by
    /// an intrinsic call), or the failure of resolving one of them.
    fn raised(&self, running: Running<'_>, fail: &FailState) -> Failure {
        let context = self.context(running.name, running.entered, 0, None);
        let error = match self.fail_text(fail.error.as_ref(), running.raw, &context, "ErrorPath") {
            Ok(error) => error,
            Err(failure) => return failure,
        };
        let cause = match self.fail_text(fail.cause.as_ref(), running.raw, &context, "CausePath") {
            Ok(cause) => cause,
            Err(failure) => return failure,
        };
        Failure {
            error: error.unwrap_or_default(),
            cause,
        }
    }

    fn wait_duration(&self, wait: &WaitFor, effective: &Value) -> Result<Duration, Failure> {
        let until = |t: DateTime<Utc>| (t - self.executor.clock.now()).to_std().unwrap_or(Duration::ZERO);
        Ok(match wait {
            WaitFor::Seconds(s) => Duration::from_secs(*s),
            WaitFor::Timestamp(t) => until(t.with_timezone(&Utc)),
            WaitFor::SecondsPath(path) => {
                let value = resolve(path, effective, "SecondsPath")?;
                Duration::from_secs(exact_unsigned(&value).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The SecondsPath '{path}' must select a non-negative integer, got {}",
                        to_compact(&value)
                    ))
                })?)
            }
            WaitFor::TimestampPath(path) => {
                let value = resolve(path, effective, "TimestampPath")?;
                let t = value.as_str().and_then(parse_timestamp).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The TimestampPath '{path}' must select an RFC 3339 timestamp, got {}",
                        to_compact(&value)
                    ))
                })?;
                until(t.with_timezone(&Utc))
            }
        })
    }

    fn fail_text(
        &self,
        text: Option<&Text>,
        raw: &Value,
        context: &Value,
        field: &str,
    ) -> Result<Option<String>, Failure> {
        let value = match text {
            None => return Ok(None),
            Some(Text::Literal(s)) => return Ok(Some(s.clone())),
            Some(Text::Path(path)) => resolve(path, raw, field)?,
            Some(Text::Call(call)) => {
                let mut rng = self.lock_rng();
                call.evaluate(&mut Env {
                    input: raw,
                    context,
                    rng: &mut rng,
                })?
            }
        };
        match value {
            Value::String(s) => Ok(Some(s)),
            other => Err(Failure::runtime(format!(
                "The {field} of a Fail state must resolve to a string, got {}",
                type_name(&other)
            ))),
        }
    }

    /// Runs attempts of a Task, Parallel or Map state under its `Retry` and `Catch`.
    async fn with_retries<'a, F>(
        &'a self,
        running: Running<'a>,
        outcome: &'a Outcome,
        mut resume: Option<Nested>,
        attempt: F,
    ) -> Result<Step, StateFailure>
    where
        F: Fn(Attempt) -> BoxFuture<'a, Result<Value, StateFailure>>,
    {
        let Running { name, raw, .. } = running;
        let mut counters = RetryCounters::new(outcome.retry.len());
        let result = loop {
            let retries = counters.total();
            let this_attempt = Attempt {
                retries,
                context: self.context(name, running.entered, retries, None),
                resume: resume.take(),
            };
            let failed = match attempt(this_attempt).await {
                Ok(output) => break Ok(step(outcome.next.as_deref(), output)),
                Err(failed) => failed,
            };
            let error = failed.failure.error.clone();
            if !is_recoverable(&error) {
                break Err(failed);
            }
            let delay = counters.next_delay(&outcome.retry, &error, &mut *self.lock_rng());
            if let Some(delay) = delay {
                tracing::debug!(state = name, error, ?delay, "retrying");
                self.executor.clock.sleep(delay).await;
                continue;
            }
            match outcome
                .catch
                .iter()
                .find(|c| any_matches(&c.error_equals, &error))
            {
                Some(catcher) => {
                    let output = place_result(
                        catcher.result_path.as_ref(),
                        raw,
                        failed.failure.to_error_output(),
                    )?;
                    break Ok(Step::Next(catcher.next.clone(), output));
                }
                None => break Err(failed),
            }
        };
        // As in Step Functions' history, a caught failure also exits its state, with the
        // catcher's output, before the catcher's target is entered.
        if let Ok(step) = &result {
            self.exited(running, step.output());
        }
        result
    }

    /// Applies `ResultSelector`, `ResultPath` and `OutputPath` to a state's result.
    fn finish_result(
        &self,
        running: Running<'_>,
        outcome: &Outcome,
        result: Value,
        context: &Value,
    ) -> Result<Value, Failure> {
        let selected = match &outcome.result_selector {
            Some(selector) => self.template(selector, &result, context)?,
            None => result,
        };
        let combined = place_result(outcome.result_path.as_ref(), running.raw, selected)?;
        self.output_path(running.name, running.state, &combined, context)
    }

    /// One attempt of a Task state: the handler is invoked with the effective parameters,
    /// within the task's timeout, and its result goes through `ResultSelector`,
    /// `ResultPath` and `OutputPath`.
    async fn task_attempt(
        &self,
        running: Running<'_>,
        task: &TaskState,
        attempt: Attempt,
    ) -> Result<Value, StateFailure> {
        let Running {
            name,
            state,
            raw,
            scope,
            cursor,
            ..
        } = running;
        let Attempt { retries, context, .. } = attempt;
        let effective = self.input_path(state, raw, &context)?;
        let parameters = match &task.parameters {
            Some(template) => self.template(template, &effective, &context)?,
            None => effective.clone(),
        };
        self.check_size(name, "input", &parameters)?;
        let timeout = task_timeout(task, &effective)?;
        let details = EventDetails {
            name: Some(name.to_owned()),
            resource: Some(task.resource.clone()),
            ..EventDetails::default()
        };
        self.emit(
            scope,
            cursor,
            EventType::TaskScheduled,
            EventDetails {
                parameters: Some(parameters.clone()),
                timeout_in_seconds: timeout,
                retry_count: Some(retries),
                ..details.clone()
            },
        );
        self.emit(scope, cursor, EventType::TaskStarted, details.clone());
        let task_context = self.task_context(name, retries, &context);
        let (event, failure) = match self.invoke(task, parameters, &task_context, timeout).await {
            Some(Ok(result)) => {
                self.emit(
                    scope,
                    cursor,
                    EventType::TaskSucceeded,
                    EventDetails {
                        output: Some(result.clone()),
                        ..details
                    },
                );
                self.check_size(name, "result", &result)?;
                return Ok(self.finish_result(running, &task.outcome, result, &context)?);
            }
            Some(Err(failure)) => (EventType::TaskFailed, failure),
            None => (
                EventType::TaskTimedOut,
                Failure::new(
                    TIMEOUT,
                    format!("Task '{name}' timed out after {} seconds.", timeout.unwrap_or(0)),
                ),
            ),
        };
        self.emit(
            scope,
            cursor,
            event,
            EventDetails {
                error: Some(failure.error.clone()),
                cause: failure.cause.clone(),
                ..details
            },
        );
        Err(failure.into())
    }

    /// What a task handler is told about the attempt of state `name` it runs.
    fn task_context(&self, name: &str, retries: u64, context: &Value) -> TaskContext {
        TaskContext {
            execution_name: self.name.clone(),
            execution_id: self.arn.clone(),
            state_name: name.to_owned(),
            retry_count: retries,
            redrive_count: self.redrive_count,
            context_object: context.clone(),
            clock: Arc::clone(&self.executor.clock),
        }
    }

    /// Invokes the task handler, within `timeout` seconds if given: the handler's result,
    /// or `None` when the timeout passed first.
    async fn invoke(
        &self,
        task: &TaskState,
        parameters: Value,
        task_context: &TaskContext,
        timeout: Option<u64>,
    ) -> Option<Result<Value, Failure>> {
        // A handler that panics fails the task (States.TaskFailed) instead of unwinding
        // through the executor, so the execution still ends FAILED and can be redriven.
        let invocation = AssertUnwindSafe(self.executor.handler.invoke(
            &task.resource,
            parameters,
            task_context,
        ))
        .catch_unwind()
        .map(|result| result.unwrap_or_else(|panic| Err(panicked(panic.as_ref()))));
        let Some(seconds) = timeout else {
            return Some(invocation.await);
        };
        let mut slot = None;
        let finished = self
            .executor
            .clock
            .timeout(
                Duration::from_secs(seconds),
                Box::pin(async {
                    slot = Some(invocation.await);
                }),
            )
            .await;
        if finished {
            slot
        } else {
            None
        }
    }

    /// One attempt of a Parallel state: every branch runs with the effective input (after
    /// `Parameters`), or a redrive resumes the branches where they stood.
    async fn parallel_attempt(
        &self,
        running: Running<'_>,
        parallel: &ParallelState,
        attempt: Attempt,
    ) -> Result<Value, StateFailure> {
        let Attempt { context, resume, .. } = attempt;
        let (input, progress) = match resume {
            Some(Nested::Parallel { input, branches }) if branches.len() == parallel.branches.len() => {
                (input, branches)
            }
            _ => {
                let effective = self.input_path(running.state, running.raw, &context)?;
                let input = match &parallel.parameters {
                    Some(template) => self.template(template, &effective, &context)?,
                    None => effective,
                };
                (input, vec![Progress::NotStarted; parallel.branches.len()])
            }
        };
        let started = self.emit(
            running.scope,
            running.cursor,
            EventType::ParallelStateStarted,
            named(running.name),
        );
        let branches = Branches::Parallel {
            flows: &parallel.branches,
            input,
        };
        let group = Group::Parallel { started };
        self.fan_out(running, group, branches, progress, &parallel.outcome, &context)
            .await
    }

    /// One attempt of a Map state: the item processor runs once per item, or a redrive
    /// resumes the iterations where they stood, the items as they were selected.
    async fn map_attempt(
        &self,
        running: Running<'_>,
        map: &MapState,
        attempt: Attempt,
    ) -> Result<Value, StateFailure> {
        let Attempt {
            retries,
            context,
            resume,
        } = attempt;
        let effective = self.input_path(running.state, running.raw, &context)?;
        let redriven =
            matches!(&resume, Some(Nested::Map { items, iterations }) if items.len() == iterations.len());
        let (items, progress) = match resume {
            Some(Nested::Map { items, iterations }) if items.len() == iterations.len() => (items, iterations),
            _ => {
                let items = self.map_items(running, map, retries, &effective)?;
                let n = items.len();
                (items, vec![Progress::NotStarted; n])
            }
        };
        let total = items.len();
        let limit = self.max_concurrency(map, &effective, total)?;
        let tolerance = self.tolerance(map, &effective)?;
        let map_run = self.map_started(running, map, total, redriven);
        let group = Group::Map(Iterations {
            map_run,
            limit,
            tolerance,
            total,
            failures: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let branches = Branches::Map {
            processor: &map.processor,
            items,
        };
        self.fan_out(running, group, branches, progress, &map.outcome, &context)
            .await
    }

    /// A Map state's items: those `ItemsPath` selects, each through `ItemSelector` if given.
    fn map_items(
        &self,
        running: Running<'_>,
        map: &MapState,
        retries: u64,
        effective: &Value,
    ) -> Result<Vec<Value>, Failure> {
        let Running { name, entered, .. } = running;
        let selected = resolve(&map.items_path, effective, "ItemsPath")?;
        let Value::Array(list) = selected else {
            return Err(Failure::runtime(format!(
                "The ItemsPath '{}' of Map state '{name}' must select an array, got {}",
                map.items_path,
                type_name(&selected)
            )));
        };
        let mut items = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            items.push(match &map.item_selector {
                Some(selector) => {
                    let item_context = self.context(name, entered, retries, Some((index, item)));
                    self.template(selector, effective, &item_context)?
                }
                None => item.clone(),
            });
        }
        Ok(items)
    }

    /// How many of a Map's `total` iterations run at once: `MaxConcurrency`, 0 meaning all.
    fn max_concurrency(&self, map: &MapState, effective: &Value, total: usize) -> Result<usize, Failure> {
        let limit = match &map.max_concurrency {
            Number::Fixed(n) => *n,
            Number::Path(path) => {
                let value = resolve(path, effective, "MaxConcurrencyPath")?;
                exact_unsigned(&value).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The MaxConcurrencyPath '{path}' must select a non-negative integer, got {}",
                        to_compact(&value)
                    ))
                })?
            }
        };
        Ok(if limit == 0 {
            total.max(1)
        } else {
            usize::try_from(limit).unwrap_or(usize::MAX)
        })
    }

    /// Records that a Map state starts its `total` iterations and, for a Distributed Map, that
    /// its Map Run starts (or is redriven); returns the Map Run's name.
    fn map_started(
        &self,
        running: Running<'_>,
        map: &MapState,
        total: usize,
        redriven: bool,
    ) -> Option<String> {
        let Running {
            name, scope, cursor, ..
        } = running;
        self.emit(
            scope,
            cursor,
            EventType::MapStateStarted,
            EventDetails {
                length: Some(total),
                ..named(name)
            },
        );
        // A Distributed Map runs its iterations as the child executions of one Map Run, named
        // after the execution and the Map's label; a redrive redrives the same Map Run.
        let map_run = map.map_run_label.as_ref().map(|label| {
            let execution = self.execution_context["Name"].as_str().unwrap_or_default();
            format!("{execution}/{label}")
        });
        if let Some(run) = &map_run {
            let event = if redriven {
                EventType::MapRunRedriven
            } else {
                EventType::MapRunStarted
            };
            self.emit(
                scope,
                cursor,
                event,
                EventDetails {
                    length: Some(total),
                    map_run: Some(run.clone()),
                    ..named(name)
                },
            );
        }
        map_run
    }

    /// The attempt loop Parallel and Map share: runs each of the `branches` from where its
    /// `progress` left it (a Map at most `MaxConcurrency` at a time, a Parallel all at once),
    /// records how the state ended (see [`Run::settle`]) and applies the state's `outcome`
    /// fields to the results; on failure, keeps every branch's progress for a redrive.
    async fn fan_out(
        &self,
        running: Running<'_>,
        group: Group,
        branches: Branches<'_>,
        progress: Vec<Progress>,
        outcome: &Outcome,
        context: &Value,
    ) -> Result<Value, StateFailure> {
        let fanout = Fanout {
            name: running.name,
            scope: running.scope,
            cursor: running.cursor,
            group,
        };
        // Collected first: a lazy iterator of closures inside the future trips up the
        // compiler's `Send` inference ("FnOnce is not general enough").
        let runs: Vec<_> = branches
            .each()
            .into_iter()
            .zip(progress)
            .enumerate()
            .map(|(index, ((flow, input), progress))| self.run_branch(&fanout, index, flow, input, progress))
            .collect();
        let outcomes = match &fanout.group {
            Group::Parallel { .. } => join_all(runs).await,
            Group::Map(iterations) => stream::iter(runs).buffered(iterations.limit).collect().await,
        };
        let results = self
            .settle(&fanout, outcomes)
            .map_err(|(failure, progress)| StateFailure {
                failure,
                nested: Some(branches.into_nested(progress)),
            })?;
        Ok(self.finish_result(running, outcome, results, context)?)
    }

    /// Runs one branch or iteration from where `progress` left it, in a scope frame of the
    /// fan-out's state: a succeeded one is kept, a failed one resumes, a new one starts with
    /// `input`. Returns its progress and, if it failed, its failure.
    async fn run_branch(
        &self,
        fanout: &Fanout<'_>,
        index: usize,
        flow: &Flow,
        input: &Value,
        progress: Progress,
    ) -> (Progress, Option<Failure>) {
        let start = match progress {
            Progress::Succeeded { .. } => return (progress, None),
            _ if fanout.stopped() => return (progress, None),
            Progress::Failed { resume } => Start::Resume(resume),
            Progress::NotStarted => Start::Fresh(input.clone()),
        };
        let previous = match &fanout.group {
            Group::Parallel { started } => *started,
            Group::Map(iterations) => {
                self.iteration_event(fanout, iterations, EventType::MapIterationStarted, index, None)
            }
        };
        let mut inner = fanout.scope.to_vec();
        inner.push(ScopeFrame {
            state: fanout.name.to_owned(),
            index,
        });
        match self.run_flow(flow, inner, previous, start).await {
            Ok(output) => {
                if let Group::Map(iterations) = &fanout.group {
                    self.iteration_event(fanout, iterations, EventType::MapIterationSucceeded, index, None);
                }
                (Progress::Succeeded { output }, None)
            }
            Err(failed) => {
                if let Group::Map(iterations) = &fanout.group {
                    let failure = Some(&failed.failure);
                    self.iteration_event(fanout, iterations, EventType::MapIterationFailed, index, failure);
                    iterations.count_failure();
                }
                let resume = failed.resume.unwrap_or_else(|| ResumePoint {
                    state: flow.start_at.clone(),
                    input: input.clone(),
                    nested: None,
                });
                (Progress::Failed { resume }, Some(failed.failure))
            }
        }
    }

    /// Records an event of Map iteration `index` (with `failure`'s error and cause if
    /// given); returns its id.
    fn iteration_event(
        &self,
        fanout: &Fanout<'_>,
        iterations: &Iterations,
        event_type: EventType,
        index: usize,
        failure: Option<&Failure>,
    ) -> u64 {
        let iteration = EventDetails {
            index: Some(index),
            child_execution: iterations.map_run.as_ref().map(|run| format!("{run}:{index}")),
            ..named(fanout.name)
        };
        let details = match failure {
            Some(failure) => EventDetails {
                error: Some(failure.error.clone()),
                cause: failure.cause.clone(),
                ..iteration
            },
            None => iteration,
        };
        self.emit(fanout.scope, fanout.cursor, event_type, details)
    }

    /// Records how a fan-out ended. Returns the results in the branches' order (a failed
    /// Map item tolerated gives its error output), or the failure that fails the state with
    /// every branch's progress, for a redrive.
    fn settle(
        &self,
        fanout: &Fanout<'_>,
        outcomes: Vec<(Progress, Option<Failure>)>,
    ) -> Result<Value, (Failure, Vec<Progress>)> {
        let Fanout {
            name, scope, cursor, ..
        } = *fanout;
        let (failed, succeeded, map_run) = match &fanout.group {
            Group::Parallel { .. } => (
                EventType::ParallelStateFailed,
                EventType::ParallelStateSucceeded,
                None,
            ),
            Group::Map(iterations) => (
                EventType::MapStateFailed,
                EventType::MapStateSucceeded,
                iterations.map_run.as_ref(),
            ),
        };
        if let Some(failure) = fanout.failure(&outcomes) {
            if let Some(run) = map_run {
                self.emit(
                    scope,
                    cursor,
                    EventType::MapRunFailed,
                    EventDetails {
                        map_run: Some(run.clone()),
                        ..failed_details(name, &failure)
                    },
                );
            }
            self.emit(scope, cursor, failed, failed_details(name, &failure));
            return Err((failure, outcomes.into_iter().map(|(p, _)| p).collect()));
        }
        if let Some(run) = map_run {
            self.emit(
                scope,
                cursor,
                EventType::MapRunSucceeded,
                EventDetails {
                    map_run: Some(run.clone()),
                    ..named(name)
                },
            );
        }
        self.emit(scope, cursor, succeeded, named(name));
        Ok(Value::Array(
            outcomes
                .into_iter()
                .map(|(progress, failure)| match (progress, failure) {
                    (_, Some(failure)) => failure.to_error_output(),
                    (progress, None) => succeeded_output(progress),
                })
                .collect(),
        ))
    }

    /// The Distributed Map's failure tolerance: `(count, percentage)`, or `None` for none.
    fn tolerance(&self, map: &MapState, effective: &Value) -> Result<Option<Tolerance>, Failure> {
        let count = match &map.tolerated_failure_count {
            None => None,
            Some(Number::Fixed(n)) => Some(*n),
            Some(Number::Path(path)) => {
                let value = resolve(path, effective, "ToleratedFailureCountPath")?;
                Some(exact_unsigned(&value).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The ToleratedFailureCountPath '{path}' must select a non-negative integer"
                    ))
                })?)
            }
        };
        let percentage = match &map.tolerated_failure_percentage {
            None => None,
            Some(Percentage::Fixed(p)) => Some(*p),
            Some(Percentage::Path(path)) => {
                let value = resolve(path, effective, "ToleratedFailurePercentagePath")?;
                Some(
                    value
                        .as_f64()
                        .filter(|p| (0.0..=100.0).contains(p))
                        .ok_or_else(|| {
                            Failure::runtime(format!(
                        "The ToleratedFailurePercentagePath '{path}' must select a number from 0 to 100"
                    ))
                        })?,
                )
            }
        };
        Ok((count.is_some() || percentage.is_some()).then_some(Tolerance { count, percentage }))
    }
}

/// How many Map items may fail before the state does (Distributed mode).
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    count: Option<u64>,
    percentage: Option<f64>,
}

/// The branches of a Parallel state or the iterations of a Map state, run together: each a
/// flow of its own in a scope frame of the state, its failure collected the same way.
struct Fanout<'a> {
    /// The Parallel or Map state's name.
    name: &'a str,
    /// Where the state runs.
    scope: &'a [ScopeFrame],
    /// The history position of the state's own events.
    cursor: &'a Cursor,
    /// What is particular to the state type.
    group: Group,
}

/// What the branches of a Parallel or Map state run, and with which input.
enum Branches<'f> {
    /// One flow per branch, each given the state's effective input.
    Parallel { flows: &'f [Flow], input: Value },
    /// The item processor, once per item.
    Map { processor: &'f Flow, items: Vec<Value> },
}

impl<'f> Branches<'f> {
    /// Each branch's flow and input, in order.
    fn each(&self) -> Vec<(&'f Flow, &Value)> {
        match self {
            Branches::Parallel { flows, input } => flows.iter().map(|flow| (flow, input)).collect(),
            Branches::Map { processor, items } => items.iter().map(|item| (*processor, item)).collect(),
        }
    }

    /// Where a redrive resumes the state: its branches' inputs and their `progress`.
    fn into_nested(self, progress: Vec<Progress>) -> Nested {
        match self {
            Branches::Parallel { input, .. } => Nested::Parallel {
                input,
                branches: progress,
            },
            Branches::Map { items, .. } => Nested::Map {
                items,
                iterations: progress,
            },
        }
    }
}

/// How Parallel branches and Map iterations differ as they run.
enum Group {
    /// Every branch follows the `ParallelStateStarted` event (its id) and records no event
    /// of its own; the first failure fails the state.
    Parallel { started: u64 },
    /// Every iteration records its start and end; failures may be tolerated.
    Map(Iterations),
}

/// The bookkeeping of a Map state's iterations.
struct Iterations {
    /// A Distributed Map's Map Run, `<execution>/<label>`; `None` inline.
    map_run: Option<String>,
    /// How many iterations run at once (`MaxConcurrency`, at least 1).
    limit: usize,
    /// A Distributed Map's failure tolerance; `None` tolerates no failure.
    tolerance: Option<Tolerance>,
    /// How many items the Map has.
    total: usize,
    /// How many iterations have failed so far.
    failures: AtomicUsize,
    /// Set once failures exceed the tolerance: no further iteration starts.
    stop: AtomicBool,
}

impl Iterations {
    /// Whether `failures` of the items failing leaves the Map succeeding.
    fn tolerates(&self, failures: usize) -> bool {
        let total = self.total;
        match self.tolerance {
            None => failures == 0,
            Some(Tolerance { count, percentage }) => {
                count.is_none_or(|c| failures as u64 <= c)
                    && percentage.is_none_or(|p| total == 0 || failures as f64 * 100.0 / total as f64 <= p)
            }
        }
    }

    /// Counts a failed iteration, stopping further starts once beyond the tolerance.
    fn count_failure(&self) {
        let count = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.tolerates(count) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

impl Fanout<'_> {
    /// Whether no further branch may start.
    fn stopped(&self) -> bool {
        matches!(&self.group, Group::Map(iterations) if iterations.stop.load(Ordering::Relaxed))
    }

    /// The failure that fails the state, given every branch's outcome: the lowest-indexed
    /// branch's own failure, or for a Distributed Map with a tolerance,
    /// `States.ExceedToleratedFailureThreshold` once more items failed than tolerated.
    fn failure(&self, outcomes: &[(Progress, Option<Failure>)]) -> Option<Failure> {
        match &self.group {
            Group::Map(iterations) if iterations.tolerance.is_some() => {
                let unfinished = outcomes
                    .iter()
                    .filter(|(p, _)| !matches!(p, Progress::Succeeded { .. }))
                    .count();
                (!iterations.tolerates(unfinished)).then(|| {
                    Failure::new(
                        EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        format!(
                            "Map state '{}': {unfinished} of {} items failed, more than tolerated.",
                            self.name, iterations.total
                        ),
                    )
                })
            }
            _ => outcomes.iter().find_map(|(_, f)| f.clone()),
        }
    }
}

/// A Task's timeout in seconds: its `TimeoutSeconds`, or what its `TimeoutSecondsPath`
/// selects in the effective input; `None` for none.
fn task_timeout(task: &TaskState, effective: &Value) -> Result<Option<u64>, Failure> {
    Ok(match &task.timeout {
        None => None,
        Some(Number::Fixed(s)) => Some(*s),
        Some(Number::Path(path)) => {
            let value = resolve(path, effective, "TimeoutSecondsPath")?;
            Some(exact_unsigned(&value).filter(|s| *s > 0).ok_or_else(|| {
                Failure::runtime(format!(
                    "The TimeoutSecondsPath '{path}' must select a positive integer, got {}",
                    to_compact(&value)
                ))
            })?)
        }
    })
}

/// The failure a panicking task handler reports.
fn panicked(payload: &(dyn Any + Send)) -> Failure {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    Failure::new(TASK_FAILED, format!("The task handler panicked: {message}"))
}

fn step(next: Option<&str>, output: Value) -> Step {
    match next {
        Some(next) => Step::Next(next.to_owned(), output),
        None => Step::End(output),
    }
}

fn named(name: &str) -> EventDetails {
    EventDetails {
        name: Some(name.to_owned()),
        ..EventDetails::default()
    }
}

fn failed_details(name: &str, failure: &Failure) -> EventDetails {
    EventDetails {
        error: Some(failure.error.clone()),
        cause: failure.cause.clone(),
        ..named(name)
    }
}

fn succeeded_output(progress: Progress) -> Value {
    match progress {
        Progress::Succeeded { output } => output,
        _ => Value::Null,
    }
}

/// Applies a reference path that must match (`ItemsPath`, `SecondsPath`, ...).
fn resolve(path: &Path, input: &Value, field: &str) -> Result<Value, Failure> {
    path.resolve(input).ok_or_else(|| {
        Failure::runtime(format!(
            "Invalid path '{path}' in {field}: no results in the input '{}'",
            to_compact(input)
        ))
    })
}

/// Applies `InputPath` or `OutputPath`: `null` gives `{}`.
fn select(path: Option<&Path>, value: &Value, context: &Value, field: &str) -> Result<Value, Failure> {
    match path {
        None => Ok(json!({})),
        Some(path) if path.is_root() && !path.is_context() => Ok(value.clone()),
        Some(path) => {
            let root = if path.is_context() { context } else { value };
            resolve(path, root, field)
        }
    }
}

/// Applies `ResultPath`: `null` keeps the raw input; a path places the result in it.
fn place_result(path: Option<&Path>, raw: &Value, result: Value) -> Result<Value, Failure> {
    match path {
        None => Ok(raw.clone()),
        Some(path) => path.set(raw.clone(), result).map_err(|e| {
            Failure::new(
                RESULT_PATH_MATCH_FAILURE,
                format!(
                    "Unable to apply ResultPath '{path}' to input '{}': {e}",
                    to_compact(raw)
                ),
            )
        }),
    }
}
