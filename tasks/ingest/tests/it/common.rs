//! Helpers shared by the ingest tests.

use std::collections::{BTreeSet, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, TimestampMicrosecondType};
use chrono::NaiveDateTime;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio_postgres::Client;
use tote_core::batch::Manifest;
use tote_core::config::Config;
use tote_ingest::{IngestRequest, IngestResponse};
use tote_io::commit_log::CommitLog;
use tote_io::pg::{self, Role};
use tote_io::store::Store;
use tote_testkit::postgres::{test_database, TestDatabase};

/// A source database, a landing directory, and the configuration joining them.
pub struct Fixture {
    pub db: TestDatabase,
    pub client: Client,
    pub landing: tempfile::TempDir,
    pub extra: HashMap<&'static str, String>,
}

impl Fixture {
    /// An empty source database.
    pub async fn empty() -> Fixture {
        let db = test_database().await.expect("test database");
        let client = pg::connect(db.url(), Role::Source).await.expect("connect");
        Fixture {
            db,
            client,
            landing: tempfile::tempdir().unwrap(),
            extra: HashMap::new(),
        }
    }

    /// A small simulated ToteSys ending on a Monday morning.
    pub async fn seeded() -> Fixture {
        let f = Fixture::empty().await;
        let options = tote_sim::SeedOptions::fixture(0.3, 30, 11);
        tote_sim::seed(f.db.url(), &options).await.expect("seed");
        f
    }

    pub fn config(&self) -> Config {
        let mut vars: HashMap<&str, String> = HashMap::new();
        vars.insert("TOTE_SOURCE_URL", self.db.url().to_string());
        vars.insert("TOTE_LANDING", self.landing.path().display().to_string());
        for (k, v) in &self.extra {
            vars.insert(k, v.clone());
        }
        Config::from_lookup(|name| vars.get(name).cloned()).expect("config")
    }

    pub fn store(&self) -> Store {
        Store::open(&self.landing.path().display().to_string(), "TOTE_LANDING").unwrap()
    }

    pub async fn ingest(&self, table: &str) -> tote_core::Result<IngestResponse> {
        let request = IngestRequest {
            table: table.to_string(),
            execution: Some("test".into()),
            full_refresh: false,
            chunk: None,
        };
        tote_ingest::ingest(&self.config(), &request).await
    }

    pub async fn full_refresh(&self, table: &str) -> tote_core::Result<IngestResponse> {
        let request = IngestRequest {
            table: table.to_string(),
            execution: None,
            full_refresh: true,
            chunk: None,
        };
        tote_ingest::ingest(&self.config(), &request).await
    }

    /// Every committed manifest of `table`, in log order.
    pub async fn manifests(&self, table: &str) -> Vec<Manifest> {
        let log = CommitLog::new(self.store(), table);
        let mut out = Vec::new();
        for entry in log.entries_after(None).await.unwrap() {
            out.push(log.manifest(&entry).await.unwrap());
        }
        out
    }

    /// The record batches of a committed Parquet batch.
    pub async fn read_batch(&self, manifest: &Manifest) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        for object in &manifest.objects {
            let bytes = self
                .store()
                .get(&object.key)
                .await
                .unwrap()
                .expect("object exists");
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                batches.push(batch.unwrap());
            }
        }
        batches
    }

    /// The (primary key, last_updated) pairs of a committed Parquet batch.
    pub async fn keys_of(&self, manifest: &Manifest) -> BTreeSet<(i64, NaiveDateTime)> {
        let pk = format!("{}_id", manifest.table);
        let mut keys = BTreeSet::new();
        for batch in self.read_batch(manifest).await {
            let ids = batch.column_by_name(&pk).unwrap().as_primitive::<Int32Type>();
            let lus = batch
                .column_by_name("last_updated")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                assert!(!ids.is_null(i) && !lus.is_null(i));
                let lu = chrono::DateTime::from_timestamp_micros(lus.value(i))
                    .unwrap()
                    .naive_utc();
                assert!(
                    keys.insert((ids.value(i) as i64, lu)),
                    "duplicate version within one batch"
                );
            }
        }
        keys
    }

    /// (primary key, last_updated) of the source rows matching `filter` (trusted test SQL).
    pub async fn source_keys(&self, table: &str, filter: &str) -> BTreeSet<(i64, NaiveDateTime)> {
        let sql = format!(
            "SELECT {table}_id::int8, last_updated FROM {} WHERE {filter}",
            tote_core::tables::quote_ident(table)
        );
        self.client
            .query(&sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}
