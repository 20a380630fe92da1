//! The local ids (ARNs) of state machines and executions.
//!
//! Step Functions names every state machine and execution by an ARN, which a definition
//! reads as `$$.StateMachine.Id` and `$$.Execution.Id` and a task handler sees as
//! [`crate::TaskContext::execution_id`]. Locally there is no account or region, so the ids
//! use a fixed pair, `local` and `000000000000`, in the service's format.

/// The account and region that local ARNs use.
const LOCAL_ARN: &str = "arn:aws:states:local:000000000000";

/// The local id (ARN) of an execution.
pub fn execution_arn(state_machine: &str, execution: &str) -> String {
    format!("{LOCAL_ARN}:execution:{state_machine}:{execution}")
}

/// The local id (ARN) of a state machine.
pub fn state_machine_arn(state_machine: &str) -> String {
    format!("{LOCAL_ARN}:stateMachine:{state_machine}")
}
