//! Loading a definition: ASL JSON in, a validated [`StateMachine`] out.
//!
//! Everything that can be checked without running is checked here, and every problem
//! found is reported (not just the first), each with its location, e.g.
//! `/States/Load/Retry[1]: States.ALL must appear in the last retrier or catcher`:
//!
//! * structure: `StartAt` names a state; every `Next`, `Default` and catcher `Next`
//!   names a state of the same `States` object; every state is reachable; names are at
//!   most 80 characters and unique across the whole machine, nested ones included;
//! * fields: each state type's allowed fields only (a misspelt `ResultSelecter` is an
//!   error, as in Step Functions); `Next` xor `End` on non-terminal states; `Fail`'s
//!   `Error` xor `ErrorPath` and `Cause` xor `CausePath`; `Wait`'s single duration field;
//! * values: paths, reference paths, payload templates, intrinsic calls, Choice rules,
//!   `Retry` and `Catch` (see the modules that compile each);
//! * scope: JSONata (`QueryLanguage: JSONata`), variables (`Assign`), and the
//!   Distributed Map's `ItemReader`, `ItemBatcher` and `ResultWriter` are rejected with a
//!   message saying this executor does not support them, as is a Distributed Map whose
//!   `ItemProcessor` reads `$$.Execution` (a child execution's own context, not modelled: the
//!   iterations run inside the parent, recorded as the Map Run's child executions).

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::choice::ChoiceRule;
use crate::intrinsics::Intrinsic;
use crate::paths::Path;
use crate::retry::{compile_catch, compile_retry, Catcher, Retrier};
use crate::template::Template;
use crate::value::{exact_unsigned, parse_timestamp};

/// The longest state name Step Functions accepts.
pub const MAX_STATE_NAME_CHARS: usize = 80;

/// A validated state machine, ready to execute.
#[derive(Debug, Clone)]
pub struct StateMachine {
    name: String,
    definition: Value,
    pub(crate) root: Flow,
    pub(crate) timeout_seconds: Option<u64>,
}

/// Why a definition was rejected: every problem found, each with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// One line per problem, `location: message`.
    pub problems: Vec<String>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid state machine definition:")?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

/// A `StartAt` plus `States`: the top level, a Parallel branch or a Map item processor.
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    pub start_at: String,
    pub states: HashMap<String, State>,
}

#[derive(Debug, Clone)]
pub(crate) struct State {
    pub kind: Kind,
    /// `None` when the field is `null`; `$` when absent.
    pub input_path: Option<Path>,
    /// `None` when the field is `null`; `$` when absent.
    pub output_path: Option<Path>,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Task(Box<TaskState>),
    Pass(PassState),
    Choice(ChoiceState),
    Wait(WaitState),
    Succeed,
    Fail(FailState),
    Parallel(Box<ParallelState>),
    Map(Box<MapState>),
}

impl Kind {
    /// The `Type` as written in the definition and in event names.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Task(_) => "Task",
            Kind::Pass(_) => "Pass",
            Kind::Choice(_) => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail(_) => "Fail",
            Kind::Parallel(_) => "Parallel",
            Kind::Map(_) => "Map",
        }
    }
}

/// The fields Task, Parallel and Map share for results and errors.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub result_selector: Option<Template>,
    /// `None` when `ResultPath` is `null`.
    pub result_path: Option<Path>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// `None` for `End: true`.
    pub next: Option<String>,
}

/// A number given literally or through a reference path (`TimeoutSecondsPath`, ...).
#[derive(Debug, Clone)]
pub(crate) enum Number {
    Fixed(u64),
    Path(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct TaskState {
    pub resource: String,
    pub parameters: Option<Template>,
    pub timeout: Option<Number>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub(crate) struct PassState {
    pub parameters: Option<Template>,
    pub result: Option<Value>,
    pub result_path: Option<Path>,
    pub next: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ChoiceState {
    pub choices: Vec<ChoiceRule>,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct WaitState {
    pub wait: WaitFor,
    pub next: Option<String>,
}

/// A string given literally, by a reference path, or by an intrinsic call (`ErrorPath`...).
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Literal(String),
    Path(Path),
    Call(Intrinsic),
}

#[derive(Debug, Clone)]
pub(crate) struct FailState {
    pub error: Option<Text>,
    pub cause: Option<Text>,
}

#[derive(Debug, Clone)]
pub(crate) struct ParallelState {
    pub branches: Vec<Flow>,
    pub parameters: Option<Template>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub(crate) struct MapState {
    pub processor: Flow,
    pub items_path: Path,
    pub item_selector: Option<Template>,
    pub max_concurrency: Number,
    pub tolerated_failure_count: Option<Number>,
    pub tolerated_failure_percentage: Option<Percentage>,
    /// For a Distributed Map, the Map Run's label (`Label`, else the state's name); `None` inline.
    pub map_run_label: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub(crate) enum Percentage {
    Fixed(f64),
    Path(Path),
}

impl StateMachine {
    /// Validates `definition` and prepares it to run. `name` is the state machine's name
    /// (`$$.StateMachine.Name`, and part of execution ids).
    pub fn new(name: impl Into<String>, definition: Value) -> Result<StateMachine, DefinitionError> {
        let mut problems = Vec::new();
        let compiled = compile_machine(&definition, &mut problems);
        match compiled {
            Some((root, timeout_seconds)) if problems.is_empty() => Ok(StateMachine {
                name: name.into(),
                definition,
                root,
                timeout_seconds,
            }),
            _ => Err(DefinitionError { problems }),
        }
    }

    /// Parses ASL JSON text, then as [`StateMachine::new`].
    pub fn from_json_str(name: impl Into<String>, text: &str) -> Result<StateMachine, DefinitionError> {
        let definition: Value = serde_json::from_str(text).map_err(|e| DefinitionError {
            problems: vec![format!("/: not JSON: {e}")],
        })?;
        StateMachine::new(name, definition)
    }

    /// The state machine's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The definition as loaded.
    pub fn definition(&self) -> &Value {
        &self.definition
    }

    /// The top-level `StartAt` state.
    pub fn start_at(&self) -> &str {
        &self.root.start_at
    }
}

fn compile_machine(definition: &Value, problems: &mut Vec<String>) -> Option<(Flow, Option<u64>)> {
    let Some(map) = definition.as_object() else {
        problems.push("/: a definition must be a JSON object".to_owned());
        return None;
    };
    check_fields(
        map,
        &[
            "Comment",
            "StartAt",
            "States",
            "Version",
            "TimeoutSeconds",
            "QueryLanguage",
        ],
        "",
        problems,
    );
    check_query_language(map, "", problems);
    let timeout_seconds = match map.get("TimeoutSeconds") {
        None => None,
        Some(v) => match exact_unsigned(v).filter(|n| *n > 0) {
            Some(n) => Some(n),
            None => {
                problems.push("/TimeoutSeconds: must be a positive integer".to_owned());
                None
            }
        },
    };
    let mut names = HashSet::new();
    let flow = compile_flow(map, "", &mut names, problems)?;
    Some((flow, timeout_seconds))
}

fn check_query_language(map: &Map<String, Value>, at: &str, problems: &mut Vec<String>) {
    match map.get("QueryLanguage") {
        None => {}
        Some(Value::String(s)) if s == "JSONPath" => {}
        Some(Value::String(s)) if s == "JSONata" => problems.push(format!(
            "{at}/QueryLanguage: JSONata is not supported by this executor (JSONPath only)"
        )),
        Some(_) => problems.push(format!("{at}/QueryLanguage: must be \"JSONPath\" or \"JSONata\"")),
    }
}

fn check_fields(map: &Map<String, Value>, allowed: &[&str], at: &str, problems: &mut Vec<String>) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = match key.as_str() {
                "Assign" | "Arguments" | "Output" | "Items" | "Condition" => {
                    " (variables and JSONata are not supported by this executor)"
                }
                "ItemReader" | "ItemBatcher" | "ResultWriter" => {
                    " (the Distributed Map's readers, batchers and writers are not supported by this executor)"
                }
                _ => "",
            };
            problems.push(format!("{at}: field '{key}' is not allowed here{hint}"));
        }
    }
}

fn compile_flow(
    map: &Map<String, Value>,
    at: &str,
    names: &mut HashSet<String>,
    problems: &mut Vec<String>,
) -> Option<Flow> {
    let start_at = match map.get("StartAt") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            problems.push(format!("{at}/StartAt: required, the name of a state"));
            String::new()
        }
    };
    let Some(states_map) = map.get("States").and_then(Value::as_object) else {
        problems.push(format!("{at}/States: required, an object of states"));
        return None;
    };
    if states_map.is_empty() {
        problems.push(format!("{at}/States: must hold at least one state"));
    }
    let mut states = HashMap::new();
    for (name, value) in states_map {
        let here = format!("{at}/States/{name}");
        if name.chars().count() > MAX_STATE_NAME_CHARS {
            problems.push(format!(
                "{here}: a state name is at most {MAX_STATE_NAME_CHARS} characters"
            ));
        }
        if !names.insert(name.clone()) {
            problems.push(format!("{here}: the state name '{name}' is used twice; names must be unique across the state machine"));
        }
        if let Some(state) = compile_state(value, &here, names, problems) {
            states.insert(name.clone(), state);
        }
    }
    if !start_at.is_empty() && !states_map.contains_key(&start_at) {
        problems.push(format!("{at}/StartAt: '{start_at}' is not a state here"));
    }
    check_transitions(&start_at, states_map, at, problems);
    Some(Flow { start_at, states })
}

/// The states a state can go to, read from its JSON (so a state that failed to compile
/// still counts for reachability): `Next`, `Default`, each choice's and catcher's `Next`.
fn transitions(state: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    out.extend(state.get("Next").and_then(Value::as_str));
    out.extend(state.get("Default").and_then(Value::as_str));
    for list in ["Choices", "Catch"] {
        if let Some(items) = state.get(list).and_then(Value::as_array) {
            out.extend(items.iter().filter_map(|i| i.get("Next").and_then(Value::as_str)));
        }
    }
    out
}

fn check_transitions(start_at: &str, raw: &Map<String, Value>, at: &str, problems: &mut Vec<String>) {
    for (name, state) in raw {
        for target in transitions(state) {
            if !raw.contains_key(target) {
                problems.push(format!(
                    "{at}/States/{name}: transition to '{target}', which is not a state of the same 'States' object"
                ));
            }
        }
    }
    if !raw.contains_key(start_at) {
        return;
    }
    let mut seen = HashSet::new();
    let mut stack = vec![start_at];
    while let Some(name) = stack.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(state) = raw.get(name) {
            stack.extend(transitions(state));
        }
    }
    for name in raw.keys().filter(|n| !seen.contains(n.as_str())) {
        problems.push(format!(
            "{at}/States/{name}: the state is not reachable from StartAt"
        ));
    }
}

/// Compiles one state; on problems, records them and returns `None`.
fn compile_state(
    value: &Value,
    at: &str,
    names: &mut HashSet<String>,
    problems: &mut Vec<String>,
) -> Option<State> {
    let Some(map) = value.as_object() else {
        problems.push(format!("{at}: a state must be a JSON object"));
        return None;
    };
    let Some(type_name) = map.get("Type").and_then(Value::as_str) else {
        problems.push(format!(
            "{at}/Type: required, one of Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map"
        ));
        return None;
    };
    let Some(allowed) = allowed_fields(type_name) else {
        problems.push(format!("{at}/Type: unknown state type '{type_name}'"));
        return None;
    };
    let before = problems.len();
    let mut cx = Fields { map, at, problems };
    check_fields(map, &allowed, at, cx.problems);
    check_query_language(map, at, cx.problems);
    let input_path = cx.data_path("InputPath");
    let output_path = cx.data_path("OutputPath");
    let kind = match type_name {
        "Task" => compile_task(&mut cx),
        "Pass" => Kind::Pass(PassState {
            parameters: cx.template("Parameters"),
            result: map.get("Result").cloned(),
            result_path: cx.result_path(),
            next: cx.next_or_end(),
        }),
        "Choice" => compile_choice(&mut cx),
        "Wait" => Kind::Wait(WaitState {
            wait: compile_wait_for(&mut cx),
            next: cx.next_or_end(),
        }),
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail(FailState {
            error: cx.text("Error"),
            cause: cx.text("Cause"),
        }),
        "Parallel" => compile_parallel(&mut cx, names),
        "Map" => compile_map(&mut cx, names)?,
        _ => unreachable!("allowed_fields knows no other type"),
    };
    if let Kind::Succeed | Kind::Fail(_) | Kind::Choice(_) = kind {
        for field in ["Next", "End"] {
            if map.contains_key(field) {
                cx.problem(field, format!("a {type_name} state cannot have '{field}'"));
            }
        }
    }
    if cx.problems.len() > before {
        return None;
    }
    Some(State {
        kind,
        input_path,
        output_path,
    })
}

/// The fields a state of type `type_name` may have; `None` for an unknown type.
fn allowed_fields(type_name: &str) -> Option<Vec<&'static str>> {
    let common = ["Type", "Comment", "QueryLanguage"];
    let io = ["InputPath", "OutputPath"];
    let flow_control = ["Next", "End"];
    let results = ["ResultSelector", "ResultPath", "Retry", "Catch"];
    Some(match type_name {
        "Task" => [
            &common[..],
            &io,
            &flow_control,
            &results,
            &[
                "Resource",
                "Parameters",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ],
        ]
        .concat(),
        "Pass" => [
            &common[..],
            &io,
            &flow_control,
            &["Parameters", "Result", "ResultPath"],
        ]
        .concat(),
        "Choice" => [&common[..], &io, &["Choices", "Default"]].concat(),
        "Wait" => [
            &common[..],
            &io,
            &flow_control,
            &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
        ]
        .concat(),
        "Succeed" => [&common[..], &io].concat(),
        "Fail" => [&common[..], &["Error", "ErrorPath", "Cause", "CausePath"]].concat(),
        "Parallel" => [
            &common[..],
            &io,
            &flow_control,
            &results,
            &["Branches", "Parameters"],
        ]
        .concat(),
        "Map" => [
            &common[..],
            &io,
            &flow_control,
            &results,
            &[
                "ItemProcessor",
                "Iterator",
                "ItemsPath",
                "ItemSelector",
                "Parameters",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "Label",
            ],
        ]
        .concat(),
        _ => return None,
    })
}

/// A Task state: its `Resource` (required), `Parameters`, a timeout and a heartbeat shorter
/// than it, and the outcome fields.
fn compile_task(cx: &mut Fields<'_>) -> Kind {
    let resource = cx.string("Resource").unwrap_or_default();
    if !cx.map.contains_key("Resource") {
        cx.problem("Resource", "required, the task's resource".to_owned());
    }
    let timeout = cx.number_or_path("TimeoutSeconds", 1);
    let heartbeat = cx.number_or_path("HeartbeatSeconds", 1);
    if let (Some(Number::Fixed(t)), Some(Number::Fixed(h))) = (&timeout, &heartbeat) {
        if h >= t {
            cx.problem(
                "HeartbeatSeconds",
                "must be smaller than TimeoutSeconds".to_owned(),
            );
        }
    }
    Kind::Task(Box::new(TaskState {
        resource,
        parameters: cx.template("Parameters"),
        timeout,
        outcome: cx.outcome(),
    }))
}

/// A Choice state: its rules (a non-empty array, each compiled by [`ChoiceRule`]) and its
/// `Default`.
fn compile_choice(cx: &mut Fields<'_>) -> Kind {
    let at = cx.at;
    let choices = match cx.map.get("Choices").and_then(Value::as_array) {
        Some(rules) if !rules.is_empty() => rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| match ChoiceRule::compile(rule) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    cx.problems.push(format!("{at}/Choices[{i}]: {e}"));
                    None
                }
            })
            .collect(),
        _ => {
            cx.problem("Choices", "required, a non-empty array of rules".to_owned());
            Vec::new()
        }
    };
    let default = cx.string("Default");
    Kind::Choice(ChoiceState { choices, default })
}

/// A Wait state's duration: exactly one of `Seconds`, `SecondsPath`, `Timestamp` and
/// `TimestampPath` (zero seconds stands in when that is a problem).
fn compile_wait_for(cx: &mut Fields<'_>) -> WaitFor {
    let map = cx.map;
    let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
        .into_iter()
        .filter(|f| map.contains_key(*f))
        .collect();
    if given.len() != 1 {
        cx.problems.push(format!(
            "{}: a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
            cx.at
        ));
        return WaitFor::Seconds(0);
    }
    match given[0] {
        "Seconds" => match exact_unsigned(&map["Seconds"]) {
            Some(n) => WaitFor::Seconds(n),
            None => {
                cx.problem("Seconds", "must be a non-negative integer".to_owned());
                WaitFor::Seconds(0)
            }
        },
        "Timestamp" => match map["Timestamp"].as_str().and_then(parse_timestamp) {
            Some(t) => WaitFor::Timestamp(t),
            None => {
                cx.problem(
                    "Timestamp",
                    "must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z".to_owned(),
                );
                WaitFor::Seconds(0)
            }
        },
        field => match cx.reference_path(field) {
            Some(p) if field == "SecondsPath" => WaitFor::SecondsPath(p),
            Some(p) => WaitFor::TimestampPath(p),
            None => WaitFor::Seconds(0),
        },
    }
}

/// A Parallel state: its branches (a non-empty array of flows), `Parameters` and the
/// outcome fields.
fn compile_parallel(cx: &mut Fields<'_>, names: &mut HashSet<String>) -> Kind {
    let at = cx.at;
    let branches = match cx.map.get("Branches").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .filter_map(|(i, branch)| {
                let here = format!("{at}/Branches[{i}]");
                let Some(branch) = branch.as_object() else {
                    cx.problems.push(format!("{here}: a branch must be an object"));
                    return None;
                };
                check_fields(branch, &["StartAt", "States", "Comment"], &here, cx.problems);
                compile_flow(branch, &here, names, cx.problems)
            })
            .collect(),
        _ => {
            cx.problem("Branches", "required, a non-empty array of branches".to_owned());
            Vec::new()
        }
    };
    Kind::Parallel(Box::new(ParallelState {
        branches,
        parameters: cx.template("Parameters"),
        outcome: cx.outcome(),
    }))
}

/// A Map state: its item processor, items, concurrency, a Distributed Map's failure
/// tolerance and Map Run label, and the outcome fields. `None` when the processor is
/// missing or does not compile.
fn compile_map(cx: &mut Fields<'_>, names: &mut HashSet<String>) -> Option<Kind> {
    let map = cx.map;
    let at = cx.at;
    let (processor_map, here, distributed) = map_processor(cx)?;
    let map_run_label = distributed.then(|| {
        map.get("Label").and_then(Value::as_str).map_or_else(
            || at.rsplit('/').next().unwrap_or_default().to_owned(),
            str::to_owned,
        )
    });
    let processor = compile_flow(processor_map, &here, names, cx.problems)?;
    let max_concurrency = cx.number_or_path("MaxConcurrency", 0).unwrap_or(Number::Fixed(0));
    let tolerated_failure_count = cx.number_or_path("ToleratedFailureCount", 0);
    let tolerated_failure_percentage = tolerated_failure_percentage(cx);
    if !distributed && (tolerated_failure_count.is_some() || tolerated_failure_percentage.is_some()) {
        cx.problems.push(format!(
            "{at}: ToleratedFailureCount and ToleratedFailurePercentage need ProcessorConfig Mode DISTRIBUTED"
        ));
    }
    let items_path = cx
        .reference_path("ItemsPath")
        .unwrap_or_else(|| Path::parse("$").expect("'$' parses"));
    let item_selector = cx.template("ItemSelector").or_else(|| cx.template("Parameters"));
    Some(Kind::Map(Box::new(MapState {
        processor,
        items_path,
        item_selector,
        max_concurrency,
        tolerated_failure_count,
        tolerated_failure_percentage,
        map_run_label,
        outcome: cx.outcome(),
    })))
}

/// A Map state's item processor (`ItemProcessor`, or the older `Iterator`): its object,
/// its location, and whether it runs in Distributed mode. `None` when there is not exactly
/// one, or it is not an object.
fn map_processor<'a>(cx: &mut Fields<'a>) -> Option<(&'a Map<String, Value>, String, bool)> {
    let map = cx.map;
    let at = cx.at;
    if map.contains_key("ItemProcessor") == map.contains_key("Iterator") {
        cx.problems.push(format!(
            "{at}: a Map state needs exactly one of ItemProcessor and Iterator"
        ));
        return None;
    }
    if map.contains_key("ItemSelector") && map.contains_key("Parameters") {
        cx.problems.push(format!(
            "{at}: a Map state cannot have both ItemSelector and Parameters"
        ));
    }
    let (field, allowed): (&str, &[&str]) = if map.contains_key("ItemProcessor") {
        (
            "ItemProcessor",
            &["StartAt", "States", "Comment", "ProcessorConfig"],
        )
    } else {
        ("Iterator", &["StartAt", "States", "Comment"])
    };
    let here = format!("{at}/{field}");
    let Some(processor_map) = map[field].as_object() else {
        cx.problems
            .push(format!("{here}: must be an object with StartAt and States"));
        return None;
    };
    check_fields(processor_map, allowed, &here, cx.problems);
    let distributed = processor_map
        .get("ProcessorConfig")
        .is_some_and(|config| is_distributed(config, &format!("{here}/ProcessorConfig"), cx.problems));
    if distributed && serde_json::to_string(processor_map).is_ok_and(|text| text.contains("$$.Execution")) {
        // A child execution has its own execution context in Step Functions; this executor runs
        // the iterations inside the parent, so the two would read different values.
        cx.problems.push(format!(
            "{here}: a Distributed Map's child execution has an execution context of its own, which this \
             executor does not model; pass what the iterations need (e.g. $$.Execution.Name) through ItemSelector"
        ));
    }
    Some((processor_map, here, distributed))
}

/// Checks an item processor's `ProcessorConfig` (at `at`); returns whether its `Mode` is
/// `DISTRIBUTED`.
fn is_distributed(config: &Value, at: &str, problems: &mut Vec<String>) -> bool {
    let Some(config) = config.as_object() else {
        problems.push(format!("{at}: must be an object"));
        return false;
    };
    check_fields(config, &["Mode", "ExecutionType"], at, problems);
    let distributed = match config.get("Mode").and_then(Value::as_str) {
        None | Some("INLINE") => false,
        Some("DISTRIBUTED") => true,
        Some(other) => {
            problems.push(format!("{at}/Mode: must be INLINE or DISTRIBUTED, got '{other}'"));
            false
        }
    };
    match config.get("ExecutionType").and_then(Value::as_str) {
        None | Some("STANDARD") | Some("EXPRESS") => {}
        Some(other) => problems.push(format!(
            "{at}/ExecutionType: must be STANDARD or EXPRESS, got '{other}'"
        )),
    }
    distributed
}

/// A Distributed Map's `ToleratedFailurePercentage` (a number from 0 to 100) or
/// `ToleratedFailurePercentagePath`, not both.
fn tolerated_failure_percentage(cx: &mut Fields<'_>) -> Option<Percentage> {
    match (
        cx.map.get("ToleratedFailurePercentage"),
        cx.map.contains_key("ToleratedFailurePercentagePath"),
    ) {
        (Some(_), true) => {
            cx.problems.push(format!(
                "{}: ToleratedFailurePercentage and ToleratedFailurePercentagePath are exclusive",
                cx.at
            ));
            None
        }
        (Some(v), false) => match v.as_f64().filter(|p| (0.0..=100.0).contains(p)) {
            Some(p) => Some(Percentage::Fixed(p)),
            None => {
                cx.problem(
                    "ToleratedFailurePercentage",
                    "must be a number from 0 to 100".to_owned(),
                );
                None
            }
        },
        (None, true) => cx
            .reference_path("ToleratedFailurePercentagePath")
            .map(Percentage::Path),
        (None, false) => None,
    }
}

/// Field readers that record problems at the right location.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    at: &'a str,
    problems: &'a mut Vec<String>,
}

impl Fields<'_> {
    fn problem(&mut self, field: &str, message: String) {
        self.problems.push(format!("{}/{field}: {message}", self.at));
    }

    fn string(&mut self, field: &str) -> Option<String> {
        match self.map.get(field) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(field, "must be a string".to_owned());
                None
            }
        }
    }

    /// `InputPath`/`OutputPath`: `$` when absent, `None` when null.
    fn data_path(&mut self, field: &str) -> Option<Path> {
        match self.map.get(field) {
            None => Some(Path::parse("$").expect("'$' parses")),
            Some(Value::Null) => None,
            Some(Value::String(s)) => match Path::parse(s) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.problem(field, e.to_string());
                    None
                }
            },
            Some(_) => {
                self.problem(field, "must be a path or null".to_owned());
                None
            }
        }
    }

    fn reference_path(&mut self, field: &str) -> Option<Path> {
        match self.map.get(field) {
            None => None,
            Some(Value::String(s)) => match Path::parse_reference(s) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.problem(field, e.to_string());
                    None
                }
            },
            Some(_) => {
                self.problem(field, "must be a reference path".to_owned());
                None
            }
        }
    }

    /// `ResultPath`: `$` when absent, `None` when null.
    fn result_path(&mut self) -> Option<Path> {
        match self.map.get("ResultPath") {
            None => Some(Path::parse("$").expect("'$' parses")),
            Some(Value::Null) => None,
            Some(_) => self.reference_path("ResultPath"),
        }
    }

    fn template(&mut self, field: &str) -> Option<Template> {
        let value = self.map.get(field)?;
        match Template::compile(value) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(field, e);
                None
            }
        }
    }

    /// `X` (an integer >= `min`) or `XPath` (a reference path), not both.
    fn number_or_path(&mut self, field: &str, min: u64) -> Option<Number> {
        let path_field = format!("{field}Path");
        match (self.map.get(field), self.map.contains_key(&path_field)) {
            (Some(_), true) => {
                self.problems
                    .push(format!("{}: {field} and {path_field} are exclusive", self.at));
                None
            }
            (Some(v), false) => {
                match exact_unsigned(v).filter(|n| *n >= min && *n <= crate::retry::MAX_INTEGER_FIELD) {
                    Some(n) => Some(Number::Fixed(n)),
                    None => {
                        self.problem(field, format!("must be an integer of at least {min}"));
                        None
                    }
                }
            }
            (None, true) => self.reference_path(&path_field).map(Number::Path),
            (None, false) => None,
        }
    }

    /// `Error`/`Cause` (a string) or `ErrorPath`/`CausePath` (a reference path or an
    /// intrinsic call), not both.
    fn text(&mut self, field: &str) -> Option<Text> {
        let path_field = format!("{field}Path");
        match (self.map.get(field), self.map.get(&path_field)) {
            (Some(_), Some(_)) => {
                self.problems
                    .push(format!("{}: {field} and {path_field} are exclusive", self.at));
                None
            }
            (Some(_), None) => self.string(field).map(Text::Literal),
            (None, Some(Value::String(s))) if s.starts_with('$') => match Path::parse_reference(s) {
                Ok(p) => Some(Text::Path(p)),
                Err(e) => {
                    self.problem(&path_field, e.to_string());
                    None
                }
            },
            (None, Some(Value::String(s))) => match Intrinsic::parse(s) {
                Ok(call) => Some(Text::Call(call)),
                Err(e) => {
                    self.problem(&path_field, e.to_string());
                    None
                }
            },
            (None, Some(_)) => {
                self.problem(
                    &path_field,
                    "must be a reference path or an intrinsic call".to_owned(),
                );
                None
            }
            (None, None) => None,
        }
    }

    /// `Next` xor `End: true`.
    fn next_or_end(&mut self) -> Option<String> {
        let end = match self.map.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problem("End", "must be a boolean".to_owned());
                false
            }
        };
        let next = self.string("Next");
        match (&next, end) {
            (Some(_), true) => self
                .problems
                .push(format!("{}: a state cannot have both 'Next' and 'End'", self.at)),
            (None, false) => self
                .problems
                .push(format!("{}: a state needs 'Next' or '\"End\": true'", self.at)),
            _ => {}
        }
        next
    }

    fn outcome(&mut self) -> Outcome {
        let retry = match self.map.get("Retry") {
            None => Vec::new(),
            Some(v) => compile_retry(v).unwrap_or_else(|e| {
                self.problems.push(format!("{}/{e}", self.at));
                Vec::new()
            }),
        };
        let catch = match self.map.get("Catch") {
            None => Vec::new(),
            Some(v) => compile_catch(v).unwrap_or_else(|e| {
                self.problems.push(format!("{}/{e}", self.at));
                Vec::new()
            }),
        };
        Outcome {
            result_selector: self.template("ResultSelector"),
            result_path: self.result_path(),
            retry,
            catch,
            next: self.next_or_end(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(definition: Value) -> Vec<String> {
        match StateMachine::new("test", definition) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems,
        }
    }

    #[test]
    fn accepts_a_full_definition() {
        let definition = json!({
            "Comment": "all state types",
            "StartAt": "P",
            "TimeoutSeconds": 60,
            "States": {
                "P": {"Type": "Pass", "Result": 1, "ResultPath": "$.x", "Next": "T"},
                "T": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 5,
                      "Retry": [{"ErrorEquals": ["States.ALL"]}],
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}], "Next": "C"},
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "W"}], "Default": "S"},
                "W": {"Type": "Wait", "Seconds": 1, "Next": "Par"},
                "Par": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}], "Next": "M"},
                "M": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
                      "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}},
                      "End": true},
                "S": {"Type": "Succeed"},
                "F": {"Type": "Fail", "ErrorPath": "$.Error", "CausePath": "States.Format('x {}', $.y)"}
            }
        });
        assert_eq!(problems(definition), Vec::<String>::new());
    }

    #[test]
    fn reports_every_problem_with_its_location() {
        let found = problems(json!({
            "StartAt": "Missing",
            "States": {
                "A": {"Type": "Task", "Resource": "r", "ResultSelecter": {}, "Next": "Nowhere"},
                "B": {"Type": "Pass", "Next": "A", "End": true},
                "C": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"},
                "D": {"Type": "Task", "Resource": "r", "End": true,
                      "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]},
                "E": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": 1, "Next": "A"}]},
                "G": {"Type": "Wait", "Seconds": 1, "Timestamp": "2016-03-14T01:59:00Z", "Next": "A"},
                "H": {"Type": "Map", "Iterator": {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, "End": true},
                "I": {"Type": "Pass", "Parameters": {"x.$": "$.["}, "End": true},
                "J": {"Type": "Nope"}
            }
        }));
        let expect = [
            "/StartAt: 'Missing' is not a state here",
            "/States/A: field 'ResultSelecter' is not allowed here",
            "/States/B: a state cannot have both 'Next' and 'End'",
            "/States/C: Error and ErrorPath are exclusive",
            "/States/D/Retry[0]: States.ALL must appear in the last retrier or catcher",
            "/States/E/Choices[0]: 'StringEquals' must be a string",
            "/States/G: a Wait state needs exactly one of",
            "/States/H/Iterator/States/A: the state name 'A' is used twice",
            "/States/I/Parameters: /x.$: invalid JSONPath",
            "/States/J/Type: unknown state type 'Nope'",
        ];
        for e in expect {
            assert!(
                found.iter().any(|p| p.starts_with(e)),
                "missing '{e}' in {found:#?}"
            );
        }
    }

    #[test]
    fn transitions_and_reachability() {
        let found = problems(json!({
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "Inner"},
                "Orphan": {"Type": "Succeed"},
                "P": {"Type": "Parallel", "End": true, "Branches": [
                    {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Next": "A"}}}
                ]}
            }
        }));
        assert!(
            found
                .iter()
                .any(|p| p.contains("/States/A: transition to 'Inner'")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("/Branches[0]/States/Inner: transition to 'A'")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p == "/States/Orphan: the state is not reachable from StartAt"),
            "{found:#?}"
        );
    }

    #[test]
    fn rejects_unsupported_features_clearly() {
        let found = problems(json!({
            "QueryLanguage": "JSONata",
            "StartAt": "M",
            "States": {
                "M": {"Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
                      "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true}
            }
        }));
        assert!(
            found.iter().any(|p| p.contains("JSONata is not supported")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("'ItemReader' is not allowed here (the Distributed Map")),
            "{found:#?}"
        );
    }

    #[test]
    fn a_distributed_map_whose_children_read_the_execution_context_is_refused() {
        let map = |mode: &str| {
            json!({
                "StartAt": "M",
                "States": {
                    "M": {"Type": "Map", "End": true, "Label": "Chunks",
                          "ItemProcessor": {"ProcessorConfig": {"Mode": mode, "ExecutionType": "STANDARD"},
                                            "StartAt": "I",
                                            "States": {"I": {"Type": "Pass", "Parameters": {"run.$": "$$.Execution.Name"}, "End": true}}}}
                }
            })
        };
        let found = problems(map("DISTRIBUTED"));
        assert!(
            found.iter().any(|p| p
                .starts_with("/States/M/ItemProcessor: a Distributed Map's child execution")
                && p.contains("through ItemSelector")),
            "{found:#?}"
        );
        // Inline, the iterations share the execution's context: allowed.
        assert!(problems(map("INLINE")).is_empty());
    }
}
