//! The embedded definition, run by the local executor with the stages in-process: a whole run,
//! a quiet run, the fault matrix (a crash at every commit boundary, recovered by a rerun and by
//! a redrive), retries, and redrives after failures in a Map iteration.

use std::sync::Arc;

use serde_json::{json, Value};
use tote::pipeline::Pipeline;
use tote_asl::{EventType, ExecutionRecord, ExecutionStatus, VirtualClock};
use tote_core::fault;

use tote_testkit::chain::Chain;

/// A pipeline on a virtual clock (retries do not sleep) for `chain`'s configuration.
fn pipeline(chain: &Chain) -> Pipeline {
    Pipeline::new(chain.config()).with_clock(Arc::new(VirtualClock::starting_at(chrono::Utc::now())))
}

/// The stage calls scheduled after the last redrive (all of them when never redriven), as
/// `function/action[/table]`.
fn calls_since_redrive(record: &ExecutionRecord) -> Vec<String> {
    let start = record
        .events
        .iter()
        .rposition(|e| e.event_type == EventType::ExecutionRedriven)
        .unwrap_or(0);
    record.events[start..]
        .iter()
        .filter(|e| e.event_type == EventType::TaskScheduled)
        .filter_map(|e| e.details.parameters.as_ref())
        .map(|p| {
            let function = p["FunctionName"].as_str().unwrap_or("?");
            let payload = &p["Payload"];
            let mut call = format!("{function}/{}", payload["action"].as_str().unwrap_or("?"));
            if let Some(table) = payload["table"].as_str() {
                call.push('/');
                call.push_str(table);
            }
            if let Some(phase) = payload["phase"].as_str() {
                call.push('/');
                call.push_str(phase);
            }
            call
        })
        .collect()
}

/// Asserts that `record` succeeded and that the warehouse then equals the oracle.
async fn assert_recovered(chain: &Chain, record: &ExecutionRecord, what: &str) {
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{what}: {:?}",
        record.cause
    );
    chain.assert_warehouse_equals_oracle(what).await;
}

/// Fact batches in the warehouse ledger.
async fn loaded_fact_batches(chain: &Chain) -> i64 {
    chain
        .warehouse_client()
        .await
        .query_one(
            "SELECT count(*) FROM tote.load_ledger WHERE model LIKE 'fact_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_run_loads_the_warehouse_and_a_quiet_run_changes_nothing() {
    let mut chain = Chain::seeded().await;
    chain.observe_source().await;
    let p = pipeline(&chain);
    let record = p.start("first", json!({})).await.unwrap();
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        record.error,
        record.cause
    );
    let output = record.output.clone().unwrap();
    assert_eq!(
        output["ingest"].as_array().unwrap().len(),
        11,
        "one Map iteration per table"
    );
    // One LoadFacts iteration per fact model, each loading only its own.
    let facts = output["load_facts"].as_array().unwrap();
    let loaded: Vec<Vec<&String>> = facts
        .iter()
        .map(|f| f["rows"].as_object().unwrap().keys().collect())
        .collect();
    assert_eq!(
        loaded,
        [["fact_payment"], ["fact_purchase_order"], ["fact_sales_order"]],
        "{output}"
    );
    assert!(
        output["load_facts"][2]["rows"]["fact_sales_order"]["inserted"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Freshness is measured once, after every fact is in: caught up.
    assert_eq!(output["freshness"]["freshness_millis"], json!(0), "{output}");
    chain.assert_warehouse_equals_oracle("after the first run").await;

    let quiet = p.start("quiet", json!({})).await.unwrap();
    assert_eq!(quiet.status, ExecutionStatus::Succeeded);
    let output = quiet.output.unwrap();
    assert!(
        output["ingest"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["changed"] == false),
        "nothing new: {output}"
    );
    assert_eq!(output["transform"]["changed"], false, "{output}");
    assert_eq!(output["load_dimensions"]["batches"], json!([]), "{output}");
    for fact in output["load_facts"].as_array().unwrap() {
        assert_eq!(fact["batches"], json!([]), "{output}");
    }
    chain.assert_warehouse_equals_oracle("after the quiet run").await;

    // The persisted history: both executions, with their inputs and events.
    let listed = p.store().list().unwrap();
    assert_eq!(listed.len(), 2);
    let loaded = p.store().load("first").unwrap();
    assert_eq!(loaded.events.len(), record.events.len());
    assert_eq!(loaded.input, json!({}));
}

#[tokio::test]
async fn a_redrive_after_a_failed_map_iteration_reruns_only_that_table() {
    let mut chain = Chain::seeded().await;
    let p = pipeline(&chain);
    // A first run, so that design has a recorded schema to drift from.
    chain.observe_source().await;
    let first = p.start("first", json!({})).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Succeeded);

    chain.play(1).await;
    chain
        .client
        .batch_execute("ALTER TABLE design RENAME COLUMN file_name TO file_name_tmp")
        .await
        .unwrap();
    chain.observe_source().await;
    let failed = p.start("drifted", json!({})).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("Tote.SchemaDrift"));
    let failed_states = failed.resume.as_ref().unwrap().failed_states();
    assert_eq!(failed_states.len(), 1, "{failed_states:?}");
    assert!(failed_states[0].starts_with("IngestTables["), "{failed_states:?}");
    let alerts = std::fs::read_to_string(chain.home.path().join("alerts.jsonl")).unwrap();
    assert_eq!(alerts.lines().count(), 1, "one alert for one failed execution");
    let alert: Value = serde_json::from_str(alerts.lines().next().unwrap()).unwrap();
    assert_eq!(alert["execution"], "drifted");
    assert_eq!(alert["error"], "Tote.SchemaDrift");

    // The operator restores the column and redrives: only design is ingested again.
    chain
        .client
        .batch_execute("ALTER TABLE design RENAME COLUMN file_name_tmp TO file_name")
        .await
        .unwrap();
    let redriven = p.redrive("drifted").await.unwrap();
    assert_eq!(
        redriven.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        redriven.cause
    );
    assert_eq!(redriven.redrive_count, 1);
    // Only the failed iteration and those the failure aborted or kept from starting run again
    // (as in Step Functions); no table is ingested successfully twice.
    let calls = calls_since_redrive(&redriven);
    let ingests: Vec<&String> = calls.iter().filter(|c| c.contains("/ingest/")).collect();
    assert!(
        ingests.contains(&&"${Function:ingest}/ingest/design".to_string()),
        "{calls:?}"
    );
    assert!(ingests.len() < 11, "not a full re-run: {calls:?}");
    let mut succeeded = std::collections::BTreeMap::new();
    for e in &redriven.events {
        if e.event_type == EventType::MapIterationSucceeded
            && e.details.name.as_deref() == Some("IngestTables")
        {
            *succeeded.entry(e.details.index).or_insert(0) += 1;
        }
    }
    assert_eq!(
        succeeded.len(),
        11,
        "every table ingested once in the end: {succeeded:?}"
    );
    assert!(
        succeeded.values().all(|n| *n == 1),
        "no table ingested twice: {succeeded:?}"
    );
    assert!(
        calls.iter().any(|c| c.contains("/facts")),
        "then the rest of the pipeline: {calls:?}"
    );
    chain.assert_warehouse_equals_oracle("after the redrive").await;
}

/// Every commit boundary of every stage (the fault points compiled in for tests).
pub const FAULT_POINTS: &[&str] = &[
    "ingest.after_keys",
    "ingest.after_data",
    "ingest.after_manifest",
    "ingest.after_commit",
    "transform.after_data",
    "transform.after_model_commit",
    "transform.after_state",
    "transform.after_checkpoint",
    "load.after_copy",
    "load.after_deletions",
    "load.before_commit",
    "load.after_commit",
];

/// The fault matrix (docs/fault-matrix.md): a crash at each commit boundary fails the execution
/// with one alert and nothing half-loaded; then, separately, a plain new execution and a redrive
/// of the failed one each recover, and the warehouse equals the oracle (no row lost or doubled).
#[tokio::test]
async fn the_fault_matrix_every_commit_boundary_recovers_by_a_rerun_and_by_a_redrive() {
    let mut chain = Chain::seeded().await;
    tote_load::connect_and_migrate(&chain.config()).await.unwrap();
    let p = pipeline(&chain);
    let mut round = 0u64;
    for point in FAULT_POINTS {
        for redrive in [false, true] {
            round += 1;
            chain.play(round).await;
            chain.observe_source().await;
            let name = format!("crash-{round}");
            let fact_batches_before = loaded_fact_batches(&chain).await;
            fault::arm(point, 1);
            let failed = p.start(&name, json!({})).await.unwrap();
            fault::disarm_all();
            assert_eq!(failed.status, ExecutionStatus::Failed, "{point}");
            let alerts = std::fs::read_to_string(chain.home.path().join("alerts.jsonl")).unwrap();
            assert_eq!(
                alerts.lines().count() as u64,
                round,
                "{point}: one alert per failed execution"
            );
            assert!(
                alerts.lines().last().unwrap().contains(&name),
                "{point}: {alerts}"
            );
            if *point != "load.after_commit" {
                // The crash came before any fact batch of this round committed (the load's first
                // batches are dimensions): nothing half-loaded.
                assert_eq!(loaded_fact_batches(&chain).await, fact_batches_before, "{point}");
            }
            let recovered = if redrive {
                let redriven = p.redrive(&name).await.unwrap();
                let calls = calls_since_redrive(&redriven);
                if !point.starts_with("ingest.") {
                    assert!(
                        calls.iter().all(|c| !c.contains("/ingest/")),
                        "{point}: the redrive does not ingest again: {calls:?}"
                    );
                }
                redriven
            } else {
                p.start(&format!("rerun-{round}"), json!({})).await.unwrap()
            };
            let how = if redrive { "a redrive" } else { "a rerun" };
            assert_recovered(&chain, &recovered, &format!("after a crash at {point} and {how}")).await;
        }
    }
}

/// The source, then the warehouse, unreachable: the failing state is retried (1 + 6 attempts,
/// backoff on the virtual clock), the execution fails with the retryable error's name, and a
/// redrive once the database is back completes it exactly.
#[tokio::test]
async fn a_database_that_is_down_is_retried_then_a_redrive_with_it_back_completes() {
    let mut chain = Chain::seeded().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "postgres://tote:pw@127.0.0.1:{}/down?sslmode=disable",
            listener.local_addr().unwrap().port()
        )
    };
    for (round, error) in ["Tote.SourceUnavailable", "Tote.WarehouseUnavailable"]
        .iter()
        .enumerate()
    {
        if round > 0 {
            chain.play(round as u64).await;
        }
        chain.observe_source().await;
        let config = if *error == "Tote.SourceUnavailable" {
            chain.config_with(&dead, chain.warehouse.url())
        } else {
            chain.config_with_warehouse(&dead)
        };
        let clock = Arc::new(VirtualClock::starting_at(chrono::Utc::now()));
        let name = format!("down-{round}");
        let failed = Pipeline::new(config)
            .with_clock(clock.clone())
            .start(&name, json!({}))
            .await
            .unwrap();
        assert_eq!(failed.status, ExecutionStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some(*error));
        // Attempts per state (per Map iteration for the ingests): the most any one made.
        let mut attempts: std::collections::BTreeMap<String, usize> = Default::default();
        for e in failed
            .events
            .iter()
            .filter(|e| e.event_type == EventType::TaskFailed)
        {
            *attempts.entry(format!("{:?}", e.scope)).or_default() += 1;
        }
        assert_eq!(
            attempts.values().max(),
            Some(&(1 + 6)),
            "{error}: the first attempt and MaxAttempts (6) retries, as the definition says"
        );
        assert!(
            !clock.sleeps().is_empty(),
            "backoff waited on the virtual clock, not the real one"
        );

        let redriven = Pipeline::new(chain.config())
            .with_clock(clock)
            .redrive(&name)
            .await
            .unwrap();
        assert_recovered(&chain, &redriven, &format!("after {error} and a redrive")).await;
    }
}

#[tokio::test]
async fn a_retryable_error_succeeds_on_the_second_attempt() {
    let mut chain = Chain::seeded().await;
    chain.observe_source().await;
    let clock = Arc::new(VirtualClock::starting_at(chrono::Utc::now()));
    let p = Pipeline::new(chain.config()).with_clock(clock.clone());
    fault::arm_with("load.after_copy", 1, tote_core::ErrorKind::WarehouseUnavailable);
    let record = p.start("flaky", json!({})).await.unwrap();
    fault::disarm_all();
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{:?}", record.cause);
    let failures: Vec<_> = record
        .events
        .iter()
        .filter(|e| e.event_type == EventType::TaskFailed)
        .map(|e| e.details.error.clone())
        .collect();
    assert_eq!(failures, vec![Some("Tote.WarehouseUnavailable".to_string())]);
    assert_eq!(clock.sleeps().len(), 1, "one backoff wait, on the virtual clock");
    assert!(
        !chain.home.path().join("alerts.jsonl").exists(),
        "no alert for a run that succeeded"
    );
    chain.assert_warehouse_equals_oracle("after a retried load").await;
}

/// Two executions started together (the schedule overlapping a slow run, or a console start
/// during one), several times over with changes in between: each either succeeds or stops with
/// the retryable `Tote.Busy` after its retries (with a real clock, those retries wait for the
/// other), and after the next scheduled run the warehouse equals the oracle, no batch loaded
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executions_at_once_neither_lose_nor_double_a_row() {
    let mut chain = Chain::seeded().await;
    chain.observe_source().await;
    let p = pipeline(&chain);
    for round in 0..3u64 {
        if round > 0 {
            chain.play(round).await;
            chain.observe_source().await;
        }
        let (scheduled, console) = (format!("scheduled-{round}"), format!("console-{round}"));
        let (a, b) = tokio::join!(p.start(&scheduled, json!({})), p.start(&console, json!({})));
        let (a, b) = (a.unwrap(), b.unwrap());
        for record in [&a, &b] {
            if record.status != ExecutionStatus::Succeeded {
                assert_eq!(record.status, ExecutionStatus::Failed);
                assert_eq!(
                    record.error.as_deref(),
                    Some("Tote.Busy"),
                    "round {round}: a loser stops only for the other: {:?}",
                    record.cause
                );
            }
        }
        assert!(
            a.status == ExecutionStatus::Succeeded || b.status == ExecutionStatus::Succeeded,
            "round {round}: one of the two finishes"
        );
        let busy = [&a, &b]
            .iter()
            .flat_map(|r| &r.events)
            .filter(|e| {
                e.event_type == EventType::TaskFailed && e.details.error.as_deref() == Some("Tote.Busy")
            })
            .count();
        eprintln!(
            "round {round}: {:?} / {:?}, {busy} Tote.Busy retried",
            a.status, b.status
        );
    }
    let next = p.start("next", json!({})).await.unwrap();
    assert_recovered(&chain, &next, "after overlapping executions and the next run").await;
    let wh = chain.warehouse_client().await;
    let twice: i64 = wh
        .query_one(
            "SELECT count(*) FROM (SELECT batch_id FROM tote.load_ledger GROUP BY batch_id HAVING count(*) > 1) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "no batch loaded twice");
}

/// The tables of an output read in chunks, and how many rows each committed.
fn chunked_tables(output: &Value) -> Vec<(String, u64)> {
    output["chunked"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["table"].as_str().unwrap().to_string(),
                c["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The chunks each Map Run of a record ran, as child executions.
fn chunk_children(record: &ExecutionRecord) -> Vec<String> {
    record
        .events
        .iter()
        .filter(|e| e.event_type == EventType::MapIterationSucceeded)
        .filter_map(|e| e.details.child_execution.clone())
        .collect()
}

/// A first run with a small `TOTE_CHUNK_ROWS` reads every table larger than it in key-range
/// chunks, child executions of the IngestChunks Distributed Map, each table committed as one
/// batch; incremental runs then read as usual, a full refresh reads in chunks again, and after
/// each the warehouse equals the oracle (no version lost or doubled, deletions included).
#[tokio::test]
async fn tables_larger_than_a_chunk_are_read_in_chunks_and_the_warehouse_equals_the_oracle() {
    let mut chain = Chain::seeded().await;
    let sales_orders: i64 = chain
        .client
        .query_one("SELECT count(*) FROM sales_order", &[])
        .await
        .unwrap()
        .get(0);
    let chunk_rows = (sales_orders as u64 / 3).max(1);
    chain.chunk_rows = Some(chunk_rows);
    chain.observe_source().await;
    let p = pipeline(&chain);
    let first = p.start("first", json!({})).await.unwrap();
    assert_recovered(&chain, &first, "after a first run in chunks").await;
    let output = first.output.clone().unwrap();
    let chunked = chunked_tables(&output);
    let sales = chunked
        .iter()
        .find(|(t, _)| t == "sales_order")
        .expect("sales_order is chunked");
    assert_eq!(sales.1, sales_orders as u64, "every row, once: {output}");
    let single: Vec<&str> = output["ingest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["table"].as_str().unwrap())
        .collect();
    for (table, _) in &chunked {
        assert!(
            !single.contains(&table.as_str()),
            "{table} is read once, in chunks"
        );
    }
    assert_eq!(single.len() + chunked.len(), 11, "{output}");
    let children = chunk_children(&first);
    assert!(
        children
            .iter()
            .filter(|c| c.starts_with("first/IngestChunks:"))
            .count()
            >= 3,
        "at least three chunks of sales_order, each a child execution: {children:?}"
    );
    // One landing batch per chunked table, at position 1 of its log.
    let landing = tote_io::store::Store::open(&chain.config().landing, "TOTE_LANDING").unwrap();
    let log = tote_io::commit_log::CommitLog::new(landing, "sales_order");
    let last = log.last().await.unwrap().unwrap();
    assert_eq!(last.seq, 1);
    assert!(log.manifest(&last).await.unwrap().objects.len() >= 3);

    // Changes, deletions among them: incremental runs read only what changed, as usual.
    for round in 1..=2 {
        chain.play(round).await;
        chain.observe_source().await;
        let name = format!("incremental-{round}");
        let run = p.start(&name, json!({})).await.unwrap();
        assert_recovered(&chain, &run, &name).await;
        assert!(chunked_tables(run.output.as_ref().unwrap()).is_empty());
    }

    // A full refresh reads the large tables in chunks again, the others whole.
    chain.play(3).await;
    chain.observe_source().await;
    let refresh = p.start("refresh", json!({"full_refresh": true})).await.unwrap();
    assert_recovered(&chain, &refresh, "after a full refresh in chunks").await;
    let again = chunked_tables(refresh.output.as_ref().unwrap());
    let tables = |c: &[(String, u64)]| c.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(tables(&again), tables(&chunked));
}

/// A crash at each commit boundary of a chunked read (inside a chunk, and in the commit of the
/// chunks) fails the execution; a redrive runs only the unfinished chunks and the commit, and
/// the warehouse equals the oracle.
#[tokio::test]
async fn a_crash_in_a_chunk_or_in_the_commit_of_the_chunks_recovers_by_a_redrive() {
    let mut chain = Chain::seeded().await;
    let smaller: i64 = chain
        .client
        .query_one(
            "SELECT least((SELECT count(*) FROM sales_order), (SELECT count(*) FROM payment))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // At least two chunks of each of the two tables.
    chain.chunk_rows = Some((smaller as u64 / 2).max(1));
    chain.observe_source().await;
    let p = pipeline(&chain);
    let first = p.start("first", json!({})).await.unwrap();
    assert_recovered(&chain, &first, "after the first run").await;
    let points = [
        "chunk.after_keys",
        "chunk.after_data",
        "chunk.after_manifest",
        "commit_chunks.after_manifest",
        "commit_chunks.after_commit",
    ];
    for (round, point) in points.iter().enumerate() {
        chain.play(round as u64 + 1).await;
        chain.observe_source().await;
        let name = format!("crash-{round}");
        fault::arm(point, 1);
        let failed = p.start(&name, json!({"full_refresh": true})).await.unwrap();
        fault::disarm_all();
        assert_eq!(failed.status, ExecutionStatus::Failed, "{point}");
        let failed_states = failed.resume.as_ref().unwrap().failed_states();
        let expected = if point.starts_with("commit_chunks.") {
            "CommitChunks["
        } else {
            "IngestChunks["
        };
        assert!(
            failed_states.iter().all(|s| s.starts_with(expected)),
            "{point}: {failed_states:?}"
        );
        let planned = failed
            .events
            .iter()
            .find(|e| e.event_type == EventType::MapRunStarted)
            .and_then(|e| e.details.length)
            .unwrap();
        let finished = chunk_children(&failed).len();
        assert!(planned >= 4, "{point}: both tables in chunks ({planned})");
        let redriven = p.redrive(&name).await.unwrap();
        let calls = calls_since_redrive(&redriven);
        let chunks_again = calls.iter().filter(|c| c.contains("/ingest/")).count();
        assert!(!calls.iter().any(|c| c.ends_with("/plan")), "{point}: {calls:?}");
        assert_eq!(
            chunks_again,
            planned - finished,
            "{point}: only the chunks that did not finish run again: {calls:?}"
        );
        assert!(
            redriven
                .events
                .iter()
                .any(|e| e.event_type == EventType::MapRunRedriven)
                || finished == planned
        );
        assert_recovered(
            &chain,
            &redriven,
            &format!("after a crash at {point} and a redrive"),
        )
        .await;
    }
}
