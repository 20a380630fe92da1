//! Retry timing under the virtual clock: exact backoff, caps, and full-jitter bounds.

use serde_json::{json, Value};
use tote_asl::ExecutionStatus;

use crate::support::{executor, machine, seconds, Reply, Scripted};

fn retrying_task(retrier: Value) -> Value {
    json!({
        "StartAt": "Load",
        "States": {"Load": {"Type": "Task", "Resource": "load", "Retry": [retrier], "End": true}}
    })
}

fn failing(times: usize) -> Vec<Reply> {
    let mut replies = vec![Reply::Error("Lambda.ServiceException".into(), None); times];
    replies.push(Reply::Result(json!("done")));
    replies
}

#[tokio::test]
async fn lambda_service_retry_policy_from_the_design() {
    // DESIGN.md: Lambda service errors are retried 2 s, x2, 6 attempts.
    let handler = Scripted::new();
    handler.script("load", failing(6));
    let (executor, clock) = executor(handler.clone());
    let machine = machine(retrying_task(json!({
        "ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 6
    })));
    let record = executor.start(&machine, None, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(seconds(&clock), vec![2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
    let retries: Vec<u64> = handler.calls().iter().map(|c| c.retry_count).collect();
    assert_eq!(retries, vec![0, 1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn fractional_backoff_rate() {
    // The developer guide's example: "2 retry attempts after waiting for 3 and 4.5 seconds".
    let handler = Scripted::new();
    handler.script("load", failing(2));
    let (executor, clock) = executor(handler);
    let machine = machine(retrying_task(json!({
        "ErrorEquals": ["States.ALL"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5
    })));
    executor.start(&machine, None, json!({})).await.unwrap();
    assert_eq!(seconds(&clock), vec![3.0, 4.5]);
}

#[tokio::test]
async fn full_jitter_stays_within_the_capped_backoff() {
    let handler = Scripted::new();
    handler.script("load", failing(8));
    let (executor, clock) = executor(handler);
    let machine = machine(retrying_task(json!({
        "ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 8,
        "MaxDelaySeconds": 60, "JitterStrategy": "FULL"
    })));
    let record = executor.start(&machine, None, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let waits = seconds(&clock);
    assert_eq!(waits.len(), 8);
    for (attempt, wait) in waits.iter().enumerate() {
        let ceiling = (2.0 * 2f64.powi(attempt as i32)).min(60.0);
        assert!(
            (0.0..=ceiling).contains(wait),
            "retry {attempt} waited {wait}, ceiling {ceiling}"
        );
    }
    let unjittered: Vec<f64> = (0..8).map(|a| (2.0 * 2f64.powi(a)).min(60.0)).collect();
    assert_ne!(waits, unjittered, "FULL jitter must change the waits");
}

#[tokio::test]
async fn full_jitter_is_uniform_and_reproducible() {
    let run = |seed: u64| async move {
        let handler = Scripted::new();
        handler.script("load", failing(200));
        let (executor, clock) = executor(handler);
        let executor = executor.with_seed(seed);
        let machine = machine(retrying_task(json!({
            "ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "BackoffRate": 1.0, "MaxAttempts": 200,
            "JitterStrategy": "FULL"
        })));
        executor.start(&machine, None, json!({})).await.unwrap();
        seconds(&clock)
    };
    let waits = run(1).await;
    assert_eq!(waits.len(), 200);
    let mean = waits.iter().sum::<f64>() / waits.len() as f64;
    let (min, max) = waits
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), w| (lo.min(*w), hi.max(*w)));
    assert!((3.5..6.5).contains(&mean), "mean of U[0, 10] waits was {mean}");
    assert!(
        min < 1.0 && max > 9.0 && max <= 10.0,
        "waits spanned [{min}, {max}]"
    );
    assert_eq!(run(1).await, waits, "the same seed gives the same waits");
    assert_ne!(run(2).await, waits, "another seed gives other waits");
}

#[tokio::test]
async fn retrying_a_parallel_reruns_every_branch() {
    let handler = Scripted::new();
    handler.script(
        "flaky",
        vec![Reply::Error("Flaky".into(), None), Reply::Result(json!("ok"))],
    );
    let (executor, clock) = executor(handler.clone());
    let machine = machine(json!({
        "StartAt": "Both",
        "States": {"Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Steady", "States": {"Steady": {"Type": "Task", "Resource": "steady", "End": true}}},
                {"StartAt": "Flaky", "States": {"Flaky": {"Type": "Task", "Resource": "flaky", "End": true}}}
            ],
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 7}],
            "End": true
        }}
    }));
    let record = executor.start(&machine, None, json!({"n": 1})).await.unwrap();
    assert_eq!(record.output, Some(json!([{"n": 1}, "ok"])));
    assert_eq!(
        handler.calls_to("steady").len(),
        2,
        "the whole Parallel is retried"
    );
    assert_eq!(seconds(&clock), vec![7.0]);
}

#[tokio::test]
async fn timeout_seconds_path_and_waits_in_history() {
    let handler = Scripted::new();
    handler.script(
        "slow",
        vec![Reply::Sleep(
            std::time::Duration::from_secs(4),
            Box::new(Reply::Result(json!(1))),
        )],
    );
    let (executor, _clock) = executor(handler);
    let machine = machine(json!({
        "StartAt": "Slow",
        "States": {"Slow": {"Type": "Task", "Resource": "slow", "TimeoutSecondsPath": "$.limit", "End": true}}
    }));
    let record = executor.start(&machine, None, json!({"limit": 3})).await.unwrap();
    assert_eq!(record.error.as_deref(), Some("States.Timeout"));
    let timed_out = record
        .events
        .iter()
        .find(|e| e.event_type == tote_asl::EventType::TaskTimedOut)
        .expect("a TaskTimedOut event");
    assert_eq!(timed_out.details.name.as_deref(), Some("Slow"));
    let scheduled = record
        .events
        .iter()
        .find(|e| e.event_type == tote_asl::EventType::TaskScheduled)
        .unwrap();
    assert_eq!(scheduled.details.timeout_in_seconds, Some(3));
}
