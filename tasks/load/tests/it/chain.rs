//! The whole chain over several rounds of changes, compared with the oracle after each load; and
//! loading the same batches again, sequentially and concurrently.

use tote_load::{FreshnessResponse, LoadRequest, Phase};

use tote_testkit::chain::Chain;

#[tokio::test]
async fn the_warehouse_equals_the_oracle_over_several_incremental_rounds() {
    incremental_rounds(None).await;
}

/// The same chain with a CSV landing zone: CSV is as exact as Parquet.
#[tokio::test]
async fn the_warehouse_equals_the_oracle_over_several_incremental_rounds_with_csv_landing() {
    incremental_rounds(Some("csv")).await;
}

async fn incremental_rounds(landing_format: Option<&'static str>) {
    let mut chain = Chain::seeded().await;
    chain.landing_format = landing_format;
    for round in 0..3u64 {
        if round > 0 {
            chain.play(round).await;
        }
        chain.ingest_and_transform().await;
        let dims = chain.load(Phase::Dimensions).await.unwrap();
        let facts = chain.load(Phase::Facts).await.unwrap();
        assert!(
            !dims.batches.is_empty() && !facts.batches.is_empty(),
            "round {round}: batches loaded"
        );
        assert!(
            dims.rows.keys().all(|m| m.starts_with("dim_")),
            "dimension phase loads only dimensions"
        );
        assert!(
            facts.rows.keys().all(|m| m.starts_with("fact_")),
            "fact phase loads only facts"
        );
        if round == 0 {
            assert_eq!(dims.migrated, vec![1, 2], "the first load migrates the warehouse");
        } else {
            assert!(dims.migrated.is_empty());
            let staff = dims.rows["dim_staff"];
            assert!(
                staff.updated > 0,
                "round {round}: renamed staff are updated in place: {staff:?}"
            );
            let sales = facts.rows["fact_sales_order"];
            assert_eq!(
                sales.inserted, sales.staged,
                "round {round}: every new version is a new fact row"
            );
        }
        chain
            .assert_warehouse_equals_oracle(&format!("round {round}"))
            .await;
    }

    // Loading again finds nothing new and changes nothing.
    let before = chain.warehouse_counts().await;
    let again = chain.load(Phase::All).await.unwrap();
    assert!(again.batches.is_empty(), "{again:?}");
    assert_eq!(chain.warehouse_counts().await, before);
}

/// Every fact batch through the set-based path (`TOTE_LOAD_BULK_ROWS=0`), with key values both
/// gathered in tote and read back by the warehouse (`TOTE_LOAD_KEY_VALUES=5`): first as the
/// superuser, which may switch the per-row triggers off, then as a plain user who may not, which
/// falls back to the triggers. Both leave the warehouse equal to the oracle, and a missing key is
/// still refused.
#[tokio::test]
async fn the_set_based_foreign_key_path_equals_the_oracle_with_and_without_the_privilege() {
    let mut chain = Chain::seeded().await;
    chain.load_bulk_rows = Some(0);
    // Gather at most 5 distinct values per key column: dim_currency's few keys are gathered in
    // tote, every other key is read back by the warehouse from the rows written.
    chain.load_key_values = Some(5);
    chain.ingest_and_transform().await;
    let missing = chain
        .load(Phase::Facts)
        .await
        .expect_err("facts before dimensions");
    assert_eq!(
        missing.kind(),
        tote_core::ErrorKind::MissingDimension,
        "{missing}"
    );
    chain.load(Phase::All).await.unwrap();
    chain
        .assert_warehouse_equals_oracle("bulk, as the superuser")
        .await;

    // A login that owns nothing and may not set session_replication_role (roles are
    // cluster-wide: the name carries the test database's).
    let base = chain.warehouse.url();
    let role = format!("loader_{}", &base[base.rfind('/').unwrap() + 1..]);
    let client = chain.warehouse_client().await;
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'loader-secret'; \
             GRANT USAGE ON SCHEMA public, tote TO {role}; \
             GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public, tote TO {role}; \
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public, tote TO {role}"
        ))
        .await
        .unwrap();
    let at = base.find('@').expect("the test URL has credentials");
    let url = format!("postgres://{role}:loader-secret{}", &base[at..]);
    chain.play(1).await;
    chain.ingest_and_transform().await;
    let facts = chain.load_as(&url, Phase::All).await.unwrap();
    assert!(facts.rows["fact_sales_order"].inserted > 0, "{facts:?}");
    chain
        .assert_warehouse_equals_oracle("bulk, as a plain user")
        .await;

    // Versions already present (here: the ledger forgot the batches): the direct COPY meets the
    // unique version key, and the batch goes through staging, skipping every row.
    client
        .execute(
            "DELETE FROM tote.load_ledger WHERE model = 'fact_sales_order'",
            &[],
        )
        .await
        .unwrap();
    let again = chain.load(Phase::Facts).await.unwrap();
    let sales = again.rows["fact_sales_order"];
    assert!(sales.staged > 0, "{again:?}");
    assert_eq!((sales.inserted, sales.skipped), (0, sales.staged), "{again:?}");
    chain
        .assert_warehouse_equals_oracle("after reloading present versions")
        .await;
}

#[tokio::test]
async fn two_loads_at_once_load_each_batch_once() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    let (a, b) = tokio::join!(chain.load(Phase::All), chain.load(Phase::All));
    let (a, b) = (a.unwrap(), b.unwrap());
    let processed_batches = tote_core::models::built_in().len() as u64;
    assert_eq!(
        (a.batches.len() + b.batches.len()) as u64,
        processed_batches,
        "each batch loaded by exactly one of the two: {a:?} {b:?}"
    );
    // A loader that reaches a model after the other committed it does not even list the batch
    // (the ledger is ahead); one that meets it in flight waits on the lock and skips it.
    let mut both: Vec<&String> = a.batches.iter().chain(&b.batches).collect();
    both.sort();
    both.dedup();
    assert_eq!(both.len() as u64, processed_batches, "no batch loaded twice");
    chain
        .assert_warehouse_equals_oracle("after two concurrent loads")
        .await;
    let ledger = chain.warehouse_counts().await["tote.load_ledger"];
    assert_eq!(ledger as u64, processed_batches);
}

/// The state machine loads each fact in its own Map iteration: a load of one model loads only
/// it, under that model's lock alone (so a load of another model holding its lock does not hold
/// this one up), and measures no freshness; `MeasureFreshness` measures it after them all.
#[tokio::test]
async fn one_fact_loads_alone_while_another_is_locked_and_freshness_is_measured_after_all() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::Dimensions).await.unwrap();
    let config = chain.config();
    let request = |model: &str| LoadRequest {
        execution: Some("test".into()),
        phase: Phase::Facts,
        model: Some(model.to_string()),
    };

    // Another loader is inside a batch transaction of fact_sales_order.
    let mut holder = chain.warehouse_client().await;
    let holding = holder.transaction().await.unwrap();
    holding
        .execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&tote_load::MODEL_LOCK, &"fact_sales_order"],
        )
        .await
        .unwrap();
    // A deadline, not a wait: with one lock for every model this load would never finish.
    let payment = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        tote_load::load(&config, &request("fact_payment")),
    )
    .await
    .expect("fact_payment is not held up by a lock on fact_sales_order")
    .unwrap();
    assert_eq!(
        payment.rows.keys().collect::<Vec<_>>(),
        ["fact_payment"],
        "only the named model: {payment:?}"
    );
    assert_eq!(
        payment.freshness,
        FreshnessResponse::default(),
        "one model measures no freshness"
    );
    holding.commit().await.unwrap();

    for fact in ["fact_purchase_order", "fact_sales_order"] {
        let loaded = tote_load::load(&config, &request(fact)).await.unwrap();
        assert_eq!(loaded.rows.keys().collect::<Vec<_>>(), [fact], "{loaded:?}");
    }
    let freshness = tote_load::freshness_now(&config).await.unwrap();
    assert_eq!(freshness.freshness_millis, Some(0), "caught up: {freshness:?}");
    assert_eq!(freshness.table_freshness_millis.len(), config.tables.len());
    chain
        .assert_warehouse_equals_oracle("after the facts loaded one by one")
        .await;

    // A model of another phase is refused, naming what the phase has.
    let wrong = LoadRequest {
        phase: Phase::Dimensions,
        ..request("fact_payment")
    };
    let refused = tote_load::load(&config, &wrong).await.unwrap_err();
    assert_eq!(refused.kind().name(), "Tote.BadRequest");
    assert!(
        refused.message().contains("\"fact_payment\"") && refused.message().contains("dim_staff"),
        "{}",
        refused.message()
    );
}

/// Text the warehouse must hold exactly as the source has it: emoji and other astral-plane
/// characters, quotes, backslashes, tabs and newlines, a control character (BEL; Postgres text cannot hold NUL), and strings
/// of 100,000 characters, in dimension columns and in a fact column.
#[tokio::test]
async fn unusual_and_very_long_text_reaches_the_warehouse_unchanged() {
    unusual_text(None).await;
}

/// The same text through a CSV landing zone, with the empty string (`''`, not NULL) and a literal
/// `\N` among it: the CSV reader keeps '' and NULL apart.
#[tokio::test]
async fn unusual_and_very_long_text_reaches_the_warehouse_unchanged_with_csv_landing() {
    unusual_text(Some("csv")).await;
}

async fn unusual_text(landing_format: Option<&'static str>) {
    let mut chain = Chain::seeded().await;
    chain.landing_format = landing_format;
    let long: String = "Ω≈ç√∫ 🦀 xy".repeat(10_000); // 100,000 characters, 4-byte ones among them
    let odd =
        "O'Brien \"quoted\" back\\slash\ttab\nnew line\r\nCRLF \u{1F600}\u{200D}\u{1F469} 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{7}bell, \\N";
    // The empty string where the warehouse demands a value: a design named '' (NOT NULL in both).
    chain
        .client
        .execute(
            "UPDATE design SET design_name = '', last_updated = last_updated + interval '1 ms' \
             WHERE design_id = (SELECT min(design_id) + 1 FROM design)",
            &[],
        )
        .await
        .unwrap();
    chain
        .client
        .execute(
            "UPDATE design SET design_name = $1, file_location = $2, last_updated = last_updated + interval '1 ms' \
             WHERE design_id IN (SELECT min(design_id) FROM design UNION SELECT max(design_id) FROM design)",
            &[&odd, &long],
        )
        .await
        .unwrap();
    chain
        .client
        .execute(
            "UPDATE address SET address_line_1 = $1, district = $2, last_updated = last_updated + interval '1 ms' \
             WHERE address_id = (SELECT min(address_id) FROM address)",
            &[&long, &odd],
        )
        .await
        .unwrap();
    chain
        .client
        .execute(
            "UPDATE purchase_order SET item_code = $1, last_updated = last_updated + interval '1 ms' \
             WHERE purchase_order_id IN (SELECT purchase_order_id FROM purchase_order ORDER BY purchase_order_id LIMIT 2)",
            &[&odd],
        )
        .await
        .unwrap();
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    chain
        .assert_warehouse_equals_oracle("with unusual and long text")
        .await;
    // And byte for byte, not only as the oracle renders it.
    let wh = chain.warehouse_client().await;
    let design: String = wh
        .query_one(
            "SELECT design_name FROM dim_design WHERE design_id = (SELECT min(design_id) FROM dim_design)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(design, odd);
    let empty: i64 = wh
        .query_one("SELECT count(*) FROM dim_design WHERE design_name = ''", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        empty, 1,
        "the design named '' is named '' in the warehouse, not NULL"
    );
    let codes: i64 = wh
        .query_one(
            "SELECT count(*) FROM fact_purchase_order WHERE item_code = $1",
            &[&odd],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(codes, 2, "both updated purchase orders' new versions");
    let location: String = wh
        .query_one(
            "SELECT address_line_1 FROM dim_location WHERE location_id = (SELECT min(location_id) FROM dim_location)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(location.chars().count(), 100_000);
    assert_eq!(location, long);
}

/// A column added to a source table (accepted by ingest as drift it can take) flows through the
/// transform and the load: later rounds still leave the warehouse equal to the oracle.
#[tokio::test]
async fn a_column_added_to_the_source_flows_through_to_the_warehouse() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    chain
        .client
        .batch_execute(
            "ALTER TABLE sales_order ADD COLUMN sales_channel text; \
             ALTER TABLE staff ADD COLUMN nickname varchar(20) DEFAULT 'n/a'; \
             UPDATE sales_order SET sales_channel = 'web', units_sold = units_sold + 1, \
               last_updated = (SELECT max(last_updated) FROM sales_order) + interval '1 second' \
               WHERE sales_order_id % 7 = 0; \
             UPDATE staff SET first_name = first_name || 'e', \
               last_updated = (SELECT max(last_updated) FROM staff) + interval '1 second' \
               WHERE staff_id % 3 = 0",
        )
        .await
        .unwrap();
    chain.play(5).await;
    chain.ingest_and_transform().await;
    let loaded = chain.load(Phase::All).await.unwrap();
    assert!(loaded.rows["fact_sales_order"].inserted > 0, "{loaded:?}");
    chain
        .assert_warehouse_equals_oracle("after columns were added to the source")
        .await;
}

/// Deletions in commit order with the versions around them: an order updated then deleted within
/// one interval, one deleted in one interval and back in the next exactly as it was (same ids, same
/// old `last_updated`, below the next read's window), and one deleted and back, as a new version,
/// between two ingests that one transform consumes together. `current` equals the source
/// after each load, the history keeps every version, and each deletion is recorded with whether
/// it still holds.
#[tokio::test]
async fn deletions_flow_in_order_with_the_versions_around_them() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    let orders: Vec<i32> = chain
        .client
        .query(
            "SELECT sales_order_id FROM sales_order ORDER BY sales_order_id LIMIT 3",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (updated_then_deleted, back_next_time, back_in_one_run) = (orders[0], orders[1], orders[2]);
    chain
        .client
        .batch_execute(
            "CREATE TABLE kept_order AS SELECT * FROM sales_order WITH NO DATA; \
             CREATE TABLE kept_transaction AS SELECT * FROM \"transaction\" WITH NO DATA; \
             CREATE TABLE kept_payment AS SELECT * FROM payment WITH NO DATA;",
        )
        .await
        .unwrap();

    // Interval 1: one order updated, then deleted; another deleted.
    chain
        .client
        .execute(
            "UPDATE sales_order SET units_sold = units_sold + 1, \
             last_updated = (SELECT max(last_updated) FROM sales_order) + interval '1 second' WHERE sales_order_id = $1",
            &[&updated_then_deleted],
        )
        .await
        .unwrap();
    delete_order(&chain, updated_then_deleted, false).await;
    delete_order(&chain, back_next_time, true).await;
    chain.ingest_and_transform().await;
    let loaded = chain.load(Phase::All).await.unwrap();
    assert_eq!(loaded.rows["fact_sales_order"].deleted, 2, "{loaded:?}");
    assert_eq!(loaded.rows["fact_payment"].deleted, 2, "{loaded:?}");
    assert_eq!(loaded.rows["dim_transaction"].deleted, 2, "{loaded:?}");
    chain
        .assert_warehouse_equals_oracle("after an update then a delete, and a delete")
        .await;

    // Interval 2: the deleted order comes back as it was.
    restore_order(&chain, back_next_time, false).await;
    chain.ingest_and_transform().await;
    let loaded = chain.load(Phase::All).await.unwrap();
    assert_eq!(loaded.rows["fact_sales_order"].restored, 1, "{loaded:?}");
    chain
        .assert_warehouse_equals_oracle("after a deleted order came back")
        .await;

    // Deleted, ingested, back, ingested: one transform run sees both.
    delete_order(&chain, back_in_one_run, true).await;
    chain.ingest_all().await;
    restore_order(&chain, back_in_one_run, true).await;
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    chain
        .assert_warehouse_equals_oracle("after a delete and a return within one transform run")
        .await;

    let wh = chain.warehouse_client().await;
    let deletions: Vec<(String, i64, bool)> = wh
        .query(
            "SELECT star_table, natural_id, restored_by IS NOT NULL FROM deletion \
             WHERE star_table = 'fact_sales_order' ORDER BY natural_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let t = "fact_sales_order".to_string();
    assert_eq!(
        deletions,
        vec![
            (t.clone(), updated_then_deleted as i64, false),
            (t.clone(), back_next_time as i64, true),
            (t, back_in_one_run as i64, true),
        ],
        "every deletion is recorded, with whether the id came back"
    );
    // The update and the delete fell in one interval: no ingest saw the update, so the history
    // keeps the version seen before, and the deletion.
    let versions: i64 = wh
        .query_one(
            "SELECT count(*) FROM fact_sales_order WHERE sales_order_id = $1",
            &[&updated_then_deleted],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        versions, 1,
        "the last version seen of the order stays in the history"
    );
}

/// Deletes sales order `id` with its transaction and payment, keeping a copy to restore.
async fn delete_order(chain: &Chain, id: i32, keep: bool) {
    let tx_ids = "SELECT transaction_id FROM \"transaction\" WHERE sales_order_id = $1";
    if keep {
        for sql in [
            "INSERT INTO kept_order SELECT * FROM sales_order WHERE sales_order_id = $1".to_string(),
            "INSERT INTO kept_transaction SELECT * FROM \"transaction\" WHERE sales_order_id = $1"
                .to_string(),
            format!("INSERT INTO kept_payment SELECT * FROM payment WHERE transaction_id IN ({tx_ids})"),
        ] {
            chain.client.execute(&sql, &[&id]).await.unwrap();
        }
    }
    for sql in [
        format!("DELETE FROM payment WHERE transaction_id IN ({tx_ids})"),
        "DELETE FROM \"transaction\" WHERE sales_order_id = $1".to_string(),
        "DELETE FROM sales_order WHERE sales_order_id = $1".to_string(),
    ] {
        chain.client.execute(&sql, &[&id]).await.unwrap();
    }
}

/// Puts back sales order `id`, its transaction and payment, under their old ids: as they were, or
/// (`new_version`) dated after each table's newest row.
async fn restore_order(chain: &Chain, id: i32, new_version: bool) {
    // Each new version is dated after its table's newest row, so the next ingest reads it.
    let later = |table: &str| format!("(SELECT max(last_updated) FROM {table}) + interval '1 second'");
    let mut statements = vec![
        "INSERT INTO sales_order SELECT * FROM kept_order WHERE sales_order_id = $1".to_string(),
        "INSERT INTO \"transaction\" SELECT * FROM kept_transaction WHERE sales_order_id = $1".to_string(),
        "INSERT INTO payment SELECT p.* FROM kept_payment p JOIN kept_transaction t USING (transaction_id) \
         WHERE t.sales_order_id = $1"
            .to_string(),
    ];
    if new_version {
        statements.extend([
            format!(
                "UPDATE sales_order SET last_updated = {} WHERE sales_order_id = $1",
                later("sales_order")
            ),
            format!(
                "UPDATE \"transaction\" SET last_updated = {} WHERE sales_order_id = $1",
                later("\"transaction\"")
            ),
            format!(
                "UPDATE payment SET last_updated = {} WHERE transaction_id IN \
                 (SELECT transaction_id FROM \"transaction\" WHERE sales_order_id = $1)",
                later("payment")
            ),
        ]);
    }
    for sql in statements {
        chain.client.execute(&sql, &[&id]).await.unwrap();
    }
}

/// Numbers reach the warehouse as the source wrote them: the text form of every numeric in the
/// warehouse's current state is the source's, for amounts the source holds at two places and for
/// a value with more places than the others of its column.
#[tokio::test]
async fn every_numeric_in_the_warehouse_reads_as_the_source_wrote_it() {
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    let wh = chain.warehouse_client().await;
    for (what, source, warehouse) in [
        (
            "payment_amount",
            "SELECT payment_id, payment_amount::text FROM payment ORDER BY 1",
            "SELECT payment_id, payment_amount::text FROM current.fact_payment ORDER BY 1",
        ),
        (
            "item_unit_price",
            "SELECT purchase_order_id, item_unit_price::text FROM purchase_order ORDER BY 1",
            "SELECT purchase_order_id, item_unit_price::text FROM current.fact_purchase_order ORDER BY 1",
        ),
        (
            "unit_price",
            "SELECT sales_order_id, unit_price::numeric(10,2)::text FROM sales_order ORDER BY 1",
            "SELECT sales_order_id, unit_price::text FROM current.fact_sales_order ORDER BY 1",
        ),
    ] {
        let expected = pg_text(&chain.client, source).await;
        let actual = pg_text(&wh, warehouse).await;
        assert!(!expected.is_empty(), "{what}: the source has rows");
        assert_eq!(
            actual, expected,
            "{what}: the warehouse's text form is the source's"
        );
    }
    let sample: String = wh
        .query_one(
            "SELECT payment_amount::text FROM fact_payment ORDER BY payment_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        sample.split('.').nth(1).map(str::len),
        Some(2),
        "two places, not ten: {sample}"
    );

    // One payment with three places: the column's batch carries three, and the value is exact.
    chain
        .client
        .execute(
            "UPDATE payment SET payment_amount = 1234.567, \
             last_updated = (SELECT max(last_updated) FROM payment) + interval '1 second' \
             WHERE payment_id = (SELECT min(payment_id) FROM payment)",
            &[],
        )
        .await
        .unwrap();
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    let wh = chain.warehouse_client().await;
    let changed: String = wh
        .query_one(
            "SELECT payment_amount::text FROM current.fact_payment ORDER BY payment_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(changed, "1234.567");
    let exact: bool = wh
        .query_one(
            "SELECT bool_and(w.payment_amount = s.amount) FROM current.fact_payment w \
             JOIN (VALUES (1234.567::numeric)) s(amount) ON true \
             WHERE w.payment_id = (SELECT min(payment_id) FROM fact_payment)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(exact);
}

/// `(id, text)` rows of `sql`.
async fn pg_text(client: &tokio_postgres::Client, sql: &str) -> Vec<(i32, String)> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}
