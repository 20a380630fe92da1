//! `tote aws start|describe|list|redrive`: the verbs of `tote run` and `tote executions`, against
//! the state machine that `cdk deploy` created, through the Step Functions API (aws-sdk-sfn).
//!
//! The state machine's ARN comes from, in order: a flag, `TOTE_STATE_MACHINE_ARN`, or the outputs
//! file of `cdk deploy --outputs-file cdk-outputs.json` (the stack's `StateMachineArn` output).
//! An execution is named by its name or its full ARN. The execution input is the same JSON
//! `tote run` gives the local executor ([`crate::pipeline::execution_input`]), so a deployed and a
//! local run of the same command do the same thing.

use std::path::{Path, PathBuf};

use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::operation::redrive_execution::builders::RedriveExecutionFluentBuilder;
use aws_sdk_sfn::types::ExecutionStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tote_core::{Error, Result};

/// Where `cdk deploy --outputs-file` output is looked for when no file is named.
pub const DEFAULT_OUTPUTS_FILES: &[&str] = &["cdk-outputs.json", "infra-cdk/cdk-outputs.json"];

/// The stack output that holds the state machine's ARN.
pub const ARN_OUTPUT: &str = "StateMachineArn";

/// Picks the state machine's ARN: the flag, else `env` (`TOTE_STATE_MACHINE_ARN`), else the
/// `StateMachineArn` output in the CDK outputs file (`outputs`, or the first of
/// [`DEFAULT_OUTPUTS_FILES`] that exists). An error says all three ways when none gives one.
pub fn resolve_state_machine(
    flag: Option<&str>,
    env: Option<&str>,
    outputs: Option<&Path>,
) -> Result<String> {
    if let Some(arn) = flag.or(env).map(str::trim).filter(|a| !a.is_empty()) {
        return check_state_machine_arn(arn);
    }
    let file = match outputs {
        Some(path) => Some(path.to_path_buf()),
        None => DEFAULT_OUTPUTS_FILES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists()),
    };
    let Some(file) = file else {
        return Err(Error::config(
            "no state machine: pass --state-machine-arn, set TOTE_STATE_MACHINE_ARN, or deploy with \
             `cdk deploy --outputs-file cdk-outputs.json` and run tote where that file is (or pass \
             --cdk-outputs PATH)",
        ));
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::config(format!(
            "cannot read the CDK outputs file {}: {e}",
            file.display()
        ))
    })?;
    arn_from_outputs(&text, &file.display().to_string())
}

/// The `StateMachineArn` output of the one stack in a `cdk deploy --outputs-file` document
/// (`{"<stack>": {"<output>": "<value>", …}, …}`).
pub fn arn_from_outputs(text: &str, origin: &str) -> Result<String> {
    let outputs: serde_json::Map<String, Value> = serde_json::from_str(text).map_err(|e| {
        Error::config(format!(
            "{origin} is not a CDK outputs file ({e}); write one with `cdk deploy --outputs-file {origin}`"
        ))
    })?;
    let found: Vec<(&String, &str)> = outputs
        .iter()
        .filter_map(|(stack, values)| Some((stack, values.get(ARN_OUTPUT)?.as_str()?)))
        .collect();
    match found.as_slice() {
        [(_, arn)] => check_state_machine_arn(arn),
        [] => Err(Error::config(format!(
            "{origin} has no {ARN_OUTPUT} output; is it the outputs file of the tote stack?"
        ))),
        many => Err(Error::config(format!(
            "{origin} has a {ARN_OUTPUT} in several stacks ({}); pass --state-machine-arn to choose",
            many.iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn check_state_machine_arn(arn: &str) -> Result<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() == 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "stateMachine" {
        Ok(arn.to_string())
    } else {
        Err(Error::config(format!(
            "{arn} is not a state machine ARN; expected arn:aws:states:<region>:<account>:stateMachine:<name>"
        )))
    }
}

/// The ARN of execution `name_or_arn` of `state_machine_arn`: an execution ARN is returned as it
/// is, a name is placed beside the state machine's (`…:execution:<machine>:<name>`).
pub fn execution_arn(state_machine_arn: &str, name_or_arn: &str) -> Result<String> {
    if name_or_arn.starts_with("arn:") {
        let parts: Vec<&str> = name_or_arn.split(':').collect();
        if parts.len() == 8 && parts[2] == "states" && parts[5] == "execution" {
            return Ok(name_or_arn.to_string());
        }
        return Err(Error::config(format!(
            "{name_or_arn} is not an execution ARN; pass the execution's name or \
             arn:aws:states:<region>:<account>:execution:<machine>:<name>"
        )));
    }
    if name_or_arn.is_empty()
        || name_or_arn.len() > 80
        || name_or_arn
            .chars()
            .any(|c| c.is_whitespace() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
    {
        return Err(Error::config(format!(
            "{name_or_arn:?} is not an execution name: 1 to 80 characters, no spaces or <>{{}}[]?*\"#%\\^|~`$&,;:/"
        )));
    }
    let machine = check_state_machine_arn(state_machine_arn)?;
    Ok(machine.replacen(":stateMachine:", ":execution:", 1) + ":" + name_or_arn)
}

/// One execution as `tote aws describe` and `list` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    /// The execution's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE.
    pub status: String,
    /// When it started.
    pub started: Option<DateTime<Utc>>,
    /// When it stopped, if it has.
    pub stopped: Option<DateTime<Utc>>,
    /// How many times it was redriven.
    pub redrives: i32,
    /// The input (describe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The output of a successful execution (describe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error name of a failed execution (describe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The cause of a failed execution (describe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The state that was running when it failed, from the history (describe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_state: Option<String>,
}

impl Execution {
    /// Whether the execution has finished without success (what a redrive is for).
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED")
    }
}

/// One GetExecutionHistory event, as much of it as the page reads.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsEvent {
    /// Its id.
    pub id: i64,
    /// The event before it in its chain.
    pub previous: i64,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// Its type as the API names it, e.g. `TaskStateEntered`.
    pub kind: String,
    /// The state (StateEntered/Exited) or Map (MapIteration*) it names.
    pub name: Option<String>,
    /// The state's input.
    pub input: Option<String>,
    /// The state's output or the task's result.
    pub output: Option<String>,
    /// A failure's error name.
    pub error: Option<String>,
    /// A failure's cause.
    pub cause: Option<String>,
    /// A Map iteration's index.
    pub index: Option<i32>,
}

impl From<&aws_sdk_sfn::types::HistoryEvent> for AwsEvent {
    fn from(e: &aws_sdk_sfn::types::HistoryEvent) -> AwsEvent {
        let text = |s: Option<&str>| s.map(str::to_string);
        let map = e
            .map_iteration_started_event_details()
            .or(e.map_iteration_succeeded_event_details())
            .or(e.map_iteration_failed_event_details())
            .or(e.map_iteration_aborted_event_details());
        let (error, cause) = if let Some(d) = e.task_failed_event_details() {
            (text(d.error()), text(d.cause()))
        } else if let Some(d) = e.execution_failed_event_details() {
            (text(d.error()), text(d.cause()))
        } else if let Some(d) = e.task_timed_out_event_details() {
            (text(d.error()), text(d.cause()))
        } else {
            (None, None)
        };
        AwsEvent {
            id: e.id(),
            previous: e.previous_event_id(),
            timestamp: DateTime::from_timestamp(e.timestamp().secs(), e.timestamp().subsec_nanos())
                .unwrap_or_default(),
            kind: e.r#type().as_str().to_string(),
            name: e
                .state_entered_event_details()
                .map(|d| d.name().to_string())
                .or_else(|| e.state_exited_event_details().map(|d| d.name().to_string()))
                .or_else(|| map.and_then(|d| text(d.name()))),
            input: e
                .state_entered_event_details()
                .and_then(|d| text(d.input()))
                .or_else(|| e.execution_started_event_details().and_then(|d| text(d.input()))),
            output: e
                .state_exited_event_details()
                .and_then(|d| text(d.output()))
                .or_else(|| e.task_succeeded_event_details().and_then(|d| text(d.output())))
                .or_else(|| {
                    e.execution_succeeded_event_details()
                        .and_then(|d| text(d.output()))
                }),
            error,
            cause,
            index: map.map(|d| d.index()),
        }
    }
}

/// The deployed state machine, through the Step Functions API.
#[derive(Debug, Clone)]
pub struct Deployed {
    client: aws_sdk_sfn::Client,
    /// The state machine's ARN.
    pub state_machine_arn: String,
}

impl Deployed {
    /// A client for `state_machine_arn` with the AWS configuration of the environment (profile,
    /// region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn connect(state_machine_arn: String) -> Deployed {
        let sdk = tote_io::secrets::sdk_config().await;
        Deployed {
            client: aws_sdk_sfn::Client::new(&sdk),
            state_machine_arn,
        }
    }

    /// Starts an execution named `name` with `input`; returns its ARN.
    pub async fn start(&self, name: &str, input: &Value) -> Result<String> {
        execution_arn(&self.state_machine_arn, name)?;
        let out = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| api_error(e, &format!("starting execution {name}")))?;
        Ok(out.execution_arn)
    }

    /// One execution, with its input, output or error, and the state that failed.
    pub async fn describe(&self, name_or_arn: &str) -> Result<Execution> {
        let arn = execution_arn(&self.state_machine_arn, name_or_arn)?;
        let out = self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .map_err(|e| api_error(e, &format!("describing execution {name_or_arn}")))?;
        let json =
            |s: Option<&str>| s.map(|s| serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.into())));
        let mut execution = Execution {
            name: out.name().unwrap_or(name_or_arn).to_string(),
            arn: out.execution_arn().to_string(),
            status: out.status().as_str().to_string(),
            started: Some(to_chrono(out.start_date())),
            stopped: out.stop_date().map(to_chrono),
            redrives: out.redrive_count().unwrap_or(0),
            input: json(out.input()),
            output: json(out.output()),
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
            failed_state: None,
        };
        if execution.failed() {
            execution.failed_state = self.failed_state(&arn).await?;
        }
        Ok(execution)
    }

    /// The definition the execution ran and its whole history (every page, oldest first), for
    /// `tote aws report`.
    pub async fn history(&self, name_or_arn: &str) -> Result<(Value, Vec<AwsEvent>)> {
        let arn = execution_arn(&self.state_machine_arn, name_or_arn)?;
        let definition = match self
            .client
            .describe_state_machine_for_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(out) => out.definition().to_string(),
            // Not every Step Functions endpoint serves the definition by execution: the state
            // machine's own (current) definition then stands in.
            Err(_) => self
                .client
                .describe_state_machine()
                .state_machine_arn(&self.state_machine_arn)
                .send()
                .await
                .map_err(|e| api_error(e, "reading the state machine's definition"))?
                .definition()
                .to_string(),
        };
        let definition = serde_json::from_str(&definition)
            .map_err(|e| Error::internal(format!("the state machine's definition is not JSON: {e}")))?;
        let mut pages = self
            .client
            .get_execution_history()
            .execution_arn(&arn)
            .max_results(1000)
            .into_paginator()
            .items()
            .send();
        let mut events = Vec::new();
        while let Some(event) = pages.next().await {
            let event = event.map_err(|e| api_error(e, "reading the execution's history"))?;
            events.push(AwsEvent::from(&event));
        }
        Ok((definition, events))
    }

    /// The state that was running when the execution failed: the newest state entered.
    async fn failed_state(&self, arn: &str) -> Result<Option<String>> {
        let out = self
            .client
            .get_execution_history()
            .execution_arn(arn)
            .reverse_order(true)
            .max_results(100)
            .send()
            .await
            .map_err(|e| api_error(e, "reading the execution's history"))?;
        // The newest by id, whatever order the server pages in.
        Ok(out
            .events()
            .iter()
            .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
            .filter_map(|e| Some((e.id(), e.state_entered_event_details()?.name())))
            .max_by_key(|(id, _)| *id)
            .map(|(_, name)| name.to_string()))
    }

    /// The newest executions (at most `limit`), optionally only those with `status`.
    pub async fn list(&self, status: Option<&str>, limit: usize) -> Result<Vec<Execution>> {
        let status = status
            .map(|s| {
                let s = s.to_ascii_uppercase();
                let parsed = ExecutionStatus::from(s.as_str());
                if ExecutionStatus::values().contains(&s.as_str()) {
                    Ok(parsed)
                } else {
                    Err(Error::config(format!(
                        "--status {s} is not an execution status; use one of {}",
                        ExecutionStatus::values().join(", ")
                    )))
                }
            })
            .transpose()?;
        let mut pages = self
            .client
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .set_status_filter(status)
            .max_results(limit.clamp(1, 1000) as i32)
            .into_paginator()
            .items()
            .send();
        let mut executions = Vec::new();
        while executions.len() < limit {
            let Some(item) = pages.next().await else { break };
            let item = item.map_err(|e| api_error(e, "listing executions"))?;
            executions.push(Execution {
                name: item.name().to_string(),
                arn: item.execution_arn().to_string(),
                status: item.status().as_str().to_string(),
                started: Some(to_chrono(item.start_date())),
                stopped: item.stop_date().map(to_chrono),
                redrives: item.redrive_count().unwrap_or(0),
                input: None,
                output: None,
                error: None,
                cause: None,
                failed_state: None,
            });
        }
        Ok(executions)
    }

    /// The RedriveExecution request for `name_or_arn`, built but not sent (what [`redrive`] sends).
    ///
    /// [`redrive`]: Deployed::redrive
    pub fn redrive_request(&self, name_or_arn: &str) -> Result<RedriveExecutionFluentBuilder> {
        let arn = execution_arn(&self.state_machine_arn, name_or_arn)?;
        Ok(self.client.redrive_execution().execution_arn(arn))
    }

    /// Redrives a failed execution: Step Functions re-runs only its failed states and Map
    /// iterations, with the same input. Returns when the redrive started.
    pub async fn redrive(&self, name_or_arn: &str) -> Result<DateTime<Utc>> {
        let out = self
            .redrive_request(name_or_arn)?
            .send()
            .await
            .map_err(|e| api_error(e, &format!("redriving execution {name_or_arn}")))?;
        Ok(to_chrono(out.redrive_date()))
    }
}

fn to_chrono(t: &aws_sdk_sfn::primitives::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

/// A Step Functions API failure as a `Tote.Config` error that says what to do.
fn api_error<E, R>(e: SdkError<E, R>, doing: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default().to_string();
    let message = e.message().map(str::to_string);
    let advice = match code.as_str() {
        "ExecutionDoesNotExist" => "check the name with `tote aws list`",
        "StateMachineDoesNotExist" => "check --state-machine-arn / TOTE_STATE_MACHINE_ARN, and that the stack is deployed in this region",
        "ExecutionAlreadyExists" => "execution names are unique per state machine: choose another --name",
        "ExecutionNotRedrivable" => "only a FAILED, TIMED_OUT or ABORTED execution within 14 days of its start can be redriven",
        "ExecutionLimitExceeded" | "ThrottlingException" => "Step Functions is throttling: retry in a moment",
        "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
            "check the AWS credentials and that they may call states:* on this state machine"
        }
        "InvalidArn" | "InvalidName" | "InvalidExecutionInput" => "check the name or ARN",
        _ => "check the AWS region, credentials and network",
    };
    let detail = match (code.is_empty(), message) {
        (false, Some(m)) => format!("{code}: {m}"),
        (false, None) => code.clone(),
        (true, _) => aws_sdk_sfn::error::DisplayErrorContext(&e).to_string(),
    };
    Error::config(format!("{doing}: {detail}; {advice}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "arn:aws:states:eu-west-2:123456789012:stateMachine:tote-pipeline";

    #[test]
    fn an_execution_name_is_placed_beside_its_state_machine() {
        assert_eq!(
            execution_arn(MACHINE, "run-1").unwrap(),
            "arn:aws:states:eu-west-2:123456789012:execution:tote-pipeline:run-1"
        );
        let arn = "arn:aws:states:eu-west-2:123456789012:execution:tote-pipeline:x";
        assert_eq!(execution_arn(MACHINE, arn).unwrap(), arn);
        for bad in ["", "a b", "a:b", "arn:aws:s3:::bucket"] {
            assert!(execution_arn(MACHINE, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_state_machine_comes_from_the_flag_the_environment_or_the_cdk_outputs() {
        assert_eq!(resolve_state_machine(Some(MACHINE), None, None).unwrap(), MACHINE);
        assert_eq!(resolve_state_machine(None, Some(MACHINE), None).unwrap(), MACHINE);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cdk-outputs.json");
        std::fs::write(
            &file,
            format!(
                r#"{{"ToteStack": {{"StateMachineArn": "{MACHINE}", "AlertTopicArn": "x"}}, "Other": {{}}}}"#
            ),
        )
        .unwrap();
        assert_eq!(resolve_state_machine(None, None, Some(&file)).unwrap(), MACHINE);

        let two = format!(
            r#"{{"A": {{"StateMachineArn": "{MACHINE}"}}, "B": {{"StateMachineArn": "{MACHINE}"}}}}"#
        );
        let err = arn_from_outputs(&two, "f.json").unwrap_err().to_string();
        assert!(
            err.contains("A, B") && err.contains("--state-machine-arn"),
            "{err}"
        );
        let err = arn_from_outputs("{}", "f.json").unwrap_err().to_string();
        assert!(err.contains("no StateMachineArn"), "{err}");
        let err = resolve_state_machine(Some("arn:aws:lambda:x"), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a state machine ARN"), "{err}");
    }

    /// moto has no RedriveExecution, so the request is checked as built.
    #[test]
    fn a_redrive_names_the_execution_by_its_arn() {
        let config = aws_sdk_sfn::Config::builder()
            .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
            .region(aws_sdk_sfn::config::Region::new("eu-west-2"))
            .build();
        let deployed = Deployed {
            client: aws_sdk_sfn::Client::from_conf(config),
            state_machine_arn: MACHINE.to_string(),
        };
        let request = deployed.redrive_request("run-7").unwrap();
        assert_eq!(
            request.as_input().get_execution_arn().as_deref(),
            Some("arn:aws:states:eu-west-2:123456789012:execution:tote-pipeline:run-7")
        );
        assert!(deployed.redrive_request("no such name").is_err());
    }
}
