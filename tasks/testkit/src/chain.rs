//! A whole chain for one test: a seeded source, an empty warehouse beside it, and two stores.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::postgres::{test_database, TestDatabase};
use tokio_postgres::Client;
use tote_core::config::Config;
use tote_core::tables::SOURCE_TABLES;
use tote_io::pg::{self, Role};
use tote_io::store::Store;
use tote_load::{LoadRequest, LoadResponse, Phase};

use crate::oracle::{self, as_set, pg_rows};

/// One test's pipeline: source, warehouse, stores and local state, all throw-away, and the
/// oracle's record of every fact version the source has shown.
pub struct Chain {
    /// The ToteSys database, seeded.
    pub source: TestDatabase,
    /// The warehouse database, empty until the first load migrates it.
    pub warehouse: TestDatabase,
    /// A connection to the source.
    pub client: Client,
    /// `TOTE_LANDING`: the landing zone.
    pub landing: tempfile::TempDir,
    /// `TOTE_PROCESSED`: the processed zone.
    pub processed: tempfile::TempDir,
    /// `TOTE_HOME`: local executions and alerts.
    pub home: tempfile::TempDir,
    /// Every fact version the source has shown to an ingest, per fact table.
    pub oracle_facts: BTreeMap<&'static str, BTreeSet<Vec<String>>>,
    /// `TOTE_LOAD_BULK_ROWS` for this chain's loads (the default when `None`).
    pub load_bulk_rows: Option<u64>,
    /// `TOTE_LOAD_KEY_VALUES` for this chain's loads (the default when `None`).
    pub load_key_values: Option<usize>,
    /// `TOTE_LANDING_FORMAT` for this chain's ingests (`parquet` when `None`).
    pub landing_format: Option<&'static str>,
    /// `TOTE_CHUNK_ROWS` for this chain's plans (the default, 5000000, when `None`).
    pub chunk_rows: Option<u64>,
}

impl Chain {
    /// A chain over a source seeded with the small fixture (scale 0.5, 45 days, seed 7).
    pub async fn seeded() -> Chain {
        let source = test_database().await.unwrap();
        let warehouse = source.sibling().await.unwrap();
        let options = tote_sim::SeedOptions::fixture(0.5, 45, 7);
        tote_sim::seed(source.url(), &options).await.unwrap();
        let client = pg::connect(source.url(), Role::Source).await.unwrap();
        Chain {
            source,
            warehouse,
            client,
            landing: tempfile::tempdir().unwrap(),
            processed: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
            oracle_facts: BTreeMap::new(),
            load_bulk_rows: None,
            load_key_values: None,
            landing_format: None,
            chunk_rows: None,
        }
    }

    /// The chain's configuration.
    pub fn config(&self) -> Config {
        self.config_with_warehouse(self.warehouse.url())
    }

    /// The chain's configuration with another warehouse URL.
    pub fn config_with_warehouse(&self, url: &str) -> Config {
        self.config_with(self.source.url(), url)
    }

    /// The chain's configuration with other source and warehouse URLs (e.g. one that is down).
    pub fn config_with(&self, source: &str, warehouse: &str) -> Config {
        let mut vars: HashMap<&str, String> = [
            ("TOTE_SOURCE_URL", source.to_string()),
            ("TOTE_WAREHOUSE_URL", warehouse.to_string()),
            ("TOTE_LANDING", self.landing.path().display().to_string()),
            ("TOTE_PROCESSED", self.processed.path().display().to_string()),
            ("TOTE_HOME", self.home.path().display().to_string()),
        ]
        .into();
        if let Some(rows) = self.load_bulk_rows {
            vars.insert("TOTE_LOAD_BULK_ROWS", rows.to_string());
        }
        if let Some(values) = self.load_key_values {
            vars.insert("TOTE_LOAD_KEY_VALUES", values.to_string());
        }
        if let Some(rows) = self.chunk_rows {
            vars.insert("TOTE_CHUNK_ROWS", rows.to_string());
        }
        if let Some(format) = self.landing_format {
            vars.insert("TOTE_LANDING_FORMAT", format.to_string());
        }
        Config::from_lookup(|n| vars.get(n).cloned()).unwrap()
    }

    /// The processed zone as a store.
    pub fn processed_store(&self) -> Store {
        Store::open(&self.processed.path().display().to_string(), "TOTE_PROCESSED").unwrap()
    }

    /// A connection to the warehouse.
    pub async fn warehouse_client(&self) -> Client {
        pg::connect(self.warehouse.url(), Role::Warehouse).await.unwrap()
    }

    /// Records what the source shows now as fact versions the warehouse must hold (call it
    /// whenever an ingest is about to read the source).
    pub async fn observe_source(&mut self) {
        for (fact, sql) in oracle::FACTS {
            self.oracle_facts
                .entry(fact)
                .or_default()
                .extend(pg_rows(&self.client, sql).await);
        }
    }

    /// Ingest every table and transform, remembering what the source showed (the oracle's facts).
    pub async fn ingest_and_transform(&mut self) {
        self.ingest_all().await;
        tote_transform::transform(&self.config(), &tote_transform::TransformRequest::default())
            .await
            .unwrap();
    }

    /// Ingest every table, remembering what the source showed (the oracle's facts).
    pub async fn ingest_all(&mut self) {
        for table in SOURCE_TABLES {
            let request = tote_ingest::IngestRequest {
                table: table.to_string(),
                execution: None,
                full_refresh: false,
                chunk: None,
            };
            tote_ingest::ingest(&self.config(), &request).await.unwrap();
        }
        self.observe_source().await;
    }

    /// Loads `phase` as the chain's warehouse user.
    pub async fn load(&self, phase: Phase) -> tote_core::Result<LoadResponse> {
        self.load_as(self.warehouse.url(), phase).await
    }

    /// Loads as the warehouse user of `url`.
    pub async fn load_as(&self, url: &str, phase: Phase) -> tote_core::Result<LoadResponse> {
        tote_load::load(
            &self.config_with_warehouse(url),
            &LoadRequest {
                execution: Some("test".into()),
                phase,
                model: None,
            },
        )
        .await
    }

    /// Plays the simulator forward with updates and deletes.
    pub async fn play(&self, round: u64) {
        let run = tote_sim::RunOptions {
            ticks: 24,
            update_rate: 1.5,
            delete_rate: 0.5,
            scale: 2.0,
            seed: round,
            ..Default::default()
        };
        tote_sim::run(self.source.url(), &run, |_| {}).await.unwrap();
    }

    /// Asserts that the warehouse equals the oracle: schema `current` exactly the source's current
    /// state (every dimension, each fact's current version), both ways; every fact version ever
    /// seen exactly once in the history (`public`); every id the history has and the source no
    /// longer has recorded as a deletion in force, and no other; dim_date exactly the dates the
    /// facts reference.
    pub async fn assert_warehouse_equals_oracle(&self, when: &str) {
        let wh = self.warehouse_client().await;
        let dimensions = oracle::DIMENSIONS.iter().map(|(t, sql)| (*t, *sql, "*"));
        let facts = oracle::FACTS.iter().map(|(t, sql)| (*t, *sql, fact_columns(t)));
        for (table, sql, columns) in dimensions.chain(facts) {
            let expected = as_set(pg_rows(&self.client, sql).await, table);
            let actual = as_set(
                pg_rows(&wh, &format!("SELECT {columns} FROM current.{table}")).await,
                &format!("warehouse current.{table}"),
            );
            assert_same(&expected, &actual, &format!("{when}: current.{table}"));
            self.assert_deletions_marked(&wh, table, &expected, when).await;
        }
        for (fact, expected) in &self.oracle_facts {
            let sql = format!("SELECT {} FROM {fact}", fact_columns(fact));
            let actual = as_set(pg_rows(&wh, &sql).await, &format!("warehouse {fact}"));
            assert_same(expected, &actual, &format!("{when}: {fact}"));
        }
        let expected_dates = oracle::expected_dim_date(&wh, &self.oracle_facts).await;
        let actual_dates = as_set(pg_rows(&wh, "SELECT * FROM dim_date").await, "warehouse dim_date");
        assert_eq!(actual_dates, expected_dates, "{when}: dim_date");
    }

    /// The ids of star table `table` that its history holds and the source (`current`: the
    /// oracle's rows, id first) does not are exactly its deletions in force.
    async fn assert_deletions_marked(
        &self,
        wh: &Client,
        table: &str,
        current: &BTreeSet<Vec<String>>,
        when: &str,
    ) {
        let key = tote_core::models::find(tote_core::models::built_in(), table)
            .unwrap()
            .kind
            .natural_key();
        let history: BTreeSet<String> = pg_rows(wh, &format!("SELECT DISTINCT {key} FROM {table}"))
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        let now: BTreeSet<String> = current.iter().map(|r| r[0].clone()).collect();
        let gone: BTreeSet<String> = history.difference(&now).cloned().collect();
        let marked: BTreeSet<String> = pg_rows(
            wh,
            &format!("SELECT natural_id FROM deletion WHERE star_table = '{table}' AND restored_by IS NULL"),
        )
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
        assert_eq!(
            marked, gone,
            "{when}: {table}: deletions in force = ids in the history the source no longer has"
        );
    }

    /// Rows in every warehouse table, and in the ledger.
    pub async fn warehouse_counts(&self) -> BTreeMap<String, i64> {
        let wh = self.warehouse_client().await;
        let mut counts = BTreeMap::new();
        for table in tote_core::models::built_in()
            .iter()
            .map(|m| m.name.as_str())
            .chain(["tote.load_ledger", "deletion"])
        {
            let n: i64 = wh
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map(|r| r.get(0))
                .unwrap_or(-1);
            counts.insert(table.to_string(), n);
        }
        counts
    }
}

/// Asserts two row sets are equal, showing a few rows of each difference.
fn assert_same(expected: &BTreeSet<Vec<String>>, actual: &BTreeSet<Vec<String>>, what: &str) {
    let missing: Vec<_> = expected.difference(actual).take(3).collect();
    let extra: Vec<_> = actual.difference(expected).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} lacks {missing:?}, has unexpected {extra:?}"
    );
}

/// A fact's columns in the oracle's order (all but the record id).
pub fn fact_columns(fact: &str) -> &'static str {
    match fact {
        "fact_sales_order" => "sales_order_id, created_date, created_time, last_updated_date, last_updated_time, \
                               sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, \
                               agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id",
        "fact_purchase_order" => "purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, \
                                  staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, \
                                  agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id",
        _ => "payment_id, created_date, created_time, last_updated_date, last_updated, transaction_id, \
              counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date",
    }
}
