//! `tote aws …` against the Step Functions API of the moto server that `scripts/test` starts.
//! moto runs a state machine's definition itself (Pass, Choice and Fail states here), so start,
//! describe (with the failed state), list and the outputs-file lookup are checked end to end;
//! moto has no RedriveExecution, so the redrive request is checked as built (a unit test in
//! `tote::aws`) and here only for a clear error.

use std::process::Command;

use crate::it::cli::outcome;

/// A state machine in moto that fails when the input asks for a full refresh.
const DEFINITION: &str = r#"{
  "StartAt": "Plan",
  "States": {
    "Plan": {"Type": "Choice",
             "Choices": [{"Variable": "$.full_refresh", "IsPresent": true, "Next": "Boom"}],
             "Default": "Done"},
    "Done": {"Type": "Pass", "End": true},
    "Boom": {"Type": "Fail", "Error": "Tote.Test", "Cause": "asked to fail"}
  }
}"#;

async fn moto_state_machine() -> String {
    let moto = std::env::var("TOTE_TEST_MOTO")
        .expect("TOTE_TEST_MOTO is not set: run scripts/test, which starts moto_server");
    // moto only runs executions when told so before the state machine is created.
    let python = std::env::var("TOTE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(python)
        .args([
            "-c",
            "import json, sys, urllib.request; urllib.request.urlopen(urllib.request.Request(\
             sys.argv[1] + '/moto-api/config', data=json.dumps({'stepfunctions': \
             {'execute_state_machine': True}}).encode(), method='POST'))",
            &moto,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "configure moto's Step Functions");
    // This process's AWS environment points at moto (nextest runs each test in its own process).
    for (var, value) in [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "eu-west-2"),
    ] {
        std::env::set_var(var, value);
    }
    let sdk = tote_io::secrets::sdk_config().await;
    let name = format!("tote-test-{}", std::process::id());
    aws_sdk_sfn::Client::new(&sdk)
        .create_state_machine()
        .name(name)
        .definition(DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/tote-test")
        .send()
        .await
        .unwrap()
        .state_machine_arn
}

fn tote(args: &[&str]) -> (bool, String) {
    let moto = std::env::var("TOTE_TEST_MOTO").unwrap();
    outcome(
        Command::new(env!("CARGO_BIN_EXE_tote"))
            .args(["aws"])
            .args(args)
            .env("AWS_ENDPOINT_URL", moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-west-2")
            .env_remove("TOTE_STATE_MACHINE_ARN"),
    )
}

#[tokio::test]
async fn start_describe_list_and_redrive_the_deployed_state_machine() {
    let arn = moto_state_machine().await;
    let target = ["--state-machine-arn", arn.as_str()];

    let (ok, text) = tote(
        &[
            &["start", "--name", "good", "--tables", "sales_order", "--wait"],
            &target[..],
        ]
        .concat(),
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("started good") && text.contains("SUCCEEDED"),
        "{text}"
    );

    let (ok, text) = tote(&[&["describe", "good", "--json"], &target[..]].concat());
    assert!(ok, "{text}");
    let good: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(good["status"], "SUCCEEDED");
    assert_eq!(
        good["input"],
        serde_json::json!({"tables": ["sales_order"]}),
        "the input of `tote run`"
    );

    let (ok, text) = tote(
        &[
            &["start", "--name", "bad", "--full-refresh", "--wait"],
            &target[..],
        ]
        .concat(),
    );
    assert!(!ok, "a failed execution exits non-zero: {text}");
    assert!(text.contains("FAILED") && text.contains("Tote.Test"), "{text}");
    assert!(
        text.contains("tote aws redrive bad"),
        "says how to recover: {text}"
    );

    let (ok, text) = tote(&[&["describe", "bad", "--json"], &target[..]].concat());
    assert!(ok, "{text}");
    let bad: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(bad["error"], "Tote.Test");
    assert_eq!(bad["cause"], "asked to fail");
    assert_eq!(bad["failed_state"], "Boom", "{bad}");

    // The report of the failed execution, from its history in the API: the same page as locally.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    let (ok, text) = tote(&[&["report", "bad", "--out", page.to_str().unwrap()], &target[..]].concat());
    assert!(ok, "{text}");
    let html = std::fs::read_to_string(&page).unwrap();
    let graph = html
        .split("const GRAPH = ")
        .nth(1)
        .and_then(|g| g.split(";</script>").next())
        .unwrap();
    let graph: serde_json::Value = serde_json::from_str(&graph.replace("<\\/", "</")).unwrap();
    let drawn = |state: &str| {
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == state)
            .map(|n| n["outcome"].clone())
    };
    for (state, outcome) in [("Plan", "succeeded"), ("Boom", "failed"), ("Done", "not_run")] {
        assert_eq!(drawn(state), Some(serde_json::json!(outcome)), "{state}: {graph}");
    }
    assert!(
        html.contains("Tote.Test") && html.contains("asked to fail") && html.contains("tote aws redrive bad")
    );

    // The ARN from the outputs file of `cdk deploy --outputs-file`.
    let outputs = dir.path().join("cdk-outputs.json");
    std::fs::write(
        &outputs,
        serde_json::json!({"ToteStack": {"StateMachineArn": arn}}).to_string(),
    )
    .unwrap();
    let (ok, text) = tote(&["list", "--json", "--cdk-outputs", outputs.to_str().unwrap()]);
    assert!(ok, "{text}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = list.iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(names.contains(&"good") && names.contains(&"bad"), "{names:?}");
    let (ok, text) = tote(&[&["list", "--status", "failed", "--json"], &target[..]].concat());
    assert!(ok, "{text}");
    let failed: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");

    // Errors name the execution and what to do.
    let (ok, text) = tote(&[&["describe", "nope"], &target[..]].concat());
    assert!(
        !ok && text.contains("nope") && text.contains("tote aws list"),
        "{text}"
    );
    let (ok, text) = tote(&[&["redrive", "bad"], &target[..]].concat());
    assert!(
        !ok && text.contains("redriving execution bad"),
        "moto has no redrive: {text}"
    );
    let (ok, text) = tote(&["list"]);
    assert!(!ok && text.contains("--state-machine-arn"), "{text}");
}
