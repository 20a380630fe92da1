//! Crashes at every commit boundary of the load, a missing dimension, a corrupt batch, a value the
//! warehouse cannot hold exactly, a warehouse that is down, and a first dimension batch whose
//! direct COPY has to give way to the merge.

use std::sync::Arc;

use arrow::array::{
    Date32Array, Decimal128Array, Int32Array, RecordBatch, StringArray, Time64NanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use tote_core::batch::{self, DataFormat, Manifest};
use tote_core::{fault, ErrorKind};
use tote_io::commit_log::CommitLog;
use tote_io::sink::ObjectSink;
use tote_load::Phase;

use tote_testkit::chain::Chain;

#[tokio::test]
async fn a_crash_at_any_commit_boundary_then_a_retry_leaves_the_warehouse_exact() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    for (i, point) in ["load.after_copy", "load.before_commit", "load.after_commit"]
        .iter()
        .enumerate()
    {
        if i > 0 {
            chain.play(i as u64).await;
            chain.ingest_and_transform().await;
        }
        // The dimensions commit; the crash hits the first fact batch.
        chain.load(Phase::Dimensions).await.unwrap();
        let before = chain.warehouse_counts().await;
        fault::arm(point, 1);
        let err = chain.load(Phase::Facts).await.expect_err("the injected crash");
        fault::disarm_all();
        assert!(err.to_string().contains(point), "{err}");
        let after_crash = chain.warehouse_counts().await;
        let fact_rows: i64 = ["fact_sales_order", "fact_purchase_order", "fact_payment"]
            .iter()
            .map(|f| after_crash[*f] - before[*f])
            .sum();
        if *point == "load.after_commit" {
            assert!(fact_rows > 0, "{point}: the batch committed before the crash");
        } else {
            assert_eq!(fact_rows, 0, "{point}: nothing of the crashed batch is visible");
        }
        let retry = chain.load(Phase::All).await.unwrap();
        assert!(!retry.batches.is_empty(), "{point}: the retry loads what is left");
        chain
            .assert_warehouse_equals_oracle(&format!("after a crash at {point} and a retry"))
            .await;
    }
}

#[tokio::test]
async fn a_fact_with_a_missing_dimension_fails_its_batch_and_writes_nothing() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    // Facts before dimensions: every fact refers to keys the warehouse does not have yet.
    let err = chain.load(Phase::Facts).await.expect_err("missing dimensions");
    assert_eq!(err.kind(), ErrorKind::MissingDimension, "{err}");
    let message = err.message();
    // The first fact in load order fails first.
    let first = tote_load::models(tote_core::models::built_in(), Phase::Facts)
        .next()
        .unwrap();
    assert!(message.contains(&first.name), "names the table: {message}");
    assert!(
        message.contains("is not present in table \"dim_"),
        "names the dimension and key: {message}"
    );
    assert!(
        message.contains("Key ("),
        "names the column and key value: {message}"
    );
    let counts = chain.warehouse_counts().await;
    let models = tote_core::models::built_in().iter().map(|m| m.name.as_str());
    for table in models.chain(["tote.load_ledger"]) {
        assert_eq!(counts[table], 0, "{table}: nothing written");
    }
    // Loading in the right order then succeeds.
    chain.load(Phase::All).await.unwrap();
    chain
        .assert_warehouse_equals_oracle("after the dimensions arrived")
        .await;
}

#[tokio::test]
async fn a_truncated_changed_or_missing_processed_object_is_a_bad_batch_and_nothing_of_it_is_loaded() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    let store = chain.processed_store();
    let log = CommitLog::new(store.clone(), "dim_design");
    let manifest = log.manifest(&log.last().await.unwrap().unwrap()).await.unwrap();
    let part = chain.processed.path().join(&manifest.objects[0].key);
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() - 9]).unwrap();
    let err = chain.load(Phase::Dimensions).await.expect_err("corrupt object");
    assert_eq!(err.kind(), ErrorKind::BadBatch, "{err}");
    assert!(
        err.message().contains(&manifest.objects[0].key),
        "names the object: {err}"
    );
    let counts = chain.warehouse_counts().await;
    assert_eq!(counts["dim_design"], 0, "nothing of the corrupt batch");
    let models = tote_core::models::built_in();
    let design = models.iter().position(|m| m.name == "dim_design").unwrap();
    let before = &models[design - 1].name;
    assert!(counts[before] > 0, "the batches before it ({before}) committed");

    // The same size with one byte changed: the checksum catches it.
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    std::fs::write(&part, &flipped).unwrap();
    let err = chain.load(Phase::Dimensions).await.expect_err("changed object");
    assert_eq!(err.kind(), ErrorKind::BadBatch, "{err}");
    assert!(err.message().contains("checksum"), "{err}");

    // A manifest pointing at an object that is not there.
    std::fs::remove_file(&part).unwrap();
    let err = chain.load(Phase::Dimensions).await.expect_err("missing object");
    assert_eq!(err.kind(), ErrorKind::BadBatch, "{err}");
    assert!(err.message().contains("missing"), "{err}");
    assert_eq!(chain.warehouse_counts().await["dim_design"], 0);

    // The object restored, the load picks up where it stopped.
    std::fs::write(&part, &bytes).unwrap();
    chain.load(Phase::All).await.unwrap();
    chain
        .assert_warehouse_equals_oracle("after the object was restored")
        .await;
}

/// Commits a hand-made processed batch of `model` with one row.
async fn commit_batch(chain: &Chain, model: &str, batch: RecordBatch) {
    let store = chain.processed_store();
    let log = CommitLog::new(store.clone(), model);
    let seq = log.last().await.unwrap().map_or(1, |e| e.seq + 1);
    let batch_id = batch::new_batch_id();
    let key = format!("{model}/{batch_id}/part-00000.parquet");
    let mut sink = ObjectSink::create(&store, &key, batch.schema(), DataFormat::Parquet).unwrap();
    sink.write(&batch).await.unwrap();
    let object = sink.finish().await.unwrap();
    let manifest = Manifest {
        batch_id,
        stage: batch::Stage::Transform,
        table: model.into(),
        execution: None,
        written_at: chrono::Utc::now(),
        format: DataFormat::Parquet,
        rows: batch.num_rows() as u64,
        schema: batch::columns_of(&batch.schema(), "test"),
        cursor: None,
        full_refresh: false,
        objects: vec![object],
        inputs: vec![],
        findings: vec![],
        keys: None,
        deletions: None,
    };
    tote_io::commit_log::write_manifest(&store, &manifest)
        .await
        .unwrap();
    assert!(log.commit(seq, &manifest).await.unwrap());
}

/// A first dimension batch is copied straight into its empty table; one that repeats a key
/// stops that COPY on the primary key and is merged through staging instead, the last row of a
/// key winning, with nothing of the failed COPY left.
#[tokio::test]
async fn a_first_dimension_batch_that_repeats_a_key_is_merged_the_last_row_winning() {
    let chain = Chain::seeded().await;
    let dimension = |ids: Vec<i32>, codes: Vec<&str>| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("currency_id", DataType::Int32, false),
            Field::new("currency_code", DataType::Utf8, false),
            Field::new("currency_name", DataType::Utf8, true),
        ]));
        let names: Vec<String> = codes.iter().map(|c| format!("name of {c}")).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(ids)) as _,
                Arc::new(StringArray::from(codes)) as _,
                Arc::new(StringArray::from(names)) as _,
            ],
        )
        .unwrap()
    };
    commit_batch(
        &chain,
        "dim_currency",
        dimension(vec![1, 2, 1], vec!["GBP", "USD", "EUR"]),
    )
    .await;
    let loaded = chain.load(Phase::Dimensions).await.unwrap();
    let counts = loaded.rows["dim_currency"];
    assert_eq!(
        (counts.staged, counts.inserted, counts.updated, counts.skipped),
        (3, 2, 0, 1),
        "{counts:?}"
    );
    let rows: Vec<(i32, String)> = chain
        .warehouse_client()
        .await
        .query(
            "SELECT currency_id, currency_code FROM dim_currency ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, [(1, "EUR".to_string()), (2, "USD".to_string())]);

    // The table has rows now: the next batch is merged, and an unchanged row is not rewritten.
    commit_batch(&chain, "dim_currency", dimension(vec![2, 3], vec!["USD", "JPY"])).await;
    let counts = chain.load(Phase::Dimensions).await.unwrap().rows["dim_currency"];
    assert_eq!(
        (counts.staged, counts.inserted, counts.updated, counts.skipped),
        (2, 1, 0, 1),
        "{counts:?}"
    );
}

#[tokio::test]
async fn a_price_the_warehouse_cannot_hold_exactly_is_refused_naming_the_column() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    let wh = chain.warehouse_client().await;
    let row = wh
        .query_one(
            "SELECT sales_order_id, created_date - DATE '1970-01-01', sales_staff_id, counterparty_id, currency_id, \
             design_id, agreed_delivery_location_id FROM fact_sales_order LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let int = |i: usize| Arc::new(Int32Array::from(vec![row.get::<_, i32>(i)])) as _;
    let day = Arc::new(Date32Array::from(vec![row.get::<_, i32>(1)])) as _;
    let noon = Arc::new(Time64NanosecondArray::from(vec![12 * 3_600_000_000_000i64])) as _;
    let schema = Arc::new(Schema::new(vec![
        Field::new("sales_order_id", DataType::Int32, false),
        Field::new("created_date", DataType::Date32, false),
        Field::new("created_time", DataType::Time64(TimeUnit::Nanosecond), false),
        Field::new("last_updated_date", DataType::Date32, false),
        Field::new("last_updated_time", DataType::Time64(TimeUnit::Nanosecond), false),
        Field::new("sales_staff_id", DataType::Int32, false),
        Field::new("counterparty_id", DataType::Int32, false),
        Field::new("units_sold", DataType::Int32, false),
        Field::new("unit_price", DataType::Decimal128(38, 10), false),
        Field::new("currency_id", DataType::Int32, false),
        Field::new("design_id", DataType::Int32, false),
        Field::new("agreed_payment_date", DataType::Date32, false),
        Field::new("agreed_delivery_date", DataType::Date32, false),
        Field::new("agreed_delivery_location_id", DataType::Int32, false),
    ]));
    // 3.1415 has four places; unit_price is NUMERIC(10,2).
    let price = Arc::new(
        Decimal128Array::from(vec![31_415_000_000i128])
            .with_precision_and_scale(38, 10)
            .unwrap(),
    ) as _;
    let batch = RecordBatch::try_new(
        schema,
        vec![
            int(0),
            Arc::clone(&day),
            Arc::clone(&noon),
            Arc::clone(&day),
            Arc::new(Time64NanosecondArray::from(vec![13 * 3_600_000_000_000i64])) as _,
            int(2),
            int(3),
            Arc::new(Int32Array::from(vec![5])) as _,
            price,
            int(4),
            int(5),
            Arc::clone(&day),
            Arc::clone(&day),
            int(6),
        ],
    )
    .unwrap();
    commit_batch(&chain, "fact_sales_order", batch).await;
    let before = chain.warehouse_counts().await;
    let err = chain.load(Phase::Facts).await.expect_err("rounding refused");
    assert_eq!(err.kind(), ErrorKind::BadBatch, "{err}");
    assert!(
        err.message().contains("unit_price") && err.message().contains("3.1415"),
        "{err}"
    );
    assert_eq!(chain.warehouse_counts().await, before, "nothing written");
}

#[tokio::test]
async fn a_warehouse_that_is_down_is_retryable_and_names_no_password() {
    let chain = Chain::seeded().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://tote:hunter2-secret@127.0.0.1:{port}/warehouse?sslmode=disable");
    let err = tote_load::load(&chain.config_with_warehouse(&url), &Default::default())
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::WarehouseUnavailable, "{err}");
    assert!(err.kind().is_retryable());
    assert!(!err.to_string().contains("hunter2-secret"), "{err}");
    assert!(err.to_string().contains("warehouse"), "{err}");
}

#[tokio::test]
async fn migrations_are_idempotent_and_an_edited_migration_is_refused() {
    let chain = Chain::seeded().await;
    let (mut client, applied) = tote_load::connect_and_migrate(&chain.config()).await.unwrap();
    assert_eq!(applied, vec![1, 2]);
    assert!(
        tote_load::migrations::migrate(&mut client)
            .await
            .unwrap()
            .is_empty(),
        "second run applies nothing"
    );
    let keys: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text LIKE 'fact_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        keys,
        9 + 8 + 7,
        "real foreign keys from every fact to its dimensions"
    );
    client
        .execute(
            "UPDATE tote.schema_migrations SET sha256 = 'edited' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let err = tote_load::migrations::migrate(&mut client)
        .await
        .expect_err("drift refused");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("migration 1"), "{err}");
}

/// The loader's connection is really killed (`pg_terminate_backend`, from outside) while its COPY
/// is open: the load fails as retryable, nothing of the batch is visible, and the retry loads
/// every version exactly once.
#[tokio::test]
async fn a_connection_killed_mid_copy_is_retryable_and_the_retry_loads_exactly_once() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::Dimensions).await.unwrap();
    let before = chain.warehouse_counts().await;
    let url = chain.warehouse.url().to_string();
    let killed = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let count = killed.clone();
    fault::arm_action("load.during_copy", 1, move || {
        // On its own thread and runtime: the stage's runtime is blocked in this call.
        let url = url.clone();
        let n = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let admin = tote_io::pg::connect(&url, tote_io::pg::Role::Warehouse)
                        .await
                        .unwrap();
                    admin
                        .query_one(
                            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity \
                             WHERE datname = current_database() AND pid <> pg_backend_pid() \
                             AND backend_type = 'client backend'",
                            &[],
                        )
                        .await
                        .unwrap()
                        .get::<_, i64>(0)
                })
        })
        .join()
        .unwrap();
        count.store(n, std::sync::atomic::Ordering::SeqCst);
    });
    let err = chain
        .load(Phase::Facts)
        .await
        .expect_err("the connection was killed");
    fault::disarm_all();
    assert!(
        killed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the loader's backend was terminated"
    );
    assert_eq!(err.kind(), ErrorKind::WarehouseUnavailable, "{err}");
    assert!(err.kind().is_retryable());
    assert_eq!(
        chain.warehouse_counts().await,
        before,
        "nothing of the batch is visible"
    );
    chain.load(Phase::All).await.unwrap();
    chain
        .assert_warehouse_equals_oracle("after a connection killed mid-COPY and a retry")
        .await;
}

/// A star table dropped from a migrated warehouse: the load names the table and what to do, and
/// loads nothing (not even the tables that are still there).
#[tokio::test]
async fn a_star_table_dropped_after_migration_is_named_and_nothing_is_loaded() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    tote_load::connect_and_migrate(&chain.config()).await.unwrap();
    let wh = chain.warehouse_client().await;
    // CASCADE: its view in schema `current` depends on it.
    wh.batch_execute("DROP TABLE fact_payment CASCADE").await.unwrap();
    let err = chain.load(Phase::All).await.expect_err("a star table is missing");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("fact_payment"), "names the table: {err}");
    assert!(
        err.message().contains("recorded as applied"),
        "says why migrate will not help: {err}"
    );
    let counts = chain.warehouse_counts().await;
    assert!(
        counts
            .iter()
            .all(|(table, n)| *n == 0 || (table == "fact_payment" && *n == -1)),
        "nothing loaded: {counts:?}"
    );
}

/// A NULL in a column the warehouse requires, with no model rule to replace it (here a
/// hand-made `dim_staff` batch whose location is NULL): the batch is refused naming the column,
/// and the warehouse keeps what it had.
#[tokio::test]
async fn a_null_the_warehouse_requires_is_refused_naming_the_column() {
    use arrow::array::StringArray;
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    let wh = chain.warehouse_client().await;
    let staff_id: i32 = wh
        .query_one("SELECT min(staff_id) FROM dim_staff", &[])
        .await
        .unwrap()
        .get(0);
    let text = |v: Option<&str>| Arc::new(StringArray::from(vec![v])) as _;
    let schema = Arc::new(Schema::new(vec![
        Field::new("staff_id", DataType::Int32, false),
        Field::new("first_name", DataType::Utf8, true),
        Field::new("last_name", DataType::Utf8, true),
        Field::new("department_name", DataType::Utf8, true),
        Field::new("location", DataType::Utf8, true),
        Field::new("email_address", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from(vec![staff_id])) as _,
            text(Some("Ada")),
            text(Some("Lovelace")),
            text(Some("Finance")),
            text(None),
            text(Some("ada@example.com")),
        ],
    )
    .unwrap();
    commit_batch(&chain, "dim_staff", batch).await;
    let before = chain.warehouse_counts().await;
    let row_before = wh
        .query_one(
            "SELECT first_name, location FROM dim_staff WHERE staff_id = $1",
            &[&staff_id],
        )
        .await
        .unwrap();
    let err = chain.load(Phase::Dimensions).await.expect_err("NULL refused");
    assert_eq!(err.kind(), ErrorKind::BadBatch, "{err}");
    assert!(err.message().contains("location"), "names the column: {err}");
    assert_eq!(chain.warehouse_counts().await, before, "nothing written");
    let row_after = wh
        .query_one(
            "SELECT first_name, location FROM dim_staff WHERE staff_id = $1",
            &[&staff_id],
        )
        .await
        .unwrap();
    assert_eq!(
        (row_after.get::<_, String>(0), row_after.get::<_, String>(1)),
        (row_before.get::<_, String>(0), row_before.get::<_, String>(1)),
        "the staff row is as it was"
    );
}
