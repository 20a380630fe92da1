//! Simulator → ingest → transform over several rounds of changes, compared with the oracle; plus
//! idempotency, quiet runs, and corrupt input.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use tokio_postgres::Client;
use tote_core::config::Config;
use tote_core::tables::SOURCE_TABLES;
use tote_core::{fault, ErrorKind};
use tote_io::commit_log::CommitLog;
use tote_io::pg::{self, Role};
use tote_io::store::Store;
use tote_testkit::postgres::{test_database, TestDatabase};
use tote_transform::{transform, TransformRequest};

use tote_testkit::oracle::{self, arrow_rows, as_set, last_per_key, pg_rows};

struct Pipeline {
    db: TestDatabase,
    client: Client,
    landing: tempfile::TempDir,
    processed: tempfile::TempDir,
}

impl Pipeline {
    async fn seeded() -> Pipeline {
        let db = test_database().await.unwrap();
        let options = tote_sim::SeedOptions::fixture(0.5, 45, 3);
        tote_sim::seed(db.url(), &options).await.unwrap();
        let client = pg::connect(db.url(), Role::Source).await.unwrap();
        Pipeline {
            db,
            client,
            landing: tempfile::tempdir().unwrap(),
            processed: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> Config {
        self.config_with(&[])
    }

    /// The configuration with `extra` variables set as well.
    fn config_with(&self, extra: &[(&'static str, &str)]) -> Config {
        let mut vars: HashMap<&str, String> = [
            ("TOTE_SOURCE_URL", self.db.url().to_string()),
            ("TOTE_LANDING", self.landing.path().display().to_string()),
            ("TOTE_PROCESSED", self.processed.path().display().to_string()),
        ]
        .into();
        vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        Config::from_lookup(|n| vars.get(n).cloned()).unwrap()
    }

    fn processed_store(&self) -> Store {
        Store::open(&self.processed.path().display().to_string(), "TOTE_PROCESSED").unwrap()
    }

    async fn ingest_all(&self) {
        self.ingest_all_with(&self.config(), false).await;
    }

    async fn ingest_all_with(&self, config: &Config, full_refresh: bool) {
        for table in SOURCE_TABLES {
            let request = tote_ingest::IngestRequest {
                table: table.to_string(),
                execution: None,
                full_refresh,
                chunk: None,
            };
            tote_ingest::ingest(config, &request).await.unwrap();
        }
    }

    /// Changes the source: a few ticks of the simulator's live stream, updates included.
    async fn change_source(&self, seed: u64) {
        let run = tote_sim::RunOptions {
            ticks: 12,
            update_rate: 1.5,
            scale: 2.0,
            seed,
            ..Default::default()
        };
        tote_sim::run(self.db.url(), &run, |_| {}).await.unwrap();
    }

    async fn transform(&self) -> tote_core::Result<tote_transform::TransformResponse> {
        transform(
            &self.config(),
            &TransformRequest {
                execution: Some("test".into()),
            },
        )
        .await
    }

    /// Every row a model has emitted, batch by batch in commit order.
    async fn model_rows(&self, model: &str) -> Vec<Vec<String>> {
        let store = self.processed_store();
        let log = CommitLog::new(store.clone(), model);
        let mut rows = Vec::new();
        for entry in log.entries_after(None).await.unwrap() {
            let manifest = log.manifest(&entry).await.unwrap();
            rows.extend(arrow_rows(
                &tote_io::objects::read_batch(&store, &manifest).await.unwrap(),
            ));
        }
        rows
    }

    /// Adds the source's current fact rows, as the oracle computes them, to `facts`.
    async fn capture_facts(&self, facts: &mut BTreeMap<&'static str, BTreeSet<Vec<String>>>) {
        for (fact, sql) in oracle::FACTS {
            facts
                .entry(fact)
                .or_default()
                .extend(pg_rows(&self.client, sql).await);
        }
    }

    async fn model_batches(&self, model: &str) -> usize {
        CommitLog::new(self.processed_store(), model)
            .entries_after(None)
            .await
            .unwrap()
            .len()
    }
}

#[tokio::test]
async fn the_star_schema_equals_the_oracle_over_several_incremental_rounds() {
    let p = Pipeline::seeded().await;
    let mut oracle_facts: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    for round in 0..3 {
        let mut expected_staff: Option<BTreeSet<String>> = None;
        if round > 0 {
            let before: NaiveDateTime = p
                .client
                .query_one(
                    "SELECT greatest((SELECT max(last_updated) FROM staff), (SELECT max(last_updated) FROM department))",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            let run = tote_sim::RunOptions {
                ticks: 24,
                update_rate: 1.5,
                scale: 2.0,
                seed: round,
                ..Default::default()
            };
            tote_sim::run(p.db.url(), &run, |_| {}).await.unwrap();
            // Exactly the staff whose row or whose department changed must be re-emitted.
            let rows = p
                .client
                .query(
                    "SELECT s.staff_id::text FROM staff s JOIN department d USING (department_id) \
                     WHERE s.last_updated > $1 OR d.last_updated > $1",
                    &[&before],
                )
                .await
                .unwrap();
            expected_staff = Some(rows.iter().map(|r| r.get::<_, String>(0)).collect());
        }
        let staff_batches_before = p.model_batches("dim_staff").await;
        p.ingest_all().await;
        let response = p.transform().await.unwrap();
        assert!(
            response.changed,
            "round {round}: new landing batches were transformed"
        );
        if let Some(expected) = expected_staff {
            let store = p.processed_store();
            let log = CommitLog::new(store.clone(), "dim_staff");
            let mut emitted = BTreeSet::new();
            for entry in log
                .entries_after(Some(staff_batches_before as u64))
                .await
                .unwrap()
            {
                let manifest = log.manifest(&entry).await.unwrap();
                for row in arrow_rows(&tote_io::objects::read_batch(&store, &manifest).await.unwrap()) {
                    emitted.insert(row[0].clone());
                }
            }
            assert!(
                !expected.is_empty(),
                "round {round}: the run renamed or moved someone"
            );
            assert_eq!(
                emitted, expected,
                "round {round}: dim_staff re-emits exactly the changed staff"
            );
        }
        // The facts keep every version ingest saw: the oracle accumulates each round's source state.
        p.capture_facts(&mut oracle_facts).await;
        if round > 0 {
            // Re-emitted dimensions: only changed keys, not the whole table.
            let staff_rows = p.model_rows("dim_staff").await.len();
            assert!(
                staff_rows > 20,
                "round {round}: renames and moves re-emit staff ({staff_rows} rows so far)"
            );
        }
    }

    // Dimensions: the last row emitted per key is the source's current state.
    for (dim, sql) in oracle::DIMENSIONS {
        let expected = last_per_key(pg_rows(&p.client, sql).await);
        let actual = last_per_key(p.model_rows(dim).await);
        assert_eq!(actual.len(), expected.len(), "{dim}: number of keys");
        for (key, row) in &expected {
            assert_eq!(actual.get(key), Some(row), "{dim}: key {key}");
        }
    }
    // Facts: one row per version seen, no duplicates.
    for (fact, _) in oracle::FACTS {
        let actual = as_set(p.model_rows(fact).await, fact);
        let expected = &oracle_facts[fact];
        let missing: Vec<_> = expected.difference(&actual).take(3).collect();
        let extra: Vec<_> = actual.difference(expected).take(3).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{fact}: missing {missing:?}, unexpected {extra:?}"
        );
    }
    // dim_date: exactly the dates the facts reference.
    let expected_dates = oracle::expected_dim_date(&p.client, &oracle_facts).await;
    let actual_dates: BTreeSet<Vec<String>> = p.model_rows("dim_date").await.into_iter().collect();
    assert_eq!(actual_dates, expected_dates, "dim_date");

    // A quiet run: nothing new, nothing written, and no data object is even read.
    let before = p.processed_store().list("", None).await.unwrap();
    for entry in std::fs::read_dir(p.landing.path()).unwrap() {
        for batch in std::fs::read_dir(entry.unwrap().path()).unwrap() {
            let part = batch.unwrap().path().join("part-00000.parquet");
            if part.exists() {
                std::fs::write(&part, b"not parquet any more").unwrap();
            }
        }
    }
    let quiet = p.transform().await.unwrap();
    assert!(!quiet.changed);
    assert_eq!(
        p.processed_store().list("", None).await.unwrap(),
        before,
        "a quiet run writes nothing"
    );
}

/// One run over landing batches that repeat versions: a full refresh between incremental
/// batches, and a lookback widened after the ingest cursor's `recent` keys were recorded for a
/// narrower one (so ingest cannot tell the re-reads). Every version comes out exactly once.
#[tokio::test]
async fn one_run_over_repeated_versions_emits_each_version_once() {
    let p = Pipeline::seeded().await;
    let mut oracle_facts: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    p.ingest_all().await;
    p.capture_facts(&mut oracle_facts).await;
    p.change_source(11).await;
    p.ingest_all().await;
    p.capture_facts(&mut oracle_facts).await;
    p.ingest_all_with(&p.config(), true).await; // every current version again
    p.change_source(12).await;
    p.ingest_all_with(&p.config_with(&[("TOTE_LOOKBACK", "3650d")]), false)
        .await; // re-reads the whole table, which the cursor's 10-minute window cannot tell
    p.capture_facts(&mut oracle_facts).await;
    let sales_batches = CommitLog::new(
        Store::open(&p.landing.path().display().to_string(), "TOTE_LANDING").unwrap(),
        "sales_order",
    )
    .entries_after(None)
    .await
    .unwrap()
    .len();
    assert_eq!(sales_batches, 4, "four landing batches in one transform run");
    // One design renamed twice within the run: `design__latest` must be the window over
    // `design__changes`, not the changes themselves.
    for name in ["renamed once", "renamed twice"] {
        p.client
            .execute(
                "UPDATE design SET design_name = $1, \
                   last_updated = (SELECT max(last_updated) FROM design) + interval '1 minute' \
                 WHERE design_id = (SELECT min(design_id) FROM design)",
                &[&name],
            )
            .await
            .unwrap();
        p.ingest_all().await;
    }

    // The smallest memory limit allowed: every sort spills (or would), and the result is the same.
    let response = transform(
        &p.config_with(&[("TOTE_TRANSFORM_MEMORY_MB", "16")]),
        &TransformRequest::default(),
    )
    .await
    .unwrap();
    for (fact, _) in oracle::FACTS {
        let actual = as_set(p.model_rows(fact).await, fact); // asserts no version twice
        assert_eq!(&actual, &oracle_facts[fact], "{fact}: every version");
    }
    let sales = oracle_facts["fact_sales_order"].len() as u64;
    assert_eq!(
        response.consumed["sales_order"], sales,
        "consumed counts versions, not re-reads"
    );
    // The run saw every design (its first read is in it): one row each, the newest.
    let designs = p.model_rows("dim_design").await;
    let ids: BTreeSet<&String> = designs.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), designs.len(), "one row per design");
    let expected: BTreeSet<Vec<String>> = pg_rows(
        &p.client,
        "SELECT design_id::text, design_name, file_location, file_name FROM design",
    )
    .await
    .into_iter()
    .collect();
    assert_eq!(designs.into_iter().collect::<BTreeSet<_>>(), expected);
    assert!(expected.iter().any(|r| r[1] == "renamed twice"));
}

/// Every output of one run must come from the same input, or the checkpoint claims input some
/// model never saw: a retry after a crash keeps the crashed run's input although new batches
/// arrived meanwhile, and two transforms at once (overlapping executions) either agree or the
/// loser stops with the retryable `Tote.Busy`. Afterwards the outputs equal the oracle.
#[tokio::test]
async fn a_run_keeps_one_input_across_a_crash_and_against_a_concurrent_transform() {
    let p = Pipeline::seeded().await;
    let mut oracle_facts: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    p.ingest_all().await;
    p.capture_facts(&mut oracle_facts).await;
    fault::arm("transform.after_model_commit", 1);
    p.transform().await.expect_err("crash after the first model");
    fault::disarm_all();
    p.change_source(21).await;
    p.ingest_all().await; // new batches arrive before the retry
    p.capture_facts(&mut oracle_facts).await;
    let retry = p.transform().await.unwrap();
    assert_eq!(retry.run, Some(1), "the retry finishes run 1");
    let next = p.transform().await.unwrap();
    assert_eq!(next.run, Some(2), "the batches that arrived meanwhile make run 2");
    assert!(next.consumed["sales_order"] > 0, "{next:?}");

    // Two transforms at once, several times over.
    for round in 0..3 {
        p.change_source(30 + round).await;
        p.ingest_all().await;
        p.capture_facts(&mut oracle_facts).await;
        let (a, b) = tokio::join!(p.transform(), p.transform());
        for outcome in [&a, &b] {
            if let Err(e) = outcome {
                assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
                assert!(e.kind().is_retryable());
                assert!(e.message().contains("two executions overlap"), "{e}");
            }
        }
        assert!(a.is_ok() || b.is_ok(), "one of the two finishes: {a:?} {b:?}");
        // The loser's retry (the state machine's) finds nothing left, or the rest.
        p.transform().await.unwrap();
    }

    // Deterministically: this transform has read its input when another one, which also sees a
    // batch that arrived since, commits the same run. This one must stop with Tote.Busy, and its
    // retry then has nothing left to do.
    p.change_source(40).await;
    p.ingest_all().await;
    p.capture_facts(&mut oracle_facts).await;
    let config = p.config();
    let db = p.db.url().to_string();
    fault::arm_action("transform.after_state", 1, move || {
        let (config, db) = (config.clone(), db.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                // One new sales order version, after everything the first transform read.
                pg::connect(&db, Role::Source)
                    .await
                    .unwrap()
                    .batch_execute(
                        "UPDATE sales_order SET units_sold = units_sold + 1, \
                         last_updated = (SELECT max(last_updated) FROM sales_order) + interval '1 second' \
                         WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)",
                    )
                    .await
                    .unwrap();
                let request = tote_ingest::IngestRequest {
                    table: "sales_order".into(),
                    execution: None,
                    full_refresh: false,
                    chunk: None,
                };
                tote_ingest::ingest(&config, &request).await.unwrap();
                transform(&config, &TransformRequest::default()).await.unwrap();
            })
        })
        .join()
        .unwrap();
    });
    let loser = p
        .transform()
        .await
        .expect_err("the other transform committed this run first");
    fault::disarm_all();
    assert_eq!(loser.kind(), ErrorKind::Busy, "{loser}");
    assert!(loser.message().contains("two executions overlap"), "{loser}");
    p.ingest_all().await; // the tables the other execution did not ingest
    p.capture_facts(&mut oracle_facts).await;
    p.transform().await.unwrap();

    // One input per run across every model, and the outputs equal the oracle.
    let store = p.processed_store();
    let mut inputs_of_run: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for model in tote_core::models::built_in().iter().map(|m| m.name.as_str()) {
        let log = CommitLog::new(store.clone(), model);
        for entry in log.entries_after(None).await.unwrap() {
            let inputs = log.manifest(&entry).await.unwrap().inputs;
            let run = inputs[0].clone();
            let first = inputs_of_run.entry(run.clone()).or_insert_with(|| inputs.clone());
            assert_eq!(first, &inputs, "{model}: {run} has one input");
        }
    }
    for (fact, _) in oracle::FACTS {
        let actual = as_set(p.model_rows(fact).await, fact);
        assert_eq!(&actual, &oracle_facts[fact], "{fact}: every version once");
    }
    for (dim, sql) in oracle::DIMENSIONS {
        let expected = last_per_key(pg_rows(&p.client, sql).await);
        assert_eq!(last_per_key(p.model_rows(dim).await), expected, "{dim}");
    }
}

#[tokio::test]
async fn a_retry_after_a_crash_mid_run_gives_exactly_one_output() {
    let p = Pipeline::seeded().await;
    p.ingest_all().await;
    fault::arm("transform.after_model_commit", 1); // crash right after the first model commits
    let err = p.transform().await.expect_err("crash injected");
    assert!(err.to_string().contains("injected"), "{err}");
    fault::disarm_all();
    let retry = p.transform().await.unwrap();
    assert!(retry.changed);
    for model in tote_core::models::built_in().iter().map(|m| m.name.as_str()) {
        assert!(
            p.model_batches(model).await <= 1,
            "{model}: one batch for one run"
        );
    }
    assert_eq!(p.model_batches("fact_sales_order").await, 1);
    let again = p.transform().await.unwrap();
    assert!(
        !again.changed,
        "the same input transformed twice gives no second output"
    );
}

/// A landing batch whose data object is gone, and one whose manifest is gone: the transform fails
/// with Tote.BadBatch naming what is missing, and commits nothing.
#[tokio::test]
async fn a_missing_input_object_or_manifest_fails_with_bad_batch_and_commits_nothing() {
    for what in ["object", "manifest"] {
        let p = Pipeline::seeded().await;
        p.ingest_all().await;
        let staff_dir = p.landing.path().join("staff");
        let batch_dir = std::fs::read_dir(&staff_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|d| d.join("part-00000.parquet").exists())
            .unwrap();
        let file = match what {
            "object" => "part-00000.parquet",
            _ => "manifest.json",
        };
        std::fs::remove_file(batch_dir.join(file)).unwrap();
        let err = p.transform().await.expect_err("missing input refused");
        assert_eq!(err.kind(), ErrorKind::BadBatch, "{what}: {err}");
        assert!(err.message().contains("staff/"), "{what}: names it: {err}");
        assert!(
            p.processed_store()
                .list("", None)
                .await
                .unwrap()
                .iter()
                .all(|k| !k.contains("/_log/")),
            "{what}: nothing committed"
        );
    }
}

#[tokio::test]
async fn a_corrupt_input_object_fails_with_bad_batch_and_commits_nothing() {
    let p = Pipeline::seeded().await;
    p.ingest_all().await;
    let staff_dir = p.landing.path().join("staff");
    let batch_dir = std::fs::read_dir(&staff_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|d| d.join("part-00000.parquet").exists())
        .unwrap();
    let part = batch_dir.join("part-00000.parquet");
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() / 2]).unwrap(); // truncated
    let err = p.transform().await.expect_err("corrupt input refused");
    assert_eq!(err.kind(), ErrorKind::BadBatch, "{err}");
    assert!(err.message().contains("staff"), "names the object: {err}");
    assert!(
        p.processed_store()
            .list("", None)
            .await
            .unwrap()
            .iter()
            .all(|k| !k.contains("/_log/")),
        "nothing committed"
    );
}

#[tokio::test]
async fn a_source_null_the_warehouse_refuses_is_loaded_by_the_models_rule_and_reported() {
    let p = Pipeline::seeded().await;
    p.client
        .batch_execute(
            "UPDATE department SET location = NULL, last_updated = '2024-03-04 08:30:00' \
             WHERE department_id = (SELECT department_id FROM staff ORDER BY staff_id LIMIT 1)",
        )
        .await
        .unwrap();
    let affected: i64 = p
        .client
        .query_one(
            "SELECT count(*) FROM staff s JOIN department d USING (department_id) WHERE d.location IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    p.ingest_all().await;
    p.transform().await.unwrap();
    let rows = p.model_rows("dim_staff").await;
    assert_eq!(
        rows.iter().filter(|r| r[4] == "Unknown").count() as i64,
        affected,
        "the model's rule, visibly applied"
    );
    let store = p.processed_store();
    let log = CommitLog::new(store, "dim_staff");
    let entry = log.last().await.unwrap().unwrap();
    let findings = log.manifest(&entry).await.unwrap().findings;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].column, "dim_staff.location");
    assert_eq!(findings[0].rows as i64, affected);
    assert!(findings[0].message.contains("Unknown"), "{}", findings[0].message);
}
