//! The hand-written migrations create exactly the star schema the models declare
//! (`tasks/transform/models/*.toml`): a drift between the two fails here, naming the table.

use tote_core::models::{built_in, Kind};
use tote_testkit::postgres::test_database;

/// `SELECT` a text column (or array as text) for one table, in order.
async fn strings(client: &tokio_postgres::Client, sql: &str, table: &str) -> Vec<String> {
    client
        .query(sql, &[&table])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// A constraint's columns, in key order, by kind (`p` primary key, `u` unique).
const CONSTRAINT_COLUMNS: &str = "SELECT array_to_string(ARRAY(\
         SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n), ',') \
     FROM pg_constraint c WHERE c.conrelid = to_regclass($1) AND c.contype::text = $2 ORDER BY 1";

#[tokio::test]
async fn the_migrations_create_the_tables_the_models_declare() {
    let warehouse = test_database().await.unwrap();
    let mut client = tote_io::pg::connect(warehouse.url(), tote_io::pg::Role::Warehouse)
        .await
        .unwrap();
    tote_load::migrations::migrate(&mut client).await.unwrap();

    // The star tables are the declared models, no more and no fewer (`deletion` is the
    // warehouse's own record of deletions).
    let mut tables = strings(
        &client,
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> $1 ORDER BY 1",
        "deletion",
    )
    .await;
    let mut declared: Vec<String> = built_in().iter().map(|m| m.name.clone()).collect();
    tables.sort();
    declared.sort();
    assert_eq!(tables, declared, "public's tables are the declared models");

    let columns_of = |schema: &'static str| {
        let client = &client;
        move |table: String| async move {
            let sql = format!(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = '{schema}' AND table_name = $1 ORDER BY ordinal_position"
            );
            strings(client, &sql, &table).await
        }
    };
    for model in built_in() {
        let name = &model.name;
        let mut expected = model.columns.clone();
        let (primary, unique) = match &model.kind {
            Kind::Dimension { key } => (vec![key.clone()], vec![]),
            Kind::Fact { record_id, version } => {
                expected.insert(0, record_id.clone());
                (vec![record_id.clone()], vec![version.join(",")])
            }
        };
        assert_eq!(
            columns_of("public")(name.clone()).await,
            expected,
            "{name}: the migration's columns are {name}.toml's (a fact's record id first)"
        );
        assert_eq!(
            columns_of("current")(name.clone()).await,
            expected,
            "current.{name} has the table's columns"
        );
        let constraint = |kind: &'static str| {
            let client = &client;
            let name = name.clone();
            async move {
                client
                    .query(CONSTRAINT_COLUMNS, &[&name, &kind])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            constraint("p").await,
            vec![primary.join(",")],
            "{name}: primary key"
        );
        assert_eq!(
            constraint("u").await,
            unique,
            "{name}: a fact's versions are unique"
        );
    }
}
