//! The ToteSys simulator: the source database tote reads, at any scale, alive.
//!
//! - [`schema`]: the tables exactly as SPEC.md §1 has them;
//! - [`model`]: the business's reference data and how orders, payments and designs arrive;
//! - [`seed`]: a deterministic history loaded with COPY (`tote sim seed`);
//! - [`run`]: simulated time moving forward, with the changes a pipeline must survive (`tote sim run`);
//! - [`rules`]: the data rules as SQL, to check a database after either.

pub mod copy_text;
pub mod model;
pub mod rules;
pub mod run;
pub mod schema;
pub mod seed;

pub use run::{run, RunOptions, TickReport};
pub use seed::{seed, SeedOptions, SeedReport};

/// Row counts of the eleven ToteSys tables, in [`tote_core::tables::SOURCE_TABLES`] order.
pub async fn table_counts(client: &tokio_postgres::Client) -> tote_core::Result<Vec<(&'static str, i64)>> {
    let mut counts = Vec::new();
    for table in tote_core::tables::SOURCE_TABLES {
        let sql = format!("SELECT count(*) FROM {}", tote_core::tables::quote_ident(table));
        let n: i64 = client
            .query_one(&sql, &[])
            .await
            .map_err(|e| {
                tote_core::Error::new(tote_core::ErrorKind::SourceUnavailable, tote_io::pg::describe(&e))
            })?
            .get(0);
        counts.push((table, n));
    }
    Ok(counts)
}
