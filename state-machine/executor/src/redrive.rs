//! Redrive: where a failed execution picks up again.
//!
//! When an execution fails, the executor records a [`ResumePoint`] for it: the state that
//! failed and that state's raw input. For a Map or Parallel state it also records the
//! progress of every iteration or branch: the output of each one that succeeded, a
//! nested resume point for each one that failed, and which were never started. The
//! resume point is saved in the execution record (`execution.json`), so a redrive can
//! happen in another process, days later.
//!
//! Redriving an execution ([`crate::Executor::redrive`]):
//! 1. loads the record and its stored definition (a redrive uses the definition the
//!    execution started with, as Step Functions does, even if the file has changed since);
//! 2. appends an `ExecutionRedriven` event (with the new redrive count) to the same
//!    history and sets the status back to `RUNNING`;
//! 3. re-enters the failed state with its original raw input; retry counters start from
//!    zero again;
//! 4. for a Map or Parallel, keeps the results of the iterations/branches that succeeded
//!    (they are not run again and emit no new events), resumes each failed one at *its*
//!    failed state (recursively, for nested Maps and Parallels), and starts the ones that
//!    never started with their recorded input;
//! 5. continues normally from there; the execution ends `SUCCEEDED` or `FAILED` again
//!    (and can be redriven again).
//!
//! This matches Step Functions' `RedriveExecution` for Standard workflows: "it continues
//! the failed execution from the unsuccessful step and uses the same input... For
//! workflows that include an Inline Map or Parallel state, RedriveExecution reschedules
//! and redrives only the iterations and branches that failed or aborted." As in Step
//! Functions, the unsuccessful step is the state that never exited: if an error was
//! *caught* and the execution then ended in a Fail state, the redrive re-runs that Fail
//! state (and fails again); to make a failure redrivable, let it fail the execution.
//!
//! Where this differs from AWS:
//! * When one iteration or branch fails, AWS aborts the others that are in flight. Here
//!   they run to completion (an in-process future cannot be stopped safely mid-work),
//!   their results are kept, and no new iteration starts; a redrive then re-runs less.
//! * AWS allows redrive only within 14 days and 1000 times; no such limit here.
//! * Map iteration inputs are recorded rather than recomputed, so `ItemSelector`
//!   intrinsics such as `States.UUID()` are not re-evaluated for redriven iterations.
//! * An execution whose process died is left `RUNNING` with no resume point and cannot
//!   be redriven; start a new execution.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a failed flow (the execution, a Parallel branch or a Map iteration) resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumePoint {
    /// The state that failed (entered, never exited).
    pub state: String,
    /// That state's raw input.
    pub input: Value,
    /// For a Map or Parallel state, how far its iterations or branches got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested: Option<Nested>,
}

/// The progress of a failed Map or Parallel state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Nested {
    /// A Map state.
    Map {
        /// Each iteration's input (after `ItemSelector`), by index.
        items: Vec<Value>,
        /// Each iteration's progress, by index.
        iterations: Vec<Progress>,
    },
    /// A Parallel state.
    Parallel {
        /// The input every branch receives (after `InputPath` and `Parameters`).
        input: Value,
        /// Each branch's progress, in `Branches` order.
        branches: Vec<Progress>,
    },
}

/// How far one Map iteration or Parallel branch got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Progress {
    /// It finished; its output is kept.
    Succeeded {
        /// The iteration's or branch's output.
        output: Value,
    },
    /// It failed; it resumes here.
    Failed {
        /// Where it resumes.
        resume: ResumePoint,
    },
    /// It never started.
    NotStarted,
}

impl ResumePoint {
    /// Human-readable locations of the failed states, outermost first, e.g.
    /// `["IngestTables[3] > Ingest"]` or `["LoadFacts"]`.
    pub fn failed_states(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(String::new(), &mut out);
        out
    }

    fn collect(&self, prefix: String, out: &mut Vec<String>) {
        let here = format!("{prefix}{}", self.state);
        let progress = match &self.nested {
            None => {
                out.push(here);
                return;
            }
            Some(Nested::Map { iterations, .. }) => iterations,
            Some(Nested::Parallel { branches, .. }) => branches,
        };
        let before = out.len();
        for (i, p) in progress.iter().enumerate() {
            if let Progress::Failed { resume } = p {
                resume.collect(format!("{here}[{i}] > "), out);
            }
        }
        if out.len() == before {
            out.push(here);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_describes() {
        let point = ResumePoint {
            state: "Tables".into(),
            input: json!({"tables": ["a", "b", "c"]}),
            nested: Some(Nested::Map {
                items: vec![json!("a"), json!("b"), json!("c")],
                iterations: vec![
                    Progress::Succeeded { output: json!(1) },
                    Progress::Failed {
                        resume: ResumePoint {
                            state: "Ingest".into(),
                            input: json!("b"),
                            nested: None,
                        },
                    },
                    Progress::NotStarted,
                ],
            }),
        };
        let text = serde_json::to_string(&point).unwrap();
        assert!(text.contains(r#""status":"NOT_STARTED""#), "{text}");
        assert_eq!(serde_json::from_str::<ResumePoint>(&text).unwrap(), point);
        assert_eq!(point.failed_states(), vec!["Tables[1] > Ingest"]);
    }
}
