//! Helpers shared by the simulator tests.

use chrono::NaiveDateTime;
use tokio_postgres::Client;
use tote_io::pg::{self, Role};
use tote_sim::SeedOptions;
use tote_testkit::postgres::{test_database, TestDatabase};

/// A Monday 08:00: seeded histories end here so ticks start in business hours.
pub fn monday_morning() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2024-03-04 08:00:00", "%Y-%m-%d %H:%M:%S").unwrap()
}

/// Seed options for a small, fast history.
pub fn small(seed: u64) -> SeedOptions {
    SeedOptions {
        scale: 0.2,
        days: 40,
        seed,
        end: monday_morning(),
        replace: false,
    }
}

/// A fresh database seeded with `options`, and a client on it.
pub async fn seeded(options: &SeedOptions) -> (TestDatabase, Client) {
    let db = test_database().await.expect("test database");
    tote_sim::seed(db.url(), options).await.expect("seed");
    let client = pg::connect(db.url(), Role::Source).await.expect("connect");
    (db, client)
}

/// md5 of every row of every ToteSys table, in key order: equal checksums mean equal data.
pub async fn checksums(client: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for table in tote_core::tables::SOURCE_TABLES
        .iter()
        .chain(["_prisma_migrations"].iter())
    {
        let sql = format!(
            "SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {} t",
            tote_core::tables::quote_ident(table)
        );
        let sum: String = client.query_one(&sql, &[]).await.unwrap().get(0);
        out.push((table.to_string(), sum));
    }
    out
}

/// Asserts that every data rule holds, naming the broken ones.
pub async fn assert_rules_hold(client: &Client, when: &str) {
    let broken = tote_sim::rules::check(client).await.expect("rules run");
    assert!(broken.is_empty(), "rules broken {when}: {broken:?}");
}
