//! The payload quota and the state machine's own `TimeoutSeconds`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tote_asl::{EventType, ExecutionStatus, Executor, VirtualClock};

use crate::support::{executor, machine, Reply, Scripted};

fn big_result_machine(catch: &str) -> Value {
    json!({
        "StartAt": "Big",
        "States": {
            "Big": {"Type": "Task", "Resource": "big", "End": true,
                    "Catch": [{"ErrorEquals": [catch], "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "Result": "caught", "End": true}
        }
    })
}

fn big_handler() -> Arc<Scripted> {
    let handler = Scripted::new();
    handler.script("big", vec![Reply::Result(json!("x".repeat(300 * 1024)))]);
    handler
}

#[tokio::test]
async fn results_over_256_kib_exceed_the_data_limit() {
    let (executor, _) = executor(big_handler());
    let record = executor
        .start(&machine(big_result_machine("States.ALL")), None, json!({}))
        .await
        .unwrap();
    assert_eq!(
        record.error.as_deref(),
        Some("States.DataLimitExceeded"),
        "States.ALL does not catch it"
    );

    let (executor, _) = crate::support::executor(big_handler());
    let caught = executor
        .start(
            &machine(big_result_machine("States.DataLimitExceeded")),
            None,
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(caught.output, Some(json!("caught")), "naming it does");

    let (executor, _) = crate::support::executor(big_handler());
    let unlimited = executor
        .with_payload_limit(None)
        .start(&machine(big_result_machine("States.ALL")), None, json!({}))
        .await
        .unwrap();
    assert_eq!(unlimited.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn the_state_machine_timeout_ends_the_execution_timed_out() {
    let clock = VirtualClock::default();
    let executor = Executor::new(Scripted::new()).with_clock(Arc::new(clock.clone()));
    let definition = json!({
        "TimeoutSeconds": 60,
        "StartAt": "Long",
        "States": {
            "Long": {"Type": "Wait", "Seconds": 90, "Next": "After"},
            "After": {"Type": "Pass", "Result": "finished", "End": true}
        }
    });
    let record = executor
        .start(&machine(definition), None, json!({}))
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::TimedOut);
    assert_eq!(record.error.as_deref(), Some("States.Timeout"));
    assert_eq!(
        record.events.last().unwrap().event_type,
        EventType::ExecutionTimedOut
    );
    assert_eq!(record.resume.as_ref().unwrap().state, "After");

    // A timed-out execution can be redriven; its time budget starts again.
    let done = executor.redrive_record(record).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!("finished")));
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(90)],
        "the Wait is not repeated"
    );
}
